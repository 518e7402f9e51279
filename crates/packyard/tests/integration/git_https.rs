//! Git packages over http(s) with a user name and password, end to end: testkit's
//! `UpstreamServer` serves a bare repository with git's "dumb HTTP" protocol (static
//! files after `git update-server-info`) behind HTTP Basic authentication. The
//! credentials given to `packyard package add --username --password` are stored sealed
//! with `PACKYARD_SECRET` and sent by git as an `Authorization: Basic` header, on the
//! first scan and on re-scans queued by webhooks; neither the database nor the bare
//! mirror holds the password.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::common::git::{GitRepo, library};
use crate::common::*;
use serde_json::{Value, json};
use testkit::upstream::{UpstreamRepo, UpstreamServer};

const LIB: &str = "acme/lib";
const OTHER: &str = "acme/other";
const SECRET: &str = "git-over-https test secret";
const USER: &str = "bot";
const PASSWORD: &str = "s3cret";
/// How long a re-scan queued by a webhook may take.
const SCAN_LIMIT: Duration = Duration::from_secs(60);

/// An HTTP server whose root holds `repo` as the bare repository `/private/lib.git`,
/// ready for git's dumb HTTP protocol; returns the server and the bare repository.
fn serve_bare(repo: &GitRepo) -> (UpstreamServer, PathBuf) {
    let server = UpstreamRepo::new().serve();
    let bare = place_bare(&server, repo, "private/lib.git");
    (server, bare)
}

/// Clones `repo` bare into the server's root at `path` and prepares it for dumb HTTP.
fn place_bare(server: &UpstreamServer, repo: &GitRepo, path: &str) -> PathBuf {
    let bare = server.root().join(path);
    std::fs::create_dir_all(bare.parent().unwrap()).unwrap();
    repo.git(&[
        "clone",
        "--quiet",
        "--bare",
        &repo.url(),
        bare.to_str().unwrap(),
    ]);
    update_server_info(&bare);
    bare
}

/// Pushes the branches and tags of `repo` to the served bare repository.
fn publish(repo: &GitRepo, bare: &Path) {
    repo.git(&[
        "push",
        "--quiet",
        bare.to_str().unwrap(),
        "refs/heads/*:refs/heads/*",
        "refs/tags/*:refs/tags/*",
    ]);
    update_server_info(bare);
}

/// Writes `info/refs` and `objects/info/packs`, all a dumb HTTP client reads.
fn update_server_info(bare: &Path) {
    let output = Command::new("git")
        .arg("--git-dir")
        .arg(bare)
        .arg("update-server-info")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", output_text(&output));
}

/// The bare mirrors in the VCS cache (each has a HEAD file).
fn mirrors(vcs_cache: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(vcs_cache)
        .map(|entries| {
            entries
                .flatten()
                .map(|entry| entry.path())
                .filter(|path| path.join("HEAD").is_file())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn https_credentials_are_sealed_and_sent_by_git_on_add_and_rescan() {
    testkit::needs!(Git);
    let (repo, v100) = library(LIB, "v1.0.0");
    let (upstream, bare) = serve_bare(&repo);
    upstream.require_basic_auth(Some((USER, PASSWORD)));
    let url = format!("{}/private/lib.git", upstream.url());
    let (server, token) = server_with_maintainer(&[("PACKYARD_SECRET", SECRET)]);
    let vcs_cache = server.data.path().join("vcs");

    // (a) Added from the command line with a user name and password.
    let output = server.cli(&[
        "package",
        "add",
        &url,
        "--username",
        USER,
        "--password",
        PASSWORD,
    ]);
    assert!(output.status.success(), "{}", output_text(&output));
    wait_for_package(&server, "maintainer", &token, LIB);
    assert_eq!(
        versions(&server, "maintainer", &token, LIB),
        [("v1.0.0".into(), v100)]
    );

    // git authenticated every request with the header; none was answered 401 (the
    // server would have logged a request without it, too).
    let expected = basic(USER, PASSWORD);
    let log = upstream.request_log();
    assert!(
        log.iter().any(|r| r.path == "/private/lib.git/info/refs"),
        "git read the dumb HTTP ref list: {:?}",
        upstream.requests()
    );
    for request in &log {
        assert_eq!(
            request.header("authorization"),
            Some(expected.as_str()),
            "{} {} without the credentials",
            request.method,
            request.target
        );
    }

    // The password is sealed: not in the database (WAL included), where the URL is.
    let database = database_files(&server);
    assert!(
        database.iter().any(|(_, bytes)| contains(bytes, &url)),
        "the package row is in none of {:?}",
        database.iter().map(|(path, _)| path).collect::<Vec<_>>()
    );
    let header_token = expected.trim_start_matches("Basic ");
    for (path, bytes) in &database {
        assert!(
            !contains(bytes, PASSWORD),
            "{} holds the password",
            path.display()
        );
        assert!(
            !contains(bytes, header_token),
            "{} holds the Basic token",
            path.display()
        );
    }

    // The mirror's config names neither the password nor an Authorization header (nor
    // the URL: later fetches name it on the command line).
    let found = mirrors(&vcs_cache);
    assert_eq!(found.len(), 1, "one mirror in {}", vcs_cache.display());
    let config = std::fs::read_to_string(found[0].join("config")).unwrap();
    assert!(!config.contains(PASSWORD), "{config}");
    assert!(!config.to_lowercase().contains("authorization"), "{config}");
    assert!(!config.contains(header_token), "{config}");
    assert!(!config.contains(&url), "{config}");
    for file in files_under(&vcs_cache) {
        let file = vcs_cache.join(file);
        let bytes = std::fs::read(&file).unwrap();
        assert!(
            !contains(&bytes, PASSWORD),
            "{} holds the password",
            file.display()
        );
        assert!(
            !contains(&bytes, header_token),
            "{} holds the Basic token",
            file.display()
        );
    }

    // (b) A new tag pushed to the served repository and a webhook: the queued re-scan
    // opens the stored credentials.
    repo.write_library(LIB, "1.1.0", Value::Null);
    let v110 = repo.commit("1.1.0");
    repo.tag("v1.1.0");
    publish(&repo, &bare);
    upstream.reset_counts();
    let job = update_package(&server, "maintainer", &token, &url, SCAN_LIMIT);
    assert_eq!(job["state"], "succeeded", "{job}\n{}", server.log());
    assert!(
        versions(&server, "maintainer", &token, LIB).contains(&("v1.1.0".into(), v110.clone())),
        "{:?}",
        versions(&server, "maintainer", &token, LIB)
    );
    let log = upstream.request_log();
    assert!(!log.is_empty(), "the re-scan went to the server");
    for request in &log {
        assert_eq!(
            request.header("authorization"),
            Some(expected.as_str()),
            "{} {} without the credentials",
            request.method,
            request.target
        );
    }
    let config = std::fs::read_to_string(found[0].join("config")).unwrap();
    assert!(!config.contains(PASSWORD), "{config}");
    assert!(!config.to_lowercase().contains("authorization"), "{config}");

    // The dist of the new tag is built from the mirror and served.
    let zipball = get(
        &server.url(&format!("/zipball/{LIB}/{v110}.zip")),
        &[("Authorization", &basic("maintainer", &token))],
    );
    assert_eq!(zipball.status, 200, "{}", zipball.text());

    // Over the API, for another repository on the same server.
    let (other, other_v100) = library(OTHER, "v1.0.0");
    place_bare(&upstream, &other, "private/other.git");
    let other_url = format!("{}/private/other.git", upstream.url());
    let created = create_package(
        &server,
        "maintainer",
        &token,
        &json!({
            "url": other_url,
            "credentials": {"username": USER, "password": PASSWORD},
        }),
    );
    assert_eq!(created.status, 201, "{}", created.text());
    assert_eq!(created.json()["package"], OTHER);
    assert_eq!(
        versions(&server, "maintainer", &token, OTHER),
        [("v1.0.0".into(), other_v100)]
    );

    // With the password written into the URL: sealed as credentials, the URL stored
    // without it (the loop below looks for it in every database file).
    let (third, third_v100) = library("acme/third", "v1.0.0");
    place_bare(&upstream, &third, "private/third.git");
    let with_password =
        upstream
            .url()
            .replacen("http://", &format!("http://{USER}:{PASSWORD}@"), 1);
    let created = create_package(
        &server,
        "maintainer",
        &token,
        &json!({"url": format!("{with_password}/private/third.git")}),
    );
    assert_eq!(created.status, 201, "{}", created.text());
    assert_eq!(
        versions(&server, "maintainer", &token, "acme/third"),
        [("v1.0.0".into(), third_v100)]
    );
    for (path, bytes) in database_files(&server) {
        assert!(
            !contains(&bytes, PASSWORD),
            "{} holds the password",
            path.display()
        );
        assert!(!contains(&bytes, header_token), "{}", path.display());
    }

    // A changed password upstream: the re-scan fails with git's words, and the
    // versions stay.
    upstream.require_basic_auth(Some((USER, "rotated")));
    let job = update_package(&server, "maintainer", &token, &url, SCAN_LIMIT);
    assert_eq!(job["state"], "failed", "{job}");
    let error = job["error"].as_str().unwrap_or_default();
    assert!(error.contains(&no_credentials_message(&upstream)), "{job}");
    assert!(
        error.contains("refused the user name and password"),
        "{job}"
    );
    assert!(!error.contains(PASSWORD), "{job}");
    assert!(
        versions(&server, "maintainer", &token, LIB).contains(&("v1.1.0".into(), v110)),
        "a failed scan loses no version"
    );
}

/// What git (with prompts off) says when the server answers 401 and it has no
/// credentials it may send: with a wrong password too, since git's own credential
/// machinery never saw the `http.extraHeader` packyard passes.
/// Security issue 23: a token written as the only userinfo of the URL
/// (`https://TOKEN@host/...`, GitHub's form) is a credential: sealed, sent by git with
/// an empty password, and neither stored in the URL nor published with it.
#[test]
fn a_token_as_the_urls_user_name_is_a_sealed_credential() {
    const TOKEN: &str = "T0KEN-abc";
    testkit::needs!(Git);
    let (repo, v100) = library(LIB, "v1.0.0");
    let (upstream, _bare) = serve_bare(&repo);
    upstream.require_basic_auth(Some((TOKEN, "")));
    let address = upstream.url().replace("http://", "");
    let url = format!("http://{TOKEN}@{address}/private/lib.git");
    let (server, token) = server_with_maintainer(&[("PACKYARD_SECRET", SECRET)]);

    let output = server.cli(&["package", "add", &url]);
    assert!(output.status.success(), "{}", output_text(&output));
    wait_for_package(&server, "maintainer", &token, LIB);
    assert_eq!(
        versions(&server, "maintainer", &token, LIB),
        [("v1.0.0".into(), v100)]
    );
    let published = p2(&server, "maintainer", &token, LIB).text();
    assert!(
        published.contains(&format!("http://{address}/private/lib.git")),
        "{published}"
    );
    assert!(!published.contains(TOKEN), "{published}");
    for (path, bytes) in database_files(&server) {
        assert!(
            !contains(&bytes, TOKEN),
            "{} holds the token",
            path.display()
        );
    }
    assert!(!server.log().contains(TOKEN), "{}", server.log());
}

fn no_credentials_message(upstream: &UpstreamServer) -> String {
    format!(
        "fatal: could not read Username for '{}': terminal prompts disabled",
        upstream.url()
    )
}

/// What a refused add must look like: a failure with git's authentication message, no
/// package, no mirror, nothing stored.
fn assert_refused(
    server: &Server,
    token: &str,
    upstream: &UpstreamServer,
    url: &str,
    output: &std::process::Output,
    meaning: &str,
) {
    assert!(!output.status.success(), "{}", output_text(output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(meaning),
        "{meaning:?} expected: {}",
        output_text(output)
    );
    assert!(
        stderr.contains(&format!(
            "cannot read the repository: {}",
            no_credentials_message(upstream)
        )),
        "{}",
        output_text(output)
    );
    assert!(!stderr.contains(PASSWORD), "{}", output_text(output));
    assert_eq!(p2(server, "maintainer", token, LIB).status, 404);
    for (path, bytes) in database_files(server) {
        assert!(
            !contains(&bytes, url),
            "{} names the repository",
            path.display()
        );
    }
    let vcs_cache = server.data.path().join("vcs");
    assert!(
        files_under(&vcs_cache).is_empty(),
        "nothing is left in {}: {:?}",
        vcs_cache.display(),
        files_under(&vcs_cache)
    );
}

#[test]
fn a_wrong_or_missing_password_is_refused_and_adds_nothing() {
    testkit::needs!(Git);
    let (repo, _) = library(LIB, "v1.0.0");
    let (upstream, _bare) = serve_bare(&repo);
    upstream.require_basic_auth(Some((USER, PASSWORD)));
    let url = format!("{}/private/lib.git", upstream.url());
    let (server, token) = server_with_maintainer(&[("PACKYARD_SECRET", SECRET)]);

    let wrong = server.cli(&[
        "package",
        "add",
        &url,
        "--username",
        USER,
        "--password",
        "wrong",
    ]);
    assert_refused(
        &server,
        &token,
        &upstream,
        &url,
        &wrong,
        "refused the user name and password (HTTP 401)",
    );
    assert!(
        upstream
            .request_log()
            .iter()
            .any(|r| r.header("authorization") == Some(basic(USER, "wrong").as_str())),
        "git sent the wrong credentials: {:?}",
        upstream.requests()
    );

    upstream.reset_counts();
    let anonymous = server.cli(&["package", "add", &url]);
    assert_refused(
        &server,
        &token,
        &upstream,
        &url,
        &anonymous,
        "requires credentials (HTTP 401)",
    );
    assert!(
        upstream
            .request_log()
            .iter()
            .all(|r| r.header("authorization").is_none()),
        "no credentials were sent"
    );
}
