use std::path::Path as FsPath;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::{BoxStream, StreamExt};
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};
use tokio::io::AsyncReadExt;

use crate::{StorageError, StoreName};

/// Files up to this size are sent in one request; larger ones as a multipart upload
/// of parts this size, so memory stays bounded whatever the archive size.
const PART_SIZE: usize = 8 * 1024 * 1024;
/// Parts in flight at once during a multipart upload.
const UPLOAD_CONCURRENCY: usize = 2;

/// One named store: a backend, already scoped to its key prefix.
#[derive(Debug, Clone)]
pub struct Store {
    name: StoreName,
    backend: Arc<dyn ObjectStore>,
}

/// An object being read: its size (for `Content-Length`) and its bytes as a stream.
pub struct Object {
    pub size: u64,
    pub stream: BoxStream<'static, Result<Bytes, StorageError>>,
}

impl Store {
    pub fn new(name: StoreName, backend: Arc<dyn ObjectStore>) -> Self {
        Store { name, backend }
    }

    pub(crate) fn local(name: StoreName, dir: &FsPath) -> Result<Self, StorageError> {
        std::fs::create_dir_all(dir).map_err(|source| StorageError::Io {
            context: format!("creating {}", dir.display()),
            source,
        })?;
        let backend =
            LocalFileSystem::new_with_prefix(dir).map_err(|source| StorageError::Backend {
                store: name.as_str(),
                source,
            })?;
        Ok(Store::new(name, Arc::new(backend)))
    }

    pub(crate) fn in_memory(name: StoreName) -> Self {
        Store::new(name, Arc::new(InMemory::new()))
    }

    pub fn name(&self) -> StoreName {
        self.name
    }

    /// Stores the bytes of a local file under `key`. The object appears whole or not at
    /// all: backends commit a put or a completed multipart upload atomically.
    pub async fn put_file(&self, key: &str, file: &FsPath) -> Result<u64, StorageError> {
        let location = self.location(key)?;
        let io_error = |source| StorageError::Io {
            context: format!("reading {}", file.display()),
            source,
        };
        let mut reader = tokio::fs::File::open(file).await.map_err(io_error)?;
        let size = reader.metadata().await.map_err(io_error)?.len();
        if size <= PART_SIZE as u64 {
            let mut buffer = Vec::with_capacity(size as usize);
            reader.read_to_end(&mut buffer).await.map_err(io_error)?;
            self.backend
                .put(&location, PutPayload::from(buffer))
                .await
                .map_err(|e| self.backend_error(key, e))?;
            return Ok(size);
        }
        let upload = self
            .backend
            .put_multipart(&location)
            .await
            .map_err(|e| self.backend_error(key, e))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
        let mut chunk = vec![0u8; 256 * 1024];
        loop {
            let read = match reader.read(&mut chunk).await {
                Ok(0) => break,
                Ok(read) => read,
                Err(source) => {
                    let _ = writer.abort().await;
                    return Err(io_error(source));
                }
            };
            if let Err(e) = writer.wait_for_capacity(UPLOAD_CONCURRENCY).await {
                return Err(self.backend_error(key, e));
            }
            writer.write(&chunk[..read]);
        }
        writer
            .finish()
            .await
            .map_err(|e| self.backend_error(key, e))?;
        Ok(size)
    }

    pub async fn put_bytes(&self, key: &str, bytes: Bytes) -> Result<(), StorageError> {
        let location = self.location(key)?;
        self.backend
            .put(&location, PutPayload::from(bytes))
            .await
            .map_err(|e| self.backend_error(key, e))?;
        Ok(())
    }

    /// Opens an object for streaming; nothing is buffered beyond the backend's chunks.
    pub async fn get(&self, key: &str) -> Result<Object, StorageError> {
        let location = self.location(key)?;
        let result = self
            .backend
            .get(&location)
            .await
            .map_err(|e| self.backend_error(key, e))?;
        let size = result.meta.size;
        let store = self.name.as_str();
        let stream = result
            .into_stream()
            .map(move |chunk| chunk.map_err(|source| StorageError::Backend { store, source }))
            .boxed();
        Ok(Object { size, stream })
    }

    pub async fn get_bytes(&self, key: &str) -> Result<Bytes, StorageError> {
        let location = self.location(key)?;
        let result = self
            .backend
            .get(&location)
            .await
            .map_err(|e| self.backend_error(key, e))?;
        result.bytes().await.map_err(|e| self.backend_error(key, e))
    }

    /// Size of the object, or `None` when it does not exist.
    pub async fn size(&self, key: &str) -> Result<Option<u64>, StorageError> {
        let location = self.location(key)?;
        match self.backend.head(&location).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.backend_error(key, e)),
        }
    }

    pub async fn delete(&self, key: &str) -> Result<(), StorageError> {
        let location = self.location(key)?;
        match self.backend.delete(&location).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.backend_error(key, e)),
        }
    }

    /// Write, read back and delete a small object.
    pub(crate) async fn probe(&self) -> Result<(), StorageError> {
        let key = format!(".packyard-probe/{}", probe_id());
        let payload = Bytes::from(format!("packyard storage probe {key}"));
        self.put_bytes(&key, payload.clone()).await?;
        let read = self.get_bytes(&key).await?;
        self.delete(&key).await?;
        if read != payload {
            return Err(StorageError::ProbeMismatch {
                store: self.name.as_str(),
            });
        }
        Ok(())
    }

    fn location(&self, key: &str) -> Result<Path, StorageError> {
        Path::parse(key).map_err(|e| StorageError::InvalidKey {
            key: key.to_owned(),
            reason: e.to_string(),
        })
    }

    fn backend_error(&self, key: &str, source: object_store::Error) -> StorageError {
        match source {
            object_store::Error::NotFound { .. } => StorageError::NotFound {
                store: self.name.as_str(),
                key: key.to_owned(),
            },
            source => StorageError::Backend {
                store: self.name.as_str(),
                source,
            },
        }
    }
}

/// A name unique enough for a probe object: several replicas may probe at once.
fn probe_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{}-{nanos}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::TryStreamExt;

    async fn read_all(store: &Store, key: &str) -> Vec<u8> {
        let object = store.get(key).await.unwrap();
        let chunks: Vec<Bytes> = object.stream.try_collect().await.unwrap();
        let bytes = chunks.concat();
        assert_eq!(bytes.len() as u64, object.size);
        bytes
    }

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8).collect()
    }

    #[tokio::test]
    async fn small_and_multipart_files_round_trip() {
        let dir = std::env::temp_dir().join(format!("packyard-store-test-{}", probe_id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (store, label) in [
            (Store::in_memory(StoreName::Artifact), "memory"),
            (
                Store::local(StoreName::Artifact, &dir.join("store")).unwrap(),
                "local",
            ),
        ] {
            for len in [0, 10, PART_SIZE + PART_SIZE / 2] {
                let file = dir.join(format!("input-{label}-{len}"));
                std::fs::write(&file, pattern(len)).unwrap();
                let key = format!("a/{label}-{len}.zip");
                assert_eq!(store.put_file(&key, &file).await.unwrap(), len as u64);
                assert_eq!(read_all(&store, &key).await, pattern(len), "{label} {len}");
                assert_eq!(store.size(&key).await.unwrap(), Some(len as u64));
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn missing_objects_are_not_found() {
        let store = Store::in_memory(StoreName::Dist);
        assert!(store.get("nope.zip").await.err().unwrap().is_not_found());
        assert_eq!(store.size("nope.zip").await.unwrap(), None);
        store.delete("nope.zip").await.unwrap();
    }

    #[tokio::test]
    async fn keys_escaping_the_store_are_refused() {
        let store = Store::in_memory(StoreName::Dist);
        let error = store
            .put_bytes("../x", Bytes::from_static(b"x"))
            .await
            .unwrap_err();
        assert!(matches!(error, StorageError::InvalidKey { .. }), "{error}");
    }

    #[tokio::test]
    async fn probe_leaves_nothing_behind() {
        let storage = crate::Storage::in_memory();
        storage.check().await.unwrap();
        let leftover: Vec<_> = storage.dist.backend.list(None).collect().await;
        assert!(leftover.is_empty(), "{leftover:?}");
    }
}
