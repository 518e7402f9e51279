//! Scanning a git repository for package versions: bring its mirror up to date, read
//! composer.json at every branch and tag, and derive versions as Composer's own VCS
//! repository would (`composer::vcs`).
//!
//! A scan costs a fixed number of git processes whatever the number of refs:
//! `ls-remote`, `for-each-ref` and, when something changed, `fetch` and one
//! `cat-file --batch`. When the refs are those of the previous scan (same fingerprint)
//! nothing is read at all.

use std::collections::HashSet;

use composer::package_name::PackageName;
use composer::vcs::{
    DerivedVersion, GitRef, RefKind, Rejection, SkippedRef, derive_versions, package_name_of,
};

use super::git::{FileAt, GitError, Mirror};

/// The file every version's metadata comes from.
const COMPOSER_JSON: &str = "composer.json";
/// Largest composer.json read, as for uploads: a repository chooses its file sizes.
const MAX_COMPOSER_JSON: u64 = 1024 * 1024;
/// Most composer.json bytes one scan holds, over all refs (a blob that several refs
/// share counts once): a thousand tags of 10 KB each are a tenth of it, a repository
/// of ten thousand distinct megabyte files stops here.
const MAX_COMPOSER_JSON_TOTAL: u64 = 64 * 1024 * 1024;
/// The README names looked for at the default branch's root, in this order.
const README_NAMES: [&str; 6] = [
    "README.md",
    "readme.md",
    "Readme.md",
    "README.markdown",
    "README",
    "README.txt",
];

#[derive(Debug, Clone, PartialEq)]
pub enum ScanOutcome {
    /// The branches, tags and default branch are those the previous fingerprint
    /// describes: what was derived from them still holds.
    Unchanged { fingerprint: String },
    Scanned {
        /// The name in the default branch's composer.json.
        package: PackageName,
        fingerprint: String,
        /// In Composer's order: tags by name, the default branch, other branches by name.
        versions: Vec<DerivedVersion>,
        skipped: Vec<SkippedRef>,
        default_branch: String,
        /// The default branch's README, when it has one no larger than
        /// [`crate::readme::MAX_README_BYTES`].
        readme: Option<String>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// ls-remote failed: a wrong URL, no access, no network. The text is git's.
    #[error("cannot read the repository: {0}")]
    Unreachable(#[source] GitError),
    #[error("the repository is empty: it has no branches and no tags")]
    EmptyRepository,
    #[error("the repository's default branch ({0}) does not exist")]
    NoDefaultBranch(String),
    #[error("the default branch ({branch}) has no composer.json")]
    NoComposerJson { branch: String },
    #[error(
        "the composer.json of the default branch ({branch}) is {size} bytes; at most {MAX_COMPOSER_JSON} are read"
    )]
    ComposerJsonTooLarge { branch: String, size: u64 },
    #[error("the composer.json of the default branch ({branch}) is unusable: {reason}")]
    InvalidComposerJson {
        branch: String,
        #[source]
        reason: Rejection,
    },
    #[error(
        "the repository's default branch now names the package {found}, not {expected}; add it as a new package instead"
    )]
    PackageMismatch { expected: String, found: String },
    /// The mirror could not be created or updated; the text is git's.
    #[error("cannot fetch the repository: {0}")]
    Fetch(#[source] GitError),
    /// Reading the mirror failed.
    #[error("reading the repository mirror failed: {0}")]
    Mirror(#[source] GitError),
    #[error(
        "the scan took longer than PACKYARD_SCAN_TIMEOUT ({}s) and was stopped",
        .0.as_secs()
    )]
    TimedOut(std::time::Duration),
}

impl ScanError {
    /// Whether git was refused for want of (right) credentials.
    pub fn is_refused_credentials(&self) -> bool {
        match self {
            ScanError::Unreachable(error) | ScanError::Fetch(error) => {
                error.is_refused_credentials()
            }
            _ => false,
        }
    }
}

/// Scans the repository through `mirror` (created when absent). With
/// `expected_package`, the default branch must still name that package; with
/// `previous_fingerprint` equal to the refs' fingerprint, nothing is derived.
pub async fn scan(
    mirror: &Mirror,
    expected_package: Option<&str>,
    previous_fingerprint: Option<&str>,
) -> Result<ScanOutcome, ScanError> {
    let _exclusive = mirror.lock().await;
    let (listing, refs) = if mirror.exists() {
        let remote = mirror
            .remote_listing()
            .await
            .map_err(ScanError::Unreachable)?;
        if remote.is_empty() {
            return Err(ScanError::EmptyRepository);
        }
        mirror.sync(&remote).await.map_err(ScanError::Fetch)?
    } else {
        // A first scan: the clone is the first read of the repository, and tells what
        // it has without a round trip of its own.
        mirror.create_new().await.map_err(ScanError::Unreachable)?
    };
    if refs.is_empty() {
        return Err(ScanError::EmptyRepository);
    }
    let fingerprint = listing.fingerprint();
    if previous_fingerprint == Some(fingerprint.as_str()) {
        return Ok(ScanOutcome::Unchanged { fingerprint });
    }
    let Some(default_branch) = listing.head.clone() else {
        let named = mirror.head_branch().unwrap_or_else(|| "master".to_owned());
        return Err(ScanError::NoDefaultBranch(named));
    };

    let default_ref = refs
        .iter()
        .find(|r| r.kind == RefKind::Branch && r.name == default_branch)
        .expect("HEAD names a listed branch");
    // The default branch first: its composer.json names the package, and it must not
    // be the one the total budget leaves unread.
    let mut seen = HashSet::new();
    let commits: Vec<&str> = std::iter::once(default_ref)
        .chain(&refs)
        .filter(|r| r.target_type == "commit" && seen.insert(r.target.as_str()))
        .map(|r| r.target.as_str())
        .collect();
    // What is read below, fetched in one request when the mirror is partial.
    let mut blobs = mirror
        .blobs_at(&commits, &[COMPOSER_JSON])
        .await
        .map_err(ScanError::Mirror)?;
    blobs.extend(
        mirror
            .blobs_at(&[default_ref.target.as_str()], &README_NAMES)
            .await
            .map_err(ScanError::Mirror)?,
    );
    mirror
        .fetch_missing(blobs)
        .await
        .map_err(ScanError::Fetch)?;
    let files = mirror
        .files_at(
            &commits,
            COMPOSER_JSON,
            MAX_COMPOSER_JSON,
            MAX_COMPOSER_JSON_TOTAL,
        )
        .await
        .map_err(ScanError::Mirror)?;

    let package = match files.get(&default_ref.target) {
        Some(FileAt::File(json)) => {
            package_name_of(json).map_err(|reason| ScanError::InvalidComposerJson {
                branch: default_branch.clone(),
                reason,
            })?
        }
        Some(FileAt::TooLarge(size)) => {
            return Err(ScanError::ComposerJsonTooLarge {
                branch: default_branch,
                size: *size,
            });
        }
        _ => {
            return Err(ScanError::NoComposerJson {
                branch: default_branch,
            });
        }
    };
    if let Some(expected) = expected_package.filter(|expected| *expected != package.as_str()) {
        return Err(ScanError::PackageMismatch {
            expected: expected.to_owned(),
            found: package.into(),
        });
    }

    let mut git_refs = Vec::with_capacity(refs.len());
    let mut unreadable = Vec::new();
    for r in &refs {
        let skip = |reason: String| SkippedRef {
            ref_name: r.name.clone(),
            kind: r.kind,
            reason,
        };
        if r.target_type != "commit" {
            unreadable.push(skip(format!(
                "the tag points to a {}, not a commit",
                r.target_type
            )));
            continue;
        }
        let composer_json = match files.get(&r.target) {
            Some(FileAt::File(bytes)) => Some(bytes.clone()),
            Some(FileAt::NotAFile(kind)) => {
                unreadable.push(skip(format!("composer.json is a {kind}, not a file")));
                continue;
            }
            Some(FileAt::TooLarge(size)) => {
                unreadable.push(skip(format!(
                    "composer.json is {size} bytes; at most {MAX_COMPOSER_JSON} are read"
                )));
                continue;
            }
            Some(FileAt::OverBudget) => {
                unreadable.push(skip(format!(
                    "the repository's composer.json files exceed {} MiB together; this one was not read",
                    MAX_COMPOSER_JSON_TOTAL >> 20
                )));
                continue;
            }
            Some(FileAt::Missing) | None => None,
        };
        git_refs.push(GitRef {
            name: r.name.clone(),
            kind: r.kind,
            commit: r.target.clone(),
            time: r.time,
            composer_json,
        });
    }
    let (versions, mut skipped) = derive_versions(package.as_str(), &default_branch, &git_refs);
    skipped.extend(unreadable);
    let readme = read_readme(mirror, &default_ref.target).await?;
    Ok(ScanOutcome::Scanned {
        package,
        fingerprint,
        versions,
        skipped,
        default_branch,
        readme,
    })
}

/// The README at the root of `commit`: the first of [`README_NAMES`] that is a file
/// small enough, as text.
async fn read_readme(mirror: &Mirror, commit: &str) -> Result<Option<String>, ScanError> {
    let limit = crate::readme::MAX_README_BYTES as u64;
    for name in README_NAMES {
        let mut files = mirror
            .files_at(&[commit], name, limit, limit)
            .await
            .map_err(ScanError::Mirror)?;
        match files.remove(commit) {
            Some(FileAt::File(bytes)) => {
                return Ok(Some(String::from_utf8_lossy(&bytes).into_owned()));
            }
            // Too large to show: no README rather than part of one.
            Some(FileAt::TooLarge(_)) => return Ok(None),
            _ => {}
        }
    }
    Ok(None)
}
