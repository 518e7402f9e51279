use composer::package_name::PackageName;

use super::{Db, now_millis};

/// Package versions counted per transaction.
pub const DOWNLOADS_PER_TRANSACTION: usize = 100;

/// Milliseconds in a day: download days are counted in whole UTC days since 1970.
pub const DAY_MS: i64 = 86_400_000;

impl Db {
    /// Counts `installs` of each `(package, version, installs)` (the normalized version,
    /// as Composer sends it). Unknown packages and versions are ignored: anyone able to
    /// read metadata can post statistics, and must not be able to grow the table at will.
    /// Written [`DOWNLOADS_PER_TRANSACTION`] at a time, so that a large batch does not
    /// hold SQLite's one writer for long.
    pub async fn record_downloads(
        &self,
        downloads: &[(String, String, i64)],
    ) -> Result<(), sqlx::Error> {
        let today = now_millis().div_euclid(DAY_MS);
        for chunk in downloads.chunks(DOWNLOADS_PER_TRANSACTION) {
            let mut tx = self.pool().begin().await?;
            for (package, version, installs) in chunk {
                sqlx::query(
                    "INSERT INTO download_counts (package_id, version, count) \
                     SELECT p.id, $2, $3 FROM packages p \
                     JOIN versions v ON v.package_id = p.id AND v.version_normalized = $2 WHERE p.name = $1 \
                     ON CONFLICT (package_id, version) DO UPDATE SET count = download_counts.count + $3",
                )
                .bind(package)
                .bind(version)
                .bind(installs)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "INSERT INTO download_days (package_id, version, day, count) \
                     SELECT p.id, $2, $4, $3 FROM packages p \
                     JOIN versions v ON v.package_id = p.id AND v.version_normalized = $2 WHERE p.name = $1 \
                     ON CONFLICT (package_id, version, day) DO UPDATE SET count = download_days.count + $3",
                )
                .bind(package)
                .bind(version)
                .bind(installs)
                .bind(today)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        }
        Ok(())
    }

    /// Counts the installs of each `(package, version, installs)` through the mirror
    /// `alias`; the caller checked that the mirror serves them. Written as
    /// [`Db::record_downloads`] is.
    pub async fn record_mirror_downloads(
        &self,
        alias: &str,
        downloads: &[(String, String, i64)],
    ) -> Result<(), sqlx::Error> {
        let today = now_millis().div_euclid(DAY_MS);
        for chunk in downloads.chunks(DOWNLOADS_PER_TRANSACTION) {
            let mut tx = self.pool().begin().await?;
            for (package, version, installs) in chunk {
                sqlx::query(
                    "INSERT INTO mirror_download_days (alias, package, version, day, count) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (alias, package, version, day) \
                     DO UPDATE SET count = mirror_download_days.count + $5",
                )
                .bind(alias)
                .bind(package)
                .bind(version)
                .bind(today)
                .bind(installs)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        }
        Ok(())
    }

    /// Installs of the mirrored `package`: per mirror and version, the total, and
    /// per day.
    pub async fn mirror_downloads(
        &self,
        package: &str,
    ) -> Result<Vec<(String, String, i64, i64)>, sqlx::Error> {
        sqlx::query_as(
            "SELECT alias, version, day, count FROM mirror_download_days WHERE package = $1 \
             ORDER BY alias, version, day",
        )
        .bind(package)
        .fetch_all(self.pool())
        .await
    }

    /// Installs of `package` per version and day (days since 1970) from `since_day` on.
    pub async fn daily_downloads(
        &self,
        package: &PackageName,
        since_day: i64,
    ) -> Result<Vec<(String, i64, i64)>, sqlx::Error> {
        sqlx::query_as(
            "SELECT d.version, d.day, d.count FROM download_days d \
             JOIN packages p ON p.id = d.package_id WHERE p.name = $1 AND d.day >= $2",
        )
        .bind(package.as_str())
        .bind(since_day)
        .fetch_all(self.pool())
        .await
    }

    /// Installs per version of `package`, most installed first.
    pub async fn download_counts(
        &self,
        package: &PackageName,
    ) -> Result<Vec<(String, i64)>, sqlx::Error> {
        sqlx::query_as(
            "SELECT d.version, d.count FROM download_counts d JOIN packages p ON p.id = d.package_id \
             WHERE p.name = $1 ORDER BY d.count DESC, d.version",
        )
        .bind(package.as_str())
        .fetch_all(self.pool())
        .await
    }
}

#[cfg(test)]
mod tests {
    use crate::db::testing;

    #[tokio::test]
    async fn downloads_are_counted_per_version() {
        for (db, _dir) in testing::engines().await {
            let version = testing::artifact_version("1.0.0", "r");
            db.save_version("acme/lib", crate::db::PackageKind::Artifact, &version)
                .await
                .unwrap();
            let batch = vec![
                ("acme/lib".to_string(), "1.0.0.0".to_string(), 2),
                ("acme/unknown".to_string(), "1.0.0.0".to_string(), 1),
                ("acme/lib".to_string(), "9.9.9.9".to_string(), 1),
            ];
            db.record_downloads(&batch).await.unwrap();
            db.record_downloads(&[("acme/lib".to_string(), "1.0.0.0".to_string(), 1)])
                .await
                .unwrap();
            let counts = db
                .download_counts(&crate::db::testing::package("acme/lib"))
                .await
                .unwrap();
            assert_eq!(counts, vec![("1.0.0.0".to_string(), 3)]);
            assert!(
                db.download_counts(&crate::db::testing::package("acme/unknown"))
                    .await
                    .unwrap()
                    .is_empty()
            );
            // One row per version and day, whatever the number of installs.
            let today = super::now_millis().div_euclid(super::DAY_MS);
            let days = db
                .daily_downloads(&crate::db::testing::package("acme/lib"), today - 1)
                .await
                .unwrap();
            assert_eq!(days, vec![("1.0.0.0".to_string(), today, 3)]);
            db.record_mirror_downloads("up", &batch[1..]).await.unwrap();
            db.record_mirror_downloads("up", &batch[1..2])
                .await
                .unwrap();
            assert_eq!(
                db.mirror_downloads("acme/unknown").await.unwrap(),
                vec![("up".to_string(), "1.0.0.0".to_string(), today, 2)]
            );
            // A batch larger than one transaction is counted whole.
            let many: Vec<_> = (0..super::DOWNLOADS_PER_TRANSACTION * 2 + 5)
                .map(|i| ("acme/many".to_string(), format!("{i}.0.0.0"), 1))
                .collect();
            db.record_mirror_downloads("up", &many).await.unwrap();
            assert_eq!(
                db.mirror_downloads("acme/many").await.unwrap().len(),
                many.len()
            );
            assert!(
                db.daily_downloads(&crate::db::testing::package("acme/lib"), today + 1)
                    .await
                    .unwrap()
                    .is_empty()
            );
        }
    }
}
