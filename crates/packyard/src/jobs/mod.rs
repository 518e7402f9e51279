//! Background work without Redis, cron or a worker process: jobs are rows in the `jobs`
//! table (`db::jobs`) and every server process runs them in-process.
//!
//! Any number of replicas may share one database. A replica takes a job by claiming it
//! with a lease (one atomic statement; `FOR UPDATE SKIP LOCKED` on PostgreSQL) and
//! renews the lease every third of its length while the handler runs. If the replica
//! dies, the lease runs out and another replica takes the job over as its next attempt;
//! the dead attempt can no longer write anything, because renewals and outcomes are
//! only accepted from the worker and attempt that hold the job. So a job runs once,
//! and again only if the replica running it stopped responding for a whole lease.
//! Leases are compared against each replica's own clock: keep clocks in sync (NTP)
//! to well within the lease (one minute by default).
//!
//! Finished jobs are kept for `JobQueue::with_retention` (a week by default) so that
//! `GET /api/jobs/{id}` and `packyard jobs` can show them, including a failed scan's
//! full error text; then the runner deletes them.

//! A kind of job is a serde struct implementing [`BackgroundJob`]: the struct is the
//! payload stored in the table, its `KIND` names it there, and `run` returns a typed
//! output (stored as the job's result) or a typed error (stored as its error text,
//! whole: a failed scan's error is git's stderr).

mod queue;

use std::collections::HashMap;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

pub use queue::{JobQueue, Runner, default_worker_id, spawn_periodic};

use crate::db::{JobRow, NewJob};

/// One kind of background job; the value is its payload.
pub trait BackgroundJob: Serialize + DeserializeOwned + Send + 'static {
    /// The kind recorded in the `jobs` table.
    const KIND: &'static str;
    /// What the job runs with (the application's services, say).
    type Context: Clone + Send + Sync + 'static;
    /// What a successful run reports; kept as the job's result.
    type Output: Serialize + Send;
    /// Why a run failed; its text is kept as the job's error. A failed run is retried
    /// with back-off while attempts remain.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Whether a run that failed is tried again (while attempts remain). Either way, a
    /// run whose replica died is taken over by another one while attempts remain.
    const RETRY_FAILURES: bool = true;

    /// How jobs of this kind are queued: a dedupe key, the number of attempts.
    fn configure(&self, job: NewJob) -> NewJob {
        job
    }

    fn run(
        self,
        context: Self::Context,
    ) -> impl Future<Output = Result<Self::Output, Self::Error>> + Send;
}

/// The row to enqueue for `job`.
pub fn new_job<J: BackgroundJob>(job: &J) -> NewJob {
    job.configure(NewJob::new(J::KIND, job))
}

/// Why a job's run did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum JobFailure {
    /// The stored payload is not a job of its kind; it never will be, so this is not
    /// retried.
    #[error("the payload is not a {kind} job: {source}")]
    Payload {
        kind: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("{error}")]
    Failed {
        error: Box<dyn std::error::Error + Send + Sync>,
        /// The kind's `RETRY_FAILURES`.
        retry: bool,
    },
}

/// A job's run with its types erased: the stored payload in, the stored result out.
type RunJob = Arc<dyn Fn(String) -> BoxFuture<'static, Result<Value, JobFailure>> + Send + Sync>;

/// The kinds of job a runner runs, each with its context.
#[derive(Clone, Default)]
pub struct Handlers {
    by_kind: HashMap<&'static str, RunJob>,
}

impl Handlers {
    pub fn register<J: BackgroundJob>(mut self, context: J::Context) -> Self {
        let run: RunJob = Arc::new(move |payload: String| {
            let context = context.clone();
            Box::pin(async move {
                let job: J =
                    serde_json::from_str(&payload).map_err(|source| JobFailure::Payload {
                        kind: J::KIND,
                        source,
                    })?;
                let output = job.run(context).await.map_err(|error| JobFailure::Failed {
                    error: Box::new(error),
                    retry: J::RETRY_FAILURES,
                })?;
                Ok(serde_json::to_value(output).expect("a job's output serializes"))
            })
        });
        self.by_kind.insert(J::KIND, run);
        self
    }

    fn get(&self, kind: &str) -> Option<RunJob> {
        self.by_kind.get(kind).cloned()
    }

    /// The registered kinds, sorted.
    fn kinds(&self) -> Vec<&'static str> {
        let mut kinds: Vec<&'static str> = self.by_kind.keys().copied().collect();
        kinds.sort_unstable();
        kinds
    }
}

/// A job as `GET /api/jobs/{id}` and `packyard jobs` show it. Times are Unix
/// milliseconds; `payload` and `result` are shown as the JSON they were stored as.
#[derive(Debug, Serialize)]
pub struct JobView<'a> {
    pub id: i64,
    pub kind: &'a str,
    pub state: &'static str,
    pub attempts: i64,
    pub max_attempts: i64,
    pub dedupe_key: Option<&'a str>,
    pub worker: Option<&'a str>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub result: Option<Value>,
    pub error: Option<&'a str>,
    pub payload: Value,
}

impl<'a> JobView<'a> {
    /// The package a job is about, for jobs whose payload names one.
    pub fn package_of(job: &JobRow) -> Option<String> {
        #[derive(serde::Deserialize)]
        struct About {
            package: Option<String>,
        }
        serde_json::from_str::<About>(&job.payload).ok()?.package
    }

    pub fn of(job: &'a JobRow) -> Self {
        let parse = |text: &str| serde_json::from_str(text).unwrap_or_else(|_| Value::from(text));
        JobView {
            id: job.id,
            kind: &job.kind,
            state: job.state.as_str(),
            attempts: job.attempts,
            max_attempts: job.max_attempts,
            dedupe_key: job.dedupe_key.as_deref(),
            worker: job.worker.as_deref(),
            created_at: job.created_at,
            started_at: job.started_at,
            finished_at: job.finished_at,
            result: job.result.as_deref().map(parse),
            error: job.error.as_deref(),
            payload: parse(&job.payload),
        }
    }
}
