//! The routes of incoming push hooks (GitHub, GitLab, Gitea, Bitbucket, and
//! Packagist's generic `update-package`): the caller is checked before the body is
//! read, and [`crate::git_packages::push_hooks`] does the rest. Packeton's hook for one
//! named package, `/api/update-package/{vendor}/{package}`, reads no body at all.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, post};
use serde_json::json;

use crate::app::App;
use crate::git_packages::GitPackages;
pub use crate::git_packages::push_hooks::Provider;
use crate::git_packages::push_hooks::{HookError, named_packages};
use crate::http::extractors::access::{Caller, Maintainer, query_param};
use crate::http::extractors::paths::PackagePath;
use crate::http::{ApiError, cross_site_refusal, is_cross_site};

/// Largest hook body read; push events with many commits stay far below it.
const MAX_HOOK_BODY: usize = 2 * 1024 * 1024;

/// The route of one provider's hooks. The generic one (`/api/update-package`) also
/// answers `GET` with Packeton's `?composer_package_name=a/b,c/d`.
pub fn route(provider: Provider) -> MethodRouter<Arc<App>> {
    let hook = post(
        move |state: State<GitPackages>,
              caller: Caller,
              uri: Uri,
              headers: HeaderMap,
              body: Body| { receive(state, caller, uri, headers, body, provider) },
    );
    if provider == Provider::Generic {
        hook.get(by_name_in_query)
    } else {
        hook
    }
}

/// `GET /api/update-package?composer_package_name=a/b,c/d`: Packeton's way for a CI job
/// to ask for re-scans with a URL alone (`curl '…?token=user:token&composer_package_name=…'`).
/// Maintainers and admins; a `GET` that a page of another site makes a browser send is
/// refused, since this one changes something.
async fn by_name_in_query(
    State(app): State<Arc<App>>,
    Maintainer(maintainer): Maintainer,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if is_cross_site(app.settings.public_url.as_deref(), &headers) {
        return Err(cross_site_refusal());
    }
    let query = uri.query().unwrap_or_default();
    let names = named_packages(query_param(query, "composer_package_name").as_deref(), b"");
    if names.is_empty() {
        return Err(ApiError::bad_request(
            "name the packages to update: ?composer_package_name=vendor/name[,vendor/other], or POST a hook body",
        ));
    }
    let queued = app.git_packages.receive_names(&names).await?;
    tracing::info!(by = %maintainer.name, "update requested by name");
    Ok(queued_answer(&queued))
}

/// Packeton's answer to a hook: `202 {"status":"success","jobs":[...]}`.
fn queued_answer(queued: &[crate::git_packages::push_hooks::Queued]) -> Response {
    let jobs: Vec<_> = queued
        .iter()
        .map(|queued| json!({"package": queued.package, "job": queued.job}))
        .collect();
    let answer = json!({"status": "success", "jobs": jobs});
    (StatusCode::ACCEPTED, axum::Json(answer)).into_response()
}

/// The credentials are checked before the body is read: a hook without a signature
/// needs a maintainer's credentials, so an anonymous one is refused at once.
async fn receive(
    State(git_packages): State<GitPackages>,
    caller: Caller,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
    provider: Provider,
) -> Result<Response, ApiError> {
    if provider.is_ping(&headers) {
        return Ok(axum::Json(json!({"status": "success", "message": "pong"})).into_response());
    }
    let proof = provider.proof(&headers);
    if proof.is_none() {
        // Vouched for by credentials alone, which a browser adds to another site's
        // form too: only a JSON body, which no form can send (see `JsonBody`).
        Maintainer::require(caller)?;
        crate::http::extractors::json_body::require_json(&headers)?;
    }
    let body = axum::body::to_bytes(body, MAX_HOOK_BODY)
        .await
        .map_err(|e| ApiError::bad_request(format!("reading the hook body failed: {e}")))?;
    // Packeton's generic hook may name packages instead of a repository; only a
    // maintainer's request may (a signed hook speaks for its repository only).
    let names = match (provider, proof) {
        (Provider::Generic, None) => {
            let query = uri.query().unwrap_or_default();
            named_packages(
                query_param(query, "composer_package_name").as_deref(),
                &body,
            )
        }
        _ => Vec::new(),
    };
    let queued = if names.is_empty() {
        git_packages.receive_push(provider, proof, &body).await
    } else {
        git_packages.receive_names(&names).await
    }
    .map_err(|error| match error {
        HookError::BadSignature => ApiError::unauthorized(error.to_string()),
        error => ApiError::from(error),
    })?;
    Ok(queued_answer(&queued))
}

/// `GET`/`POST /api/update-package/{vendor}/{package}`: Packeton's hook for one named
/// git package (its README's "custom" webhook, `?token=` in the URL), for CI jobs and
/// forges that can call a URL but send no payload we could read. Queues a re-scan as
/// `/api/update-package` does for a matched repository and answers as Packeton does:
/// `202 {"status":"success","jobs":["<id>"]}`. Maintainers and admins, whose
/// credentials are checked before anything else; an unknown package is a `404`, an
/// uploaded one a `400`. A `GET` a page of another site makes a browser send (an image)
/// is refused as a cross-site write would be, since this one changes something too.
pub async fn update_named(
    State(app): State<Arc<App>>,
    Maintainer(maintainer): Maintainer,
    PackagePath(package): PackagePath,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if method == Method::GET && is_cross_site(app.settings.public_url.as_deref(), &headers) {
        return Err(cross_site_refusal());
    }
    let job = app.git_packages.request_scan(&package).await?;
    tracing::info!(package = %package.as_str(), job, by = %maintainer.name, "update requested by the named hook");
    let answer = json!({"status": "success", "jobs": [job.to_string()]});
    Ok((StatusCode::ACCEPTED, axum::Json(answer)).into_response())
}
