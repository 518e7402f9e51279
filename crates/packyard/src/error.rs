//! One classification of failures, rendered twice: as `{"status":"error"}` JSON by
//! `http::ApiError` and as an HTML page by the web UI's `WebError`.
//!
//! # Error policy
//!
//! Each domain error says what kind of failure it is next to its definition
//! (`impl Classify`); the front-ends never decide a status themselves.
//!
//! - **The caller's fault** ([`ErrorKind::Invalid`], `NotFound`, `Conflict`,
//!   `TooLarge`, `Unprocessable`, `Forbidden`): a 4xx whose message is the error's own
//!   text. It names the problem in what the caller sent, so it may be shown; it must
//!   never quote another server, a credential or a path on the server. Not logged
//!   above `debug` (callers make these all day).
//! - **Another server's fault** ([`ErrorKind::Upstream`]): `502` with the sentence of
//!   the kind only. What the other server said is logged (`warn`), never echoed: an
//!   upstream's body may carry anything, including our own credentials reflected.
//! - **A backend is down** ([`ErrorKind::Unavailable`]): `503` with the sentence of
//!   the kind and "try again shortly". The driver's or store's words go to the log
//!   (`warn`): they name hosts, users, tables and keys.
//! - **Our own failure** ([`ErrorKind::Internal`]): `500` with the sentence of the kind
//!   and "see the server log"; the details are logged (`error`).
//!
//! Forbidden must look like unknown wherever the caller may not learn that something
//! exists: such code answers `NotFound`, not `Forbidden` (see ARCHITECTURE.md, "Access
//! control").

use axum::http::StatusCode;

/// What kind of failure an error is: decides its status, whether its text is shown,
/// and whether it is logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// `400`: the request is malformed or a value is out of bounds.
    Invalid,
    /// `403`: the caller is known and may not do this (only where existence is no
    /// secret).
    Forbidden,
    /// `404`: no such thing (or none the caller may see).
    NotFound,
    /// `409`: it exists already, or is of another kind.
    Conflict,
    /// `413`: the body is larger than allowed.
    TooLarge,
    /// `422`: well-formed, but what it points at cannot be used (a repository that
    /// does not scan).
    Unprocessable,
    /// `502`: another server (an upstream, a git remote) failed; the sentence is shown,
    /// its words are logged.
    Upstream(&'static str),
    /// `503`: the database or a store failed; the sentence is shown, the error logged.
    Unavailable(&'static str),
    /// `500`: packyard failed; the sentence is shown, the error logged.
    Internal(&'static str),
}

impl ErrorKind {
    pub fn status(self) -> StatusCode {
        match self {
            ErrorKind::Invalid => StatusCode::BAD_REQUEST,
            ErrorKind::Forbidden => StatusCode::FORBIDDEN,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::Conflict => StatusCode::CONFLICT,
            ErrorKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::Unprocessable => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorKind::Upstream(_) => StatusCode::BAD_GATEWAY,
            ErrorKind::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Whether the caller can fix it by sending something else: its text is shown
    /// (a web form shows it beside the form again).
    pub fn is_callers_fault(self) -> bool {
        !matches!(
            self,
            ErrorKind::Upstream(_) | ErrorKind::Unavailable(_) | ErrorKind::Internal(_)
        )
    }

    /// What the caller is told of `error`: its own text when it is the caller's fault,
    /// otherwise the kind's sentence, with `error` logged.
    pub fn message(self, error: &dyn std::fmt::Display) -> String {
        match self {
            ErrorKind::Upstream(context) => {
                // Another server's failure, not ours: an upstream outage is a warning
                // per request, not an error.
                tracing::warn!(%error, "{context}");
                format!("{context}; see the server log")
            }
            ErrorKind::Unavailable(context) => {
                tracing::warn!(%error, "{context}");
                format!("{context}; try again shortly (the reason is in the server log)")
            }
            ErrorKind::Internal(context) => {
                tracing::error!(%error, "{context}");
                format!("{context}; see the server log")
            }
            _ => error.to_string(),
        }
    }
}

/// An error that knows its kind.
pub trait Classify: std::error::Error {
    fn kind(&self) -> ErrorKind;
}

impl Classify for sqlx::Error {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Unavailable("database unavailable")
    }
}

impl Classify for storage::StorageError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Unavailable("storage unavailable")
    }
}

impl Classify for crate::secrets::SecretError {
    fn kind(&self) -> ErrorKind {
        match self {
            // Asking to store credentials on a server without a secret: the caller
            // learns why it cannot, and the operator what to set.
            crate::secrets::SecretError::NoSecret => ErrorKind::Invalid,
            crate::secrets::SecretError::Undecryptable => {
                ErrorKind::Internal("stored credentials are unusable")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_callers_faults_show_their_text() {
        #[derive(Debug, thiserror::Error)]
        #[error("host db.internal:5432 refused user packyard")]
        struct Leaky;
        assert_eq!(ErrorKind::Invalid.message(&Leaky), Leaky.to_string());
        for kind in [
            ErrorKind::Upstream("the upstream failed"),
            ErrorKind::Unavailable("database unavailable"),
            ErrorKind::Internal("a server-side step failed"),
        ] {
            let message = kind.message(&Leaky);
            assert!(!message.contains("db.internal"), "{message}");
            assert!(!kind.is_callers_fault());
            assert!(kind.status().as_u16() >= 500);
        }
    }
}
