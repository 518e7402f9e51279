//! `/profile`: the viewer's tokens (create, shown once; revoke; last use) and the
//! Composer set-up for this server, ready to copy.

use std::sync::Arc;

use super::error::WebError;
use super::form::SignedInForm;
use super::notice::{Done, DoneQuery, NOTHING_DONE, redirect};
use super::pages::{Chrome, render_with_status};
use super::session::{Repository, Viewer};
use crate::access::Actor;
use crate::access::admin::NewToken;
use crate::app::App;
use crate::db::{TokenRow, now_millis};
use crate::error::Classify;
use crate::tokens::{Scope, Scopes};
use askama::Template;
use axum::extract::{Query, State};
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

/// The Composer set-up of one repository the viewer may use, ready to copy.
pub struct Setup {
    pub name: String,
    /// Its key in a project's `repositories` (`packyard`, `packyard-{slug}`).
    pub key: String,
    pub url: String,
    /// The host Composer sends credentials to (`http-basic.{host}`): the URL's, with
    /// its port as Composer keys it.
    pub host: String,
    /// Anyone may read it: Composer needs no credentials.
    pub public: bool,
}

impl Setup {
    fn new(repository: &Repository, base: &str) -> Setup {
        let (key, (url, host), public) = match repository {
            Repository::Root => ("packyard".to_owned(), address(base, None, &[]), false),
            Repository::Sub(sub) => (
                format!("packyard-{}", sub.row.slug),
                address(base, Some(&sub.row.slug), &sub.row.hosts),
                sub.is_public(),
            ),
        };
        Setup {
            name: repository.name().to_owned(),
            key,
            url,
            host,
            public,
        }
    }
}

/// The URL of a repository and the host Composer sends credentials to, for a client
/// that reaches the root at `base`: the root there; a sub-repository (`slug`) at
/// `{base}/{slug}`, or when it has host names, at the root of the first, by the base's
/// scheme and port (a host name answers as its sub-repository at `/`). The host keeps
/// the port, as Composer's `http-basic` keys do.
fn address(base: &str, slug: Option<&str>, hosts: &[String]) -> (String, String) {
    let (scheme, rest) = base.split_once("://").unwrap_or(("https", base));
    let authority = rest.split('/').next().unwrap_or_default();
    match (slug, hosts.first()) {
        (None, _) => (base.to_owned(), authority.to_owned()),
        (Some(slug), None) => (format!("{base}/{slug}"), authority.to_owned()),
        (Some(_), Some(name)) => {
            let port = authority
                .rsplit_once(':')
                .map(|(_, port)| port)
                .filter(|port| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()));
            let host = match port {
                Some(port) => format!("{name}:{port}"),
                None => name.clone(),
            };
            (format!("{scheme}://{host}"), host)
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
    /// What the set-up commands put where a token goes: the token just created (so
    /// that they can be copied as they are), or `YOUR_TOKEN`.
    setup_token: String,
    message: String,
    notice: String,
    /// One for each repository the user may use.
    setups: Vec<Setup>,
    mirrors: Vec<(String, String)>,
}

/// `GET /profile`.
pub async fn show(
    State(app): State<Arc<App>>,
    viewer: Viewer,
    headers: HeaderMap,
    Query(done): Query<DoneQuery>,
) -> Result<Response, WebError> {
    let shown = Shown {
        done: &done,
        ..Shown::default()
    };
    profile(&app, &viewer, &headers, shown, StatusCode::OK).await
}

/// What the profile shows besides the account: a token just made, a refused form's
/// problem, or what was just done.
struct Shown<'a> {
    new_token: Option<(String, String)>,
    message: String,
    done: &'a DoneQuery,
}

impl Default for Shown<'_> {
    fn default() -> Self {
        Shown {
            new_token: None,
            message: String::new(),
            done: &NOTHING_DONE,
        }
    }
}

async fn profile(
    app: &App,
    viewer: &Viewer,
    headers: &HeaderMap,
    Shown {
        new_token,
        message,
        done,
    }: Shown<'_>,
    status: StatusCode,
) -> Result<Response, WebError> {
    let session = viewer.signed_in()?;
    let user = &session.user;
    let now = now_millis();
    let rows = app
        .access_admin()
        .tokens_of(Actor::Http(user), &user.name)
        .await?;
    let notice = done.notice(|done, name| {
        done == Done::TokenRevoked && !rows.iter().any(|row| row.name == name)
    });
    let tokens = rows.iter().map(|row| TokenLine::new(row, now)).collect();
    let base = crate::http::base_url(app, headers)
        .map_err(|_| WebError::BadRequest("missing or invalid Host header".to_owned()))?;
    let setups = viewer
        .repositories(app)
        .iter()
        .map(|repository| Setup::new(repository, &base))
        .collect();
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
            setup_token: new_token
                .as_ref()
                .map_or_else(|| "YOUR_TOKEN".to_owned(), |(_, token)| token.clone()),
            new_token,
            message,
            notice,
            setups,
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
        let shown = Shown {
            message,
            ..Shown::default()
        };
        profile(&app, viewer, &headers, shown, StatusCode::BAD_REQUEST)
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
        min_release_age: None,
    };
    let me = &session.user;
    match app
        .access_admin()
        .issue_token(Actor::Http(me), &me.name, &new)
        .await
    {
        Ok(token) => {
            let shown = Shown {
                new_token: Some((new.name, token)),
                ..Shown::default()
            };
            profile(&app, viewer, &headers, shown, StatusCode::CREATED).await
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
    Ok(redirect("/profile", Done::TokenRevoked, name))
}

#[cfg(test)]
mod tests {
    use super::address;

    #[test]
    fn a_sub_repository_is_set_up_under_its_slug_or_at_its_host_name() {
        let base = "http://127.0.0.1:8080";
        let pair = |url: &str, host: &str| (url.to_owned(), host.to_owned());
        assert_eq!(address(base, None, &[]), pair(base, "127.0.0.1:8080"));
        assert_eq!(
            address(base, Some("client-a"), &[]),
            pair("http://127.0.0.1:8080/client-a", "127.0.0.1:8080")
        );
        let hosts = ["a.example.com".to_owned(), "b.example.com".to_owned()];
        assert_eq!(
            address(base, Some("client-a"), &hosts),
            pair("http://a.example.com:8080", "a.example.com:8080")
        );
        assert_eq!(
            address(
                "https://repo.example.com/composer",
                Some("client-a"),
                &hosts
            ),
            pair("https://a.example.com", "a.example.com")
        );
        assert_eq!(
            address("https://repo.example.com/composer", Some("client-a"), &[]),
            pair(
                "https://repo.example.com/composer/client-a",
                "repo.example.com"
            )
        );
        assert_eq!(
            address("http://[::1]", Some("c"), &hosts),
            pair("http://a.example.com", "a.example.com")
        );
        assert_eq!(
            address("http://[::1]:80", Some("c"), &hosts),
            pair("http://a.example.com:80", "a.example.com:80")
        );
    }
}
