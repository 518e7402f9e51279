//! The database: SQLite (embedded default) or PostgreSQL, through sqlx's `Any` driver so
//! that one set of queries serves both. Queries use `$N` placeholders, which both engines
//! accept; integers are 64-bit everywhere (flags are 0/1, times are Unix milliseconds).

mod access;
mod advisories;
pub mod audit;
mod blocks;
pub use blocks::{BlockRow, NewBlock};
mod columns;
mod downloads;
mod git_packages;
mod identities;
mod jobs;
mod migrations;
mod mirror;
mod packages;
mod plugins;
pub use plugins::{DistPin, PluginApproval};
mod retained;
pub use retained::{RetainReason, RetainedDist};
mod sealed;
pub use sealed::{Reseal, SealedColumn, SealedValue};
mod imported;
mod subrepos;
pub use subrepos::{SubRepositoryFields, SubRepositoryRow};
mod tokens;
mod users;
mod web;
mod webhooks;

pub use access::{AccessRules, GroupChange, GroupRow};
pub use advisories::AdvisoryRow;
pub use downloads::DAY_MS;
pub use git_packages::{
    ChangeKind, GitPackage, HeldVersion, NewGitPackage, ScanChanges, ScanRecord, VersionChange,
};
pub use identities::{IdentityRow, PendingSignIn};
pub use jobs::{JobOutcome, JobRow, JobState, NewJob};
pub use packages::{PackageKind, PackageStamp, UnknownPackageKind, VersionRecord};
pub use tokens::TokenRow;
pub use users::{Membership, ROOT_SUB_REPOSITORY, Role, User, UserChange};
pub use web::{LoginFailures, Session};
pub use webhooks::{AttemptRow, DeliveryRow, NewWebhook, WebhookRow};

use std::time::Duration;

use anyhow::Context;
use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone)]
pub struct Db {
    pool: AnyPool,
    engine: Engine,
}

impl Db {
    /// Connects and brings the schema up to date.
    pub async fn open(url: &str) -> anyhow::Result<Db> {
        let db = Db::connect(url).await?;
        migrations::run(&db)
            .await
            .context("applying database migrations")?;
        Ok(db)
    }

    /// Connects to a database whose schema is up to date, with a pool of its own: for
    /// the last writes at shutdown, when the serving threads' runtimes (on which some of
    /// the main pool's connections were made, and which drive them) are gone.
    pub async fn connect(url: &str) -> anyhow::Result<Db> {
        sqlx::any::install_default_drivers();
        let engine = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Engine::Postgres
        } else if url.starts_with("sqlite:") {
            Engine::Sqlite
        } else {
            anyhow::bail!(
                "DATABASE_URL: unsupported scheme in {:?} (use postgres:// or sqlite://)",
                crate::redact::redacted(url)
            );
        };
        if engine == Engine::Sqlite {
            create_sqlite_parent_dir(url)?;
        }
        let pool = AnyPoolOptions::new()
            // SQLite allows one writer at a time; a small pool avoids lock convoys.
            .max_connections(if engine == Engine::Sqlite { 4 } else { 16 })
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if engine == Engine::Sqlite {
                        // WAL lets readers proceed during a write; busy_timeout makes a
                        // writer wait for the lock instead of failing at once. It comes
                        // first: setting the journal mode takes a lock too, and another
                        // process (the server, when a CLI command starts) may hold it.
                        sqlx::raw_sql("PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;")
                            .execute(conn)
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect(url)
            .await
            .with_context(|| format!("DATABASE_URL: cannot connect to {}", crate::redact::redacted(url)))?;
        Ok(Db { pool, engine })
    }

    pub fn engine(&self) -> Engine {
        self.engine
    }

    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map(drop)
    }

    /// Closes the pool's connections, waiting for those in use.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The rows `select` (a query without `WHERE`) reads, only those whose `column` is
    /// `value` when one is given, in `order` (an `ORDER BY` clause): the lists an admin
    /// narrows to a package or a repository.
    pub(super) async fn rows_where<T>(
        &self,
        select: &str,
        column: &str,
        value: Option<&str>,
        order: &str,
    ) -> Result<Vec<T>, sqlx::Error>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> + Send + Unpin,
    {
        match value {
            Some(value) => {
                sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "{select} WHERE {column} = $1 {order}"
                )))
                .bind(value)
                .fetch_all(self.pool())
                .await
            }
            None => {
                sqlx::query_as(sqlx::AssertSqlSafe(format!("{select} {order}")))
                    .fetch_all(self.pool())
                    .await
            }
        }
    }
}

/// `result` with the transaction it ran in, or its error after rolling `tx` back at once:
/// SQLite keeps a failed statement's write lock until the connection is next used,
/// which is when a transaction dropped without a rollback is rolled back.
pub(crate) async fn or_roll_back<T>(
    tx: sqlx::Transaction<'static, sqlx::Any>,
    result: Result<T, sqlx::Error>,
) -> Result<(sqlx::Transaction<'static, sqlx::Any>, T), sqlx::Error> {
    match result {
        Ok(value) => Ok((tx, value)),
        Err(error) => {
            tx.rollback().await?;
            Err(error)
        }
    }
}

pub fn is_unique_violation(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .is_some_and(sqlx::error::DatabaseError::is_unique_violation)
}

/// Whether `error` is PostgreSQL giving up on a transaction that may succeed when run
/// again: a deadlock it broke (`40P01`) or a serialization failure (`40001`).
pub fn is_transient(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .and_then(sqlx::error::DatabaseError::code)
        .is_some_and(|code| code == "40P01" || code == "40001")
}

/// Runs the transaction `run` makes, again (twice at most, after a short pause) when
/// the database rolled it back as transient ([`is_transient`]): for writes that replicas
/// make to the same rows at the same moment, where such a rollback is no one's failure.
/// `run` must begin its own transaction, so that each try starts afresh.
pub(crate) async fn retry_transient<T, F, Fut>(mut run: F) -> Result<T, sqlx::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, sqlx::Error>>,
{
    const RETRIES: u64 = 2;
    let mut tries = 0;
    loop {
        match run().await {
            Err(error) if tries < RETRIES && is_transient(&error) => {
                tries += 1;
                tracing::info!(%error, "a transaction was rolled back by the database; running it again");
                tokio::time::sleep(std::time::Duration::from_millis(20 * tries)).await;
            }
            done => return done,
        }
    }
}

pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

fn create_sqlite_parent_dir(url: &str) -> anyhow::Result<()> {
    let path = url
        .trim_start_matches("sqlite:")
        .trim_start_matches("//")
        .split('?')
        .next()
        .unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return Ok(());
    }
    if let Some(parent) = std::path::Path::new(path)
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod testing {
    //! Databases for tests: a fresh SQLite file, and a fresh PostgreSQL database when
    //! `PACKYARD_TEST_POSTGRES` names a server (scripts/test starts one and sets it).

    use super::Db;

    /// A package name for tests.
    pub fn package(name: &str) -> composer::package_name::PackageName {
        composer::package_name::PackageName::parse(name).expect("a valid package name")
    }

    pub async fn sqlite() -> (Db, TempDir) {
        let dir = TempDir::new();
        let url = format!("sqlite://{}?mode=rwc", dir.0.join("test.db").display());
        (Db::open(&url).await.unwrap(), dir)
    }

    /// A fresh PostgreSQL database, or `None` (with the reason printed) when no server
    /// is configured outside scripts/test.
    pub async fn postgres() -> Option<Db> {
        if testkit::skip_for_want_of(&[testkit::Need::Postgres]) {
            return None;
        }
        Some(Db::open(&empty_postgres_database().await).await.unwrap())
    }

    /// The URL of a new, empty database on the PostgreSQL server scripts/test started.
    pub async fn empty_postgres_database() -> String {
        let server = std::env::var("PACKYARD_TEST_POSTGRES").expect("PACKYARD_TEST_POSTGRES");
        let name = format!("packyard_test_{}", unique_suffix());
        let admin = Db::open_raw(&format!("{server}/postgres")).await;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&admin)
            .await
            .unwrap();
        format!("{server}/{name}")
    }

    /// Both engines, so each DB test runs on both (SQLite alone, with the reason
    /// printed, when no PostgreSQL server is configured outside scripts/test).
    pub async fn engines() -> Vec<(Db, Option<TempDir>)> {
        let (sqlite, dir) = sqlite().await;
        let mut engines = vec![(sqlite, Some(dir))];
        if let Some(postgres) = postgres().await {
            engines.push((postgres, None));
        }
        engines
    }

    impl Db {
        pub(crate) async fn open_raw(url: &str) -> sqlx::AnyPool {
            sqlx::any::install_default_drivers();
            sqlx::AnyPool::connect(url).await.unwrap()
        }
    }

    /// A version of an uploaded archive named by `reference`, for tests to adjust.
    pub fn artifact_version(version: &str, reference: &str) -> super::VersionRecord {
        super::VersionRecord {
            version: version.into(),
            version_normalized: format!("{version}.0"),
            reference: reference.into(),
            shasum: reference.into(),
            dist_store: storage::StoreName::Artifact,
            dist_key: format!("{reference}.zip"),
            metadata: "{}".into(),
            released_at: 1_700_000_000_000,
            published_at: 0,
        }
    }

    pub fn unique_suffix() -> String {
        use std::sync::atomic::{AtomicU32, Ordering};
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        format!(
            "{}_{}_{}",
            std::process::id(),
            super::now_millis(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        )
    }

    pub struct TempDir(pub std::path::PathBuf);

    impl TempDir {
        pub fn new() -> Self {
            let path = std::env::temp_dir().join(format!("packyard-test-{}", unique_suffix()));
            std::fs::create_dir_all(&path).unwrap();
            TempDir(path)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn unknown_schemes_are_refused() {
        let error = Db::open("mysql://localhost/x")
            .await
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("DATABASE_URL"), "{error}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn replicas_starting_together_on_an_empty_postgres_database_all_start() {
        if testkit::skip_for_want_of(&[testkit::Need::Postgres]) {
            return;
        }
        for round in 0..3 {
            let url = testing::empty_postgres_database().await;
            let opened = futures_util::future::join_all((0..4).map(|_| Db::open(&url))).await;
            for db in opened {
                let db = db.unwrap_or_else(|e| panic!("round {round}: {e:#}"));
                assert_eq!(
                    migrations::applied(&db).await.unwrap(),
                    migrations::latest()
                );
            }
        }
    }

    /// The schema of an SQLite database, as `sqlite_master` holds it: the statements
    /// that made each table, index and trigger, as they were written.
    async fn sqlite_schema(db: &Db) -> Vec<(String, String, String)> {
        sqlx::query_as(
            "SELECT type, name, COALESCE(sql, '') FROM sqlite_master ORDER BY type, name",
        )
        .fetch_all(db.pool())
        .await
        .unwrap()
    }

    /// What differs between the SQLite and the PostgreSQL database an earlier version
    /// wrote (see `testdata/`): secrets and times.
    struct Written {
        used_token_hash: &'static str,
        session_hash: &'static str,
        csrf: &'static str,
        root_failed_at: i64,
    }

    /// Every kind of row the fixtures in `testdata/` hold, read back.
    async fn reads_back(db: &Db, written: &Written) {
        let users = db.users().await.unwrap();
        let names: Vec<&str> = users.iter().map(|u| u.name.as_str()).collect();
        assert_eq!(names, ["carol", "dave", "mia", "ops", "root"]);
        let carol = &users[0];
        assert!(carol.full_access && !carol.is_admin && !carol.is_maintainer);
        assert_eq!(
            (carol.expires_at, carol.updates_until),
            (Some(4_070_995_200_000), Some(1_906_588_800_000))
        );
        assert!(users[2].is_maintainer && !users[2].is_admin);
        assert!(users[4].is_admin && users[4].is_maintainer && !users[4].full_access);
        assert!(users[1].is_expired(now_millis()));

        let rules = db.access_rules().await.unwrap();
        assert_eq!(rules.groups.len(), 1);
        let group = &rules.groups[0];
        assert_eq!(group.mirrors, ["packagist"]);
        assert_eq!(group.members, ["carol", "dave"]);
        assert_eq!(
            group.grants,
            [
                ("acme/*".to_owned(), None),
                ("acme/lib".to_owned(), Some("^1.0".to_owned()))
            ]
        );
        assert_eq!(group.updates_until, Some(1_925_078_400_000));
        assert_eq!(rules.memberships[&carol.id], [group.id]);
        assert_eq!(
            rules.public_packages.into_iter().collect::<Vec<_>>(),
            ["acme/lib"]
        );

        let tokens = db.tokens_of("carol").await.unwrap().unwrap();
        let tokens: Vec<(&str, String)> = tokens
            .iter()
            .map(|t| (t.name.as_str(), t.scopes.to_string()))
            .collect();
        assert_eq!(
            tokens,
            [
                ("default", "all scopes".to_owned()),
                ("deploy", "metadata".to_owned())
            ]
        );
        let (owner, token) = db
            .token_owner(written.used_token_hash)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (owner.name.as_str(), token.name.as_str()),
            ("ops", "default")
        );
        assert_eq!(token.last_used_from.as_deref(), Some("127.0.0.1"));
        let root = db.user_credentials("root").await.unwrap().unwrap();
        assert_eq!(root.tokens.len(), 1);
        let (_, password) = db.user_with_password("root").await.unwrap().unwrap();
        assert!(password.unwrap().starts_with("$argon2id$"));

        let (lib, versions) = db.package_with_versions("acme/lib").await.unwrap().unwrap();
        assert_eq!(lib.kind, PackageKind::Artifact);
        assert_eq!(versions.len(), 1);
        assert_eq!(versions[0].dist_store, storage::StoreName::Artifact);
        let (gitlib, versions) = db
            .package_with_versions("acme/gitlib")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(gitlib.kind, PackageKind::Git);
        assert!(
            versions
                .iter()
                .all(|v| v.dist_store == storage::StoreName::Dist)
        );
        assert_eq!(versions.len(), 3);
        let git = db.git_package("acme/gitlib").await.unwrap().unwrap();
        assert_eq!(git.repository_url, "file:///tmp/wt-db-old/work/repo");
        assert!(git.webhook_secret.unwrap().starts_with("v3:"));
        let private = db.git_package("acme/private").await.unwrap().unwrap();
        assert!(private.credentials.unwrap().starts_with("v3:"));
        assert_eq!(db.all_versions().await.unwrap().len(), 8);
        let overview = db.package_overview().await.unwrap();
        assert_eq!(overview.len(), 3);
        assert_eq!(db.newest_releases().await.unwrap().len(), 3);
        assert_eq!(
            db.readme("acme/lib").await.unwrap().unwrap().0,
            "1.2.3.0".to_owned()
        );
        assert_eq!(
            db.download_counts(&crate::db::testing::package("acme/lib"))
                .await
                .unwrap(),
            [("1.2.3.0".to_owned(), 1)]
        );
        assert!(
            db.is_mirrored_package_approved("packagist", "acme/mirrored")
                .await
                .unwrap()
        );

        let advisories = db.advisories(None).await.unwrap();
        assert_eq!(advisories.len(), 2);
        assert_eq!(advisories[0].cve.as_deref(), Some("CVE-2024-0001"));
        assert_eq!(advisories[0].reported_at, 1_704_153_600_000);

        let hooks = db.webhooks().await.unwrap();
        assert_eq!(hooks[0].events, ["new_release", "security_advisory"]);
        assert_eq!(hooks[0].package_pattern.as_deref(), Some("acme/*"));
        let deliveries = db.deliveries("ci", 10).await.unwrap();
        assert_eq!(deliveries.len(), 1);
        let (delivery, attempts) = &deliveries[0];
        assert_eq!(delivery.event, "security_advisory");
        assert_eq!(delivery.delivered_at, None);
        assert_eq!((attempts.len(), attempts[0].status), (1, None));

        let jobs = db.jobs(None, 10).await.unwrap();
        assert_eq!(jobs.len(), 1);
        assert_eq!(
            (jobs[0].kind.as_str(), jobs[0].state, jobs[0].attempts),
            ("webhook_delivery", JobState::Queued, 1)
        );
        assert_eq!(db.job_counts().await.unwrap(), [(JobState::Queued, 1)]);

        let sealed = db.sealed_values().await.unwrap();
        assert_eq!(sealed.len(), 3);
        assert!(db.sealed_values_bound().await.unwrap());

        // The session ended long ago; moved on, it is found again.
        sqlx::query("UPDATE web_sessions SET expires_at = $1")
            .bind(i64::MAX)
            .execute(db.pool())
            .await
            .unwrap();
        let session = db.session(written.session_hash).await.unwrap().unwrap();
        assert_eq!(session.user.name, "root");
        assert_eq!(session.csrf_token, written.csrf);
        let failures = db.login_failures("user:root", 0, None).await.unwrap();
        assert_eq!(
            (failures.count, failures.oldest),
            (1, Some(written.root_failed_at))
        );

        // And it takes writes.
        db.save_version(
            "acme/lib",
            PackageKind::Artifact,
            &testing::artifact_version("1.3.0", "new"),
        )
        .await
        .unwrap();
        assert!(db.catalogue_version().await.unwrap() > 7);
    }

    /// The database at `url` after running `statements` on it (a dump an earlier version
    /// wrote), opened: the steps it lacked applied, none left pending.
    async fn opened_after(url: &str, statements: &[&'static str]) -> Db {
        let pool = Db::open_raw(url).await;
        {
            // One connection for all: a PRAGMA holds for its connection only.
            let mut loading = pool.acquire().await.unwrap();
            for statement in statements {
                sqlx::raw_sql(*statement)
                    .execute(&mut *loading)
                    .await
                    .unwrap();
            }
        }
        pool.close().await;
        let db = Db::open(url).await.unwrap();
        assert_eq!(
            migrations::applied(&db).await.unwrap(),
            migrations::latest()
        );
        db
    }

    /// A database that an earlier version migrated and wrote to (see the fixture's
    /// header) opens with no step to apply, has the schema a new one gets, and reads
    /// back through every kind of row.
    #[tokio::test]
    async fn an_sqlite_database_written_by_an_earlier_version_opens_and_reads_back() {
        let dir = testing::TempDir::new();
        let url = format!("sqlite://{}?mode=rwc", dir.0.join("old.db").display());
        // The dump lists tables by name, not in the order their references need.
        let db = opened_after(
            &url,
            &[
                "PRAGMA foreign_keys = OFF",
                include_str!("testdata/sqlite-6f2fb8b.sql"),
            ],
        )
        .await;
        let (fresh, _fresh_dir) = testing::sqlite().await;
        assert_eq!(sqlite_schema(&db).await, sqlite_schema(&fresh).await);
        let written = Written {
            used_token_hash: "e5c8bc8469d29b72199077356efaddcac8ec31a81841aefc0ed66b5e6af4e499",
            session_hash: "8b3bb75e4d0d8dca30b164d1a1221f97fb44d655b2879e78efe047102f9b18a3",
            csrf: "Yizh6ecNKCv0bRFEV7bf1CuVs-7b_dCUrnreOWt3lCE",
            root_failed_at: 1_796_614_285_037,
        };
        reads_back(&db, &written).await;
    }

    /// The schema of a PostgreSQL database: columns, indexes, constraints, triggers
    /// and functions, as the server describes them.
    async fn postgres_schema(db: &Db) -> Vec<(String, String, String)> {
        sqlx::query_as(
            "SELECT 'column', CAST(table_name AS TEXT) || '.' || CAST(column_name AS TEXT), \
               CAST(data_type AS TEXT) || ' ' || CAST(is_nullable AS TEXT) || ' ' \
               || COALESCE(CAST(column_default AS TEXT), '') \
             FROM information_schema.columns WHERE table_schema = 'public' \
             UNION ALL SELECT 'index', CAST(indexname AS TEXT), indexdef \
             FROM pg_indexes WHERE schemaname = 'public' \
             UNION ALL SELECT 'constraint', CAST(conrelid::regclass AS TEXT) || '.' || CAST(conname AS TEXT), \
               pg_get_constraintdef(oid) FROM pg_constraint WHERE connamespace = 'public'::regnamespace \
             UNION ALL SELECT 'trigger', CAST(tgname AS TEXT), pg_get_triggerdef(oid) \
             FROM pg_trigger WHERE NOT tgisinternal \
             UNION ALL SELECT 'function', CAST(proname AS TEXT), pg_get_functiondef(oid) \
             FROM pg_proc WHERE pronamespace = 'public'::regnamespace \
             ORDER BY 1, 2",
        )
        .fetch_all(db.pool())
        .await
        .unwrap()
    }

    /// The same for PostgreSQL (see `testdata/postgres-6f2fb8b.sql`).
    #[tokio::test]
    async fn a_postgres_database_written_by_an_earlier_version_opens_and_reads_back() {
        if testkit::skip_for_want_of(&[testkit::Need::Postgres]) {
            return;
        }
        let url = testing::empty_postgres_database().await;
        let db = opened_after(&url, &[include_str!("testdata/postgres-6f2fb8b.sql")]).await;
        let fresh = testing::postgres().await.unwrap();
        let (schema, fresh_schema) = (postgres_schema(&db).await, postgres_schema(&fresh).await);
        assert!(schema.len() > 100, "{schema:?}");
        assert_eq!(schema, fresh_schema);
        let written = Written {
            used_token_hash: "10c8d3a4da9a49db3e5b6d2e1f9b5bf0191091f66077ee6374ca3ac0e1eb4b76",
            session_hash: "b36a0d7677a18fe2588060ab639455ef709090157971248e29095dc715534e16",
            csrf: "J3AM7I3B90fSSpeWFLVDeS1NqOtM-mE7VGAFUH83HdM",
            root_failed_at: 1_796_614_398_444,
        };
        reads_back(&db, &written).await;
    }

    #[tokio::test]
    async fn migrations_are_idempotent_on_both_engines() {
        for (db, _dir) in testing::engines().await {
            migrations::run(&db).await.unwrap();
            let applied = migrations::applied(&db).await.unwrap();
            assert_eq!(applied, migrations::latest(), "{:?}", db.engine());
        }
    }
}
