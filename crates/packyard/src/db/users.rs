use sqlx::Row;

use super::{Db, now_millis};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub name: String,
    pub is_admin: bool,
    /// May add and update packages (admins may too).
    pub is_maintainer: bool,
}

/// What a new user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    User,
    Maintainer,
    Admin,
}

/// A user with the hashes of all their API tokens, for constant-time verification.
#[derive(Debug, Clone)]
pub struct UserCredentials {
    pub user: User,
    pub token_hashes: Vec<String>,
}

impl Db {
    /// Creates a user with one API token (given as its hash).
    pub async fn create_user(
        &self,
        name: &str,
        role: Role,
        token_hash: &str,
    ) -> Result<User, sqlx::Error> {
        let (is_admin, is_maintainer) = (role == Role::Admin, role != Role::User);
        let now = now_millis();
        let mut tx = self.pool().begin().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO users (name, is_admin, is_maintainer, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(name)
        .bind(i64::from(is_admin))
        .bind(i64::from(is_maintainer))
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query("INSERT INTO api_tokens (user_id, token_hash, created_at) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(token_hash)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(User {
            id,
            name: name.to_owned(),
            is_admin,
            is_maintainer,
        })
    }

    pub async fn user_credentials(
        &self,
        name: &str,
    ) -> Result<Option<UserCredentials>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT u.id, u.name, u.is_admin, u.is_maintainer, t.token_hash FROM users u \
             LEFT JOIN api_tokens t ON t.user_id = u.id WHERE u.name = $1",
        )
        .bind(name)
        .fetch_all(self.pool())
        .await?;
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        let user = User {
            id: first.try_get("id")?,
            name: first.try_get("name")?,
            is_admin: first.try_get::<i64, _>("is_admin")? != 0,
            is_maintainer: first.try_get::<i64, _>("is_maintainer")? != 0,
        };
        let token_hashes = rows
            .iter()
            .filter_map(|row| row.try_get::<Option<String>, _>("token_hash").transpose())
            .collect::<Result<_, _>>()?;
        Ok(Some(UserCredentials { user, token_hashes }))
    }
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
            assert_eq!(credentials.token_hashes, vec!["hash-a".to_string()]);
            let duplicate = db
                .create_user("alice", Role::User, "hash-b")
                .await
                .unwrap_err();
            assert!(is_unique_violation(&duplicate), "{duplicate}");
            assert!(db.user_credentials("bob").await.unwrap().is_none());
        }
    }
}
