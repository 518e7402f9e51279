//! API tokens and who a request is.
//!
//! Tokens are 256-bit random strings, shown once and stored as their SHA-256; a presented
//! token is hashed and compared to the stored hashes in constant time. Verified
//! credentials are remembered for a short time so that the Composer hot path does not
//! query the database on every request. [`password`]: the web UI's passwords.

pub mod password;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::db::{Db, TokenRow, User};
use crate::tokens;

/// How long verified credentials are trusted without asking the database again. Any
/// change to users or tokens also empties the cache on every process within
/// `access::REFRESH_INTERVAL` ([`Authenticator::forget_all`]).
const CACHE_TTL: Duration = Duration::from_secs(30);
/// Bound on remembered credentials, so random tokens cannot grow memory without limit.
const CACHE_CAPACITY: usize = 10_000;

/// A new API token (see [`tokens`] for its format).
pub fn generate_token() -> String {
    tokens::generate()
}

pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Equality whose running time does not depend on where the inputs differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The HMAC-SHA256 of `message` under `key`: webhook signatures, sealed audit anchors,
/// derived keys, mirrors' decoy names.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    use hmac::Mac;
    let mut mac =
        <hmac::Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// Whether `hex_signature` is the HMAC-SHA256 of `message` under `key`, compared in
/// constant time: a push hook's signature, a sealed audit anchor.
pub fn hmac_sha256_hex_matches(key: &[u8], message: &[u8], hex_signature: &str) -> bool {
    use hmac::Mac;
    let Ok(expected) = hex::decode(hex_signature.trim()) else {
        return false;
    };
    let mut mac =
        <hmac::Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(message);
    // verify_slice compares in constant time.
    mac.verify_slice(&expected).is_ok()
}

/// A user name outside the simple alphabet that `user:token` pairs and URLs allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid user name {0:?}: use 1-64 letters, digits, '.', '_', '-' or '@', starting with a letter or digit"
)]
pub struct InvalidUserName(pub String);

/// User names appear in `user:token` pairs and URLs, so they are kept simple: ASCII
/// letters, digits, `.`, `_`, `-`, and `@` (e-mail addresses, as many Packeton
/// installations name their customers).
pub fn validate_user_name(name: &str) -> Result<(), InvalidUserName> {
    let valid_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if name.is_empty()
        || name.len() > 64
        || !valid_chars
        || !name.starts_with(|c: char| c.is_ascii_alphanumeric())
    {
        return Err(InvalidUserName(name.to_owned()));
    }
    Ok(())
}

/// Splits `Basic base64(user:token)`.
pub fn parse_basic_header(value: &str) -> Option<(String, String)> {
    let encoded = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    split_pair(std::str::from_utf8(&decoded).ok()?)
}

/// Splits `user:token`, as in `?token=user:token`.
pub fn split_pair(pair: &str) -> Option<(String, String)> {
    let (user, token) = pair.split_once(':')?;
    Some((user.to_owned(), token.to_owned()))
}

/// A verified caller: the user, and the token it used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user: User,
    pub token: TokenRow,
}

impl Principal {
    /// The user as a request with this token sees: under the longer of the user's and
    /// the token's cooldowns (a CI token may wait longer for new releases than its
    /// owner does).
    pub fn caller(&self) -> User {
        User {
            min_release_age: self.user.min_release_age.max(self.token.min_release_age),
            ..self.user.clone()
        }
    }
}

pub struct Authenticator {
    db: Db,
    verified: RwLock<HashMap<CacheKey, (Arc<Principal>, Instant)>>,
    /// Moves on every [`Self::forget_all`]: a lookup that started before it does not
    /// put what it read into the cache.
    generation: std::sync::atomic::AtomicU64,
    /// Token id → when and from where it was last used, until [`Self::flush_uses`].
    uses: RwLock<HashMap<i64, (i64, Option<IpAddr>)>>,
}

impl Authenticator {
    pub fn new(db: Db) -> Self {
        Authenticator {
            db,
            verified: RwLock::new(HashMap::new()),
            generation: std::sync::atomic::AtomicU64::new(0),
            uses: RwLock::new(HashMap::new()),
        }
    }

    /// Forgets every verified credential, after users or tokens changed.
    pub fn forget_all(&self) {
        let mut verified = self.verified.write().unwrap();
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        verified.clear();
    }

    /// The caller presenting `token`, with the user name it gave (ignored for tokens
    /// of the `pky_` format and Packeton's `pat_` ones, which identify their owner), or
    /// why not.
    pub async fn verify(&self, name: &str, token: &str) -> Result<Verified, sqlx::Error> {
        let prefixed = tokens::is_well_formed(token) || tokens::is_packeton_pat(token);
        let cache_key = cache_key(if prefixed { "" } else { name }, token);
        let cached = self
            .verified
            .read()
            .unwrap()
            .get(&cache_key)
            .filter(|(_, verified_at)| verified_at.elapsed() < CACHE_TTL)
            .map(|(principal, _)| Arc::clone(principal));
        if let Some(principal) = cached {
            return Ok(Verified::check(principal));
        }
        let generation = self.generation.load(std::sync::atomic::Ordering::SeqCst);
        let found = if prefixed {
            self.db.token_owner(&hash_token(token)).await?
        } else if token.starts_with(tokens::PREFIX) {
            // A mistyped or truncated token: refused without a query.
            None
        } else {
            self.legacy_token(name, token).await?
        };
        let Some((user, token)) = found else {
            return Ok(Verified::Invalid);
        };
        let principal = Arc::new(Principal { user, token });
        let mut verified = self.verified.write().unwrap();
        if self.generation.load(std::sync::atomic::Ordering::SeqCst) != generation {
            // Users or tokens changed while we read: answer, but do not remember.
            return Ok(Verified::check(principal));
        }
        if verified.len() >= CACHE_CAPACITY {
            verified.retain(|_, (_, at)| at.elapsed() < CACHE_TTL);
            if verified.len() >= CACHE_CAPACITY {
                verified.clear();
            }
        }
        verified.insert(cache_key, (Arc::clone(&principal), Instant::now()));
        Ok(Verified::check(principal))
    }

    /// A token without the prefix, with its user's name: compared against every token
    /// of that user, so the time taken does not reveal which one matched.
    async fn legacy_token(
        &self,
        name: &str,
        token: &str,
    ) -> Result<Option<(User, TokenRow)>, sqlx::Error> {
        let Some(credentials) = self.db.user_credentials(name).await? else {
            return Ok(None);
        };
        let presented = hash_token(token);
        let matched = credentials
            .tokens
            .iter()
            .fold(None, |found, (stored, row)| {
                if constant_time_eq(stored.as_bytes(), presented.as_bytes()) {
                    Some(row.clone())
                } else {
                    found
                }
            });
        Ok(matched.map(|row| (credentials.user, row)))
    }

    /// Notes that a token was used now from `address`; written by [`Self::flush_uses`].
    /// Runs on every authenticated request, so a use in the same second from the same
    /// address as the one noted changes nothing and takes only a read lock: threads
    /// serving one busy token do not queue on a lock.
    pub fn record_use(&self, token: i64, address: Option<IpAddr>) {
        let now = crate::db::now_millis();
        let noted = |uses: &HashMap<i64, (i64, Option<IpAddr>)>| {
            uses.get(&token)
                .is_some_and(|&(at, from)| at / 1000 == now / 1000 && from == address)
        };
        if noted(&self.uses.read().unwrap()) {
            return;
        }
        self.uses.write().unwrap().insert(token, (now, address));
    }

    /// Writes the uses noted since the last flush, in one transaction.
    pub async fn flush_uses(&self) -> Result<usize, sqlx::Error> {
        self.flush_uses_to(&self.db).await
    }

    /// [`Self::flush_uses`] through `db` (a pool of the shutdown's own). Uses that could
    /// not be written are noted again, unless a newer use of the token was noted since,
    /// so that the next flush writes them.
    pub async fn flush_uses_to(&self, db: &Db) -> Result<usize, sqlx::Error> {
        let taken = std::mem::take(&mut *self.uses.write().unwrap());
        let uses: Vec<(i64, i64, String)> = taken
            .iter()
            .map(|(id, (at, from))| {
                let from = from.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
                (*id, *at, from)
            })
            .collect();
        if !uses.is_empty()
            && let Err(error) = db.record_token_uses(&uses).await
        {
            let mut noted = self.uses.write().unwrap();
            for (id, used) in taken {
                noted.entry(id).or_insert(used);
            }
            return Err(error);
        }
        Ok(uses.len())
    }
}

/// The outcome of checking credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verified {
    Caller(Arc<Principal>),
    /// No such user or token.
    Invalid,
    /// The right token, of an account or a token that expired.
    Expired(&'static str),
}

impl Verified {
    fn check(principal: Arc<Principal>) -> Verified {
        let now = crate::db::now_millis();
        if principal.user.is_expired(now) {
            Verified::Expired("this account has expired")
        } else if principal.token.is_expired(now) {
            Verified::Expired("this token has expired")
        } else {
            Verified::Caller(principal)
        }
    }
}

/// The hash of a user name and token: what verified credentials are remembered by.
type CacheKey = [u8; 32];

/// Cache keys are hashes, so the cache never holds a token in clear.
fn cache_key(name: &str, token: &str) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(name.as_bytes());
    hasher.update([0]);
    hasher.update(token.as_bytes());
    hasher.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::testing;

    #[test]
    fn tokens_are_random_and_hashed() {
        let (a, b) = (generate_token(), generate_token());
        assert_ne!(a, b);
        assert!(crate::tokens::is_well_formed(&a));
        assert_eq!(hash_token(&a).len(), 64);
        assert_ne!(hash_token(&a), a);
        assert_eq!(hash_token(&a), hash_token(&a));
    }

    #[test]
    fn constant_time_eq_compares_bytes() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }

    #[test]
    fn basic_headers_are_parsed() {
        // "alice:tok:en" — only the first colon separates the name.
        assert_eq!(
            parse_basic_header("Basic YWxpY2U6dG9rOmVu"),
            Some(("alice".into(), "tok:en".into()))
        );
        assert_eq!(parse_basic_header("Bearer x"), None);
        assert_eq!(parse_basic_header("Basic !!!"), None);
        assert_eq!(split_pair("bob:t"), Some(("bob".into(), "t".into())));
        assert_eq!(split_pair("bob"), None);
    }

    #[test]
    fn user_names_are_checked() {
        for good in ["alice", "ci-bot", "a.b_c", "7"] {
            validate_user_name(good).unwrap();
        }
        for bad in ["", "-x", "a:b", "a b", "é", &"x".repeat(65)] {
            assert!(validate_user_name(bad).is_err(), "{bad:?}");
        }
    }

    #[tokio::test]
    async fn only_the_right_token_verifies() {
        let (db, _dir) = testing::sqlite().await;
        let token = generate_token();
        db.create_user("alice", crate::db::Role::User, &hash_token(&token))
            .await
            .unwrap();
        let auth = Authenticator::new(db.clone());
        let verify = |name: &'static str, token: String| {
            let auth = &auth;
            async move { auth.verify(name, &token).await.unwrap() }
        };
        let Verified::Caller(principal) = verify("alice", token.clone()).await else {
            panic!("alice's token verifies");
        };
        assert_eq!(principal.user.name, "alice");
        assert!(
            matches!(verify("anyone", token.clone()).await, Verified::Caller(_)),
            "a pky_ token names its owner"
        );
        let truncated = token[..token.len() - 1].to_owned();
        assert_eq!(verify("alice", truncated).await, Verified::Invalid);
        assert_eq!(verify("alice", "wrong".into()).await, Verified::Invalid);

        // Expiry counts on cached credentials too, once they are forgotten.
        let past = crate::db::UserChange {
            expires_at: Some(Some(1)),
            ..crate::db::UserChange::default()
        };
        db.change_user("alice", &past).await.unwrap();
        auth.forget_all();
        assert_eq!(
            verify("alice", token.clone()).await,
            Verified::Expired("this account has expired")
        );

        // Tokens made before the pky_ format still verify with their user's name.
        let old = "ab".repeat(32);
        db.create_user("old", crate::db::Role::User, &hash_token(&old))
            .await
            .unwrap();
        assert!(matches!(
            verify("old", old.clone()).await,
            Verified::Caller(_)
        ));
        assert_eq!(verify("alice", old).await, Verified::Invalid);
    }
}
