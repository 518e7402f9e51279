//! What the web UI stores: users' password hashes, sessions (shared by every replica,
//! so that logging out or removing a user ends them everywhere) and failed logins.

use composer::package_name::PackageName;

use super::users::USER_COLUMNS;
use super::{Db, User, now_millis};

/// A signed-in browser: its user and the token its forms must carry.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Session {
    #[sqlx(flatten)]
    pub user: User,
    pub csrf_token: String,
    /// When the session was created (logged in) and when it ends unless used again.
    /// Read as `session_…`: the user's `expires_at` is on the same row.
    #[sqlx(rename = "session_created_at")]
    pub created_at: i64,
    #[sqlx(rename = "session_expires_at")]
    pub expires_at: i64,
}

/// The failed logins counted against one subject within a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct LoginFailures {
    pub count: i64,
    /// When the oldest and the newest of them happened (Unix milliseconds).
    pub oldest: Option<i64>,
    pub newest: Option<i64>,
}

/// A user with its password hash (`None`: API-only).
#[derive(sqlx::FromRow)]
struct UserWithPassword {
    #[sqlx(flatten)]
    user: User,
    password_hash: Option<String>,
}

use super::audit::Change;

impl Db {
    /// Replaces the password hash `old` of user `id` by `new`, the same password hashed
    /// our way (after a login matched an imported hash): the user's sessions stay, and
    /// a password changed meanwhile is left alone. Whether it was replaced.
    pub async fn rehash_password(
        &self,
        id: i64,
        old: &str,
        new: &str,
    ) -> Result<bool, sqlx::Error> {
        let replaced =
            sqlx::query("UPDATE users SET password_hash = $3 WHERE id = $1 AND password_hash = $2")
                .bind(id)
                .bind(old)
                .bind(new)
                .execute(self.pool())
                .await?
                .rows_affected();
        Ok(replaced == 1)
    }

    /// Sets (or with `None` removes) a user's password hash and ends the user's
    /// sessions; whether the user exists.
    pub async fn set_password(
        &self,
        user: &str,
        password_hash: Option<&str>,
    ) -> Result<bool, sqlx::Error> {
        let mut tx = self.pool().begin().await?;
        let id: Option<i64> =
            sqlx::query_scalar("UPDATE users SET password_hash = $2 WHERE name = $1 RETURNING id")
                .bind(user)
                .bind(password_hash)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(id) = id else {
            tx.rollback().await?;
            return Ok(false);
        };
        sqlx::query("DELETE FROM web_sessions WHERE user_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let action = if password_hash.is_some() {
            "user.password_set"
        } else {
            "user.password_removed"
        };
        super::audit::append(&mut tx, &Change::new(action, user)).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// A user with its password hash (`None`: API-only), by name.
    pub async fn user_with_password(
        &self,
        name: &str,
    ) -> Result<Option<(User, Option<String>)>, sqlx::Error> {
        let found: Option<UserWithPassword> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS}, u.password_hash FROM users u WHERE u.name = $1"
        )))
        .bind(name)
        .fetch_optional(self.pool())
        .await?;
        Ok(found.map(|found| (found.user, found.password_hash)))
    }

    /// Stores a new session, and drops expired ones: the table grows only by logins,
    /// so each login keeps it clean.
    pub async fn create_session(
        &self,
        secret_hash: &str,
        user_id: i64,
        csrf_token: &str,
        expires_at: i64,
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.pool().begin().await?;
        sqlx::query("DELETE FROM web_sessions WHERE expires_at < $1")
            .bind(now_millis())
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO web_sessions (secret_hash, user_id, csrf_token, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(secret_hash)
        .bind(user_id)
        .bind(csrf_token)
        .bind(now_millis())
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
        // Who signed in, and how, is the actor's (`audit::AuditActor::identify`).
        let user: String = sqlx::query_scalar("SELECT name FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_one(&mut *tx)
            .await?;
        super::audit::append(&mut tx, &Change::new("login.succeeded", user)).await?;
        tx.commit().await
    }

    /// The live session with this secret hash: not expired, its user still there.
    pub async fn session(&self, secret_hash: &str) -> Result<Option<Session>, sqlx::Error> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS}, s.csrf_token, s.created_at AS session_created_at, \
             s.expires_at AS session_expires_at FROM web_sessions s \
             JOIN users u ON u.id = s.user_id WHERE s.secret_hash = $1 AND s.expires_at > $2"
        )))
        .bind(secret_hash)
        .bind(now_millis())
        .fetch_optional(self.pool())
        .await
    }

    /// Moves a session's end to `expires_at` (it was used).
    pub async fn touch_session(
        &self,
        secret_hash: &str,
        expires_at: i64,
    ) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE web_sessions SET expires_at = $2 WHERE secret_hash = $1")
            .bind(secret_hash)
            .bind(expires_at)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Ends a session (a logout), recorded when there was one.
    pub async fn end_session(&self, secret_hash: &str) -> Result<(), sqlx::Error> {
        let mut tx = self.pool().begin().await?;
        let user: Option<String> = sqlx::query_scalar(
            "DELETE FROM web_sessions WHERE secret_hash = $1 \
             RETURNING (SELECT name FROM users WHERE id = user_id)",
        )
        .bind(secret_hash)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(user) = user {
            super::audit::append(&mut tx, &Change::new("logout", user)).await?;
        }
        tx.commit().await
    }

    /// Notes login `attempt` as a failure against each of `subjects` (the user name, the
    /// address, the pair), before its password is checked, and forgets failures older
    /// than `forget_before`. An attempt whose password was right is withdrawn
    /// ([`Db::withdraw_login_attempt`]); one that was wrong stays counted.
    pub async fn record_login_attempt(
        &self,
        subjects: &[&str],
        attempt: &str,
        forget_before: i64,
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.pool().begin().await?;
        sqlx::query("DELETE FROM login_failures WHERE failed_at < $1")
            .bind(forget_before)
            .execute(&mut *tx)
            .await?;
        for subject in subjects {
            sqlx::query(
                "INSERT INTO login_failures (subject, failed_at, attempt) VALUES ($1, $2, $3)",
            )
            .bind(*subject)
            .bind(now_millis())
            .bind(attempt)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await
    }

    /// Takes back what [`Db::record_login_attempt`] noted for `attempt`.
    pub async fn withdraw_login_attempt(&self, attempt: &str) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM login_failures WHERE attempt = $1")
            .bind(attempt)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Failed logins against `subject` since `since`, but for those of the attempt
    /// `except` (the one being judged).
    pub async fn login_failures(
        &self,
        subject: &str,
        since: i64,
        except: Option<&str>,
    ) -> Result<LoginFailures, sqlx::Error> {
        sqlx::query_as(
            "SELECT COUNT(*) AS count, MIN(failed_at) AS oldest, MAX(failed_at) AS newest \
             FROM login_failures WHERE subject = $1 AND failed_at >= $2 \
             AND (attempt IS NULL OR $3 IS NULL OR attempt <> $3)",
        )
        .bind(subject)
        .bind(since)
        .bind(except)
        .fetch_one(self.pool())
        .await
    }

    /// Forgets the failed logins against `subject` (after it logged in).
    pub async fn forget_login_failures(&self, subject: &str) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM login_failures WHERE subject = $1")
            .bind(subject)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}

impl Db {
    /// The README shown for `package`, with the normalized version it came from.
    pub async fn readme(&self, package: &str) -> Result<Option<(String, String)>, sqlx::Error> {
        sqlx::query_as(
            "SELECT r.version_normalized, r.content FROM package_readmes r \
             JOIN packages p ON p.id = r.package_id WHERE p.name = $1",
        )
        .bind(package)
        .fetch_optional(self.pool())
        .await
    }

    /// Replaces the README shown for `package` (`None`: it has none).
    pub async fn set_readme(
        &self,
        package: &PackageName,
        readme: Option<(&str, &str)>,
    ) -> Result<(), sqlx::Error> {
        super::retry_transient(|| self.try_set_readme(package, readme)).await
    }

    async fn try_set_readme(
        &self,
        package: &PackageName,
        readme: Option<(&str, &str)>,
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "DELETE FROM package_readmes WHERE package_id = (SELECT id FROM packages WHERE name = $1)",
        )
        .bind(package.as_str())
        .execute(&mut *tx)
        .await?;
        if let Some((version_normalized, content)) = readme {
            sqlx::query(
                "INSERT INTO package_readmes (package_id, version_normalized, content) \
                 SELECT id, $2, $3 FROM packages WHERE name = $1",
            )
            .bind(package.as_str())
            .bind(version_normalized)
            .bind(content)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await
    }
}

#[cfg(test)]
mod tests {
    use crate::db::{Role, UserChange, now_millis, testing};

    /// The rehash after a login with an imported hash replaces only the hash that login
    /// checked: a password set meanwhile (by the user, an admin, a concurrent login)
    /// stays, and that login is told so.
    #[tokio::test]
    async fn a_rehash_replaces_only_the_hash_it_checked() {
        for (db, _dir) in testing::engines().await {
            let user = db
                .create_user("imported", Role::User, "hash-i")
                .await
                .unwrap();
            assert!(
                db.set_password("imported", Some("$2y$13$packeton"))
                    .await
                    .unwrap()
            );
            assert!(
                db.rehash_password(user.id, "$2y$13$packeton", "$argon2id$first")
                    .await
                    .unwrap()
            );
            // A second login that checked the same imported hash loses the race.
            assert!(
                !db.rehash_password(user.id, "$2y$13$packeton", "$argon2id$second")
                    .await
                    .unwrap()
            );
            let (_, stored) = db.user_with_password("imported").await.unwrap().unwrap();
            assert_eq!(stored.as_deref(), Some("$argon2id$first"));
        }
    }

    /// The session's own times and its user's expiry are different columns with one
    /// name: each must be read from its own table.
    #[tokio::test]
    async fn a_session_carries_its_users_expiry_and_its_own() {
        for (db, _dir) in testing::engines().await {
            let user = db.create_user("eve", Role::User, "hash-e").await.unwrap();
            let expired = UserChange {
                expires_at: Some(Some(1_000)),
                ..UserChange::default()
            };
            db.change_user("eve", &expired).await.unwrap();
            let ends = now_millis() + 60_000;
            db.create_session("secret-hash", user.id, "csrf", ends)
                .await
                .unwrap();
            let session = db.session("secret-hash").await.unwrap().unwrap();
            assert_eq!(session.expires_at, ends);
            assert_eq!(session.user.expires_at, Some(1_000), "{:?}", db.engine());
            assert!(session.user.is_expired(now_millis()));
        }
    }
}
