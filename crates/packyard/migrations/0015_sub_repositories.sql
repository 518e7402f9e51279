-- Sub-repositories: several Composer repositories in one installation, each with its
-- own URL (`/{slug}/…`, or its own host names) and package set. Lists are JSON arrays
-- of strings: package names and `vendor/*` patterns, host names, mirror aliases.
-- A change moves `access_stamp` in the same transaction, as other access changes do.
CREATE TABLE sub_repositories (
    id {{id}},
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    packages TEXT NOT NULL DEFAULT '[]',
    hosts TEXT NOT NULL DEFAULT '[]',
    public {{bigint}} NOT NULL DEFAULT 0,
    mirrors TEXT NOT NULL DEFAULT '[]',
    created_at {{bigint}} NOT NULL
);
