use std::future::Future;
use std::path::Path as FsPath;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{BoxStream, StreamExt};
#[cfg(test)]
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::signer::{Method, Signer};
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};

use crate::cache::{LocalCache, TeeStream, file_stream};
use crate::metrics::{Operation, Outcome};
use crate::{StorageError, StoreName};

/// Files up to this size are sent in one request; larger ones as a multipart upload
/// of parts this size, so memory stays bounded whatever the archive size.
const PART_SIZE: usize = 8 * 1024 * 1024;
/// Parts in flight at once during a multipart upload.
const UPLOAD_CONCURRENCY: usize = 2;

/// One named store: a backend, already scoped to its key prefix, with an optional
/// local cache in front.
#[derive(Debug, Clone)]
pub struct Store {
    name: StoreName,
    backend: Arc<dyn ObjectStore>,
    cache: Option<Arc<LocalCache>>,
    /// Bound on requests that wait for an answer (not on streaming a body).
    timeout: Option<Duration>,
    description: String,
    /// With `PACKYARD_DIST_REDIRECT`: downloads are presigned URLs instead of streams.
    redirects: Option<Redirects>,
}

/// What presigns download URLs of a store's objects.
#[derive(Clone)]
struct Redirects {
    signer: Arc<dyn Signer>,
    /// The store's key prefix in the bucket: the signer sees whole object paths.
    prefix: String,
    validity: Duration,
}

impl std::fmt::Debug for Redirects {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redirects")
            .field("prefix", &self.prefix)
            .field("validity", &self.validity)
            .finish_non_exhaustive()
    }
}

/// How a client gets an object: its bytes through us, or a URL to fetch them from.
pub enum Served {
    Stream(Object),
    /// A presigned GET of the object, valid for a few minutes.
    Redirect(String),
}

/// A listing: each object's key and size.
pub type Listing = BoxStream<'static, Result<(String, u64), StorageError>>;

/// An object being read: its size (for `Content-Length`) and its bytes as a stream.
pub struct Object {
    pub size: u64,
    pub stream: BoxStream<'static, Result<Bytes, StorageError>>,
}

impl Store {
    pub fn new(name: StoreName, backend: Arc<dyn ObjectStore>) -> Self {
        Store {
            name,
            backend,
            cache: None,
            timeout: None,
            description: format!("{name:?}"),
            redirects: None,
        }
    }

    pub(crate) fn with_redirects(
        mut self,
        signer: Arc<dyn Signer>,
        prefix: &str,
        validity: Duration,
    ) -> Self {
        self.redirects = Some(Redirects {
            signer,
            prefix: prefix.to_owned(),
            validity,
        });
        self
    }

    /// An object for a client to download: a presigned URL when this store hands them
    /// out (whatever a local cache holds: the point is that no bytes pass through this
    /// process; the object is checked to exist first, so a missing one is `NotFound`
    /// as with [`get`](Self::get)), otherwise its stream.
    pub async fn serve(&self, key: &str) -> Result<Served, StorageError> {
        let Some(redirects) = &self.redirects else {
            return self.get(key).await.map(Served::Stream);
        };
        if self.size(key).await?.is_none() {
            return Err(StorageError::NotFound {
                store: self.name.as_str(),
                key: key.to_owned(),
            });
        }
        // The object's path in the bucket, joined part by part as `PrefixStore` joins
        // them: formatting and re-parsing would encode `#`, `%` or `{` in a key a second
        // time and sign a URL for another object.
        let location = Self::location(key)?;
        let path: Path = Path::from(redirects.prefix.as_str())
            .parts()
            .chain(location.parts())
            .collect();
        // Signing is local work, but may wait for credentials (web identity, IMDS).
        let signing = redirects
            .signer
            .signed_url(Method::GET, &path, redirects.validity);
        let signed =
            match self.timeout {
                Some(timeout) => tokio::time::timeout(timeout, signing).await.map_err(|_| {
                    StorageError::Timeout {
                        store: self.name.as_str(),
                        after: timeout,
                    }
                })?,
                None => signing.await,
            };
        let url = signed.map_err(|source| StorageError::Backend {
            store: self.name.as_str(),
            source,
        })?;
        Ok(Served::Redirect(url.to_string()))
    }

    pub(crate) fn with_cache(mut self, cache: Option<Arc<LocalCache>>) -> Self {
        self.cache = cache;
        self
    }

    pub(crate) fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    pub(crate) fn with_description(mut self, description: String) -> Self {
        self.description = description;
        self
    }

    /// Where the store is, e.g. `s3://bucket at http://host/ under artifact/`.
    pub fn description(&self) -> &str {
        &self.description
    }

    pub fn cache(&self) -> Option<&LocalCache> {
        self.cache.as_deref()
    }

    /// The same store read and written directly, for operations that must see the
    /// backend itself (verify, migrate).
    pub fn without_cache(&self) -> Store {
        Store {
            cache: None,
            ..self.clone()
        }
    }

    #[cfg(test)]
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
        let backend = Arc::new(InMemory::new());
        let description = format!("memory://{:p}/{}", Arc::as_ptr(&backend), name.as_str());
        Store::new(name, backend).with_description(description)
    }

    pub fn name(&self) -> StoreName {
        self.name
    }

    /// Stores the bytes of a local file under `key`. The object appears whole or not at
    /// all: backends commit a put or a completed multipart upload atomically.
    pub async fn put_file(&self, key: &str, file: &FsPath) -> Result<u64, StorageError> {
        let io_error = |source| StorageError::Io {
            context: format!("reading {}", file.display()),
            source,
        };
        let reader = std::fs::File::open(file).map_err(io_error)?;
        let size = reader.metadata().map_err(io_error)?.len();
        self.put_stream(key, file_stream(reader).boxed(), size)
            .await?;
        Ok(size)
    }

    /// Stores a stream of `size` bytes under `key`: one request when small, otherwise a
    /// multipart upload holding at most a few parts in memory. With a cache, the bytes
    /// are copied into it on the way and published there only once the store committed.
    pub async fn put_stream<S>(&self, key: &str, stream: S, size: u64) -> Result<(), StorageError>
    where
        S: futures_util::Stream<Item = Result<Bytes, StorageError>> + Unpin,
    {
        let Some(writer) = self
            .cache
            .as_ref()
            .and_then(|cache| cache.writer(key, size))
        else {
            return self.put_stream_to_backend(key, stream, size).await;
        };
        let copy = Arc::new(std::sync::Mutex::new(Some(writer)));
        let tee = {
            let copy = copy.clone();
            stream.map(move |chunk| {
                if let (Ok(bytes), Some(writer)) = (&chunk, copy.lock().unwrap().as_mut()) {
                    writer.write(bytes);
                }
                chunk
            })
        };
        self.put_stream_to_backend(key, tee, size).await?;
        let finished = copy.lock().unwrap().take();
        if let Some(writer) = finished {
            writer.publish().await;
        }
        Ok(())
    }

    async fn put_stream_to_backend<S>(
        &self,
        key: &str,
        mut stream: S,
        size: u64,
    ) -> Result<(), StorageError>
    where
        S: futures_util::Stream<Item = Result<Bytes, StorageError>> + Unpin,
    {
        let location = Self::location(key)?;
        if size <= PART_SIZE as u64 {
            let mut buffer = Vec::with_capacity(size as usize);
            while let Some(chunk) = stream.next().await {
                buffer.extend_from_slice(&chunk?);
            }
            self.counted(
                key,
                Operation::Put,
                self.backend.put(&location, PutPayload::from(buffer)),
            )
            .await?;
            return Ok(());
        }
        let upload = self
            .bounded(
                key,
                Operation::Multipart,
                self.backend.put_multipart(&location),
            )
            .await?;
        let mut writer = AbortOnDrop(Some(WriteMultipart::new_with_chunk_size(upload, PART_SIZE)));
        while let Some(chunk) = stream.next().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(error) => {
                    writer.abort().await;
                    return Err(error);
                }
            };
            if let Err(e) = writer.active().wait_for_capacity(UPLOAD_CONCURRENCY).await {
                writer.abort().await;
                return Err(self.backend_error(key, e));
            }
            writer.active().put(chunk);
        }
        let finished = writer.finish().await;
        crate::metrics::record(
            self.name,
            Operation::Multipart,
            if finished.is_ok() {
                Outcome::Answered
            } else {
                Outcome::Failed
            },
        );
        finished.map_err(|e| self.backend_error(key, e))?;
        Ok(())
    }

    pub async fn put_bytes(&self, key: &str, bytes: Bytes) -> Result<(), StorageError> {
        let location = Self::location(key)?;
        self.counted(
            key,
            Operation::Put,
            self.backend.put(&location, PutPayload::from(bytes.clone())),
        )
        .await?;
        if let Some(cache) = &self.cache {
            cache.insert_bytes(key, bytes).await;
        }
        Ok(())
    }

    /// Opens an object for streaming; nothing is buffered beyond the backend's chunks.
    /// With a cache, a hit is read from local disk and a miss is copied into it.
    pub async fn get(&self, key: &str) -> Result<Object, StorageError> {
        let location = Self::location(key)?;
        if let Some(cache) = &self.cache {
            let hit = cache.open_file(key);
            crate::metrics::record_cache(self.name, hit.is_some());
            if let Some((file, size)) = hit {
                return Ok(Object {
                    size,
                    stream: file_stream(file).boxed(),
                });
            }
        }
        let result = self
            .bounded(key, Operation::Get, self.backend.get(&location))
            .await?;
        let size = result.meta.size;
        let store = self.name.as_str();
        let stream = result
            .into_stream()
            .map(move |chunk| chunk.map_err(|source| StorageError::Backend { store, source }))
            .boxed();
        let writer = self
            .cache
            .as_ref()
            .and_then(|cache| cache.writer(key, size));
        let stream = match writer {
            Some(writer) => TeeStream::new(stream, Some(writer)).boxed(),
            None => stream,
        };
        Ok(Object { size, stream })
    }

    pub async fn get_bytes(&self, key: &str) -> Result<Bytes, StorageError> {
        let object = self.get(key).await?;
        let chunks: Vec<Bytes> = futures_util::TryStreamExt::try_collect(object.stream).await?;
        Ok(Bytes::from(chunks.concat()))
    }

    /// Reads an object from the backend itself, bypassing the cache, and refreshes the
    /// cached copy: for readers that must see what other replicas wrote.
    /// A key the backend no longer has leaves the cache too.
    pub async fn get_bytes_fresh(&self, key: &str) -> Result<Bytes, StorageError> {
        let read = self.without_cache().get_bytes(key).await;
        if let Some(cache) = &self.cache {
            match &read {
                Ok(bytes) => cache.insert_bytes(key, bytes.clone()).await,
                Err(error) if error.is_not_found() => cache.remove(key),
                Err(_) => {}
            }
        }
        read
    }

    /// Size of the object, or `None` when it does not exist.
    pub async fn size(&self, key: &str) -> Result<Option<u64>, StorageError> {
        let location = Self::location(key)?;
        match self
            .bounded(key, Operation::Head, self.backend.head(&location))
            .await
        {
            Ok(meta) => Ok(Some(meta.size)),
            Err(StorageError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn delete(&self, key: &str) -> Result<(), StorageError> {
        let location = Self::location(key)?;
        if let Some(cache) = &self.cache {
            cache.remove(key);
        }
        match self
            .bounded(key, Operation::Delete, self.backend.delete(&location))
            .await
        {
            Ok(()) | Err(StorageError::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Every object of the store with its size, for migrate and verify.
    pub fn list(&self) -> Listing {
        self.list_objects(None)
    }

    /// The objects whose keys lie under the folder `prefix` (`a/b` lists `a/b/...`, not
    /// `a/bc`), with their sizes. Always read from the backend, never from the cache.
    pub fn list_under(&self, prefix: &str) -> Result<Listing, StorageError> {
        let location = Self::location(prefix)?;
        Ok(self.list_objects(Some(&location)))
    }

    fn list_objects(&self, prefix: Option<&Path>) -> Listing {
        let store = self.name.as_str();
        self.backend
            .list(prefix)
            .map(move |meta| {
                meta.map(|meta| (meta.location.to_string(), meta.size))
                    .map_err(|source| StorageError::Backend { store, source })
            })
            .boxed()
    }

    /// Runs one backend request that waits for an answer (not for a body to go up)
    /// under the store's timeout, counting its outcome.
    async fn bounded<T>(
        &self,
        key: &str,
        operation: Operation,
        request: impl Future<Output = object_store::Result<T>>,
    ) -> Result<T, StorageError> {
        let Some(timeout) = self.timeout else {
            return self.counted(key, operation, request).await;
        };
        let Ok(result) = tokio::time::timeout(timeout, request).await else {
            crate::metrics::record(self.name, operation, Outcome::Failed);
            return Err(StorageError::Timeout {
                store: self.name.as_str(),
                after: timeout,
            });
        };
        self.counted(key, operation, std::future::ready(result))
            .await
    }

    /// Runs one backend request, counting its outcome. Uploads run so, without a total
    /// timeout: a remote store's client fails them once they stop making progress
    /// (`transfer`), and a slow link that keeps sending is not a failure.
    async fn counted<T>(
        &self,
        key: &str,
        operation: Operation,
        request: impl Future<Output = object_store::Result<T>>,
    ) -> Result<T, StorageError> {
        let result = request.await;
        let answered = matches!(&result, Ok(_) | Err(object_store::Error::NotFound { .. }));
        crate::metrics::record(
            self.name,
            operation,
            if answered {
                Outcome::Answered
            } else {
                Outcome::Failed
            },
        );
        result.map_err(|e| self.backend_error(key, e))
    }

    /// Write, read back and delete a small object.
    pub async fn probe(&self) -> Result<(), StorageError> {
        let key = format!(".packyard-probe/{}", probe_id());
        let payload = Bytes::from(format!("packyard storage probe {key}"));
        let written = self.put_bytes(&key, payload.clone()).await;
        let read = match &written {
            Ok(()) => Some(self.get_bytes(&key).await),
            Err(_) => None,
        };
        // Clean up whatever happened: a backend may store an object and still report
        // an error for the put.
        let deleted = self.delete(&key).await;
        written.map_err(|error| match error {
            // Writing a new key can only be "not found" when the bucket itself is missing.
            StorageError::NotFound { store, .. } => StorageError::BucketMissing { store },
            error => error,
        })?;
        if read.expect("read after a successful write")? != payload {
            return Err(StorageError::ProbeMismatch {
                store: self.name.as_str(),
            });
        }
        deleted
    }

    fn location(key: &str) -> Result<Path, StorageError> {
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

/// A multipart upload that is aborted when it is dropped unfinished (an error, or the
/// caller's future cancelled), so backends do not keep billing for orphaned parts.
struct AbortOnDrop(Option<WriteMultipart>);

impl AbortOnDrop {
    fn active(&mut self) -> &mut WriteMultipart {
        self.0.as_mut().expect("used before finish or abort")
    }

    async fn abort(&mut self) {
        if let Some(writer) = self.0.take() {
            let _ = writer.abort().await;
        }
    }

    async fn finish(mut self) -> object_store::Result<object_store::PutResult> {
        self.0.take().expect("finished once").finish().await
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(writer) = self.0.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(async move {
                let _ = writer.abort().await;
            });
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

    /// An in-memory store with a local cache in a fresh directory (removed by the test).
    fn cached_store(name: StoreName) -> (Store, Arc<LocalCache>, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("packyard-store-cache-{}", probe_id()));
        let cache = Arc::new(
            LocalCache::open(&crate::config::CacheSettings {
                dir: dir.clone(),
                max_bytes: 1 << 20,
            })
            .unwrap(),
        );
        let store = Store::in_memory(name).with_cache(Some(cache.clone()));
        (store, cache, dir)
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
    async fn streamed_puts_are_copied_into_the_cache_only_when_committed() {
        let (store, cache, dir) = cached_store(StoreName::MirrorDist);
        let chunks = || {
            futures_util::stream::iter(vec![
                Ok(Bytes::from_static(b"abc")),
                Ok(Bytes::from_static(b"def")),
            ])
        };
        store.put_stream("a/b.zip", chunks(), 6).await.unwrap();
        assert!(cache.contains("a/b.zip"), "written through");
        let failing = futures_util::stream::iter(vec![
            Ok(Bytes::from_static(b"abc")),
            Err(StorageError::ProbeMismatch { store: "test" }),
        ]);
        assert!(store.put_stream("a/c.zip", failing, 6).await.is_err());
        assert!(!cache.contains("a/c.zip"), "a failed upload is not cached");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn fresh_reads_drop_cached_copies_the_backend_no_longer_has() {
        let (store, cache, dir) = cached_store(StoreName::MirrorMeta);
        store
            .put_bytes("m/p2/a/b.json", Bytes::from_static(b"{}"))
            .await
            .unwrap();
        // Deleted behind this cache's back, as another replica does.
        store.without_cache().delete("m/p2/a/b.json").await.unwrap();
        assert!(cache.contains("m/p2/a/b.json"));
        let fresh = store.get_bytes_fresh("m/p2/a/b.json").await.unwrap_err();
        assert!(fresh.is_not_found(), "{fresh}");
        assert!(!cache.contains("m/p2/a/b.json"), "dropped from the cache");
        assert!(
            store
                .get("m/p2/a/b.json")
                .await
                .err()
                .unwrap()
                .is_not_found()
        );
        std::fs::remove_dir_all(dir).unwrap();
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
