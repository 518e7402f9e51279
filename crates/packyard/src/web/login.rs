//! Logging in and out. Failed logins are counted per user name and per address in the
//! database (so every replica counts them): past the limits within the window, logins
//! are refused with a message saying when to try again, before any password is checked.

use std::net::SocketAddr;
use std::sync::Arc;

use askama::Template;
use axum::extract::{ConnectInfo, FromRequest, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::error::WebError;
use super::form::{SignedInForm, read_fields};
use super::pages::{Chrome, render};
use super::password;
use super::session::{
    LOGIN_CSRF_COOKIE, SESSION_COOKIE, SESSION_DAYS, Viewer, cookie, is_https, local_path,
    random_secret, see_other, set_cookie,
};
use crate::app::App;
use crate::auth::{constant_time_eq, hash_token};
use crate::db::now_millis;

/// The window failed logins are counted in.
const FAILURE_WINDOW_MS: i64 = 15 * 60 * 1000;
/// Failed logins for one user name within the window before its logins are refused.
const MAX_FAILURES_PER_USER: i64 = 5;
/// Failed logins from one address within the window (several users behind one NAT).
const MAX_FAILURES_PER_ADDRESS: i64 = 20;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    chrome: Chrome,
    csrf: &'a str,
    next: &'a str,
    username: &'a str,
    message: &'a str,
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// `GET /login`.
pub async fn form(
    State(app): State<Arc<App>>,
    viewer: Viewer,
    headers: HeaderMap,
    Query(query): Query<NextQuery>,
) -> Result<Response, WebError> {
    let next = local_path(query.next.as_deref());
    if viewer.session.is_some() {
        return Ok(see_other(next));
    }
    login_page(&app, &headers, StatusCode::OK, next, "", "")
}

/// The login form with a fresh CSRF cookie.
fn login_page(
    app: &App,
    headers: &HeaderMap,
    status: StatusCode,
    next: &str,
    username: &str,
    message: &str,
) -> Result<Response, WebError> {
    let csrf = random_secret();
    let mut response = render(&LoginPage {
        chrome: Chrome::anonymous("Log in"),
        csrf: &csrf,
        next,
        username,
        message,
    })?;
    *response.status_mut() = status;
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(LOGIN_CSRF_COOKIE, &csrf, Some(3600), is_https(app, headers)),
    );
    Ok(response)
}

/// A posted login form. Nobody is signed in yet, so what is checked before the body is
/// read is that the request is not another site's ([`crate::http::is_cross_site`]) and
/// that the browser holds the login form's CSRF cookie (it fetched the form from us);
/// then at most [`super::form::FORM_BYTES`] are read and the posted token must match
/// the cookie.
pub struct LoginForm {
    username: String,
    password: String,
    next: Option<String>,
}

impl FromRequest<Arc<App>> for LoginForm {
    type Rejection = WebError;

    async fn from_request(request: Request, app: &Arc<App>) -> Result<Self, WebError> {
        let (parts, body) = request.into_parts();
        if crate::http::is_cross_site(app.settings.public_url.as_deref(), &parts.headers) {
            return Err(WebError::CrossSite);
        }
        let expected = cookie(&parts.headers, LOGIN_CSRF_COOKIE).unwrap_or_default();
        if expected.is_empty() {
            return Err(WebError::Csrf);
        }
        let fields = read_fields(&parts.headers, body).await?;
        if !constant_time_eq(expected.as_bytes(), fields.csrf().as_bytes()) {
            return Err(WebError::Csrf);
        }
        Ok(LoginForm {
            username: fields.get("username").to_owned(),
            password: fields.untrimmed("password").to_owned(),
            next: Some(fields.untrimmed("next").to_owned()).filter(|next| !next.is_empty()),
        })
    }
}

/// `POST /login`.
pub async fn submit(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    form: LoginForm,
) -> Result<Response, WebError> {
    let next = local_path(form.next.as_deref());
    let username = form.username.as_str();
    let refuse =
        |status, message: &str| login_page(&app, &headers, status, next, username, message);
    if username.is_empty() || form.password.is_empty() {
        return refuse(
            StatusCode::BAD_REQUEST,
            "Enter your user name and password.",
        );
    }
    if username.len() > 64 || form.password.len() > password::MAX_LENGTH {
        return refuse(StatusCode::UNAUTHORIZED, "Wrong user name or password.");
    }
    let user_subject = format!("user:{username}");
    let address = crate::http::client_address(&app, peer.ip(), &headers);
    let address_subject = format!("address:{address}");
    // Counting, checking and recording happen inside one hashing slot, so parallel
    // guesses cannot all pass the count before any failure is recorded (at most one
    // per slot can).
    let Ok(_slot) = password::slot().await else {
        return refuse(StatusCode::SERVICE_UNAVAILABLE, &password::Busy.to_string());
    };
    let since = now_millis() - FAILURE_WINDOW_MS;
    for (subject, limit, whom) in [
        (&user_subject, MAX_FAILURES_PER_USER, "this user"),
        (&address_subject, MAX_FAILURES_PER_ADDRESS, "your address"),
    ] {
        let (failures, oldest) = app.db.login_failures(subject, since).await?;
        if failures >= limit {
            let wait_ms = oldest.unwrap_or(since) + FAILURE_WINDOW_MS - now_millis();
            let minutes = (wait_ms.max(0) / 60_000) + 1;
            return refuse(
                StatusCode::TOO_MANY_REQUESTS,
                &format!(
                    "Too many failed logins for {whom}: try again in {minutes} minute{}.",
                    if minutes == 1 { "" } else { "s" }
                ),
            );
        }
    }
    let found = app.db.user_with_password(username).await?;
    let stored = found
        .as_ref()
        .and_then(|(_, hash)| hash.clone())
        .unwrap_or_else(|| password::decoy().to_owned());
    let presented = form.password.clone();
    // argon2 takes tens of milliseconds of CPU: off the HTTP thread.
    let matches = tokio::task::spawn_blocking(move || password::verify(&presented, &stored))
        .await
        .map_err(|error| WebError::Internal(format!("verifying a password: {error}")))?;
    let user = match found {
        Some((user, Some(_))) if matches => user,
        _ => {
            app.db
                .record_login_failure(&[&user_subject, &address_subject], since)
                .await?;
            return refuse(StatusCode::UNAUTHORIZED, "Wrong user name or password.");
        }
    };
    if user.is_expired(now_millis()) {
        return refuse(StatusCode::FORBIDDEN, "This account has expired.");
    }
    app.db.forget_login_failures(&user_subject).await?;
    let secret = random_secret();
    let max_age = SESSION_DAYS * 24 * 3600;
    app.db
        .create_session(
            &hash_token(&secret),
            user.id,
            &random_secret(),
            now_millis() + max_age * 1000,
        )
        .await?;
    let secure = is_https(&app, &headers);
    let mut response = see_other(next);
    let cookies = response.headers_mut();
    cookies.append(
        header::SET_COOKIE,
        set_cookie(SESSION_COOKIE, &secret, Some(max_age), secure),
    );
    cookies.append(
        header::SET_COOKIE,
        set_cookie(LOGIN_CSRF_COOKIE, "", None, secure),
    );
    tracing::info!(user = %user.name, %address, "logged in");
    Ok(response)
}

/// `POST /logout`: ends the session on every replica.
pub async fn logout(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    _: SignedInForm,
) -> Result<Response, WebError> {
    if let Some(secret) = cookie(&headers, SESSION_COOKIE) {
        app.db.end_session(&hash_token(secret)).await?;
    }
    let mut response = see_other("/login");
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(SESSION_COOKIE, "", None, is_https(&app, &headers)),
    );
    Ok(response.into_response())
}
