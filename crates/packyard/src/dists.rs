//! Dist archives of git versions: built with `git archive` on first download (or during
//! the scan with `PACKYARD_PREBUILD_DISTS=1`), stored in the dist store at Packeton's key
//! layout, then served from storage like any other archive.

use storage::StoreName;

use crate::app::App;
use crate::metadata::DistLocation;
use crate::sources::archive_file::ArchiveFile;
use crate::sources::git;
use crate::vcs_packages::{AuthFiles, VcsError, mirror_dir, stored_credentials};

/// Makes sure the dist archive of `package` at `location` exists in its store, building
/// it when it does not. Concurrent callers for one archive build it once.
pub async fn ensure(
    app: &App,
    package: &str,
    reference: &str,
    location: &DistLocation,
) -> Result<(), VcsError> {
    if location.store != StoreName::Dist.as_str() {
        return Ok(());
    }
    let store = app.storage.store(StoreName::Dist);
    let built = app
        .dist_builds
        .run(
            &location.key,
            || async { Ok::<_, VcsError>(store.size(&location.key).await?.is_some()) },
            || build(app, package, reference, &location.key),
        )
        .await?;
    if let Some(shasum) = built {
        app.db
            .set_dist_shasum(package, &location.key, &shasum)
            .await?;
        app.metadata.package_changed(package).await?;
        tracing::info!(package, reference, key = %location.key, "dist archive built");
    }
    Ok(())
}

/// Builds every missing dist of a package; failures are logged, not returned, because a
/// download retries the build anyway.
pub async fn build_all(app: &App, package: &str) {
    let versions = match app.db.package_with_versions(package).await {
        Ok(Some((_, versions))) => versions,
        Ok(None) => return,
        Err(error) => {
            tracing::warn!(%error, package, "cannot list versions to prebuild dists");
            return;
        }
    };
    for version in versions {
        let location = DistLocation {
            store: version.dist_store.clone(),
            key: version.dist_key.clone(),
            version_normalized: version.version_normalized.clone(),
        };
        if let Err(error) = ensure(app, package, &version.reference, &location).await {
            tracing::warn!(%error, package, version = %version.version, "prebuilding a dist failed");
        }
    }
}

/// `git archive` of the exact commit into a temporary file, then into the dist store.
/// Returns the archive's sha1.
async fn build(app: &App, package: &str, commit: &str, key: &str) -> Result<String, VcsError> {
    let vcs = app
        .db
        .vcs_package(package)
        .await?
        .ok_or_else(|| VcsError::UnknownPackage(package.to_owned()))?;
    let credentials = stored_credentials(app, &vcs)?;
    let auth = AuthFiles::new(app, credentials.as_ref())?;
    let mirror = mirror_dir(app, &vcs.repository_url);
    let scratch = app.upload_dir();
    tokio::fs::create_dir_all(&scratch)
        .await
        .map_err(|e| VcsError::Scan(format!("cannot create {}: {e}", scratch.display())))?;
    let output = TempFile(scratch.join(format!("dist-{}.zip", crate::auth::generate_token())));
    // The mirror is only a cache: another replica may have scanned, or /tmp was wiped.
    if git::archive(&mirror, commit, &output.0).await.is_err() {
        git::sync(&vcs.repository_url, &mirror, &auth.git)
            .await
            .map_err(|e| VcsError::Scan(e.to_string()))?;
        git::archive(&mirror, commit, &output.0)
            .await
            .map_err(|e| VcsError::Scan(e.to_string()))?;
    }
    let path = output.0.clone();
    let archive = tokio::task::spawn_blocking(move || ArchiveFile::open(&path))
        .await
        .map_err(|e| VcsError::Scan(e.to_string()))?
        .map_err(|e| VcsError::Scan(format!("reading the built archive: {e}")))?;
    app.storage
        .store(StoreName::Dist)
        .put_file(key, &output.0)
        .await?;
    Ok(archive.sha1.clone())
}

/// Removed when dropped.
struct TempFile(std::path::PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
