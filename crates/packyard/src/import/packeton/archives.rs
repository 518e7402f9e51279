//! Packeton's archives, read where its variables say they are: a local directory
//! (`PACKAGIST_DIST_PATH` for built dists, `APP_COMPOSER_HOME/artifact_storage` for
//! uploads) or its S3 bucket (`STORAGE_SOURCE=s3`: `STORAGE_AWS_PREFIX` and
//! `STORAGE_AWS_ARTIFACT_PREFIX`). Both are another installation's and may be hostile:
//! an archive is taken only as a zip of at most `PACKYARD_MAX_UPLOAD` bytes, and on
//! disk only as a regular file that no link leads out of Packeton's directory.
//!
//! Packeton keeps both kinds at the keys packyard uses ([`storage::keys`]), so a key
//! names the same archive on either side.
//!
//! With `--packeton-url`, an archive its storage does not hold here (the import runs
//! on another machine, or the file is gone) is asked of the running Packeton at the
//! dist URL lock files hold (`/zipball/{name}/{reference}.zip`), as one of its admins
//! (their user name and apiToken, from its database), under the same checks.

use std::path::{Path, PathBuf};

use futures_util::StreamExt;
use storage::{Storage, StorageError};

use crate::outbound::BodyError;

use super::env::{ArchiveSource, Unread};

/// Where Packeton's archives are read from, opened once per import.
pub struct Archives {
    place: Place,
    server: Option<PacketonServer>,
}

/// Packeton's storage.
enum Place {
    Local { dist: PathBuf, artifacts: PathBuf },
    Bucket(Box<Storage>),
    Unread(Unread),
}

/// A running Packeton and an admin's credentials for it.
pub struct PacketonServer {
    /// Its URL, ending in `/`.
    base: reqwest::Url,
    user: String,
    token: String,
    client: reqwest::Client,
}

/// One archive: which package and reference, and its key in the store of its kind.
pub struct Wanted<'a> {
    /// An uploaded archive (artifact store), or a built dist (dist store).
    pub uploads: bool,
    pub key: &'a str,
    pub package: &'a str,
    pub reference: &'a str,
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
    #[error("{location} answered {status}")]
    Refused { location: String, status: u16 },
    #[error("cannot download {location}: {why}")]
    Download { location: String, why: String },
}

/// `--packeton-url` cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("--packeton-url {0:?}: not an http(s) URL")]
    Url(String),
    #[error("--packeton-url: no enabled Packeton admin with an apiToken to download archives as")]
    NoAdmin,
}

impl PacketonServer {
    /// Packeton at `url`, asked as `user` with their apiToken `token`. Connections go
    /// through packyard's outbound network policy like every other (a Packeton on this
    /// machine needs `PACKYARD_ALLOW_NETWORKS=127.0.0.0/8`), and follow no redirect:
    /// the admin's credentials go to that origin only.
    pub fn new(
        url: &str,
        user: String,
        token: String,
        policy: &crate::outbound::NetworkPolicy,
    ) -> Result<PacketonServer, ServerError> {
        let mut base = reqwest::Url::parse(url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .ok_or_else(|| ServerError::Url(crate::redact::redacted(url)))?;
        base.set_username("").ok();
        base.set_password(None).ok();
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let client = policy
            .client_builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(std::time::Duration::from_secs(10))
            .timeout(std::time::Duration::from_secs(300))
            .build()
            .expect("the HTTP client builds");
        Ok(PacketonServer {
            base,
            user,
            token,
            client,
        })
    }

    fn url(&self, wanted: &Wanted<'_>) -> Option<reqwest::Url> {
        let safe = |text: &str| {
            !text.is_empty()
                && text
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/'))
                && !text.contains("..")
        };
        (safe(wanted.package) && safe(wanted.reference) && !wanted.reference.contains('/'))
            .then(|| {
                self.base
                    .join(&format!(
                        "zipball/{}/{}.zip",
                        wanted.package, wanted.reference
                    ))
                    .ok()
            })
            .flatten()
    }

    /// The archive as Packeton serves it; `None` when it answers 404.
    async fn fetch(
        &self,
        wanted: &Wanted<'_>,
        limit: u64,
    ) -> Result<Option<Vec<u8>>, ArchiveError> {
        let Some(url) = self.url(wanted) else {
            return Ok(None);
        };
        let location = url.to_string();
        let failed = |why: String| ArchiveError::Download {
            location: location.clone(),
            why,
        };
        let response = self
            .client
            .get(url.clone())
            .basic_auth(&self.user, Some(&self.token))
            .send()
            .await
            .map_err(|e| failed(crate::redact::redacted(&e.to_string())))?;
        match response.status().as_u16() {
            200 => {}
            404 => return Ok(None),
            // Never the body: it is another server's.
            status => return Err(ArchiveError::Refused { location, status }),
        }
        let cap = usize::try_from(limit).unwrap_or(usize::MAX);
        match crate::outbound::read_bounded(response, cap).await {
            Ok(bytes) => Ok(Some(bytes.into())),
            Err(BodyError::TooLarge(_)) => Err(ArchiveError::TooLarge { location, limit }),
            Err(error @ BodyError::Transfer(_)) => Err(failed(error.to_string())),
        }
    }
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
    pub async fn open(
        source: ArchiveSource,
        server: Option<PacketonServer>,
    ) -> Result<Archives, BucketError> {
        Ok(Archives {
            place: Place::open(source).await?,
            server,
        })
    }

    /// The bytes of the archive `wanted` and where they came from: Packeton's
    /// storage, or else the running Packeton; `None` when neither has it.
    pub async fn read(
        &self,
        wanted: &Wanted<'_>,
        limit: u64,
    ) -> Result<Option<(Vec<u8>, String)>, ArchiveError> {
        let (bytes, location) = match self.place.read(wanted.uploads, wanted.key, limit).await? {
            Some(bytes) => (bytes, self.place.location(wanted.uploads, wanted.key)),
            None => match &self.server {
                None => return Ok(None),
                Some(server) => match server.fetch(wanted, limit).await? {
                    None => return Ok(None),
                    Some(bytes) => (
                        bytes,
                        server
                            .url(wanted)
                            .map(|u| u.to_string())
                            .unwrap_or_default(),
                    ),
                },
            },
        };
        if !bytes.starts_with(b"PK\x03\x04") && !bytes.starts_with(b"PK\x05\x06") {
            return Err(ArchiveError::NotAZip(location));
        }
        Ok(Some((bytes, location)))
    }

    /// Where the archive `wanted` was looked for, in words for the report.
    pub fn location(&self, wanted: &Wanted<'_>) -> String {
        let place = match &self.place {
            Place::Unread(unread) => unread.to_string(),
            place => place.location(wanted.uploads, wanted.key),
        };
        match self.server.as_ref().and_then(|server| server.url(wanted)) {
            Some(url) => format!("{place}, nor at {url}"),
            None => place,
        }
    }
}

impl Place {
    async fn open(source: ArchiveSource) -> Result<Place, BucketError> {
        match source {
            ArchiveSource::Local { dist, artifacts } => Ok(Place::Local { dist, artifacts }),
            ArchiveSource::Unread(unread) => Ok(Place::Unread(unread)),
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
                Ok(Place::Bucket(Box::new(storage)))
            }
        }
    }

    /// Where the archive at `key` is, in words for the report.
    fn location(&self, uploads: bool, key: &str) -> String {
        match self {
            Place::Local { .. } => self
                .local_root(uploads)
                .map(|root| root.join(key).display().to_string())
                .unwrap_or_default(),
            Place::Bucket(storage) => {
                format!("{} {key}", storage.store(store_of(uploads)).description())
            }
            Place::Unread(_) => key.to_owned(),
        }
    }

    fn local_root(&self, uploads: bool) -> Option<&Path> {
        match self {
            Place::Local { artifacts, .. } if uploads => Some(artifacts),
            Place::Local { dist, .. } => Some(dist),
            _ => None,
        }
    }

    /// The bytes at `key` of the artifact (`uploads`) or dist store; `None` when
    /// Packeton has none there (or its storage is not read).
    async fn read(
        &self,
        uploads: bool,
        key: &str,
        limit: u64,
    ) -> Result<Option<Vec<u8>>, ArchiveError> {
        match self {
            Place::Unread(_) => Ok(None),
            Place::Local { .. } => {
                let root = self.local_root(uploads).expect("a local source");
                read_file(root, &root.join(key), limit).await
            }
            Place::Bucket(storage) => {
                let location = self.location(uploads, key);
                read_object(storage.store(store_of(uploads)), key, &location, limit).await
            }
        }
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
