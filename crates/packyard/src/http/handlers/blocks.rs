//! The admins' API for block lists (`/api/blocks`), the same service as
//! `packyard block` and the admin page.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::admin::parse_body;
use crate::access::Actor;
use crate::block_lists::{BlockRequest, Blocks};
use crate::db::BlockRow;
use crate::http::extractors::access::Admin;
use crate::http::{ApiError, JsonBody};

fn block_json(row: &BlockRow) -> Value {
    json!({
        "id": row.id,
        "package": row.package,
        "versions": row.versions,
        "category": row.category,
        "reason": row.reason,
        "url": row.url,
        "created_by": row.created_by,
        "created_at": crate::time::rfc3339(row.created_at / 1000),
    })
}

/// `GET /api/blocks[?package=vendor/name]` (admins): every block, or a package's.
pub async fn list(
    State(blocks): State<Blocks>,
    _admin: Admin,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let package = query
        .as_deref()
        .and_then(|q| crate::http::extractors::access::query_param(q, "package"));
    let rows = blocks.list(package.as_deref()).await?;
    let categories: Vec<Value> = blocks
        .categories()
        .await?
        .into_iter()
        .map(|(name, withdraw)| json!({"name": name, "withdraw": withdraw}))
        .collect();
    Ok(Json(json!({
        "blocks": rows.iter().map(block_json).collect::<Vec<_>>(),
        "categories": categories,
    }))
    .into_response())
}

/// `POST /api/blocks` with `{"package", "versions"?, "reason", "category", "url"?}`
/// (admins): `201` with the block.
pub async fn create(
    State(blocks): State<Blocks>,
    Admin(admin): Admin,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let request: BlockRequest = parse_body(
        &body,
        r#"{"package": "vendor/name", "versions"?: "1.2.3", "reason": "...", "category": "malware", "url"?}"#,
    )?;
    let row = blocks.add(request, Actor::Http(&admin)).await?;
    Ok((StatusCode::CREATED, Json(block_json(&row))).into_response())
}

/// `DELETE /api/blocks/{id}` (admins): `204`.
pub async fn remove(
    State(blocks): State<Blocks>,
    Admin(admin): Admin,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::not_found(format!("no block {id}")))?;
    blocks.remove(id, Actor::Http(&admin)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
