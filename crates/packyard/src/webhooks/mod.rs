//! Outgoing webhooks: admins name a URL, the events it wants and optionally a package
//! pattern; each matching event becomes a delivery (a row) and a [`DeliverWebhook`]
//! job that POSTs the signed JSON payload, retried with back-off (see `delivery`).
//!
//! Events are emitted after the change they describe has been committed. Emitting
//! never fails the change: a hook that cannot be queued is logged.

mod delivery;

use serde::Serialize;
use serde_json::{Value, json};

pub use delivery::{DeliverWebhook, MAX_ATTEMPTS, RESPONSE_KEPT, Sender, signature};

use std::sync::Arc;

use crate::db::{Db, NewWebhook, WebhookRow};
use crate::jobs::JobQueue;
use crate::outbound::NetworkPolicy;
use crate::secrets::Secrets;

/// How long deliveries and their attempts are kept.
pub const RETENTION: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

/// What a hook can be told about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// A version appeared (an upload, or a scan that found a new tag or branch).
    NewRelease,
    /// A version's contents changed (a forced re-upload, a pushed branch, a moved tag of
    /// a version that is not immutable).
    UpdateRelease,
    /// A version disappeared (its tag or branch was deleted).
    DeleteRelease,
    NewPackage,
    DeletePackage,
    /// A git package's scan failed, after the last one had succeeded.
    UpdateFailed,
    /// A security advisory was published for the package.
    SecurityAdvisory,
    /// A published version was offered other contents and kept its own: the tag of an
    /// immutable version moved (`offered_reference` in the payload).
    VersionConflict,
}

impl Event {
    pub const ALL: [Event; 8] = [
        Event::NewRelease,
        Event::UpdateRelease,
        Event::DeleteRelease,
        Event::NewPackage,
        Event::DeletePackage,
        Event::UpdateFailed,
        Event::SecurityAdvisory,
        Event::VersionConflict,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Event::NewRelease => "new_release",
            Event::UpdateRelease => "update_release",
            Event::DeleteRelease => "delete_release",
            Event::NewPackage => "new_package",
            Event::DeletePackage => "delete_package",
            Event::UpdateFailed => "update_failed",
            Event::SecurityAdvisory => "security_advisory",
            Event::VersionConflict => "version_conflict",
        }
    }

    pub fn parse(name: &str) -> Option<Event> {
        Event::ALL.into_iter().find(|event| event.as_str() == name)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("webhook names are 1-64 letters, digits, '.', '_' or '-': {0:?} is not one")]
    InvalidName(String),
    #[error("there is already a webhook named {0}")]
    Exists(String),
    #[error("there is no webhook named {0}")]
    Unknown(String),
    #[error("there is no delivery {0}")]
    UnknownDelivery(String),
    #[error("url: {0}")]
    Url(String),
    #[error("events: {name:?} is not an event; events are {}", event_names())]
    UnknownEvent { name: String },
    #[error("events: name at least one of {}", event_names())]
    NoEvents,
    #[error(
        "package: {0:?} is not a package name or pattern (vendor/name, with '*' for any characters)"
    )]
    InvalidPattern(String),
    #[error("secret: use 16 to 256 printable characters")]
    InvalidSecret,
    #[error(transparent)]
    Secret(#[from] crate::secrets::SecretError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl crate::error::Classify for WebhookError {
    fn kind(&self) -> crate::error::ErrorKind {
        use crate::error::ErrorKind;
        match self {
            WebhookError::Unknown(_) | WebhookError::UnknownDelivery(_) => ErrorKind::NotFound,
            WebhookError::Exists(_) => ErrorKind::Conflict,
            WebhookError::Database(error) => error.kind(),
            WebhookError::Secret(error) => error.kind(),
            _ => ErrorKind::Invalid,
        }
    }
}

fn event_names() -> String {
    Event::ALL.map(Event::as_str).join(", ")
}

/// A hook as an admin describes it.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HookSpec {
    pub name: String,
    pub url: String,
    pub events: Vec<String>,
    /// A package name or `*` pattern; every package when absent.
    #[serde(default)]
    pub package: Option<String>,
    /// The signing secret; one is generated when absent.
    #[serde(default)]
    pub secret: Option<String>,
}

/// A [`HookSpec`] that passed [`Webhooks::check`], normalised.
#[derive(Debug, Clone)]
pub struct CheckedHook {
    pub name: String,
    pub url: String,
    pub events: Vec<String>,
    pub package_pattern: Option<String>,
    pub secret: String,
}

impl CheckedHook {
    /// Whether stored hook `row` is this one (its secret aside).
    pub fn matches(&self, row: &WebhookRow) -> bool {
        row.url == self.url
            && row.events == self.events
            && row.package_pattern == self.package_pattern
    }
}

/// A hook as the CLI and the API show it (never its secret).
#[derive(Debug, Serialize)]
pub struct HookView<'a> {
    pub name: &'a str,
    pub url: &'a str,
    pub events: &'a [String],
    pub package: Option<&'a str>,
    pub created_at: String,
}

impl<'a> HookView<'a> {
    pub fn of(hook: &'a WebhookRow) -> Self {
        HookView {
            name: &hook.name,
            url: &hook.url,
            events: &hook.events,
            package: hook.package_pattern.as_deref(),
            created_at: moment(hook.created_at),
        }
    }
}

/// Outgoing webhooks: managing hooks, queueing a delivery per event, and (as the
/// context of [`DeliverWebhook`] jobs) making the attempts.
#[derive(Clone)]
pub struct Webhooks {
    db: Db,
    secrets: Secrets,
    jobs: Arc<JobQueue>,
    sender: Sender,
    /// Which receivers hooks may name (checked again at each attempt, by `sender`).
    policy: NetworkPolicy,
    /// `PACKYARD_PUBLIC_URL`, for the links in payloads.
    public_url: Option<Arc<str>>,
}

impl Webhooks {
    pub fn new(
        db: Db,
        secrets: Secrets,
        jobs: Arc<JobQueue>,
        policy: NetworkPolicy,
        public_url: Option<&str>,
    ) -> Self {
        Webhooks {
            db,
            secrets,
            jobs,
            sender: Sender::new(policy.clone()),
            policy,
            public_url: public_url.map(Arc::from),
        }
    }

    /// `spec` as it would be stored: its name, URL, events and package pattern
    /// checked and normalised, and its secret (generated when absent). Nothing is
    /// written: a dry run of an import asks this.
    pub fn check(&self, spec: HookSpec) -> Result<CheckedHook, WebhookError> {
        let name = spec.name.trim();
        let valid_name = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if !valid_name {
            return Err(WebhookError::InvalidName(spec.name));
        }
        let url = self.check_url(spec.url.trim())?;
        let mut events = Vec::new();
        for name in spec.events.iter().flat_map(|e| e.split(',')).map(str::trim) {
            let event = Event::parse(name).ok_or_else(|| WebhookError::UnknownEvent {
                name: name.to_owned(),
            })?;
            if !events.contains(&event.as_str().to_owned()) {
                events.push(event.as_str().to_owned());
            }
        }
        if events.is_empty() {
            return Err(WebhookError::NoEvents);
        }
        let package_pattern = match spec.package.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(pattern) => Some(check_pattern(pattern)?),
        };
        let secret = match spec.secret {
            Some(secret)
                if (16..=256).contains(&secret.len())
                    && secret.bytes().all(|b| b.is_ascii_graphic()) =>
            {
                secret
            }
            Some(_) => return Err(WebhookError::InvalidSecret),
            None => hex::encode(random_bytes::<32>()),
        };
        Ok(CheckedHook {
            name: name.to_owned(),
            url,
            events,
            package_pattern,
            secret,
        })
    }

    /// Creates a hook; returns it and its secret (to be shown once: only its sealed form
    /// is kept).
    pub async fn create(&self, spec: HookSpec) -> Result<(WebhookRow, String), WebhookError> {
        let hook = self.check(spec)?;
        let sealed = self.secrets.get()?.seal(
            hook.secret.as_bytes(),
            crate::secrets::SealedFor::Webhook {
                name: &hook.name,
                url: &hook.url,
            },
        );
        let new = NewWebhook {
            name: hook.name,
            url: hook.url,
            events: hook.events,
            package_pattern: hook.package_pattern,
            secret: sealed,
        };
        match self.db.create_webhook(&new).await {
            Ok(_) => {}
            Err(error) if crate::db::is_unique_violation(&error) => {
                return Err(WebhookError::Exists(new.name));
            }
            Err(error) => return Err(error.into()),
        }
        let row = self
            .db
            .webhook(&new.name)
            .await?
            .ok_or_else(|| WebhookError::Unknown(new.name.clone()))?;
        Ok((row, hook.secret))
    }

    /// Every hook, by name.
    pub async fn list(&self) -> Result<Vec<WebhookRow>, WebhookError> {
        Ok(self.db.webhooks().await?)
    }

    /// The newest `limit` deliveries of the hook `name` (1 to 500), newest first.
    pub async fn deliveries(
        &self,
        name: &str,
        limit: i64,
    ) -> Result<Vec<DeliveryView>, WebhookError> {
        if self.db.webhook(name).await?.is_none() {
            return Err(WebhookError::Unknown(name.to_owned()));
        }
        Ok(self
            .db
            .deliveries(name, limit.clamp(1, 500))
            .await?
            .into_iter()
            .map(|(delivery, attempts)| DeliveryView::of(delivery, attempts))
            .collect())
    }

    pub async fn remove(&self, name: &str) -> Result<(), WebhookError> {
        if self.db.delete_webhook(name).await? {
            Ok(())
        } else {
            Err(WebhookError::Unknown(name.to_owned()))
        }
    }

    /// Queues another round of attempts at the delivery `delivery_id` (same id, same
    /// payload, same signature); returns the job's id.
    pub async fn redeliver(&self, delivery_id: &str) -> Result<i64, WebhookError> {
        let delivery = self
            .db
            .delivery(delivery_id)
            .await?
            .ok_or_else(|| WebhookError::UnknownDelivery(delivery_id.to_owned()))?;
        let job = crate::jobs::new_job(&DeliverWebhook {
            delivery: delivery.id,
        })
        .recorded(
            crate::db::audit::Change::new("webhook.redelivered", delivery_id)
                .detail("event", &delivery.event),
        );
        Ok(self.jobs.enqueue(job).await?)
    }

    /// A hook URL: http or https, no credentials in it, and not to an address the
    /// outbound policy refuses (names are checked again, after resolution, at each
    /// attempt).
    fn check_url(&self, url: &str) -> Result<String, WebhookError> {
        if url.len() > 2048 {
            return Err(WebhookError::Url("longer than 2048 characters".into()));
        }
        let parsed = self
            .policy
            .check_url(url)
            .map_err(|refused| WebhookError::Url(refused.to_string()))?;
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(WebhookError::Url(
            "credentials in the URL are not kept; receivers verify X-Packyard-Signature instead"
                .into(),
        ));
        }
        Ok(parsed.to_string())
    }
}

async fn enqueue(jobs: &JobQueue, delivery: i64) -> Result<i64, sqlx::Error> {
    jobs.enqueue_job(&DeliverWebhook { delivery }).await
}

fn check_pattern(pattern: &str) -> Result<String, WebhookError> {
    let pattern = pattern.to_ascii_lowercase();
    let valid = pattern.len() <= 255
        && pattern
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'*' | b'.' | b'_' | b'-'));
    if valid {
        Ok(pattern)
    } else {
        Err(WebhookError::InvalidPattern(pattern))
    }
}

/// What happened to a package, for [`emit`].
pub struct Occurrence<'a> {
    pub event: Event,
    pub package: &'a str,
    /// Fields added to the payload: `version`, `advisory`, `error`, ...
    pub details: Value,
}

impl<'a> Occurrence<'a> {
    pub fn new(event: Event, package: &'a str) -> Self {
        Occurrence {
            event,
            package,
            details: json!({}),
        }
    }

    pub fn with(mut self, key: &str, value: Value) -> Self {
        self.details[key] = value;
        self
    }

    /// A release event about `version` (its display and normalized forms, and the
    /// git commit or archive sha1 it is made of).
    pub fn release(
        event: Event,
        package: &'a str,
        version: &str,
        normalized: &str,
        reference: &str,
    ) -> Self {
        Occurrence::new(event, package).with(
            "version",
            json!({"version": version, "version_normalized": normalized, "reference": reference}),
        )
    }
}

/// Queues a delivery of each occurrence to every hook that wants it. Failures are
/// logged, never returned: what the event describes has happened already.
impl Webhooks {
    pub async fn emit(&self, occurrences: &[Occurrence<'_>]) {
        if occurrences.is_empty() {
            return;
        }
        if let Err(error) = self.try_emit(occurrences).await {
            tracing::error!(%error, "queueing webhook deliveries failed; these events are not delivered");
        }
    }

    async fn try_emit(&self, occurrences: &[Occurrence<'_>]) -> Result<(), sqlx::Error> {
        let hooks = self.db.webhooks().await?;
        if hooks.is_empty() {
            return Ok(());
        }
        for occurrence in occurrences {
            for hook in hooks.iter().filter(|hook| wants(hook, occurrence)) {
                let delivery_id = delivery_id();
                let payload = payload(self.public_url.as_deref(), hook, &delivery_id, occurrence);
                let id = self
                    .db
                    .create_delivery(
                        hook.id,
                        &delivery_id,
                        occurrence.event.as_str(),
                        occurrence.package,
                        &payload,
                    )
                    .await?;
                enqueue(&self.jobs, id).await?;
                tracing::debug!(hook = %hook.name, event = occurrence.event.as_str(), package = occurrence.package, delivery = %delivery_id, "webhook delivery queued");
            }
        }
        Ok(())
    }
}

fn wants(hook: &WebhookRow, occurrence: &Occurrence<'_>) -> bool {
    hook.events.iter().any(|e| e == occurrence.event.as_str())
        && hook.package_pattern.as_deref().is_none_or(|pattern| {
            composer::package_name::pattern_matches(pattern, occurrence.package)
        })
}

/// The JSON body of one delivery (see the README for its fields).
fn payload(
    base: Option<&str>,
    hook: &WebhookRow,
    delivery_id: &str,
    occurrence: &Occurrence<'_>,
) -> String {
    let mut body = json!({
        "event": occurrence.event.as_str(),
        "delivery": delivery_id,
        "hook": hook.name,
        "occurred_at": moment(crate::db::now_millis()),
        "repository": base,
        "package": {
            "name": occurrence.package,
            "url": base.map(|base| format!("{base}/packages/{}", occurrence.package)),
        },
    });
    if let (Value::Object(body), Value::Object(details)) = (&mut body, &occurrence.details) {
        for (key, value) in details {
            body.insert(key.clone(), value.clone());
        }
    }
    body.to_string()
}

/// Unix milliseconds as RFC 3339, to the second.
fn moment(unix_millis: i64) -> String {
    crate::time::rfc3339(unix_millis.div_euclid(1000))
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut random = [0u8; N];
    getrandom::fill(&mut random).expect("the operating system's random source failed");
    random
}

/// A random delivery id in the UUID v4 layout, as receivers expect of such headers.
fn delivery_id() -> String {
    let mut bytes = random_bytes::<16>();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = hex::encode(bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// A delivery as the CLI and the API show it.
#[derive(Debug, Serialize)]
pub struct DeliveryView {
    pub delivery: String,
    pub event: String,
    pub package: String,
    pub created_at: String,
    /// `delivered`, `failed` (no attempts left) or `pending`.
    pub state: &'static str,
    pub attempts: Vec<AttemptView>,
}

#[derive(Debug, Serialize)]
pub struct AttemptView {
    pub at: String,
    pub duration_ms: i64,
    pub status: Option<i64>,
    pub error: Option<String>,
    /// The start of the receiver's answer (at most [`RESPONSE_KEPT`] bytes).
    pub response: Option<String>,
}

impl DeliveryView {
    pub fn of(delivery: crate::db::DeliveryRow, attempts: Vec<crate::db::AttemptRow>) -> Self {
        let state = if delivery.delivered_at.is_some() {
            "delivered"
        } else if attempts.len() as i64 >= MAX_ATTEMPTS {
            "failed"
        } else {
            "pending"
        };
        DeliveryView {
            delivery: delivery.delivery_id,
            event: delivery.event,
            package: delivery.package,
            created_at: moment(delivery.created_at),
            state,
            attempts: attempts
                .into_iter()
                .map(|attempt| AttemptView {
                    at: moment(attempt.started_at),
                    duration_ms: attempt.duration_ms,
                    status: attempt.status,
                    error: attempt.error,
                    response: attempt.response,
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_have_packetons_names() {
        for event in Event::ALL {
            assert_eq!(Event::parse(event.as_str()), Some(event));
            assert_eq!(
                serde_json::to_value(event).unwrap(),
                Value::from(event.as_str())
            );
        }
        assert_eq!(Event::parse("push"), None);
    }

    #[test]
    fn hooks_want_their_events_for_their_packages() {
        let hook = WebhookRow {
            id: 1,
            name: "ci".into(),
            url: "https://h.example/".into(),
            events: vec!["new_release".into()],
            package_pattern: Some("acme/*".into()),
            secret: String::new(),
            created_at: 0,
        };
        assert!(wants(
            &hook,
            &Occurrence::new(Event::NewRelease, "acme/lib")
        ));
        assert!(!wants(
            &hook,
            &Occurrence::new(Event::NewRelease, "other/lib")
        ));
        assert!(!wants(
            &hook,
            &Occurrence::new(Event::DeletePackage, "acme/lib")
        ));
        let every = WebhookRow {
            package_pattern: None,
            ..hook
        };
        assert!(wants(
            &every,
            &Occurrence::new(Event::NewRelease, "other/lib")
        ));
    }

    #[test]
    fn delivery_ids_look_like_uuids_and_differ() {
        let (a, b) = (delivery_id(), delivery_id());
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        assert!(a.split('-').map(str::len).eq([8, 4, 4, 4, 12]));
    }

    #[test]
    fn patterns_are_package_names_with_stars() {
        assert_eq!(check_pattern("Acme/*").unwrap(), "acme/*");
        assert!(check_pattern("acme/lib").is_ok());
        assert!(check_pattern("acme/<script>").is_err());
        assert!(check_pattern("a b").is_err());
    }
}
