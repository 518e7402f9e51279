//! Security advisories: the real `composer audit` against a private package with an
//! advisory published here and a mirrored package with one from the upstream.

use std::time::Duration;

use crate::common::*;
use serde_json::{Value, json};
use testkit::upstream::{ADVISORIES_PATH, UpstreamRepo, UpstreamServer};

const ALIAS: &str = "up";
const PRIVATE: &str = "acme/lib";
const MIRRORED: &str = "vendor/mirrored";

fn upstream() -> UpstreamServer {
    let mut repo = UpstreamRepo::new();
    for version in ["1.0.0", "1.1.0"] {
        repo.package(
            MIRRORED,
            version,
            json!({"autoload": {"psr-4": {"Vendor\\Mirrored\\": "src"}}}),
            &[(
                "src/Mirrored.php",
                "<?php\nnamespace Vendor\\Mirrored;\n\nfinal class Mirrored {}\n",
            )],
        );
    }
    let upstream = repo.serve();
    upstream.advisory(
        MIRRORED,
        json!({
            "advisoryId": "PKSA-test-0001",
            "affectedVersions": "<1.1.0",
            "title": "Mirrored package leaks secrets",
            "sources": [{"name": "GitHub", "remoteId": "GHSA-xxxx-yyyy-zzzz"}],
            "reportedAt": "2026-11-01 10:00:00",
            "cve": "CVE-2026-4242",
            "link": "https://example.invalid/advisory",
            "severity": "high",
        }),
    );
    upstream
}

/// A server with the `up` mirror of `upstream`, revalidated every second.
fn server(upstream: &UpstreamServer) -> (Server, String, TempDir) {
    let dir = TempDir::new("advisories-config");
    let config = json!({"mirrors": {"packagist": false, ALIAS: {"url": upstream.url(), "sync_interval": 1}}});
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, config.to_string()).unwrap();
    let server = Server::start_with(&[("PACKYARD_CONFIG", &path.display().to_string())]);
    let admin = server.add_user("admin", true);
    (server, admin, dir)
}

fn ask(server: &Server, path: &str, user: &str, token: &str, body: &str) -> Reply {
    post(
        &server.url(path),
        &[
            ("Authorization", &basic(user, token)),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        body.as_bytes(),
    )
}

#[test]
fn composer_audit_reports_private_and_mirrored_advisories() {
    testkit::needs!(Composer);
    let mut upstream = upstream();
    let (server, admin, _config) = server(&upstream);
    for version in ["1.0.0", "1.4.2"] {
        let archive = package_zip(PRIVATE, &[], &format!("lib-{version}"));
        assert_eq!(
            upload(&server, &admin, PRIVATE, version, &archive).status,
            201
        );
    }
    let published = server.cli_ok(&[
        "advisory",
        "add",
        PRIVATE,
        "--affected",
        "<1.4.2",
        "--title",
        "Private lib runs arbitrary code",
        "--cve",
        "CVE-2026-1111",
        "--severity",
        "critical",
    ]);
    let advisory_id = published.lines().last().unwrap().to_owned();
    assert!(advisory_id.starts_with("PKYSA-"), "{published}");
    assert!(server.cli_ok(&["advisory", "list"]).contains(&advisory_id));

    let root = get(
        &server.url("/packages.json"),
        &[("Authorization", &basic("admin", &admin))],
    )
    .json();
    assert_eq!(
        root["security-advisories"],
        json!({"metadata": false, "api-url": server.url("/api/security-advisories/")})
    );
    let mirror_url = server.url(&format!("/mirror/{ALIAS}"));
    let mirror_root = get(
        &format!("{mirror_url}/packages.json"),
        &[("Authorization", &basic("admin", &admin))],
    )
    .json();
    assert_eq!(
        mirror_root["security-advisories"]["api-url"],
        format!("{mirror_url}/api/security-advisories/")
    );

    let project =
        ComposerProject::with_repositories(&server, &[&server.base, &mirror_url], "admin", &admin);
    project.require(&format!("{PRIVATE}:1.0.0"));
    project.require(&format!("{MIRRORED}:1.0.0"));

    let audit = project.run(&["audit"]);
    let text = output_text(&audit);
    assert!(!audit.status.success(), "{text}");
    for expected in [
        "Private lib runs arbitrary code",
        "CVE-2026-1111",
        "Mirrored package leaks secrets",
        "CVE-2026-4242",
    ] {
        assert!(text.contains(expected), "{expected} missing from\n{text}");
    }
    // The mirror stored the upstream's list: with the upstream stopped, and the list
    // older than sync_interval, it is still reported.
    assert_eq!(upstream.count(ADVISORIES_PATH), 1);
    upstream.stop();
    std::thread::sleep(Duration::from_millis(1_200));
    let offline = project.run(&["audit", "--format=json"]);
    let report: Value = serde_json::from_slice(&offline.stdout)
        .unwrap_or_else(|_| panic!("{}", output_text(&offline)));
    assert_eq!(
        report["advisories"][MIRRORED][0]["title"], "Mirrored package leaks secrets",
        "{report}"
    );
    assert_eq!(
        report["advisories"][PRIVATE][0]["advisoryId"],
        advisory_id.as_str()
    );
    upstream.start_again();

    project.require(&format!("{PRIVATE}:^1.4.2"));
    project.require(&format!("{MIRRORED}:^1.1"));
    let clean = project.run(&["audit"]);
    assert!(clean.status.success(), "{}", output_text(&clean));
    assert!(output_text(&clean).contains("No security vulnerability advisories found"));

    // Withdrawn, it is no longer reported.
    server.cli_ok(&["advisory", "remove", &advisory_id]);
    assert!(
        !server
            .cli_ok(&["advisory", "list", PRIVATE])
            .contains(&advisory_id)
    );
}

#[test]
fn advisories_follow_the_access_rules() {
    let upstream = upstream();
    let (server, admin, _config) = server(&upstream);
    let archive = package_zip(PRIVATE, &[], "lib-1.0.0");
    assert_eq!(
        upload(&server, &admin, PRIVATE, "1.0.0", &archive).status,
        201
    );
    server.cli_ok(&[
        "advisory",
        "add",
        PRIVATE,
        "--affected",
        "<2",
        "--title",
        "Hidden",
    ]);
    let carol = server.add_plain_user("carol", &[]);

    // Composer's own encoding (http_build_query), and GET with the query string.
    let body = "packages%5B0%5D=acme%2Flib&packages%5B1%5D=acme%2Fnone&packages%5B2%5D=php";
    let answer = ask(&server, "/api/security-advisories/", "admin", &admin, body).json();
    assert_eq!(answer["advisories"][PRIVATE][0]["title"], "Hidden");
    assert_eq!(answer["advisories"][PRIVATE][0]["affectedVersions"], "<2");
    // Names this repository does not serve are left for other repositories.
    assert_eq!(
        answer["advisories"].as_object().unwrap().len(),
        1,
        "{answer}"
    );
    let by_get = get(
        &server.url("/api/security-advisories/?packages[]=acme/lib"),
        &[("Authorization", &basic("admin", &admin))],
    )
    .json();
    assert_eq!(by_get["advisories"][PRIVATE][0]["title"], "Hidden");

    // A package carol may not see answers byte for byte like one that does not exist.
    let hidden = ask(
        &server,
        "/api/security-advisories/",
        "carol",
        &carol,
        "packages[]=acme/lib",
    );
    let unknown = ask(
        &server,
        "/api/security-advisories/",
        "carol",
        &carol,
        "packages[]=acme/none",
    );
    assert_eq!((hidden.status, unknown.status), (200, 200));
    assert_eq!(hidden.body, unknown.body);
    assert_eq!(hidden.json(), json!({"advisories": {}}));
    let anonymous = post(
        &server.url("/api/security-advisories/"),
        &[],
        b"packages[]=acme/lib",
    );
    assert_eq!(anonymous.status, 401);

    // The mirror never proxies a private package's name: not even its advisories.
    let mirrored = ask(
        &server,
        &format!("/mirror/{ALIAS}/api/security-advisories/"),
        "admin",
        &admin,
        "packages[]=acme/lib&packages[]=vendor/mirrored",
    );
    assert_eq!(mirrored.status, 200, "{}", mirrored.text());
    let mirrored = mirrored.json();
    assert!(mirrored["advisories"].get(PRIVATE).is_none(), "{mirrored}");
    assert_eq!(
        mirrored["advisories"][MIRRORED][0]["advisoryId"],
        "PKSA-test-0001"
    );
    // Carol may not use the mirror: it looks like no mirror at all.
    let refused = ask(
        &server,
        &format!("/mirror/{ALIAS}/api/security-advisories/"),
        "carol",
        &carol,
        "packages[]=vendor/mirrored",
    );
    assert_eq!(refused.status, 404);

    // Bad requests name the problem.
    let none = ask(
        &server,
        "/api/security-advisories/",
        "admin",
        &admin,
        "package=acme/lib",
    );
    assert_eq!(none.status, 400);
    assert!(none.text().contains("packages[]"), "{}", none.text());
}

#[test]
fn admins_publish_advisories_through_the_api() {
    let upstream = upstream();
    let (server, admin, _config) = server(&upstream);
    let archive = package_zip(PRIVATE, &[], "lib-1.0.0");
    assert_eq!(
        upload(&server, &admin, PRIVATE, "1.0.0", &archive).status,
        201
    );
    let reader = server.add_user("reader", false);
    let advisory = json!({"package": PRIVATE, "affectedVersions": ">=1.0,<1.0.5", "title": "XSS", "severity": "medium", "link": "https://example.invalid/x"});

    let refused = post_json(&server, "reader", &reader, "/api/advisories", &advisory);
    assert_eq!(refused.status, 403);
    let created = post_json(&server, "admin", &admin, "/api/advisories", &advisory);
    assert_eq!(created.status, 201, "{}", created.text());
    let created = created.json();
    let id = created["advisoryId"].as_str().unwrap().to_owned();
    assert_eq!(
        created["sources"],
        json!([{"name": "packyard", "remoteId": id}])
    );
    assert_eq!(created["severity"], "medium");

    let listed = get(
        &server.url("/api/advisories?package=acme/lib"),
        &[("Authorization", &basic("admin", &admin))],
    )
    .json();
    assert_eq!(listed["advisories"][0]["advisoryId"], id.as_str());

    for (field, value, named) in [
        (
            "affectedVersions",
            json!("not a constraint!"),
            "affectedVersions",
        ),
        ("severity", json!("apocalyptic"), "severity"),
        ("cve", json!("CVE-1"), "cve"),
        ("link", json!("javascript:alert(1)"), "link"),
        ("title", json!(""), "title"),
    ] {
        let mut bad = advisory.clone();
        bad[field] = value;
        let reply = post_json(&server, "admin", &admin, "/api/advisories", &bad);
        assert_eq!(reply.status, 400, "{field}: {}", reply.text());
        assert!(reply.text().contains(named), "{field}: {}", reply.text());
    }
    let mut unknown = advisory.clone();
    unknown["package"] = json!("acme/none");
    assert_eq!(
        post_json(&server, "admin", &admin, "/api/advisories", &unknown).status,
        404
    );
    let mut extra = advisory.clone();
    extra["surprise"] = json!(1);
    assert_eq!(
        post_json(&server, "admin", &admin, "/api/advisories", &extra).status,
        400
    );

    let withdraw = |id: &str| {
        delete(
            &server.url(&format!("/api/advisories/{id}")),
            &[("Authorization", &basic("admin", &admin))],
        )
        .status
    };
    assert_eq!(withdraw(&id), 204);
    assert_eq!(withdraw(&id), 404);
}

#[test]
fn mirrored_advisories_are_kept_across_a_restart_with_the_upstream_down() {
    let mut upstream = upstream();
    // The upstream wants the mirror's credentials, on its advisories API too.
    upstream.require_basic_auth(Some(("bot", "pw")));
    let dir = TempDir::new("advisories-config");
    let config = json!({"mirrors": {"packagist": false, ALIAS: {
        "url": upstream.url(), "sync_interval": 1,
        "http_basic": {"username": "bot", "password": "pw"},
    }}});
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, config.to_string()).unwrap();
    let mut server = Server::start_with(&[("PACKYARD_CONFIG", &path.display().to_string())]);
    let admin = server.add_user("admin", true);
    let archive = package_zip(PRIVATE, &[], "lib-1.0.0");
    assert_eq!(
        upload(&server, &admin, PRIVATE, "1.0.0", &archive).status,
        201
    );
    let route = format!("/mirror/{ALIAS}/api/security-advisories/");

    let first = ask(
        &server,
        &route,
        "admin",
        &admin,
        "packages[]=vendor/mirrored",
    );
    assert_eq!(first.status, 200, "{}", first.text());
    assert_eq!(
        first.json()["advisories"][MIRRORED][0]["advisoryId"],
        "PKSA-test-0001"
    );
    assert_eq!(upstream.count(ADVISORIES_PATH), 1);

    // Through the mirror, a private package's name reads exactly like a name nobody
    // has: the upstream is asked about a decoy in its place, never about it.
    let private = ask(&server, &route, "admin", &admin, "packages[]=acme/lib");
    assert_eq!(upstream.count(ADVISORIES_PATH), 2);
    assert!(
        !upstream
            .advisories_asked()
            .iter()
            .any(|name| name == PRIVATE),
        "the upstream was asked about a private package"
    );
    let unknown = ask(&server, &route, "admin", &admin, "packages[]=vendor/nobody");
    assert_eq!(upstream.count(ADVISORIES_PATH), 3);
    assert_eq!((private.status, unknown.status), (200, 200));
    assert_eq!(private.body, unknown.body);
    assert_eq!(private.json(), json!({"advisories": {}}));

    // Restarted with the upstream gone and the list older than sync_interval, the
    // stored list is still the answer.
    upstream.stop();
    server.restart_with(&[]);
    std::thread::sleep(Duration::from_millis(1_100));
    let offline = ask(
        &server,
        &route,
        "admin",
        &admin,
        "packages[]=vendor/mirrored",
    );
    assert_eq!(offline.status, 200, "{}", offline.text());
    assert_eq!(offline.body, first.body);
    // A name never asked about cannot be answered without the upstream: a guess that
    // it is clean would hide its advisories.
    let never_asked = ask(&server, &route, "admin", &admin, "packages[]=vendor/other");
    assert_eq!(never_asked.status, 502, "{}", never_asked.text());
    assert!(
        !never_asked.text().contains("<html"),
        "{}",
        never_asked.text()
    );
}

/// Security issue 23 (candidate): an upstream whose root announces an advisories API
/// on another port of its host does not get the mirror's credentials sent there; the
/// API is not used at all (only the upstream's own origin, or a parent domain, is).
#[test]
fn mirror_credentials_go_only_to_the_upstreams_own_origin() {
    let upstream = upstream();
    upstream.require_basic_auth(Some(("bot", "pw")));
    // The same host, another port: another origin.
    let other = self::upstream();
    upstream.root_field(
        "security-advisories",
        json!({"metadata": false, "api-url": format!("{}{ADVISORIES_PATH}", other.url())}),
    );
    let dir = TempDir::new("advisories-config");
    let config = json!({"mirrors": {"packagist": false, ALIAS: {
        "url": upstream.url(),
        "http_basic": {"username": "bot", "password": "pw"},
    }}});
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, config.to_string()).unwrap();
    let server = Server::start_with(&[("PACKYARD_CONFIG", &path.display().to_string())]);
    let admin = server.add_user("admin", true);
    let route = format!("/mirror/{ALIAS}/api/security-advisories/");
    let answer = ask(
        &server,
        &route,
        "admin",
        &admin,
        "packages[]=vendor/mirrored",
    );
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert!(upstream.count("/packages.json") >= 1, "the root was read");
    let sent: Vec<_> = other
        .request_log()
        .into_iter()
        .filter(|request| request.header("authorization").is_some())
        .map(|request| request.path)
        .collect();
    assert!(
        sent.is_empty(),
        "credentials went to another origin: {sent:?}"
    );
    assert_eq!(other.count(ADVISORIES_PATH), 0);
}

/// Security issue 23 (candidate, confirmed): a customer who sees only some versions of
/// a private package gets an advisory only when it affects one of them, and its
/// `affectedVersions` names only those: the constraint as published would tell of the
/// hidden 2.x releases.
#[test]
fn a_partial_view_gets_advisories_narrowed_to_the_versions_it_sees() {
    let upstream = upstream();
    let (server, admin, _config) = server(&upstream);
    for version in ["1.0.0", "1.1.0", "2.0.0"] {
        let archive = package_zip(PRIVATE, &[], &format!("lib-{version}"));
        assert_eq!(
            upload(&server, &admin, PRIVATE, version, &archive).status,
            201
        );
    }
    let carol = server.add_plain_user("carol", &[]);
    server.cli_ok(&["group", "add", "licensed"]);
    server.cli_ok(&["group", "grant", "licensed", PRIVATE, "--versions", "^1.0"]);
    server.cli_ok(&["group", "members", "licensed", "--add", "carol"]);
    for (affected, title) in [
        (">=1.0,<1.1 || >=2.0,<2.0.5", "Both lines"),
        ("^2.0", "Only the hidden line"),
    ] {
        server.cli_ok(&[
            "advisory",
            "add",
            PRIVATE,
            "--affected",
            affected,
            "--title",
            title,
        ]);
    }
    let asked = "packages[]=acme/lib";
    let everything = ask(&server, "/api/security-advisories/", "admin", &admin, asked).json();
    assert_eq!(
        everything["advisories"][PRIVATE].as_array().unwrap().len(),
        2
    );

    // Access changes reach the server within 2 s.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let partial = loop {
        let partial = ask(&server, "/api/security-advisories/", "carol", &carol, asked);
        assert_eq!(partial.status, 200, "{}", partial.text());
        let partial = partial.json();
        if partial["advisories"].get(PRIVATE).is_some() {
            break partial;
        }
        assert!(std::time::Instant::now() < deadline, "{partial}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let listed = partial["advisories"][PRIVATE].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{partial}");
    assert_eq!(listed[0]["title"], "Both lines");
    assert_eq!(listed[0]["affectedVersions"], "1.0.0.0", "{partial}");
    assert!(!partial.to_string().contains("2.0"), "{partial}");
}

/// A server whose mirror's upstream takes 300 ms to answer, and the private package
/// [`PRIVATE`], for comparing a private name's answers with an unknown name's.
fn slow_upstream_and_a_private_package() -> (UpstreamServer, Server, String, TempDir) {
    let upstream = upstream();
    upstream.set_metadata_delay(Duration::from_millis(300));
    let (server, admin, config) = server(&upstream);
    let archive = package_zip(PRIVATE, &[], "lib-1.0.0");
    assert_eq!(
        upload(&server, &admin, PRIVATE, "1.0.0", &archive).status,
        201
    );
    (upstream, server, admin, config)
}

/// The mirror's advisories for `name`, as the admin asks, and how long they took.
fn timed_advisories(server: &Server, admin: &str, name: &str) -> (Reply, Duration) {
    let started = std::time::Instant::now();
    let route = format!("/mirror/{ALIAS}/api/security-advisories/");
    let reply = ask(
        server,
        &route,
        "admin",
        admin,
        &format!("packages[]={name}"),
    );
    (reply, started.elapsed())
}

/// Security issue 23: through a mirror, a private package's name asked for advisories
/// is answered as a name nobody has — same body, as slow as the upstream (300 ms),
/// counted alike, and remembered alike: the upstream, as Packagist does, leaves a name
/// it does not know out of its answer, and the second question about either is
/// answered at once — and never sent upstream.
#[test]
fn a_private_names_advisories_look_like_an_unknown_names_through_a_mirror() {
    let (upstream, server, admin, _config) = slow_upstream_and_a_private_package();
    let timed = |name: &str| timed_advisories(&server, &admin, name);
    // Someone's earlier question: the upstream root is fetched before either name.
    assert_eq!(timed("vendor/earlier").0.status, 200);
    let sent = upstream.count(ADVISORIES_PATH);

    for round in ["first", "remembered"] {
        let before = metric_counters(&server, &admin);
        let (private, private_took) = timed(PRIVATE);
        let between = metric_counters(&server, &admin);
        let (unknown, unknown_took) = timed("vendor/nobody");
        let after = metric_counters(&server, &admin);
        assert_eq!((private.status, unknown.status), (200, 200), "{round}");
        assert_eq!(private.body, unknown.body, "{round}");
        assert_eq!(private.json(), json!({"advisories": {}}));
        assert_alike(
            round,
            [&before, &between, &after],
            [private_took, unknown_took],
        );
    }
    assert_eq!(
        upstream.count(ADVISORIES_PATH),
        sent + 2,
        "the unknown name and, in the private one's place, a decoy, once each"
    );
    assert!(
        !upstream
            .advisories_asked()
            .iter()
            .any(|name| name == PRIVATE),
        "the private name was sent upstream"
    );
}

/// Security issue 23: with the advisories API failing, a private name's question
/// fails as an unknown name's does (502, the same body, as slow as the upstream); and
/// after a failure of some other upstream request, the upstream answering again, both
/// are answered (200) rather than the private one from the failure.
#[test]
fn a_private_names_advisories_fail_and_recover_as_an_unknown_names() {
    let (upstream, server, admin, _config) = slow_upstream_and_a_private_package();
    let timed = |name: &str| timed_advisories(&server, &admin, name);
    assert_eq!(timed("vendor/earlier").0.status, 200);
    // The private name first: it must not lean on what the unknown one's answer left.
    let compare = |status: u16| {
        let (private, private_took) = timed(PRIVATE);
        let (unknown, unknown_took) = timed("acme/lix");
        assert_eq!(
            (private.status, unknown.status),
            (status, status),
            "{} / {}",
            private.text(),
            unknown.text()
        );
        assert_eq!(private.text(), unknown.text());
        for (what, took) in [("private", private_took), ("unknown", unknown_took)] {
            assert!(
                took >= Duration::from_millis(250) && took < Duration::from_secs(2),
                "the {what} name took {took:?}"
            );
        }
    };

    upstream.fail(ADVISORIES_PATH, 500);
    compare(502);
    upstream.clear_failure(ADVISORIES_PATH);
    upstream.fail("/p2/other/broken.json", 500);
    assert_eq!(
        get(
            &server.url(&format!("/mirror/{ALIAS}/p2/other/broken.json")),
            &[("Authorization", &basic("admin", &admin))]
        )
        .status,
        502
    );
    compare(200);
    assert!(
        !upstream
            .advisories_asked()
            .iter()
            .any(|name| name == PRIVATE),
        "the private name was sent upstream"
    );
}
