CREATE TABLE users (
    id {{id}},
    name TEXT NOT NULL UNIQUE,
    is_admin {{bigint}} NOT NULL DEFAULT 0,
    created_at {{bigint}} NOT NULL
);

CREATE TABLE api_tokens (
    id {{id}},
    user_id {{bigint}} NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL UNIQUE,
    created_at {{bigint}} NOT NULL
);
CREATE INDEX api_tokens_user ON api_tokens(user_id);

CREATE TABLE packages (
    id {{id}},
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    created_at {{bigint}} NOT NULL,
    updated_at {{bigint}} NOT NULL
);

CREATE TABLE versions (
    id {{id}},
    package_id {{bigint}} NOT NULL REFERENCES packages(id) ON DELETE CASCADE,
    version TEXT NOT NULL,
    version_normalized TEXT NOT NULL,
    reference TEXT NOT NULL,
    shasum TEXT NOT NULL,
    dist_store TEXT NOT NULL,
    dist_key TEXT NOT NULL,
    metadata TEXT NOT NULL,
    released_at {{bigint}} NOT NULL,
    updated_at {{bigint}} NOT NULL,
    UNIQUE (package_id, version_normalized)
);
CREATE INDEX versions_reference ON versions(package_id, reference);

CREATE TABLE download_counts (
    package_id {{bigint}} NOT NULL REFERENCES packages(id) ON DELETE CASCADE,
    version TEXT NOT NULL,
    count {{bigint}} NOT NULL,
    PRIMARY KEY (package_id, version)
);
