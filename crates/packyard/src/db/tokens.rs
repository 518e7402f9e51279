//! API tokens: several named ones per user, each with scopes and an optional expiry,
//! stored as hashes; their last use is written in batches.

use sqlx::FromRow;

use super::access::{Named, commit_access_change};
use super::audit::Change;
use super::users::USER_COLUMNS;
use super::{Db, User, now_millis, or_roll_back};
use crate::tokens::Scopes;

/// A token as stored (its secret only as a hash). Read from [`TOKEN_COLUMNS`], whose
/// names do not clash with the users' columns a query may join.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct TokenRow {
    #[sqlx(rename = "token_id")]
    pub id: i64,
    #[sqlx(rename = "token_name")]
    pub name: String,
    pub scopes: Scopes,
    #[sqlx(rename = "token_expires_at")]
    pub expires_at: Option<i64>,
    #[sqlx(rename = "token_created_at")]
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub last_used_from: Option<String>,
    /// Versions published less than this long ago (milliseconds) are not offered to
    /// requests with this token (a CI token that should not pick up fresh releases).
    #[sqlx(rename = "token_min_release_age")]
    pub min_release_age: Option<i64>,
}

impl TokenRow {
    pub fn is_expired(&self, now: i64) -> bool {
        self.expires_at.is_some_and(|at| now >= at)
    }
}

pub(super) const TOKEN_COLUMNS: &str = "t.id AS token_id, t.name AS token_name, t.scopes, t.expires_at AS token_expires_at, \
     t.created_at AS token_created_at, t.last_used_at, t.last_used_from, \
     t.min_release_age AS token_min_release_age";

/// The id of the token on a row of users joined with their tokens; `None` for a user
/// without any.
#[derive(FromRow)]
struct TokenId {
    token_id: Option<i64>,
}

/// A token with the user it belongs to, from one row.
#[derive(FromRow)]
struct OwnedToken {
    #[sqlx(flatten)]
    user: User,
    #[sqlx(flatten)]
    token: TokenRow,
}

impl Db {
    /// Adds a token to `user`: `None` when there is no such user, a unique violation
    /// when it has a token of that name.
    pub async fn create_token(
        &self,
        user: &str,
        name: &str,
        scopes: &Scopes,
        expires_at: Option<i64>,
        min_release_age: Option<i64>,
        token_hash: &str,
    ) -> Result<Option<TokenRow>, sqlx::Error> {
        let Some((mut tx, user_id)) = self.open_named(Named::User, user).await? else {
            return Ok(None);
        };
        let now = now_millis();
        let inserted = sqlx::query_scalar(
            "INSERT INTO api_tokens (user_id, token_hash, created_at, name, scopes, expires_at, \
             min_release_age) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(user_id)
        .bind(token_hash)
        .bind(now)
        .bind(name)
        .bind(scopes)
        .bind(expires_at)
        .bind(min_release_age)
        .fetch_one(&mut *tx)
        .await;
        let (tx, id) = or_roll_back(tx, inserted).await?;
        let change = Change::new("token.created", format!("{user}/{name}"))
            .detail("scopes", scopes.to_string())
            .detail("expires_at", expires_at)
            .detail("min_release_age", min_release_age);
        commit_access_change(tx, &change).await?;
        Ok(Some(TokenRow {
            id,
            name: name.to_owned(),
            scopes: scopes.clone(),
            expires_at,
            created_at: now,
            last_used_at: None,
            last_used_from: None,
            min_release_age,
        }))
    }

    /// Removes every token of `user`; how many there were.
    pub async fn revoke_all_tokens(&self, user: &str) -> Result<u64, sqlx::Error> {
        let Some((mut tx, user_id)) = self.open_named(Named::User, user).await? else {
            return Ok(0);
        };
        let removed = sqlx::query("DELETE FROM api_tokens WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let change = Change::new("token.revoked", format!("{user}/*")).detail("tokens", removed);
        commit_access_change(tx, &change).await?;
        Ok(removed)
    }

    /// The tokens of `user`, by name; `None` when there is no such user.
    pub async fn tokens_of(&self, user: &str) -> Result<Option<Vec<TokenRow>>, sqlx::Error> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT u.id AS user_id, {TOKEN_COLUMNS} FROM users u \
             LEFT JOIN api_tokens t ON t.user_id = u.id WHERE u.name = $1 ORDER BY t.name"
        )))
        .bind(user)
        .fetch_all(self.pool())
        .await?;
        if rows.is_empty() {
            return Ok(None);
        }
        let mut tokens = Vec::with_capacity(rows.len());
        for row in &rows {
            if TokenId::from_row(row)?.token_id.is_some() {
                tokens.push(TokenRow::from_row(row)?);
            }
        }
        Ok(Some(tokens))
    }

    /// Records each token whose expiry has come (`token.expired`, by the current
    /// actor: packyard's refresher), once: replicas that look at the same moment
    /// record each expiry once between them. How many were recorded.
    pub async fn record_expired_tokens(&self, now: i64) -> Result<usize, sqlx::Error> {
        let due: Vec<(i64, String, String)> = sqlx::query_as(
            "SELECT t.id, u.name, t.name FROM api_tokens t JOIN users u ON u.id = t.user_id \
             WHERE t.expires_at IS NOT NULL AND t.expires_at <= $1 AND t.expiry_recorded = 0 \
             ORDER BY t.id",
        )
        .bind(now)
        .fetch_all(self.pool())
        .await?;
        if due.is_empty() {
            return Ok(0);
        }
        let mut tx = self.pool().begin().await?;
        let mut expired = Vec::new();
        for (id, user, name) in due {
            let marked = sqlx::query(
                "UPDATE api_tokens SET expiry_recorded = 1 WHERE id = $1 AND expiry_recorded = 0",
            )
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if marked == 1 {
                expired.push(Change::new("token.expired", format!("{user}/{name}")));
            }
        }
        for change in &expired {
            super::audit::append(&mut tx, change).await?;
        }
        tx.commit().await?;
        Ok(expired.len())
    }

    /// Deletes the token `name` of `user`; whether it existed.
    pub async fn revoke_token(&self, user: &str, name: &str) -> Result<bool, sqlx::Error> {
        let mut tx = self.pool().begin().await?;
        let removed = sqlx::query(
            "DELETE FROM api_tokens WHERE name = $2 AND user_id = (SELECT id FROM users WHERE name = $1)",
        )
        .bind(user)
        .bind(name)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if removed == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        commit_access_change(tx, &Change::new("token.revoked", format!("{user}/{name}"))).await?;
        Ok(true)
    }

    /// The user owning the token with this hash, and the token.
    pub async fn token_owner(
        &self,
        token_hash: &str,
    ) -> Result<Option<(User, TokenRow)>, sqlx::Error> {
        let owned: Option<OwnedToken> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS}, {TOKEN_COLUMNS} FROM api_tokens t \
             JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1"
        )))
        .bind(token_hash)
        .fetch_optional(self.pool())
        .await?;
        Ok(owned.map(|owned| (owned.user, owned.token)))
    }

    /// Records when and from where tokens were last used, in one transaction.
    pub async fn record_token_uses(&self, uses: &[(i64, i64, String)]) -> Result<(), sqlx::Error> {
        let mut tx = self.pool().begin().await?;
        for (id, at, from) in uses {
            sqlx::query(
                "UPDATE api_tokens SET last_used_at = $2, last_used_from = $3 WHERE id = $1",
            )
            .bind(id)
            .bind(at)
            .bind(from)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await
    }
}

#[cfg(test)]
mod tests {
    use crate::db::{Role, is_unique_violation, testing};
    use crate::tokens::{Scope, Scopes};

    #[tokio::test]
    async fn an_expiry_is_recorded_once_when_it_comes() {
        for (db, _dir) in testing::engines().await {
            db.create_user("erin", Role::User, "hash-erin")
                .await
                .unwrap();
            let now = crate::db::now_millis();
            for (name, expires) in [("soon", now - 1), ("later", now + 3_600_000)] {
                db.create_token(
                    "erin",
                    name,
                    &Scopes(None),
                    Some(expires),
                    None,
                    &format!("h-{name}"),
                )
                .await
                .unwrap()
                .unwrap();
            }
            assert_eq!(db.record_expired_tokens(now).await.unwrap(), 1);
            assert_eq!(db.record_expired_tokens(now).await.unwrap(), 0, "once");
            let filter = crate::db::audit::AuditFilter {
                action: Some("token.expired".into()),
                ..Default::default()
            };
            let entries = db.audit_entries(&filter, 10).await.unwrap();
            assert_eq!(entries.len(), 1);
            assert_eq!(entries[0].object, "erin/soon");
            assert_eq!(db.record_expired_tokens(now + 7_200_000).await.unwrap(), 1);
        }
    }

    #[tokio::test]
    async fn tokens_are_named_scoped_listed_found_and_revoked() {
        for (db, _dir) in testing::engines().await {
            db.create_user("ci", Role::User, "hash-default")
                .await
                .unwrap();
            let scopes = Scopes(Some(vec![Scope::Metadata]));
            let token = db
                .create_token(
                    "ci",
                    "deploy",
                    &scopes,
                    Some(5),
                    Some(60_000),
                    "hash-deploy",
                )
                .await
                .unwrap()
                .unwrap();
            assert_eq!(token.scopes, scopes);
            let duplicate = db
                .create_token("ci", "deploy", &Scopes(None), None, None, "hash-other")
                .await
                .unwrap_err();
            assert!(is_unique_violation(&duplicate));
            assert!(
                db.create_token("ghost", "x", &scopes, None, None, "h")
                    .await
                    .unwrap()
                    .is_none()
            );

            let listed = db.tokens_of("ci").await.unwrap().unwrap();
            let names: Vec<&str> = listed.iter().map(|t| t.name.as_str()).collect();
            assert_eq!(names, ["default", "deploy"]);
            assert_eq!(
                listed[0].scopes,
                Scopes(None),
                "the old token keeps every scope"
            );
            assert!(db.tokens_of("ghost").await.unwrap().is_none());

            let (user, found) = db.token_owner("hash-deploy").await.unwrap().unwrap();
            assert_eq!((user.name.as_str(), found.id), ("ci", token.id));
            assert_eq!(
                found.min_release_age,
                Some(60_000),
                "the token's cooldown is read back"
            );
            assert!(found.is_expired(5) && !found.is_expired(4));
            db.record_token_uses(&[(token.id, 1234, "127.0.0.1".into())])
                .await
                .unwrap();
            let (_, after_use) = db.token_owner("hash-deploy").await.unwrap().unwrap();
            assert_eq!(after_use.last_used_at, Some(1234));
            assert_eq!(after_use.last_used_from.as_deref(), Some("127.0.0.1"));

            assert!(db.revoke_token("ci", "deploy").await.unwrap());
            assert!(!db.revoke_token("ci", "deploy").await.unwrap());
            assert!(db.token_owner("hash-deploy").await.unwrap().is_none());
        }
    }
}
