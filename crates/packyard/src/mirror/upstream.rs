//! Talking to an upstream Composer repository: conditional metadata requests and dist
//! downloads, with timeouts so a slow upstream cannot hold requests forever.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, TryStreamExt};
use reqwest::{StatusCode, header};

use super::config::MirrorConfig;
use crate::outbound::{LazyClient, NetworkPolicy, describe, read_bounded};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Metadata documents are small: a whole answer within this time or the upstream counts
/// as down (and stored copies are served).
const METADATA_TIMEOUT: Duration = Duration::from_secs(15);
/// The largest metadata document read from an upstream (packagist.org's largest are a
/// few MiB).
const MAX_METADATA_DOCUMENT: usize = 32 * 1024 * 1024;
/// The largest advisories answer read from an upstream.
const MAX_ADVISORIES_ANSWER: usize = 8 * 1024 * 1024;
/// Between two chunks of an archive download.
const DIST_READ_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug)]
pub enum Fetched {
    Modified {
        body: Bytes,
        last_modified: Option<String>,
    },
    NotModified,
    NotFound,
}

/// Its text (for logs and the admins' pages) names the URL without its password.
#[derive(Debug, Clone, thiserror::Error)]
#[error("upstream {}: {reason}", crate::redact::redacted(url))]
pub struct UpstreamError {
    pub url: String,
    pub reason: String,
}

#[derive(Debug, Clone)]
pub struct Upstream {
    /// `PACKYARD_ALLOW_NETWORKS`/`PACKYARD_DENY_NETWORKS`: an upstream's metadata
    /// chooses the dist URLs fetched, so every URL, every redirect and every address a
    /// name resolves to goes through it.
    policy: NetworkPolicy,
    client: LazyClient,
    /// For posts whose target an upstream's document chose: redirects are not
    /// followed, so the document cannot send us anywhere else.
    no_redirects: LazyClient,
    /// Per mirror alias, how the latest metadata requests of this process went.
    contacts: Arc<RwLock<HashMap<String, Contact>>>,
}

/// How a mirror's upstream answered this process's metadata requests lately (kept in
/// memory: each replica knows its own).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contact {
    /// When the upstream last answered (Unix milliseconds), whatever the answer.
    pub answered_at: Option<i64>,
    /// The latest failure, when it came after the latest answer: when, and why.
    pub failure: Option<(i64, String)>,
}

impl Default for Upstream {
    fn default() -> Self {
        Self::new(NetworkPolicy::default())
    }
}

/// Most redirects followed for one request.
const MAX_REDIRECTS: usize = 10;

impl Upstream {
    pub fn new(policy: NetworkPolicy) -> Self {
        let common = |builder: reqwest::ClientBuilder| {
            builder
                .connect_timeout(CONNECT_TIMEOUT)
                .read_timeout(DIST_READ_TIMEOUT)
                .user_agent(concat!(
                    "packyard/",
                    env!("CARGO_PKG_VERSION"),
                    " (Composer mirror)"
                ))
        };
        let redirects = {
            let policy = policy.clone();
            move || {
                let policy = policy.clone();
                reqwest::redirect::Policy::custom(move |attempt| {
                    if attempt.previous().len() >= MAX_REDIRECTS {
                        return attempt.error(format!("more than {MAX_REDIRECTS} redirects"));
                    }
                    match policy.check_url(attempt.url().as_str()) {
                        Ok(_) => attempt.follow(),
                        Err(refused) => attempt.error(format!("a redirect to {refused}")),
                    }
                })
            }
        };
        Upstream {
            client: policy.lazy_client(move |builder| common(builder).redirect(redirects())),
            no_redirects: policy.lazy_client(move |builder| {
                common(builder).redirect(reqwest::redirect::Policy::none())
            }),
            contacts: Arc::default(),
            policy,
        }
    }

    /// Refuses what the network policy can tell from `url` alone (its scheme, a literal
    /// address) before any request; names are checked as they resolve.
    fn check(&self, url: &str) -> Result<(), UpstreamError> {
        self.policy
            .check_url(url)
            .map(drop)
            .map_err(|refused| UpstreamError {
                url: url.to_owned(),
                reason: refused.to_string(),
            })
    }

    /// How the upstream of the mirror `alias` answered lately.
    pub fn contact(&self, alias: &str) -> Contact {
        self.contacts
            .read()
            .unwrap()
            .get(alias)
            .cloned()
            .unwrap_or_default()
    }

    fn note(&self, alias: &str, outcome: &Result<Fetched, UpstreamError>) {
        use crate::metrics::UpstreamOutcome;
        crate::metrics::metrics().upstream_request(
            alias,
            match outcome {
                Ok(Fetched::Modified { .. }) => UpstreamOutcome::Ok,
                Ok(Fetched::NotModified) => UpstreamOutcome::NotModified,
                Ok(Fetched::NotFound) => UpstreamOutcome::NotFound,
                Err(_) => UpstreamOutcome::Failed,
            },
        );
        let now = crate::db::now_millis();
        let mut contacts = self.contacts.write().unwrap();
        let contact = contacts.entry(alias.to_owned()).or_default();
        match outcome {
            Ok(_) => {
                contact.answered_at = Some(now);
                contact.failure = None;
            }
            Err(error) => contact.failure = Some((now, error.reason.clone())),
        }
    }

    /// `GET url` with `If-Modified-Since` when a copy is held; the outcome is noted
    /// for [`Self::contact`].
    pub async fn metadata(
        &self,
        mirror: &MirrorConfig,
        url: &str,
        if_modified_since: Option<&str>,
    ) -> Result<Fetched, UpstreamError> {
        let outcome = self.fetch_metadata(mirror, url, if_modified_since).await;
        self.note(&mirror.alias, &outcome);
        outcome
    }

    async fn fetch_metadata(
        &self,
        mirror: &MirrorConfig,
        url: &str,
        if_modified_since: Option<&str>,
    ) -> Result<Fetched, UpstreamError> {
        let failed = |reason: String| UpstreamError {
            url: url.to_owned(),
            reason,
        };
        self.check(url)?;
        let mut request = self.client.get().get(url).timeout(METADATA_TIMEOUT);
        if let Some((user, password)) = &mirror.http_basic {
            request = request.basic_auth(user, Some(password));
        }
        if let Some(since) = if_modified_since {
            request = request.header(header::IF_MODIFIED_SINCE, since);
        }
        let response = request.send().await.map_err(|e| failed(describe(&e)))?;
        match response.status() {
            StatusCode::NOT_MODIFIED => Ok(Fetched::NotModified),
            StatusCode::NOT_FOUND | StatusCode::GONE => Ok(Fetched::NotFound),
            status if status.is_success() => {
                let last_modified = response
                    .headers()
                    .get(header::LAST_MODIFIED)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let body = read_bounded(response, MAX_METADATA_DOCUMENT)
                    .await
                    .map_err(|error| failed(error.to_string()))?;
                Ok(Fetched::Modified {
                    body,
                    last_modified,
                })
            }
            status => Err(failed(format!("answered {status}"))),
        }
    }

    /// Posts `packages` to an advisories API (`packages[]=...`, form-encoded, as
    /// Composer does) and returns the lists by package name. The answer is read up
    /// to [`MAX_ADVISORIES_ANSWER`] bytes; whatever it says beyond the format is ignored.
    pub async fn advisories(
        &self,
        mirror: &MirrorConfig,
        url: &str,
        packages: &[String],
    ) -> Result<serde_json::Map<String, serde_json::Value>, UpstreamError> {
        let failed = |reason: String| UpstreamError {
            url: url.to_owned(),
            reason,
        };
        let form = {
            let mut form = form_urlencoded::Serializer::new(String::new());
            for package in packages {
                form.append_pair("packages[]", package);
            }
            form.finish()
        };
        self.check(url)?;
        let mut request = self
            .no_redirects
            .get()
            .post(url)
            .timeout(METADATA_TIMEOUT)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(form);
        // The API may live beside the repository's path (`/api/...` next to
        // `/composer/`), so the host decides here, not the path.
        if let Some((user, password)) = &mirror.http_basic
            && same_host(&mirror.url, url)
        {
            request = request.basic_auth(user, Some(password));
        }
        let response = request.send().await.map_err(|e| failed(describe(&e)));
        count_answer(&mirror.alias, &response);
        let response = response?;
        if !response.status().is_success() {
            return Err(failed(format!("answered {}", response.status())));
        }
        let body = read_bounded(response, MAX_ADVISORIES_ANSWER)
            .await
            .map_err(|error| failed(error.to_string()))?;
        super::advisories::parse_upstream_answer(&body)
            .ok_or_else(|| failed("answered something that is not an advisories document".into()))
    }

    /// Starts downloading an archive: its length when announced, and its bytes.
    pub async fn download(
        &self,
        mirror: &MirrorConfig,
        url: &str,
    ) -> Result<
        (
            Option<u64>,
            impl Stream<Item = Result<Bytes, UpstreamError>> + Send + 'static,
        ),
        UpstreamError,
    > {
        let failed = |reason: String| UpstreamError {
            url: url.to_owned(),
            reason,
        };
        self.check(url)?;
        let mut request = self.client.get().get(url);
        // Credentials go only to the mirrored repository itself, never to the hosts its
        // metadata points at.
        if let Some((user, password)) = &mirror.http_basic
            && same_origin(&mirror.url, url)
        {
            request = request.basic_auth(user, Some(password));
        }
        let response = request.send().await.map_err(|e| failed(describe(&e)));
        count_answer(&mirror.alias, &response);
        let response = response?;
        if !response.status().is_success() {
            return Err(failed(format!("answered {}", response.status())));
        }
        let length = response.content_length();
        let owned_url = url.to_owned();
        let stream = response.bytes_stream().map_err(move |e| UpstreamError {
            url: owned_url.clone(),
            reason: describe(&e),
        });
        Ok((length, stream))
    }
}

/// The stand-in for `name` (a private package's, which must not reach the upstream):
/// a package name no upstream has, 128 bits keyed by a secret this process drew at
/// random, under a vendor of its own. The request `name` would cause is made for its
/// decoy instead, and the answer (a miss, or a failure) stands for `name`'s: the same
/// cost, time and outcome as for any name the upstream does not have, whatever state
/// the upstream is in. One name has one decoy, so a cache in front of the upstream
/// (a CDN remembering 404s) sees a repeated name repeated, as it would an unknown
/// one. The upstream learns that some name was withheld, never which.
pub fn decoy_name(name: &str) -> String {
    static KEY: std::sync::OnceLock<[u8; 32]> = std::sync::OnceLock::new();
    let key = KEY.get_or_init(|| {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).expect("the operating system's random source failed");
        key
    });
    let digest = crate::auth::hmac_sha256(key, name.as_bytes());
    format!("packyard-decoy/{}", hex::encode(&digest[..16]))
}

/// Counts an upstream request that is not a metadata request (those are counted
/// with their revalidation outcome in [`Upstream::metadata`]).
fn count_answer(alias: &str, response: &Result<reqwest::Response, UpstreamError>) {
    use crate::metrics::UpstreamOutcome;
    let outcome = match response {
        Ok(response) if response.status().is_success() => UpstreamOutcome::Ok,
        Ok(response) if response.status() == StatusCode::NOT_FOUND => UpstreamOutcome::NotFound,
        _ => UpstreamOutcome::Failed,
    };
    crate::metrics::metrics().upstream_request(alias, outcome);
}

/// Whether `url` is on the mirrored repository itself: same scheme, host and port, and
/// under its path. A string prefix test would also match `https://repo.example.evil.net`.
fn same_origin(base: &str, url: &str) -> bool {
    let (Ok(base), Ok(url)) = (reqwest::Url::parse(base), reqwest::Url::parse(url)) else {
        return false;
    };
    let base_path = base.path().trim_end_matches('/');
    base.scheme() == url.scheme()
        && base.host_str() == url.host_str()
        && base.port_or_known_default() == url.port_or_known_default()
        && url.username().is_empty()
        && (url.path() == base_path || url.path().starts_with(&format!("{base_path}/")))
}

/// Whether `url` is on the mirrored repository's scheme, host and port (any path).
fn same_host(base: &str, url: &str) -> bool {
    let (Ok(base), Ok(url)) = (reqwest::Url::parse(base), reqwest::Url::parse(url)) else {
        return false;
    };
    base.scheme() == url.scheme()
        && base.host_str() == url.host_str()
        && base.port_or_known_default() == url.port_or_known_default()
        && url.username().is_empty()
}

#[cfg(test)]
mod tests {
    use super::same_origin;

    #[test]
    fn a_name_has_one_decoy_which_does_not_tell_it() {
        use super::decoy_name;
        let decoy = decoy_name("acme/secret");
        assert_eq!(decoy, decoy_name("acme/secret"));
        assert_ne!(decoy, decoy_name("acme/secreu"));
        assert!(
            !decoy.contains("acme") && !decoy.contains("secret"),
            "{decoy}"
        );
        composer::package_name::PackageName::parse(&decoy).unwrap();
    }

    #[test]
    fn advisories_apis_beside_the_repository_get_its_credentials() {
        use super::same_host;
        assert!(same_host(
            "https://h.example/composer",
            "https://h.example/api/security-advisories/"
        ));
        assert!(!same_host(
            "https://h.example/composer",
            "https://packagist.org/api/"
        ));
        assert!(!same_host("https://h.example", "http://h.example/api/"));
        assert!(!same_host(
            "https://h.example",
            "https://h.example:8443/api/"
        ));
        assert!(!same_host("https://h.example", "https://x@h.example/api/"));
    }

    #[test]
    fn credentials_go_only_to_the_mirrored_repository() {
        let base = "https://composer.partner.example";
        assert!(same_origin(
            base,
            "https://composer.partner.example/dists/a.zip"
        ));
        assert!(same_origin(
            base,
            "https://composer.partner.example:443/dists/a.zip"
        ));
        for other in [
            "https://composer.partner.example.evil.net/x.zip",
            "https://composer.partner.example@evil.net/x.zip",
            "http://composer.partner.example/x.zip",
            "https://composer.partner.example:8443/x.zip",
            "https://github.com/a/b/zipball/c",
            "not a url",
        ] {
            assert!(!same_origin(base, other), "{other}");
        }
        assert!(same_origin(
            "http://127.0.0.1:1234/repo",
            "http://127.0.0.1:1234/repo/dists/a.zip"
        ));
        assert!(!same_origin(
            "http://127.0.0.1:1234/repo",
            "http://127.0.0.1:12345/repo/a.zip"
        ));
        assert!(!same_origin(
            "http://127.0.0.1:1234/repo",
            "http://127.0.0.1:1234/repository/a.zip"
        ));
    }
}
