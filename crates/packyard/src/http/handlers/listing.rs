//! Listing, searching and install statistics, in the formats Composer and Packeton
//! use: `GET /packages/list.json` (`{"packageNames"}`, `?filter=` with `*`,
//! `?vendor=`, `?type=`), `GET /search.json?q=&type=` (Packagist's `results`, `total`,
//! `next`), `GET /packages/{vendor}/{pkg}.json` (Packagist's package document),
//! `GET /packages/{vendor}/{pkg}/stats.json` and `.../stats/all.json`, and
//! `GET /metadata/changes.json?since=` (Packagist's change feed). Each answers from what
//! the caller sees: a package it may not see is not listed, not found, and not counted.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use composer::package_name::PackageName;
use composer::package_name::pattern_matches;
use serde::Deserialize;
use serde_json::{Value, json};

use super::composer::ClientBase;
use crate::app::App;
use crate::catalogue::{Filter, MAX_QUERY_BYTES, MAX_QUERY_WORDS, Summary};
use crate::http::ApiError;
use crate::http::extractors::access::{Maintainer, Reader, query_param};
use crate::http::extractors::paths::{PackageJsonPath, PackagePath};
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
    let (url, repository) = package_links(app, reader, base, name).await?;
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

/// A package's web page and its repository, as lists and package documents give
/// them: the page through a sub-repository is that page as the sub-repository shows
/// it (`?subrepo=`), on the web UI at the root of the same server (or of the
/// sub-repository's host name); the repository is the git repository's URL (without
/// credentials), or the page for uploaded packages.
async fn package_links(
    app: &App,
    reader: &Reader,
    base: &str,
    name: &str,
) -> Result<(String, String), ApiError> {
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
    Ok((url, repository))
}

/// `GET /packages/{vendor}/{pkg}.json`: Packeton's (Packagist's) document of a package,
/// `{"package": {name, description, time, maintainers, versions, type, repository,
/// downloads, favers}}`, of the versions the caller sees: `versions` holds each whole,
/// by version, as `/p/` gives them; `description` and `type` are the newest visible
/// release's; `time` is when the package came here (or its first visible release, for
/// a caller who does not see them all, as statistics start); `downloads` counts the
/// visible versions' installs. packyard keeps no maintainers per package, nor favers.
/// A package the caller may not see is the same 404 as an unknown one.
pub async fn package_json(
    State(app): State<Arc<App>>,
    reader: Reader,
    ClientBase(base): ClientBase,
    PackageJsonPath(package): PackageJsonPath,
) -> Result<Response, ApiError> {
    let name = package.as_str();
    let (today, installs) = last_month(&app, &package, &reader).await?;
    let catalogue = app.catalogue.current(&app.db, &app.metadata).await?;
    let summary = catalogue
        .summary(&app.metadata, &reader.view, name)
        .await?
        .ok_or_else(|| not_found(name))?;
    let document = app
        .metadata
        .v1(&package, &base, &reader.view)
        .await?
        .ok_or_else(|| not_found(name))?;
    let mut document: Value = serde_json::from_slice(&document.body)
        .map_err(|error| ApiError::internal("reading a rendered document", error))?;
    let versions = document["packages"][name].take();
    let (_, repository) = package_links(&app, &reader, &base, name).await?;
    let mut package = json!({
        "name": name,
        "description": summary.description,
        "time": crate::time::rfc3339(installs.since.div_euclid(1000)),
        "maintainers": [],
        "versions": versions,
        "type": summary.kind,
        "repository": repository,
        "downloads": installs.totals(today),
        "favers": 0,
    });
    if summary.abandoned {
        package["abandoned"] = json!(true);
    }
    Ok(Json(json!({"package": package})).into_response())
}

/// The change feed's unit of time, Packagist's: a ten-thousandth of a second.
const FEED_UNITS_PER_SECOND: i64 = 10_000;
/// How far back the change feed reaches: a mirror that last synced earlier is told to
/// sync everything again (Packagist's and Packeton's 30 days).
const FEED_DAYS: i64 = 30;
/// Packeton refuses a `since` this far before now (1,585,061,224 seconds, the time its
/// feed was written): no timestamp it ever gave, so the client stored none.
const FEED_REFUSED_BEFORE: i64 = 15_850_612_240_000;
/// Packeton also takes `since` in plain Unix seconds: a number in this range is one.
const FEED_SECONDS: std::ops::Range<i64> = 1_585_061_225..FEED_REFUSED_BEFORE;

/// `GET /metadata/changes.json?since=N`: Packagist's change feed, as Packeton serves it
/// to maintainers. `since` is in Packagist's unit (Unix seconds × 10000; Packeton also
/// takes plain seconds) and `timestamp`, the point to ask from next time, is now in
/// it. Each package changed since then that the caller sees is an `update` at the time
/// of its change stamp; removed packages leave no trace here, so no `delete` is ever
/// listed (a mirror notices them by the p2 file's 404). A `since` older than 30 days
/// is answered with a `resync`.
pub async fn changes_json(
    State(app): State<Arc<App>>,
    Maintainer(user): Maintainer,
    ClientBase(base): ClientBase,
    uri: Uri,
) -> Result<Response, ApiError> {
    let now_seconds = crate::db::now_millis().div_euclid(1000);
    let now = now_seconds * FEED_UNITS_PER_SECOND;
    let since = uri
        .query()
        .and_then(|query| query_param(query, "since"))
        .and_then(|since| since.trim().parse::<i64>().ok())
        .map(|since| {
            if FEED_SECONDS.contains(&since) {
                since * FEED_UNITS_PER_SECOND
            } else {
                since
            }
        })
        .filter(|since| *since != 0 && *since >= now - FEED_REFUSED_BEFORE);
    let Some(since) = since else {
        let error = format!(
            "Invalid or missing \"since\" query parameter, make sure you store the timestamp at the initial point you started mirroring, then send that to begin receiving changes, e.g. {base}/metadata/changes.json?since={now} for example."
        );
        let body = json!({"error": error, "timestamp": now});
        return Ok((StatusCode::BAD_REQUEST, Json(body)).into_response());
    };
    if since < now - FEED_DAYS * 86_400 * FEED_UNITS_PER_SECOND {
        let resync = json!({"type": "resync", "time": now_seconds, "package": "*"});
        return Ok(Json(json!({"actions": [resync], "timestamp": now})).into_response());
    }
    // Stamps are whole seconds, up to one ahead of when the change was made, and the
    // second `since` names is included: a change is listed again by the next request
    // (which asks from `timestamp`) rather than ever missed.
    let since_seconds = since.div_euclid(FEED_UNITS_PER_SECOND);
    let stamps = app.metadata.stamps_caught_up().await?;
    let changed: BTreeMap<String, i64> = stamps
        .iter()
        .filter(|(_, stamp)| stamp.div_euclid(1000) >= since_seconds)
        .map(|(name, stamp)| (name.clone(), *stamp))
        .collect();
    let view = app.access.view(Some(&user));
    let mut seen = app.metadata.visible_packages(&changed, &view).await?;
    seen.sort_by_key(|(name, stamp)| (*stamp, *name));
    let actions: Vec<Value> = seen
        .iter()
        .map(|(name, stamp)| {
            json!({"type": "update", "package": name, "time": stamp.div_euclid(1000)})
        })
        .collect();
    Ok(Json(json!({"actions": actions, "timestamp": now})).into_response())
}

/// The summaries `reader` sees that match `filter`, in name order.
async fn search(app: &App, reader: &Reader, filter: Filter) -> Result<Vec<Arc<Summary>>, ApiError> {
    let catalogue = app.catalogue.current(&app.db, &app.metadata).await?;
    Ok(catalogue
        .search(&app.metadata, &reader.view, &filter)
        .await?)
}

/// Today and the installs of `package` the caller sees over the last month (of the
/// versions it sees); a package it may not see is the same 404 as an unknown one.
async fn last_month(
    app: &App,
    package: &PackageName,
    reader: &Reader,
) -> Result<(i64, stats::Installs), ApiError> {
    let today = stats::today();
    let installs = app
        .stats
        .installs(package, &reader.view, today - stats::MONTH_DAYS + 1)
        .await?
        .ok_or_else(|| not_found(package.as_str()))?;
    Ok((today, installs))
}

/// `GET /packages/{vendor}/{pkg}/stats.json`: Packeton's shape, `downloads` (`total`,
/// `monthly`, `daily`), `versions`, `average` and `date` (where statistics start).
pub async fn stats_json(
    State(app): State<Arc<App>>,
    reader: Reader,
    PackagePath(package): PackagePath,
) -> Result<Response, ApiError> {
    let (today, installs) = last_month(&app, &package, &reader).await?;
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
