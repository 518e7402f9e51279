//! Secrets kept in the database (repository passwords, SSH keys) are sealed with a key
//! derived from `PACKYARD_SECRET`: ChaCha20-Poly1305 with a random nonce per value, so a
//! copy of the database alone reveals nothing.

use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use sha2::{Digest, Sha256};

const VERSION_PREFIX: &str = "v1:";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    #[error("PACKYARD_SECRET is not set: it is needed to store or read repository credentials")]
    NoSecret,
    #[error(
        "a stored secret cannot be decrypted: PACKYARD_SECRET differs from the one it was sealed with, or the value is damaged"
    )]
    Undecryptable,
}

#[derive(Clone)]
pub struct SecretBox {
    cipher: ChaCha20Poly1305,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(..)")
    }
}

impl SecretBox {
    pub fn new(secret: &str) -> Self {
        let key: [u8; 32] = Sha256::new()
            .chain_update(b"packyard secret box v1\0")
            .chain_update(secret.as_bytes())
            .finalize()
            .into();
        SecretBox {
            cipher: ChaCha20Poly1305::new(&Key::from(key)),
        }
    }

    pub fn seal(&self, plaintext: &[u8]) -> String {
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce).expect("the operating system's random source failed");
        let ciphertext = self
            .cipher
            .encrypt(&Nonce::from(nonce), plaintext)
            .expect("sealing never fails for in-memory data");
        let mut sealed = nonce.to_vec();
        sealed.extend(ciphertext);
        format!(
            "{VERSION_PREFIX}{}",
            base64::engine::general_purpose::STANDARD.encode(sealed)
        )
    }

    pub fn open(&self, sealed: &str) -> Result<Vec<u8>, SecretError> {
        let encoded = sealed
            .strip_prefix(VERSION_PREFIX)
            .ok_or(SecretError::Undecryptable)?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|_| SecretError::Undecryptable)?;
        if bytes.len() < 12 {
            return Err(SecretError::Undecryptable);
        }
        let (nonce, ciphertext) = bytes.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().expect("split at 12");
        self.cipher
            .decrypt(&Nonce::from(nonce), ciphertext)
            .map_err(|_| SecretError::Undecryptable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_the_same_secret() {
        let secrets = SecretBox::new("correct horse");
        let sealed = secrets.seal(b"-----BEGIN OPENSSH PRIVATE KEY-----");
        assert!(sealed.starts_with("v1:"));
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
}
