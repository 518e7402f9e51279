-- Installs per package, version and day (days since 1970-01-01, UTC): one row per
-- package, version and day, incremented; never one row per install.
CREATE TABLE download_days (
    package_id {{bigint}} NOT NULL REFERENCES packages(id) ON DELETE CASCADE,
    version TEXT NOT NULL,
    day {{bigint}} NOT NULL,
    count {{bigint}} NOT NULL,
    PRIMARY KEY (package_id, version, day)
);
