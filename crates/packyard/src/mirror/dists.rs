//! Mirrored archives. The first request for an archive downloads it from upstream and
//! streams it to that client while writing it to the mirror-dist store, checking its
//! sha1 against the metadata on the way: a mismatch aborts the upload, so a corrupt
//! archive is never stored. Requests that arrive meanwhile wait for that one download
//! and are then served from storage, as are all later ones. Nothing touches local disk
//! unless `MIRROR_DIST_CACHE_DIR` is set.
//!
//! The first archive stored for a (mirror, package, reference) pins its sha1 and sha256
//! in the database (`mirror_dist_pins`): when the upstream later serves other bytes for
//! that reference (the stored archive lost, the upstream compromised), they are refused
//! and reported (the `version_conflicts` metric, a warning, the `version_conflict`
//! webhook event), whatever the metadata now says.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use sha1::{Digest, Sha1};
use storage::{Served, StorageError, Store};
use tokio::sync::{mpsc, oneshot, watch};

use super::config::MirrorConfig;
use super::upstream::{Upstream, UpstreamError};

/// Where to get one archive and what it must hash to.
#[derive(Debug, Clone)]
pub struct DistSource {
    pub key: String,
    /// Upstream URLs to try in order: the version's `dist.url`, then upstream mirrors.
    pub urls: Vec<String>,
    /// Expected sha1; empty when the metadata has none.
    pub shasum: String,
    /// What the archive is, for its pin.
    pub identity: DistIdentity,
}

/// The (mirror, package, reference) an archive's pin is kept for, and the version.
#[derive(Debug, Clone)]
pub struct DistIdentity {
    pub alias: String,
    pub package: String,
    pub reference: String,
    pub version: String,
}

/// How a request for an archive is answered.
pub enum DistReply {
    /// Stored already (or just now by another request).
    /// Stored: streamed from the store, or a presigned URL of it
    /// (`PACKYARD_DIST_REDIRECT`).
    Stored(Served),
    /// Being downloaded for this request: the bytes as they arrive.
    Live {
        length: Option<u64>,
        stream: Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send + Unpin>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum DistError {
    #[error("no upstream URL could be downloaded: {0}")]
    Upstream(MirroringFailure),
    #[error("the download for this archive failed: {0}")]
    Failed(MirroringFailure),
    #[error("storage unavailable: {0}")]
    Storage(#[from] StorageError),
}

impl crate::error::Classify for DistError {
    fn kind(&self) -> crate::error::ErrorKind {
        use crate::error::ErrorKind;
        match self {
            DistError::Storage(error) => error.kind(),
            DistError::Upstream(_) | DistError::Failed(_) => {
                ErrorKind::Upstream("the mirror could not download this archive from upstream")
            }
        }
    }
}

/// Why mirroring one archive failed; shared with every request that waited for it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum MirroringFailure {
    #[error("the metadata has no dist URL")]
    NoUrl,
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Unreachable(Vec<UpstreamError>),
    #[error("{0}")]
    Download(UpstreamError),
    #[error("sha1 mismatch: upstream sent {actual}, the metadata says {expected}")]
    ShasumMismatch { actual: String, expected: String },
    #[error("the storage upload stopped")]
    UploadStopped,
    #[error("the archive is larger than {0} bytes, the most that is mirrored")]
    TooLarge(u64),
    #[error("storing the archive failed: {0}")]
    Store(Arc<StorageError>),
    #[error("the upload task failed: {0}")]
    UploadTask(Arc<tokio::task::JoinError>),
    #[error("the download was abandoned; try again")]
    Abandoned,
    #[error("the download task ended early")]
    TaskEnded,
    #[error("the archive vanished from storage")]
    Vanished,
    #[error(
        "the upstream sent other bytes (sha1 {actual}) for an archive pinned at sha1 {pinned}; refused"
    )]
    PinMismatch { actual: String, pinned: String },
    #[error("reading the archive's pin failed: {0}")]
    Pin(Arc<sqlx::Error>),
}

type Outcome = Option<Result<(), MirroringFailure>>;

fn found(read: Result<Served, StorageError>) -> Result<Option<Served>, StorageError> {
    match read {
        Ok(object) => Ok(Some(object)),
        Err(error) if error.is_not_found() => Ok(None),
        Err(error) => Err(error),
    }
}

/// How long the first client may stop reading before the download goes on without it.
const CLIENT_STALL: std::time::Duration = std::time::Duration::from_secs(10);

/// Archives downloaded from upstreams at once, over all mirrors. Each holds up to a
/// store part (8 MiB) while it is copied; a burst of cold requests for distinct
/// archives waits for a slot instead of holding a buffer each.
pub const CONCURRENT_DOWNLOADS: usize = 16;

/// The largest archive mirrored: a longer one (announced or counted) is cut and not
/// stored.
pub const MAX_ARCHIVE_BYTES: u64 = 1024 * 1024 * 1024;

pub struct Dists {
    /// [`CONCURRENT_DOWNLOADS`] permits.
    download_slots: Arc<tokio::sync::Semaphore>,
    store: Store,
    upstream: Upstream,
    in_flight: Mutex<HashMap<String, watch::Receiver<Outcome>>>,
    /// The pins.
    db: crate::db::Db,
    /// Told of refused bytes.
    webhooks: crate::webhooks::Webhooks,
}

impl Dists {
    pub fn new(
        store: Store,
        upstream: Upstream,
        db: crate::db::Db,
        webhooks: crate::webhooks::Webhooks,
    ) -> Self {
        Dists {
            download_slots: Arc::new(tokio::sync::Semaphore::new(CONCURRENT_DOWNLOADS)),
            store,
            upstream,
            in_flight: Mutex::new(HashMap::new()),
            db,
            webhooks,
        }
    }

    /// Checks downloaded bytes against the archive's pin: `Ok(true)` when there is none
    /// yet (it is to be pinned once stored), `Ok(false)` when they match it. Other
    /// bytes are refused and reported.
    async fn check_pin(
        &self,
        identity: &DistIdentity,
        offered: &crate::db::DistPin,
    ) -> Result<bool, MirroringFailure> {
        let pinned = self
            .db
            .dist_pin(&identity.alias, &identity.package, &identity.reference)
            .await
            .map_err(|error| MirroringFailure::Pin(Arc::new(error)))?;
        let Some(pinned) = pinned else {
            return Ok(true);
        };
        if pinned == *offered {
            return Ok(false);
        }
        crate::metrics::metrics().version_conflict("archive_changed");
        tracing::warn!(
            mirror = %identity.alias,
            package = %identity.package,
            version = %identity.version,
            reference = %identity.reference,
            pinned = %pinned.sha1,
            offered = %offered.sha1,
            "the upstream sent other bytes for a pinned archive; refused"
        );
        let change = crate::db::audit::Change::new("mirror.archive_conflict", &identity.alias)
            .package(&identity.package)
            .detail("version", &identity.version)
            .detail("reference", &identity.reference)
            .detail("kept_sha1", &pinned.sha1)
            .detail("offered_sha1", &offered.sha1);
        if let Err(error) = self.db.record_audit_unless_repeated(&change).await {
            tracing::warn!(%error, "the refused archive could not be recorded in the audit log");
        }
        let occurrence = crate::webhooks::Occurrence::new(
            crate::webhooks::Event::VersionConflict,
            &identity.package,
        )
        .with(
            "version",
            serde_json::json!({"version": identity.version, "reference": identity.reference}),
        )
        .with("mirror", serde_json::json!(identity.alias))
        .with("kept_sha1", serde_json::json!(pinned.sha1))
        .with("offered_sha1", serde_json::json!(offered.sha1));
        self.webhooks.emit(&[occurrence]).await;
        Err(MirroringFailure::PinMismatch {
            actual: offered.sha1.clone(),
            pinned: pinned.sha1,
        })
    }

    pub async fn fetch(
        self: &Arc<Self>,
        mirror: &Arc<MirrorConfig>,
        source: DistSource,
    ) -> Result<DistReply, DistError> {
        if let Some(object) = self.stored(&source.key).await? {
            return Ok(DistReply::Stored(object));
        }
        // Either join the download in flight, or register ours; decided under the lock,
        // acted on after it is released.
        let joined = {
            let mut in_flight = self.in_flight.lock().unwrap();
            // A receiver whose sender is gone belongs to a download that died without
            // finishing (a panic): start afresh instead of joining it.
            if let Some(receiver) = in_flight
                .get(&source.key)
                .filter(|receiver| receiver.has_changed().is_ok())
            {
                Ok(receiver.clone())
            } else {
                let (sender, receiver) = watch::channel(None);
                in_flight.insert(source.key.clone(), receiver);
                Err(sender)
            }
        };
        let waiting = match joined {
            Ok(receiver) => Some(receiver),
            Err(sender) => return self.start_download(mirror.clone(), source, sender).await,
        };
        let mut receiver = waiting.expect("set above");
        crate::metrics::metrics().coalesced_wait("mirror_dist");
        let outcome = receiver
            .wait_for(Option::is_some)
            .await
            .map(|outcome| outcome.clone())
            .map_err(|_| DistError::Failed(MirroringFailure::Abandoned))?;
        match outcome.expect("waited for Some") {
            Ok(()) => match self.stored(&source.key).await? {
                Some(object) => Ok(DistReply::Stored(object)),
                None => Err(DistError::Failed(MirroringFailure::Vanished)),
            },
            Err(reason) => Err(DistError::Failed(reason)),
        }
    }

    /// The archive at `key`, when stored (from the local cache when it has it).
    pub async fn stored(&self, key: &str) -> Result<Option<Served>, StorageError> {
        found(self.store.serve(key).await)
    }

    /// The archive at `key` as the store itself has it, whatever a local cache holds.
    pub async fn stored_in_backend(&self, key: &str) -> Result<Option<Served>, StorageError> {
        found(self.store.without_cache().serve(key).await)
    }

    /// Deletes every archive under the folder `prefix`; returns how many there were.
    pub async fn forget(&self, prefix: &str) -> Result<usize, StorageError> {
        use futures_util::TryStreamExt;
        let archives: Vec<(String, u64)> = self.store.list_under(prefix)?.try_collect().await?;
        for (key, _) in &archives {
            self.store.delete(key).await?;
        }
        Ok(archives.len())
    }

    /// Opens the first upstream URL that answers, then hands the copying to a task that
    /// outlives this request: a client that hangs up does not cancel the mirroring.
    /// Opens the first upstream URL that answers and copies it, all in a task of its own:
    /// a client that hangs up, even before upstream answered, cancels neither the
    /// mirroring nor the bookkeeping that other requests wait on.
    async fn start_download(
        self: &Arc<Self>,
        mirror: Arc<MirrorConfig>,
        source: DistSource,
        done: watch::Sender<Outcome>,
    ) -> Result<DistReply, DistError> {
        let (opened_tx, opened_rx) = oneshot::channel();
        let dists = self.clone();
        tokio::spawn(async move {
            let _slot = dists
                .download_slots
                .clone()
                .acquire_owned()
                .await
                .expect("the semaphore is never closed");
            let result = match dists.open_upstream(&mirror, &source).await {
                Err(reason) => {
                    let _ = opened_tx.send(Err(reason.clone()));
                    Err(reason)
                }
                Ok((length, upstream)) => {
                    let (client_tx, client_rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(16);
                    let _ = opened_tx.send(Ok((length, client_rx)));
                    dists.copy(upstream, length, &source, client_tx).await
                }
            };
            if let Err(reason) = &result {
                tracing::warn!(key = %source.key, %reason, "mirroring an archive failed");
            }
            dists.finish(&source.key, &done, result);
        });
        let (length, client_rx) = opened_rx
            .await
            .map_err(|_| DistError::Failed(MirroringFailure::TaskEnded))?
            .map_err(DistError::Upstream)?;
        let stream = futures_util::stream::unfold(client_rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        });
        Ok(DistReply::Live {
            length,
            stream: Box::new(Box::pin(stream)),
        })
    }

    async fn open_upstream(
        &self,
        mirror: &MirrorConfig,
        source: &DistSource,
    ) -> Result<
        (
            Option<u64>,
            impl Stream<Item = Result<Bytes, UpstreamError>> + Send + Unpin + 'static,
        ),
        MirroringFailure,
    > {
        let mut failures = Vec::new();
        for url in &source.urls {
            match self.upstream.download(mirror, url).await {
                Ok((Some(length), _)) if length > MAX_ARCHIVE_BYTES => {
                    failures.push(UpstreamError {
                        url: url.clone(),
                        reason: format!(
                            "announced {length} bytes; at most {MAX_ARCHIVE_BYTES} are mirrored"
                        ),
                    });
                }
                Ok((length, stream)) => return Ok((length, Box::pin(stream))),
                Err(error) => failures.push(error),
            }
        }
        Err(if failures.is_empty() {
            MirroringFailure::NoUrl
        } else {
            MirroringFailure::Unreachable(failures)
        })
    }

    fn finish(
        &self,
        key: &str,
        done: &watch::Sender<Outcome>,
        result: Result<(), MirroringFailure>,
    ) {
        self.in_flight.lock().unwrap().remove(key);
        let _ = done.send(Some(result));
    }

    /// Upstream bytes go to the client and to storage; the upload is committed only when
    /// the whole archive arrived and its sha1 matches.
    async fn copy<S>(
        &self,
        mut upstream: S,
        length: Option<u64>,
        source: &DistSource,
        client: mpsc::Sender<Result<Bytes, std::io::Error>>,
    ) -> Result<(), MirroringFailure>
    where
        S: Stream<Item = Result<Bytes, UpstreamError>> + Unpin,
    {
        let (store_tx, store_rx) = mpsc::channel::<Result<Bytes, StorageError>>(8);
        let store = self.store.clone();
        let key = source.key.clone();
        // Unknown length: take the multipart path, which never buffers the whole file.
        let size = length.unwrap_or(u64::MAX);
        let upload = tokio::spawn(async move {
            let chunks = futures_util::stream::unfold(store_rx, |mut rx| async move {
                rx.recv().await.map(|item| (item, rx))
            });
            store.put_stream(&key, Box::pin(chunks), size).await
        });
        let mut hasher = Sha1::new();
        let mut sha256 = sha2::Sha256::new();
        let mut client = Some(client);
        let mut failure = None;
        // The client gets each chunk when the next one arrives; the last one only after
        // the sha1 checked out, so a corrupt archive never reaches it whole.
        let mut held_back: Option<Bytes> = None;
        let mut received: u64 = 0;
        while let Some(chunk) = upstream.next().await {
            match chunk {
                Ok(bytes) => {
                    received += bytes.len() as u64;
                    if received > MAX_ARCHIVE_BYTES {
                        failure = Some(MirroringFailure::TooLarge(MAX_ARCHIVE_BYTES));
                        break;
                    }
                    hasher.update(&bytes);
                    sha256.update(&bytes);
                    if let Some(previous) = held_back.replace(bytes.clone())
                        && let Some(sender) = &client
                        && !matches!(
                            tokio::time::timeout(CLIENT_STALL, sender.send(Ok(previous))).await,
                            Ok(Ok(()))
                        )
                    {
                        // The client left, or stopped reading: keep mirroring without it,
                        // so storage and the requests waiting on this download go on.
                        client = None;
                    }
                    if store_tx.send(Ok(bytes)).await.is_err() {
                        failure = Some(MirroringFailure::UploadStopped);
                        break;
                    }
                }
                Err(error) => {
                    failure = Some(MirroringFailure::Download(error));
                    break;
                }
            }
        }
        let actual = hex::encode(hasher.finalize());
        let offered = crate::db::DistPin {
            sha1: actual.clone(),
            sha256: hex::encode(sha256.finalize()),
        };
        if failure.is_none()
            && !source.shasum.is_empty()
            && !actual.eq_ignore_ascii_case(&source.shasum)
        {
            failure = Some(MirroringFailure::ShasumMismatch {
                actual,
                expected: source.shasum.clone(),
            });
        }
        // Checked before the last chunk reaches the client or the store commits.
        let mut to_pin = false;
        if failure.is_none() {
            match self.check_pin(&source.identity, &offered).await {
                Ok(first) => to_pin = first,
                Err(reason) => failure = Some(reason),
            }
        }
        if failure.is_none()
            && let (Some(last), Some(sender)) = (held_back.take(), &client)
        {
            let _ = sender.send(Ok(last)).await;
        }
        if let Some(reason) = &failure {
            // An error ends the upload without committing it, and cuts the client's body
            // short so it cannot mistake a bad archive for a good one.
            let _ = store_tx
                .send(Err(StorageError::Io {
                    context: "mirroring".into(),
                    source: std::io::Error::other(reason.clone()),
                }))
                .await;
            if let Some(sender) = &client {
                let _ = sender
                    .send(Err(std::io::Error::other(reason.clone())))
                    .await;
            }
        }
        drop(store_tx);
        let stored = upload
            .await
            .map_err(|e| MirroringFailure::UploadTask(Arc::new(e)))?;
        match (failure, stored) {
            (Some(reason), _) => Err(reason),
            (None, Err(error)) => Err(MirroringFailure::Store(Arc::new(error))),
            (None, Ok(())) => {
                if to_pin {
                    let identity = &source.identity;
                    self.db
                        .pin_dist(
                            &identity.alias,
                            &identity.package,
                            &identity.reference,
                            &offered,
                        )
                        .await
                        .map_err(|error| MirroringFailure::Pin(Arc::new(error)))?;
                }
                Ok(())
            }
        }
    }
}
