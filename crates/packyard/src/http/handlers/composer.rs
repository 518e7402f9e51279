//! The endpoints the Composer client uses (ARCHITECTURE.md, "One request's path").

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::SystemTime;

use axum::body::Body;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use composer::package_name::PackageName;
use serde::Deserialize;
use serde_json::json;
use storage::{Served, StorageError};

use crate::access::View;
use crate::app::App;
use crate::http::extractors::access::Reader;
use crate::http::extractors::paths::{ArchiveFile, P2File, PackagePath, ScopedByHost, route_slug};
use crate::http::{ApiError, JsonBody};
use crate::metadata::Document;
use crate::mirror::MirrorError;

/// Largest notify-batch accepted; Composer sends one entry per installed package.
const MAX_DOWNLOADS_PER_BATCH: usize = 5_000;

pub async fn root(
    State(app): State<Arc<App>>,
    reader: Reader,
    ClientBase(base): ClientBase,
    since: IfModifiedSince,
) -> Result<Response, ApiError> {
    let stamp = reader.view.stamp();
    if !reader.mirrors.is_empty() {
        // The lists of every included mirror's upstream, with ours: the mirrors
        // enforce them in the documents they serve here.
        let mut upstream_lists = Vec::new();
        for mirror in &reader.mirrors {
            for list in app.mirrors.filter_lists(mirror).await {
                if !upstream_lists.contains(&list) {
                    upstream_lists.push(list);
                }
            }
        }
        let filter = crate::mirror::announced_filter(
            upstream_lists,
            app.metadata.filter_announcement().await?,
        );
        let root = crate::metadata::Metadata::combined_root(&base, stamp, filter);
        return Ok(json_document(&root, since));
    }
    let root = app.metadata.root(&base, &reader.view).await?;
    Ok(json_document(&root.no_older_than(stamp), since))
}

/// A package the caller may not see answers exactly like one that does not exist.
/// Before either, the replica catches up with packages and rules other replicas changed
/// (`freshness`): Composer may have read the package list from one of them. Where the
/// repository includes mirrors, a name that is not a private package the caller sees
/// is looked for there, in order; a private name never reaches an upstream
/// (`Mirrors::metadata`).
pub async fn p2(
    State(app): State<Arc<App>>,
    reader: Reader,
    P2File { package, dev }: P2File,
    base: Result<ClientBase, ApiError>,
    since: IfModifiedSince,
) -> Result<Response, ApiError> {
    let (document, caught_up) =
        private_document(&app, &reader, &package, Format::P2 { dev }, &base).await?;
    if let Some(document) = document {
        return Ok(json_document(&document, since));
    }
    // Mirrors just granted on another replica count too.
    let mirrors = if caught_up {
        std::borrow::Cow::Owned(reader.usable_mirrors(&app))
    } else {
        std::borrow::Cow::Borrowed(&reader.mirrors)
    };
    let archives_at = base
        .as_ref()
        .ok()
        .map(|ClientBase(base)| crate::metadata::archive_pattern(base));
    let mut failure = None;
    for mirror in mirrors.iter() {
        match app
            .mirrors
            .metadata(
                mirror,
                &package,
                dev,
                archives_at.as_deref(),
                reader.view.mirror_release_age(&mirror.alias),
            )
            .await
        {
            Ok(Some(document)) => return Ok(json_document(&document.document(), since)),
            Ok(None) => {}
            Err(error) => {
                failure.get_or_insert(error);
            }
        }
    }
    match failure {
        Some(error) => Err(error.into()),
        None => Err(package_not_found(package.as_str())),
    }
}

/// `/p/{vendor}/{package}.json`: Composer 1's document of a private package (what
/// Packeton documents for reading a package's metadata), with the versions of its two
/// p2 documents the caller sees; a package it may not see is the same 404 as an
/// unknown one, as for p2. Composer 1 has no `~dev` file, and mirrored packages are
/// served as p2 documents only: both are unknown names here.
pub async fn v1(
    State(app): State<Arc<App>>,
    reader: Reader,
    P2File { package, dev }: P2File,
    base: Result<ClientBase, ApiError>,
    since: IfModifiedSince,
) -> Result<Response, ApiError> {
    if dev {
        return Err(package_not_found(&format!("{}~dev", package.as_str())));
    }
    match private_document(&app, &reader, &package, Format::V1, &base).await? {
        (Some(document), _) => Ok(json_document(&document, since)),
        (None, _) => Err(package_not_found(package.as_str())),
    }
}

/// Which document of a private package a route serves.
#[derive(Debug, Clone, Copy)]
enum Format {
    /// `/p2/{package}.json`, or its `~dev` file.
    P2 { dev: bool },
    /// `/p/{package}.json`.
    V1,
}

/// The document of the private package `name` that the reader sees, dated no older
/// than the rules it was answered under; when it sees none, the same after catching
/// up with rules another replica changed (a grant just given), and whether it did.
async fn private_document(
    app: &App,
    reader: &Reader,
    name: &PackageName,
    format: Format,
    base: &Result<ClientBase, ApiError>,
) -> Result<(Option<Document>, bool), ApiError> {
    if let Some(document) = document_seen(app, &reader.view, name, format, base).await? {
        return Ok((Some(document.no_older_than(reader.view.stamp())), false));
    }
    let Some(view) = reader.view_caught_up(app).await? else {
        return Ok((None, false));
    };
    let document = document_seen(app, &view, name, format, base)
        .await?
        .map(|document| document.no_older_than(view.stamp()));
    Ok((document, true))
}

/// The document of `name` that `view` sees, if any.
async fn document_seen(
    app: &App,
    view: &View,
    name: &PackageName,
    format: Format,
    base: &Result<ClientBase, ApiError>,
) -> Result<Option<Document>, ApiError> {
    // Unknown and invisible names take the same way out (whatever the Host); a package
    // whose versions the view filters away entirely is a `None` from the cached render.
    if !view.sees_package(name.as_str()) {
        return Ok(None);
    }
    match (base, format) {
        (Ok(ClientBase(base)), Format::P2 { dev }) => {
            Ok(app.metadata.p2(name, dev, base, view).await?)
        }
        (Ok(ClientBase(base)), Format::V1) => Ok(app.metadata.v1(name, base, view).await?),
        // The same answer as for an unknown name when the name is unknown.
        (Err(error), _) if app.metadata.knows(name).await? => Err(error.clone()),
        (Err(_), _) => Ok(None),
    }
}

/// `/zipball/{vendor}/{package}/{reference}.zip`: a private package's archive, as its
/// dist URL names it; and `/zipball/{vendor}/{package}/{version}/{reference}.{type}`,
/// the one archive URL of a repository that includes mirrors: a private package's
/// archive when the caller sees one with that reference, else the first included
/// mirror's that has it.
pub async fn zipball(
    State(app): State<Arc<App>>,
    reader: Reader,
    PackagePath(package): PackagePath,
    archive: ArchiveFile,
) -> Result<Response, ApiError> {
    let name = &package;
    let (reference, kind) = archive.reference_and_kind()?;
    // Private archives are zips; a mirrored one may be another type.
    if kind == "zip"
        && let Some(response) = private_archive(&app, &reader, name, reference).await?
    {
        return Ok(response);
    }
    let mut failure = None;
    if let Some(version) = &archive.version {
        for mirror in reader.mirrors.iter().filter(|m| m.enable_dist_mirror) {
            match app
                .mirrors
                .archive(
                    mirror,
                    name,
                    version,
                    reference,
                    kind,
                    reader.view.mirror_release_age(&mirror.alias),
                )
                .await
            {
                Ok(reply) => {
                    app.audit.downloaded(name.as_str(), version);
                    return Ok(super::mirror::dist_response(reply));
                }
                Err(MirrorError::Blocked(notice)) => return Ok(blocked_archive(&notice)),
                Err(MirrorError::UnknownVersion { .. } | MirrorError::Refused(_)) => {}
                Err(error) => {
                    failure.get_or_insert(error);
                }
            }
        }
    }
    match failure {
        Some(error) => Err(error.into()),
        None => Err(ApiError::not_found(format!(
            "{name} has no archive with reference {reference}"
        ))),
    }
}

/// The archive of the private package `name` with `reference`, when the reader sees
/// one (after catching up with the rules of other replicas); `None` otherwise.
async fn private_archive(
    app: &App,
    reader: &Reader,
    name: &PackageName,
    reference: &str,
) -> Result<Option<Response>, ApiError> {
    let mut location = app.metadata.dist(name, reference, &reader.view).await?;
    if location.is_none()
        && let Some(view) = reader.view_caught_up(app).await?
    {
        location = app.metadata.dist(name, reference, &view).await?;
    }
    let Some(location) = location else {
        return Ok(None);
    };
    if let Some(blocked) = &location.blocked {
        return Ok(Some(blocked_archive(blocked)));
    }
    app.git_packages
        .ensure_dist(name, reference, &location)
        .await?;
    let store = storage_by_name(app, &location.store)?;
    let object = match store.serve(&location.key).await {
        Ok(served) => {
            // Who downloads which version, per day: the audit log's counts.
            app.audit
                .downloaded(name.as_str(), &location.version_normalized);
            match served {
                Served::Stream(object) => object,
                Served::Redirect(url) => {
                    return Ok(Some(crate::http::presigned_redirect(&url)));
                }
            }
        }
        Err(error @ StorageError::NotFound { .. }) => {
            tracing::error!(%error, package = %name, "archive recorded in the database is missing from storage");
            return Err(ApiError::not_found(format!(
                "the archive of {name} {} is missing from storage",
                location.version_normalized
            )));
        }
        Err(error) => return Err(ApiError::unavailable("storage unavailable", error)),
    };
    Ok(Some(
        (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/zip"),
                ),
                (header::CONTENT_LENGTH, HeaderValue::from(object.size)),
            ],
            Body::from_stream(object.stream),
        )
            .into_response(),
    ))
}

/// `410 Gone` for the archive of a blocked version, with the reason as a JSON body of
/// type exactly `application/json`, which Composer reads for its `warning` (and prints)
/// on any error answer.
pub(super) fn blocked_archive(blocked: &crate::supply_chain::blocks::BlockNotice) -> Response {
    (
        StatusCode::GONE,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        blocked.body().to_string(),
    )
        .into_response()
}

#[derive(Deserialize)]
struct DownloadBatch {
    downloads: Vec<Download>,
}

#[derive(Deserialize)]
struct Download {
    name: String,
    version: String,
}

/// Composer's notify-batch: `{"downloads":[{"name":..., "version":...}]}` after installs.
/// Where the repository includes mirrors, the installs of packages that are not
/// private ones the caller sees are counted for the mirrors (each counts only what it
/// serves).
pub async fn downloads(
    State(app): State<Arc<App>>,
    reader: Reader,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    count_installs(&app, &reader, download_batch(&body)?).await?;
    Ok(downloads_counted())
}

/// `POST /downloads/{vendor}/{package}` with the form field `version_normalized`:
/// Composer 1's `notify`, one install, counted as notify-batch counts it. Unlike
/// notify-batch, Packeton answers whether the version exists: a package or version the
/// caller may not see is the same `404` as an unknown one.
pub async fn download(
    State(app): State<Arc<App>>,
    reader: Reader,
    PackagePath(package): PackagePath,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let version = form_urlencoded::parse(&body)
        .find(|(field, _)| field == "version_normalized")
        .map(|(_, version)| version.into_owned())
        .filter(|version| !version.is_empty())
        .ok_or_else(|| {
            ApiError::bad_request(
                "send the installed version as the form field version_normalized (1.2.0.0)",
            )
        })?;
    let seen = app
        .metadata
        .visible_versions(&package, &reader.view)
        .await?
        .is_some_and(|versions| versions.iter().any(|v| v.version_normalized == version));
    if !seen {
        return Err(ApiError::not_found("Package not found"));
    }
    // Seen, so counted as a private package's install: no second visibility check.
    app.db
        .record_downloads(&[(package.as_str().to_owned(), version, 1)])
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({"status": "success"})),
    )
        .into_response())
}

/// Counts `(package, version, installs)`: those of private packages the reader sees,
/// and, where the repository includes mirrors, the others for the mirrors.
async fn count_installs(
    app: &App,
    reader: &Reader,
    installs: Vec<(String, String, i64)>,
) -> Result<(), ApiError> {
    let mut known = Vec::new();
    let mut not_private = Vec::new();
    let mut visible: HashMap<String, bool> = HashMap::new();
    for (name, version, count) in installs {
        // Installs of what the caller may not see are not counted (nor revealed).
        let may_see = if let Some(may_see) = visible.get(&name) {
            *may_see
        } else {
            // A name that is not a package name is no package anyone may see.
            let may_see = match PackageName::parse(&name) {
                Ok(package) => app.metadata.visible(&package, &reader.view).await?,
                Err(_) => false,
            };
            visible.insert(name.clone(), may_see);
            may_see
        };
        if may_see {
            known.push((name, version, count));
        } else if !reader.mirrors.is_empty() {
            not_private.push((name, version, count));
        }
    }
    app.db.record_downloads(&known).await?;
    if !not_private.is_empty() {
        for mirror in &reader.mirrors {
            app.mirrors
                .record_downloads(mirror, not_private.clone())
                .await?;
        }
    }
    Ok(())
}

/// The `(package, version, installs)` of a notify-batch body, names lowercased: one
/// install per package and version however often the batch repeats it. Composer names
/// each package it installed once per run, so a repeat is no second install; counting
/// repeats would let any reader add thousands of installs with one request.
pub fn download_batch(body: &[u8]) -> Result<Vec<(String, String, i64)>, ApiError> {
    let batch: DownloadBatch = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!(
            "expected {{\"downloads\":[{{\"name\":...,\"version\":...}}]}}: {e}"
        ))
    })?;
    if batch.downloads.len() > MAX_DOWNLOADS_PER_BATCH {
        return Err(ApiError::bad_request(format!(
            "at most {MAX_DOWNLOADS_PER_BATCH} downloads per batch"
        )));
    }
    let installed: BTreeSet<(String, String)> = batch
        .downloads
        .into_iter()
        .map(|download| (download.name.to_ascii_lowercase(), download.version))
        .collect();
    Ok(installed
        .into_iter()
        .map(|(name, version)| (name, version, 1))
        .collect())
}

/// What a notify-batch answers, counted or not: nothing about what was counted.
pub fn downloads_counted() -> Response {
    axum::Json(json!({"status": "success"})).into_response()
}

fn package_not_found(name: &str) -> ApiError {
    ApiError::not_found(format!("package {name} not found"))
}

fn storage_by_name<'a>(app: &'a App, name: &str) -> Result<&'a storage::Store, ApiError> {
    storage::StoreName::ALL
        .into_iter()
        .find(|store| store.as_str() == name)
        .map(|store| app.storage.store(store))
        .ok_or_else(|| ApiError::internal("unknown store recorded for a version", name))
}

/// A cached document, or 304 when the client's copy is current.
/// A JSON document, or 304 when the client's copy is as new.
pub fn json_document(document: &Document, since: IfModifiedSince) -> Response {
    let last_modified = http_date(document.last_modified);
    if since.covers(document.last_modified) {
        return (
            StatusCode::NOT_MODIFIED,
            [(header::LAST_MODIFIED, last_modified)],
        )
            .into_response();
    }
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::LAST_MODIFIED, last_modified),
        ],
        document.body.clone(),
    )
        .into_response()
}

/// `time` as an HTTP date. Each thread remembers the last one it formatted: a replica
/// serves the same few documents over and over, and this runs on every request.
fn http_date(time: SystemTime) -> HeaderValue {
    thread_local! {
        static LAST: std::cell::RefCell<Option<(SystemTime, HeaderValue)>> =
            const { std::cell::RefCell::new(None) };
    }
    LAST.with_borrow_mut(|last| match last {
        Some((at, value)) if *at == time => value.clone(),
        _ => {
            let value = HeaderValue::try_from(httpdate::fmt_http_date(time))
                .expect("an HTTP date is a valid header value");
            *last = Some((time, value.clone()));
            value
        }
    })
}

/// The client's `If-Modified-Since`, when it sent a valid one.
#[derive(Clone, Copy)]
pub struct IfModifiedSince(Option<SystemTime>);

impl IfModifiedSince {
    fn from_headers(headers: &HeaderMap) -> Self {
        IfModifiedSince(
            headers
                .get(header::IF_MODIFIED_SINCE)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| httpdate::parse_http_date(value).ok()),
        )
    }

    /// Whether the client's copy is as new as one last modified at `last_modified`.
    fn covers(&self, last_modified: SystemTime) -> bool {
        self.0.is_some_and(|since| last_modified <= since)
    }
}

impl<S: Sync> FromRequestParts<S> for IfModifiedSince {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(IfModifiedSince::from_headers(&parts.headers))
    }
}

/// The base of absolute URLs in the documents a client is served ([`base_url`]).
pub struct ClientBase(pub String);

impl FromRequestParts<Arc<App>> for ClientBase {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, ApiError> {
        // Under a sub-repository every URL a document gives stays under it: at the
        // root of its own host name (whatever PACKYARD_PUBLIC_URL names), or under its
        // slug.
        if parts.extensions.get::<ScopedByHost>().is_some() {
            return scoped_host_base(app, &parts.headers).map(ClientBase);
        }
        let base = base_url(app, &parts.headers)?;
        Ok(ClientBase(match route_slug(parts, app).await {
            Some(slug) => format!("{base}/{slug}"),
            None => base,
        }))
    }
}

/// The base of absolute URLs: `PACKYARD_PUBLIC_URL`, or the scheme and Host the client used.
pub fn base_url(app: &App, headers: &HeaderMap) -> Result<String, ApiError> {
    if let Some(url) = &app.settings.public_url {
        return Ok(url.clone());
    }
    host_base(app, headers)
}

/// The base of a sub-repository served at the root of one of its host names. With
/// `PACKYARD_PUBLIC_URL`, the host name as registered (lowercase) with that URL's
/// scheme and port: what clients are told does not follow the port or the spelling a
/// client wrote, which would also make every variant a document cache entry of its
/// own. Without it, the scheme and Host the client used, as for the root.
fn scoped_host_base(app: &App, headers: &HeaderMap) -> Result<String, ApiError> {
    let base = host_base(app, headers)?;
    let Some(public) = app
        .settings
        .public_url
        .as_deref()
        .and_then(|url| reqwest::Url::parse(url).ok())
    else {
        return Ok(base);
    };
    let (_, host) = base.split_once("://").unwrap_or(("", &base));
    let name = crate::access::host_name(host);
    let port = public
        .port()
        .map(|port| format!(":{port}"))
        .unwrap_or_default();
    Ok(format!(
        "{}://{}{port}",
        public.scheme(),
        name.to_ascii_lowercase()
    ))
}

/// The scheme and Host the client used; https when `PACKYARD_PUBLIC_URL` is.
fn host_base(app: &App, headers: &HeaderMap) -> Result<String, ApiError> {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| is_valid_host(h))
        .ok_or_else(|| {
            ApiError::bad_request("missing or invalid Host header (or set PACKYARD_PUBLIC_URL)")
        })?;
    let public_https = app
        .settings
        .public_url
        .as_deref()
        .is_some_and(|url| url.starts_with("https://"));
    let scheme = match headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
    {
        Some("https") => "https",
        _ if public_https => "https",
        _ => "http",
    };
    Ok([scheme, "://", host].concat())
}

fn is_valid_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_checked() {
        for good in ["127.0.0.1:8080", "repo.example.com", "[::1]:80"] {
            assert!(is_valid_host(good), "{good}");
        }
        for bad in ["", "a/b", "x\"y", "h ost"] {
            assert!(!is_valid_host(bad), "{bad}");
        }
    }

    #[test]
    fn if_modified_since_compares_seconds() {
        let not_modified_since =
            |at, headers: &HeaderMap| IfModifiedSince::from_headers(headers).covers(at);
        let at = httpdate::parse_http_date("Wed, 25 Nov 2026 10:00:00 GMT").unwrap();
        let mut headers = HeaderMap::new();
        assert!(!not_modified_since(at, &headers));
        headers.insert(
            header::IF_MODIFIED_SINCE,
            HeaderValue::from_static("Wed, 25 Nov 2026 10:00:00 GMT"),
        );
        assert!(not_modified_since(at, &headers));
        headers.insert(
            header::IF_MODIFIED_SINCE,
            HeaderValue::from_static("Wed, 25 Nov 2026 09:59:59 GMT"),
        );
        assert!(!not_modified_since(at, &headers));
        headers.insert(
            header::IF_MODIFIED_SINCE,
            HeaderValue::from_static("garbage"),
        );
        assert!(!not_modified_since(at, &headers));
    }
}
