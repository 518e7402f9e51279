//! Plugin approvals (`crate::supply_chain::plugins`) and pinned mirror archives
//! (`crate::mirror::dists`).

use super::audit::Change;
use super::packages::bump_stamp;
use super::{Db, now_millis};

/// One approval: a package's major version, in a repository (`private` or a mirror).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PluginApproval {
    pub repository: String,
    pub package: String,
    pub major: String,
    pub approved_by: String,
    pub approved_at: i64,
}

/// The hashes a mirrored archive was first stored with.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DistPin {
    pub sha1: String,
    pub sha256: String,
}

impl Db {
    /// Approves `majors` of `package` in `repository`; the package (when packyard holds
    /// it) is marked changed so that every replica serves them.
    pub async fn approve_plugin(
        &self,
        repository: &str,
        package: &str,
        majors: &[String],
        by: &str,
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.pool().begin().await?;
        for major in majors {
            sqlx::query(
                "INSERT INTO plugin_approvals (repository, package, major, approved_by, approved_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (repository, package, major) DO NOTHING",
            )
            .bind(repository)
            .bind(package)
            .bind(major)
            .bind(by)
            .bind(now_millis())
            .execute(&mut *tx)
            .await?;
        }
        rules_changed(&mut tx, package).await?;
        let change = Change::new("plugin.approved", package)
            .package(package)
            .detail("repository", repository)
            .detail("majors", majors);
        super::audit::append(&mut tx, &change).await?;
        tx.commit().await
    }

    /// Withdraws approvals (`majors` empty: all of them); how many there were.
    pub async fn revoke_plugin(
        &self,
        repository: &str,
        package: &str,
        majors: &[String],
    ) -> Result<u64, sqlx::Error> {
        let mut tx = self.pool().begin().await?;
        let mut removed = 0;
        if majors.is_empty() {
            removed +=
                sqlx::query("DELETE FROM plugin_approvals WHERE repository = $1 AND package = $2")
                    .bind(repository)
                    .bind(package)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
        }
        for major in majors {
            removed += sqlx::query(
                "DELETE FROM plugin_approvals WHERE repository = $1 AND package = $2 AND major = $3",
            )
            .bind(repository)
            .bind(package)
            .bind(major)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        if removed == 0 {
            tx.rollback().await?;
            return Ok(0);
        }
        rules_changed(&mut tx, package).await?;
        let change = Change::new("plugin.revoked", package)
            .package(package)
            .detail("repository", repository)
            .detail("majors", majors);
        super::audit::append(&mut tx, &change).await?;
        tx.commit().await?;
        Ok(removed)
    }

    /// Approvals in `repository` (every repository when `None`), by package and major.
    pub async fn plugin_approvals(
        &self,
        repository: Option<&str>,
    ) -> Result<Vec<PluginApproval>, sqlx::Error> {
        let select =
            "SELECT repository, package, major, approved_by, approved_at FROM plugin_approvals";
        self.rows_where(
            select,
            "repository",
            repository,
            "ORDER BY repository, package, major",
        )
        .await
    }

    /// The approved majors of `package` in `repository`.
    pub async fn approved_majors(
        &self,
        repository: &str,
        package: &str,
    ) -> Result<Vec<String>, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT major FROM plugin_approvals WHERE repository = $1 AND package = $2 ORDER BY major",
        )
        .bind(repository)
        .bind(package)
        .fetch_all(self.pool())
        .await
    }

    /// The hashes pinned for a mirrored archive, if any.
    pub async fn dist_pin(
        &self,
        alias: &str,
        package: &str,
        reference: &str,
    ) -> Result<Option<DistPin>, sqlx::Error> {
        sqlx::query_as(
            "SELECT sha1, sha256 FROM mirror_dist_pins WHERE alias = $1 AND package = $2 AND reference = $3",
        )
        .bind(alias)
        .bind(package)
        .bind(reference)
        .fetch_optional(self.pool())
        .await
    }

    /// Pins a mirrored archive's hashes unless it is pinned already; the pin in force.
    pub async fn pin_dist(
        &self,
        alias: &str,
        package: &str,
        reference: &str,
        pin: &DistPin,
    ) -> Result<DistPin, sqlx::Error> {
        sqlx::query(
            "INSERT INTO mirror_dist_pins (alias, package, reference, sha1, sha256, pinned_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (alias, package, reference) DO NOTHING",
        )
        .bind(alias)
        .bind(package)
        .bind(reference)
        .bind(&pin.sha1)
        .bind(&pin.sha256)
        .bind(now_millis())
        .execute(self.pool())
        .await?;
        Ok(self
            .dist_pin(alias, package, reference)
            .await?
            .unwrap_or_else(|| pin.clone()))
    }
}

/// Moves the supply-chain stamp (in `tx`, with the change it dates): mirrored
/// documents are dated no earlier than the last change of the rules that rewrite them.
pub(super) async fn move_supply_chain_stamp(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
) -> Result<(), sqlx::Error> {
    let was: i64 = sqlx::query_scalar("SELECT changed_at FROM supply_chain_stamp WHERE id = 1")
        .fetch_one(&mut **tx)
        .await?;
    // A second on at least: the stamp dates documents, whose dates are whole seconds.
    sqlx::query("UPDATE supply_chain_stamp SET changed_at = $1 WHERE id = 1")
        .bind(now_millis().max(was + 1000))
        .execute(&mut **tx)
        .await
        .map(drop)
}

impl Db {
    /// When a block list or a plugin approval last changed.
    pub async fn supply_chain_stamp(&self) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar("SELECT changed_at FROM supply_chain_stamp WHERE id = 1")
            .fetch_one(self.pool())
            .await
    }
}

/// Marks the supply-chain rules changed (a block, an approval) and with them the
/// package of that name when packyard holds one, so that every replica renders it
/// again (an approval on a mirror re-renders a private namesake too, which costs
/// nothing).
pub(super) async fn rules_changed(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    package: &str,
) -> Result<(), sqlx::Error> {
    move_supply_chain_stamp(tx).await?;
    let exists: Option<(i64,)> = sqlx::query_as("SELECT id FROM packages WHERE name = $1")
        .bind(package)
        .fetch_optional(&mut **tx)
        .await?;
    if exists.is_some() {
        bump_stamp(tx, package).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::testing;

    #[tokio::test]
    async fn approvals_are_per_repository_and_major_and_pins_keep_the_first_hashes() {
        for (db, _dir) in testing::engines().await {
            db.approve_plugin("private", "acme/plugin", &["1".into(), "1".into()], "admin")
                .await
                .unwrap();
            db.approve_plugin("packagist", "acme/plugin", &["2".into()], "admin")
                .await
                .unwrap();
            assert_eq!(
                db.approved_majors("private", "acme/plugin").await.unwrap(),
                ["1"]
            );
            assert_eq!(db.plugin_approvals(None).await.unwrap().len(), 2);
            assert_eq!(
                db.revoke_plugin("private", "acme/plugin", &[])
                    .await
                    .unwrap(),
                1
            );
            assert!(
                db.approved_majors("private", "acme/plugin")
                    .await
                    .unwrap()
                    .is_empty()
            );

            let first = DistPin {
                sha1: "a".into(),
                sha256: "b".into(),
            };
            let later = DistPin {
                sha1: "c".into(),
                sha256: "d".into(),
            };
            assert_eq!(
                db.pin_dist("up", "acme/x", "ref", &first).await.unwrap(),
                first
            );
            assert_eq!(
                db.pin_dist("up", "acme/x", "ref", &later).await.unwrap(),
                first
            );
            assert_eq!(db.dist_pin("up", "acme/x", "other").await.unwrap(), None);
        }
    }
}
