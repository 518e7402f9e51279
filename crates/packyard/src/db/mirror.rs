//! Strict mirrors proxy only what an admin approved.

use super::audit::Change;
use super::{Db, now_millis};

impl Db {
    /// Lets `packages` through the strict mirror `alias`, as one change.
    pub async fn approve_mirrored_packages(
        &self,
        alias: &str,
        packages: &[&str],
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.pool().begin().await?;
        for package in packages {
            sqlx::query(
                "INSERT INTO mirror_approvals (alias, package, approved_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (alias, package) DO NOTHING",
            )
            .bind(alias)
            .bind(package)
            .bind(now_millis())
            .execute(&mut *tx)
            .await?;
        }
        let mut change = Change::new("mirror.approved", alias).detail("packages", packages);
        if let [package] = packages {
            change = change.package(package);
        }
        super::audit::append(&mut tx, &change).await?;
        tx.commit().await
    }

    pub async fn is_mirrored_package_approved(
        &self,
        alias: &str,
        package: &str,
    ) -> Result<bool, sqlx::Error> {
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT approved_at FROM mirror_approvals WHERE alias = $1 AND package = $2",
        )
        .bind(alias)
        .bind(package)
        .fetch_optional(self.pool())
        .await?;
        Ok(found.is_some())
    }

    pub async fn approved_mirrored_packages(
        &self,
        alias: &str,
    ) -> Result<Vec<String>, sqlx::Error> {
        sqlx::query_scalar("SELECT package FROM mirror_approvals WHERE alias = $1 ORDER BY package")
            .bind(alias)
            .fetch_all(self.pool())
            .await
    }
}

#[cfg(test)]
mod tests {
    use crate::db::testing;

    #[tokio::test]
    async fn approvals_are_per_mirror_and_idempotent() {
        for (db, _dir) in testing::engines().await {
            db.approve_mirrored_packages("packagist", &["psr/log"])
                .await
                .unwrap();
            db.approve_mirrored_packages("packagist", &["psr/log"])
                .await
                .unwrap();
            assert!(
                db.is_mirrored_package_approved("packagist", "psr/log")
                    .await
                    .unwrap()
            );
            assert!(
                !db.is_mirrored_package_approved("other", "psr/log")
                    .await
                    .unwrap()
            );
            assert_eq!(
                db.approved_mirrored_packages("packagist").await.unwrap(),
                ["psr/log"]
            );
        }
    }
}
