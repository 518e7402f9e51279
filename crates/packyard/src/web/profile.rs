//! `/profile`: the viewer's tokens (create, shown once; revoke; last use) and the
//! Composer set-up for this server, ready to copy.

use std::sync::Arc;

use super::error::WebError;
use super::form::SignedInForm;
use super::pages::{Chrome, render_with_status};
use super::session::{Viewer, see_other};
use crate::access::Actor;
use crate::access::admin::NewToken;
use crate::app::App;
use crate::db::{TokenRow, now_millis};
use crate::error::Classify;
use crate::tokens::{Scope, Scopes};
use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

/// A token as the profile lists it.
pub struct TokenLine {
    pub name: String,
    pub scopes: String,
    pub expires: String,
    pub expired: bool,
    pub last_used: String,
}

impl TokenLine {
    fn new(row: &TokenRow, now: i64) -> TokenLine {
        let date = crate::time::display;
        TokenLine {
            name: row.name.clone(),
            scopes: row.scopes.to_string(),
            expires: row.expires_at.map_or_else(|| "never".to_owned(), date),
            expired: row.is_expired(now),
            last_used: match (&row.last_used_at, &row.last_used_from) {
                (Some(at), Some(from)) => format!("{} from {from}", date(*at)),
                (Some(at), None) => date(*at),
                _ => "never".to_owned(),
            },
        }
    }
}

#[derive(Template)]
#[template(path = "account/profile.html")]
struct ProfilePage {
    chrome: Chrome,
    user: String,
    role: &'static str,
    tokens: Vec<TokenLine>,
    scopes: Vec<&'static str>,
    /// A token just created, shown this once.
    new_token: Option<(String, String)>,
    message: String,
    base: String,
    host: String,
    mirrors: Vec<(String, String)>,
}

/// `GET /profile`.
pub async fn show(
    State(app): State<Arc<App>>,
    viewer: Viewer,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    profile(&app, &viewer, &headers, None, String::new(), StatusCode::OK).await
}

async fn profile(
    app: &App,
    viewer: &Viewer,
    headers: &HeaderMap,
    new_token: Option<(String, String)>,
    message: String,
    status: StatusCode,
) -> Result<Response, WebError> {
    let session = viewer.signed_in()?;
    let user = &session.user;
    let now = now_millis();
    let tokens = app
        .access_admin()
        .tokens_of(Actor::Http(user), &user.name)
        .await?
        .iter()
        .map(|row| TokenLine::new(row, now))
        .collect();
    let base = crate::http::base_url(app, headers)
        .map_err(|_| WebError::BadRequest("missing or invalid Host header".to_owned()))?;
    let host = base
        .split_once("://")
        .map_or(base.as_str(), |(_, rest)| rest)
        .split('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    let view = app.access.view(Some(user));
    let mut mirrors: Vec<(String, String)> = app
        .mirrors
        .aliases()
        .filter(|alias| view.may_use_mirror(alias))
        .map(|alias| (alias.to_owned(), format!("{base}/mirror/{alias}")))
        .collect();
    mirrors.sort();
    let role = if user.is_admin {
        "admin"
    } else if user.is_maintainer {
        "maintainer"
    } else if user.full_access {
        "customer with full access"
    } else {
        "customer"
    };
    render_with_status(
        &ProfilePage {
            chrome: Chrome::new(viewer, "Profile"),
            user: user.name.clone(),
            role,
            tokens,
            scopes: Scope::ALL
                .iter()
                .filter(|scope| user.is_admin || !matches!(scope, Scope::Users | Scope::Groups))
                .map(|scope| scope.as_str())
                .collect(),
            new_token,
            message,
            base,
            host,
            mirrors,
        },
        status,
    )
}

/// `POST /profile/tokens`: creates a token and shows it once.
pub async fn create_token(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    posted: SignedInForm,
) -> Result<Response, WebError> {
    let (viewer, form) = (&posted.viewer, &posted.fields);
    let session = posted.session();
    let refuse = |message: String| {
        profile(
            &app,
            viewer,
            &headers,
            None,
            message,
            StatusCode::BAD_REQUEST,
        )
    };
    let scopes = match form
        .all("scope")
        .iter()
        .map(|name| name.parse::<Scope>())
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(scopes) if scopes.is_empty() => Scopes(None),
        Ok(scopes) => Scopes(Some(scopes)),
        Err(error) => return refuse(error.to_string()).await,
    };
    let expires_at = match form.moment("expires", "Expires") {
        Ok(at) => at,
        Err(error) => return refuse(error.to_string()).await,
    };
    let new = NewToken {
        name: form.get("name").to_owned(),
        scopes,
        expires_at,
    };
    let me = &session.user;
    match app
        .access_admin()
        .issue_token(Actor::Http(me), &me.name, &new)
        .await
    {
        Ok(token) => {
            let shown = Some((new.name, token));
            profile(
                &app,
                viewer,
                &headers,
                shown,
                String::new(),
                StatusCode::CREATED,
            )
            .await
        }
        // The caller's faults (a name, a scope) are said beside the form.
        Err(error) if error.kind().is_callers_fault() => refuse(error.to_string()).await,
        Err(error) => Err(error.into()),
    }
}

/// `POST /profile/tokens/revoke`: revokes one of the viewer's tokens (on every
/// replica within seconds).
pub async fn revoke_token(
    State(app): State<Arc<App>>,
    posted: SignedInForm,
) -> Result<Response, WebError> {
    let (me, name) = (posted.user(), posted.fields.get("name"));
    app.access_admin()
        .revoke_token(Actor::Http(me), &me.name, name)
        .await?;
    Ok(see_other("/profile"))
}
