//! Block lists (`crate::supply_chain::blocks`): blocked versions and how each category
//! treats them.

use super::audit::Change;
use super::plugins::rules_changed;
use super::{Db, now_millis};

/// One block, as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct BlockRow {
    pub id: i64,
    pub package: String,
    /// A Composer constraint (`*` for every version).
    pub versions: String,
    pub category: String,
    pub reason: String,
    pub url: Option<String>,
    pub created_by: String,
    pub created_at: i64,
}

/// A block about to be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewBlock {
    pub package: String,
    pub versions: String,
    pub category: String,
    pub reason: String,
    pub url: Option<String>,
    pub created_by: String,
}

const BLOCK_COLUMNS: &str = "id, package, versions, category, reason, url, created_by, created_at";

impl Db {
    pub async fn add_block(&self, block: &NewBlock) -> Result<BlockRow, sqlx::Error> {
        let mut tx = self.pool().begin().await?;
        let row = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "INSERT INTO blocks (package, versions, category, reason, url, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {BLOCK_COLUMNS}"
        )))
        .bind(&block.package)
        .bind(&block.versions)
        .bind(&block.category)
        .bind(&block.reason)
        .bind(&block.url)
        .bind(&block.created_by)
        .bind(now_millis())
        .fetch_one(&mut *tx)
        .await?;
        rules_changed(&mut tx, &block.package).await?;
        let change = Change::new("block.added", &block.package)
            .package(&block.package)
            .detail("versions", &block.versions)
            .detail("category", &block.category)
            .detail("reason", &block.reason);
        super::audit::append(&mut tx, &change).await?;
        tx.commit().await?;
        Ok(row)
    }

    /// Removes block `id`; returns it, or `None` when there is none.
    pub async fn remove_block(&self, id: i64) -> Result<Option<BlockRow>, sqlx::Error> {
        let mut tx = self.pool().begin().await?;
        let removed: Option<BlockRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "DELETE FROM blocks WHERE id = $1 RETURNING {BLOCK_COLUMNS}"
        )))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(block) = removed else {
            tx.rollback().await?;
            return Ok(None);
        };
        rules_changed(&mut tx, &block.package).await?;
        let change = Change::new("block.removed", &block.package)
            .package(&block.package)
            .detail("id", block.id)
            .detail("versions", &block.versions)
            .detail("category", &block.category);
        super::audit::append(&mut tx, &change).await?;
        tx.commit().await?;
        Ok(Some(block))
    }

    /// Every block (of `package`, when given), by package, oldest first.
    pub async fn blocks(&self, package: Option<&str>) -> Result<Vec<BlockRow>, sqlx::Error> {
        let select = format!("SELECT {BLOCK_COLUMNS} FROM blocks");
        self.rows_where(&select, "package", package, "ORDER BY package, id")
            .await
    }

    /// The categories blocks are in, and for each whether it withdraws its versions from
    /// metadata (the default) or only flags them.
    pub async fn block_categories(&self) -> Result<Vec<(String, bool)>, sqlx::Error> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT DISTINCT b.category, COALESCE(c.withdraw, 1) FROM blocks b \
             LEFT JOIN block_categories c ON c.category = b.category ORDER BY b.category",
        )
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(category, withdraw)| (category, withdraw != 0))
            .collect())
    }

    /// Whether `category` withdraws blocked versions from metadata or only flags them;
    /// every package blocked in it is marked changed.
    pub async fn set_block_category(
        &self,
        category: &str,
        withdraw: bool,
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO block_categories (category, withdraw) VALUES ($1, $2) \
             ON CONFLICT (category) DO UPDATE SET withdraw = excluded.withdraw",
        )
        .bind(category)
        .bind(i64::from(withdraw))
        .execute(&mut *tx)
        .await?;
        let packages: Vec<(String,)> =
            sqlx::query_as("SELECT DISTINCT package FROM blocks WHERE category = $1")
                .bind(category)
                .fetch_all(&mut *tx)
                .await?;
        for (package,) in packages {
            rules_changed(&mut tx, &package).await?;
        }
        let change = Change::new("block.category_set", category).detail("withdraw", withdraw);
        super::audit::append(&mut tx, &change).await?;
        tx.commit().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{PackageKind, testing};

    fn block(package: &str, category: &str) -> NewBlock {
        NewBlock {
            package: package.into(),
            versions: "1.2.3".into(),
            category: category.into(),
            reason: "malicious".into(),
            url: None,
            created_by: "admin".into(),
        }
    }

    #[tokio::test]
    async fn blocks_move_their_packages_stamp_and_categories_default_to_withdrawing() {
        for (db, _dir) in testing::engines().await {
            db.save_version(
                "acme/lib",
                PackageKind::Artifact,
                &testing::artifact_version("1.2.3", "abc"),
            )
            .await
            .unwrap();
            let stamp = || async { db.package_stamps().await.unwrap()[0].updated_at };
            let before = stamp().await;
            let added = db.add_block(&block("acme/lib", "malware")).await.unwrap();
            assert!(stamp().await > before, "the blocked package's stamp moved");
            // A name packyard does not hold may be blocked too.
            db.add_block(&block("other/pkg", "policy")).await.unwrap();
            assert_eq!(db.blocks(None).await.unwrap().len(), 2);
            assert_eq!(
                db.blocks(Some("acme/lib")).await.unwrap(),
                std::slice::from_ref(&added)
            );
            assert_eq!(
                db.block_categories().await.unwrap(),
                [("malware".to_owned(), true), ("policy".to_owned(), true)]
            );
            let before = stamp().await;
            db.set_block_category("malware", false).await.unwrap();
            assert!(stamp().await > before);
            assert_eq!(
                db.block_categories().await.unwrap()[0],
                ("malware".to_owned(), false)
            );
            assert_eq!(
                db.remove_block(added.id).await.unwrap(),
                Some(added.clone())
            );
            assert_eq!(db.remove_block(added.id).await.unwrap(), None);
        }
    }
}
