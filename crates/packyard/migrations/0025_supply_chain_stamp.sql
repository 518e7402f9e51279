-- When a block list or a plugin approval last changed (Unix milliseconds): mirrored
-- documents, which these rules rewrite, are dated no earlier, so that a client's
-- cached copy (If-Modified-Since) is replaced after any change.
CREATE TABLE supply_chain_stamp (
    id {{bigint}} PRIMARY KEY,
    changed_at {{bigint}} NOT NULL
);
INSERT INTO supply_chain_stamp (id, changed_at) VALUES (1, 0);
