-- Background jobs (src/jobs.rs, src/db/jobs.rs). Times are Unix milliseconds.
-- AUTOINCREMENT: ids are shown to users (`GET /api/jobs/{id}`) and must never be reused
-- after old jobs are pruned.
CREATE TABLE jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed')),
    dedupe_key TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    run_after INTEGER NOT NULL,
    lease_until INTEGER,
    worker TEXT,
    result TEXT,
    error TEXT,
    created_at INTEGER NOT NULL,
    started_at INTEGER,
    finished_at INTEGER
);
-- At most one queued job per key: enqueueing again returns the queued one.
CREATE UNIQUE INDEX jobs_queued_dedupe ON jobs(dedupe_key) WHERE state = 'queued';
-- The claim query walks only unfinished jobs, in id order.
CREATE INDEX jobs_active ON jobs(id) WHERE state IN ('queued', 'running');
-- Running-job-per-key and recently-created-per-key checks.
CREATE INDEX jobs_dedupe_created ON jobs(dedupe_key, created_at) WHERE dedupe_key IS NOT NULL;
CREATE INDEX jobs_state ON jobs(state, id);
CREATE INDEX jobs_finished ON jobs(finished_at) WHERE state IN ('succeeded', 'failed');
