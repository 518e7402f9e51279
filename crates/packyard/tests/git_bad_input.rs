//! Git packages: every bad input gets a clear error, and no existing version is lost.

mod common;

use common::git::{GitRepo, library};
use common::*;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

fn expect_error(reply: &Reply, status: u16, part: &str) {
    assert_eq!(reply.status, status, "{}", reply.text());
    let message = reply.json()["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        message.contains(part),
        "{message:?} should mention {part:?}"
    );
}

/// The versions of `name` the server publishes, in its order.
fn p2_versions(server: &Server, token: &str, name: &str) -> Vec<String> {
    p2_version_names(&p2(server, "admin", token, name), name)
}

#[test]
fn bad_repositories_are_refused_with_reasons() {
    testkit::needs!(Git);
    let server = Server::start();
    let admin = server.add_user("admin", true);
    let (good, _) = library("acme/lib", "1.0.0");
    assert_eq!(
        create_package(&server, "admin", &admin, &json!({"url": good.url()})).status,
        201
    );

    expect_error(
        &create_package(&server, "admin", &admin, &json!({"url": "-uhack"})),
        400,
        "invalid repository URL",
    );
    expect_error(
        &create_package(&server, "admin", &admin, &json!({"nope": 1})),
        400,
        "repository",
    );
    let missing = format!("{}/does-not-exist", good.url());
    let unreachable = create_package(&server, "admin", &admin, &json!({"url": missing}));
    assert_eq!(unreachable.status, 422, "{}", unreachable.text());
    assert!(
        unreachable.text().to_lowercase().contains("does-not-exist"),
        "git's text: {}",
        unreachable.text()
    );

    let empty_repo = GitRepo::new();
    empty_repo.write("README.md", "no composer.json here");
    empty_repo.commit("readme");
    expect_error(
        &create_package(&server, "admin", &admin, &json!({"url": empty_repo.url()})),
        422,
        "composer.json",
    );

    let (clash, _) = library("acme/lib", "1.0.0");
    expect_error(
        &create_package(&server, "admin", &admin, &json!({"url": clash.url()})),
        409,
        "acme/lib already exists",
    );

    // An uploaded (artifact) package's name is taken too.
    let archive = package_zip("acme/uploaded", &[], "x");
    let uploaded = upload(&server, &admin, "acme/uploaded", "1.0.0", &archive);
    assert_eq!(uploaded.status, 201);
    let (same_name, _) = library("acme/uploaded", "1.0.0");
    expect_error(
        &create_package(&server, "admin", &admin, &json!({"url": same_name.url()})),
        409,
        "acme/uploaded",
    );

    let (private, _) = library("acme/private", "1.0.0");
    let with_credentials = create_package(
        &server,
        "admin",
        &admin,
        &json!({"url": private.url(), "credentials": {"username": "u", "password": "p"}}),
    );
    expect_error(&with_credentials, 400, "PACKYARD_SECRET");

    assert_eq!(
        p2_versions(&server, &admin, "acme/lib"),
        ["1.0.0"],
        "the first package is intact"
    );

    let locked_down = Server::start_with(&[("PACKYARD_ALLOW_LOCAL_REPOSITORIES", "0")]);
    let admin = locked_down.add_user("admin", true);
    expect_error(
        &create_package(&locked_down, "admin", &admin, &json!({"url": good.url()})),
        400,
        "local repositories",
    );
    let file_url = format!("file://{}", good.url());
    expect_error(
        &create_package(&locked_down, "admin", &admin, &json!({"url": file_url})),
        400,
        "local repositories",
    );
}

/// Composer publishes every tag under the default branch's name (so a renamed package
/// keeps its old tags): a tag claiming another name cannot take that name over, and the
/// scan report says what happened.
#[test]
fn a_tag_claiming_another_name_stays_under_the_package_name_and_is_reported() {
    testkit::needs!(Git);
    let server = Server::start();
    let admin = server.add_user("admin", true);
    let (repo, _) = library("acme/lib", "1.0.0");
    repo.write_library("acme/impostor", "1.1.0", Value::Null);
    repo.commit("renamed");
    repo.tag("1.1.0");
    repo.write_library("acme/lib", "main", Value::Null);
    repo.commit("back");
    let created = create_package(&server, "admin", &admin, &json!({"url": repo.url()}));
    assert_eq!(created.status, 201, "{}", created.text());
    let report = created.json()["notices"].clone();
    let entry = report
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["ref"] == "1.1.0");
    assert!(
        entry.is_some_and(|e| e["reason"].as_str().unwrap().contains("acme/impostor")),
        "{report}"
    );
    assert_eq!(p2_versions(&server, &admin, "acme/lib"), ["1.1.0", "1.0.0"]);
    let impostor = p2(&server, "admin", &admin, "acme/impostor");
    assert_eq!(impostor.status, 404, "the other name is not taken over");
}

#[test]
fn webhooks_check_signatures_and_repositories() {
    testkit::needs!(Git);
    let server = Server::start();
    let admin = server.add_user("admin", true);
    let (repo, _) = library("acme/lib", "1.0.0");
    let created = create_package(
        &server,
        "admin",
        &admin,
        &json!({"url": repo.url(), "webhook_secret": "s3cret"}),
    );
    assert_eq!(created.status, 201, "{}", created.text());

    let body = json!({"repository": {"clone_url": repo.url()}}).to_string();
    let sign = |secret: &str| {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(body.as_bytes());
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    };
    let hook = |signature: &str| {
        post(
            &server.url("/api/github"),
            &[
                ("X-GitHub-Event", "push"),
                ("X-Hub-Signature-256", signature),
                ("Content-Type", "application/json"),
            ],
            body.as_bytes(),
        )
    };
    let wrong = hook(&sign("wrong"));
    expect_error(&wrong, 401, "signature");
    // Anonymously, an unknown repository is answered as a registered one with a wrong
    // signature, byte for byte: hooks cannot probe which repositories are registered.
    let unknown_body =
        json!({"repository": {"clone_url": "https://git.example.com/nobody/nothing.git"}})
            .to_string();
    let unknown_signed = post(
        &server.url("/api/github"),
        &[
            ("X-GitHub-Event", "push"),
            ("X-Hub-Signature-256", &sign("wrong")),
            ("Content-Type", "application/json"),
        ],
        unknown_body.as_bytes(),
    );
    assert_eq!(unknown_signed.status, wrong.status);
    assert_eq!(unknown_signed.body, wrong.body);
    let unsigned = |body: &str| {
        post(
            &server.url("/api/github"),
            &[("X-GitHub-Event", "push")],
            body.as_bytes(),
        )
    };
    let (known, unknown) = (unsigned(&body), unsigned(&unknown_body));
    assert_eq!(known.status, 401);
    assert_eq!((known.status, known.body), (unknown.status, unknown.body));
    assert_eq!(hook(&sign("s3cret")).status, 202);

    let unknown = post(
        &server.url(&format!(
            "/api/update-package?username=admin&apiToken={admin}"
        )),
        &[],
        json!({"repository": {"url": "https://git.example.com/nobody/nothing.git"}})
            .to_string()
            .as_bytes(),
    );
    expect_error(&unknown, 404, "no package uses the repository");
    let anonymous = post(
        &server.url("/api/update-package"),
        &[],
        json!({"repository": {"url": repo.url()}})
            .to_string()
            .as_bytes(),
    );
    expect_error(&anonymous, 401, "");
    let gitlab = post(
        &server.url("/api/gitlab"),
        &[("X-Gitlab-Token", "s3cret")],
        json!({"project": {"git_http_url": repo.url()}})
            .to_string()
            .as_bytes(),
    );
    assert_eq!(gitlab.status, 202, "{}", gitlab.text());
    assert_eq!(p2_versions(&server, &admin, "acme/lib"), ["1.0.0"]);
}
