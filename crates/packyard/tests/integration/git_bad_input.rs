//! Git packages: every bad input gets a clear error, and no existing version is lost.

use crate::common::git::{GitRepo, library};
use crate::common::*;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use std::time::{Duration, Instant};

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

    // A server that is no git server: what it answers stays out of the error, and its
    // redirect to another host is not followed.
    let elsewhere = std::net::TcpListener::bind("127.0.0.2:0").unwrap();
    elsewhere.set_nonblocking(true).unwrap();
    let metadata = answering(
        "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\n\r\nAccessKeyId: AKIA-SECRET-FROM-THE-BODY\n",
    );
    let redirecting = answering(&format!(
        "HTTP/1.1 302 Found\r\nLocation: http://{}/acme/lib.git/info/refs?service=git-upload-pack\r\nContent-Length: 0\r\n\r\n",
        elsewhere.local_addr().unwrap()
    ));
    for (remote, hint) in [(metadata, "500"), (redirecting, "302")] {
        let url = format!("http://{remote}/acme/lib.git");
        let refused = create_package(&server, "admin", &admin, &json!({"url": url}));
        assert_eq!(refused.status, 422, "{}", refused.text());
        assert!(refused.text().contains(hint), "{}", refused.text());
        assert!(
            !refused.text().contains("AKIA-SECRET"),
            "{}",
            refused.text()
        );
    }
    assert!(elsewhere.accept().is_err(), "the redirect was followed");

    assert_eq!(
        p2_versions(&server, &admin, "acme/lib"),
        ["1.0.0"],
        "the first package is intact"
    );

    // The default policies: no local repositories over the API, no loopback remotes.
    let locked_down = Server::start_with(&[
        ("PACKYARD_ALLOW_LOCAL_REPOSITORIES", "0"),
        ("PACKYARD_ALLOW_NETWORKS", ""),
    ]);
    let admin = locked_down.add_user("admin", true);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    for url in [
        format!("http://127.0.0.1:{port}/acme/lib.git"),
        format!("https://localhost:{port}/acme/lib.git"),
        format!("ssh://git@127.0.0.1:{port}/acme/lib.git"),
        format!("git://[::1]:{port}/acme/lib.git"),
        "http://169.254.169.254/latest/meta-data/iam/".to_owned(),
        // Metadata services, and loopback or link-local through a translation
        // (security issue 23).
        "http://[fd00:ec2::254]/latest/meta-data/".to_owned(),
        "http://100.100.100.200/latest/meta-data/".to_owned(),
        "http://[64:ff9b::a9fe:a9fe]/latest/meta-data/".to_owned(),
        "http://[::a9fe:a9fe]/latest/meta-data/".to_owned(),
        "http://[2002:a9fe:a9fe::1]/latest/meta-data/".to_owned(),
        format!("http://[64:ff9b::7f00:1]:{port}/acme/lib.git"),
        format!("ssh://git@[::127.0.0.1]:{port}/acme/lib.git"),
    ] {
        expect_error(
            &create_package(&locked_down, "admin", &admin, &json!({"url": url})),
            422,
            "PACKYARD_ALLOW_NETWORKS",
        );
    }
    assert!(listener.accept().is_err(), "a refused remote was contacted");
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

/// Security issue 23: a remote whose host the network policy cannot read (an IPv6 zone
/// id, a name the URL parser refuses but git resolves by itself) is refused when the
/// package is added, before any connection or lookup, so it cannot reach loopback,
/// link-local or a port scan's answer past the policy.
#[test]
fn remotes_the_network_policy_cannot_judge_are_refused_before_any_connection() {
    testkit::needs!(Git);
    let server = Server::start_with(&[("PACKYARD_ALLOW_NETWORKS", "")]);
    let admin = server.add_user("admin", true);
    // A loopback listener the policy refuses: any connection to it is the attack.
    let listener = std::net::TcpListener::bind("127.0.0.2:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let closed = {
        let probe = std::net::TcpListener::bind("127.0.0.2:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    for (url, part) in [
        (
            format!("http://[::ffff:127.0.0.2%25lo]:{port}/acme/lib.git"),
            "zone id",
        ),
        (
            format!("http://bot:s3cret@[::ffff:127.0.0.2%25lo]:{port}/acme/lib.git"),
            "zone id",
        ),
        (
            format!("ssh://git@[::ffff:127.0.0.2%25lo]:{port}/acme/lib.git"),
            "zone id",
        ),
        // A closed port answers "Failed to connect" on the old code: a port scan.
        (
            format!("http://[::ffff:127.0.0.2%25lo]:{closed}/acme/lib.git"),
            "zone id",
        ),
        ("http://[fe80::1%25lo]/acme/lib.git".to_owned(), "zone id"),
        // An invalid punycode label: git would resolve it itself, past the policy.
        (
            format!("http://xn--a.example:{port}/acme/lib.git"),
            "network policy",
        ),
        (
            format!("http://b\u{fc}cher.example:{port}/acme/lib.git"),
            "network policy",
        ),
    ] {
        let refused = create_package(&server, "admin", &admin, &json!({"url": url}));
        expect_error(&refused, 400, part);
        assert!(!refused.text().contains("s3cret"), "{}", refused.text());
    }
    assert!(
        listener.accept().is_err(),
        "a remote the policy could not judge was contacted"
    );
    assert!(!has_mirror(&server), "something was cloned");
    let packages = get(
        &server.url("/api/packages"),
        &[("Authorization", &basic("admin", &admin))],
    );
    assert_eq!(packages.status, 200, "{}", packages.text());
    assert!(
        !packages.text().contains("acme/lib"),
        "nothing is imported: {}",
        packages.text()
    );
}

/// Security issue 23: git gets no proxy from `HTTP_PROXY` and the like in the
/// server's environment (a proxy resolves names where the network policy cannot see),
/// only `PACKYARD_OUTBOUND_PROXY`.
#[test]
fn git_reaches_remotes_through_a_proxy_only_when_one_is_configured() {
    testkit::needs!(Git);
    let proxy = RecordingProxy::start();
    let env = proxy.environment();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut server = Server::start_with(&env);
    let admin = server.add_user("admin", true);
    let remote = answering(
        "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
    let url = format!("http://{remote}/acme/lib.git");
    let direct = create_package(&server, "admin", &admin, &json!({"url": url}));
    assert_eq!(direct.status, 422, "{}", direct.text());
    assert!(direct.text().contains("500"), "{}", direct.text());
    assert_eq!(
        proxy.requests(),
        Vec::<String>::new(),
        "went through the proxy"
    );

    server.restart_with(&[("PACKYARD_OUTBOUND_PROXY", &proxy.url())]);
    let admin = server.add_user("admin2", true);
    let proxied = create_package(&server, "admin2", &admin, &json!({"url": url}));
    assert_eq!(proxied.status, 422, "{}", proxied.text());
    assert!(proxied.text().contains("502"), "{}", proxied.text());
    let requests = proxy.requests();
    assert!(
        requests
            .iter()
            .any(|line| line.starts_with(&format!("GET {url}/info/refs"))),
        "{requests:?}"
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
    let mut server = Server::start_with(&[("PACKYARD_SECRET", "the first secret")]);
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
    let hook = |server: &Server, signature: &str| {
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
    let wrong = hook(&server, &sign("wrong"));
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
    assert_eq!(hook(&server, &sign("s3cret")).status, 202);

    let unknown = post(
        &server.url(&format!(
            "/api/update-package?username=admin&apiToken={admin}"
        )),
        &[("Content-Type", "application/json")],
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

    // The webhook secret is sealed at rest, like credentials.
    server.cli_ok(&[
        "webhook",
        "add",
        "ci",
        "--url",
        "https://hooks.example.com/x",
        "--events",
        "new_release",
        "--secret",
        "outgoing-s3cret-0123456789",
    ]);
    for (path, bytes) in database_files(&server) {
        for secret in ["s3cret", "outgoing-s3cret-0123456789"] {
            assert!(
                !contains(&bytes, secret),
                "{} holds {secret}",
                path.display()
            );
        }
    }
    // Rotating PACKYARD_SECRET: everything is resealed under the new one, which alone
    // opens it from then on; a second run has nothing left to do.
    let new_secret = [("PACKYARD_SECRET", "the second secret")];
    let rotate = |old: &str| server.cli_with(&new_secret, &["secrets", "rotate", "--old", old]);
    let wrong = rotate("not the first secret");
    assert!(!wrong.status.success(), "{}", output_text(&wrong));
    assert!(
        output_text(&wrong).contains("package acme/lib webhook secret"),
        "{}",
        output_text(&wrong)
    );
    let rotated = rotate("the first secret");
    assert!(rotated.status.success(), "{}", output_text(&rotated));
    assert!(
        output_text(&rotated).contains("resealed 2 of 2"),
        "{}",
        output_text(&rotated)
    );
    assert!(output_text(&rotate("the first secret")).contains("resealed 0 of 2"));
    server.restart_with(&new_secret);
    assert_eq!(
        hook(&server, &sign("s3cret")).status,
        202,
        "opened with the new secret"
    );
    server.restart_with(&[("PACKYARD_SECRET", "the first secret")]);
    expect_error(&hook(&server, &sign("s3cret")), 401, "signature");
}

/// A server on 127.0.0.1 that answers every request with `response`; its address.
fn answering(response: &str) -> std::net::SocketAddr {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let response = response.to_owned();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let _ = stream.write_all(response.as_bytes());
        }
    });
    address
}

/// `size` bytes that do not compress (a repository cannot pack them smaller).
fn noise(size: usize) -> Vec<u8> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..size)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect()
}

/// The processes whose command line mentions `needle` (git and its helpers name the URL
/// they work on), with their command lines.
fn processes_mentioning(needle: &str) -> Vec<(u32, String)> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|entry| {
            let pid = entry.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            text.contains(needle).then_some((pid, text))
        })
        .collect()
}

/// Whether a bare mirror (its object store) is left in the VCS cache.
fn has_mirror(server: &Server) -> bool {
    files_under(&server.data.path().join("vcs"))
        .iter()
        .any(|file| file.contains("objects/"))
}

/// `PACKYARD_MAX_REPO_SIZE` and `PACKYARD_SCAN_TIMEOUT`: a repository that is too large
/// (at its first clone or at a later fetch) or a remote that stops answering fails the
/// scan with the variable's name, kills git, frees the job, and loses no version.
#[test]
fn repositories_are_bounded_in_size_and_in_scan_time() {
    testkit::needs!(Git);
    let server = Server::start_with(&[
        ("PACKYARD_MAX_REPO_SIZE", "1M"),
        ("PACKYARD_SCAN_TIMEOUT", "3s"),
        ("PACKYARD_SECRET", "the-server-secret"),
        ("AWS_SECRET_ACCESS_KEY", "the-cloud-key"),
    ]);
    let admin = server.add_user("admin", true);

    // Too large at the first clone: refused with the reason, no mirror kept.
    let (big, _) = library("acme/big", "1.0.0");
    std::fs::write(big.path().join("noise.bin"), noise(3 << 20)).unwrap();
    big.commit("noise");
    let refused = create_package(&server, "admin", &admin, &json!({"url": big.url()}));
    expect_error(&refused, 422, "PACKYARD_MAX_REPO_SIZE");
    assert!(!has_mirror(&server), "the oversized clone is removed");

    // A small repository over git://, from a real git daemon.
    let (lib, _) = library("acme/lib", "1.0.0");
    let daemon = testkit::Service::git_daemon(lib.path());
    let remote = format!("127.0.0.1:{}/", daemon.port);
    let url = format!(
        "git://{remote}{}",
        lib.path().file_name().unwrap().to_string_lossy()
    );
    let added = create_package(&server, "admin", &admin, &json!({"url": url}));
    assert_eq!(added.status, 201, "{}", added.text());

    // The remote stops answering: the scan is cut at the timeout, git with it.
    daemon.pause();
    let started = Instant::now();
    let id = queue_update(&server, "admin", &admin, &url);
    // While git waits, its environment is its own: none of the server's secrets, no
    // home, no system or global config.
    let deadline = Instant::now() + Duration::from_secs(3);
    let waiting = loop {
        let found = processes_mentioning(&remote);
        if !found.is_empty() {
            break found;
        }
        assert!(
            Instant::now() < deadline,
            "no git process reached the remote"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    for (pid, _) in &waiting {
        let environment = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        let environment = String::from_utf8_lossy(&environment).replace('\0', "\n");
        for secret in [
            "the-server-secret",
            "the-cloud-key",
            "PACKYARD_",
            "DATABASE_URL",
        ] {
            assert!(
                !environment.contains(secret),
                "git sees {secret}: {environment}"
            );
        }
        for expected in [
            "HOME=/nonexistent",
            "GIT_CONFIG_NOSYSTEM=1",
            "GIT_ALLOW_PROTOCOL=",
        ] {
            assert!(
                environment.contains(expected),
                "{expected} in {environment}"
            );
        }
    }
    let job = wait_for_job(&server, "admin", &admin, id, Duration::from_secs(60));
    let took = started.elapsed();
    assert_eq!(job["state"], "failed", "{job}");
    let error = job["error"].as_str().unwrap_or_default();
    assert!(error.contains("PACKYARD_SCAN_TIMEOUT (3s)"), "{error}");
    assert!(
        took >= Duration::from_secs(3) && took < Duration::from_secs(10),
        "cut after {took:?}"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while !processes_mentioning(&remote).is_empty() {
        assert!(
            Instant::now() < deadline,
            "git processes outlived the scan: {:?}",
            processes_mentioning(&remote)
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // The remote is back and the job slot free: the next scan finds the new tag.
    daemon.resume();
    lib.write_library("acme/lib", "1.1.0", Value::Null);
    lib.commit("1.1.0");
    lib.tag("1.1.0");
    let id = queue_update(&server, "admin", &admin, &url);
    let job = wait_for_job(&server, "admin", &admin, id, Duration::from_secs(60));
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(p2_versions(&server, &admin, "acme/lib"), ["1.1.0", "1.0.0"]);
    assert!(has_mirror(&server));

    // A fetch that grows the mirror past the limit: stopped, the mirror removed, the
    // published versions kept.
    std::fs::write(lib.path().join("noise.bin"), noise(3 << 20)).unwrap();
    lib.commit("noise");
    lib.tag("1.2.0");
    let id = queue_update(&server, "admin", &admin, &url);
    let job = wait_for_job(&server, "admin", &admin, id, Duration::from_secs(60));
    assert_eq!(job["state"], "failed", "{job}");
    let error = job["error"].as_str().unwrap_or_default();
    assert!(error.contains("PACKYARD_MAX_REPO_SIZE"), "{error}");
    assert!(!has_mirror(&server), "the oversized mirror is removed");
    assert_eq!(p2_versions(&server, &admin, "acme/lib"), ["1.1.0", "1.0.0"]);
}
