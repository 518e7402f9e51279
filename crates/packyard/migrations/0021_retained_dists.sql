-- Archives kept downloadable by their reference after their version left the metadata
-- or changed (PACKYARD_IMMUTABLE_VERSIONS): a frozen version whose tag was deleted, an
-- uploaded version an admin replaced with --force. Lock files that name them keep
-- installing the same bytes. `reason` is `tag-deleted` or `replaced`; `retained_by` the
-- admin who forced a replacement.
CREATE TABLE retained_dists (
    package_id {{bigint}} NOT NULL REFERENCES packages(id) ON DELETE CASCADE,
    reference TEXT NOT NULL,
    version TEXT NOT NULL,
    version_normalized TEXT NOT NULL,
    shasum TEXT NOT NULL,
    dist_store TEXT NOT NULL,
    dist_key TEXT NOT NULL,
    released_at {{bigint}} NOT NULL,
    reason TEXT NOT NULL,
    retained_by TEXT,
    retained_at {{bigint}} NOT NULL,
    PRIMARY KEY (package_id, reference)
);
