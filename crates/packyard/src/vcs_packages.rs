//! Packages scanned from git repositories: adding one, re-scanning it, and turning what
//! a scan found into stored versions. The HTTP API, webhooks, jobs and the CLI all come
//! through here.

use std::path::PathBuf;
use std::sync::Arc;

use composer::vcs::DerivedVersion;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use storage::{StoreName, keys};

use crate::app::App;
use crate::db::{NewJob, NewVcsPackage, NewVersion, ScanRecord, VcsPackage, is_unique_violation};
use crate::jobs::{JobHandler, JobQueue};
use crate::repository_url;
use crate::secrets::SecretError;
use crate::sources::git::GitAuth;
use crate::sources::vcs::{ScanOutcome, scan};

/// How to reach a private repository; stored sealed with `PACKYARD_SECRET`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    /// HTTPS user name and password or token.
    pub username: Option<String>,
    pub password: Option<String>,
    /// An SSH private key (OpenSSH format) for ssh:// and user@host:path URLs.
    pub ssh_key: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct AddRequest {
    pub url: String,
    pub credentials: Option<Credentials>,
    pub webhook_secret: Option<String>,
    /// Whether `file://` URLs and local paths are allowed: always from the command line,
    /// over the API only with `PACKYARD_ALLOW_LOCAL_REPOSITORIES=1`, since they would let
    /// any maintainer read any repository on the server's disk.
    pub allow_local: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum VcsError {
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    Secret(#[from] SecretError),
    /// The repository could not be read: git's own words, or what is wrong with it.
    #[error("{0}")]
    Scan(String),
    #[error(
        "the package {package} already exists (from {origin}); remove it first or pick another name in composer.json"
    )]
    NameTaken { package: String, origin: String },
    #[error("no git package named {0}")]
    UnknownPackage(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("storage unavailable: {0}")]
    Storage(#[from] storage::StorageError),
}

/// What a scan did to a package.
#[derive(Debug, Clone, Serialize)]
pub struct ScanSummary {
    pub package: String,
    /// Whether any version was added, changed or removed.
    pub changed: bool,
    /// Whether the refs were the same as last time, so nothing was re-read.
    pub unchanged_refs: bool,
    pub versions: usize,
    /// Refs that gave no version, with the reason: `{"ref", "reason"}`.
    pub skipped: Vec<Value>,
    /// Versions published with a remark, e.g. a tag whose composer.json names another
    /// package: `{"ref", "reason"}`.
    pub notices: Vec<Value>,
}

impl ScanSummary {
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).expect("a summary serializes")
    }
}

/// Job kind of a package re-scan.
pub const SCAN_JOB: &str = "scan";

/// Queues a re-scan of `package`; a re-scan already waiting absorbs this one.
pub async fn enqueue_scan(jobs: &JobQueue, package: &str) -> Result<i64, sqlx::Error> {
    jobs.enqueue(scan_job(package)).await
}

/// A scan is not retried when it fails: the error (git's text) is kept on the job and
/// the package at once, and the next push or scheduled scan tries again.
fn scan_job(package: &str) -> NewJob {
    NewJob::new(SCAN_JOB, json!({"package": package}))
        .dedupe_key(format!("scan:{package}"))
        .max_attempts(1)
}

/// Runs queued re-scans.
pub struct ScanHandler(pub Arc<App>);

#[async_trait::async_trait]
impl JobHandler for ScanHandler {
    fn kind(&self) -> &'static str {
        SCAN_JOB
    }

    async fn run(&self, payload: Value) -> Result<Value, String> {
        let package = payload["package"]
            .as_str()
            .ok_or_else(|| format!("a scan job needs {{\"package\": NAME}}, got {payload}"))?;
        rescan(&self.0, package)
            .await
            .map(|summary| summary.to_json())
            .map_err(|error| error.to_string())
    }
}

/// Queues a re-scan of every git package not scanned within `interval`. Safe on every
/// replica at once: a scan queued by any replica within half the interval absorbs the
/// others'.
pub async fn enqueue_due_scans(
    app: &App,
    interval: std::time::Duration,
) -> Result<usize, sqlx::Error> {
    let before = crate::db::now_millis() - interval.as_millis() as i64;
    let due = app.db.vcs_packages_scanned_before(before).await?;
    for package in &due {
        let job = scan_job(package).skip_if_created_within(interval / 2);
        app.jobs.enqueue(job).await?;
    }
    Ok(due.len())
}

/// Adds the git package at `request.url`: the first scan runs now, so a bad URL, a
/// repository without composer.json or a taken name is reported to the caller.
pub async fn add(app: &App, request: AddRequest) -> Result<ScanSummary, VcsError> {
    let url = request.url.trim().to_owned();
    repository_url::validate(&url).map_err(VcsError::InvalidRequest)?;
    if repository_url::is_local(&url) && !request.allow_local {
        return Err(VcsError::InvalidRequest(format!(
            "local repositories ({url}) can only be added with `packyard package add`, or over the API when PACKYARD_ALLOW_LOCAL_REPOSITORIES=1"
        )));
    }
    let sealed = match &request.credentials {
        Some(credentials) => Some(
            app.secrets()?
                .seal(&serde_json::to_vec(credentials).expect("credentials serialize")),
        ),
        None => None,
    };
    let auth = AuthFiles::new(app, request.credentials.as_ref())?;
    let outcome = scan(&url, &mirror_dir(app, &url), &auth.git, None, None)
        .await
        .map_err(|e| scan_failed(e, &auth.git))?;
    let ScanOutcome::Scanned {
        package,
        fingerprint,
        versions,
        skipped,
        ..
    } = outcome
    else {
        unreachable!("a scan without a previous fingerprint always reads the refs");
    };
    if let Some(existing) = app.db.find_package(&package).await? {
        return Err(name_taken(app, &existing.name, &existing.kind).await);
    }
    let found = Found::new(&package, &url, fingerprint, &versions, &skipped);
    let new_package = NewVcsPackage {
        name: package.clone(),
        repository_url: url.clone(),
        repository_key: repository_url::key(&url),
        credentials: sealed,
        webhook_secret: request.webhook_secret.filter(|s| !s.is_empty()),
    };
    match app
        .db
        .create_vcs_package(&new_package, &found.rows, &found.record)
        .await
    {
        Ok(()) => {}
        Err(error) if is_unique_violation(&error) => {
            return Err(VcsError::NameTaken {
                package,
                origin: "another request that added it at the same time".into(),
            });
        }
        Err(error) => return Err(error.into()),
    }
    app.metadata.package_changed(&package).await?;
    tracing::info!(%package, versions = found.rows.len(), skipped = found.skipped.len(), "git package added");
    if app.settings.prebuild_dists {
        crate::dists::build_all(app, &package).await;
    }
    Ok(found.summary(package, true))
}

/// Fetches and re-scans a git package. A failure is recorded on the package (with git's
/// text) and returned; the versions it had stay as they were.
pub async fn rescan(app: &App, name: &str) -> Result<ScanSummary, VcsError> {
    let package = app
        .db
        .vcs_package(name)
        .await?
        .ok_or_else(|| VcsError::UnknownPackage(name.to_owned()))?;
    match scan_package(app, &package).await {
        Ok(summary) => Ok(summary),
        Err(error) => {
            let record = ScanRecord {
                error: Some(error.to_string()),
                ..ScanRecord::default()
            };
            app.db.record_scan(name, &record).await?;
            Err(error)
        }
    }
}

async fn scan_package(app: &App, package: &VcsPackage) -> Result<ScanSummary, VcsError> {
    let credentials = stored_credentials(app, package)?;
    let auth = AuthFiles::new(app, credentials.as_ref())?;
    let url = &package.repository_url;
    let outcome = scan(
        url,
        &mirror_dir(app, url),
        &auth.git,
        Some(&package.name),
        package.scan_fingerprint.as_deref(),
    )
    .await
    .map_err(|e| scan_failed(e, &auth.git))?;
    let (fingerprint, versions, skipped) = match outcome {
        ScanOutcome::Unchanged { fingerprint } => {
            let record = ScanRecord {
                fingerprint: Some(fingerprint),
                ..ScanRecord::default()
            };
            app.db.record_scan(&package.name, &record).await?;
            let current = app
                .db
                .package_with_versions(&package.name)
                .await?
                .map_or(0, |(_, v)| v.len());
            return Ok(ScanSummary {
                package: package.name.clone(),
                changed: false,
                unchanged_refs: true,
                versions: current,
                skipped: Vec::new(),
                notices: Vec::new(),
            });
        }
        ScanOutcome::Scanned {
            fingerprint,
            versions,
            skipped,
            ..
        } => (fingerprint, versions, skipped),
    };
    let found = Found::new(&package.name, url, fingerprint, &versions, &skipped);
    let changed = app.db.replace_versions(&package.name, &found.rows).await?;
    app.db.record_scan(&package.name, &found.record).await?;
    if changed {
        app.metadata.package_changed(&package.name).await?;
        if app.settings.prebuild_dists {
            crate::dists::build_all(app, &package.name).await;
        }
    }
    Ok(found.summary(package.name.clone(), changed))
}

/// What a scan found, as database rows, a scan record and the reports for the caller.
struct Found {
    rows: Vec<NewVersion>,
    record: ScanRecord,
    skipped: Vec<Value>,
    notices: Vec<Value>,
}

impl Found {
    fn new(
        package: &str,
        url: &str,
        fingerprint: String,
        versions: &[DerivedVersion],
        skipped: &[composer::vcs::SkippedRef],
    ) -> Found {
        let skipped: Vec<Value> = skipped
            .iter()
            .map(|s| json!({"ref": s.ref_name, "reason": s.reason}))
            .collect();
        let notices: Vec<Value> = versions
            .iter()
            .flat_map(|v| {
                v.notices
                    .iter()
                    .map(|notice| json!({"ref": v.ref_name, "reason": notice}))
            })
            .collect();
        let record = ScanRecord {
            fingerprint: Some(fingerprint),
            error: None,
            report: Some(json!({"skipped": skipped, "notices": notices}).to_string()),
        };
        Found {
            rows: versions
                .iter()
                .map(|v| new_version(package, url, v))
                .collect(),
            record,
            skipped,
            notices,
        }
    }

    fn summary(self, package: String, changed: bool) -> ScanSummary {
        ScanSummary {
            package,
            changed,
            unchanged_refs: false,
            versions: self.rows.len(),
            skipped: self.skipped,
            notices: self.notices,
        }
    }
}

/// A failed scan, in words: git's own text, led by what it means when the repository
/// wanted credentials (git, with prompts off, reports a 401 as being unable to ask for a
/// user name, whether or not credentials were sent).
fn scan_failed(error: impl std::fmt::Display, auth: &GitAuth) -> VcsError {
    let text = error.to_string();
    let refused = [
        "could not read Username",
        "Authentication failed",
        "returned error: 401",
        "returned error: 403",
    ]
    .iter()
    .any(|sign| text.contains(sign));
    if !refused {
        return VcsError::Scan(text);
    }
    let meaning = match auth.https_basic {
        Some(_) => "the repository refused the user name and password (HTTP 401)",
        None => {
            "the repository requires credentials (HTTP 401): give a user name and password \
             (--username and --password, or \"credentials\" over the API)"
        }
    };
    VcsError::Scan(format!("{meaning}; git said: {text}"))
}

async fn name_taken(app: &App, name: &str, kind: &str) -> VcsError {
    let origin = match app.db.vcs_package(name).await {
        Ok(Some(existing)) => public_url(&existing.repository_url),
        _ => format!("{kind} uploads"),
    };
    VcsError::NameTaken {
        package: name.to_owned(),
        origin,
    }
}

/// One scanned version as a database row: composer.json's published fields plus
/// `source` (the repository and commit) and the default-branch flag; the dist is built
/// later, so its shasum is unknown yet.
fn new_version(package: &str, url: &str, version: &DerivedVersion) -> NewVersion {
    let mut metadata = version.manifest.clone();
    for owned_by_repository in ["name", "version", "version_normalized", "dist", "source"] {
        metadata.remove(owned_by_repository);
    }
    metadata.insert(
        "source".into(),
        json!({"type": "git", "url": public_url(url), "reference": version.commit}),
    );
    if version.is_default_branch {
        metadata.insert("default-branch".into(), Value::Bool(true));
    }
    NewVersion {
        version: version.version.clone(),
        version_normalized: version.version_normalized.clone(),
        reference: version.commit.clone(),
        shasum: String::new(),
        dist_store: StoreName::Dist.as_str().to_owned(),
        dist_key: keys::dist(package, &version.version, &version.commit),
        metadata: Value::Object(metadata).to_string(),
        released_at: version
            .time
            .map_or_else(crate::db::now_millis, |seconds| seconds * 1000),
    }
}

/// The URL as published in metadata: never with a password in it (a bare user name,
/// as in `ssh://git@host/...`, stays).
pub fn public_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.split_once('@') {
            Some((credentials, host_and_path))
                if !credentials.contains('/') && credentials.contains(':') =>
            {
                format!("{scheme}://{host_and_path}")
            }
            _ => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// The bare mirror of a repository: named by the hash of its key, so every spelling of
/// one URL shares one mirror.
pub fn mirror_dir(app: &App, url: &str) -> PathBuf {
    let digest = hex::encode(Sha256::digest(repository_url::key(url).as_bytes()));
    app.settings.vcs_cache_dir.join(&digest[..32])
}

pub fn stored_credentials(
    app: &App,
    package: &VcsPackage,
) -> Result<Option<Credentials>, VcsError> {
    let Some(sealed) = &package.credentials else {
        return Ok(None);
    };
    let plain = app.secrets()?.open(sealed)?;
    serde_json::from_slice(&plain)
        .map(Some)
        .map_err(|e| VcsError::InvalidRequest(format!("stored credentials are unreadable: {e}")))
}

/// Credentials laid out for git: an SSH key goes to a private temporary file that is
/// removed when this is dropped, and ssh pins host keys in packyard's own known_hosts
/// (`PACKYARD_SSH_KNOWN_HOSTS`; trusted on first use), never the service user's.
pub struct AuthFiles {
    pub git: GitAuth,
    key_file: Option<PathBuf>,
}

impl AuthFiles {
    pub fn new(app: &App, credentials: Option<&Credentials>) -> Result<AuthFiles, VcsError> {
        let cache_dir = &app.settings.vcs_cache_dir;
        let mut git = GitAuth::default();
        let mut key_file = None;
        if let Some(credentials) = credentials {
            if let (Some(user), Some(password)) = (&credentials.username, &credentials.password) {
                git.https_basic = Some((user.clone(), password.clone()));
            }
            if let Some(key) = &credentials.ssh_key {
                let path = write_private_file(&cache_dir.join("keys"), key).map_err(|e| {
                    VcsError::InvalidRequest(format!("cannot write the SSH key file: {e}"))
                })?;
                git.ssh_key_path = Some(path.clone());
                git.known_hosts = Some(known_hosts(app).map_err(|e| {
                    VcsError::InvalidRequest(format!(
                        "cannot prepare the SSH known_hosts file: {e}"
                    ))
                })?);
                key_file = Some(path);
            }
        }
        Ok(AuthFiles { git, key_file })
    }
}

/// The known_hosts file, with its directory created.
fn known_hosts(app: &App) -> std::io::Result<PathBuf> {
    let path = app.settings.ssh_known_hosts.clone();
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    Ok(path)
}

impl Drop for AuthFiles {
    fn drop(&mut self) {
        if let Some(path) = &self.key_file {
            let _ = std::fs::remove_file(path);
        }
    }
}

fn write_private_file(dir: &std::path::Path, content: &str) -> std::io::Result<PathBuf> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("key-{}", crate::auth::generate_token()));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)?;
    file.write_all(content.as_bytes())?;
    if !content.ends_with('\n') {
        file.write_all(b"\n")?;
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_urls_never_carry_passwords() {
        assert_eq!(
            public_url("https://bot:token@git.example.com/acme/lib.git"),
            "https://git.example.com/acme/lib.git"
        );
        assert_eq!(
            public_url("https://git.example.com/a@b/lib.git"),
            "https://git.example.com/a@b/lib.git"
        );
        assert_eq!(
            public_url("git@github.com:acme/lib.git"),
            "git@github.com:acme/lib.git"
        );
        assert_eq!(
            public_url("ssh://git@github.com/acme/lib.git"),
            "ssh://git@github.com/acme/lib.git"
        );
        assert_eq!(public_url("/srv/git/lib"), "/srv/git/lib");
    }
}
