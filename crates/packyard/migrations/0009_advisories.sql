-- Security advisories that admins publish for private packages, served to
-- `composer audit` through /api/security-advisories/.
CREATE TABLE advisories (
    id {{id}},
    advisory_id TEXT NOT NULL UNIQUE,
    package_id {{bigint}} NOT NULL REFERENCES packages(id) ON DELETE CASCADE,
    affected_versions TEXT NOT NULL,
    title TEXT NOT NULL,
    cve TEXT,
    link TEXT,
    severity TEXT,
    reported_at {{bigint}} NOT NULL,
    created_at {{bigint}} NOT NULL
);
CREATE INDEX advisories_package ON advisories(package_id);
