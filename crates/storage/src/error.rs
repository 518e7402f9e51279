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
    #[error("{store} store: the bucket or container does not exist")]
    BucketMissing { store: &'static str },
    #[error("{store} store: no answer within {after:?}")]
    Timeout {
        store: &'static str,
        after: std::time::Duration,
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

    /// Whether the store failed by not answering in time — no answer within the
    /// timeout, or a transfer that made no progress for it (`transfer`'s stall) — as a
    /// busy or paused store does, rather than by refusing or denying: worth trying again.
    pub fn is_slow(&self) -> bool {
        if matches!(self, StorageError::Timeout { .. }) {
            return true;
        }
        let mut source: Option<&dyn std::error::Error> = Some(self);
        while let Some(error) = source {
            let timed_out = error
                .downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut);
            if timed_out || error.to_string().contains(crate::transfer::STALLED) {
                return true;
            }
            source = error.source();
        }
        false
    }
}

/// Why a store cannot be used, in words an operator can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Diagnosis {
    BucketMissing,
    AccessDenied,
    Unreachable,
    ClockSkew,
    Other,
}

impl Diagnosis {
    pub fn describe(self) -> &'static str {
        match self {
            Diagnosis::BucketMissing => "the bucket or container does not exist",
            Diagnosis::AccessDenied => "access denied: check the credentials and the bucket policy",
            Diagnosis::Unreachable => "the storage endpoint is unreachable",
            Diagnosis::ClockSkew => {
                "this machine's clock differs too much from the storage server's: sync the clock (NTP)"
            }
            Diagnosis::Other => "the storage backend failed",
        }
    }
}

impl StorageError {
    /// Classifies a failure from the messages of the whole error chain: backends report
    /// these conditions as codes inside their error bodies (`NoSuchBucket`,
    /// `RequestTimeTooSkewed`, ...), which object_store passes on as text.
    pub fn diagnose(&self) -> Diagnosis {
        let mut text = String::new();
        let mut source: Option<&dyn std::error::Error> = Some(self);
        while let Some(error) = source {
            text.push_str(&error.to_string());
            text.push('\n');
            source = error.source();
        }
        let has = |needles: &[&str]| needles.iter().any(|n| text.contains(n));
        if matches!(self, StorageError::BucketMissing { .. }) {
            Diagnosis::BucketMissing
        } else if has(&[
            "RequestTimeTooSkewed",
            "clock skew",
            "ClockSkew",
            "RequestExpired",
        ]) {
            Diagnosis::ClockSkew
        } else if has(&[
            "NoSuchBucket",
            "ContainerNotFound",
            "bucket does not exist",
            "The specified bucket",
        ]) {
            Diagnosis::BucketMissing
        } else if has(&[
            "AccessDenied",
            "InvalidAccessKeyId",
            "SignatureDoesNotMatch",
            "AuthorizationFailure",
            "AuthenticationFailed",
            "403 Forbidden",
            "401 Unauthorized",
            "InvalidClientTokenId",
            "ExpiredToken",
        ]) {
            Diagnosis::AccessDenied
        } else if matches!(self, StorageError::Timeout { .. })
            || has(&[
                "Connection refused",
                "connection refused",
                "dns error",
                "error trying to connect",
                "timed out",
                "tcp connect error",
            ])
        {
            Diagnosis::Unreachable
        } else {
            Diagnosis::Other
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generic(message: &str) -> StorageError {
        StorageError::Backend {
            store: "dist",
            source: object_store::Error::Generic {
                store: "S3",
                source: message.to_owned().into(),
            },
        }
    }

    #[test]
    fn stalls_and_timeouts_are_slow_refusals_are_not() {
        let slow = [
            StorageError::Timeout {
                store: "dist",
                after: std::time::Duration::from_secs(1),
            },
            generic("timed out: the store made no progress for 1.5s"),
            StorageError::Io {
                context: "reading".to_owned(),
                source: std::io::Error::new(std::io::ErrorKind::TimedOut, "late"),
            },
        ];
        for error in &slow {
            assert!(error.is_slow(), "{error}");
        }
        let not_slow = [
            generic("error trying to connect: tcp connect error: Connection refused"),
            generic("Client error with status 403 Forbidden: <Code>AccessDenied</Code>"),
            StorageError::BucketMissing { store: "dist" },
        ];
        for error in &not_slow {
            assert!(!error.is_slow(), "{error}");
        }
    }

    #[test]
    fn failures_are_classified_from_backend_codes() {
        let cases = [
            (
                "Client error with status 404 Not Found: <Code>NoSuchBucket</Code>",
                Diagnosis::BucketMissing,
            ),
            (
                "<Code>AccessDenied</Code><Message>Access Denied</Message>",
                Diagnosis::AccessDenied,
            ),
            (
                "<Code>SignatureDoesNotMatch</Code>",
                Diagnosis::AccessDenied,
            ),
            ("<Code>RequestTimeTooSkewed</Code>", Diagnosis::ClockSkew),
            (
                "error sending request: tcp connect error: Connection refused (os error 111)",
                Diagnosis::Unreachable,
            ),
            ("something else", Diagnosis::Other),
        ];
        for (message, expected) in cases {
            assert_eq!(generic(message).diagnose(), expected, "{message}");
        }
        let timeout = StorageError::Timeout {
            store: "dist",
            after: std::time::Duration::from_secs(1),
        };
        assert_eq!(timeout.diagnose(), Diagnosis::Unreachable);
    }
}
