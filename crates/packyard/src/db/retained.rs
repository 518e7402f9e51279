//! Archives kept downloadable by their reference after their version left the metadata
//! or was replaced (`crate::supply_chain::immutable`).

use storage::StoreName;

use super::audit::Change;
use super::columns::StoreColumn;
use super::packages::{bump_stamp, upsert_version};
use super::{Db, VersionRecord, now_millis};

/// Why an archive outlived its version row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetainReason {
    /// The tag of a frozen version was deleted.
    TagDeleted,
    /// An admin replaced an uploaded version with `--force`.
    Replaced,
}

impl RetainReason {
    pub fn as_str(self) -> &'static str {
        match self {
            RetainReason::TagDeleted => "tag-deleted",
            RetainReason::Replaced => "replaced",
        }
    }
}

/// One retained archive, as the metadata cache reads it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RetainedDist {
    pub reference: String,
    pub version: String,
    pub version_normalized: String,
    pub shasum: String,
    #[sqlx(try_from = "StoreColumn")]
    pub dist_store: StoreName,
    pub dist_key: String,
    pub released_at: i64,
    pub reason: String,
    pub retained_by: Option<String>,
}

impl RetainedDist {
    /// As a version row, to build its archive with the code that builds versions'.
    pub fn into_version(self) -> VersionRecord {
        VersionRecord {
            version: self.version,
            version_normalized: self.version_normalized,
            reference: self.reference,
            shasum: self.shasum,
            dist_store: self.dist_store,
            dist_key: self.dist_key,
            metadata: String::new(),
            released_at: self.released_at,
            published_at: 0,
        }
    }
}

/// Keeps `version`'s archive downloadable by its reference, inside the transaction that
/// removes or replaces its row. A reference retained before keeps its first record.
pub(super) async fn retain(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    package_id: i64,
    version: &VersionRecord,
    reason: RetainReason,
    by: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO retained_dists (package_id, reference, version, version_normalized, shasum, \
         dist_store, dist_key, released_at, reason, retained_by, retained_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         ON CONFLICT (package_id, reference) DO NOTHING",
    )
    .bind(package_id)
    .bind(&version.reference)
    .bind(&version.version)
    .bind(&version.version_normalized)
    .bind(&version.shasum)
    .bind(version.dist_store.as_str())
    .bind(&version.dist_key)
    .bind(version.released_at)
    .bind(reason.as_str())
    .bind(by)
    .bind(now_millis())
    .execute(&mut **tx)
    .await
    .map(drop)
}

impl Db {
    /// Replaces the version `previous` of `package` with `version` (an admin's forced
    /// upload), keeping `previous`'s archive downloadable by its reference, recorded as
    /// replaced by `by`.
    pub async fn replace_retaining(
        &self,
        package: &str,
        version: &VersionRecord,
        previous: &VersionRecord,
        by: &str,
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.pool().begin().await?;
        let package_id = bump_stamp(&mut tx, package).await?;
        retain(
            &mut tx,
            package_id,
            previous,
            RetainReason::Replaced,
            Some(by),
        )
        .await?;
        upsert_version(&mut tx, package_id, version).await?;
        let change = Change::of_version("version.replaced", package, version)
            .detail("previous_reference", &previous.reference)
            .detail("previous_shasum", &previous.shasum);
        super::audit::append(&mut tx, &change).await?;
        tx.commit().await
    }

    /// The archives of `package` kept past their versions.
    pub async fn retained_dists(&self, package: &str) -> Result<Vec<RetainedDist>, sqlx::Error> {
        sqlx::query_as(
            "SELECT r.reference, r.version, r.version_normalized, r.shasum, r.dist_store, \
             r.dist_key, r.released_at, r.reason, r.retained_by \
             FROM retained_dists r JOIN packages p ON p.id = r.package_id WHERE p.name = $1 \
             ORDER BY r.retained_at",
        )
        .bind(package)
        .fetch_all(self.pool())
        .await
    }
}
