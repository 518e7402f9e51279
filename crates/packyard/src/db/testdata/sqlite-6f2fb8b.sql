-- A SQLite database as packyard 6f2fb8b (schema steps 1 to 13) left it, dumped with
-- Python's sqlite3 iterdump: users of every role, a group with grants and members,
-- tokens with scopes and expiry (one used), an uploaded package (public) and two git
-- packages (one with sealed credentials, one with a sealed webhook secret) with their
-- versions and READMEs, two advisories, a mirror approval, installs, a web session, a
-- failed login, and an outgoing webhook with a failed delivery attempt and its queued
-- job. Written through that version's CLI and server; secrets are sealed with
-- PACKYARD_SECRET=upgrade-check-secret-0123456789abcdef. Loaded by
-- db::tests::an_sqlite_database_written_by_an_earlier_version_opens_and_reads_back.
BEGIN TRANSACTION;
CREATE TABLE access_stamp (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    changed_at INTEGER NOT NULL
);
INSERT INTO "access_stamp" VALUES(1,1796614289000);
CREATE TABLE advisories (
    id INTEGER PRIMARY KEY,
    advisory_id TEXT NOT NULL UNIQUE,
    package_id INTEGER NOT NULL REFERENCES packages(id) ON DELETE CASCADE,
    affected_versions TEXT NOT NULL,
    title TEXT NOT NULL,
    cve TEXT,
    link TEXT,
    severity TEXT,
    reported_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
INSERT INTO "advisories" VALUES(1,'PKYSA-6af1-e364-98de',1,'<1.3','Remote code','CVE-2024-0001','https://example.com/a','high',1704153600000,1796614280784);
INSERT INTO "advisories" VALUES(2,'PKYSA-5912-21b1-2684',1,'<1.0','Second',NULL,NULL,NULL,1796614287685,1796614287685);
CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
, name TEXT NOT NULL DEFAULT 'default', scopes TEXT, expires_at INTEGER, last_used_at INTEGER, last_used_from TEXT);
INSERT INTO "api_tokens" VALUES(1,1,'e5df229db78c13c376e324d9b1133cd2f92472426a81f3a9056a1cf9982861cd',1796614267495,'default',NULL,NULL,NULL,NULL);
INSERT INTO "api_tokens" VALUES(2,2,'2b15f138aeff17057c0985bb0c179f929dbfcba7b2a6f56beecd0c71da5b8378',1796614268380,'default',NULL,NULL,NULL,NULL);
INSERT INTO "api_tokens" VALUES(3,3,'fd4c6144d267b84ca27acdb4aff3b38a68728ee6072a86c984378667226b7a51',1796614269241,'default',NULL,NULL,NULL,NULL);
INSERT INTO "api_tokens" VALUES(4,4,'5c8c919f62f339772706a082f5f8aa01398fc2da65154282fefa148a20b83109',1796614270112,'default',NULL,NULL,NULL,NULL);
INSERT INTO "api_tokens" VALUES(5,3,'e7e906e83553d38d7cd8b2a4253128d59a083152adbf891b9488bd79649eb70e',1796614275280,'deploy','["metadata"]',1828150275279,NULL,NULL);
INSERT INTO "api_tokens" VALUES(6,4,'d6c2c43a5ad49e5d4123a4afc5beed9aad5cacb3580673010613b5a43659d0d8',1796614276146,'ci',NULL,NULL,NULL,NULL);
INSERT INTO "api_tokens" VALUES(7,5,'e5c8bc8469d29b72199077356efaddcac8ec31a81841aefc0ed66b5e6af4e499',1796614283726,'default',NULL,NULL,1796614285017,'127.0.0.1');
CREATE TABLE catalogue_stamp (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
, last_stamp INTEGER NOT NULL DEFAULT 0);
INSERT INTO "catalogue_stamp" VALUES(1,7,1796614289000);
CREATE TABLE download_counts (
    package_id INTEGER NOT NULL REFERENCES packages(id) ON DELETE CASCADE,
    version TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (package_id, version)
);
INSERT INTO "download_counts" VALUES(2,'1.0.0.0',1);
INSERT INTO "download_counts" VALUES(1,'1.2.3.0',1);
CREATE TABLE download_days (
    package_id INTEGER NOT NULL REFERENCES packages(id) ON DELETE CASCADE,
    version TEXT NOT NULL,
    day INTEGER NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (package_id, version, day)
);
INSERT INTO "download_days" VALUES(2,'1.0.0.0',20794,1);
INSERT INTO "download_days" VALUES(1,'1.2.3.0',20794,1);
CREATE TABLE group_grants (
    group_id INTEGER NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    package TEXT NOT NULL,
    versions TEXT,
    PRIMARY KEY (group_id, package)
);
INSERT INTO "group_grants" VALUES(1,'acme/*',NULL);
INSERT INTO "group_grants" VALUES(1,'acme/lib','^1.0');
CREATE TABLE group_members (
    group_id INTEGER NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
);
INSERT INTO "group_members" VALUES(1,3);
INSERT INTO "group_members" VALUES(1,4);
CREATE TABLE groups (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    updates_until INTEGER,
    -- JSON list of mirror aliases the members may use.
    mirrors TEXT NOT NULL DEFAULT '[]',
    created_at INTEGER NOT NULL
);
INSERT INTO "groups" VALUES(1,'customers',1925078400000,'["packagist"]',1796614270959);
CREATE TABLE jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed')),
    dedupe_key TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    run_after INTEGER NOT NULL,
    lease_until INTEGER,
    worker TEXT,
    result TEXT,
    error TEXT,
    created_at INTEGER NOT NULL,
    started_at INTEGER,
    finished_at INTEGER
);
INSERT INTO "jobs" VALUES(1,'webhook_delivery','{"delivery":1}','queued','webhook_delivery:1',1,6,1796614297943,NULL,'vm-5021-5c95ac0c',NULL,'could not connect: client error (Connect): tcp connect error: Connection refused (os error 111)',1796614287688,1796614287940,NULL);
CREATE TABLE login_failures (
    subject TEXT NOT NULL,
    failed_at INTEGER NOT NULL
, attempt TEXT);
INSERT INTO "login_failures" VALUES('user:root',1796614285037,'pBPxItnD8s6Km1mbC1sW0FyEJ76molKwrLyQX-7D8rQ');
INSERT INTO "login_failures" VALUES('address:127.0.0.1',1796614285037,'pBPxItnD8s6Km1mbC1sW0FyEJ76molKwrLyQX-7D8rQ');
CREATE TABLE mirror_approvals (
    alias TEXT NOT NULL,
    package TEXT NOT NULL,
    approved_at INTEGER NOT NULL,
    PRIMARY KEY (alias, package)
);
INSERT INTO "mirror_approvals" VALUES('packagist','acme/mirrored',1796614281775);
CREATE TABLE mirror_download_days (
    alias TEXT NOT NULL,
    package TEXT NOT NULL,
    version TEXT NOT NULL,
    day INTEGER NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (alias, package, version, day)
);
CREATE TABLE package_readmes (
    package_id INTEGER PRIMARY KEY REFERENCES packages(id) ON DELETE CASCADE,
    version_normalized TEXT NOT NULL,
    content TEXT NOT NULL
);
INSERT INTO "package_readmes" VALUES(1,'1.2.3.0','# lib

Uploaded.
');
INSERT INTO "package_readmes" VALUES(2,'dev-main','# gitlib

Hello.
x
');
INSERT INTO "package_readmes" VALUES(3,'dev-main','# gitlib

Hello.
x
');
CREATE TABLE packages (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
, repository_url TEXT, repository_key TEXT, credentials TEXT, webhook_secret TEXT, scan_fingerprint TEXT, scanned_at INTEGER, scan_error TEXT, scan_report TEXT, public INTEGER NOT NULL DEFAULT 0);
INSERT INTO "packages" VALUES(1,'acme/lib','artifact',1796614277073,1796614284000,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,1);
INSERT INTO "packages" VALUES(2,'acme/gitlib','vcs',1796614278079,1796614285000,'file:///tmp/wt-db-old/work/repo','/tmp/wt-db-old/work/repo',NULL,'v3:N+UZL+Lga41mMfOPdw55uuHCOAiE66nCNcifsx7Nl9Ko6AIWBaguTex+qPIkNo6CsnU=','8676a7ade8d41cb7a24cccd661b5c26d96390164894a303daeec5faf17cbc95b',1796614278079,NULL,'{"skipped":[],"notices":[]}',0);
INSERT INTO "packages" VALUES(3,'acme/private','vcs',1796614279056,1796614286000,'file:///tmp/wt-db-old/work/repo2','/tmp/wt-db-old/work/repo2','v3:SdfKMtm2NNdOmHmU0lYoThH8DmY+PbvqI9ghUwBQ2DH7zoJTwHXG6E8Qj7quK1N7kCflqEupbMO2RLTbZPsz6P3JPQhgu6bfiE0=',NULL,'4caca44df502e5699438d0d095f0ba86cc3c9983ece4a9c2535e7b1db799f4c8',1796614279056,NULL,'{"skipped":[],"notices":[{"ref":"v1.0.0","reason":"composer.json names the package acme/gitlib; published as acme/private, the name on the default branch"},{"ref":"v1.1.0","reason":"composer.json names the package acme/gitlib; published as acme/private, the name on the default branch"}]}',0);
CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL);
INSERT INTO "schema_migrations" VALUES(1,1796614265707);
INSERT INTO "schema_migrations" VALUES(2,1796614265707);
INSERT INTO "schema_migrations" VALUES(3,1796614265711);
INSERT INTO "schema_migrations" VALUES(4,1796614265711);
INSERT INTO "schema_migrations" VALUES(5,1796614265713);
INSERT INTO "schema_migrations" VALUES(6,1796614265718);
INSERT INTO "schema_migrations" VALUES(7,1796614265719);
INSERT INTO "schema_migrations" VALUES(8,1796614265719);
INSERT INTO "schema_migrations" VALUES(9,1796614265719);
INSERT INTO "schema_migrations" VALUES(10,1796614265720);
INSERT INTO "schema_migrations" VALUES(11,1796614265720);
INSERT INTO "schema_migrations" VALUES(12,1796614265726);
INSERT INTO "schema_migrations" VALUES(13,1796614265727);
CREATE TABLE sealed_values_bound (
    id INTEGER PRIMARY KEY,
    bound_at BIGINT NOT NULL
);
INSERT INTO "sealed_values_bound" VALUES(1,1796614266643);
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    is_admin INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
, is_maintainer INTEGER NOT NULL DEFAULT 0, full_access INTEGER NOT NULL DEFAULT 0, expires_at INTEGER, updates_until INTEGER, password_hash TEXT);
INSERT INTO "users" VALUES(1,'root',1,1796614267495,1,0,NULL,NULL,'$argon2id$v=19$m=19456,t=2,p=1$AdjkfN2voXhVYDVNcI/p6A$cSAxBw7maA1XfTSa96L8dMTCtNLTKfVynhSRZvKgHes');
INSERT INTO "users" VALUES(2,'mia',0,1796614268380,1,0,NULL,NULL,NULL);
INSERT INTO "users" VALUES(3,'carol',0,1796614269241,0,1,4070995200000,1906588800000,NULL);
INSERT INTO "users" VALUES(4,'dave',0,1796614270112,0,0,978393600000,NULL,NULL);
INSERT INTO "users" VALUES(5,'ops',1,1796614283726,1,0,NULL,NULL,NULL);
CREATE TABLE versions (
    id INTEGER PRIMARY KEY,
    package_id INTEGER NOT NULL REFERENCES packages(id) ON DELETE CASCADE,
    version TEXT NOT NULL,
    version_normalized TEXT NOT NULL,
    reference TEXT NOT NULL,
    shasum TEXT NOT NULL,
    dist_store TEXT NOT NULL,
    dist_key TEXT NOT NULL,
    metadata TEXT NOT NULL,
    released_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (package_id, version_normalized)
);
INSERT INTO "versions" VALUES(1,1,'1.2.3','1.2.3.0','9b8d993c6fddc30c3de3d43e327f4d0e4b4bf169','9b8d993c6fddc30c3de3d43e327f4d0e4b4bf169','artifact','9b8d993c6fddc30c3de3d43e327f4d0e4b4bf169.zip','{"license":"MIT","description":"An uploaded library","type":"symfony-bundle"}',1796614277069,1796614277074);
INSERT INTO "versions" VALUES(2,2,'v1.0.0','1.0.0.0','ac2878ffed6da4b76b496bf70de2469ef8167f2b','','dist','acme/gitlib/v1.0.0-ac2878ffed6da4b76b496bf70de2469ef8167f2b.zip','{"license":"MIT","description":"A git package","type":"library","source":{"type":"git","url":"file:///tmp/wt-db-old/work/repo","reference":"ac2878ffed6da4b76b496bf70de2469ef8167f2b"}}',1796614226000,1796614278079);
INSERT INTO "versions" VALUES(3,2,'v1.1.0','1.1.0.0','01414720f267106a392a0097e22da6c89afdeee6','','dist','acme/gitlib/v1.1.0-01414720f267106a392a0097e22da6c89afdeee6.zip','{"license":"MIT","description":"A git package","type":"library","source":{"type":"git","url":"file:///tmp/wt-db-old/work/repo","reference":"01414720f267106a392a0097e22da6c89afdeee6"}}',1796614226000,1796614278079);
INSERT INTO "versions" VALUES(4,2,'dev-main','dev-main','01414720f267106a392a0097e22da6c89afdeee6','','dist','acme/gitlib/dev-main-01414720f267106a392a0097e22da6c89afdeee6.zip','{"license":"MIT","description":"A git package","type":"library","source":{"type":"git","url":"file:///tmp/wt-db-old/work/repo","reference":"01414720f267106a392a0097e22da6c89afdeee6"},"default-branch":true}',1796614226000,1796614278079);
INSERT INTO "versions" VALUES(5,3,'v1.0.0','1.0.0.0','ac2878ffed6da4b76b496bf70de2469ef8167f2b','','dist','acme/private/v1.0.0-ac2878ffed6da4b76b496bf70de2469ef8167f2b.zip','{"license":"MIT","description":"A git package","type":"library","source":{"type":"git","url":"file:///tmp/wt-db-old/work/repo2","reference":"ac2878ffed6da4b76b496bf70de2469ef8167f2b"}}',1796614226000,1796614279056);
INSERT INTO "versions" VALUES(6,3,'v1.1.0','1.1.0.0','01414720f267106a392a0097e22da6c89afdeee6','','dist','acme/private/v1.1.0-01414720f267106a392a0097e22da6c89afdeee6.zip','{"license":"MIT","description":"A git package","type":"library","source":{"type":"git","url":"file:///tmp/wt-db-old/work/repo2","reference":"01414720f267106a392a0097e22da6c89afdeee6"}}',1796614226000,1796614279056);
INSERT INTO "versions" VALUES(7,3,'v2.0.0','2.0.0.0','16476866fe2a42cbec6defa1b1af115c7164548f','','dist','acme/private/v2.0.0-16476866fe2a42cbec6defa1b1af115c7164548f.zip','{"license":"MIT","description":"A git package","type":"library","source":{"type":"git","url":"file:///tmp/wt-db-old/work/repo2","reference":"16476866fe2a42cbec6defa1b1af115c7164548f"}}',1796614265000,1796614279056);
INSERT INTO "versions" VALUES(8,3,'dev-main','dev-main','16476866fe2a42cbec6defa1b1af115c7164548f','','dist','acme/private/dev-main-16476866fe2a42cbec6defa1b1af115c7164548f.zip','{"license":"MIT","description":"A git package","type":"library","source":{"type":"git","url":"file:///tmp/wt-db-old/work/repo2","reference":"16476866fe2a42cbec6defa1b1af115c7164548f"},"default-branch":true}',1796614265000,1796614279056);
CREATE TABLE web_sessions (
    secret_hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL,
    csrf_token TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
INSERT INTO "web_sessions" VALUES('8b3bb75e4d0d8dca30b164d1a1221f97fb44d655b2879e78efe047102f9b18a3',1,'Yizh6ecNKCv0bRFEV7bf1CuVs-7b_dCUrnreOWt3lCE',1796614286771,1796657486771);
CREATE TABLE webhook_attempts (
    id INTEGER PRIMARY KEY,
    delivery_id INTEGER NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
    started_at INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL,
    -- The receiver's HTTP status; NULL when it gave none (refused, timed out).
    status INTEGER,
    -- Why the attempt failed without a status.
    error TEXT,
    -- The first 8 KB of the receiver's answer.
    response TEXT
);
INSERT INTO "webhook_attempts" VALUES(1,1,1796614287942,0,NULL,'could not connect: client error (Connect): tcp connect error: Connection refused (os error 111)',NULL);
CREATE TABLE webhook_deliveries (
    id INTEGER PRIMARY KEY,
    -- What X-Packyard-Delivery carries.
    delivery_id TEXT NOT NULL UNIQUE,
    webhook_id INTEGER NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    event TEXT NOT NULL,
    package TEXT NOT NULL,
    -- The JSON body, exactly as sent (and signed).
    payload TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    -- Set by the first attempt answered with a 2xx.
    delivered_at INTEGER
);
INSERT INTO "webhook_deliveries" VALUES(1,'bc303d95-40c1-43dd-8791-22b5a15ecc53',1,'security_advisory','acme/lib','{"event":"security_advisory","delivery":"bc303d95-40c1-43dd-8791-22b5a15ecc53","hook":"ci","occurred_at":"2026-12-07T03:31:27+00:00","repository":null,"package":{"name":"acme/lib","url":null},"advisory":{"advisoryId":"PKYSA-5912-21b1-2684","packageName":"acme/lib","affectedVersions":"<1.0","title":"Second","sources":[{"name":"packyard","remoteId":"PKYSA-5912-21b1-2684"}],"reportedAt":"2026-12-07 03:31:27","cve":null,"link":null,"severity":null}}',1796614287686,NULL);
CREATE TABLE webhooks (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    url TEXT NOT NULL,
    -- Event names, comma-separated.
    events TEXT NOT NULL,
    -- A package name or '*' pattern; NULL for every package.
    package_pattern TEXT,
    -- The signing secret, sealed with PACKYARD_SECRET.
    secret TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
INSERT INTO "webhooks" VALUES(1,'ci','http://127.0.0.1:59999/hook','new_release,security_advisory','acme/*','v3:VGUGq4NkxF3BUSREXj3wRNTvE+snggTvDKqwTGW1g6C4bb7lWF4PGHyEc6MidIavMIDuyoKZOA==',1796614282753);
CREATE INDEX api_tokens_user ON api_tokens(user_id);
CREATE INDEX versions_reference ON versions(package_id, reference);
CREATE UNIQUE INDEX jobs_queued_dedupe ON jobs(dedupe_key) WHERE state = 'queued';
CREATE INDEX jobs_active ON jobs(id) WHERE state IN ('queued', 'running');
CREATE INDEX jobs_dedupe_created ON jobs(dedupe_key, created_at) WHERE dedupe_key IS NOT NULL;
CREATE INDEX jobs_state ON jobs(state, id);
CREATE INDEX jobs_finished ON jobs(finished_at) WHERE state IN ('succeeded', 'failed');
CREATE INDEX packages_repository_key ON packages(repository_key);
CREATE INDEX group_members_user ON group_members(user_id);
CREATE UNIQUE INDEX api_tokens_user_name ON api_tokens(user_id, name);
CREATE INDEX web_sessions_user ON web_sessions(user_id);
CREATE INDEX login_failures_subject ON login_failures(subject, failed_at);
CREATE INDEX advisories_package ON advisories(package_id);
CREATE INDEX mirror_download_days_package ON mirror_download_days(package);
CREATE INDEX webhook_deliveries_hook ON webhook_deliveries(webhook_id, created_at);
CREATE INDEX webhook_deliveries_created ON webhook_deliveries(created_at);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts(delivery_id);
CREATE TRIGGER catalogue_package_inserted AFTER INSERT ON packages
BEGIN
    UPDATE catalogue_stamp SET version = version + 1 WHERE id = 1;
END;
CREATE TRIGGER catalogue_package_updated AFTER UPDATE ON packages
BEGIN
    UPDATE catalogue_stamp SET version = version + 1 WHERE id = 1;
END;
CREATE TRIGGER catalogue_package_deleted AFTER DELETE ON packages
BEGIN
    UPDATE catalogue_stamp SET version = version + 1 WHERE id = 1;
END;
DELETE FROM "sqlite_sequence";
INSERT INTO "sqlite_sequence" VALUES('jobs',1);
COMMIT;
