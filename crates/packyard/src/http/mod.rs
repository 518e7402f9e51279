//! The HTTP surface: Composer's endpoints and the API.

//!
//! - [`transport`]: connections, client limits, the request log and metrics around
//!   every route, the cross-site check.
//! - [`extractors`]: credentials, roles and views; JSON bodies; package paths.
//! - [`handlers`]: one file per area; each parses, calls a service and renders.
//! - [`Routes`]: the route table, with each route's token scope.

mod error;
pub mod extractors;
pub mod handlers;
pub mod transport;

use extractors::{access, json_body};
use handlers::{
    admin, advisories, api, audit, blocks, composer, hooks, listing, mirror, probes, webhooks,
};
use transport::{client_limits, connections, observe, origin};

use std::sync::Arc;

use axum::Router;
use axum::routing::{MethodRouter, delete, get, post, put};

use crate::app::App;
use crate::tokens::Scope;

pub use access::client_address;
pub use client_limits::ClientLimits;
pub use composer::base_url;
pub use connections::HttpListeners;
pub use error::{ApiError, HtmlErrorPage, negotiated};
use hooks::Provider;
use json_body::JsonBody;
pub use observe::{ObservedRouter, RouteTemplates, is_https};
pub use origin::{cross_site_refusal, is_cross_site};

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

/// Who may call a route, declared where it is registered: with an API token of a
/// scope (or a web session, or anonymously where the handler allows it), or as a web
/// page (a session only; tokens are not read there). [`ObservedRouter`] gives each
/// request its route's declaration, and the [`access::Caller`] extractor checks a
/// token's scopes against it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteAccess {
    Token(Scope),
    Page,
}

/// A router under construction that keeps the template and the access declaration of
/// every route it is given: [`observe::ObservedRouter`] labels requests with the
/// templates and hands the declarations to the extractors.
pub struct Routes {
    router: Router<Arc<App>>,
    declared: Vec<(&'static str, RouteAccess)>,
}

impl Routes {
    pub fn new() -> Self {
        Routes {
            router: Router::new(),
            declared: Vec::new(),
        }
    }

    /// A route of the API or of Composer's endpoints; a token used on it needs `scope`.
    pub fn route(
        self,
        template: &'static str,
        scope: Scope,
        handlers: MethodRouter<Arc<App>>,
    ) -> Self {
        self.declare(template, RouteAccess::Token(scope), handlers)
    }

    /// A page of the web UI: signed in by session, never by token.
    pub fn page(self, template: &'static str, handlers: MethodRouter<Arc<App>>) -> Self {
        self.declare(template, RouteAccess::Page, handlers)
    }

    fn declare(
        mut self,
        template: &'static str,
        access: RouteAccess,
        handlers: MethodRouter<Arc<App>>,
    ) -> Self {
        self.router = self.router.route(template, handlers);
        self.declared.push((template, access));
        self
    }

    /// The templates of the routes added so far.
    pub fn templates(&self) -> Vec<&'static str> {
        self.declared
            .iter()
            .map(|(template, _)| *template)
            .collect()
    }

    /// Each route's template and access declaration.
    pub fn declared(&self) -> &[(&'static str, RouteAccess)] {
        &self.declared
    }

    /// The router and the declarations of its routes.
    pub fn into_parts(self) -> (Router<Arc<App>>, Vec<(&'static str, RouteAccess)>) {
        (self.router, self.declared)
    }

    pub fn merge(mut self, other: Routes) -> Self {
        self.router = self.router.merge(other.router);
        self.declared.extend(other.declared);
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
        .route("/packages.json", Scope::Metadata, get(composer::root))
        .route("/p2/{vendor}/{file}", Scope::Metadata, get(composer::p2))
        // Composer 1's metadata, which Packeton documents for reading a package.
        .route("/p/{vendor}/{file}", Scope::Metadata, get(composer::v1))
        .route(
            "/zipball/{vendor}/{package}/{file}",
            Scope::Metadata,
            get(composer::zipball),
        )
        // The archive URL of a repository that includes mirrors (`include_in_root`):
        // private archives and mirrored ones alike.
        .route(
            "/zipball/{vendor}/{package}/{version}/{file}",
            Scope::Metadata,
            get(composer::zipball),
        )
        .route(
            "/downloads/",
            Scope::Metadata,
            post(composer::downloads).layer(small_body()),
        )
        // Composer 1's `notify`: one install, a form field.
        .route(
            "/downloads/{vendor}/{package}",
            Scope::Metadata,
            post(composer::download).layer(small_body()),
        )
        .route("/packages/list.json", Scope::Metadata, get(listing::list))
        .route(
            "/metadata/changes.json",
            Scope::Metadata,
            get(listing::changes_json),
        )
        .route("/search.json", Scope::Metadata, get(listing::search_json))
        // A sub-repository's Composer repository: the same endpoints under its slug,
        // each narrowing the caller's view to its packages (`Reader`) and giving URLs
        // under the slug (`ClientBase`). Slugs never take a first segment of another
        // route (`access::subrepos::RESERVED_SEGMENTS`).
        .route(
            "/{slug}/packages.json",
            Scope::Metadata,
            get(composer::root),
        )
        .route(
            "/{slug}/p2/{vendor}/{file}",
            Scope::Metadata,
            get(composer::p2),
        )
        .route(
            "/{slug}/p/{vendor}/{file}",
            Scope::Metadata,
            get(composer::v1),
        )
        .route(
            "/{slug}/zipball/{vendor}/{package}/{file}",
            Scope::Metadata,
            get(composer::zipball),
        )
        .route(
            "/{slug}/zipball/{vendor}/{package}/{version}/{file}",
            Scope::Metadata,
            get(composer::zipball),
        )
        .route(
            "/{slug}/downloads/",
            Scope::Metadata,
            post(composer::downloads).layer(small_body()),
        )
        .route(
            "/{slug}/packages/list.json",
            Scope::Metadata,
            get(listing::list),
        )
        .route("/{slug}/list.json", Scope::Metadata, get(listing::list))
        .route(
            "/{slug}/search.json",
            Scope::Metadata,
            get(listing::search_json),
        )
        .route(
            "/{slug}/api/security-advisories/",
            Scope::Metadata,
            get(advisories::private)
                .post(advisories::private)
                .layer(small_body()),
        )
        .route(
            "/packages/{vendor}/{package}/stats.json",
            Scope::Metadata,
            get(listing::stats_json),
        )
        .route(
            "/packages/{vendor}/{package}/stats/all.json",
            Scope::Metadata,
            get(listing::stats_series),
        )
        // Packeton's changelog, at its web path and under the API; a package's own
        // data, as `/api/packages/{vendor}/{package}` is.
        .route(
            "/packages/{vendor}/{package}/changelog",
            Scope::PackagesRead,
            get(api::changelog),
        )
        .route(
            "/api/packages/{vendor}/{package}/changelog",
            Scope::PackagesRead,
            get(api::changelog),
        )
        .route(
            "/mirror/{alias}/packages.json",
            Scope::MirrorRead,
            get(mirror::root),
        )
        .route(
            "/mirror/{alias}/downloads/",
            Scope::MirrorRead,
            post(mirror::downloads).layer(small_body()),
        )
        .route(
            "/mirror/{alias}/p2/{vendor}/{file}",
            Scope::MirrorRead,
            get(mirror::p2),
        )
        .route(
            "/mirror/{alias}/zipball/{vendor}/{package}/{version}/{file}",
            Scope::MirrorRead,
            get(mirror::zipball),
        )
        .route(
            "/api/packages/upload/{vendor}/{package}/{version}",
            Scope::PackagesAll,
            put(api::upload),
        )
        // Packeton's push route (the composer-push plugin): the archive's own limit
        // (PACKYARD_MAX_UPLOAD) applies to a multipart body too, not axum's default.
        .route(
            "/packages/upload/{vendor}/{package}/{version}",
            Scope::PackagesAll,
            put(api::push)
                .post(api::push)
                .layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route(
            "/api/create-package",
            Scope::PackagesAll,
            post(api::create_package),
        )
        .route(
            "/api/update-package",
            Scope::Webhooks,
            hooks::route(Provider::Generic),
        )
        // Packeton's hook for one named package, called with `?token=` by CI jobs.
        .route(
            "/api/update-package/{vendor}/{package}",
            Scope::Webhooks,
            get(hooks::update_named).post(hooks::update_named),
        )
        .route(
            "/api/github",
            Scope::Webhooks,
            hooks::route(Provider::GitHub),
        )
        .route(
            "/api/gitlab",
            Scope::Webhooks,
            hooks::route(Provider::GitLab),
        )
        .route("/api/gitea", Scope::Webhooks, hooks::route(Provider::Gitea))
        .route(
            "/api/bitbucket",
            Scope::Webhooks,
            hooks::route(Provider::Bitbucket),
        )
        .route("/api/jobs/{id}", Scope::PackagesRead, get(api::job))
        // Packeton's path of the same.
        .route("/jobs/{id}", Scope::PackagesRead, get(api::job))
        .route(
            "/api/mirrors/{alias}/approve",
            Scope::MirrorAll,
            post(api::approve_mirrored),
        )
        .route("/api/healthz", Scope::Metadata, get(probes::api_healthz))
        .route("/healthz", Scope::Metadata, get(probes::healthz))
        .route("/readyz", Scope::Metadata, get(probes::readyz))
        .route("/metrics", Scope::Users, get(probes::metrics))
        .route(
            "/api/security-advisories/",
            Scope::Metadata,
            get(advisories::private)
                .post(advisories::private)
                .layer(small_body()),
        )
        .route(
            "/mirror/{alias}/api/security-advisories/",
            Scope::MirrorRead,
            get(advisories::mirrored)
                .post(advisories::mirrored)
                .layer(small_body()),
        )
        .route(
            "/api/advisories",
            Scope::PackagesAll,
            get(advisories::list).post(advisories::create),
        )
        .route(
            "/api/advisories/{id}",
            Scope::PackagesAll,
            delete(advisories::remove),
        )
        .route(
            "/api/blocks",
            Scope::PackagesAll,
            get(blocks::list).post(blocks::create),
        )
        .route(
            "/api/blocks/{id}",
            Scope::PackagesAll,
            delete(blocks::remove),
        )
        .route("/api/audit", Scope::Users, get(audit::list))
        .route("/api/audit/downloads", Scope::Users, get(audit::downloads))
        .route(
            "/api/webhooks",
            Scope::Webhooks,
            get(webhooks::list).post(webhooks::create),
        )
        .route(
            "/api/webhooks/{name}",
            Scope::Webhooks,
            delete(webhooks::remove),
        )
        .route(
            "/api/webhooks/{name}/deliveries",
            Scope::Webhooks,
            get(webhooks::deliveries),
        )
        .route(
            "/api/webhooks/deliveries/{id}/redeliver",
            Scope::Webhooks,
            post(webhooks::redeliver),
        )
        .route(
            "/api/users",
            Scope::Users,
            get(admin::list_users).post(admin::create_user),
        )
        .route(
            "/api/user/{id}",
            Scope::Users,
            get(admin::get_user)
                .put(admin::update_user)
                .delete(admin::delete_user),
        )
        .route(
            "/api/groups",
            Scope::Groups,
            get(admin::list_groups).post(admin::create_group),
        )
        // Users' scope: a sub-repository can make every package public, as a user
        // with full access can read it.
        .route(
            "/api/subrepos",
            Scope::Users,
            get(admin::list_sub_repositories).post(admin::create_sub_repository),
        )
        .route(
            "/api/subrepo/{slug}",
            Scope::Users,
            get(admin::get_sub_repository)
                .put(admin::update_sub_repository)
                .delete(admin::delete_sub_repository),
        )
        .route(
            "/api/group/{id}",
            Scope::Groups,
            get(admin::get_group)
                .put(admin::update_group)
                .delete(admin::delete_group),
        )
        .route(
            "/api/tokens",
            Scope::Users,
            get(admin::list_tokens).post(admin::create_token),
        )
        .route(
            "/api/tokens/{name}",
            Scope::Users,
            delete(admin::revoke_token),
        )
        .route(
            "/api/packages",
            Scope::PackagesRead,
            get(admin::list_packages),
        )
        .route(
            "/api/packages/{vendor}/{package}",
            Scope::PackagesRead,
            get(admin::get_package),
        )
}

/// What `PACKYARD_METRICS_LISTEN` serves: `/metrics` without credentials, and the
/// probes, for scrapers and kubelets inside the cluster. Nothing else is reachable there.
pub fn metrics_routes() -> Routes {
    Routes::new()
        .route("/metrics", Scope::Users, get(probes::open_metrics))
        .route("/healthz", Scope::Metadata, get(probes::healthz))
        .route("/readyz", Scope::Metadata, get(probes::readyz))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The prefix table routes' scopes were once derived from, kept as the oracle: a
    /// route's declared scope is what the table gave its path, so moving the
    /// declarations to the routes changed no token's reach.
    fn scope_by_prefix(path: &str) -> Scope {
        const HOOKS: [&str; 5] = [
            "/api/update-package",
            "/api/github",
            "/api/gitlab",
            "/api/gitea",
            "/api/bitbucket",
        ];
        // Routes added since, with the scope of their kin: Packeton's named update hook
        // as the other hooks, its job path as ours, and the changelog as the package API.
        if path.starts_with("/api/update-package/") {
            return Scope::Webhooks;
        }
        if path.starts_with("/jobs/") || path.ends_with("/changelog") {
            return Scope::PackagesRead;
        }
        if path.starts_with("/mirror/") {
            Scope::MirrorRead
        } else if path.starts_with("/api/mirrors/") {
            Scope::MirrorAll
        } else if path.starts_with("/api/packages/upload/")
            || path.starts_with("/packages/upload/")
            || path == "/api/create-package"
            || path.starts_with("/api/advisories")
            || path.starts_with("/api/blocks")
        {
            Scope::PackagesAll
        } else if HOOKS.contains(&path) || path.starts_with("/api/webhooks") {
            Scope::Webhooks
        } else if path.starts_with("/api/jobs/") || path.starts_with("/api/packages") {
            Scope::PackagesRead
        } else if path.starts_with("/api/users")
            || path.starts_with("/api/user/")
            || path.starts_with("/api/subrepo")
            || path.starts_with("/api/tokens")
            || path.starts_with("/api/audit")
            || path == "/metrics"
        {
            Scope::Users
        } else if path.starts_with("/api/groups") || path.starts_with("/api/group/") {
            Scope::Groups
        } else {
            Scope::Metadata
        }
    }

    #[test]
    fn every_api_route_declares_the_scope_its_path_always_had() {
        let routes = routes();
        assert!(routes.declared().len() > 40, "{:?}", routes.declared());
        for (template, access) in routes.declared() {
            assert_eq!(
                *access,
                RouteAccess::Token(scope_by_prefix(template)),
                "{template}"
            );
        }
    }

    #[test]
    fn every_web_route_is_a_page_that_reads_no_token() {
        let pages = crate::web::routes();
        assert!(pages.declared().len() > 20);
        for (template, access) in pages.declared() {
            assert_eq!(*access, RouteAccess::Page, "{template}");
        }
    }
}
