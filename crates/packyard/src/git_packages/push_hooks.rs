//! Push hooks from GitHub, GitLab, Gitea and Bitbucket, and Packagist's generic
//! `update-package`: where each provider puts the pushed repository's URL and its
//! proof (an HMAC signature of the body, or GitLab's token), the check of that proof
//! against the webhook secrets of the repository's packages, and the re-scans a hook
//! queues. The HTTP route (`http::hooks`) checks the caller and reads the body.
//!
//! A package with a webhook secret accepts a hook signed with it (or carrying it, for
//! GitLab); otherwise the hook must come with a maintainer's or admin's credentials,
//! which the route checks before the body is read.

use axum::http::HeaderMap;
use serde_json::Value;

use super::GitPackages;
use crate::auth::constant_time_eq;
use crate::db::GitPackage;
use crate::error::{Classify, ErrorKind};
use crate::repository_url;
use crate::secrets::Secrets;

/// Who sent a hook, which decides where the repository URL is and how it is signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    GitHub,
    GitLab,
    Gitea,
    Bitbucket,
    Generic,
}

impl Provider {
    /// Whether this is GitHub's `ping`, sent when a hook is set up.
    pub fn is_ping(self, headers: &HeaderMap) -> bool {
        self == Provider::GitHub && header(headers, "x-github-event") == Some("ping")
    }

    /// The provider's proof that the hook comes from the repository's owner, if it
    /// sent one.
    pub fn proof(self, headers: &HeaderMap) -> Option<&str> {
        signature(self, headers)
    }
}

/// Why a hook queued nothing.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("the hook body is not JSON: {0}")]
    NotJson(serde_json::Error),
    #[error(
        "no repository URL in the hook body (expected e.g. {{\"repository\":{{\"url\":\"...\"}}}})"
    )]
    NoRepositoryUrl,
    /// Answered only to a caller whose credentials vouch for it: a signed hook for an
    /// unknown repository gets [`HookError::BadSignature`], so that anonymous callers
    /// cannot probe which repositories are registered.
    #[error("no package uses the repository {0}")]
    UnknownRepository(String),
    #[error("the webhook signature does not match the package's webhook secret")]
    BadSignature,
    #[error("no git package is named {0}")]
    UnknownPackages(String),
    #[error("name at most {MAX_NAMED} packages in one request")]
    TooManyNames,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl Classify for HookError {
    fn kind(&self) -> ErrorKind {
        match self {
            HookError::NotJson(_) | HookError::NoRepositoryUrl | HookError::TooManyNames => {
                ErrorKind::Invalid
            }
            HookError::UnknownRepository(_) | HookError::UnknownPackages(_) => ErrorKind::NotFound,
            // The HTTP route answers 401, as for credentials that do not verify.
            HookError::BadSignature => ErrorKind::Forbidden,
            HookError::Database(error) => error.kind(),
        }
    }
}

/// Most packages one request may name.
pub const MAX_NAMED: usize = 100;

/// The packages a Packeton-style update request names instead of a repository:
/// `composer_package_name` (the query's value, `a/b,c/d`), and
/// `{"composer": {"package_name": "a/b"}}` (or a list) in the body. Empty when it names
/// none.
pub fn named_packages(composer_package_name: Option<&str>, body: &[u8]) -> Vec<String> {
    let mut names: Vec<String> = composer_package_name
        .map(|list| {
            list.split(',')
                .map(str::trim)
                .filter(|name| !name.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    if let Ok(payload) = serde_json::from_slice::<Value>(body) {
        match payload.pointer("/composer/package_name") {
            Some(Value::String(name)) => names.push(name.clone()),
            Some(Value::Array(list)) => {
                names.extend(list.iter().filter_map(Value::as_str).map(str::to_owned));
            }
            _ => {}
        }
    }
    names.dedup();
    names
}

/// A re-scan a hook queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queued {
    pub package: String,
    pub job: i64,
}

impl GitPackages {
    /// Takes a push hook's body: the packages of the pushed repository, each given a
    /// re-scan. `proof` is what the provider sent ([`Provider::proof`]), which must
    /// match every package's webhook secret; without one the caller must be a
    /// maintainer, which the caller of this method checked.
    pub async fn receive_push(
        &self,
        provider: Provider,
        proof: Option<&str>,
        body: &[u8],
    ) -> Result<Vec<Queued>, HookError> {
        let payload: Value = serde_json::from_slice(body).map_err(HookError::NotJson)?;
        let urls = repository_urls(provider, &payload);
        if urls.is_empty() {
            return Err(HookError::NoRepositoryUrl);
        }
        let packages = self.packages_of(&urls).await?;
        if packages.is_empty() {
            return Err(match proof {
                // Signed but unknown: the same answer as a wrong signature.
                Some(_) => HookError::BadSignature,
                None => HookError::UnknownRepository(urls[0].clone()),
            });
        }
        // A proof that is sent must be right (without one, the caller is a maintainer).
        if let Some(proof) = proof {
            let secrets = webhook_secrets(&self.secrets, &packages);
            if !signature_matches(provider, proof, body, &secrets) {
                return Err(HookError::BadSignature);
            }
        }
        let mut queued = Vec::new();
        for package in packages {
            let job = super::job::enqueue_scan(&self.jobs, package.name.as_str()).await?;
            queued.push(Queued {
                package: package.name.into(),
                job,
            });
        }
        tracing::info!(
            ?provider,
            packages = queued.len(),
            "webhook queued re-scans"
        );
        Ok(queued)
    }

    /// Queues a re-scan of each git package of `names` (see [`named_packages`]); names
    /// that are not git packages here are skipped, as Packeton skips packages it cannot
    /// update, and none at all is [`HookError::UnknownPackages`]. The caller must be a
    /// maintainer, which the caller of this method checked.
    pub async fn receive_names(&self, names: &[String]) -> Result<Vec<Queued>, HookError> {
        if names.len() > MAX_NAMED {
            return Err(HookError::TooManyNames);
        }
        let mut queued = Vec::new();
        for name in names {
            if composer::package_name::validate(name).is_err()
                || self.db.git_package(name).await?.is_none()
            {
                continue;
            }
            let job = super::job::enqueue_scan(&self.jobs, name).await?;
            queued.push(Queued {
                package: name.clone(),
                job,
            });
        }
        if queued.is_empty() {
            return Err(HookError::UnknownPackages(names.join(", ")));
        }
        tracing::info!(
            packages = queued.len(),
            "update request queued re-scans by name"
        );
        Ok(queued)
    }

    /// The packages of the first of `urls` that has any.
    async fn packages_of(&self, urls: &[String]) -> Result<Vec<GitPackage>, sqlx::Error> {
        for url in urls {
            let packages = self
                .db
                .git_packages_by_key(&repository_url::key(url))
                .await?;
            if !packages.is_empty() {
                return Ok(packages);
            }
        }
        Ok(Vec::new())
    }
}

/// Every URL the payload gives for the pushed repository, best first.
fn repository_urls(provider: Provider, payload: &Value) -> Vec<String> {
    let at = |pointer: &str| {
        payload
            .pointer(pointer)
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let mut urls: Vec<String> = match provider {
        Provider::GitHub | Provider::Gitea => {
            ["clone_url", "ssh_url", "git_url", "html_url", "url"]
                .iter()
                .filter_map(|field| at(&format!("/repository/{field}")))
                .collect()
        }
        Provider::GitLab => [
            "/project/git_http_url",
            "/project/git_ssh_url",
            "/project/web_url",
            "/repository/git_http_url",
            "/repository/git_ssh_url",
            "/repository/homepage",
            "/repository/url",
        ]
        .iter()
        .filter_map(|pointer| at(pointer))
        .collect(),
        Provider::Bitbucket => {
            let mut urls: Vec<String> = at("/repository/links/html/href").into_iter().collect();
            if let Some(clones) = payload
                .pointer("/repository/links/clone")
                .and_then(Value::as_array)
            {
                urls.extend(
                    clones
                        .iter()
                        .filter_map(|c| c["href"].as_str().map(str::to_owned)),
                );
            }
            if let Some(full_name) = at("/repository/full_name") {
                urls.push(format!("https://bitbucket.org/{full_name}"));
            }
            urls
        }
        // Packagist's `{"repository": {"url": …}}` first; then, as Packeton's
        // generic route reads them, the payloads GitLab group hooks and Gitea send to
        // it (and GitHub's or Bitbucket's, wherever they are pointed).
        Provider::Generic => {
            let mut urls: Vec<String> = at("/repository/url")
                .or_else(|| at("/repository"))
                .into_iter()
                .collect();
            for provider in [Provider::GitLab, Provider::Gitea, Provider::Bitbucket] {
                for url in repository_urls(provider, payload) {
                    if !urls.contains(&url) {
                        urls.push(url);
                    }
                }
            }
            urls
        }
    };
    urls.retain(|url| !url.is_empty());
    urls
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The provider's proof that the hook comes from the repository's owner, if it sent one.
fn signature(provider: Provider, headers: &HeaderMap) -> Option<&str> {
    match provider {
        Provider::GitHub => {
            header(headers, "x-hub-signature-256").and_then(|s| s.strip_prefix("sha256="))
        }
        Provider::Gitea => header(headers, "x-gitea-signature").or_else(|| {
            header(headers, "x-hub-signature-256").and_then(|s| s.strip_prefix("sha256="))
        }),
        Provider::Bitbucket => {
            header(headers, "x-hub-signature").and_then(|s| s.strip_prefix("sha256="))
        }
        Provider::GitLab => header(headers, "x-gitlab-token"),
        Provider::Generic => None,
    }
}

/// The webhook secret of each package, opened. A secret that cannot be opened (one an
/// earlier version stored as plain text, until `packyard secrets rotate` seals it)
/// matches nothing; why is logged.
fn webhook_secrets(secrets: &Secrets, packages: &[GitPackage]) -> Vec<Option<String>> {
    packages
        .iter()
        .map(|package| {
            let stored = package.webhook_secret.as_deref()?;
            let owner = crate::secrets::SealedFor::PackageWebhookSecret(package.name.as_str());
            match secrets.get().and_then(|secrets| secrets.open(stored, owner)) {
                Ok(plain) => Some(String::from_utf8_lossy(&plain).into_owned()),
                Err(error) => {
                    tracing::warn!(%error, package = %package.name, "the webhook secret cannot be opened");
                    None
                }
            }
        })
        .collect()
}

/// Checks the proof against the secret of every package: false when a package has no
/// secret or one does not match.
fn signature_matches(
    provider: Provider,
    proof: &str,
    body: &[u8],
    secrets: &[Option<String>],
) -> bool {
    secrets.iter().all(|secret| match secret.as_deref() {
        None => false,
        Some(secret) if provider == Provider::GitLab => {
            constant_time_eq(proof.as_bytes(), secret.as_bytes())
        }
        Some(secret) => crate::auth::hmac_sha256_hex_matches(secret.as_bytes(), body, proof),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use hmac::{Hmac, Mac};
    use serde_json::json;
    use sha2::Sha256;

    /// `None` without proof, else whether it matches.
    fn verify_signature(
        provider: Provider,
        headers: &HeaderMap,
        body: &[u8],
        packages: &[GitPackage],
    ) -> Option<bool> {
        let secrets: Vec<Option<String>> =
            packages.iter().map(|p| p.webhook_secret.clone()).collect();
        signature(provider, headers).map(|proof| signature_matches(provider, proof, body, &secrets))
    }

    fn sign(secret: &str, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(body);
        hex::encode(mac.finalize().into_bytes())
    }

    fn package(secret: Option<&str>) -> GitPackage {
        GitPackage {
            name: crate::db::testing::package("acme/lib"),
            repository_url: "https://github.com/acme/lib.git".into(),
            credentials: None,
            webhook_secret: secret.map(str::to_owned),
            scan_fingerprint: None,
            scanned_at: None,
            scan_error: None,
            scan_report: None,
        }
    }

    #[test]
    fn urls_are_found_where_each_provider_puts_them() {
        let github = json!({"repository": {"clone_url": "https://github.com/acme/lib.git", "ssh_url": "git@github.com:acme/lib.git"}});
        assert_eq!(
            repository_urls(Provider::GitHub, &github)[0],
            "https://github.com/acme/lib.git"
        );
        let gitlab = json!({"project": {"git_http_url": "https://gitlab.com/acme/lib.git"}});
        assert_eq!(
            repository_urls(Provider::GitLab, &gitlab),
            ["https://gitlab.com/acme/lib.git"]
        );
        let bitbucket = json!({"repository": {"full_name": "acme/lib", "links": {"html": {"href": "https://bitbucket.org/acme/lib"}}}});
        assert_eq!(
            repository_urls(Provider::Bitbucket, &bitbucket)[0],
            "https://bitbucket.org/acme/lib"
        );
        let generic = json!({"repository": {"url": "/srv/git/lib"}});
        assert_eq!(
            repository_urls(Provider::Generic, &generic),
            ["/srv/git/lib"]
        );
        assert!(repository_urls(Provider::Generic, &json!({"nothing": 1})).is_empty());
    }

    #[test]
    fn signatures_are_checked_per_provider() {
        let body = br#"{"repository":{}}"#;
        let packages = [package(Some("s3cret"))];
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-hub-signature-256",
            format!("sha256={}", sign("s3cret", body)).parse().unwrap(),
        );
        assert_eq!(
            verify_signature(Provider::GitHub, &headers, body, &packages),
            Some(true)
        );
        assert_eq!(
            verify_signature(Provider::GitHub, &headers, b"tampered", &packages),
            Some(false)
        );
        assert_eq!(
            verify_signature(Provider::GitHub, &headers, body, &[package(Some("other"))]),
            Some(false)
        );
        assert_eq!(
            verify_signature(Provider::GitHub, &headers, body, &[package(None)]),
            Some(false)
        );
        let mut gitea = HeaderMap::new();
        gitea.insert("x-gitea-signature", sign("s3cret", body).parse().unwrap());
        assert_eq!(
            verify_signature(Provider::Gitea, &gitea, body, &packages),
            Some(true)
        );
        let mut gitlab = HeaderMap::new();
        gitlab.insert("x-gitlab-token", "s3cret".parse().unwrap());
        assert_eq!(
            verify_signature(Provider::GitLab, &gitlab, body, &packages),
            Some(true)
        );
        gitlab.insert("x-gitlab-token", "s3cre".parse().unwrap());
        assert_eq!(
            verify_signature(Provider::GitLab, &gitlab, body, &packages),
            Some(false)
        );
        assert_eq!(
            verify_signature(Provider::Generic, &headers, body, &packages),
            None
        );
        assert_eq!(
            verify_signature(Provider::GitHub, &HeaderMap::new(), body, &packages),
            None
        );
    }
}
