//! Reaching a package's repository: where its bare mirror lives in the VCS cache, and
//! its credentials, sealed in the database and laid out for git while it runs.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::git::{GitAuth, Mirror};
use super::{GitOptions, GitPackageError};
use crate::config::limits::GitLimits;
use crate::db::GitPackage;
use crate::outbound::NetworkPolicy;
use crate::repository_url;
use crate::secrets::{SealedFor, Secrets};

/// How to reach a private repository; stored sealed with `PACKYARD_SECRET`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    /// HTTPS user name and password or token.
    pub username: Option<String>,
    pub password: Option<String>,
    /// An SSH private key (OpenSSH format) for ssh:// and user@host:path URLs.
    pub ssh_key: Option<String>,
}

impl Credentials {
    /// Sealed for the database, as `package`'s for the repository at `repository` (the
    /// URL as stored).
    pub fn seal(
        &self,
        secrets: &Secrets,
        package: &str,
        repository: &str,
    ) -> Result<String, GitPackageError> {
        let plain = serde_json::to_vec(self).expect("credentials serialize");
        let owner = SealedFor::PackageCredentials {
            package,
            repository,
        };
        Ok(secrets.get()?.seal(&plain, owner))
    }

    /// The credentials stored for `package`, if any.
    pub fn of(
        secrets: &Secrets,
        package: &GitPackage,
    ) -> Result<Option<Credentials>, GitPackageError> {
        let Some(sealed) = &package.credentials else {
            return Ok(None);
        };
        let owner = SealedFor::PackageCredentials {
            package: package.name.as_str(),
            repository: &package.repository_url,
        };
        let plain = secrets.get()?.open(sealed, owner)?;
        serde_json::from_slice(&plain).map(Some).map_err(|source| {
            GitPackageError::UnreadableCredentials {
                package: package.name.to_string(),
                source,
            }
        })
    }
}

/// Everything git needs to work on one repository: its URL, its bare mirror, and the
/// credentials for it. An SSH key is written to a private temporary file that is
/// removed when this is dropped; ssh checks host keys against packyard's own known_hosts
/// (`PACKYARD_SSH_KNOWN_HOSTS`: new hosts pinned on first use, or only the listed hosts
/// when the file cannot be written), never the service user's.
pub struct Repository {
    pub url: String,
    pub mirror_dir: PathBuf,
    pub auth: GitAuth,
    pub limits: GitLimits,
    network_policy: NetworkPolicy,
    key_file: Option<PathBuf>,
}

impl Repository {
    /// The repository at `url`. A password written into the URL is taken out of it
    /// and sent as the `credentials` are (given credentials win), so that it never
    /// appears in git's arguments, which any local user can read.
    pub fn new(
        options: &GitOptions,
        url: &str,
        credentials: Option<&Credentials>,
    ) -> Result<Repository, GitPackageError> {
        let in_url = crate::redact::credentials_in(url);
        let url = crate::redact::public(url);
        let mut repository = Repository {
            mirror_dir: mirror_dir(&options.cache_dir, &url),
            auth: GitAuth::default(),
            limits: options.limits,
            network_policy: options.network_policy.clone(),
            key_file: None,
            url,
        };
        repository.auth.https_basic = in_url;
        if repository_url::endpoint(&repository.url).is_some_and(|e| e.scheme == "ssh") {
            // Pinned in packyard's own file whether or not a key is given.
            let known_hosts = options.ssh_known_hosts.clone();
            create_parent_dir(&known_hosts).map_err(|source| GitPackageError::KnownHosts {
                path: known_hosts.clone(),
                source,
            })?;
            repository.auth.known_hosts = Some(known_hosts);
        }
        let Some(credentials) = credentials else {
            return Ok(repository);
        };
        if let (Some(user), Some(password)) = (&credentials.username, &credentials.password) {
            repository.auth.https_basic = Some((user.clone(), password.clone()));
        }
        if let Some(key) = &credentials.ssh_key {
            let path = write_private_file(&options.cache_dir.join("keys"), key)
                .map_err(GitPackageError::KeyFile)?;
            // Removed on drop from here on, whatever fails next.
            repository.key_file = Some(path.clone());
            repository.auth.ssh_key_path = Some(path);
        }
        Ok(repository)
    }

    /// Its bare mirror, under its limits.
    pub fn mirror(&self) -> Mirror {
        Mirror::new(&self.url, &self.mirror_dir, &self.auth)
            .with_max_size(self.limits.max_repo_size)
            .with_network_policy(self.network_policy.clone())
    }

    /// The repository of a stored package, with its stored credentials.
    pub fn of(
        options: &GitOptions,
        secrets: &Secrets,
        package: &GitPackage,
    ) -> Result<Repository, GitPackageError> {
        let credentials = Credentials::of(secrets, package)?;
        Repository::new(options, &package.repository_url, credentials.as_ref())
    }
}

impl Drop for Repository {
    fn drop(&mut self) {
        if let Some(path) = &self.key_file {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// The bare mirror of a repository: named by the hash of its key, so every spelling of
/// one URL shares one mirror.
fn mirror_dir(cache_dir: &Path, url: &str) -> PathBuf {
    let digest = hex::encode(Sha256::digest(repository_url::key(url).as_bytes()));
    cache_dir.join(&digest[..32])
}

fn create_parent_dir(path: &Path) -> std::io::Result<()> {
    match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(parent) => std::fs::create_dir_all(parent),
        None => Ok(()),
    }
}

fn write_private_file(dir: &Path, content: &str) -> std::io::Result<PathBuf> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("key-{}", crate::auth::generate_token()));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)?;
    file.write_all(content.as_bytes())?;
    if !content.ends_with('\n') {
        file.write_all(b"\n")?;
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_of_a_repository_shares_one_mirror() {
        let cache = Path::new("/cache");
        let https = mirror_dir(cache, "https://github.com/Acme/Lib.git");
        assert_eq!(https, mirror_dir(cache, "git@github.com:acme/lib"));
        assert_ne!(https, mirror_dir(cache, "https://github.com/acme/other"));
        assert!(https.starts_with(cache));
    }
}
