//! Browser sessions: a random secret in an `HttpOnly`, `SameSite=Lax` cookie (`Secure`
//! behind https), stored in the database as its SHA-256 so that every replica knows it
//! and a stolen database holds no usable cookie. Each session carries a CSRF token that
//! every form posts back.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine as _;

use super::error::WebError;
use crate::access::View;
use crate::app::App;
use crate::auth::{constant_time_eq, hash_token};
use crate::db::{Session, User};

pub const SESSION_COOKIE: &str = "packyard_session";
/// The CSRF token of the login form, which has no session yet (double-submit cookie).
pub const LOGIN_CSRF_COOKIE: &str = "packyard_login_csrf";
/// How long a session lasts after logging in.
pub const SESSION_DAYS: i64 = 7;

/// A random URL-safe secret of 32 bytes.
pub fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the OS random number generator works");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The value of cookie `name` in the request.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
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
pub fn is_https(app: &App, headers: &HeaderMap) -> bool {
    crate::http::is_https(app.settings.public_url.as_deref(), headers)
}

/// A `Set-Cookie` value; `max_age` `None` deletes the cookie.
pub fn set_cookie(name: &str, value: &str, max_age: Option<i64>, secure: bool) -> HeaderValue {
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
}

impl Viewer {
    pub fn user(&self) -> Option<&User> {
        self.session.as_ref().map(|session| &session.user)
    }

    /// What the viewer may see: a signed-in user's view, or with `PUBLIC_ACCESS` the
    /// public packages; anyone else is sent to the login page.
    pub fn view(&self, app: &App) -> Result<Arc<View>, WebError> {
        match self.user() {
            Some(user) => Ok(app.access.view(Some(user))),
            None if app.settings.public_access => Ok(app.access.view(None)),
            None => Err(WebError::SignIn(self.path.clone())),
        }
    }

    /// The signed-in session, or a redirect to the login page.
    pub fn signed_in(&self) -> Result<&Session, WebError> {
        self.session
            .as_ref()
            .ok_or_else(|| WebError::SignIn(self.path.clone()))
    }

    /// The signed-in admin, or a 403 page.
    pub fn admin(&self) -> Result<&User, WebError> {
        let user = &self.signed_in()?.user;
        if user.is_admin {
            Ok(user)
        } else {
            Err(WebError::Forbidden("Only admins may do this.".to_owned()))
        }
    }

    /// The signed-in maintainer or admin, or a 403 page.
    pub fn maintainer(&self) -> Result<&User, WebError> {
        let user = &self.signed_in()?.user;
        if may_maintain(Some(user)) {
            Ok(user)
        } else {
            Err(WebError::Forbidden(
                "Only maintainers and admins may do this.".to_owned(),
            ))
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
        let Some(secret) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Ok(Viewer {
                session: None,
                path,
            });
        };
        let session = app
            .db
            .session(&hash_token(secret))
            .await?
            .filter(|session| !session.user.is_expired(crate::db::now_millis()));
        Ok(Viewer { session, path })
    }
}

/// Whether `user` may add and update packages.
pub fn may_maintain(user: Option<&User>) -> bool {
    user.is_some_and(|user| user.is_admin || user.is_maintainer)
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
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("xyz"));
        assert_eq!(cookie(&headers, "b"), Some("2"));
        assert_eq!(cookie(&headers, "packyard"), None);
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
