//! Requests a browser makes on another site's behalf. A browser attaches its cookies and
//! the Basic credentials it has cached to a form another site posts to us, so every
//! state-changing route (the web UI's forms and the JSON API's writes) refuses requests
//! that say they come from elsewhere, from their headers alone, before the body is read.
//!
//! Browsers say where a request comes from in `Sec-Fetch-Site` (all current ones) and
//! `Origin` (on every POST). Clients that are not browsers — Composer, curl, CI, code
//! hosts delivering webhooks — send neither, and are not affected.

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;

use crate::http::ApiError;
use crate::http::error::{HtmlErrorPage, negotiated};

/// Whether the request was made by a page of another origin: `Sec-Fetch-Site` says
/// `cross-site` or `same-site` (a sibling subdomain is another origin too), or `Origin`
/// names another origin than the public URL's or the one the request was sent to: its
/// `Host`, by the scheme a proxy says the client used (`X-Forwarded-Proto`), so that a
/// page of this host over plain http (anyone's, injected on the way) cannot post to it
/// over https. Without that header the scheme is unknown (a proxy that terminates TLS
/// without saying so, a port-forward to the plain listener) and either is taken.
/// `Origin: null` (sandboxed frames, redirects across origins) is foreign.
pub fn is_cross_site(public_url: Option<&str>, headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        let site = site.as_bytes();
        if site.eq_ignore_ascii_case(b"cross-site") || site.eq_ignore_ascii_case(b"same-site") {
            return true;
        }
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return false;
    };
    let Some(origin) = origin.to_str().ok().and_then(WebOrigin::of) else {
        return true;
    };
    if public_url
        .and_then(WebOrigin::of)
        .is_some_and(|public| public == origin)
    {
        return false;
    }
    let forwarded_scheme = headers
        .get("x-forwarded-proto")
        .and_then(|proto| proto.to_str().ok())
        .map(str::to_ascii_lowercase);
    let scheme = forwarded_scheme.as_deref().unwrap_or(&origin.scheme);
    let requested = headers
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
        .and_then(|host| WebOrigin::new(scheme, host));
    requested.is_none_or(|requested| requested != origin)
}

/// A web origin, compared as browsers do: scheme, host and port, case-insensitively,
/// with the scheme's default port written or not.
#[derive(Debug, PartialEq, Eq)]
struct WebOrigin {
    scheme: String,
    authority: String,
}

impl WebOrigin {
    /// The origin of `scheme://host:port/...`; `None` for anything else (`null`, user
    /// info, other schemes).
    fn of(url: &str) -> Option<WebOrigin> {
        let (scheme, rest) = url.split_once("://")?;
        let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
        WebOrigin::new(scheme, authority)
    }

    fn new(scheme: &str, authority: &str) -> Option<WebOrigin> {
        let scheme = scheme.to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "http" => ":80",
            "https" => ":443",
            _ => return None,
        };
        if authority.is_empty() || authority.contains('@') {
            return None;
        }
        let authority = authority.to_ascii_lowercase();
        let authority = authority
            .strip_suffix(default_port)
            .map_or(authority.clone(), str::to_owned);
        Some(WebOrigin { scheme, authority })
    }
}

/// The answer to a refused cross-site write: the HTML error page for a browser that
/// asks for one, JSON for everyone else (as for unknown routes).
pub fn refuse_cross_site(headers: &HeaderMap, page: HtmlErrorPage) -> Response {
    negotiated(
        headers,
        page,
        StatusCode::FORBIDDEN,
        "Not allowed",
        "This request came from another site's page; packyard accepts changes only from its own pages and from clients that are not browsers.",
        cross_site_refusal(),
    )
}

/// The JSON answer to a refused cross-site request.
pub fn cross_site_refusal() -> ApiError {
    ApiError::forbidden(
        "cross-site request refused: a page of another site (Origin or Sec-Fetch-Site) cannot change anything here",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, HeaderValue::from_static(value));
        }
        headers
    }

    #[test]
    fn foreign_origins_and_fetch_sites_are_cross_site() {
        let host = ("host", "repo.example:8080");
        for pairs in [
            vec![host, ("origin", "https://attacker.example")],
            vec![host, ("origin", "null")],
            vec![
                host,
                ("origin", "http://repo.example:8080.attacker.example"),
            ],
            vec![host, ("origin", "http://repo.example")],
            vec![
                host,
                ("x-forwarded-proto", "http"),
                ("origin", "https://repo.example:8080"),
            ],
            vec![host, ("origin", "ftp://repo.example:8080")],
            vec![host, ("sec-fetch-site", "cross-site")],
            vec![host, ("sec-fetch-site", "same-site")],
            vec![
                host,
                ("sec-fetch-site", "cross-site"),
                ("origin", "http://repo.example:8080"),
            ],
            vec![("origin", "https://attacker.example")],
        ] {
            assert!(is_cross_site(None, &headers(&pairs)), "{pairs:?}");
        }
    }

    #[test]
    fn own_pages_and_clients_that_are_not_browsers_are_not() {
        let host = ("host", "repo.example:8080");
        for pairs in [
            vec![host],
            vec![host, ("origin", "http://repo.example:8080")],
            vec![host, ("origin", "HTTP://REPO.example:8080")],
            vec![host, ("sec-fetch-site", "same-origin")],
            vec![host, ("sec-fetch-site", "none")],
        ] {
            assert!(!is_cross_site(None, &headers(&pairs)), "{pairs:?}");
        }
        // Behind a proxy that rewrites Host, the public URL is ours too.
        let proxied = headers(&[
            ("host", "packyard:8080"),
            ("origin", "https://repo.example.com"),
        ]);
        assert!(!is_cross_site(Some("https://repo.example.com"), &proxied));
        assert!(is_cross_site(Some("https://other.example.com"), &proxied));
        // Over https (as the proxy says), a page of the same host over plain http is
        // another origin; the default port may be written or not.
        let tls = headers(&[
            ("host", "repo.example.com"),
            ("x-forwarded-proto", "https"),
            ("origin", "http://repo.example.com"),
        ]);
        assert!(is_cross_site(None, &tls));
        assert!(is_cross_site(Some("https://repo.example.com"), &tls));
        // A proxy that terminates TLS without saying so, or a port-forward to the
        // plain listener of an https installation: the scheme is unknown, the host is
        // ours.
        let unsaid = headers(&[
            ("host", "repo.example.com"),
            ("origin", "https://repo.example.com"),
        ]);
        assert!(!is_cross_site(None, &unsaid));
        let forwarded = headers(&[
            ("host", "localhost:8080"),
            ("origin", "http://localhost:8080"),
        ]);
        assert!(!is_cross_site(Some("https://repo.example.com"), &forwarded));
        let behind_proxy = headers(&[
            ("host", "repo.example.com"),
            ("x-forwarded-proto", "https"),
            ("origin", "https://repo.example.com:443"),
        ]);
        assert!(!is_cross_site(None, &behind_proxy));
    }
}
