//! `packyard storage check | migrate | verify`, and the start-up check.

use std::time::Duration;

use anyhow::{Context, bail};
use futures_util::{StreamExt, TryStreamExt};
use indicatif::{ProgressBar, ProgressStyle};
use sha1::{Digest, Sha1};
use storage::{Storage, StorageError, StoreName};

use crate::db::Db;

/// Writes, reads and deletes a probe object in every store; the error names the store,
/// where it is, and what is likely wrong.
pub async fn check(storage: &Storage) -> anyhow::Result<()> {
    check_patiently(storage, Duration::ZERO).await
}

/// [`check`], trying again for up to `patience` while the only failures are stores
/// that answered too slowly or stalled ([`StorageError::is_slow`]): a replica starting
/// while the store is busy or paused waits for it rather than exiting. A store that
/// refuses or denies fails at once.
pub async fn check_patiently(storage: &Storage, patience: Duration) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    loop {
        let failed: Vec<StoreCheck> = check_each(storage)
            .await
            .into_iter()
            .filter(|store| store.outcome.is_err())
            .collect();
        let Some(first) = failed.first() else {
            return Ok(());
        };
        let problem = first
            .outcome
            .as_ref()
            .err()
            .map(ToString::to_string)
            .unwrap_or_default();
        if !failed.iter().all(StoreCheck::is_slow) || started.elapsed() >= patience {
            bail!(
                "storage check failed for the {} store ({}): {problem}",
                first.name.as_str(),
                first.description,
            );
        }
        tracing::warn!(store = first.name.as_str(), %problem, "a store answers slowly; checking again");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// One store's probe: where it is, and what went wrong if anything did.
pub struct StoreCheck {
    pub name: StoreName,
    pub description: String,
    pub outcome: Result<(), ProbeFailed>,
}

impl StoreCheck {
    /// The store failed by not answering in time (it may be busy, not broken).
    pub fn is_slow(&self) -> bool {
        self.outcome
            .as_ref()
            .is_err_and(|ProbeFailed(error)| error.is_slow())
    }
}

/// A store's failed probe, told as what is likely wrong, then what the backend said.
#[derive(Debug, thiserror::Error)]
#[error("{}: {}", .0.diagnose().describe(), .0)]
pub struct ProbeFailed(pub StorageError);

/// Probes every store (writes, reads and deletes an object), stopping at none.
pub async fn check_each(storage: &Storage) -> Vec<StoreCheck> {
    let mut checks = Vec::new();
    for name in StoreName::ALL {
        let store = storage.store(name);
        let probed = store.without_cache().probe().await;
        checks.push(StoreCheck {
            name,
            description: store.description().to_owned(),
            outcome: probed.map_err(ProbeFailed),
        });
    }
    checks
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct MigrateReport {
    pub copied: u64,
    pub copied_bytes: u64,
    pub skipped: u64,
}

/// Copies every object of the four stores from `from` to `to`. Objects already present
/// with the same size are skipped, so an interrupted run resumes where it stopped.
pub async fn migrate(from: &Storage, to: &Storage) -> anyhow::Result<MigrateReport> {
    let mut plan = Vec::new();
    for name in StoreName::ALL {
        let (source, target) = (from.store(name), to.store(name));
        if source.description() == target.description() {
            bail!(
                "the {} store is the same on both sides ({}): nothing to migrate",
                name.as_str(),
                source.description()
            );
        }
        let objects: Vec<(String, u64)> = source.list().try_collect().await.with_context(|| {
            format!(
                "listing the {} store ({})",
                name.as_str(),
                source.description()
            )
        })?;
        plan.extend(objects.into_iter().map(|(key, size)| (name, key, size)));
    }
    let total: u64 = plan.iter().map(|(_, _, size)| size).sum();
    let progress = ProgressBar::new(total).with_style(
        ProgressStyle::with_template(
            "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta} {msg}",
        )
        .expect("a valid progress template"),
    );
    let mut report = MigrateReport::default();
    for (name, key, size) in plan {
        let (source, target) = (
            from.store(name).without_cache(),
            to.store(name).without_cache(),
        );
        progress.set_message(format!("{}/{key}", name.as_str()));
        if target.size(&key).await? == Some(size) {
            report.skipped += 1;
        } else {
            let object = source.get(&key).await?;
            target
                .put_stream(&key, object.stream, object.size)
                .await
                .with_context(|| format!("copying {}/{key}", name.as_str()))?;
            report.copied += 1;
            report.copied_bytes += size;
        }
        progress.inc(size);
    }
    progress.finish_and_clear();
    Ok(report)
}

/// A version whose archive is not what the database says.
#[derive(Debug, PartialEq, Eq)]
pub struct Problem {
    pub package: String,
    pub version: String,
    pub store: String,
    pub key: String,
    pub issue: String,
}

/// Reads every recorded archive back from storage and compares its sha1.
pub async fn verify(db: &Db, storage: &Storage) -> anyhow::Result<(usize, Vec<Problem>)> {
    let versions = db.all_versions().await?;
    let mut problems = Vec::new();
    for (package, version) in &versions {
        let problem = |issue: String| Problem {
            package: package.clone(),
            version: version.version.clone(),
            store: version.dist_store.as_str().to_owned(),
            key: version.dist_key.clone(),
            issue,
        };
        let store = storage.store(version.dist_store).without_cache();
        match sha1_of(&store, &version.dist_key).await {
            Ok(actual) if version.shasum.is_empty() || actual == version.shasum => {}
            Ok(actual) => problems.push(problem(format!(
                "sha1 is {actual}, expected {}",
                version.shasum
            ))),
            // A git version's archive is built on its first download: none yet, and no
            // sha1 published for it, is how it should be.
            Err(StorageError::NotFound { .. })
                if version.dist_store == storage::StoreName::Dist && version.shasum.is_empty() => {}
            Err(StorageError::NotFound { .. }) => {
                problems.push(problem("object is missing".into()));
            }
            Err(error) => return Err(error).context("reading from storage"),
        }
    }
    Ok((versions.len(), problems))
}

/// The sha1 (hex) of the object at `key`, read as a stream.
pub(crate) async fn sha1_of(store: &storage::Store, key: &str) -> Result<String, StorageError> {
    let mut object = store.get(key).await?;
    let mut hasher = Sha1::new();
    while let Some(chunk) = object.stream.next().await {
        hasher.update(&chunk?);
    }
    Ok(hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{VersionRecord, testing};
    use bytes::Bytes;

    #[tokio::test]
    async fn migrate_copies_everything_once_and_resumes() {
        let (from, to) = (Storage::in_memory(), Storage::in_memory());
        from.artifact()
            .put_bytes("a.zip", Bytes::from_static(b"aaa"))
            .await
            .unwrap();
        from.dist()
            .put_bytes("acme/lib/1.0.0-r.zip", Bytes::from_static(b"dd"))
            .await
            .unwrap();
        from.store(StoreName::MirrorDist)
            .put_bytes("ab/cd/x.zip", Bytes::from_static(b"m"))
            .await
            .unwrap();
        let first = migrate(&from, &to).await.unwrap();
        assert_eq!(
            first,
            MigrateReport {
                copied: 3,
                copied_bytes: 6,
                skipped: 0
            }
        );
        assert_eq!(to.artifact().get_bytes("a.zip").await.unwrap(), "aaa");
        assert_eq!(
            to.dist().get_bytes("acme/lib/1.0.0-r.zip").await.unwrap(),
            "dd"
        );
        from.artifact()
            .put_bytes("b.zip", Bytes::from_static(b"b"))
            .await
            .unwrap();
        let second = migrate(&from, &to).await.unwrap();
        assert_eq!(
            second,
            MigrateReport {
                copied: 1,
                copied_bytes: 1,
                skipped: 3
            }
        );
    }

    #[tokio::test]
    async fn verify_reports_missing_and_corrupt_objects() {
        let (db, _dir) = testing::sqlite().await;
        let storage = Storage::in_memory();
        let good = b"good archive";
        let good_sha1 = hex::encode(Sha1::digest(good));
        for (version, key, shasum) in [
            ("1.0.0", "good.zip", good_sha1.clone()),
            ("1.1.0", "gone.zip", good_sha1.clone()),
            ("1.2.0", "bad.zip", good_sha1.clone()),
        ] {
            let row = VersionRecord {
                shasum,
                ..testing::artifact_version(version, key.trim_end_matches(".zip"))
            };
            db.save_version("acme/lib", crate::db::PackageKind::Artifact, &row)
                .await
                .unwrap();
        }
        storage
            .artifact()
            .put_bytes("good.zip", Bytes::from_static(good))
            .await
            .unwrap();
        storage
            .artifact()
            .put_bytes("bad.zip", Bytes::from_static(b"tampered"))
            .await
            .unwrap();
        let (checked, problems) = verify(&db, &storage).await.unwrap();
        assert_eq!(checked, 3);
        let issues: Vec<_> = problems
            .iter()
            .map(|p| (p.version.as_str(), p.issue.as_str()))
            .collect();
        assert_eq!(issues.len(), 2, "{problems:?}");
        assert_eq!(issues[0], ("1.1.0", "object is missing"));
        assert_eq!(issues[1].0, "1.2.0");
        assert!(issues[1].1.starts_with("sha1 is"), "{problems:?}");
    }

    #[tokio::test]
    async fn check_passes_on_working_stores() {
        check(&Storage::in_memory()).await.unwrap();
    }
}
