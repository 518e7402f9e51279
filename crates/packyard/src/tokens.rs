//! API tokens: their format and their scopes.
//!
//! A token is `pky_`, 32 random base62 characters and a 6-character base62 CRC32 of
//! them, so that secret scanners and the server itself recognise one before any
//! database lookup (a mistyped or truncated token is refused without a query). Tokens
//! are stored as their SHA-256 and shown once. Tokens made before this format (64 hex
//! characters) keep working with a user name.
//!
//! A token's rights are its owner's, cut down to its scopes (Packeton's names). Tokens
//! are issued by `access::AccessAdmin::issue_token`, the one place that makes and
//! stores them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub const PREFIX: &str = "pky_";
const RANDOM_LENGTH: usize = 32;
const CHECKSUM_LENGTH: usize = 6;
const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A new random token.
pub fn generate() -> String {
    let mut random = String::with_capacity(RANDOM_LENGTH);
    let mut bytes = [0u8; RANDOM_LENGTH];
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    // 62 × 4 = 248: rejecting bytes ≥ 248 keeps every character equally likely.
    let mut pool = bytes.to_vec();
    while random.len() < RANDOM_LENGTH {
        if pool.is_empty() {
            let mut more = [0u8; RANDOM_LENGTH];
            getrandom::fill(&mut more).expect("the operating system's random source failed");
            pool.extend_from_slice(&more);
        }
        let byte = pool.pop().expect("refilled above");
        if byte < 248 {
            random.push(char::from(BASE62[usize::from(byte % 62)]));
        }
    }
    format!(
        "{PREFIX}{random}{}",
        std::str::from_utf8(&checksum(&random)).expect("base62 is ASCII")
    )
}

/// Whether `token` is a personal access token imported from Packeton: `pat_` and its
/// secret (64 hex characters as Packeton makes them; 32 to 128 letters and digits
/// accepted). Like ours, it names its owner: it is looked up by its hash alone.
pub fn is_packeton_pat(token: &str) -> bool {
    token.strip_prefix("pat_").is_some_and(|secret| {
        (32..=128).contains(&secret.len()) && secret.bytes().all(|b| b.is_ascii_alphanumeric())
    })
}

/// Whether `token` has this format and a valid checksum.
pub fn is_well_formed(token: &str) -> bool {
    let Some(body) = token.strip_prefix(PREFIX) else {
        return false;
    };
    if body.len() != RANDOM_LENGTH + CHECKSUM_LENGTH
        || !body.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return false;
    }
    let (random, check) = body.split_at(RANDOM_LENGTH);
    checksum(random) == check.as_bytes()
}

/// The base62 digits of the CRC-32 (IEEE 802.3, as zlib's `crc32`) of `random`.
/// Checked on every authenticated request, so it allocates nothing.
fn checksum(random: &str) -> [u8; CHECKSUM_LENGTH] {
    let mut value = crc32fast::hash(random.as_bytes());
    let mut digits = [b'0'; CHECKSUM_LENGTH];
    for digit in digits.iter_mut().rev() {
        *digit = BASE62[(value % 62) as usize];
        value /= 62;
    }
    digits
}

/// What a token may be used for (Packeton's scope names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Scope {
    /// Composer metadata, archives and install notifications.
    #[serde(rename = "metadata")]
    Metadata,
    /// Mirrored repositories.
    #[serde(rename = "mirror:read")]
    MirrorRead,
    /// Mirrored repositories and their management (approvals).
    #[serde(rename = "mirror:all")]
    MirrorAll,
    /// Push webhooks, and managing outgoing webhooks (admins).
    #[serde(rename = "webhooks")]
    Webhooks,
    /// Reading packages and jobs through the API.
    #[serde(rename = "packages:read")]
    PackagesRead,
    /// Adding, uploading and updating packages.
    #[serde(rename = "packages:all")]
    PackagesAll,
    /// Managing users and tokens.
    #[serde(rename = "users")]
    Users,
    /// Managing groups.
    #[serde(rename = "groups")]
    Groups,
}

impl Scope {
    pub const ALL: [Scope; 8] = [
        Scope::Metadata,
        Scope::MirrorRead,
        Scope::MirrorAll,
        Scope::Webhooks,
        Scope::PackagesRead,
        Scope::PackagesAll,
        Scope::Users,
        Scope::Groups,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Metadata => "metadata",
            Scope::MirrorRead => "mirror:read",
            Scope::MirrorAll => "mirror:all",
            Scope::Webhooks => "webhooks",
            Scope::PackagesRead => "packages:read",
            Scope::PackagesAll => "packages:all",
            Scope::Users => "users",
            Scope::Groups => "groups",
        }
    }

    /// Whether holding this scope allows what `needed` allows (`packages:all` covers
    /// `packages:read`, `mirror:all` covers `mirror:read`).
    pub fn covers(self, needed: Scope) -> bool {
        self == needed
            || matches!(
                (self, needed),
                (Scope::PackagesAll, Scope::PackagesRead) | (Scope::MirrorAll, Scope::MirrorRead)
            )
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A scope name that is none of Packeton's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown scope {0:?}: use metadata, mirror:read, mirror:all, webhooks, packages:read, packages:all, users or groups"
)]
pub struct UnknownScope(pub String);

impl FromStr for Scope {
    type Err = UnknownScope;

    fn from_str(name: &str) -> Result<Scope, UnknownScope> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == name)
            .ok_or_else(|| UnknownScope(name.to_owned()))
    }
}

/// The scopes a token holds; `None` is every scope (tokens made before scopes).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scopes(pub Option<Vec<Scope>>);

impl Scopes {
    pub fn allow(&self, needed: Scope) -> bool {
        self.0
            .as_ref()
            .is_none_or(|held| held.iter().any(|scope| scope.covers(needed)))
    }

    /// For the database: a JSON list, or NULL for every scope.
    pub fn to_column(&self) -> Option<String> {
        self.0
            .as_ref()
            .map(|scopes| serde_json::to_string(scopes).expect("scopes serialize"))
    }

    /// From the database; an unreadable list grants nothing rather than everything.
    pub fn from_column(column: Option<&str>) -> Scopes {
        Scopes(column.map(|text| serde_json::from_str(text).unwrap_or_default()))
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            None => f.write_str("all scopes"),
            Some(scopes) => {
                let names: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
                f.write_str(&names.join(","))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_carry_a_checksum() {
        let token = generate();
        assert!(token.starts_with("pky_"));
        assert_eq!(token.len(), 4 + 32 + 6);
        assert!(is_well_formed(&token));
        assert_ne!(generate(), token);
        // Any changed character breaks the checksum.
        let mut typo = token.clone().into_bytes();
        typo[10] = if typo[10] == b'a' { b'b' } else { b'a' };
        assert!(!is_well_formed(&String::from_utf8(typo).unwrap()));
        assert!(!is_well_formed(&token[..token.len() - 1]));
        assert!(!is_well_formed(&"0".repeat(64)));
        // The checksum is zlib's CRC-32 in base62 (computed with Python's zlib.crc32):
        // tokens issued by any version keep verifying.
        assert!(is_well_formed("pky_abcdefghijklmnopqrstuvwxyz0123451nc0VA"));
        assert!(!is_well_formed(
            "pky_abcdefghijklmnopqrstuvwxyz0123451nc0VB"
        ));
    }

    #[test]
    fn scopes_cover_their_narrower_kin() {
        let metadata = Scopes(Some(vec![Scope::Metadata]));
        assert!(metadata.allow(Scope::Metadata));
        assert!(!metadata.allow(Scope::PackagesAll));
        let all_packages = Scopes(Some(vec![Scope::PackagesAll]));
        assert!(all_packages.allow(Scope::PackagesRead));
        assert!(!Scopes(Some(vec![Scope::PackagesRead])).allow(Scope::PackagesAll));
        assert!(Scopes(None).allow(Scope::Users));
        assert_eq!("mirror:all".parse::<Scope>(), Ok(Scope::MirrorAll));
        assert!("everything".parse::<Scope>().is_err());
        let column = metadata.to_column();
        assert_eq!(column.as_deref(), Some(r#"["metadata"]"#));
        assert_eq!(Scopes::from_column(column.as_deref()), metadata);
        assert_eq!(Scopes::from_column(Some("garbage")), Scopes(Some(vec![])));
    }
}
