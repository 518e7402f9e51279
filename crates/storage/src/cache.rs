//! A local, size-bounded copy of objects from a remote store.
//!
//! Reads are served from the cache when present; misses stream from the backend and are
//! written to the cache on the way through, committed only when the whole object
//! arrived. When the cache grows past its bound, the least recently used files go.
//! Writes are synchronous `std::fs` calls made from the stream: chunks are small and land
//! in the page cache, which keeps this simpler than a channel to a writer task.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::Stream;

use crate::StorageError;
use crate::config::CacheSettings;

const TEMP_DIR: &str = ".partial";

#[derive(Debug)]
pub struct LocalCache {
    dir: PathBuf,
    max_bytes: u64,
    index: Mutex<Index>,
    temp_counter: AtomicU64,
}

#[derive(Debug, Default)]
struct Index {
    entries: HashMap<String, Entry>,
    total: u64,
    clock: u64,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    size: u64,
    last_used: u64,
}

impl Index {
    fn touch(&mut self, key: &str) -> Option<u64> {
        self.clock += 1;
        let clock = self.clock;
        self.entries.get_mut(key).map(|entry| {
            entry.last_used = clock;
            entry.size
        })
    }

    fn insert(&mut self, key: String, size: u64) {
        self.clock += 1;
        let entry = Entry {
            size,
            last_used: self.clock,
        };
        if let Some(old) = self.entries.insert(key, entry) {
            self.total -= old.size;
        }
        self.total += size;
    }

    fn remove(&mut self, key: &str) -> Option<Entry> {
        let removed = self.entries.remove(key)?;
        self.total -= removed.size;
        Some(removed)
    }

    /// Keys to delete, least recently used first, until the total fits `max_bytes`.
    fn evict(&mut self, max_bytes: u64) -> Vec<String> {
        if self.total <= max_bytes {
            return Vec::new();
        }
        let mut by_age: Vec<(u64, String)> = self
            .entries
            .iter()
            .map(|(key, entry)| (entry.last_used, key.clone()))
            .collect();
        by_age.sort_unstable();
        let mut evicted = Vec::new();
        for (_, key) in by_age {
            if self.total <= max_bytes {
                break;
            }
            self.remove(&key);
            evicted.push(key);
        }
        evicted
    }
}

impl LocalCache {
    /// Opens the cache directory, indexing what an earlier run left there (oldest
    /// modification first, so they are evicted first).
    pub fn open(settings: &CacheSettings) -> Result<LocalCache, StorageError> {
        let io_error = |source| StorageError::Io {
            context: format!("cache directory {}", settings.dir.display()),
            source,
        };
        let _ = std::fs::remove_dir_all(settings.dir.join(TEMP_DIR));
        std::fs::create_dir_all(settings.dir.join(TEMP_DIR)).map_err(io_error)?;
        let mut found = Vec::new();
        scan(&settings.dir, &settings.dir, &mut found).map_err(io_error)?;
        found.sort_by_key(|(_, _, modified)| *modified);
        let mut index = Index::default();
        for (key, size, _) in found {
            index.insert(key, size);
        }
        let cache = LocalCache {
            dir: settings.dir.clone(),
            max_bytes: settings.max_bytes,
            index: Mutex::new(index),
            temp_counter: AtomicU64::new(0),
        };
        cache.evict();
        Ok(cache)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn total_bytes(&self) -> u64 {
        self.index.lock().unwrap().total
    }

    pub fn contains(&self, key: &str) -> bool {
        self.index.lock().unwrap().entries.contains_key(key)
    }

    /// The cached file of `key` and its size, marking it recently used.
    pub fn open_file(&self, key: &str) -> Option<(std::fs::File, u64)> {
        let size = self.index.lock().unwrap().touch(key)?;
        if let Ok(file) = std::fs::File::open(self.path(key)) {
            Some((file, size))
        } else {
            // Removed behind our back: forget it.
            self.index.lock().unwrap().remove(key);
            None
        }
    }

    /// Starts writing a copy of `key`; nothing is visible until [`CacheWriter::commit`].
    pub fn writer(self: &Arc<Self>, key: &str, expected_size: u64) -> Option<CacheWriter> {
        if expected_size > self.max_bytes {
            return None;
        }
        let n = self.temp_counter.fetch_add(1, Ordering::Relaxed);
        let temp = self
            .dir
            .join(TEMP_DIR)
            .join(format!("{}-{n}", std::process::id()));
        let file = std::fs::File::create(&temp).ok()?;
        Some(CacheWriter {
            cache: self.clone(),
            key: key.to_owned(),
            temp,
            file: Some(file),
            expected_size,
            written: 0,
        })
    }

    /// Caches `bytes` under `key`, writing and syncing the file on tokio's blocking pool
    /// (the copy is in place when this returns).
    pub async fn insert_bytes(self: &Arc<Self>, key: &str, bytes: Bytes) {
        let (cache, key) = (self.clone(), key.to_owned());
        let _ = tokio::task::spawn_blocking(move || {
            if let Some(mut writer) = cache.writer(&key, bytes.len() as u64) {
                writer.write(&bytes);
                writer.commit();
            }
        })
        .await;
    }

    pub fn remove(&self, key: &str) {
        self.index.lock().unwrap().remove(key);
        let _ = std::fs::remove_file(self.path(key));
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(key)
    }

    fn evict(&self) {
        let evicted = self.index.lock().unwrap().evict(self.max_bytes);
        for key in evicted {
            let _ = std::fs::remove_file(self.path(&key));
        }
    }
}

fn scan(
    root: &Path,
    dir: &Path,
    found: &mut Vec<(String, u64, std::time::SystemTime)>,
) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let metadata = entry.metadata()?;
        if metadata.is_dir() {
            if entry.file_name() != TEMP_DIR {
                scan(root, &path, found)?;
            }
        } else if let Ok(relative) = path.strip_prefix(root) {
            let key = relative.to_string_lossy().replace('\\', "/");
            let modified = metadata.modified().unwrap_or(std::time::UNIX_EPOCH);
            found.push((key, metadata.len(), modified));
        }
    }
    Ok(())
}

/// A copy being written; dropped without [`commit`](Self::commit), it leaves nothing.
pub struct CacheWriter {
    cache: Arc<LocalCache>,
    key: String,
    temp: PathBuf,
    file: Option<std::fs::File>,
    expected_size: u64,
    written: u64,
}

impl CacheWriter {
    pub fn write(&mut self, bytes: &[u8]) {
        if let Some(file) = &mut self.file {
            if file.write_all(bytes).is_err() {
                // A full or failing disk only costs the cache entry, never the read.
                self.file = None;
            }
            self.written += bytes.len() as u64;
        }
    }

    /// Publishes the copy if it is complete, on tokio's blocking pool: syncing and
    /// renaming wait for the disk.
    pub async fn publish(self) {
        let _ = tokio::task::spawn_blocking(move || self.commit()).await;
    }

    /// Publishes the copy if it is complete, here (see [`Self::publish`]).
    pub fn commit(mut self) {
        let Some(file) = self.file.take() else { return };
        if self.written != self.expected_size || file.sync_all().is_err() {
            return;
        }
        let target = self.cache.path(&self.key);
        let renamed = target
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::rename(&self.temp, &target));
        if renamed.is_ok() {
            self.cache
                .index
                .lock()
                .unwrap()
                .insert(self.key.clone(), self.written);
            self.cache.evict();
        }
    }
}

impl Drop for CacheWriter {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.temp);
    }
}

/// Passes a backend stream through while copying it into the cache. The copy is
/// written to the page cache as chunks pass; when the stream ends, the sync and rename
/// that wait for the disk run on tokio's blocking pool, and the end is passed on once
/// the copy is published (a reader that saw the end finds it cached).
pub struct TeeStream<S> {
    inner: S,
    writer: Option<CacheWriter>,
    publishing: Option<tokio::task::JoinHandle<()>>,
}

impl<S> TeeStream<S> {
    pub fn new(inner: S, writer: Option<CacheWriter>) -> Self {
        TeeStream {
            inner,
            writer,
            publishing: None,
        }
    }
}

impl<S> Stream for TeeStream<S>
where
    S: Stream<Item = Result<Bytes, StorageError>> + Unpin,
{
    type Item = Result<Bytes, StorageError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(publishing) = &mut self.publishing {
            let _ = std::task::ready!(std::future::Future::poll(Pin::new(publishing), cx));
            self.publishing = None;
            return Poll::Ready(None);
        }
        let polled = Pin::new(&mut self.inner).poll_next(cx);
        match &polled {
            Poll::Ready(Some(Ok(bytes))) => {
                if let Some(writer) = &mut self.writer {
                    writer.write(bytes);
                }
            }
            Poll::Ready(None) => {
                if let Some(writer) = self.writer.take() {
                    match tokio::runtime::Handle::try_current() {
                        Ok(runtime) => {
                            self.publishing = Some(runtime.spawn_blocking(move || writer.commit()));
                            return self.poll_next(cx);
                        }
                        Err(_) => writer.commit(),
                    }
                }
            }
            Poll::Ready(Some(Err(_))) => self.writer = None,
            Poll::Pending => {}
        }
        polled
    }
}

/// Streams a local file in chunks.
pub fn file_stream(
    file: std::fs::File,
) -> impl Stream<Item = Result<Bytes, StorageError>> + Send + 'static {
    let file = tokio::fs::File::from_std(file);
    futures_util::stream::unfold(Some(file), |file| async move {
        use tokio::io::AsyncReadExt;
        let mut file = file?;
        let mut buffer = vec![0u8; 256 * 1024];
        match file.read(&mut buffer).await {
            Ok(0) => None,
            Ok(read) => {
                buffer.truncate(read);
                Some((Ok(Bytes::from(buffer)), Some(file)))
            }
            Err(source) => Some((
                Err(StorageError::Io {
                    context: "reading a cached file".into(),
                    source,
                }),
                None,
            )),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(max_bytes: u64) -> (Arc<LocalCache>, PathBuf) {
        let dir = std::env::temp_dir().join(format!(
            "packyard-cache-test-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        let settings = CacheSettings {
            dir: dir.clone(),
            max_bytes,
        };
        (Arc::new(LocalCache::open(&settings).unwrap()), dir)
    }

    #[tokio::test]
    async fn least_recently_used_entries_are_evicted() {
        let (cache, dir) = cache(25);
        cache
            .insert_bytes("a/1.zip", Bytes::from(vec![1; 10]))
            .await;
        cache
            .insert_bytes("a/2.zip", Bytes::from(vec![2; 10]))
            .await;
        assert!(
            cache.open_file("a/1.zip").is_some(),
            "touch 1 so 2 is older"
        );
        cache
            .insert_bytes("b/3.zip", Bytes::from(vec![3; 10]))
            .await;
        assert!(cache.contains("a/1.zip"));
        assert!(!cache.contains("a/2.zip"));
        assert!(!dir.join("a/2.zip").exists(), "evicted files are deleted");
        assert!(cache.contains("b/3.zip"));
        assert_eq!(cache.total_bytes(), 20);
        cache
            .insert_bytes("too-big.zip", Bytes::from(vec![0; 26]))
            .await;
        assert!(!cache.contains("too-big.zip"));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn incomplete_copies_are_never_published() {
        let (cache, dir) = cache(100);
        let mut writer = cache.writer("x.zip", 10).unwrap();
        writer.write(&[0; 5]);
        writer.commit();
        assert!(!cache.contains("x.zip"));
        let mut abandoned = cache.writer("y.zip", 3).unwrap();
        abandoned.write(&[0; 3]);
        drop(abandoned);
        assert!(!cache.contains("y.zip"));
        assert_eq!(std::fs::read_dir(dir.join(TEMP_DIR)).unwrap().count(), 0);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn a_reopened_cache_knows_its_files_and_bound() {
        let (cache, dir) = cache(100);
        cache
            .insert_bytes("k/1.zip", Bytes::from(vec![1; 40]))
            .await;
        cache
            .insert_bytes("k/2.zip", Bytes::from(vec![2; 40]))
            .await;
        drop(cache);
        let reopened = LocalCache::open(&CacheSettings {
            dir: dir.clone(),
            max_bytes: 50,
        })
        .unwrap();
        assert_eq!(reopened.total_bytes(), 40, "shrunk to the new bound");
        let (mut file, size) = reopened
            .open_file("k/2.zip")
            .or_else(|| reopened.open_file("k/1.zip"))
            .unwrap();
        let mut content = Vec::new();
        std::io::Read::read_to_end(&mut file, &mut content).unwrap();
        assert_eq!(content.len() as u64, size);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
