//! IRSA (Kubernetes web identity) end to end: packyard assumes a role through STS and
//! signs every S3 request with the temporary keys (moto serves both STS and S3).

use crate::common::*;
use testkit::{Moto, TempDir, recorded_header};

const BUCKET: &str = "irsa-packages";
const ROLE: &str = "arn:aws:iam::123456789012:role/packyard";
const LIB: &str = "acme/lib";
const APP: &str = "acme/app";

/// Uploads and installs through the server, then checks from moto's recording that S3
/// was only ever called with the temporary `ASIA...` keys and their session token.
fn uploads_and_installs_with_temporary_keys(moto: &Moto, env: &[(&str, &str)]) {
    moto.start_recording();
    let server = Server::start_with(env);
    let admin = server.add_user("admin", true);
    for (name, archive) in [
        (LIB, package_zip(LIB, &[], "irsa-lib")),
        (APP, package_zip(APP, &[(LIB, "^1.0")], "irsa-app")),
    ] {
        let reply = upload(&server, &admin, name, "1.0.0", &archive);
        assert_eq!(reply.status, 201, "{}", reply.text());
    }
    let project = ComposerProject::new(&server, "admin", &admin);
    project.require(APP);
    assert!(
        project
            .installed_file("acme/lib/src/Lib.php")
            .unwrap()
            .contains("irsa-lib")
    );

    let recording = moto.recording();
    let sts: Vec<_> = recording
        .iter()
        .filter(|r| {
            r["method"] == "POST" && !r["url"].as_str().unwrap_or_default().contains(BUCKET)
        })
        .collect();
    assert!(!sts.is_empty(), "no STS call recorded: {recording:?}");
    let s3: Vec<_> = recording
        .iter()
        .filter(|r| {
            r["url"]
                .as_str()
                .unwrap_or_default()
                .contains(&format!("/{BUCKET}/"))
        })
        .collect();
    let methods: Vec<&str> = s3.iter().filter_map(|r| r["method"].as_str()).collect();
    assert!(
        methods.contains(&"PUT") && methods.contains(&"GET"),
        "uploads and downloads reached S3: {methods:?}"
    );
    for request in &s3 {
        let authorization = recorded_header(request, "Authorization").unwrap_or_default();
        assert!(
            authorization.contains("Credential=ASIA"),
            "not signed with temporary keys: {request}"
        );
        let token = recorded_header(request, "X-Amz-Security-Token").unwrap_or_default();
        assert!(!token.is_empty(), "no session token: {request}");
    }
}

fn token_file(dir: &TempDir) -> String {
    let path = dir.path().join("token");
    std::fs::write(&path, "eyJhbGciOiJSUzI1NiJ9.service-account-token\n").unwrap();
    path.display().to_string()
}

#[test]
fn explicit_web_identity_in_storage_aws_args() {
    testkit::needs!(Moto, Composer);
    let moto = Moto::start();
    moto.create_bucket(BUCKET);
    let dir = TempDir::new("irsa");
    let args = format!(
        r#"{{"endpoint":"{url}","region":"us-east-1","roleArn":"{ROLE}","webIdentityTokenFile":"{token}","roleSessionName":"packyard-test","stsEndpoint":"{url}"}}"#,
        url = moto.service.url(),
        token = token_file(&dir)
    );
    uploads_and_installs_with_temporary_keys(
        &moto,
        &[
            ("STORAGE_SOURCE", "s3"),
            ("STORAGE_AWS_BUCKET", BUCKET),
            ("STORAGE_AWS_ARGS", &args),
            ("PACKYARD_ARTIFACT_CACHE_MAX", "0"),
        ],
    );
}

#[test]
fn web_identity_detected_from_aws_environment_variables() {
    testkit::needs!(Moto, Composer);
    let moto = Moto::start();
    moto.create_bucket(BUCKET);
    let dir = TempDir::new("irsa");
    let token = token_file(&dir);
    let args = format!(r#"{{"endpoint":"{}"}}"#, moto.service.url());
    uploads_and_installs_with_temporary_keys(
        &moto,
        &[
            ("STORAGE_SOURCE", "s3"),
            ("STORAGE_AWS_BUCKET", BUCKET),
            ("STORAGE_AWS_ARGS", &args),
            ("AWS_WEB_IDENTITY_TOKEN_FILE", &token),
            ("AWS_ROLE_ARN", ROLE),
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ENDPOINT_URL_STS", &moto.service.url()),
            ("PACKYARD_ARTIFACT_CACHE_MAX", "0"),
        ],
    );
}
