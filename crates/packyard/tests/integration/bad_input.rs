//! Every kind of bad upload gets a clear 4xx and leaves the stored package as it was:
//! against a server process where the real `composer` or a raw socket takes part, in
//! process (`Contract`) where the HTTP answer is all there is.

use axum::body::Bytes;
use axum::http::StatusCode;
use packyard::db::Role;

use crate::common::in_process::{self, InProcess};
use crate::common::*;

const LIB: &str = "acme/lib";
/// A small limit so the oversized case needs no 100 MiB body.
const MAX_UPLOAD: usize = 64 * 1024;

struct Fixture {
    server: Server,
    admin: String,
    reader: String,
    archive: Vec<u8>,
    metadata: Vec<u8>,
}

impl Fixture {
    fn new() -> Fixture {
        let server = Server::start_with(&[("PACKYARD_MAX_UPLOAD", &MAX_UPLOAD.to_string())]);
        let admin = server.add_user("admin", true);
        let reader = server.add_user("reader", false);
        let archive = package_zip(LIB, &[], "good");
        let stored = upload(&server, &admin, LIB, "1.0.0", &archive);
        assert_eq!(stored.status, 201, "{}", stored.text());
        let metadata = Self::p2(&server, &admin);
        Fixture {
            server,
            admin,
            reader,
            archive,
            metadata,
        }
    }

    fn p2(server: &Server, admin: &str) -> Vec<u8> {
        let reply = get(
            &server.url("/p2/acme/lib.json"),
            &[("Authorization", &basic("admin", admin))],
        );
        assert_eq!(reply.status, 200);
        reply.body
    }

    /// Uploads `body` as the admin.
    fn upload(&self, name: &str, version: &str, body: &[u8]) -> Reply {
        upload(&self.server, &self.admin, name, version, body)
    }

    /// Asserts the answer, then that the good package is exactly as before.
    fn expect_refused(&self, reply: &Reply, status: u16, message_part: &str) {
        assert_eq!(reply.status, status, "{}", reply.text());
        let body = reply.json();
        assert_eq!(body["status"], "error", "{body}");
        let message = body["message"].as_str().unwrap();
        assert!(
            message.contains(message_part),
            "{message:?} should mention {message_part:?}"
        );
        self.assert_unchanged();
    }

    fn assert_unchanged(&self) {
        assert_eq!(
            Self::p2(&self.server, &self.admin),
            self.metadata,
            "metadata changed"
        );
        let sha1 = sha1_hex(&self.archive);
        let dist = get(
            &self.server.url(&format!("/zipball/acme/lib/{sha1}.zip")),
            &[("Authorization", &basic("reader", &self.reader))],
        );
        assert_eq!(dist.status, 200);
        assert_eq!(dist.body, self.archive, "stored archive changed");
    }

    fn assert_composer_still_installs(&self) {
        let project = ComposerProject::new(&self.server, "reader", &self.reader);
        project.require(LIB);
        assert!(
            project
                .installed_file("acme/lib/src/Lib.php")
                .unwrap()
                .contains("good")
        );
    }
}

fn manifest_zip(manifest: &str) -> Vec<u8> {
    zip(&[
        Entry::File("composer.json", manifest.as_bytes()),
        Entry::File("src/A.php", b"<?php\n"),
    ])
}

#[test]
fn archive_contents_are_checked() {
    testkit::needs!(Composer);
    let f = Fixture::new();
    f.expect_refused(
        &f.upload(LIB, "1.0.1", b"this is not a zip"),
        400,
        "not a zip",
    );
    f.expect_refused(
        &f.upload(LIB, "1.0.1", &zip(&[Entry::File("README.md", b"hi")])),
        400,
        "no composer.json",
    );
    f.expect_refused(
        &f.upload(LIB, "1.0.1", &manifest_zip("{\"name\": \"acme/lib\",")),
        400,
        "invalid composer.json",
    );
    f.expect_refused(
        &f.upload(LIB, "1.0.1", &manifest_zip("[1, 2]")),
        400,
        "invalid composer.json",
    );
    let escaping = zip(&[
        Entry::File("composer.json", br#"{"name":"acme/lib"}"#),
        Entry::File("../evil.php", b"<?php\n"),
    ]);
    f.expect_refused(&f.upload(LIB, "1.0.1", &escaping), 400, "../evil.php");
    let absolute = zip(&[
        Entry::File("composer.json", br#"{"name":"acme/lib"}"#),
        Entry::File("/etc/evil.php", b"<?php\n"),
    ]);
    f.expect_refused(&f.upload(LIB, "1.0.1", &absolute), 400, "/etc/evil.php");
    let symlink = zip(&[
        Entry::File("composer.json", br#"{"name":"acme/lib"}"#),
        Entry::Symlink("src/passwd", "/etc/passwd"),
    ]);
    f.expect_refused(&f.upload(LIB, "1.0.1", &symlink), 400, "src/passwd");
    f.assert_composer_still_installs();
}

#[test]
fn names_and_versions_are_checked() {
    testkit::needs!(Composer);
    let f = Fixture::new();
    let other = package_zip("acme/other", &[], "x");
    f.expect_refused(&f.upload(LIB, "1.0.1", &other), 400, "acme/other");
    f.expect_refused(
        &f.upload("Acme/Lib", "1.0.1", &package_zip(LIB, &[], "x")),
        400,
        "invalid package name",
    );
    f.expect_refused(
        &f.upload(LIB, "not-a-version", &package_zip(LIB, &[], "x")),
        400,
        "invalid version",
    );
    let bad_name = manifest_zip(r#"{"name": "Acme Lib"}"#);
    f.expect_refused(
        &f.upload(LIB, "1.0.1", &bad_name),
        400,
        "invalid composer.json",
    );

    // Lengths: a 5000-character version and a 300-character name are refused naming
    // the field, without the value repeated back.
    let long_version = format!("1.0.{}", "1".repeat(4996));
    let refused = f.upload(LIB, &long_version, &package_zip(LIB, &[], "x"));
    f.expect_refused(
        &refused,
        400,
        "version is 5000 characters long; at most 255",
    );
    assert!(refused.body.len() < 500, "{}", refused.text());
    let long_name = format!("acme/{}", "a".repeat(295));
    f.expect_refused(
        &f.upload(&long_name, "1.0.1", &package_zip(&long_name, &[], "x")),
        400,
        "at most 191",
    );
    f.assert_composer_still_installs();
}

/// A version or name in the path that is refused is refused before the body is read:
/// the answer comes while the declared body has not been sent at all.
#[test]
fn bad_paths_are_refused_before_the_body_is_read() {
    use std::io::{Read, Write};
    let f = Fixture::new();
    let long_version = "9".repeat(300);
    for path in [
        format!("/api/packages/upload/acme/lib/{long_version}"),
        "/api/packages/upload/Acme/Lib/1.0.0".to_owned(),
    ] {
        let mut stream = std::net::TcpStream::connect(f.server.host()).unwrap();
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        write!(
            stream,
            "PUT {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: {}\r\nContent-Length: 60000\r\n\r\n",
            f.server.host(),
            basic("admin", &f.admin)
        )
        .unwrap();
        let mut head = [0u8; 12];
        stream
            .read_exact(&mut head)
            .expect("an answer before the body");
        assert_eq!(&head, b"HTTP/1.1 400", "{path}");
    }
    f.assert_unchanged();
}

/// The same fixture in process (the router of an `App`, no server process), for the
/// cases that are the HTTP contract alone.
struct Contract {
    app: InProcess,
    admin: String,
    reader: String,
    archive: Vec<u8>,
    metadata: Bytes,
}

impl Contract {
    async fn new() -> Contract {
        let max_upload = MAX_UPLOAD.to_string();
        let app = InProcess::open(
            "bad-input",
            &serde_json::json!({}),
            &[("PACKYARD_MAX_UPLOAD", &max_upload)],
        )
        .await;
        let admin = app.add_user("admin", Role::Admin, false).await;
        let reader = app.add_user("reader", Role::User, true).await;
        let archive = package_zip(LIB, &[], "good");
        let stored = app.upload(&admin, LIB, "1.0.0", &archive).await;
        assert_eq!(stored.status, StatusCode::CREATED, "{}", stored.text());
        let metadata = Self::p2(&app, &admin).await;
        Contract {
            app,
            admin,
            reader,
            archive,
            metadata,
        }
    }

    async fn p2(app: &InProcess, admin: &str) -> Bytes {
        let reply = app
            .get(
                "/p2/acme/lib.json",
                &[("Authorization", &basic("admin", admin))],
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK);
        reply.body
    }

    /// Uploads `body` as the admin.
    async fn upload(&self, name: &str, version: &str, body: &[u8]) -> in_process::Reply {
        self.app.upload(&self.admin, name, version, body).await
    }

    /// Asserts the answer, then that the good package is exactly as before.
    async fn expect_refused(&self, reply: &in_process::Reply, status: u16, message_part: &str) {
        assert_eq!(reply.status.as_u16(), status, "{}", reply.text());
        let body = reply.json();
        assert_eq!(body["status"], "error", "{body}");
        let message = body["message"].as_str().unwrap();
        assert!(
            message.contains(message_part),
            "{message:?} should mention {message_part:?}"
        );
        self.assert_unchanged().await;
    }

    async fn assert_unchanged(&self) {
        assert_eq!(
            Self::p2(&self.app, &self.admin).await,
            self.metadata,
            "metadata changed"
        );
        let sha1 = sha1_hex(&self.archive);
        let dist = self
            .app
            .get(
                &format!("/zipball/acme/lib/{sha1}.zip"),
                &[("Authorization", &basic("reader", &self.reader))],
            )
            .await;
        assert_eq!(dist.status, StatusCode::OK);
        assert_eq!(dist.body, self.archive, "stored archive changed");
    }
}

#[tokio::test]
async fn replacing_a_version_needs_force() {
    let f = Contract::new().await;
    let different = package_zip(LIB, &[], "different");
    f.expect_refused(&f.upload(LIB, "1.0.0", &different).await, 409, "force")
        .await;
    let forced = f.upload(LIB, "1.0.0?force=1", &different).await;
    assert_eq!(forced.status, StatusCode::OK, "{}", forced.text());
    assert_eq!(forced.json()["outcome"], "replaced");
    assert_eq!(forced.json()["reference"], sha1_hex(&different));
}

#[tokio::test]
async fn size_limit_and_permissions_are_enforced() {
    let f = Contract::new().await;
    let big: Vec<u8> = (0..=MAX_UPLOAD).map(|i| (i * 7 % 256) as u8).collect();
    f.expect_refused(
        &f.upload(LIB, "1.0.1", &big).await,
        413,
        "PACKYARD_MAX_UPLOAD",
    )
    .await;
    let archive = package_zip(LIB, &[], "x");
    f.expect_refused(
        &f.app.upload("wrong-token", LIB, "1.0.1", &archive).await,
        401,
        "invalid",
    )
    .await;
    let path = "/api/packages/upload/acme/lib/1.0.1";
    let anonymous = f.app.put(path, None, &archive).await;
    f.expect_refused(&anonymous, 401, "authentication required")
        .await;
    let as_reader = f
        .app
        .put(path, Some(&basic("reader", &f.reader)), &archive)
        .await;
    f.expect_refused(&as_reader, 403, "not an admin").await;
    let no_token = f.app.get("/p2/acme/lib.json", &[]).await;
    assert_eq!(no_token.status, StatusCode::UNAUTHORIZED);
    assert!(no_token.header("www-authenticate").is_some());
    let query_token = f
        .app
        .get(&format!("/p2/acme/lib.json?token=reader:{}", f.reader), &[])
        .await;
    assert_eq!(query_token.status, StatusCode::OK);
    // Nothing left behind in the upload scratch directory.
    let leftovers =
        std::fs::read_dir(f.app.data.path().join("tmp")).map_or(0, std::iter::Iterator::count);
    assert_eq!(leftovers, 0);
}
