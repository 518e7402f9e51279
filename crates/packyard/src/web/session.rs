//! Browser sessions: a random secret in an `HttpOnly`, `SameSite=Lax` cookie (`Secure`
//! and `__Host-` behind https, see [`Cookies`]), stored in the database as its SHA-256
//! so that every replica knows it and a stolen database holds no usable cookie. Each
//! session carries a CSRF token that every form posts back.
//!
//! A session ends [`SESSION_IDLE_MS`] after its last use, and [`SESSION_DAYS`] after
//! the login at the latest. Its row's `expires_at` is the idle deadline, moved forward
//! when the session is used — at most once per [`TOUCH_EVERY_MS`], so that browsing
//! costs no database write per page.

use std::marker::PhantomData;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine as _;

use super::error::WebError;
use crate::access::roles::{Admins, Maintainers, Role};
use crate::access::{SubRepository, View};
use crate::app::App;
use crate::auth::{constant_time_eq, hash_token};
use crate::db::{ROOT_SUB_REPOSITORY, Session, User};

/// How long a session lasts after logging in, at most.
pub const SESSION_DAYS: i64 = 7;
/// How long a session lasts without being used (12 hours).
pub const SESSION_IDLE_MS: i64 = 12 * 3600 * 1000;
/// How often, at most, a session's use is written (5 minutes): it may then end up to
/// this much before its idle time is over.
pub const TOUCH_EVERY_MS: i64 = 5 * 60 * 1000;

/// The idle deadline to store for a session used at `now`, created at `created_at`, or
/// `None` when the stored one (`expires_at`) was written recently enough to keep. A
/// stored deadline beyond the idle window (a session made before sessions had one,
/// which ran for 7 days) is brought back into it.
pub fn renewed_expiry(created_at: i64, expires_at: i64, now: i64) -> Option<i64> {
    let renewed = (now + SESSION_IDLE_MS).min(created_at + SESSION_DAYS * 86_400_000);
    (renewed - expires_at >= TOUCH_EVERY_MS || expires_at > renewed).then_some(renewed)
}

/// The names and attributes of the web UI's cookies on one request's site. Behind https
/// they carry the `__Host-` prefix: browsers accept such a cookie only from this very
/// host, `Secure`, with `Path=/` and no `Domain`, so a sibling subdomain (which may set
/// cookies for the parent domain) cannot plant one — a planted login CSRF cookie would
/// let it log a victim into the attacker's account. Browsers refuse the prefix on plain
/// http, where the names stay unprefixed; on https only the prefixed names are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cookies {
    https: bool,
}

impl Cookies {
    pub fn new(app: &App, headers: &HeaderMap) -> Cookies {
        Cookies {
            https: is_https(app, headers),
        }
    }

    /// The session's secret.
    pub fn session(self) -> &'static str {
        if self.https {
            "__Host-packyard_session"
        } else {
            "packyard_session"
        }
    }

    /// The CSRF token of the login form, which has no session yet (double-submit).
    pub fn login_csrf(self) -> &'static str {
        if self.https {
            "__Host-packyard_login_csrf"
        } else {
            "packyard_login_csrf"
        }
    }

    /// The browser's binding to an identity provider sign-in it started.
    pub fn sso(self) -> &'static str {
        if self.https {
            "__Host-packyard_sso"
        } else {
            "packyard_sso"
        }
    }

    /// The sign-in binding the request carries.
    pub fn sso_of(self, headers: &HeaderMap) -> Option<&str> {
        cookie(headers, self.sso())
    }

    /// The session secret the request carries.
    pub fn session_of(self, headers: &HeaderMap) -> Option<&str> {
        cookie(headers, self.session())
    }

    /// The login CSRF token the request carries.
    pub fn login_csrf_of(self, headers: &HeaderMap) -> Option<&str> {
        cookie(headers, self.login_csrf())
    }

    /// A `Set-Cookie` value; `max_age` `None` deletes the cookie.
    pub fn set(self, name: &str, value: &str, max_age: Option<i64>) -> HeaderValue {
        set_cookie(name, value, max_age, self.https)
    }
}

/// A random URL-safe secret of 32 bytes.
pub fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the OS random number generator works");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The value of cookie `name` in the request.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .find_map(|pair| {
            let (key, value) = pair.trim().split_once('=')?;
            (key == name).then_some(value)
        })
}

/// Whether the client reached us over https (so cookies get `Secure`).
fn is_https(app: &App, headers: &HeaderMap) -> bool {
    crate::http::is_https(app.settings.public_url.as_deref(), headers)
}

/// A `Set-Cookie` value; `max_age` `None` deletes the cookie. `Path=/` and no `Domain`,
/// as the `__Host-` prefix requires.
fn set_cookie(name: &str, value: &str, max_age: Option<i64>, secure: bool) -> HeaderValue {
    let age = max_age.unwrap_or(0);
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::try_from(format!(
        "{name}={value}; Path=/; Max-Age={age}; HttpOnly; SameSite=Lax{secure}"
    ))
    .expect("cookie values are URL-safe base64")
}

/// Who is looking: the signed-in user with its session, or nobody.
pub struct Viewer {
    pub session: Option<Session>,
    /// Where the viewer is (for `?next=` after logging in).
    pub path: String,
    /// The repository the page's `?subrepo=` asks for (a slug, or `root`); `None`
    /// when the page names none. Read here, once, for every page that browses
    /// packages (see [`Viewer::browse`]).
    pub chosen: Option<String>,
}

/// A Composer repository the web UI shows: the root or a sub-repository.
#[derive(Clone)]
pub enum Repository {
    Root,
    Sub(Arc<SubRepository>),
}

impl Repository {
    /// What `?subrepo=` and sub-repository limits call it: its slug, or `root`.
    pub fn slug(&self) -> &str {
        match self {
            Repository::Root => ROOT_SUB_REPOSITORY,
            Repository::Sub(sub) => &sub.row.slug,
        }
    }

    /// Its name, for people.
    pub fn name(&self) -> &str {
        match self {
            Repository::Root => "All packages (root repository)",
            Repository::Sub(sub) => &sub.row.name,
        }
    }

    /// The query string that keeps a link within this repository: empty for the
    /// root, which a page without `?subrepo=` shows to whoever may use it.
    pub fn query(&self) -> String {
        match self {
            Repository::Root => String::new(),
            Repository::Sub(sub) => format!("?subrepo={}", sub.row.slug),
        }
    }
}

/// What a page that browses packages shows: one repository, through the viewer's view
/// of it, and the others the viewer may switch to.
pub struct Browsing {
    pub view: Arc<View>,
    pub repository: Repository,
    /// Every repository the viewer may use ([`Viewer::repositories`]).
    pub repositories: Vec<Repository>,
}

impl Viewer {
    pub fn user(&self) -> Option<&User> {
        self.session.as_ref().map(|session| &session.user)
    }

    /// The repositories the viewer may use, as the profile's set-up and the pages'
    /// selector list them: the root first, when its limit (or for an anonymous viewer,
    /// `PUBLIC_ACCESS`) lets it; then each sub-repository it may read through, by slug.
    pub fn repositories(&self, app: &App) -> Vec<Repository> {
        let user = self.user();
        let root = user.map_or(app.settings.public_access, |user| {
            user.may_use_sub_repository(None)
        });
        root.then_some(Repository::Root)
            .into_iter()
            .chain(
                app.access
                    .sub_repositories_for(user)
                    .into_iter()
                    .map(Repository::Sub),
            )
            .collect()
    }

    /// The repository the page shows, with what the viewer may see there: the one
    /// `?subrepo=` names, else the root, else (for a user limited away from the root)
    /// the first it may use, so that its first page is not an empty list. A slug the
    /// viewer may not use is the 404 page, as an unknown one is, once this replica has
    /// caught up with rules another may have changed. Anonymous viewers browse only
    /// with `PUBLIC_ACCESS`; anyone else is sent to the login page.
    pub async fn browse(&self, app: &App) -> Result<Browsing, WebError> {
        if self.user().is_none() && !app.settings.public_access {
            return Err(WebError::SignIn(self.path.clone()));
        }
        let seen = app.access.stamp();
        if let Some(browsing) = self.browsing(app) {
            return Ok(browsing);
        }
        if app.catch_up_access(seen).await?
            && let Some(browsing) = self.browsing(app)
        {
            return Ok(browsing);
        }
        Err(WebError::NotFound)
    }

    /// [`Viewer::browse`] by the rules this process holds; `None` for a repository the
    /// viewer may not use.
    fn browsing(&self, app: &App) -> Option<Browsing> {
        let repositories = self.repositories(app);
        let repository = match self.chosen.as_deref() {
            None => repositories.first().cloned().unwrap_or(Repository::Root),
            Some(slug) => repositories.iter().find(|r| r.slug() == slug)?.clone(),
        };
        let view = match &repository {
            Repository::Root => app.access.view(self.user()),
            Repository::Sub(sub) => app.access.view_in(self.user(), sub)?,
        };
        Some(Browsing {
            view,
            repository,
            repositories,
        })
    }

    /// The signed-in session, or a redirect to the login page.
    pub fn signed_in(&self) -> Result<&Session, WebError> {
        self.session
            .as_ref()
            .ok_or_else(|| WebError::SignIn(self.path.clone()))
    }

    /// The signed-in user with role `R`, or a 403 page.
    pub fn with_role<R: Role>(&self) -> Result<&User, WebError> {
        let user = &self.signed_in()?.user;
        if R::allows(user) {
            Ok(user)
        } else {
            Err(WebError::Forbidden(R::REFUSAL.to_owned()))
        }
    }

    /// Checks the CSRF token a form posted.
    pub fn check_csrf(&self, posted: &str) -> Result<&Session, WebError> {
        let session = self.signed_in()?;
        if constant_time_eq(session.csrf_token.as_bytes(), posted.as_bytes()) {
            Ok(session)
        } else {
            Err(WebError::Csrf)
        }
    }
}

impl FromRequestParts<Arc<App>> for Viewer {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, WebError> {
        let path = parts
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned();
        let chosen = parts
            .uri
            .query()
            .and_then(|query| crate::http::extractors::access::query_param(query, "subrepo"))
            .map(|slug| slug.trim().to_owned())
            .filter(|slug| !slug.is_empty());
        let cookies = Cookies::new(app, &parts.headers);
        let Some(secret) = cookies.session_of(&parts.headers) else {
            return Ok(Viewer {
                session: None,
                path,
                chosen,
            });
        };
        let secret_hash = hash_token(secret);
        let now = crate::db::now_millis();
        let Some(mut session) = app
            .db
            .session(&secret_hash)
            .await?
            .filter(|session| !session.user.is_expired(now))
        else {
            return Ok(Viewer {
                session: None,
                path,
                chosen,
            });
        };
        crate::db::audit::AuditActor::identify(&session.user.name, "session".to_owned());
        if let Some(expires_at) = renewed_expiry(session.created_at, session.expires_at, now) {
            app.db.touch_session(&secret_hash, expires_at).await?;
            session.expires_at = expires_at;
        }
        Ok(Viewer {
            session: Some(session),
            path,
            chosen,
        })
    }
}

/// A signed-in viewer with role `R`, for pages only they may see: an anonymous viewer
/// is sent to the login page, anyone else without the role gets a 403 page. Forms take
/// `web::form::PostedForm<R>`, which checks the same before reading the body.
pub struct SignedIn<R: Role> {
    pub viewer: Viewer,
    role: PhantomData<fn() -> R>,
}

/// A page for admins.
pub type WebAdmin = SignedIn<Admins>;
/// A page for maintainers and admins.
pub type WebMaintainer = SignedIn<Maintainers>;

impl<R: Role> FromRequestParts<Arc<App>> for SignedIn<R> {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, WebError> {
        let viewer = Viewer::from_request_parts(parts, app).await?;
        viewer.with_role::<R>()?;
        Ok(SignedIn {
            viewer,
            role: PhantomData,
        })
    }
}

/// A redirect after a form post (303: the browser follows it with a GET).
pub fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// `next` when it is a path on this site, else `/`: a login link must not send the
/// user to another site.
pub fn local_path(next: Option<&str>) -> &str {
    next.filter(|next| {
        next.starts_with('/')
            && !next.starts_with("//")
            && !next.contains('\\')
            && !next.chars().any(char::is_control)
    })
    .unwrap_or("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_by_name() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; packyard_session=xyz"),
        );
        headers.append(header::COOKIE, HeaderValue::from_static("b=2"));
        assert_eq!(cookie(&headers, "packyard_session"), Some("xyz"));
        assert_eq!(cookie(&headers, "b"), Some("2"));
        assert_eq!(cookie(&headers, "packyard"), None);
    }

    #[test]
    fn a_session_is_renewed_at_most_every_few_minutes_and_never_past_its_days() {
        let created = 1_000_000_000;
        let login = created + SESSION_IDLE_MS;
        // Just used: not written again.
        assert_eq!(renewed_expiry(created, login, created + 60_000), None);
        // Used after the touch interval: the idle deadline moves.
        let later = created + TOUCH_EVERY_MS;
        assert_eq!(
            renewed_expiry(created, login, later),
            Some(later + SESSION_IDLE_MS)
        );
        // Never past SESSION_DAYS after the login.
        let end = created + SESSION_DAYS * 86_400_000;
        let near_end = end - SESSION_IDLE_MS / 2;
        assert_eq!(
            renewed_expiry(created, near_end - SESSION_IDLE_MS / 2, near_end),
            Some(end)
        );
        assert_eq!(renewed_expiry(created, end, end - 1000), None);
        // A session from before idle deadlines: its first use brings its end in.
        let used = created + 3_600_000;
        assert_eq!(
            renewed_expiry(created, end, used),
            Some(used + SESSION_IDLE_MS)
        );
    }

    #[test]
    fn behind_https_cookies_carry_the_host_prefix() {
        let https = Cookies { https: true };
        let http = Cookies { https: false };
        assert_eq!(https.session(), "__Host-packyard_session");
        assert_eq!(https.login_csrf(), "__Host-packyard_login_csrf");
        assert_eq!(http.session(), "packyard_session");
        let set = https.set(https.session(), "v", Some(60));
        let set = set.to_str().unwrap();
        assert!(
            set.contains("; Secure") && set.contains("; Path=/"),
            "{set}"
        );
        assert!(!set.contains("Domain"), "{set}");
        assert!(
            !http
                .set(http.session(), "v", None)
                .to_str()
                .unwrap()
                .contains("Secure")
        );
    }

    #[test]
    fn only_local_paths_are_followed() {
        assert_eq!(local_path(Some("/packages/acme/lib")), "/packages/acme/lib");
        for outside in [
            "//evil.example",
            "https://evil.example",
            "/\\evil",
            "evil",
            "/a\nb",
        ] {
            assert_eq!(local_path(Some(outside)), "/", "{outside:?}");
        }
        assert_eq!(local_path(None), "/");
    }
}
