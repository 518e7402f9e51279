//! The mirror routes, as Packeton's: `/mirror/{alias}/packages.json`,
//! `/mirror/{alias}/p2/{vendor}/{package}.json` (and `~dev`), and
//! `/mirror/{alias}/zipball/{vendor}/{package}/{version}/{reference}.{type}`. What may be
//! served is decided in [`crate::mirror::Mirrors`].

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::composer::{ClientBase, IfModifiedSince, json_document};
use crate::app::App;
use crate::http::extractors::access::MirrorReader;
use crate::http::extractors::paths::{ArchiveFile, P2File, PackagePath};
use crate::http::{ApiError, JsonBody};
use crate::metadata::Document;
use crate::mirror::dists::DistReply;
use crate::mirror::rewrite_root;
use storage::Served;

pub async fn root(
    State(app): State<Arc<App>>,
    MirrorReader { mirror, .. }: MirrorReader,
    ClientBase(base): ClientBase,
    since: IfModifiedSince,
) -> Result<Response, ApiError> {
    let upstream_root = app
        .mirrors
        .documents
        .get(&mirror, "packages.json")
        .await?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                format!(
                    "the upstream of the {} mirror has no packages.json",
                    mirror.alias
                ),
            )
        })?;
    let available = if mirror.strict {
        Some(app.db.approved_mirrored_packages(&mirror.alias).await?)
    } else {
        None
    };
    let own_filter = app.metadata.filter_announcement().await?;
    let body = rewrite_root(&upstream_root.body, &mirror, &base, available, own_filter)
        .map_err(|error| ApiError::new(StatusCode::BAD_GATEWAY, error.to_string()))?;
    let document = Document {
        body: body.into(),
        last_modified: upstream_root.last_modified(),
    };
    Ok(json_document(&document, since))
}

pub async fn p2(
    State(app): State<Arc<App>>,
    MirrorReader { mirror, cooldown }: MirrorReader,
    P2File { package, dev }: P2File,
    ClientBase(base): ClientBase,
    since: IfModifiedSince,
) -> Result<Response, ApiError> {
    let archives_at = crate::metadata::archive_pattern(&format!("{base}/mirror/{}", mirror.alias));
    match app
        .mirrors
        .metadata(&mirror, &package, dev, Some(&archives_at), cooldown)
        .await?
    {
        Some(doc) => Ok(json_document(&doc.document(), since)),
        None => Err(ApiError::not_found(format!(
            "{package} not found on the {} mirror",
            mirror.alias
        ))),
    }
}

pub async fn zipball(
    State(app): State<Arc<App>>,
    MirrorReader { mirror, cooldown }: MirrorReader,
    PackagePath(package): PackagePath,
    archive: ArchiveFile,
) -> Result<Response, ApiError> {
    if !mirror.enable_dist_mirror {
        return Err(ApiError::not_found(format!(
            "the {} mirror does not mirror archives",
            mirror.alias
        )));
    }
    let (reference, kind) = archive.reference_and_kind()?;
    let version = archive.version.as_deref().unwrap_or_default();
    match app
        .mirrors
        .archive(&mirror, &package, version, reference, kind, cooldown)
        .await
    {
        Ok(reply) => {
            app.audit.downloaded(package.as_str(), version);
            Ok(dist_response(reply))
        }
        Err(crate::mirror::MirrorError::Blocked(notice)) => {
            Ok(super::composer::blocked_archive(&notice))
        }
        Err(error) => Err(error.into()),
    }
}

/// A mirrored archive as the client gets it: streamed (with its length when known),
/// or a redirect to the store's presigned URL.
pub fn dist_response(reply: DistReply) -> Response {
    let content_type = (
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/zip"),
    );
    let (length, body) = match reply {
        DistReply::Stored(Served::Stream(object)) => {
            (Some(object.size), Body::from_stream(object.stream))
        }
        DistReply::Stored(Served::Redirect(url)) => {
            return crate::http::presigned_redirect(&url);
        }
        DistReply::Live { length, stream } => (length, Body::from_stream(stream)),
    };
    match length {
        Some(length) => (
            [
                content_type,
                (header::CONTENT_LENGTH, HeaderValue::from(length)),
            ],
            body,
        )
            .into_response(),
        None => ([content_type], body).into_response(),
    }
}

/// `POST /mirror/{alias}/downloads/`: Composer's notify-batch for packages installed
/// through the mirror, counted per mirror (only versions the mirror serves).
pub async fn downloads(
    State(app): State<Arc<App>>,
    MirrorReader { mirror, .. }: MirrorReader,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let batch = super::composer::download_batch(&body)?;
    app.mirrors.record_downloads(&mirror, batch).await?;
    Ok(super::composer::downloads_counted())
}
