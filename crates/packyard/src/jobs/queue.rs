//! The queue itself: claiming jobs with leases, running them with heartbeats, recording
//! outcomes, retrying with back-off, pruning finished jobs.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::{JoinError, JoinHandle};

use super::{BackgroundJob, Handlers, JobFailure, RunJob, new_job};
use crate::db::{Db, JobOutcome, JobRow, NewJob, now_millis};

/// This process's view of the job table: enqueues jobs and runs them.
pub struct JobQueue {
    db: Db,
    worker: String,
    /// Wakes this process's runner when it enqueues, so local jobs start at once
    /// instead of at the next poll.
    wake: Notify,
    lease: Duration,
    poll_interval: Duration,
    retry_backoff: Duration,
    retention: Duration,
}

const MAX_RETRY_DELAY: Duration = Duration::from_secs(30 * 60);
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

impl JobQueue {
    pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);
    pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(500);
    pub const DEFAULT_RETRY_BACKOFF: Duration = Duration::from_secs(10);
    pub const DEFAULT_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

    /// A queue whose worker id is `hostname-pid-random`, unique per process.
    pub fn new(db: Db) -> Self {
        JobQueue {
            db,
            worker: default_worker_id(),
            wake: Notify::new(),
            lease: Self::DEFAULT_LEASE,
            poll_interval: Self::DEFAULT_POLL_INTERVAL,
            retry_backoff: Self::DEFAULT_RETRY_BACKOFF,
            retention: Self::DEFAULT_RETENTION,
        }
    }

    pub fn with_worker_id(mut self, worker: impl Into<String>) -> Self {
        self.worker = worker.into();
        self
    }

    /// How long a claimed job stays ours without a renewal; renewed every third of it.
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease.max(Duration::from_millis(30));
        self
    }

    /// How often an idle runner looks for jobs enqueued by other processes.
    pub fn with_poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// The delay before the first retry; it doubles with each attempt, up to 30 min.
    pub fn with_retry_backoff(mut self, backoff: Duration) -> Self {
        self.retry_backoff = backoff;
        self
    }

    /// How long finished jobs are kept before the runner deletes them.
    pub fn with_retention(mut self, retention: Duration) -> Self {
        self.retention = retention;
        self
    }

    pub fn worker_id(&self) -> &str {
        &self.worker
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Adds a job (or finds the one it deduplicates into, see `NewJob`) and returns its
    /// id; wakes this process's runner.
    pub async fn enqueue(&self, job: NewJob) -> Result<i64, sqlx::Error> {
        let id = self.db.enqueue_job(&job).await?;
        self.wake.notify_one();
        Ok(id)
    }

    /// Enqueues a typed job as its kind configures it.
    pub async fn enqueue_job<J: BackgroundJob>(&self, job: &J) -> Result<i64, sqlx::Error> {
        self.enqueue(new_job(job)).await
    }

    /// Starts running jobs, at most `concurrency` at a time, until `Runner::shutdown`
    /// hands the running ones back. Dropping the `Runner` leaves the jobs running for
    /// the life of the process.
    pub fn spawn_runner(self: Arc<Self>, handlers: Handlers, concurrency: usize) -> Runner {
        let concurrency = concurrency.clamp(1, Semaphore::MAX_PERMITS);
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(self.run_loop(Arc::new(handlers), concurrency, stopped));
        Runner { stop, task }
    }

    async fn run_loop(
        self: Arc<Self>,
        handlers: Arc<Handlers>,
        concurrency: usize,
        stopped: watch::Receiver<bool>,
    ) {
        tracing::info!(worker = %self.worker, concurrency, "job runner started");
        let slots = Arc::new(Semaphore::new(concurrency));
        let mut last_prune: Option<Instant> = None;
        loop {
            let permit = tokio::select! {
                biased;
                () = until_stopped(stopped.clone()) => break,
                permit = slots.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            };
            if last_prune.is_none_or(|at| at.elapsed() >= PRUNE_EVERY) {
                last_prune = Some(Instant::now());
                self.prune().await;
            }
            match self
                .db
                .claim_job(&self.worker, self.lease, now_millis())
                .await
            {
                Ok(Some(job)) => {
                    tokio::spawn(self.clone().execute(
                        job,
                        handlers.clone(),
                        permit,
                        stopped.clone(),
                    ));
                    // Look for more work straight away, while there is a free slot.
                }
                Ok(None) => {
                    drop(permit);
                    self.idle(&stopped).await;
                }
                Err(error) => {
                    tracing::warn!(%error, "claiming a job failed");
                    drop(permit);
                    self.idle(&stopped).await;
                }
            }
        }
        // Jobs in flight are handed back (or record their outcome, had they just
        // finished) before shutdown returns.
        let _all = slots.acquire_many(concurrency as u32).await;
        tracing::info!(worker = %self.worker, "job runner stopped");
    }

    async fn idle(&self, stopped: &watch::Receiver<bool>) {
        tokio::select! {
            () = until_stopped(stopped.clone()) => {}
            () = self.wake.notified() => {}
            () = tokio::time::sleep(self.poll_interval) => {}
        }
    }

    async fn prune(&self) {
        let before = now_millis().saturating_sub(millis(self.retention));
        match self.db.delete_finished_jobs(before).await {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, "deleted old finished jobs"),
            Err(error) => tracing::warn!(%error, "deleting old finished jobs failed"),
        }
    }

    async fn execute(
        self: Arc<Self>,
        job: JobRow,
        handlers: Arc<Handlers>,
        _slot: OwnedSemaphorePermit,
        stopped: watch::Receiver<bool>,
    ) {
        let started = Instant::now();
        tracing::info!(job = job.id, kind = %job.kind, attempt = job.attempts, "job started");
        let outcome = match handlers.get(&job.kind) {
            None => Some(JobOutcome::Failed {
                error: format!(
                    "no handler for job kind {:?} on worker {} (it runs: {})",
                    job.kind,
                    self.worker,
                    handlers.kinds().join(", ")
                ),
                retry_at: None,
            }),
            Some(run) => self.run_with_heartbeat(&job, run, stopped).await,
        };
        let Some(outcome) = outcome else {
            return;
        };
        let elapsed_ms = started.elapsed().as_millis() as u64;
        crate::metrics::metrics()
            .job_finished(&job.kind, matches!(outcome, JobOutcome::Succeeded(_)));
        match self.db.finish_job(&job, &outcome, now_millis()).await {
            Ok(Some(state)) => match &outcome {
                JobOutcome::Succeeded(_) => {
                    tracing::info!(job = job.id, kind = %job.kind, elapsed_ms, "job succeeded");
                }
                JobOutcome::Failed { error, .. } => {
                    tracing::warn!(job = job.id, kind = %job.kind, elapsed_ms, %state, %error, "job failed");
                }
            },
            Ok(None) => tracing::warn!(
                job = job.id,
                kind = %job.kind,
                "job finished after its lease was taken over; outcome discarded"
            ),
            // The lease runs out and the job is retried elsewhere.
            Err(error) => {
                tracing::error!(job = job.id, kind = %job.kind, %error, "recording a job's outcome failed");
            }
        }
    }

    /// Runs the handler in a task of its own, so that a panic is caught as a
    /// `JoinError`, while renewing the lease. `None` when the lease was lost (the job
    /// belongs to someone else now, so the handler is aborted and nothing is recorded)
    /// or when the runner stopped: the handler is aborted and the job handed back to
    /// the queue, so another replica takes it at once instead of after the lease.
    async fn run_with_heartbeat(
        &self,
        job: &JobRow,
        run: RunJob,
        stopped: watch::Receiver<bool>,
    ) -> Option<JobOutcome> {
        // What the job changes is recorded as done by packyard, as this job (a task
        // spawned does not inherit its spawner's actor: it is set in the task).
        let actor = crate::db::audit::AuditActor::system(format!("job {}", job.id));
        let mut work = tokio::spawn(actor.scope(run(job.payload.clone())));
        let period = self.lease / 3;
        let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let stop = until_stopped(stopped);
        tokio::pin!(stop);
        loop {
            tokio::select! {
                biased;
                joined = &mut work => return Some(self.outcome(job, joined)),
                () = &mut stop => {
                    work.abort();
                    // Only once the handler has stopped may the job run elsewhere; one
                    // that finished before the abort took hold keeps its outcome.
                    return match (&mut work).await {
                        Err(error) if error.is_cancelled() => {
                            self.hand_back(job).await;
                            None
                        }
                        joined => Some(self.outcome(job, joined)),
                    };
                }
                _ = heartbeat.tick() => {
                    match self.db.renew_job_lease(job, self.lease, now_millis()).await {
                        Ok(true) => {}
                        Ok(false) => {
                            work.abort();
                            tracing::warn!(job = job.id, kind = %job.kind, "lost the job's lease; stopped it");
                            return None;
                        }
                        // Try again at the next beat; two more misses lose the lease.
                        Err(error) => tracing::warn!(job = job.id, %error, "renewing a job's lease failed"),
                    }
                }
            }
        }
    }

    async fn hand_back(&self, job: &JobRow) {
        match self.db.release_job(job, now_millis()).await {
            Ok(true) => {
                tracing::info!(job = job.id, kind = %job.kind, "stopping: handed the job back to the queue");
            }
            Ok(false) => {
                tracing::warn!(job = job.id, kind = %job.kind, "stopping: the job's lease was lost already");
            }
            // The lease runs out and another replica retries it.
            Err(error) => {
                tracing::warn!(job = job.id, kind = %job.kind, %error, "stopping: handing the job back failed");
            }
        }
    }

    fn outcome(
        &self,
        job: &JobRow,
        joined: Result<Result<Value, JobFailure>, JoinError>,
    ) -> JobOutcome {
        let retry_at = || {
            let delay = retry_delay(self.retry_backoff, job.attempts);
            Some(now_millis().saturating_add(millis(delay)))
        };
        match joined {
            Ok(Ok(result)) => JobOutcome::Succeeded(result),
            // A payload that does not fit its kind never will.
            Ok(Err(error @ JobFailure::Payload { .. })) => JobOutcome::Failed {
                error: error.to_string(),
                retry_at: None,
            },
            Ok(Err(error @ JobFailure::Failed { retry, .. })) => JobOutcome::Failed {
                error: error.to_string(),
                retry_at: if retry { retry_at() } else { None },
            },
            Err(error) if error.is_panic() => JobOutcome::Failed {
                error: format!(
                    "job handler panicked: {}",
                    panic_message(error.into_panic())
                ),
                retry_at: None,
            },
            Err(_) => JobOutcome::Failed {
                error: "job handler was cancelled".to_owned(),
                retry_at: retry_at(),
            },
        }
    }
}

/// A running job runner.
pub struct Runner {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Runner {
    /// Stops claiming jobs, stops the ones running and hands them back to the queue
    /// (see `Db::release_job`); returns once every one is handed back.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        if let Err(error) = self.task.await {
            tracing::error!(%error, "the job runner failed");
        }
    }
}

/// Resolves once `stop` is sent; never if the `Runner` was dropped instead.
async fn until_stopped(mut stopped: watch::Receiver<bool>) {
    if stopped.wait_for(|stop| *stop).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Calls `tick` at every multiple of `interval` on the wall clock, so that replicas
/// tick together: combined with `NewJob::dedupe_key` and
/// `NewJob::skip_if_created_within(interval / 2)`, N replicas enqueue one job per key
/// and period, not N. Each call runs in a task of its own; one that panics is logged
/// and the schedule goes on.
pub fn spawn_periodic<F, Fut>(interval: Duration, mut tick: F) -> JoinHandle<()>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let period = millis(interval).max(1);
    tokio::spawn(async move {
        loop {
            let now = now_millis();
            let next = (now / period + 1) * period;
            tokio::time::sleep(Duration::from_millis((next - now) as u64)).await;
            if let Err(error) = tokio::spawn(tick()).await {
                tracing::error!(%error, "a periodic task failed");
            }
        }
    })
}

/// The back-off before retrying after attempt number `attempts`: doubling from `base`.
fn retry_delay(base: Duration, attempts: i64) -> Duration {
    let doublings = attempts.saturating_sub(1).clamp(0, 20) as u32;
    base.saturating_mul(1 << doublings).min(MAX_RETRY_DELAY)
}

fn panic_message(panic: Box<dyn std::any::Any + Send>) -> String {
    match panic.downcast::<String>() {
        Ok(message) => *message,
        Err(panic) => match panic.downcast::<&'static str>() {
            Ok(message) => (*message).to_owned(),
            Err(_) => "(no message)".to_owned(),
        },
    }
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// `hostname-pid-random`: this process among the replicas (its job runner's worker id,
/// what its audit entries name).
pub fn default_worker_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "packyard".to_owned());
    let mut random = [0u8; 4];
    getrandom::fill(&mut random).expect("the operating system's random source failed");
    format!("{host}-{}-{}", std::process::id(), hex::encode(random))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{JobState, testing};
    use crate::jobs::JobView;
    use serde::{Deserialize, Serialize};
    use serde_json::json;
    use std::sync::Mutex;

    /// Sleeps, fails, panics or echoes itself, as its fields say.
    #[derive(Debug, Default, Serialize, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct Echo {
        #[serde(skip_serializing_if = "Option::is_none")]
        n: Option<i64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        sleep_ms: Option<u64>,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        panic: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        fail: Option<String>,
    }

    #[derive(Debug, thiserror::Error)]
    #[error("{0}")]
    struct EchoFailed(String);

    #[derive(Serialize)]
    struct Echoed {
        echo: Echo,
    }

    impl BackgroundJob for Echo {
        const KIND: &'static str = "echo";
        type Context = ();
        type Output = Echoed;
        type Error = EchoFailed;

        async fn run(self, (): ()) -> Result<Echoed, EchoFailed> {
            if let Some(delay) = self.sleep_ms {
                tokio::time::sleep(Duration::from_millis(delay)).await;
            }
            assert!(!self.panic, "handler exploded on {self:?}");
            match self.fail {
                Some(error) => Err(EchoFailed(error)),
                None => Ok(Echoed { echo: self }),
            }
        }
    }

    fn echo_handlers() -> Handlers {
        Handlers::default().register::<Echo>(())
    }

    fn queue(db: &Db, worker: &str) -> Arc<JobQueue> {
        Arc::new(
            JobQueue::new(db.clone())
                .with_worker_id(worker)
                .with_poll_interval(Duration::from_millis(20))
                .with_retry_backoff(Duration::from_millis(10)),
        )
    }

    async fn wait_until_finished(db: &Db, id: i64) -> JobRow {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let job = db.job(id).await.unwrap().unwrap();
            if job.state.is_finished() {
                return job;
            }
            assert!(Instant::now() < deadline, "job never finished: {job:?}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test]
    async fn enqueueing_wakes_the_runner_which_records_the_result() {
        for (db, _dir) in testing::engines().await {
            // Polling alone would take a minute: only the wake-up makes this fast.
            let queue =
                Arc::new(JobQueue::new(db.clone()).with_poll_interval(Duration::from_secs(60)));
            let runner = queue.clone().spawn_runner(echo_handlers(), 2);
            tokio::time::sleep(Duration::from_millis(50)).await;
            let id = queue
                .enqueue(NewJob::new("echo", &json!({"n": 1})))
                .await
                .unwrap();
            let job = wait_until_finished(&db, id).await;
            assert_eq!(job.state, JobState::Succeeded, "{job:?}");
            assert_eq!(job.worker.as_deref(), Some(queue.worker_id()));
            let shown = serde_json::to_value(JobView::of(&job)).unwrap();
            assert_eq!(shown["result"], json!({"echo": {"n": 1}}));
            assert_eq!(shown["payload"], json!({"n": 1}));
            assert_eq!(shown["state"], "succeeded");
            assert_eq!(shown["attempts"], 1);
            assert_eq!(shown["error"], Value::Null);
            for field in ["id", "kind", "created_at", "started_at", "finished_at"] {
                assert!(!shown[field].is_null(), "{field} in {shown}");
            }
            runner.shutdown().await;
        }
    }

    #[tokio::test]
    async fn failures_are_retried_and_keep_their_error_text() {
        for (db, _dir) in testing::engines().await {
            let queue = queue(&db, "w1");
            let runner = queue.clone().spawn_runner(echo_handlers(), 1);
            let git_error = "Cloning into bare repository...\n\
                             fatal: repository 'https://git.example.com/acme/lib.git/' not found\n";
            let id = queue
                .enqueue(NewJob::new("echo", &json!({"fail": git_error})).max_attempts(3))
                .await
                .unwrap();
            let job = wait_until_finished(&db, id).await;
            assert_eq!(job.state, JobState::Failed);
            assert_eq!(job.attempts, 3);
            assert_eq!(job.error.as_deref(), Some(git_error));
            assert_eq!(
                serde_json::to_value(JobView::of(&job)).unwrap()["error"],
                git_error
            );
            runner.shutdown().await;
        }
    }

    #[tokio::test]
    async fn kinds_that_do_not_retry_failures_fail_at_the_first() {
        /// Fails every time; its kind keeps attempts only for replicas that die.
        #[derive(Serialize, Deserialize)]
        struct Once {}
        impl BackgroundJob for Once {
            const KIND: &'static str = "once";
            const RETRY_FAILURES: bool = false;
            type Context = ();
            type Output = ();
            type Error = EchoFailed;

            async fn run(self, (): ()) -> Result<(), EchoFailed> {
                Err(EchoFailed("remote hung up".to_owned()))
            }
        }
        let (db, _dir) = testing::sqlite().await;
        let queue = queue(&db, "w1");
        let runner = queue
            .clone()
            .spawn_runner(Handlers::default().register::<Once>(()), 1);
        let id = queue
            .enqueue(NewJob::new("once", &json!({})).max_attempts(3))
            .await
            .unwrap();
        let job = wait_until_finished(&db, id).await;
        assert_eq!((job.state, job.attempts), (JobState::Failed, 1), "{job:?}");
        assert_eq!(job.error.as_deref(), Some("remote hung up"));
        runner.shutdown().await;
    }

    #[tokio::test]
    async fn panics_and_unknown_kinds_fail_the_job_not_the_server() {
        for (db, _dir) in testing::engines().await {
            let queue = queue(&db, "w1");
            let runner = queue.clone().spawn_runner(echo_handlers(), 2);
            let panicking = queue
                .enqueue(NewJob::new("echo", &json!({"panic": true})))
                .await
                .unwrap();
            let unknown = queue
                .enqueue(NewJob::new("teleport", &json!({})))
                .await
                .unwrap();
            let job = wait_until_finished(&db, panicking).await;
            assert_eq!(job.state, JobState::Failed);
            assert_eq!(job.attempts, 1, "a panic is not retried");
            let error = job.error.unwrap();
            assert!(
                error.starts_with("job handler panicked: handler exploded on Echo"),
                "{error}"
            );
            let job = wait_until_finished(&db, unknown).await;
            assert_eq!(job.state, JobState::Failed);
            assert_eq!(
                job.error.as_deref(),
                Some(r#"no handler for job kind "teleport" on worker w1 (it runs: echo)"#)
            );
            // The runner survived and still runs jobs.
            let after = queue
                .enqueue(NewJob::new("echo", &json!({})))
                .await
                .unwrap();
            assert_eq!(
                wait_until_finished(&db, after).await.state,
                JobState::Succeeded
            );
            runner.shutdown().await;
        }
    }

    #[tokio::test]
    async fn the_lease_is_renewed_while_a_long_job_runs() {
        for (db, _dir) in testing::engines().await {
            let lease = Duration::from_millis(150);
            let queue = Arc::new(
                JobQueue::new(db.clone())
                    .with_worker_id("w1")
                    .with_lease(lease),
            );
            let runner = queue.clone().spawn_runner(echo_handlers(), 1);
            let id = queue
                .enqueue(NewJob::new("echo", &json!({"sleep_ms": 600})))
                .await
                .unwrap();
            while db.job(id).await.unwrap().unwrap().state == JobState::Queued {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            // Another replica keeps trying for the whole run, four leases long.
            let deadline = Instant::now() + Duration::from_millis(500);
            while Instant::now() < deadline {
                assert!(
                    db.claim_job("w2", lease, now_millis())
                        .await
                        .unwrap()
                        .is_none()
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let job = wait_until_finished(&db, id).await;
            assert_eq!(job.state, JobState::Succeeded);
            assert_eq!(job.attempts, 1);
            runner.shutdown().await;
        }
    }

    #[tokio::test]
    async fn a_worker_that_lost_its_lease_stops_and_records_nothing() {
        let (db, _dir) = testing::sqlite().await;
        let id = db
            .enqueue_job(&NewJob::new("echo", &json!({"sleep_ms": 2000})))
            .await
            .unwrap();
        let queue = JobQueue::new(db.clone())
            .with_worker_id("w1")
            .with_lease(Duration::from_millis(300));
        let job = db
            .claim_job("w1", Duration::from_millis(300), now_millis())
            .await
            .unwrap()
            .unwrap();
        // Another replica decides w1 is dead and takes the job over.
        let taken = db
            .claim_job("w2", Duration::from_secs(60), now_millis() + 301)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(taken.id, id);
        let started = Instant::now();
        let run = echo_handlers().get("echo").unwrap();
        let (_never_stopped, stopped) = watch::channel(false);
        let outcome = queue.run_with_heartbeat(&job, run, stopped);
        assert_eq!(outcome.await, None);
        assert!(started.elapsed() < Duration::from_millis(1000));
        assert_eq!(
            db.job(id).await.unwrap().unwrap().worker.as_deref(),
            Some("w2")
        );
    }

    #[tokio::test]
    async fn shutdown_hands_running_jobs_back_for_another_replica_at_once() {
        for (db, _dir) in testing::engines().await {
            // A lease of a minute: only the hand-back lets the second replica start now.
            let lease = Duration::from_secs(60);
            let first = Arc::new(
                JobQueue::new(db.clone())
                    .with_worker_id("w1")
                    .with_lease(lease),
            );
            let runner = first.clone().spawn_runner(echo_handlers(), 2);
            let id = first
                .enqueue(NewJob::new("echo", &json!({"sleep_ms": 30_000})))
                .await
                .unwrap();
            while db.job(id).await.unwrap().unwrap().state != JobState::Running {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            let started = Instant::now();
            runner.shutdown().await;
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "shutdown waited for the job instead of handing it back"
            );
            let handed_back = db.job(id).await.unwrap().unwrap();
            assert_eq!(handed_back.state, JobState::Queued, "{handed_back:?}");
            assert_eq!(
                handed_back.attempts, 0,
                "an interrupted attempt is not counted"
            );

            let taken = db
                .claim_job("w2", lease, now_millis())
                .await
                .unwrap()
                .expect("another replica takes the job at once");
            assert_eq!((taken.id, taken.attempts), (id, 1));
            assert_eq!(taken.error, None, "{taken:?}");
        }
    }

    #[tokio::test]
    async fn a_job_handed_back_behind_a_queued_twin_ends_and_says_why() {
        for (db, _dir) in testing::engines().await {
            handed_back_behind_a_queued_twin(&db).await;
        }
    }

    async fn handed_back_behind_a_queued_twin(db: &Db) {
        let keyed = || NewJob::new("echo", &json!({})).dedupe_key("scan:acme/lib");
        let id = db.enqueue_job(&keyed()).await.unwrap();
        let job = db
            .claim_job("w1", Duration::from_secs(60), now_millis())
            .await
            .unwrap()
            .unwrap();
        let twin = db.enqueue_job(&keyed()).await.unwrap();
        assert_ne!(twin, id, "a running job does not absorb a new one");
        assert!(db.release_job(&job, now_millis()).await.unwrap());
        let ended = db.job(id).await.unwrap().unwrap();
        assert_eq!(ended.state, JobState::Failed);
        assert!(
            ended.error.as_deref().unwrap().contains(&format!(
                "job {twin}, queued with the same key, does its work"
            )),
            "{ended:?}"
        );
        assert_eq!(db.job(twin).await.unwrap().unwrap().state, JobState::Queued);
        // The attempt no longer owns the job: a second hand-back writes nothing.
        assert!(!db.release_job(&job, now_millis()).await.unwrap());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn two_replicas_on_postgres_run_each_job_exactly_once() {
        let Some(first_db) = testing::postgres().await else {
            return;
        };
        let name: String = sqlx::query_scalar("SELECT current_database()::text")
            .fetch_one(first_db.pool())
            .await
            .unwrap();
        let server = std::env::var("PACKYARD_TEST_POSTGRES").unwrap();
        // A pool of its own, as another server process would have.
        let second_db = Db::open(&format!("{server}/{name}")).await.unwrap();
        replicas_run_each_job_exactly_once(first_db, second_db).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn two_replicas_on_one_sqlite_file_run_each_job_exactly_once() {
        let (first_db, dir) = testing::sqlite().await;
        let url = format!("sqlite://{}?mode=rwc", dir.0.join("test.db").display());
        let second_db = Db::open(&url).await.unwrap();
        replicas_run_each_job_exactly_once(first_db, second_db).await;
    }

    /// Two runners with their own worker ids and connection pools share 200 jobs.
    async fn replicas_run_each_job_exactly_once(first_db: Db, second_db: Db) {
        const JOBS: usize = 200;

        /// Records which replica ran it; the context is the record and the replica.
        #[derive(Serialize, Deserialize)]
        struct Record {
            n: i64,
        }
        type Ran = Arc<Mutex<Vec<(String, i64)>>>;
        impl BackgroundJob for Record {
            const KIND: &'static str = "record";
            type Context = (Ran, &'static str);
            type Output = &'static str;
            type Error = EchoFailed;

            async fn run(self, (ran, worker): Self::Context) -> Result<&'static str, EchoFailed> {
                tokio::time::sleep(Duration::from_millis(2)).await;
                ran.lock().unwrap().push((worker.to_owned(), self.n));
                Ok(worker)
            }
        }

        for n in 0..JOBS {
            let job = NewJob::new("record", &json!({"n": n}));
            first_db.enqueue_job(&job).await.unwrap();
        }
        let ran: Ran = Arc::new(Mutex::new(Vec::new()));
        let replicas = [(first_db.clone(), "replica-a"), (second_db, "replica-b")]
            .into_iter()
            .map(|(db, worker)| {
                let handlers = Handlers::default().register::<Record>((ran.clone(), worker));
                queue(&db, worker).spawn_runner(handlers, 4)
            })
            .collect::<Vec<_>>();

        let deadline = Instant::now() + Duration::from_secs(8);
        while first_db
            .jobs(Some(JobState::Succeeded), JOBS as i64)
            .await
            .unwrap()
            .len()
            < JOBS
        {
            assert!(Instant::now() < deadline, "not all jobs ran in time");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        for runner in replicas {
            runner.shutdown().await;
        }

        let ran = ran.lock().unwrap().clone();
        let mut numbers: Vec<i64> = ran.iter().map(|(_, n)| *n).collect();
        numbers.sort_unstable();
        assert_eq!(
            numbers,
            (0..JOBS as i64).collect::<Vec<_>>(),
            "each job ran once"
        );
        for worker in ["replica-a", "replica-b"] {
            assert!(
                ran.iter().any(|(w, _)| w == worker),
                "{worker} ran no job: the test did not exercise contention"
            );
        }
        let jobs = first_db.jobs(None, 1000).await.unwrap();
        assert_eq!(jobs.len(), JOBS);
        for job in jobs {
            assert_eq!(job.state, JobState::Succeeded, "{job:?}");
            assert_eq!(job.attempts, 1, "{job:?}");
            // The worker that recorded the outcome is the one that ran it.
            assert_eq!(job.result, Some(format!("{:?}", job.worker.unwrap())));
        }
    }

    #[tokio::test]
    async fn periodic_tasks_tick_and_survive_a_panic() {
        let ticks = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = ticks.clone();
        let task = spawn_periodic(Duration::from_millis(20), move || {
            let counter = counter.clone();
            async move {
                assert!(
                    counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst) != 0,
                    "first tick fails"
                );
            }
        });
        // Waits for ticks rather than sleeping a fixed time: a busy machine delays them.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while ticks.load(std::sync::atomic::Ordering::SeqCst) < 3 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the schedule stopped after a panic"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        task.abort();
    }

    #[test]
    fn retries_back_off_exponentially_up_to_a_cap() {
        let base = Duration::from_secs(10);
        let delays: Vec<u64> = [1, 2, 3, 4]
            .into_iter()
            .map(|attempts| retry_delay(base, attempts).as_secs())
            .collect();
        assert_eq!(delays, [10, 20, 40, 80]);
        assert_eq!(retry_delay(base, 50), MAX_RETRY_DELAY);
    }
}
