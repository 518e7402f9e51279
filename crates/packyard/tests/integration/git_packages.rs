//! Git packages end to end: added over the API, scanned, installed by the real composer,
//! dists built into the dist store, updated by webhooks.

use std::time::{Duration, Instant};

use crate::common::git::{GitRepo, library};
use crate::common::*;
use serde_json::{Value, json};

const LIB: &str = "acme/lib";
/// How long a re-scan queued by a push hook may take.
const SCAN_LIMIT: Duration = Duration::from_secs(30);

/// The repository of the issue: tags `v1.0.0`, `1.1.0` and a tag with broken
/// composer.json, a `main` branch and a `2.x` branch with a branch alias.
struct Fixture {
    repo: GitRepo,
    v100: String,
    v110: String,
    main: String,
}

fn fixture() -> Fixture {
    let (repo, v100) = library(LIB, "v1.0.0");
    repo.write_library(LIB, "1.1.0", Value::Null);
    let v110 = repo.commit("1.1.0");
    repo.tag("1.1.0");
    repo.write("composer.json", "{ this is not json");
    repo.commit("broken");
    repo.tag("1.2.0");
    repo.git(&["checkout", "--quiet", "-b", "2.x"]);
    repo.write_library(
        LIB,
        "2.x",
        json!({"branch-alias": {"dev-2.x": "2.1.x-dev"}}),
    );
    repo.commit("2.x line");
    repo.git(&["checkout", "--quiet", "main"]);
    repo.write_library(
        LIB,
        "main",
        json!({"branch-alias": {"dev-main": "3.0.x-dev"}}),
    );
    let main = repo.commit("main line");
    Fixture {
        repo,
        v100,
        v110,
        main,
    }
}

fn require(server: &Server, token: &str, constraint: &str, stability: &str) -> ComposerProject {
    let project = ComposerProject::new(server, "maintainer", token);
    let output = project.run(&["config", "minimum-stability", stability]);
    assert!(output.status.success(), "{}", output_text(&output));
    project.require(&format!("{LIB}:{constraint}"));
    project
}

fn locked(project: &ComposerProject) -> Value {
    project.lock()["packages"][0].clone()
}

/// The whole story on one configuration of database and storage.
fn git_package_lifecycle(env: &[(&str, &str)], dist_keys: impl Fn(&Server) -> Vec<String>) {
    let f = fixture();
    let server = Server::start_with(env);
    let reader = server.add_user("reader", false);
    let token = server.add_maintainer("maintainer");
    // Plain users may not add packages; maintainers may.
    let forbidden = create_package(&server, "reader", &reader, &json!({"url": f.repo.url()}));
    assert_eq!(forbidden.status, 403, "{}", forbidden.text());
    let created = create_package(&server, "maintainer", &token, &json!({"url": f.repo.url()}));
    assert_eq!(created.status, 201, "{}", created.text());
    assert_eq!(created.json()["package"], LIB);
    let skipped = created.json()["skipped"].to_string();
    assert!(
        skipped.contains("1.2.0"),
        "the broken tag is skipped with a reason: {skipped}"
    );

    let tagged = versions(&server, "maintainer", &token, LIB);
    assert!(
        tagged.contains(&("v1.0.0".into(), f.v100.clone())),
        "{tagged:?}"
    );
    assert!(
        tagged.contains(&("1.1.0".into(), f.v110.clone())),
        "{tagged:?}"
    );
    assert!(
        !tagged.iter().any(|(v, _)| v.starts_with("1.2")),
        "{tagged:?}"
    );
    let dev: Vec<String> = versions(&server, "maintainer", &token, "acme/lib~dev")
        .into_iter()
        .map(|(v, _)| v)
        .collect();
    assert!(
        dev.contains(&"dev-main".to_string()) && dev.contains(&"2.x-dev".to_string()),
        "{dev:?}"
    );

    let stable = require(&server, &token, "^1.0", "stable");
    assert!(
        stable
            .installed_file("acme/lib/src/Lib.php")
            .unwrap()
            .contains("'1.1.0'")
    );
    assert!(
        stable
            .installed_file("acme/lib/tests/LibTest.php")
            .is_none(),
        "export-ignore is honoured"
    );
    let lock = locked(&stable);
    assert_eq!(lock["source"]["reference"], f.v110);
    assert_eq!(
        lock["dist"]["url"],
        server.url(&format!("/zipball/{LIB}/{}.zip", f.v110))
    );

    let dev_main = require(&server, &token, "dev-main", "dev");
    assert!(
        dev_main
            .installed_file("acme/lib/src/Lib.php")
            .unwrap()
            .contains("'main'")
    );
    assert_eq!(locked(&dev_main)["source"]["reference"], f.main);

    let keys = dist_keys(&server);
    for expected in [
        format!("acme/lib/1.1.0-{}.zip", f.v110),
        format!("acme/lib/dev-main-{}.zip", f.main),
    ] {
        assert!(
            keys.iter().any(|k| k.ends_with(&expected)),
            "{expected} not in {keys:?}"
        );
    }

    // A new tag and a push hook: composer update sees it.
    f.repo.write_library(LIB, "1.3.0", Value::Null);
    let v130 = f.repo.commit("1.3.0");
    f.repo.tag("1.3.0");
    let job = update_package(&server, "maintainer", &token, &f.repo.url(), SCAN_LIMIT);
    assert_eq!(job["state"], "succeeded", "{job}");
    let output = stable.run(&["update", "--no-audit"]);
    assert!(output.status.success(), "{}", output_text(&output));
    assert_eq!(locked(&stable)["source"]["reference"], v130);

    // A deleted tag disappears.
    f.repo.git(&["tag", "-d", "1.1.0"]);
    assert_eq!(
        update_package(&server, "maintainer", &token, &f.repo.url(), SCAN_LIMIT)["state"],
        "succeeded"
    );
    let tagged = versions(&server, "maintainer", &token, LIB);
    assert!(!tagged.iter().any(|(v, _)| v == "1.1.0"), "{tagged:?}");
    assert!(tagged.iter().any(|(v, _)| v == "1.3.0"), "{tagged:?}");

    // A failed scan keeps git's error and loses no version.
    std::fs::rename(f.repo.path().join(".git"), f.repo.path().join("moved.git")).unwrap();
    let failed = update_package(&server, "maintainer", &token, &f.repo.url(), SCAN_LIMIT);
    assert_eq!(failed["state"], "failed", "{failed}");
    assert!(
        failed["error"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("git"),
        "{failed}"
    );
    assert_eq!(versions(&server, "maintainer", &token, LIB), tagged);
}

/// The keys of the dists in the local dist store.
fn local_dist_keys(server: &Server) -> Vec<String> {
    files_under(&server.data.path().join("zipball"))
}

#[test]
fn git_package_on_sqlite_and_local_disk() {
    testkit::needs!(Composer, Git);
    git_package_lifecycle(&[], local_dist_keys);
}

#[test]
fn git_package_on_postgres() {
    testkit::needs!(Postgres, Composer, Git);
    let database = postgres_database();
    git_package_lifecycle(&[("DATABASE_URL", &database)], local_dist_keys);
}

#[test]
fn git_package_on_s3() {
    testkit::needs!(S3sFs, Composer, Git);
    let s3 = testkit::S3sFs::start("dists");
    let args = s3.storage_aws_args();
    git_package_lifecycle(
        &[
            ("STORAGE_SOURCE", "s3"),
            ("STORAGE_AWS_BUCKET", "dists"),
            ("STORAGE_AWS_ARGS", &args),
        ],
        |_| {
            s3.keys("dists")
                .into_iter()
                .filter_map(|k| k.strip_prefix("packeton/").map(str::to_owned))
                .collect()
        },
    );
}

fn download(server: &Server, token: &str, reference: &str) -> Reply {
    get(
        &server.url(&format!("/zipball/{LIB}/{reference}.zip")),
        &[("Authorization", &basic("maintainer", token))],
    )
}

#[test]
fn prebuilt_dists_exist_before_any_download() {
    testkit::needs!(Git);
    let f = fixture();
    let (server, token) = server_with_maintainer(&[
        ("PACKYARD_PREBUILD_DISTS", "1"),
        ("RUST_LOG", "packyard=info"),
    ]);
    let created = create_package(&server, "maintainer", &token, &json!({"url": f.repo.url()}));
    assert_eq!(created.status, 201, "{}", created.text());
    // Nothing has been downloaded: every dist must already be in the store, with its
    // sha1 published.
    let mut documents = version_documents(&server, "maintainer", &token, LIB);
    documents.extend(version_documents(
        &server,
        "maintainer",
        &token,
        "acme/lib~dev",
    ));
    let by_version: Vec<(String, String, String)> = documents
        .iter()
        .map(|v| {
            (
                v["version"].as_str().unwrap().to_owned(),
                v["dist"]["reference"].as_str().unwrap().to_owned(),
                v["dist"]["shasum"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    for (version, commit) in [("1.1.0", &f.v110), ("dev-main", &f.main)] {
        assert!(
            by_version
                .iter()
                .any(|(v, r, _)| v == version && r == commit),
            "{version} at {commit} not published: {by_version:?}"
        );
    }
    assert!(
        by_version.iter().any(|(_, r, _)| r == &f.v100),
        "{by_version:?}"
    );
    let keys = local_dist_keys(&server);
    assert_eq!(
        keys.len(),
        by_version.len(),
        "one dist per version before any download: {keys:?} for {by_version:?}"
    );
    for (version, reference, shasum) in &by_version {
        let key = format!("acme/lib/{version}-{reference}.zip");
        let path = server.data.path().join("zipball").join(&key);
        let stored = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("{key} is not in the dist store ({e}): {keys:?}"));
        assert_eq!(
            shasum,
            &sha1_hex(&stored),
            "the published shasum of {version} is the sha1 of the stored archive"
        );
    }
    assert_eq!(
        server.log_lines("dist archive built"),
        by_version.len(),
        "each dist was built once, during the scan"
    );

    // Downloading serves exactly the stored bytes, without building anything again.
    let stored = std::fs::read(
        server
            .data
            .path()
            .join("zipball")
            .join(format!("acme/lib/1.1.0-{}.zip", f.v110)),
    )
    .unwrap();
    let downloaded = download(&server, &token, &f.v110);
    assert_eq!(downloaded.status, 200, "{}", downloaded.text());
    assert_eq!(
        downloaded.header("content-length"),
        Some(stored.len().to_string())
    );
    assert!(
        downloaded.body == stored,
        "the download is the stored archive"
    );
    assert_eq!(server.log_lines("dist archive built"), by_version.len());
}

#[test]
fn scheduled_rescans_pick_up_new_tags_without_webhooks() {
    testkit::needs!(Git);
    let f = fixture();
    let (server, token) = server_with_maintainer(&[("PACKYARD_UPDATE_INTERVAL", "1")]);
    let created = create_package(&server, "maintainer", &token, &json!({"url": f.repo.url()}));
    assert_eq!(created.status, 201, "{}", created.text());
    let before = versions(&server, "maintainer", &token, LIB);
    assert!(!before.iter().any(|(v, _)| v == "1.3.0"), "{before:?}");

    f.repo.write_library(LIB, "1.3.0", Value::Null);
    let v130 = f.repo.commit("1.3.0");
    f.repo.tag("1.3.0");
    let started = Instant::now();
    let deadline = started + Duration::from_secs(10);
    loop {
        let now = versions(&server, "maintainer", &token, LIB);
        if now.contains(&("1.3.0".to_string(), v130.clone())) {
            println!(
                "scheduled re-scan published 1.3.0 after {:?}",
                started.elapsed()
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no scheduled re-scan published 1.3.0 within 10 s: {now:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // A deleted tag goes the same way.
    f.repo.git(&["tag", "-d", "1.1.0"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = versions(&server, "maintainer", &token, LIB);
        if !now.iter().any(|(v, _)| v == "1.1.0") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no scheduled re-scan removed 1.1.0 within 10 s: {now:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn concurrent_first_downloads_build_a_dist_once() {
    testkit::needs!(Git);
    let f = fixture();
    let (server, token) = server_with_maintainer(&[("RUST_LOG", "packyard=info")]);
    let created = create_package(&server, "maintainer", &token, &json!({"url": f.repo.url()}));
    assert_eq!(created.status, 201, "{}", created.text());
    assert!(
        local_dist_keys(&server).is_empty(),
        "dists are built on first download"
    );
    assert_eq!(
        server.log_lines("dist archive built"),
        0,
        "{}",
        server.log()
    );

    let started = Instant::now();
    let replies: Vec<Reply> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..30)
            .map(|_| scope.spawn(|| download(&server, &token, &f.v110)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let elapsed = started.elapsed();
    for reply in &replies {
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert!(
            reply.body == replies[0].body,
            "every client got the same bytes"
        );
    }
    let key = format!("acme/lib/1.1.0-{}.zip", f.v110);
    let stored = std::fs::read(server.data.path().join("zipball").join(&key))
        .unwrap_or_else(|e| panic!("{key} is not in the dist store: {e}"));
    assert!(
        replies[0].body == stored,
        "the bytes are the stored archive"
    );
    server.wait_for_log("dist archive built", 1, Duration::from_secs(5));
    // Give a second, late build every chance to show up in the log.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        server.log_lines("dist archive built"),
        1,
        "the dist was built exactly once:\n{}",
        server.log()
    );
    assert_eq!(local_dist_keys(&server), [key]);
    let published: Vec<String> = version_documents(&server, "maintainer", &token, LIB)
        .iter()
        .filter(|v| v["dist"]["reference"] == f.v110.as_str())
        .map(|v| v["dist"]["shasum"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(published, [sha1_hex(&stored)]);
    println!("30 concurrent first downloads served in {elapsed:?}");

    // A replica that stored the archive and died before recording its sha1 leaves the
    // version with an empty shasum: the next download publishes the stored bytes' sha1.
    let mut server = server;
    server.stop();
    let database = server.data.path().join("packyard.db");
    let forgotten = std::process::Command::new("python3")
        .args([
            "-c",
            "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(\"UPDATE versions SET shasum=''\"); c.commit()",
        ])
        .arg(&database)
        .status()
        .unwrap();
    assert!(forgotten.success());
    server.restart_with(&[]);
    let shasum_of_v110 = |server: &Server| -> Vec<String> {
        version_documents(server, "maintainer", &token, LIB)
            .iter()
            .filter(|v| v["dist"]["reference"] == f.v110.as_str())
            .map(|v| v["dist"]["shasum"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    assert_eq!(shasum_of_v110(&server), [""], "the crash's state");
    assert_eq!(download(&server, &token, &f.v110).status, 200);
    assert_eq!(shasum_of_v110(&server), [sha1_hex(&stored)], "recovered");
}
