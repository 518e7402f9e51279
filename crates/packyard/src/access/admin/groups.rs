//! Groups: their grants (a package or pattern, with an optional version constraint),
//! their update freeze and the mirrors their members may use.

use composer::constraint::Constraint;

use super::{AccessAdmin, AdminError, Change, Key, require_admin};
use crate::access::accounts::Actor;
use crate::access::check_grant_target;
use crate::auth::validate_user_name;
use crate::db::{GroupChange, GroupRow, is_unique_violation};

/// A grant to be given: a package or a pattern (`acme/*`), and a Composer constraint
/// (`None`: every version).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewGrant {
    pub package: String,
    pub versions: Option<String>,
}

/// A group's settings; `None` leaves one as it is (for a new group: none).
#[derive(Debug, Default)]
pub struct GroupSettings {
    /// Versions released after this are hidden; `Some(None)` removes the freeze.
    pub updates_until: Option<Option<i64>>,
    /// Versions published less recently than this (milliseconds) are not offered
    /// through its grants; `Some(None)` removes the cooldown.
    pub min_release_age: Option<Option<i64>>,
    /// The mirror aliases its members may use.
    pub mirrors: Option<Vec<String>>,
    /// Every grant of the group, replacing those it had.
    pub grants: Option<Vec<NewGrant>>,
    /// The sub-repositories through which its grants count; `Some(None)`: everywhere.
    pub subrepos: Option<Option<Vec<String>>>,
}

impl AccessAdmin<'_> {
    /// Creates a group with these settings.
    pub async fn create_group(
        &self,
        actor: Actor<'_>,
        name: &str,
        settings: GroupSettings,
    ) -> Result<GroupRow, AdminError> {
        require_admin(actor)?;
        validate_user_name(name).map_err(|_| {
            AdminError::Invalid(format!(
                "invalid group name {name:?}: use 1-64 letters, digits, '.', '_' or '-'"
            ))
        })?;
        let settings = self.checked(settings).await?;
        let id = match self.db.create_group(name, &group_change(settings)).await {
            Ok(id) => id,
            Err(error) if is_unique_violation(&error) => {
                return Err(AdminError::Conflict(format!("group {name} already exists")));
            }
            Err(error) => return Err(error.into()),
        };
        self.changed(actor, Change::GroupCreated(name)).await;
        self.group(Key::Id(id)).await
    }

    /// Changes a group's settings.
    pub async fn change_group(
        &self,
        actor: Actor<'_>,
        name: &str,
        settings: GroupSettings,
    ) -> Result<GroupRow, AdminError> {
        require_admin(actor)?;
        let settings = self.checked(settings).await?;
        let group = self.group(Key::Name(name)).await?;
        let stored = self.store(name, settings).await;
        self.changed(actor, Change::GroupChanged(name)).await;
        stored?;
        self.group(Key::Id(group.id)).await
    }

    /// Removes a group with its grants and memberships.
    pub async fn remove_group(&self, actor: Actor<'_>, name: &str) -> Result<(), AdminError> {
        require_admin(actor)?;
        if !self.db.remove_group(name).await? {
            return Err(AdminError::NotFound(format!("no group named {name}")));
        }
        self.changed(actor, Change::GroupRemoved(name)).await;
        Ok(())
    }

    /// Grants a package or pattern to a group, replacing the constraint of its grant of
    /// the same target; the grant as stored (names are lowercase).
    pub async fn grant(
        &self,
        actor: Actor<'_>,
        group: &str,
        grant: NewGrant,
    ) -> Result<NewGrant, AdminError> {
        require_admin(actor)?;
        let grant = checked_grant(grant)?;
        if !self
            .db
            .grant(group, &grant.package, grant.versions.as_deref())
            .await?
        {
            return Err(AdminError::NotFound(format!("no group named {group}")));
        }
        let package = &grant.package;
        self.changed(actor, Change::Granted { group, package })
            .await;
        Ok(grant)
    }

    /// Withdraws a group's grant of a package or pattern.
    pub async fn revoke(
        &self,
        actor: Actor<'_>,
        group: &str,
        package: &str,
    ) -> Result<(), AdminError> {
        require_admin(actor)?;
        let package = package.to_ascii_lowercase();
        if !self.db.revoke(group, &package).await? {
            return Err(AdminError::NotFound(format!(
                "group {group} has no grant of {package}"
            )));
        }
        let package = package.as_str();
        self.changed(actor, Change::Revoked { group, package })
            .await;
        Ok(())
    }

    /// Settings whose grants, mirrors and sub-repositories are checked.
    async fn checked(&self, settings: GroupSettings) -> Result<GroupSettings, AdminError> {
        if let Some(unknown) = settings
            .mirrors
            .iter()
            .flatten()
            .find(|alias| !self.mirrors.contains(&alias.as_str()))
        {
            let known = if self.mirrors.is_empty() {
                "there are none".to_owned()
            } else {
                format!("they are {}", self.mirrors.join(", "))
            };
            return Err(AdminError::Invalid(format!(
                "no mirror is named {unknown:?}: {known}"
            )));
        }
        let grants = settings
            .grants
            .map(|grants| grants.into_iter().map(checked_grant).collect())
            .transpose()?;
        let subrepos = match settings.subrepos {
            Some(Some(limit)) => Some(Some(self.checked_sub_repository_limit(&limit).await?)),
            other => other,
        };
        Ok(GroupSettings {
            grants,
            subrepos,
            ..settings
        })
    }

    /// Stores checked settings of group `name`.
    async fn store(&self, name: &str, settings: GroupSettings) -> Result<(), AdminError> {
        if !self.db.change_group(name, &group_change(settings)).await? {
            return Err(AdminError::NotFound(format!("no group named {name}")));
        }
        Ok(())
    }
}

/// Checked settings as the database stores them, in one change.
fn group_change(settings: GroupSettings) -> GroupChange {
    GroupChange {
        updates_until: settings.updates_until,
        min_release_age: settings.min_release_age,
        mirrors: settings.mirrors,
        subrepos: settings.subrepos,
        grants: settings.grants.map(|grants| {
            grants
                .into_iter()
                .map(|grant| (grant.package, grant.versions))
                .collect()
        }),
    }
}

/// A grant names a package or a pattern, lowercase (as Composer's names are), and a
/// constraint that parses.
fn checked_grant(grant: NewGrant) -> Result<NewGrant, AdminError> {
    let package = grant.package.to_ascii_lowercase();
    check_grant_target(&package).map_err(|error| AdminError::Invalid(error.to_string()))?;
    if let Some(versions) = &grant.versions {
        Constraint::parse(versions).map_err(|error| {
            AdminError::Invalid(format!("{package}: versions {versions:?}: {error}"))
        })?;
    }
    Ok(NewGrant {
        package,
        versions: grant.versions,
    })
}
