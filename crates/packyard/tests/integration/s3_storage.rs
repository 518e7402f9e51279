//! packyard on S3 (s3s-fs, a real SigV4 server): installs, key layout, migrate and
//! verify, outages, and start-up checks.

use std::time::{Duration, Instant};

use crate::common::*;
use testkit::S3sFs;

const BUCKET: &str = "packages";
const LIB: &str = "acme/lib";
const APP: &str = "acme/app";

fn s3_env(s3: &S3sFs) -> Vec<(&'static str, String)> {
    vec![
        ("STORAGE_SOURCE", "s3".into()),
        ("STORAGE_AWS_BUCKET", BUCKET.into()),
        ("STORAGE_AWS_ARGS", s3.storage_aws_args()),
    ]
}

fn borrowed<'a>(env: &'a [(&'a str, String)]) -> Vec<(&'a str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

fn install(server: &Server, token: &str, package: &str) -> ComposerProject {
    let project = ComposerProject::new(server, "admin", token);
    project.require(package);
    project
}

#[test]
fn composer_installs_from_s3_with_packeton_key_layout() {
    testkit::needs!(S3sFs, Composer);
    let s3 = S3sFs::start(BUCKET);
    let mut env = s3_env(&s3);
    env.push(("STORAGE_AWS_ARTIFACT_PREFIX", "team/artifact".into()));
    let server = Server::start_with(&borrowed(&env));
    let admin = server.add_user("admin", true);
    let lib = package_zip(LIB, &[], "lib-s3");
    let app = package_zip(APP, &[(LIB, "^1.0")], "app-s3");
    assert_eq!(upload(&server, &admin, LIB, "1.0.0", &lib).status, 201);
    assert_eq!(upload(&server, &admin, APP, "1.0.0", &app).status, 201);

    let project = install(&server, &admin, APP);
    assert!(
        project
            .installed_file("acme/lib/src/Lib.php")
            .unwrap()
            .contains("lib-s3")
    );
    assert!(
        project
            .installed_file("acme/app/src/App.php")
            .unwrap()
            .contains("app-s3")
    );

    let keys = s3.keys(BUCKET);
    for archive in [&lib, &app] {
        let key = format!("team/artifact/{}.zip", sha1_hex(archive));
        assert!(keys.contains(&key), "{key} not in {keys:?}");
    }
    assert!(
        keys.iter().all(|k| k.starts_with("team/artifact/")),
        "only artifacts were written, all under the configured prefix: {keys:?}"
    );
    assert!(
        !server.data.path().join("artifact").exists(),
        "nothing stored on local disk"
    );
}

#[test]
fn migrate_round_trips_and_verify_finds_damage() {
    testkit::needs!(S3sFs, Composer);
    let s3 = S3sFs::start(BUCKET);
    // Start on local disk, with the S3 settings present but not selected.
    let mut env = s3_env(&s3);
    env.retain(|(name, _)| *name != "STORAGE_SOURCE");
    let mut server = Server::start_with(&borrowed(&env));
    let admin = server.add_user("admin", true);
    let lib = package_zip(LIB, &[], "migrated");
    let app = package_zip(APP, &[(LIB, "^1.0")], "migrated-app");
    assert_eq!(upload(&server, &admin, LIB, "1.0.0", &lib).status, 201);
    assert_eq!(upload(&server, &admin, APP, "1.0.0", &app).status, 201);
    server.stop();

    let to_s3 = server.cli(&["storage", "migrate", "--to", "s3"]);
    assert!(to_s3.status.success(), "{}", output_text(&to_s3));
    assert!(
        String::from_utf8_lossy(&to_s3.stdout).contains("copied 2 objects"),
        "{}",
        output_text(&to_s3)
    );
    let again = server.cli(&["storage", "migrate", "--to", "s3"]);
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("copied 0 objects")
            && String::from_utf8_lossy(&again.stdout).contains("skipped 2"),
        "a second run resumes: {}",
        output_text(&again)
    );
    assert_eq!(s3.keys(BUCKET).len(), 2, "{:?}", s3.keys(BUCKET));

    // Lose the local copies, then bring them back from S3.
    std::fs::remove_dir_all(server.data.path().join("artifact")).unwrap();
    let back = server.cli_with(
        &[("STORAGE_SOURCE", "s3")],
        &["storage", "migrate", "--to", "local"],
    );
    assert!(back.status.success(), "{}", output_text(&back));
    let verify = server.cli(&["storage", "verify"]);
    assert!(verify.status.success(), "{}", output_text(&verify));
    assert!(String::from_utf8_lossy(&verify.stdout).contains("checked 2 versions, 0 problems"));

    server.restart_with(&[]);
    let project = install(&server, &admin, APP);
    assert!(
        project
            .installed_file("acme/lib/src/Lib.php")
            .unwrap()
            .contains("migrated")
    );

    // verify names the version whose object disappeared, and fails.
    std::fs::remove_file(
        server
            .data
            .path()
            .join("artifact")
            .join(format!("{}.zip", sha1_hex(&lib))),
    )
    .unwrap();
    let damaged = server.cli(&["storage", "verify"]);
    assert!(!damaged.status.success());
    let report = String::from_utf8_lossy(&damaged.stdout);
    assert!(
        report.contains("acme/lib 1.0.0") && report.contains("object is missing"),
        "{}",
        output_text(&damaged)
    );
    assert!(
        report.contains("checked 2 versions, 1 problems"),
        "{report}"
    );
}

#[test]
fn an_s3_outage_answers_503_quickly_and_heals() {
    testkit::needs!(S3sFs);
    let mut s3 = S3sFs::start(BUCKET);
    let mut env = s3_env(&s3);
    // No local copies: every download must reach S3.
    env.push(("PACKYARD_ARTIFACT_CACHE_MAX", "0".into()));
    let server = Server::start_with(&borrowed(&env));
    let admin = server.add_user("admin", true);
    let lib = package_zip(LIB, &[], "before");
    assert_eq!(upload(&server, &admin, LIB, "1.0.0", &lib).status, 201);
    let auth = basic("admin", &admin);
    let zipball = server.url(&format!("/zipball/acme/lib/{}.zip", sha1_hex(&lib)));
    let metadata_before = get(
        &server.url("/p2/acme/lib.json"),
        &[("Authorization", &auth)],
    )
    .body;
    s3.stop();

    let started = Instant::now();
    let download = get(&zipball, &[("Authorization", &auth)]);
    let elapsed = started.elapsed();
    assert_eq!(download.status, 503, "{}", download.text());
    assert!(
        elapsed < Duration::from_secs(2),
        "answered after {elapsed:?}"
    );
    assert!(
        download.json()["message"]
            .as_str()
            .unwrap()
            .contains("storage"),
        "{}",
        download.text()
    );

    let started = Instant::now();
    let refused = upload(
        &server,
        &admin,
        LIB,
        "1.1.0",
        &package_zip(LIB, &[], "during"),
    );
    assert_eq!(refused.status, 503, "{}", refused.text());
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "upload answered after {:?}",
        started.elapsed()
    );
    let metadata_during = get(
        &server.url("/p2/acme/lib.json"),
        &[("Authorization", &auth)],
    );
    assert_eq!(
        metadata_during.status, 200,
        "metadata is served from memory during the outage"
    );
    assert_eq!(
        metadata_during.body, metadata_before,
        "nothing partial was recorded"
    );

    s3.restart();
    let healed = get(&zipball, &[("Authorization", &auth)]);
    assert_eq!(healed.status, 200, "{}", healed.text());
    assert_eq!(healed.body, lib);
    assert_eq!(
        upload(
            &server,
            &admin,
            LIB,
            "1.1.0",
            &package_zip(LIB, &[], "after")
        )
        .status,
        201
    );
}

#[test]
fn start_up_names_what_is_wrong_with_storage() {
    testkit::needs!(S3sFs, Moto);
    let s3 = S3sFs::start(BUCKET);
    let env = s3_env(&s3);
    let server = Server::start_with(&borrowed(&env));

    // s3s-fs creates buckets on demand; moto answers NoSuchBucket like AWS.
    let moto = testkit::Moto::start();
    let moto_args = format!(
        r#"{{"endpoint":"{}","accessKeyId":"a","accessKeySecret":"b"}}"#,
        moto.service.url()
    );
    let missing_bucket = server.start_failure(&[
        ("STORAGE_AWS_ARGS", &moto_args),
        ("STORAGE_AWS_BUCKET", "no-such-bucket"),
    ]);
    assert!(
        missing_bucket.contains("bucket or container does not exist"),
        "{missing_bucket}"
    );

    let wrong_secret = s3
        .storage_aws_args()
        .replace(testkit::S3_SECRET_KEY, "wrong-secret");
    let denied = server.start_failure(&[("STORAGE_AWS_ARGS", &wrong_secret)]);
    assert!(denied.contains("access denied"), "{denied}");

    let closed = format!(
        r#"{{"endpoint":"http://127.0.0.1:{}","accessKeyId":"a","accessKeySecret":"b"}}"#,
        testkit::free_port()
    );
    let unreachable = server.start_failure(&[("STORAGE_AWS_ARGS", &closed)]);
    assert!(unreachable.contains("unreachable"), "{unreachable}");

    let bad_json = server.start_failure(&[("STORAGE_AWS_ARGS", "{not json")]);
    assert!(
        bad_json
            .trim_start_matches("error: ")
            .starts_with("STORAGE_AWS_ARGS: invalid JSON"),
        "{bad_json}"
    );
    let unknown = server.start_failure(&[("STORAGE_SOURCE", "gcloud")]);
    assert!(
        unknown.contains("STORAGE_SOURCE: unknown source"),
        "{unknown}"
    );

    let check = server.cli(&["storage", "check"]);
    assert!(check.status.success(), "{}", output_text(&check));
    assert!(String::from_utf8_lossy(&check.stdout).contains("artifact"));
}

#[test]
fn with_dist_redirect_archives_are_presigned_redirects_that_composer_follows() {
    testkit::needs!(S3sFs, Composer);
    let s3 = S3sFs::start(BUCKET);
    let mut env = s3_env(&s3);
    env.push(("PACKYARD_DIST_REDIRECT", "1".into()));
    let server = Server::start_with(&borrowed(&env));
    let admin = server.add_user("admin", true);
    let lib = package_zip(LIB, &[], "lib-presigned");
    assert_eq!(upload(&server, &admin, LIB, "1.0.0", &lib).status, 201);

    // The archive route answers with where to fetch it, not with its bytes.
    let reply = p2(&server, "admin", &admin, LIB);
    let dist = p2_documents(&reply, LIB)[0]["dist"]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let auth = [("Authorization", basic("admin", &admin))];
    let auth = borrowed(&auth);
    let redirect = get(&dist, &auth);
    assert_eq!(redirect.status, 302, "{}", redirect.text());
    assert!(redirect.body.is_empty());
    assert_eq!(
        redirect.header("cache-control").as_deref(),
        Some("no-store")
    );
    let location = redirect.header("location").unwrap();
    assert!(
        location.starts_with(&format!("{}/{BUCKET}/", s3.service.url()))
            && location.contains("X-Amz-Signature=")
            && location.contains("X-Amz-Expires=300"),
        "{location}"
    );
    // The presigned URL works without any credentials of ours, and only as signed.
    let fetched = get(&location, &[]);
    assert_eq!(fetched.status, 200);
    assert_eq!(sha1_hex(&fetched.body), sha1_hex(&lib));
    let signature = location.find("X-Amz-Signature=").unwrap() + "X-Amz-Signature=".len();
    let flipped = if &location[signature..=signature] == "0" {
        "1"
    } else {
        "0"
    };
    let tampered = format!(
        "{}{flipped}{}",
        &location[..signature],
        &location[signature + 1..]
    );
    assert_eq!(get(&tampered, &[]).status, 403, "{tampered}");
    // Unauthenticated clients still get no redirect, and unknown archives are 404s.
    assert_eq!(get(&dist, &[]).status, 401);
    let unknown = dist.replace(&sha1_hex(&lib), &"0".repeat(40));
    assert_eq!(get(&unknown, &auth).status, 404);
    // A user whose groups do not grant the package is told it does not exist, byte for
    // byte as for an archive that does not (the answer names the reference asked
    // for): no redirect, no hint of the object.
    let stranger = server.add_plain_user("stranger", &[]);
    let stranger_auth = [("Authorization", basic("stranger", &stranger))];
    let stranger_auth = borrowed(&stranger_auth);
    let hidden = get(&dist, &stranger_auth);
    let absent = get(&unknown, &stranger_auth);
    assert_eq!(hidden.status, 404, "{}", hidden.text());
    assert!(hidden.header("location").is_none());
    assert_eq!(
        hidden.text(),
        absent.text().replace(&"0".repeat(40), &sha1_hex(&lib))
    );

    // The real client follows the redirect to the store and installs the package.
    let project = install(&server, &admin, LIB);
    assert!(
        project
            .installed_file("acme/lib/src/Lib.php")
            .unwrap()
            .contains("lib-presigned")
    );

    // An archive recorded but gone from the bucket is a 404, not a redirect to nothing.
    std::fs::remove_file(
        s3.root
            .join(BUCKET)
            .join(format!("artifact/{}.zip", sha1_hex(&lib))),
    )
    .unwrap();
    let gone = get(&dist, &auth);
    assert_eq!(gone.status, 404, "{}", gone.text());

    // Only meaningful with S3: anything else is a start-up error naming the variable.
    let refused = server.start_failure(&[("STORAGE_SOURCE", "local")]);
    assert!(
        refused.contains("PACKYARD_DIST_REDIRECT=1 needs archive stores on S3"),
        "{refused}"
    );
}

/// A replica that starts while its store is paused (a stalled S3, as under SIGSTOP)
/// waits for it, as the README says start-up does for a slow store, instead of exiting
/// on the first stalled probe; once the store answers again it serves.
#[test]
fn a_replica_started_while_the_store_is_paused_waits_for_it() {
    testkit::needs!(S3sFs);
    let s3 = S3sFs::start(BUCKET);
    let env = s3_env(&s3);
    s3.service.pause();
    let started = Instant::now();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            std::thread::sleep(Duration::from_secs(6));
            s3.service.resume();
        });
        let server = Server::start_with(&borrowed(&env));
        let waited = started.elapsed();
        assert!(waited >= Duration::from_secs(5), "serving after {waited:?}");
        server.wait_for_log("checking again", 1, Duration::from_secs(5));
        let admin = server.add_user("admin", true);
        let lib = package_zip(LIB, &[], "after-the-pause");
        assert_eq!(upload(&server, &admin, LIB, "1.0.0", &lib).status, 201);
    });
}
