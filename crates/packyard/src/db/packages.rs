use composer::package_name::PackageName;
use storage::StoreName;

use super::audit::Change;
use super::columns::StoreColumn;
use super::{Db, now_millis};

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PackageRow {
    pub id: i64,
    #[sqlx(try_from = "String")]
    pub name: PackageName,
    /// Where the versions come from.
    pub kind: PackageKind,
    /// When the package was first published here (Unix milliseconds).
    pub created_at: i64,
    pub updated_at: i64,
}

/// Where a package's versions come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PackageKind {
    /// Uploaded archives.
    Artifact,
    /// Scanned from a git repository. Stored (and shown, e.g. as the admin API's
    /// `type`) as `vcs`, the name git packages had when the column was made.
    Git,
}

impl PackageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PackageKind::Artifact => "artifact",
            PackageKind::Git => "vcs",
        }
    }
}

impl std::fmt::Display for PackageKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A package kind name that is neither `artifact` nor `vcs`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown package kind {0:?} (expected artifact or vcs)")]
pub struct UnknownPackageKind(pub String);

impl std::str::FromStr for PackageKind {
    type Err = UnknownPackageKind;

    fn from_str(s: &str) -> Result<Self, UnknownPackageKind> {
        match s {
            "artifact" => Ok(PackageKind::Artifact),
            "vcs" => Ok(PackageKind::Git),
            _ => Err(UnknownPackageKind(s.to_owned())),
        }
    }
}

/// A package name with the time its metadata last changed: what replicas compare to
/// decide whether their rendered copy is still current.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PackageStamp {
    pub name: String,
    pub updated_at: i64,
}

/// One version of a package, as stored and as read back. Two records are the same
/// version when everything but [`VersionRecord::published_at`] is: that is when it
/// was published here, not what was published.
#[derive(Debug, Clone, Eq, sqlx::FromRow)]
pub struct VersionRecord {
    pub version: String,
    pub version_normalized: String,
    pub reference: String,
    pub shasum: String,
    /// The store holding the archive (`artifact` for uploads, `dist` for git builds).
    #[sqlx(try_from = "StoreColumn")]
    pub dist_store: StoreName,
    pub dist_key: String,
    /// The composer.json fields published in metadata, as a JSON object.
    pub metadata: String,
    pub released_at: i64,
    /// When packyard first published this version (Unix ms): a tag's stays, a
    /// branch's moves with each new commit, as packagist.org's `published-time`
    /// does; other content under a version's name (a forced upload, a tag moved where
    /// versions are not immutable) is published anew, so that it waits out cooldowns
    /// as any new release does. Unlike `released_at` (the commit's date), no author can set it. In a
    /// record about to be written, 0 means now (an import gives the other side's).
    pub published_at: i64,
}

impl PartialEq for VersionRecord {
    fn eq(&self, other: &Self) -> bool {
        self.version == other.version
            && self.version_normalized == other.version_normalized
            && self.reference == other.reference
            && self.shasum == other.shasum
            && self.dist_store == other.dist_store
            && self.dist_key == other.dist_key
            && self.metadata == other.metadata
            && self.released_at == other.released_at
    }
}

pub(super) const VERSION_COLUMNS: &str = "v.version, v.version_normalized, v.reference, v.shasum, v.dist_store, \
     v.dist_key, v.metadata, v.released_at, COALESCE(v.published_at, v.updated_at) AS published_at";

/// A version with the name of its package.
#[derive(sqlx::FromRow)]
struct NamedVersion {
    name: String,
    #[sqlx(flatten)]
    version: VersionRecord,
}

/// Marks a package changed and returns its id. Stamps are whole seconds because they
/// become `Last-Modified` headers, which have one-second resolution, and strictly
/// increasing, even when two changes land within one second or a replica's clock is
/// behind: each change must move the header forward ([`next_stamp`]).
pub(super) async fn bump_stamp(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    package: &str,
) -> Result<i64, sqlx::Error> {
    let stamp = next_stamp(tx, (now_millis() / 1000 + 1) * 1000).await?;
    sqlx::query_scalar("UPDATE packages SET updated_at = $2 WHERE name = $1 RETURNING id")
        .bind(package)
        .bind(stamp)
        .fetch_one(&mut **tx)
        .await
}

/// A new change stamp, for a package or for the access rules: `at_least` (now, in whole
/// seconds), or a second past the latest one given to either when that is later. One
/// sequence for both, because a document filtered for a caller is dated by its
/// package's stamp and the rules' stamp together, and must move forward whichever
/// changes: two sequences, one running ahead of the other, would leave the date where
/// it was, and Composer with `304 Not Modified` and the old versions.
pub(super) async fn next_stamp(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    at_least: i64,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE catalogue_stamp SET last_stamp = \
         CASE WHEN last_stamp + 1000 > $1 THEN last_stamp + 1000 ELSE $1 END \
         WHERE id = 1 RETURNING last_stamp",
    )
    .bind(at_least)
    .fetch_one(&mut **tx)
    .await
}

pub(super) async fn upsert_version(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    package_id: i64,
    version: &VersionRecord,
) -> Result<(), sqlx::Error> {
    let query = sqlx::query(
        "INSERT INTO versions (package_id, version, version_normalized, reference, shasum, dist_store, \
         dist_key, metadata, released_at, updated_at, published_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         ON CONFLICT (package_id, version_normalized) DO UPDATE SET version = excluded.version, \
         published_at = CASE WHEN versions.reference <> excluded.reference \
           THEN excluded.published_at ELSE COALESCE(versions.published_at, excluded.published_at) END, \
         reference = excluded.reference, \
         shasum = CASE WHEN excluded.shasum = '' AND versions.reference = excluded.reference \
           AND versions.dist_key = excluded.dist_key THEN versions.shasum ELSE excluded.shasum END, \
         dist_store = excluded.dist_store, \
         dist_key = excluded.dist_key, metadata = excluded.metadata, released_at = excluded.released_at, \
         updated_at = excluded.updated_at",
    )
    .bind(package_id);
    bind_version_fields(query, version)
        .execute(&mut **tx)
        .await
        .map(drop)
}

/// Binds `$2`..`$11` of the versions insert statements: every field of the version, the
/// time of the write, and its publication time (the write's unless the record has one).
fn bind_version_fields<'q>(
    query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    version: &'q VersionRecord,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    let now = now_millis();
    query
        .bind(&version.version)
        .bind(&version.version_normalized)
        .bind(&version.reference)
        .bind(&version.shasum)
        .bind(version.dist_store.as_str())
        .bind(&version.dist_key)
        .bind(&version.metadata)
        .bind(version.released_at)
        .bind(now)
        .bind(if version.published_at > 0 {
            version.published_at
        } else {
            now
        })
}

/// A package's newest release: its name, version, metadata and release time.
pub type NewestRelease = (String, String, String, i64);

/// Each package with its newest release (the latest released, the latest added among
/// equals).
const NEWEST_RELEASES: &str = "SELECT p.name, v.version, v.metadata, v.released_at FROM packages p \
     JOIN versions v ON v.id = (SELECT v2.id FROM versions v2 WHERE v2.package_id = p.id \
     ORDER BY v2.released_at DESC, v2.id DESC LIMIT 1)";

/// Creates the package row unless it exists.
async fn ensure_package(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    package: &str,
    kind: PackageKind,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO packages (name, kind, created_at, updated_at) VALUES ($1, $2, $3, $3) \
         ON CONFLICT (name) DO NOTHING",
    )
    .bind(package)
    .bind(kind)
    .bind(now_millis())
    .execute(&mut **tx)
    .await
    .map(drop)
}

impl Db {
    /// The counter every change to the packages table moves (`catalogue_stamp`, kept by
    /// triggers): one row, read when a replica must know whether its cache is behind.
    pub async fn catalogue_version(&self) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar("SELECT version FROM catalogue_stamp WHERE id = 1")
            .fetch_one(self.pool())
            .await
    }

    pub async fn package_stamps(&self) -> Result<Vec<PackageStamp>, sqlx::Error> {
        sqlx::query_as("SELECT name, updated_at FROM packages ORDER BY name")
            .fetch_all(self.pool())
            .await
    }

    /// The packages whose stamp is past `after`: what changed since a replica last
    /// looked, read through an index (stamps only grow, see `next_stamp`).
    pub async fn package_stamps_since(&self, after: i64) -> Result<Vec<PackageStamp>, sqlx::Error> {
        sqlx::query_as("SELECT name, updated_at FROM packages WHERE updated_at > $1")
            .bind(after)
            .fetch_all(self.pool())
            .await
    }

    /// How many packages there are: with [`Self::package_stamps_since`], tells a
    /// replica whether packages were also removed (or added without a new stamp).
    pub async fn package_count(&self) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar("SELECT COUNT(*) FROM packages")
            .fetch_one(self.pool())
            .await
    }

    pub async fn find_package(
        &self,
        name: &PackageName,
    ) -> Result<Option<PackageRow>, sqlx::Error> {
        sqlx::query_as(
            "SELECT id, name, kind, created_at, updated_at FROM packages WHERE name = $1",
        )
        .bind(name.as_str())
        .fetch_optional(self.pool())
        .await
    }

    /// The package and all its versions, read in one transaction so they agree.
    pub async fn package_with_versions(
        &self,
        name: &str,
    ) -> Result<Option<(PackageRow, Vec<VersionRecord>)>, sqlx::Error> {
        let mut tx = self.pool().begin().await?;
        let Some(package) = sqlx::query_as::<_, PackageRow>(
            "SELECT id, name, kind, created_at, updated_at FROM packages WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Ok(None);
        };
        let versions = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {VERSION_COLUMNS} FROM versions v WHERE v.package_id = $1"
        )))
        .bind(package.id)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some((package, versions)))
    }

    /// Each package's newest release (by release time): name, version, its published
    /// composer.json fields and when it was released. What the web UI lists and
    /// searches.
    pub async fn newest_releases(&self) -> Result<Vec<NewestRelease>, sqlx::Error> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{NEWEST_RELEASES} ORDER BY p.name"
        )))
        .fetch_all(self.pool())
        .await
    }

    /// [`Self::newest_releases`] of the packages named only (those that exist).
    pub async fn newest_releases_of(
        &self,
        names: &[&str],
    ) -> Result<Vec<NewestRelease>, sqlx::Error> {
        let mut found = Vec::with_capacity(names.len());
        // A bounded number of parameters per statement.
        for chunk in names.chunks(500) {
            let placeholders: Vec<String> = (1..=chunk.len()).map(|n| format!("${n}")).collect();
            let sql = format!(
                "{NEWEST_RELEASES} WHERE p.name IN ({}) ORDER BY p.name",
                placeholders.join(", ")
            );
            let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql));
            for name in chunk {
                query = query.bind(*name);
            }
            found.extend(query.fetch_all(self.pool()).await?);
        }
        Ok(found)
    }

    /// Deletes a package with its versions, install counts and README (the stored
    /// archives stay: lock files may still name them); whether it existed.
    pub async fn delete_package(&self, name: &str) -> Result<bool, sqlx::Error> {
        let mut tx = self.pool().begin().await?;
        let deleted = sqlx::query("DELETE FROM packages WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if deleted == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        super::audit::append(&mut tx, &Change::of_package("package.removed", name)).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Every version of every package with where its archive is, for `storage verify`.
    pub async fn all_versions(&self) -> Result<Vec<(String, VersionRecord)>, sqlx::Error> {
        let rows: Vec<NamedVersion> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT p.name, {VERSION_COLUMNS} FROM versions v JOIN packages p ON p.id = v.package_id \
             ORDER BY p.name, v.version_normalized"
        )))
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|row| (row.name, row.version))
            .collect())
    }

    pub async fn find_version(
        &self,
        package: &str,
        version_normalized: &str,
    ) -> Result<Option<VersionRecord>, sqlx::Error> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {VERSION_COLUMNS} FROM versions v JOIN packages p ON p.id = v.package_id \
             WHERE p.name = $1 AND v.version_normalized = $2"
        )))
        .bind(package)
        .bind(version_normalized)
        .fetch_optional(self.pool())
        .await
    }

    /// Inserts or replaces one version, creating the package if needed, and marks the
    /// package changed. Call only after the archive is stored: a row never points at a
    /// missing object.
    /// Inserts a version that must not exist yet; `false` (and no change) when another
    /// writer got there first, so concurrent first uploads cannot overwrite each other.
    pub async fn insert_new_version(
        &self,
        package: &str,
        kind: PackageKind,
        version: &VersionRecord,
    ) -> Result<bool, sqlx::Error> {
        let mut tx = self.pool().begin().await?;
        ensure_package(&mut tx, package, kind).await?;
        let query = sqlx::query(
            "INSERT INTO versions (package_id, version, version_normalized, reference, shasum, dist_store, \
             dist_key, metadata, released_at, updated_at, published_at) \
             SELECT id, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11 FROM packages WHERE name = $1 \
             ON CONFLICT (package_id, version_normalized) DO NOTHING",
        )
        .bind(package);
        let inserted = bind_version_fields(query, version)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if inserted == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        bump_stamp(&mut tx, package).await?;
        let change = Change::of_version("version.published", package, version);
        super::audit::append(&mut tx, &change).await?;
        tx.commit().await?;
        Ok(true)
    }

    pub async fn save_version(
        &self,
        package: &str,
        kind: PackageKind,
        version: &VersionRecord,
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.pool().begin().await?;
        ensure_package(&mut tx, package, kind).await?;
        let package_id = bump_stamp(&mut tx, package).await?;
        upsert_version(&mut tx, package_id, version).await?;
        let change = Change::of_version("version.published", package, version);
        super::audit::append(&mut tx, &change).await?;
        tx.commit().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::testing;

    fn version(v: &str, reference: &str) -> VersionRecord {
        testing::artifact_version(v, reference)
    }

    #[tokio::test]
    async fn new_versions_are_inserted_once() {
        for (db, _dir) in testing::engines().await {
            assert!(
                db.insert_new_version("acme/lib", PackageKind::Artifact, &version("1.0.0", "aaa"))
                    .await
                    .unwrap()
            );
            assert!(
                !db.insert_new_version("acme/lib", PackageKind::Artifact, &version("1.0.0", "bbb"))
                    .await
                    .unwrap()
            );
            let kept = db
                .find_version("acme/lib", "1.0.0.0")
                .await
                .unwrap()
                .unwrap();
            assert_eq!(kept.reference, "aaa", "the second writer changed nothing");
        }
    }

    /// A filtered document is dated by its package's stamp and the rules' stamp: each
    /// change to either must date it later, even when the other ran ahead of the clock
    /// (several changes within a second each move a stamp a second on).
    #[tokio::test]
    async fn package_and_rules_stamps_are_one_sequence() {
        for (db, _dir) in testing::engines().await {
            let suffix = testing::unique_suffix();
            let package = format!("acme/p{}", suffix.replace('_', ""));
            db.save_version(&package, PackageKind::Artifact, &version("1.0.0", "aaa"))
                .await
                .unwrap();
            let stamp_of = |stamps: Vec<crate::db::PackageStamp>| {
                stamps
                    .into_iter()
                    .find(|stamp| stamp.name == package)
                    .unwrap()
                    .updated_at
            };
            for i in 0..4 {
                let name = format!("u{i}x{suffix}");
                db.create_user(&name, crate::db::Role::User, &format!("hash{i}{suffix}"))
                    .await
                    .unwrap();
            }
            let rules = db.access_stamp().await.unwrap();
            assert!(rules > stamp_of(db.package_stamps().await.unwrap()));
            db.save_version(&package, PackageKind::Artifact, &version("1.1.0", "bbb"))
                .await
                .unwrap();
            let changed = stamp_of(db.package_stamps().await.unwrap());
            assert!(changed > rules, "{changed} <= {rules}");
            db.create_user(
                &format!("last{suffix}"),
                crate::db::Role::User,
                &format!("h{suffix}"),
            )
            .await
            .unwrap();
            assert!(db.access_stamp().await.unwrap() > changed);
        }
    }

    #[tokio::test]
    async fn versions_are_saved_replaced_and_stamped() {
        for (db, _dir) in testing::engines().await {
            db.save_version("acme/lib", PackageKind::Artifact, &version("1.0.0", "aaa"))
                .await
                .unwrap();
            let first = db.package_stamps().await.unwrap();
            assert_eq!(first.len(), 1);
            db.save_version("acme/lib", PackageKind::Artifact, &version("1.0.0", "bbb"))
                .await
                .unwrap();
            db.save_version("acme/lib", PackageKind::Artifact, &version("1.1.0", "ccc"))
                .await
                .unwrap();
            let second = db.package_stamps().await.unwrap();
            assert!(
                second[0].updated_at > first[0].updated_at,
                "{first:?} {second:?}"
            );

            let (package, mut versions) =
                db.package_with_versions("acme/lib").await.unwrap().unwrap();
            assert_eq!(package.kind, PackageKind::Artifact);
            versions.sort_by(|a, b| a.version.cmp(&b.version));
            let references: Vec<_> = versions.iter().map(|v| v.reference.as_str()).collect();
            assert_eq!(references, ["bbb", "ccc"]);
            let found = db
                .find_version("acme/lib", "1.0.0.0")
                .await
                .unwrap()
                .unwrap();
            assert_eq!(found.dist_key, "bbb.zip");
            assert!(
                db.find_version("acme/lib", "9.0.0.0")
                    .await
                    .unwrap()
                    .is_none()
            );
            assert!(
                db.package_with_versions("acme/none")
                    .await
                    .unwrap()
                    .is_none()
            );
        }
    }
}
