//! Schema migrations, one SQL file per step and engine. Each step not yet recorded in
//! `schema_migrations` is applied, in version order, inside a transaction of its own.

use sqlx::AnyConnection;

use super::{Db, Engine};

const SQLITE: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/sqlite/0001_core.sql")),
    (2, include_str!("../../migrations/sqlite/0002_jobs.sql")),
    (3, include_str!("../../migrations/sqlite/0003_vcs.sql")),
    (4, include_str!("../../migrations/sqlite/0004_mirror.sql")),
    (5, include_str!("../../migrations/sqlite/0005_access.sql")),
    (6, include_str!("../../migrations/sqlite/0006_tokens.sql")),
    (7, include_str!("../../migrations/sqlite/0007_web.sql")),
    (
        8,
        include_str!("../../migrations/sqlite/0008_download_days.sql"),
    ),
    (
        9,
        include_str!("../../migrations/sqlite/0009_advisories.sql"),
    ),
    (
        10,
        include_str!("../../migrations/sqlite/0010_mirror_downloads.sql"),
    ),
    (
        11,
        include_str!("../../migrations/sqlite/0011_webhooks.sql"),
    ),
    (
        12,
        include_str!("../../migrations/sqlite/0012_security.sql"),
    ),
    (
        13,
        include_str!("../../migrations/sqlite/0013_catalogue_stamp.sql"),
    ),
];
const POSTGRES: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/postgres/0001_core.sql")),
    (2, include_str!("../../migrations/postgres/0002_jobs.sql")),
    (3, include_str!("../../migrations/postgres/0003_vcs.sql")),
    (4, include_str!("../../migrations/postgres/0004_mirror.sql")),
    (5, include_str!("../../migrations/postgres/0005_access.sql")),
    (6, include_str!("../../migrations/postgres/0006_tokens.sql")),
    (7, include_str!("../../migrations/postgres/0007_web.sql")),
    (
        8,
        include_str!("../../migrations/postgres/0008_download_days.sql"),
    ),
    (
        9,
        include_str!("../../migrations/postgres/0009_advisories.sql"),
    ),
    (
        10,
        include_str!("../../migrations/postgres/0010_mirror_downloads.sql"),
    ),
    (
        11,
        include_str!("../../migrations/postgres/0011_webhooks.sql"),
    ),
    (
        12,
        include_str!("../../migrations/postgres/0012_security.sql"),
    ),
    (
        13,
        include_str!("../../migrations/postgres/0013_catalogue_stamp.sql"),
    ),
];

fn steps(engine: Engine) -> &'static [(i64, &'static str)] {
    match engine {
        Engine::Sqlite => SQLITE,
        Engine::Postgres => POSTGRES,
    }
}

#[cfg(test)]
pub fn latest(engine: Engine) -> i64 {
    steps(engine)
        .iter()
        .map(|(version, _)| *version)
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
pub async fn applied(db: &Db) -> Result<i64, sqlx::Error> {
    let version: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM schema_migrations")
        .fetch_one(db.pool())
        .await?;
    Ok(version.unwrap_or(0))
}

/// The advisory lock replicas migrating one PostgreSQL database take turns on.
const MIGRATION_LOCK: i64 = 0x7061_636b_7961_7264; // "packyard"

/// Applies every pending step. Replicas starting together on one PostgreSQL database
/// take turns under an advisory lock: without it they race to create the same tables
/// and all but one fail to start.
pub async fn run(db: &Db) -> Result<(), sqlx::Error> {
    let mut connection = db.pool().acquire().await?;
    if db.engine() == Engine::Sqlite {
        return apply_pending(db.engine(), &mut connection).await;
    }
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(MIGRATION_LOCK)
        .fetch_one(&mut *connection)
        .await?;
    if !locked {
        tracing::info!("another process is migrating the database; waiting for it");
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *connection)
            .await?;
    }
    let applied = apply_pending(db.engine(), &mut connection).await;
    let unlocked: Result<bool, sqlx::Error> = sqlx::query_scalar("SELECT pg_advisory_unlock($1)")
        .bind(MIGRATION_LOCK)
        .fetch_one(&mut *connection)
        .await;
    if !matches!(unlocked, Ok(true)) {
        // The lock is the session's: a connection that may still hold it must not go
        // back to the pool. Closing it releases the lock.
        drop(connection.detach());
    }
    applied
}

async fn apply_pending(engine: Engine, connection: &mut AnyConnection) -> Result<(), sqlx::Error> {
    sqlx::raw_sql("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)")
        .execute(&mut *connection)
        .await?;
    let done: Vec<i64> = sqlx::query_scalar("SELECT version FROM schema_migrations")
        .fetch_all(&mut *connection)
        .await?;
    // Every step not yet applied, in version order, whatever order the list is in.
    let mut pending: Vec<&(i64, &str)> = steps(engine)
        .iter()
        .filter(|(v, _)| !done.contains(v))
        .collect();
    pending.sort_by_key(|(version, _)| *version);
    for (version, sql) in pending {
        let mut tx = sqlx::Connection::begin(&mut *connection).await?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(*sql))
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)")
            .bind(*version)
            .bind(super::now_millis())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        tracing::info!(version, "applied database migration");
    }
    Ok(())
}
