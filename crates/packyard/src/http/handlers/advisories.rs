//! Security advisories: Composer's `api-url` for private packages
//! (`/api/security-advisories/`) and for each mirror
//! (`/mirror/{alias}/api/security-advisories/`), both `POST` (form-encoded
//! `packages[]=`, as Composer sends) or `GET ?packages[]=`; and the admins' API for
//! publishing advisories (`/api/advisories`).

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::admin::parse_body;
use crate::advisories::{Advisories, NewAdvisory};
use crate::app::App;
use crate::http::extractors::access::{Admin, MirrorReader, Reader};
use crate::http::{ApiError, JsonBody};

/// `POST`/`GET /api/security-advisories/`: the advisories of the private packages
/// among those asked for that the caller sees; where the repository includes mirrors,
/// those of the other names from the mirrors (the first to list a name answers for
/// it), so that `composer audit` covers every package installed from this URL.
pub async fn private(
    State(app): State<Arc<App>>,
    State(advisories): State<Advisories>,
    reader: Reader,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let asked = crate::advisories::asked_packages(query.as_deref(), &body)?;
    let mut answer = advisories
        .for_private_packages(&reader.view, &asked)
        .await?;
    let mut rest: Vec<String> = asked
        .into_iter()
        .filter(|name| !answer.contains_key(name))
        .collect();
    for mirror in &reader.mirrors {
        if rest.is_empty() {
            break;
        }
        let mirrored = app.mirrors.advisories(mirror, &rest).await?;
        rest.retain(|name| !mirrored.contains_key(name));
        answer.extend(mirrored);
    }
    Ok(Json(json!({"advisories": answer})).into_response())
}

/// `POST`/`GET /mirror/{alias}/api/security-advisories/`: the upstream's advisories
/// for the asked names this mirror may proxy.
pub async fn mirrored(
    State(app): State<Arc<App>>,
    MirrorReader { mirror, .. }: MirrorReader,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let asked = crate::advisories::asked_packages(query.as_deref(), &body)?;
    let answer = app.mirrors.advisories(&mirror, &asked).await?;
    Ok(Json(json!({"advisories": answer})).into_response())
}

/// `GET /api/advisories[?package=vendor/name]`: every published advisory (admins).
pub async fn list(
    State(advisories): State<Advisories>,
    _admin: Admin,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let package = query
        .as_deref()
        .and_then(|q| crate::http::extractors::access::query_param(q, "package"));
    let rows = advisories.list(package.as_deref()).await?;
    let list: Vec<Value> = rows.iter().map(crate::advisories::composer_json).collect();
    Ok(Json(json!({"advisories": list})).into_response())
}

/// `POST /api/advisories` with `{"package", "affectedVersions", "title", "cve"?,
/// "link"?, "severity"?}` (admins): `201` with the advisory.
pub async fn create(
    State(advisories): State<Advisories>,
    Admin(admin): Admin,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let new: NewAdvisory = parse_body(
        &body,
        r#"{"package": "vendor/name", "affectedVersions": "<1.4.2", "title": "...", "cve"?, "link"?, "severity"?}"#,
    )?;
    let row = advisories.publish(new).await?;
    tracing::info!(advisory = %row.advisory_id, package = %row.package, by = %admin.name, "security advisory published");
    Ok((
        StatusCode::CREATED,
        Json(crate::advisories::composer_json(&row)),
    )
        .into_response())
}

/// `DELETE /api/advisories/{id}` (admins).
pub async fn remove(
    State(advisories): State<Advisories>,
    Admin(admin): Admin,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let package = advisories.remove(&id).await?;
    tracing::info!(advisory = %id, %package, by = %admin.name, "security advisory removed");
    Ok(StatusCode::NO_CONTENT.into_response())
}
