-- Background jobs (src/jobs.rs, src/db/jobs.rs). Times are Unix milliseconds.
-- BIGSERIAL ids are never reused, which matters because they are shown to users.
CREATE TABLE jobs (
    id BIGSERIAL PRIMARY KEY,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed')),
    dedupe_key TEXT,
    attempts BIGINT NOT NULL DEFAULT 0,
    max_attempts BIGINT NOT NULL,
    run_after BIGINT NOT NULL,
    lease_until BIGINT,
    worker TEXT,
    result TEXT,
    error TEXT,
    created_at BIGINT NOT NULL,
    started_at BIGINT,
    finished_at BIGINT
);
-- At most one queued job per key: enqueueing again returns the queued one.
CREATE UNIQUE INDEX jobs_queued_dedupe ON jobs(dedupe_key) WHERE state = 'queued';
-- The claim query walks only unfinished jobs, in id order.
CREATE INDEX jobs_active ON jobs(id) WHERE state IN ('queued', 'running');
-- Running-job-per-key and recently-created-per-key checks.
CREATE INDEX jobs_dedupe_created ON jobs(dedupe_key, created_at) WHERE dedupe_key IS NOT NULL;
CREATE INDEX jobs_state ON jobs(state, id);
CREATE INDEX jobs_finished ON jobs(finished_at) WHERE state IN ('succeeded', 'failed');
