-- Access control: full-access users, account expiry and update freezes, public
-- packages, groups with grants and members, and a stamp that moves on every change of
-- who may see what, so that replicas notice within seconds.

ALTER TABLE users ADD COLUMN full_access {{bigint}} NOT NULL DEFAULT 0;
-- Users created before access control keep seeing everything: nobody loses access.
UPDATE users SET full_access = 1;
-- Unix milliseconds; NULL = never.
ALTER TABLE users ADD COLUMN expires_at {{bigint}};
ALTER TABLE users ADD COLUMN updates_until {{bigint}};

ALTER TABLE packages ADD COLUMN public {{bigint}} NOT NULL DEFAULT 0;

CREATE TABLE groups (
    id {{id}},
    name TEXT NOT NULL UNIQUE,
    updates_until {{bigint}},
    -- JSON list of mirror aliases the members may use.
    mirrors TEXT NOT NULL DEFAULT '[]',
    created_at {{bigint}} NOT NULL
);

CREATE TABLE group_members (
    group_id {{bigint}} NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    user_id {{bigint}} NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_user ON group_members(user_id);

-- A package name or pattern (`acme/*`), with a Composer constraint or NULL for all.
CREATE TABLE group_grants (
    group_id {{bigint}} NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    package TEXT NOT NULL,
    versions TEXT,
    PRIMARY KEY (group_id, package)
);

CREATE TABLE access_stamp (
    id {{bigint}} PRIMARY KEY CHECK (id = 1),
    changed_at {{bigint}} NOT NULL
);
INSERT INTO access_stamp (id, changed_at) VALUES (1, 0);
