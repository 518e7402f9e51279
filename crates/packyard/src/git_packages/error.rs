//! What can go wrong with a git package, typed to the HTTP edge: the caller's mistakes
//! (a bad URL, a repository that cannot be scanned, a taken name) and our own faults (a
//! key file that cannot be written, a failed build) stay distinguishable.

use std::path::PathBuf;

use storage::StorageError;

use super::git::GitError;
use super::scan::ScanError;
use crate::repository_url::InvalidRepositoryUrl;
use crate::secrets::SecretError;

#[derive(Debug, thiserror::Error)]
pub enum GitPackageError {
    #[error(transparent)]
    InvalidUrl(#[from] InvalidRepositoryUrl),
    #[error(
        "local repositories ({0}) can only be added with `packyard package add`, or over the API when PACKYARD_ALLOW_LOCAL_REPOSITORIES=1"
    )]
    LocalRepositoryRefused(String),
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// The repository could not be scanned: git's own words, or what is wrong with it.
    #[error("{}", scan_message(.source, *.credentials_sent))]
    Scan {
        #[source]
        source: ScanError,
        credentials_sent: bool,
    },
    #[error(
        "the package {package} already exists (from {origin}); remove it first or pick another name in composer.json"
    )]
    NameTaken { package: String, origin: String },
    #[error("no git package named {0}")]
    UnknownPackage(String),
    /// A package whose versions were uploaded: nothing to fetch or scan.
    #[error("{0} is not a git package: publish a new version by uploading it.")]
    NotGit(String),
    #[error("the stored credentials of {package} are unreadable: {source}")]
    UnreadableCredentials {
        package: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("cannot write the SSH key file: {0}")]
    KeyFile(#[source] std::io::Error),
    #[error("cannot prepare the SSH known_hosts file {}: {source}", .path.display())]
    KnownHosts {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("building the archive of {package} at {commit}: {source}")]
    Build {
        package: String,
        commit: String,
        #[source]
        source: BuildError,
    },
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("storage unavailable: {0}")]
    Storage(#[from] StorageError),
}

impl crate::error::Classify for GitPackageError {
    fn kind(&self) -> crate::error::ErrorKind {
        use crate::error::ErrorKind;
        match self {
            GitPackageError::InvalidUrl(_)
            | GitPackageError::LocalRepositoryRefused(_)
            | GitPackageError::NotGit(_) => ErrorKind::Invalid,
            GitPackageError::Secret(error) => error.kind(),
            GitPackageError::Scan { .. } => ErrorKind::Unprocessable,
            GitPackageError::NameTaken { .. } => ErrorKind::Conflict,
            GitPackageError::UnknownPackage(_) => ErrorKind::NotFound,
            // The repository could not give the commit: git's words (which may quote
            // the remote) go to the log only.
            GitPackageError::Build {
                source: BuildError::Git(_),
                ..
            } => ErrorKind::Upstream("the repository could not be read to build the archive"),
            GitPackageError::UnreadableCredentials { .. } => {
                ErrorKind::Internal("stored credentials are unusable")
            }
            GitPackageError::KeyFile(_)
            | GitPackageError::KnownHosts { .. }
            | GitPackageError::Build { .. } => ErrorKind::Internal("a server-side step failed"),
            GitPackageError::Database(error) => error.kind(),
            GitPackageError::Storage(error) => error.kind(),
        }
    }
}

/// Why a dist archive could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// git could not fetch the commit or archive it.
    #[error("git: {0}")]
    Git(#[from] GitError),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the build task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// A failed scan in words: git's own text, led by what it means when the repository
/// refused us for want of credentials.
fn scan_message(error: &ScanError, credentials_sent: bool) -> String {
    if !error.is_refused_credentials() {
        return error.to_string();
    }
    let meaning = if credentials_sent {
        "the repository refused the user name and password (HTTP 401)"
    } else {
        "the repository requires credentials (HTTP 401): give a user name and password \
         (--username and --password, or \"credentials\" over the API)"
    };
    format!("{meaning}; git said: {error}")
}
