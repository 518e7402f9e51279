//! The stylesheet and script, compiled into the binary and served under names that
//! carry a hash of their bytes, such as `/assets/style.0123456789abcdef.css`: a browser
//! keeps them for a year without asking again, and a release that changes a file
//! changes its URL. Pages take the URLs from here: the layout template writes
//! [`STYLE`]`.url()` and [`SCRIPT`]`.url()`, and no template spells a file name.
//!
//! A known file asked for under another hash, or under its plain name
//! (`/assets/style.css`, its URL before names were hashed), is answered with the
//! current bytes and `Cache-Control: no-store`. Such a request comes from a page of
//! another release (a replica not yet upgraded, or already upgraded, behind the same
//! load balancer; a page kept from before an upgrade): it still gets a style and a
//! script, and nothing keeps these bytes under a URL that does not name them. A
//! redirect to the current name would do neither better: between two replicas of
//! different releases it could bounce from one to the other. Any other name is the
//! 404 page.

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::error::WebError;

/// The stylesheet every page links.
pub static STYLE: Asset = Asset::new(
    "style",
    "css",
    "text/css; charset=utf-8",
    include_str!("../../assets/style.css"),
);

/// The script every page loads (deferred; every page works without it).
pub static SCRIPT: Asset = Asset::new(
    "app",
    "js",
    "text/javascript; charset=utf-8",
    include_str!("../../assets/app.js"),
);

const ASSETS: [&Asset; 2] = [&STYLE, &SCRIPT];

/// How a file with a hashed name is cached: a year (the most HTTP caches honour),
/// never revalidated, since other bytes get another name.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// How long the hash in a name is, in hex digits: 64 bits, plenty to tell the
/// releases of one file apart.
const HASH_DIGITS: usize = 16;

/// One embedded file.
pub struct Asset {
    /// The file's name without its extension: `style`.
    stem: &'static str,
    extension: &'static str,
    content_type: &'static str,
    body: &'static str,
    /// `/assets/{stem}.{hash}.{extension}`, made on first use.
    url: OnceLock<String>,
}

impl Asset {
    const fn new(
        stem: &'static str,
        extension: &'static str,
        content_type: &'static str,
        body: &'static str,
    ) -> Asset {
        Asset {
            stem,
            extension,
            content_type,
            body,
            url: OnceLock::new(),
        }
    }

    /// The path pages link it by: its name with the hash of its bytes.
    pub fn url(&self) -> &str {
        self.url.get_or_init(|| {
            format!(
                "/assets/{}",
                hashed_name(self.stem, self.extension, self.body.as_bytes())
            )
        })
    }

    /// Whether `file` names this asset under its current hash (`Some(true)`), under
    /// another hash or none (`Some(false)`), or is not a name of it at all.
    fn named_by(&self, file: &str) -> Option<bool> {
        if Some(file) == self.url().strip_prefix("/assets/") {
            return Some(true);
        }
        let middle = file
            .strip_prefix(self.stem)?
            .strip_suffix(self.extension)?
            .strip_suffix('.')?;
        let other_hash = match middle.strip_prefix('.') {
            Some(hash) => !hash.is_empty() && hash.bytes().all(|b| b.is_ascii_hexdigit()),
            None => middle.is_empty(),
        };
        other_hash.then_some(false)
    }
}

/// `{stem}.{hash}.{extension}`, the hash being the first [`HASH_DIGITS`] hex digits of
/// the SHA-256 of `bytes`.
fn hashed_name(stem: &str, extension: &str, bytes: &[u8]) -> String {
    let digest = hex::encode(Sha256::digest(bytes));
    format!("{stem}.{}.{extension}", &digest[..HASH_DIGITS])
}

/// `GET /assets/{file}`.
pub async fn serve(Path(file): Path<String>) -> Result<Response, WebError> {
    let (asset, current) = ASSETS
        .iter()
        .find_map(|asset| Some((*asset, asset.named_by(&file)?)))
        .ok_or(WebError::NotFound)?;
    let cache = if current { IMMUTABLE } else { "no-store" };
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
        ],
        asset.body,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_name_changes_with_the_bytes_and_only_with_them() {
        let name = hashed_name("style", "css", b"body { color: black }");
        assert_eq!(name, hashed_name("style", "css", b"body { color: black }"));
        assert_ne!(name, hashed_name("style", "css", b"body { color: white }"));
        let hash = name
            .strip_prefix("style.")
            .and_then(|rest| rest.strip_suffix(".css"))
            .unwrap();
        assert_eq!(hash.len(), HASH_DIGITS);
        assert!(hash.bytes().all(|b| b.is_ascii_hexdigit()), "{hash}");
        // The SHA-256 of nothing begins e3b0c442 98fc1c14.
        assert_eq!(hashed_name("a", "js", b""), "a.e3b0c44298fc1c14.js");
    }

    #[test]
    fn every_asset_is_served_under_its_url() {
        for asset in ASSETS {
            let url = asset.url();
            assert_eq!(
                url,
                format!(
                    "/assets/{}",
                    hashed_name(asset.stem, asset.extension, asset.body.as_bytes())
                )
            );
            assert_eq!(asset.named_by(&url["/assets/".len()..]), Some(true));
        }
        assert_eq!(STYLE.named_by("style.css"), Some(false));
        assert_eq!(STYLE.named_by("style.0123456789abcdef.css"), Some(false));
        assert_eq!(STYLE.named_by("style.0123.css"), Some(false));
        for other in [
            "style..css",
            "style.x.css",
            "style.0123.js",
            "stylecss",
            "style.css.map",
            "app.css",
            "style",
        ] {
            assert_eq!(STYLE.named_by(other), None, "{other}");
        }
        assert_eq!(SCRIPT.named_by("app.js"), Some(false));
    }
}
