//! The web-identity provider against a real STS + S3 (moto): the keys it obtains sign
//! object_store's S3 requests, and moto's recorder shows what went over the wire.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use object_store::aws::{AmazonS3Builder, AwsCredential};
use object_store::path::Path as ObjectPath;
use object_store::{CredentialProvider, ObjectStoreExt, PutPayload};
use serde_json::Value;
use storage::web_identity::{
    WebIdentityConfig, WebIdentityError, WebIdentityProvider, default_session_name,
};

const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/packyard-s3";

/// A moto server of this test's own, killed (by its PID) when dropped.
struct Moto {
    child: Child,
    url: String,
    /// Holds the recording: moto appends it to a file (`./moto_recording` unless told
    /// otherwise), which servers started from the same directory would share.
    _workdir: Scratch,
}

impl Moto {
    async fn start() -> Moto {
        let binary = moto_binary();
        let port = free_port();
        let workdir = Scratch::new();
        let child = Command::new(&binary)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .current_dir(&workdir.0)
            .env("MOTO_RECORDER_FILEPATH", workdir.0.join("recording"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let mut moto = Moto {
            child,
            url: format!("http://127.0.0.1:{port}"),
            _workdir: workdir,
        };
        moto.wait_until_ready().await;
        moto
    }

    async fn wait_until_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let probe = format!("{}/moto-api/data.json", self.url);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("moto_server exited before answering: {status}");
            }
            if reqwest::get(&probe).await.is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "moto_server did not answer in 30 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Starts an empty recording. The reset also creates the recording file, without
    /// which moto answers a download with a 500.
    async fn start_recording(&self) {
        for action in ["reset-recording", "start-recording"] {
            let url = format!("{}/moto-api/recorder/{action}", self.url);
            let response = reqwest::Client::new().post(url).send().await.unwrap();
            assert!(response.status().is_success(), "{action}: {response:?}");
        }
    }

    /// The recorder's download: one JSON object per request, with the request's
    /// headers and its body (base64 when `body_encoded`).
    async fn recording(&self) -> Vec<RecordedRequest> {
        let url = format!("{}/moto-api/recorder/download-recording", self.url);
        let response = reqwest::get(url).await.unwrap();
        assert!(response.status().is_success(), "{response:?}");
        let text = response.text().await.unwrap();
        text.lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| RecordedRequest(serde_json::from_str(line).unwrap()))
            .collect()
    }

    fn sts_config(&self, token_file: &Path) -> WebIdentityConfig {
        WebIdentityConfig {
            role_arn: ROLE_ARN.into(),
            token_file: token_file.to_owned(),
            session_name: default_session_name(),
            sts_endpoint: self.url.clone(),
        }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn moto_binary() -> PathBuf {
    let Some(path) = std::env::var_os("PACKYARD_TEST_MOTO") else {
        panic!("PACKYARD_TEST_MOTO is not set: run scripts/test, which installs moto");
    };
    let path = PathBuf::from(path);
    assert!(
        path.exists(),
        "PACKYARD_TEST_MOTO={} does not exist: run scripts/test, which installs moto",
        path.display()
    );
    path
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct RecordedRequest(Value);

impl RecordedRequest {
    fn method(&self) -> &str {
        self.0["method"].as_str().unwrap()
    }

    fn url(&self) -> &str {
        self.0["url"].as_str().unwrap()
    }

    /// Header names are matched without case: the recorder keeps whatever case the
    /// server saw.
    fn header(&self, name: &str) -> Option<&str> {
        self.0["headers"]
            .as_object()
            .unwrap()
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .and_then(|(_, value)| value.as_str())
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
    fields
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
        .unwrap_or_else(|| panic!("no {name} in {fields:?}"))
}

fn sts_calls(recording: &[RecordedRequest]) -> Vec<Vec<(String, String)>> {
    recording
        .iter()
        .filter_map(RecordedRequest::assume_role_form)
        .collect()
}

/// A scratch directory for token files, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "packyard-web-identity-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn token_file(&self, contents: &str) -> PathBuf {
        let path = self.0.join("token");
        std::fs::write(&path, contents).unwrap();
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn session_token(credential: &AwsCredential) -> &str {
    credential.token.as_deref().expect("a session token")
}

#[tokio::test]
async fn assumes_the_role_and_returns_temporary_keys() {
    let moto = Moto::start().await;
    let scratch = Scratch::new();
    let provider = WebIdentityProvider::new(moto.sts_config(&scratch.token_file("jwt\n")));

    let credential = provider.get_credential().await.unwrap();

    assert!(credential.key_id.starts_with("ASIA"), "{credential:?}");
    assert!(!credential.secret_key.is_empty());
    assert!(!session_token(&credential).is_empty());
}

#[tokio::test]
async fn s3_requests_are_signed_with_the_temporary_keys() {
    let moto = Moto::start().await;
    let scratch = Scratch::new();
    let provider = Arc::new(WebIdentityProvider::new(
        moto.sts_config(&scratch.token_file("jwt")),
    ));
    let bucket = "packyard-irsa";
    // moto creates a bucket from any request, signed or not.
    let created = reqwest::Client::new()
        .put(format!("{}/{bucket}", moto.url))
        .send()
        .await
        .unwrap();
    assert!(created.status().is_success(), "{created:?}");
    let s3 = AmazonS3Builder::new()
        .with_endpoint(&moto.url)
        .with_allow_http(true)
        .with_virtual_hosted_style_request(false)
        .with_region("us-east-1")
        .with_bucket_name(bucket)
        .with_credentials(provider.clone())
        .build()
        .unwrap();
    moto.start_recording().await;

    let key = ObjectPath::from("dist/acme/lib/1.0.0.zip");
    s3.put(&key, PutPayload::from_static(b"zip bytes"))
        .await
        .unwrap();
    let read = s3.get(&key).await.unwrap().bytes().await.unwrap();
    assert_eq!(read.as_ref(), b"zip bytes");

    let credential = provider.get_credential().await.unwrap();
    let recording = moto.recording().await;
    assert_eq!(sts_calls(&recording).len(), 1, "the keys are cached");
    let object_url = format!("{}/{bucket}/{key}", moto.url);
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
    let moto = Moto::start().await;
    let scratch = Scratch::new();
    let config = moto.sts_config(&scratch.token_file("  token-one\n"));
    let session_name = config.session_name.clone();
    let provider = WebIdentityProvider::new(config);
    moto.start_recording().await;

    let first = provider.refresh().await.unwrap();
    scratch.token_file("\r\n\ttoken-two \n\n");
    let second = provider.refresh().await.unwrap();

    assert_ne!(first.key_id, second.key_id);
    assert_eq!(provider.get_credential().await.unwrap(), second);
    let calls = sts_calls(&moto.recording().await);
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
    let moto = Moto::start().await;
    let scratch = Scratch::new();
    let provider = Arc::new(WebIdentityProvider::new(
        moto.sts_config(&scratch.token_file("jwt")),
    ));
    moto.start_recording().await;

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
    let recording = moto.recording().await;
    assert_eq!(sts_calls(&recording).len(), 1);
}

#[tokio::test]
async fn an_empty_token_file_is_named_and_nothing_is_sent() {
    let moto = Moto::start().await;
    let scratch = Scratch::new();
    let token_file = scratch.token_file(" \n");
    let provider = WebIdentityProvider::new(moto.sts_config(&token_file));
    moto.start_recording().await;

    let error = provider.refresh().await.unwrap_err();

    assert!(matches!(error, WebIdentityError::EmptyToken { .. }));
    assert_eq!(
        error.to_string(),
        format!("web identity token file {} is empty", token_file.display())
    );
    assert!(sts_calls(&moto.recording().await).is_empty());
}

#[tokio::test]
async fn an_unreachable_endpoint_reports_the_connection_failure() {
    let scratch = Scratch::new();
    let closed = format!("http://127.0.0.1:{}", free_port());
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
    let moto = Moto::start().await;
    let scratch = Scratch::new();
    let mut config = moto.sts_config(&scratch.token_file("jwt"));
    // moto's STS accepts every token, so an error status comes from a wrong path.
    config.sts_endpoint = format!("{}/not-sts", moto.url);
    let provider = WebIdentityProvider::new(config);

    let error = provider.refresh().await.unwrap_err();

    let WebIdentityError::Sts { status, code, .. } = &error else {
        panic!("expected an STS error, got {error:?}");
    };
    assert_eq!((*status, code.as_str()), (404, "Unknown"), "{error}");
    assert!(error.to_string().contains("(HTTP 404)"), "{error}");
}
