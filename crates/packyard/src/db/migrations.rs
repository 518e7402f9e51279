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
    14 => "0014_package_stamp_index.sql",
    15 => "0015_sub_repositories.sql",
    16 => "0016_sub_repository_limits.sql",
    17 => "0017_user_email.sql",
    18 => "0018_imported.sql",
    19 => "0019_sso.sql",
    20 => "0020_published_at.sql",
    21 => "0021_retained_dists.sql",
    22 => "0022_blocks.sql",
    23 => "0023_min_release_age.sql",
    24 => "0024_plugins_and_pins.sql",
    25 => "0025_supply_chain_stamp.sql",
    26 => "0026_audit_log.sql",
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

    /// SHA-256 of each step's statements (see [`statements`]) as rendered for SQLite
    /// and for PostgreSQL. Databases out there ran exactly these, and only a step's
    /// version is recorded, so a released step must never change: a change to the
    /// schema is a new step. Steps 1 to 13 are those of the per-engine files the
    /// templates replaced, whose statements they rendered identically.
    const RENDERED: &[(i64, &str, &str)] = &[
        (
            1,
            "2935dcdebd3bedbeefab0a9a054c194787800b010f8689e124817a6a92a31ad9",
            "0cd23391a887eb9d0a5e0b4683867604883b41cd7c6322f16368295aa72ffe2e",
        ),
        (
            2,
            "77063e101b46017b232f197515666dca22edc73d6c11970631350674f8ee4d68",
            "5d79528466d4fe487f9c2d7da0b58cae6ea170ad0c1793e05981060c7527447b",
        ),
        (
            3,
            "5b9d0eb7bf36a34e154c7fa166597ec79ba051825e7736f14ba5267fa497292e",
            "96613b20ef37fe19a4a42d10eb3377ab9dab20d34e125a6742aca353f7f14f6f",
        ),
        (
            4,
            "706e01f8e05cda1f337fc892f5c05bee706c151dcf925ba9ca36d8e2d6859605",
            "d8f1f40ce99dfbcc64d376b247f37eff03434fba69af3d8a2a98f0fccd49c0b8",
        ),
        (
            5,
            "fa8c6382e0022bddbca0ea44a413f8f0cd300774365fa22c43eadd9ea65de321",
            "fa657e0f716360a89eba07295de9a4953859cf082d5604eddd1223aa8db379e9",
        ),
        (
            6,
            "4d7e52f3b5851ad071c9f0e412454a9896c6db0ad82c75fa88bed46ce75bc3cb",
            "3bddc83e55f142490923db218c446d0245b14aeaa3307473674f1f0bf122405e",
        ),
        (
            7,
            "099e8b84c0ff28d154296d340c6ded2b6de4d80cbb9f67882c6807b2bd0f11b9",
            "4f0e4091877921be23132ba89853cc335bd59ce3981545b01d97acc6183267d1",
        ),
        (
            8,
            "0b515f0e3ebd6774fa1cbc9d7697af6cd5d0dc9d7ed8e79389e1bf9d27f8b022",
            "8aff0144c754d5fc9416b4170e8d2a4f8fc94cb79c2f7aecbb24eaa593926b71",
        ),
        (
            9,
            "fd0ae3706e460db2fd6ea330cd436dc03df7a79f3530942d2a1841807057649b",
            "8494db68cc3f32c441edf495d35ebe2cdd5d2a03c399104034792402f8ce6d61",
        ),
        (
            10,
            "e75c0747e4a11dcff7732a4c0bb00d546ce56a7faf24a0203f71d49d65095958",
            "e767e2c7a723756d68b02ff8de90d4cb7395732cabb262931ef4f0bef2b83bb1",
        ),
        (
            11,
            "809e344fc67415e4e37b5b32919fe463c5586ba81f2cce53479692da9b98c9a3",
            "42435473be734a24f1aefe556c8cb78ff75343fc5cbbbac286fefe68e3a22b99",
        ),
        (
            12,
            "a2dec7737573edb74eac8ce372c1ca469a41065626d9482807d234c6dd0d13d2",
            "dd3a2248b561ffdfebc88c3c7b95fc7b1ecf3e5156264a6c6972818cce4d1820",
        ),
        (
            13,
            "21c3eca1fb860a6312430aafe2e7c61e305c0992b63b2745823524e5e9dd18d0",
            "e1a5a6dfb6fee1932eb8be2f4fb0e7c214cab51f02e715c7c05799f8b9e8591b",
        ),
        (
            14,
            "290adc14aa2039809b1c84bc9a4415d032fdee615efb29729edc3418b8a1f0ac",
            "290adc14aa2039809b1c84bc9a4415d032fdee615efb29729edc3418b8a1f0ac",
        ),
        (
            15,
            "1f4ccc4aba1ffc8932cee724d623d1b0a82c32bb6c9e196bc9ab6f46205c9174",
            "384768fd6b6eb8ca843aaed5c0c71f602030466cae636eb0c9415b4bba26e6c8",
        ),
        (
            16,
            "941f3b473238aea94a09fab08d67436eabf25bdcddd30846275ff662481035c4",
            "941f3b473238aea94a09fab08d67436eabf25bdcddd30846275ff662481035c4",
        ),
        (
            17,
            "2e2071cc53cd5278df2e6f923333e410fef221e5b9d3caa263235b80e59cd80f",
            "2e2071cc53cd5278df2e6f923333e410fef221e5b9d3caa263235b80e59cd80f",
        ),
        (
            18,
            "09b09f74e43b8bcdbd7005d3dcb42eea64c2f3adda798f4f89704cc5c59a467f",
            "def1e34a901b6bd50ad8185c25c802e16970cdfe9be96ab36d1e2bff63ca0b21",
        ),
        (
            19,
            "3b64080688ae68c2e380594789c6bb02a99cf8cdbbcee4c306ac6389412a8628",
            "6d0467684db56de4b9f86aabea558c1b9d4cbf10b2ad517782e1b1a64ccca6f0",
        ),
        (
            20,
            "7a8a0ebaf9d12aa1fdd5b523c099e5471112b25be9c33593f34ed0dd76fca59c",
            "f2f0779f9e7015cd8abd444da4ebb272cb7c226758592a279d6c1ff7c0964041",
        ),
        (
            21,
            "4c1f7f34b8e226b0f5e3a53d590ee8ca7df4fb4aa2bd61309829cb8b002fb598",
            "5c3c98617ca35988fa08571cce0447910af2af36d5db202da2c0f379f1d8b1a5",
        ),
        (
            22,
            "b8d9f459996fe0896b1166330716e3daf692190c2d7c13f8124b41750c5e6d43",
            "f16c81108bfda29af8cdd81f656f6d9b590b3fa75c35ecc6061c66af922468aa",
        ),
        (
            23,
            "6e2a96c299dd28dbd314291e038796a1fbda557df2e5032ec462d0fb43267c5c",
            "e82f21e0d9bcc1810cb208384b20440f2d352941d856976d1cb5cd1fc67615e7",
        ),
        (
            24,
            "dada7cdc89f2e40d547775cfb7270e2f38fc82b7aba4056bec5ab66b1eb6c4d1",
            "d4e883ae3421638d5d27eacadc6e3908eb0b38c514fe8ca13bb4150b7da41188",
        ),
        (
            25,
            "4e4530076f8b42fb72c0a24846153f40c848105b425d3c6b77958a9fc2812564",
            "df6421a2689a3c9245bb3208c5b47873c9841e6e1cbabecf704c91eb783951ac",
        ),
        (
            26,
            "889de0da3144601567f29269dc9ebd178d2ae46698fc4378bf9ffdc223aba61b",
            "8bdaec17263233886c6261680eaad8b30f32a4ef1b42f48de2bf71dd1881803d",
        ),
    ];

    fn digest(sql: &str) -> String {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(statements(sql).as_bytes()))
    }

    #[test]
    fn released_steps_render_as_they_always_did() {
        for (version, template) in STEPS {
            let (sqlite, postgres) = (
                digest(&render(Engine::Sqlite, template)),
                digest(&render(Engine::Postgres, template)),
            );
            let Some((_, was_sqlite, was_postgres)) =
                RENDERED.iter().find(|(known, _, _)| known == version)
            else {
                panic!(
                    "step {version} is new: once it is final, add its line to RENDERED: \
                     ({version}, \"{sqlite}\", \"{postgres}\")"
                );
            };
            assert_eq!(
                (sqlite.as_str(), postgres.as_str()),
                (*was_sqlite, *was_postgres),
                "step {version} changed: a released step must stay as it was (add a new one)"
            );
        }
        assert_eq!(
            RENDERED.len(),
            STEPS.len(),
            "RENDERED lists a step that is gone"
        );
    }

    #[test]
    fn sections_and_placeholders_are_rendered_per_engine() {
        let template = "CREATE TABLE t (id {{id}}, n {{bigint}});\n{{sqlite}}\nSELECT 1;\n{{end}}\n\
                        {{postgres}}\nSELECT 2;\n{{end}}\nSELECT {{greatest}}(1, 2);\n";
        assert_eq!(
            render(Engine::Sqlite, template),
            "CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER);\nSELECT 1;\nSELECT MAX(1, 2);\n"
        );
        assert_eq!(
            render(Engine::Postgres, template),
            "CREATE TABLE t (id BIGSERIAL PRIMARY KEY, n BIGINT);\nSELECT 2;\nSELECT GREATEST(1, 2);\n"
        );
    }

    #[test]
    #[should_panic(expected = "unknown placeholder {{integer}}")]
    fn unknown_placeholders_are_refused() {
        render(Engine::Sqlite, "CREATE TABLE t (n {{integer}});");
    }

    #[test]
    #[should_panic(expected = "out of place")]
    fn nested_sections_are_refused() {
        render(
            Engine::Sqlite,
            "{{sqlite}}\n{{postgres}}\n{{end}}\n{{end}}\n",
        );
    }
}
