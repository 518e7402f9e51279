use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::git_packages::{BuildError, GitPackageError};
use crate::mirror::ApproveError;
use crate::secrets::SecretError;
use crate::uploads::archive_file::ReceiveError;
use crate::uploads::artifact::UploadError;

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

    /// A failure of ours or of a backend; the details go to the log, not the client.
    pub fn internal(context: &str, error: impl std::fmt::Display) -> Self {
        Self::logged(StatusCode::INTERNAL_SERVER_ERROR, context, error)
    }

    /// `status` with `context` for the client and the error itself in the log only.
    pub fn logged(status: StatusCode, context: &str, error: impl std::fmt::Display) -> Self {
        tracing::error!(%error, "{context}");
        Self::new(status, format!("{context}; see the server log"))
    }

    /// `503`: a backend (the database, a store) failed. What it said stays in the log:
    /// driver and store errors name hosts, users, tables and keys.
    pub fn unavailable(context: &str, error: impl std::fmt::Display) -> Self {
        tracing::warn!(%error, "{context}");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{context}; try again shortly (the reason is in the server log)"),
        )
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

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        ApiError::unavailable("database unavailable", error)
    }
}

impl From<ReceiveError> for ApiError {
    fn from(error: ReceiveError) -> Self {
        match error {
            ReceiveError::TooLarge { .. } => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, error.to_string())
            }
            ReceiveError::Body(_) => ApiError::bad_request(error.to_string()),
            ReceiveError::Io { .. } => ApiError::internal("storing the upload failed", error),
        }
    }
}

impl From<UploadError> for ApiError {
    fn from(error: UploadError) -> Self {
        use UploadError::{
            Database, InvalidManifest, InvalidName, InvalidVersion, Io, MissingVersion,
            NameMismatch, NoManifest, NotZip, Storage, UnsafeEntry, VersionExists, VersionTooLong,
            WrongKind,
        };
        match error {
            NotZip(_)
            | UnsafeEntry(_)
            | NoManifest
            | InvalidManifest(_)
            | InvalidName(_)
            | NameMismatch { .. }
            | MissingVersion
            | InvalidVersion { .. }
            | VersionTooLong(_) => ApiError::bad_request(error.to_string()),
            VersionExists { .. } | WrongKind { .. } => {
                ApiError::new(StatusCode::CONFLICT, error.to_string())
            }
            Storage(e) => ApiError::unavailable("storage unavailable", e),
            Database(e) => ApiError::from(e),
            Io(e) => ApiError::internal("reading the upload failed", e),
        }
    }
}

impl From<GitPackageError> for ApiError {
    fn from(error: GitPackageError) -> Self {
        use GitPackageError::{
            Build, Database, InvalidUrl, KeyFile, KnownHosts, LocalRepositoryRefused, NameTaken,
            Scan, Secret, Storage, UnknownPackage, UnreadableCredentials,
        };
        match error {
            InvalidUrl(_) | LocalRepositoryRefused(_) | Secret(SecretError::NoSecret) => {
                ApiError::bad_request(error.to_string())
            }
            Scan { .. } => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, error.to_string()),
            NameTaken { .. } => ApiError::new(StatusCode::CONFLICT, error.to_string()),
            UnknownPackage(_) => ApiError::not_found(error.to_string()),
            // The repository could not give the commit: git's words (which may quote the
            // remote) go to the log only.
            Build {
                source: BuildError::Git(_),
                ..
            } => ApiError::logged(
                StatusCode::BAD_GATEWAY,
                "the repository could not be read to build the archive",
                error,
            ),
            Secret(SecretError::Undecryptable) | UnreadableCredentials { .. } => {
                ApiError::internal("stored credentials are unusable", error)
            }
            KeyFile(_) | KnownHosts { .. } | Build { .. } => {
                ApiError::internal("a server-side step failed", error)
            }
            Database(e) => ApiError::from(e),
            Storage(e) => ApiError::unavailable("storage unavailable", e),
        }
    }
}

impl From<ApproveError> for ApiError {
    fn from(error: ApproveError) -> Self {
        match error {
            ApproveError::InvalidName(_) => ApiError::bad_request(error.to_string()),
            ApproveError::Database(e) => e.into(),
        }
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
