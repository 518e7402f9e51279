//! Secrets kept in the database (repository passwords, SSH keys, webhook secrets) are
//! sealed with a key derived from `PACKYARD_SECRET`: ChaCha20-Poly1305 with a random
//! nonce per value, so a copy of the database alone reveals nothing.
//!
//! The key is derived with Argon2id (19 MiB, 2 passes, a fixed salt naming the use),
//! once per process: a weak `PACKYARD_SECRET` costs an attacker with a copy of the
//! database that much per guess.
//!
//! Each value is bound to the row it belongs to ([`SealedFor`], the associated data of
//! the cipher): someone who can write to the database but does not know the secret
//! cannot move one package's credentials into the row of a package whose repository
//! URL they chose, or one webhook's signing secret to another; the moved value does
//! not open. Values sealed by earlier versions (`v2:` unbound, `v1:` under a key of one
//! SHA-256) still open, and `packyard secrets rotate` reseals everything, bound, under
//! the current key.

use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use sha2::{Digest, Sha256};

/// Sealed under the Argon2id-derived key, bound to its row.
const CURRENT: &str = "v3:";
/// Sealed under the Argon2id-derived key, bound to nothing (earlier versions).
const UNBOUND: &str = "v2:";
/// Sealed under the SHA-256-derived key of earlier versions.
const LEGACY: &str = "v1:";
const KEY_SALT: &[u8] = b"packyard secret box v2";

/// The row a sealed value belongs to, by the name that identifies it (names are unique
/// and never change, and unlike ids they are known before the row is written).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealedFor<'a> {
    /// A git package's repository credentials.
    PackageCredentials(&'a str),
    /// A git package's push-webhook secret.
    PackageWebhookSecret(&'a str),
    /// An outgoing webhook's signing secret.
    Webhook(&'a str),
}

impl SealedFor<'_> {
    /// The cipher's associated data: the kind of value and its owner's name.
    fn associated_data(self) -> Vec<u8> {
        let (kind, name) = match self {
            SealedFor::PackageCredentials(name) => ("package credentials", name),
            SealedFor::PackageWebhookSecret(name) => ("package webhook secret", name),
            SealedFor::Webhook(name) => ("webhook secret", name),
        };
        [kind.as_bytes(), b"\0", name.as_bytes()].concat()
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    #[error(
        "PACKYARD_SECRET is not set: it is needed to store or read repository credentials and webhook secrets"
    )]
    NoSecret,
    #[error(
        "a stored secret cannot be decrypted: PACKYARD_SECRET differs from the one it was sealed with, or the value is damaged"
    )]
    Undecryptable,
}

#[derive(Clone)]
pub struct SecretBox {
    current: ChaCha20Poly1305,
    legacy: ChaCha20Poly1305,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(..)")
    }
}

impl SecretBox {
    pub fn new(secret: &str) -> Self {
        let mut key = [0u8; 32];
        argon2::Argon2::default()
            .hash_password_into(secret.as_bytes(), KEY_SALT, &mut key)
            .expect("Argon2id takes any secret and a 22-byte salt");
        let legacy: [u8; 32] = Sha256::new()
            .chain_update(b"packyard secret box v1\0")
            .chain_update(secret.as_bytes())
            .finalize()
            .into();
        SecretBox {
            current: ChaCha20Poly1305::new(&Key::from(key)),
            legacy: ChaCha20Poly1305::new(&Key::from(legacy)),
        }
    }

    /// `plaintext` sealed for `owner`: it opens only as `owner`'s.
    pub fn seal(&self, plaintext: &[u8], owner: SealedFor<'_>) -> String {
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce).expect("the operating system's random source failed");
        let aad = owner.associated_data();
        let payload = Payload {
            msg: plaintext,
            aad: &aad,
        };
        let ciphertext = self
            .current
            .encrypt(&Nonce::from(nonce), payload)
            .expect("sealing never fails for in-memory data");
        let mut sealed = nonce.to_vec();
        sealed.extend(ciphertext);
        format!(
            "{CURRENT}{}",
            base64::engine::general_purpose::STANDARD.encode(sealed)
        )
    }

    /// The value sealed for `owner`; one sealed for another row does not open.
    pub fn open(&self, sealed: &str, owner: SealedFor<'_>) -> Result<Vec<u8>, SecretError> {
        let bound = owner.associated_data();
        let (cipher, encoded, aad) = if let Some(encoded) = sealed.strip_prefix(CURRENT) {
            (&self.current, encoded, bound.as_slice())
        } else if let Some(encoded) = sealed.strip_prefix(UNBOUND) {
            (&self.current, encoded, &[][..])
        } else if let Some(encoded) = sealed.strip_prefix(LEGACY) {
            (&self.legacy, encoded, &[][..])
        } else {
            return Err(SecretError::Undecryptable);
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|_| SecretError::Undecryptable)?;
        if bytes.len() < 12 {
            return Err(SecretError::Undecryptable);
        }
        let (nonce, ciphertext) = bytes.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().expect("split at 12");
        let payload = Payload {
            msg: ciphertext,
            aad,
        };
        cipher
            .decrypt(&Nonce::from(nonce), payload)
            .map_err(|_| SecretError::Undecryptable)
    }

    /// `value` sealed under this box's current key and bound to `owner`: opened with
    /// this box or with `old` (the secret before a rotation); a value stored unsealed by
    /// an earlier version (a webhook secret) is sealed as it is. `None` when it is
    /// already current.
    pub fn reseal(
        &self,
        old: &SecretBox,
        value: &str,
        owner: SealedFor<'_>,
    ) -> Result<Option<String>, SecretError> {
        if !is_sealed(value) {
            return Ok(Some(self.seal(value.as_bytes(), owner)));
        }
        let plain = match self.open(value, owner) {
            Ok(_) if value.starts_with(CURRENT) => return Ok(None),
            Ok(plain) => plain,
            Err(_) => old.open(value, owner)?,
        };
        Ok(Some(self.seal(&plain, owner)))
    }
}

/// What [`rotate`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    pub seen: usize,
    pub resealed: usize,
}

/// Reseals every stored secret under `current`, opening each with `current` or `old`,
/// in one transaction: one that opens with neither fails the whole rotation, naming
/// where it is, and changes nothing.
pub async fn rotate(
    db: &crate::db::Db,
    current: &SecretBox,
    old: &SecretBox,
) -> anyhow::Result<Rotation> {
    let stored = db.sealed_values().await?;
    let mut changes = Vec::new();
    for value in &stored {
        let resealed = current
            .reseal(old, &value.value, value.owner())
            .map_err(|error| anyhow::anyhow!("{}: {error}", value.place()))?;
        if let Some(resealed) = resealed {
            changes.push((value.clone(), resealed));
        }
    }
    db.replace_sealed_values(&changes).await?;
    Ok(Rotation {
        seen: stored.len(),
        resealed: changes.len(),
    })
}

/// Whether `value` was stored sealed (by any version).
pub fn is_sealed(value: &str) -> bool {
    [CURRENT, UNBOUND, LEGACY]
        .iter()
        .any(|version| value.starts_with(version))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: SealedFor<'static> = SealedFor::PackageCredentials("acme/alice");

    /// A value as earlier versions sealed it: `cipher` without associated data.
    fn sealed_unbound(prefix: &str, cipher: &ChaCha20Poly1305, plain: &[u8]) -> String {
        let mut nonce = [7u8; 12];
        nonce[0] = 1;
        let mut bytes = nonce.to_vec();
        bytes.extend(cipher.encrypt(&Nonce::from(nonce), plain).unwrap());
        format!(
            "{prefix}{}",
            base64::engine::general_purpose::STANDARD.encode(bytes)
        )
    }

    #[test]
    fn sealed_values_open_only_with_the_same_secret() {
        let secrets = SecretBox::new("correct horse");
        let sealed = secrets.seal(b"-----BEGIN OPENSSH PRIVATE KEY-----", ALICE);
        assert!(sealed.starts_with("v3:"));
        assert!(!sealed.contains("OPENSSH"));
        assert_ne!(
            sealed,
            secrets.seal(b"-----BEGIN OPENSSH PRIVATE KEY-----", ALICE),
            "random nonces"
        );
        assert_eq!(
            secrets.open(&sealed, ALICE).unwrap(),
            b"-----BEGIN OPENSSH PRIVATE KEY-----"
        );
        assert_eq!(
            SecretBox::new("other").open(&sealed, ALICE),
            Err(SecretError::Undecryptable)
        );
        // One character of the ciphertext changed, well before the final one (whose
        // low bits may be padding): always a different value, never a no-op.
        let mut damaged = sealed.clone().into_bytes();
        let at = damaged.len() - 10;
        damaged[at] = if damaged[at] == b'A' { b'B' } else { b'A' };
        let damaged = String::from_utf8(damaged).unwrap();
        assert_eq!(
            secrets.open(&damaged, ALICE),
            Err(SecretError::Undecryptable)
        );
        assert_eq!(
            secrets.open("plain", ALICE),
            Err(SecretError::Undecryptable)
        );
    }

    /// The attack: one row's ciphertext copied into another row, or into another
    /// column of the same row, does not open there.
    #[test]
    fn a_value_opens_only_in_the_row_it_was_sealed_for() {
        let secrets = SecretBox::new("correct horse");
        let sealed = secrets.seal(b"token of alice's repository", ALICE);
        for elsewhere in [
            SealedFor::PackageCredentials("acme/mallory"),
            SealedFor::PackageCredentials("acme/alic"),
            SealedFor::PackageWebhookSecret("acme/alice"),
            SealedFor::Webhook("acme/alice"),
        ] {
            assert_eq!(
                secrets.open(&sealed, elsewhere),
                Err(SecretError::Undecryptable),
                "{elsewhere:?}"
            );
        }
        // Names cannot run into the kind: the separator is not part of either.
        let hook = secrets.seal(b"s", SealedFor::Webhook("a"));
        assert!(secrets.open(&hook, SealedFor::Webhook("a\0")).is_err());
    }

    #[test]
    fn values_sealed_by_earlier_versions_open_and_rotation_binds_them() {
        let old = SecretBox::new("old secret");
        let new = SecretBox::new("new secret");
        let v1 = sealed_unbound("v1:", &old.legacy, b"hunter2");
        let v2 = sealed_unbound("v2:", &old.current, b"hunter3");
        assert_eq!(old.open(&v1, ALICE).unwrap(), b"hunter2");
        assert_eq!(old.open(&v2, ALICE).unwrap(), b"hunter3");
        for (value, plain) in [(&v1, &b"hunter2"[..]), (&v2, &b"hunter3"[..])] {
            let resealed = new.reseal(&old, value, ALICE).unwrap().unwrap();
            assert!(resealed.starts_with("v3:"));
            assert_eq!(new.open(&resealed, ALICE).unwrap(), plain);
            assert!(new.open(&resealed, SealedFor::Webhook("ci")).is_err());
            assert_eq!(old.open(&resealed, ALICE), Err(SecretError::Undecryptable));
            // Current values are left alone.
            assert_eq!(new.reseal(&old, &resealed, ALICE).unwrap(), None);
        }
        // An unbound value under the current secret is bound by a rotation too.
        let unbound_now = sealed_unbound("v2:", &new.current, b"x");
        assert!(new.reseal(&old, &unbound_now, ALICE).unwrap().is_some());
        // Unsealed ones are sealed.
        let hook = SealedFor::Webhook("ci");
        let sealed_plain = new
            .reseal(&old, "plain webhook secret", hook)
            .unwrap()
            .unwrap();
        assert_eq!(
            new.open(&sealed_plain, hook).unwrap(),
            b"plain webhook secret"
        );
        // Sealed under neither: refused, not lost.
        let stranger = SecretBox::new("third").seal(b"x", ALICE);
        assert_eq!(
            new.reseal(&old, &stranger, ALICE),
            Err(SecretError::Undecryptable)
        );
    }
}
