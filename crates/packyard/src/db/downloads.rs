use super::{Db, now_millis};

/// Milliseconds in a day: download days are counted in whole UTC days since 1970.
pub const DAY_MS: i64 = 86_400_000;

impl Db {
    /// Counts one install of each `(package, version)` (the normalized version, as
    /// Composer sends it). Unknown packages and versions are ignored: anyone able to read
    /// metadata can post statistics, and must not be able to grow the table at will.
    pub async fn record_downloads(
        &self,
        downloads: &[(String, String)],
    ) -> Result<(), sqlx::Error> {
        let today = now_millis().div_euclid(DAY_MS);
        let mut tx = self.pool().begin().await?;
        for (package, version) in downloads {
            sqlx::query(
                "INSERT INTO download_counts (package_id, version, count) \
                 SELECT p.id, $2, 1 FROM packages p \
                 JOIN versions v ON v.package_id = p.id AND v.version_normalized = $2 WHERE p.name = $1 \
                 ON CONFLICT (package_id, version) DO UPDATE SET count = download_counts.count + 1",
            )
            .bind(package)
            .bind(version)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO download_days (package_id, version, day, count) \
                 SELECT p.id, $2, $3, 1 FROM packages p \
                 JOIN versions v ON v.package_id = p.id AND v.version_normalized = $2 WHERE p.name = $1 \
                 ON CONFLICT (package_id, version, day) DO UPDATE SET count = download_days.count + 1",
            )
            .bind(package)
            .bind(version)
            .bind(today)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await
    }

    /// Counts one install of each `(package, version)` through the mirror `alias`;
    /// the caller checked that the mirror serves them.
    pub async fn record_mirror_downloads(
        &self,
        alias: &str,
        downloads: &[(String, String)],
    ) -> Result<(), sqlx::Error> {
        let today = now_millis().div_euclid(DAY_MS);
        let mut tx = self.pool().begin().await?;
        for (package, version) in downloads {
            sqlx::query(
                "INSERT INTO mirror_download_days (alias, package, version, day, count) \
                 VALUES ($1, $2, $3, $4, 1) ON CONFLICT (alias, package, version, day) \
                 DO UPDATE SET count = mirror_download_days.count + 1",
            )
            .bind(alias)
            .bind(package)
            .bind(version)
            .bind(today)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await
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
        package: &str,
        since_day: i64,
    ) -> Result<Vec<(String, i64, i64)>, sqlx::Error> {
        sqlx::query_as(
            "SELECT d.version, d.day, d.count FROM download_days d \
             JOIN packages p ON p.id = d.package_id WHERE p.name = $1 AND d.day >= $2",
        )
        .bind(package)
        .bind(since_day)
        .fetch_all(self.pool())
        .await
    }

    /// Installs per version of `package`, most installed first.
    pub async fn download_counts(&self, package: &str) -> Result<Vec<(String, i64)>, sqlx::Error> {
        sqlx::query_as(
            "SELECT d.version, d.count FROM download_counts d JOIN packages p ON p.id = d.package_id \
             WHERE p.name = $1 ORDER BY d.count DESC, d.version",
        )
        .bind(package)
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
            db.save_version("acme/lib", "artifact", &version)
                .await
                .unwrap();
            let batch = vec![
                ("acme/lib".to_string(), "1.0.0.0".to_string()),
                ("acme/lib".to_string(), "1.0.0.0".to_string()),
                ("acme/unknown".to_string(), "1.0.0.0".to_string()),
                ("acme/lib".to_string(), "9.9.9.9".to_string()),
            ];
            db.record_downloads(&batch).await.unwrap();
            db.record_downloads(&batch[..1]).await.unwrap();
            let counts = db.download_counts("acme/lib").await.unwrap();
            assert_eq!(counts, vec![("1.0.0.0".to_string(), 3)]);
            assert!(db.download_counts("acme/unknown").await.unwrap().is_empty());
            // One row per version and day, whatever the number of installs.
            let today = super::now_millis().div_euclid(super::DAY_MS);
            let days = db.daily_downloads("acme/lib", today - 1).await.unwrap();
            assert_eq!(days, vec![("1.0.0.0".to_string(), today, 3)]);
            db.record_mirror_downloads("up", &batch[2..]).await.unwrap();
            db.record_mirror_downloads("up", &batch[2..3])
                .await
                .unwrap();
            assert_eq!(
                db.mirror_downloads("acme/unknown").await.unwrap(),
                vec![("up".to_string(), "1.0.0.0".to_string(), today, 2)]
            );
            assert!(
                db.daily_downloads("acme/lib", today + 1)
                    .await
                    .unwrap()
                    .is_empty()
            );
        }
    }
}
