//! Dist archives of git versions: built with `git archive` on first download (or during
//! the scan with `PACKYARD_PREBUILD_DISTS=1`), stored in the dist store at Packeton's key
//! layout, then served from storage like any other archive.

use composer::package_name::PackageName;
use storage::StoreName;

use super::repository::Repository;
use super::{BuildError, GitPackageError, GitPackages};
use crate::db::VersionRecord;
use crate::metadata::DistLocation;
use crate::uploads::archive_file::ArchiveFile;

/// Dist builds running at once, in this process: one per core.
static BUILD_SLOTS: std::sync::LazyLock<tokio::sync::Semaphore> = std::sync::LazyLock::new(|| {
    tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(2, usize::from))
});

impl GitPackages {
    /// Makes sure the dist archive of `package` at `location` exists in its store, building
    /// it when it does not. Concurrent callers for one archive build it once.
    pub async fn ensure_dist(
        &self,
        package: &PackageName,
        reference: &str,
        location: &DistLocation,
    ) -> Result<(), GitPackageError> {
        if location.store != StoreName::Dist.as_str() {
            return Ok(());
        }
        let store = self.storage.store(StoreName::Dist);
        let built = self
            .dist_builds
            .run(
                &location.key,
                || async { Ok::<_, GitPackageError>(store.size(&location.key).await?.is_some()) },
                || async {
                    // One `git archive` per core at a time: a burst of first downloads of
                    // distinct versions queues instead of forking a process each.
                    let _slot = BUILD_SLOTS
                        .acquire()
                        .await
                        .expect("the semaphore is never closed");
                    let started = std::time::Instant::now();
                    let built = self.build_dist(package, reference, &location.key).await;
                    crate::metrics::metrics().dist_build_took(started.elapsed().as_secs_f64());
                    built
                },
            )
            .await?;
        // Built now, or found built without its sha1 recorded (a replica that stored the
        // archive died before recording it): the sha1 of the stored bytes is published.
        let (shasum, built_now) = match built {
            Some(shasum) => (shasum, true),
            // `location` may predate a build a concurrent request just recorded.
            None if location.shasum.is_empty()
                && self
                    .db
                    .dist_shasum(package, &location.key)
                    .await?
                    .is_empty() =>
            {
                (self.stored_dist_sha1(&location.key).await?, false)
            }
            None => return Ok(()),
        };
        self.db
            .set_dist_shasum(package, &location.key, &shasum)
            .await?;
        self.metadata.package_changed(package).await?;
        if built_now {
            tracing::info!(%package, reference, key = %location.key, "dist archive built");
        } else {
            tracing::warn!(%package, key = %location.key, "dist found without its sha1; recorded it now");
        }
        Ok(())
    }

    /// The sha1 of the dist stored under `key`, read through once.
    async fn stored_dist_sha1(&self, key: &str) -> Result<String, GitPackageError> {
        use futures_util::StreamExt;
        use sha1::Digest;
        let mut object = self.storage.store(StoreName::Dist).get(key).await?;
        let mut hasher = sha1::Sha1::new();
        while let Some(chunk) = object.stream.next().await {
            hasher.update(chunk?);
        }
        Ok(hex::encode(hasher.finalize()))
    }

    /// Builds every missing dist of a package; failures are logged, not returned, because a
    /// download retries the build anyway.
    pub async fn build_all_dists(&self, package: &PackageName) {
        let versions = match self.db.package_with_versions(package.as_str()).await {
            Ok(Some((_, versions))) => versions,
            Ok(None) => return,
            Err(error) => {
                tracing::warn!(%error, %package, "cannot list versions to prebuild dists");
                return;
            }
        };
        self.build_dists(package, &versions).await;
    }

    /// Builds the missing dists of `versions` of `package`, logging failures. A scan
    /// calls it for frozen versions whose tag moved or went, while the mirror still
    /// holds their commits, so their archives outlive the tags.
    pub async fn build_dists(&self, package: &PackageName, versions: &[VersionRecord]) {
        for version in versions {
            let location = DistLocation::of(version);
            if let Err(error) = self
                .ensure_dist(package, &version.reference, &location)
                .await
            {
                tracing::warn!(%error, %package, version = %version.version, "building a dist failed");
            }
        }
    }

    /// `git archive` of the exact commit into a temporary file, then into the dist store.
    /// Returns the archive's sha1.
    async fn build_dist(
        &self,
        package: &PackageName,
        commit: &str,
        key: &str,
    ) -> Result<String, GitPackageError> {
        let vcs = self
            .db
            .git_package(package.as_str())
            .await?
            .ok_or_else(|| GitPackageError::UnknownPackage(package.to_string()))?;
        let repository = Repository::of(&self.options, &self.secrets, &vcs)?;
        let failed = |source: BuildError| GitPackageError::Build {
            package: package.to_string(),
            commit: commit.to_owned(),
            source,
        };
        let output = self
            .build_archive(&repository, commit)
            .await
            .map_err(failed)?;
        let path = output.0.clone();
        let archive = tokio::task::spawn_blocking(move || ArchiveFile::open(&path))
            .await
            .map_err(|e| failed(e.into()))?
            .map_err(|source| {
                failed(BuildError::Io {
                    context: "reading the built archive".into(),
                    source,
                })
            })?;
        self.storage
            .store(StoreName::Dist)
            .put_file(key, &output.0)
            .await?;
        Ok(archive.sha1.clone())
    }

    /// The zip of `commit` in a scratch file, fetched into the mirror first when the
    /// mirror lacks it: the mirror is only a cache (another replica may have scanned, or
    /// /tmp was wiped).
    async fn build_archive(
        &self,
        repository: &Repository,
        commit: &str,
    ) -> Result<TempFile, BuildError> {
        let scratch = &self.options.tmp_dir;
        tokio::fs::create_dir_all(&scratch)
            .await
            .map_err(|source| BuildError::Io {
                context: format!("creating {}", scratch.display()),
                source,
            })?;
        let output = TempFile(scratch.join(format!("dist-{}.zip", crate::auth::generate_token())));
        let mirror = repository.mirror();
        if mirror.archive(commit, &output.0).await.is_err() {
            mirror.update().await?;
            mirror.archive(commit, &output.0).await?;
        }
        Ok(output)
    }
}

/// Removed when dropped.
struct TempFile(std::path::PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
