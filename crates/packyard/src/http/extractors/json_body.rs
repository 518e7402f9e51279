//! The body of a JSON API write. Its `Content-Type` must say JSON: a browser posts a
//! cross-site `<form>` only as `application/x-www-form-urlencoded`, `multipart/form-data`
//! or `text/plain`, all without asking the server first, so a JSON route that read any
//! body as JSON would take a form another site's page posts with the Basic credentials
//! the browser has cached. Anything else is a `415` before the body is read.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, StatusCode, header};

use crate::http::ApiError;

/// The raw bytes of a request body sent as JSON; handlers parse them into their own
/// type with the message of what they expected.
pub struct JsonBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        require_json(request.headers())?;
        let body = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                ApiError::new(
                    rejection.status(),
                    format!("reading the body failed: {rejection}"),
                )
            })?;
        Ok(JsonBody(body))
    }
}

/// `415` unless `Content-Type` is `application/json` or an `application/…+json` type
/// (parameters such as `charset` allowed).
pub fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    let media_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .map(|value| value.trim().to_ascii_lowercase());
    let is_json = media_type.as_deref().is_some_and(|media_type| {
        media_type == "application/json"
            || media_type
                .strip_prefix("application/")
                .is_some_and(|subtype| subtype.ends_with("+json") && !subtype.contains('/'))
    });
    if is_json {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the body as JSON with Content-Type: application/json",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with_type(value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(value));
        headers
    }

    #[test]
    fn only_json_media_types_pass() {
        for good in [
            "application/json",
            "Application/JSON; charset=utf-8",
            "application/vnd.github+json",
        ] {
            assert!(require_json(&with_type(good)).is_ok(), "{good}");
        }
        for bad in [
            "text/plain",
            "text/plain; x=application/json",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/jsonx",
            "text/json",
        ] {
            let refused = require_json(&with_type(bad)).unwrap_err();
            assert_eq!(refused.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{bad}");
        }
        assert!(require_json(&HeaderMap::new()).is_err());
    }
}
