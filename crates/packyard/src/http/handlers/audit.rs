//! The admins' API for the audit log (`GET /api/audit`, `GET /api/audit/downloads`),
//! the same service as `packyard audit` and the admin page.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::audit::{AuditLog, entry_json, filter};
use crate::http::ApiError;
use crate::http::extractors::access::{Admin, query_param};

/// Entries a page holds unless `limit` says otherwise.
const DEFAULT_PAGE: i64 = 100;

/// `GET /api/audit[?actor=&package=&action=&since=&before=&limit=&format=jsonl]`
/// (admins): entries newest first, `limit` (at most 1000) at a time; `next` is the URL
/// of the page after this one (absent on the last). `format=jsonl` answers the page
/// as JSON Lines (`application/jsonl`), for a SIEM, with the next page's URL in a
/// `Link` header.
pub async fn list(
    State(audit): State<AuditLog>,
    _admin: Admin,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let query = query.unwrap_or_default();
    let param = |name: &str| query_param(&query, name);
    let mut filter = filter(
        param("actor"),
        param("package"),
        param("action"),
        param("since").as_deref(),
    )?;
    filter.before_seq = match param("before") {
        Some(text) => Some(
            text.parse()
                .map_err(|_| ApiError::bad_request("before: not an entry number"))?,
        ),
        None => None,
    };
    let limit = match param("limit") {
        Some(text) => text
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=crate::audit::MAX_PAGE).contains(n))
            .ok_or_else(|| ApiError::bad_request("limit: a number from 1 to 1000"))?,
        None => DEFAULT_PAGE,
    };
    let entries = audit.list(&filter, limit).await?;
    let next = (i64::try_from(entries.len()).unwrap_or(0) == limit)
        .then(|| entries.last().map(|last| next_page(&query, last.seq)))
        .flatten();
    if param("format").as_deref() == Some("jsonl") {
        let mut body = String::new();
        for entry in &entries {
            body.push_str(&entry_json(entry).to_string());
            body.push('\n');
        }
        let mut response = (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/jsonl"),
            )],
            body,
        )
            .into_response();
        if let Some(next) =
            next.and_then(|url| HeaderValue::from_str(&format!("<{url}>; rel=\"next\"")).ok())
        {
            response.headers_mut().insert(header::LINK, next);
        }
        return Ok(response);
    }
    Ok(Json(json!({
        "entries": entries.iter().map(entry_json).collect::<Vec<_>>(),
        "next": next,
    }))
    .into_response())
}

/// This listing's URL for the page of entries below `seq`: the same parameters with
/// `before` replaced.
fn next_page(query: &str, seq: i64) -> String {
    let mut pairs: Vec<&str> = query
        .split('&')
        .filter(|pair| !pair.is_empty() && pair.split('=').next() != Some("before"))
        .collect();
    let before = format!("before={seq}");
    pairs.push(&before);
    format!("/api/audit?{}", pairs.join("&"))
}

/// `GET /api/audit/downloads?package=vendor/name[&version=1.2.3]` (admins): who
/// downloaded the package's archives, per day, user and token, with counts.
pub async fn downloads(
    State(audit): State<AuditLog>,
    _admin: Admin,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let query = query.unwrap_or_default();
    let package = query_param(&query, "package")
        .filter(|p| !p.is_empty())
        .ok_or_else(|| ApiError::bad_request("package: the package whose downloads to show"))?;
    let version = query_param(&query, "version").filter(|v| !v.is_empty());
    let counts = audit.downloads(&package, version.as_deref()).await?;
    let rows: Vec<_> = counts
        .iter()
        .map(|count| {
            json!({
                "day": crate::time::rfc3339(count.day * 86_400)[..10],
                "user": count.actor,
                "credential": count.credential,
                "version": count.version,
                "count": count.count,
            })
        })
        .collect();
    Ok(Json(json!({"package": package, "downloads": rows})).into_response())
}

#[cfg(test)]
mod tests {
    use super::next_page;

    #[test]
    fn the_next_page_keeps_the_filters_and_moves_before() {
        assert_eq!(
            next_page("action=token&before=90&limit=2", 41),
            "/api/audit?action=token&limit=2&before=41"
        );
        assert_eq!(next_page("", 7), "/api/audit?before=7");
    }
}
