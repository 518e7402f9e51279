//! Two server processes sharing one database: queued jobs are run once between them,
//! what one publishes or grants the other serves at once (on SQLite and PostgreSQL),
//! and login limits hold across both.

use std::time::{Duration, Instant};

use crate::common::git::{GitRepo, library};
use crate::common::*;
use serde_json::Value;

const PACKAGES: usize = 12;

#[test]
fn two_servers_on_one_database_run_each_queued_job_once() {
    testkit::needs!(Postgres, Git);
    let database = postgres_database();
    let first = Server::start_with(&[("DATABASE_URL", &database), ("RUST_LOG", "packyard=info")]);
    let second = Server::start_with(&[("DATABASE_URL", &database), ("RUST_LOG", "packyard=info")]);
    let token = first.add_user("admin", true);

    let repos: Vec<GitRepo> = (0..PACKAGES)
        .map(|i| library(&format!("acme/lib{i}"), "1.0.0").0)
        .collect();
    for repo in &repos {
        let added = first.cli(&["package", "add", &repo.url()]);
        assert!(added.status.success(), "{}", output_text(&added));
        repo.write_library(&repo_name(repo), "1.1.0", Value::Null);
        repo.commit("second");
        repo.tag("1.1.0");
    }

    // Queue a re-scan of every package through the first server; both servers run jobs.
    let jobs: Vec<i64> = repos
        .iter()
        .map(|repo| queue_update(&first, "admin", &token, &repo.url()))
        .collect();
    let mut workers = std::collections::HashSet::new();
    for id in &jobs {
        let job = wait_for_job(&second, "admin", &token, *id, Duration::from_secs(60));
        assert_eq!(job["state"], "succeeded", "{job}");
        assert_eq!(job["attempts"], 1, "ran exactly once: {job}");
        workers.insert(job["worker"].as_str().unwrap().to_owned());
    }
    // Both servers serve the new tag of every package, whichever scanned it, once
    // their caches catch up with the database (every 2 s).
    for server in [&first, &second] {
        for i in 0..PACKAGES {
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                let reply = p2(server, "admin", &token, &format!("acme/lib{i}"));
                if reply.text().contains("1.1.0") {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "acme/lib{i} on {}: {}",
                    server.base,
                    reply.text()
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
    println!("jobs were run by {} workers: {workers:?}", workers.len());
}

fn repo_name(repo: &GitRepo) -> String {
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(repo.path().join("composer.json")).unwrap())
            .unwrap();
    manifest["name"].as_str().unwrap().to_owned()
}

/// The attack: guesses sent in parallel to two replicas, each checking the count of
/// failures before any of the others has recorded one, used to get one guess per
/// hashing slot and replica past the limit. Each attempt is now noted before its
/// password is checked and judged against every attempt noted before it, so however
/// they race, at most the limit of wrong passwords is checked, and the owner still logs
/// in from another address.
#[test]
fn parallel_guesses_on_two_replicas_get_no_more_than_the_limit() {
    testkit::needs!(Postgres);
    let database = postgres_database();
    let env = [
        ("DATABASE_URL", database.as_str()),
        // The guesses come from one client address, through a proxy both trust.
        ("PACKYARD_TRUSTED_PROXIES", "127.0.0.1"),
    ];
    let replicas = [Server::start_with(&env), Server::start_with(&env)];
    let added = replicas[0].cli_input(
        &["user", "add", "alice", "--password-stdin"],
        "correct horse battery\n",
    );
    assert!(added.status.success(), "{}", output_text(&added));

    let guesses_sent = 24;
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let guesses: Vec<_> = (0..guesses_sent)
            .map(|i| {
                let replica = &replicas[i % 2];
                scope.spawn(move || {
                    let from = [("X-Forwarded-For", "198.51.100.7")];
                    try_login(replica, "alice", &format!("wrong guess {i}"), &from).status
                })
            })
            .collect();
        guesses.into_iter().map(|g| g.join().unwrap()).collect()
    });
    let checked = statuses.iter().filter(|s| **s == 401).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(checked + refused, guesses_sent, "{statuses:?}");
    // Five failures for a user, then only addresses that have not failed for it.
    assert!(
        checked <= 5,
        "{checked} wrong passwords checked: {statuses:?}"
    );
    let owner = try_login(
        &replicas[1],
        "alice",
        "correct horse battery",
        &[("X-Forwarded-For", "203.0.113.9")],
    );
    assert_eq!(owner.status, 303, "{}", owner.text());
}

/// What one replica publishes, grants or issues, the other serves at once — Composer
/// reads the package list from one and the archive from another — while each still
/// answers from memory: B caches `acme/lib`, then A takes a new version, a new package,
/// a token, a grant, a sub-repository and a user's sub-repository limit, and B is asked
/// for each immediately, never waiting out its 2 s refresh.
fn replicas_agree_at_once(database: &str) {
    // One database and one store, as replicas run: local stores under a shared root.
    let shared = TempDir::new("shared-stores");
    let root = shared.path().display();
    let config = shared.path().join("config.yaml");
    // A mirror included in the root, whose upstream has an impostor of a private name.
    let mut upstream = testkit::upstream::UpstreamRepo::new();
    upstream.package(
        "acme/secret",
        "9.9.9",
        serde_json::json!({}),
        &[("evil.php", "<?php\n")],
    );
    let upstream = upstream.serve();
    std::fs::write(
        &config,
        format!(
            "storages:\n  shared.storage: {{adapter: local, root: {root}, prefix: dist}}\n  \
             shared.artifact: {{adapter: local, root: {root}, prefix: artifact}}\n\
             mirrors:\n  packagist: false\n  up: {{url: '{}', include_in_root: true}}\n",
            upstream.url()
        ),
    )
    .unwrap();
    let config = config.display().to_string();
    let env = [
        ("DATABASE_URL", database),
        ("PACKYARD_CONFIG", config.as_str()),
        ("STORAGE_SOURCE", "shared"),
    ];
    let (a, b) = (Server::start_with(&env), Server::start_with(&env));
    let admin = a.add_user("admin", true);
    let auth = basic("admin", &admin);
    let lib = package_zip("acme/lib", &[], "1.0.0");
    assert_eq!(upload(&a, &admin, "acme/lib", "1.0.0", &lib).status, 201);
    // B knows acme/lib (its versions cached) before the next one is published on A.
    wait_for_package(&b, "admin", &admin, "acme/lib");
    let next = package_zip("acme/lib", &[], "1.1.0");
    assert_eq!(upload(&a, &admin, "acme/lib", "1.1.0", &next).status, 201);
    let zipball = |server: &Server, archive: &[u8]| {
        let url = server.url(&format!("/zipball/acme/lib/{}.zip", sha1_hex(archive)));
        get(&url, &[("Authorization", &auth)])
    };
    let archive = zipball(&b, &next);
    assert_eq!(archive.status, 200, "{}", archive.text());
    assert_eq!(archive.body, next);

    // A brand-new package, asked for on B the moment A has it.
    let new = package_zip("acme/new", &[], "1.0.0");
    assert_eq!(upload(&a, &admin, "acme/new", "1.0.0", &new).status, 201);
    let document = p2(&b, "admin", &admin, "acme/new");
    assert_eq!(document.status, 200, "{}", document.text());

    // A customer made on A, and a token made for it there, work on B at once; so does
    // a grant given on A.
    let customer = a.add_plain_user("carol", &[]);
    let seen = p2(&b, "carol", &customer, "acme/new");
    assert_eq!(seen.status, 404, "nothing granted yet: {}", seen.text());
    a.cli_ok(&["group", "add", "licensed"]);
    a.cli_ok(&["group", "grant", "licensed", "acme/new"]);
    a.cli_ok(&["group", "members", "licensed", "--add", "carol"]);
    let granted = p2(&b, "carol", &customer, "acme/new");
    assert_eq!(granted.status, 200, "{}", granted.text());
    let token = a.cli_ok(&["token", "create", "carol", "--name", "laptop"]);
    let token = token.lines().last().unwrap();
    assert_eq!(p2(&b, "carol", token, "acme/new").status, 200);
    // A role given on A counts on B at once, though B verified carol's token before.
    let hooks = |server: &Server| {
        get(
            &server.url("/api/webhooks"),
            &[("Authorization", &basic("carol", &customer))],
        )
        .status
    };
    assert_eq!(hooks(&b), 403);
    a.cli_ok(&["user", "set", "carol", "--admin"]);
    assert_eq!(hooks(&b), 200);
    // A private package published on A is never asked of B's upstream, even by a
    // caller who does not see it and may use the mirror, the moment A has it.
    let erin = a.add_plain_user("erin", &[]);
    a.cli_ok(&["group", "add", "mirror-users"]);
    a.cli_ok(&["group", "set", "mirror-users", "--mirrors", "up"]);
    a.cli_ok(&["group", "members", "mirror-users", "--add", "erin"]);
    // B has answered erin through the mirror before, so its rules are current.
    assert_eq!(p2(&b, "erin", &erin, "acme/nobody").status, 404);
    let secret = package_zip("acme/secret", &[], "1.0.0");
    assert_eq!(
        upload(&a, &admin, "acme/secret", "1.0.0", &secret).status,
        201
    );
    assert_eq!(p2(&b, "erin", &erin, "acme/secret").status, 404);
    assert_eq!(upstream.count("/p2/acme/secret.json"), 0);
    assert!(
        upstream.count("/p2/acme/nobody.json") > 0,
        "the mirror was asked"
    );
    // A sub-repository created on A serves on B at once, and a limit lifted on A
    // counts there at once too.
    a.cli_ok(&[
        "subrepo",
        "add",
        "client-a",
        "--name",
        "A",
        "--packages",
        "acme/*",
    ]);
    let packages = |server: &Server, slug: &str, user: &str, token: &str| {
        get(
            &server.url(&format!("/{slug}/packages.json")),
            &[("Authorization", &basic(user, token))],
        )
    };
    let served = packages(&b, "client-a", "admin", &admin);
    assert_eq!(served.status, 200, "{}", served.text());
    let dave = a.add_plain_user("dave", &[]);
    a.cli_ok(&["user", "set", "dave", "--subrepos", "root"]);
    assert_eq!(packages(&b, "client-a", "dave", &dave).status, 404);
    a.cli_ok(&["user", "set", "dave", "--subrepos", "client-a"]);
    assert_eq!(packages(&b, "client-a", "dave", &dave).status, 200);
    // Changes that narrow a sub-repository, and a host name, reach B by its poll of
    // the access rules: within 2 s (allowed 4 here, for a loaded machine).
    let within_the_poll = |what: &str, done: &dyn Fn() -> bool| {
        eventually(Duration::from_secs(4), || format!("{what}: not on B"), done);
    };
    let through = |host: Option<&str>, path: &str| {
        let mut headers = vec![("Authorization", auth.as_str())];
        headers.extend(host.map(|host| ("Host", host)));
        get(&b.url(path), &headers).status
    };
    assert_eq!(through(None, "/client-a/p2/acme/lib.json"), 200);
    a.cli_ok(&["subrepo", "set", "client-a", "--packages", "other/*"]);
    within_the_poll("a package taken out", &|| {
        through(None, "/client-a/p2/acme/lib.json") == 404
    });
    // (client-a.test is a name only: the request goes to 127.0.0.1 with that Host.)
    let host = Some("client-a.test");
    a.cli_ok(&[
        "subrepo",
        "set",
        "client-a",
        "--packages",
        "acme/lib",
        "--host",
        "client-a.test",
    ]);
    within_the_poll("a host name", &|| {
        through(host, "/p2/acme/lib.json") == 200 && through(host, "/p2/acme/new.json") == 404
    });
    a.cli_ok(&["subrepo", "remove", "client-a"]);
    within_the_poll("a sub-repository removed", &|| {
        through(None, "/client-a/p2/acme/lib.json") == 404
            && through(host, "/p2/acme/new.json") == 200
    });
    // Names nobody has are still unknown, on both.
    for server in [&a, &b] {
        assert_eq!(p2(server, "admin", &admin, "acme/nobody").status, 404);
    }
}

#[test]
fn replicas_on_one_sqlite_database_agree_at_once() {
    let shared = TempDir::new("shared-db");
    let database = format!(
        "sqlite://{}?mode=rwc",
        shared.path().join("packyard.db").display()
    );
    replicas_agree_at_once(&database);
}

#[test]
fn replicas_on_one_postgresql_database_agree_at_once() {
    testkit::needs!(Postgres);
    replicas_agree_at_once(&postgres_database());
}
