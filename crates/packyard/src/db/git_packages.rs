//! Git packages: repository, credentials, scan state, and replacing a package's versions
//! with what a scan found.

use std::collections::HashMap;

use composer::package_name::PackageName;

use super::audit::Change;
use super::packages::{VERSION_COLUMNS, bump_stamp, upsert_version};
use super::retained::{RetainReason, retain};
use super::{Db, PackageKind, VersionRecord, now_millis};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct GitPackage {
    #[sqlx(try_from = "String")]
    pub name: PackageName,
    pub repository_url: String,
    /// Sealed with `PACKYARD_SECRET`.
    pub credentials: Option<String>,
    pub webhook_secret: Option<String>,
    pub scan_fingerprint: Option<String>,
    pub scanned_at: Option<i64>,
    pub scan_error: Option<String>,
    /// JSON list of the refs the last scan skipped, with reasons.
    pub scan_report: Option<String>,
}

/// How a scan changed one version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Added,
    Updated,
    Removed,
}

/// One version a scan added, changed or removed (as it was, when removed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionChange {
    pub kind: ChangeKind,
    pub version: String,
    pub version_normalized: String,
    pub reference: String,
}

impl VersionChange {
    fn of(kind: ChangeKind, version: &VersionRecord) -> Self {
        VersionChange {
            kind,
            version: version.version.clone(),
            version_normalized: version.version_normalized.clone(),
            reference: version.reference.clone(),
        }
    }
}

/// A frozen version a scan offered with another commit (its tag was moved): it keeps
/// `kept_reference`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldVersion {
    pub version: String,
    pub version_normalized: String,
    pub kept_reference: String,
    pub offered_reference: String,
}

impl HeldVersion {
    /// The move as the audit log records it.
    pub fn recorded(&self) -> serde_json::Value {
        serde_json::json!({
            "version": self.version,
            "kept": self.kept_reference,
            "offered": self.offered_reference,
        })
    }
}

/// What [`Db::replace_versions`] did: the versions it changed and the ones it held.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanChanges {
    pub changes: Vec<VersionChange>,
    pub held: Vec<HeldVersion>,
}

#[derive(Debug, Clone)]
pub struct NewGitPackage {
    pub name: String,
    pub repository_url: String,
    pub repository_key: String,
    pub credentials: Option<String>,
    pub webhook_secret: Option<String>,
}

/// The outcome of one scan, for the package row.
#[derive(Debug, Clone, Default)]
pub struct ScanRecord {
    pub fingerprint: Option<String>,
    pub error: Option<String>,
    pub report: Option<String>,
}

const GIT_PACKAGE_COLUMNS: &str = "name, repository_url, credentials, webhook_secret, scan_fingerprint, \
     scanned_at, scan_error, scan_report";

impl Db {
    /// Registers a git package with its versions from the first scan, in one
    /// transaction. Fails with a unique violation when the name is taken.
    pub async fn create_git_package(
        &self,
        package: &NewGitPackage,
        versions: &[VersionRecord],
        scan: &ScanRecord,
    ) -> Result<(), sqlx::Error> {
        let now = now_millis();
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO packages (name, kind, created_at, updated_at, repository_url, repository_key, \
             credentials, webhook_secret, scan_fingerprint, scanned_at, scan_error, scan_report) \
             VALUES ($1, $2, $3, $3, $4, $5, $6, $7, $8, $3, $9, $10)",
        )
        .bind(&package.name)
        .bind(PackageKind::Git)
        .bind(now)
        .bind(&package.repository_url)
        .bind(&package.repository_key)
        .bind(&package.credentials)
        .bind(&package.webhook_secret)
        .bind(&scan.fingerprint)
        .bind(&scan.error)
        .bind(&scan.report)
        .execute(&mut *tx)
        .await?;
        let package_id = bump_stamp(&mut tx, &package.name).await?;
        for version in versions {
            upsert_version(&mut tx, package_id, version).await?;
        }
        let change = Change::of_package("package.added", &package.name)
            .detail(
                "repository",
                crate::redact::for_record(&package.repository_url, true),
            )
            .detail(
                "versions",
                versions
                    .iter()
                    .map(|v| v.version.as_str())
                    .collect::<Vec<_>>(),
            );
        super::audit::append(&mut tx, &change).await?;
        tx.commit().await
    }

    /// Every package with its kind, number of versions and, for git packages, when it
    /// was last scanned and the last scan's error: what the admin page lists.
    pub async fn package_overview(
        &self,
    ) -> Result<Vec<(String, String, i64, Option<i64>, Option<String>)>, sqlx::Error> {
        sqlx::query_as(
            "SELECT p.name, p.kind, (SELECT COUNT(*) FROM versions v WHERE v.package_id = p.id), \
             p.scanned_at, p.scan_error FROM packages p ORDER BY p.name",
        )
        .fetch_all(self.pool())
        .await
    }

    pub async fn git_package(&self, name: &str) -> Result<Option<GitPackage>, sqlx::Error> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {GIT_PACKAGE_COLUMNS} FROM packages WHERE name = $1 AND kind = $2"
        )))
        .bind(name)
        .bind(PackageKind::Git)
        .fetch_optional(self.pool())
        .await
    }

    /// Git packages whose repository has this key (see `repository_url::key`).
    pub async fn git_packages_by_key(&self, key: &str) -> Result<Vec<GitPackage>, sqlx::Error> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {GIT_PACKAGE_COLUMNS} FROM packages WHERE repository_key = $1 AND kind = $2 ORDER BY name"
        )))
        .bind(key)
        .bind(PackageKind::Git)
        .fetch_all(self.pool())
        .await
    }

    /// Names of git packages not scanned since `before` (Unix ms).
    pub async fn git_packages_scanned_before(
        &self,
        before: i64,
    ) -> Result<Vec<String>, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT name FROM packages WHERE kind = $2 AND (scanned_at IS NULL OR scanned_at < $1) ORDER BY name",
        )
        .bind(before)
        .bind(PackageKind::Git)
        .fetch_all(self.pool())
        .await
    }

    pub async fn record_scan(&self, package: &str, scan: &ScanRecord) -> Result<(), sqlx::Error> {
        super::retry_transient(|| self.try_record_scan(package, scan)).await
    }

    async fn try_record_scan(&self, package: &str, scan: &ScanRecord) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE packages SET scanned_at = $2, scan_error = $3, \
             scan_fingerprint = COALESCE($4, scan_fingerprint), scan_report = COALESCE($5, scan_report) \
             WHERE name = $1",
        )
        .bind(package)
        .bind(now_millis())
        .bind(&scan.error)
        .bind(&scan.fingerprint)
        .bind(&scan.report)
        .execute(self.pool())
        .await
        .map(drop)
    }

    /// Makes the package's versions `versions`: new ones are added, changed ones
    /// replaced, vanished ones removed. Unchanged versions keep their rows (and their
    /// built dist's shasum). A version `frozen` says may no longer change (by its
    /// normalized version, `supply_chain::Immutability::freezes`) keeps its row when the
    /// scan offers it with other contents (a moved tag: returned as held), and when it
    /// vanishes its archive stays downloadable by reference (`retained_dists`). Returns
    /// what changed; only when something did is the package marked changed. Run again
    /// when PostgreSQL breaks a deadlock with another replica's write (`retry_transient`).
    pub async fn replace_versions(
        &self,
        package: &str,
        versions: &[VersionRecord],
        frozen: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<ScanChanges, sqlx::Error> {
        super::retry_transient(|| self.try_replace_versions(package, versions, frozen)).await
    }

    async fn try_replace_versions(
        &self,
        package: &str,
        versions: &[VersionRecord],
        frozen: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<ScanChanges, sqlx::Error> {
        let mut tx = self.pool().begin().await?;
        let rows: Vec<VersionRecord> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {VERSION_COLUMNS} FROM versions v JOIN packages p ON p.id = v.package_id WHERE p.name = $1"
        )))
        .bind(package)
        .fetch_all(&mut *tx)
        .await?;
        let existing: HashMap<String, VersionRecord> = rows
            .into_iter()
            .map(|row| (row.version_normalized.clone(), row))
            .collect();
        let mut held = Vec::new();
        let mut changed: Vec<&VersionRecord> = Vec::new();
        for new in versions {
            let Some(old) = existing.get(&new.version_normalized) else {
                changed.push(new);
                continue;
            };
            if old.version == new.version
                && old.reference == new.reference
                && old.metadata == new.metadata
            {
                continue;
            }
            if frozen(&old.version_normalized) {
                held.push(HeldVersion {
                    version: old.version.clone(),
                    version_normalized: old.version_normalized.clone(),
                    kept_reference: old.reference.clone(),
                    offered_reference: new.reference.clone(),
                });
            } else {
                changed.push(new);
            }
        }
        let vanished: Vec<&String> = existing
            .keys()
            .filter(|normalized| {
                !versions
                    .iter()
                    .any(|v| &v.version_normalized == *normalized)
            })
            .collect();
        if changed.is_empty() && vanished.is_empty() {
            return Ok(ScanChanges {
                changes: Vec::new(),
                held,
            });
        }
        let package_id = bump_stamp(&mut tx, package).await?;
        let mut report = Vec::with_capacity(changed.len() + vanished.len());
        for version in changed {
            upsert_version(&mut tx, package_id, version).await?;
            let kind = if existing.contains_key(&version.version_normalized) {
                ChangeKind::Updated
            } else {
                ChangeKind::Added
            };
            report.push(VersionChange::of(kind, version));
        }
        for normalized in vanished {
            let gone = &existing[normalized];
            if frozen(normalized) {
                retain(&mut tx, package_id, gone, RetainReason::TagDeleted, None).await?;
            }
            sqlx::query("DELETE FROM versions WHERE package_id = $1 AND version_normalized = $2")
                .bind(package_id)
                .bind(normalized)
                .execute(&mut *tx)
                .await?;
            report.push(VersionChange::of(ChangeKind::Removed, gone));
        }
        let described: Vec<serde_json::Value> = report
            .iter()
            .map(|change| {
                serde_json::json!({
                    "change": format!("{:?}", change.kind).to_lowercase(),
                    "version": change.version,
                    "reference": change.reference,
                })
            })
            .collect();
        let change = Change::of_package("package.scanned", package)
            .detail("versions", described)
            .detail(
                "moved",
                held.iter().map(HeldVersion::recorded).collect::<Vec<_>>(),
            );
        super::audit::append(&mut tx, &change).await?;
        tx.commit().await?;
        Ok(ScanChanges {
            changes: report,
            held,
        })
    }

    /// The sha1 recorded for the dist `dist_key` of `package` (empty when none is).
    pub async fn dist_shasum(
        &self,
        package: &PackageName,
        dist_key: &str,
    ) -> Result<String, sqlx::Error> {
        let found: Option<(String,)> = sqlx::query_as(
            "SELECT shasum FROM versions WHERE dist_key = $2 \
             AND package_id = (SELECT id FROM packages WHERE name = $1)",
        )
        .bind(package.as_str())
        .bind(dist_key)
        .fetch_optional(self.pool())
        .await?;
        Ok(found.map(|(shasum,)| shasum).unwrap_or_default())
    }

    /// Records the sha1 of a dist built for a version, if the version still points at
    /// that object.
    ///
    /// The change stamp is taken first: every transaction that changes a package's
    /// versions locks the catalogue stamp, then the package, then its versions
    /// (`bump_stamp` before the rows). Updating the version first and the stamp after,
    /// as this once did, deadlocked on PostgreSQL with a scan of the same package.
    pub async fn set_dist_shasum(
        &self,
        package: &PackageName,
        dist_key: &str,
        shasum: &str,
    ) -> Result<(), sqlx::Error> {
        if self.dist_shasum(package, dist_key).await? == shasum {
            return Ok(());
        }
        let mut tx = self.pool().begin().await?;
        bump_stamp(&mut tx, package.as_str()).await?;
        let updated = sqlx::query(
            "UPDATE versions SET shasum = $3 WHERE dist_key = $2 AND shasum <> $3 \
             AND package_id = (SELECT id FROM packages WHERE name = $1)",
        )
        .bind(package.as_str())
        .bind(dist_key)
        .bind(shasum)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            // Recorded meanwhile, or the version moved on: the stamp stays where it was.
            return tx.rollback().await;
        }
        tx.commit().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{is_unique_violation, testing};

    fn version(v: &str, reference: &str) -> VersionRecord {
        VersionRecord {
            shasum: String::new(),
            dist_store: storage::StoreName::Dist,
            dist_key: format!("acme/lib/{v}-{reference}.zip"),
            ..testing::artifact_version(v, reference)
        }
    }

    fn package() -> NewGitPackage {
        NewGitPackage {
            name: "acme/lib".into(),
            repository_url: "https://git.example.com/acme/lib.git".into(),
            repository_key: "git.example.com/acme/lib".into(),
            credentials: None,
            webhook_secret: Some("s3cret".into()),
        }
    }

    /// A frozen version keeps its row when its tag moves and its archive when its tag
    /// goes; a branch follows its commits either way.
    #[tokio::test]
    async fn frozen_versions_hold_their_commit_and_keep_their_archive() {
        for (db, _dir) in testing::engines().await {
            let branch = |reference: &str| VersionRecord {
                version: "dev-main".into(),
                version_normalized: "dev-main".into(),
                ..version("dev-main", reference)
            };
            let scan = ScanRecord::default();
            db.create_git_package(&package(), &[version("1.0.0", "a"), branch("m1")], &scan)
                .await
                .unwrap();
            let moved = db
                .replace_versions(
                    "acme/lib",
                    &[version("1.0.0", "evil"), branch("m2")],
                    &|normalized: &str| !normalized.starts_with("dev-"),
                )
                .await
                .unwrap();
            assert_eq!(
                moved.held,
                [HeldVersion {
                    version: "1.0.0".into(),
                    version_normalized: "1.0.0.0".into(),
                    kept_reference: "a".into(),
                    offered_reference: "evil".into(),
                }]
            );
            assert_eq!(moved.changes.len(), 1, "only the branch moved: {moved:?}");
            let kept = db
                .find_version("acme/lib", "1.0.0.0")
                .await
                .unwrap()
                .unwrap();
            assert_eq!(kept.reference, "a");

            let deleted = db
                .replace_versions("acme/lib", &[branch("m2")], &|normalized: &str| {
                    !normalized.starts_with("dev-")
                })
                .await
                .unwrap();
            assert_eq!(deleted.changes[0].kind, ChangeKind::Removed);
            let retained = db.retained_dists("acme/lib").await.unwrap();
            assert_eq!(retained.len(), 1);
            assert_eq!(
                (retained[0].reference.as_str(), retained[0].reason.as_str()),
                ("a", "tag-deleted")
            );
            assert_eq!(retained[0].dist_key, "acme/lib/1.0.0-a.zip");
        }
    }

    #[tokio::test]
    async fn scans_replace_versions_and_keep_unchanged_rows() {
        for (db, _dir) in testing::engines().await {
            let scan = ScanRecord {
                fingerprint: Some("f1".into()),
                ..ScanRecord::default()
            };
            db.create_git_package(
                &package(),
                &[version("1.0.0", "a"), version("1.1.0", "b")],
                &scan,
            )
            .await
            .unwrap();
            let duplicate = db
                .create_git_package(&package(), &[], &scan)
                .await
                .unwrap_err();
            assert!(is_unique_violation(&duplicate));
            let found = db.git_package("acme/lib").await.unwrap().unwrap();
            assert_eq!(found.scan_fingerprint.as_deref(), Some("f1"));
            assert_eq!(found.webhook_secret.as_deref(), Some("s3cret"));
            assert_eq!(
                db.git_packages_by_key("git.example.com/acme/lib")
                    .await
                    .unwrap()
                    .len(),
                1
            );

            db.set_dist_shasum(
                &crate::db::testing::package("acme/lib"),
                "acme/lib/1.0.0-a.zip",
                "sha",
            )
            .await
            .unwrap();
            let stamp = db.package_stamps().await.unwrap()[0].updated_at;
            assert!(
                db.replace_versions(
                    "acme/lib",
                    &[version("1.0.0", "a"), version("1.1.0", "b")],
                    &|_| false
                )
                .await
                .unwrap()
                .changes
                .is_empty()
            );
            assert_eq!(
                db.package_stamps().await.unwrap()[0].updated_at,
                stamp,
                "no change, no new stamp"
            );

            // New metadata for an unchanged commit keeps the built dist's shasum.
            let retitled = VersionRecord {
                metadata: r#"{"description":"new"}"#.into(),
                ..version("1.0.0", "a")
            };
            let changes = db
                .replace_versions("acme/lib", &[retitled, version("1.1.0", "b")], &|_| false)
                .await
                .unwrap()
                .changes;
            let kinds = |changes: &[VersionChange]| -> Vec<(ChangeKind, String)> {
                let mut kinds: Vec<_> = changes
                    .iter()
                    .map(|c| (c.kind, c.version.clone()))
                    .collect();
                kinds.sort_by(|a, b| a.1.cmp(&b.1));
                kinds
            };
            assert_eq!(kinds(&changes), [(ChangeKind::Updated, "1.0.0".into())]);
            assert_eq!(
                db.find_version("acme/lib", "1.0.0.0")
                    .await
                    .unwrap()
                    .unwrap()
                    .shasum,
                "sha"
            );

            // 1.1.0 vanished, 1.2.0 appeared; 1.0.0 keeps its built dist's shasum.
            let changes = db
                .replace_versions(
                    "acme/lib",
                    &[version("1.0.0", "a"), version("1.2.0", "c")],
                    &|_| false,
                )
                .await
                .unwrap()
                .changes;
            assert_eq!(
                kinds(&changes),
                [
                    (ChangeKind::Updated, "1.0.0".into()),
                    (ChangeKind::Removed, "1.1.0".into()),
                    (ChangeKind::Added, "1.2.0".into())
                ]
            );
            let removed = changes
                .iter()
                .find(|c| c.kind == ChangeKind::Removed)
                .unwrap();
            assert_eq!(removed.reference, "b");
            let (_, mut rows) = db.package_with_versions("acme/lib").await.unwrap().unwrap();
            rows.sort_by(|a, b| a.version.cmp(&b.version));
            let summary: Vec<_> = rows
                .iter()
                .map(|r| (r.version.as_str(), r.shasum.as_str()))
                .collect();
            assert_eq!(summary, [("1.0.0", "sha"), ("1.2.0", "")]);
            assert!(db.package_stamps().await.unwrap()[0].updated_at > stamp);

            db.record_scan(
                "acme/lib",
                &ScanRecord {
                    error: Some("fatal: boom".into()),
                    ..ScanRecord::default()
                },
            )
            .await
            .unwrap();
            let failed = db.git_package("acme/lib").await.unwrap().unwrap();
            assert_eq!(failed.scan_error.as_deref(), Some("fatal: boom"));
            assert_eq!(
                failed.scan_fingerprint.as_deref(),
                Some("f1"),
                "a failed scan keeps the last fingerprint"
            );
            assert!(
                db.git_packages_scanned_before(now_millis() + 1)
                    .await
                    .unwrap()
                    .contains(&"acme/lib".to_string())
            );
            assert!(db.git_packages_scanned_before(0).await.unwrap().is_empty());
        }
    }
}
