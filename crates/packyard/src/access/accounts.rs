//! Who may change, reset or remove a user account: one rule for the API, the web UI and
//! the CLI. Over HTTP an admin manages other users but neither admins nor itself, so
//! that a stolen session or token cannot demote, lock out or take over the other
//! admins (nor quietly make itself more than it is), and makes nobody an admin; the
//! operator of the server, at the `packyard` CLI, may change any account.

use crate::db::{Role, User, UserChange};

/// Who asks for the change.
#[derive(Clone, Copy, Debug)]
pub enum Actor<'a> {
    /// A signed-in admin over HTTP: the API with a token, or the web UI with a session.
    Http(&'a User),
    /// The operator, at the `packyard` CLI on the server.
    Operator,
}

impl Actor<'_> {
    /// Who made a change, as records and log lines name them.
    pub fn name(&self) -> &str {
        match self {
            Actor::Http(user) => &user.name,
            Actor::Operator => "(command line)",
        }
    }
}

/// Why an account may not be changed by this actor.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountChangeRefused {
    #[error("you cannot change, reset or remove your own account here: use the packyard CLI")]
    Yourself,
    #[error("{0} is an admin: admins are changed, reset and removed with the packyard CLI")]
    Admin(String),
    #[error("admins are made with the packyard CLI (user add --admin, user set --admin)")]
    MakeAdmin,
}

/// Whether `actor` may change `target`'s role, access, dates, groups or password, or
/// remove it.
pub fn may_change_account(actor: Actor<'_>, target: &User) -> Result<(), AccountChangeRefused> {
    match actor {
        Actor::Http(me) if me.id == target.id => Err(AccountChangeRefused::Yourself),
        Actor::Http(_) if target.is_admin => Err(AccountChangeRefused::Admin(target.name.clone())),
        Actor::Http(_) | Actor::Operator => Ok(()),
    }
}

/// Whether `actor` may apply `change` to an account, creating it or changing it. Over
/// HTTP nobody is made an admin: an admin made with a stolen session or token could not
/// be removed by the others (see [`may_change_account`]); the operator at the CLI may.
pub fn may_apply(actor: Actor<'_>, change: &UserChange) -> Result<(), AccountChangeRefused> {
    match (actor, change.role) {
        (Actor::Http(_), Some(Role::Admin)) => Err(AccountChangeRefused::MakeAdmin),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: i64, is_admin: bool) -> User {
        User {
            id,
            name: format!("user{id}"),
            is_admin,
            is_maintainer: false,
            full_access: false,
            expires_at: None,
            updates_until: None,
            min_release_age: None,
            subrepos: None,
            deprovisioned_at: None,
            deprovisioned_by: None,
        }
    }

    #[test]
    fn over_http_admins_manage_other_users_but_not_admins_or_themselves() {
        let (me, other_admin, plain) = (user(1, true), user(2, true), user(3, false));
        assert_eq!(
            may_change_account(Actor::Http(&me), &me),
            Err(AccountChangeRefused::Yourself)
        );
        assert_eq!(
            may_change_account(Actor::Http(&me), &other_admin),
            Err(AccountChangeRefused::Admin("user2".to_owned()))
        );
        assert_eq!(may_change_account(Actor::Http(&me), &plain), Ok(()));
        for target in [&me, &other_admin, &plain] {
            assert_eq!(may_change_account(Actor::Operator, target), Ok(()));
        }
        let giving = |role| UserChange {
            role,
            ..UserChange::default()
        };
        assert_eq!(
            may_apply(Actor::Http(&me), &giving(Some(Role::Admin))),
            Err(AccountChangeRefused::MakeAdmin)
        );
        for role in [None, Some(Role::User), Some(Role::Maintainer)] {
            assert_eq!(may_apply(Actor::Http(&me), &giving(role)), Ok(()));
        }
        assert_eq!(
            may_apply(Actor::Operator, &giving(Some(Role::Admin))),
            Ok(())
        );
    }
}
