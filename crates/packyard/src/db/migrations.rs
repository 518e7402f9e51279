//! Schema migrations: one SQL file per step in `migrations/`, shared by both engines
//! and rendered for the one in use (see [`render`]). Each step not yet recorded in
//! `schema_migrations` is applied, in version order, inside a transaction of its own.
//! Only a step's version is recorded, not its text: a step already applied somewhere is
//! never changed (tests hold each step's rendering to a digest), a new step is added.

use sqlx::AnyConnection;

use super::{Db, Engine};

/// `(version, template)`: the steps, each `migrations/NNNN_name.sql`.
macro_rules! steps {
    ($($version:literal => $file:literal,)*) => {
        &[$(($version, include_str!(concat!("../../migrations/", $file)))),*]
    };
}

const STEPS: &[(i64, &str)] = steps![
    1 => "0001_core.sql",
    2 => "0002_jobs.sql",
    3 => "0003_vcs.sql",
    4 => "0004_mirror.sql",
    5 => "0005_access.sql",
    6 => "0006_tokens.sql",
    7 => "0007_web.sql",
    8 => "0008_download_days.sql",
    9 => "0009_advisories.sql",
    10 => "0010_mirror_downloads.sql",
    11 => "0011_webhooks.sql",
    12 => "0012_security.sql",
    13 => "0013_catalogue_stamp.sql",
];

/// A step's SQL for `engine`. Templates are SQL with two kinds of marks:
///
/// - placeholders for the column types that differ: `{{id}}` (a generated 64-bit
///   primary key: SQLite's `INTEGER PRIMARY KEY` rowid, PostgreSQL's `BIGSERIAL`),
///   `{{id_never_reused}}` (the same, but never given again once its row is deleted:
///   SQLite needs `AUTOINCREMENT` for that), `{{bigint}}` (a 64-bit integer: `INTEGER`,
///   which SQLite needs for a rowid alias, or `BIGINT`) and `{{greatest}}` (the larger
///   of two values: SQLite's two-argument `MAX`, PostgreSQL's `GREATEST`);
/// - lines `{{sqlite}}` or `{{postgres}}` and `{{end}}` around what only one engine
///   runs, where the SQL itself differs (triggers); the file says why.
///
/// Anything else in double braces is a mistake in a template, and panics (every step is
/// rendered for both engines by the tests).
fn render(engine: Engine, template: &str) -> String {
    let mut sql = String::with_capacity(template.len());
    let mut only: Option<Engine> = None;
    for line in template.split_inclusive('\n') {
        let section = match line.trim_end() {
            "{{sqlite}}" => Some(Some(Engine::Sqlite)),
            "{{postgres}}" => Some(Some(Engine::Postgres)),
            "{{end}}" => Some(None),
            _ => None,
        };
        if let Some(section) = section {
            assert!(
                only.is_none() != section.is_none(),
                "migration template: {:?} out of place",
                line.trim_end()
            );
            only = section;
            continue;
        }
        if only.is_none_or(|only| only == engine) {
            sql.push_str(line);
        }
    }
    assert!(
        only.is_none(),
        "migration template: a section lacks its {{{{end}}}}"
    );
    let types: [(&str, &str, &str); 4] = [
        ("{{id}}", "INTEGER PRIMARY KEY", "BIGSERIAL PRIMARY KEY"),
        (
            "{{id_never_reused}}",
            "INTEGER PRIMARY KEY AUTOINCREMENT",
            "BIGSERIAL PRIMARY KEY",
        ),
        ("{{bigint}}", "INTEGER", "BIGINT"),
        ("{{greatest}}", "MAX", "GREATEST"),
    ];
    for (placeholder, sqlite, postgres) in types {
        let value = match engine {
            Engine::Sqlite => sqlite,
            Engine::Postgres => postgres,
        };
        sql = sql.replace(placeholder, value);
    }
    if let Some(at) = sql.find("{{") {
        let rest = &sql[at..];
        let mark = &rest[..rest.find("}}").map_or(rest.len(), |end| end + 2)];
        panic!("migration template: unknown placeholder {mark}");
    }
    sql
}

#[cfg(test)]
pub fn latest() -> i64 {
    STEPS.iter().map(|(version, _)| *version).max().unwrap_or(0)
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
    let mut pending: Vec<&(i64, &str)> = STEPS.iter().filter(|(v, _)| !done.contains(v)).collect();
    pending.sort_by_key(|(version, _)| *version);
    for (version, template) in pending {
        let sql = render(engine, template);
        let mut tx = sqlx::Connection::begin(&mut *connection).await?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A step's statements without its comment lines, blank lines and line ends'
    /// spaces: what a comparison of two renderings of a step looks at.
    fn statements(sql: &str) -> String {
        sql.lines()
            .map(str::trim_end)
            .filter(|line| !line.is_empty() && !line.trim_start().starts_with("--"))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The files each engine's steps were read from before they were merged.
    const SQLITE_BEFORE: &[&str] = &[
        include_str!("../../migrations/sqlite/0001_core.sql"),
        include_str!("../../migrations/sqlite/0002_jobs.sql"),
        include_str!("../../migrations/sqlite/0003_vcs.sql"),
        include_str!("../../migrations/sqlite/0004_mirror.sql"),
        include_str!("../../migrations/sqlite/0005_access.sql"),
        include_str!("../../migrations/sqlite/0006_tokens.sql"),
        include_str!("../../migrations/sqlite/0007_web.sql"),
        include_str!("../../migrations/sqlite/0008_download_days.sql"),
        include_str!("../../migrations/sqlite/0009_advisories.sql"),
        include_str!("../../migrations/sqlite/0010_mirror_downloads.sql"),
        include_str!("../../migrations/sqlite/0011_webhooks.sql"),
        include_str!("../../migrations/sqlite/0012_security.sql"),
        include_str!("../../migrations/sqlite/0013_catalogue_stamp.sql"),
    ];
    const POSTGRES_BEFORE: &[&str] = &[
        include_str!("../../migrations/postgres/0001_core.sql"),
        include_str!("../../migrations/postgres/0002_jobs.sql"),
        include_str!("../../migrations/postgres/0003_vcs.sql"),
        include_str!("../../migrations/postgres/0004_mirror.sql"),
        include_str!("../../migrations/postgres/0005_access.sql"),
        include_str!("../../migrations/postgres/0006_tokens.sql"),
        include_str!("../../migrations/postgres/0007_web.sql"),
        include_str!("../../migrations/postgres/0008_download_days.sql"),
        include_str!("../../migrations/postgres/0009_advisories.sql"),
        include_str!("../../migrations/postgres/0010_mirror_downloads.sql"),
        include_str!("../../migrations/postgres/0011_webhooks.sql"),
        include_str!("../../migrations/postgres/0012_security.sql"),
        include_str!("../../migrations/postgres/0013_catalogue_stamp.sql"),
    ];

    #[test]
    fn every_step_renders_as_the_file_it_replaced() {
        use sha2::Digest;
        assert_eq!(STEPS.len(), SQLITE_BEFORE.len());
        for (engine, before) in [
            (Engine::Sqlite, SQLITE_BEFORE),
            (Engine::Postgres, POSTGRES_BEFORE),
        ] {
            for ((version, template), before) in STEPS.iter().zip(before) {
                let rendered = statements(&render(engine, template));
                assert_eq!(rendered, statements(before), "{engine:?} step {version}");
                println!(
                    "{engine:?} {version} {}",
                    hex::encode(sha2::Sha256::digest(rendered.as_bytes()))
                );
            }
        }
    }
}
