//! Mirrored metadata: fetched from upstream on a miss, kept in the mirror-meta store
//! (so every replica shares it), held in memory, and revalidated in the background with
//! `If-Modified-Since` once older than the mirror's `sync_interval`. When the upstream is
//! down, what is stored is served; a 404 upstream is remembered for a short time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use storage::Store;

use super::config::MirrorConfig;
use super::upstream::{Fetched, Upstream, UpstreamError};
use crate::db::now_millis;
use crate::single_flight::SingleFlight;

/// How long an upstream 404 is remembered before asking again.
const MISSING_TTL: Duration = Duration::from_secs(60);
/// How often a document held in memory is compared with the store, where other replicas
/// and `packyard mirror sync` put newer copies.
const STORE_RECHECK: Duration = Duration::from_secs(2);
/// Documents held in memory before the cache is thinned.
const MEMORY_LIMIT: usize = 20_000;

/// A mirrored document as served.
#[derive(Debug, Clone)]
pub struct MirroredDoc {
    pub body: Bytes,
    /// Upstream's `Last-Modified`, when it sent one.
    pub upstream_last_modified: Option<String>,
    pub fetched_at: i64,
    /// When this copy was read from (or written to) the store.
    pub checked_at: Instant,
}

impl MirroredDoc {
    /// What clients see as `Last-Modified`.
    pub fn last_modified(&self) -> SystemTime {
        self.upstream_last_modified
            .as_deref()
            .and_then(|v| httpdate::parse_http_date(v).ok())
            .unwrap_or_else(|| UNIX_EPOCH + Duration::from_millis(self.fetched_at.max(0) as u64))
    }

    fn is_fresh(&self, mirror: &MirrorConfig) -> bool {
        now_millis() - self.fetched_at < mirror.sync_interval.as_millis() as i64
    }
}

/// The stored form: the upstream bytes plus what revalidation needs, in one object.
#[derive(Serialize, Deserialize)]
struct Envelope {
    fetched_at: i64,
    last_modified: Option<String>,
    body: String,
}

#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    #[error("{0}; nothing is stored for it yet")]
    Unavailable(UpstreamError),
    #[error("storage unavailable: {0}")]
    Storage(#[from] storage::StorageError),
    #[error("upstream sent a document that is not UTF-8 JSON")]
    NotText,
}

pub struct Documents {
    store: Store,
    upstream: Upstream,
    memory: RwLock<HashMap<String, Arc<MirroredDoc>>>,
    missing: Mutex<HashMap<String, Instant>>,
    fetches: SingleFlight<String>,
    refreshing: Mutex<std::collections::HashSet<String>>,
}

impl Documents {
    pub fn new(store: Store, upstream: Upstream) -> Self {
        Documents {
            store,
            upstream,
            memory: RwLock::new(HashMap::new()),
            missing: Mutex::new(HashMap::new()),
            fetches: SingleFlight::default(),
            refreshing: Mutex::new(Default::default()),
        }
    }

    /// The document at `path` of `mirror` (`packages.json`, `p2/vendor/name.json`), or
    /// `None` when upstream does not have it.
    pub async fn get(
        self: &Arc<Self>,
        mirror: &Arc<MirrorConfig>,
        path: &str,
    ) -> Result<Option<Arc<MirroredDoc>>, DocumentError> {
        let key = format!("{}/{path}", mirror.alias);
        if let Some(doc) = self.memory.read().unwrap().get(&key).cloned() {
            if !self.refresh_if_stale(mirror, &key, path, &doc)
                && doc.checked_at.elapsed() > STORE_RECHECK
            {
                self.recheck_store(&key);
            }
            return Ok(Some(doc));
        }
        if self.recently_missing(&key) {
            return Ok(None);
        }
        if let Some(doc) = self.load_stored(&key, false).await? {
            self.refresh_if_stale(mirror, &key, path, &doc);
            return Ok(Some(doc));
        }
        // Concurrent misses of one document make one upstream request.
        let fetched = self
            .fetches
            .run(
                &key,
                || async {
                    Ok::<_, DocumentError>(
                        self.memory.read().unwrap().contains_key(&key)
                            || self.recently_missing(&key),
                    )
                },
                || self.fetch(mirror, &key, path, None),
            )
            .await?;
        match fetched {
            Some(doc) => Ok(doc),
            None => Ok(self.memory.read().unwrap().get(&key).cloned()),
        }
    }

    /// Revalidates every document of `mirror` held in the store; for `mirror sync`.
    pub async fn stored_paths(&self, mirror: &MirrorConfig) -> Result<Vec<String>, DocumentError> {
        use futures_util::TryStreamExt;
        let prefix = format!("{}/", mirror.alias);
        let objects: Vec<(String, u64)> = self.store.without_cache().list().try_collect().await?;
        Ok(objects
            .into_iter()
            .filter_map(|(key, _)| key.strip_prefix(&prefix).map(str::to_owned))
            .collect())
    }

    /// Asks upstream whether the stored copy is current, and stores what changed.
    pub async fn revalidate(&self, mirror: &MirrorConfig, path: &str) -> Result<(), DocumentError> {
        let key = format!("{}/{path}", mirror.alias);
        let in_memory = self.memory.read().unwrap().get(&key).cloned();
        let held = match in_memory {
            Some(doc) => Some(doc),
            None => self.load_stored(&key, true).await?,
        };
        self.fetch(mirror, &key, path, held).await.map(drop)
    }

    fn recently_missing(&self, key: &str) -> bool {
        let mut missing = self.missing.lock().unwrap();
        // Unknown names are the client's choice: forget expired ones before the map grows.
        if missing.len() >= MEMORY_LIMIT {
            missing.retain(|_, at| at.elapsed() < MISSING_TTL);
            if missing.len() >= MEMORY_LIMIT {
                missing.clear();
            }
        }
        match missing.get(key) {
            Some(at) if at.elapsed() < MISSING_TTL => true,
            Some(_) => {
                missing.remove(key);
                false
            }
            None => false,
        }
    }

    fn remember(&self, key: &str, doc: Arc<MirroredDoc>) {
        let mut memory = self.memory.write().unwrap();
        if memory.len() >= MEMORY_LIMIT {
            // Thin the cache rather than grow without bound; documents come back from the
            // store on their next request.
            let victims: Vec<String> = memory.keys().step_by(2).cloned().collect();
            for victim in victims {
                memory.remove(&victim);
            }
        }
        memory.insert(key.to_owned(), doc);
    }

    /// The stored copy of `key`. `fresh` reads the store itself rather than a local cache
    /// in front of it, to see copies other replicas refreshed.
    async fn load_stored(
        &self,
        key: &str,
        fresh: bool,
    ) -> Result<Option<Arc<MirroredDoc>>, DocumentError> {
        let read = match fresh {
            true => self.store.get_bytes_fresh(key).await,
            false => self.store.get_bytes(key).await,
        };
        let bytes = match read {
            Ok(bytes) => bytes,
            Err(error) if error.is_not_found() => return Ok(None),
            Err(error) => return Err(error.into()),
        };
        let Ok(envelope) = serde_json::from_slice::<Envelope>(&bytes) else {
            tracing::warn!(key, "ignoring an unreadable stored mirror document");
            return Ok(None);
        };
        let doc = Arc::new(MirroredDoc {
            body: Bytes::from(envelope.body),
            upstream_last_modified: envelope.last_modified,
            fetched_at: envelope.fetched_at,
            checked_at: Instant::now(),
        });
        self.remember(key, doc.clone());
        Ok(Some(doc))
    }

    /// One upstream request; `held` is the copy to revalidate, if any.
    async fn fetch(
        &self,
        mirror: &MirrorConfig,
        key: &str,
        path: &str,
        held: Option<Arc<MirroredDoc>>,
    ) -> Result<Option<Arc<MirroredDoc>>, DocumentError> {
        let url = format!("{}/{path}", mirror.url);
        let since = held
            .as_ref()
            .and_then(|doc| doc.upstream_last_modified.clone());
        let fetched = match self.upstream.metadata(mirror, &url, since.as_deref()).await {
            Ok(fetched) => fetched,
            Err(error) => {
                // Upstream down: what we have is better than nothing.
                return match held {
                    Some(doc) => {
                        tracing::warn!(%error, key, "upstream unreachable; serving the stored copy");
                        Ok(Some(doc))
                    }
                    None => Err(DocumentError::Unavailable(error)),
                };
            }
        };
        let (body, last_modified) = match fetched {
            Fetched::NotFound => {
                self.missing
                    .lock()
                    .unwrap()
                    .insert(key.to_owned(), Instant::now());
                self.memory.write().unwrap().remove(key);
                if held.is_some() {
                    self.store.delete(key).await?;
                }
                return Ok(None);
            }
            Fetched::NotModified => match &held {
                Some(doc) => (doc.body.clone(), doc.upstream_last_modified.clone()),
                None => return Err(DocumentError::NotText),
            },
            Fetched::Modified {
                body,
                last_modified,
            } => (body, last_modified),
        };
        let text = std::str::from_utf8(&body).map_err(|_| DocumentError::NotText)?;
        let envelope = Envelope {
            fetched_at: now_millis(),
            last_modified,
            body: text.to_owned(),
        };
        let stored = serde_json::to_vec(&envelope).expect("an envelope serializes");
        self.store.put_bytes(key, Bytes::from(stored)).await?;
        let doc = Arc::new(MirroredDoc {
            body,
            upstream_last_modified: envelope.last_modified,
            fetched_at: envelope.fetched_at,
            checked_at: Instant::now(),
        });
        self.remember(key, doc.clone());
        Ok(Some(doc))
    }

    /// Reloads a document from the store in the background, so a copy refreshed by another
    /// replica or by `mirror sync` replaces ours within seconds.
    fn recheck_store(self: &Arc<Self>, key: &str) {
        if !self.refreshing.lock().unwrap().insert(key.to_owned()) {
            return;
        }
        let (documents, key) = (self.clone(), key.to_owned());
        tokio::spawn(async move {
            if let Err(error) = documents.load_stored(&key, true).await {
                tracing::warn!(%error, key, "rereading a mirrored document from the store failed");
            }
            documents.refreshing.lock().unwrap().remove(&key);
        });
    }

    /// Serves stale copies at once and refreshes them behind the client's back, one
    /// refresh per document at a time. Returns whether the copy was stale.
    fn refresh_if_stale(
        self: &Arc<Self>,
        mirror: &Arc<MirrorConfig>,
        key: &str,
        path: &str,
        doc: &MirroredDoc,
    ) -> bool {
        if doc.is_fresh(mirror) {
            return false;
        }
        if !self.refreshing.lock().unwrap().insert(key.to_owned()) {
            return true;
        }
        let (documents, mirror, key, path) = (
            self.clone(),
            mirror.clone(),
            key.to_owned(),
            path.to_owned(),
        );
        tokio::spawn(async move {
            // Another replica may have refreshed the store already.
            let stored = documents.load_stored(&key, true).await;
            let result = match stored {
                Ok(Some(doc)) if doc.is_fresh(&mirror) => Ok(()),
                _ => documents.revalidate(&mirror, &path).await,
            };
            if let Err(error) = result {
                tracing::warn!(%error, key, "revalidating a mirrored document failed");
            }
            documents.refreshing.lock().unwrap().remove(&key);
        });
        true
    }
}
