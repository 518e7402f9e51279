//! Delivering one payload to one hook: a job per delivery, so that attempts survive
//! restarts and any replica may make the next one. Each attempt is recorded (status,
//! duration, the start of the answer); a non-2xx answer or no answer fails the
//! attempt and the queue retries it with doubling back-off, [`MAX_ATTEMPTS`] in all.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::db::{AttemptRow, NewJob, now_millis};
use crate::jobs::BackgroundJob;
use crate::outbound::{LazyClient, NetworkPolicy};

/// The first attempt and five retries.
pub const MAX_ATTEMPTS: i64 = 6;
/// How much of a receiver's answer is kept.
pub const RESPONSE_KEPT: usize = 8 * 1024;
/// Connecting, sending and reading the answer's start together.
const TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// `sha256=` and the hex HMAC-SHA256 of `body` under `secret`: what
/// `X-Packyard-Signature` carries.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    format!(
        "sha256={}",
        hex::encode(crate::auth::hmac_sha256(secret, body))
    )
}

/// The HTTP client of deliveries: the outbound network policy decides which
/// addresses it connects to, and it follows no redirect (a receiver that moved says
/// so in the attempt's status).
#[derive(Clone)]
pub struct Sender {
    client: LazyClient,
    policy: NetworkPolicy,
}

impl Sender {
    pub fn new(policy: NetworkPolicy) -> Sender {
        let client = policy.lazy_client(|builder| {
            builder
                .user_agent(concat!(
                    "packyard/",
                    env!("CARGO_PKG_VERSION"),
                    " (webhooks)"
                ))
                .redirect(reqwest::redirect::Policy::none())
                .connect_timeout(CONNECT_TIMEOUT)
                .timeout(TIMEOUT)
        });
        Sender { client, policy }
    }

    /// One attempt: POSTs `body` and reports what happened.
    async fn send(&self, url: &str, headers: &[(&str, &str)], body: String) -> AttemptRow {
        let started_at = now_millis();
        let started = Instant::now();
        let outcome = self.exchange(url, headers, body).await;
        let duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        match outcome {
            Ok((status, response)) => AttemptRow {
                started_at,
                duration_ms,
                status: Some(i64::from(status)),
                error: None,
                response: Some(response).filter(|r| !r.is_empty()),
            },
            Err(error) => AttemptRow {
                started_at,
                duration_ms,
                status: None,
                error: Some(error.to_string()),
                response: None,
            },
        }
    }

    async fn exchange(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        body: String,
    ) -> Result<(u16, String), AttemptFailed> {
        // A literal address never reaches the resolver: check it here, each time
        // (the policy may have changed since the hook was made).
        self.policy.check_url(url)?;
        let mut request = self
            .client
            .get()
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let mut response = request
            .body(body)
            .send()
            .await
            .map_err(AttemptFailed::Transport)?;
        let status = response.status().as_u16();
        let mut kept = Vec::new();
        while kept.len() < RESPONSE_KEPT {
            match response.chunk().await {
                Ok(Some(chunk)) => kept.extend_from_slice(&chunk),
                // The status decides the attempt; an answer cut short is kept as far
                // as it came.
                Ok(None) | Err(_) => break,
            }
        }
        kept.truncate(RESPONSE_KEPT);
        Ok((status, String::from_utf8_lossy(&kept).into_owned()))
    }
}

/// Why an attempt got no status back.
#[derive(Debug, thiserror::Error)]
enum AttemptFailed {
    #[error(transparent)]
    Refused(#[from] crate::outbound::Refused),
    #[error("{}", describe(.0))]
    Transport(reqwest::Error),
}

/// Why no status came back, without the URL (the hook's owner knows it).
fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        return format!("no answer within {} s", TIMEOUT.as_secs());
    }
    let mut text = if error.is_connect() {
        "could not connect".to_owned()
    } else {
        "the request failed".to_owned()
    };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Deliver the delivery `delivery` (a `webhook_deliveries` row).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliverWebhook {
    pub delivery: i64,
}

#[derive(Debug, Serialize)]
pub struct Delivered {
    /// The receiver's status; absent when the hook or delivery was gone.
    pub status: Option<u16>,
}

#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("the receiver answered {0}")]
    Status(i64),
    #[error("{0}")]
    NoAnswer(String),
    #[error(transparent)]
    Secret(#[from] crate::secrets::SecretError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl BackgroundJob for DeliverWebhook {
    const KIND: &'static str = "webhook_delivery";
    type Context = super::Webhooks;
    type Output = Delivered;
    type Error = DeliveryError;

    /// One job per delivery at a time: a redelivery asked for while attempts are
    /// still due joins them.
    fn configure(&self, job: NewJob) -> NewJob {
        job.dedupe_key(format!("webhook_delivery:{}", self.delivery))
            .max_attempts(MAX_ATTEMPTS)
    }

    async fn run(self, hooks: super::Webhooks) -> Result<Delivered, DeliveryError> {
        let Some((delivery, hook)) = hooks.db.delivery_with_hook(self.delivery).await? else {
            // The hook was removed (its deliveries with it) or the delivery pruned.
            return Ok(Delivered { status: None });
        };
        let secret = hooks.secrets.get()?.open(
            &hook.secret,
            crate::secrets::SealedFor::Webhook {
                name: &hook.name,
                url: &hook.url,
            },
        )?;
        let signed = signature(&secret, delivery.payload.as_bytes());
        let headers = [
            ("X-Packyard-Event", delivery.event.as_str()),
            ("X-Packyard-Delivery", delivery.delivery_id.as_str()),
            ("X-Packyard-Signature", signed.as_str()),
        ];
        let attempt = hooks
            .sender
            .send(&hook.url, &headers, delivery.payload.clone())
            .await;
        hooks.db.record_attempt(delivery.id, &attempt).await?;
        let metrics = crate::metrics::metrics();
        match (attempt.status, attempt.error) {
            (Some(status), _) if (200..300).contains(&status) => {
                metrics.webhook_attempt("delivered");
                tracing::info!(hook = %hook.name, delivery = %delivery.delivery_id, status, "webhook delivered");
                Ok(Delivered {
                    status: u16::try_from(status).ok(),
                })
            }
            (Some(status), _) => {
                metrics.webhook_attempt("refused");
                tracing::warn!(hook = %hook.name, delivery = %delivery.delivery_id, status, "webhook receiver refused the delivery");
                Err(DeliveryError::Status(status))
            }
            (None, error) => {
                metrics.webhook_attempt("unanswered");
                let error = error.unwrap_or_default();
                tracing::warn!(hook = %hook.name, delivery = %delivery.delivery_id, %error, "webhook delivery failed");
                Err(DeliveryError::NoAnswer(error))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_hex_hmac_sha256() {
        // RFC 4231, test case 2.
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
