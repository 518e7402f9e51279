-- Outgoing webhooks: admin-defined hooks, each event's delivery to a hook, and every
-- attempt at it (status and the start of the answer), kept for a week.
CREATE TABLE webhooks (
    id {{id}},
    name TEXT NOT NULL UNIQUE,
    url TEXT NOT NULL,
    -- Event names, comma-separated.
    events TEXT NOT NULL,
    -- A package name or '*' pattern; NULL for every package.
    package_pattern TEXT,
    -- The signing secret, sealed with PACKYARD_SECRET.
    secret TEXT NOT NULL,
    created_at {{bigint}} NOT NULL
);
CREATE TABLE webhook_deliveries (
    id {{id}},
    -- What X-Packyard-Delivery carries.
    delivery_id TEXT NOT NULL UNIQUE,
    webhook_id {{bigint}} NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    event TEXT NOT NULL,
    package TEXT NOT NULL,
    -- The JSON body, exactly as sent (and signed).
    payload TEXT NOT NULL,
    created_at {{bigint}} NOT NULL,
    -- Set by the first attempt answered with a 2xx.
    delivered_at {{bigint}}
);
CREATE INDEX webhook_deliveries_hook ON webhook_deliveries(webhook_id, created_at);
CREATE INDEX webhook_deliveries_created ON webhook_deliveries(created_at);
CREATE TABLE webhook_attempts (
    id {{id}},
    delivery_id {{bigint}} NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
    started_at {{bigint}} NOT NULL,
    duration_ms {{bigint}} NOT NULL,
    -- The receiver's HTTP status; NULL when it gave none (refused, timed out).
    status {{bigint}},
    -- Why the attempt failed without a status.
    error TEXT,
    -- The first 8 KB of the receiver's answer.
    response TEXT
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts(delivery_id);
