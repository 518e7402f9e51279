//! Logging in and out. Failed logins are counted in the database (so every replica
//! counts them) per address, per user name, and per user name and address together,
//! where an address is an IPv4 address or an IPv6 /64 ([`address_group`]: one host may
//! use any address of its /64). Within the window:
//!
//! - an address past [`MAX_FAILURES_PER_ADDRESS`] is refused, whatever the user;
//! - a user name past [`MAX_FAILURES_PER_USER`] is refused from the addresses that
//!   failed for it, and slowed down ([`PAST_LIMIT_PAUSE`]) from the others: someone
//!   who guesses a user's password cannot lock its owner out, who logs in from an
//!   address that has not been failing. Guesses at one user are then bounded by the
//!   addresses the guesser has: one per address (an IPv6 /64) per window.
//!
//! Refusals say when to try again and come before any password is checked.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use askama::Template;
use axum::extract::{ConnectInfo, FromRequest, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::error::{WebError, sentence};
use super::form::{SignedInForm, read_fields};
use super::pages::{Chrome, render};
use super::session::{
    Cookies, SESSION_DAYS, SESSION_IDLE_MS, Viewer, local_path, random_secret, see_other,
};
use crate::app::App;
use crate::auth::password;
use crate::auth::{constant_time_eq, hash_token};
use crate::db::audit::{AuditActor, Change};
use crate::db::now_millis;
use crate::sso::config::{LdapSettings, Provider, ProviderKind};
use crate::sso::ldap::DirectoryError;
use crate::sso::{Identity, SsoError};

/// The window failed logins are counted in.
const FAILURE_WINDOW_MS: i64 = 15 * 60 * 1000;
/// Failed logins for one user name within the window before its logins are refused from
/// the addresses that failed, and slowed down from the others.
const MAX_FAILURES_PER_USER: i64 = 5;
/// Failed logins from one address within the window (several users behind one NAT).
const MAX_FAILURES_PER_ADDRESS: i64 = 20;
/// How long a login for a user past its limit waits (from an address that has not
/// failed for it) before its password is checked.
const PAST_LIMIT_PAUSE: std::time::Duration = std::time::Duration::from_secs(1);

/// The addresses counted as one client: an IPv4 address, or the /64 of an IPv6 one (the
/// smallest network a provider gives a customer, and which one host may roam). An IPv6
/// address a translator or tunnel made from an IPv4 client (SIIT, NAT64's prefix, 6to4:
/// see `outbound::embedded_ipv4`) is that IPv4 client: behind a translator every IPv4
/// client shares one /64, so counting by it would let anyone block them all.
fn address_group(address: IpAddr) -> String {
    match address.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match crate::outbound::embedded_ipv4(v6).as_slice() {
            [v4] => v4.to_string(),
            // NAT64's local-use range, where the operator chose where the IPv4 address
            // sits: the address itself, which stands for one IPv4 client.
            [_, ..] => v6.to_string(),
            [] => {
                let network = Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX));
                format!("{network}/64")
            }
        },
    }
}

/// What failed logins are counted against, for one attempt.
struct Subjects {
    user: String,
    address: String,
    /// The user name from this address.
    user_from_address: String,
}

impl Subjects {
    fn new(username: &str, address: IpAddr) -> Subjects {
        let group = address_group(address);
        Subjects {
            user: format!("user:{username}"),
            user_from_address: format!("user-from:{group} {username}"),
            address: format!("address:{group}"),
        }
    }
}

/// What the failures counted so far say about an attempt.
enum Verdict {
    Proceed,
    /// The user is past its limit; this address has not failed for it.
    SlowDown,
    /// Refused until the time given (Unix milliseconds), with whom the limit is for.
    Refuse(i64, &'static str),
}

/// The verdict on an attempt, from the failures since `since` (but for those noted for
/// the attempt `except` itself).
async fn verdict(
    app: &App,
    subjects: &Subjects,
    since: i64,
    except: Option<&str>,
) -> Result<Verdict, WebError> {
    let until = |at: Option<i64>| at.unwrap_or(since) + FAILURE_WINDOW_MS;
    let address = app
        .db
        .login_failures(&subjects.address, since, except)
        .await?;
    if address.count >= MAX_FAILURES_PER_ADDRESS {
        return Ok(Verdict::Refuse(until(address.oldest), "your address"));
    }
    let user = app.db.login_failures(&subjects.user, since, except).await?;
    if user.count < MAX_FAILURES_PER_USER {
        return Ok(Verdict::Proceed);
    }
    let pair = app
        .db
        .login_failures(&subjects.user_from_address, since, except)
        .await?;
    Ok(if pair.count > 0 {
        // Until this address's failures for the user are out of the window.
        Verdict::Refuse(until(pair.newest), "this user from your address")
    } else {
        Verdict::SlowDown
    })
}

#[derive(Template)]
#[template(path = "account/login.html")]
struct LoginPage<'a> {
    chrome: Chrome,
    csrf: &'a str,
    next: &'a str,
    username: &'a str,
    message: &'a str,
    /// Whether the password form is shown.
    password_login: bool,
    /// Directories, each with a form of its own.
    directories: Vec<ProviderButton<'a>>,
    /// Providers the browser is sent to (OpenID Connect), one button each.
    redirects: Vec<ProviderButton<'a>>,
    /// `next`, percent-encoded for the buttons' links.
    next_encoded: String,
    /// The form the message is about: a directory's alias, or empty for passwords.
    active: &'a str,
}

/// An identity provider on the login page.
struct ProviderButton<'a> {
    alias: &'a str,
    title: &'a str,
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
    /// Shows the password form when password sign-in is off (for the break-glass admin).
    password: Option<String>,
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
    let prompt = Prompt {
        show_password: query.password.is_some(),
        ..Prompt::default()
    };
    login_page(&app, &headers, StatusCode::OK, next, &prompt)
}

/// What the login page says back about an attempt.
#[derive(Default)]
struct Prompt<'a> {
    username: &'a str,
    message: &'a str,
    /// The form the message is about: a directory's alias, or empty for passwords.
    active: &'a str,
    /// Show the password form even when password sign-in is off.
    show_password: bool,
}

/// The login page with a fresh CSRF cookie.
fn login_page(
    app: &App,
    headers: &HeaderMap,
    status: StatusCode,
    next: &str,
    prompt: &Prompt<'_>,
) -> Result<Response, WebError> {
    let Prompt {
        username,
        message,
        active,
        show_password,
    } = *prompt;
    let csrf = random_secret();
    let login = &app.settings.login;
    let buttons = |ldap: bool| {
        login
            .providers
            .iter()
            .filter(|provider| matches!(provider.kind, ProviderKind::Ldap(_)) == ldap)
            .map(|provider| ProviderButton {
                alias: &provider.alias,
                title: &provider.title,
            })
            .collect()
    };
    let directories = buttons(true);
    let redirects = buttons(false);
    let mut response = render(&LoginPage {
        chrome: Chrome::anonymous("Log in"),
        csrf: &csrf,
        next,
        username,
        message,
        // The break-glass admin's form, when passwords are off: `/login?password=1`.
        password_login: login.password_login || show_password,
        directories,
        redirects,
        next_encoded: super::error::encode_component(next),
        active,
    })?;
    *response.status_mut() = status;
    let cookies = Cookies::new(app, headers);
    response.headers_mut().append(
        header::SET_COOKIE,
        cookies.set(cookies.login_csrf(), &csrf, Some(3600)),
    );
    Ok(response)
}

/// A posted login form. Nobody is signed in yet, so what is checked before the body is
/// read (another site's post never gets here: `http::observe` refuses every cross-site
/// write) is that the browser holds the login form's CSRF cookie (it fetched the form
/// from us);
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
        let cookies = Cookies::new(app, &parts.headers);
        let expected = cookies.login_csrf_of(&parts.headers).unwrap_or_default();
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

/// How a sign-in's name and password are checked.
#[derive(Clone, Copy)]
enum Check<'a> {
    /// Against the user's password here.
    Password,
    /// By a bind to a directory, whose user is then signed in through [`crate::sso`].
    Directory(&'a Provider, &'a LdapSettings),
}

impl Check<'_> {
    /// How a sign-in by this check is recorded: `password` or `ldap ALIAS`.
    fn method(&self) -> String {
        match self {
            Check::Password => "password".to_owned(),
            Check::Directory(provider, _) => format!("ldap {}", provider.alias),
        }
    }
}

/// `POST /login`: a password of packyard's own. When password sign-in is off
/// (`PACKYARD_PASSWORD_LOGIN=0`), only the break-glass admin's is checked; any other
/// name fails as a wrong password does, so the page tells nobody who that admin is.
pub async fn submit(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    form: LoginForm,
) -> Result<Response, WebError> {
    sign_in(&app, peer, &headers, form, Check::Password).await
}

/// `POST /login/{alias}`: a directory's user name and password.
pub async fn submit_to(
    State(app): State<Arc<App>>,
    Path(alias): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    form: LoginForm,
) -> Result<Response, WebError> {
    let Some((provider, ProviderKind::Ldap(directory))) = app
        .settings
        .login
        .provider(&alias)
        .map(|provider| (provider, &provider.kind))
    else {
        return Err(WebError::NotFound);
    };
    sign_in(
        &app,
        peer,
        &headers,
        form,
        Check::Directory(provider, directory),
    )
    .await
}

/// Checks a posted name and password with `check`, within the failed-login limits
/// (a directory's bind is a guess like any other), and starts a session. A refusal is
/// recorded in the audit log (`login.failed`, naming the user name tried).
async fn sign_in(
    app: &Arc<App>,
    peer: SocketAddr,
    headers: &HeaderMap,
    form: LoginForm,
    check: Check<'_>,
) -> Result<Response, WebError> {
    let method = check.method();
    // Only what the failed-login limits count is recorded: an empty or over-long field
    // is refused before it is a guess.
    let counted = !form.username.is_empty()
        && form.username.len() <= 64
        && !form.password.is_empty()
        && form.password.len() <= password::MAX_LENGTH;
    let tried = form.username.clone();
    let response = check_sign_in(app, peer, headers, form, check).await?;
    if counted {
        record_refusal(app, &tried, &method, response.status()).await?;
    }
    Ok(response)
}

/// Records a sign-in that ended in `status` as failed, with the reason the status
/// stands for: wrong credentials and refusals, which the failed-login limits bound
/// (an incomplete form or a throttled guess costs nothing and writes nothing: an
/// anonymous client must not be able to fill the log). The name tried is kept only
/// when it is a user's here: people type passwords into name fields.
async fn record_refusal(
    app: &App,
    tried: &str,
    method: &str,
    status: StatusCode,
) -> Result<(), WebError> {
    let reason = match status {
        StatusCode::UNAUTHORIZED => "wrong credentials",
        StatusCode::FORBIDDEN => "refused",
        // Busy password hashing is ours, not a sign-in's failure.
        StatusCode::SERVICE_UNAVAILABLE if method != "password" => "directory unavailable",
        _ => return Ok(()),
    };
    let known = !tried.is_empty() && app.db.user_with_password(tried).await?.is_some();
    let object = if known { tried } else { "(not a user here)" };
    let change = Change::new("login.failed", object)
        .detail("method", method)
        .detail("reason", reason);
    app.db.record_audit(&change).await?;
    Ok(())
}

async fn check_sign_in(
    app: &Arc<App>,
    peer: SocketAddr,
    headers: &HeaderMap,
    form: LoginForm,
    check: Check<'_>,
) -> Result<Response, WebError> {
    let app = app.clone();
    let headers = headers.clone();
    let next = local_path(form.next.as_deref());
    let username = form.username.as_str();
    let active = match check {
        Check::Password => "",
        Check::Directory(provider, _) => provider.alias.as_str(),
    };
    let refuse = |status, message: &str| {
        let prompt = Prompt {
            username,
            message,
            active,
            show_password: matches!(check, Check::Password),
        };
        login_page(&app, &headers, status, next, &prompt)
    };
    if username.is_empty() || form.password.is_empty() {
        return refuse(
            StatusCode::BAD_REQUEST,
            "Enter your user name and password.",
        );
    }
    if username.len() > 64 || form.password.len() > password::MAX_LENGTH {
        return refuse(StatusCode::UNAUTHORIZED, "Wrong user name or password.");
    }
    let address = crate::http::client_address(&app, peer.ip(), &headers);
    // A directory matches names without case, and its own lockout counts its
    // account's failures: count them the same way here, so that `Alice` and `alice`
    // are one budget (and the directory's lockout is not reached through ours).
    let counted_as = match check {
        Check::Password => username.to_owned(),
        Check::Directory(provider, _) => {
            format!("{}:{}", provider.alias, username.trim().to_lowercase())
        }
    };
    let subjects = Subjects::new(&counted_as, address);
    let too_many = |until: i64, whom: &str| {
        let minutes = ((until - now_millis()).max(0) / 60_000) + 1;
        refuse(
            StatusCode::TOO_MANY_REQUESTS,
            &format!(
                "Too many failed logins for {whom}: try again in {minutes} minute{}.",
                if minutes == 1 { "" } else { "s" }
            ),
        )
    };
    // A first look, outside the hashing slots: a refused attempt takes none, and a
    // slowed-down one waits without holding one.
    let since = now_millis() - FAILURE_WINDOW_MS;
    match verdict(&app, &subjects, since, None).await? {
        Verdict::Refuse(until, whom) => return too_many(until, whom),
        // A slowed-down guess still reaches a directory's bind, which its lockout counts:
        // past the limit, a directory sign-in waits out the window instead.
        Verdict::SlowDown if matches!(check, Check::Directory(..)) => {
            return refuse(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many failed sign-ins for this user: try again in a few minutes.",
            );
        }
        Verdict::SlowDown => tokio::time::sleep(PAST_LIMIT_PAUSE).await,
        Verdict::Proceed => {}
    }
    // Passwords are hashed in a bounded number of slots; a directory does its own work.
    let _slot = match check {
        Check::Password => match password::slot().await {
            Ok(slot) => Some(slot),
            Err(busy) => return refuse(StatusCode::SERVICE_UNAVAILABLE, &busy.to_string()),
        },
        Check::Directory(..) => None,
    };
    // The attempt is noted as a failure before the password is checked, then judged
    // against every failure noted before it: parallel guesses, on any replica, count
    // each other (two at once may both be refused, never both let through).
    let since = now_millis() - FAILURE_WINDOW_MS;
    let attempt = random_secret();
    let Subjects {
        user,
        address: address_subject,
        user_from_address,
    } = &subjects;
    app.db
        .record_login_attempt(&[user, address_subject, user_from_address], &attempt, since)
        .await?;
    if let Verdict::Refuse(until, whom) = verdict(&app, &subjects, since, Some(&attempt)).await? {
        app.db.withdraw_login_attempt(&attempt).await?;
        return too_many(until, whom);
    }
    let user = match check {
        Check::Password => match check_password(&app, username, &form.password).await? {
            Some(user) => {
                app.db.withdraw_login_attempt(&attempt).await?;
                user
            }
            // The failure noted above stays.
            None => return refuse(StatusCode::UNAUTHORIZED, "Wrong user name or password."),
        },
        Check::Directory(provider, directory) => {
            match directory.authenticate(username, &form.password).await {
                Err(DirectoryError::Rejected) => {
                    return refuse(StatusCode::UNAUTHORIZED, "Wrong user name or password.");
                }
                Err(error @ (DirectoryError::Unavailable { .. } | DirectoryError::Entry(_))) => {
                    app.db.withdraw_login_attempt(&attempt).await?;
                    tracing::warn!(provider = %provider.alias, %error, "directory sign-in failed");
                    return refuse(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "The directory cannot be reached now: try again later.",
                    );
                }
                Ok(found) => {
                    // The password was right: whatever follows is no guess.
                    app.db.withdraw_login_attempt(&attempt).await?;
                    let identity = Identity {
                        provider: provider.alias.clone(),
                        subject: found.subject,
                        username: found.username,
                        email_verified: directory.trust_email && found.email.is_some(),
                        email: found.email,
                        groups: found.groups,
                    };
                    // What the sign-in provisions (an account, its groups) is recorded
                    // as done through the directory; the user is named once known.
                    AuditActor::note_credential(format!("ldap {}", provider.alias));
                    match app.sso.sign_in(provider, &identity).await {
                        Ok(user) => {
                            app.apply_access_changes()
                                .await
                                .map_err(|e| WebError::Internal(e.to_string()))?;
                            user
                        }
                        Err(SsoError::Refused(why)) => {
                            tracing::info!(provider = %provider.alias, %why, "directory sign-in refused");
                            return refuse(StatusCode::FORBIDDEN, &sentence(&why.to_string()));
                        }
                        Err(SsoError::Database(error)) => return Err(error.into()),
                        Err(other) => return Err(WebError::Internal(other.to_string())),
                    }
                }
            }
        }
    };
    if user.is_expired(now_millis()) {
        return refuse(StatusCode::FORBIDDEN, "This account has expired.");
    }
    // This address may log in as this user again at once. The user's own count stays:
    // forgetting it would give the addresses that failed for it a fresh allowance.
    app.db
        .forget_login_failures(&subjects.user_from_address)
        .await?;
    let response = start_session(&app, &headers, &user, next, check.method()).await?;
    tracing::info!(user = %user.name, %address, "logged in");
    Ok(response)
}

/// A new session for `user`, signed in by `method` (`password`, `ldap ALIAS`,
/// `sso ALIAS`: recorded with it), and the answer that sets its cookie and sends the
/// browser on to `next`.
async fn start_session(
    app: &App,
    headers: &HeaderMap,
    user: &crate::db::User,
    next: &str,
    method: String,
) -> Result<Response, WebError> {
    let secret = random_secret();
    AuditActor::identify(&user.name, method);
    app.db
        .create_session(
            &hash_token(&secret),
            user.id,
            &random_secret(),
            now_millis() + SESSION_IDLE_MS,
        )
        .await?;
    // The browser keeps the cookie for the session's longest life; the server ends
    // the session earlier when it goes unused.
    let max_age = SESSION_DAYS * 24 * 3600;
    let cookies = Cookies::new(app, headers);
    // An admin's first page is the dashboard, unless the login was on the way to
    // another page.
    let next = if next == "/" && user.is_admin {
        "/admin"
    } else {
        next
    };
    let mut response = see_other(next);
    let set = response.headers_mut();
    set.append(
        header::SET_COOKIE,
        cookies.set(cookies.session(), &secret, Some(max_age)),
    );
    set.append(
        header::SET_COOKIE,
        cookies.set(cookies.login_csrf(), "", None),
    );
    set.append(header::SET_COOKIE, cookies.set(cookies.sso(), "", None));
    Ok(response)
}

/// `GET /login/{alias}`: sends the browser to OpenID Connect provider `alias`, bound to
/// it by a cookie of its own (the callback must come back to the same browser); a
/// directory's alias shows the login page.
pub async fn start_external(
    State(app): State<Arc<App>>,
    Path(alias): Path<String>,
    headers: HeaderMap,
    Query(query): Query<NextQuery>,
) -> Result<Response, WebError> {
    match app.settings.login.provider(&alias).map(|p| &p.kind) {
        None => return Err(WebError::NotFound),
        Some(ProviderKind::Ldap(_)) => return Ok(see_other("/login")),
        Some(ProviderKind::Oidc(_) | ProviderKind::GitHub(_)) => {}
    }
    let next = local_path(query.next.as_deref());
    let base = site_base(&app, &headers)?;
    let browser = random_secret();
    let url = match app.sso.begin(&alias, &base, &browser, next).await {
        Ok(url) => url,
        Err(error) => return external_failure(&app, &headers, &alias, &error),
    };
    let cookies = Cookies::new(&app, &headers);
    let mut response = see_other(&url);
    let window = crate::sso::SIGN_IN_WINDOW_MS / 1000;
    response.headers_mut().append(
        header::SET_COOKIE,
        cookies.set(cookies.sso(), &browser, Some(window)),
    );
    Ok(response)
}

#[derive(Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    iss: Option<String>,
    error: Option<String>,
}

/// `GET /login/{alias}/callback`: the provider sends the browser back with a code (or
/// an error); a session starts for the user its ID token names. A refusal is recorded
/// in the audit log (`login.failed`).
pub async fn callback(
    State(app): State<Arc<App>>,
    Path(alias): Path<String>,
    headers: HeaderMap,
    Query(query): Query<CallbackQuery>,
) -> Result<Response, WebError> {
    if app.settings.login.provider(&alias).is_none() {
        return Err(WebError::NotFound);
    }
    let response = complete_sign_in(&app, &alias, &headers, &query).await?;
    // Only a refusal of a sign-in the provider vouched for: a callback anyone can call
    // with a made-up answer records nothing.
    if response.status() == StatusCode::FORBIDDEN {
        record_refusal(&app, "", &format!("sso {alias}"), response.status()).await?;
    }
    Ok(response)
}

async fn complete_sign_in(
    app: &Arc<App>,
    alias: &str,
    headers: &HeaderMap,
    query: &CallbackQuery,
) -> Result<Response, WebError> {
    let (app, alias, headers) = (app.clone(), alias.to_owned(), headers.clone());
    if let Some(error) = &query.error {
        // The provider's own word, not its description: a code from a short list.
        let code: String = error
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .take(64)
            .collect();
        let message = format!("The identity provider did not sign you in ({code}).");
        return login_page(
            &app,
            &headers,
            StatusCode::UNAUTHORIZED,
            "/",
            &prompt(&message),
        );
    }
    let (Some(code), Some(state)) = (&query.code, &query.state) else {
        return login_page(
            &app,
            &headers,
            StatusCode::BAD_REQUEST,
            "/",
            &prompt("The identity provider's answer is incomplete: start again."),
        );
    };
    let cookies = Cookies::new(&app, &headers);
    let browser = cookies.sso_of(&headers).unwrap_or_default();
    let base = site_base(&app, &headers)?;
    let callback = crate::sso::Callback {
        code,
        state,
        iss: query.iss.as_deref(),
        browser_secret: browser,
    };
    AuditActor::note_credential(format!("sso {alias}"));
    let (user, next) = match app.sso.complete(&alias, &base, &callback).await {
        Ok(done) => done,
        Err(error) => return external_failure(&app, &headers, &alias, &error),
    };
    app.apply_access_changes()
        .await
        .map_err(|e| WebError::Internal(e.to_string()))?;
    if user.is_expired(now_millis()) {
        return login_page(
            &app,
            &headers,
            StatusCode::FORBIDDEN,
            "/",
            &prompt("This account has expired."),
        );
    }
    let response = start_session(
        &app,
        &headers,
        &user,
        local_path(Some(&next)),
        format!("sso {alias}"),
    )
    .await?;
    tracing::info!(user = %user.name, provider = %alias, "signed in");
    Ok(response)
}

/// The login page's prompt with `message` about no form in particular.
fn prompt(message: &str) -> Prompt<'_> {
    Prompt {
        message,
        ..Prompt::default()
    }
}

/// The login page saying why a sign-in through a provider failed: the person's own
/// fault in words for them, the provider's or ours as "try again later" (logged).
fn external_failure(
    app: &App,
    headers: &HeaderMap,
    alias: &str,
    error: &SsoError,
) -> Result<Response, WebError> {
    let (status, message) = match error {
        SsoError::Refused(why) => (StatusCode::FORBIDDEN, sentence(&why.to_string())),
        SsoError::StaleState => (StatusCode::BAD_REQUEST, sentence(&error.to_string())),
        SsoError::Busy => (
            StatusCode::SERVICE_UNAVAILABLE,
            sentence(&error.to_string()),
        ),
        SsoError::UnknownProvider(_) => return Err(WebError::NotFound),
        SsoError::Oidc(crate::sso::oidc::ProviderError::Refused(_)) => (
            StatusCode::UNAUTHORIZED,
            "The identity provider's answer could not be verified: start again.".to_owned(),
        ),
        SsoError::Oidc(crate::sso::oidc::ProviderError::Unavailable { .. }) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "The identity provider cannot be reached now: try again later.".to_owned(),
        ),
        SsoError::Database(error) => return Err(WebError::Internal(error.to_string())),
    };
    tracing::warn!(provider = %alias, %error, "sign-in through an identity provider failed");
    let prompt = Prompt {
        message: &message,
        ..Prompt::default()
    };
    login_page(app, headers, status, "/", &prompt)
}

/// This site's base URL as the browser reaches it (`PACKYARD_PUBLIC_URL` when set),
/// for the redirect URL a provider sends the browser back to.
fn site_base(app: &App, headers: &HeaderMap) -> Result<String, WebError> {
    crate::http::handlers::composer::base_url(app, headers)
        .map_err(|_| WebError::Internal("no Host header to build the redirect URL from".into()))
}

/// The user `username` when `password` is its password here (and password sign-in is
/// open to it). A hash imported from Packeton (bcrypt, argon2i) that matches is
/// replaced by ours; a password changed while this one was checked fails.
async fn check_password(
    app: &App,
    username: &str,
    password: &str,
) -> Result<Option<crate::db::User>, WebError> {
    let found = if app.settings.login.allows_password(username) {
        app.db.user_with_password(username).await?
    } else {
        None
    };
    let stored = found
        .as_ref()
        .and_then(|(_, hash)| hash.clone())
        .unwrap_or_else(|| password::decoy().to_owned());
    let presented = password.to_owned();
    // argon2 takes tens of milliseconds of CPU: off the HTTP thread, in the caller's
    // hashing slot.
    let (matches, rehashed) = tokio::task::spawn_blocking(move || {
        let matches = password::verify(&presented, &stored);
        let rehashed = (matches && password::needs_rehash(&stored))
            .then(|| (stored, password::hash(&presented)));
        (matches, rehashed)
    })
    .await
    .map_err(|error| WebError::Internal(format!("verifying a password: {error}")))?;
    let user = match found {
        Some((user, Some(_))) if matches => user,
        _ => return Ok(None),
    };
    if let Some((old, new)) = rehashed {
        if !app.db.rehash_password(user.id, &old, &new).await? {
            return Ok(None);
        }
        tracing::info!(user = %user.name, "password hash replaced by argon2id");
    }
    Ok(Some(user))
}

/// `POST /logout`: ends the session on every replica.
pub async fn logout(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    _: SignedInForm,
) -> Result<Response, WebError> {
    let cookies = Cookies::new(&app, &headers);
    if let Some(secret) = cookies.session_of(&headers) {
        app.db.end_session(&hash_token(secret)).await?;
    }
    let mut response = see_other("/login");
    response
        .headers_mut()
        .append(header::SET_COOKIE, cookies.set(cookies.session(), "", None));
    Ok(response.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_addresses_count_by_their_64_and_ipv4_addresses_alone() {
        let group = |text: &str| address_group(text.parse().unwrap());
        assert_eq!(group("2001:db8:1:2::1"), "2001:db8:1:2::/64");
        assert_eq!(
            group("2001:db8:1:2:ffff:ffff:ffff:ffff"),
            "2001:db8:1:2::/64"
        );
        assert_ne!(group("2001:db8:1:3::1"), group("2001:db8:1:2::1"));
        assert_eq!(group("192.0.2.7"), "192.0.2.7");
        assert_ne!(group("192.0.2.8"), group("192.0.2.7"));
        // IPv4 clients seen through a translator or tunnel are their IPv4 addresses,
        // not one /64 that every such client shares.
        for (translated, client) in [
            ("::ffff:192.0.2.7", "192.0.2.7"),
            ("64:ff9b::192.0.2.7", "192.0.2.7"),
            ("::ffff:0:192.0.2.7", "192.0.2.7"),
            ("2002:c000:207::1", "192.0.2.7"),
        ] {
            assert_eq!(group(translated), client, "{translated}");
        }
        assert_ne!(group("64:ff9b::192.0.2.8"), group("64:ff9b::192.0.2.7"));
        assert_ne!(group("64:ff9b:1::c000:208"), group("64:ff9b:1::c000:207"));
    }
}
