//! What every request leaves behind: a request id (the client's `X-Request-Id` when it
//! is a plain token of at most 64 characters, else a new one), sent back in the
//! response and carried by every log line written while the request runs; one log
//! line with the method, route template, status and duration; and the request
//! metrics. The route is the template (`/p2/{vendor}/{file}`), never the path or query,
//! which may carry `?token=`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use super::ApiError;
use crate::app::App;

static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

pub async fn observe(matched: Option<MatchedPath>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request
        .headers()
        .get(&REQUEST_ID)
        .filter(|value| is_plain_id(value.as_bytes()))
        .cloned()
        .unwrap_or_else(new_request_id);
    let route = matched.as_ref().map_or("unmatched", MatchedPath::as_str);
    let method = request.method().clone();
    // At INFO, with the request lines: with the default filter (`info`) every line
    // written while the request runs carries its id; with `RUST_LOG=warn` neither
    // costs anything on the hot path.
    let span = tracing::info_span!("request", id = %id.to_str().unwrap_or_default());
    let mut response = next.run(request).instrument(span.clone()).await;
    let status = response.status().as_u16();
    let seconds = started.elapsed().as_secs_f64();
    let body_bytes = response
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok()?.parse().ok());
    crate::metrics::metrics().request(route, status, seconds, body_bytes);
    span.in_scope(|| {
        tracing::info!(target: "packyard::http", %method, route, status, duration_ms = seconds * 1000.0, "request");
    });
    response.headers_mut().insert(REQUEST_ID.clone(), id);
    response
}

/// Ids clients may choose: letters, digits, `.`, `_`, `-`, at most 64.
fn is_plain_id(value: &[u8]) -> bool {
    (1..=64).contains(&value.len())
        && value
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// A new id: this process's random prefix and a counter, unique across replicas
/// without a random draw per request.
fn new_request_id() -> HeaderValue {
    static PREFIX: OnceLock<String> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let prefix = PREFIX.get_or_init(|| {
        let mut bytes = [0u8; 4];
        getrandom::fill(&mut bytes).expect("the operating system's random source failed");
        hex::encode(bytes)
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    HeaderValue::from_str(&format!("{prefix}-{n:x}")).expect("hex is a valid header value")
}

/// `GET /metrics`: the Prometheus text format. With `PACKYARD_METRICS_TOKEN` set, only
/// for `Authorization: Bearer <that token>`.
pub async fn metrics(
    State(app): State<Arc<App>>,
    headers: axum::http::HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(expected) = &app.settings.metrics_token {
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .unwrap_or_default();
        if !crate::auth::constant_time_eq(presented.as_bytes(), expected.as_bytes()) {
            return Err(ApiError::unauthorized(
                "metrics need Authorization: Bearer with PACKYARD_METRICS_TOKEN",
            ));
        }
    }
    let text = crate::metrics::metrics().render(&app.db).await?;
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        text,
    )
        .into_response())
}

/// `GET /healthz`: the process answers; nothing else is asked.
pub async fn healthz() -> Response {
    axum::Json(serde_json::json!({"status": "pass"})).into_response()
}

/// `GET /readyz`: the database and every store answer within a second each; `503`
/// naming the ones that did not. Why they failed is in the log.
pub async fn readyz(State(app): State<Arc<App>>) -> Response {
    let checks = crate::health::checks(&app).await;
    let failed: Vec<&str> = checks
        .iter()
        .filter(|(_, check)| !check.passed())
        .map(|(name, _)| name.as_str())
        .collect();
    let statuses: serde_json::Map<String, serde_json::Value> = checks
        .iter()
        .map(|(name, check)| (name.clone(), check.status.into()))
        .collect();
    if failed.is_empty() {
        axum::Json(serde_json::json!({"status": "pass", "checks": statuses})).into_response()
    } else {
        (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({
                "status": "fail",
                "message": format!("not ready: {} failed", failed.join(", ")),
                "checks": statuses,
            })),
        )
            .into_response()
    }
}

/// `GET /api/healthz`: Packeton's shape, `{"status": "pass"|"fail", "checks": {"database:ping":
/// {"status", "time", "observedValue", "observedUnit"}, ...}}`, `200` or `500`; why a
/// check failed (`output`) only for maintainers and admins.
pub async fn api_healthz(
    State(app): State<Arc<App>>,
    caller: Result<super::access::Caller, ApiError>,
) -> Response {
    let may_see_why = caller
        .ok()
        .and_then(|caller| caller.0)
        .is_some_and(|user| user.is_admin || user.is_maintainer);
    let mut checks = crate::health::checks(&app).await;
    let passed = checks.iter().all(|(_, check)| check.passed());
    if !may_see_why {
        for (_, check) in &mut checks {
            check.output = None;
        }
    }
    let checks: serde_json::Map<String, serde_json::Value> = checks
        .into_iter()
        .map(|(name, check)| {
            (
                name,
                serde_json::to_value(check).expect("a check serializes"),
            )
        })
        .collect();
    let status = if passed {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::INTERNAL_SERVER_ERROR
    };
    (
        status,
        axum::Json(
            serde_json::json!({"status": if passed { "pass" } else { "fail" }, "checks": checks}),
        ),
    )
        .into_response()
}
