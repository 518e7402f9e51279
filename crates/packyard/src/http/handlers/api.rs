//! The management API.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{FromRequest, Path, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::app::App;
use crate::error::{Classify, ErrorKind};
use crate::git_packages::{AddRequest, Credentials};
use crate::http::extractors::access::{Admin, Maintainer, Reader, query_param};
use crate::http::extractors::paths::PackagePath;
use crate::http::{ApiError, JsonBody, Success};
use crate::jobs::JobView;
use crate::uploads::archive_file::{ArchiveFile, ReceiveError};
use crate::uploads::artifact::{Outcome, PublishRequest, UploadError};

/// `PUT /api/packages/upload/{vendor}/{package}/{version}` with a zip body (the route
/// of Packeton and Nexus). Admins only.
pub async fn upload(
    State(app): State<Arc<App>>,
    Admin(admin): Admin,
    // Not a `PackagePath`: a bad name in an upload is the uploader's mistake (400, with
    // the reason), not an unknown package.
    Path((vendor, package, version)): Path<(String, String, String)>,
    headers: HeaderMap,
    uri: Uri,
    body: Body,
) -> Result<Response, ApiError> {
    let name = checked_upload_path(&app, &vendor, &package, &version, &headers)?;
    let force = uri
        .query()
        .and_then(|q| query_param(q, "force"))
        .is_some_and(|v| matches!(v.as_str(), "1" | "true" | "yes"));
    let archive = ArchiveFile::receive(
        app.upload_dir(),
        body.into_data_stream(),
        app.settings.max_upload,
    )
    .await?;
    let published = publish(&app, &admin, archive, name, version, force).await?;
    let status = match published.outcome {
        Outcome::Created => StatusCode::CREATED,
        Outcome::Replaced | Outcome::Unchanged => StatusCode::OK,
    };
    let body = json!({
        "status": "success",
        "outcome": published.outcome.as_str(),
        "package": published.package,
        "version": published.version,
        "version_normalized": published.version_normalized,
        "reference": published.reference,
        "shasum": published.reference,
    });
    Ok((status, axum::Json(body)).into_response())
}

/// `PUT`/`POST /packages/upload/{vendor}/{package}/{version}`: Packeton's push route,
/// which the composer-push plugin (Elendev's, "nexus" type) and CI scripts call.
/// Maintainers and admins, as on Packeton. The archive is the whole body of a `PUT`,
/// or the `package` file of a `multipart/form-data` body (`PUT` or `POST`); the
/// version always comes from the path. Packeton's `src-type`, `src-url` and `src-ref`
/// parts are read and not kept: packyard publishes an archive's own composer.json.
/// Answers as Packeton does: `201 []` (or `200 []` when the same archive was there).
pub async fn push(
    State(app): State<Arc<App>>,
    Maintainer(user): Maintainer,
    Path((vendor, package, version)): Path<(String, String, String)>,
    request: axum::extract::Request,
) -> Result<Response, ApiError> {
    let headers = request.headers().clone();
    let name = checked_upload_path(&app, &vendor, &package, &version, &headers)?;
    let multipart = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"));
    let limit = app.settings.max_upload;
    let archive = if multipart {
        // The whole body is bounded, not only the file: the other parts and every
        // part's headers would be read without end otherwise.
        let (parts, body) = request.into_parts();
        let bounded = Body::new(http_body_util::Limited::new(
            body,
            to_usize(limit) + 64 * 1024,
        ));
        let request = axum::extract::Request::from_parts(parts, bounded);
        let mut form = axum::extract::Multipart::from_request(request, &app)
            .await
            .map_err(|error| {
                ApiError::bad_request(format!("unreadable multipart body: {error}"))
            })?;
        let unreadable = |error: axum::extract::multipart::MultipartError| {
            if error.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ReceiveError::TooLarge { limit }.into()
            } else {
                ApiError::bad_request(format!("unreadable multipart body: {error}"))
            }
        };
        let mut archive = None;
        while let Some(field) = form.next_field().await.map_err(unreadable)? {
            if field.name() == Some("package") && archive.is_none() {
                archive = Some(ArchiveFile::receive(app.upload_dir(), field, limit).await?);
            }
            // Other parts (`src-type`, `src-url`, `src-ref`, `version`) are skipped.
        }
        archive.ok_or_else(|| {
            ApiError::bad_request(
                "the multipart body has no `package` file: send the zip as `package`",
            )
        })?
    } else if request.method() == axum::http::Method::PUT {
        ArchiveFile::receive(
            app.upload_dir(),
            request.into_body().into_data_stream(),
            limit,
        )
        .await?
    } else {
        return Err(ApiError::bad_request(
            "POST needs a multipart/form-data body with the zip as `package`; or PUT the zip as the body",
        ));
    };
    let published = publish(&app, &user, archive, name, version, false).await?;
    let status = match published.outcome {
        Outcome::Created => StatusCode::CREATED,
        Outcome::Replaced | Outcome::Unchanged => StatusCode::OK,
    };
    Ok((status, axum::Json(json!([]))).into_response())
}

fn to_usize(bytes: u64) -> usize {
    usize::try_from(bytes).unwrap_or(usize::MAX)
}

/// The package name of an upload's path, checked with its version and declared
/// length before a byte of the body is read.
fn checked_upload_path(
    app: &App,
    vendor: &str,
    package: &str,
    version: &str,
    headers: &HeaderMap,
) -> Result<String, ApiError> {
    let name = format!("{vendor}/{package}");
    composer::package_name::validate(&name).map_err(|e| UploadError::InvalidName(e.to_string()))?;
    composer::version::check_length(version).map_err(UploadError::VersionTooLong)?;
    let limit = app.settings.max_upload;
    let declared_length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared_length.is_some_and(|length| length > limit) {
        return Err(ReceiveError::TooLarge { limit }.into());
    }
    Ok(name)
}

/// Publishes a received archive as `name` `version`, logged with who sent it.
async fn publish(
    app: &App,
    user: &crate::db::User,
    archive: ArchiveFile,
    name: String,
    version: String,
    force: bool,
) -> Result<crate::uploads::artifact::Published, ApiError> {
    let request = PublishRequest {
        package: Some(name),
        version: Some(version),
        force,
        by: user.name.clone(),
    };
    let published = app.uploads.upload(&archive, request).await?;
    let outcome = published.outcome.as_str();
    tracing::info!(package = %published.package, version = %published.version, outcome, by = %user.name, "artifact uploaded");
    Ok(published)
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CreatePackage {
    repository: RepositorySpec,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RepositorySpec {
    url: String,
    #[serde(default)]
    credentials: Option<Credentials>,
    #[serde(default)]
    webhook_secret: Option<String>,
}

/// `POST /api/create-package` with `{"repository":{"url":...}}` (Packagist's API), plus
/// optional `credentials` and `webhook_secret`. Maintainers and admins. The first scan
/// runs before the answer, so a bad repository is reported here.
pub async fn create_package(
    State(app): State<Arc<App>>,
    Maintainer(maintainer): Maintainer,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let request: CreatePackage = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(format!(
            "expected {{\"repository\":{{\"url\":\"...\"}}}}: {e}"
        ))
    })?;
    let summary = app
        .git_packages
        .add(AddRequest {
            url: request.repository.url,
            credentials: request.repository.credentials,
            webhook_secret: request.repository.webhook_secret,
            allow_local: app.settings.allow_local_repositories,
        })
        .await?;
    tracing::info!(package = %summary.package, by = %maintainer.name, "git package added over the API");
    Ok((StatusCode::CREATED, axum::Json(Success::new(summary))).into_response())
}

/// `GET /packages/{vendor}/{package}/changelog?from=&to=` (and under `/api/`):
/// Packeton's changelog of a git package, the subjects of the commits between two of
/// its versions: `{"result": [...], "error": null, "metadata": {"from", "to",
/// "package"}}`. Maintainers and admins, as Packeton's `ROLE_MAINTAINER`. What the
/// request gets wrong is answered in Packeton's shape, `{"error": "..."}` (`400`); an
/// unknown package is the usual `404`.
pub async fn changelog(
    State(app): State<Arc<App>>,
    Maintainer(maintainer): Maintainer,
    PackagePath(package): PackagePath,
    uri: Uri,
) -> Result<Response, ApiError> {
    let query = uri.query().unwrap_or_default();
    let from = query_param(query, "from");
    let to = query_param(query, "to");
    let view = app.access.view(Some(&maintainer));
    match app
        .git_packages
        .changelog(&package, &view, from.as_deref(), to.as_deref())
        .await
    {
        Ok(changelog) => Ok(axum::Json(json!({
            "result": changelog.subjects,
            "error": null,
            "metadata": {
                "from": changelog.from,
                "to": changelog.to,
                "package": changelog.package,
            },
        }))
        .into_response()),
        Err(error) if error.kind() == ErrorKind::Invalid => Ok((
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": error.to_string()})),
        )
            .into_response()),
        Err(error) => Err(error.into()),
    }
}

/// `GET /api/jobs/{id}` (and Packeton's `/jobs/{id}`): the state of a background job,
/// with its result or error text. A job about a package the caller may not see answers
/// like one that does not exist.
pub async fn job(
    State(app): State<Arc<App>>,
    reader: Reader,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let unknown = || ApiError::not_found(format!("no job {id}"));
    let job = app.db.job(id).await?.ok_or_else(unknown)?;
    // A scan's result and error speak of every ref: only for those who see them all.
    let visible = match JobView::package_of(&job) {
        Some(package) => reader.view.sees_all_versions_of(&package),
        None => reader.view.sees_everything(),
    };
    if !visible {
        return Err(unknown());
    }
    Ok(axum::Json(JobView::of(&job)).into_response())
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Approval {
    packages: Vec<String>,
}

/// `POST /api/mirrors/{alias}/approve` with `{"packages": [...]}`: lets packages through
/// a strict mirror. Admins only.
pub async fn approve_mirrored(
    State(app): State<Arc<App>>,
    Admin(admin): Admin,
    Path(alias): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let mirror = app
        .mirrors
        .get(&alias)
        .cloned()
        .ok_or_else(|| ApiError::not_found(format!("no mirror named {alias}")))?;
    let approval: Approval = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(format!("expected {{\"packages\": [\"vendor/name\"]}}: {e}"))
    })?;
    let approved = app.mirrors.approve(&mirror, &approval.packages).await?;
    tracing::info!(mirror = %mirror.alias, packages = approved.len(), by = %admin.name, "mirrored packages approved");
    Ok(axum::Json(Success::new(json!({"approved": approved}))).into_response())
}
