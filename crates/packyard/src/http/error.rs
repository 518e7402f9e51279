use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::error::{Classify, ErrorKind};

/// An error answered as `{"status":"error","message":...}`.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }

    /// `500`: a failure of ours; `context` for the client, the error in the log only.
    pub fn internal(context: &'static str, error: impl std::fmt::Display) -> Self {
        Self::of_kind(ErrorKind::Internal(context), &error)
    }

    /// `503`: a backend (the database, a store) failed. What it said stays in the log:
    /// driver and store errors name hosts, users, tables and keys.
    pub fn unavailable(context: &'static str, error: impl std::fmt::Display) -> Self {
        Self::of_kind(ErrorKind::Unavailable(context), &error)
    }

    /// `error` answered as `kind` says (see `crate::error`): its status, and its text or
    /// the kind's sentence.
    fn of_kind(kind: ErrorKind, error: &dyn std::fmt::Display) -> Self {
        Self::new(kind.status(), kind.message(error))
    }
}

/// Every domain error answers as its kind says (see `crate::error`).
impl<E: Classify> From<E> for ApiError {
    fn from(error: E) -> Self {
        ApiError::of_kind(error.kind(), &error)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(json!({"status": "error", "message": self.message}));
        if self.status == StatusCode::UNAUTHORIZED {
            let challenge = [(header::WWW_AUTHENTICATE, "Basic realm=\"packyard\"")];
            return (self.status, challenge, body).into_response();
        }
        (self.status, body).into_response()
    }
}

/// How an error looks to a browser: an HTML page with a status, a title and a
/// sentence. The web UI renders it; whoever composes the routes hands it to the HTTP
/// layer, which does not know the web UI.
pub type HtmlErrorPage = fn(StatusCode, &str, &str) -> Response;

/// An error answered as the client asks: `page` for a browser (which asks for
/// `text/html`), `api` as JSON for everyone else, so that API clients keep getting
/// JSON.
pub fn negotiated(
    headers: &axum::http::HeaderMap,
    page: HtmlErrorPage,
    status: StatusCode,
    title: &str,
    sentence: &str,
    api: ApiError,
) -> Response {
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|accept| accept.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    if wants_html {
        page(status, title, sentence)
    } else {
        api.into_response()
    }
}
