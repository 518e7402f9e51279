-- Git packages: where a package comes from, how to reach it, and what the last scan saw.
ALTER TABLE packages ADD COLUMN repository_url TEXT;
-- Normalized form of repository_url (no scheme, credentials or .git), to match webhooks.
ALTER TABLE packages ADD COLUMN repository_key TEXT;
-- Credentials for the repository, encrypted with PACKYARD_SECRET.
ALTER TABLE packages ADD COLUMN credentials TEXT;
ALTER TABLE packages ADD COLUMN webhook_secret TEXT;
ALTER TABLE packages ADD COLUMN scan_fingerprint TEXT;
ALTER TABLE packages ADD COLUMN scanned_at {{bigint}};
ALTER TABLE packages ADD COLUMN scan_error TEXT;
-- JSON list of {"ref", "reason"} for refs the last scan skipped.
ALTER TABLE packages ADD COLUMN scan_report TEXT;
CREATE INDEX packages_repository_key ON packages(repository_key);

ALTER TABLE users ADD COLUMN is_maintainer {{bigint}} NOT NULL DEFAULT 0;
