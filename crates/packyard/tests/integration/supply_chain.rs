//! Supply-chain protection, with the real composer: immutable versions (a moved tag, a
//! deleted tag and a forced re-upload leave every existing composer.lock installing the
//! bytes it names).

use std::time::Duration;

use crate::common::git::library;
use crate::common::*;
use serde_json::{Value, json};
use testkit::hook_receiver::HookReceiver;

const SCAN_LIMIT: Duration = Duration::from_secs(30);

/// A fresh project (its own Composer cache) holding `project`'s composer.json and
/// composer.lock: what a colleague or CI gets from the repository.
fn checkout_of(
    server: &Server,
    user: &str,
    token: &str,
    project: &ComposerProject,
) -> ComposerProject {
    let copy = ComposerProject::new(server, user, token);
    for file in ["composer.json", "composer.lock"] {
        std::fs::copy(project.dir.path().join(file), copy.dir.path().join(file)).unwrap();
    }
    copy
}

fn install(project: &ComposerProject) {
    let output = project.run(&["install"]);
    assert!(output.status.success(), "{}", output_text(&output));
}

fn locked_reference(project: &ComposerProject, package: &str) -> String {
    project.lock()["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == package)
        .map(|p| p["dist"]["reference"].as_str().unwrap().to_owned())
        .unwrap()
}

#[test]
fn a_moved_or_deleted_tag_leaves_its_version_and_old_locks_install_the_first_bytes() {
    let hooks = HookReceiver::start(&[]);
    let (repo, first) = library("acme/lib", "1.0.0");
    let server = Server::start_with(&[
        ("PACKYARD_SECRET", "supply chain test secret"),
        ("PACKYARD_ALLOW_NETWORKS", "127.0.0.0/8"),
    ]);
    let token = server.add_maintainer("maintainer");
    server.cli_ok(&[
        "webhook",
        "add",
        "audit",
        "--url",
        &hooks.url("/hooks"),
        "--events",
        "version_conflict",
    ]);
    let created = create_package(&server, "maintainer", &token, &json!({"url": repo.url()}));
    assert_eq!(created.status, 201, "{}", created.text());

    // The lock is written without installing: no archive is built before the tag moves,
    // so keeping the first bytes is the scan's doing, not a download's.
    let project = ComposerProject::new(&server, "maintainer", &token);
    let output = project.run(&["require", "acme/lib:^1.0", "--no-install", "--no-audit"]);
    assert!(output.status.success(), "{}", output_text(&output));
    assert_eq!(locked_reference(&project, "acme/lib"), first);

    // Someone force-pushes the tag to other code.
    repo.write_library("acme/lib", "evil", Value::Null);
    let evil = repo.commit("evil");
    repo.git(&["tag", "--force", "1.0.0"]);
    let job = update_package(&server, "maintainer", &token, &repo.url(), SCAN_LIMIT);
    assert_eq!(job["state"], "succeeded", "{job}");
    let notices = job["result"]["notices"].to_string();
    assert!(
        notices.contains(&evil) && notices.contains(&first) && notices.contains("immutable"),
        "the scan reports the moved tag: {job}"
    );
    // And the audit log, as the scan job's doing (with the branch's move, if the scan
    // changed it, or on its own).
    let recorded = server.cli_ok(&["audit", "list", "--json", "--action", "package"]);
    let entry: Value = recorded
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .find(|entry| entry["details"]["moved"].is_array())
        .unwrap_or_else(|| panic!("no entry of the move: {recorded}"));
    assert_eq!(entry["credential"], format!("job {}", job["id"]), "{entry}");
    assert_eq!(
        entry["details"]["moved"][0]["kept"],
        first.as_str(),
        "{entry}"
    );
    assert_eq!(
        entry["details"]["moved"][0]["offered"],
        evil.as_str(),
        "{entry}"
    );
    assert_eq!(
        versions(&server, "maintainer", &token, "acme/lib"),
        [("1.0.0".to_owned(), first.clone())],
        "1.0.0 keeps its first commit"
    );
    assert!(
        server.log_lines("the tag of an immutable version moved") >= 1,
        "{}",
        server.log()
    );
    let delivered = hooks.wait_for(1, Duration::from_secs(20));
    let body: Value = serde_json::from_slice(&delivered[0].body).unwrap();
    assert_eq!(body["event"], "version_conflict", "{body}");
    assert_eq!(body["version"]["reference"], first, "{body}");
    assert_eq!(body["offered_reference"], evil, "{body}");

    let colleague = checkout_of(&server, "maintainer", &token, &project);
    install(&colleague);
    let installed = colleague.installed_file("acme/lib/src/Lib.php").unwrap();
    assert!(installed.contains("'1.0.0'"), "{installed}");
    // The package page tells its maintainers.
    let output = server.cli_input(
        &["user", "add", "keeper", "--maintainer", "--password-stdin"],
        "correct horse battery\n",
    );
    assert!(output.status.success(), "{}", output_text(&output));
    let login = try_login(&server, "keeper", "correct horse battery", &[]);
    let cookie = session_cookie(&login).expect("a session");
    let cookie = cookie.split(';').next().unwrap();
    let page = get(&server.url("/packages/acme/lib"), &[("Cookie", cookie)]).text();
    assert!(
        page.contains("The last scan noted")
            && page.contains("is immutable and keeps")
            && page.contains(&evil),
        "{page}"
    );

    // The tag is deleted: 1.0.0 leaves the metadata, its archive stays for the lock.
    repo.git(&["tag", "-d", "1.0.0"]);
    repo.tag("1.1.0");
    let job = update_package(&server, "maintainer", &token, &repo.url(), SCAN_LIMIT);
    assert_eq!(job["state"], "succeeded", "{job}");
    let listed = versions(&server, "maintainer", &token, "acme/lib");
    assert_eq!(listed, [("1.1.0".to_owned(), evil.clone())]);
    let ci = checkout_of(&server, "maintainer", &token, &project);
    install(&ci);
    let installed = ci.installed_file("acme/lib/src/Lib.php").unwrap();
    assert!(installed.contains("'1.0.0'"), "{installed}");
    // Nobody else reaches it: an unknown user's download of the kept archive is a 401,
    // and a plain user who sees nothing of the package gets the unknown-package 404.
    let outsider = server.add_plain_user("outsider", &[]);
    let kept = get(
        &server.url(&format!("/zipball/acme/lib/{first}.zip")),
        &[("Authorization", &basic("outsider", &outsider))],
    );
    let unknown = get(
        &server.url(&format!("/zipball/acme/nothing/{first}.zip")),
        &[("Authorization", &basic("outsider", &outsider))],
    );
    assert_eq!(kept.status, 404);
    assert_eq!(
        kept.text(),
        unknown.text().replace("acme/nothing", "acme/lib"),
        "a kept archive is as unknown as anything else to whoever does not see its version"
    );
}

#[test]
fn an_uploaded_release_changes_only_with_force_and_old_locks_install_the_first_bytes() {
    let server = Server::start();
    let admin = server.add_user("admin", true);
    let first = package_zip("acme/up", &[], "first");
    assert_eq!(
        upload(&server, &admin, "acme/up", "1.0.0", &first).status,
        201
    );
    let project = ComposerProject::new(&server, "admin", &admin);
    project.require("acme/up:^1.0");
    assert_eq!(locked_reference(&project, "acme/up"), sha1_hex(&first));

    let published_time = || -> i64 {
        let published = version_documents(&server, "admin", &admin, "acme/up");
        composer::manifest::parse_time(published[0]["published-time"].as_str().unwrap()).unwrap()
    };
    let first_published = published_time();
    wait_past_a_second();

    let second = package_zip("acme/up", &[], "second");
    let refused = upload(&server, &admin, "acme/up", "1.0.0", &second);
    assert_eq!(refused.status, 409, "{}", refused.text());
    assert!(refused.text().contains("force"), "{}", refused.text());
    let forced = put(
        &server.url("/api/packages/upload/acme/up/1.0.0?force=1"),
        &[("Authorization", &basic("admin", &admin))],
        &second,
    );
    assert_eq!(forced.status, 200, "{}", forced.text());
    assert_eq!(forced.json()["outcome"], "replaced");
    let published = version_documents(&server, "admin", &admin, "acme/up");
    assert_eq!(published.len(), 1);
    assert_eq!(published[0]["dist"]["reference"], sha1_hex(&second));
    assert!(
        server.log_lines("an immutable version was replaced with --force") >= 1,
        "{}",
        server.log()
    );
    // Other bytes under the old name are a new publication: cooldowns count anew.
    assert!(published_time() > first_published);
    // The replacement is recorded, with the archive it replaced.
    let recorded = server.cli_ok(&["audit", "list", "--json", "--action", "version.replaced"]);
    let entry: Value = serde_json::from_str(recorded.lines().next().expect("an entry")).unwrap();
    assert_eq!(entry["package"], "acme/up", "{entry}");
    assert!(entry.to_string().contains(&sha1_hex(&first)), "{entry}");

    // The lock written before names the first archive, which still installs, checked
    // against the sha1 in the lock.
    let colleague = checkout_of(&server, "admin", &admin, &project);
    install(&colleague);
    let installed = colleague.installed_file("acme/up/src/Up.php").unwrap();
    assert!(installed.contains("'first'"), "{installed}");
    // A new project gets the replacement.
    let fresh = ComposerProject::new(&server, "admin", &admin);
    fresh.require("acme/up:^1.0");
    let installed = fresh.installed_file("acme/up/src/Up.php").unwrap();
    assert!(installed.contains("'second'"), "{installed}");
}

#[test]
fn the_immutability_setting_decides_which_replaced_versions_old_locks_still_install() {
    // (setting, version, whether a lock written before a forced replacement still
    // installs the first bytes)
    for (setting, version, kept) in [
        ("all", "2.0.0-beta1", true),
        ("stable", "2.0.0-beta1", false),
        ("stable", "1.0.0", true),
        ("off", "1.0.0", false),
    ] {
        let server = Server::start_with(&[("PACKYARD_IMMUTABLE_VERSIONS", setting)]);
        let admin = server.add_user("admin", true);
        let first = package_zip("acme/up", &[], "first");
        assert_eq!(
            upload(&server, &admin, "acme/up", version, &first).status,
            201
        );
        let project = ComposerProject::new(&server, "admin", &admin);
        project.require(&format!("acme/up:{version}"));
        let forced = put(
            &server.url(&format!("/api/packages/upload/acme/up/{version}?force=1")),
            &[("Authorization", &basic("admin", &admin))],
            &package_zip("acme/up", &[], "second"),
        );
        assert_eq!(forced.status, 200, "{setting} {version}: {}", forced.text());
        let old_archive = get(
            &server.url(&format!("/zipball/acme/up/{}.zip", sha1_hex(&first))),
            &[("Authorization", &basic("admin", &admin))],
        );
        let colleague = checkout_of(&server, "admin", &admin, &project);
        let output = colleague.run(&["install"]);
        if kept {
            assert_eq!(old_archive.status, 200, "{setting} {version}");
            assert!(
                output.status.success(),
                "{setting} {version}: {}",
                output_text(&output)
            );
            let installed = colleague.installed_file("acme/up/src/Up.php").unwrap();
            assert!(
                installed.contains("'first'"),
                "{setting} {version}: {installed}"
            );
        } else {
            assert_eq!(old_archive.status, 404, "{setting} {version}");
            assert!(
                !output.status.success(),
                "{setting} {version}: {}",
                output_text(&output)
            );
        }
    }
}

/// Every `filter` entry of a p2 document as composer/composer reads it
/// (`ComposerRepository::getFilter` → `FilterListEntryBuilder::build`): lists are
/// string keys holding arrays; an entry is an object with a string `constraint`; a
/// missing `package` is the document's; `reason`, `url`, `id` and `source` are strings
/// when present. Returns `(list, package, constraint, reason)`.
fn filter_entries(document: &Value, package: &str) -> Vec<(String, String, String, String)> {
    let Some(lists) = document.get("filter") else {
        return Vec::new();
    };
    let lists = lists.as_object().expect("filter is an object of lists");
    let mut found = Vec::new();
    for (list, entries) in lists {
        for entry in entries.as_array().expect("a list is an array of entries") {
            let entry = entry.as_object().expect("an entry is an object");
            let constraint = entry["constraint"].as_str().expect("a string constraint");
            for key in ["package", "reason", "url", "id", "source"] {
                if let Some(value) = entry.get(key) {
                    assert!(value.is_string(), "{key} of {entry:?}");
                }
            }
            found.push((
                list.clone(),
                entry
                    .get("package")
                    .and_then(Value::as_str)
                    .unwrap_or(package)
                    .to_owned(),
                constraint.to_owned(),
                entry["reason"].as_str().unwrap_or_default().to_owned(),
            ));
        }
    }
    found
}

/// Polls `GET path` as `user` until `check` holds (a change made by the CLI reaches the
/// server within a second or two).
fn wait_until(
    server: &Server,
    user: &str,
    token: &str,
    path: &str,
    check: impl Fn(&Reply) -> bool,
) -> Reply {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let reply = get(&server.url(path), &[("Authorization", &basic(user, token))]);
        if check(&reply) {
            return reply;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{path}: {} {}",
            reply.status,
            reply.text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_blocked_version_leaves_the_metadata_its_archive_is_gone_and_composer_says_why() {
    const REASON: &str = "sends the environment to a remote host";
    let server = Server::start();
    let admin = server.add_user("admin", true);
    let mut archives = Vec::new();
    for version in ["1.0.0", "1.2.3"] {
        let archive = package_zip("acme/lib", &[], &format!("lib-{version}"));
        assert_eq!(
            upload(&server, &admin, "acme/lib", version, &archive).status,
            201
        );
        archives.push(archive);
    }
    let bad_reference = sha1_hex(&archives[1]);
    let carol = server.add_plain_user("carol", &[]);
    server.cli_ok(&["group", "add", "licensed"]);
    server.cli_ok(&[
        "group",
        "grant",
        "licensed",
        "acme/lib",
        "--versions",
        "~1.0.0",
    ]);
    server.cli_ok(&["group", "members", "licensed", "--add", "carol"]);

    let project = ComposerProject::new(&server, "admin", &admin);
    project.require("acme/lib:^1.0");
    assert_eq!(locked_reference(&project, "acme/lib"), bad_reference);

    // Non-admins may not block; a bad category or constraint is a 400 naming it.
    let refused = post_json(
        &server,
        "carol",
        &carol,
        "/api/blocks",
        &json!({"package": "acme/lib", "reason": "x", "category": "malware"}),
    );
    assert_eq!(refused.status, 403, "{}", refused.text());
    for (field, body) in [
        (
            "category",
            json!({"package": "acme/lib", "reason": "x", "category": "security"}),
        ),
        (
            "versions",
            json!({"package": "acme/lib", "versions": "1.2.3 <<", "reason": "x", "category": "malware"}),
        ),
    ] {
        let bad = post_json(&server, "admin", &admin, "/api/blocks", &body);
        assert_eq!(bad.status, 400, "{}", bad.text());
        assert!(bad.text().contains(field), "{}", bad.text());
    }
    let blocked = post_json(
        &server,
        "admin",
        &admin,
        "/api/blocks",
        &json!({"package": "acme/lib", "versions": "1.2.3", "reason": REASON, "category": "malware", "url": "https://security.example.com/PKY-1"}),
    );
    assert_eq!(blocked.status, 201, "{}", blocked.text());
    assert!(server.cli_ok(&["block", "list"]).contains(REASON));

    // The metadata: 1.2.3 is withdrawn; the filter lists name it, as Composer reads them.
    let root = get(
        &server.url("/packages.json"),
        &[("Authorization", &basic("admin", &admin))],
    )
    .json();
    assert_eq!(
        root["filter"],
        json!({"metadata": true, "lists": {"malware": {"enabled": true}}})
    );
    let document = p2(&server, "admin", &admin, "acme/lib");
    assert_eq!(p2_version_names(&document, "acme/lib"), ["1.0.0"]);
    assert_eq!(
        filter_entries(&document.json(), "acme/lib"),
        [(
            "malware".to_owned(),
            "acme/lib".to_owned(),
            "1.2.3".to_owned(),
            REASON.to_owned()
        )]
    );
    // Carol sees only 1.0.x: the block of a version she does not see is not named.
    let hers = p2(&server, "carol", &carol, "acme/lib");
    assert_eq!(p2_version_names(&hers, "acme/lib"), ["1.0.0"]);
    assert!(
        filter_entries(&hers.json(), "acme/lib").is_empty(),
        "{}",
        hers.text()
    );

    // The archive: 410 with the reason, as JSON Composer reads.
    let gone = get(
        &server.url(&format!("/zipball/acme/lib/{bad_reference}.zip")),
        &[("Authorization", &basic("admin", &admin))],
    );
    assert_eq!(gone.status, 410);
    assert_eq!(
        gone.header("content-type").as_deref(),
        Some("application/json")
    );
    assert_eq!(gone.json()["blocked"]["reason"], REASON);

    // The real composer: the lock that names 1.2.3 no longer installs, and says why.
    let colleague = checkout_of(&server, "admin", &admin, &project);
    let output = colleague.run(&["install"]);
    let text = output_text(&output);
    assert!(!output.status.success(), "{text}");
    assert!(text.contains("410") && text.contains(REASON), "{text}");
    // An update resolves the newest version that is not blocked.
    let output = project.run(&["update", "--no-audit"]);
    assert!(output.status.success(), "{}", output_text(&output));
    assert_eq!(
        locked_reference(&project, "acme/lib"),
        sha1_hex(&archives[0])
    );
    let fresh = ComposerProject::new(&server, "admin", &admin);
    let output = fresh.run(&["require", "acme/lib:1.2.3", "--no-audit"]);
    assert!(!output.status.success(), "{}", output_text(&output));

    // A category that only flags: 1.2.3 is offered again, flagged, and still 410.
    server.cli_ok(&["block", "category", "malware", "--flag"]);
    let flagged = wait_until(&server, "admin", &admin, "/p2/acme/lib.json", |reply| {
        p2_version_names(reply, "acme/lib").len() == 2
    });
    assert_eq!(filter_entries(&flagged.json(), "acme/lib").len(), 1);
    let still_gone = get(
        &server.url(&format!("/zipball/acme/lib/{bad_reference}.zip")),
        &[("Authorization", &basic("admin", &admin))],
    );
    assert_eq!(still_gone.status, 410);

    // Lifted: the archive is served again and the lists are empty.
    let id = blocked.json()["id"].as_i64().unwrap();
    let lifted = delete(
        &server.url(&format!("/api/blocks/{id}")),
        &[("Authorization", &basic("admin", &admin))],
    );
    assert_eq!(lifted.status, 204, "{}", lifted.text());
    let downloaded = get(
        &server.url(&format!("/zipball/acme/lib/{bad_reference}.zip")),
        &[("Authorization", &basic("admin", &admin))],
    );
    assert_eq!(downloaded.status, 200);
    let document = p2(&server, "admin", &admin, "acme/lib").json();
    assert!(document.get("filter").is_none(), "{document}");
    install(&checkout_of(&server, "admin", &admin, &colleague));

    // Every version carol would see withdrawn: the document is there, empty of
    // versions, with the entry that says why (a 404 would say nothing).
    let only = package_zip("acme/only", &[], "only");
    assert_eq!(
        upload(&server, &admin, "acme/only", "1.0.0", &only).status,
        201
    );
    // (Under a constraint: her documents are filtered for her.)
    server.cli_ok(&[
        "group",
        "grant",
        "licensed",
        "acme/only",
        "--versions",
        "^1.0",
    ]);
    server.cli_ok(&[
        "block",
        "add",
        "acme/only",
        "--versions",
        "*",
        "--reason",
        REASON,
        "--category",
        "compromised",
    ]);
    let withdrawn = wait_until(&server, "carol", &carol, "/p2/acme/only.json", |reply| {
        reply.status == 200 && p2_version_names(reply, "acme/only").is_empty()
    });
    assert!(p2_version_names(&withdrawn, "acme/only").is_empty());
    assert_eq!(
        filter_entries(&withdrawn.json(), "acme/only"),
        [(
            "compromised".to_owned(),
            "acme/only".to_owned(),
            // Trimmed to the versions she would see.
            "1.0.0.0".to_owned(),
            REASON.to_owned()
        )]
    );
    let hers = ComposerProject::new(&server, "carol", &carol);
    let output = hers.run(&["require", "acme/only", "--no-audit"]);
    assert!(!output.status.success(), "{}", output_text(&output));
}

/// Sets when packyard published each `(version, days ago)` of `package`, in the
/// server's SQLite database, while the server is stopped: a test cannot wait days.
fn published_days_ago(server: &mut Server, package: &str, ages: &[(&str, i64)]) {
    server.stop();
    let path = server.data.path().join("packyard.db");
    with_database_drivers(async {
        let pool = sqlx::AnyPool::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        for (version, days) in ages {
            let updated = sqlx::query(
                "UPDATE versions SET published_at = $1 WHERE version = $2 \
                 AND package_id = (SELECT id FROM packages WHERE name = $3)",
            )
            .bind(now - days * 86_400_000)
            .bind(*version)
            .bind(package)
            .execute(&pool)
            .await
            .unwrap();
            assert_eq!(updated.rows_affected(), 1, "{package} {version}");
        }
        pool.close().await;
    });
    server.start_again();
}

/// The version of `package` a fresh project of `user` resolves for `constraint`.
fn resolves(server: &Server, user: &str, token: &str, package: &str) -> String {
    resolves_at(server, &server.base, user, token, package)
}

/// The same through the repository at `repository`.
fn resolves_at(
    server: &Server,
    repository: &str,
    user: &str,
    token: &str,
    package: &str,
) -> String {
    let project = ComposerProject::with_repository(server, repository, user, token);
    project.require(&format!("{package}:^1.0"));
    let lock = project.lock();
    lock["packages"][0]["version"].as_str().unwrap().to_owned()
}

/// A new token of `user` (named `ci`) with a 3-day minimum release age.
fn token_with_a_cooldown(server: &Server, user: &str) -> String {
    let created = server.cli_ok(&[
        "token",
        "create",
        user,
        "--name",
        "ci",
        "--min-release-age",
        "3d",
    ]);
    created.lines().last().unwrap().to_owned()
}

#[test]
fn a_cooldown_holds_a_fresh_release_back_from_a_group_a_user_or_a_token_but_not_a_fix() {
    let mut server = Server::start();
    let admin = server.add_user("admin", true);
    for version in ["1.0.0", "1.1.0"] {
        let archive = package_zip("acme/lib", &[], &format!("lib-{version}"));
        assert_eq!(
            upload(&server, &admin, "acme/lib", version, &archive).status,
            201
        );
    }
    let carol = server.add_plain_user("carol", &[]);
    let dave = server.add_plain_user("dave", &[]);
    for (group, member, age) in [("cautious", "carol", "3d"), ("eager", "dave", "none")] {
        server.cli_ok(&["group", "add", group]);
        server.cli_ok(&["group", "grant", group, "acme/lib"]);
        server.cli_ok(&["group", "set", group, "--min-release-age", age]);
        server.cli_ok(&["group", "members", group, "--add", member]);
    }
    assert!(
        server
            .cli_ok(&["group", "list"])
            .contains("minimum release age: 3d"),
        "{}",
        server.cli_ok(&["group", "list"])
    );
    published_days_ago(&mut server, "acme/lib", &[("1.0.0", 10), ("1.1.0", 1)]);

    // The 1-day-old 1.1.0: held back from the 3-day group, offered to the other.
    assert_eq!(resolves(&server, "carol", &carol, "acme/lib"), "1.0.0");
    assert_eq!(resolves(&server, "dave", &dave, "acme/lib"), "1.1.0");
    assert_eq!(
        p2_version_names(&p2(&server, "carol", &carol, "acme/lib"), "acme/lib"),
        ["1.0.0"]
    );
    // The API says what the metadata says.
    let api = get(
        &server.url("/api/packages/acme/lib"),
        &[("Authorization", &basic("carol", &carol))],
    );
    assert_eq!(api.status, 200, "{}", api.text());
    let listed: Vec<String> = api.json()["package"]["versions"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(listed, ["1.0.0"], "{}", api.text());
    // A token's own cooldown applies on top of its owner's rules.
    let ci = token_with_a_cooldown(&server, "dave");
    assert_eq!(resolves(&server, "dave", &ci, "acme/lib"), "1.0.0");
    // So does a user's, whatever its groups say; `none` lifts it.
    server.cli_ok(&["user", "set", "dave", "--min-release-age", "2d"]);
    let held = wait_until(&server, "dave", &dave, "/p2/acme/lib.json", |reply| {
        p2_version_names(reply, "acme/lib") == ["1.0.0"]
    });
    assert_eq!(held.status, 200);
    server.cli_ok(&["user", "set", "dave", "--min-release-age", "none"]);
    wait_until(&server, "dave", &dave, "/p2/acme/lib.json", |reply| {
        p2_version_names(reply, "acme/lib").len() == 2
    });

    // 1.1.0 fixes an advisory that affects 1.0.0: the cooldown does not hold it back.
    server.cli_ok(&[
        "advisory",
        "add",
        "acme/lib",
        "--affected",
        "<1.1.0",
        "--title",
        "Remote code execution",
    ]);
    wait_until(&server, "carol", &carol, "/p2/acme/lib.json", |reply| {
        p2_version_names(reply, "acme/lib").len() == 2
    });
    assert_eq!(resolves(&server, "carol", &carol, "acme/lib"), "1.1.0");
}

/// An archive of a Composer plugin: `type: composer-plugin`, requiring the plugin API.
fn plugin_zip(version: &str) -> Vec<u8> {
    let manifest = json!({
        "name": "acme/plugin",
        "type": "composer-plugin",
        "license": "MIT",
        "require": {"composer-plugin-api": "^2.0"},
        "autoload": {"psr-4": {"Acme\\Plugin\\": "src/"}},
        "extra": {"class": "Acme\\Plugin\\Plugin"},
    });
    zip(&[
        Entry::File("composer.json", manifest.to_string().as_bytes()),
        Entry::File(
            "src/Plugin.php",
            format!("<?php // plugin {version}\n").as_bytes(),
        ),
    ])
}

/// A project of `user` that lets the plugin install without running it.
fn plugin_project(server: &Server, user: &str, token: &str) -> ComposerProject {
    let project = ComposerProject::new(server, user, token);
    let output = project.run(&["config", "allow-plugins.acme/plugin", "false"]);
    assert!(output.status.success(), "{}", output_text(&output));
    project
}

#[test]
fn a_plugin_is_served_only_for_the_major_versions_an_admin_approved() {
    let dir = testkit::TempDir::new("plugins-config");
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, "plugins: approve\nmirrors: {packagist: false}\n").unwrap();
    let server = Server::start_with(&[("PACKYARD_CONFIG", config.to_str().unwrap())]);
    let admin = server.add_user("admin", true);
    assert_eq!(
        upload(
            &server,
            &admin,
            "acme/plugin",
            "1.0.0",
            &plugin_zip("1.0.0")
        )
        .status,
        201
    );
    let library = package_zip("acme/lib", &[], "lib");
    assert_eq!(
        upload(&server, &admin, "acme/lib", "1.0.0", &library).status,
        201
    );

    // Not approved: not resolvable, even for an admin; other packages are.
    let project = plugin_project(&server, "admin", &admin);
    let output = project.run(&["require", "acme/plugin", "--no-audit"]);
    let text = output_text(&output);
    assert!(!output.status.success(), "{text}");
    assert!(text.contains("acme/plugin"), "{text}");
    project.require("acme/lib");
    let unknown = p2(&server, "admin", &admin, "acme/nothing");
    let unapproved = p2(&server, "admin", &admin, "acme/plugin");
    assert_eq!(unapproved.status, unknown.status, "{}", unapproved.text());

    let approved = server.cli_ok(&["plugin", "approve", "acme/plugin"]);
    assert!(approved.contains("major versions 1"), "{approved}");
    wait_until(&server, "admin", &admin, "/p2/acme/plugin.json", |reply| {
        reply.status == 200
    });
    project.require("acme/plugin:^1.0");
    assert!(
        server
            .cli_ok(&["plugin", "list"])
            .contains("private\tacme/plugin\t1\t(command line)")
    );

    // A new major version needs approving again.
    assert_eq!(
        upload(
            &server,
            &admin,
            "acme/plugin",
            "2.0.0",
            &plugin_zip("2.0.0")
        )
        .status,
        201
    );
    assert_eq!(
        p2_version_names(&p2(&server, "admin", &admin, "acme/plugin"), "acme/plugin"),
        ["1.0.0"]
    );
    let output = project.run(&["require", "acme/plugin:^2.0", "--no-audit"]);
    assert!(!output.status.success(), "{}", output_text(&output));
    server.cli_ok(&["plugin", "approve", "acme/plugin", "--major", "2"]);
    wait_until(&server, "admin", &admin, "/p2/acme/plugin.json", |reply| {
        p2_version_names(reply, "acme/plugin").len() == 2
    });
    project.require("acme/plugin:^2.0");
}

/// Rewrites the JSON file at `path` under the upstream's root with `change`.
fn edit_upstream_json(
    upstream: &testkit::upstream::UpstreamServer,
    path: &str,
    change: impl FnOnce(&mut Value),
) {
    let file = upstream.root().join(path);
    let mut value: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    change(&mut value);
    std::fs::write(&file, serde_json::to_vec(&value).unwrap()).unwrap();
    // A newer Last-Modified, as a real upstream gives a changed file.
    upstream.touch(&format!("/{path}"));
}

/// The mirrored versions of `package` as the mirror `up` serves them: (version, dist
/// reference).
fn mirrored_versions(server: &Server, token: &str, package: &str) -> Vec<(String, String)> {
    let reply = get(
        &server.url(&format!("/mirror/up/p2/{package}.json")),
        &[("Authorization", &basic("admin", token))],
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    p2_documents(&reply, package)
        .iter()
        .map(|v| {
            (
                v["version"].as_str().unwrap().to_owned(),
                v["dist"]["reference"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn a_mirror_applies_the_upstreams_lists_a_cooldown_and_plugin_approval_and_pins_its_archives() {
    use testkit::upstream::{UpstreamRepo, dist_reference};
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let a_day_ago = packyard::time::rfc3339(now - 86_400);
    let source = |marker: &str| format!("<?php // {marker}\n");
    let (good, bad, first) = (source("good"), source("bad"), source("first"));
    let mut repo = UpstreamRepo::new();
    repo.package("evil/pkg", "1.0.0", json!({}), &[("src/A.php", &good)])
        .package("evil/pkg", "1.0.1", json!({}), &[("src/A.php", &bad)])
        .package("fresh/pkg", "1.0.0", json!({}), &[("src/F.php", &good)])
        .package("fresh/pkg", "1.1.0", json!({"published-time": a_day_ago}), &[("src/F.php", &good)])
        // As GitHub archives on packagist.org: no sha1 in the metadata.
        .package("pinned/pkg", "1.0.0", json!({"dist": {"shasum": ""}}), &[("src/P.php", &first)])
        .package(
            "acme/plugin",
            "1.0.0",
            json!({"type": "composer-plugin", "require": {"composer-plugin-api": "^2.0"}, "extra": {"class": "Acme\\Plugin\\Plugin"}}),
            &[("src/Plugin.php", "<?php\n")],
        );
    let upstream = repo.serve();
    edit_upstream_json(&upstream, "p2/evil/pkg.json", |doc| {
        doc["filter"] = json!({"malware": [{"constraint": "1.0.1", "reason": "steals tokens", "url": "https://example.com/advisory"}]});
    });
    edit_upstream_json(&upstream, "packages.json", |root| {
        root["filter"] = json!({"metadata": true, "lists": {"malware": {"enabled": true}}, "api-url": "https://upstream.invalid/api/filter"});
    });
    let dir = testkit::TempDir::new("mirror-rules");
    let config = dir.path().join("config.yaml");
    let yaml = json!({"mirrors": {"packagist": false, "up": {
        "url": upstream.url(), "min_release_age": "3d", "plugins": "approve", "sync_interval": "1s",
        "include_in_root": true,
    }}});
    std::fs::write(&config, yaml.to_string()).unwrap();
    let server = Server::start_with(&[
        ("PACKYARD_CONFIG", config.to_str().unwrap()),
        ("PACKYARD_ALLOW_NETWORKS", "127.0.0.0/8"),
        ("PACKYARD_SECRET", "supply chain test secret"),
    ]);
    let admin = server.add_user("admin", true);
    let hooks = HookReceiver::start(&[]);
    server.cli_ok(&[
        "webhook",
        "add",
        "conflicts",
        "--url",
        &hooks.url("/hooks"),
        "--events",
        "version_conflict",
    ]);
    let mirror = server.url("/mirror/up");
    let project = || {
        let project = ComposerProject::with_repository(&server, &mirror, "admin", &admin);
        let output = project.run(&["config", "allow-plugins.acme/plugin", "false"]);
        assert!(output.status.success(), "{}", output_text(&output));
        project
    };
    let locked = |project: &ComposerProject, package: &str| -> String {
        project.lock()["packages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == package)
            .map(|p| p["version"].as_str().unwrap().to_owned())
            .unwrap()
    };

    // The upstream's malware list: announced without its URLs, enforced, passed on.
    let root = get(
        &format!("{mirror}/packages.json"),
        &[("Authorization", &basic("admin", &admin))],
    )
    .json();
    assert_eq!(
        root["filter"],
        json!({"metadata": true, "lists": {"malware": {"enabled": true}}})
    );
    let evil = project();
    evil.require("evil/pkg");
    assert_eq!(locked(&evil, "evil/pkg"), "1.0.0");
    // The root, which includes the mirror, announces the upstream's list too, and
    // enforces it in the same documents.
    let combined = get(
        &server.url("/packages.json"),
        &[("Authorization", &basic("admin", &admin))],
    )
    .json();
    assert_eq!(
        combined["filter"],
        json!({"metadata": true, "lists": {"malware": {"enabled": true}}}),
        "{combined}"
    );
    let at_root = ComposerProject::new(&server, "admin", &admin);
    at_root.require("evil/pkg");
    assert_eq!(locked(&at_root, "evil/pkg"), "1.0.0");
    let listed = get(
        &format!("{mirror}/p2/evil/pkg.json"),
        &[("Authorization", &basic("admin", &admin))],
    );
    assert_eq!(
        filter_entries(&listed.json(), "evil/pkg")[0].3,
        "steals tokens"
    );
    // Every archive URL a version carries is the mirror's: a refused archive is not
    // fetched around it (Composer tries each URL a version has).
    for version in p2_documents(&listed, "evil/pkg") {
        let url = version["dist"]["url"].as_str().unwrap();
        assert!(
            url.starts_with(&format!("{mirror}/zipball/evil/pkg/")),
            "{url}"
        );
    }
    let gone = get(
        &format!(
            "{mirror}/zipball/evil/pkg/1.0.1.0/{}.zip",
            dist_reference("evil/pkg", "1.0.1")
        ),
        &[("Authorization", &basic("admin", &admin))],
    );
    assert_eq!(gone.status, 410, "{}", gone.text());
    assert_eq!(gone.json()["blocked"]["reason"], "steals tokens");

    // A cooldown of 3 days: the day-old 1.1.0 waits.
    let fresh = project();
    fresh.require("fresh/pkg");
    assert_eq!(locked(&fresh, "fresh/pkg"), "1.0.0");

    // An unapproved plugin is not resolvable until an admin approves it for the mirror.
    let plugin = project();
    let output = plugin.run(&["require", "acme/plugin", "--no-audit"]);
    assert!(!output.status.success(), "{}", output_text(&output));
    let approved = server.cli_ok(&["plugin", "approve", "acme/plugin", "--mirror", "up"]);
    assert!(approved.contains("major versions 1"), "{approved}");
    eventually(
        Duration::from_secs(10),
        || "the approval never took effect".to_owned(),
        || !mirrored_versions(&server, &admin, "acme/plugin").is_empty(),
    );
    plugin.require("acme/plugin");

    // Pinned archives: the first bytes stored fix the archive.
    let pinned = project();
    pinned.require("pinned/pkg");
    assert_eq!(
        pinned.installed_file("pinned/pkg/src/P.php").unwrap(),
        first
    );
    let reference = dist_reference("pinned/pkg", "1.0.0");
    let other = zip(&[
        Entry::File("pinned-pkg/composer.json", br#"{"name": "pinned/pkg"}"#),
        Entry::File("pinned-pkg/src/P.php", b"<?php // second\n"),
    ]);
    std::fs::write(upstream.root().join("dists/pinned/pkg/1.0.0.zip"), &other).unwrap();
    let again = project();
    again.require("pinned/pkg");
    assert_eq!(
        again.installed_file("pinned/pkg/src/P.php").unwrap(),
        first,
        "the stored archive still installs"
    );
    // The stored archive lost: the upstream's new bytes are refused, not stored.
    let stored = server.data.path().join("mirror-dist");
    let archives: Vec<String> = files_under(&stored)
        .into_iter()
        .filter(|f| f.contains("pinned/pkg"))
        .collect();
    assert_eq!(archives.len(), 1, "{archives:?}");
    std::fs::remove_file(stored.join(&archives[0])).unwrap();
    // The download is cut short before its end: no client gets the new bytes, and
    // composer, whose every URL for the version is the mirror's, installs nothing.
    let output = project().run(&["require", "pinned/pkg", "--no-audit"]);
    assert!(!output.status.success(), "{}", output_text(&output));
    let refused = try_get(
        &format!("{mirror}/zipball/pinned/pkg/1.0.0.0/{reference}.zip"),
        &[("Authorization", &basic("admin", &admin))],
    );
    assert!(
        refused.as_ref().is_err() || refused.as_ref().is_ok_and(|r| r.status != 200),
        "{:?}",
        refused.map(|r| r.status)
    );
    server.wait_for_log(
        "the upstream sent other bytes for a pinned archive",
        1,
        Duration::from_secs(10),
    );
    let metrics = metric_counters(&server, &admin);
    // One for each refused download (composer's retries included).
    let refusals = metrics
        .get("packyard_version_conflicts_total{kind=\"archive_changed\"}")
        .copied()
        .unwrap_or_default();
    assert!(refusals >= 1.0, "{metrics:?}");
    let recorded = server.cli_ok(&[
        "audit",
        "list",
        "--json",
        "--action",
        "mirror.archive_conflict",
    ]);
    let entry: Value = serde_json::from_str(recorded.lines().next().expect("an entry")).unwrap();
    assert_eq!(entry["package"], "pinned/pkg", "{entry}");
    assert_ne!(
        entry["details"]["kept_sha1"], entry["details"]["offered_sha1"],
        "{entry}"
    );
    assert!(
        files_under(&stored)
            .iter()
            .all(|f| !f.contains("pinned/pkg")),
        "the refused bytes were stored"
    );
    let delivered = hooks.wait_for(1, Duration::from_secs(20));
    let body: Value = serde_json::from_slice(&delivered[0].body).unwrap();
    assert_eq!(
        (&body["event"], &body["package"]["name"], &body["mirror"]),
        (
            &json!("version_conflict"),
            &json!("pinned/pkg"),
            &json!("up")
        ),
        "{body}"
    );
    assert_ne!(body["kept_sha1"], body["offered_sha1"], "{body}");

    // The upstream re-points 1.0.0 at another reference: the mirror keeps the first.
    edit_upstream_json(&upstream, "p2/pinned/pkg.json", |doc| {
        doc["packages"]["pinned/pkg"][0]["dist"]["reference"] =
            json!("0000000000000000000000000000000000000000");
    });
    std::thread::sleep(Duration::from_millis(1100));
    mirrored_versions(&server, &admin, "pinned/pkg");
    server.wait_for_log(
        "the upstream changed an immutable version's reference",
        1,
        Duration::from_secs(10),
    );
    assert_eq!(
        mirrored_versions(&server, &admin, "pinned/pkg"),
        [("1.0.0".to_owned(), reference.clone())]
    );
    let recorded = server.cli_ok(&[
        "audit",
        "list",
        "--json",
        "--action",
        "mirror.version_conflict",
    ]);
    let entry: Value = serde_json::from_str(recorded.lines().next().expect("an entry")).unwrap();
    assert_eq!(entry["package"], "pinned/pkg", "{entry}");
    assert_eq!(
        entry["details"]["moved"][0]["kept"],
        reference.as_str(),
        "{entry}"
    );
    assert_eq!(
        entry["details"]["moved"][0]["offered"], "0000000000000000000000000000000000000000",
        "{entry}"
    );
    let changed = metric_counters(&server, &admin)
        .get("packyard_version_conflicts_total{kind=\"mirrored_version_changed\"}")
        .copied()
        .unwrap_or_default();
    assert!(changed >= 1.0);
    let moved_hook = || {
        hooks.received().into_iter().find_map(|hook| {
            let body: Value = serde_json::from_slice(&hook.body).ok()?;
            body.get("offered_reference").is_some().then_some(body)
        })
    };
    eventually(
        Duration::from_secs(20),
        || "no webhook for the moved reference".to_owned(),
        || moved_hook().is_some(),
    );
    let moved = moved_hook().unwrap();
    assert_eq!(moved["version"]["reference"], reference.as_str(), "{moved}");
    assert_eq!(
        moved["offered_reference"], "0000000000000000000000000000000000000000",
        "{moved}"
    );
}

#[test]
fn a_callers_cooldown_holds_mirrored_releases_back_and_lets_a_mirrored_fix_through() {
    use testkit::upstream::{UpstreamRepo, dist_reference};
    let a_day_ago = packyard::time::rfc3339(unix_seconds() as i64 - 86_400);
    let long_ago = json!({"published-time": "2025-01-01T00:00:00+00:00"});
    let php = "<?php\n";
    let mut repo = UpstreamRepo::new();
    repo.package(
        "fresh/pkg",
        "1.0.0",
        long_ago.clone(),
        &[("src/F.php", php)],
    )
    .package(
        "fresh/pkg",
        "1.1.0",
        json!({"published-time": a_day_ago}),
        &[("src/F.php", php)],
    )
    .package(
        "fixed/pkg",
        "1.0.0",
        long_ago.clone(),
        &[("src/X.php", php)],
    )
    .package("backdated/pkg", "1.0.0", long_ago, &[("src/B.php", php)])
    .package(
        "fixed/pkg",
        "1.0.1",
        json!({"published-time": a_day_ago}),
        &[("src/X.php", php)],
    );
    let upstream = repo.serve();
    upstream.advisory(
        "fixed/pkg",
        json!({"advisoryId": "PKSA-fix-0001", "affectedVersions": "<1.0.1", "title": "Fixed in 1.0.1",
               "reportedAt": "2026-11-01 10:00:00", "sources": []}),
    );
    // The mirror has no cooldown of its own; the root includes it.
    let dir = testkit::TempDir::new("mirror-cooldowns");
    let config = dir.path().join("config.yaml");
    let yaml = json!({"mirrors": {"packagist": false, "up": {
        "url": upstream.url(), "sync_interval": "1s", "include_in_root": true,
    }}});
    std::fs::write(&config, yaml.to_string()).unwrap();
    let server = Server::start_with(&[("PACKYARD_CONFIG", config.to_str().unwrap())]);
    server.add_user("admin", true);
    let carol = server.add_plain_user("carol", &[]);
    let dave = server.add_plain_user("dave", &[]);
    let erin = server.add_plain_user("erin", &[]);
    for (group, age) in [("patient", "3d"), ("eager", "none")] {
        server.cli_ok(&["group", "add", group]);
        server.cli_ok(&[
            "group",
            "set",
            group,
            "--mirrors",
            "up",
            "--min-release-age",
            age,
        ]);
    }
    server.cli_ok(&["user", "set", "erin", "--min-release-age", "3d"]);
    server.cli_ok(&["group", "members", "patient", "--add", "carol"]);
    server.cli_ok(&[
        "group", "members", "eager", "--add", "dave", "--add", "erin",
    ]);
    let ci = token_with_a_cooldown(&server, "dave");
    let mirror = server.url("/mirror/up");
    let resolved = |repository: &str, user: &str, token: &str, package: &str| {
        resolves_at(&server, repository, user, token, package)
    };
    wait_for_status(&server, "carol", &carol, "/mirror/up/packages.json", 200);
    wait_for_status(&server, "dave", &dave, "/mirror/up/packages.json", 200);

    // The day-old 1.1.0: held back from the 3-day group, the 3-day user and the 3-day
    // token, at the mirror's URL and at the root that includes it; offered to dave.
    for repository in [mirror.as_str(), &server.url("")] {
        assert_eq!(resolved(repository, "carol", &carol, "fresh/pkg"), "1.0.0");
        assert_eq!(resolved(repository, "erin", &erin, "fresh/pkg"), "1.0.0");
        assert_eq!(resolved(repository, "dave", &ci, "fresh/pkg"), "1.0.0");
        assert_eq!(resolved(repository, "dave", &dave, "fresh/pkg"), "1.1.0");
    }
    // Its archive is unknown to them, as in the metadata.
    let archive = format!(
        "{mirror}/zipball/fresh/pkg/1.1.0.0/{}.zip",
        dist_reference("fresh/pkg", "1.1.0")
    );
    assert_eq!(
        get(&archive, &[("Authorization", &basic("carol", &carol))]).status,
        404
    );
    assert_eq!(
        get(&archive, &[("Authorization", &basic("dave", &dave))]).status,
        200
    );

    // 1.0.1 fixes the upstream's advisory that affects 1.0.0: no cooldown holds it.
    assert_eq!(resolved(&mirror, "carol", &carol, "fixed/pkg"), "1.0.1");
    assert_eq!(resolved(&mirror, "dave", &ci, "fixed/pkg"), "1.0.1");

    // A release the upstream dates a year back, which the mirror first sees now, is
    // published now: the cooldown holds it back all the same.
    let versions_for = |user: &str, token: &str| {
        p2_version_names(
            &get(
                &format!("{mirror}/p2/backdated/pkg.json"),
                &[("Authorization", &basic(user, token))],
            ),
            "backdated/pkg",
        )
    };
    assert_eq!(versions_for("dave", &dave), ["1.0.0"]);
    // The upstream's advisories were asked about the package whose fresh version
    // a cooldown held back, not about one with nothing too young.
    assert_eq!(versions_for("carol", &carol), ["1.0.0"]);
    let asked = upstream.advisories_asked();
    assert!(asked.iter().any(|name| name == "fixed/pkg"), "{asked:?}");
    assert!(
        !asked.iter().any(|name| name == "backdated/pkg"),
        "{asked:?}"
    );
    edit_upstream_json(&upstream, "p2/backdated/pkg.json", |doc| {
        let versions = doc["packages"]["backdated/pkg"].as_array_mut().unwrap();
        let mut backdated = versions[0].clone();
        backdated["version"] = json!("1.1.0");
        backdated["version_normalized"] = json!("1.1.0.0");
        backdated["published-time"] = json!("2025-06-01T00:00:00+00:00");
        backdated["dist"]["reference"] = json!("1111111111111111111111111111111111111111");
        versions.insert(0, backdated);
    });
    eventually(
        Duration::from_secs(10),
        || "the mirror never saw 1.1.0".to_owned(),
        || versions_for("dave", &dave).len() >= 2,
    );
    assert_eq!(versions_for("carol", &carol), ["1.0.0"]);
    let seen = get(
        &format!("{mirror}/p2/backdated/pkg.json"),
        &[("Authorization", &basic("dave", &dave))],
    );
    let published = p2_documents(&seen, "backdated/pkg")
        .iter()
        .find(|v| v["version"] == "1.1.0")
        .map(|v| v["published-time"].as_str().unwrap().to_owned())
        .unwrap();
    let published = composer::manifest::parse_time(&published).unwrap();
    assert!(
        (unix_seconds() as i64 - published).abs() < 60,
        "published-time {published} is not when the mirror saw it"
    );
}
