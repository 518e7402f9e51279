//! API tokens (their format: [`crate::tokens`]): issued here, the one place that makes
//! and stores them, listed and revoked. Over HTTP everyone manages their own tokens
//! only; the operator manages anyone's. A token can only be given scopes its owner may
//! use: `users` and `groups` are for admins.

use super::{AccessAdmin, AdminError, Change, Key};
use crate::access::accounts::Actor;
use crate::access::roles::{Admins, Role};
use crate::auth::{hash_token, validate_user_name};
use crate::db::{TokenRow, is_unique_violation};
use crate::tokens::{Scope, Scopes};

/// A token to be issued.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub name: String,
    /// What it may be used for: everything its owner may do when `Scopes(None)`;
    /// `users` and `groups` are for admins' tokens only.
    pub scopes: Scopes,
    /// When it stops working (Unix milliseconds); never when `None`.
    pub expires_at: Option<i64>,
    /// Versions published less recently than this (milliseconds) are not offered to
    /// requests with it.
    pub min_release_age: Option<i64>,
}

/// Whether a user (an admin, or not) may hold a token with `scopes`: `users` and
/// `groups` are for admins.
pub(super) fn may_hold(admin: bool, scopes: &Scopes) -> Result<(), AdminError> {
    let admin_only = [Scope::Users, Scope::Groups];
    if !admin
        && scopes
            .0
            .iter()
            .flatten()
            .any(|scope| admin_only.contains(scope))
    {
        return Err(AdminError::Forbidden(
            "only admins may create tokens with the users or groups scopes".to_owned(),
        ));
    }
    Ok(())
}

impl AccessAdmin<'_> {
    /// Issues a token of `owner`; the token, to be shown once.
    pub async fn issue_token(
        &self,
        actor: Actor<'_>,
        owner: &str,
        new: &NewToken,
    ) -> Result<String, AdminError> {
        let owner = self.token_owner(actor, owner).await?;
        validate_user_name(&new.name).map_err(|_| {
            AdminError::Invalid(format!(
                "invalid token name {:?}: use 1-64 letters, digits, '.', '_' or '-'",
                new.name
            ))
        })?;
        may_hold(Admins::allows(&owner), &new.scopes)?;
        let token = crate::tokens::generate();
        let created = self
            .db
            .create_token(
                &owner.name,
                &new.name,
                &new.scopes,
                new.expires_at,
                new.min_release_age,
                &hash_token(&token),
            )
            .await;
        match created {
            Ok(Some(_)) => {}
            Ok(None) => {
                return Err(AdminError::NotFound(format!(
                    "no user named {}",
                    owner.name
                )));
            }
            Err(error) if is_unique_violation(&error) => {
                return Err(AdminError::Conflict(match actor {
                    Actor::Http(_) => format!("you already have a token named {}", new.name),
                    Actor::Operator => {
                        format!("{} already has a token named {}", owner.name, new.name)
                    }
                }));
            }
            Err(error) => return Err(error.into()),
        }
        let (owner, name) = (owner.name.as_str(), new.name.as_str());
        self.changed(actor, Change::TokenIssued { owner, name })
            .await;
        Ok(token)
    }

    /// The tokens of `owner`, by name, without their secrets.
    pub async fn tokens_of(
        &self,
        actor: Actor<'_>,
        owner: &str,
    ) -> Result<Vec<TokenRow>, AdminError> {
        let owner = self.token_owner(actor, owner).await?;
        self.db
            .tokens_of(&owner.name)
            .await?
            .ok_or_else(|| AdminError::NotFound(format!("no user named {}", owner.name)))
    }

    /// Revokes the token `name` of `owner`: it stops working here at once, and on
    /// every other replica within seconds.
    pub async fn revoke_token(
        &self,
        actor: Actor<'_>,
        owner: &str,
        name: &str,
    ) -> Result<(), AdminError> {
        let owner = self.token_owner(actor, owner).await?;
        if !self.db.revoke_token(&owner.name, name).await? {
            return Err(AdminError::NotFound(match actor {
                Actor::Http(_) => format!("you have no token named {name}"),
                Actor::Operator => format!("{} has no token named {name}", owner.name),
            }));
        }
        let owner = owner.name.as_str();
        self.changed(actor, Change::TokenRevoked { owner, name })
            .await;
        Ok(())
    }

    /// The owner of the tokens `actor` manages: over HTTP only its own.
    async fn token_owner(
        &self,
        actor: Actor<'_>,
        owner: &str,
    ) -> Result<crate::db::User, AdminError> {
        if let Actor::Http(me) = actor
            && me.name != owner
        {
            return Err(AdminError::Forbidden(
                "over HTTP you manage only your own tokens; the packyard CLI manages anyone's"
                    .to_owned(),
            ));
        }
        self.user(Key::Name(owner)).await
    }
}
