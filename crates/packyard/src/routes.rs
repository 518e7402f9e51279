//! Every route packyard serves, composed from the HTTP layer's (Composer's endpoints
//! and the JSON API, `http::routes`) and the web UI's (`web::routes`), with the
//! metrics and request logs around them. The one place that knows both front-ends:
//! `http` and `web` do not import each other's handlers.

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use crate::app::App;
use crate::http::{ApiError, ObservedRouter, RouteTemplates, negotiated};

/// Every route, served with `app`, the metrics and request logs around them.
pub fn router(app: Arc<App>) -> ObservedRouter {
    let (router, declared) = crate::http::routes()
        .merge(crate::web::routes())
        .into_parts();
    let mut observed = RouteTemplates::default();
    for (template, access) in declared {
        observed.add(template, access);
    }
    let public_url = app.settings.public_url.clone();
    let hosts = app.clone();
    ObservedRouter::new(
        router.fallback(not_found).with_state(app),
        observed,
        public_url.as_deref(),
        crate::web::error_page,
    )
    .with_host_scope(Arc::new(move |host| {
        hosts.access.sub_repository_of_host(host)
    }))
}

/// Whether `segment` is the first path segment of a route packyard serves (`api`,
/// `p2`, `packages`, …): a sub-repository cannot take it as its slug.
pub fn is_reserved_segment(segment: &str) -> bool {
    [
        crate::http::routes(),
        crate::web::routes(),
        crate::http::metrics_routes(),
    ]
    .iter()
    .flat_map(crate::http::Routes::templates)
    .filter_map(|template| template.trim_start_matches('/').split('/').next())
    .any(|first| first == segment)
}

/// What `PACKYARD_METRICS_LISTEN` serves (see `http::metrics_routes`), without request
/// logs: scrapers and probes would drown them.
pub fn metrics_router(app: Arc<App>) -> Router {
    let (router, _) = crate::http::metrics_routes().into_parts();
    router.fallback(not_found).with_state(app)
}

/// Unknown routes: the HTML 404 page for browsers, JSON for everyone else.
async fn not_found(headers: HeaderMap) -> Response {
    negotiated(
        &headers,
        crate::web::error_page,
        StatusCode::NOT_FOUND,
        crate::web::NOT_FOUND_TITLE,
        crate::web::NOT_FOUND_SENTENCE,
        ApiError::not_found("no such route"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_segments_of_our_routes_are_reserved_and_slugs_are_not() {
        for taken in [
            "api",
            "p2",
            "mirror",
            "admin",
            "packages",
            "zipball",
            "downloads",
            "login",
            "assets",
        ] {
            assert!(is_reserved_segment(taken), "{taken}");
        }
        for free in ["client-a", "acme", "slug"] {
            assert!(!is_reserved_segment(free), "{free}");
        }
    }
}
