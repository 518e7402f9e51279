use thiserror::Error;

#[derive(Debug, Error)]
pub enum StorageError {
    #[error("object {key} not found in the {store} store")]
    NotFound { store: &'static str, key: String },
    #[error("invalid object key {key:?}: {reason}")]
    InvalidKey { key: String, reason: String },
    #[error("{store} store: {source}")]
    Backend {
        store: &'static str,
        #[source]
        source: object_store::Error,
    },
    #[error("{store} store: probe object read back different bytes")]
    ProbeMismatch { store: &'static str },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl StorageError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, StorageError::NotFound { .. })
    }
}
