//! Signed checkpoints: the number of entries and the head hash at a moment, signed with
//! an Ed25519 key derived from `PACKYARD_SECRET`, for operators to keep elsewhere. A
//! chain rewritten as a whole (every hash recomputed) still verifies on its own; it no
//! longer matches a checkpoint taken before the rewrite.
//!
//! The text form, one field per line (the first four are what is signed):
//!
//! ```text
//! packyard-audit-checkpoint v1
//! entries 1234
//! head 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
//! at 2026-12-07T17:00:00+00:00
//! key <the public key, base64>
//! signature <base64>
//! ```

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};

use crate::secrets::SecretBox;

const HEADER: &str = "packyard-audit-checkpoint v1";
/// What the key is derived for: a key for nothing else.
const KEY_PURPOSE: &[u8] = b"packyard audit checkpoint v1";

/// A checkpoint, signed or read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// Entries written up to it: the number of the newest.
    pub entries: i64,
    pub head: String,
    /// When it was taken (RFC 3339), as signed.
    pub at: String,
    public_key: [u8; 32],
    signature: [u8; 64],
}

/// Why a checkpoint's text is not one, or not ours.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CheckpointError {
    #[error("not a packyard audit checkpoint: {0}")]
    Malformed(&'static str),
    #[error(
        "the checkpoint was signed with another key than PACKYARD_SECRET gives (was the secret changed since?)"
    )]
    OtherKey,
    #[error("the checkpoint's signature does not match its contents: it was altered")]
    BadSignature,
}

fn signing_key(secrets: &SecretBox) -> SigningKey {
    SigningKey::from_bytes(&secrets.derive_key(KEY_PURPOSE))
}

fn signed_text(entries: i64, head: &str, at: &str) -> String {
    format!("{HEADER}\nentries {entries}\nhead {head}\nat {at}\n")
}

impl Checkpoint {
    /// Signs `entries` and `head` as of `at`.
    pub fn sign(secrets: &SecretBox, entries: i64, head: &str, at: String) -> Checkpoint {
        let key = signing_key(secrets);
        let signature = key.sign(signed_text(entries, head, &at).as_bytes());
        Checkpoint {
            entries,
            head: head.to_owned(),
            at,
            public_key: key.verifying_key().to_bytes(),
            signature: signature.to_bytes(),
        }
    }

    /// The text operators keep.
    pub fn to_text(&self) -> String {
        format!(
            "{}key {}\nsignature {}\n",
            signed_text(self.entries, &self.head, &self.at),
            STANDARD.encode(self.public_key),
            STANDARD.encode(self.signature)
        )
    }

    /// Reads a checkpoint's text (surrounding blank lines and `\r` allowed) and checks
    /// its signature with the key `secrets` give.
    pub fn read(text: &str, secrets: &SecretBox) -> Result<Checkpoint, CheckpointError> {
        let lines: Vec<&str> = text
            .lines()
            .map(str::trim_end)
            .filter(|line| !line.is_empty())
            .collect();
        let [header, entries, head, at, key, signature] = lines[..] else {
            return Err(CheckpointError::Malformed(
                "it has not the six lines a checkpoint has",
            ));
        };
        if header != HEADER {
            return Err(CheckpointError::Malformed(
                "its first line is not the checkpoint header",
            ));
        }
        let field = |line: &'static str, text: &str| -> Result<String, CheckpointError> {
            text.strip_prefix(line)
                .and_then(|rest| rest.strip_prefix(' '))
                .map(str::to_owned)
                .ok_or(CheckpointError::Malformed(
                    "a line is not the field expected there",
                ))
        };
        let entries: i64 = field("entries", entries)?
            .parse()
            .map_err(|_| CheckpointError::Malformed("its entry count is not a number"))?;
        let head = field("head", head)?;
        if head.len() != 64 || !head.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(CheckpointError::Malformed(
                "its head is not a SHA-256 in hex",
            ));
        }
        let at = field("at", at)?;
        let public_key: [u8; 32] = STANDARD
            .decode(field("key", key)?)
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or(CheckpointError::Malformed(
                "its key is not an Ed25519 public key",
            ))?;
        let signature: [u8; 64] = STANDARD
            .decode(field("signature", signature)?)
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or(CheckpointError::Malformed(
                "its signature is not an Ed25519 signature",
            ))?;
        let ours = signing_key(secrets).verifying_key();
        if ours.to_bytes() != public_key {
            return Err(CheckpointError::OtherKey);
        }
        let verifying =
            VerifyingKey::from_bytes(&public_key).map_err(|_| CheckpointError::OtherKey)?;
        verifying
            .verify(
                signed_text(entries, &head, &at).as_bytes(),
                &Signature::from_bytes(&signature),
            )
            .map_err(|_| CheckpointError::BadSignature)?;
        Ok(Checkpoint {
            entries,
            head,
            at,
            public_key,
            signature,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_reads_back_and_an_altered_one_does_not() {
        let secrets = SecretBox::new("correct horse battery staple");
        let head = "ab".repeat(32);
        let checkpoint = Checkpoint::sign(&secrets, 42, &head, "2026-12-07T17:00:00+00:00".into());
        let text = checkpoint.to_text();
        assert_eq!(Checkpoint::read(&text, &secrets), Ok(checkpoint));
        assert_eq!(
            Checkpoint::read(&format!("\n{}\n", text.replace('\n', "\r\n")), &secrets)
                .map(|c| c.entries),
            Ok(42)
        );
        let more = text.replace("entries 42", "entries 43");
        assert_eq!(
            Checkpoint::read(&more, &secrets),
            Err(CheckpointError::BadSignature)
        );
        let other_head = text.replace(&head, &"cd".repeat(32));
        assert_eq!(
            Checkpoint::read(&other_head, &secrets),
            Err(CheckpointError::BadSignature)
        );
        let other_secret = SecretBox::new("another secret");
        assert_eq!(
            Checkpoint::read(&text, &other_secret),
            Err(CheckpointError::OtherKey)
        );
        // Signed by another key, with that key written in: still not ours.
        let forged = Checkpoint::sign(&other_secret, 42, &head, "2026-12-07T17:00:00+00:00".into());
        assert_eq!(
            Checkpoint::read(&forged.to_text(), &secrets),
            Err(CheckpointError::OtherKey)
        );
        assert!(matches!(
            Checkpoint::read("entries 1\n", &secrets),
            Err(CheckpointError::Malformed(_))
        ));
    }
}
