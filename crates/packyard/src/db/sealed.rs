//! Every value sealed with `PACKYARD_SECRET`, for `packyard secrets rotate`: repository
//! credentials and push-webhook secrets of git packages, and the signing secrets of
//! outgoing webhooks.

use super::Db;

/// One stored secret: where it is and what is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedValue {
    pub column: SealedColumn,
    /// The row's id.
    pub id: i64,
    /// The name of the package or webhook the row is.
    pub name: String,
    /// The package's repository URL, or the webhook's URL.
    pub url: String,
    pub value: String,
}

impl SealedValue {
    /// For messages: `package acme/lib credentials`, `webhook ci`.
    pub fn place(&self) -> String {
        match self.column {
            SealedColumn::PackageCredentials => format!("package {} credentials", self.name),
            SealedColumn::PackageWebhookSecret => {
                format!("package {} webhook secret", self.name)
            }
            SealedColumn::WebhookSecret => format!("webhook {}", self.name),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealedColumn {
    PackageCredentials,
    PackageWebhookSecret,
    WebhookSecret,
}

impl SealedColumn {
    fn update(self) -> &'static str {
        match self {
            SealedColumn::PackageCredentials => {
                "UPDATE packages SET credentials = $1 WHERE id = $2 AND credentials = $3"
            }
            SealedColumn::PackageWebhookSecret => {
                "UPDATE packages SET webhook_secret = $1 WHERE id = $2 AND webhook_secret = $3"
            }
            SealedColumn::WebhookSecret => {
                "UPDATE webhooks SET secret = $1 WHERE id = $2 AND secret = $3"
            }
        }
    }
}

/// A package's secrets, with what they are sealed for.
#[derive(sqlx::FromRow)]
struct PackageSecrets {
    id: i64,
    name: String,
    repository_url: Option<String>,
    credentials: Option<String>,
    webhook_secret: Option<String>,
}

use super::audit::Change;

/// Why stored values are sealed anew.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reseal {
    /// Values of earlier versions bound to their rows, at start-up.
    Binding,
    /// `packyard secrets rotate`: from the old secret to the current one.
    Rotation,
}

impl Db {
    /// Every stored secret, sealed or (a webhook secret from an earlier version) not.
    pub async fn sealed_values(&self) -> Result<Vec<SealedValue>, sqlx::Error> {
        let mut values = Vec::new();
        let packages: Vec<PackageSecrets> = sqlx::query_as(
            "SELECT id, name, repository_url, credentials, webhook_secret FROM packages \
             WHERE credentials IS NOT NULL OR webhook_secret IS NOT NULL ORDER BY id",
        )
        .fetch_all(self.pool())
        .await?;
        for package in packages {
            for (column, value) in [
                (SealedColumn::PackageCredentials, package.credentials),
                (SealedColumn::PackageWebhookSecret, package.webhook_secret),
            ] {
                if let Some(value) = value {
                    values.push(SealedValue {
                        column,
                        id: package.id,
                        name: package.name.clone(),
                        url: package.repository_url.clone().unwrap_or_default(),
                        value,
                    });
                }
            }
        }
        let hooks: Vec<(i64, String, String, String)> =
            sqlx::query_as("SELECT id, name, url, secret FROM webhooks ORDER BY id")
                .fetch_all(self.pool())
                .await?;
        for (id, name, url, value) in hooks {
            values.push(SealedValue {
                column: SealedColumn::WebhookSecret,
                id,
                name,
                url,
                value,
            });
        }
        Ok(values)
    }

    /// Stores each value's replacement, all or none, where the row still holds the value
    /// it was read with (a replica binding at the same time, or a change made meanwhile,
    /// is not overwritten), and with `all_bound` records that every stored value is now
    /// bound to its row (see `secrets::bind_earlier_values`).
    ///
    /// A rotation is recorded in the audit log (`secrets.rotated`) even when nothing
    /// was stored; a binding (`secrets.bound`) only when it changed values.
    pub async fn replace_sealed_values(
        &self,
        changes: &[(SealedValue, String)],
        all_bound: bool,
        why: Reseal,
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.pool().begin().await?;
        for (stored, replacement) in changes {
            sqlx::query(stored.column.update())
                .bind(replacement)
                .bind(stored.id)
                .bind(&stored.value)
                .execute(&mut *tx)
                .await?;
        }
        if all_bound {
            sqlx::query(
                "INSERT INTO sealed_values_bound (id, bound_at) VALUES (1, $1) \
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(super::now_millis())
            .execute(&mut *tx)
            .await?;
        }
        let action = match why {
            Reseal::Rotation => "secrets.rotated",
            Reseal::Binding if changes.is_empty() => return tx.commit().await,
            Reseal::Binding => "secrets.bound",
        };
        // Which values, never what they hold.
        let change = Change::new(action, format!("{} stored values", changes.len()))
            .detail(
                "values",
                changes
                    .iter()
                    .map(|(stored, _)| format!("{:?} {}", stored.column, stored.id))
                    .collect::<Vec<_>>(),
            )
            .detail("all_bound", all_bound);
        super::audit::append(&mut tx, &change).await?;
        tx.commit().await
    }

    /// Whether values sealed unbound by earlier versions were bound to their rows.
    pub async fn sealed_values_bound(&self) -> Result<bool, sqlx::Error> {
        let bound: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sealed_values_bound")
            .fetch_one(self.pool())
            .await?;
        Ok(bound > 0)
    }
}
