//! The `jobs` table: background work that any replica may run (see `crate::jobs` for the
//! runner). Every state change is one SQL statement, so it is atomic on both engines.
//!
//! A claimed job is owned by `(worker, attempts)`: `claim_job` sets `worker` and bumps
//! `attempts`, and `renew_job_lease` / `finish_job` only touch a row that is still
//! `running` with that exact pair. A worker whose lease expired and whose job was taken
//! over (even by itself, in a later attempt) can therefore never overwrite the newer
//! attempt's outcome.
//!
//! Deduplication: at most one *queued* job per `dedupe_key` (a partial unique index).
//! Enqueueing while one is queued returns that job's id. A job that is already
//! *running* does not absorb new requests, because it may have read its input (say, a
//! git repository) before the change that prompted the request; instead the new job
//! waits in the queue and is not claimed while a job with the same key is running, so
//! jobs with one key never run concurrently. Periodic enqueuers from several replicas
//! use `NewJob::skip_if_created_within` to add one job per period, not one per replica.

use std::time::Duration;

use super::audit::Change;
use super::{Db, Engine, is_unique_violation, now_millis};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobState {
    Queued,
    Running,
    Succeeded,
    Failed,
}

impl JobState {
    pub const ALL: [JobState; 4] = [
        JobState::Queued,
        JobState::Running,
        JobState::Succeeded,
        JobState::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
        }
    }

    pub fn is_finished(self) -> bool {
        matches!(self, JobState::Succeeded | JobState::Failed)
    }
}

impl std::fmt::Display for JobState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A job state name that is none of the four.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown job state {0:?} (expected queued, running, succeeded or failed)")]
pub struct UnknownJobState(pub String);

impl std::str::FromStr for JobState {
    type Err = UnknownJobState;

    fn from_str(s: &str) -> Result<Self, UnknownJobState> {
        match s {
            "queued" => Ok(JobState::Queued),
            "running" => Ok(JobState::Running),
            "succeeded" => Ok(JobState::Succeeded),
            "failed" => Ok(JobState::Failed),
            _ => Err(UnknownJobState(s.to_owned())),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct JobRow {
    pub id: i64,
    pub kind: String,
    /// JSON, as given to `enqueue_job`.
    pub payload: String,
    pub state: JobState,
    pub dedupe_key: Option<String>,
    /// Attempts started so far, including one whose worker vanished.
    pub attempts: i64,
    pub max_attempts: i64,
    /// Not claimed before this time (set by `NewJob::run_after` and retry back-off).
    pub run_after: i64,
    /// While running: the owner must renew before this time or lose the job.
    pub lease_until: Option<i64>,
    /// The worker that claimed the latest attempt.
    pub worker: Option<String>,
    /// JSON returned by the handler, once succeeded.
    pub result: Option<String>,
    /// The latest failure's full text (a failed scan keeps git's stderr here).
    pub error: Option<String>,
    pub created_at: i64,
    /// Start of the latest attempt.
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

/// A job to enqueue; built with `NewJob::new(kind, &payload)` and the chained setters
/// (`jobs::new_job` builds one for a typed job).
#[derive(Debug, Clone)]
pub struct NewJob {
    pub kind: String,
    /// JSON.
    pub payload: String,
    pub dedupe_key: Option<String>,
    /// Unix milliseconds before which the job is not run; 0 means at once.
    pub run_after: i64,
    pub max_attempts: i64,
    /// Skip enqueueing if a job with the same `dedupe_key` was created this recently.
    pub skip_if_created_within: Option<Duration>,
    /// What the audit log records with the job (a re-scan someone asked for), with
    /// the job's id in its details; `None` for jobs that are the effect of a change
    /// recorded already (a webhook delivery) or of a schedule.
    pub audit: Option<Change>,
}

impl NewJob {
    pub const DEFAULT_MAX_ATTEMPTS: i64 = 3;

    pub fn new(kind: impl Into<String>, payload: &impl serde::Serialize) -> Self {
        NewJob {
            kind: kind.into(),
            payload: serde_json::to_string(payload).expect("a job payload serializes"),
            dedupe_key: None,
            run_after: 0,
            max_attempts: Self::DEFAULT_MAX_ATTEMPTS,
            skip_if_created_within: None,
            audit: None,
        }
    }

    /// Records `change` in the audit log with the job, in the same transaction.
    pub fn recorded(mut self, change: Change) -> Self {
        self.audit = Some(change);
        self
    }

    /// While a job with this key is queued, enqueueing another returns the queued one;
    /// jobs with one key never run at the same time (e.g. `scan:acme/lib`).
    pub fn dedupe_key(mut self, key: impl Into<String>) -> Self {
        self.dedupe_key = Some(key.into());
        self
    }

    pub fn run_after(mut self, unix_millis: i64) -> Self {
        self.run_after = unix_millis;
        self
    }

    pub fn max_attempts(mut self, attempts: i64) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// With a dedupe key: if a job with that key was created less than `window` ago, in
    /// any state, enqueue nothing and return that job's id. This is what makes periodic
    /// work from N replicas add one job per period rather than N.
    pub fn skip_if_created_within(mut self, window: Duration) -> Self {
        self.skip_if_created_within = Some(window);
        self
    }
}

/// How an attempt ended, for `finish_job`.
#[derive(Debug, Clone, PartialEq)]
pub enum JobOutcome {
    Succeeded(serde_json::Value),
    /// `retry_at`: when to try again if attempts remain; `None` fails the job for good.
    Failed {
        error: String,
        retry_at: Option<i64>,
    },
}

const JOB_COLUMNS: &str = "id, kind, payload, state, dedupe_key, attempts, max_attempts, run_after, \
     lease_until, worker, result, error, created_at, started_at, finished_at";

/// The ownership check shared by renew and finish; `$1` id, `$2` worker, `$3` attempts.
const OWNED: &str = "id = $1 AND worker = $2 AND attempts = $3 AND state = 'running'";

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

impl Db {
    /// Adds a job and returns its id, or the id of the job it was deduplicated into
    /// (see `NewJob::dedupe_key` and `NewJob::skip_if_created_within`).
    pub async fn enqueue_job(&self, job: &NewJob) -> Result<i64, sqlx::Error> {
        let payload = &job.payload;
        // The insert and the lookup of the job that blocked it are two statements; the
        // blocking job may be claimed in between, and then the insert succeeds next time.
        for _ in 0..5 {
            let mut tx = self.pool().begin().await?;
            let now = now_millis();
            let created_since = match (&job.dedupe_key, job.skip_if_created_within) {
                (Some(_), Some(window)) => now.saturating_sub(millis(window)),
                _ => i64::MAX,
            };
            // A SELECT feeding INSERT ... ON CONFLICT needs a WHERE clause in SQLite
            // (parsing ambiguity); this one carries the recency check.
            let inserted: Option<i64> = sqlx::query_scalar(
                "INSERT INTO jobs (kind, payload, state, dedupe_key, attempts, max_attempts, run_after, created_at) \
                 SELECT $1, $2, 'queued', $3, 0, $4, $5, $6 \
                 WHERE NOT EXISTS (SELECT 1 FROM jobs WHERE dedupe_key = $3 AND created_at >= $7) \
                 ON CONFLICT DO NOTHING RETURNING id",
            )
            .bind(&job.kind)
            .bind(payload)
            .bind(job.dedupe_key.as_deref())
            .bind(job.max_attempts.max(1))
            .bind(job.run_after)
            .bind(now)
            .bind(created_since)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(id) = inserted {
                return record_enqueued(tx, job, id).await;
            }
            let existing: Option<i64> = sqlx::query_scalar(
                "SELECT id FROM jobs WHERE dedupe_key = $1 AND (state = 'queued' OR created_at >= $2) \
                 ORDER BY id DESC LIMIT 1",
            )
            .bind(job.dedupe_key.as_deref())
            .bind(created_since)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(id) = existing {
                return record_enqueued(tx, job, id).await;
            }
            tx.rollback().await?;
        }
        Err(sqlx::Error::Protocol(format!(
            "enqueueing job {:?} with key {:?}: the blocking job kept changing",
            job.kind, job.dedupe_key
        )))
    }

    /// Takes the oldest runnable job for `worker` and leases it until `now + lease`:
    /// a queued job whose `run_after` has come, or a running job whose lease expired
    /// (its worker died), which counts as a new attempt. Returns `None` when there is
    /// nothing to do.
    ///
    /// One `UPDATE ... WHERE id = (SELECT ... LIMIT 1) RETURNING` statement. On
    /// PostgreSQL the sub-select takes the row with `FOR UPDATE SKIP LOCKED`, so
    /// concurrent claimers on any replica each lock a different row and never wait for
    /// one another; the outer update then changes only the row this statement locked.
    /// On SQLite a writing statement holds the database's single write lock from start
    /// to end (busy_timeout waits for it), so the select and update cannot interleave
    /// with another claim.
    pub async fn claim_job(
        &self,
        worker: &str,
        lease: Duration,
        now: i64,
    ) -> Result<Option<JobRow>, sqlx::Error> {
        // Jobs whose worker vanished on their last allowed attempt fail here rather
        // than run again: a job that kills its process must not do so forever.
        sqlx::query(
            "UPDATE jobs SET state = 'failed', finished_at = $1, lease_until = NULL, \
             error = COALESCE(error || $2, '') || 'attempt ' || attempts || ': worker ' \
             || COALESCE(worker, '?') || ' stopped renewing its lease' \
             WHERE state = 'running' AND lease_until < $1 AND attempts >= max_attempts",
        )
        .bind(now)
        .bind("\n")
        .execute(self.pool())
        .await?;

        let lock = match self.engine() {
            Engine::Postgres => "FOR UPDATE OF j SKIP LOCKED",
            Engine::Sqlite => "",
        };
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "UPDATE jobs SET state = 'running', worker = $1, attempts = attempts + 1, \
             lease_until = $3, started_at = $2, finished_at = NULL, \
             error = CASE WHEN state = 'running' THEN COALESCE(error || $4, '') || 'attempt ' \
             || attempts || ': worker ' || COALESCE(worker, '?') || ' stopped renewing its lease' \
             ELSE error END \
             WHERE id = (SELECT j.id FROM jobs j \
                 WHERE j.state IN ('queued', 'running') \
                 AND ((j.state = 'queued' AND j.run_after <= $2) \
                      OR (j.state = 'running' AND j.lease_until < $2 AND j.attempts < j.max_attempts)) \
                 AND (j.dedupe_key IS NULL OR NOT EXISTS (SELECT 1 FROM jobs r \
                      WHERE r.dedupe_key = j.dedupe_key AND r.state = 'running' \
                      AND r.lease_until >= $2 AND r.id <> j.id)) \
                 ORDER BY j.id LIMIT 1 {lock}) \
             AND state IN ('queued', 'running') \
             RETURNING {JOB_COLUMNS}"
        )))
        .bind(worker)
        .bind(now)
        .bind(now.saturating_add(millis(lease)))
        .bind("\n")
        .fetch_optional(self.pool())
        .await
    }

    /// Extends the lease of a job claimed as `job`; false when the job is no longer
    /// this attempt's (its lease expired and someone else took it over).
    pub async fn renew_job_lease(
        &self,
        job: &JobRow,
        lease: Duration,
        now: i64,
    ) -> Result<bool, sqlx::Error> {
        let result = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE jobs SET lease_until = $4 WHERE {OWNED}"
        )))
        .bind(job.id)
        .bind(job.worker.as_deref())
        .bind(job.attempts)
        .bind(now.saturating_add(millis(lease)))
        .execute(self.pool())
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// Hands a job this attempt holds back to the queue, to run at once elsewhere: the
    /// process is shutting down, not failing, so the attempt is not counted. When a
    /// newer job with the same dedupe key is queued already, that one does the work and
    /// this one ends as failed, naming it. False when the attempt no longer owns the job.
    pub async fn release_job(&self, job: &JobRow, now: i64) -> Result<bool, sqlx::Error> {
        let owned = |sql: String| {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(job.id)
                .bind(job.worker.clone())
                .bind(job.attempts)
                .bind(now)
        };
        let released = owned(format!(
            "UPDATE jobs SET state = 'queued', run_after = $4, attempts = attempts - 1, \
             lease_until = NULL, started_at = NULL WHERE {OWNED}"
        ))
        .execute(self.pool())
        .await;
        let ended = match released {
            Ok(done) => return Ok(done.rows_affected() == 1),
            Err(e) if is_unique_violation(&e) => {
                let successor: Option<i64> = sqlx::query_scalar(
                    "SELECT id FROM jobs WHERE dedupe_key = $1 AND state = 'queued'",
                )
                .bind(job.dedupe_key.as_deref())
                .fetch_optional(self.pool())
                .await?;
                let successor =
                    successor.map_or_else(|| "the job".to_owned(), |id| format!("job {id}"));
                owned(format!(
                    "UPDATE jobs SET state = 'failed', lease_until = NULL, finished_at = $4, \
                     error = $5 WHERE {OWNED}"
                ))
                .bind(format!(
                    "interrupted when worker {} shut down; {successor}, queued with the same key, does its work",
                    job.worker.as_deref().unwrap_or("?")
                ))
                .execute(self.pool())
                .await?
            }
            Err(e) => return Err(e),
        };
        Ok(ended.rows_affected() == 1)
    }

    /// Records how the attempt claimed as `job` ended. A failure with attempts left
    /// and a `retry_at` goes back to the queue (keeping its error text until the next
    /// outcome); otherwise the job ends. Returns the job's new state, or `None` when
    /// the attempt no longer owns the job and nothing was written.
    pub async fn finish_job(
        &self,
        job: &JobRow,
        outcome: &JobOutcome,
        now: i64,
    ) -> Result<Option<JobState>, sqlx::Error> {
        let owned = |sql: String| {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(job.id)
                .bind(job.worker.clone())
                .bind(job.attempts)
        };
        let (error, retry_at) = match outcome {
            JobOutcome::Succeeded(result) => {
                let done = owned(format!(
                    "UPDATE jobs SET state = 'succeeded', result = $4, error = NULL, \
                     lease_until = NULL, finished_at = $5 WHERE {OWNED}"
                ))
                .bind(result.to_string())
                .bind(now)
                .execute(self.pool())
                .await?;
                return Ok((done.rows_affected() == 1).then_some(JobState::Succeeded));
            }
            JobOutcome::Failed { error, retry_at } => (error, *retry_at),
        };
        if let Some(retry_at) = retry_at.filter(|_| job.attempts < job.max_attempts) {
            let requeued = owned(format!(
                "UPDATE jobs SET state = 'queued', run_after = $4, error = $5, lease_until = NULL \
                 WHERE {OWNED}"
            ))
            .bind(retry_at)
            .bind(error)
            .execute(self.pool())
            .await;
            match requeued {
                Ok(done) => return Ok((done.rows_affected() == 1).then_some(JobState::Queued)),
                // A newer job with the same key is queued already; it does this job's
                // work, so this one ends.
                Err(e) if is_unique_violation(&e) => {}
                Err(e) => return Err(e),
            }
        }
        let failed = owned(format!(
            "UPDATE jobs SET state = 'failed', error = $4, lease_until = NULL, finished_at = $5 \
             WHERE {OWNED}"
        ))
        .bind(error)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok((failed.rows_affected() == 1).then_some(JobState::Failed))
    }

    pub async fn job(&self, id: i64) -> Result<Option<JobRow>, sqlx::Error> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(self.pool())
        .await
    }

    /// How many jobs are in each state (states without jobs are left out).
    pub async fn job_counts(&self) -> Result<Vec<(JobState, i64)>, sqlx::Error> {
        sqlx::query_as("SELECT state, COUNT(*) FROM jobs GROUP BY state")
            .fetch_all(self.pool())
            .await
    }

    /// The newest `limit` jobs, optionally only those in `state`.
    pub async fn jobs(
        &self,
        state: Option<JobState>,
        limit: i64,
    ) -> Result<Vec<JobRow>, sqlx::Error> {
        match state {
            Some(state) => {
                sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT {JOB_COLUMNS} FROM jobs WHERE state = $1 ORDER BY id DESC LIMIT $2"
                )))
                .bind(state)
                .bind(limit)
                .fetch_all(self.pool())
                .await
            }
            None => {
                sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT {JOB_COLUMNS} FROM jobs ORDER BY id DESC LIMIT $1"
                )))
                .bind(limit)
                .fetch_all(self.pool())
                .await
            }
        }
    }

    /// Deletes jobs that finished before `before`; returns how many.
    pub async fn delete_finished_jobs(&self, before: i64) -> Result<u64, sqlx::Error> {
        let done = sqlx::query(
            "DELETE FROM jobs WHERE state IN ('succeeded', 'failed') AND finished_at < $1",
        )
        .bind(before)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected())
    }
}

/// Commits the enqueueing of `job` as job `id` (a new one, or the queued one it was
/// absorbed into), with its audit entry when it has one.
async fn record_enqueued(
    mut tx: sqlx::Transaction<'_, sqlx::Any>,
    job: &NewJob,
    id: i64,
) -> Result<i64, sqlx::Error> {
    if let Some(change) = &job.audit {
        super::audit::append(&mut tx, &change.clone().detail("job", id)).await?;
    }
    tx.commit().await?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::testing;
    use serde_json::json;

    const LEASE: Duration = Duration::from_secs(60);

    #[tokio::test]
    async fn jobs_are_enqueued_claimed_and_finished() {
        for (db, _dir) in testing::engines().await {
            let id = db
                .enqueue_job(&NewJob::new("scan", &json!({"package": "acme/lib"})))
                .await
                .unwrap();
            let queued = db.job(id).await.unwrap().unwrap();
            assert_eq!(queued.state, JobState::Queued);
            assert_eq!(queued.attempts, 0);

            let now = now_millis();
            let claimed = db.claim_job("w1", LEASE, now).await.unwrap().unwrap();
            assert_eq!(claimed.id, id);
            assert_eq!(claimed.state, JobState::Running);
            assert_eq!(claimed.attempts, 1);
            assert_eq!(claimed.worker.as_deref(), Some("w1"));
            assert_eq!(claimed.lease_until, Some(now + 60_000));
            assert_eq!(
                serde_json::from_str::<serde_json::Value>(&claimed.payload).unwrap(),
                json!({"package": "acme/lib"})
            );
            assert!(db.claim_job("w2", LEASE, now).await.unwrap().is_none());

            assert!(
                db.renew_job_lease(&claimed, LEASE, now + 1000)
                    .await
                    .unwrap()
            );
            let state = db
                .finish_job(
                    &claimed,
                    &JobOutcome::Succeeded(json!({"versions": 3})),
                    now + 2000,
                )
                .await
                .unwrap();
            assert_eq!(state, Some(JobState::Succeeded));
            let done = db.job(id).await.unwrap().unwrap();
            assert_eq!(done.state, JobState::Succeeded);
            assert_eq!(done.result.as_deref(), Some(r#"{"versions":3}"#));
            assert_eq!(done.finished_at, Some(now + 2000));
            assert_eq!(done.lease_until, None);
            // Finished jobs are not owned by anyone any more.
            assert!(
                !db.renew_job_lease(&claimed, LEASE, now + 3000)
                    .await
                    .unwrap()
            );

            let listed = db.jobs(Some(JobState::Succeeded), 10).await.unwrap();
            assert_eq!(listed, [done]);
            assert!(
                db.jobs(Some(JobState::Queued), 10)
                    .await
                    .unwrap()
                    .is_empty()
            );
            assert!(db.job(id + 1000).await.unwrap().is_none());
            assert_eq!(db.delete_finished_jobs(now + 2000).await.unwrap(), 0);
            assert_eq!(db.delete_finished_jobs(now + 2001).await.unwrap(), 1);
        }
    }

    #[tokio::test]
    async fn queued_jobs_are_deduplicated_by_key() {
        for (db, _dir) in testing::engines().await {
            let scan = || NewJob::new("scan", &json!({})).dedupe_key("scan:acme/lib");
            let first = db.enqueue_job(&scan()).await.unwrap();
            assert_eq!(db.enqueue_job(&scan()).await.unwrap(), first);
            let other = db
                .enqueue_job(&NewJob::new("scan", &json!({})).dedupe_key("scan:acme/other"))
                .await
                .unwrap();
            assert_ne!(other, first);

            // Once running, a new request queues a follow-up (the running job may have
            // read its input before the change)...
            let now = now_millis();
            let running = db.claim_job("w1", LEASE, now).await.unwrap().unwrap();
            assert_eq!(running.id, first);
            let follow_up = db.enqueue_job(&scan()).await.unwrap();
            assert_ne!(follow_up, first);
            assert_eq!(db.enqueue_job(&scan()).await.unwrap(), follow_up);
            // ...which is not run while the first one runs.
            let next = db.claim_job("w2", LEASE, now).await.unwrap().unwrap();
            assert_eq!(next.id, other);
            assert!(db.claim_job("w2", LEASE, now).await.unwrap().is_none());
            db.finish_job(&running, &JobOutcome::Succeeded(json!(null)), now)
                .await
                .unwrap();
            let after = db.claim_job("w2", LEASE, now).await.unwrap().unwrap();
            assert_eq!(after.id, follow_up);

            // A retry of a job whose key has a newer queued job ends instead.
            let newest = db.enqueue_job(&scan()).await.unwrap();
            let failure = JobOutcome::Failed {
                error: "boom".into(),
                retry_at: Some(now),
            };
            assert_eq!(
                db.finish_job(&after, &failure, now).await.unwrap(),
                Some(JobState::Failed)
            );
            assert_eq!(
                db.job(newest).await.unwrap().unwrap().state,
                JobState::Queued
            );
        }
    }

    #[tokio::test]
    async fn recently_created_jobs_absorb_periodic_requests() {
        for (db, _dir) in testing::engines().await {
            let periodic = || {
                NewJob::new("scan", &json!({}))
                    .dedupe_key("scan:acme/lib")
                    .skip_if_created_within(Duration::from_secs(60))
            };
            let first = db.enqueue_job(&periodic()).await.unwrap();
            let claimed = db
                .claim_job("w1", LEASE, now_millis())
                .await
                .unwrap()
                .unwrap();
            db.finish_job(&claimed, &JobOutcome::Succeeded(json!(null)), now_millis())
                .await
                .unwrap();
            // Finished, but created within the window: still absorbs the request.
            assert_eq!(db.enqueue_job(&periodic()).await.unwrap(), first);
            // An explicit request without a window does run again.
            let explicit = db
                .enqueue_job(&NewJob::new("scan", &json!({})).dedupe_key("scan:acme/lib"))
                .await
                .unwrap();
            assert_ne!(explicit, first);
        }
    }

    #[tokio::test]
    async fn failures_are_retried_then_fail_keeping_the_error() {
        for (db, _dir) in testing::engines().await {
            let id = db
                .enqueue_job(&NewJob::new("scan", &json!({})).max_attempts(2))
                .await
                .unwrap();
            let now = now_millis();
            let git_error = "fatal: could not read Username for 'https://example.com': \
                             terminal prompts disabled\n";
            let failure = |retry_at| JobOutcome::Failed {
                error: git_error.into(),
                retry_at: Some(retry_at),
            };

            let first = db.claim_job("w1", LEASE, now).await.unwrap().unwrap();
            assert_eq!(
                db.finish_job(&first, &failure(now + 10_000), now)
                    .await
                    .unwrap(),
                Some(JobState::Queued)
            );
            let waiting = db.job(id).await.unwrap().unwrap();
            assert_eq!(waiting.state, JobState::Queued);
            assert_eq!(waiting.error.as_deref(), Some(git_error));
            // Back-off: not runnable before retry_at.
            assert!(
                db.claim_job("w1", LEASE, now + 9_999)
                    .await
                    .unwrap()
                    .is_none()
            );

            let second = db
                .claim_job("w2", LEASE, now + 10_000)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(second.attempts, 2);
            assert_eq!(
                db.finish_job(&second, &failure(now + 20_000), now + 11_000)
                    .await
                    .unwrap(),
                Some(JobState::Failed)
            );
            let failed = db.job(id).await.unwrap().unwrap();
            assert_eq!(failed.state, JobState::Failed);
            assert_eq!(failed.error.as_deref(), Some(git_error));
            assert_eq!(failed.attempts, 2);
            assert_eq!(failed.finished_at, Some(now + 11_000));
            assert!(
                db.claim_job("w1", LEASE, now + 99_000)
                    .await
                    .unwrap()
                    .is_none()
            );
        }
    }

    #[tokio::test]
    async fn expired_leases_are_reclaimed_and_the_old_owner_is_fenced_off() {
        for (db, _dir) in testing::engines().await {
            let id = db
                .enqueue_job(&NewJob::new("scan", &json!({})).max_attempts(2))
                .await
                .unwrap();
            let lease = Duration::from_millis(1000);
            let now = now_millis();
            let dead = db.claim_job("w1", lease, now).await.unwrap().unwrap();
            assert!(
                db.claim_job("w2", lease, now + 1000)
                    .await
                    .unwrap()
                    .is_none()
            );

            let taken = db
                .claim_job("w2", lease, now + 1001)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(taken.id, id);
            assert_eq!(taken.attempts, 2);
            assert_eq!(taken.worker.as_deref(), Some("w2"));
            assert_eq!(
                taken.error.as_deref(),
                Some("attempt 1: worker w1 stopped renewing its lease")
            );
            // The first owner comes back: it may neither renew nor record an outcome.
            assert!(!db.renew_job_lease(&dead, lease, now + 1002).await.unwrap());
            let late = JobOutcome::Succeeded(json!("late"));
            assert_eq!(db.finish_job(&dead, &late, now + 1002).await.unwrap(), None);
            assert_eq!(
                db.job(id).await.unwrap().unwrap().worker.as_deref(),
                Some("w2")
            );

            // The last allowed attempt's worker vanishes too: the job fails.
            assert!(
                db.claim_job("w3", lease, now + 5000)
                    .await
                    .unwrap()
                    .is_none()
            );
            let failed = db.job(id).await.unwrap().unwrap();
            assert_eq!(failed.state, JobState::Failed);
            assert_eq!(
                failed.error.as_deref(),
                Some(
                    "attempt 1: worker w1 stopped renewing its lease\n\
                     attempt 2: worker w2 stopped renewing its lease"
                )
            );
            assert!(
                db.finish_job(&taken, &late, now + 5001)
                    .await
                    .unwrap()
                    .is_none()
            );
        }
    }

    #[test]
    fn states_round_trip() {
        for state in [
            JobState::Queued,
            JobState::Running,
            JobState::Succeeded,
            JobState::Failed,
        ] {
            assert_eq!(state.as_str().parse::<JobState>(), Ok(state));
        }
        assert!(
            "done"
                .parse::<JobState>()
                .unwrap_err()
                .to_string()
                .contains("queued")
        );
    }
}
