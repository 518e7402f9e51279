//! The outgoing webhooks API (admins, token scope `webhooks`): `GET`/`POST
//! /api/webhooks`, `DELETE /api/webhooks/{name}`, `GET
//! /api/webhooks/{name}/deliveries` and `POST
//! /api/webhooks/deliveries/{id}/redeliver`.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::admin::parse_body;
use crate::http::extractors::access::{Admin, query_param};
use crate::http::{ApiError, JsonBody};
use crate::webhooks::{HookSpec, HookView, Webhooks};

/// Deliveries listed unless `?limit=` asks for fewer or more (at most 500).
const DEFAULT_DELIVERIES: i64 = 50;

pub async fn list(State(webhooks): State<Webhooks>, _admin: Admin) -> Result<Response, ApiError> {
    let hooks = webhooks.list().await?;
    let views: Vec<HookView> = hooks.iter().map(HookView::of).collect();
    Ok(Json(json!({"webhooks": views})).into_response())
}

/// `201` with the hook and its secret, shown this once.
pub async fn create(
    State(webhooks): State<Webhooks>,
    Admin(admin): Admin,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let spec: HookSpec = parse_body(
        &body,
        r#"{"name": "ci", "url": "https://...", "events": ["new_release", ...], "package"?: "acme/*", "secret"?: "..."}"#,
    )?;
    let (hook, secret) = webhooks.create(spec).await?;
    tracing::info!(hook = %hook.name, by = %admin.name, "webhook created");
    let mut answer = serde_json::to_value(HookView::of(&hook)).expect("a hook serializes");
    answer["secret"] = json!(secret);
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

pub async fn remove(
    State(webhooks): State<Webhooks>,
    Admin(admin): Admin,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    webhooks.remove(&name).await?;
    tracing::info!(hook = %name, by = %admin.name, "webhook removed");
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn deliveries(
    State(webhooks): State<Webhooks>,
    _admin: Admin,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let limit = match query.as_deref().and_then(|q| query_param(q, "limit")) {
        None => DEFAULT_DELIVERIES,
        Some(text) => text
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=500).contains(n))
            .ok_or_else(|| ApiError::bad_request("limit: a number from 1 to 500"))?,
    };
    let deliveries = webhooks.deliveries(&name, limit).await?;
    Ok(Json(json!({"deliveries": deliveries})).into_response())
}

/// `202` with the job that makes the attempts.
pub async fn redeliver(
    State(webhooks): State<Webhooks>,
    Admin(admin): Admin,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let job = webhooks.redeliver(&id).await?;
    tracing::info!(delivery = %id, by = %admin.name, "webhook redelivery queued");
    Ok((StatusCode::ACCEPTED, Json(json!({"job": job}))).into_response())
}
