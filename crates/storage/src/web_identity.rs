//! IRSA / web-identity credentials for S3.
//!
//! On EKS a pod gets a rotating OIDC token file and a role ARN; STS trades the token for
//! temporary keys with `AssumeRoleWithWebIdentity`. object_store ships a provider for this,
//! but it sends the call as a query string and insists on an https endpoint, which rules
//! out test peers such as moto. This one posts the form body that both real STS and moto
//! accept, over any scheme.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use object_store::CredentialProvider;
use object_store::aws::AwsCredential;
use serde::Deserialize;
use tokio::sync::Mutex;

/// Credentials are renewed this long before they expire, so that a request signed just
/// before the deadline still reaches S3 in time.
const REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How much of an unparseable error body is quoted back in the error message.
const ERROR_BODY_EXCERPT: usize = 200;

/// Where and how to assume the role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebIdentityConfig {
    /// The IAM role to assume (`AWS_ROLE_ARN` / `roleArn`).
    pub role_arn: String,
    /// The OIDC token file (`AWS_WEB_IDENTITY_TOKEN_FILE` / `webIdentityTokenFile`);
    /// re-read on every refresh because the kubelet rotates it.
    pub token_file: PathBuf,
    /// Shown in CloudTrail; see [`default_session_name`].
    pub session_name: String,
    /// Full URL of the STS endpoint, e.g. `https://sts.us-east-1.amazonaws.com`.
    pub sts_endpoint: String,
}

impl WebIdentityConfig {
    /// The regional STS endpoint for `region`; regional endpoints are what AWS recommends
    /// over the global one, and the only ones reachable from a VPC endpoint.
    pub fn regional_sts_endpoint(region: &str) -> String {
        let domain = if region.starts_with("cn-") {
            "amazonaws.com.cn"
        } else {
            "amazonaws.com"
        };
        format!("https://sts.{region}.{domain}")
    }
}

/// A session name unique to this process (`packyard-<16 hex digits>`), so that replicas
/// can be told apart in CloudTrail.
pub fn default_session_name() -> String {
    // A clock-derived fallback is unique enough for a label if the OS refuses randomness.
    let random = getrandom::u64().unwrap_or_else(|_| {
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos() as u64;
        nanos ^ u64::from(std::process::id())
    });
    format!("packyard-{random:016x}")
}

/// Why temporary credentials could not be obtained.
#[derive(Debug, thiserror::Error)]
pub enum WebIdentityError {
    #[error("cannot read web identity token file {path}: {source}")]
    TokenFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("web identity token file {path} is empty")]
    EmptyToken { path: PathBuf },
    #[error("AssumeRoleWithWebIdentity request to {endpoint} failed: {reason}")]
    Request { endpoint: String, reason: String },
    #[error("STS refused AssumeRoleWithWebIdentity (HTTP {status}): {code}: {message}")]
    Sts {
        status: u16,
        code: String,
        message: String,
    },
    #[error("invalid AssumeRoleWithWebIdentity response: {0}")]
    InvalidResponse(String),
}

impl From<WebIdentityError> for object_store::Error {
    fn from(error: WebIdentityError) -> Self {
        object_store::Error::Generic {
            store: "S3",
            source: Box::new(error),
        }
    }
}

/// Temporary S3 credentials from `AssumeRoleWithWebIdentity`, cached until shortly
/// before they expire.
pub struct WebIdentityProvider {
    config: WebIdentityConfig,
    /// One lock for check-and-refresh, so that concurrent callers share one STS call.
    cache: Mutex<Option<CachedCredential>>,
}

struct CachedCredential {
    credential: Arc<AwsCredential>,
    issued_at: SystemTime,
    expiration: SystemTime,
}

impl fmt::Debug for WebIdentityProvider {
    // The cache is left out: it holds the secret key and session token.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebIdentityProvider")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl WebIdentityProvider {
    /// A provider that calls STS on first use, not now: start-up must not depend on STS.
    pub fn new(config: WebIdentityConfig) -> Self {
        WebIdentityProvider {
            config,
            cache: Mutex::new(None),
        }
    }

    /// Assumes the role now, whatever the cache holds, and caches the result.
    pub async fn refresh(&self) -> Result<Arc<AwsCredential>, WebIdentityError> {
        let mut cache = self.cache.lock().await;
        let fresh = self.assume_role().await?;
        let credential = Arc::clone(&fresh.credential);
        *cache = Some(fresh);
        Ok(credential)
    }

    async fn cached_or_refreshed(&self) -> Result<Arc<AwsCredential>, WebIdentityError> {
        let mut cache = self.cache.lock().await;
        let now = SystemTime::now();
        if let Some(cached) = cache.as_ref()
            && !should_refresh(cached.issued_at, cached.expiration, now)
        {
            return Ok(Arc::clone(&cached.credential));
        }
        match self.assume_role().await {
            Ok(fresh) => {
                let credential = Arc::clone(&fresh.credential);
                *cache = Some(fresh);
                Ok(credential)
            }
            // Within the refresh margin the old keys still work: an STS hiccup should
            // not fail S3 requests that could still be signed.
            Err(error) => match cache.as_ref() {
                Some(cached) if now < cached.expiration => {
                    tracing::warn!(%error, "web identity refresh failed; using credentials that have not expired yet");
                    Ok(Arc::clone(&cached.credential))
                }
                _ => Err(error),
            },
        }
    }

    async fn assume_role(&self) -> Result<CachedCredential, WebIdentityError> {
        let token = read_token(&self.config.token_file)?;
        let body = assume_role_form(&self.config.role_arn, &self.config.session_name, &token);
        let issued_at = SystemTime::now();
        let (status, text) = post_form(&self.config.sts_endpoint, body).await?;
        if !(200..300).contains(&status) {
            return Err(sts_error(status, &text));
        }
        let credentials = parse_credentials(&text)?;
        tracing::debug!(
            role_arn = %self.config.role_arn,
            key_id = %credentials.credential.key_id,
            "assumed role with web identity"
        );
        Ok(CachedCredential {
            credential: Arc::new(credentials.credential),
            issued_at,
            expiration: credentials.expiration,
        })
    }
}

#[async_trait]
impl CredentialProvider for WebIdentityProvider {
    type Credential = AwsCredential;

    async fn get_credential(&self) -> object_store::Result<Arc<AwsCredential>> {
        Ok(self.cached_or_refreshed().await?)
    }
}

/// Whether credentials issued at `issued_at` and expiring at `expiration` must be
/// renewed at `now`: when less than five minutes remain, or less than half their
/// lifetime for credentials that live under ten minutes (where a fixed five-minute
/// margin would refresh on almost every call).
fn should_refresh(issued_at: SystemTime, expiration: SystemTime, now: SystemTime) -> bool {
    let lifetime = expiration.duration_since(issued_at).unwrap_or_default();
    let margin = REFRESH_MARGIN.min(lifetime / 2);
    match expiration.checked_sub(margin) {
        Some(refresh_at) => now >= refresh_at,
        None => true,
    }
}

/// The token as the kubelet last wrote it; files often end with a newline that is not
/// part of the JWT.
fn read_token(path: &Path) -> Result<String, WebIdentityError> {
    let raw = std::fs::read_to_string(path).map_err(|source| WebIdentityError::TokenFile {
        path: path.to_owned(),
        source,
    })?;
    let token = raw.trim();
    if token.is_empty() {
        return Err(WebIdentityError::EmptyToken {
            path: path.to_owned(),
        });
    }
    Ok(token.to_owned())
}

/// The `AssumeRoleWithWebIdentity` call as a form body. The call is unsigned: the token
/// is the proof of identity.
fn assume_role_form(role_arn: &str, session_name: &str, token: &str) -> String {
    form_urlencoded::Serializer::new(String::new())
        .append_pair("Action", "AssumeRoleWithWebIdentity")
        .append_pair("Version", "2011-06-15")
        .append_pair("RoleArn", role_arn)
        .append_pair("RoleSessionName", session_name)
        .append_pair("WebIdentityToken", token)
        .finish()
}

/// Posts `body` and returns the status and response text, whatever the status.
async fn post_form(endpoint: &str, body: String) -> Result<(u16, String), WebIdentityError> {
    let request_failed = |error: reqwest::Error| WebIdentityError::Request {
        endpoint: endpoint.to_owned(),
        reason: error_chain(&error),
    };
    // A client per refresh: refreshes are about an hour apart, so pooling gains nothing,
    // and a client that fails to build is then an error rather than a panic in `new`.
    let client = reqwest::Client::builder()
        .user_agent(concat!("packyard/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .build()
        .map_err(request_failed)?;
    let response = client
        .post(endpoint)
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body(body)
        .send()
        .await
        .map_err(request_failed)?;
    let status = response.status().as_u16();
    let text = response.text().await.map_err(request_failed)?;
    Ok((status, text))
}

/// reqwest's own message is only "error sending request"; the cause (connection
/// refused, timeout, TLS) is further down the chain.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

/// Credentials as STS returned them.
#[derive(Debug)]
struct StsCredentials {
    credential: AwsCredential,
    expiration: SystemTime,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AssumeRoleResponseXml {
    assume_role_with_web_identity_result: Option<AssumeRoleResultXml>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AssumeRoleResultXml {
    credentials: Option<CredentialsXml>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CredentialsXml {
    access_key_id: Option<String>,
    secret_access_key: Option<String>,
    session_token: Option<String>,
    expiration: Option<String>,
}

/// Reads the `Credentials` of a successful `AssumeRoleWithWebIdentityResponse`.
fn parse_credentials(xml: &str) -> Result<StsCredentials, WebIdentityError> {
    let invalid = WebIdentityError::InvalidResponse;
    let response: AssumeRoleResponseXml =
        quick_xml::de::from_str(xml).map_err(|e| invalid(e.to_string()))?;
    let credentials = response
        .assume_role_with_web_identity_result
        .and_then(|result| result.credentials)
        .ok_or_else(|| invalid("no AssumeRoleWithWebIdentityResult/Credentials".into()))?;
    let field = |value: Option<String>, name: &str| {
        value
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| invalid(format!("Credentials has no {name}")))
    };
    let expiration = field(credentials.expiration, "Expiration")?;
    let expiration = chrono::DateTime::parse_from_rfc3339(&expiration)
        .map_err(|e| invalid(format!("Expiration {expiration:?} is not RFC 3339: {e}")))?;
    Ok(StsCredentials {
        credential: AwsCredential {
            key_id: field(credentials.access_key_id, "AccessKeyId")?,
            secret_key: field(credentials.secret_access_key, "SecretAccessKey")?,
            token: Some(field(credentials.session_token, "SessionToken")?),
        },
        expiration: expiration.into(),
    })
}

/// STS answers `ErrorResponse/Error`; some implementations (moto, older botocore
/// fixtures) nest it as `Response/Errors/Error`. Both are accepted.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ErrorResponseXml {
    error: Option<ErrorXml>,
    errors: Option<ErrorsXml>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ErrorsXml {
    error: Option<ErrorXml>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ErrorXml {
    code: Option<String>,
    message: Option<String>,
}

/// The error for a non-2xx answer: STS's code and message when the body is an STS error
/// document, else the start of the body (a proxy's HTML page, say) on one line, since
/// start-up errors are one line.
fn sts_error(status: u16, body: &str) -> WebIdentityError {
    let parsed = quick_xml::de::from_str::<ErrorResponseXml>(body)
        .ok()
        .and_then(|doc| doc.error.or(doc.errors.and_then(|errors| errors.error)));
    let (code, message) = if let Some(ErrorXml { code, message }) = parsed {
        (
            code.unwrap_or_else(|| "Unknown".into()),
            message.unwrap_or_default(),
        )
    } else {
        let one_line = body.split_whitespace().collect::<Vec<_>>().join(" ");
        (
            "Unknown".into(),
            one_line.chars().take(ERROR_BODY_EXCERPT).collect(),
        )
    };
    WebIdentityError::Sts {
        status,
        code,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUCCESS: &str = r#"<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithWebIdentityResult>
    <SubjectFromWebIdentityToken>system:serviceaccount:default:packyard</SubjectFromWebIdentityToken>
    <Audience>sts.amazonaws.com</Audience>
    <AssumedRoleUser>
      <Arn>arn:aws:sts::123456789012:assumed-role/packyard/packyard-1</Arn>
      <AssumedRoleId>AROACLKWSDQRAOEXAMPLE:packyard-1</AssumedRoleId>
    </AssumedRoleUser>
    <Credentials>
      <SessionToken>AQoDYXdzEE0a8ANXXXXXXXXNO1ewxE5TijQyp+IEXAMPLE</SessionToken>
      <SecretAccessKey>wJalrXUtnFEMI/K7MDENG/bPxRfiCY&amp;EXAMPLEKEY</SecretAccessKey>
      <Expiration>2030-10-24T23:00:23Z</Expiration>
      <AccessKeyId>ASIAIOSFODNN7EXAMPLE</AccessKeyId>
    </Credentials>
    <Provider>arn:aws:iam::123456789012:oidc-provider/oidc.eks.example</Provider>
  </AssumeRoleWithWebIdentityResult>
  <ResponseMetadata>
    <RequestId>ad4156e9-bce1-11e2-82e6-6b6efEXAMPLE</RequestId>
  </ResponseMetadata>
</AssumeRoleWithWebIdentityResponse>"#;

    fn at(seconds: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(seconds)
    }

    #[test]
    fn parses_credentials_and_unescapes_entities() {
        let parsed = parse_credentials(SUCCESS).unwrap();
        assert_eq!(parsed.credential.key_id, "ASIAIOSFODNN7EXAMPLE");
        assert_eq!(
            parsed.credential.secret_key,
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCY&EXAMPLEKEY"
        );
        assert_eq!(
            parsed.credential.token.as_deref(),
            Some("AQoDYXdzEE0a8ANXXXXXXXXNO1ewxE5TijQyp+IEXAMPLE")
        );
        assert_eq!(parsed.expiration, at(1_919_113_223));
    }

    #[test]
    fn accepts_fractional_seconds_and_offsets_in_expiration() {
        let xml = SUCCESS.replace("2030-10-24T23:00:23Z", "2030-10-25T01:00:23.5+02:00");
        let parsed = parse_credentials(&xml).unwrap();
        assert_eq!(
            parsed.expiration,
            at(1_919_113_223) + Duration::from_millis(500)
        );
    }

    #[test]
    fn missing_fields_are_named() {
        for field in [
            "AccessKeyId",
            "SecretAccessKey",
            "SessionToken",
            "Expiration",
        ] {
            let start = SUCCESS.find(&format!("<{field}>")).unwrap();
            let end_tag = format!("</{field}>");
            let end = SUCCESS.find(&end_tag).unwrap() + end_tag.len();
            let xml = format!("{}{}", &SUCCESS[..start], &SUCCESS[end..]);
            let error = parse_credentials(&xml).unwrap_err().to_string();
            assert!(error.contains(field), "{field}: {error}");
        }
    }

    #[test]
    fn a_document_without_credentials_is_invalid() {
        let error = parse_credentials("<AssumeRoleWithWebIdentityResponse/>")
            .unwrap_err()
            .to_string();
        assert!(error.contains("no AssumeRoleWithWebIdentityResult/Credentials"));
        assert!(parse_credentials("not xml at all <<<").is_err());
    }

    #[test]
    fn a_bad_expiration_is_invalid() {
        let xml = SUCCESS.replace("2030-10-24T23:00:23Z", "tomorrow");
        let error = parse_credentials(&xml).unwrap_err().to_string();
        assert!(error.contains("\"tomorrow\" is not RFC 3339"), "{error}");
    }

    #[test]
    fn sts_error_documents_give_code_and_message() {
        let aws = r#"<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <Error>
    <Type>Sender</Type>
    <Code>InvalidIdentityToken</Code>
    <Message>No OpenIDConnect provider found in your account for https://oidc.example &amp; co</Message>
  </Error>
  <RequestId>c2f5ad8a-0000-0000-0000-000000000000</RequestId>
</ErrorResponse>"#;
        let error = sts_error(400, aws).to_string();
        assert_eq!(
            error,
            "STS refused AssumeRoleWithWebIdentity (HTTP 400): InvalidIdentityToken: \
             No OpenIDConnect provider found in your account for https://oidc.example & co"
        );

        let nested = "<Response><Errors><Error><Code>AccessDenied</Code>\
                      <Message>Not authorized</Message></Error></Errors></Response>";
        let error = sts_error(403, nested);
        assert!(matches!(
            error,
            WebIdentityError::Sts { status: 403, ref code, ref message }
                if code == "AccessDenied" && message == "Not authorized"
        ));
    }

    #[test]
    fn a_non_xml_error_body_is_quoted_briefly() {
        let body = format!("<html>\n  <h1>Bad Gateway</h1>{}</html>", "!".repeat(500));
        let WebIdentityError::Sts { code, message, .. } = sts_error(502, &body) else {
            panic!("expected an STS error");
        };
        assert_eq!(code, "Unknown");
        assert!(
            message.starts_with("<html> <h1>Bad Gateway</h1>!!!"),
            "{message}"
        );
        assert_eq!(message.chars().count(), ERROR_BODY_EXCERPT);
    }

    #[test]
    fn refreshes_five_minutes_before_expiry_for_hour_long_credentials() {
        let issued = at(1_000);
        let expires = at(1_000 + 3_600);
        assert!(!should_refresh(issued, expires, at(1_000)));
        assert!(!should_refresh(issued, expires, at(1_000 + 3_600 - 301)));
        assert!(should_refresh(issued, expires, at(1_000 + 3_600 - 300)));
        assert!(should_refresh(issued, expires, at(1_000 + 3_600)));
        assert!(should_refresh(issued, expires, at(1_000 + 7_200)));
    }

    #[test]
    fn refreshes_at_half_life_for_short_lived_credentials() {
        let issued = at(1_000);
        let expires = at(1_000 + 240);
        assert!(!should_refresh(issued, expires, at(1_000 + 119)));
        assert!(should_refresh(issued, expires, at(1_000 + 120)));
    }

    #[test]
    fn credentials_already_expired_on_arrival_are_refreshed() {
        // Clock skew can make STS's expiration earlier than our issue time.
        assert!(should_refresh(at(1_000), at(900), at(1_000)));
        assert!(should_refresh(at(0), at(0), at(0)));
    }

    #[test]
    fn form_body_is_percent_encoded() {
        let body = assume_role_form(
            "arn:aws:iam::123456789012:role/packyard s3",
            "packyard-1",
            "eyJ+a/b=c&d",
        );
        assert_eq!(
            body,
            "Action=AssumeRoleWithWebIdentity&Version=2011-06-15\
             &RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fpackyard+s3\
             &RoleSessionName=packyard-1\
             &WebIdentityToken=eyJ%2Ba%2Fb%3Dc%26d"
        );
    }

    #[test]
    fn regional_endpoints_follow_the_partition() {
        assert_eq!(
            WebIdentityConfig::regional_sts_endpoint("eu-west-1"),
            "https://sts.eu-west-1.amazonaws.com"
        );
        assert_eq!(
            WebIdentityConfig::regional_sts_endpoint("cn-north-1"),
            "https://sts.cn-north-1.amazonaws.com.cn"
        );
    }

    #[test]
    fn default_session_names_are_valid_and_distinct() {
        let name = default_session_name();
        let valid = |c: char| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c);
        assert!(name.starts_with("packyard-"));
        assert!((2..=64).contains(&name.len()) && name.chars().all(valid));
        assert_ne!(name, default_session_name());
    }

    #[test]
    fn token_is_trimmed_and_empty_or_missing_files_name_the_path() {
        let dir = std::env::temp_dir().join(format!("packyard-token-{}", default_session_name()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("token");

        std::fs::write(&file, "  \n eyJhbGciOi.payload.sig \r\n").unwrap();
        assert_eq!(read_token(&file).unwrap(), "eyJhbGciOi.payload.sig");

        std::fs::write(&file, " \n").unwrap();
        let error = read_token(&file).unwrap_err().to_string();
        assert_eq!(
            error,
            format!("web identity token file {} is empty", file.display())
        );

        std::fs::remove_dir_all(&dir).unwrap();
        let error = read_token(&file).unwrap_err().to_string();
        assert!(error.starts_with(&format!(
            "cannot read web identity token file {}: ",
            file.display()
        )));
    }

    /// A provider whose refreshes fail before any request (its token file does not
    /// exist), holding credentials issued at `issued_at` that expire at `expiration`.
    fn provider_with_cached(issued_at: SystemTime, expiration: SystemTime) -> WebIdentityProvider {
        let provider = WebIdentityProvider::new(WebIdentityConfig {
            role_arn: "arn:aws:iam::1:role/r".into(),
            token_file: "/nonexistent/packyard/token".into(),
            session_name: "packyard-1".into(),
            sts_endpoint: "http://127.0.0.1:1".into(),
        });
        *provider.cache.try_lock().unwrap() = Some(CachedCredential {
            credential: Arc::new(AwsCredential {
                key_id: "ASIACACHED".into(),
                secret_key: "top-secret".into(),
                token: Some("session-secret".into()),
            }),
            issued_at,
            expiration,
        });
        provider
    }

    #[tokio::test]
    async fn fresh_cached_credentials_are_returned_without_a_refresh() {
        let now = SystemTime::now();
        let provider = provider_with_cached(now, now + Duration::from_secs(3_600));
        let credential = provider.get_credential().await.unwrap();
        assert_eq!(credential.key_id, "ASIACACHED");
    }

    #[tokio::test]
    async fn a_failed_refresh_falls_back_to_unexpired_credentials() {
        let now = SystemTime::now();
        let issued = now - Duration::from_secs(3_500);
        let provider = provider_with_cached(issued, now + Duration::from_secs(100));
        let credential = provider.get_credential().await.unwrap();
        assert_eq!(credential.key_id, "ASIACACHED");
    }

    #[tokio::test]
    async fn a_failed_refresh_with_expired_credentials_is_an_s3_error() {
        let now = SystemTime::now();
        let issued = now - Duration::from_secs(3_700);
        let provider = provider_with_cached(issued, now - Duration::from_secs(100));
        let error = provider.get_credential().await.unwrap_err();
        assert!(
            matches!(error, object_store::Error::Generic { store: "S3", .. }),
            "{error:?}"
        );
        assert!(
            error.to_string().contains("/nonexistent/packyard/token"),
            "{error}"
        );
    }

    #[test]
    fn debug_output_hides_cached_secrets() {
        let provider = provider_with_cached(at(0), at(3_600));
        let debug = format!("{provider:?}");
        assert!(!debug.contains("secret"), "{debug}");
    }
}
