//! Identities at identity providers and what single sign-on keeps in step: which user
//! an identity belongs to, the group memberships a provider's mapping made, and whether
//! the provider still has the user.

use sqlx::FromRow;

use super::access::commit_access_change;
use super::audit::Change;
use super::users::USER_COLUMNS;
use super::{Db, User, now_millis};

/// A user's identity at a provider.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct IdentityRow {
    pub provider: String,
    pub subject: String,
    pub user_id: i64,
    pub email: Option<String>,
    pub created_at: i64,
    pub last_login_at: Option<i64>,
    pub checked_at: Option<i64>,
}

/// An OpenID Connect sign-in between the redirect and the callback.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct PendingSignIn {
    pub provider: String,
    pub browser_hash: String,
    pub nonce: String,
    pub pkce_verifier: String,
    pub next: String,
    pub created_at: i64,
}

const IDENTITY_COLUMNS: &str =
    "i.provider, i.subject, i.user_id, i.email, i.created_at, i.last_login_at, i.checked_at";

impl Db {
    /// The user an identity belongs to.
    pub async fn user_of_identity(
        &self,
        provider: &str,
        subject: &str,
    ) -> Result<Option<User>, sqlx::Error> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {USER_COLUMNS} FROM identities i JOIN users u ON u.id = i.user_id \
             WHERE i.provider = $1 AND i.subject = $2"
        )))
        .bind(provider)
        .bind(subject)
        .fetch_optional(self.pool())
        .await
    }

    /// Links an identity to user `user_id`; a unique violation when the identity is
    /// another user's already.
    pub async fn link_identity(
        &self,
        provider: &str,
        subject: &str,
        user_id: i64,
        email: Option<&str>,
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO identities (provider, subject, user_id, email, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(provider)
        .bind(subject)
        .bind(user_id)
        .bind(email)
        .bind(now_millis())
        .execute(&mut *tx)
        .await?;
        let change = Change::new("identity.linked", user_name(&mut tx, user_id).await?)
            .detail("provider", provider)
            .detail("subject", subject);
        super::audit::append(&mut tx, &change).await?;
        tx.commit().await
    }

    /// Removes a user's identity at `provider`; whether it had one.
    pub async fn unlink_identity(&self, provider: &str, user_id: i64) -> Result<bool, sqlx::Error> {
        let mut tx = self.pool().begin().await?;
        let removed = sqlx::query("DELETE FROM identities WHERE provider = $1 AND user_id = $2")
            .bind(provider)
            .bind(user_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if removed == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        let change = Change::new("identity.unlinked", user_name(&mut tx, user_id).await?)
            .detail("provider", provider);
        super::audit::append(&mut tx, &change).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The providers each user has an identity at, by user id.
    pub async fn identity_providers(
        &self,
    ) -> Result<std::collections::HashMap<i64, Vec<String>>, sqlx::Error> {
        let rows: Vec<(i64, String)> =
            sqlx::query_as("SELECT user_id, provider FROM identities ORDER BY provider")
                .fetch_all(self.pool())
                .await?;
        let mut providers: std::collections::HashMap<i64, Vec<String>> =
            std::collections::HashMap::new();
        for (user, provider) in rows {
            providers.entry(user).or_default().push(provider);
        }
        Ok(providers)
    }

    /// Every identity of `user_id`.
    pub async fn identities_of(&self, user_id: i64) -> Result<Vec<IdentityRow>, sqlx::Error> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {IDENTITY_COLUMNS} FROM identities i WHERE i.user_id = $1 ORDER BY i.provider"
        )))
        .bind(user_id)
        .fetch_all(self.pool())
        .await
    }

    /// The identities at `provider` last checked before `before` (or never), oldest
    /// first, at most `limit`.
    pub async fn identities_due(
        &self,
        provider: &str,
        before: i64,
        limit: i64,
    ) -> Result<Vec<IdentityRow>, sqlx::Error> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {IDENTITY_COLUMNS} FROM identities i WHERE i.provider = $1 \
             AND (i.checked_at IS NULL OR i.checked_at < $2) \
             ORDER BY COALESCE(i.checked_at, 0), i.subject LIMIT $3"
        )))
        .bind(provider)
        .bind(before)
        .bind(limit)
        .fetch_all(self.pool())
        .await
    }

    /// Notes a sign-in (`signed_in`) or a check of an identity, with its e-mail address.
    pub async fn touch_identity(
        &self,
        provider: &str,
        subject: &str,
        email: Option<&str>,
        signed_in: bool,
    ) -> Result<(), sqlx::Error> {
        let now = now_millis();
        let statement = if signed_in {
            "UPDATE identities SET last_login_at = $3, checked_at = $3, email = $4 WHERE provider = $1 AND subject = $2"
        } else {
            "UPDATE identities SET checked_at = $3 WHERE provider = $1 AND subject = $2"
        };
        sqlx::query(statement)
            .bind(provider)
            .bind(subject)
            .bind(now)
            .bind(email)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Keeps a pending sign-in under the hash of its `state`.
    pub async fn save_sign_in(
        &self,
        state_hash: &str,
        pending: &PendingSignIn,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO sso_logins (state_hash, provider, browser_hash, nonce, pkce_verifier, next, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(state_hash)
        .bind(&pending.provider)
        .bind(&pending.browser_hash)
        .bind(&pending.nonce)
        .bind(&pending.pkce_verifier)
        .bind(&pending.next)
        .bind(pending.created_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Takes the pending sign-in of a `state`'s hash: it is gone afterwards, so a state
    /// is good once, whichever replica the callback reaches.
    pub async fn take_sign_in(
        &self,
        state_hash: &str,
    ) -> Result<Option<PendingSignIn>, sqlx::Error> {
        sqlx::query_as(
            "DELETE FROM sso_logins WHERE state_hash = $1 \
             RETURNING provider, browser_hash, nonce, pkce_verifier, next, created_at",
        )
        .bind(state_hash)
        .fetch_optional(self.pool())
        .await
    }

    /// How many sign-ins are pending.
    pub async fn pending_sign_ins(&self) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar("SELECT COUNT(*) FROM sso_logins")
            .fetch_one(self.pool())
            .await
    }

    /// Forgets pending sign-ins started before `before`; how many.
    pub async fn prune_sign_ins(&self, before: i64) -> Result<u64, sqlx::Error> {
        Ok(sqlx::query("DELETE FROM sso_logins WHERE created_at < $1")
            .bind(before)
            .execute(self.pool())
            .await?
            .rows_affected())
    }

    /// Deprovisions the users of `provider` whose last sign-in there (or, never signed
    /// in, their link) is older than `before`; their ids.
    pub async fn deprovision_idle(
        &self,
        provider: &str,
        before: i64,
    ) -> Result<Vec<i64>, sqlx::Error> {
        let idle: Vec<i64> = sqlx::query_scalar(
            "SELECT i.user_id FROM identities i JOIN users u ON u.id = i.user_id \
             WHERE i.provider = $1 AND u.deprovisioned_at IS NULL \
             AND COALESCE(i.last_login_at, i.created_at) < $2",
        )
        .bind(provider)
        .bind(before)
        .fetch_all(self.pool())
        .await?;
        let mut changed = Vec::new();
        for user in idle {
            if self
                .set_deprovisioned(user, provider, Some(now_millis()))
                .await?
            {
                changed.push(user);
            }
        }
        Ok(changed)
    }

    /// Marks user `user_id` removed by `provider` (`Some(at)`), or present again there
    /// (`None`: only when that provider removed it — another provider's word does not
    /// bring back a user one removed); whether that changed anything. Replicas refuse
    /// its tokens within the access refresh.
    pub async fn set_deprovisioned(
        &self,
        user_id: i64,
        provider: &str,
        at: Option<i64>,
    ) -> Result<bool, sqlx::Error> {
        let mut tx = self.pool().begin().await?;
        let changed = match at {
            Some(at) => sqlx::query(
                "UPDATE users SET deprovisioned_at = $3, deprovisioned_by = $2 \
                 WHERE id = $1 AND deprovisioned_at IS NULL",
            )
            .bind(user_id)
            .bind(provider)
            .bind(at),
            None => sqlx::query(
                "UPDATE users SET deprovisioned_at = NULL, deprovisioned_by = NULL \
                 WHERE id = $1 AND deprovisioned_by = $2",
            )
            .bind(user_id)
            .bind(provider),
        }
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        let action = if at.is_some() {
            "user.deprovisioned"
        } else {
            "user.reprovisioned"
        };
        let change =
            Change::new(action, user_name(&mut tx, user_id).await?).detail("provider", provider);
        commit_access_change(tx, &change).await?;
        Ok(true)
    }

    /// Makes the memberships of user `user_id` that `provider`'s mapping made exactly
    /// `groups` (by name; unknown ones are skipped): joins those it lacks, leaves those
    /// no longer mapped. Memberships an admin made stay, whatever the mapping says.
    /// The groups joined and left.
    pub async fn sync_mapped_groups(
        &self,
        user_id: i64,
        provider: &str,
        groups: &[String],
    ) -> Result<(Vec<String>, Vec<String>), sqlx::Error> {
        let mut tx = self.pool().begin().await?;
        let current: Vec<(i64, String, Option<String>)> = sqlx::query_as(
            "SELECT g.id, g.name, m.source FROM group_members m JOIN groups g ON g.id = m.group_id \
             WHERE m.user_id = $1",
        )
        .bind(user_id)
        .fetch_all(&mut *tx)
        .await?;
        let mut joined = Vec::new();
        let mut left = Vec::new();
        for (group_id, name, source) in &current {
            if source.as_deref() == Some(provider) && !groups.contains(name) {
                sqlx::query("DELETE FROM group_members WHERE group_id = $1 AND user_id = $2")
                    .bind(group_id)
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await?;
                left.push(name.clone());
            }
        }
        for name in groups {
            if current.iter().any(|(_, held, _)| held == name) {
                continue;
            }
            let group_id: Option<i64> = sqlx::query_scalar("SELECT id FROM groups WHERE name = $1")
                .bind(name)
                .fetch_optional(&mut *tx)
                .await?;
            let Some(group_id) = group_id else {
                continue;
            };
            sqlx::query(
                "INSERT INTO group_members (group_id, user_id, source) VALUES ($1, $2, $3)",
            )
            .bind(group_id)
            .bind(user_id)
            .bind(provider)
            .execute(&mut *tx)
            .await?;
            joined.push(name.clone());
        }
        if joined.is_empty() && left.is_empty() {
            tx.rollback().await?;
        } else {
            let change = Change::new("membership.synced", user_name(&mut tx, user_id).await?)
                .detail("provider", provider)
                .detail("joined", &joined)
                .detail("left", &left);
            commit_access_change(tx, &change).await?;
        }
        Ok((joined, left))
    }
}

/// The name of user `user_id`, as an entry names the user (empty if there is none).
async fn user_name(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    user_id: i64,
) -> Result<String, sqlx::Error> {
    let name: Option<String> = sqlx::query_scalar("SELECT name FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(name.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use crate::db::{Role, testing};

    #[tokio::test]
    async fn mapped_memberships_follow_the_provider_and_manual_ones_stay() {
        for (db, _dir) in testing::engines().await {
            let user = db.create_account("alice", Role::User, None).await.unwrap();
            for group in ["devs", "qa", "ops"] {
                db.create_group(group, &crate::db::GroupChange::default())
                    .await
                    .unwrap();
            }
            // An admin put alice in ops by hand.
            db.set_membership("ops", "alice", true).await.unwrap();
            let names = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
            let (joined, left) = db
                .sync_mapped_groups(user.id, "corp", &names(&["devs", "qa", "nope"]))
                .await
                .unwrap();
            assert_eq!((joined, left), (names(&["devs", "qa"]), names(&[])));
            // The provider drops qa and ops: qa goes, the hand-made ops stays.
            let (joined, left) = db
                .sync_mapped_groups(user.id, "corp", &names(&["devs"]))
                .await
                .unwrap();
            assert_eq!((joined, left), (names(&[]), names(&["qa"])));
            // Another provider's mapping does not touch corp's.
            let (_, left) = db.sync_mapped_groups(user.id, "other", &[]).await.unwrap();
            assert!(left.is_empty());
            let rules = db.access_rules().await.unwrap();
            let mut groups_of_alice: Vec<String> = rules
                .groups
                .iter()
                .filter(|g| g.members.iter().any(|m| m == "alice"))
                .map(|g| g.name.clone())
                .collect();
            groups_of_alice.sort();
            assert_eq!(groups_of_alice, names(&["devs", "ops"]));
        }
    }

    #[tokio::test]
    async fn an_identity_belongs_to_one_user_and_deprovisioning_expires_it() {
        for (db, _dir) in testing::engines().await {
            let alice = db.create_account("alice", Role::User, None).await.unwrap();
            let bob = db.create_account("bob", Role::User, None).await.unwrap();
            db.link_identity("corp", "uid=alice", alice.id, Some("a@example.test"))
                .await
                .unwrap();
            let taken = db.link_identity("corp", "uid=alice", bob.id, None).await;
            assert!(taken.is_err_and(|e| crate::db::is_unique_violation(&e)));
            let found = db
                .user_of_identity("corp", "uid=alice")
                .await
                .unwrap()
                .unwrap();
            assert_eq!(found.id, alice.id);
            assert!(!found.is_expired(crate::db::now_millis()));
            assert!(
                db.set_deprovisioned(alice.id, "corp", Some(1))
                    .await
                    .unwrap()
            );
            assert!(
                !db.set_deprovisioned(alice.id, "corp", Some(2))
                    .await
                    .unwrap()
            );
            // Another provider's word does not bring her back.
            assert!(!db.set_deprovisioned(alice.id, "other", None).await.unwrap());
            let found = db
                .user_of_identity("corp", "uid=alice")
                .await
                .unwrap()
                .unwrap();
            assert!(found.is_expired(crate::db::now_millis()));
            assert!(db.set_deprovisioned(alice.id, "corp", None).await.unwrap());
            // Idle since its link: deprovisioned by the provider's deprovision_after;
            // a user of another provider is not.
            db.link_identity("other", "bob-1", bob.id, None)
                .await
                .unwrap();
            let now = crate::db::now_millis();
            assert!(
                db.deprovision_idle("corp", now - 60_000)
                    .await
                    .unwrap()
                    .is_empty()
            );
            assert_eq!(
                db.deprovision_idle("corp", now + 1).await.unwrap(),
                [alice.id]
            );
            assert!(
                db.deprovision_idle("corp", now + 1)
                    .await
                    .unwrap()
                    .is_empty()
            );
            let bob_now = db
                .user_of_identity("other", "bob-1")
                .await
                .unwrap()
                .unwrap();
            assert!(bob_now.deprovisioned_at.is_none());
            assert!(db.set_deprovisioned(alice.id, "corp", None).await.unwrap());
            let due = db.identities_due("corp", i64::MAX, 10).await.unwrap();
            assert_eq!(due.len(), 1);
            db.touch_identity("corp", "uid=alice", None, false)
                .await
                .unwrap();
            assert!(db.identities_due("corp", 0, 10).await.unwrap().is_empty());
        }
    }
}
