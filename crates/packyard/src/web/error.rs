//! Errors of web pages, answered as HTML pages in the site's look (JSON routes keep
//! their JSON errors). A page the viewer may not see is the same 404 page as one that
//! does not exist.

use askama::Template;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::pages::{Chrome, html_response};
use crate::error::{Classify, ErrorKind};

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("page not found")]
    NotFound,
    /// Not signed in: to the login page, then back to this path.
    #[error("sign-in required")]
    SignIn(String),
    #[error("the form's security token is missing or stale")]
    Csrf,
    #[error("the form is larger than {} KiB", super::form::FORM_BYTES / 1024)]
    TooLarge,
    #[error("the form is not sent as application/x-www-form-urlencoded")]
    NotAForm,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    BadRequest(String),
    /// A domain error, answered as its kind says (see `crate::error`).
    #[error("{message}")]
    Classified { kind: ErrorKind, message: String },
    #[error("{0}")]
    Internal(String),
}

/// Every domain error shows as its kind says, as the API answers it.
impl<E: Classify> From<E> for WebError {
    fn from(error: E) -> Self {
        let kind = error.kind();
        WebError::Classified {
            kind,
            message: kind.message(&error),
        }
    }
}

#[derive(Template)]
#[template(path = "errors/error.html")]
struct ErrorPage<'a> {
    chrome: Chrome,
    status: u16,
    title: &'a str,
    message: &'a str,
}

/// An error page with `status`, a title and a sentence.
pub fn error_page(status: StatusCode, title: &str, message: &str) -> Response {
    let page = ErrorPage {
        chrome: Chrome::anonymous(title),
        status: status.as_u16(),
        title,
        message,
    };
    match page.render() {
        Ok(html) => (status, html_response(html)).into_response(),
        Err(error) => {
            tracing::error!(%error, "rendering the error page failed");
            (status, title.to_owned()).into_response()
        }
    }
}

/// The title of the 404 page.
pub const NOT_FOUND_TITLE: &str = "Not found";
/// The sentence of the 404 page: the same for an unknown page and one the viewer may
/// not see.
pub const NOT_FOUND_SENTENCE: &str = "There is no such page, or you may not see it.";

/// The 404 page, for unknown routes as for pages the viewer may not see.
pub fn not_found_page() -> Response {
    error_page(StatusCode::NOT_FOUND, NOT_FOUND_TITLE, NOT_FOUND_SENTENCE)
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        match self {
            WebError::NotFound
            | WebError::Classified {
                kind: ErrorKind::NotFound,
                ..
            } => not_found_page(),
            WebError::SignIn(next) => {
                let location = format!("/login?next={}", encode_component(&next));
                (
                    StatusCode::SEE_OTHER,
                    [(header::LOCATION, location)],
                    "sign-in required",
                )
                    .into_response()
            }
            WebError::Csrf => error_page(
                StatusCode::FORBIDDEN,
                "Form expired",
                "This form's security token is missing or stale (or the form came from another site). Reload the page and try again.",
            ),
            error @ WebError::TooLarge => error_page(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Form too large",
                &sentence(&error.to_string()),
            ),
            error @ WebError::NotAForm => error_page(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Cannot read the form",
                &sentence(&error.to_string()),
            ),
            WebError::Forbidden(message) => {
                error_page(StatusCode::FORBIDDEN, "Not allowed", &message)
            }
            WebError::BadRequest(message) => {
                error_page(StatusCode::BAD_REQUEST, "Cannot do that", &message)
            }
            WebError::Classified { kind, message } => {
                let title = match kind {
                    ErrorKind::Forbidden => "Not allowed",
                    ErrorKind::TooLarge => "Too large",
                    ErrorKind::Upstream(_) => "Another server failed",
                    ErrorKind::Unavailable(_) => "Unavailable",
                    ErrorKind::Internal(_) => "Something went wrong",
                    ErrorKind::Invalid
                    | ErrorKind::NotFound
                    | ErrorKind::Conflict
                    | ErrorKind::Unprocessable => "Cannot do that",
                };
                error_page(kind.status(), title, &sentence(&message))
            }
            WebError::Internal(detail) => {
                tracing::error!(%detail, "internal error on a web page");
                error_page(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "The server failed to answer; the details are in its log.",
                )
            }
        }
    }
}

/// `text` as a sentence: its first letter in upper case, a full stop at the end (an
/// error's text is lowercase and unpunctuated, for logs and JSON).
pub(super) fn sentence(text: &str) -> String {
    format!("{}.", capitalized(text))
}

/// `text` with its first letter in upper case.
fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// Percent-encodes everything but unreserved characters, for a query value.
pub fn encode_component(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}
