//! Outgoing webhooks, their deliveries and the attempts at each.

use super::audit::Change;
use super::columns::CommaSeparated;
use super::{Db, now_millis};

/// A hook as stored. `events` are event names; `secret` is sealed.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct WebhookRow {
    pub id: i64,
    pub name: String,
    pub url: String,
    #[sqlx(try_from = "CommaSeparated")]
    pub events: Vec<String>,
    pub package_pattern: Option<String>,
    pub secret: String,
    pub created_at: i64,
}

/// What a new hook is made of.
#[derive(Debug, Clone)]
pub struct NewWebhook {
    pub name: String,
    pub url: String,
    pub events: Vec<String>,
    pub package_pattern: Option<String>,
    /// Sealed.
    pub secret: String,
}

/// One event's delivery to one hook.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DeliveryRow {
    pub id: i64,
    /// What `X-Packyard-Delivery` carries.
    pub delivery_id: String,
    pub webhook: String,
    pub event: String,
    pub package: String,
    pub payload: String,
    pub created_at: i64,
    pub delivered_at: Option<i64>,
}

/// One attempt at a delivery.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AttemptRow {
    pub started_at: i64,
    pub duration_ms: i64,
    pub status: Option<i64>,
    pub error: Option<String>,
    pub response: Option<String>,
}

const WEBHOOK_COLUMNS: &str = "id, name, url, events, package_pattern, secret, created_at";
const DELIVERY_COLUMNS: &str = "d.id, d.delivery_id, w.name AS webhook, d.event, d.package, \
     d.payload, d.created_at, d.delivered_at";

impl Db {
    /// Records a hook; a unique violation when the name is taken.
    pub async fn create_webhook(&self, hook: &NewWebhook) -> Result<i64, sqlx::Error> {
        let mut tx = self.pool().begin().await?;
        let id = sqlx::query_scalar(
            "INSERT INTO webhooks (name, url, events, package_pattern, secret, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(&hook.name)
        .bind(&hook.url)
        .bind(hook.events.join(","))
        .bind(&hook.package_pattern)
        .bind(&hook.secret)
        .bind(now_millis())
        .fetch_one(&mut *tx)
        .await?;
        // The URL without credentials; the signing secret never.
        let change = Change::new("webhook.created", &hook.name)
            .detail("url", crate::redact::for_record(&hook.url, false))
            .detail("events", &hook.events)
            .detail("package_pattern", &hook.package_pattern);
        super::audit::append(&mut tx, &change).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Every hook, by name.
    pub async fn webhooks(&self) -> Result<Vec<WebhookRow>, sqlx::Error> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {WEBHOOK_COLUMNS} FROM webhooks ORDER BY name"
        )))
        .fetch_all(self.pool())
        .await
    }

    pub async fn webhook(&self, name: &str) -> Result<Option<WebhookRow>, sqlx::Error> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE name = $1"
        )))
        .bind(name)
        .fetch_optional(self.pool())
        .await
    }

    /// Deletes a hook with its deliveries; `false` when there is none of that name.
    pub async fn delete_webhook(&self, name: &str) -> Result<bool, sqlx::Error> {
        let mut tx = self.pool().begin().await?;
        let deleted = sqlx::query("DELETE FROM webhooks WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        if deleted.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        super::audit::append(&mut tx, &Change::new("webhook.removed", name)).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Records a delivery of `payload` to the hook `webhook_id`; its row id.
    pub async fn create_delivery(
        &self,
        webhook_id: i64,
        delivery_id: &str,
        event: &str,
        package: &str,
        payload: &str,
    ) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar(
            "INSERT INTO webhook_deliveries (delivery_id, webhook_id, event, package, payload, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(delivery_id)
        .bind(webhook_id)
        .bind(event)
        .bind(package)
        .bind(payload)
        .bind(now_millis())
        .fetch_one(self.pool())
        .await
    }

    /// A delivery by row id, with its hook; `None` once either is gone.
    pub async fn delivery_with_hook(
        &self,
        id: i64,
    ) -> Result<Option<(DeliveryRow, WebhookRow)>, sqlx::Error> {
        let Some(delivery) = sqlx::query_as::<_, DeliveryRow>(delivery_query("d.id = $1"))
            .bind(id)
            .fetch_optional(self.pool())
            .await?
        else {
            return Ok(None);
        };
        Ok(self
            .webhook(&delivery.webhook)
            .await?
            .map(|hook| (delivery, hook)))
    }

    /// A delivery by the id its receiver saw.
    pub async fn delivery(&self, delivery_id: &str) -> Result<Option<DeliveryRow>, sqlx::Error> {
        sqlx::query_as(delivery_query("d.delivery_id = $1"))
            .bind(delivery_id)
            .fetch_optional(self.pool())
            .await
    }

    /// The newest `limit` deliveries to the hook `name`, newest first, each with its
    /// attempts in order.
    pub async fn deliveries(
        &self,
        name: &str,
        limit: i64,
    ) -> Result<Vec<(DeliveryRow, Vec<AttemptRow>)>, sqlx::Error> {
        let rows: Vec<DeliveryRow> = sqlx::query_as(delivery_query(
            "w.name = $1 ORDER BY d.created_at DESC, d.id DESC LIMIT $2",
        ))
        .bind(name)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        let mut deliveries = Vec::with_capacity(rows.len());
        for delivery in rows {
            let attempts = self.attempts(delivery.id).await?;
            deliveries.push((delivery, attempts));
        }
        Ok(deliveries)
    }

    pub async fn attempts(&self, delivery: i64) -> Result<Vec<AttemptRow>, sqlx::Error> {
        sqlx::query_as(
            "SELECT started_at, duration_ms, status, error, response FROM webhook_attempts \
             WHERE delivery_id = $1 ORDER BY id",
        )
        .bind(delivery)
        .fetch_all(self.pool())
        .await
    }

    /// Records an attempt; a 2xx marks the delivery delivered.
    pub async fn record_attempt(
        &self,
        delivery: i64,
        attempt: &AttemptRow,
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO webhook_attempts (delivery_id, started_at, duration_ms, status, error, response) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(delivery)
        .bind(attempt.started_at)
        .bind(attempt.duration_ms)
        .bind(attempt.status)
        .bind(&attempt.error)
        .bind(&attempt.response)
        .execute(&mut *tx)
        .await?;
        if attempt
            .status
            .is_some_and(|status| (200..300).contains(&status))
        {
            sqlx::query(
                "UPDATE webhook_deliveries SET delivered_at = $2 WHERE id = $1 AND delivered_at IS NULL",
            )
            .bind(delivery)
            .bind(now_millis())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await
    }

    /// Deletes deliveries (and their attempts) created before `before`; how many.
    pub async fn prune_deliveries(&self, before: i64) -> Result<u64, sqlx::Error> {
        let mut tx = self.pool().begin().await?;
        // Attempts first: SQLite enforces the cascade only with foreign keys on, and
        // this must not depend on it.
        sqlx::query(
            "DELETE FROM webhook_attempts WHERE delivery_id IN \
             (SELECT id FROM webhook_deliveries WHERE created_at < $1)",
        )
        .bind(before)
        .execute(&mut *tx)
        .await?;
        let deleted = sqlx::query("DELETE FROM webhook_deliveries WHERE created_at < $1")
            .bind(before)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(deleted.rows_affected())
    }
}

/// The deliveries (with their hook's name) that meet `condition`.
fn delivery_query(condition: &'static str) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(format!(
        "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d \
         JOIN webhooks w ON w.id = d.webhook_id WHERE {condition}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{is_unique_violation, testing};

    fn hook(name: &str) -> NewWebhook {
        NewWebhook {
            name: name.into(),
            url: "https://hooks.example.com/in".into(),
            events: vec!["new_release".into(), "delete_package".into()],
            package_pattern: Some("acme/*".into()),
            secret: "v1:sealed".into(),
        }
    }

    #[tokio::test]
    async fn deliveries_keep_their_attempts_until_pruned() {
        for (db, _dir) in testing::engines().await {
            let id = db.create_webhook(&hook("ci")).await.unwrap();
            assert!(is_unique_violation(
                &db.create_webhook(&hook("ci")).await.unwrap_err()
            ));
            let stored = db.webhook("ci").await.unwrap().unwrap();
            assert_eq!(stored.events, ["new_release", "delete_package"]);
            assert_eq!(stored.package_pattern.as_deref(), Some("acme/*"));

            let delivery = db
                .create_delivery(id, "d-1", "new_release", "acme/lib", "{}")
                .await
                .unwrap();
            let failed = AttemptRow {
                started_at: 1,
                duration_ms: 5,
                status: Some(500),
                error: None,
                response: Some("boom".into()),
            };
            db.record_attempt(delivery, &failed).await.unwrap();
            assert!(
                db.delivery("d-1")
                    .await
                    .unwrap()
                    .unwrap()
                    .delivered_at
                    .is_none()
            );
            let delivered = AttemptRow {
                status: Some(204),
                response: None,
                ..failed.clone()
            };
            db.record_attempt(delivery, &delivered).await.unwrap();
            let listed = db.deliveries("ci", 10).await.unwrap();
            assert_eq!(listed.len(), 1);
            assert!(listed[0].0.delivered_at.is_some());
            assert_eq!(listed[0].1, [failed, delivered]);
            let (found, with_hook) = db.delivery_with_hook(delivery).await.unwrap().unwrap();
            assert_eq!((found.webhook.as_str(), with_hook.id), ("ci", id));

            assert_eq!(db.prune_deliveries(0).await.unwrap(), 0);
            assert_eq!(db.prune_deliveries(now_millis() + 1).await.unwrap(), 1);
            assert!(db.attempts(delivery).await.unwrap().is_empty());
            assert!(db.delete_webhook("ci").await.unwrap());
            assert!(!db.delete_webhook("ci").await.unwrap());
        }
    }
}
