//! API tokens: issued (through [`crate::tokens::issue`], the one place that makes and
//! stores them), listed and revoked. Over HTTP everyone manages their own tokens only;
//! the operator manages anyone's.

use super::{AccessAdmin, AdminError, Change, Key};
use crate::access::accounts::Actor;
use crate::db::TokenRow;
use crate::tokens::{IssueError, Scopes};

/// A token to be issued.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub name: String,
    /// What it may be used for: everything its owner may do when `Scopes(None)`;
    /// `users` and `groups` are for admins' tokens only.
    pub scopes: Scopes,
    /// When it stops working (Unix milliseconds); never when `None`.
    pub expires_at: Option<i64>,
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
        let issued =
            crate::tokens::issue(self.db, &owner, &new.name, &new.scopes, new.expires_at).await;
        let token = issued.map_err(|error| match error {
            IssueError::InvalidName(_) => AdminError::Invalid(error.to_string()),
            IssueError::AdminOnlyScope => AdminError::Forbidden(error.to_string()),
            IssueError::Exists(name) => AdminError::Conflict(match actor {
                Actor::Http(_) => format!("you already have a token named {name}"),
                Actor::Operator => format!("{} already has a token named {name}", owner.name),
            }),
            IssueError::NoSuchUser => AdminError::NotFound(format!("no user named {}", owner.name)),
            IssueError::Database(error) => AdminError::Storage(error),
        })?;
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
