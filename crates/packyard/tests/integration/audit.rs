//! The audit log: tampering with the chain is found at the entry (SQLite and
//! PostgreSQL, through `packyard audit verify`), a checkpoint exposes a chain rewritten
//! as a whole, two replicas writing at once keep one chain, and the download counts
//! answer who installed a version with the real composer.

use std::collections::BTreeSet;

use crate::common::*;
use packyard::db::audit::{AuditEntry, GENESIS_HASH};
use serde_json::Value;

/// The server's database, as `packyard` opens it.
fn database_url(server: &Server, postgres: Option<&str>) -> String {
    postgres.map_or_else(
        || {
            format!(
                "sqlite://{}",
                server.data.path().join("packyard.db").display()
            )
        },
        str::to_owned,
    )
}

/// Runs `sql` on the database behind the server's back: what someone with access to
/// the database does.
fn tamper(url: &str, sql: &str) {
    let sql = sql.to_owned();
    with_database_drivers(async move {
        let pool = sqlx::AnyPool::connect(url).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    });
}

fn entries(url: &str) -> Vec<AuditEntry> {
    with_database_drivers(async move {
        let pool = sqlx::AnyPool::connect(url).await.unwrap();
        let rows = sqlx::query_as::<_, AuditEntry>(
            "SELECT seq, at, actor_kind, actor, credential, client_ip, replica, action, object, \
             package, details, prev_hash, hash FROM audit_log ORDER BY seq",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        pool.close().await;
        rows
    })
}

/// A server with `env` and no mirror, so that the entries a test makes are the
/// chain's first (a configured mirror is recorded at start-up); its config's folder.
fn server_without_mirrors(env: &[(&str, &str)]) -> (Server, TempDir) {
    let dir = TempDir::new("audit-config");
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, "mirrors:\n  packagist: false\n").unwrap();
    let mut env = env.to_vec();
    let config = config.display().to_string();
    env.push(("PACKYARD_CONFIG", &config));
    (Server::start_with(&env), dir)
}

/// `packyard audit verify`'s exit and words.
fn verify(server: &Server, extra: &[&str]) -> (bool, String) {
    let mut args = vec!["audit", "verify"];
    args.extend_from_slice(extra);
    let output = server.cli(&args);
    (output.status.success(), output_text(&output))
}

/// A row as SQL writes it back (text columns quoted, `package` NULL or quoted).
fn restore_sql(entry: &AuditEntry) -> String {
    let quote = |text: &str| format!("'{}'", text.replace('\'', "''"));
    format!(
        "INSERT INTO audit_log (seq, at, actor_kind, actor, credential, client_ip, replica, \
         action, object, package, details, prev_hash, hash) VALUES ({}, {}, {}, {}, {}, {}, {}, \
         {}, {}, {}, {}, {}, {})",
        entry.seq,
        entry.at,
        quote(&entry.actor_kind),
        quote(&entry.actor),
        quote(&entry.credential),
        quote(&entry.client_ip),
        quote(&entry.replica),
        quote(&entry.action),
        quote(&entry.object),
        entry
            .package
            .as_deref()
            .map_or_else(|| "NULL".to_owned(), quote),
        quote(&entry.details),
        quote(&entry.prev_hash),
        quote(&entry.hash),
    )
}

fn tampering_is_found_at_the_entry(postgres: Option<&str>) {
    let mut env = vec![("PACKYARD_SECRET", "audit test secret")];
    if let Some(url) = postgres {
        env.push(("DATABASE_URL", url));
    }
    let (server, _config) = server_without_mirrors(&env);
    for group in ["red", "green", "blue", "cyan"] {
        server.cli_ok(&["group", "add", group]);
    }
    let url = database_url(&server, postgres);
    let chain = entries(&url);
    assert_eq!(chain.len(), 4, "{chain:?}");
    assert_eq!(chain[0].prev_hash, GENESIS_HASH);
    for entry in &chain {
        assert_eq!(entry.action, "group.created");
        assert_eq!(entry.actor_kind, "cli");
        assert!(entry.credential.starts_with("cli "), "{entry:?}");
    }
    let (ok, text) = verify(&server, &[]);
    assert!(ok, "{text}");
    assert!(text.contains("intact: 4 entries"), "{text}");

    // A checkpoint, kept elsewhere; taking it is an entry of its own (5).
    let checkpoint = server.cli_ok(&["audit", "checkpoint"]);
    let kept = TempDir::new("audit-checkpoint");
    let checkpoint_file = kept.path().join("checkpoint");
    std::fs::write(&checkpoint_file, &checkpoint).unwrap();
    let checkpoint_arg = checkpoint_file.display().to_string();
    let (ok, text) = verify(&server, &["--checkpoint", &checkpoint_arg]);
    assert!(ok, "{text}");
    assert!(
        text.contains("extends the checkpoint of 4 entries"),
        "{text}"
    );

    // Edited: the content of entry 2 no longer gives its hash.
    let second = &chain[1];
    tamper(
        &url,
        "UPDATE audit_log SET object = 'magenta' WHERE seq = 2",
    );
    let (ok, text) = verify(&server, &[]);
    assert!(!ok, "an edited entry passed: {text}");
    assert!(text.contains("entry 2 was edited"), "{text}");
    tamper(
        &url,
        &format!(
            "UPDATE audit_log SET object = '{}' WHERE seq = 2",
            second.object
        ),
    );
    assert!(verify(&server, &[]).0);

    // Edited with its hash recomputed: the next entry no longer vouches for it.
    let mut forged = second.clone();
    forged.object = "magenta".into();
    forged.hash = forged.computed_hash();
    tamper(
        &url,
        &format!(
            "UPDATE audit_log SET object = 'magenta', hash = '{}' WHERE seq = 2",
            forged.hash
        ),
    );
    let (ok, text) = verify(&server, &[]);
    assert!(!ok && text.contains("entry 2 was rewritten"), "{text}");
    tamper(&url, "DELETE FROM audit_log WHERE seq = 2");
    tamper(&url, &restore_sql(second));
    assert!(verify(&server, &[]).0);

    // Removed: the chain goes on at 3.
    tamper(&url, "DELETE FROM audit_log WHERE seq = 2");
    let (ok, text) = verify(&server, &[]);
    assert!(!ok && text.contains("entry 2 was removed"), "{text}");
    tamper(&url, &restore_sql(second));
    assert!(verify(&server, &[]).0);

    // Swapped: entries 2 and 3 change places (numbers exchanged).
    let third = &chain[2];
    tamper(&url, "DELETE FROM audit_log WHERE seq IN (2, 3)");
    let mut moved_second = second.clone();
    moved_second.seq = 3;
    let mut moved_third = third.clone();
    moved_third.seq = 2;
    tamper(&url, &restore_sql(&moved_second));
    tamper(&url, &restore_sql(&moved_third));
    let (ok, text) = verify(&server, &[]);
    assert!(!ok && text.contains("entry 2"), "a swap passed: {text}");
    tamper(&url, "DELETE FROM audit_log WHERE seq IN (2, 3)");
    tamper(&url, &restore_sql(second));
    tamper(&url, &restore_sql(third));
    assert!(verify(&server, &[]).0);

    // The newest entries dropped, the head left: the removal shows.
    let newest = entries(&url).pop().unwrap();
    tamper(
        &url,
        &format!("DELETE FROM audit_log WHERE seq = {}", newest.seq),
    );
    let (ok, text) = verify(&server, &[]);
    assert!(
        !ok && text.contains(&format!("entry {} was removed", newest.seq)),
        "{text}"
    );
    tamper(&url, &restore_sql(&newest));

    // Rewritten as a whole: entry 2 changed and every hash after it recomputed, the
    // head moved along. The chain checks out on its own; the checkpoint exposes it.
    let mut rewritten = entries(&url);
    rewritten[1].object = "magenta".into();
    let mut previous = rewritten[0].hash.clone();
    for entry in &mut rewritten[1..] {
        entry.prev_hash.clone_from(&previous);
        entry.hash = entry.computed_hash();
        previous.clone_from(&entry.hash);
    }
    tamper(&url, "DELETE FROM audit_log WHERE seq >= 2");
    for entry in &rewritten[1..] {
        tamper(&url, &restore_sql(entry));
    }
    tamper(
        &url,
        &format!("UPDATE audit_head SET hash = '{previous}' WHERE id = 1"),
    );
    let (ok, text) = verify(&server, &[]);
    assert!(
        ok,
        "a consistent rewrite reads as intact without a checkpoint: {text}"
    );
    let (ok, text) = verify(&server, &["--checkpoint", &checkpoint_arg]);
    assert!(!ok, "the checkpoint missed a rewrite: {text}");
    assert!(
        text.contains("entry 4 is not the entry the checkpoint signed"),
        "{text}"
    );

    // A checkpoint altered or signed with another secret is refused as such.
    let altered = checkpoint.replace("entries 4", "entries 3");
    std::fs::write(&checkpoint_file, altered).unwrap();
    let (ok, text) = verify(&server, &["--checkpoint", &checkpoint_arg]);
    assert!(!ok && text.contains("signature does not match"), "{text}");
    std::fs::write(&checkpoint_file, &checkpoint).unwrap();
    let output = server.cli_with(
        &[("PACKYARD_SECRET", "another secret")],
        &["audit", "verify", "--checkpoint", &checkpoint_arg],
    );
    assert!(!output.status.success());
    assert!(
        output_text(&output).contains("another key"),
        "{}",
        output_text(&output)
    );
}

#[test]
fn tampering_with_the_sqlite_chain_is_found_at_the_entry() {
    tampering_is_found_at_the_entry(None);
}

#[test]
fn tampering_with_the_postgres_chain_is_found_at_the_entry() {
    testkit::needs!(Postgres);
    tampering_is_found_at_the_entry(Some(&postgres_database()));
}

#[test]
fn two_replicas_writing_at_once_on_postgres_keep_one_chain() {
    const EACH: usize = 25;
    testkit::needs!(Postgres);
    let url = postgres_database();
    let first = Server::start_with(&[("DATABASE_URL", &url)]);
    let second = Server::start_with(&[("DATABASE_URL", &url)]);
    let token = first.add_user("admin", true);
    std::thread::scope(|scope| {
        for (n, server) in [&first, &second].into_iter().enumerate() {
            let token = token.clone();
            scope.spawn(move || {
                for i in 0..EACH {
                    let body = serde_json::json!({"name": format!("g{n}-{i}")});
                    let reply = post(
                        &server.url("/api/groups"),
                        &[
                            ("Authorization", &basic("admin", &token)),
                            ("Content-Type", "application/json"),
                        ],
                        body.to_string().as_bytes(),
                    );
                    assert_eq!(reply.status, 201, "{}", reply.text());
                }
            });
        }
    });
    let chain = entries(&url);
    let created: Vec<&AuditEntry> = chain
        .iter()
        .filter(|e| e.action == "group.created")
        .collect();
    assert_eq!(created.len(), 2 * EACH);
    let replicas: BTreeSet<&str> = created.iter().map(|e| e.replica.as_str()).collect();
    assert_eq!(replicas.len(), 2, "both replicas wrote: {replicas:?}");
    for entry in &created {
        assert_eq!(
            (entry.actor.as_str(), entry.credential.as_str()),
            ("admin", "token default"),
            "{entry:?}"
        );
        assert_eq!(entry.client_ip, "127.0.0.1");
    }
    let numbers: Vec<i64> = chain.iter().map(|e| e.seq).collect();
    assert_eq!(numbers, (1..=chain.len() as i64).collect::<Vec<_>>());
    let (ok, text) = verify(&first, &[]);
    assert!(ok, "{text}");
}

#[test]
fn download_counts_say_who_installed_a_version() {
    let server = Server::start();
    let admin = server.add_user("admin", true);
    for version in ["1.0.0", "1.2.3"] {
        let reply = upload(
            &server,
            &admin,
            "acme/lib",
            version,
            &package_zip("acme/lib", &[], version),
        );
        assert_eq!(reply.status, 201, "{}", reply.text());
    }
    let mut tokens = Vec::new();
    for customer in ["alice", "bob", "carol"] {
        tokens.push(server.add_user(customer, false));
    }
    // Alice and Bob install 1.2.3 with the real composer; Carol installs nothing.
    for (customer, token) in [("alice", &tokens[0]), ("bob", &tokens[1])] {
        let project = ComposerProject::new(&server, customer, token);
        let output = project.run(&["require", "acme/lib:1.2.3", "--no-audit"]);
        assert!(output.status.success(), "{}", output_text(&output));
    }
    // Counted in memory, written within the 2 s refresh.
    let downloads = || server.cli_ok(&["audit", "downloads", "acme/lib", "--version", "1.2.3"]);
    eventually(std::time::Duration::from_secs(10), downloads, || {
        downloads().lines().count() == 2
    });
    let text = downloads();
    let who: BTreeSet<&str> = text
        .lines()
        .map(|line| line.split('\t').nth(2).unwrap())
        .collect();
    assert_eq!(who, BTreeSet::from(["alice", "bob"]), "{text}");
    for line in text.lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        assert_eq!(fields[1], "1.2.3.0", "{line}");
        assert_eq!(fields[3], "token default", "{line}");
        assert!(fields[4].parse::<i64>().unwrap() >= 1, "{line}");
    }
    assert!(
        server
            .cli_ok(&["audit", "downloads", "acme/lib", "--version", "1.0.0"])
            .is_empty(),
        "nobody installed 1.0.0"
    );
    // The API answers the same to an admin, and nothing to a customer.
    let reply = get(
        &server.url("/api/audit/downloads?package=acme/lib&version=1.2.3"),
        &[("Authorization", &basic("admin", &admin))],
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    let users: BTreeSet<String> = reply.json()["downloads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["user"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(users, BTreeSet::from(["alice".into(), "bob".into()]));
    let refused = get(
        &server.url("/api/audit/downloads?package=acme/lib"),
        &[("Authorization", &basic("alice", &tokens[0]))],
    );
    assert_eq!(refused.status, 403, "{}", refused.text());
    // The installs' uploads and users are in the log, each by its actor.
    let listed = server.cli_ok(&["audit", "list", "--json", "--limit", "0"]);
    let listed: Vec<Value> = listed
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let published: Vec<&Value> = listed
        .iter()
        .filter(|e| e["action"] == "version.published")
        .collect();
    assert_eq!(published.len(), 2, "{listed:?}");
    for entry in published {
        assert_eq!(entry["actor"], "admin");
        assert_eq!(entry["package"], "acme/lib");
    }
}

#[test]
fn a_forged_prune_is_found_and_a_genuine_one_keeps_the_chain_checkable() {
    let (server, _config) = server_without_mirrors(&[("PACKYARD_SECRET", "audit prune secret")]);
    let kept = TempDir::new("audit-prune");
    // An early checkpoint (of 2 entries; taking it is entry 3), then two more entries.
    for group in ["red", "green"] {
        server.cli_ok(&["group", "add", group]);
    }
    let early_file = kept.path().join("early");
    std::fs::write(&early_file, server.cli_ok(&["audit", "checkpoint"])).unwrap();
    let early_arg = early_file.display().to_string();
    for group in ["blue", "cyan"] {
        server.cli_ok(&["group", "add", group]);
    }
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let checkpoint = server.cli_ok(&["audit", "checkpoint"]);
    let checkpoint_file = kept.path().join("checkpoint");
    std::fs::write(&checkpoint_file, &checkpoint).unwrap();
    let checkpoint_arg = checkpoint_file.display().to_string();
    let refused = server.cli(&["audit", "prune"]);
    assert!(!refused.status.success());
    assert!(output_text(&refused).contains("PACKYARD_AUDIT_RETENTION is not set"));

    // A chain that does not verify is not pruned.
    let url = database_url(&server, None);
    let second = entries(&url).remove(1);
    tamper(&url, "DELETE FROM audit_log WHERE seq = 2");
    let refused = server.cli_with(&[("PACKYARD_AUDIT_RETENTION", "1s")], &["audit", "prune"]);
    assert!(!refused.status.success());
    assert!(
        output_text(&refused).contains("entry 2 was removed"),
        "{}",
        output_text(&refused)
    );
    tamper(&url, &restore_sql(&second));

    // Retention of one second removes the five older entries, not the checkpoint's.
    let pruned = server.cli_with(&[("PACKYARD_AUDIT_RETENTION", "1s")], &["audit", "prune"]);
    assert!(pruned.status.success(), "{}", output_text(&pruned));
    assert!(
        output_text(&pruned).contains("removed 5 audit entries"),
        "{}",
        output_text(&pruned)
    );
    let (ok, text) = verify(&server, &[]);
    assert!(ok, "{text}");
    assert!(
        text.contains("entries up to 5 were removed by retention"),
        "{text}"
    );
    let (ok, text) = verify(&server, &["--checkpoint", &checkpoint_arg]);
    assert!(ok, "a checkpoint of the pruned point still checks: {text}");
    // The early checkpoint's entries are gone: with a retention that allowed it, it can
    // no longer be checked; with one that did not, they were pruned early.
    let check_early = |retention: &str| {
        let output = server.cli_with(
            &[("PACKYARD_AUDIT_RETENTION", retention)],
            &["audit", "verify", "--checkpoint", &early_arg],
        );
        assert!(!output.status.success());
        output_text(&output)
    };
    assert!(check_early("1s").contains("can no longer be checked"));
    assert!(
        check_early("365d").contains("was pruned before PACKYARD_AUDIT_RETENTION allows"),
        "{}",
        check_early("365d")
    );

    // A rotated PACKYARD_SECRET seals the pruned point again: the chain still checks
    // under the new secret.
    let rotated = server.cli_with(
        &[("PACKYARD_SECRET", "the next secret")],
        &["secrets", "rotate", "--old", "audit prune secret"],
    );
    assert!(rotated.status.success(), "{}", output_text(&rotated));
    assert!(output_text(&rotated).contains("sealed the audit log's pruned point"));
    let verified = server.cli_with(
        &[("PACKYARD_SECRET", "the next secret")],
        &["audit", "verify"],
    );
    assert!(verified.status.success(), "{}", output_text(&verified));

    // Someone with the database hides entry 6 by forging a prune past it: the anchor
    // moved by hand, and an `audit.pruned` entry naming it, chained correctly, but
    // without the seal only PACKYARD_SECRET's key makes.
    let chain = entries(&url);
    let first_kept = chain.iter().find(|e| e.seq == 6).unwrap().clone();
    let last = chain.last().unwrap().clone();
    tamper(&url, "DELETE FROM audit_log WHERE seq = 6");
    let mut forged = last.clone();
    forged.seq = last.seq + 1;
    forged.action = "audit.pruned".into();
    forged.object = "entries through 6".into();
    forged.details = serde_json::json!({
        "through": 6, "anchor": first_kept.hash, "seal": "0".repeat(64), "removed": 1
    })
    .to_string();
    forged.prev_hash.clone_from(&last.hash);
    forged.hash = forged.computed_hash();
    tamper(&url, &restore_sql(&forged));
    tamper(
        &url,
        &format!(
            "UPDATE audit_head SET seq = {}, hash = '{}', anchor_seq = 6, anchor_hash = '{}' WHERE id = 1",
            forged.seq, forged.hash, first_kept.hash
        ),
    );
    let (ok, text) = verify(&server, &[]);
    assert!(!ok, "a forged prune passed: {text}");
    assert!(
        text.contains(&format!(
            "entry {} does not follow the point retention pruned to",
            7
        )),
        "{text}"
    );
}

#[test]
fn what_a_job_changes_is_recorded_as_that_job() {
    let server = Server::start();
    let maintainer = server.add_maintainer("maintainer");
    let (repo, _) = crate::common::git::library("acme/lib", "1.0.0");
    let created = create_package(
        &server,
        "maintainer",
        &maintainer,
        &serde_json::json!({"url": repo.url()}),
    );
    assert_eq!(created.status, 201, "{}", created.text());
    repo.write_library("acme/lib", "two", Value::Null);
    repo.commit("two");
    repo.tag("2.0.0");
    let job = update_package(
        &server,
        "maintainer",
        &maintainer,
        &repo.url(),
        std::time::Duration::from_secs(30),
    );
    assert_eq!(job["state"], "succeeded", "{job}");
    let listed = server.cli_ok(&["audit", "list", "--json", "--action", "package"]);
    let entries: Vec<Value> = listed
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let scanned = entries
        .iter()
        .find(|e| e["action"] == "package.scanned")
        .unwrap_or_else(|| panic!("no scan entry: {entries:?}"));
    assert_eq!(scanned["actor_kind"], "system", "{scanned}");
    assert_eq!(
        scanned["credential"],
        format!("job {}", job["id"]),
        "{scanned}"
    );
    assert!(
        scanned["details"]["versions"].to_string().contains("2.0.0"),
        "{scanned}"
    );
    let requested = entries
        .iter()
        .find(|e| e["action"] == "package.scan_requested")
        .unwrap();
    assert_eq!(requested["actor"], "maintainer", "{requested}");
    assert_eq!(requested["details"]["job"], job["id"], "{requested}");
}

#[test]
fn a_token_that_expires_is_recorded_once_by_the_server() {
    let server = Server::start();
    server.add_user("erin", false);
    server.cli_ok(&[
        "token",
        "create",
        "erin",
        "--name",
        "soon",
        "--expires",
        "2s",
    ]);
    let expired = || server.cli_ok(&["audit", "list", "--json", "--action", "token.expired"]);
    eventually(std::time::Duration::from_secs(15), expired, || {
        !expired().is_empty()
    });
    std::thread::sleep(std::time::Duration::from_secs(3));
    let listed = expired();
    assert_eq!(listed.lines().count(), 1, "recorded once: {listed}");
    let entry: Value = serde_json::from_str(listed.lines().next().unwrap()).unwrap();
    assert_eq!(entry["object"], "erin/soon", "{entry}");
    assert_eq!(entry["actor_kind"], "system", "{entry}");
    assert_eq!(entry["credential"], "token expiry", "{entry}");
}

#[test]
fn a_mirrors_configuration_is_recorded_when_it_changes() {
    let dir = TempDir::new("audit-mirror-config");
    let config = dir.path().join("config.yaml");
    let write = |strict: bool| {
        std::fs::write(
            &config,
            format!(
                "mirrors:\n  packagist: false\n  partner:\n    url: http://T0KEN-abc@127.0.0.1:9/upstream?key=SECRET\n    strict: {strict}\n"
            ),
        )
        .unwrap();
    };
    write(false);
    let mut server = Server::start_with(&[("PACKYARD_CONFIG", config.to_str().unwrap())]);
    let recorded = |server: &Server| -> Vec<Value> {
        server
            .cli_ok(&["audit", "list", "--json", "--action", "mirror.configured"])
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    };
    let first = recorded(&server);
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!(first[0]["object"], "partner");
    assert_eq!(
        first[0]["details"]["url"], "http://127.0.0.1:9/upstream",
        "{}",
        first[0]
    );
    assert_eq!(first[0]["details"]["strict"], false);
    assert_eq!(first[0]["credential"], "start-up");
    // A restart with the same configuration records nothing; a changed one, the change.
    server.restart_with(&[]);
    assert_eq!(recorded(&server).len(), 1);
    write(true);
    server.restart_with(&[]);
    let after = recorded(&server);
    assert_eq!(after.len(), 2, "{after:?}");
    assert_eq!(after[0]["details"]["strict"], true);
    assert!(
        !after
            .iter()
            .any(|e| e.to_string().contains("T0KEN") || e.to_string().contains("SECRET"))
    );
}
