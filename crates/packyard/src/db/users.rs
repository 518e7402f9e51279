use sqlx::FromRow;

use super::access::{Named, commit_access_change};
use super::audit::Change;
use super::columns::{Flag, NullableJsonNames, nullable_json};
use super::tokens::{TOKEN_COLUMNS, TokenRow};
use super::{Db, now_millis, or_roll_back};

#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct User {
    pub id: i64,
    pub name: String,
    #[sqlx(try_from = "Flag")]
    pub is_admin: bool,
    /// May add and update packages (admins may too).
    #[sqlx(try_from = "Flag")]
    pub is_maintainer: bool,
    /// Sees every package, whatever its groups grant.
    #[sqlx(try_from = "Flag")]
    pub full_access: bool,
    /// After this time (Unix milliseconds) the user's tokens are refused.
    pub expires_at: Option<i64>,
    /// Versions released after this time are hidden where its groups set no date.
    pub updates_until: Option<i64>,
    /// Versions packyard published less than this long ago (milliseconds) are not
    /// offered to the user, whatever its groups grant. When the user is a request's
    /// caller, the longer of its own and its token's (`auth::Principal::caller`).
    pub min_release_age: Option<i64>,
    /// The sub-repositories (slugs; `root` for the root repository) its tokens work
    /// in; `None`: all of them. Admins and maintainers, who manage every package, are
    /// never limited.
    #[sqlx(try_from = "NullableJsonNames")]
    pub subrepos: Option<Vec<String>>,
    /// When an identity provider removed it (Unix milliseconds): it counts as expired
    /// until that provider has it again.
    pub deprovisioned_at: Option<i64>,
    /// The provider that removed it: only that one brings it back.
    pub deprovisioned_by: Option<String>,
}

impl User {
    /// Admins, maintainers and full-access users see every package.
    pub fn sees_everything(&self) -> bool {
        self.is_admin || self.is_maintainer || self.full_access
    }

    /// Whether the user's sessions and tokens are refused: its access expired, or its
    /// identity provider removed it.
    pub fn is_expired(&self, now: i64) -> bool {
        self.expires_at.is_some_and(|at| now >= at) || self.deprovisioned_at.is_some()
    }

    /// Whether the user may read through the sub-repository `slug` (`None`: the root).
    pub fn may_use_sub_repository(&self, slug: Option<&str>) -> bool {
        let place = slug.unwrap_or(ROOT_SUB_REPOSITORY);
        self.is_admin
            || self.is_maintainer
            || self
                .subrepos
                .as_ref()
                .is_none_or(|allowed| allowed.iter().any(|s| s == place))
    }
}

/// How the root repository is named in a sub-repository limit (Packeton's `0`).
pub const ROOT_SUB_REPOSITORY: &str = "root";

/// What an admin changes about a user; `None` leaves a field as it is.
#[derive(Debug, Default, Clone)]
pub struct UserChange {
    pub role: Option<Role>,
    pub full_access: Option<bool>,
    /// `Some(None)` removes the date.
    pub expires_at: Option<Option<i64>>,
    pub updates_until: Option<Option<i64>>,
    /// `Some(None)` removes the cooldown.
    pub min_release_age: Option<Option<i64>>,
    /// `Some(None)` removes the limit.
    pub subrepos: Option<Option<Vec<String>>>,
    /// Exactly these groups (unknown ones are ignored).
    pub groups: Option<Membership>,
    /// A new web password hash, or `Some(None)` to remove it; either ends the user's
    /// sessions.
    pub password_hash: Option<Option<String>>,
}

/// Exactly these groups, by id (the API) or by name (the web UI); unknown ones are
/// ignored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Membership {
    Ids(Vec<i64>),
    Names(Vec<String>),
}

impl UserChange {
    /// The audit record of this change to user `name` (whether a password was set,
    /// never its hash).
    fn recorded(&self, action: &'static str, name: &str) -> Change {
        let password = self.password_hash.as_ref().map(|hash| match hash {
            Some(_) => "set",
            None => "removed",
        });
        Change::new(action, name)
            .detail("role", self.role.map(Role::as_str))
            .detail("full_access", self.full_access)
            .detail("expires_at", super::audit::set_or_cleared(&self.expires_at))
            .detail(
                "updates_until",
                super::audit::set_or_cleared(&self.updates_until),
            )
            .detail(
                "min_release_age",
                super::audit::set_or_cleared(&self.min_release_age),
            )
            .detail("subrepos", super::audit::set_or_cleared(&self.subrepos))
            .detail("groups", &self.groups)
            .detail("password", password)
    }
}

pub(super) const USER_COLUMNS: &str = "u.id, u.name, u.is_admin, u.is_maintainer, u.full_access, \
     u.expires_at, u.updates_until, u.min_release_age, u.subrepos, u.deprovisioned_at, u.deprovisioned_by";

/// The hash of the token on a row of users joined with their tokens; `None` for a user
/// without any.
#[derive(FromRow)]
struct TokenHash {
    token_hash: Option<String>,
}

/// What a new user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    User,
    Maintainer,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Maintainer => "maintainer",
            Role::Admin => "admin",
        }
    }
}

/// A user with all their API tokens (and the tokens' hashes), for constant-time
/// verification.
#[derive(Debug, Clone)]
pub struct UserCredentials {
    pub user: User,
    pub tokens: Vec<(String, TokenRow)>,
}
impl Db {
    /// Creates a user with one API token (given as its hash).
    pub async fn create_user(
        &self,
        name: &str,
        role: Role,
        token_hash: &str,
    ) -> Result<User, sqlx::Error> {
        self.create_account(name, role, Some(token_hash)).await
    }

    /// Creates a user, with one API token (given as its hash) or none (a user who signs
    /// in through an identity provider makes its own).
    pub async fn create_account(
        &self,
        name: &str,
        role: Role,
        token_hash: Option<&str>,
    ) -> Result<User, sqlx::Error> {
        let every_scope = crate::tokens::Scopes(None);
        let token = token_hash.map(|hash| (hash, &every_scope));
        self.create_user_with(name, role, token, &UserChange::default())
            .await
    }

    /// Creates a user with `change` applied (its access, groups, password) and, when
    /// given, a first token (its hash and scopes), as one change; a unique violation
    /// when the name is taken.
    pub async fn create_user_with(
        &self,
        name: &str,
        role: Role,
        token: Option<(&str, &crate::tokens::Scopes)>,
        change: &UserChange,
    ) -> Result<User, sqlx::Error> {
        let (is_admin, is_maintainer) = (role == Role::Admin, role != Role::User);
        let now = now_millis();
        let mut tx = self.pool().begin().await?;
        let inserted = sqlx::query_scalar(
            "INSERT INTO users (name, is_admin, is_maintainer, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(name)
        .bind(Flag(is_admin))
        .bind(Flag(is_maintainer))
        .bind(now)
        .fetch_one(&mut *tx)
        .await;
        let (mut tx, id) = or_roll_back(tx, inserted).await?;
        if let Some((token_hash, scopes)) = token {
            sqlx::query(
                "INSERT INTO api_tokens (user_id, token_hash, created_at, scopes) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(id)
            .bind(token_hash)
            .bind(now)
            .bind(scopes)
            .execute(&mut *tx)
            .await?;
        }
        let user = apply_user_change(&mut tx, name, change)
            .await?
            .ok_or(sqlx::Error::RowNotFound)?;
        let recorded = change
            .recorded("user.created", name)
            .detail("role", role.as_str())
            .detail("token", token.map(|(_, scopes)| scopes.to_string()));
        commit_access_change(tx, &recorded).await?;
        debug_assert_eq!(
            (user.id, user.is_admin, user.is_maintainer),
            (id, is_admin, is_maintainer)
        );
        Ok(user)
    }

    /// Changes a user's role, access or dates; the user after the change, `None` when
    /// there is no such user.
    pub async fn change_user(
        &self,
        name: &str,
        change: &UserChange,
    ) -> Result<Option<User>, sqlx::Error> {
        let mut tx = self.pool().begin().await?;
        let Some(user) = apply_user_change(&mut tx, name, change).await? else {
            tx.rollback().await?;
            return Ok(None);
        };
        commit_access_change(tx, &change.recorded("user.changed", name)).await?;
        Ok(Some(user))
    }

    /// A user's e-mail address, if known.
    pub async fn user_email(&self, name: &str) -> Result<Option<String>, sqlx::Error> {
        let email: Option<Option<String>> =
            sqlx::query_scalar("SELECT email FROM users WHERE name = $1")
                .bind(name)
                .fetch_optional(self.pool())
                .await?;
        Ok(email.flatten())
    }

    /// The users whose e-mail address is `email` (compared without case).
    pub async fn users_with_email(&self, email: &str) -> Result<Vec<User>, sqlx::Error> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS} FROM users u WHERE LOWER(u.email) = LOWER($1) ORDER BY u.id"
        )))
        .bind(email)
        .fetch_all(self.pool())
        .await
    }

    /// Sets a user's e-mail address; whether the user exists.
    pub async fn set_user_email(
        &self,
        name: &str,
        email: Option<&str>,
    ) -> Result<bool, sqlx::Error> {
        let mut tx = self.pool().begin().await?;
        let changed = sqlx::query("UPDATE users SET email = $2 WHERE name = $1")
            .bind(name)
            .bind(email)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if changed != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        let change = Change::new("user.email_set", name).detail("email", email);
        super::audit::append(&mut tx, &change).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Removes a user with its tokens and memberships; whether it existed.
    pub async fn remove_user(&self, name: &str) -> Result<bool, sqlx::Error> {
        let Some((mut tx, id)) = self.open_named(Named::User, name).await? else {
            return Ok(false);
        };
        for statement in [
            "DELETE FROM api_tokens WHERE user_id = $1",
            "DELETE FROM group_members WHERE user_id = $1",
            "DELETE FROM web_sessions WHERE user_id = $1",
            "DELETE FROM users WHERE id = $1",
        ] {
            sqlx::query(statement).bind(id).execute(&mut *tx).await?;
        }
        commit_access_change(tx, &Change::new("user.removed", name)).await?;
        Ok(true)
    }

    /// Every user, by name.
    pub async fn users(&self) -> Result<Vec<User>, sqlx::Error> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS} FROM users u ORDER BY u.name"
        )))
        .fetch_all(self.pool())
        .await
    }

    pub async fn user_credentials(
        &self,
        name: &str,
    ) -> Result<Option<UserCredentials>, sqlx::Error> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS}, t.token_hash, {TOKEN_COLUMNS} FROM users u \
             LEFT JOIN api_tokens t ON t.user_id = u.id WHERE u.name = $1"
        )))
        .bind(name)
        .fetch_all(self.pool())
        .await?;
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        let user = User::from_row(first)?;
        let mut tokens = Vec::new();
        for row in &rows {
            if let TokenHash {
                token_hash: Some(hash),
            } = TokenHash::from_row(row)?
            {
                tokens.push((hash, TokenRow::from_row(row)?));
            }
        }
        Ok(Some(UserCredentials { user, tokens }))
    }
}

/// Applies `change` to user `name` in `tx`; the user after it, `None` when there is no
/// such user.
async fn apply_user_change(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    name: &str,
    change: &UserChange,
) -> Result<Option<User>, sqlx::Error> {
    let set = |column: &str, value: Option<i64>| {
        let statement = format!("UPDATE users SET {column} = $2 WHERE name = $1");
        (statement, value)
    };
    let mut updates = Vec::new();
    if let Some(role) = change.role {
        updates.push(set("is_admin", Some(i64::from(role == Role::Admin))));
        updates.push(set("is_maintainer", Some(i64::from(role != Role::User))));
    }
    if let Some(full) = change.full_access {
        updates.push(set("full_access", Some(i64::from(full))));
    }
    if let Some(at) = change.expires_at {
        updates.push(set("expires_at", at));
    }
    if let Some(until) = change.updates_until {
        updates.push(set("updates_until", until));
    }
    if let Some(age) = change.min_release_age {
        updates.push(set("min_release_age", age));
    }
    for (statement, value) in updates {
        sqlx::query(sqlx::AssertSqlSafe(statement))
            .bind(name)
            .bind(value)
            .execute(&mut **tx)
            .await?;
    }
    if let Some(subrepos) = &change.subrepos {
        sqlx::query("UPDATE users SET subrepos = $2 WHERE name = $1")
            .bind(name)
            .bind(nullable_json(subrepos.as_deref()))
            .execute(&mut **tx)
            .await?;
    }
    if let Some(groups) = &change.groups {
        set_groups(tx, name, groups).await?;
    }
    if let Some(hash) = &change.password_hash {
        sqlx::query("UPDATE users SET password_hash = $2 WHERE name = $1")
            .bind(name)
            .bind(hash)
            .execute(&mut **tx)
            .await?;
        sqlx::query(
            "DELETE FROM web_sessions WHERE user_id = (SELECT id FROM users WHERE name = $1)",
        )
        .bind(name)
        .execute(&mut **tx)
        .await?;
    }
    let user = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {USER_COLUMNS} FROM users u WHERE u.name = $1"
    )))
    .bind(name)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(user)
}

/// Makes user `name` a member of exactly `groups`.
async fn set_groups(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    name: &str,
    groups: &Membership,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM group_members WHERE user_id = (SELECT id FROM users WHERE name = $1)")
        .bind(name)
        .execute(&mut **tx)
        .await?;
    let (by, keys): (&str, Vec<String>) = match groups {
        Membership::Ids(ids) => (
            "id = CAST($2 AS BIGINT)",
            ids.iter().map(i64::to_string).collect(),
        ),
        Membership::Names(names) => ("name = $2", names.clone()),
    };
    for key in keys {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO group_members (group_id, user_id) \
             SELECT g.id, u.id FROM groups g, users u WHERE u.name = $1 AND g.{by}"
        )))
        .bind(name)
        .bind(key)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Role;
    use crate::db::{is_unique_violation, testing};

    #[tokio::test]
    async fn users_are_created_once_with_their_token() {
        for (db, _dir) in testing::engines().await {
            let alice = db
                .create_user("alice", Role::Admin, "hash-a")
                .await
                .unwrap();
            assert!(alice.is_admin && alice.is_maintainer);
            let mia = db
                .create_user("mia", Role::Maintainer, "hash-m")
                .await
                .unwrap();
            assert!(!mia.is_admin && mia.is_maintainer);
            assert_eq!(db.user_credentials("mia").await.unwrap().unwrap().user, mia);
            let credentials = db.user_credentials("alice").await.unwrap().unwrap();
            assert_eq!(credentials.user, alice);
            let hashes: Vec<&str> = credentials.tokens.iter().map(|(h, _)| h.as_str()).collect();
            assert_eq!(hashes, ["hash-a"]);
            let duplicate = db
                .create_user("alice", Role::User, "hash-b")
                .await
                .unwrap_err();
            assert!(is_unique_violation(&duplicate), "{duplicate}");
            assert!(db.user_credentials("bob").await.unwrap().is_none());
        }
    }
}
