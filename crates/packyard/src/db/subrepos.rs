//! Sub-repositories: rows of `sub_repositories`. Every change commits with the access
//! stamp moved (`commit_access_change`), so that each replica reloads them with the
//! access rules.

use sqlx::FromRow;

use super::access::commit_access_change;
use super::audit::Change;
use super::columns::{Flag, JsonNames, NullableJsonNames};
use super::{Db, now_millis};

/// A sub-repository as stored.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct SubRepositoryRow {
    pub id: i64,
    pub slug: String,
    pub name: String,
    /// Package names and `vendor/*` patterns.
    #[sqlx(try_from = "JsonNames")]
    pub packages: Vec<String>,
    #[sqlx(try_from = "JsonNames")]
    pub hosts: Vec<String>,
    #[sqlx(try_from = "Flag")]
    pub public: bool,
    #[sqlx(try_from = "JsonNames")]
    pub mirrors: Vec<String>,
    pub created_at: i64,
}

/// What `add` and `set` store; checked by the caller (`access::subrepos`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubRepositoryFields {
    pub name: String,
    pub packages: Vec<String>,
    pub hosts: Vec<String>,
    pub public: bool,
    pub mirrors: Vec<String>,
}

impl SubRepositoryFields {
    /// The audit record of storing these fields under `slug`.
    fn change(&self, action: &'static str, slug: &str) -> Change {
        Change::new(action, slug)
            .detail("name", &self.name)
            .detail("packages", &self.packages)
            .detail("hosts", &self.hosts)
            .detail("public", self.public)
            .detail("mirrors", &self.mirrors)
    }
}

pub(super) const COLUMNS: &str = "id, slug, name, packages, hosts, public, mirrors, created_at";

fn json(list: &[String]) -> String {
    serde_json::to_string(list).expect("a list of strings serializes")
}

impl Db {
    /// Every sub-repository, by slug.
    pub async fn sub_repositories(&self) -> Result<Vec<SubRepositoryRow>, sqlx::Error> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM sub_repositories ORDER BY slug"
        )))
        .fetch_all(self.pool())
        .await
    }

    pub async fn sub_repository(
        &self,
        slug: &str,
    ) -> Result<Option<SubRepositoryRow>, sqlx::Error> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM sub_repositories WHERE slug = $1"
        )))
        .bind(slug)
        .fetch_optional(self.pool())
        .await
    }

    /// Creates a sub-repository; a unique violation when the slug is taken.
    pub async fn add_sub_repository(
        &self,
        slug: &str,
        fields: &SubRepositoryFields,
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO sub_repositories (slug, name, packages, hosts, public, mirrors, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(slug)
        .bind(&fields.name)
        .bind(json(&fields.packages))
        .bind(json(&fields.hosts))
        .bind(i64::from(fields.public))
        .bind(json(&fields.mirrors))
        .bind(now_millis())
        .execute(&mut *tx)
        .await?;
        // A limit naming a slug that did not exist (set while it was being removed)
        // must not open the new sub-repository.
        strip_from_limits(&mut tx, slug).await?;
        commit_access_change(tx, &fields.change("subrepo.created", slug)).await
    }

    /// Replaces a sub-repository's fields; whether it exists.
    pub async fn set_sub_repository(
        &self,
        slug: &str,
        fields: &SubRepositoryFields,
    ) -> Result<bool, sqlx::Error> {
        let mut tx = self.pool().begin().await?;
        let changed = sqlx::query(
            "UPDATE sub_repositories SET name = $2, packages = $3, hosts = $4, public = $5, \
             mirrors = $6 WHERE slug = $1",
        )
        .bind(slug)
        .bind(&fields.name)
        .bind(json(&fields.packages))
        .bind(json(&fields.hosts))
        .bind(i64::from(fields.public))
        .bind(json(&fields.mirrors))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed == 0 {
            return Ok(false);
        }
        commit_access_change(tx, &fields.change("subrepo.changed", slug)).await?;
        Ok(true)
    }

    /// Removes a sub-repository; whether it existed.
    pub async fn remove_sub_repository(&self, slug: &str) -> Result<bool, sqlx::Error> {
        let mut tx = self.pool().begin().await?;
        let removed = sqlx::query("DELETE FROM sub_repositories WHERE slug = $1")
            .bind(slug)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if removed == 0 {
            return Ok(false);
        }
        // Users and groups limited to it lose it, so that a sub-repository created
        // later under the same slug does not open to them.
        strip_from_limits(&mut tx, slug).await?;
        commit_access_change(tx, &Change::new("subrepo.removed", slug)).await?;
        Ok(true)
    }
}

/// Takes `slug` out of every user's and group's sub-repository limit.
async fn strip_from_limits(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    slug: &str,
) -> Result<(), sqlx::Error> {
    for table in ["users", "groups"] {
        let limited: Vec<(i64, NullableJsonNames)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT id, subrepos FROM {table} WHERE subrepos IS NOT NULL"
        )))
        .fetch_all(&mut **tx)
        .await?;
        for (id, NullableJsonNames(subrepos)) in limited {
            let subrepos = subrepos.unwrap_or_default();
            if !subrepos.iter().any(|s| s == slug) {
                continue;
            }
            let kept: Vec<String> = subrepos.into_iter().filter(|s| s != slug).collect();
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE {table} SET subrepos = $2 WHERE id = $1"
            )))
            .bind(id)
            .bind(json(&kept))
            .execute(&mut **tx)
            .await?;
        }
    }
    Ok(())
}
