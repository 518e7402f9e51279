//! Passwords for the web UI, hashed with argon2id (the crate's defaults: OWASP's
//! 19 MiB, 2 passes) into PHC strings. API tokens do not use these: a user without a
//! password is API-only and cannot log in.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

/// Shortest password accepted.
pub const MIN_LENGTH: usize = 8;
/// Longest: hashing cost grows with length, and nobody types more.
pub const MAX_LENGTH: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("the password is too short: use at least {MIN_LENGTH} characters")]
    TooShort,
    #[error("the password is too long: use at most {MAX_LENGTH} bytes")]
    TooLong,
    #[error("the password contains a line break or another control character")]
    ControlCharacter,
}

/// Checks a new password's shape (not its strength beyond its length).
pub fn check(password: &str) -> Result<(), PasswordError> {
    if password.chars().count() < MIN_LENGTH {
        Err(PasswordError::TooShort)
    } else if password.len() > MAX_LENGTH {
        Err(PasswordError::TooLong)
    } else if password.chars().any(char::is_control) {
        Err(PasswordError::ControlCharacter)
    } else {
        Ok(())
    }
}

/// The PHC string of `password` with a fresh random salt. Slow on purpose (tens of
/// milliseconds): call it off the async threads.
pub fn hash(password: &str) -> String {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).expect("the OS random number generator works");
    let salt = SaltString::encode_b64(&salt).expect("16 bytes make a valid salt");
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2id with default parameters hashes any password")
        .to_string()
}

/// Whether `password` matches the PHC string `stored`; a malformed `stored` matches
/// nothing. Slow on purpose, like [`hash`].
pub fn verify(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|parsed| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// Password hashing and checking at once: argon2 takes 19 MiB and tens of milliseconds
/// of CPU per call, so unbounded parallel logins could exhaust memory and starve every
/// request. One per core; others wait up to [`QUEUE_WAIT`].
static HASHING: std::sync::LazyLock<tokio::sync::Semaphore> = std::sync::LazyLock::new(|| {
    tokio::sync::Semaphore::new(
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
    )
});
/// How long a login waits for a free hashing slot before it is told to retry.
const QUEUE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// All hashing slots stayed busy.
#[derive(Debug, thiserror::Error)]
#[error("the server is busy checking other passwords; try again in a moment")]
pub struct Busy;

/// A slot for [`hash`] or [`verify`], held while the caller works with it.
pub async fn slot() -> Result<tokio::sync::SemaphorePermit<'static>, Busy> {
    tokio::time::timeout(QUEUE_WAIT, HASHING.acquire())
        .await
        .map_err(|_| Busy)?
        .map_err(|_| Busy)
}

/// [`hash`] off the async threads, in a hashing slot.
pub async fn hash_in_slot(password: String) -> Result<String, Busy> {
    let _slot = slot().await?;
    tokio::task::spawn_blocking(move || hash(&password))
        .await
        .map_err(|_| Busy)
}

/// A hash to verify against when the user does not exist or has no password, so that
/// a login for an unknown name takes as long as one with a wrong password.
pub fn decoy() -> &'static str {
    static DECOY: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(|| hash("not anyone's password"));
    &DECOY
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_only_their_password() {
        let stored = hash("correct horse");
        assert!(stored.starts_with("$argon2id$"), "{stored}");
        assert!(verify("correct horse", &stored));
        assert!(!verify("correct hors", &stored));
        assert_ne!(hash("correct horse"), stored, "salted");
        assert!(!verify("x", "not a phc string"));
        assert!(!verify(
            "not anyone's password",
            "$argon2id$v=19$m=19456,t=2,p=1$bad"
        ));
        assert!(verify("not anyone's password", decoy()));
    }

    #[test]
    fn shapes_are_checked() {
        assert_eq!(check("short"), Err(PasswordError::TooShort));
        assert_eq!(check("ünïcödé!"), Ok(()));
        assert_eq!(
            check(&"x".repeat(MAX_LENGTH + 1)),
            Err(PasswordError::TooLong)
        );
        assert_eq!(check("line\nbreak"), Err(PasswordError::ControlCharacter));
    }
}
