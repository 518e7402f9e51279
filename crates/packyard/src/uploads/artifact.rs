//! Uploaded archives: a zip with a composer.json becomes one version of a package.
//!
//! The archive is checked completely before anything is written: it must be a zip
//! without unsafe entries, with a valid composer.json at its root or in its single
//! top-level folder. Then the archive is stored (named by its sha1) and only then is the
//! version recorded, so the database never points at a missing object.

use std::io::{Read, Seek};
use std::path::Path;

use composer::manifest::Manifest;
use composer::package_name::PackageName;
use serde_json::{Map, Value};
use storage::{Storage, StorageError, StoreName, keys};
use zip::ZipArchive;

use super::archive_file::ArchiveFile;
use crate::db::{Db, PackageKind, VersionRecord, now_millis};
use crate::supply_chain::Immutability;

/// composer.json files larger than this are refused rather than read into memory.
const MAX_MANIFEST_SIZE: u64 = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("the upload is not a zip archive: {0}")]
    NotZip(String),
    #[error("unsafe archive entry {0:?}: absolute paths, '..' and symlinks are not allowed")]
    UnsafeEntry(String),
    #[error("no composer.json at the archive root or in its single top-level folder")]
    NoManifest,
    #[error("invalid composer.json: {0}")]
    InvalidManifest(String),
    #[error("invalid package name: {0}")]
    InvalidName(String),
    #[error("composer.json names the package {manifest:?} but it was uploaded as {requested:?}")]
    NameMismatch { requested: String, manifest: String },
    #[error("no version given: pass --version or set \"version\" in composer.json")]
    MissingVersion,
    #[error("invalid version {version:?}: {reason}")]
    InvalidVersion { version: String, reason: String },
    #[error("{0}")]
    VersionTooLong(#[source] composer::version::VersionError),
    #[error(
        "version {version} of {package} already exists with a different archive (reference {existing}); add ?force=1 to replace it"
    )]
    VersionExists {
        package: String,
        version: String,
        existing: String,
    },
    #[error("{package} is a {kind} package; archives can only be uploaded to artifact packages")]
    WrongKind { package: String, kind: String },
    #[error("storage unavailable: {0}")]
    Storage(#[from] StorageError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("reading the archive: {0}")]
    Io(#[from] std::io::Error),
}

impl crate::error::Classify for UploadError {
    fn kind(&self) -> crate::error::ErrorKind {
        use crate::error::ErrorKind;
        match self {
            UploadError::NotZip(_)
            | UploadError::UnsafeEntry(_)
            | UploadError::NoManifest
            | UploadError::InvalidManifest(_)
            | UploadError::InvalidName(_)
            | UploadError::NameMismatch { .. }
            | UploadError::MissingVersion
            | UploadError::InvalidVersion { .. }
            | UploadError::VersionTooLong(_) => ErrorKind::Invalid,
            UploadError::VersionExists { .. } | UploadError::WrongKind { .. } => {
                ErrorKind::Conflict
            }
            UploadError::Storage(error) => error.kind(),
            UploadError::Database(error) => error.kind(),
            UploadError::Io(_) => ErrorKind::Internal("reading the upload failed"),
        }
    }
}

/// What the uploader asked for.
#[derive(Debug, Clone, Default)]
pub struct PublishRequest {
    /// The name from the route; `None` takes the name from composer.json.
    pub package: Option<String>,
    /// The version from the route or `--version`; `None` takes composer.json's `version`.
    pub version: Option<String>,
    /// Replace an existing version that has a different archive.
    pub force: bool,
    /// Who uploads (`Actor::name`). Recorded with the archive a forced replacement of
    /// an immutable version keeps.
    pub by: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Created,
    Replaced,
    /// The same bytes were already stored for this version.
    Unchanged,
}

impl Outcome {
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::Replaced => "replaced",
            Outcome::Unchanged => "unchanged",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Published {
    pub package: PackageName,
    pub version: String,
    pub version_normalized: String,
    pub reference: String,
    pub outcome: Outcome,
    /// Whether this upload made the package (its first version).
    pub new_package: bool,
}

pub async fn publish(
    db: &Db,
    storage: &Storage,
    immutability: Immutability,
    archive: &ArchiveFile,
    request: PublishRequest,
) -> Result<Published, UploadError> {
    let path = archive.path.clone();
    let Contents { manifest, readme } = tokio::task::spawn_blocking(move || read_contents(&path))
        .await
        .map_err(|e| UploadError::Io(std::io::Error::other(e)))??;
    let identity = identify(&manifest, &request)?;

    let found = db.find_package(&identity.package).await?;
    if let Some(package) = &found
        && package.kind != PackageKind::Artifact
    {
        return Err(UploadError::WrongKind {
            package: package.name.to_string(),
            kind: package.kind.to_string(),
        });
    }
    let existing = db
        .find_version(identity.package.as_str(), &identity.version_normalized)
        .await?;
    let outcome = match &existing {
        None => Outcome::Created,
        Some(row) if row.reference == archive.sha1 => Outcome::Unchanged,
        Some(_) if request.force => Outcome::Replaced,
        Some(row) => {
            return Err(UploadError::VersionExists {
                package: identity.package.into(),
                version: identity.version,
                existing: row.reference.clone(),
            });
        }
    };
    let published = Published {
        package: identity.package.clone(),
        version: identity.version.clone(),
        version_normalized: identity.version_normalized.clone(),
        reference: archive.sha1.clone(),
        outcome: outcome.clone(),
        new_package: found.is_none(),
    };
    if outcome == Outcome::Unchanged {
        return Ok(published);
    }

    let key = keys::artifact(&archive.sha1, "zip");
    let artifacts = storage.store(StoreName::Artifact);
    if artifacts.size(&key).await? != Some(archive.size) {
        artifacts.put_file(&key, &archive.path).await?;
    }
    let version = VersionRecord {
        version: identity.version,
        version_normalized: identity.version_normalized,
        reference: archive.sha1.clone(),
        shasum: archive.sha1.clone(),
        dist_store: StoreName::Artifact,
        dist_key: key,
        metadata: Value::Object(published_fields(&manifest)).to_string(),
        released_at: now_millis(),
        published_at: 0,
    };
    if let (Outcome::Replaced, Some(previous)) = (&outcome, &existing) {
        if immutability.freezes(&previous.version_normalized) {
            // The archive it replaces stays downloadable for the lock files naming it.
            db.replace_retaining(identity.package.as_str(), &version, previous, &request.by)
                .await?;
            tracing::warn!(
                package = %identity.package,
                version = %version.version,
                previous = %previous.reference,
                reference = %version.reference,
                by = %request.by,
                "an immutable version was replaced with --force; its previous archive stays downloadable"
            );
        } else {
            db.save_version(identity.package.as_str(), PackageKind::Artifact, &version)
                .await?;
        }
    } else if !db
        .insert_new_version(identity.package.as_str(), PackageKind::Artifact, &version)
        .await?
    {
        // Another upload of this version landed while ours was being stored.
        let winner = db
            .find_version(identity.package.as_str(), &version.version_normalized)
            .await?;
        return match winner {
            Some(row) if row.reference == archive.sha1 => Ok(Published {
                outcome: Outcome::Unchanged,
                ..published
            }),
            row => Err(UploadError::VersionExists {
                package: identity.package.into(),
                version: version.version,
                existing: row.map(|r| r.reference).unwrap_or_default(),
            }),
        };
    }
    keep_readme_of_newest(db, &published, readme).await?;
    Ok(published)
}

/// The web UI shows the README of the newest upload: stable versions win over dev
/// versions, then the higher version. A newest upload without a README shows none.
async fn keep_readme_of_newest(
    db: &Db,
    published: &Published,
    readme: Option<String>,
) -> Result<(), sqlx::Error> {
    let rank = |normalized: &str| !composer::version::is_dev(normalized);
    let newest = match db.readme(published.package.as_str()).await? {
        None => true,
        Some((shown, _)) => rank(&published.version_normalized)
            .cmp(&rank(&shown))
            .then_with(|| {
                composer::constraint::php_version_compare(&published.version_normalized, &shown)
            })
            .is_ge(),
    };
    if newest {
        let readme = readme
            .as_deref()
            .map(|content| (published.version_normalized.as_str(), content));
        db.set_readme(&published.package, readme).await?;
    }
    Ok(())
}

struct Identity {
    package: PackageName,
    version: String,
    version_normalized: String,
}

fn identify(manifest: &Manifest, request: &PublishRequest) -> Result<Identity, UploadError> {
    manifest
        .validate()
        .map_err(|e| UploadError::InvalidManifest(e.to_string()))?;
    let manifest_name = manifest.name().unwrap_or_default().to_owned();
    if let Some(requested) = &request.package {
        composer::package_name::validate(requested)
            .map_err(|e| UploadError::InvalidName(e.to_string()))?;
        if *requested != manifest_name {
            return Err(UploadError::NameMismatch {
                requested: requested.clone(),
                manifest: manifest_name,
            });
        }
    }
    let version = request
        .version
        .clone()
        .or_else(|| manifest.version().map(str::to_owned))
        .ok_or(UploadError::MissingVersion)?;
    let version_normalized = composer::version::normalize(&version).map_err(|e| match e {
        composer::version::VersionError::TooLong(_) => UploadError::VersionTooLong(e),
        _ => UploadError::InvalidVersion {
            version: version.clone(),
            reason: e.to_string(),
        },
    })?;
    let package =
        PackageName::parse(&manifest_name).map_err(|e| UploadError::InvalidName(e.to_string()))?;
    Ok(Identity {
        package,
        version,
        version_normalized,
    })
}

/// The composer.json fields that go into the metadata; name, version and dist are set
/// by the repository when rendering.
fn published_fields(manifest: &Manifest) -> Map<String, Value> {
    let mut fields = manifest.for_metadata();
    for owned_by_repository in ["name", "version", "version_normalized", "dist", "source"] {
        fields.remove(owned_by_repository);
    }
    fields
}

/// Checks every entry of the zip and returns its composer.json.
/// What publishing reads from an archive.
pub struct Contents {
    pub manifest: Manifest,
    /// The README next to composer.json, when there is one of at most
    /// [`crate::readme::MAX_README_BYTES`].
    pub readme: Option<String>,
}

pub fn read_contents(path: &Path) -> Result<Contents, UploadError> {
    read_archive(std::fs::File::open(path)?)
}

/// [`read_contents`] of an archive already open (or in memory).
pub fn read_archive<R: Read + Seek>(reader: R) -> Result<Contents, UploadError> {
    let mut archive = ZipArchive::new(reader).map_err(|e| UploadError::NotZip(e.to_string()))?;
    let mut names = Vec::with_capacity(archive.len());
    for index in 0..archive.len() {
        let entry = archive
            .by_index_raw(index)
            .map_err(|e| UploadError::NotZip(e.to_string()))?;
        let name = entry
            .name()
            .map_err(|e| UploadError::NotZip(e.to_string()))?
            .into_owned();
        if entry.is_symlink() || !is_safe_entry_name(&name) {
            return Err(UploadError::UnsafeEntry(name));
        }
        names.push(name);
    }
    let manifest_name = locate_manifest(&names).ok_or(UploadError::NoManifest)?;
    let bytes = read_entry(&mut archive, &manifest_name, MAX_MANIFEST_SIZE)?.ok_or_else(|| {
        UploadError::InvalidManifest(format!(
            "{manifest_name} is larger than {MAX_MANIFEST_SIZE} bytes"
        ))
    })?;
    let manifest =
        Manifest::from_slice(&bytes).map_err(|e| UploadError::InvalidManifest(e.to_string()))?;
    let folder = &manifest_name[..manifest_name.len() - "composer.json".len()];
    let readme_name = names.iter().find(|name| {
        name.strip_prefix(folder).is_some_and(|file| {
            ["readme.md", "readme.markdown", "readme", "readme.txt"]
                .contains(&file.to_ascii_lowercase().as_str())
        })
    });
    // A README that cannot be read (encrypted, an unknown compression) is no README:
    // it is shown, not installed, so it never fails an upload.
    let readme = readme_name
        .and_then(|name| {
            read_entry(&mut archive, name, crate::readme::MAX_README_BYTES as u64)
                .ok()
                .flatten()
        })
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned());
    Ok(Contents { manifest, readme })
}

/// The entry `name`, or `None` when it is larger than `limit` bytes (as declared, and
/// as read: the declared size may lie).
fn read_entry<R: Read + Seek>(
    archive: &mut ZipArchive<R>,
    name: &str,
    limit: u64,
) -> Result<Option<Vec<u8>>, UploadError> {
    let entry = archive
        .by_name(name)
        .map_err(|e| UploadError::NotZip(e.to_string()))?;
    if entry.size() > limit {
        return Ok(None);
    }
    let mut bytes = Vec::new();
    entry
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| UploadError::NotZip(e.to_string()))?;
    Ok((bytes.len() as u64 <= limit).then_some(bytes))
}

/// Relative, without `..` components, drive letters or backslash tricks.
fn is_safe_entry_name(name: &str) -> bool {
    let absolute =
        name.starts_with('/') || name.starts_with('\\') || name.as_bytes().get(1) == Some(&b':');
    let escapes = name.split(['/', '\\']).any(|component| component == "..");
    !(absolute || escapes || name.contains('\0'))
}

/// `composer.json` at the root, or in the one folder that holds every entry.
fn locate_manifest(names: &[String]) -> Option<String> {
    if names.iter().any(|n| n == "composer.json") {
        return Some("composer.json".to_owned());
    }
    let first = names.first()?;
    let (top, _) = first.split_once('/')?;
    let prefix = format!("{top}/");
    if !names.iter().all(|n| n.starts_with(&prefix)) {
        return None;
    }
    let candidate = format!("{prefix}composer.json");
    names.contains(&candidate).then_some(candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(std::string::ToString::to_string).collect()
    }

    #[test]
    fn manifest_is_found_at_root_or_in_single_folder() {
        assert_eq!(
            locate_manifest(&names(&["composer.json", "src/A.php"])).as_deref(),
            Some("composer.json")
        );
        assert_eq!(
            locate_manifest(&names(&[
                "lib-1.0/",
                "lib-1.0/composer.json",
                "lib-1.0/src/A.php"
            ]))
            .as_deref(),
            Some("lib-1.0/composer.json")
        );
        assert_eq!(
            locate_manifest(&names(&["a/composer.json", "b/x.php"])),
            None
        );
        assert_eq!(locate_manifest(&names(&["a/b/composer.json"])), None);
        assert_eq!(locate_manifest(&names(&["README.md"])), None);
        assert_eq!(locate_manifest(&[]), None);
    }

    #[test]
    fn unsafe_entry_names_are_detected() {
        for safe in ["composer.json", "src/A.php", "a/b..c/d", "dir/"] {
            assert!(is_safe_entry_name(safe), "{safe}");
        }
        for unsafe_name in [
            "../x",
            "a/../../x",
            "/etc/passwd",
            "\\x",
            "C:/x",
            "a\\..\\x",
            "..",
            "a\0b",
        ] {
            assert!(!is_safe_entry_name(unsafe_name), "{unsafe_name}");
        }
    }
}
