//! Requests a browser makes on another site's behalf. A browser attaches its cookies and
//! the Basic credentials it has cached to a form another site posts to us, so every
//! state-changing route (the web UI's forms and the JSON API's writes) refuses requests
//! that say they come from elsewhere, from their headers alone, before the body is read.
//!
//! Browsers say where a request comes from in `Sec-Fetch-Site` (all current ones) and
//! `Origin` (on every POST). Clients that are not browsers — Composer, curl, CI, code
//! hosts delivering webhooks — send neither, and are not affected.

use axum::http::{HeaderMap, header};

/// Whether the request was made by a page of another origin: `Sec-Fetch-Site` says
/// `cross-site` or `same-site` (a sibling subdomain is another origin too), or `Origin`
/// names a host other than the one the request was sent to (its `Host`) or the
/// public URL's. `Origin: null` (sandboxed frames, redirects across origins) is foreign.
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
    let Some(origin) = origin.to_str().ok().and_then(authority) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|host| host.to_str().ok());
    let ours = [host, public_url.and_then(authority)];
    !ours
        .into_iter()
        .flatten()
        .any(|ours| ours.eq_ignore_ascii_case(origin))
}

/// `host:port` of `scheme://host:port/...`; `None` for anything else (`null`).
fn authority(url: &str) -> Option<&str> {
    let (_, rest) = url.split_once("://")?;
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    (!authority.is_empty() && !authority.contains('@')).then_some(authority)
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
            vec![host, ("origin", "https://REPO.example:8080")],
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
    }
}
