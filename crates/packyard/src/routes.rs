//! Every route packyard serves, composed from the HTTP layer's (Composer's endpoints
//! and the JSON API, `http::routes`) and the web UI's (`web::routes`), with the
//! metrics and request logs around them. The one place that knows both front-ends:
//! `http` and `web` do not import each other's handlers.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::handler::Handler;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;

use crate::app::App;
use crate::db::audit::AuditActor;
use crate::http::extractors::access::client_address;
use crate::http::{ApiError, ObservedRouter, RouteTemplates, Routes, negotiated};
use crate::tokens::Scope;

/// Every route, served with `app`, the metrics and request logs around them.
pub fn router(app: Arc<App>) -> ObservedRouter {
    let (router, declared) = crate::http::routes()
        .merge(crate::web::routes())
        .merge(shared_routes())
        .into_parts();
    let mut observed = RouteTemplates::default();
    for (template, access) in declared {
        observed.add(template, access);
    }
    let public_url = app.settings.public_url.clone();
    let hosts = app.clone();
    ObservedRouter::new(
        router
            .fallback(not_found)
            .layer(axum::middleware::from_fn_with_state(
                app.clone(),
                act_as_client,
            ))
            .with_state(app),
        observed,
        public_url.as_deref(),
        crate::web::error_page,
    )
    .with_host_scope(Arc::new(move |host| {
        hosts.access.sub_repository_of_host(host)
    }))
}

/// Runs each request as its client ([`AuditActor`]): anonymous at its address until an
/// extractor checks its token or session, so that whatever the request changes is
/// recorded in the audit log under who asked, from where.
async fn act_as_client(
    State(app): State<Arc<App>>,
    request: Request,
    next: axum::middleware::Next,
) -> Response {
    let address = request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| client_address(&app, info.0.ip(), request.headers()).to_string())
        .unwrap_or_default();
    AuditActor::anonymous(address)
        .scope(next.run(request))
        .await
}

/// The route both front-ends answer: `/packages/{vendor}/{package}` is a package's web
/// page and, with `.json` after the name, Packeton's JSON document of the package
/// (`listing::package_json`). A template parameter is a whole segment (matchit has no
/// `{package}.json`), so both paths reach this one route, which hands each request to
/// its front-end by the path. Declared with the `metadata` scope, which the document
/// takes tokens for, as Packeton's does; the page reads no token (its `Viewer` reads
/// the session alone). A package whose own name ends in `.json` has its page shadowed
/// by the document of the name without it, as on Packeton.
fn shared_routes() -> Routes {
    Routes::new().route(
        "/packages/{vendor}/{package}",
        Scope::Metadata,
        get(package_page_or_document),
    )
}

async fn package_page_or_document(State(app): State<Arc<App>>, request: Request) -> Response {
    if request.uri().path().ends_with(".json") {
        Handler::call(crate::http::handlers::listing::package_json, request, app).await
    } else {
        Handler::call(crate::web::package_page, request, app).await
    }
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
    use crate::access::subrepos::{RESERVED_SEGMENTS, check_slug};

    /// The first path segment of every route packyard serves, `{slug}` aside.
    fn first_segments() -> std::collections::BTreeSet<String> {
        [
            crate::http::routes(),
            crate::web::routes(),
            super::shared_routes(),
            crate::http::metrics_routes(),
        ]
        .iter()
        .flat_map(crate::http::Routes::templates)
        .filter_map(|template| {
            let first = template.trim_start_matches('/').split('/').next()?;
            (!first.is_empty() && first != "{slug}").then(|| first.to_owned())
        })
        .collect()
    }

    #[test]
    fn the_first_segments_of_our_routes_are_reserved_and_slugs_are_not() {
        let segments = first_segments();
        let listed: std::collections::BTreeSet<String> =
            RESERVED_SEGMENTS.iter().map(|s| (*s).to_owned()).collect();
        assert_eq!(
            segments, listed,
            "access::subrepos::RESERVED_SEGMENTS must list the first segment of every route"
        );
        for taken in &segments {
            assert!(check_slug(taken).is_err(), "{taken}");
        }
        for free in ["client-a", "acme", "slug"] {
            assert!(check_slug(free).is_ok(), "{free}");
        }
    }
}
