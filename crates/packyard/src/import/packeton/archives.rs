//! Packeton's archives, read where its variables say they are: a local directory
//! (`PACKAGIST_DIST_PATH` for built dists, `APP_COMPOSER_HOME/artifact_storage` for
//! uploads) or its S3 bucket (`STORAGE_SOURCE=s3`: `STORAGE_AWS_PREFIX` and
//! `STORAGE_AWS_ARTIFACT_PREFIX`). Both are another installation's and may be hostile:
//! an archive is taken only as a zip of at most `PACKYARD_MAX_UPLOAD` bytes, and on
//! disk only as a regular file that no link leads out of Packeton's directory.
//!
//! Packeton keeps both kinds at the keys packyard uses ([`storage::keys`]), so a key
//! names the same archive on either side.

use std::path::{Path, PathBuf};

use futures_util::StreamExt;
use storage::{Storage, StorageError};

use super::env::{ArchiveSource, Unread};

/// Where Packeton's archives are read from, opened once per import.
pub enum Archives {
    Local { dist: PathBuf, artifacts: PathBuf },
    Bucket(Box<Storage>),
    Unread(Unread),
}

/// Why an archive of Packeton's is not taken.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("cannot read {location}: {source}")]
    Io {
        location: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read {location}: {source}")]
    Store {
        location: String,
        #[source]
        source: StorageError,
    },
    #[error("{0} is not a regular file (a link, a device, a directory)")]
    NotAFile(String),
    #[error("cannot resolve {0}")]
    Unresolved(String),
    #[error("{path} leads outside {root} through a link")]
    Outside { path: String, root: String },
    #[error("its archive {location} is larger than PACKYARD_MAX_UPLOAD ({limit} bytes)")]
    TooLarge { location: String, limit: u64 },
    #[error("{0} is not a zip archive")]
    NotAZip(String),
}

/// Packeton's S3 storage cannot be used at all: the import stops before writing.
#[derive(Debug, thiserror::Error)]
#[error("Packeton's S3 storage ({location}): {source}")]
pub struct BucketError {
    location: String,
    #[source]
    source: StorageError,
}

impl Archives {
    /// Opens `source`. A bucket is asked for one object first, so that wrong
    /// credentials or an unreachable endpoint stop the import with one message instead
    /// of a skipped archive per version.
    pub async fn open(source: ArchiveSource) -> Result<Archives, BucketError> {
        match source {
            ArchiveSource::Local { dist, artifacts } => Ok(Archives::Local { dist, artifacts }),
            ArchiveSource::Unread(unread) => Ok(Archives::Unread(unread)),
            ArchiveSource::S3(settings) => {
                let storage = Storage::open(&settings).map_err(|source| BucketError {
                    location: settings.dist.backend.describe(),
                    source,
                })?;
                let dist = storage.store(storage::StoreName::Dist);
                // Read, never written: Packeton's bucket is only looked at.
                dist.size("packyard-import-check")
                    .await
                    .map_err(|source| BucketError {
                        location: dist.description().to_owned(),
                        source,
                    })?;
                Ok(Archives::Bucket(Box::new(storage)))
            }
        }
    }

    /// Where the archive at `key` is, in words for the report.
    pub fn location(&self, uploads: bool, key: &str) -> String {
        match self {
            Archives::Local { .. } => self
                .local_root(uploads)
                .map(|root| root.join(key).display().to_string())
                .unwrap_or_default(),
            Archives::Bucket(storage) => {
                format!("{} {key}", storage.store(store_of(uploads)).description())
            }
            Archives::Unread(_) => key.to_owned(),
        }
    }

    /// Why no archive can be read at all, if so.
    pub fn unread(&self) -> Option<&Unread> {
        match self {
            Archives::Unread(unread) => Some(unread),
            _ => None,
        }
    }

    fn local_root(&self, uploads: bool) -> Option<&Path> {
        match self {
            Archives::Local { artifacts, .. } if uploads => Some(artifacts),
            Archives::Local { dist, .. } => Some(dist),
            _ => None,
        }
    }

    /// The bytes of the uploaded archive (`uploads`) or built dist at `key`; `None`
    /// when Packeton has none there.
    pub async fn read(
        &self,
        uploads: bool,
        key: &str,
        limit: u64,
    ) -> Result<Option<Vec<u8>>, ArchiveError> {
        let location = self.location(uploads, key);
        let bytes = match self {
            Archives::Unread(_) => return Ok(None),
            Archives::Local { .. } => {
                let root = self.local_root(uploads).expect("a local source");
                read_file(root, &root.join(key), limit).await?
            }
            Archives::Bucket(storage) => {
                read_object(storage.store(store_of(uploads)), key, &location, limit).await?
            }
        };
        let Some(bytes) = bytes else {
            return Ok(None);
        };
        if !bytes.starts_with(b"PK\x03\x04") && !bytes.starts_with(b"PK\x05\x06") {
            return Err(ArchiveError::NotAZip(location));
        }
        Ok(Some(bytes))
    }
}

fn store_of(uploads: bool) -> storage::StoreName {
    if uploads {
        storage::StoreName::Artifact
    } else {
        storage::StoreName::Dist
    }
}

/// The file at `path` under `root`: a regular file, reached without leaving `root`
/// through a link (a link to a file of this server's must not be published as a
/// package), of at most `limit` bytes.
async fn read_file(root: &Path, path: &Path, limit: u64) -> Result<Option<Vec<u8>>, ArchiveError> {
    use tokio::io::AsyncReadExt;
    let shown = || path.display().to_string();
    let io = |source| ArchiveError::Io {
        location: shown(),
        source,
    };
    let meta = match tokio::fs::symlink_metadata(path).await {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(io(error)),
        Ok(meta) => meta,
    };
    if !meta.file_type().is_file() {
        return Err(ArchiveError::NotAFile(shown()));
    }
    let (Ok(real), Ok(real_root)) = (
        tokio::fs::canonicalize(path).await,
        tokio::fs::canonicalize(root).await,
    ) else {
        return Err(ArchiveError::Unresolved(shown()));
    };
    if !real.starts_with(&real_root) {
        return Err(ArchiveError::Outside {
            path: shown(),
            root: root.display().to_string(),
        });
    }
    let file = tokio::fs::File::open(&real).await.map_err(io)?;
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .await
        .map_err(io)?;
    if bytes.len() as u64 > limit {
        return Err(ArchiveError::TooLarge {
            location: shown(),
            limit,
        });
    }
    Ok(Some(bytes))
}

/// The object at `key`, refused as soon as it is larger than `limit`, whatever size
/// the bucket announced.
async fn read_object(
    store: &storage::Store,
    key: &str,
    location: &str,
    limit: u64,
) -> Result<Option<Vec<u8>>, ArchiveError> {
    let failed = |source| ArchiveError::Store {
        location: location.to_owned(),
        source,
    };
    let too_large = || ArchiveError::TooLarge {
        location: location.to_owned(),
        limit,
    };
    let object = match store.get(key).await {
        Err(error) if error.is_not_found() => return Ok(None),
        Err(error) => return Err(failed(error)),
        Ok(object) => object,
    };
    if object.size > limit {
        return Err(too_large());
    }
    let mut bytes = Vec::with_capacity(object.size as usize);
    let mut stream = object.stream;
    while let Some(chunk) = stream.next().await {
        bytes.extend_from_slice(&chunk.map_err(failed)?);
        if bytes.len() as u64 > limit {
            return Err(too_large());
        }
    }
    Ok(Some(bytes))
}
