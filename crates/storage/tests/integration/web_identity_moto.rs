//! The web-identity provider against a real STS + S3 (moto): the keys it obtains sign
//! object_store's S3 requests, and moto's recorder shows what went over the wire.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine;
use object_store::aws::{AmazonS3Builder, AwsCredential};
use object_store::path::Path as ObjectPath;
use object_store::{CredentialProvider, ObjectStoreExt, PutPayload};
use serde_json::Value;
use storage::web_identity::{
    WebIdentityConfig, WebIdentityError, WebIdentityProvider, default_session_name,
};
use testkit::{Moto, TempDir, recorded_header};

const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/packyard-s3";

fn sts_config(moto: &Moto, token_file: &Path) -> WebIdentityConfig {
    WebIdentityConfig {
        role_arn: ROLE_ARN.into(),
        token_file: token_file.to_owned(),
        session_name: default_session_name(),
        sts_endpoint: moto.service.url(),
    }
}

fn recording(moto: &Moto) -> Vec<RecordedRequest> {
    moto.recording().into_iter().map(RecordedRequest).collect()
}

struct RecordedRequest(Value);

impl RecordedRequest {
    fn method(&self) -> &str {
        self.0["method"].as_str().unwrap()
    }

    fn url(&self) -> &str {
        self.0["url"].as_str().unwrap()
    }

    fn header(&self, name: &str) -> Option<&str> {
        recorded_header(&self.0, name)
    }

    fn body(&self) -> Vec<u8> {
        let body = self.0["body"].as_str().unwrap_or_default();
        if self.0["body_encoded"].as_bool().unwrap_or(false) {
            base64::engine::general_purpose::STANDARD
                .decode(body)
                .unwrap()
        } else {
            body.as_bytes().to_vec()
        }
    }

    /// The form fields of an STS call, or `None` for any other request.
    fn assume_role_form(&self) -> Option<Vec<(String, String)>> {
        let body = self.body();
        let fields: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
        let is_assume_role = fields
            .iter()
            .any(|(k, v)| k == "Action" && v == "AssumeRoleWithWebIdentity");
        is_assume_role.then_some(fields)
    }
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> &'a str {
    fields.iter().find(|(key, _)| key == name).map_or_else(
        || panic!("no {name} in {fields:?}"),
        |(_, value)| value.as_str(),
    )
}

fn sts_calls(recording: &[RecordedRequest]) -> Vec<Vec<(String, String)>> {
    recording
        .iter()
        .filter_map(RecordedRequest::assume_role_form)
        .collect()
}

/// A scratch directory for token files.
struct Scratch(TempDir);

impl Scratch {
    fn new() -> Scratch {
        Scratch(TempDir::new("packyard-web-identity"))
    }

    fn token_file(&self, contents: &str) -> PathBuf {
        let path = self.0.path().join("token");
        std::fs::write(&path, contents).unwrap();
        path
    }
}

fn session_token(credential: &AwsCredential) -> &str {
    credential.token.as_deref().expect("a session token")
}

#[tokio::test]
async fn assumes_the_role_and_returns_temporary_keys() {
    testkit::needs!(Moto);
    let moto = Moto::start();
    let scratch = Scratch::new();
    let provider = WebIdentityProvider::new(sts_config(&moto, &scratch.token_file("jwt\n")));

    let credential = provider.get_credential().await.unwrap();

    assert!(credential.key_id.starts_with("ASIA"), "{credential:?}");
    assert!(!credential.secret_key.is_empty());
    assert!(!session_token(&credential).is_empty());
}

#[tokio::test]
async fn s3_requests_are_signed_with_the_temporary_keys() {
    testkit::needs!(Moto);
    let moto = Moto::start();
    let scratch = Scratch::new();
    let provider = Arc::new(WebIdentityProvider::new(sts_config(
        &moto,
        &scratch.token_file("jwt"),
    )));
    let bucket = "packyard-irsa";
    moto.create_bucket(bucket);
    let s3 = AmazonS3Builder::new()
        .with_endpoint(moto.service.url())
        .with_allow_http(true)
        .with_virtual_hosted_style_request(false)
        .with_region("us-east-1")
        .with_bucket_name(bucket)
        .with_credentials(provider.clone())
        .build()
        .unwrap();
    moto.start_recording();

    let key = ObjectPath::from("dist/acme/lib/1.0.0.zip");
    s3.put(&key, PutPayload::from_static(b"zip bytes"))
        .await
        .unwrap();
    let read = s3.get(&key).await.unwrap().bytes().await.unwrap();
    assert_eq!(read.as_ref(), b"zip bytes");

    let credential = provider.get_credential().await.unwrap();
    let recording = recording(&moto);
    assert_eq!(sts_calls(&recording).len(), 1, "the keys are cached");
    let object_url = format!("{}/{bucket}/{key}", moto.service.url());
    let s3_calls: Vec<_> = recording
        .iter()
        .filter(|request| request.url() == object_url)
        .collect();
    let methods: Vec<_> = s3_calls.iter().map(|request| request.method()).collect();
    assert_eq!(methods, ["PUT", "GET"]);
    for request in s3_calls {
        let authorization = request.header("Authorization").unwrap();
        assert!(
            authorization.starts_with(&format!(
                "AWS4-HMAC-SHA256 Credential={}/",
                credential.key_id
            )),
            "{authorization}"
        );
        assert!(authorization.contains("/us-east-1/s3/aws4_request"));
        assert_eq!(
            request.header("X-Amz-Security-Token"),
            Some(session_token(&credential))
        );
    }
}

#[tokio::test]
async fn each_refresh_rereads_the_rotated_token_file() {
    testkit::needs!(Moto);
    let moto = Moto::start();
    let scratch = Scratch::new();
    let config = sts_config(&moto, &scratch.token_file("  token-one\n"));
    let session_name = config.session_name.clone();
    let provider = WebIdentityProvider::new(config);
    moto.start_recording();

    let first = provider.refresh().await.unwrap();
    scratch.token_file("\r\n\ttoken-two \n\n");
    let second = provider.refresh().await.unwrap();

    assert_ne!(first.key_id, second.key_id);
    assert_eq!(provider.get_credential().await.unwrap(), second);
    let calls = sts_calls(&recording(&moto));
    let tokens: Vec<_> = calls
        .iter()
        .map(|fields| field(fields, "WebIdentityToken"))
        .collect();
    assert_eq!(tokens, ["token-one", "token-two"]);
    for fields in &calls {
        assert_eq!(field(fields, "RoleArn"), ROLE_ARN);
        assert_eq!(field(fields, "RoleSessionName"), session_name);
        assert_eq!(field(fields, "Version"), "2011-06-15");
    }
}

#[tokio::test]
async fn concurrent_callers_share_one_sts_call() {
    testkit::needs!(Moto);
    let moto = Moto::start();
    let scratch = Scratch::new();
    let provider = Arc::new(WebIdentityProvider::new(sts_config(
        &moto,
        &scratch.token_file("jwt"),
    )));
    moto.start_recording();

    let callers: Vec<_> = (0..8)
        .map(|_| {
            let provider = provider.clone();
            tokio::spawn(async move { provider.get_credential().await.unwrap() })
        })
        .collect();
    let mut key_ids = Vec::new();
    for caller in callers {
        key_ids.push(caller.await.unwrap().key_id.clone());
    }

    key_ids.dedup();
    assert_eq!(key_ids.len(), 1, "{key_ids:?}");
    let recording = recording(&moto);
    assert_eq!(sts_calls(&recording).len(), 1);
}

#[tokio::test]
async fn an_empty_token_file_is_named_and_nothing_is_sent() {
    testkit::needs!(Moto);
    let moto = Moto::start();
    let scratch = Scratch::new();
    let token_file = scratch.token_file(" \n");
    let provider = WebIdentityProvider::new(sts_config(&moto, &token_file));
    moto.start_recording();

    let error = provider.refresh().await.unwrap_err();

    assert!(matches!(error, WebIdentityError::EmptyToken { .. }));
    assert_eq!(
        error.to_string(),
        format!("web identity token file {} is empty", token_file.display())
    );
    assert!(sts_calls(&recording(&moto)).is_empty());
}

#[tokio::test]
async fn an_unreachable_endpoint_reports_the_connection_failure() {
    let scratch = Scratch::new();
    let closed = format!("http://127.0.0.1:{}", testkit::free_port());
    let provider = WebIdentityProvider::new(WebIdentityConfig {
        role_arn: ROLE_ARN.into(),
        token_file: scratch.token_file("jwt"),
        session_name: default_session_name(),
        sts_endpoint: closed.clone(),
    });

    // Through the trait, as object_store sees it.
    let error = provider.get_credential().await.unwrap_err();

    let object_store::Error::Generic { store, source } = &error else {
        panic!("expected a generic S3 error, got {error:?}");
    };
    assert_eq!(*store, "S3");
    let message = source.to_string();
    assert!(
        message.starts_with(&format!(
            "AssumeRoleWithWebIdentity request to {closed} failed: "
        )),
        "{message}"
    );
    assert!(message.contains("Connection refused"), "{message}");
}

#[tokio::test]
async fn a_non_sts_answer_reports_the_http_status() {
    testkit::needs!(Moto);
    let moto = Moto::start();
    let scratch = Scratch::new();
    let mut config = sts_config(&moto, &scratch.token_file("jwt"));
    // moto's STS accepts every token, so an error status comes from a wrong path.
    config.sts_endpoint = format!("{}/not-sts", moto.service.url());
    let provider = WebIdentityProvider::new(config);

    let error = provider.refresh().await.unwrap_err();

    let WebIdentityError::Sts { status, code, .. } = &error else {
        panic!("expected an STS error, got {error:?}");
    };
    assert_eq!((*status, code.as_str()), (404, "Unknown"), "{error}");
    assert!(error.to_string().contains("(HTTP 404)"), "{error}");
}
