//! Mirrored metadata: fetched from upstream on a miss, kept in the mirror-meta store
//! (so every replica shares it), held in memory, and revalidated in the background with
//! `If-Modified-Since` once older than the mirror's `sync_interval`. When the upstream is
//! down, what is stored is served. A document the upstream does not have is a 404,
//! remembered for a short time; a stored document the upstream stops having (404 or 410
//! on revalidation) is kept, marked gone upstream and still served, until an admin
//! forgets it: people run a mirror precisely to survive packages vanishing upstream.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use storage::Store;

use super::config::MirrorConfig;
use super::upstream::{Fetched, Upstream, UpstreamError, decoy_name};
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
    /// When the upstream last confirmed this copy (or, once gone, last answered 404).
    pub fetched_at: i64,
    /// Since when the upstream answers 404/410 for it, in Unix milliseconds.
    pub gone_upstream_at: Option<i64>,
    /// When this copy was read from (or written to) the store.
    pub checked_at: Instant,
}

impl MirroredDoc {
    /// As it is served.
    pub fn document(&self) -> crate::metadata::Document {
        crate::metadata::Document {
            body: self.body.clone(),
            last_modified: self.last_modified(),
        }
    }

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
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    pub fetched_at: i64,
    pub last_modified: Option<String>,
    pub body: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gone_upstream_at: Option<i64>,
}

/// The marker object that lists a document as gone upstream, so `mirror list` finds
/// them with one listing instead of reading every stored document.
#[derive(Serialize, Deserialize)]
struct GoneMarker {
    since: i64,
}

/// A stored document the upstream no longer has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoneDocument {
    /// The document's path in the mirror, e.g. `p2/vendor/name.json`.
    pub path: String,
    /// Since when, in Unix milliseconds.
    pub since: i64,
}

impl GoneDocument {
    /// What people call it: `vendor/name` (or `vendor/name~dev`) for a p2 document,
    /// else its path.
    pub fn name(&self) -> &str {
        self.path
            .strip_prefix("p2/")
            .and_then(|path| path.strip_suffix(".json"))
            .unwrap_or(&self.path)
    }
}

/// What one revalidation found out.
#[derive(Debug)]
pub enum Revalidation {
    /// The upstream sent a new copy, now stored.
    Changed,
    /// The stored copy is current.
    Unchanged,
    /// The upstream answered 404/410: the stored copy is kept and marked.
    GoneUpstream,
    /// Neither stored nor upstream: nothing to revalidate.
    Missing,
    /// The upstream could not be asked; the stored copy is kept as it was.
    Unreachable(UpstreamError),
}

/// A document as one upstream request left it, and what that request found.
struct Fetch {
    doc: Option<Arc<MirroredDoc>>,
    revalidation: Revalidation,
}

#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    #[error("{0}; nothing is stored for it yet")]
    Unavailable(UpstreamError),
    #[error("storage unavailable: {0}")]
    Storage(#[from] storage::StorageError),
    #[error("upstream sent a document that is not UTF-8 JSON")]
    NotText,
    #[error("upstream answered 304 Not Modified to a request without If-Modified-Since")]
    UnaskedNotModified,
}

impl crate::error::Classify for DocumentError {
    fn kind(&self) -> crate::error::ErrorKind {
        use crate::error::ErrorKind;
        match self {
            DocumentError::Storage(error) => error.kind(),
            _ => ErrorKind::Upstream(
                "the mirror's upstream did not give this document, and nothing is stored for it",
            ),
        }
    }
}

/// Paths of the documents a mirror stores: its root and p2 files.
fn is_document_path(path: &str) -> bool {
    path == "packages.json" || path.starts_with("p2/")
}

pub struct Documents {
    store: Store,
    upstream: Upstream,
    memory: RwLock<HashMap<String, Arc<MirroredDoc>>>,
    missing: Mutex<HashMap<String, Instant>>,
    fetches: SingleFlight<String>,
    refreshing: Mutex<HashSet<String>>,
    /// Which versions an upstream document may no longer change.
    immutability: crate::supply_chain::Immutability,
    /// Told when an upstream changes a frozen version.
    webhooks: Option<crate::webhooks::Webhooks>,
    /// Where such a change is recorded (the audit log).
    db: Option<crate::db::Db>,
}

impl Documents {
    pub fn new(store: Store, upstream: Upstream) -> Self {
        Documents {
            store,
            upstream,
            memory: RwLock::new(HashMap::new()),
            missing: Mutex::new(HashMap::new()),
            fetches: SingleFlight::named("mirror_document"),
            refreshing: Mutex::new(HashSet::new()),
            immutability: crate::supply_chain::Immutability::Off,
            webhooks: None,
            db: None,
        }
    }

    /// These documents, keeping the versions `immutability` freezes as first mirrored
    /// (an upstream that changes one is reported to `webhooks` and recorded in the
    /// audit log through `db`).
    #[must_use]
    pub fn keeping(
        self,
        immutability: crate::supply_chain::Immutability,
        webhooks: crate::webhooks::Webhooks,
        db: crate::db::Db,
    ) -> Self {
        Documents {
            immutability,
            webhooks: Some(webhooks),
            db: Some(db),
            ..self
        }
    }

    /// `body`, a new upstream copy of the p2 document at `path`, with the frozen
    /// versions of `held` (the copy served so far) kept as they were; each change the
    /// upstream made to one is reported.
    async fn keep_frozen(
        &self,
        mirror: &MirrorConfig,
        path: &str,
        held: &MirroredDoc,
        body: Bytes,
    ) -> Bytes {
        let Some(package) = path
            .strip_prefix("p2/")
            .and_then(|rest| rest.strip_suffix(".json"))
            .filter(|name| !name.ends_with("~dev"))
        else {
            return body;
        };
        let Some((kept, changed)) = crate::supply_chain::immutable::keep_published(
            self.immutability,
            package,
            &held.body,
            &body,
        ) else {
            return body;
        };
        let mut occurrences = Vec::new();
        for change in &changed {
            crate::metrics::metrics().version_conflict("mirrored_version_changed");
            tracing::warn!(
                mirror = %mirror.alias,
                package,
                version = %change.version,
                kept = %change.kept_reference,
                offered = %change.offered_reference,
                "the upstream changed an immutable version's reference; the mirror keeps the first"
            );
            occurrences.push(
                crate::webhooks::Occurrence::new(crate::webhooks::Event::VersionConflict, package)
                    .with(
                        "version",
                        serde_json::json!({"version": change.version, "reference": change.kept_reference}),
                    )
                    .with("offered_reference", serde_json::json!(change.offered_reference))
                    .with("mirror", serde_json::json!(mirror.alias)),
            );
        }
        if let Some(db) = &self.db {
            let moved: Vec<serde_json::Value> = changed
                .iter()
                .map(|change| {
                    serde_json::json!({
                        "version": change.version,
                        "kept": change.kept_reference,
                        "offered": change.offered_reference,
                    })
                })
                .collect();
            let change = crate::db::audit::Change::new("mirror.version_conflict", &mirror.alias)
                .package(package)
                .detail("moved", moved);
            // packyard's own doing, whichever client's request fetched the document.
            let recorded = crate::db::audit::AuditActor::system("mirror")
                .scope(db.record_audit_unless_repeated(&change))
                .await;
            if let Err(error) = recorded {
                tracing::warn!(%error, "the kept version could not be recorded in the audit log");
            }
        }
        if let Some(webhooks) = &self.webhooks {
            webhooks.emit(&occurrences).await;
        }
        kept.into()
    }

    /// Whether a p2 document of `package` is held in memory: asking for it then goes
    /// nowhere near the upstream (revalidations aside).
    pub fn holds(&self, mirror: &MirrorConfig, package: &str) -> bool {
        let memory = self.memory.read().unwrap();
        [false, true].into_iter().any(|dev| {
            memory.contains_key(&format!(
                "{}/{}",
                mirror.alias,
                super::p2_path(package, dev)
            ))
        })
    }

    /// The document at `path` of `mirror` (`packages.json`, `p2/vendor/name.json`), or
    /// `None` when upstream does not have it.
    pub async fn get(
        self: &Arc<Self>,
        mirror: &Arc<MirrorConfig>,
        path: &str,
    ) -> Result<Option<Arc<MirroredDoc>>, DocumentError> {
        self.lookup(mirror, path, None).await
    }

    /// For the p2 document of `package` (`~dev` when `dev`), a name that must never
    /// reach the upstream (a private package's): answered as [`Self::get`] answers a
    /// document the upstream does not have, so a mirror client cannot tell the two
    /// apart. The same reads of memory and store, the same single flight, and where
    /// [`Self::get`] would ask the upstream, the same request for a decoy
    /// ([`decoy_name`]) whose outcome stands for this name's: a miss remembered for
    /// [`MISSING_TTL`], or the failure (502) an unknown name would get at that moment,
    /// as late and counted alike.
    pub async fn get_withheld(
        self: &Arc<Self>,
        mirror: &Arc<MirrorConfig>,
        package: &str,
        dev: bool,
    ) -> Result<(), DocumentError> {
        let path = super::p2_path(package, dev);
        self.lookup(mirror, &path, Some((package, dev)))
            .await
            .map(drop)
    }

    /// `withheld` is the package and flavour of a withheld p2 document.
    async fn lookup(
        self: &Arc<Self>,
        mirror: &Arc<MirrorConfig>,
        path: &str,
        withheld: Option<(&str, bool)>,
    ) -> Result<Option<Arc<MirroredDoc>>, DocumentError> {
        let key = format!("{}/{path}", mirror.alias);
        // A withheld name's copy (stored before the name became private) is never
        // served: it is looked for as any other, and then not there.
        let held = withheld
            .is_none()
            .then(|| self.memory.read().unwrap().get(&key).cloned())
            .flatten();
        crate::metrics::metrics().cache_read(crate::metrics::Cache::MirrorDocument, held.is_some());
        if let Some(doc) = held {
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
        if let Some(doc) = self.load_stored(&key, false).await?
            && withheld.is_none()
        {
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
                        (withheld.is_none() && self.memory.read().unwrap().contains_key(&key))
                            || self.recently_missing(&key),
                    )
                },
                || async {
                    if let Some((package, dev)) = withheld {
                        return self
                            .withheld_miss(mirror, &key, package, dev)
                            .await
                            .map(|()| None);
                    }
                    let fetch = self.fetch(mirror, &key, path, None).await?;
                    match fetch.revalidation {
                        Revalidation::Unreachable(error) => Err(DocumentError::Unavailable(error)),
                        _ => Ok(fetch.doc),
                    }
                },
            )
            .await?;
        match fetched {
            Some(doc) => Ok(doc),
            None if withheld.is_some() => Ok(None),
            None => Ok(self.memory.read().unwrap().get(&key).cloned()),
        }
    }

    /// What [`Self::fetch`] does for a document the upstream does not have, with the
    /// upstream asked for a decoy's document in its place: see [`Self::get_withheld`].
    /// A decoy the upstream has after all (128 secret bits) still stands for a miss:
    /// nothing the upstream sends is kept under a real name.
    async fn withheld_miss(
        &self,
        mirror: &MirrorConfig,
        key: &str,
        package: &str,
        dev: bool,
    ) -> Result<(), DocumentError> {
        let decoy = decoy_name(package);
        let url = format!("{}/{}", mirror.url, super::p2_path(&decoy, dev));
        match self.upstream.metadata(mirror, &url, None).await {
            Ok(Fetched::NotFound | Fetched::Modified { .. }) => {}
            Ok(Fetched::NotModified) => return Err(DocumentError::UnaskedNotModified),
            // Told as the failure of this name's own request, which is what an unknown
            // name's answer would say.
            Err(error) => {
                return Err(DocumentError::Unavailable(UpstreamError {
                    url: format!("{}/{}", mirror.url, super::p2_path(package, dev)),
                    reason: error.reason.replace(&decoy, package),
                }));
            }
        }
        self.missing
            .lock()
            .unwrap()
            .insert(key.to_owned(), Instant::now());
        Ok(())
    }

    /// The copy of `path` held in memory or in the store, without asking the upstream
    /// and without starting a revalidation: for archives, whose key only needs the
    /// version's reference, which never changes for a stored archive.
    pub async fn stored(
        self: &Arc<Self>,
        mirror: &MirrorConfig,
        path: &str,
    ) -> Result<Option<Arc<MirroredDoc>>, DocumentError> {
        let key = format!("{}/{path}", mirror.alias);
        if let Some(doc) = self.memory.read().unwrap().get(&key).cloned() {
            if doc.checked_at.elapsed() > STORE_RECHECK {
                self.recheck_store(&key);
            }
            return Ok(Some(doc));
        }
        if self.recently_missing(&key) {
            return Ok(None);
        }
        self.load_stored(&key, false).await
    }

    /// The paths of every document of `mirror` held in the store; for `mirror sync`.
    pub async fn stored_paths(&self, mirror: &MirrorConfig) -> Result<Vec<String>, DocumentError> {
        use futures_util::TryStreamExt;
        let prefix = format!("{}/", mirror.alias);
        let objects: Vec<(String, u64)> =
            self.store.list_under(&mirror.alias)?.try_collect().await?;
        Ok(objects
            .into_iter()
            .filter_map(|(key, _)| key.strip_prefix(&prefix).map(str::to_owned))
            .filter(|path| is_document_path(path))
            .collect())
    }

    /// Asks upstream whether the stored copy is current, and stores what changed. The
    /// copy is read from the store, never from memory, so that a document forgotten
    /// meanwhile is not written back.
    pub async fn revalidate(
        &self,
        mirror: &MirrorConfig,
        path: &str,
    ) -> Result<Revalidation, DocumentError> {
        let key = format!("{}/{path}", mirror.alias);
        let held = self.load_stored(&key, true).await?;
        Ok(self.fetch(mirror, &key, path, held).await?.revalidation)
    }

    /// The stored documents of `mirror` that its upstream no longer has, oldest first.
    pub async fn gone_upstream(
        &self,
        mirror: &MirrorConfig,
    ) -> Result<Vec<GoneDocument>, DocumentError> {
        use futures_util::TryStreamExt;
        let prefix = gone_marker_key(&mirror.alias, "");
        let markers: Vec<(String, u64)> = self
            .store
            .list_under(prefix.trim_end_matches('/'))?
            .try_collect()
            .await?;
        let mut gone = Vec::new();
        for (key, _) in markers {
            let Some(path) = key.strip_prefix(&prefix) else {
                continue;
            };
            let bytes = match self.store.without_cache().get_bytes(&key).await {
                Ok(bytes) => bytes,
                // Forgotten or back upstream since the listing.
                Err(error) if error.is_not_found() => continue,
                Err(error) => return Err(error.into()),
            };
            let since = serde_json::from_slice::<GoneMarker>(&bytes).map_or(0, |m| m.since);
            gone.push(GoneDocument {
                path: path.to_owned(),
                since,
            });
        }
        gone.sort_by(|a, b| (a.since, &a.path).cmp(&(b.since, &b.path)));
        Ok(gone)
    }

    /// Deletes the stored copy of `path` and its gone marker, here and (within
    /// [`STORE_RECHECK`]) on every replica. Returns whether a copy was stored.
    pub async fn forget(&self, mirror: &MirrorConfig, path: &str) -> Result<bool, DocumentError> {
        let key = format!("{}/{path}", mirror.alias);
        let existed = self.store.without_cache().size(&key).await?.is_some();
        self.store.delete(&key).await?;
        self.store
            .delete(&gone_marker_key(&mirror.alias, path))
            .await?;
        self.memory.write().unwrap().remove(&key);
        self.missing.lock().unwrap().remove(&key);
        Ok(existed)
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
        let read = if fresh {
            self.store.get_bytes_fresh(key).await
        } else {
            self.store.get_bytes(key).await
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
        Ok(Some(self.hold(key, envelope)))
    }

    /// One upstream request; `held` is the copy to revalidate, if any.
    async fn fetch(
        &self,
        mirror: &MirrorConfig,
        key: &str,
        path: &str,
        held: Option<Arc<MirroredDoc>>,
    ) -> Result<Fetch, DocumentError> {
        let url = format!("{}/{path}", mirror.url);
        let since = held
            .as_ref()
            .and_then(|doc| doc.upstream_last_modified.clone());
        let fetched = match self.upstream.metadata(mirror, &url, since.as_deref()).await {
            Ok(fetched) => fetched,
            Err(error) => {
                // Upstream down: what we have is better than nothing.
                if held.is_some() {
                    tracing::warn!(%error, key, "upstream unreachable; serving the stored copy");
                }
                return Ok(Fetch {
                    doc: held,
                    revalidation: Revalidation::Unreachable(error),
                });
            }
        };
        // The upstream may have taken seconds: a copy an admin forgot meanwhile must not
        // be written back.
        if held.is_some() && self.store.without_cache().size(key).await?.is_none() {
            self.memory.write().unwrap().remove(key);
            return Ok(Fetch {
                doc: None,
                revalidation: Revalidation::Missing,
            });
        }
        let (body, last_modified, revalidation) = match (fetched, &held) {
            (Fetched::NotFound, None) => {
                self.missing
                    .lock()
                    .unwrap()
                    .insert(key.to_owned(), Instant::now());
                self.memory.write().unwrap().remove(key);
                return Ok(Fetch {
                    doc: None,
                    revalidation: Revalidation::Missing,
                });
            }
            (Fetched::NotFound, Some(doc)) => {
                let doc = self.mark_gone(mirror, key, path, doc).await?;
                return Ok(Fetch {
                    doc: Some(doc),
                    revalidation: Revalidation::GoneUpstream,
                });
            }
            (Fetched::NotModified, Some(doc)) => (
                doc.body.clone(),
                doc.upstream_last_modified.clone(),
                Revalidation::Unchanged,
            ),
            (Fetched::NotModified, None) => return Err(DocumentError::UnaskedNotModified),
            (
                Fetched::Modified {
                    body,
                    last_modified,
                },
                held,
            ) => {
                let body = match held {
                    Some(held) => {
                        let body = self.keep_frozen(mirror, path, held, body).await;
                        date_arrivals(path, held, body)
                    }
                    None => body,
                };
                (body, last_modified, Revalidation::Changed)
            }
        };
        let text = std::str::from_utf8(&body).map_err(|_| DocumentError::NotText)?;
        if let Some(held) = &held {
            if let Some(since) = held.gone_upstream_at {
                tracing::info!(key, since, "a document gone upstream is back");
            }
            // The upstream has it: no gone marker may stay, whatever copy this replica
            // held (another one may have marked it meanwhile). The marker goes first:
            // should the envelope then fail to be written, the next revalidation
            // repeats both steps.
            self.store
                .delete(&gone_marker_key(&mirror.alias, path))
                .await?;
        }
        let envelope = Envelope {
            fetched_at: now_millis(),
            last_modified,
            body: text.to_owned(),
            gone_upstream_at: None,
        };
        let doc = self.store_envelope(key, envelope).await?;
        Ok(Fetch {
            doc: Some(doc),
            revalidation,
        })
    }

    /// Keeps `held` after the upstream answered 404/410 for it: the envelope records
    /// since when (the check time moves on, so the next check waits a `sync_interval`),
    /// and a marker lists it for `mirror list`. Both writes repeat on every such answer,
    /// so a marker lost to a failed write comes back.
    async fn mark_gone(
        &self,
        mirror: &MirrorConfig,
        key: &str,
        path: &str,
        held: &MirroredDoc,
    ) -> Result<Arc<MirroredDoc>, DocumentError> {
        let since = held.gone_upstream_at.unwrap_or_else(now_millis);
        if held.gone_upstream_at.is_none() {
            tracing::warn!(
                key,
                "the upstream no longer has this document; keeping the stored copy"
            );
        }
        let body = std::str::from_utf8(&held.body).map_err(|_| DocumentError::NotText)?;
        // The check time moves on; what clients see as Last-Modified must not.
        let last_modified = held
            .upstream_last_modified
            .clone()
            .unwrap_or_else(|| httpdate::fmt_http_date(held.last_modified()));
        let envelope = Envelope {
            fetched_at: now_millis(),
            last_modified: Some(last_modified),
            body: body.to_owned(),
            gone_upstream_at: Some(since),
        };
        let doc = self.store_envelope(key, envelope).await?;
        let marker = serde_json::to_vec(&GoneMarker { since }).expect("a marker serializes");
        // Markers are only ever listed and read from the store itself: no cache copy.
        self.store
            .without_cache()
            .put_bytes(&gone_marker_key(&mirror.alias, path), Bytes::from(marker))
            .await?;
        Ok(doc)
    }

    /// Writes an envelope to the store and holds the document it carries in memory.
    async fn store_envelope(
        &self,
        key: &str,
        envelope: Envelope,
    ) -> Result<Arc<MirroredDoc>, DocumentError> {
        let stored = serde_json::to_vec(&envelope).expect("an envelope serializes");
        self.store.put_bytes(key, Bytes::from(stored)).await?;
        Ok(self.hold(key, envelope))
    }

    /// Holds in memory the document a stored envelope carries, as just checked.
    fn hold(&self, key: &str, envelope: Envelope) -> Arc<MirroredDoc> {
        let doc = Arc::new(MirroredDoc {
            body: Bytes::from(envelope.body),
            upstream_last_modified: envelope.last_modified,
            fetched_at: envelope.fetched_at,
            gone_upstream_at: envelope.gone_upstream_at,
            checked_at: Instant::now(),
        });
        self.remember(key, doc.clone());
        doc
    }

    /// Reloads a document from the store in the background, so a copy refreshed by another
    /// replica or by `mirror sync` replaces ours within seconds.
    fn recheck_store(self: &Arc<Self>, key: &str) {
        if !self.refreshing.lock().unwrap().insert(key.to_owned()) {
            return;
        }
        let (documents, key) = (self.clone(), key.to_owned());
        tokio::spawn(async move {
            match documents.load_stored(&key, true).await {
                Ok(Some(_)) => {}
                // Forgotten (`packyard mirror forget`): stop serving it here too.
                Ok(None) => {
                    documents.memory.write().unwrap().remove(&key);
                }
                Err(error) => {
                    tracing::warn!(%error, key, "rereading a mirrored document from the store failed");
                }
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
            // Another replica may have refreshed the store already, or an admin forgotten
            // the document.
            let result = match documents.load_stored(&key, true).await {
                Ok(Some(doc)) if doc.is_fresh(&mirror) => Ok(()),
                Ok(Some(doc)) => documents
                    .fetch(&mirror, &key, &path, Some(doc))
                    .await
                    .map(drop),
                Ok(None) => {
                    documents.memory.write().unwrap().remove(&key);
                    Ok(())
                }
                Err(error) => Err(error),
            };
            if let Err(error) = result {
                tracing::warn!(%error, key, "revalidating a mirrored document failed");
            }
            documents.refreshing.lock().unwrap().remove(&key);
        });
        true
    }
}

/// Key of the marker listing `path` of mirror `alias` as gone upstream. Outside `p2/`,
/// so markers are never mistaken for documents.
fn gone_marker_key(alias: &str, path: &str) -> String {
    format!("{alias}/gone-upstream/{path}")
}

/// `body`, a new upstream copy of the p2 document at `path`, with the versions `held`
/// did not list dated when the mirror first saw them
/// ([`crate::supply_chain::mirrored::date_arrivals`]).
fn date_arrivals(path: &str, held: &MirroredDoc, body: Bytes) -> Bytes {
    let Some(package) = path
        .strip_prefix("p2/")
        .and_then(|rest| rest.strip_suffix(".json"))
        .map(|name| name.strip_suffix("~dev").unwrap_or(name))
    else {
        return body;
    };
    crate::supply_chain::mirrored::date_arrivals(
        package,
        &held.body,
        &body,
        crate::db::now_millis(),
    )
    .map_or(body, Bytes::from)
}
