-- Installs of mirrored packages, per mirror, package, version and day (days since
-- 1970-01-01, UTC): one row each, incremented. Mirrored packages have no row in
-- `packages`, so they are named.
CREATE TABLE mirror_download_days (
    alias TEXT NOT NULL,
    package TEXT NOT NULL,
    version TEXT NOT NULL,
    day {{bigint}} NOT NULL,
    count {{bigint}} NOT NULL,
    PRIMARY KEY (alias, package, version, day)
);
CREATE INDEX mirror_download_days_package ON mirror_download_days(package);
