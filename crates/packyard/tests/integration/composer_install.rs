//! The real `composer` client installs uploaded packages from the real server.

use crate::common::*;

const LIB: &str = "acme/lib";
const APP: &str = "acme/app";

#[test]
fn composer_requires_an_app_and_its_dependency() {
    testkit::needs!(Composer);
    requires_an_app_and_its_dependency(&Server::start());
}

#[test]
fn composer_requires_an_app_and_its_dependency_on_postgres() {
    testkit::needs!(Postgres, Composer);
    let database = postgres_database();
    requires_an_app_and_its_dependency(&Server::start_with(&[("DATABASE_URL", &database)]));
}

fn requires_an_app_and_its_dependency(server: &Server) {
    let admin = server.add_user("admin", true);
    let reader = server.add_user("reader", false);

    let lib_zip = package_zip(LIB, &[], "lib-1.0.0");
    let app_zip = package_zip(APP, &[(LIB, "^1.0")], "app-1.0.0");
    let created = upload(server, &admin, LIB, "1.0.0", &lib_zip);
    assert_eq!(created.status, 201, "{}", created.text());
    assert_eq!(created.json()["shasum"], sha1_hex(&lib_zip));
    assert_eq!(upload(server, &admin, APP, "1.0.0", &app_zip).status, 201);
    // The same bytes again change nothing.
    let again = upload(server, &admin, LIB, "1.0.0", &lib_zip);
    assert_eq!(
        (again.status, again.json()["outcome"].as_str()),
        (200, Some("unchanged"))
    );

    let project = ComposerProject::new(server, "reader", &reader);
    project.require(APP);
    assert!(
        project
            .installed_file("acme/lib/src/Lib.php")
            .unwrap()
            .contains("lib-1.0.0")
    );
    assert!(
        project
            .installed_file("acme/app/src/App.php")
            .unwrap()
            .contains("app-1.0.0")
    );

    let lock = project.lock();
    let locked = lock["packages"].as_array().unwrap();
    assert_eq!(locked.len(), 2, "{lock}");
    for (name, archive) in [(LIB, &lib_zip), (APP, &app_zip)] {
        let package = locked.iter().find(|p| p["name"] == name).unwrap();
        let sha1 = sha1_hex(archive);
        assert_eq!(package["version"], "1.0.0");
        assert_eq!(package["dist"]["shasum"], sha1);
        assert_eq!(package["dist"]["reference"], sha1);
        assert_eq!(
            package["dist"]["url"],
            server.url(&format!("/zipball/{name}/{sha1}.zip"))
        );
    }

    // A second project installs from the lock file alone.
    let second = ComposerProject::new(server, "reader", &reader);
    std::fs::copy(
        project.dir.path().join("composer.json"),
        second.dir.path().join("composer.json"),
    )
    .unwrap();
    std::fs::copy(
        project.dir.path().join("composer.lock"),
        second.dir.path().join("composer.lock"),
    )
    .unwrap();
    let output = second.run(&["install"]);
    assert!(output.status.success(), "{}", output_text(&output));
    assert!(second.installed_file("acme/lib/src/Lib.php").is_some());
}

#[test]
fn composer_reports_a_wrong_token() {
    testkit::needs!(Composer);
    let server = Server::start();
    let admin = server.add_user("admin", true);
    assert_eq!(
        upload(&server, &admin, LIB, "1.0.0", &package_zip(LIB, &[], "x")).status,
        201
    );
    server.add_user("reader", false);

    let project = ComposerProject::new(&server, "reader", "not-the-token");
    let output = project.run(&["require", LIB, "--no-audit"]);
    assert!(!output.status.success(), "{}", output_text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("authentication") || stderr.contains("401"),
        "expected composer's auth error: {}",
        output_text(&output)
    );
    assert!(project.installed_file("acme/lib/src/Lib.php").is_none());
}

#[test]
fn downloads_are_counted_from_notify_batch() {
    let server = Server::start();
    let admin = server.add_user("admin", true);
    assert_eq!(
        upload(&server, &admin, LIB, "1.0.0", &package_zip(LIB, &[], "a")).status,
        201
    );
    let auth = basic("admin", &admin);
    let root = get(&server.url("/packages.json"), &[("Authorization", &auth)]).json();
    assert_eq!(root["available-packages"], serde_json::json!([LIB]));
    let notify = root["notify-batch"].as_str().unwrap().to_owned();
    let as_json = [
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/json"),
    ];
    // The attack: one batch that repeats one install 1,400 times is one install; a
    // second batch (another composer run) is a second.
    let entry = serde_json::json!({"name": "Acme/Lib", "version": "1.0.0.0"});
    let batch = serde_json::json!({"downloads": vec![entry; 1400]}).to_string();
    for _ in 0..2 {
        assert_eq!(post(&notify, &as_json, batch.as_bytes()).status, 200);
    }
    assert_eq!(post(&notify, &as_json, b"{not json").status, 400);
    // Composer sends its batch as JSON; a form (what another site's page could post)
    // is not read.
    assert_eq!(
        post(
            &notify,
            &[("Authorization", &auth), ("Content-Type", "text/plain")],
            batch.as_bytes()
        )
        .status,
        415
    );
    let output = server.cli(&["package", "downloads", LIB]);
    assert!(output.status.success(), "{}", output_text(&output));
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("1.0.0.0\t2"),
        "{}",
        output_text(&output)
    );
    let stats = get(
        &server.url("/packages/acme/lib/stats.json"),
        &[("Authorization", &auth)],
    )
    .json();
    assert_eq!(stats["downloads"]["total"], 2, "{stats}");
}

#[test]
fn public_url_and_public_access_are_honoured() {
    let server = Server::start_with(&[
        ("PACKYARD_PUBLIC_URL", "https://php.example.test/"),
        ("PUBLIC_ACCESS", "1"),
    ]);
    let admin = server.add_user("admin", true);
    let archive = package_zip(LIB, &[], "a");
    assert_eq!(upload(&server, &admin, LIB, "1.0.0", &archive).status, 201);

    // Anonymous reads are allowed, of public packages only; URLs use the public base,
    // not the Host header.
    let root = get(&server.url("/packages.json"), &[]);
    assert_eq!(root.status, 200);
    assert_eq!(
        root.json()["metadata-url"],
        "https://php.example.test/p2/%package%.json"
    );
    assert_eq!(root.json()["available-packages"], serde_json::json!([]));
    assert_eq!(get(&server.url("/p2/acme/lib.json"), &[]).status, 404);
    let public = server.cli(&["package", "set", LIB, "--public"]);
    assert!(public.status.success(), "{}", output_text(&public));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(8);
    while get(&server.url("/p2/acme/lib.json"), &[]).status != 200 {
        assert!(std::time::Instant::now() < deadline, "never became public");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let p2 = get(&server.url("/p2/acme/lib.json"), &[]).json();
    let sha1 = sha1_hex(&archive);
    assert_eq!(
        p2["packages"][LIB][0]["dist"]["url"],
        format!("https://php.example.test/zipball/acme/lib/{sha1}.zip")
    );
    assert_eq!(
        get(&server.url(&format!("/zipball/acme/lib/{sha1}.zip")), &[]).body,
        archive
    );
    // Wrong credentials are still refused, and anonymous users still cannot upload.
    assert_eq!(
        get(
            &server.url("/p2/acme/lib.json"),
            &[("Authorization", &basic("admin", "nope"))]
        )
        .status,
        401
    );
    let anonymous_upload = put(
        &server.url("/api/packages/upload/acme/lib/2.0.0"),
        &[],
        &archive,
    );
    assert_eq!(anonymous_upload.status, 401);
}
