//! Sub-repositories: one installation, several Composer repositories, each at
//! `/{slug}/…` with only its packages. Adding, changing and removing them, checked
//! here for the CLI (and, later, the API and the web UI); serving them is the
//! extractors' `Reader` (which narrows the caller's view to the sub-repository's
//! packages) and `ClientBase` (which keeps every URL under the slug).

use crate::db::{Db, SubRepositoryFields, SubRepositoryRow, is_unique_violation};

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
    #[error("the host name {host} already belongs to the sub-repository {slug}")]
    HostTaken { host: String, slug: String },
    #[error("the sub-repository {0} already exists")]
    Exists(String),
    #[error("no sub-repository {0}")]
    Unknown(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

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
}

/// Whether `slug` may name a sub-repository: `[a-z0-9-]`, 1 to 64, not starting with
/// `-`, and not a first path segment packyard serves (`is_reserved`, from the routes).
pub fn check_slug(
    slug: &str,
    is_reserved: impl Fn(&str) -> bool,
) -> Result<(), SubRepositoryError> {
    let valid = (1..=64).contains(&slug.len())
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-');
    if !valid {
        return Err(SubRepositoryError::InvalidSlug(slug.to_owned()));
    }
    if is_reserved(slug) {
        return Err(SubRepositoryError::ReservedSlug(slug.to_owned()));
    }
    Ok(())
}

fn check_packages(packages: &[String]) -> Result<(), SubRepositoryError> {
    for package in packages {
        check_grant_target(package)
            .map_err(|_| SubRepositoryError::InvalidPackage(package.clone()))?;
    }
    Ok(())
}

/// Host names: lowercase DNS names (or addresses), each answering for one
/// sub-repository only.
async fn check_hosts(db: &Db, slug: &str, hosts: &[String]) -> Result<(), SubRepositoryError> {
    for host in hosts {
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

/// Sorted, without repeats.
fn tidy(mut packages: Vec<String>) -> Vec<String> {
    packages.sort();
    packages.dedup();
    packages
}

/// Creates the sub-repository `slug` with `fields` (`mirrors` are not used yet).
pub async fn add(
    db: &Db,
    slug: &str,
    fields: SubRepositoryFields,
    is_reserved: impl Fn(&str) -> bool,
) -> Result<(), SubRepositoryError> {
    check_slug(slug, is_reserved)?;
    if fields.name.trim().is_empty() {
        return Err(SubRepositoryError::MissingName);
    }
    check_packages(&fields.packages)?;
    let hosts = tidy(fields.hosts);
    check_hosts(db, slug, &hosts).await?;
    let fields = SubRepositoryFields {
        name: fields.name.trim().to_owned(),
        packages: tidy(fields.packages),
        hosts,
        public: fields.public,
        mirrors: Vec::new(),
    };
    db.add_sub_repository(slug, &fields).await.map_err(|error| {
        if is_unique_violation(&error) {
            SubRepositoryError::Exists(slug.to_owned())
        } else {
            error.into()
        }
    })
}

pub async fn change(
    db: &Db,
    slug: &str,
    change: SubRepositoryChange,
) -> Result<SubRepositoryRow, SubRepositoryError> {
    let row = db
        .sub_repository(slug)
        .await?
        .ok_or_else(|| SubRepositoryError::Unknown(slug.to_owned()))?;
    let name = change.name.unwrap_or(row.name);
    if name.trim().is_empty() {
        return Err(SubRepositoryError::MissingName);
    }
    let mut packages = change.packages.unwrap_or(row.packages);
    check_packages(&change.add_packages)?;
    packages.extend(change.add_packages);
    packages.retain(|package| !change.remove_packages.contains(package));
    check_packages(&packages)?;
    let hosts = tidy(change.hosts.unwrap_or(row.hosts));
    check_hosts(db, slug, &hosts).await?;
    let fields = SubRepositoryFields {
        name: name.trim().to_owned(),
        packages: tidy(packages),
        hosts,
        public: change.public.unwrap_or(row.public),
        mirrors: row.mirrors,
    };
    if !db.set_sub_repository(slug, &fields).await? {
        return Err(SubRepositoryError::Unknown(slug.to_owned()));
    }
    Ok(db.sub_repository(slug).await?.expect("just changed"))
}

pub async fn remove(db: &Db, slug: &str) -> Result<(), SubRepositoryError> {
    if db.remove_sub_repository(slug).await? {
        Ok(())
    } else {
        Err(SubRepositoryError::Unknown(slug.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_plain_and_never_a_path_of_ours() {
        let reserved = |s: &str| ["api", "p2", "packages"].contains(&s);
        assert!(check_slug("client-a", reserved).is_ok());
        assert!(check_slug("a1", reserved).is_ok());
        for bad in ["", "Client", "a_b", "-a", "a/b", "a.b", &"a".repeat(65)] {
            assert!(
                matches!(
                    check_slug(bad, reserved),
                    Err(SubRepositoryError::InvalidSlug(_))
                ),
                "{bad:?}"
            );
        }
        for taken in ["api", "p2", "packages"] {
            assert!(matches!(
                check_slug(taken, reserved),
                Err(SubRepositoryError::ReservedSlug(_))
            ));
        }
    }

    #[tokio::test]
    async fn packages_are_checked_kept_sorted_and_changed_in_place() {
        let (db, _dir) = crate::db::testing::sqlite().await;
        let none = |_: &str| false;
        let fields = |name: &str, packages: &[&str], hosts: &[&str]| SubRepositoryFields {
            name: name.into(),
            packages: packages.iter().map(|p| (*p).to_owned()).collect(),
            hosts: hosts.iter().map(|h| (*h).to_owned()).collect(),
            ..SubRepositoryFields::default()
        };
        let client_a = fields("Client A", &["acme/b", "acme/a"], &["a.example"]);
        add(&db, "client-a", client_a, none).await.unwrap();
        assert!(matches!(
            add(&db, "client-a", fields("Again", &[], &[]), none).await,
            Err(SubRepositoryError::Exists(_))
        ));
        assert!(matches!(
            add(&db, "client-b", fields("B", &["Not A Name"], &[]), none).await,
            Err(SubRepositoryError::InvalidPackage(_))
        ));
        assert!(matches!(
            add(&db, "client-b", fields("B", &[], &["a.example"]), none).await,
            Err(SubRepositoryError::HostTaken { .. })
        ));
        assert!(matches!(
            add(&db, "client-b", fields("B", &[], &["B.Example"]), none).await,
            Err(SubRepositoryError::InvalidHost(_))
        ));
        let changed = change(
            &db,
            "client-a",
            SubRepositoryChange {
                add_packages: vec!["tools/*".into(), "acme/a".into()],
                remove_packages: vec!["acme/b".into()],
                ..SubRepositoryChange::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(changed.packages, ["acme/a", "tools/*"]);
        assert_eq!(changed.name, "Client A");
        remove(&db, "client-a").await.unwrap();
        assert!(matches!(
            remove(&db, "client-a").await,
            Err(SubRepositoryError::Unknown(_))
        ));
    }
}
