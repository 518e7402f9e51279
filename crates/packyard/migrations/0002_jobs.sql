-- Background jobs (src/jobs.rs, src/db/jobs.rs). Times are Unix milliseconds.
-- Ids are shown to users (`GET /api/jobs/{id}`) and must never be reused after old jobs
-- are pruned: AUTOINCREMENT in SQLite (a plain rowid reuses the highest id once its row
-- is deleted); PostgreSQL's sequences never go back.
CREATE TABLE jobs (
    id {{id_never_reused}},
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed')),
    dedupe_key TEXT,
    attempts {{bigint}} NOT NULL DEFAULT 0,
    max_attempts {{bigint}} NOT NULL,
    run_after {{bigint}} NOT NULL,
    lease_until {{bigint}},
    worker TEXT,
    result TEXT,
    error TEXT,
    created_at {{bigint}} NOT NULL,
    started_at {{bigint}},
    finished_at {{bigint}}
);
-- At most one queued job per key: enqueueing again returns the queued one.
CREATE UNIQUE INDEX jobs_queued_dedupe ON jobs(dedupe_key) WHERE state = 'queued';
-- The claim query walks only unfinished jobs, in id order.
CREATE INDEX jobs_active ON jobs(id) WHERE state IN ('queued', 'running');
-- Running-job-per-key and recently-created-per-key checks.
CREATE INDEX jobs_dedupe_created ON jobs(dedupe_key, created_at) WHERE dedupe_key IS NOT NULL;
CREATE INDEX jobs_state ON jobs(state, id);
CREATE INDEX jobs_finished ON jobs(finished_at) WHERE state IN ('succeeded', 'failed');
