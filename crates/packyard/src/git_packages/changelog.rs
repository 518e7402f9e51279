//! A git package's changelog between two of its versions (Packeton's
//! `/packages/{name}/changelog`): the subjects of the commits the newer one has and the
//! older one lacks, read from the package's bare mirror.
//!
//! The versions are named by the caller; git is given only their commits, read from the
//! package's version rows and checked to be commit ids, never a word the caller wrote.

use std::cmp::Ordering;

use composer::constraint::php_version_compare;
use composer::package_name::PackageName;

use super::git::GitError;
use super::repository::Repository;
use super::{GitPackageError, GitPackages};
use crate::access::View;
use crate::db::VersionRecord;

/// The most commits a changelog lists (newest first).
pub const MAX_CHANGELOG_COMMITS: usize = 1000;

/// The subjects of the commits between two versions of a package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changelog {
    pub package: String,
    /// The versions as the caller named them (`from`: the release before `to` when it
    /// named none).
    pub from: String,
    pub to: String,
    /// Newest first, merges left out, at most [`MAX_CHANGELOG_COMMITS`].
    pub subjects: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ChangelogError {
    /// Unknown, or not one the caller sees: the same answer.
    #[error("package {0} not found")]
    UnknownPackage(String),
    /// Packeton's words.
    #[error("Parameters: \"to\" can not be empty")]
    MissingTo,
    #[error(
        "{0} is not a git package: its versions were uploaded, and a changelog is read from git history"
    )]
    NotGit(String),
    #[error("{package} has no version {version}")]
    UnknownVersion { package: String, version: String },
    /// Packeton's words: `to` has no earlier release to start from.
    #[error("Previous release do not exists")]
    NoPreviousRelease,
    #[error(transparent)]
    Repository(GitPackageError),
    #[error("reading the history of {package}: {source}")]
    Git {
        package: String,
        #[source]
        source: GitError,
    },
    #[error("reading the history of {package} took longer than {limit:?}")]
    TimedOut {
        package: String,
        limit: std::time::Duration,
    },
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

impl crate::error::Classify for ChangelogError {
    fn kind(&self) -> crate::error::ErrorKind {
        use crate::error::ErrorKind;
        match self {
            ChangelogError::UnknownPackage(_) => ErrorKind::NotFound,
            ChangelogError::MissingTo
            | ChangelogError::NotGit(_)
            | ChangelogError::UnknownVersion { .. }
            | ChangelogError::NoPreviousRelease => ErrorKind::Invalid,
            ChangelogError::Repository(error) => error.kind(),
            // git's words may quote the remote: the log only.
            ChangelogError::Git { .. } | ChangelogError::TimedOut { .. } => {
                ErrorKind::Upstream("the repository could not be read for the changelog")
            }
            ChangelogError::Database(error) => error.kind(),
        }
    }
}

impl GitPackages {
    /// The changelog of the git package `package` from the version `from` (by default
    /// the newest release before `to`, as Packeton picks it) to `to`, among the
    /// versions `view` sees. A version is named as published (`v1.2.0`) or by any
    /// spelling that normalizes to it (`1.2.0`). The mirror is only a cache: when it
    /// lacks a commit (another replica scanned, or it was never made here) it is
    /// brought up to date once, all within `PACKYARD_SCAN_TIMEOUT`.
    pub async fn changelog(
        &self,
        package: &PackageName,
        view: &View,
        from: Option<&str>,
        to: Option<&str>,
    ) -> Result<Changelog, ChangelogError> {
        let name = package.as_str();
        let Some(versions) = self.metadata.visible_versions(package, view).await? else {
            return Err(ChangelogError::UnknownPackage(name.to_owned()));
        };
        let to = to
            .map(str::trim)
            .filter(|to| !to.is_empty())
            .ok_or(ChangelogError::MissingTo)?;
        let Some(vcs) = self.db.git_package(name).await? else {
            return Err(ChangelogError::NotGit(name.to_owned()));
        };
        let named = |given: &str| {
            version_named(&versions, given).ok_or_else(|| ChangelogError::UnknownVersion {
                package: name.to_owned(),
                version: given.to_owned(),
            })
        };
        let to_version = named(to)?;
        let (from, from_version) =
            if let Some(from) = from.map(str::trim).filter(|from| !from.is_empty()) {
                (from.to_owned(), named(from)?)
            } else {
                let previous = previous_release(&versions, to_version)
                    .ok_or(ChangelogError::NoPreviousRelease)?;
                (previous.version.clone(), previous)
            };
        let repository = Repository::of(&self.options, &self.secrets, &vcs)
            .map_err(ChangelogError::Repository)?;
        let limit = self.options.limits.scan_timeout;
        // Past the limit the read is dropped, which kills its git processes.
        let subjects = tokio::time::timeout(
            limit,
            subjects_between(&repository, &from_version.reference, &to_version.reference),
        )
        .await
        .map_err(|_| ChangelogError::TimedOut {
            package: name.to_owned(),
            limit,
        })?
        .map_err(|source| ChangelogError::Git {
            package: name.to_owned(),
            source,
        })?;
        Ok(Changelog {
            package: name.to_owned(),
            from,
            to: to.to_owned(),
            subjects,
        })
    }
}

/// The subjects between two commits, from the mirror as it is, else once it is up to date.
async fn subjects_between(
    repository: &Repository,
    from: &str,
    to: &str,
) -> Result<Vec<String>, GitError> {
    let mirror = repository.mirror();
    if let Ok(subjects) = mirror
        .subjects_between(from, to, MAX_CHANGELOG_COMMITS)
        .await
    {
        return Ok(subjects);
    }
    mirror.update().await?;
    mirror
        .subjects_between(from, to, MAX_CHANGELOG_COMMITS)
        .await
}

/// The version `given` names: published as `given`, else normalized alike.
fn version_named<'a>(versions: &'a [VersionRecord], given: &str) -> Option<&'a VersionRecord> {
    versions
        .iter()
        .find(|version| version.version == given)
        .or_else(|| {
            let normalized = composer::version::normalize(given).ok()?;
            versions
                .iter()
                .find(|version| version.version_normalized == normalized)
        })
}

/// The newest release (no branch) older than `to`, by PHP's `version_compare`, as
/// Packeton's `VersionRepository::getPreviousRelease` picks it (on normalized versions,
/// so that `v1.0.0` and `1.0.1` compare as numbers).
fn previous_release<'a>(
    versions: &'a [VersionRecord],
    to: &VersionRecord,
) -> Option<&'a VersionRecord> {
    versions
        .iter()
        .filter(|version| !composer::version::is_dev(&version.version_normalized))
        .filter(|version| {
            php_version_compare(&to.version_normalized, &version.version_normalized)
                == Ordering::Greater
        })
        .max_by(|a, b| php_version_compare(&a.version_normalized, &b.version_normalized))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::testing;

    fn version(pretty: &str, normalized: &str) -> VersionRecord {
        VersionRecord {
            version_normalized: normalized.into(),
            ..testing::artifact_version(pretty, pretty)
        }
    }

    #[test]
    fn versions_are_named_as_published_or_by_any_spelling_of_them() {
        let versions = [
            version("v1.0.0", "1.0.0.0"),
            version("dev-main", "dev-main"),
        ];
        let found = |given| version_named(&versions, given).map(|v| v.version.as_str());
        assert_eq!(found("v1.0.0"), Some("v1.0.0"));
        assert_eq!(found("1.0.0"), Some("v1.0.0"));
        assert_eq!(found("1.0"), Some("v1.0.0"));
        assert_eq!(found("dev-main"), Some("dev-main"));
        assert_eq!(found("2.0.0"), None);
        assert_eq!(found("--output=/tmp/x"), None);
    }

    #[test]
    fn the_previous_release_is_the_newest_older_tag() {
        let versions = [
            version("1.0.0", "1.0.0.0"),
            version("v1.10.0", "1.10.0.0"),
            version("1.2.0", "1.2.0.0"),
            version("2.0.0-RC1", "2.0.0.0-RC1"),
            version("2.0.0", "2.0.0.0"),
            version("1.x-dev", "1.9999999.9999999.9999999-dev"),
            version("dev-main", "dev-main"),
        ];
        let previous = |to: &str| {
            let to = version_named(&versions, to).unwrap();
            previous_release(&versions, to).map(|v| v.version.as_str())
        };
        assert_eq!(previous("2.0.0"), Some("2.0.0-RC1"));
        assert_eq!(previous("2.0.0-RC1"), Some("v1.10.0"));
        assert_eq!(previous("v1.10.0"), Some("1.2.0"));
        assert_eq!(previous("1.0.0"), None);
        // A branch never starts a changelog, but may end one.
        assert_eq!(previous("1.x-dev"), Some("v1.10.0"));
    }
}
