-- The web UI: passwords (argon2id PHC strings; NULL for API-only users, who cannot log
-- in), sessions every replica sees (stored as the hash of the cookie's secret), and
-- failed logins, counted per user name and per address to slow down guessing.
ALTER TABLE users ADD COLUMN password_hash TEXT;
CREATE TABLE web_sessions (
    secret_hash TEXT PRIMARY KEY,
    user_id {{bigint}} NOT NULL,
    csrf_token TEXT NOT NULL,
    created_at {{bigint}} NOT NULL,
    expires_at {{bigint}} NOT NULL
);
CREATE INDEX web_sessions_user ON web_sessions(user_id);
CREATE TABLE login_failures (
    subject TEXT NOT NULL,
    failed_at {{bigint}} NOT NULL
);
CREATE INDEX login_failures_subject ON login_failures(subject, failed_at);
-- Each package's README as the web UI shows it: the default branch's for git
-- packages, the newest upload's for uploaded ones, with the version it came from.
CREATE TABLE package_readmes (
    package_id {{bigint}} PRIMARY KEY REFERENCES packages(id) ON DELETE CASCADE,
    version_normalized TEXT NOT NULL,
    content TEXT NOT NULL
);
