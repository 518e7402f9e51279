//! The audit log's storage (`crate::audit` reads and checks it): entries appended to one
//! hash chain inside the transaction of the change they record, the actor a task acts
//! as, and archive downloads counted per caller and day.
//!
//! **The chain.** Entry `seq` stores the hash of entry `seq - 1` and its own hash, the
//! SHA-256 of that previous hash and of its canonical content ([`entry_hash`]). Entries
//! are numbered by the single `audit_head` row, which an audited transaction updates
//! as its last statement ([`append`]): replicas on PostgreSQL take turns there, so one
//! chain holds across them, and since a transaction holding the head waits for nothing
//! else, taking it cannot close a cycle of waits with the rows the change locked.
//!
//! **The actor.** Who acts is set once where a request, a command or a job starts
//! ([`AuditActor::scope`]) and refined where the credentials are checked
//! ([`AuditActor::identify`]); the methods of [`Db`] that change state read it when they
//! append, so that every front-end records the same way without passing it along.

use std::cell::RefCell;
use std::sync::OnceLock;

use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::downloads::DAY_MS;
use super::{Db, now_millis};

/// The hash before the first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Who acts, as entries record it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ActorKind {
    /// A user signed in or presenting a token.
    User,
    /// Someone at the server's command line.
    Cli,
    /// packyard itself: jobs, schedules, retention.
    System,
    /// A client that presented no credentials.
    Anonymous,
}

impl ActorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::User => "user",
            ActorKind::Cli => "cli",
            ActorKind::System => "system",
            ActorKind::Anonymous => "anonymous",
        }
    }
}

/// Who acts in the current task: a request's caller, a command's operator, a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditActor {
    pub kind: ActorKind,
    /// The user's name; empty when there is none.
    pub user: String,
    /// How the actor proved it: `token NAME`, `session`, `password`, `sso NAME`,
    /// `cli OS-USER`, `job N`; empty when nothing did.
    pub credential: String,
    /// The client's address (through trusted proxies); empty outside a request.
    pub client_ip: String,
}

tokio::task_local! {
    static CURRENT: RefCell<AuditActor>;
}

static REPLICA: OnceLock<String> = OnceLock::new();

/// Names this process in the entries it writes (the job runner's worker id); set once
/// at start-up.
pub fn set_replica(name: &str) {
    let _ = REPLICA.set(name.to_owned());
}

fn replica() -> &'static str {
    REPLICA.get().map_or("", String::as_str)
}

impl AuditActor {
    /// packyard itself, `credential` saying what part of it (`job 12`, `retention`).
    pub fn system(credential: impl Into<String>) -> AuditActor {
        AuditActor {
            kind: ActorKind::System,
            user: String::new(),
            credential: credential.into(),
            client_ip: String::new(),
        }
    }

    /// Someone running a command on the server as the operating-system user `os_user`.
    pub fn cli(os_user: &str) -> AuditActor {
        AuditActor {
            kind: ActorKind::Cli,
            user: String::new(),
            credential: format!("cli {os_user}"),
            client_ip: String::new(),
        }
    }

    /// A client at `client_ip` that has not (yet) shown who it is.
    pub fn anonymous(client_ip: String) -> AuditActor {
        AuditActor {
            kind: ActorKind::Anonymous,
            user: String::new(),
            credential: String::new(),
            client_ip,
        }
    }

    /// The actor of the current task; packyard itself where none was set (a task
    /// spawned off a request, say).
    pub fn current() -> AuditActor {
        CURRENT
            .try_with(|actor| actor.borrow().clone())
            .unwrap_or_else(|_| AuditActor::system(""))
    }

    /// Runs `work` acting as `self`.
    pub async fn scope<F: Future>(self, work: F) -> F::Output {
        CURRENT.scope(RefCell::new(self), work).await
    }

    /// The current task's caller proves itself by `credential` (`sso ALIAS`) before it
    /// is known as a user: what an identity provider's sign-in provisions is recorded
    /// as done through it.
    pub fn note_credential(credential: String) {
        let _ = CURRENT.try_with(|actor| actor.borrow_mut().credential = credential);
    }

    /// The current task's caller turned out to be `user`, proven by `credential`
    /// (`token NAME`, `session`, `password`, `sso NAME`). Outside a scope, nothing.
    pub fn identify(user: &str, credential: String) {
        let _ = CURRENT.try_with(|actor| {
            let mut actor = actor.borrow_mut();
            actor.kind = ActorKind::User;
            user.clone_into(&mut actor.user);
            actor.credential = credential;
        });
    }
}

/// One change to record: what was done (`token.created`), to what (`alice/ci`), the
/// package it concerns if any, and details as JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub action: &'static str,
    pub object: String,
    pub package: Option<String>,
    pub details: Value,
}

impl Change {
    pub fn new(action: &'static str, object: impl Into<String>) -> Change {
        Change {
            action,
            object: object.into(),
            package: None,
            details: Value::Object(serde_json::Map::new()),
        }
    }

    /// A change to the package `name`, which is also its object.
    pub fn of_package(action: &'static str, name: &str) -> Change {
        Change::new(action, name).package(name)
    }

    pub fn package(mut self, name: &str) -> Change {
        self.package = Some(name.to_owned());
        self
    }

    /// A change to `version` of `package`: its version, reference and sha1 in the
    /// details.
    pub fn of_version(
        action: &'static str,
        package: &str,
        version: &super::VersionRecord,
    ) -> Change {
        Change::new(action, format!("{package} {}", version.version))
            .package(package)
            .detail("version", &version.version)
            .detail("reference", &version.reference)
            .detail("shasum", &version.shasum)
    }

    /// Adds `key: value` to the details; a value that is `None` (a field a change left
    /// as it was) is left out.
    pub fn detail(mut self, key: &str, value: impl Serialize) -> Change {
        let value = serde_json::to_value(value).unwrap_or(Value::Null);
        if let Value::Object(details) = &mut self.details
            && !value.is_null()
        {
            details.insert(key.to_owned(), value);
        }
        self
    }
}

/// A field a change sets or clears (`Some(None)`), as its details show it: the new
/// value, `"none"` when cleared, left out when the change leaves it.
pub fn set_or_cleared<T: Serialize>(field: &Option<Option<T>>) -> Option<Value> {
    field.as_ref().map(|value| match value {
        Some(value) => serde_json::to_value(value).unwrap_or(Value::Null),
        None => Value::String("none".to_owned()),
    })
}

/// An entry as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct AuditEntry {
    pub seq: i64,
    pub at: i64,
    pub actor_kind: String,
    pub actor: String,
    pub credential: String,
    pub client_ip: String,
    pub replica: String,
    pub action: String,
    pub object: String,
    pub package: Option<String>,
    /// JSON, as hashed.
    pub details: String,
    pub prev_hash: String,
    pub hash: String,
}

impl AuditEntry {
    /// The hash this entry's content and its `prev_hash` give: equal to `hash` unless
    /// the row was changed.
    pub fn computed_hash(&self) -> String {
        entry_hash(&self.prev_hash, &self.canonical_content())
    }

    /// The entry's fields, `hash` and `prev_hash` aside, as one JSON array in a fixed
    /// order: the text its hash covers.
    pub fn canonical_content(&self) -> String {
        json!([
            self.seq,
            self.at,
            self.actor_kind,
            self.actor,
            self.credential,
            self.client_ip,
            self.replica,
            self.action,
            self.object,
            self.package,
            self.details,
        ])
        .to_string()
    }
}

/// SHA-256, in hex, of the previous entry's hash, a newline, and an entry's canonical
/// content.
pub fn entry_hash(prev_hash: &str, canonical_content: &str) -> String {
    hex::encode(
        Sha256::new()
            .chain_update(prev_hash.as_bytes())
            .chain_update(b"\n")
            .chain_update(canonical_content.as_bytes())
            .finalize(),
    )
}

/// Appends `change`, by the current [`AuditActor`], to the chain, in `tx`: the last
/// statements of an audited transaction (see the module's documentation). Returns the
/// entry.
pub(super) async fn append(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    change: &Change,
) -> Result<AuditEntry, sqlx::Error> {
    let actor = AuditActor::current();
    let (seq, prev_hash): (i64, String) =
        sqlx::query_as("UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash")
            .fetch_one(&mut **tx)
            .await?;
    let mut entry = AuditEntry {
        seq,
        at: now_millis(),
        actor_kind: actor.kind.as_str().to_owned(),
        actor: actor.user,
        credential: actor.credential,
        client_ip: actor.client_ip,
        replica: replica().to_owned(),
        action: change.action.to_owned(),
        object: change.object.clone(),
        package: change.package.clone(),
        details: change.details.to_string(),
        prev_hash,
        hash: String::new(),
    };
    entry.hash = entry.computed_hash();
    sqlx::query(
        "INSERT INTO audit_log (seq, at, actor_kind, actor, credential, client_ip, replica, \
         action, object, package, details, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(entry.seq)
    .bind(entry.at)
    .bind(&entry.actor_kind)
    .bind(&entry.actor)
    .bind(&entry.credential)
    .bind(&entry.client_ip)
    .bind(&entry.replica)
    .bind(&entry.action)
    .bind(&entry.object)
    .bind(&entry.package)
    .bind(&entry.details)
    .bind(&entry.prev_hash)
    .bind(&entry.hash)
    .execute(&mut **tx)
    .await?;
    sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1")
        .bind(&entry.hash)
        .execute(&mut **tx)
        .await?;
    Ok(entry)
}

/// The chain's head and the anchor retention left.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct AuditHead {
    /// Entries ever written: the number of the newest.
    pub seq: i64,
    pub hash: String,
    /// The newest entry retention removed (0 when none was), and its hash: the
    /// `prev_hash` the oldest kept entry must carry.
    pub anchor_seq: i64,
    pub anchor_hash: String,
}

/// Which entries a listing shows; every field narrows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// The acting user's name.
    pub actor: Option<String>,
    pub package: Option<String>,
    /// An action (`token.created`), or a family of them (`token`).
    pub action: Option<String>,
    /// Entries at or after this moment (Unix milliseconds).
    pub since: Option<i64>,
    /// Entries numbered below this one (the next page of a listing, newest first).
    pub before_seq: Option<i64>,
}

/// How often one caller downloaded one version on one day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct DownloadCount {
    pub day: i64,
    pub actor: String,
    pub credential: String,
    pub package: String,
    pub version: String,
    pub count: i64,
}

/// The columns of an entry, in [`AuditEntry`]'s order.
const ENTRY_COLUMNS: &str = "seq, at, actor_kind, actor, credential, client_ip, replica, action, \
                             object, package, details, prev_hash, hash";

impl Db {
    /// Records `change` on its own: an act that changes nothing else packyard stores
    /// (a sign-in that failed, a checkpoint taken).
    pub async fn record_audit(&self, change: &Change) -> Result<AuditEntry, sqlx::Error> {
        let mut tx = self.pool().begin().await?;
        let entry = append(&mut tx, change).await?;
        tx.commit().await?;
        Ok(entry)
    }

    /// Records `change` unless the newest entry of its action about its object (and
    /// package) says the same: a conflict met again at every scan or fetch, or a
    /// configuration read at every start, is recorded when it starts or changes.
    /// Whether it was recorded.
    pub async fn record_audit_unless_repeated(&self, change: &Change) -> Result<bool, sqlx::Error> {
        let last: Option<String> = sqlx::query_scalar(
            "SELECT details FROM audit_log WHERE action = $1 AND object = $2 \
             AND (package = $3 OR (package IS NULL AND $3 IS NULL)) \
             ORDER BY seq DESC LIMIT 1",
        )
        .bind(change.action)
        .bind(&change.object)
        .bind(&change.package)
        .fetch_optional(self.pool())
        .await?;
        if last.as_deref() == Some(change.details.to_string().as_str()) {
            return Ok(false);
        }
        self.record_audit(change).await?;
        Ok(true)
    }

    pub async fn audit_head(&self) -> Result<AuditHead, sqlx::Error> {
        sqlx::query_as("SELECT seq, hash, anchor_seq, anchor_hash FROM audit_head WHERE id = 1")
            .fetch_one(self.pool())
            .await
    }

    /// The chain as it was at one moment: its head, and every kept entry up to it,
    /// oldest first, handed to `page` (with the head) `page_size` at a time until it
    /// returns `false`.
    /// One snapshot (PostgreSQL's repeatable read; SQLite's read transaction is one),
    /// so that entries written or pruned meanwhile by a running server are not taken
    /// for tampering.
    pub async fn walk_audit_chain(
        &self,
        page_size: i64,
        mut page: impl FnMut(&AuditHead, Vec<AuditEntry>) -> bool,
    ) -> Result<AuditHead, sqlx::Error> {
        let mut tx = self.pool().begin().await?;
        if self.engine() == super::Engine::Postgres {
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                .execute(&mut *tx)
                .await?;
        }
        let head: AuditHead = sqlx::query_as(
            "SELECT seq, hash, anchor_seq, anchor_hash FROM audit_head WHERE id = 1",
        )
        .fetch_one(&mut *tx)
        .await?;
        let mut after = head.anchor_seq;
        loop {
            let entries: Vec<AuditEntry> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {ENTRY_COLUMNS} FROM audit_log WHERE seq > $1 AND seq <= $2 \
                 ORDER BY seq LIMIT $3"
            )))
            .bind(after)
            .bind(head.seq)
            .bind(page_size)
            .fetch_all(&mut *tx)
            .await?;
            let Some(last) = entries.last() else { break };
            after = last.seq;
            if !page(&head, entries) {
                break;
            }
        }
        tx.rollback().await?;
        Ok(head)
    }

    /// Up to `limit` entries that `filter` lets through, newest first.
    pub async fn audit_entries(
        &self,
        filter: &AuditFilter,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, sqlx::Error> {
        // A family (`token`) is every action that starts `token.`, compared as text
        // (not `LIKE`, whose wildcards and case rules differ between the engines).
        let family = filter
            .action
            .as_deref()
            .filter(|action| !action.contains('.'))
            .map(|family| format!("{family}."));
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {ENTRY_COLUMNS} FROM audit_log WHERE \
             ($1 IS NULL OR actor = $1) AND ($2 IS NULL OR package = $2) \
             AND ($3 IS NULL OR action = $3 OR substr(action, 1, CAST($8 AS INTEGER)) = $4) \
             AND ($5 IS NULL OR at >= $5) AND ($6 IS NULL OR seq < $6) \
             ORDER BY seq DESC LIMIT $7"
        )))
        .bind(&filter.actor)
        .bind(&filter.package)
        .bind(&filter.action)
        .bind(&family)
        .bind(filter.since)
        .bind(filter.before_seq)
        .bind(limit)
        .bind(
            family
                .as_ref()
                .map_or(0, |f| i64::try_from(f.len()).unwrap_or(0)),
        )
        .fetch_all(self.pool())
        .await
    }

    /// Removes the entries older than `before` (Unix milliseconds) but the newest one,
    /// keeping the chain checkable from there: the newest removed entry's number and
    /// hash become the anchor, and the removal itself is an entry (`audit.pruned`)
    /// naming both, so that an anchor moved by hand shows. Download counts of days
    /// before `before` go too. Returns the number of entries removed.
    ///
    /// `seal` seals the new anchor, `(through, anchor hash)`, with a key the database
    /// does not hold: its seal is in the `audit.pruned` entry, so that a prune forged
    /// by whoever can write the database (to hide a checkpointed past) shows.
    ///
    /// The head is locked first, so that replicas pruning at the same moment take turns
    /// and the anchor only moves forward.
    pub async fn prune_audit(
        &self,
        before: i64,
        seal: &(dyn Fn(i64, &str) -> String + Sync),
    ) -> Result<i64, sqlx::Error> {
        let mut tx = self.pool().begin().await?;
        let anchored: i64 = sqlx::query_scalar(
            "UPDATE audit_head SET anchor_seq = anchor_seq WHERE id = 1 RETURNING anchor_seq",
        )
        .fetch_one(&mut *tx)
        .await?;
        let newest_old: Option<(i64, String)> = sqlx::query_as(
            "SELECT seq, hash FROM audit_log WHERE seq = \
             (SELECT MAX(seq) FROM audit_log WHERE at < $1)",
        )
        .bind(before)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((through, anchor)) = newest_old.filter(|(through, _)| *through > anchored) else {
            tx.rollback().await?;
            return Ok(0);
        };
        let removed = sqlx::query("DELETE FROM audit_log WHERE seq <= $1")
            .bind(through)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query("DELETE FROM audit_downloads WHERE day < $1")
            .bind(before.div_euclid(DAY_MS))
            .execute(&mut *tx)
            .await?;
        let change = Change::new("audit.pruned", format!("entries through {through}"))
            .detail("through", through)
            .detail("anchor", &anchor)
            .detail("seal", seal(through, &anchor))
            .detail("removed", removed);
        append(&mut tx, &change).await?;
        sqlx::query("UPDATE audit_head SET anchor_seq = $1, anchor_hash = $2 WHERE id = 1")
            .bind(through)
            .bind(&anchor)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(i64::try_from(removed).unwrap_or(i64::MAX))
    }

    /// Adds `counts` to the download counts, in one transaction.
    pub async fn count_downloads(&self, counts: &[DownloadCount]) -> Result<(), sqlx::Error> {
        let mut tx = self.pool().begin().await?;
        for count in counts {
            sqlx::query(
                "INSERT INTO audit_downloads (day, actor, credential, package, version, count) \
                 VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (package, version, day, actor, credential) \
                 DO UPDATE SET count = audit_downloads.count + $6",
            )
            .bind(count.day)
            .bind(&count.actor)
            .bind(&count.credential)
            .bind(&count.package)
            .bind(&count.version)
            .bind(count.count)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await
    }

    /// Who downloaded `package` (the newest 10,000 counts; only `version` when given: as published, `1.2.3`,
    /// or normalized, `1.2.3.0`), per day and caller, newest day first. Private
    /// archives are counted by normalized version, mirrored ones as their URL names it.
    pub async fn downloads_by_caller(
        &self,
        package: &str,
        version: Option<&str>,
    ) -> Result<Vec<DownloadCount>, sqlx::Error> {
        let normalized =
            version.map(|v| composer::version::normalize(v).unwrap_or_else(|_| v.to_owned()));
        sqlx::query_as(
            "SELECT day, actor, credential, package, version, count FROM audit_downloads \
             WHERE package = $1 AND ($2 IS NULL OR version = $2 OR version = $3) \
             ORDER BY day DESC, version, actor, credential LIMIT 10000",
        )
        .bind(package)
        .bind(version)
        .bind(normalized)
        .fetch_all(self.pool())
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::testing;

    /// Every kept entry, oldest first.
    async fn chain(db: &Db) -> Vec<AuditEntry> {
        let mut entries = Vec::new();
        db.walk_audit_chain(100, |_, page| {
            entries.extend(page);
            true
        })
        .await
        .unwrap();
        entries
    }

    #[test]
    fn details_leave_out_what_a_change_leaves_and_say_what_it_clears() {
        let change = Change::new("test.changed", "x")
            .detail("left", None::<i64>)
            .detail("cleared", set_or_cleared(&Some(None::<i64>)))
            .detail("set", set_or_cleared(&Some(Some(5))))
            .detail("untouched", set_or_cleared(&None::<Option<i64>>));
        assert_eq!(change.details, json!({"cleared": "none", "set": 5}));
    }

    #[tokio::test]
    async fn entries_chain_and_carry_the_actor_of_their_task() {
        for (db, _dir) in testing::engines().await {
            let first = AuditActor::cli("root")
                .scope(db.record_audit(&Change::new("test.first", "one")))
                .await
                .unwrap();
            assert_eq!(first.seq, 1);
            assert_eq!(first.prev_hash, GENESIS_HASH);
            assert_eq!(first.credential, "cli root");
            let mut request = AuditActor::anonymous("192.0.2.7".into());
            request.kind = ActorKind::Anonymous;
            let second = request
                .scope(async {
                    AuditActor::identify("alice", "token ci".into());
                    db.record_audit(&Change::of_package("test.second", "acme/lib").detail("n", 2))
                        .await
                })
                .await
                .unwrap();
            assert_eq!(second.prev_hash, first.hash);
            assert_eq!(
                (
                    second.actor.as_str(),
                    second.credential.as_str(),
                    second.client_ip.as_str()
                ),
                ("alice", "token ci", "192.0.2.7")
            );
            assert_eq!(second.hash, second.computed_hash());
            let head = db.audit_head().await.unwrap();
            assert_eq!((head.seq, head.hash), (2, second.hash.clone()));
            let chain = chain(&db).await;
            assert_eq!(chain, vec![first, second]);
            let by_family = AuditFilter {
                action: Some("test".into()),
                ..AuditFilter::default()
            };
            assert_eq!(db.audit_entries(&by_family, 10).await.unwrap().len(), 2);
            let exact = AuditFilter {
                action: Some("test.first".into()),
                ..AuditFilter::default()
            };
            assert_eq!(db.audit_entries(&exact, 10).await.unwrap().len(), 1);
            let unknown_family = AuditFilter {
                action: Some("tes".into()),
                ..AuditFilter::default()
            };
            assert!(
                db.audit_entries(&unknown_family, 10)
                    .await
                    .unwrap()
                    .is_empty()
            );
            let by_package = AuditFilter {
                package: Some("acme/lib".into()),
                ..AuditFilter::default()
            };
            let found = db.audit_entries(&by_package, 10).await.unwrap();
            assert_eq!(found.len(), 1);
            assert_eq!(found[0].action, "test.second");
        }
    }

    #[tokio::test]
    async fn a_failed_change_leaves_no_entry_and_no_gap() {
        for (db, _dir) in testing::engines().await {
            let mut tx = db.pool().begin().await.unwrap();
            append(&mut tx, &Change::new("test.rolled_back", "x"))
                .await
                .unwrap();
            tx.rollback().await.unwrap();
            let entry = db
                .record_audit(&Change::new("test.kept", "y"))
                .await
                .unwrap();
            assert_eq!(entry.seq, 1);
            assert_eq!(entry.prev_hash, GENESIS_HASH);
        }
    }

    #[tokio::test]
    async fn pruning_keeps_an_anchor_and_records_itself() {
        for (db, _dir) in testing::engines().await {
            for n in 0..3 {
                db.record_audit(&Change::new("test.old", n.to_string()))
                    .await
                    .unwrap();
            }
            let third = chain(&db).await.remove(2);
            assert_eq!(
                db.prune_audit(now_millis() + 1, &|_, _| "seal".to_owned())
                    .await
                    .unwrap(),
                3
            );
            let head = db.audit_head().await.unwrap();
            assert_eq!(
                (head.anchor_seq, head.anchor_hash.as_str()),
                (3, third.hash.as_str())
            );
            let kept = chain(&db).await;
            assert_eq!(kept.len(), 1);
            assert_eq!(kept[0].action, "audit.pruned");
            assert_eq!(kept[0].prev_hash, third.hash);
            assert_eq!(
                db.prune_audit(0, &|_, _| "seal".to_owned()).await.unwrap(),
                0
            );
        }
    }

    #[tokio::test]
    async fn downloads_are_counted_per_caller_version_and_day() {
        for (db, _dir) in testing::engines().await {
            let count = |actor: &str, credential: &str, version: &str, count: i64| DownloadCount {
                day: 20_000,
                actor: actor.into(),
                credential: credential.into(),
                package: "acme/lib".into(),
                version: version.into(),
                count,
            };
            db.count_downloads(&[count("alice", "token ci", "1.2.3.0", 1)])
                .await
                .unwrap();
            db.count_downloads(&[
                count("alice", "token ci", "1.2.3.0", 1),
                count("bob", "token deploy", "1.2.3.0", 1),
                count("", "anonymous", "1.0.0.0", 3),
            ])
            .await
            .unwrap();
            let counts = db
                .downloads_by_caller("acme/lib", Some("1.2.3"))
                .await
                .unwrap();
            let who: Vec<(&str, i64)> =
                counts.iter().map(|c| (c.actor.as_str(), c.count)).collect();
            assert_eq!(who, [("alice", 2), ("bob", 1)]);
            let all = db.downloads_by_caller("acme/lib", None).await.unwrap();
            assert_eq!(all.len(), 3);
            assert!(
                all.iter()
                    .any(|c| c.credential == "anonymous" && c.count == 3)
            );
        }
    }
}
