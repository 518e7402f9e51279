//! Sub-repositories: one installation, several Composer repositories, each at
//! `/{slug}/…` with only its packages (and the mirrors it includes). The rules their
//! fields follow live here; adding, changing and removing them is
//! [`super::AccessAdmin`]'s, for the API, the web UI and the CLI alike. Serving them is
//! the extractors' `Reader` (which narrows the caller's view to the sub-repository's
//! packages) and `ClientBase` (which keeps every URL under the slug).

use crate::db::{Db, ROOT_SUB_REPOSITORY};

use super::check_grant_target;

/// Why a sub-repository change was refused.
#[derive(Debug, thiserror::Error)]
pub enum SubRepositoryError {
    #[error(
        "invalid slug {0:?}: use 1-64 lowercase letters, digits and '-', starting with a letter or digit"
    )]
    InvalidSlug(String),
    #[error("the slug {0:?} is a path packyard serves itself (/{0}/…); pick another")]
    ReservedSlug(String),
    #[error("a sub-repository needs a name")]
    MissingName,
    #[error("{0:?} is neither a package name nor a pattern of lowercase name characters and *")]
    InvalidPackage(String),
    #[error("invalid host name {0:?}: use lowercase letters, digits, '.' and '-'")]
    InvalidHost(String),
    #[error(
        "the host name {0} is the root repository's (PACKYARD_PUBLIC_URL) or an address; a sub-repository needs a name of its own"
    )]
    RootHost(String),
    #[error(
        "a sub-repository has at most {MAX_PACKAGE_ENTRIES} package entries, {MAX_HOSTS} host names and a name of {MAX_NAME} characters"
    )]
    TooLarge,
    #[error("the host name {host} already belongs to the sub-repository {slug}")]
    HostTaken { host: String, slug: String },
    #[error("no mirror is named {0:?}: {1}")]
    UnknownMirror(String, String),
    #[error("the sub-repository {0} already exists")]
    Exists(String),
    #[error("no sub-repository {0}")]
    Unknown(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

/// Bounds on what one sub-repository holds (every replica keeps them all in memory).
pub const MAX_PACKAGE_ENTRIES: usize = 10_000;
pub const MAX_HOSTS: usize = 32;
pub const MAX_NAME: usize = 200;

/// A change to a sub-repository: `None` leaves a field as it is.
#[derive(Debug, Default, Clone)]
pub struct SubRepositoryChange {
    pub name: Option<String>,
    /// Replaces the package list.
    pub packages: Option<Vec<String>>,
    pub add_packages: Vec<String>,
    pub remove_packages: Vec<String>,
    /// Replaces the host names.
    pub hosts: Option<Vec<String>>,
    pub public: Option<bool>,
    /// Replaces the mirrors it includes.
    pub mirrors: Option<Vec<String>>,
}

/// The first segments of the paths packyard serves itself (`/api/…`, `/p2/…`): no slug
/// may take one. A test in `routes` reads the routes and holds this list to them, so a
/// new route cannot be shadowed by a sub-repository (nor one slip in unlisted).
pub const RESERVED_SEGMENTS: &[&str] = &[
    "admin",
    "api",
    "assets",
    "downloads",
    "healthz",
    "jobs",
    "login",
    "logout",
    "metadata",
    "metrics",
    "mirror",
    "p",
    "p2",
    "packages",
    "packages.json",
    "profile",
    "readyz",
    "search.json",
    "zipball",
];

/// Whether `slug` may name a sub-repository: `[a-z0-9-]`, 1 to 64, not starting with
/// `-`, not a first path segment packyard serves ([`RESERVED_SEGMENTS`]), and neither
/// `root` nor `all`, which limits use for the root repository and for no limit.
pub fn check_slug(slug: &str) -> Result<(), SubRepositoryError> {
    let valid = (1..=64).contains(&slug.len())
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-');
    if !valid {
        return Err(SubRepositoryError::InvalidSlug(slug.to_owned()));
    }
    if RESERVED_SEGMENTS.contains(&slug) || [ROOT_SUB_REPOSITORY, "all"].contains(&slug) {
        return Err(SubRepositoryError::ReservedSlug(slug.to_owned()));
    }
    Ok(())
}

pub(super) fn check_packages(packages: &[String]) -> Result<(), SubRepositoryError> {
    for package in packages {
        check_grant_target(package)
            .map_err(|_| SubRepositoryError::InvalidPackage(package.clone()))?;
    }
    Ok(())
}

/// Host names: lowercase DNS names (or addresses), each answering for one
/// sub-repository only.
pub(super) async fn check_hosts(
    db: &Db,
    slug: &str,
    hosts: &[String],
    root_host: Option<&str>,
) -> Result<(), SubRepositoryError> {
    for host in hosts {
        // The root's own name would take its place; an address is how clients reach
        // the root when no name is set up.
        if Some(host.as_str()) == root_host || host.parse::<std::net::Ipv4Addr>().is_ok() {
            return Err(SubRepositoryError::RootHost(host.clone()));
        }
        let valid = (1..=253).contains(&host.len())
            && host
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
            && !host.starts_with(['.', '-']);
        if !valid {
            return Err(SubRepositoryError::InvalidHost(host.clone()));
        }
    }
    for other in db.sub_repositories().await? {
        if other.slug == slug {
            continue;
        }
        if let Some(host) = hosts.iter().find(|host| other.hosts.contains(host)) {
            return Err(SubRepositoryError::HostTaken {
                host: host.clone(),
                slug: other.slug,
            });
        }
    }
    Ok(())
}

/// Mirror aliases that exist (`known`), in the order given, without repeats: the
/// order in which they are asked for a package.
pub(super) fn check_mirrors(
    mirrors: Vec<String>,
    known: &[&str],
) -> Result<Vec<String>, SubRepositoryError> {
    let mut checked: Vec<String> = Vec::new();
    for alias in mirrors {
        if !known.contains(&alias.as_str()) {
            let known = if known.is_empty() {
                "there are none".to_owned()
            } else {
                format!("they are {}", known.join(", "))
            };
            return Err(SubRepositoryError::UnknownMirror(alias, known));
        }
        if !checked.contains(&alias) {
            checked.push(alias);
        }
    }
    Ok(checked)
}

/// Sorted, without repeats.
pub(super) fn tidy(mut packages: Vec<String>) -> Vec<String> {
    packages.sort();
    packages.dedup();
    packages
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_plain_and_never_a_path_of_ours() {
        assert!(check_slug("client-a").is_ok());
        assert!(check_slug("a1").is_ok());
        for bad in ["", "Client", "a_b", "-a", "a/b", "a.b", &"a".repeat(65)] {
            assert!(
                matches!(check_slug(bad), Err(SubRepositoryError::InvalidSlug(_))),
                "{bad:?}"
            );
        }
        for taken in ["api", "p2", "packages", "root", "all"] {
            assert!(matches!(
                check_slug(taken),
                Err(SubRepositoryError::ReservedSlug(_))
            ));
        }
    }
}
