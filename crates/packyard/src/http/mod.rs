//! The HTTP surface: Composer's endpoints and the API.

mod access;
mod admin;
mod advisories;
mod api;
mod client_limits;
mod composer;
mod connections;
mod error;
mod hooks;
mod json_body;
mod listing;
mod mirror;
mod observe;
mod origin;
mod paths;
mod webhooks;

use std::sync::Arc;

use axum::Router;
use axum::routing::{MethodRouter, delete, get, post, put};

use crate::app::App;

pub use access::client_address;
pub use client_limits::ClientLimits;
pub use composer::base_url;
pub use connections::HttpListeners;
pub use error::{ApiError, HtmlErrorPage, negotiated};
use hooks::Provider;
use json_body::JsonBody;
pub use observe::{ObservedRouter, RouteTemplates, is_https};
pub use origin::is_cross_site;

/// A JSON answer `{"status": "success", ...}` with the fields of `body`.
#[derive(serde::Serialize)]
struct Success<T> {
    status: &'static str,
    #[serde(flatten)]
    body: T,
}

impl<T: serde::Serialize> Success<T> {
    fn new(body: T) -> Self {
        Success {
            status: "success",
            body,
        }
    }
}

/// A router under construction that keeps the template of every route it is given:
/// [`observe::ObservedRouter`] labels requests with them.
pub struct Routes {
    router: Router<Arc<App>>,
    templates: Vec<&'static str>,
}

impl Routes {
    pub fn new() -> Self {
        Routes {
            router: Router::new(),
            templates: Vec::new(),
        }
    }

    pub fn route(mut self, template: &'static str, handlers: MethodRouter<Arc<App>>) -> Self {
        self.router = self.router.route(template, handlers);
        self.templates.push(template);
        self
    }

    /// The templates of the routes added so far.
    pub fn templates(&self) -> &[&'static str] {
        &self.templates
    }

    /// The router and the templates of its routes.
    pub fn into_parts(self) -> (Router<Arc<App>>, Vec<&'static str>) {
        (self.router, self.templates)
    }

    pub fn merge(mut self, other: Routes) -> Self {
        self.router = self.router.merge(other.router);
        self.templates.extend(other.templates);
        self
    }
}

impl Default for Routes {
    fn default() -> Self {
        Routes::new()
    }
}

/// `302` to a presigned URL of an archive (`PACKYARD_DIST_REDIRECT`): the client
/// fetches the bytes from the store itself. Not cached: the URL expires in minutes.
pub(crate) fn presigned_redirect(url: &str) -> axum::response::Response {
    use axum::http::{HeaderValue, StatusCode, header};
    use axum::response::IntoResponse;
    match HeaderValue::from_str(url) {
        Ok(location) => (
            StatusCode::FOUND,
            [
                (header::LOCATION, location),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            ],
        )
            .into_response(),
        // A signer's URL is ASCII; should one ever not be, fail the request, not the thread.
        Err(error) => ApiError::internal("presigning the archive URL", error).into_response(),
    }
}

/// The body limit of routes anonymous clients may send bodies to (notify-batch,
/// advisories, the login form): what they send is small, and nothing larger is held
/// for a caller nobody has checked. Other routes check credentials before the body.
pub(crate) fn small_body() -> axum::extract::DefaultBodyLimit {
    axum::extract::DefaultBodyLimit::max(client_limits::ANONYMOUS_BODY_BYTES)
}

/// The routes of Composer's endpoints and the JSON API (the web UI's are
/// `web::routes`; `crate::routes` serves both).
pub fn routes() -> Routes {
    Routes::new()
        .route("/packages.json", get(composer::root))
        .route("/p2/{vendor}/{file}", get(composer::p2))
        .route("/zipball/{vendor}/{package}/{file}", get(composer::zipball))
        .route("/downloads/", post(composer::downloads).layer(small_body()))
        .route("/packages/list.json", get(listing::list))
        .route("/search.json", get(listing::search_json))
        .route(
            "/packages/{vendor}/{package}/stats.json",
            get(listing::stats_json),
        )
        .route(
            "/packages/{vendor}/{package}/stats/all.json",
            get(listing::stats_series),
        )
        .route("/mirror/{alias}/packages.json", get(mirror::root))
        .route(
            "/mirror/{alias}/downloads/",
            post(mirror::downloads).layer(small_body()),
        )
        .route("/mirror/{alias}/p2/{vendor}/{file}", get(mirror::p2))
        .route(
            "/mirror/{alias}/zipball/{vendor}/{package}/{version}/{file}",
            get(mirror::zipball),
        )
        .route(
            "/api/packages/upload/{vendor}/{package}/{version}",
            put(api::upload),
        )
        .route("/api/create-package", post(api::create_package))
        .route("/api/update-package", hooks::route(Provider::Generic))
        .route("/api/github", hooks::route(Provider::GitHub))
        .route("/api/gitlab", hooks::route(Provider::GitLab))
        .route("/api/gitea", hooks::route(Provider::Gitea))
        .route("/api/bitbucket", hooks::route(Provider::Bitbucket))
        .route("/api/jobs/{id}", get(api::job))
        .route("/api/mirrors/{alias}/approve", post(api::approve_mirrored))
        .route("/api/healthz", get(observe::api_healthz))
        .route("/healthz", get(observe::healthz))
        .route("/readyz", get(observe::readyz))
        .route("/metrics", get(observe::metrics))
        .route(
            "/api/security-advisories/",
            get(advisories::private)
                .post(advisories::private)
                .layer(small_body()),
        )
        .route(
            "/mirror/{alias}/api/security-advisories/",
            get(advisories::mirrored)
                .post(advisories::mirrored)
                .layer(small_body()),
        )
        .route(
            "/api/advisories",
            get(advisories::list).post(advisories::create),
        )
        .route("/api/advisories/{id}", delete(advisories::remove))
        .route("/api/webhooks", get(webhooks::list).post(webhooks::create))
        .route("/api/webhooks/{name}", delete(webhooks::remove))
        .route("/api/webhooks/{name}/deliveries", get(webhooks::deliveries))
        .route(
            "/api/webhooks/deliveries/{id}/redeliver",
            post(webhooks::redeliver),
        )
        .route(
            "/api/users",
            get(admin::list_users).post(admin::create_user),
        )
        .route(
            "/api/user/{id}",
            get(admin::get_user)
                .put(admin::update_user)
                .delete(admin::delete_user),
        )
        .route(
            "/api/groups",
            get(admin::list_groups).post(admin::create_group),
        )
        .route(
            "/api/group/{id}",
            get(admin::get_group)
                .put(admin::update_group)
                .delete(admin::delete_group),
        )
        .route(
            "/api/tokens",
            get(admin::list_tokens).post(admin::create_token),
        )
        .route("/api/tokens/{name}", delete(admin::revoke_token))
        .route("/api/packages", get(admin::list_packages))
        .route("/api/packages/{vendor}/{package}", get(admin::get_package))
}

/// What `PACKYARD_METRICS_LISTEN` serves: `/metrics` without credentials, and the
/// probes, for scrapers and kubelets inside the cluster. Nothing else is reachable there.
pub fn metrics_routes() -> Routes {
    Routes::new()
        .route("/metrics", get(observe::open_metrics))
        .route("/healthz", get(observe::healthz))
        .route("/readyz", get(observe::readyz))
}
