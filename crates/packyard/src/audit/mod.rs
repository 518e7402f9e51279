//! The audit log: who changed what, who signed in, who downloaded which archive —
//! recorded by the database layer in the transaction of each change (`db::audit`),
//! read and checked here, by the CLI (`packyard audit`), the API (`GET /api/audit`)
//! and the admin page (`/admin/audit`) alike.
//!
//! - [`AuditLog::verify`] walks the hash chain and names the first entry that was
//!   edited, removed or reordered; against a [`Checkpoint`] it also proves the chain
//!   was not rewritten as a whole since.
//! - [`AuditLog::checkpoint`] signs the entry count and head hash with a key derived
//!   from `PACKYARD_SECRET`.
//! - [`AuditLog::prune`] applies `PACKYARD_AUDIT_RETENTION`, leaving an anchor the
//!   chain is checked from.

pub mod checkpoint;
pub mod verify;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;

pub use checkpoint::{Checkpoint, CheckpointError};
pub use verify::Break;

use crate::db::Db;
use crate::db::audit::{ActorKind, AuditActor, AuditEntry, AuditFilter, Change, DownloadCount};
use crate::secrets::{SecretError, Secrets};

/// What the key that seals retention's anchors is derived for.
const ANCHOR_KEY_PURPOSE: &[u8] = b"packyard audit anchor v1";

/// The seal of the anchor `(through, anchor hash)`: HMAC-SHA256 under `key`, in hex.
fn anchor_seal(key: &[u8; 32], through: i64, anchor: &str) -> String {
    hex::encode(crate::auth::hmac_sha256(
        key,
        &anchor_message(through, anchor),
    ))
}

/// Whether `seal` is the anchor `(through, anchor hash)`'s seal under `key`.
fn anchor_sealed(key: &[u8; 32], through: i64, anchor: &str, seal: &str) -> bool {
    crate::auth::hmac_sha256_hex_matches(key, &anchor_message(through, anchor), seal)
}

/// What an anchor's seal covers.
fn anchor_message(through: i64, anchor: &str) -> Vec<u8> {
    format!("{through}\n{anchor}").into_bytes()
}

/// Entries read per query while verifying.
const VERIFY_PAGE: i64 = 2000;
/// The most entries one listing returns.
pub const MAX_PAGE: i64 = 1000;

/// Why the log could not be read, checked or signed, or is not intact.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    NoSecret(#[from] SecretError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error(
        "the checkpoint covers entries up to {entries}, and retention has removed entries up to {pruned}: it can no longer be checked"
    )]
    CheckpointPruned { entries: i64, pruned: i64 },
    #[error("the audit log was tampered with: {0}")]
    Broken(Break),
}

/// An intact chain: how many entries were checked, and its head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verified {
    /// Entries checked (those retention kept).
    pub checked: i64,
    /// Entries ever written: the number of the newest.
    pub entries: i64,
    pub head: String,
    /// The newest entry retention removed (0 for none).
    pub pruned_through: i64,
    /// The entry count of the checkpoint the chain was checked against.
    pub checkpoint: Option<i64>,
}

/// Downloads noted since the last flush: (day, user, credential, package, version) →
/// count.
type Tally = HashMap<(i64, String, String, String, String), i64>;

/// The audit log's service.
#[derive(Clone)]
pub struct AuditLog {
    db: Db,
    secrets: Secrets,
    /// `PACKYARD_AUDIT_RETENTION`: what may have been pruned.
    retention: Option<Duration>,
    downloads: Arc<Mutex<Tally>>,
}

impl AuditLog {
    pub fn new(db: Db, secrets: Secrets, retention: Option<Duration>) -> Self {
        AuditLog {
            db,
            secrets,
            retention,
            downloads: Arc::default(),
        }
    }

    /// Notes a download of `version` of `package` by the current task's actor (the
    /// request's caller), today; written by [`Self::flush_downloads`] within seconds.
    /// Counted in memory because a write per archive served halved how many an
    /// instance serves on SQLite.
    pub fn downloaded(&self, package: &str, version: &str) {
        let actor = AuditActor::current();
        let credential = if actor.kind == ActorKind::Anonymous {
            "anonymous".to_owned()
        } else {
            actor.credential
        };
        let day = crate::db::now_millis().div_euclid(crate::db::DAY_MS);
        let key = (
            day,
            actor.user,
            credential,
            package.to_owned(),
            version.to_owned(),
        );
        *self.downloads.lock().unwrap().entry(key).or_default() += 1;
    }

    /// Writes the downloads noted since the last flush through `db` (the main pool,
    /// or at shutdown one of its own), in one transaction. Counts that could not be
    /// written are noted again for the next flush.
    pub async fn flush_downloads_to(&self, db: &Db) -> Result<usize, sqlx::Error> {
        let taken = std::mem::take(&mut *self.downloads.lock().unwrap());
        if taken.is_empty() {
            return Ok(0);
        }
        // In key order: replicas flushing the same keys lock their rows in one order.
        let mut keys: Vec<_> = taken.iter().collect();
        keys.sort();
        let counts: Vec<DownloadCount> = keys
            .into_iter()
            .map(
                |((day, actor, credential, package, version), count)| DownloadCount {
                    day: *day,
                    actor: actor.clone(),
                    credential: credential.clone(),
                    package: package.clone(),
                    version: version.clone(),
                    count: *count,
                },
            )
            .collect();
        if let Err(error) = db.count_downloads(&counts).await {
            let mut noted = self.downloads.lock().unwrap();
            for (key, count) in taken {
                *noted.entry(key).or_default() += count;
            }
            return Err(error);
        }
        Ok(counts.len())
    }

    /// [`Self::flush_downloads_to`] the main pool.
    pub async fn flush_downloads(&self) -> Result<usize, sqlx::Error> {
        self.flush_downloads_to(&self.db).await
    }

    /// Walks the whole chain as it is at one moment (and checks it against
    /// `checkpoint`, the text of one).
    pub async fn verify(&self, checkpoint: Option<&str>) -> Result<Verified, AuditError> {
        let checkpoint = match checkpoint {
            Some(text) => Some(Checkpoint::read(text, self.secrets.get()?)?),
            None => None,
        };
        let mut walk: Option<verify::Walk> = None;
        let expected = checkpoint.as_ref().map(|c| (c.entries, c.head.clone()));
        let head = self
            .db
            .walk_audit_chain(VERIFY_PAGE, |head, page| {
                let walk = walk.get_or_insert_with(|| verify::Walk::new(head, expected.clone()));
                for entry in page {
                    walk.feed(entry);
                }
                !walk.is_broken()
            })
            .await?;
        if let Some(checkpoint) = &checkpoint
            && checkpoint.entries < head.anchor_seq
        {
            // Retention prunes only what is older than it: a checkpoint younger than
            // that cannot have lost its entries to it.
            let taken = crate::time::parse_moment(
                checkpoint.at.trim_end_matches("+00:00"),
                crate::db::now_millis(),
            );
            let kept_since = self.retention.map(|retention| {
                crate::db::now_millis()
                    .saturating_sub(i64::try_from(retention.as_millis()).unwrap_or(i64::MAX))
            });
            if let (Some(taken), Some(kept_since)) = (taken, kept_since)
                && taken > kept_since
            {
                return Err(AuditError::Broken(Break::PrunedEarly {
                    seq: checkpoint.entries,
                }));
            }
            return Err(AuditError::CheckpointPruned {
                entries: checkpoint.entries,
                pruned: head.anchor_seq,
            });
        }
        let walk = walk.unwrap_or_else(|| verify::Walk::new(&head, expected));
        // An anchor is genuine only with the seal of PACKYARD_SECRET's key.
        let key = if head.anchor_seq > 0 {
            Some(self.secrets.get()?.derive_key(ANCHOR_KEY_PURPOSE))
        } else {
            None
        };
        let sealed = |through: i64, anchor: &str, seal: &str| {
            key.as_ref()
                .is_some_and(|key| anchor_sealed(key, through, anchor, seal))
        };
        let checked = walk.finish(&head, &sealed).map_err(AuditError::Broken)?;
        Ok(Verified {
            checked,
            entries: head.seq,
            head: head.hash,
            pruned_through: head.anchor_seq,
            checkpoint: checkpoint.map(|c| c.entries),
        })
    }

    /// A signed checkpoint of the chain as it is now, after checking it; taking it is
    /// recorded (`audit.checkpoint`), after what it covers.
    pub async fn checkpoint(&self) -> Result<Checkpoint, AuditError> {
        let secrets = self.secrets.get()?;
        let verified = self.verify(None).await?;
        let at = crate::time::rfc3339(crate::db::now_millis() / 1000);
        let checkpoint = Checkpoint::sign(secrets, verified.entries, &verified.head, at);
        self.db
            .record_audit(
                &Change::new(
                    "audit.checkpoint",
                    format!("entries through {}", verified.entries),
                )
                .detail("entries", verified.entries)
                .detail("head", &verified.head),
            )
            .await?;
        Ok(checkpoint)
    }

    /// Up to `limit` (at most [`MAX_PAGE`]) entries `filter` lets through, newest first.
    pub async fn list(
        &self,
        filter: &AuditFilter,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, sqlx::Error> {
        self.db
            .audit_entries(filter, limit.clamp(1, MAX_PAGE))
            .await
    }

    /// Who downloaded `package` (`version` only, when given), per day and caller.
    pub async fn downloads(
        &self,
        package: &str,
        version: Option<&str>,
    ) -> Result<Vec<DownloadCount>, sqlx::Error> {
        self.db.downloads_by_caller(package, version).await
    }

    /// After `PACKYARD_SECRET` was rotated from `old`: seals the anchor retention left
    /// again, with the current secret's key (`audit.anchor_resealed`), once its seal
    /// under the old one is checked, so that `verify` keeps accepting it. Whether there
    /// was an anchor to seal.
    pub async fn reseal_anchor(&self, old: &crate::secrets::SecretBox) -> Result<bool, AuditError> {
        let head = self.db.audit_head().await?;
        if head.anchor_seq == 0 {
            return Ok(false);
        }
        let old_key = old.derive_key(ANCHOR_KEY_PURPOSE);
        let family = AuditFilter {
            action: Some("audit".to_owned()),
            ..AuditFilter::default()
        };
        let genuine = self
            .db
            .audit_entries(&family, MAX_PAGE)
            .await?
            .iter()
            .any(|entry| {
                let details: serde_json::Value =
                    serde_json::from_str(&entry.details).unwrap_or_default();
                details["through"].as_i64() == Some(head.anchor_seq)
                    && details["anchor"].as_str() == Some(head.anchor_hash.as_str())
                    && details["seal"].as_str().is_some_and(|seal| {
                        anchor_sealed(&old_key, head.anchor_seq, &head.anchor_hash, seal)
                    })
            });
        if !genuine {
            return Err(AuditError::Broken(Break::Anchor {
                seq: head.anchor_seq + 1,
            }));
        }
        let key = self.secrets.get()?.derive_key(ANCHOR_KEY_PURPOSE);
        let change = Change::new(
            "audit.anchor_resealed",
            format!("entries through {}", head.anchor_seq),
        )
        .detail("through", head.anchor_seq)
        .detail("anchor", &head.anchor_hash)
        .detail(
            "seal",
            anchor_seal(&key, head.anchor_seq, &head.anchor_hash),
        );
        self.db.record_audit(&change).await?;
        Ok(true)
    }

    /// Removes entries (and download counts) older than `retention`, sealing the new
    /// anchor with a key derived from `PACKYARD_SECRET` (required); returns how many
    /// entries went.
    ///
    /// A chain that does not verify is not pruned: pruning would seal over the
    /// damage.
    pub async fn prune(&self, retention: Duration) -> Result<i64, AuditError> {
        let key = self.secrets.get()?.derive_key(ANCHOR_KEY_PURPOSE);
        self.verify(None).await?;
        let keep = i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
        let seal = |through: i64, anchor: &str| anchor_seal(&key, through, anchor);
        let removed = self
            .db
            .prune_audit(crate::db::now_millis().saturating_sub(keep), &seal)
            .await?;
        if removed > 0 {
            tracing::info!(
                removed,
                "audit entries past PACKYARD_AUDIT_RETENTION removed"
            );
        }
        Ok(removed)
    }
}

/// A `since` that is no moment.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "since: {0:?} is not a span (7d, 12h), a date (2026-12-01) or a time (2026-12-01T12:00:00Z)"
)]
pub struct InvalidSince(pub String);

/// The filter the CLI's flags and the API's parameters describe (empty texts count as
/// not given).
pub fn filter(
    actor: Option<String>,
    package: Option<String>,
    action: Option<String>,
    since: Option<&str>,
) -> Result<AuditFilter, InvalidSince> {
    let given = |text: Option<String>| text.filter(|t| !t.trim().is_empty());
    let since = match since.filter(|t| !t.trim().is_empty()) {
        Some(text) => Some(
            parse_since(text, crate::db::now_millis())
                .ok_or_else(|| InvalidSince(text.chars().take(64).collect()))?,
        ),
        None => None,
    };
    Ok(AuditFilter {
        actor: given(actor),
        package: given(package),
        action: given(action),
        since,
        before_seq: None,
    })
}

/// An entry as `audit list --json`, the API and the export show it: the stored
/// fields, details as JSON, and the time also as RFC 3339.
pub fn entry_json(entry: &AuditEntry) -> serde_json::Value {
    let mut value = serde_json::to_value(entry).expect("an entry serializes");
    value["details"] = serde_json::from_str(&entry.details).unwrap_or(serde_json::Value::Null);
    value["time"] = serde_json::json!(crate::time::rfc3339(entry.at / 1000));
    value
}

/// `--since` and `?since=`: `7d`, `12h` (that long ago), `2026-12-01` (the start of
/// that day, UTC) or `2026-12-01T12:00:00Z`, in Unix milliseconds; `None` when it is
/// none of these.
pub fn parse_since(text: &str, now: i64) -> Option<i64> {
    let text = text.trim();
    if let Some(span) = crate::time::parse_interval(text) {
        return Some(now.saturating_sub(i64::try_from(span.as_millis()).ok()?));
    }
    let moment = crate::time::parse_moment(text, now)?;
    // A date alone is read as the moment it ends; a listing starts where it begins.
    Some(if text.contains('T') {
        moment
    } else {
        moment - 86_400_000
    })
}

impl crate::error::Classify for InvalidSince {
    fn kind(&self) -> crate::error::ErrorKind {
        crate::error::ErrorKind::Invalid
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn downloads_are_tallied_per_caller_and_written_by_one_flush() {
        for (db, _dir) in crate::db::testing::engines().await {
            let audit = AuditLog::new(db.clone(), Secrets::new(None), None);
            let alice = AuditActor {
                kind: ActorKind::User,
                user: "alice".into(),
                credential: "token ci".into(),
                client_ip: String::new(),
            };
            alice
                .scope(async {
                    audit.downloaded("acme/lib", "1.2.3.0");
                    audit.downloaded("acme/lib", "1.2.3.0");
                })
                .await;
            AuditActor::anonymous("192.0.2.1".into())
                .scope(async { audit.downloaded("acme/lib", "1.2.3.0") })
                .await;
            assert!(
                db.downloads_by_caller("acme/lib", None)
                    .await
                    .unwrap()
                    .is_empty()
            );
            assert_eq!(audit.flush_downloads().await.unwrap(), 2);
            assert_eq!(audit.flush_downloads().await.unwrap(), 0, "nothing twice");
            let counts: Vec<(String, String, i64)> = db
                .downloads_by_caller("acme/lib", Some("1.2.3"))
                .await
                .unwrap()
                .into_iter()
                .map(|c| (c.actor, c.credential, c.count))
                .collect();
            assert_eq!(
                counts,
                [
                    (String::new(), "anonymous".to_owned(), 1),
                    ("alice".to_owned(), "token ci".to_owned(), 2)
                ]
            );
        }
    }

    #[test]
    fn since_reads_spans_back_and_dates_from_their_start() {
        let now = 1_796_000_000_000;
        assert_eq!(parse_since("7d", now), Some(now - 7 * 86_400_000));
        assert_eq!(parse_since("2026-12-01", now), Some(1_796_083_200_000));
        assert_eq!(
            parse_since("2026-12-01T12:00:00Z", now),
            Some(1_796_083_200_000 + 12 * 3_600_000)
        );
        assert_eq!(parse_since("yesterday", now), None);
    }
}
