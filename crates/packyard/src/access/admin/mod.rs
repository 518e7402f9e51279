//! One service for every change to who may see what: users and their passwords,
//! groups with their grants, freezes, mirrors and members, API tokens, public
//! packages and sub-repositories. The JSON API (`http::handlers::admin`), the web UI (`web::admin`,
//! `web::profile`) and the CLI (`cli::user`, `cli::group`, `cli::token`,
//! `cli::package`) only parse what they are given and render what comes back: the
//! rules live here, once.
//!
//! Every change names the [`Actor`] asking for it: a signed-in user over HTTP, or the
//! operator at the `packyard` CLI, who may do everything. A change
//! 1. checks its input (names, constraints, scopes, mirror aliases, passwords);
//! 2. checks that the actor may make it: over HTTP users and groups are an admin's, an
//!    admin changes neither other admins nor itself ([`super::accounts`]), and everyone
//!    manages only their own tokens;
//! 3. writes through the database, which moves the access stamp in the same
//!    transaction, so that every replica re-reads the rules within
//!    [`super::REFRESH_INTERVAL`];
//! 4. applies the change to this process at once ([`AccessAdmin::changed`]), so that
//!    the next request here sees it: what follows every change (an audit log,
//!    outgoing webhooks) belongs there too.
//!
//! Refusals are [`AdminError`]s, whose variant says what kind they are
//! ([`crate::error::Classify`]): the API answers them with that kind's status, the web
//! UI shows the caller's faults beside the form, the CLI prints them.

mod groups;
mod subrepos;
mod tokens;
mod users;

#[cfg(test)]
mod tests;

pub use groups::{GroupSettings, NewGrant};
pub use tokens::NewToken;
pub use users::{Membership, NewUser, UserUpdate};

use super::Access;
use super::accounts::{AccountChangeRefused, Actor};
use super::roles::{Admins, Role};
use crate::auth::Authenticator;
use crate::db::{Db, GroupRow, ROOT_SUB_REPOSITORY, User};
use crate::error::{Classify, ErrorKind};

/// Why a change was refused, by kind.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The input breaks a rule: a name, a constraint, a scope, a mirror alias, a
    /// password.
    #[error("{0}")]
    Invalid(String),
    /// The actor may not make this change.
    #[error("{0}")]
    Forbidden(String),
    /// A user, group, grant, token or package that does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The name is taken.
    #[error("{0}")]
    Conflict(String),
    /// Every password-hashing slot stayed busy: the caller may try again shortly.
    #[error(transparent)]
    Busy(#[from] crate::auth::password::Busy),
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] sqlx::Error),
}

impl Classify for AdminError {
    fn kind(&self) -> ErrorKind {
        match self {
            AdminError::Invalid(_) => ErrorKind::Invalid,
            AdminError::Forbidden(_) => ErrorKind::Forbidden,
            AdminError::NotFound(_) => ErrorKind::NotFound,
            AdminError::Conflict(_) => ErrorKind::Conflict,
            AdminError::Busy(_) => ErrorKind::Unavailable("every password-hashing slot is busy"),
            AdminError::Storage(error) => error.kind(),
        }
    }
}

impl From<AccountChangeRefused> for AdminError {
    fn from(refused: AccountChangeRefused) -> AdminError {
        AdminError::Forbidden(refused.to_string())
    }
}

/// A user or a group, by its id (the API's paths) or its name (the web UI's and the
/// CLI's).
#[derive(Debug, Clone, Copy)]
pub enum Key<'k> {
    Id(i64),
    Name(&'k str),
}

/// What a change did, as [`AccessAdmin::changed`] is told.
#[derive(Debug, Clone, Copy)]
pub enum Change<'c> {
    UserCreated(&'c str),
    UserChanged(&'c str),
    UserRemoved(&'c str),
    PasswordChanged(&'c str),
    GroupCreated(&'c str),
    GroupChanged(&'c str),
    GroupRemoved(&'c str),
    Granted { group: &'c str, package: &'c str },
    Revoked { group: &'c str, package: &'c str },
    MemberAdded { group: &'c str, user: &'c str },
    MemberRemoved { group: &'c str, user: &'c str },
    TokenIssued { owner: &'c str, name: &'c str },
    TokenRevoked { owner: &'c str, name: &'c str },
    PackageVisibility { package: &'c str, public: bool },
    SubRepository(&'c str),
}

/// The access administration of one process: built from the database, the access
/// rules it holds and the credentials it remembers (both re-read after a change), and
/// the mirror aliases groups may list.
pub struct AccessAdmin<'a> {
    db: &'a Db,
    access: &'a Access,
    auth: &'a Authenticator,
    mirrors: Vec<&'a str>,
    /// The root repository's host name (`PACKYARD_PUBLIC_URL`'s), which no
    /// sub-repository may take.
    root_host: Option<String>,
}

impl<'a> AccessAdmin<'a> {
    pub fn new(
        db: &'a Db,
        access: &'a Access,
        auth: &'a Authenticator,
        mirrors: impl IntoIterator<Item = &'a str>,
        root_host: Option<String>,
    ) -> AccessAdmin<'a> {
        let mut mirrors: Vec<&str> = mirrors.into_iter().collect();
        mirrors.sort_unstable();
        AccessAdmin {
            db,
            access,
            auth,
            mirrors,
            root_host,
        }
    }

    /// A user, or [`AdminError::NotFound`].
    pub async fn user(&self, key: Key<'_>) -> Result<User, AdminError> {
        let found = match key {
            Key::Id(id) => self.db.users().await?.into_iter().find(|u| u.id == id),
            Key::Name(name) => self
                .db
                .user_with_password(name)
                .await?
                .map(|(user, _)| user),
        };
        found.ok_or_else(|| AdminError::NotFound(no_user(key)))
    }

    /// A user `actor` may change, reset or remove ([`super::may_change_account`]).
    pub async fn editable_user(&self, actor: Actor<'_>, key: Key<'_>) -> Result<User, AdminError> {
        require_admin(actor)?;
        let user = self.user(key).await?;
        super::may_change_account(actor, &user)?;
        Ok(user)
    }

    /// A group with its grants and members, or [`AdminError::NotFound`].
    pub async fn group(&self, key: Key<'_>) -> Result<GroupRow, AdminError> {
        let groups = self.db.access_rules().await?.groups;
        let found = groups.into_iter().find(|group| match key {
            Key::Id(id) => group.id == id,
            Key::Name(name) => group.name == name,
        });
        found.ok_or_else(|| {
            AdminError::NotFound(match key {
                Key::Id(id) => format!("no group {id}"),
                Key::Name(name) => format!("no group named {name}"),
            })
        })
    }

    /// A sub-repository limit as given (slugs, `root` for the root repository), checked
    /// against the sub-repositories that exist, without repeats.
    pub async fn checked_sub_repository_limit(
        &self,
        limit: &[String],
    ) -> Result<Vec<String>, AdminError> {
        let slugs: Vec<String> = self
            .db
            .sub_repositories()
            .await?
            .into_iter()
            .map(|row| row.slug)
            .collect();
        let mut checked: Vec<String> = Vec::new();
        for entry in limit {
            let entry = entry.trim().to_ascii_lowercase();
            if entry != ROOT_SUB_REPOSITORY && !slugs.contains(&entry) {
                return Err(AdminError::Invalid(format!(
                    "no sub-repository is named {entry:?} (name the root repository `{ROOT_SUB_REPOSITORY}`)"
                )));
            }
            if !checked.contains(&entry) {
                checked.push(entry);
            }
        }
        Ok(checked)
    }

    /// Makes `package` public (every caller sees it) or private again.
    pub async fn set_public(
        &self,
        actor: Actor<'_>,
        package: &str,
        public: bool,
    ) -> Result<(), AdminError> {
        require_admin(actor)?;
        if !self.db.set_package_public(package, public).await? {
            return Err(AdminError::NotFound(format!("no package named {package}")));
        }
        self.changed(actor, Change::PackageVisibility { package, public })
            .await;
        Ok(())
    }

    /// What follows every change that was made: the rules and credentials of this
    /// process are re-read at once (the credential cache emptied first, as the 2 s
    /// refresher does), so the next request here sees the change. This is the one
    /// place for what every access change should also set off: an audit log entry, an
    /// outgoing webhook.
    ///
    /// The change is stored whatever happens here: when the re-read fails it is
    /// logged, and the refresher applies the change within 2 s.
    async fn changed(&self, actor: Actor<'_>, change: Change<'_>) {
        tracing::debug!(actor = actor_name(actor), ?change, "access changed");
        if let Err(error) = self.access.refresh(|| self.auth.forget_all()).await {
            tracing::warn!(%error, ?change, "applying an access change at once failed; the refresher will");
        }
    }
}

/// Over HTTP only admins manage users, groups and public packages; the operator may.
fn require_admin(actor: Actor<'_>) -> Result<(), AdminError> {
    match actor {
        Actor::Http(user) if !Admins::allows(user) => Err(AdminError::Forbidden(
            "only admins manage users, groups, public packages and sub-repositories".to_owned(),
        )),
        Actor::Http(_) | Actor::Operator => Ok(()),
    }
}

fn actor_name(actor: Actor<'_>) -> &str {
    match actor {
        Actor::Http(user) => &user.name,
        Actor::Operator => "the operator (CLI)",
    }
}

fn no_user(key: Key<'_>) -> String {
    match key {
        Key::Id(id) => format!("no user {id}"),
        Key::Name(name) => format!("no user named {name}"),
    }
}
