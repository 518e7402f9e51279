//! The probes and metrics: `/healthz`, `/readyz`, Packeton's `/api/healthz`, and
//! `/metrics` (on the public listener for admins and `PACKYARD_METRICS_TOKEN`, and
//! without credentials on `PACKYARD_METRICS_LISTEN`).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::access::roles::{Admins, Maintainers, Role};
use crate::app::App;
use crate::http::ApiError;
use crate::http::extractors::access::Caller;

/// `GET /metrics` on the public listener: the Prometheus text format, for
/// `Authorization: Bearer <PACKYARD_METRICS_TOKEN>` or an admin's credentials, never
/// for anonymous clients (mirror aliases, traffic per route and job counts are nobody
/// else's business). `PACKYARD_METRICS_LISTEN` serves it without credentials on an
/// address of its own (`routes::metrics_router`).
pub async fn metrics(
    State(app): State<Arc<App>>,
    headers: axum::http::HeaderMap,
    caller: Result<Caller, ApiError>,
) -> Result<Response, ApiError> {
    let by_token = app.settings.metrics_token.as_ref().is_some_and(|expected| {
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .unwrap_or_default();
        crate::auth::constant_time_eq(presented.as_bytes(), expected.as_bytes())
    });
    if by_token {
        return open_metrics(State(app)).await;
    }
    // Credentials that are wrong, or a token without the scope, say so.
    match caller? {
        Caller(Some(user)) if Admins::allows(&user) => open_metrics(State(app)).await,
        Caller(Some(user)) => Err(ApiError::forbidden(format!(
            "user {} is not an admin: metrics are for admins and PACKYARD_METRICS_TOKEN",
            user.name
        ))),
        Caller(None) => Err(ApiError::unauthorized(
            "metrics need Authorization: Bearer with PACKYARD_METRICS_TOKEN or an admin's \
             credentials (or scrape the PACKYARD_METRICS_LISTEN address)",
        )),
    }
}

/// `GET /metrics` on `PACKYARD_METRICS_LISTEN`: no credentials, the address is the
/// operator's to keep private.
pub async fn open_metrics(State(app): State<Arc<App>>) -> Result<Response, ApiError> {
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
    let checks = crate::health::checks(&app.db, &app.storage).await;
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
    caller: Result<Caller, ApiError>,
) -> Response {
    let may_see_why = caller
        .ok()
        .and_then(|caller| caller.0)
        .is_some_and(|user| Maintainers::allows(&user));
    let mut checks = crate::health::checks(&app.db, &app.storage).await;
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
