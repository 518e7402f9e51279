//! Users: created with a first API token, changed (role, full access, dates, groups,
//! password) and removed.

use super::{AccessAdmin, AdminError, Change, Key, require_admin};
use crate::access::accounts::{Actor, may_apply, may_change_account};
use crate::auth::password;
use crate::auth::{hash_token, validate_user_name};
use crate::db::{Role, User, UserChange, is_unique_violation};
use crate::tokens::Scopes;

/// A new user.
#[derive(Debug, Default)]
pub struct NewUser {
    pub name: String,
    /// Its role (`None`: a plain user), full access and dates.
    pub change: UserChange,
    /// The groups it joins.
    pub groups: Option<Membership>,
    /// A password for the web UI; without one the user is API-only.
    pub password: Option<String>,
    /// A first API token with these scopes (named `default`), to be shown once to
    /// whoever creates the user; `None` for none (the web UI's default: tokens are the
    /// user's to make, and a secret someone else saw is not).
    pub token: Option<Scopes>,
}

/// What changes about a user; `None` leaves a part as it is.
#[derive(Debug, Default)]
pub struct UserUpdate {
    pub change: UserChange,
    /// The groups it is a member of from now on.
    pub groups: Option<Membership>,
    /// A new password for the web UI, which ends the user's sessions.
    pub password: Option<String>,
}

pub use crate::db::Membership;

impl AccessAdmin<'_> {
    /// Creates a user with its first API token, returned to be shown once. Everything
    /// is checked (and a password hashed) before anything is stored, so a refused
    /// request leaves no half-made user.
    pub async fn create_user(
        &self,
        actor: Actor<'_>,
        new: NewUser,
    ) -> Result<(User, Option<String>), AdminError> {
        require_admin(actor)?;
        validate_user_name(&new.name).map_err(|error| AdminError::Invalid(error.to_string()))?;
        may_apply(actor, &new.change)?;
        let role = new.change.role.unwrap_or(Role::User);
        let change = self.checked_limit(role, new.change).await?;
        let password_hash = match new.password {
            Some(password) => Some(hash_password(password).await?),
            None => None,
        };
        if let Some(scopes) = &new.token {
            super::tokens::may_hold(role == Role::Admin, scopes)?;
        }
        let token = new.token.as_ref().map(|_| crate::tokens::generate());
        let hash = token.as_deref().map(hash_token);
        let first = hash.as_deref().zip(new.token.as_ref());
        let change = UserChange {
            groups: new.groups,
            password_hash: password_hash.map(Some),
            ..change
        };
        let user = match self
            .db
            .create_user_with(&new.name, role, first, &change)
            .await
        {
            Ok(user) => user,
            Err(error) if is_unique_violation(&error) => {
                return Err(AdminError::Conflict(format!(
                    "user {} already exists",
                    new.name
                )));
            }
            Err(error) => return Err(error.into()),
        };
        self.changed(actor, Change::UserCreated(&new.name)).await;
        Ok((user, token))
    }

    /// Changes a user's role, full access, dates, groups or password: not over HTTP
    /// the actor's own account nor an admin's, and nobody is made an admin there
    /// ([`crate::access::accounts`]). The user after the change.
    pub async fn change_user(
        &self,
        actor: Actor<'_>,
        name: &str,
        update: UserUpdate,
    ) -> Result<User, AdminError> {
        let current = self.editable_user(actor, Key::Name(name)).await?;
        may_apply(actor, &update.change)?;
        let role = update.change.role.unwrap_or(if current.is_admin {
            Role::Admin
        } else if current.is_maintainer {
            Role::Maintainer
        } else {
            Role::User
        });
        let change = self.checked_limit(role, update.change).await?;
        let password_hash = match update.password {
            Some(password) => Some(hash_password(password).await?),
            None => None,
        };
        let change = UserChange {
            groups: update.groups,
            password_hash: password_hash.map(Some),
            ..change
        };
        let user = self
            .db
            .change_user(name, &change)
            .await?
            .ok_or_else(|| AdminError::NotFound(format!("no user named {name}")))?;
        self.changed(actor, Change::UserChanged(name)).await;
        Ok(user)
    }

    /// Sets a user's web UI password, or with `None` removes it (the user is API-only
    /// then); either way the user's sessions end.
    pub async fn set_password(
        &self,
        actor: Actor<'_>,
        name: &str,
        password: Option<String>,
    ) -> Result<(), AdminError> {
        self.editable_user(actor, Key::Name(name)).await?;
        let hash = match password {
            Some(password) => Some(hash_password(password).await?),
            None => None,
        };
        if !self.db.set_password(name, hash.as_deref()).await? {
            return Err(AdminError::NotFound(format!("no user named {name}")));
        }
        self.changed(actor, Change::PasswordChanged(name)).await;
        Ok(())
    }

    /// Removes a user with its tokens, memberships and sessions.
    pub async fn remove_user(&self, actor: Actor<'_>, name: &str) -> Result<(), AdminError> {
        self.editable_user(actor, Key::Name(name)).await?;
        if !self.db.remove_user(name).await? {
            return Err(AdminError::NotFound(format!("no user named {name}")));
        }
        self.changed(actor, Change::UserRemoved(name)).await;
        Ok(())
    }

    /// `change` with its sub-repository limit checked: only known sub-repositories,
    /// and none for admins and maintainers, who manage every package (and are never
    /// limited).
    async fn checked_limit(
        &self,
        role: Role,
        change: UserChange,
    ) -> Result<UserChange, AdminError> {
        let Some(Some(limit)) = &change.subrepos else {
            return Ok(change);
        };
        if role != Role::User {
            return Err(AdminError::Invalid(
                "admins and maintainers are not limited to sub-repositories".to_owned(),
            ));
        }
        let limit = self.checked_sub_repository_limit(limit).await?;
        Ok(UserChange {
            subrepos: Some(Some(limit)),
            ..change
        })
    }

    /// Adds `user` to `group`, when `actor` may change that user.
    pub async fn add_member(
        &self,
        actor: Actor<'_>,
        group: &str,
        user: &str,
    ) -> Result<(), AdminError> {
        self.set_membership(actor, group, user, true).await?;
        self.changed(actor, Change::MemberAdded { group, user })
            .await;
        Ok(())
    }

    /// Removes `user` from `group`, when `actor` may change that user.
    pub async fn remove_member(
        &self,
        actor: Actor<'_>,
        group: &str,
        user: &str,
    ) -> Result<(), AdminError> {
        self.set_membership(actor, group, user, false).await?;
        self.changed(actor, Change::MemberRemoved { group, user })
            .await;
        Ok(())
    }

    /// A user's groups are part of its account: the same rule as for changing it.
    async fn set_membership(
        &self,
        actor: Actor<'_>,
        group: &str,
        user: &str,
        member: bool,
    ) -> Result<(), AdminError> {
        require_admin(actor)?;
        let target = self.user(Key::Name(user)).await?;
        may_change_account(actor, &target)?;
        if self.db.set_membership(group, user, member).await?.is_none() {
            return Err(AdminError::NotFound(format!("no group named {group}")));
        }
        Ok(())
    }
}

/// Checks a new password's shape and hashes it, in a hashing slot.
async fn hash_password(password: String) -> Result<String, AdminError> {
    password::check(&password).map_err(|error| AdminError::Invalid(error.to_string()))?;
    Ok(password::hash_in_slot(password).await?)
}
