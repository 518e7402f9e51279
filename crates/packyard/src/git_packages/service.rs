//! Adding a git package and re-scanning one: what the CLI, the HTTP API and the scan
//! job all call. A scan's findings become database rows here, and the published
//! metadata is told about the change.

use composer::package_name::PackageName;
use composer::vcs::{DerivedVersion, SkippedRef};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use storage::{StoreName, keys};

use super::repository::{Credentials, Repository};
use super::scan::{ScanError, ScanOutcome, scan};
use super::{GitPackageError, GitPackages};
use crate::db::{
    ChangeKind, GitPackage, HeldVersion, NewGitPackage, PackageKind, RetainedDist, ScanChanges,
    ScanRecord, VersionChange, VersionRecord, is_unique_violation,
};
use crate::redact;
use crate::repository_url;
use crate::secrets::SealedFor;
use crate::webhooks::{Event, Occurrence};

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

/// A ref a scan reports on: one it skipped, or one it published with a remark (e.g. a
/// tag whose composer.json names another package).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefNote {
    #[serde(rename = "ref")]
    pub ref_name: String,
    pub reason: String,
}

/// What a scan did to a package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanSummary {
    pub package: String,
    /// Whether any version was added, changed or removed.
    pub changed: bool,
    /// Whether the refs were the same as last time, so nothing was re-read.
    pub unchanged_refs: bool,
    pub versions: usize,
    /// Refs that gave no version, with the reason.
    pub skipped: Vec<RefNote>,
    /// Versions published with a remark.
    pub notices: Vec<RefNote>,
}

/// The report kept on the package after each scan.
#[derive(Serialize)]
struct ScanReport<'a> {
    skipped: &'a [RefNote],
    notices: &'a [RefNote],
}

impl ScanReport<'_> {
    /// The report as stored on the package.
    fn json(skipped: &[RefNote], notices: &[RefNote]) -> String {
        serde_json::to_string(&ScanReport { skipped, notices }).expect("a report serializes")
    }
}

impl GitPackages {
    /// Adds the git package at `request.url`: the first scan runs now, so a bad URL, a
    /// repository without composer.json or a taken name is reported to the caller.
    pub async fn add(&self, request: AddRequest) -> Result<ScanSummary, GitPackageError> {
        let given = request.url.trim();
        repository_url::validate(given)?;
        if repository_url::is_local(given) && !request.allow_local {
            return Err(GitPackageError::LocalRepositoryRefused(given.to_owned()));
        }
        // A password in the URL is a credential: sealed with the others, never stored in
        // the URL (which is shown, logged and published).
        let credentials = request.credentials.or_else(|| {
            redact::credentials_in(given).map(|(username, password)| Credentials {
                username: Some(username),
                password: Some(password),
                ssh_key: None,
            })
        });
        let url = redact::public(given);
        // The push webhook's secret is a credential too: sealed like the others.
        let webhook_secret = request.webhook_secret.filter(|s| !s.is_empty());
        // They are sealed for the package, whose name the scan finds; without
        // PACKYARD_SECRET they could not be stored at all, which is said before scanning.
        if credentials.is_some() || webhook_secret.is_some() {
            self.secrets.get()?;
        }
        let repository = Repository::new(&self.options, &url, credentials.as_ref())?;
        let outcome = scan_repository(&repository, None, None).await?;
        let ScanOutcome::Scanned {
            package,
            fingerprint,
            versions,
            skipped,
            readme,
            ..
        } = outcome
        else {
            unreachable!("a scan without a previous fingerprint always reads the refs");
        };
        if let Some(existing) = self.db.find_package(&package).await? {
            return Err(self.name_taken(&existing.name, existing.kind).await);
        }
        let found = Found::new(package.as_str(), &url, fingerprint, &versions, &skipped);
        let sealed = match &credentials {
            Some(credentials) => Some(credentials.seal(&self.secrets, package.as_str(), &url)?),
            None => None,
        };
        let webhook_secret = match webhook_secret {
            Some(secret) => Some(self.secrets.get()?.seal(
                secret.as_bytes(),
                SealedFor::PackageWebhookSecret(package.as_str()),
            )),
            None => None,
        };
        let new_package = NewGitPackage {
            name: package.to_string(),
            repository_url: url.clone(),
            repository_key: repository_url::key(&url),
            credentials: sealed,
            webhook_secret,
        };
        match self
            .db
            .create_git_package(&new_package, &found.rows, &found.record)
            .await
        {
            Ok(()) => {}
            Err(error) if is_unique_violation(&error) => {
                return Err(GitPackageError::NameTaken {
                    package: package.into(),
                    origin: "another request that added it at the same time".into(),
                });
            }
            Err(error) => return Err(error.into()),
        }
        self.store_readme(&package, &versions, readme).await?;
        self.metadata.package_changed(&package).await?;
        tracing::info!(%package, versions = found.rows.len(), skipped = found.skipped.len(), "git package added");
        // One event for the package, not one per tag it came with.
        let added = Occurrence::new(Event::NewPackage, package.as_str())
            .with("repository_url", json!(redact::public(&url)))
            .with("versions", json!(found.rows.len()));
        self.webhooks.emit(&[added]).await;
        if self.options.prebuild_dists {
            self.build_all_dists(&package).await;
        }
        Ok(found.summary(package.into(), true))
    }

    /// Keeps the default branch's README as the one the web UI shows.
    async fn store_readme(
        &self,
        package: &PackageName,
        versions: &[DerivedVersion],
        readme: Option<String>,
    ) -> Result<(), sqlx::Error> {
        let default_version = versions.iter().find(|v| v.is_default_branch);
        let readme = readme
            .as_deref()
            .zip(default_version)
            .map(|(content, version)| (version.version_normalized.as_str(), content));
        self.db.set_readme(package, readme).await
    }

    /// Fetches and re-scans a git package. A failure is recorded on the package (with git's
    /// text) and returned; the versions it had stay as they were.
    pub async fn rescan(&self, name: &str) -> Result<ScanSummary, GitPackageError> {
        let package = self
            .db
            .git_package(name)
            .await?
            .ok_or_else(|| GitPackageError::UnknownPackage(name.to_owned()))?;
        match self.scan_package(&package).await {
            Ok(summary) => Ok(summary),
            Err(error) => {
                let record = ScanRecord {
                    error: Some(error.to_string()),
                    ..ScanRecord::default()
                };
                self.db.record_scan(name, &record).await?;
                // Told once when a package starts failing, not at every scheduled scan.
                if package.scan_error.is_none() {
                    let failed = Occurrence::new(Event::UpdateFailed, package.name.as_str())
                        .with("error", json!(error.to_string()));
                    self.webhooks.emit(&[failed]).await;
                }
                Err(error)
            }
        }
    }

    async fn scan_package(&self, package: &GitPackage) -> Result<ScanSummary, GitPackageError> {
        let repository = Repository::of(&self.options, &self.secrets, package)?;
        let outcome = scan_repository(
            &repository,
            Some(package.name.as_str()),
            package.scan_fingerprint.as_deref(),
        )
        .await?;
        let (fingerprint, versions, skipped, readme) = match outcome {
            ScanOutcome::Unchanged { fingerprint } => {
                let record = ScanRecord {
                    fingerprint: Some(fingerprint),
                    ..ScanRecord::default()
                };
                self.db.record_scan(package.name.as_str(), &record).await?;
                let current = self
                    .db
                    .package_with_versions(package.name.as_str())
                    .await?
                    .map_or(0, |(_, v)| v.len());
                return Ok(ScanSummary {
                    package: package.name.to_string(),
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
                readme,
                ..
            } => (fingerprint, versions, skipped, readme),
        };
        let mut found = Found::new(
            package.name.as_str(),
            &package.repository_url,
            fingerprint,
            &versions,
            &skipped,
        );
        let ScanChanges {
            changes: version_changes,
            held,
        } = self
            .db
            .replace_versions(package.name.as_str(), &found.rows, &|normalized| {
                self.options.immutability.freezes(normalized)
            })
            .await?;
        let changed = !version_changes.is_empty();
        if !held.is_empty() || version_changes.iter().any(|c| self.retains(c)) {
            found.hold(&held, &versions);
            self.keep_frozen_archives(&package.name, &held, &version_changes)
                .await;
        }
        // After the versions: the README is shown only with the version it came from.
        self.store_readme(&package.name, &versions, readme).await?;
        self.db
            .record_scan(package.name.as_str(), &found.record)
            .await?;
        if changed {
            self.metadata.package_changed(&package.name).await?;
            let occurrences: Vec<Occurrence> = version_changes
                .iter()
                .map(|change| {
                    let event = match change.kind {
                        ChangeKind::Added => Event::NewRelease,
                        ChangeKind::Updated => Event::UpdateRelease,
                        ChangeKind::Removed => Event::DeleteRelease,
                    };
                    Occurrence::release(
                        event,
                        package.name.as_str(),
                        &change.version,
                        &change.version_normalized,
                        &change.reference,
                    )
                })
                .collect();
            self.webhooks.emit(&occurrences).await;
            if self.options.prebuild_dists {
                self.build_all_dists(&package.name).await;
            }
        }
        Ok(found.summary(package.name.to_string(), changed))
    }

    /// Whether a scan's change leaves an archive behind for lock files: a frozen
    /// version whose tag was deleted.
    fn retains(&self, change: &VersionChange) -> bool {
        change.kind == ChangeKind::Removed
            && self
                .options
                .immutability
                .freezes(&change.version_normalized)
    }

    /// After a scan held frozen versions whose tags moved and let go of ones whose tags
    /// went: each move is logged and told to the outgoing webhooks (`version_conflict`),
    /// and the archives of both kinds are built now, while this mirror still has their
    /// commits (the remote may no longer serve them), so lock files keep installing.
    async fn keep_frozen_archives(
        &self,
        package: &PackageName,
        held: &[HeldVersion],
        changes: &[VersionChange],
    ) {
        let mut occurrences = Vec::with_capacity(held.len());
        for moved in held {
            crate::metrics::metrics().version_conflict("tag_moved");
            tracing::warn!(
                %package,
                version = %moved.version,
                kept = %moved.kept_reference,
                offered = %moved.offered_reference,
                "the tag of an immutable version moved; the version keeps its first commit"
            );
            occurrences.push(
                Occurrence::release(
                    Event::VersionConflict,
                    package.as_str(),
                    &moved.version,
                    &moved.version_normalized,
                    &moved.kept_reference,
                )
                .with("offered_reference", json!(moved.offered_reference)),
            );
        }
        self.webhooks.emit(&occurrences).await;
        // A scan that changed versions recorded the held ones with them; one that only
        // met moved tags is recorded here.
        if changes.is_empty() && !held.is_empty() {
            let moved: Vec<serde_json::Value> = held.iter().map(HeldVersion::recorded).collect();
            let change =
                crate::db::audit::Change::of_package("package.tag_moved", package.as_str())
                    .detail("moved", moved);
            if let Err(error) = self.db.record_audit_unless_repeated(&change).await {
                tracing::warn!(%error, %package, "the moved tag could not be recorded in the audit log");
            }
        }
        let mut keep: Vec<VersionRecord> = Vec::new();
        for moved in held {
            match self
                .db
                .find_version(package.as_str(), &moved.version_normalized)
                .await
            {
                Ok(Some(row)) => keep.push(row),
                Ok(None) => {}
                Err(error) => tracing::warn!(%error, %package, "reading a held version failed"),
            }
        }
        let deleted = changes.iter().filter(|c| self.retains(c));
        match self.db.retained_dists(package.as_str()).await {
            Ok(retained) => keep.extend(
                retained
                    .into_iter()
                    .filter(|r| deleted.clone().any(|c| c.reference == r.reference))
                    .map(RetainedDist::into_version),
            ),
            Err(error) => tracing::warn!(%error, %package, "reading retained archives failed"),
        }
        self.build_dists(package, &keep).await;
    }

    async fn name_taken(&self, name: &PackageName, kind: PackageKind) -> GitPackageError {
        let origin = match self.db.git_package(name.as_str()).await {
            Ok(Some(existing)) => redact::public(&existing.repository_url),
            _ => format!("{kind} uploads"),
        };
        GitPackageError::NameTaken {
            package: name.to_string(),
            origin,
        }
    }
}

async fn scan_repository(
    repository: &Repository,
    expected_package: Option<&str>,
    previous_fingerprint: Option<&str>,
) -> Result<ScanOutcome, GitPackageError> {
    let started = std::time::Instant::now();
    let timeout = repository.limits.scan_timeout;
    // Past the timeout the scan is dropped, which kills its git processes.
    let scanned = tokio::time::timeout(
        timeout,
        scan(&repository.mirror(), expected_package, previous_fingerprint),
    )
    .await
    .unwrap_or(Err(ScanError::TimedOut(timeout)));
    crate::metrics::metrics().scan_took(started.elapsed().as_secs_f64());
    scanned.map_err(|source| GitPackageError::Scan {
        source,
        credentials_sent: repository.auth.https_basic.is_some(),
    })
}

/// What a scan found, as database rows, a scan record and the reports for the caller.
struct Found {
    rows: Vec<VersionRecord>,
    record: ScanRecord,
    skipped: Vec<RefNote>,
    notices: Vec<RefNote>,
}

impl Found {
    fn new(
        package: &str,
        url: &str,
        fingerprint: String,
        versions: &[DerivedVersion],
        skipped: &[SkippedRef],
    ) -> Found {
        let skipped: Vec<RefNote> = skipped
            .iter()
            .map(|s| RefNote {
                ref_name: s.ref_name.clone(),
                reason: s.reason.clone(),
            })
            .collect();
        let notices: Vec<RefNote> = versions
            .iter()
            .flat_map(|v| {
                v.notices.iter().map(|notice| RefNote {
                    ref_name: v.ref_name.clone(),
                    reason: notice.clone(),
                })
            })
            .collect();
        let record = ScanRecord {
            fingerprint: Some(fingerprint),
            error: None,
            report: Some(ScanReport::json(&skipped, &notices)),
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

    /// Adds a notice for each frozen version whose tag moved to the scan's report.
    fn hold(&mut self, held: &[HeldVersion], versions: &[DerivedVersion]) {
        for moved in held {
            let ref_name = versions
                .iter()
                .find(|v| v.version_normalized == moved.version_normalized)
                .map_or_else(|| moved.version.clone(), |v| v.ref_name.clone());
            self.notices.push(RefNote {
                ref_name,
                reason: format!(
                    "the tag moved to {}; {} is immutable and keeps {}",
                    moved.offered_reference, moved.version, moved.kept_reference
                ),
            });
        }
        self.record.report = Some(ScanReport::json(&self.skipped, &self.notices));
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

/// One scanned version as a database row: composer.json's published fields plus
/// `source` (the repository and commit) and the default-branch flag; the dist is built
/// later, so its shasum is unknown yet.
fn new_version(package: &str, url: &str, version: &DerivedVersion) -> VersionRecord {
    let mut metadata = version.manifest.clone();
    for owned_by_repository in ["name", "version", "version_normalized", "dist", "source"] {
        metadata.remove(owned_by_repository);
    }
    metadata.insert(
        "source".into(),
        json!({"type": "git", "url": redact::public(url), "reference": version.commit}),
    );
    if version.is_default_branch {
        metadata.insert("default-branch".into(), Value::Bool(true));
    }
    VersionRecord {
        version: version.version.clone(),
        version_normalized: version.version_normalized.clone(),
        reference: version.commit.clone(),
        shasum: String::new(),
        dist_store: StoreName::Dist,
        dist_key: keys::dist(package, &version.version, &version.commit),
        metadata: Value::Object(metadata).to_string(),
        released_at: version
            .time
            .map_or_else(crate::db::now_millis, |seconds| seconds * 1000),
        published_at: 0,
    }
}
