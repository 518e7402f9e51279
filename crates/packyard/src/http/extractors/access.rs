//! Who is asking, and may they: axum extractors that handlers name in their arguments,
//! so that no handler checks credentials by hand and every check happens before a body
//! is read. Credentials are HTTP Basic `user:token`, `?token=user:token` or Packagist's
//! `?username=&apiToken=`.
//!
//! - [`Caller`]: the verified user, or anonymous (wrong credentials are refused).
//! - [`Reader`]: may read metadata and archives (any user, anyone with `PUBLIC_ACCESS`).
//! - [`Maintainer`]: may add packages and trigger updates (maintainers and admins).
//! - [`Admin`]: may do everything.
//! - [`MirrorReader`]: may use the mirror the route's `{alias}` names.

use std::sync::Arc;

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{Uri, header};

use super::paths::{ScopedByHost, param, route_params, route_slug, unknown_sub_repository};
use crate::access::roles::{Admins, Maintainers, Role};
use crate::access::{SubRepository, View};
use crate::app::App;
use crate::auth::{Verified, parse_basic_header, split_pair};
use crate::db::User;
use crate::http::ApiError;
use crate::http::RouteAccess;
use crate::mirror::config::MirrorConfig;
use crate::outbound::Network;

/// The caller of a request: a verified user, or anonymous. Wrong credentials are an
/// error even on public instances: a client that sends a token expects it to count. A
/// token's scopes must allow the route (its [`RouteAccess`], declared where it is
/// registered); its use is noted.
pub struct Caller(pub Option<User>);

impl FromRequestParts<Arc<App>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, ApiError> {
        let Some((name, token)) = presented_credentials(parts)? else {
            return Ok(Caller(None));
        };
        let principal = match app.auth.verify(&name, &token).await? {
            Verified::Caller(principal) => principal,
            Verified::Invalid => {
                return Err(ApiError::unauthorized("invalid user name or API token"));
            }
            Verified::Expired(why) => return Err(ApiError::unauthorized(why)),
        };
        let Some(RouteAccess::Token(needed)) = parts.extensions.get::<RouteAccess>().copied()
        else {
            return Err(ApiError::forbidden("API tokens cannot be used here"));
        };
        if !principal.token.scopes.allow(needed) {
            return Err(ApiError::forbidden(format!(
                "the token {} of {} has the scopes {} and cannot be used here (this needs {needed})",
                principal.token.name, principal.user.name, principal.token.scopes
            )));
        }
        let address = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| client_address(app, info.0.ip(), &parts.headers));
        app.auth.record_use(principal.token.id, address);
        crate::db::audit::AuditActor::identify(
            &principal.user.name,
            format!("token {}", principal.token.name),
        );
        Ok(Caller(Some(principal.caller())))
    }
}

/// The client's address: the peer's, or, when the peer is in
/// `PACKYARD_TRUSTED_PROXIES`, the address its `X-Forwarded-For` names.
pub fn client_address(
    app: &App,
    peer: std::net::IpAddr,
    headers: &axum::http::HeaderMap,
) -> std::net::IpAddr {
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .flat_map(|value| value.to_str().unwrap_or("unknown").split(','));
    forwarded_client(peer, &app.settings.trusted_proxies, forwarded)
}

/// Walks the proxy chain back from the peer, as nginx's `real_ip_recursive` does: each
/// trusted hop vouches for the entry before it in `X-Forwarded-For`, and the first
/// address not in `trusted` is the client. Entries the client wrote itself are the
/// leftmost ones, so they are reached only through trusted hops. An entry that is not an
/// address (`unknown`, an obfuscated name) ends the walk at the hop that wrote it:
/// skipping it would let the client's own claim stand in for it.
fn forwarded_client<'a>(
    peer: IpAddr,
    trusted: &[Network],
    forwarded: impl DoubleEndedIterator<Item = &'a str>,
) -> IpAddr {
    let is_trusted = |address: IpAddr| trusted.iter().any(|proxy| proxy.contains(address));
    // An IPv4 proxy reaching a dual-stack socket shows up as `::ffff:a.b.c.d`.
    let mut client = peer.to_canonical();
    for entry in forwarded.rev() {
        if !is_trusted(client) {
            break;
        }
        match forwarded_address(entry) {
            Some(address) => client = address,
            None => break,
        }
    }
    client
}

/// An `X-Forwarded-For` entry's address: `192.0.2.1`, `2001:db8::1`, or with a port as
/// some proxies write them, `192.0.2.1:4711` and `[2001:db8::1]:4711`.
fn forwarded_address(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    let address = entry
        .parse::<IpAddr>()
        .or_else(|_| entry.parse::<SocketAddr>().map(|socket| socket.ip()))
        .or_else(|_| {
            entry
                .strip_prefix('[')
                .and_then(|rest| rest.strip_suffix(']'))
                .unwrap_or_default()
                .parse::<IpAddr>()
        })
        .ok()?;
    Some(address.to_canonical())
}

/// The user name and token a request presents: HTTP Basic `user:token` (any user name
/// with a `pky_` token), `Authorization: Bearer TOKEN` (Composer's `bearer` auth),
/// `?token=user:token` or `?token=TOKEN`, or Packagist's `?username=&apiToken=`.
fn presented_credentials(parts: &Parts) -> Result<Option<(String, String)>, ApiError> {
    let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
        return query_token(&parts.uri);
    };
    let value = value.to_str().unwrap_or_default();
    if let Some(token) = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
    {
        return Ok(Some((String::new(), token.trim().to_owned())));
    }
    parse_basic_header(value).map(Some).ok_or_else(|| {
        ApiError::unauthorized(
            "unsupported Authorization header: use HTTP Basic (user name and API token) or Bearer",
        )
    })
}

/// A reader of metadata and archives: any user, or anyone with `PUBLIC_ACCESS`, with
/// what it may see.
pub struct Reader {
    pub view: Arc<View>,
    /// The mirrors the repository includes (a sub-repository's, or the root's
    /// `include_in_root` ones) that this caller may use, in the order they are asked:
    /// a package that is not private is looked for there.
    pub mirrors: Vec<Arc<MirrorConfig>>,
    user: Option<User>,
    /// The sub-repository the route is under (`/{slug}/…`), which narrows `view`.
    sub_repository: Option<Arc<SubRepository>>,
}

impl Reader {
    /// The slug of the sub-repository this request reads through, if any.
    pub fn sub_repository_slug(&self) -> Option<&str> {
        self.sub_repository
            .as_ref()
            .map(|sub| sub.row.slug.as_str())
    }

    /// Before a "not found": the caller's view again when the access rules changed on
    /// another replica since this one last looked (a grant just given), else `None`.
    pub async fn view_caught_up(&self, app: &App) -> Result<Option<Arc<View>>, sqlx::Error> {
        if !app.catch_up_access(self.view.stamp()).await? {
            return Ok(None);
        }
        Ok(Some(match &self.sub_repository {
            // As the rules now have the sub-repository (`view_in` looks it up again):
            // removed, or refused to the caller meanwhile, it shows nothing.
            Some(sub_repository) => app
                .access
                .view_in(self.user.as_ref(), sub_repository)
                .unwrap_or_else(|| Arc::new(View::nothing(app.access.stamp()))),
            None => app.access.view(self.user.as_ref()),
        }))
    }
}

impl FromRequestParts<Arc<App>> for Reader {
    type Rejection = ApiError;

    /// Before a slug is answered as unknown (or as refused, which reads the same), the
    /// replica catches up with rules another one changed — a sub-repository just
    /// created, a limit just lifted — and looks again, credentials included.
    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, ApiError> {
        let seen = app.access.stamp();
        match Reader::resolve(parts, app).await {
            Err(unknown) if unknown.status == axum::http::StatusCode::NOT_FOUND => {
                if app.catch_up_access(seen).await? {
                    Reader::resolve(parts, app).await
                } else {
                    Err(unknown)
                }
            }
            answer => answer,
        }
    }
}

impl Reader {
    async fn resolve(parts: &mut Parts, app: &Arc<App>) -> Result<Reader, ApiError> {
        let Caller(user) = Caller::from_request_parts(parts, app).await?;
        let sub_repository = route_slug(parts, app)
            .await
            .map(|slug| app.access.sub_repository(&slug));
        // Anonymous callers read only where the instance or the sub-repository is
        // public; an unknown slug asks them for credentials like a private one.
        let public = sub_repository
            .as_ref()
            .is_some_and(|sub| sub.as_ref().is_some_and(|sub| sub.is_public()));
        if user.is_none() && !app.settings.public_access && !public {
            return Err(ApiError::unauthorized(
                "authentication required: send HTTP Basic credentials (user name and API token)",
            ));
        }
        let found = sub_repository.map(|found| {
            found.and_then(|sub| Some((app.access.view_in(user.as_ref(), &sub)?, sub)))
        });
        let (view, sub_repository) = match found {
            Some(Some((view, sub_repository))) => (view, Some(sub_repository)),
            // A host name the caller may not use is answered as any host name that is
            // no sub-repository's: by the root (so a limited user cannot tell which
            // names are registered).
            Some(None) if parts.extensions.get::<ScopedByHost>().is_some() => {
                (app.access.view(user.as_ref()), None)
            }
            // A user limited to other sub-repositories is answered as if this one did
            // not exist, byte for byte.
            Some(None) => return Err(unknown_sub_repository()),
            None => (app.access.view(user.as_ref()), None),
        };
        let mut reader = Reader {
            view,
            mirrors: Vec::new(),
            user,
            sub_repository,
        };
        reader.mirrors = reader.usable_mirrors(app);
        Ok(reader)
    }

    /// The mirrors this repository includes that the caller may use, by the rules this
    /// process holds now (again after [`Reader::view_caught_up`]: a mirror just
    /// granted on another replica).
    pub fn usable_mirrors(&self, app: &App) -> Vec<Arc<MirrorConfig>> {
        let sub_repository = self.sub_repository.as_deref();
        let mut included = app
            .mirrors
            .included_in(sub_repository.map(|sub| sub.row.mirrors.as_slice()));
        if included.is_empty() {
            return included;
        }
        // One view judges every included mirror.
        let rights = app
            .access
            .mirror_rights_in(self.user.as_ref(), sub_repository);
        included.retain(|mirror| {
            mirror.public_access
                || rights
                    .as_ref()
                    .is_some_and(|view| view.may_use_mirror(&mirror.alias))
        });
        included
    }
}

/// Any signed-in user; anonymous callers get `401` before a body is read.
pub struct SignedIn(pub User);

impl FromRequestParts<Arc<App>> for SignedIn {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, ApiError> {
        let Caller(user) = Caller::from_request_parts(parts, app).await?;
        user.map(SignedIn).ok_or_else(|| {
            ApiError::unauthorized(
                "authentication required: send HTTP Basic credentials (user name and API token)",
            )
        })
    }
}

/// A maintainer or an admin: may add packages and trigger updates.
pub struct Maintainer(pub User);

impl FromRequestParts<Arc<App>> for Maintainer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, ApiError> {
        caller_with_role::<Maintainers>(parts, app)
            .await
            .map(Maintainer)
    }
}

/// An admin.
pub struct Admin(pub User);

impl FromRequestParts<Arc<App>> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, ApiError> {
        caller_with_role::<Admins>(parts, app).await.map(Admin)
    }
}

impl Maintainer {
    /// For routes that accept other proof too (a webhook's signature): the caller must
    /// be a maintainer when it brings none.
    pub fn require(Caller(user): Caller) -> Result<Maintainer, ApiError> {
        require::<Maintainers>(user).map(Maintainer)
    }
}

/// The caller, when it has the role. A user refused by credentials this process
/// verified earlier is verified again when another replica changed users or rules
/// meanwhile (a user just made a maintainer there), before the `403`.
async fn caller_with_role<R: Role>(parts: &mut Parts, app: &Arc<App>) -> Result<User, ApiError> {
    let seen = app.access.stamp();
    let Caller(user) = Caller::from_request_parts(parts, app).await?;
    match require::<R>(user) {
        Err(refused)
            if refused.status == axum::http::StatusCode::FORBIDDEN
                && app.catch_up_access(seen).await? =>
        {
            let Caller(user) = Caller::from_request_parts(parts, app).await?;
            require::<R>(user)
        }
        answer => answer,
    }
}

/// 401 for anonymous callers, 403 for users without the role.
fn require<R: Role>(user: Option<User>) -> Result<User, ApiError> {
    let role = R::ONE;
    match user {
        Some(user) if R::allows(&user) => Ok(user),
        Some(user) => Err(ApiError::forbidden(format!(
            "user {} is not {role}",
            user.name
        ))),
        None => Err(ApiError::unauthorized(format!(
            "authentication required: this needs {role}'s API token"
        ))),
    }
}

/// The mirror the route's `{alias}` names, when the caller may use it: a token is
/// needed unless the mirror is public.
pub struct MirrorReader {
    pub mirror: Arc<MirrorConfig>,
    /// The caller's own minimum release age for this mirror (a user's, a token's or
    /// its groups'), which the mirror applies with its own.
    pub cooldown: Option<i64>,
}

impl FromRequestParts<Arc<App>> for MirrorReader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, ApiError> {
        let params = route_params(parts, app).await?;
        let alias = param(&params, "alias")?.to_owned();
        let unknown = || ApiError::not_found(format!("no mirror named {alias}"));
        // Credentials first, so that anonymous callers cannot tell which aliases exist.
        let Caller(user) = Caller::from_request_parts(parts, app).await?;
        let mirror = app.mirrors.get(&alias).cloned();
        let view = user.as_ref().map(|user| app.access.view(Some(user)));
        let cooldown = view
            .as_ref()
            .and_then(|view| view.mirror_release_age(&alias));
        if let Some(mirror) = mirror.as_ref().filter(|m| m.public_access) {
            return Ok(MirrorReader {
                mirror: mirror.clone(),
                cooldown,
            });
        }
        let Some(view) = view else {
            return Err(ApiError::unauthorized(
                "authentication required: send HTTP Basic credentials (user name and API token)",
            ));
        };
        // A mirror the caller's groups do not list looks like no mirror at all.
        match mirror {
            Some(mirror) if view.may_use_mirror(&alias) => Ok(MirrorReader { mirror, cooldown }),
            _ => Err(unknown()),
        }
    }
}

/// `?token=user:token` or `?token=TOKEN` (a `pky_` token, or Packeton's `pat_` one,
/// alone), or Packagist's
/// `?username=user&apiToken=token`.
fn query_token(uri: &Uri) -> Result<Option<(String, String)>, ApiError> {
    let Some(query) = uri.query() else {
        return Ok(None);
    };
    if let (Some(name), Some(token)) = (
        query_param(query, "username"),
        query_param(query, "apiToken"),
    ) {
        return Ok(Some((name, token)));
    }
    let Some(value) = query_param(query, "token") else {
        return Ok(None);
    };
    if value.starts_with(crate::tokens::PREFIX) || crate::tokens::is_packeton_pat(&value) {
        return Ok(Some((String::new(), value)));
    }
    split_pair(&value)
        .map(Some)
        .ok_or_else(|| ApiError::unauthorized("the token parameter must be user:token"))
}

/// The first value of `name` in a query string, percent-decoded.
pub fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == name).then(|| crate::percent::decode(value, crate::percent::Plus::Space))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters_are_decoded() {
        assert_eq!(
            query_param("token=alice%3Aabc&x=1", "token").as_deref(),
            Some("alice:abc")
        );
        assert_eq!(
            query_param("a=1&token=b:c", "token").as_deref(),
            Some("b:c")
        );
        assert_eq!(query_param("force=1", "token"), None);
        assert_eq!(query_param("force", "force").as_deref(), Some(""));
        assert_eq!(query_param("t=100%", "t").as_deref(), Some("100%"));
        assert_eq!(query_param("t=%zz", "t").as_deref(), Some("%zz"));
    }

    #[test]
    fn the_client_is_the_first_untrusted_address_back_along_the_chain() {
        let proxies = [Network::parse("10.0.0.0/16").unwrap()];
        // (peer, X-Forwarded-For, the client)
        let cases = [
            // Not a trusted peer: its header is the client's own claim.
            ("192.0.2.9", "198.51.100.1", "192.0.2.9"),
            ("10.0.3.4", "198.51.100.1", "198.51.100.1"),
            // What the client wrote before the proxy's entry does not count.
            ("10.0.3.4", "6.6.6.6, 198.51.100.1", "198.51.100.1"),
            // Two trusted hops (a load balancer, then an ingress controller).
            (
                "10.0.3.4",
                "6.6.6.6, 198.51.100.1, 10.0.9.9",
                "198.51.100.1",
            ),
            // Entries with ports, as some proxies write them.
            ("10.0.3.4", "6.6.6.6, 198.51.100.1:4711", "198.51.100.1"),
            ("10.0.3.4", "6.6.6.6, [2001:db8::7]:4711", "2001:db8::7"),
            ("10.0.3.4", "[2001:db8::7]", "2001:db8::7"),
            // An entry that is no address ends the walk at the hop that wrote it,
            // instead of letting the client's claim before it through.
            ("10.0.3.4", "6.6.6.6, unknown", "10.0.3.4"),
            ("10.0.3.4", "6.6.6.6, unknown, 10.0.9.9", "10.0.9.9"),
            // Every hop trusted: the leftmost is as far back as anyone vouches for.
            ("10.0.3.4", "10.0.1.1, 10.0.2.2", "10.0.1.1"),
            // An empty header: the peer.
            ("10.0.3.4", "", "10.0.3.4"),
            // IPv4 proxies and clients seen through a dual-stack socket.
            ("::ffff:10.0.3.4", "::ffff:198.51.100.1", "198.51.100.1"),
        ];
        for (peer, header, expected) in cases {
            let client = forwarded_client(peer.parse().unwrap(), &proxies, header.split(','));
            assert_eq!(client.to_string(), expected, "{peer} with {header:?}");
        }
    }
}
