//! Secrets kept in the database (repository passwords, SSH keys, webhook secrets) are
//! sealed with a key derived from `PACKYARD_SECRET`: ChaCha20-Poly1305 with a random
//! nonce per value, so a copy of the database alone reveals nothing.
//!
//! The key is derived with Argon2id (19 MiB, 2 passes, a fixed salt naming the use),
//! once per process: a weak `PACKYARD_SECRET` costs an attacker with a copy of the
//! database that much per guess.
//!
//! Each value is bound to the row it belongs to and to where it is sent ([`SealedFor`],
//! the associated data of the cipher): someone who can write to the database but does
//! not know the secret cannot move one package's credentials into the row of a package
//! whose repository URL they chose, point a package's repository URL elsewhere, or
//! move one webhook's signing secret to another; the value does not open there. Values
//! sealed unbound by earlier versions (`v2:`, and `v1:` under a key of one SHA-256) are
//! bound once, at the first start of this version ([`bind_earlier_values`]), and open
//! nowhere after that; `packyard secrets rotate` reseals everything, bound, under a new
//! key.

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

/// The row a sealed value belongs to, by what identifies it (names are unique and
/// never change, and unlike ids they are known before the row is written) and, for
/// values that are sent somewhere, where they are sent: credentials moved to a package
/// whose repository URL someone changed in the database no longer open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealedFor<'a> {
    /// A git package's repository credentials, for its repository URL (as stored).
    PackageCredentials {
        package: &'a str,
        repository: &'a str,
    },
    /// A git package's push-webhook secret (it is only compared, never sent).
    PackageWebhookSecret(&'a str),
    /// An outgoing webhook's signing secret, for the URL it signs deliveries to.
    Webhook { name: &'a str, url: &'a str },
}

impl<'a> SealedFor<'a> {
    /// What a stored value is sealed for.
    pub fn stored(value: &'a crate::db::SealedValue) -> Self {
        use crate::db::SealedColumn;
        match value.column {
            SealedColumn::PackageCredentials => SealedFor::PackageCredentials {
                package: &value.name,
                repository: &value.url,
            },
            SealedColumn::PackageWebhookSecret => SealedFor::PackageWebhookSecret(&value.name),
            SealedColumn::WebhookSecret => SealedFor::Webhook {
                name: &value.name,
                url: &value.url,
            },
        }
    }

    /// The cipher's associated data: the kind of value, then its owner's fields, each
    /// ended by a NUL (which none of them may hold), so no two owners share one.
    fn associated_data(self) -> Vec<u8> {
        let (kind, fields): (&str, &[&str]) = match &self {
            SealedFor::PackageCredentials {
                package,
                repository,
            } => ("package credentials", &[package, repository]),
            SealedFor::PackageWebhookSecret(package) => ("package webhook secret", &[package]),
            SealedFor::Webhook { name, url } => ("webhook secret", &[name, url]),
        };
        let mut data = kind.as_bytes().to_vec();
        for field in fields {
            data.push(0);
            data.extend_from_slice(field.as_bytes());
        }
        data
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

/// The box of `PACKYARD_SECRET` when it is set: what the services that seal or open
/// stored credentials hold. Without a secret, each use says so.
#[derive(Clone, Debug, Default)]
pub struct Secrets(Option<std::sync::Arc<SecretBox>>);

impl Secrets {
    pub fn new(secret: Option<&str>) -> Self {
        Secrets(secret.map(|secret| std::sync::Arc::new(SecretBox::new(secret))))
    }

    /// The box; an error when `PACKYARD_SECRET` is unset.
    pub fn get(&self) -> Result<&SecretBox, SecretError> {
        self.0.as_deref().ok_or(SecretError::NoSecret)
    }
}

#[derive(Clone)]
pub struct SecretBox {
    current: ChaCha20Poly1305,
    legacy: ChaCha20Poly1305,
    /// The Argon2id key, from which keys for other purposes are derived.
    master: [u8; 32],
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
            master: key,
        }
    }

    /// A 32-byte key for `purpose` (`b"packyard audit checkpoint v1"`), derived from
    /// `PACKYARD_SECRET` (HMAC-SHA256 of the purpose under the sealing key): the same
    /// for the same secret, unrelated to the key that seals credentials.
    pub fn derive_key(&self, purpose: &[u8]) -> [u8; 32] {
        crate::auth::hmac_sha256(&self.master, purpose)
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

    /// The value sealed for `owner`; one sealed for another row does not open, nor does
    /// one sealed unbound by an earlier version (see [`bind_earlier_values`]).
    pub fn open(&self, sealed: &str, owner: SealedFor<'_>) -> Result<Vec<u8>, SecretError> {
        let encoded = sealed
            .strip_prefix(CURRENT)
            .ok_or(SecretError::Undecryptable)?;
        decrypt(&self.current, encoded, &owner.associated_data())
    }

    /// As [`Self::open`], and values sealed by earlier versions too (`v2:` unbound,
    /// `v1:` under the SHA-256 key): for binding and rotating them only.
    fn open_any_version(&self, sealed: &str, owner: SealedFor<'_>) -> Result<Vec<u8>, SecretError> {
        if let Some(encoded) = sealed.strip_prefix(UNBOUND) {
            decrypt(&self.current, encoded, &[])
        } else if let Some(encoded) = sealed.strip_prefix(LEGACY) {
            decrypt(&self.legacy, encoded, &[])
        } else {
            self.open(sealed, owner)
        }
    }

    /// `value` sealed under this box's current key and bound to `owner`, opened with
    /// this box or with `old` (the secret before a rotation); `None` when it is already
    /// current. What earlier versions stored — sealed unbound (`v2:`, `v1:`) or, for
    /// push secrets, in plain text — is adopted only while `adopt_earlier` (until the
    /// database records that they were bound): after that, such a value can only have
    /// been written into the database by someone else, and is refused.
    pub fn reseal(
        &self,
        old: &SecretBox,
        value: &str,
        owner: SealedFor<'_>,
        adopt_earlier: bool,
    ) -> Result<Option<String>, SecretError> {
        if self.open(value, owner).is_ok() {
            return Ok(None);
        }
        let plain = if let Ok(plain) = old.open(value, owner) {
            plain
        } else if !adopt_earlier {
            return Err(SecretError::Undecryptable);
        } else if !is_sealed(value) {
            value.as_bytes().to_vec()
        } else {
            self.open_any_version(value, owner)
                .or_else(|_| old.open_any_version(value, owner))?
        };
        Ok(Some(self.seal(&plain, owner)))
    }
}

/// Decrypts `nonce ‖ ciphertext`, base64 as stored, with `aad`.
fn decrypt(cipher: &ChaCha20Poly1305, encoded: &str, aad: &[u8]) -> Result<Vec<u8>, SecretError> {
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

/// What [`bind_earlier_values`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub bound: usize,
    /// Where values are that the current secret does not open (sealed under another
    /// secret: `packyard secrets rotate --old` binds them).
    pub unreadable: Vec<String>,
}

/// Once per database, at the first start of a version that binds sealed values to
/// their rows: every value an earlier version stored unbound (`v2:`, `v1:`, and push
/// secrets in plain text) is resealed bound under the current secret, and, when all of
/// them opened, the database records that this was done. From then on nothing unbound
/// is adopted, so a value copied in from a backup (or from another row) opens nowhere.
/// Values another secret sealed are left for `packyard secrets rotate --old`, which
/// binds them and records it. `None` when it was done before.
pub async fn bind_earlier_values(
    db: &crate::db::Db,
    current: &SecretBox,
) -> anyhow::Result<Option<Binding>> {
    if db.sealed_values_bound().await? {
        return Ok(None);
    }
    let mut changes = Vec::new();
    let mut unreadable = Vec::new();
    for value in db.sealed_values().await? {
        match current.reseal(current, &value.value, SealedFor::stored(&value), true) {
            Ok(Some(bound)) => changes.push((value, bound)),
            Ok(None) => {}
            Err(_) => unreadable.push(value.place()),
        }
    }
    let bound = changes.len();
    db.replace_sealed_values(&changes, unreadable.is_empty(), crate::db::Reseal::Binding)
        .await?;
    Ok(Some(Binding { bound, unreadable }))
}

/// What [`rotate`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    pub seen: usize,
    pub resealed: usize,
}

/// Reseals every stored secret under `current`, bound to its row, opening each with
/// `current` or `old`, in one transaction: one that opens with neither fails the whole
/// rotation, naming where it is, and changes nothing. Values of earlier versions are
/// adopted only while they were never bound (see [`SecretBox::reseal`]).
pub async fn rotate(
    db: &crate::db::Db,
    current: &SecretBox,
    old: &SecretBox,
) -> anyhow::Result<Rotation> {
    let adopt_earlier = !db.sealed_values_bound().await?;
    let stored = db.sealed_values().await?;
    let mut changes = Vec::new();
    for value in &stored {
        let resealed = current
            .reseal(old, &value.value, SealedFor::stored(value), adopt_earlier)
            .map_err(|error| anyhow::anyhow!("{}: {error}", value.place()))?;
        if let Some(resealed) = resealed {
            changes.push((value.clone(), resealed));
        }
    }
    // All of them open now (or the rotation failed above): everything is bound.
    db.replace_sealed_values(&changes, true, crate::db::Reseal::Rotation)
        .await?;
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

    const ALICE: SealedFor<'static> = SealedFor::PackageCredentials {
        package: "acme/alice",
        repository: "https://git.example.com/acme/alice.git",
    };

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

    /// The attack: one row's ciphertext copied into another row or column, or the row
    /// pointed at another URL, does not open there.
    #[test]
    fn a_value_opens_only_for_the_row_and_the_url_it_was_sealed_for() {
        let secrets = SecretBox::new("correct horse");
        let sealed = secrets.seal(b"token of alice's repository", ALICE);
        for elsewhere in [
            SealedFor::PackageCredentials {
                package: "acme/mallory",
                repository: "https://git.example.com/acme/alice.git",
            },
            SealedFor::PackageCredentials {
                package: "acme/alice",
                repository: "https://attacker.example/alice.git",
            },
            SealedFor::PackageWebhookSecret("acme/alice"),
            SealedFor::Webhook {
                name: "acme/alice",
                url: "https://git.example.com/acme/alice.git",
            },
        ] {
            assert_eq!(
                secrets.open(&sealed, elsewhere),
                Err(SecretError::Undecryptable),
                "{elsewhere:?}"
            );
        }
        // Fields cannot run into each other: each ends at a separator none may hold.
        let hook = secrets.seal(
            b"s",
            SealedFor::Webhook {
                name: "a",
                url: "bc",
            },
        );
        let shifted = SealedFor::Webhook {
            name: "ab",
            url: "c",
        };
        assert!(secrets.open(&hook, shifted).is_err());
    }

    #[test]
    fn values_sealed_by_earlier_versions_open_only_to_be_bound() {
        let old = SecretBox::new("old secret");
        let new = SecretBox::new("new secret");
        let v1 = sealed_unbound("v1:", &old.legacy, b"hunter2");
        let v2 = sealed_unbound("v2:", &old.current, b"hunter3");
        for (value, plain) in [(&v1, &b"hunter2"[..]), (&v2, &b"hunter3"[..])] {
            // Unbound, they open nowhere as they are...
            assert_eq!(old.open(value, ALICE), Err(SecretError::Undecryptable));
            // ...and rotation (or the first start's binding) seals them bound.
            let resealed = new.reseal(&old, value, ALICE, true).unwrap().unwrap();
            assert!(resealed.starts_with("v3:"));
            assert_eq!(new.open(&resealed, ALICE).unwrap(), plain);
            assert!(
                new.open(&resealed, SealedFor::PackageWebhookSecret("ci"))
                    .is_err()
            );
            assert_eq!(old.open(&resealed, ALICE), Err(SecretError::Undecryptable));
            // Current values are left alone.
            assert_eq!(new.reseal(&old, &resealed, ALICE, false).unwrap(), None);
        }
        // Once the database says everything was bound, nothing unbound or plain is
        // adopted: it can only have been written there by someone else.
        for planted in [&v1, &v2, &"plain".to_owned()] {
            assert_eq!(
                new.reseal(&old, planted, ALICE, false),
                Err(SecretError::Undecryptable),
                "{planted}"
            );
        }
        // An unbound value under the current secret is bound by a rotation too.
        let unbound_now = sealed_unbound("v2:", &new.current, b"x");
        assert!(
            new.reseal(&old, &unbound_now, ALICE, true)
                .unwrap()
                .is_some()
        );
        // Unsealed ones are sealed (by the operator's rotation only).
        let hook = SealedFor::PackageWebhookSecret("acme/alice");
        let sealed_plain = new
            .reseal(&old, "plain webhook secret", hook, true)
            .unwrap()
            .unwrap();
        assert_eq!(
            new.open(&sealed_plain, hook).unwrap(),
            b"plain webhook secret"
        );
        // Sealed under neither: refused, not lost.
        let stranger = SecretBox::new("third").seal(b"x", ALICE);
        assert_eq!(
            new.reseal(&old, &stranger, ALICE, true),
            Err(SecretError::Undecryptable)
        );
    }

    /// The first start binds what earlier versions sealed, once, on both engines: a
    /// value planted unbound afterwards (copied from a backup) stays unbound and opens
    /// nowhere.
    #[tokio::test]
    async fn earlier_values_are_bound_once_and_unbound_ones_open_nowhere_after() {
        use crate::db::NewWebhook;
        let secrets = SecretBox::new("correct horse");
        for (db, _dir) in crate::db::testing::engines().await {
            let suffix = crate::db::testing::unique_suffix();
            let hook = |name: &str, secret: String| NewWebhook {
                name: format!("{name}-{suffix}"),
                url: "https://hooks.example/h".to_owned(),
                events: vec!["new_release".to_owned()],
                package_pattern: None,
                secret,
            };
            let earlier = hook("ci", sealed_unbound("v2:", &secrets.current, b"ci secret"));
            db.create_webhook(&earlier).await.unwrap();
            let owner = |name: &str| -> String { format!("{name}-{suffix}") };
            let value_of = |values: &[crate::db::SealedValue], name: &str| {
                values
                    .iter()
                    .find(|value| value.name == owner(name))
                    .unwrap()
                    .clone()
            };

            let binding = bind_earlier_values(&db, &secrets).await.unwrap().unwrap();
            assert_eq!(binding.bound, 1);
            assert!(binding.unreadable.is_empty());
            let bound = value_of(&db.sealed_values().await.unwrap(), "ci");
            assert!(bound.value.starts_with("v3:"));
            assert_eq!(
                secrets
                    .open(&bound.value, SealedFor::stored(&bound))
                    .unwrap(),
                b"ci secret"
            );
            // Done once: a later start does nothing, and a value planted unbound stays
            // so and does not open.
            let planted = hook("planted", sealed_unbound("v2:", &secrets.current, b"x"));
            db.create_webhook(&planted).await.unwrap();
            assert_eq!(bind_earlier_values(&db, &secrets).await.unwrap(), None);
            let planted = value_of(&db.sealed_values().await.unwrap(), "planted");
            assert!(planted.value.starts_with("v2:"));
            assert_eq!(
                secrets.open(&planted.value, SealedFor::stored(&planted)),
                Err(SecretError::Undecryptable)
            );
            // Nor does a rotation adopt it: it stops, naming where the value is.
            let refused = rotate(&db, &secrets, &secrets).await.unwrap_err();
            assert!(refused.to_string().contains("planted"), "{refused}");
        }
    }
}
