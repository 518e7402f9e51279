-- The audit log (`crate::audit`): every change, sign-in and administrative act, as one
-- hash chain. Entry `seq` carries the hash of entry `seq - 1` (`prev_hash`) and its own
-- (`hash`: SHA-256 of `prev_hash` and the entry's canonical content, see
-- `db::audit::entry_hash`), and is written in the transaction of the change it records.
CREATE TABLE audit_log (
    seq {{bigint}} PRIMARY KEY,
    at {{bigint}} NOT NULL,
    -- user | cli | system | anonymous
    actor_kind TEXT NOT NULL,
    -- The user's name ('' for none).
    actor TEXT NOT NULL,
    -- How the actor proved who it is: 'token NAME', 'session', 'password', 'sso NAME',
    -- 'cli OS-USER', 'job N' ('' for none).
    credential TEXT NOT NULL,
    client_ip TEXT NOT NULL,
    replica TEXT NOT NULL,
    action TEXT NOT NULL,
    object TEXT NOT NULL,
    package TEXT,
    -- JSON, hashed as stored.
    details TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX audit_log_action ON audit_log (action, seq);
CREATE INDEX audit_log_package ON audit_log (package, seq);
CREATE INDEX audit_log_actor ON audit_log (actor, seq);
CREATE INDEX audit_log_at ON audit_log (at);

-- The chain's head, which every audited transaction locks last (so that entries get
-- consecutive numbers across replicas, and no two transactions wait for each other
-- through it), and the anchor retention left: the last pruned entry's number and hash.
CREATE TABLE audit_head (
    id {{bigint}} PRIMARY KEY,
    seq {{bigint}} NOT NULL,
    hash TEXT NOT NULL,
    anchor_seq {{bigint}} NOT NULL,
    anchor_hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash, anchor_seq, anchor_hash) VALUES
    (1, 0, '0000000000000000000000000000000000000000000000000000000000000000',
     0, '0000000000000000000000000000000000000000000000000000000000000000');

-- Archive downloads per day, caller and version: counted, not one row per request
-- (and not in the chain, which records changes).
CREATE TABLE audit_downloads (
    day {{bigint}} NOT NULL,
    actor TEXT NOT NULL,
    credential TEXT NOT NULL,
    package TEXT NOT NULL,
    version TEXT NOT NULL,
    count {{bigint}} NOT NULL,
    PRIMARY KEY (package, version, day, actor, credential)
);
CREATE INDEX audit_downloads_day ON audit_downloads (day);

-- Whether a token's expiry was recorded (`token.expired`): each is recorded once, by
-- whichever replica notices it first.
ALTER TABLE api_tokens ADD COLUMN expiry_recorded {{bigint}} NOT NULL DEFAULT 0;
-- Read every 2 s by each replica: only the tokens whose expiry is still to record.
CREATE INDEX api_tokens_expiry_to_record ON api_tokens (expires_at) WHERE expiry_recorded = 0;
