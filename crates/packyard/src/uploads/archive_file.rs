//! An archive on local disk with its sha1 and size, ready to be inspected and stored.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use sha1::{Digest, Sha1};
use tokio::io::AsyncWriteExt;

#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    #[error("the upload is larger than the limit of {limit} bytes (PACKYARD_MAX_UPLOAD)")]
    TooLarge { limit: u64 },
    #[error("reading the upload failed: {0}")]
    Body(String),
    #[error("writing the upload to {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl crate::error::Classify for ReceiveError {
    fn kind(&self) -> crate::error::ErrorKind {
        use crate::error::ErrorKind;
        match self {
            ReceiveError::TooLarge { .. } => ErrorKind::TooLarge,
            ReceiveError::Body(_) => ErrorKind::Invalid,
            ReceiveError::Io { .. } => ErrorKind::Internal("storing the upload failed"),
        }
    }
}

/// A file plus its digest. Received uploads are temporary and removed on drop; files
/// given on the command line are left alone.
#[derive(Debug)]
pub struct ArchiveFile {
    pub path: PathBuf,
    pub sha1: String,
    pub size: u64,
    temporary: bool,
}

impl ArchiveFile {
    /// Streams a request body into a temporary file under `dir`, hashing as it goes and
    /// stopping as soon as the body passes `limit`.
    pub async fn receive<S, E>(
        dir: &Path,
        mut body: S,
        limit: u64,
    ) -> Result<ArchiveFile, ReceiveError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let path = dir.join(format!("upload-{}.part", crate::auth::generate_token()));
        let io_error = |source| ReceiveError::Io {
            path: path.clone(),
            source,
        };
        tokio::fs::create_dir_all(dir).await.map_err(io_error)?;
        let mut file = tokio::fs::File::create(&path).await.map_err(io_error)?;
        // From here on the file is removed on every exit path, including errors.
        let mut archive = ArchiveFile {
            path: path.clone(),
            sha1: String::new(),
            size: 0,
            temporary: true,
        };
        let mut hasher = Sha1::new();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| ReceiveError::Body(e.to_string()))?;
            archive.size += chunk.len() as u64;
            if archive.size > limit {
                return Err(ReceiveError::TooLarge { limit });
            }
            hasher.update(&chunk);
            file.write_all(&chunk).await.map_err(io_error)?;
        }
        file.flush().await.map_err(io_error)?;
        archive.sha1 = hex::encode(hasher.finalize());
        Ok(archive)
    }

    /// An existing file, hashed in place.
    pub fn open(path: &Path) -> std::io::Result<ArchiveFile> {
        let mut file = std::fs::File::open(path)?;
        let mut hasher = Sha1::new();
        let size = std::io::copy(&mut file, &mut hasher)?;
        Ok(ArchiveFile {
            path: path.to_owned(),
            sha1: hex::encode(hasher.finalize()),
            size,
            temporary: false,
        })
    }
}

impl Drop for ArchiveFile {
    fn drop(&mut self) {
        if self.temporary {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::testing::TempDir;

    fn body(chunks: &[&'static [u8]]) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Unpin {
        futures_util::stream::iter(
            chunks
                .iter()
                .map(|c| Ok(Bytes::from_static(c)))
                .collect::<Vec<_>>(),
        )
    }

    #[tokio::test]
    async fn received_files_are_hashed_and_removed_on_drop() {
        let dir = TempDir::new();
        let archive = ArchiveFile::receive(&dir.0, body(&[b"hello ", b"world"]), 100)
            .await
            .unwrap();
        assert_eq!(archive.size, 11);
        // sha1("hello world")
        assert_eq!(archive.sha1, "2aae6c35c94fcfb415dbe95f408b9ce91ee846ed");
        let path = archive.path.clone();
        assert_eq!(std::fs::read(&path).unwrap(), b"hello world");
        drop(archive);
        assert!(!path.exists());
    }

    #[tokio::test]
    async fn oversized_bodies_stop_early_and_leave_nothing() {
        let dir = TempDir::new();
        let error = ArchiveFile::receive(&dir.0, body(&[b"12345", b"67890"]), 7)
            .await
            .unwrap_err();
        assert!(
            matches!(error, ReceiveError::TooLarge { limit: 7 }),
            "{error}"
        );
        assert_eq!(std::fs::read_dir(&dir.0).unwrap().count(), 0);
    }

    #[test]
    fn opened_files_are_hashed_and_kept() {
        let dir = TempDir::new();
        let path = dir.0.join("a.zip");
        std::fs::write(&path, b"hello world").unwrap();
        let archive = ArchiveFile::open(&path).unwrap();
        assert_eq!(archive.sha1, "2aae6c35c94fcfb415dbe95f408b9ce91ee846ed");
        drop(archive);
        assert!(path.exists());
    }
}
