//! Secrets kept in the database (repository passwords, SSH keys, webhook secrets) are
//! sealed with a key derived from `PACKYARD_SECRET`: ChaCha20-Poly1305 with a random
//! nonce per value, so a copy of the database alone reveals nothing.
//!
//! The key is derived with Argon2id (19 MiB, 2 passes, a fixed salt naming the use),
//! once per process: a weak `PACKYARD_SECRET` costs an attacker with a copy of the
//! database that much per guess. Values sealed before (`v1:`, a key of one SHA-256)
//! still open, and `packyard secrets rotate` reseals everything under the current key.

use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use sha2::{Digest, Sha256};

/// Sealed under the Argon2id-derived key.
const CURRENT: &str = "v2:";
/// Sealed under the SHA-256-derived key of earlier versions.
const LEGACY: &str = "v1:";
const KEY_SALT: &[u8] = b"packyard secret box v2";

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

    pub fn seal(&self, plaintext: &[u8]) -> String {
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce).expect("the operating system's random source failed");
        let ciphertext = self
            .current
            .encrypt(&Nonce::from(nonce), plaintext)
            .expect("sealing never fails for in-memory data");
        let mut sealed = nonce.to_vec();
        sealed.extend(ciphertext);
        format!(
            "{CURRENT}{}",
            base64::engine::general_purpose::STANDARD.encode(sealed)
        )
    }

    pub fn open(&self, sealed: &str) -> Result<Vec<u8>, SecretError> {
        let (cipher, encoded) = if let Some(encoded) = sealed.strip_prefix(CURRENT) {
            (&self.current, encoded)
        } else if let Some(encoded) = sealed.strip_prefix(LEGACY) {
            (&self.legacy, encoded)
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
        cipher
            .decrypt(&Nonce::from(nonce), ciphertext)
            .map_err(|_| SecretError::Undecryptable)
    }

    /// `value` sealed under this box's current key: opened with this box or with `old`
    /// (the secret before a rotation); a value stored unsealed by an earlier version (a
    /// webhook secret) is sealed as it is. `None` when it is already current.
    pub fn reseal(&self, old: &SecretBox, value: &str) -> Result<Option<String>, SecretError> {
        if !is_sealed(value) {
            return Ok(Some(self.seal(value.as_bytes())));
        }
        let plain = match self.open(value) {
            Ok(_) if value.starts_with(CURRENT) => return Ok(None),
            Ok(plain) => plain,
            Err(_) => old.open(value)?,
        };
        Ok(Some(self.seal(&plain)))
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
            .reseal(old, &value.value)
            .map_err(|error| anyhow::anyhow!("{}: {error}", value.place))?;
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
    value.starts_with(CURRENT) || value.starts_with(LEGACY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_the_same_secret() {
        let secrets = SecretBox::new("correct horse");
        let sealed = secrets.seal(b"-----BEGIN OPENSSH PRIVATE KEY-----");
        assert!(sealed.starts_with("v2:"));
        assert!(!sealed.contains("OPENSSH"));
        assert_ne!(
            sealed,
            secrets.seal(b"-----BEGIN OPENSSH PRIVATE KEY-----"),
            "random nonces"
        );
        assert_eq!(
            secrets.open(&sealed).unwrap(),
            b"-----BEGIN OPENSSH PRIVATE KEY-----"
        );
        assert_eq!(
            SecretBox::new("other").open(&sealed),
            Err(SecretError::Undecryptable)
        );
        // One character of the ciphertext changed, well before the final one (whose
        // low bits may be padding): always a different value, never a no-op.
        let mut damaged = sealed.clone().into_bytes();
        let at = damaged.len() - 10;
        damaged[at] = if damaged[at] == b'A' { b'B' } else { b'A' };
        let damaged = String::from_utf8(damaged).unwrap();
        assert_eq!(secrets.open(&damaged), Err(SecretError::Undecryptable));
        assert_eq!(secrets.open("plain"), Err(SecretError::Undecryptable));
    }

    #[test]
    fn values_sealed_by_earlier_versions_open_and_rotation_reseals_them() {
        let old = SecretBox::new("old secret");
        let new = SecretBox::new("new secret");
        // A v1 value as earlier versions sealed it: the SHA-256 key.
        let mut nonce = [7u8; 12];
        nonce[0] = 1;
        let v1 = {
            let mut bytes = nonce.to_vec();
            bytes.extend(
                old.legacy
                    .encrypt(&Nonce::from(nonce), &b"hunter2"[..])
                    .unwrap(),
            );
            format!(
                "v1:{}",
                base64::engine::general_purpose::STANDARD.encode(bytes)
            )
        };
        assert_eq!(old.open(&v1).unwrap(), b"hunter2");
        let resealed = new.reseal(&old, &v1).unwrap().unwrap();
        assert!(resealed.starts_with("v2:"));
        assert_eq!(new.open(&resealed).unwrap(), b"hunter2");
        assert_eq!(old.open(&resealed), Err(SecretError::Undecryptable));
        // Current values are left alone; unsealed ones are sealed.
        assert_eq!(new.reseal(&old, &resealed).unwrap(), None);
        let sealed_plain = new.reseal(&old, "plain webhook secret").unwrap().unwrap();
        assert_eq!(new.open(&sealed_plain).unwrap(), b"plain webhook secret");
        // Sealed under neither: refused, not lost.
        let stranger = SecretBox::new("third").seal(b"x");
        assert_eq!(new.reseal(&old, &stranger), Err(SecretError::Undecryptable));
    }
}
