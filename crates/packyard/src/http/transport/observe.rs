//! What every request leaves behind: the request metrics; and, while request lines are
//! logged (`info` for `packyard::http`, the default), a request id (the client's
//! `X-Request-Id` when it is a plain token of at most 64 characters, else a new one),
//! sent back in the response and carried by every log line written while the request
//! runs, and one line with the method, route template, status and duration. The route
//! is the template (`/p2/{vendor}/{file}`), never the path or query, which may carry
//! `?token=`.
//!
//! [`ObservedRouter`] wraps the whole router once rather than each route
//! (`Router::layer`): a per-route layer puts a second boxed service around every
//! handler, which cost the `/p2/` hot path about 5 % of its requests per second. The
//! route template comes from [`RouteTemplates`], which [`crate::http::Routes`] fills with the
//! same templates the router is built from.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Instant;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::response::Response;

use futures_util::future::Either;

use super::origin::{is_cross_site, refuse_cross_site};
use crate::http::RouteAccess;
use crate::http::error::HtmlErrorPage;
use crate::http::extractors::paths::ScopedByHost;
use crate::logging::{RequestId, in_request};

static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The route templates of a router with their access declarations, to name the
/// route a path is served by and say who may call it.
#[derive(Debug, Default)]
pub struct RouteTemplates(matchit::Router<(&'static str, RouteAccess)>);

impl RouteTemplates {
    /// Adds `template` (axum's syntax, which is matchit's). Templates the router takes
    /// are valid here too; a clash would have made the router panic first.
    pub fn add(&mut self, template: &'static str, access: RouteAccess) {
        self.0
            .insert(template, (template, access))
            .unwrap_or_else(|error| panic!("route {template:?}: {error}"));
    }

    /// The template `path` matches (or `unmatched`) and its declaration.
    fn of(&self, path: &str) -> (&'static str, Option<RouteAccess>) {
        self.0.at(path).map_or(("unmatched", None), |found| {
            (found.value.0, Some(found.value.1))
        })
    }
}

/// The application's router with the metrics and request logs around it (see the
/// module's comment).
#[derive(Clone)]
pub struct ObservedRouter {
    router: Router,
    templates: Arc<RouteTemplates>,
    /// `PACKYARD_PUBLIC_URL`: an `Origin` naming it is ours, and https there means
    /// every answer carries `Strict-Transport-Security`.
    public_url: Option<Arc<str>>,
    /// How a refused cross-site write looks to a browser.
    error_page: HtmlErrorPage,
    /// The sub-repository (slug) answering for a `Host`, if any: its requests are
    /// served by the `/{slug}/…` routes, with URLs at the host's root.
    host_scope: Option<HostScope>,
}

/// Finds the sub-repository slug a `Host` header names.
pub type HostScope = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

impl ObservedRouter {
    pub fn new(
        router: Router,
        templates: RouteTemplates,
        public_url: Option<&str>,
        error_page: HtmlErrorPage,
    ) -> Self {
        ObservedRouter {
            router,
            templates: Arc::new(templates),
            public_url: public_url.map(Arc::from),
            error_page,
            host_scope: None,
        }
    }

    /// Requests to a sub-repository's host names are answered as that sub-repository.
    #[must_use]
    pub fn with_host_scope(mut self, scope: HostScope) -> Self {
        self.host_scope = Some(scope);
        self
    }

    /// When `request`'s `Host` belongs to a sub-repository and its path is one of the
    /// sub-repository's routes, serves it from there: `/packages.json` at
    /// `client-a.example` is `/client-a/packages.json`, marked [`ScopedByHost`] so that
    /// the URLs it gives stay at the host's root.
    fn scope_by_host(&self, request: &mut Request) {
        let Some(scope) = &self.host_scope else {
            return;
        };
        let Some(slug) = request
            .headers()
            .get(header::HOST)
            .and_then(|host| host.to_str().ok())
            .and_then(|host| scope(host))
        else {
            return;
        };
        let scoped = format!("/{slug}{}", request.uri().path());
        if !self.templates.of(&scoped).0.starts_with("/{slug}/") {
            return;
        }
        let query = request
            .uri()
            .query()
            .map(|query| format!("?{query}"))
            .unwrap_or_default();
        if let Ok(uri) = format!("{scoped}{query}").parse::<axum::http::Uri>() {
            *request.uri_mut() = uri;
            request.extensions_mut().insert(ScopedByHost);
        }
    }
}

/// What the router answers, or the refusal of a cross-site write made without it.
type Answer<F> = Either<F, std::future::Ready<Result<Response, std::convert::Infallible>>>;

impl tower::Service<Request> for ObservedRouter {
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = Observed<Answer<<Router as tower::Service<Request>>::Future>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        tower::Service::<Request>::poll_ready(&mut self.router, cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let started = Instant::now();
        self.scope_by_host(&mut request);
        let (route, access) = self.templates.of(request.uri().path());
        if let Some(access) = access {
            request.extensions_mut().insert(access);
        }
        let given = request
            .headers()
            .get(&REQUEST_ID)
            .and_then(|value| RequestId::plain(value.as_bytes()));
        // With request lines off (`RUST_LOG=warn`), no id is made: the hot path pays
        // only for the metrics. A client's own id still comes back.
        let (id, method) = if tracing::enabled!(target: "packyard::http", tracing::Level::INFO) {
            (
                Some(given.unwrap_or_else(new_request_id)),
                Some(request.method().clone()),
            )
        } else {
            (given, None)
        };
        let https = is_https(self.public_url.as_deref(), request.headers());
        // Writes a page of another site made the browser send are refused here, for
        // every route at once (forms and the JSON API alike), before any handler or
        // body: see `super::origin`.
        let writes = !matches!(
            *request.method(),
            Method::GET | Method::HEAD | Method::OPTIONS
        );
        let inner = if writes && is_cross_site(self.public_url.as_deref(), request.headers()) {
            Either::Right(std::future::ready(Ok(refuse_cross_site(
                request.headers(),
                self.error_page,
            ))))
        } else {
            Either::Left(in_request(id, || self.router.call(request)))
        };
        Observed {
            inner,
            started,
            route,
            method,
            id,
            https,
        }
    }
}

pin_project_lite::pin_project! {
    /// A request's answer on its way out: when it is ready, it is counted, logged
    /// and given its `X-Request-Id`.
    pub struct Observed<F> {
        #[pin]
        inner: F,
        started: Instant,
        route: &'static str,
        method: Option<Method>,
        id: Option<RequestId>,
        https: bool,
    }
}

impl<F, E> Future for Observed<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let id = *this.id;
        // Every line logged while the request runs carries its id.
        let mut response = match std::task::ready!(in_request(id, || this.inner.poll(cx))) {
            Ok(response) => response,
            Err(error) => return Poll::Ready(Err(error)),
        };
        let route = *this.route;
        let status = response.status().as_u16();
        let seconds = this.started.elapsed().as_secs_f64();
        let body_bytes = response
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok()?.parse().ok());
        crate::metrics::metrics().request(route, status, seconds, body_bytes);
        if let Some(method) = this.method.take() {
            in_request(id, || {
                tracing::info!(target: "packyard::http", %method, route, status, duration_ms = seconds * 1000.0, "request");
            });
        }
        let headers = response.headers_mut();
        if let Some(id) = id
            && let Ok(value) = HeaderValue::from_str(id.as_str())
        {
            headers.insert(REQUEST_ID.clone(), value);
        }
        // Every answer is what its Content-Type says: a browser must not run an archive
        // or a JSON document as a page or a script.
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        if *this.https {
            headers.insert(
                header::STRICT_TRANSPORT_SECURITY,
                HeaderValue::from_static(HSTS),
            );
        }
        Poll::Ready(Ok(response))
    }
}

/// A year, for this host only: other hosts of the domain may still serve plain http.
const HSTS: &str = "max-age=31536000";

/// Whether the client reached us over https: the public URL says so, or without one,
/// the proxy in front (`X-Forwarded-Proto`).
pub fn is_https(public_url: Option<&str>, headers: &axum::http::HeaderMap) -> bool {
    public_url.map_or_else(
        || {
            headers
                .get("x-forwarded-proto")
                .is_some_and(|proto| proto.as_bytes().eq_ignore_ascii_case(b"https"))
        },
        |url| url.starts_with("https://"),
    )
}

/// A new id: this process's random prefix and a counter, unique across replicas
/// without a random draw per request.
fn new_request_id() -> RequestId {
    static PREFIX: OnceLock<String> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let prefix = PREFIX.get_or_init(|| {
        let mut bytes = [0u8; 4];
        getrandom::fill(&mut bytes).expect("the operating system's random source failed");
        hex::encode(bytes)
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    // 8 hex digits, a dash and at most 16 more: well within the 64 an id may have.
    let mut id = [0u8; 25];
    let mut text = std::io::Cursor::new(&mut id[..]);
    std::io::Write::write_fmt(&mut text, format_args!("{prefix}-{n:x}"))
        .expect("25 bytes hold the id");
    let len = usize::try_from(text.position()).expect("at most 25");
    RequestId::plain(&id[..len]).expect("hex and a dash are a plain id")
}
