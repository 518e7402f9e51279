-- Plugin approval: Composer plugins run code inside Composer, so where `plugins:
-- approve` is set a plugin's versions are served only for the major versions an admin
-- approved. `repository` is `private` (packyard's own packages) or a mirror's alias;
-- `major` is a version's first number (`2`), or `dev` for branches.
CREATE TABLE plugin_approvals (
    repository TEXT NOT NULL,
    package TEXT NOT NULL,
    major TEXT NOT NULL,
    approved_by TEXT NOT NULL,
    approved_at {{bigint}} NOT NULL,
    PRIMARY KEY (repository, package, major)
);

-- Pinned mirror archives: the first archive stored for a mirrored (package, reference)
-- fixes its hashes; different bytes for it later are refused.
CREATE TABLE mirror_dist_pins (
    alias TEXT NOT NULL,
    package TEXT NOT NULL,
    reference TEXT NOT NULL,
    sha1 TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    pinned_at {{bigint}} NOT NULL,
    PRIMARY KEY (alias, package, reference)
);
