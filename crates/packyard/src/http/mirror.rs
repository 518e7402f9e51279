//! The mirror routes, as Packeton's: `/mirror/{alias}/packages.json`,
//! `/mirror/{alias}/p2/{vendor}/{package}.json` (and `~dev`), and
//! `/mirror/{alias}/zipball/{vendor}/{package}/{version}/{reference}.{type}`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Uri, header};
use axum::response::{IntoResponse, Response};

use super::ApiError;
use super::access::Caller;
use super::composer::{base_url, json_document};
use crate::app::App;
use crate::metadata::Document;
use crate::mirror::config::MirrorConfig;
use crate::mirror::dists::{DistError, DistReply};
use crate::mirror::documents::{DocumentError, MirroredDoc};
use crate::mirror::{ArchiveError, rewrite_root};

pub async fn root(
    State(app): State<Arc<App>>,
    Path(alias): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, ApiError> {
    let mirror = authorize(&app, &alias, &headers, &uri).await?;
    let upstream_root = app
        .mirrors
        .documents
        .get(&mirror, "packages.json")
        .await?
        .ok_or_else(|| {
            ApiError::new(
                axum::http::StatusCode::BAD_GATEWAY,
                format!("{} has no packages.json", mirror.url),
            )
        })?;
    let available = match mirror.strict {
        true => Some(app.db.approved_mirrored_packages(&mirror.alias).await?),
        false => None,
    };
    let base = base_url(&app, &headers)?;
    let body = rewrite_root(&upstream_root.body, &mirror, &base, available)
        .map_err(|error| ApiError::new(axum::http::StatusCode::BAD_GATEWAY, error.to_string()))?;
    let document = Document {
        body: body.into(),
        last_modified: upstream_root.last_modified(),
    };
    Ok(json_document(&document, &headers))
}

pub async fn p2(
    State(app): State<Arc<App>>,
    Path((alias, vendor, file)): Path<(String, String, String)>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, ApiError> {
    let mirror = authorize(&app, &alias, &headers, &uri).await?;
    let Some(stem) = file.strip_suffix(".json") else {
        return Err(ApiError::not_found("p2 files end in .json"));
    };
    let (name, dev) = match stem.strip_suffix("~dev") {
        Some(name) => (name, true),
        None => (stem, false),
    };
    // Only the validated name reaches the upstream URL or the storage key.
    let package = package_name(&vendor, name)?;
    check_package(&app, &mirror, &package).await?;
    match app.mirrors.metadata(&mirror, &package, dev).await? {
        Some(doc) => Ok(json_document(&as_document(&doc), &headers)),
        None => Err(ApiError::not_found(format!(
            "{package} not found on {}",
            mirror.url
        ))),
    }
}

pub async fn zipball(
    State(app): State<Arc<App>>,
    Path((alias, vendor, name, version, file)): Path<(String, String, String, String, String)>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, ApiError> {
    let mirror = authorize(&app, &alias, &headers, &uri).await?;
    if !mirror.enable_dist_mirror {
        return Err(ApiError::not_found(format!(
            "the {alias} mirror does not mirror archives"
        )));
    }
    let package = package_name(&vendor, &name)?;
    check_package(&app, &mirror, &package).await?;
    let (reference, kind) = file.rsplit_once('.').unwrap_or((file.as_str(), "zip"));
    if kind.is_empty()
        || kind.len() > 8
        || !kind
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    {
        return Err(ApiError::bad_request(format!(
            "unsupported archive type {kind:?}"
        )));
    }
    let reply = app
        .mirrors
        .archive(&mirror, &package, &version, reference, kind)
        .await?;
    let content_type = (
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/zip"),
    );
    Ok(match reply {
        DistReply::Stored(object) => (
            [
                content_type,
                (header::CONTENT_LENGTH, HeaderValue::from(object.size)),
            ],
            Body::from_stream(object.stream),
        )
            .into_response(),
        DistReply::Live {
            length: Some(length),
            stream,
        } => (
            [
                content_type,
                (header::CONTENT_LENGTH, HeaderValue::from(length)),
            ],
            Body::from_stream(stream),
        )
            .into_response(),
        DistReply::Live {
            length: None,
            stream,
        } => ([content_type], Body::from_stream(stream)).into_response(),
    })
}

/// `vendor/name` from the route, lowercased (Composer asks in lowercase) and checked
/// with Composer's rules, so that it can be used in upstream URLs and storage keys.
fn package_name(vendor: &str, name: &str) -> Result<String, ApiError> {
    let package = format!("{vendor}/{name}").to_ascii_lowercase();
    composer::package_name::validate(&package)
        .map_err(|e| ApiError::not_found(format!("{package:?} is not a package name: {e}")))?;
    Ok(package)
}

/// The mirror, if the caller may use it: a token is needed unless the mirror is public.
async fn authorize(
    app: &App,
    alias: &str,
    headers: &HeaderMap,
    uri: &Uri,
) -> Result<Arc<MirrorConfig>, ApiError> {
    let mirror = app
        .mirrors
        .get(alias)
        .cloned()
        .ok_or_else(|| ApiError::not_found(format!("no mirror named {alias}")))?;
    let caller = Caller::identify(app, headers, uri).await?;
    if caller.0.is_none() && !mirror.public_access {
        return Err(ApiError::unauthorized(
            "authentication required: send HTTP Basic credentials (user name and API token)",
        ));
    }
    Ok(mirror)
}

/// What may be proxied: never a name that is a private package here (a public package
/// of the same name could otherwise be installed in its place), only allowed names, and
/// in strict mode only approved ones.
async fn check_package(app: &App, mirror: &MirrorConfig, package: &str) -> Result<(), ApiError> {
    if app.metadata.exists(package) {
        return Err(ApiError::not_found(format!(
            "{package} is a private package here; the {} mirror does not proxy it",
            mirror.alias
        )));
    }
    if !mirror.allows(package) {
        return Err(ApiError::not_found(format!(
            "{package} is not available from the {} mirror",
            mirror.alias
        )));
    }
    if mirror.strict
        && !app
            .db
            .is_mirrored_package_approved(&mirror.alias, package)
            .await?
    {
        return Err(ApiError::not_found(format!(
            "{package} is not approved for the {alias} mirror (packyard mirror approve {alias} {package})",
            alias = mirror.alias
        )));
    }
    Ok(())
}

fn as_document(doc: &MirroredDoc) -> Document {
    Document {
        body: doc.body.clone(),
        last_modified: doc.last_modified(),
    }
}

impl From<DocumentError> for ApiError {
    fn from(error: DocumentError) -> Self {
        match error {
            DocumentError::Storage(e) => ApiError::unavailable("storage unavailable", e),
            error => ApiError::new(axum::http::StatusCode::BAD_GATEWAY, error.to_string()),
        }
    }
}

impl From<ArchiveError> for ApiError {
    fn from(error: ArchiveError) -> Self {
        match error {
            ArchiveError::UnknownVersion { .. } => ApiError::not_found(error.to_string()),
            ArchiveError::Document(error) => error.into(),
            ArchiveError::Dist(DistError::Storage(e)) => {
                ApiError::unavailable("storage unavailable", e)
            }
            ArchiveError::Dist(error) => {
                ApiError::new(axum::http::StatusCode::BAD_GATEWAY, error.to_string())
            }
        }
    }
}
