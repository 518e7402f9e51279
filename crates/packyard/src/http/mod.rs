//! The HTTP surface: Composer's endpoints and the API.

mod access;
mod admin;
mod advisories;
mod api;
mod composer;
mod connections;
mod error;
mod hooks;
mod listing;
mod mirror;
mod observe;
mod paths;
mod webhooks;

use std::sync::Arc;

use axum::Router;
use axum::routing::{delete, get, post, put};

use crate::app::App;

pub use access::client_address;
pub use composer::base_url;
pub use connections::HttpListeners;
pub use error::ApiError;
use hooks::Provider;

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

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/packages.json", get(composer::root))
        .route("/p2/{vendor}/{file}", get(composer::p2))
        .route("/zipball/{vendor}/{package}/{file}", get(composer::zipball))
        .route("/downloads/", post(composer::downloads))
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
        .route("/mirror/{alias}/downloads/", post(mirror::downloads))
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
            get(advisories::private).post(advisories::private),
        )
        .route(
            "/mirror/{alias}/api/security-advisories/",
            get(advisories::mirrored).post(advisories::mirrored),
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
        .merge(crate::web::routes())
        .fallback(error::not_found)
        .layer(observe::ObserveLayer)
        .with_state(app)
}
