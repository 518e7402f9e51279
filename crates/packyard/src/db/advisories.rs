//! Security advisories published for private packages.

use super::audit::Change;
use super::packages::bump_stamp;
use super::{Db, now_millis};

/// One advisory as stored: the package it is about and Composer's fields.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AdvisoryRow {
    pub advisory_id: String,
    pub package: String,
    /// A Composer constraint, e.g. `<1.4.2` or `>=2.0,<2.3.1`.
    pub affected_versions: String,
    pub title: String,
    pub cve: Option<String>,
    pub link: Option<String>,
    pub severity: Option<String>,
    /// Unix milliseconds.
    pub reported_at: i64,
}

const ADVISORY_COLUMNS: &str = "a.advisory_id, p.name AS package, a.affected_versions, a.title, \
     a.cve, a.link, a.severity, a.reported_at";

impl Db {
    /// Records `advisory`; `false` when its package does not exist.
    /// The package is marked changed in the same transaction: an advisory exempts the
    /// versions that fix it from cooldowns (`supply_chain::release_age`), which every
    /// replica's metadata must notice.
    pub async fn add_advisory(&self, advisory: &AdvisoryRow) -> Result<bool, sqlx::Error> {
        let mut tx = self.pool().begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO advisories (advisory_id, package_id, affected_versions, title, cve, link, \
             severity, reported_at, created_at) \
             SELECT $1, id, $3, $4, $5, $6, $7, $8, $9 FROM packages WHERE name = $2",
        )
        .bind(&advisory.advisory_id)
        .bind(&advisory.package)
        .bind(&advisory.affected_versions)
        .bind(&advisory.title)
        .bind(&advisory.cve)
        .bind(&advisory.link)
        .bind(&advisory.severity)
        .bind(advisory.reported_at)
        .bind(now_millis())
        .execute(&mut *tx)
        .await;
        // Rolled back here rather than when the transaction is dropped, so that the
        // write lock is free before the caller's next write.
        let inserted = match inserted {
            Ok(inserted) => inserted,
            Err(error) => {
                tx.rollback().await?;
                return Err(error);
            }
        };
        if inserted.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        bump_stamp(&mut tx, &advisory.package).await?;
        let change = Change::new("advisory.added", &advisory.advisory_id)
            .package(&advisory.package)
            .detail("affected_versions", &advisory.affected_versions)
            .detail("title", &advisory.title)
            .detail("cve", &advisory.cve)
            .detail("severity", &advisory.severity);
        super::audit::append(&mut tx, &change).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Every advisory of `packages` (all packages when `None`), by package, then oldest
    /// report first.
    pub async fn advisories(
        &self,
        packages: Option<&[String]>,
    ) -> Result<Vec<AdvisoryRow>, sqlx::Error> {
        let order = "ORDER BY p.name, a.reported_at, a.advisory_id";
        let from = "FROM advisories a JOIN packages p ON p.id = a.package_id";
        match packages {
            None => {
                sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT {ADVISORY_COLUMNS} {from} {order}"
                )))
                .fetch_all(self.pool())
                .await
            }
            Some([]) => Ok(Vec::new()),
            Some(names) => {
                // One query per batch of names: placeholders are bounded on both engines.
                let mut rows = Vec::new();
                for batch in names.chunks(500) {
                    let placeholders: Vec<String> =
                        (1..=batch.len()).map(|i| format!("${i}")).collect();
                    let sql = format!(
                        "SELECT {ADVISORY_COLUMNS} {from} WHERE p.name IN ({}) {order}",
                        placeholders.join(", ")
                    );
                    // Only placeholders are spliced in; names are bound.
                    let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql));
                    for name in batch {
                        query = query.bind(name);
                    }
                    rows.extend(query.fetch_all(self.pool()).await?);
                }
                Ok(rows)
            }
        }
    }

    /// Deletes the advisory `advisory_id`; returns the package it was about.
    pub async fn remove_advisory(&self, advisory_id: &str) -> Result<Option<String>, sqlx::Error> {
        let mut tx = self.pool().begin().await?;
        // The write comes first: a SQLite transaction that reads and then writes can be
        // refused at once ("database is locked") when another connection holds the write
        // lock, where one that starts by writing waits for it (busy_timeout).
        let package_id: Option<i64> = sqlx::query_scalar(
            "DELETE FROM advisories WHERE advisory_id = $1 RETURNING package_id",
        )
        .bind(advisory_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(package_id) = package_id else {
            tx.rollback().await?;
            return Ok(None);
        };
        let package: String = sqlx::query_scalar("SELECT name FROM packages WHERE id = $1")
            .bind(package_id)
            .fetch_one(&mut *tx)
            .await?;
        bump_stamp(&mut tx, &package).await?;
        let change = Change::new("advisory.removed", advisory_id).package(&package);
        super::audit::append(&mut tx, &change).await?;
        tx.commit().await?;
        Ok(Some(package))
    }
}

#[cfg(test)]
mod tests {
    use super::AdvisoryRow;
    use crate::db::testing;

    fn advisory(id: &str, package: &str, reported_at: i64) -> AdvisoryRow {
        AdvisoryRow {
            advisory_id: id.into(),
            package: package.into(),
            affected_versions: "<1.4.2".into(),
            title: format!("{id} title"),
            cve: (id == "A").then(|| "CVE-2026-0001".into()),
            link: None,
            severity: Some("high".into()),
            reported_at,
        }
    }

    #[tokio::test]
    async fn advisories_are_kept_per_package_and_removed() {
        for (db, _dir) in testing::engines().await {
            for package in ["acme/lib", "acme/other"] {
                db.save_version(
                    package,
                    crate::db::PackageKind::Artifact,
                    &testing::artifact_version("1.0.0", "r"),
                )
                .await
                .unwrap();
            }
            assert!(
                db.add_advisory(&advisory("B", "acme/lib", 2_000))
                    .await
                    .unwrap()
            );
            assert!(
                db.add_advisory(&advisory("A", "acme/lib", 1_000))
                    .await
                    .unwrap()
            );
            assert!(
                db.add_advisory(&advisory("C", "acme/other", 1_000))
                    .await
                    .unwrap()
            );
            // Only packages that exist here.
            assert!(
                !db.add_advisory(&advisory("D", "acme/none", 1))
                    .await
                    .unwrap()
            );
            // Advisory ids are unique.
            assert!(
                db.add_advisory(&advisory("A", "acme/other", 1))
                    .await
                    .is_err()
            );

            let lib = db.advisories(Some(&["acme/lib".into()])).await.unwrap();
            assert_eq!(
                lib,
                vec![
                    advisory("A", "acme/lib", 1_000),
                    advisory("B", "acme/lib", 2_000)
                ]
            );
            assert_eq!(db.advisories(None).await.unwrap().len(), 3);
            assert!(db.advisories(Some(&[])).await.unwrap().is_empty());

            assert_eq!(
                db.remove_advisory("A").await.unwrap().as_deref(),
                Some("acme/lib")
            );
            assert_eq!(db.remove_advisory("A").await.unwrap(), None);
            assert_eq!(
                db.advisories(Some(&["acme/lib".into()]))
                    .await
                    .unwrap()
                    .len(),
                1
            );
        }
    }
}
