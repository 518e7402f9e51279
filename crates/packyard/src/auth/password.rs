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

/// Whether `password` matches `stored`: a PHC string of argon2id or argon2i (ours, and
/// what Symfony's `auto`, `argon2i`, `argon2id` and `sodium` hashers write), or a
/// bcrypt hash (`$2y$`, `$2b$`, `$2a$`: Symfony's `bcrypt` and `auto` hashers), as
/// imported from Packeton. A malformed `stored` matches nothing. Slow on purpose,
/// like [`hash`].
pub fn verify(password: &str, stored: &str) -> bool {
    if let Some(legacy) = stored.strip_prefix(LEGACY_SHA512) {
        return verify_legacy_sha512(password, legacy);
    }
    if !affordable(stored) {
        return false;
    }
    if is_bcrypt(stored) {
        // bcrypt reads at most 72 bytes; Symfony refuses longer passwords for it, so
        // a longer one cannot be the one that was hashed.
        return password.len() <= 72 && bcrypt::verify(password, stored).unwrap_or(false);
    }
    PasswordHash::new(stored).is_ok_and(|parsed| {
        // The algorithm and its costs come from the hash itself (bounded above).
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// Highest costs a stored hash may ask for: a hash is imported data, and its costs
/// decide what one login takes (an argon2 memory cost of 4 TiB would abort the
/// process; a bcrypt cost of 31, hours of CPU). Symfony's own are bcrypt 13 and
/// argon2 64 MiB, 4 passes.
const MAX_BCRYPT_COST: u32 = 15;
const MAX_ARGON2_MEMORY_KIB: u32 = 256 * 1024;
const MAX_ARGON2_PASSES: u32 = 10;
const MAX_ARGON2_LANES: u32 = 8;

/// Whether verifying against `stored` costs no more than the bounds allow: a hash
/// that asks for more matches nothing.
pub fn affordable(stored: &str) -> bool {
    if is_bcrypt(stored) {
        return stored
            .get(4..6)
            .and_then(|cost| cost.parse::<u32>().ok())
            .is_some_and(|cost| cost <= MAX_BCRYPT_COST);
    }
    let Ok(parsed) = PasswordHash::new(stored) else {
        // Nothing to verify, and nothing to spend.
        return true;
    };
    let param = |name: &str| parsed.params.get_decimal(name).unwrap_or(u32::MAX);
    param("m") <= MAX_ARGON2_MEMORY_KIB
        && param("t") <= MAX_ARGON2_PASSES
        && param("p") <= MAX_ARGON2_LANES
}

/// Whether `stored` (which a password just matched) should be replaced by a hash of
/// ours: anything but argon2id at today's parameters, such as a bcrypt or argon2i hash
/// imported from Packeton, or argon2id at other costs.
pub fn needs_rehash(stored: &str) -> bool {
    static OURS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        let ours = hash("any password");
        // `$argon2id$v=19$m=…,t=…,p=…$`: everything before the salt.
        ours.rsplitn(3, '$').nth(2).unwrap_or_default().to_owned()
    });
    !stored.starts_with(&format!("{}$", OURS.as_str()))
}

/// How an imported hash of Packeton's `legacy` hasher (FOSUserBundle's) is stored:
/// `$packeton-sha512$` + the hex of the user's salt + `$` + the hex digest.
pub const LEGACY_SHA512: &str = "$packeton-sha512$";

/// A legacy hash as stored here, from Packeton's `password` and `salt` columns.
pub fn legacy_sha512(digest_hex: &str, salt: &str) -> String {
    format!("{LEGACY_SHA512}{}${digest_hex}", hex::encode(salt))
}

/// Symfony's message-digest hasher as Packeton configures it (`sha512`, one
/// iteration, hex): `sha512(password{salt})`, or of the password alone without a salt.
fn verify_legacy_sha512(password: &str, stored: &str) -> bool {
    use sha2::Digest;
    let Some((salt, digest)) = stored.split_once('$') else {
        return false;
    };
    let Ok(salt) = hex::decode(salt).map(String::from_utf8) else {
        return false;
    };
    let Ok(salt) = salt else { return false };
    let salted = if salt.is_empty() {
        password.to_owned()
    } else {
        format!("{password}{{{salt}}}")
    };
    let computed = hex::encode(sha2::Sha512::digest(salted.as_bytes()));
    crate::auth::constant_time_eq(computed.as_bytes(), digest.to_ascii_lowercase().as_bytes())
}

fn is_bcrypt(stored: &str) -> bool {
    ["$2y$", "$2b$", "$2a$", "$2x$"]
        .iter()
        .any(|prefix| stored.starts_with(prefix))
}

/// Password hashing and checking at once: argon2 takes 19 MiB and tens of milliseconds
/// of CPU per call, so unbounded parallel logins could exhaust memory and starve every
/// request. Logins from many addresses (a botnet, or the many /64s of one IPv6
/// allocation) pass the per-address limits, so the slots are what bounds them: one per
/// two cores (at least one), so that logins never take more than half the CPU from
/// serving; others wait up to [`QUEUE_WAIT`], at most [`WAITING_PER_SLOT`] per slot.
static HASHING: std::sync::LazyLock<tokio::sync::Semaphore> =
    std::sync::LazyLock::new(|| tokio::sync::Semaphore::new(slots()));
/// How long a login waits for a free hashing slot before it is told to retry.
const QUEUE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);
/// Logins waiting for a slot, per slot, beyond which more are told to retry at once
/// (each holds a connection and its form meanwhile).
const WAITING_PER_SLOT: usize = 16;
/// Logins waiting for a slot now.
static WAITING: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Counts one login in [`WAITING`] for as long as it waits, however the wait ends (the
/// client may go away meanwhile, dropping the future that waits).
struct Waiting;

impl Drop for Waiting {
    fn drop(&mut self) {
        WAITING.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// Hashing slots: half the cores, at least one.
fn slots() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    (cores / 2).max(1)
}

/// All hashing slots stayed busy.
#[derive(Debug, thiserror::Error)]
#[error("the server is busy checking other passwords; try again in a moment")]
pub struct Busy;

/// A slot for [`hash`] or [`verify`], held while the caller works with it.
pub async fn slot() -> Result<tokio::sync::SemaphorePermit<'static>, Busy> {
    use std::sync::atomic::Ordering;
    if let Ok(permit) = HASHING.try_acquire() {
        return Ok(permit);
    }
    let waiting = Waiting;
    if WAITING.fetch_add(1, Ordering::AcqRel) >= slots() * WAITING_PER_SLOT {
        return Err(Busy);
    }
    let permit = tokio::time::timeout(QUEUE_WAIT, HASHING.acquire()).await;
    drop(waiting);
    permit.map_err(|_| Busy)?.map_err(|_| Busy)
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

    /// Hashes from PHP's own `password_hash()`, which Symfony's hashers call: bcrypt
    /// (cost 13, Symfony's default), argon2i and argon2id.
    #[test]
    fn phps_hashes_verify_and_are_replaced_by_ours() {
        let php = |code: &str| {
            std::process::Command::new("php")
                .args(["-r", code])
                .output()
                .ok()
                .filter(|out| out.status.success())
                .map(|out| String::from_utf8(out.stdout).unwrap())
        };
        // Fresh hashes from the real PHP when it is here (scripts/test installs it).
        let Some(out) = php(
            "echo password_hash('correct horse', PASSWORD_BCRYPT, ['cost' => 13]), \"\\n\", password_hash('correct horse', PASSWORD_ARGON2I), \"\\n\", password_hash('correct horse', PASSWORD_ARGON2ID);",
        ) else {
            assert!(
                std::env::var("PACKYARD_TEST_REQUIRE_SERVICES").as_deref() != Ok("1"),
                "php is needed"
            );
            return;
        };
        let hashes: Vec<&str> = out.lines().collect();
        assert_eq!(hashes.len(), 3, "{hashes:?}");
        for &stored in &hashes {
            assert!(verify("correct horse", stored), "{stored}");
            assert!(!verify("correct hors", stored), "{stored}");
            assert!(needs_rehash(stored), "{stored}");
        }
        assert!(hashes[0].starts_with("$2y$13$") && hashes[2].starts_with("$argon2id$"));
        assert!(!needs_rehash(&hash("correct horse")));
        assert!(!verify(&"x".repeat(73), hashes[0]));
    }

    #[test]
    fn packetons_legacy_sha512_hashes_verify() {
        let php = std::process::Command::new("php")
            .args(["-r", "echo hash('sha512', 'correct horse{pepper}');"])
            .output();
        let Some(digest) = php
            .ok()
            .filter(|out| out.status.success())
            .map(|out| String::from_utf8(out.stdout).unwrap())
        else {
            assert!(
                std::env::var("PACKYARD_TEST_REQUIRE_SERVICES").as_deref() != Ok("1"),
                "php is needed"
            );
            return;
        };
        let stored = legacy_sha512(&digest, "pepper");
        assert!(verify("correct horse", &stored));
        assert!(!verify("correct horse", &legacy_sha512(&digest, "salt")));
        assert!(!verify("correct hors", &stored));
        assert!(needs_rehash(&stored));
        assert!(!verify("x", "$packeton-sha512$zz$00"));
    }

    #[test]
    fn hashes_that_would_cost_too_much_match_nothing_and_cost_nothing() {
        let started = std::time::Instant::now();
        for stored in [
            "$2y$31$0n0y0ZL8n3n1I3P2VfK0U.9c8mS2TCsJZJ9D8L8WQ0p1g0C2n3GkK",
            "$argon2id$v=19$m=4294967295,t=4,p=1$c2FsdHNhbHQ$8m4s0J6P8q1bZsZyv1o9rWb0X9xv3ZfY7QvCwX5nE6k",
            "$argon2id$v=19$m=65536,t=4000000,p=1$c2FsdHNhbHQ$8m4s0J6P8q1bZsZyv1o9rWb0X9xv3ZfY7QvCwX5nE6k",
            "$argon2i$v=19$m=65536,t=4,p=255$c2FsdHNhbHQ$8m4s0J6P8q1bZsZyv1o9rWb0X9xv3ZfY7QvCwX5nE6k",
        ] {
            assert!(!affordable(stored), "{stored}");
            assert!(!verify("any", stored), "{stored}");
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        assert!(affordable(&hash("x")));
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
