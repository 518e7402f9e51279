//! Listing, searching and install statistics, in the formats Composer and Packeton
//! use: `GET /packages/list.json` (`{"packageNames"}`, `?filter=` with `*`,
//! `?vendor=`, `?type=`), `GET /search.json?q=&type=` (Packagist's `results`, `total`,
//! `next`), `GET /packages/{vendor}/{pkg}/stats.json` and `.../stats/all.json`. Each
//! answers from what the caller sees: a package it may not see is not listed, not
//! found, and not counted.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use composer::package_name::PackageName;
use composer::package_name::pattern_matches;
use serde::Deserialize;
use serde_json::{Value, json};

use super::composer::ClientBase;
use crate::app::App;
use crate::catalogue::{Filter, MAX_QUERY_BYTES, MAX_QUERY_WORDS, Summary};
use crate::http::ApiError;
use crate::http::extractors::access::Reader;
use crate::http::extractors::paths::PackagePath;
use crate::stats::{self, Average, MAX_SERIES_DAYS};

/// Search results per page unless `per_page` says otherwise (Packagist's default),
/// and the most a page may hold.
const PER_PAGE: usize = 15;
const MAX_PER_PAGE: usize = 100;

#[derive(Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    filter: Option<String>,
    #[serde(default)]
    vendor: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
}

/// `GET /packages/list.json`: the names of the packages the caller sees, narrowed by
/// `filter` (a name pattern with `*`, case-insensitive, as Composer sends it),
/// `vendor` and `type`.
pub async fn list(
    State(app): State<Arc<App>>,
    reader: Reader,
    Query(query): Query<ListQuery>,
) -> Result<Response, ApiError> {
    let filter = nonempty(query.filter).map(|f| f.to_ascii_lowercase());
    if filter.as_ref().is_some_and(|f| f.len() > MAX_QUERY_BYTES) {
        return Err(ApiError::bad_request(format!(
            "filter: at most {MAX_QUERY_BYTES} characters"
        )));
    }
    let found = search(
        &app,
        &reader,
        Filter {
            query: String::new(),
            vendor: nonempty(query.vendor).map(|v| v.to_ascii_lowercase()),
            kind: nonempty(query.kind),
        },
    )
    .await?;
    let names: Vec<&str> = found
        .iter()
        .map(|summary| summary.name.as_str())
        .filter(|name| filter.as_deref().is_none_or(|f| pattern_matches(f, name)))
        .collect();
    Ok(Json(json!({"packageNames": names})).into_response())
}

#[derive(Deserialize)]
pub struct SearchQuery {
    #[serde(default)]
    q: String,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    page: Option<usize>,
    #[serde(default)]
    per_page: Option<usize>,
}

/// `GET /search.json?q=&type=`: packages whose name, description or keywords contain
/// every word, as Packagist answers `composer search`.
pub async fn search_json(
    State(app): State<Arc<App>>,
    reader: Reader,
    ClientBase(base): ClientBase,
    Query(query): Query<SearchQuery>,
) -> Result<Response, ApiError> {
    if query.q.len() > MAX_QUERY_BYTES || query.q.split_whitespace().count() > MAX_QUERY_WORDS {
        return Err(ApiError::bad_request(format!(
            "q: search for at most {MAX_QUERY_WORDS} words and {MAX_QUERY_BYTES} characters"
        )));
    }
    let per_page = query.per_page.unwrap_or(PER_PAGE).clamp(1, MAX_PER_PAGE);
    let page = query.page.unwrap_or(1).max(1);
    let kind = nonempty(query.kind);
    let found = search(
        &app,
        &reader,
        Filter {
            query: query.q.trim().to_owned(),
            vendor: None,
            kind: kind.clone(),
        },
    )
    .await?;
    let total = found.len();
    let mut results = Vec::new();
    for summary in found
        .iter()
        .skip((page - 1).saturating_mul(per_page))
        .take(per_page)
    {
        results.push(search_result(&app, &reader, &base, summary).await?);
    }
    let mut answer = json!({"results": results, "total": total});
    if page.saturating_mul(per_page) < total {
        let mut next = form_urlencoded::Serializer::new(String::new());
        next.append_pair("q", query.q.trim());
        if let Some(kind) = &kind {
            next.append_pair("type", kind);
        }
        next.append_pair("page", &(page + 1).to_string());
        if per_page != PER_PAGE {
            next.append_pair("per_page", &per_page.to_string());
        }
        answer["next"] = json!(format!("{base}/search.json?{}", next.finish()));
    }
    Ok(Json(answer).into_response())
}

async fn search_result(
    app: &App,
    reader: &Reader,
    base: &str,
    summary: &Summary,
) -> Result<Value, ApiError> {
    let name = summary.name.as_str();
    // The package's web page; through a sub-repository, that page as the
    // sub-repository shows it (`?subrepo=`), on the web UI at the root of the same
    // server (or of the sub-repository's host name).
    let url = match reader.sub_repository_slug() {
        Some(slug) => {
            let web = base.strip_suffix(&format!("/{slug}")).unwrap_or(base);
            format!("{web}/packages/{name}?subrepo={slug}")
        }
        None => format!("{base}/packages/{name}"),
    };
    let repository = match app.db.git_package(name).await? {
        Some(vcs) => crate::redact::public(&vcs.repository_url),
        None => url.clone(),
    };
    let downloads = match PackageName::parse(name) {
        Ok(package) => app.stats.total(&package, &reader.view).await?.unwrap_or(0),
        Err(_) => 0,
    };
    let mut result = json!({
        "name": name,
        "description": summary.description,
        "url": url,
        "repository": repository,
        "downloads": downloads,
        "favers": 0,
    });
    if summary.abandoned {
        result["abandoned"] = json!(true);
    }
    Ok(result)
}

/// The summaries `reader` sees that match `filter`, in name order.
async fn search(app: &App, reader: &Reader, filter: Filter) -> Result<Vec<Arc<Summary>>, ApiError> {
    let catalogue = app.catalogue.current(&app.db, &app.metadata).await?;
    Ok(catalogue
        .search(&app.metadata, &reader.view, &filter)
        .await?)
}

/// `GET /packages/{vendor}/{pkg}/stats.json`: Packeton's shape, `downloads` (`total`,
/// `monthly`, `daily`), `versions`, `average` and `date` (where statistics start).
pub async fn stats_json(
    State(app): State<Arc<App>>,
    reader: Reader,
    PackagePath(package): PackagePath,
) -> Result<Response, ApiError> {
    let name = package.as_str();
    let today = stats::today();
    let installs = app
        .stats
        .installs(&package, &reader.view, today - stats::MONTH_DAYS + 1)
        .await?
        .ok_or_else(|| not_found(name))?;
    let mut versions = installs.versions.clone();
    versions.sort_by_key(|v| std::cmp::Reverse(v.released_at));
    Ok(Json(json!({
        "downloads": installs.totals(today),
        "versions": versions.iter().map(|v| v.version.as_str()).collect::<Vec<_>>(),
        "average": Average::for_range(installs.first_day, today).as_str(),
        "date": stats::date_label(installs.first_day),
    }))
    .into_response())
}

#[derive(Deserialize)]
pub struct SeriesQuery {
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    average: Option<String>,
}

/// `GET /packages/{vendor}/{pkg}/stats/all.json?from=&to=&average=`: installs per day,
/// week or month as `labels` and `values` (from the package's first day to today by
/// default).
pub async fn stats_series(
    State(app): State<Arc<App>>,
    reader: Reader,
    PackagePath(package): PackagePath,
    Query(query): Query<SeriesQuery>,
) -> Result<Response, ApiError> {
    let name = package.as_str();
    let day = |field: &str, value: Option<String>| -> Result<Option<i64>, ApiError> {
        nonempty(value)
            .map(|text| {
                stats::parse_day(&text).ok_or_else(|| {
                    ApiError::bad_request(format!("{field}: {text:?} is not a date (2026-12-01)"))
                })
            })
            .transpose()
    };
    let from = day("from", query.from)?;
    let to = day("to", query.to)?;
    let average = nonempty(query.average)
        .map(|text| {
            Average::parse(&text).ok_or_else(|| {
                ApiError::bad_request(format!("average: {text:?} is not daily, weekly or monthly"))
            })
        })
        .transpose()?;
    let to = to.unwrap_or_else(stats::today);
    if let Some(from) = from
        && to - from > MAX_SERIES_DAYS
    {
        return Err(ApiError::bad_request(format!(
            "from and to may be at most {MAX_SERIES_DAYS} days apart"
        )));
    }
    let installs = app
        .stats
        .installs(&package, &reader.view, from.unwrap_or(to - MAX_SERIES_DAYS))
        .await?
        .ok_or_else(|| not_found(name))?;
    let from = from.unwrap_or(installs.first_day);
    if to - from > MAX_SERIES_DAYS {
        return Err(ApiError::bad_request(format!(
            "from and to may be at most {MAX_SERIES_DAYS} days apart"
        )));
    }
    let average = average.unwrap_or_else(|| Average::for_range(from, to));
    Ok(Json(installs.series(from, to, average)).into_response())
}

fn not_found(name: &str) -> ApiError {
    ApiError::not_found(format!("package {name} not found"))
}

fn nonempty(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}
