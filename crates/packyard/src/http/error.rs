use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::secrets::SecretError;
use crate::sources::archive_file::ReceiveError;
use crate::sources::artifact::UploadError;
use crate::vcs_packages::VcsError;

/// An error answered as `{"status":"error","message":...}`.
#[derive(Debug)]
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
        tracing::error!(%error, "{context}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("{context}; see the server log"),
        )
    }

    pub fn unavailable(context: &str, error: impl std::fmt::Display) -> Self {
        tracing::warn!(%error, "{context}");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{context}: {error}"),
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
        use UploadError::*;
        match error {
            NotZip(_)
            | UnsafeEntry(_)
            | NoManifest
            | InvalidManifest(_)
            | InvalidName(_)
            | NameMismatch { .. }
            | MissingVersion
            | InvalidVersion { .. } => ApiError::bad_request(error.to_string()),
            VersionExists { .. } | WrongKind { .. } => {
                ApiError::new(StatusCode::CONFLICT, error.to_string())
            }
            Storage(e) => ApiError::unavailable("storage unavailable", e),
            Database(e) => ApiError::from(e),
            Io(e) => ApiError::internal("reading the upload failed", e),
        }
    }
}

impl From<VcsError> for ApiError {
    fn from(error: VcsError) -> Self {
        match error {
            VcsError::InvalidRequest(_) | VcsError::Secret(SecretError::NoSecret) => {
                ApiError::bad_request(error.to_string())
            }
            VcsError::Scan(_) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, error.to_string()),
            VcsError::NameTaken { .. } => ApiError::new(StatusCode::CONFLICT, error.to_string()),
            VcsError::UnknownPackage(_) => ApiError::not_found(error.to_string()),
            VcsError::Secret(SecretError::Undecryptable) => {
                ApiError::internal("stored credentials are unusable", error)
            }
            VcsError::Database(e) => ApiError::from(e),
            VcsError::Storage(e) => ApiError::unavailable("storage unavailable", e),
        }
    }
}

pub async fn not_found() -> ApiError {
    ApiError::not_found("no such route")
}
