//! Mirroring a Composer repository: the tests build their own upstream (a static
//! repository behind a server that counts requests) and install through packyard with
//! the real composer client.

use std::time::{Duration, Instant};

use crate::common::*;
use serde_json::{Value, json};
use testkit::upstream::{
    UpstreamRepo, UpstreamServer, dist_path, dist_reference, normalize_version,
};

const ALIAS: &str = "up";

fn upstream() -> UpstreamServer {
    let mut repo = UpstreamRepo::new();
    repo.minified();
    repo.monolog();
    repo.package(
        "acme/lib",
        "9.9.9",
        json!({}),
        &[("evil.php", "<?php // public impostor\n")],
    );
    repo.package("acme/corrupt", "1.0.0", json!({}), &[("a.php", "<?php\n")]);
    repo.corrupt_shasum("acme/corrupt", "1.0.0");
    // Only a branch: the upstream answers 404 for its tagged document.
    repo.dev_package(
        "acme/branchy",
        "dev-main",
        json!({}),
        &[("branchy.php", "<?php // main\n")],
    );
    repo.package(
        "acme/fading",
        "1.0.0",
        json!({}),
        &[("fading.php", "<?php // 1.0.0\n")],
    );
    repo.serve()
}

/// The environment of a stateless replica on the `bucket` of `s3`: mirror stores on S3,
/// both mirror cache dirs empty (the default). Each [`Server`] gets its own data dir
/// and SQLite database.
fn s3_env(config: &str, s3: &testkit::S3sFs, bucket: &str) -> Vec<(String, String)> {
    [
        ("PACKYARD_CONFIG", config.to_owned()),
        ("STORAGE_SOURCE", "s3".to_owned()),
        ("STORAGE_AWS_BUCKET", bucket.to_owned()),
        ("STORAGE_AWS_ARGS", s3.storage_aws_args()),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value))
    .collect()
}

/// `env` with local mirror caches in `meta` and, when given, `dist`.
fn with_mirror_caches(
    env: &[(String, String)],
    meta: &TempDir,
    dist: Option<&TempDir>,
) -> Vec<(String, String)> {
    let mut env = env.to_vec();
    let caches = [
        ("MIRROR_METADATA_CACHE_DIR", Some(meta)),
        ("MIRROR_DIST_CACHE_DIR", dist),
    ];
    for (name, dir) in caches {
        if let Some(dir) = dir {
            env.push((name.into(), dir.path().display().to_string()));
        }
    }
    env
}

fn start_replica(env: &[(String, String)]) -> (Server, String) {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let server = Server::start_with(&env);
    let token = server.add_user("admin", true);
    (server, token)
}

/// A config file defining the `up` mirror (and removing the default packagist one).
fn config(dir: &TempDir, fields: &Value, upstream: &UpstreamServer) -> String {
    let mut mirror = json!({"url": upstream.url()});
    for (key, value) in fields.as_object().unwrap() {
        mirror[key] = value.clone();
    }
    let yaml = json!({"mirrors": {"packagist": false, ALIAS: mirror}});
    let path = dir.path().join("config.yaml");
    // JSON is YAML.
    std::fs::write(&path, yaml.to_string()).unwrap();
    path.display().to_string()
}

/// A server with the `up` mirror of `upstream` (plus `fields`) and an admin's token;
/// the config file lives as long as the returned directory.
fn mirror_server(upstream: &UpstreamServer, fields: &Value) -> (Server, String, TempDir) {
    let dir = TempDir::new("mirror-config");
    let server = Server::start_with(&[("PACKYARD_CONFIG", &config(&dir, fields, upstream))]);
    let token = server.add_user("admin", true);
    (server, token, dir)
}

fn mirror_url(server: &Server) -> String {
    server.url(&format!("/mirror/{ALIAS}"))
}

fn install(server: &Server, user: &str, token: &str, package: &str) -> ComposerProject {
    let project = ComposerProject::with_repository(server, &mirror_url(server), user, token);
    project.require(package);
    project
}

/// A fresh project installs monolog/monolog and its dependency psr/log through `server`
/// without the upstream being asked anything.
fn installs_monolog_without_upstream(server: &Server, token: &str, upstream: &UpstreamServer) {
    upstream.reset_counts();
    let project = install(server, "admin", token, "monolog/monolog");
    for file in [
        "monolog/monolog/src/Logger.php",
        "psr/log/src/LoggerInterface.php",
    ] {
        assert!(
            project.installed_file(file).is_some(),
            "{file} not installed"
        );
    }
    assert_eq!(
        upstream.total(),
        0,
        "upstream requests: {:?}",
        upstream.requests()
    );
}

fn fetch(server: &Server, token: &str, path: &str) -> Reply {
    get(
        &server.url(&format!("/mirror/{ALIAS}{path}")),
        &[("Authorization", &basic("admin", token))],
    )
}

#[test]
fn composer_installs_through_the_mirror_and_keeps_working_when_upstream_stops() {
    testkit::needs!(Composer);
    let mut upstream = upstream();
    let (server, token, _config) = mirror_server(&upstream, &json!({}));

    let root = fetch(&server, &token, "/packages.json").json();
    assert_eq!(
        root["metadata-url"],
        mirror_url(&server) + "/p2/%package%.json"
    );
    assert_eq!(
        root["mirrors"][0]["dist-url"],
        mirror_url(&server) + "/zipball/%package%/%version%/%reference%.%type%"
    );
    assert_eq!(root["notify-batch"], mirror_url(&server) + "/downloads/");
    for removed in ["search", "list", "providers-api"] {
        assert!(
            root.get(removed).is_none(),
            "{removed} should be removed: {root}"
        );
    }

    let first = install(&server, "admin", &token, "monolog/monolog");
    assert!(
        first
            .installed_file("monolog/monolog/src/Logger.php")
            .is_some()
    );
    assert!(
        first
            .installed_file("psr/log/src/LoggerInterface.php")
            .is_some()
    );
    assert_eq!(upstream.count(&dist_path("monolog/monolog", "3.5.0")), 1);
    assert_eq!(upstream.count(&dist_path("psr/log", "3.0.0")), 1);

    upstream.stop();
    let second = install(&server, "admin", &token, "monolog/monolog");
    assert!(
        second
            .installed_file("psr/log/src/LoggerInterface.php")
            .is_some()
    );
    // What was never fetched cannot be served, and the reason says so.
    let missing = fetch(&server, &token, "/p2/acme/never.json");
    assert_eq!(missing.status, 502, "{}", missing.text());
    assert!(
        missing.json()["message"]
            .as_str()
            .unwrap()
            .contains("nothing is stored")
    );
}

#[test]
fn a_second_stateless_replica_serves_what_the_first_mirrored_without_upstream() {
    testkit::needs!(S3sFs, Composer);
    let upstream = upstream();
    let s3 = testkit::S3sFs::start("mirror");
    let dir = TempDir::new("mirror-config");
    let env = s3_env(&config(&dir, &json!({}), &upstream), &s3, "mirror");
    let (first, token) = start_replica(&env);
    install(&first, "admin", &token, "monolog/monolog");
    let stored = s3.keys("mirror");
    assert!(
        stored
            .iter()
            .any(|k| k.starts_with("mirror-meta/up/p2/monolog/")),
        "{stored:?}"
    );
    assert!(
        stored
            .iter()
            .any(|k| k.starts_with("mirror-dist/") && k.contains("/up/monolog/monolog/")),
        "{stored:?}"
    );
    let local: Vec<String> = files_under(first.data.path())
        .into_iter()
        .filter(|f| !f.starts_with("packyard.db"))
        .collect();
    assert!(
        local.iter().all(|f| !f.contains("mirror")),
        "no mirror data on local disk: {local:?}"
    );

    // A second replica: its own empty, read-only data dir, its own database elsewhere.
    let database_dir = TempDir::new("replica-db");
    let database = format!(
        "sqlite://{}?mode=rwc",
        database_dir.path().join("second.db").display()
    );
    let mut second_env = env.clone();
    second_env.push(("DATABASE_URL".into(), database));
    let (second, second_token) = start_replica(&second_env);
    set_read_only(second.data.path(), true);
    let mut second = second;
    second.restart_with(&[]);
    installs_monolog_without_upstream(&second, &second_token, &upstream);
    set_read_only(second.data.path(), false);
    // Tests run as root, for whom permissions do not stop writes: check directly.
    let written = files_under(second.data.path());
    assert!(
        written.is_empty(),
        "the second replica wrote to its data dir: {written:?}"
    );
}

#[test]
fn concurrent_cold_requests_share_one_upstream_download() {
    let upstream = upstream();
    upstream.set_dist_delay(Duration::from_millis(500));
    let (server, token, _config) = mirror_server(&upstream, &json!({}));
    let p2 = fetch(&server, &token, "/p2/monolog/monolog.json").json();
    let version = &p2["packages"]["monolog/monolog"][0];
    let reference = version["dist"]["reference"].as_str().unwrap().to_owned();
    let path = format!("/zipball/monolog/monolog/3.5.0.0/{reference}.zip");
    let expected = upstream.zip("monolog/monolog", "3.5.0");

    let started = Instant::now();
    let bodies: Vec<Reply> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..100)
            .map(|_| scope.spawn(|| fetch(&server, &token, &path)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for reply in &bodies {
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert_eq!(reply.body, expected);
    }
    assert_eq!(
        upstream.count(&dist_path("monolog/monolog", "3.5.0")),
        1,
        "one upstream download"
    );
    println!(
        "100 concurrent cold requests served in {:?}",
        started.elapsed()
    );
}

#[test]
fn a_corrupt_upstream_archive_is_refused_and_never_stored() {
    let upstream = upstream();
    let (server, token, _config) = mirror_server(&upstream, &json!({}));
    let p2 = fetch(&server, &token, "/p2/acme/corrupt.json").json();
    let reference = p2["packages"]["acme/corrupt"][0]["dist"]["reference"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/zipball/acme/corrupt/1.0.0.0/{reference}.zip");
    let url = server.url(&format!("/mirror/{ALIAS}{path}"));
    let attempt = ureq::get(&url)
        .header("Authorization", &basic("admin", &token))
        .call();
    let complete = attempt
        .ok()
        .and_then(|mut r| r.body_mut().read_to_vec().ok());
    assert!(
        complete.is_none(),
        "the client must not receive a complete body"
    );
    std::thread::sleep(Duration::from_millis(200));
    let stored = files_under(&server.data.path().join("mirror-dist"));
    assert!(stored.is_empty(), "nothing stored: {stored:?}");
    // The next request tries upstream again rather than serving anything stored.
    let again = ureq::get(&url)
        .header("Authorization", &basic("admin", &token))
        .call();
    assert!(
        again
            .ok()
            .and_then(|mut r| r.body_mut().read_to_vec().ok())
            .is_none()
    );
    assert_eq!(upstream.count(&dist_path("acme/corrupt", "1.0.0")), 2);
}

/// A dist URL an upstream's metadata points at a refused address, directly or by a
/// redirect, is never fetched: the network policy holds for what upstreams choose.
#[test]
fn dist_urls_and_their_redirects_go_through_the_network_policy() {
    use std::net::TcpListener;
    // 127.0.0.2 plays an internal service; only 127.0.0.1 (the upstream) is allowed.
    let internal = TcpListener::bind("127.0.0.2:0").unwrap();
    internal.set_nonblocking(true).unwrap();
    let internal_url = format!("http://{}/secret.zip", internal.local_addr().unwrap());
    let redirector = TcpListener::bind("127.0.0.1:0").unwrap();
    let redirect_url = format!("http://{}/moved.zip", redirector.local_addr().unwrap());
    let location = internal_url.clone();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for mut stream in redirector.incoming().flatten() {
            let _ = stream.read(&mut [0u8; 4096]);
            let _ = write!(
                stream,
                "HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n"
            );
        }
    });
    let mut repo = UpstreamRepo::new();
    repo.package(
        "acme/inside",
        "1.0.0",
        json!({"dist": {"url": internal_url}}),
        &[("a.php", "<?php\n")],
    );
    repo.package(
        "acme/bounced",
        "1.0.0",
        json!({"dist": {"url": redirect_url}}),
        &[("a.php", "<?php\n")],
    );
    // Metadata services, and the internal service through NAT64 (security issue 23).
    let internal_port = internal.local_addr().unwrap().port();
    let translated = [
        (
            "acme/nat64",
            format!("http://[64:ff9b::7f00:2]:{internal_port}/secret.zip"),
            "reaches 127.0.0.2",
        ),
        (
            "acme/aws",
            "http://[fd00:ec2::254]/latest/meta-data/".to_owned(),
            "fd00:ec2::254/128",
        ),
        (
            "acme/alibaba",
            "http://100.100.100.200/latest/meta-data/".to_owned(),
            "100.100.100.200/32",
        ),
        (
            "acme/sixtofour",
            "http://[2002:a9fe:a9fe::1]/latest/meta-data/".to_owned(),
            "reaches 169.254.169.254",
        ),
    ];
    for (package, url, _) in &translated {
        repo.package(
            package,
            "1.0.0",
            json!({"dist": {"url": url}}),
            &[("a.php", "<?php\n")],
        );
    }
    let upstream = repo.serve();
    let dir = TempDir::new("mirror-config");
    let server = Server::start_with(&[
        ("PACKYARD_CONFIG", &config(&dir, &json!({}), &upstream)),
        ("PACKYARD_ALLOW_NETWORKS", "127.0.0.1/32"),
    ]);
    let token = server.add_user("admin", true);
    let packages = ["acme/inside", "acme/bounced"]
        .into_iter()
        .chain(translated.iter().map(|(package, _, _)| *package));
    for package in packages {
        let p2 = fetch(&server, &token, &format!("/p2/{package}.json"));
        assert_eq!(p2.status, 200, "{}", p2.text());
        let reference = p2.json()["packages"][package][0]["dist"]["reference"]
            .as_str()
            .unwrap()
            .to_owned();
        let archive = fetch(
            &server,
            &token,
            &format!("/zipball/{package}/1.0.0.0/{reference}.zip"),
        );
        assert!(
            archive.status >= 400,
            "{package}: {} {}",
            archive.status,
            archive.text()
        );
    }
    assert!(
        internal.accept().is_err(),
        "the refused address was contacted"
    );
    assert!(files_under(&server.data.path().join("mirror-dist")).is_empty());
    // Each was refused by the policy, not by a failed connection.
    let log = server.log();
    for (package, _, refusal) in translated {
        assert!(log.contains(refusal), "{package}: {log}");
    }
}

#[test]
fn private_package_names_are_never_proxied_nor_shown_through_a_public_mirror() {
    let upstream = upstream();
    let (server, token, _config) = mirror_server(&upstream, &json!({"public_access": true}));
    let archive = package_zip("acme/lib", &[], "private");
    let uploaded = upload(&server, &token, "acme/lib", "1.0.0", &archive);
    assert_eq!(uploaded.status, 201);
    let anonymous = |path: &str| get(&server.url(&format!("/mirror/{ALIAS}{path}")), &[]);

    // The upstream has a public acme/lib; through the mirror it is as unknown as a name
    // the upstream has never heard of, byte for byte (but for the name).
    let shadowed = anonymous("/p2/acme/lib.json");
    let unknown = anonymous("/p2/acme/nothing.json");
    assert_eq!(shadowed.status, 404);
    assert_eq!(unknown.status, 404, "{}", unknown.text());
    assert_eq!(
        shadowed.text().replace("acme/lib", "acme/nothing"),
        unknown.text()
    );
    assert_eq!(
        shadowed.header("content-type"),
        unknown.header("content-type")
    );
    let archive = |name: &str| anonymous(&format!("/zipball/{name}/9.9.9/{}.zip", "a".repeat(40)));
    let (shadowed, unknown) = (archive("acme/lib"), archive("acme/nothing"));
    assert_eq!(shadowed.status, 404);
    assert_eq!(unknown.status, 404, "{}", unknown.text());
    assert_eq!(
        shadowed.text().replace("acme/lib", "acme/nothing"),
        unknown.text()
    );
    assert!(!shadowed.text().contains("private"), "{}", shadowed.text());
    assert_eq!(
        upstream.count("/p2/acme/lib.json"),
        0,
        "upstream was not even asked"
    );
    // The admin still gets the private package from the repository itself.
    assert_eq!(p2(&server, "admin", &token, "acme/lib").status, 200);
}

/// Security issue 23: credentials written into a mirror's URL are its `http_basic`
/// (sent to the upstream), and no answer to a mirror client names the upstream's URL or
/// its password, be it a 404 or a 502 with the upstream down.
#[test]
fn a_credentialed_upstream_url_reaches_no_mirror_client() {
    let mut upstream = upstream();
    upstream.require_basic_auth(Some(("bot", "s3cret")));
    let address = format!("127.0.0.1:{}", upstream.port());
    let url = format!("http://bot:s3cret@{address}");
    let (server, _token, _config) =
        mirror_server(&upstream, &json!({"url": url, "public_access": true}));
    let anonymous = |path: &str| get(&server.url(&format!("/mirror/{ALIAS}{path}")), &[]);
    let leaks = |reply: &Reply| {
        let text = format!("{:?} {}", reply.headers, reply.text());
        text.contains("s3cret") || text.contains(&address) || text.contains("bot:")
    };

    // The credentials reach the upstream: the mirror works.
    let found = anonymous("/p2/psr/log.json");
    assert_eq!(found.status, 200, "{}", found.text());
    let reference = found.json()["packages"]["psr/log"][0]["dist"]["reference"]
        .as_str()
        .unwrap()
        .to_owned();
    let version = found.json()["packages"]["psr/log"][0]["version_normalized"]
        .as_str()
        .unwrap()
        .to_owned();

    let missing = anonymous("/p2/acme/nothere.json");
    assert_eq!(missing.status, 404, "{}", missing.text());
    assert!(!leaks(&missing), "{}", missing.text());

    upstream.stop();
    let down = anonymous("/p2/acme/other.json");
    assert_eq!(down.status, 502, "{}", down.text());
    assert!(!leaks(&down), "{}", down.text());
    let archive = anonymous(&format!("/zipball/psr/log/{version}/{reference}.zip"));
    assert_eq!(archive.status, 502, "{}", archive.text());
    assert!(!leaks(&archive), "{}", archive.text());
    // The log says what happened, without the password.
    assert!(server.log().contains(&address), "{}", server.log());
    assert!(!server.log().contains("s3cret"), "{}", server.log());
}

/// Security issue 23: a token written as the only userinfo of a mirror's URL
/// (`https://TOKEN@host/`) is a credential too: sent as http_basic with an empty
/// password, never in a log line or an answer.
#[test]
fn a_token_as_the_mirror_urls_user_name_is_kept_out_of_logs_and_answers() {
    let mut upstream = upstream();
    upstream.require_basic_auth(Some(("T0KEN-abc", "")));
    let address = format!("127.0.0.1:{}", upstream.port());
    let url = format!("http://T0KEN-abc@{address}");
    let (server, token, _config) =
        mirror_server(&upstream, &json!({"url": url, "public_access": true}));
    let found = fetch(&server, &token, "/p2/psr/log.json");
    assert_eq!(found.status, 200, "{}", found.text());

    upstream.stop();
    let down = fetch(&server, &token, "/p2/acme/other.json");
    assert_eq!(down.status, 502, "{}", down.text());
    assert!(!down.text().contains("T0KEN"), "{}", down.text());
    // The failure is logged with the upstream's URL, without the token.
    assert!(server.log().contains(&address), "{}", server.log());
    assert!(!server.log().contains("T0KEN"), "{}", server.log());
}

/// Security issue 23: the mirror's HTTP client takes no proxy from `HTTP_PROXY` and
/// the like (a proxy resolves names where the network policy cannot see), only from
/// `PACKYARD_OUTBOUND_PROXY`.
#[test]
fn upstreams_are_reached_through_a_proxy_only_when_one_is_configured() {
    let upstream = upstream();
    let proxy = RecordingProxy::start();
    let dir = TempDir::new("mirror-config");
    let config = config(&dir, &json!({}), &upstream);
    let mut env = proxy.environment();
    env.push(("PACKYARD_CONFIG", config));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut server = Server::start_with(&env);
    let token = server.add_user("admin", true);
    assert_eq!(fetch(&server, &token, "/p2/psr/log.json").status, 200);
    assert_eq!(upstream.count("/p2/psr/log.json"), 1);
    assert_eq!(
        proxy.requests(),
        Vec::<String>::new(),
        "went through the proxy"
    );

    server.restart_with(&[("PACKYARD_OUTBOUND_PROXY", &proxy.url())]);
    let proxied = fetch(&server, &token, "/p2/monolog/monolog.json");
    assert_eq!(proxied.status, 502, "{}", proxied.text());
    assert_eq!(
        proxy.requests(),
        [format!(
            "GET {}/p2/monolog/monolog.json HTTP/1.1",
            upstream.url()
        )]
    );
    assert_eq!(upstream.count("/p2/monolog/monolog.json"), 0);
}

/// Security issue 23: the proxy the operator configured is reached wherever it is
/// (here `localhost`, in a range the network policy refuses), as git reaches it with
/// curl's `http.proxy`; the policy still judges the targets it can see.
#[test]
fn the_configured_proxy_is_reached_on_loopback_which_the_policy_refuses() {
    let proxy = RecordingProxy::start();
    let dir = TempDir::new("mirror-config");
    let yaml =
        json!({"mirrors": {"packagist": false, ALIAS: {"url": "http://upstream.invalid/repo"}}});
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, yaml.to_string()).unwrap();
    let proxy_url = format!("http://localhost:{}", proxy.address.port());
    let server = Server::start_with(&[
        ("PACKYARD_CONFIG", config.to_str().unwrap()),
        // Nothing allowed beyond the defaults, which refuse loopback.
        ("PACKYARD_ALLOW_NETWORKS", ""),
        ("PACKYARD_OUTBOUND_PROXY", &proxy_url),
    ]);
    let token = server.add_user("admin", true);
    let proxied = fetch(&server, &token, "/p2/psr/log.json");
    // The recording proxy answers 502 to everything.
    assert_eq!(proxied.status, 502, "{}", proxied.text());
    assert_eq!(
        proxy.requests(),
        ["GET http://upstream.invalid/repo/p2/psr/log.json HTTP/1.1"],
        "{}",
        server.log()
    );
}

/// Security issue 23: through a public mirror, a private package's name is answered
/// exactly as a name the upstream does not have: status, body, headers, time taken
/// (the upstream takes 300 ms to say 404), and what `/metrics` counts, at the first
/// request and at the next (remembered misses). The private name never reaches the
/// upstream.
#[test]
fn a_private_name_and_an_unknown_one_look_alike_through_a_public_mirror() {
    let upstream = upstream();
    upstream.set_metadata_delay(Duration::from_millis(300));
    let (server, token, _config) = mirror_server(&upstream, &json!({"public_access": true}));
    let archive = package_zip("acme/secret", &[], "private");
    assert_eq!(
        upload(&server, &token, "acme/secret", "1.0.0", &archive).status,
        201
    );
    let timed = |name: &str| {
        let started = Instant::now();
        let reply = get(&server.url(&format!("/mirror/{ALIAS}/p2/{name}.json")), &[]);
        (reply, started.elapsed())
    };
    // Someone's earlier miss: the upstream root and connection are no longer new.
    assert_eq!(timed("other/earlier").0.status, 404);

    // Names of one length, so that bodies compare byte for byte but for the name.
    for round in ["first", "remembered"] {
        let before = metric_counters(&server, &token);
        let (private, private_took) = timed("acme/secret");
        let between = metric_counters(&server, &token);
        let (unknown, unknown_took) = timed("acme/nobody");
        let after = metric_counters(&server, &token);

        assert_eq!(private.status, 404, "{round}: {}", private.text());
        assert_eq!(unknown.status, 404, "{round}: {}", unknown.text());
        assert_eq!(
            private.body.len(),
            unknown.body.len(),
            "{round}: {} / {}",
            private.text(),
            unknown.text()
        );
        assert_eq!(
            private.text().replace("acme/secret", "acme/nobody"),
            unknown.text(),
            "{round}"
        );
        let headers = |reply: &Reply| -> Vec<(String, String)> {
            reply
                .headers
                .iter()
                .filter(|(name, _)| !matches!(name.as_str(), "date" | "x-request-id"))
                .map(|(name, value)| (name.to_string(), value.to_str().unwrap().to_owned()))
                .collect()
        };
        assert_eq!(headers(&private), headers(&unknown), "{round}");
        assert_alike(
            round,
            [&before, &between, &after],
            [private_took, unknown_took],
        );
    }
    assert_eq!(upstream.count("/p2/acme/nobody.json"), 1);
    assert_eq!(
        upstream.count("/p2/acme/secret.json"),
        0,
        "the private name was sent upstream"
    );

    // An archive of a private package and of an unknown one: both documents are
    // looked for (one upstream miss each for the unknown name).
    let hidden = package_zip("acme/hidden", &[], "private");
    assert_eq!(
        upload(&server, &token, "acme/hidden", "1.0.0", &hidden).status,
        201
    );
    let zipball = |name: &str| {
        let started = Instant::now();
        let path = format!(
            "/mirror/{ALIAS}/zipball/{name}/1.0.0.0/{}.zip",
            "a".repeat(40)
        );
        (get(&server.url(&path), &[]), started.elapsed())
    };
    let before = metric_counters(&server, &token);
    let (private, private_took) = zipball("acme/hidden");
    let between = metric_counters(&server, &token);
    let (unknown, unknown_took) = zipball("acme/absent");
    let after = metric_counters(&server, &token);
    assert_eq!((private.status, unknown.status), (404, 404));
    assert_eq!(
        private.text().replace("acme/hidden", "acme/absent"),
        unknown.text()
    );
    assert_eq!(
        moved_counters(&before, &between),
        moved_counters(&between, &after)
    );
    for (what, took) in [("private", private_took), ("unknown", unknown_took)] {
        assert!(
            took >= Duration::from_millis(500) && took < Duration::from_secs(3),
            "the {what} archive took {took:?}"
        );
    }
    assert_eq!(upstream.count("/p2/acme/absent.json"), 1);
    assert_eq!(upstream.count("/p2/acme/hidden.json"), 0);
    assert_eq!(upstream.count("/p2/acme/hidden~dev.json"), 0);
}

/// Security issue 23: an anonymous notify-batch naming 1,800 made-up packages costs a
/// public mirror store reads for at most 500 of them, and real installs are still
/// counted.
#[test]
fn a_notify_batch_costs_a_bounded_number_of_store_reads() {
    let upstream = upstream();
    let (server, token, _config) = mirror_server(&upstream, &json!({"public_access": true}));
    let log = fetch(&server, &token, "/p2/psr/log.json");
    assert_eq!(log.status, 200);
    let version = log.json()["packages"]["psr/log"][0]["version_normalized"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut downloads = vec![json!({"name": "psr/log", "version": version})];
    // As many as the 64 KiB an anonymous body may have.
    downloads.extend((0..1_800).map(|i| json!({"name": format!("z{i}/x"), "version": "1"})));
    let reads = || {
        metric_counters(&server, &token)
            .get("packyard_storage_requests_total{store=\"mirror-meta\",operation=\"get\"}")
            .copied()
            .unwrap_or(0.0)
    };
    let before = reads();
    let reply = post(
        &format!("{}/downloads/", mirror_url(&server)),
        &[("Content-Type", "application/json")],
        json!({"downloads": downloads}).to_string().as_bytes(),
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    let made = reads() - before;
    assert!(made <= 1_000.0, "{made} store reads for one notify-batch");
    let counted = server.cli_ok(&["package", "downloads", "psr/log"]);
    assert!(
        counted.contains("psr/log through the up mirror: 1 installs"),
        "{counted}"
    );
}

/// Security issue 23: a private name and an unknown one answer alike whatever state
/// the upstream is in. While it is down, both fail at once (502: the private name's
/// stand-in request fails as fast as the unknown name's own); after it failed once
/// for some other name and recovered, both are misses again (404), as slow as the
/// upstream. For p2 documents and archives; the private name never goes upstream.
#[test]
fn a_private_name_and_an_unknown_one_look_alike_while_the_upstream_fails() {
    let mut upstream = upstream();
    upstream.set_metadata_delay(Duration::from_millis(300));
    let (server, token, _config) = mirror_server(&upstream, &json!({"public_access": true}));
    let archive = package_zip("acme/secret", &[], "private");
    assert_eq!(
        upload(&server, &token, "acme/secret", "1.0.0", &archive).status,
        201
    );
    // Someone's earlier miss: a mirror that times private names by its misses has
    // one to go by.
    assert_eq!(
        get(
            &server.url(&format!("/mirror/{ALIAS}/p2/other/earlier.json")),
            &[]
        )
        .status,
        404
    );
    let timed = |path: &str| {
        let started = Instant::now();
        let reply = get(&server.url(&format!("/mirror/{ALIAS}{path}")), &[]);
        (reply, started.elapsed())
    };
    let zipball = |name: &str| format!("/zipball/{name}/1.0.0.0/{}.zip", "a".repeat(40));
    // The private name first: it must not lean on what the unknown one's failure left.
    let compare = |private: &str, unknown: &str, status: u16, took: std::ops::Range<Duration>| {
        let (hidden, hidden_took) = timed(private);
        let (absent, absent_took) = timed(unknown);
        assert_eq!(
            (hidden.status, absent.status),
            (status, status),
            "{private}: {} / {unknown}: {}",
            hidden.text(),
            absent.text()
        );
        assert_eq!(
            hidden.text().replace("acme/secret", "acme/nobody"),
            absent.text(),
            "{private}"
        );
        for (what, elapsed) in [(private, hidden_took), (unknown, absent_took)] {
            assert!(took.contains(&elapsed), "{what} took {elapsed:?}");
        }
    };

    upstream.stop();
    let down = Duration::ZERO..Duration::from_millis(200);
    compare(
        "/p2/acme/secret.json",
        "/p2/acme/nobody.json",
        502,
        down.clone(),
    );
    compare(&zipball("acme/secret"), &zipball("acme/nobody"), 502, down);

    // Back, and one failure for some other name: a miss is a miss again.
    upstream.start_again();
    upstream.fail("/p2/other/broken.json", 500);
    assert_eq!(
        get(
            &server.url(&format!("/mirror/{ALIAS}/p2/other/broken.json")),
            &[]
        )
        .status,
        502
    );
    let slow = Duration::from_millis(250)..Duration::from_secs(2);
    compare(
        "/p2/acme/secret.json",
        "/p2/acme/nobody.json",
        404,
        slow.clone(),
    );
    compare(&zipball("acme/secret"), &zipball("acme/nobody"), 404, slow);
    assert!(
        upstream
            .request_log()
            .iter()
            .all(|request| !request.target.contains("acme/secret")),
        "the private name was sent upstream"
    );
}

/// Security issue 23: a notify-batch naming a private package costs the same reads of
/// stored documents as one naming an unknown package (object-store round trips on S3
/// or GCS, which an anonymous client can time).
#[test]
fn a_notify_batch_reads_alike_for_a_private_name_and_an_unknown_one() {
    let upstream = upstream();
    let (server, token, _config) = mirror_server(&upstream, &json!({"public_access": true}));
    let archive = package_zip("acme/secret", &[], "private");
    assert_eq!(
        upload(&server, &token, "acme/secret", "1.0.0", &archive).status,
        201
    );
    let notify = |name: &str| {
        let body = json!({"downloads": [{"name": name, "version": "1.0.0.0"}]});
        let reply = post(
            &format!("{}/downloads/", mirror_url(&server)),
            &[("Content-Type", "application/json")],
            body.to_string().as_bytes(),
        );
        assert_eq!(reply.status, 200, "{}", reply.text());
    };
    for round in ["first", "again"] {
        let before = metric_counters(&server, &token);
        notify("acme/secret");
        let between = metric_counters(&server, &token);
        notify("acme/nobody");
        let after = metric_counters(&server, &token);
        let unknown = moved_counters(&between, &after);
        assert!(
            unknown
                .iter()
                .any(|(series, _)| series.contains("store=\"mirror-meta\"")),
            "{round}: no store read to compare: {unknown:?}"
        );
        assert_eq!(
            moved_counters(&before, &between),
            unknown,
            "{round}: /metrics tells them apart"
        );
    }
}

#[test]
fn available_packages_restrict_what_is_proxied() {
    let upstream = upstream();
    let fields =
        json!({"available_packages": ["monolog/monolog"], "available_package_patterns": ["psr/*"]});
    let (server, token, _config) = mirror_server(&upstream, &fields);
    let root = fetch(&server, &token, "/packages.json").json();
    assert_eq!(root["available-packages"], json!(["monolog/monolog"]));
    assert_eq!(root["available-package-patterns"], json!(["psr/*"]));
    assert_eq!(fetch(&server, &token, "/p2/psr/log.json").status, 200);
    assert_eq!(
        fetch(&server, &token, "/p2/monolog/monolog.json").status,
        200
    );
    let refused = fetch(&server, &token, "/p2/acme/corrupt.json");
    assert_eq!(refused.status, 404);
    assert!(
        refused.text().contains("not available"),
        "{}",
        refused.text()
    );
    assert_eq!(upstream.count("/p2/acme/corrupt.json"), 0);
}

#[test]
fn strict_mirrors_serve_only_approved_packages() {
    let upstream = upstream();
    let (server, token, _config) = mirror_server(&upstream, &json!({"strict": true}));
    let refused = fetch(&server, &token, "/p2/psr/log.json");
    assert_eq!(refused.status, 404);
    assert!(
        refused
            .text()
            .contains("packyard mirror approve up psr/log"),
        "{}",
        refused.text()
    );
    let approved = server.cli(&["mirror", "approve", ALIAS, "psr/log"]);
    assert!(approved.status.success(), "{}", output_text(&approved));
    assert_eq!(fetch(&server, &token, "/p2/psr/log.json").status, 200);
    let by_api = post(
        &server.url(&format!("/api/mirrors/{ALIAS}/approve")),
        &[
            ("Authorization", &basic("admin", &token)),
            ("Content-Type", "application/json"),
        ],
        br#"{"packages":["monolog/monolog"]}"#,
    );
    assert_eq!(by_api.status, 200, "{}", by_api.text());
    assert_eq!(
        fetch(&server, &token, "/packages.json").json()["available-packages"],
        json!(["monolog/monolog", "psr/log"])
    );
    assert_eq!(fetch(&server, &token, "/p2/acme/lib.json").status, 404);
}

#[test]
fn public_access_lets_anonymous_clients_in() {
    let upstream = upstream();
    let dir = TempDir::new("mirror-config");
    let private = Server::start_with(&[("PACKYARD_CONFIG", &config(&dir, &json!({}), &upstream))]);
    assert_eq!(
        get(
            &private.url(&format!("/mirror/{ALIAS}/p2/psr/log.json")),
            &[]
        )
        .status,
        401
    );
    let open_dir = TempDir::new("mirror-config");
    let public = Server::start_with(&[(
        "PACKYARD_CONFIG",
        &config(&open_dir, &json!({"public_access": true}), &upstream),
    )]);
    assert_eq!(
        get(
            &public.url(&format!("/mirror/{ALIAS}/p2/psr/log.json")),
            &[]
        )
        .status,
        200
    );
    let unknown = get(
        &public.url(&format!("/mirror/{ALIAS}/p2/nobody/nothing.json")),
        &[],
    );
    assert_eq!(unknown.status, 404);
    // The miss is remembered: asking again does not reach upstream.
    get(
        &public.url(&format!("/mirror/{ALIAS}/p2/nobody/nothing.json")),
        &[],
    );
    assert_eq!(upstream.count("/p2/nobody/nothing.json"), 1);
    // An anonymous client cannot tell an unknown alias from a private mirror.
    assert_eq!(
        get(&public.url("/mirror/nope/packages.json"), &[]).status,
        401
    );
}

fn set_read_only(dir: &std::path::Path, read_only: bool) {
    use std::os::unix::fs::PermissionsExt;
    let mode = if read_only { 0o555 } else { 0o755 };
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn stale_metadata_is_revalidated_in_the_background_and_served_when_upstream_is_down() {
    let mut upstream = upstream();
    let (server, token, _config) = mirror_server(&upstream, &json!({"sync_interval": 1}));
    let versions = |reply: Reply| p2_version_names(&reply, "psr/log");
    assert_eq!(
        versions(fetch(&server, &token, "/p2/psr/log.json")),
        ["3.0.0"]
    );
    upstream.package(
        "psr/log",
        "3.0.1",
        json!({}),
        &[("src/LoggerInterface.php", "<?php\n")],
    );
    std::thread::sleep(Duration::from_millis(1100));
    // Stale: served at once as it was, refreshed behind the client's back.
    assert_eq!(
        versions(fetch(&server, &token, "/p2/psr/log.json")),
        ["3.0.0"]
    );
    upstream.wait_for_count("/p2/psr/log.json", 2, Duration::from_secs(5));
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let current = versions(fetch(&server, &token, "/p2/psr/log.json"));
        if current.contains(&"3.0.1".to_string()) {
            break;
        }
        assert!(Instant::now() < deadline, "never revalidated: {current:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let revalidation = upstream
        .request_log()
        .into_iter()
        .filter(|r| r.path == "/p2/psr/log.json")
        .nth(1)
        .unwrap();
    assert!(
        revalidation.header("if-modified-since").is_some(),
        "revalidation is conditional"
    );

    upstream.stop();
    std::thread::sleep(Duration::from_millis(1100));
    let stale = fetch(&server, &token, "/p2/psr/log.json");
    assert_eq!(
        stale.status, 200,
        "upstream down: the stored copy is served"
    );
    assert!(versions(stale).contains(&"3.0.1".to_string()));
}

#[test]
fn mirror_sync_revalidates_every_stored_document() {
    testkit::needs!(Composer);
    let upstream = upstream();
    let (server, token, _config) = mirror_server(&upstream, &json!({}));
    install(&server, "admin", &token, "monolog/monolog");
    let stored: Vec<String> = files_under(&server.data.path().join("mirror-meta").join(ALIAS));
    for expected in [
        "packages.json",
        "p2/monolog/monolog.json",
        "p2/psr/log.json",
    ] {
        assert!(
            stored.iter().any(|s| s == expected),
            "{expected} not stored: {stored:?}"
        );
    }
    assert_eq!(
        p2_version_names(&fetch(&server, &token, "/p2/psr/log.json"), "psr/log"),
        ["3.0.0"]
    );

    // A new release, and the old one's tag deleted upstream.
    let old_zip = upstream.zip("psr/log", "3.0.0");
    upstream.package(
        "psr/log",
        "3.0.1",
        json!({"autoload": {"psr-4": {"Psr\\Log\\": "src"}}}),
        &[(
            "src/LoggerInterface.php",
            "<?php\nnamespace Psr\\Log;\n\ninterface LoggerInterface {}\n",
        )],
    );
    upstream.remove_version("psr/log", "3.0.0");
    upstream.reset_counts();
    let started = Instant::now();
    let synced = server.cli(&["mirror", "sync", ALIAS]);
    let elapsed = started.elapsed();
    assert!(synced.status.success(), "{}", output_text(&synced));
    let stdout = String::from_utf8_lossy(&synced.stdout);
    println!("mirror sync took {elapsed:?}: {}", stdout.trim());
    assert!(
        stdout.contains(&format!("revalidated {} documents", stored.len())),
        "{}",
        output_text(&synced)
    );
    // One conditional request per stored document, and nothing else.
    let log = upstream.request_log();
    for path in &stored {
        let requests: Vec<_> = log
            .iter()
            .filter(|r| r.path == format!("/{path}"))
            .collect();
        assert_eq!(requests.len(), 1, "/{path}: {:?}", upstream.requests());
        assert!(
            requests[0].header("if-modified-since").is_some(),
            "/{path} was revalidated with If-Modified-Since"
        );
    }
    assert_eq!(log.len(), stored.len(), "{:?}", upstream.requests());

    // The store holds the new document, and the running mirror serves it.
    let envelope: Value = serde_json::from_slice(
        &std::fs::read(
            server
                .data
                .path()
                .join("mirror-meta")
                .join(ALIAS)
                .join("p2/psr/log.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert!(
        envelope["body"].as_str().unwrap().contains("3.0.1"),
        "the store was updated: {envelope}"
    );
    // The running server rereads documents it holds from the store every 2 s, so what
    // `mirror sync` fetched (or another replica refreshed) is served within seconds.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let now_served = p2_version_names(&fetch(&server, &token, "/p2/psr/log.json"), "psr/log");
        if now_served == ["3.0.1"] {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the mirror still serves {now_served:?} after mirror sync"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // Lock files still name the dropped version: its stored archive is still served,
    // without asking the upstream.
    upstream.reset_counts();
    let reference = dist_reference("psr/log", "3.0.0");
    let dropped = fetch(
        &server,
        &token,
        &format!("/zipball/psr/log/3.0.0.0/{reference}.zip"),
    );
    assert_eq!(dropped.status, 200, "{}", dropped.text());
    assert_eq!(dropped.body, old_zip);
    assert_eq!(upstream.total(), 0, "{:?}", upstream.requests());

    let unknown = server.cli(&["mirror", "sync", "nope"]);
    assert!(!unknown.status.success(), "{}", output_text(&unknown));
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("nope"),
        "{}",
        output_text(&unknown)
    );
}

#[test]
fn mirror_cache_dirs_are_read_through_caches() {
    testkit::needs!(S3sFs, Composer);
    let upstream = upstream();
    let s3 = testkit::S3sFs::start("mirror");
    let dir = TempDir::new("mirror-config");
    let meta_cache = TempDir::new("mirror-meta-cache");
    let dist_cache = TempDir::new("mirror-dist-cache");
    let env = s3_env(&config(&dir, &json!({}), &upstream), &s3, "mirror");
    let (mut server, token) =
        start_replica(&with_mirror_caches(&env, &meta_cache, Some(&dist_cache)));
    install(&server, "admin", &token, "monolog/monolog");

    let stored = s3.keys("mirror");
    let cached_meta = files_under(meta_cache.path());
    for expected in [
        "up/packages.json",
        "up/p2/monolog/monolog.json",
        "up/p2/psr/log.json",
    ] {
        assert!(
            stored.contains(&format!("mirror-meta/{expected}")),
            "{expected} not in the store: {stored:?}"
        );
        assert!(
            cached_meta.iter().any(|f| f == expected),
            "{expected} not in the metadata cache: {cached_meta:?}"
        );
    }
    let cached_dists = files_under(dist_cache.path());
    for package in ["monolog/monolog", "psr/log"] {
        assert!(
            stored
                .iter()
                .any(|k| k.starts_with("mirror-dist/") && k.contains(&format!("/up/{package}/"))),
            "{package} not in the store: {stored:?}"
        );
        assert!(
            cached_dists
                .iter()
                .any(|f| f.contains(&format!("/up/{package}/")) && f.ends_with(".zip")),
            "the archive of {package} is not in the dist cache: {cached_dists:?}"
        );
    }

    // The store loses every mirrored object; a restarted server (nothing in memory)
    // still installs, from its local caches alone.
    server.stop();
    for prefix in ["mirror-meta", "mirror-dist"] {
        std::fs::remove_dir_all(s3.root.join("mirror").join(prefix)).unwrap();
    }
    let left = s3.keys("mirror");
    assert!(
        left.iter().all(|k| !k.starts_with("mirror-")),
        "mirrored objects left in the bucket: {left:?}"
    );
    server.restart_with(&[]);
    installs_monolog_without_upstream(&server, &token, &upstream);
}

#[test]
fn crafted_names_cannot_reach_other_upstream_paths() {
    let upstream = upstream();
    let fields = json!({"available_package_patterns": ["psr/*"]});
    let (server, token, _config) = mirror_server(&upstream, &fields);
    for crafted in [
        "/p2/psr/%252e%252e%2F%252e%252e%2Fpackages.json",
        "/p2/psr/..%2F..%2Fpackages.json",
        "/p2/psr/log%3Fa=.json",
        "/zipball/psr/log%2F..%2F..%2Fdists/3.0.0.0/abc.zip",
    ] {
        let reply = fetch(&server, &token, crafted);
        assert!(
            reply.status == 404 || reply.status == 400,
            "{crafted}: {} {}",
            reply.status,
            reply.text()
        );
    }
    assert_eq!(
        upstream.total(),
        0,
        "nothing reached upstream: {:?}",
        upstream.requests()
    );
    let bad_type = fetch(&server, &token, "/zipball/psr/log/3.0.0.0/abc.z%2Fip");
    assert_eq!(bad_type.status, 400, "{}", bad_type.text());
}

#[test]
fn a_client_hanging_up_does_not_block_the_archive_for_others() {
    let upstream = upstream();
    upstream.set_dist_delay(Duration::from_millis(800));
    let (server, token, _config) = mirror_server(&upstream, &json!({}));
    let p2 = fetch(&server, &token, "/p2/psr/log.json").json();
    let reference = p2["packages"]["psr/log"][0]["dist"]["reference"]
        .as_str()
        .unwrap()
        .to_owned();
    let url = server.url(&format!(
        "/mirror/{ALIAS}/zipball/psr/log/3.0.0.0/{reference}.zip"
    ));
    // This client gives up before upstream has even answered.
    let impatient: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_millis(200)))
        .build()
        .into();
    assert!(
        impatient
            .get(&url)
            .header("Authorization", &basic("admin", &token))
            .call()
            .is_err()
    );
    let patient = get(&url, &[("Authorization", &basic("admin", &token))]);
    assert_eq!(patient.status, 200, "{}", patient.text());
    assert_eq!(patient.body, upstream.zip("psr/log", "3.0.0"));
    assert_eq!(
        upstream.count(&dist_path("psr/log", "3.0.0")),
        1,
        "the first download went on without its client"
    );
}

#[test]
fn replicas_with_local_caches_see_documents_other_replicas_refreshed() {
    testkit::needs!(S3sFs);
    let upstream = upstream();
    let s3 = testkit::S3sFs::start("shared");
    let (dir_a, dir_b) = (
        TempDir::new("mirror-config-a"),
        TempDir::new("mirror-config-b"),
    );
    let (cache_a, cache_b) = (TempDir::new("meta-cache-a"), TempDir::new("meta-cache-b"));
    // A revalidates after a second; B would wait an hour on its own.
    let config_a = config(&dir_a, &json!({"sync_interval": 1}), &upstream);
    let config_b = config(&dir_b, &json!({"sync_interval": "1h"}), &upstream);
    let start = |config: &str, cache: &TempDir| {
        start_replica(&with_mirror_caches(
            &s3_env(config, &s3, "shared"),
            cache,
            None,
        ))
    };
    let ((a, token_a), (b, token_b)) = (start(&config_a, &cache_a), start(&config_b, &cache_b));
    let served = |server: &Server, token: &str| {
        let reply = fetch(server, token, "/p2/psr/log.json");
        assert_eq!(reply.status, 200, "{}", reply.text());
        p2_version_names(&reply, "psr/log")
    };
    assert_eq!(served(&a, &token_a), ["3.0.0"]);
    assert_eq!(served(&b, &token_b), ["3.0.0"], "B reads what A stored");
    assert_eq!(upstream.count("/p2/psr/log.json"), 1);

    upstream.package(
        "psr/log",
        "3.0.1",
        json!({}),
        &[("src/LoggerInterface.php", "<?php\n")],
    );
    std::thread::sleep(Duration::from_millis(1100));
    served(&a, &token_a); // stale for A: refreshed in the background
    upstream.wait_for_count("/p2/psr/log.json", 2, Duration::from_secs(5));
    let deadline = Instant::now() + Duration::from_secs(8);
    loop {
        let names = served(&b, &token_b);
        if names.contains(&"3.0.1".to_string()) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "B still serves {names:?} from its local cache"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        upstream.count("/p2/psr/log.json"),
        2,
        "B never asked upstream itself"
    );
}

#[test]
fn stored_archives_are_served_without_the_upstream_whatever_documents_it_lacks() {
    testkit::needs!(S3sFs, Composer);
    let mut upstream = upstream();
    let s3 = testkit::S3sFs::start("archives");
    let dir = TempDir::new("mirror-config");
    let env = s3_env(&config(&dir, &json!({}), &upstream), &s3, "archives");
    let (a, token_a) = start_replica(&env);
    let (b, token_b) = start_replica(&env);

    // Replica A mirrors packages with only tags (no ~dev document upstream) and one with
    // only a branch (no tagged document upstream).
    let first = install(&a, "admin", &token_a, "monolog/monolog");
    first.require("acme/branchy:dev-main");
    assert!(
        first.installed_file("acme/branchy/branchy.php").is_some(),
        "the branch was installed through A"
    );
    assert!(upstream.count("/p2/acme/branchy.json") >= 1);
    assert!(upstream.file("/p2/psr/log~dev.json").is_none());
    assert!(upstream.file("/p2/acme/branchy.json").is_none());
    let lock = first.lock();
    // The archive URLs Composer builds from the mirror's dist-url, on replica B.
    let dists: Vec<(String, String, String)> = lock["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|package| {
            let name = package["name"].as_str().unwrap().to_owned();
            let version = normalize_version(package["version"].as_str().unwrap());
            let dist = &package["dist"];
            let reference = dist["reference"].as_str().unwrap();
            let url = format!(
                "{}/zipball/{name}/{version}/{reference}.zip",
                mirror_url(&b)
            );
            (name, url, dist["shasum"].as_str().unwrap().to_owned())
        })
        .collect();
    assert_eq!(dists.len(), 3, "{lock}");

    // Replica B knows the archives only from the shared store: it asks the upstream
    // nothing for them, although the upstream is up and lacks one document of each.
    upstream.reset_counts();
    for (name, url, shasum) in &dists {
        let reply = get(url, &[("Authorization", &basic("admin", &token_b))]);
        assert_eq!(reply.status, 200, "{name}: {}", reply.text());
        assert_eq!(&sha1_hex(&reply.body), shasum, "{name}");
    }
    assert_eq!(
        upstream.total(),
        0,
        "replica B asked the upstream for stored archives: {:?}",
        upstream.requests()
    );

    // The upstream goes down: a fresh project installs everything through B.
    upstream.stop();
    let second = install(&b, "admin", &token_b, "monolog/monolog:^3.5");
    second.require("acme/branchy:dev-main");
    for file in [
        "monolog/monolog/src/Logger.php",
        "psr/log/src/LoggerInterface.php",
        "acme/branchy/branchy.php",
    ] {
        assert!(
            second.installed_file(file).is_some(),
            "{file} not installed through B with the upstream down"
        );
    }
    // The document the upstream never had is a 404 (what Composer accepts), because
    // the package's other document is stored; a package nobody mirrored stays a 502.
    for (path, status) in [
        ("/p2/acme/branchy.json", 404),
        ("/p2/psr/log~dev.json", 404),
        ("/p2/acme/never.json", 502),
    ] {
        let reply = fetch(&b, &token_b, path);
        assert_eq!(reply.status, status, "{path}: {}", reply.text());
    }
}

#[test]
fn a_package_gone_upstream_is_kept_and_served_until_an_admin_forgets_it() {
    testkit::needs!(S3sFs, Composer);
    let mut upstream = upstream();
    let s3 = testkit::S3sFs::start("gone");
    let dir = TempDir::new("mirror-config");
    let env = s3_env(
        &config(&dir, &json!({"sync_interval": 1}), &upstream),
        &s3,
        "gone",
    );
    let (a, token_a) = start_replica(&env);
    // B keeps local copies of both mirror stores, which forgetting must reach too.
    let (meta_cache, dist_cache) = (TempDir::new("meta-cache"), TempDir::new("dist-cache"));
    let (b, token_b) = start_replica(&with_mirror_caches(&env, &meta_cache, Some(&dist_cache)));
    install(&a, "admin", &token_a, "acme/fading");
    let p2 = "/p2/acme/fading.json";
    let served = |server: &Server, token: &str| {
        let reply = fetch(server, token, p2);
        assert_eq!(reply.status, 200, "{}", reply.text());
        p2_version_names(&reply, "acme/fading")
    };
    let gone_lines = |server: &Server| -> Vec<String> {
        let listed = server.cli(&["mirror", "list"]);
        assert!(listed.status.success(), "{}", output_text(&listed));
        String::from_utf8_lossy(&listed.stdout)
            .lines()
            .filter(|line| line.contains("gone upstream"))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(gone_lines(&a), Vec::<String>::new());

    // The upstream starts answering 404: a background revalidation keeps the copy.
    upstream.fail(p2, 404);
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(served(&a, &token_a), ["1.0.0"]);
    upstream.wait_for_count(p2, 2, Duration::from_secs(5));
    let deadline = Instant::now() + Duration::from_secs(10);
    let gone = loop {
        let gone = gone_lines(&b);
        if !gone.is_empty() {
            break gone;
        }
        assert!(Instant::now() < deadline, "never marked gone upstream");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(gone.len(), 1, "{gone:?}");
    assert!(
        gone[0].starts_with("  acme/fading\tgone upstream since 20"),
        "{gone:?}"
    );
    assert_eq!(served(&a, &token_a), ["1.0.0"]);
    assert_eq!(served(&b, &token_b), ["1.0.0"]);

    // Upstream down as well: the package still installs through the other replica.
    upstream.stop();
    let project = install(&b, "admin", &token_b, "acme/fading");
    assert_eq!(
        project.installed_file("acme/fading/fading.php").as_deref(),
        Some("<?php // 1.0.0\n")
    );
    upstream.start_again();

    let sync = |expected: &str| {
        let synced = a.cli(&["mirror", "sync", ALIAS]);
        assert!(synced.status.success(), "{}", output_text(&synced));
        let stdout = String::from_utf8_lossy(&synced.stdout).into_owned();
        assert!(stdout.contains(expected), "{}", output_text(&synced));
    };
    sync("1 gone upstream (kept), 0 failed");
    // Back upstream: the mark goes away.
    upstream.clear_failure(p2);
    sync("0 gone upstream (kept), 0 failed");
    assert_eq!(gone_lines(&a), Vec::<String>::new());
    // And a 410 marks it again.
    upstream.fail(p2, 410);
    sync("1 gone upstream (kept), 0 failed");
    assert_eq!(gone_lines(&a).len(), 1);

    // The admin drops it: documents, marker and archives leave the store, and the
    // replicas stop serving it within seconds.
    let forgot = a.cli(&["mirror", "forget", ALIAS, "acme/fading"]);
    assert!(forgot.status.success(), "{}", output_text(&forgot));
    assert!(
        String::from_utf8_lossy(&forgot.stdout).contains("1 documents, 1 archives deleted"),
        "{}",
        output_text(&forgot)
    );
    let left: Vec<String> = s3
        .keys("gone")
        .into_iter()
        .filter(|key| key.contains("acme/fading"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    assert_eq!(gone_lines(&a), Vec::<String>::new());
    let deadline = Instant::now() + Duration::from_secs(8);
    for (server, token) in [(&a, &token_a), (&b, &token_b)] {
        loop {
            let reply = fetch(server, token, p2);
            if reply.status == 404 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "still served after forget: {} {}",
                reply.status,
                reply.text()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    let cached: Vec<String> = files_under(meta_cache.path())
        .into_iter()
        .filter(|file| file.contains("fading"))
        .collect();
    assert!(cached.is_empty(), "B's metadata cache kept {cached:?}");
    // Nor is the archive B still has in its local cache served any more.
    let reference = dist_reference("acme/fading", "1.0.0");
    let archive = fetch(
        &b,
        &token_b,
        &format!("/zipball/acme/fading/1.0.0.0/{reference}.zip"),
    );
    assert_eq!(archive.status, 404, "{}", archive.text());
    let unknown = a.cli(&["mirror", "forget", "nope", "acme/fading"]);
    assert!(!unknown.status.success(), "{}", output_text(&unknown));
}

/// 500 concurrent cold requests for 500 distinct archives of about 1 MiB: downloads from
/// the upstream are bounded, so the server's memory stays under 256 MiB while every
/// client gets its archive.
/// Building 500 MiB of upstream archives takes minutes in a debug build, so this runs
/// from `bench/cold_archives.sh` (release), not in every `scripts/test`.
#[test]
#[ignore = "a measurement: bench/cold_archives.sh runs it"]
fn five_hundred_concurrent_cold_archive_requests_stay_under_256_mib() {
    const PACKAGES: usize = 500;
    let mut repo = UpstreamRepo::new();
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    for i in 0..PACKAGES {
        // 2 MiB of hex digits deflate to about 1 MiB.
        let noise: Vec<u8> = (0..(1 << 17))
            .flat_map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state.to_le_bytes()
            })
            .collect();
        let content = hex::encode(noise);
        repo.package(
            &format!("acme/p{i:03}"),
            "1.0.0",
            json!({}),
            &[("blob.txt", content.as_str())],
        );
    }
    let upstream = repo.serve();
    let (server, token, _config) = mirror_server(&upstream, &json!({}));
    // Metadata first (small), as composer would have it before downloading.
    for i in 0..PACKAGES {
        let p2 = fetch(&server, &token, &format!("/p2/acme/p{i:03}.json"));
        assert_eq!(p2.status, 200, "{}", p2.text());
    }
    // Every download waits upstream for a moment, so that they overlap.
    upstream.set_dist_delay(Duration::from_millis(200));
    let baseline = server.rss();
    let done = std::sync::atomic::AtomicBool::new(false);
    let auth = basic("admin", &token);
    let (peak, results) = std::thread::scope(|scope| {
        let sampler = scope.spawn(|| {
            let mut peak = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(server.rss());
                std::thread::sleep(Duration::from_millis(20));
            }
            peak
        });
        let clients: Vec<_> = (0..PACKAGES)
            .map(|i| {
                let (server, auth) = (&server, &auth);
                scope.spawn(move || {
                    let name = format!("acme/p{i:03}");
                    let reference = dist_reference(&name, "1.0.0");
                    let url = server.url(&format!(
                        "/mirror/{ALIAS}/zipball/{name}/1.0.0.0/{reference}.zip"
                    ));
                    let mut response = ureq::get(&url)
                        .header("Authorization", auth)
                        .call()
                        .map_err(|e| format!("{name}: {e}"))?;
                    let body = response
                        .body_mut()
                        .read_to_vec()
                        .map_err(|e| format!("{name}: {e}"))?;
                    Ok::<_, String>((name, sha1_hex(&body)))
                })
            })
            .collect();
        let results: Vec<_> = clients.into_iter().map(|c| c.join().unwrap()).collect();
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        (sampler.join().unwrap(), results)
    });
    for result in results {
        let (name, sha1) = result.unwrap();
        assert_eq!(sha1, sha1_hex(&upstream.zip(&name, "1.0.0")), "{name}");
    }
    println!(
        "RSS before {} MiB, peak during 500 cold downloads {} MiB",
        baseline >> 20,
        peak >> 20
    );
    assert!(peak < 256 << 20, "peak RSS {} MiB", peak >> 20);
}

#[test]
fn with_dist_redirect_stored_mirrored_archives_are_presigned_redirects() {
    testkit::needs!(S3sFs, Composer);
    let upstream = upstream();
    let s3 = testkit::S3sFs::start("mirror-bucket");
    let dir = TempDir::new("mirror-config");
    let mut env = s3_env(&config(&dir, &json!({}), &upstream), &s3, "mirror-bucket");
    env.push(("PACKYARD_DIST_REDIRECT".into(), "1".into()));
    let (server, token) = start_replica(&env);

    let document = fetch(&server, &token, "/p2/psr/log.json").json();
    let reference = document["packages"]["psr/log"][0]["dist"]["reference"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/zipball/psr/log/3.0.0.0/{reference}.zip");
    // The first download streams from the upstream while it is stored...
    let first = fetch(&server, &token, &path);
    assert_eq!(first.status, 200, "{}", first.text());
    // ...later ones are handed the store's presigned URL, with the same bytes. The
    // archive is committed to the store just after the first client has it all, so a
    // request right after it may still be streamed (with the same bytes).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let second = loop {
        let answer = fetch(&server, &token, &path);
        if answer.status != 200 || std::time::Instant::now() > deadline {
            break answer;
        }
        assert_eq!(
            answer.body, first.body,
            "a streamed answer differs from the first"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(second.status, 302, "{}", second.text());
    let location = second.header("location").unwrap();
    assert!(location.contains("X-Amz-Signature="), "{location}");
    let from_store = get(&location, &[]);
    assert_eq!(from_store.status, 200);
    assert_eq!(sha1_hex(&from_store.body), sha1_hex(&first.body));
    // Composer installs through the mirror: once fetching from the upstream, then
    // following the redirects to the store without asking the upstream anything.
    install(&server, "admin", &token, "monolog/monolog");
    installs_monolog_without_upstream(&server, &token, &upstream);
}
