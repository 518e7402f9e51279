//! The values Packeton encrypts in its database (`encrypted_text`, `encrypted_array`:
//! SSH keys and Composer auth of git credentials), opened with its `APP_SECRET` to be
//! sealed again with `PACKYARD_SECRET`. Packeton's `OpensslCrypter` stores
//! `base64(json header + "\n" + iv + ciphertext)`, AES-256-CBC with PKCS#7 padding,
//! keyed by the secret's bytes (cut or padded with zeros to 32, as OpenSSL does with a
//! short key). A value not in that shape was written before encryption existed, and is
//! the plaintext itself.

use aes::cipher::{BlockDecryptMut, KeyIvInit, block_padding::Pkcs7};
use base64::Engine;

/// Why an encrypted value could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecryptError {
    #[error("Packeton's APP_SECRET is needed to open it (give Packeton's .env, or set APP_SECRET)")]
    NoSecret,
    #[error("it does not open with this APP_SECRET")]
    WrongSecret,
    #[error("it is encrypted with {0:?}, which the import does not know")]
    UnknownCipher(String),
}

/// The plaintext of a stored value.
pub fn decrypt(stored: &str, app_secret: Option<&str>) -> Result<String, DecryptError> {
    let Some((header, rest)) = encrypted_parts(stored) else {
        return Ok(stored.to_owned());
    };
    let algo = header
        .get("algo")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default();
    if algo != "aes-256-cbc" {
        return Err(DecryptError::UnknownCipher(algo.to_owned()));
    }
    let secret = app_secret.ok_or(DecryptError::NoSecret)?;
    if rest.len() < 16 + 16 {
        return Err(DecryptError::WrongSecret);
    }
    let (iv, ciphertext) = rest.split_at(16);
    let mut key = [0u8; 32];
    let given = secret.as_bytes();
    let length = given.len().min(32);
    key[..length].copy_from_slice(&given[..length]);
    let plain = cbc::Decryptor::<aes::Aes256>::new(&key.into(), iv.into())
        .decrypt_padded_vec_mut::<Pkcs7>(ciphertext)
        .map_err(|_| DecryptError::WrongSecret)?;
    String::from_utf8(plain).map_err(|_| DecryptError::WrongSecret)
}

/// The header and the bytes after it, when `stored` has the encrypted shape.
fn encrypted_parts(stored: &str) -> Option<(serde_json::Map<String, serde_json::Value>, Vec<u8>)> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(stored.trim())
        .ok()?;
    let newline = bytes.iter().position(|&b| b == b'\n')?;
    let header: serde_json::Value = serde_json::from_slice(&bytes[..newline]).ok()?;
    let header = header.as_object()?.clone();
    header
        .contains_key("algo")
        .then(|| (header, bytes[newline + 1..].to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A value as Packeton's `OpensslCrypter` writes it, by the real PHP and OpenSSL.
    fn php_encrypt(plain: &str, secret: &str) -> Option<String> {
        let code = format!(
            "$iv = random_bytes(16); echo base64_encode(json_encode(['ivLength' => 16, 'algo' => 'aes-256-cbc']) . \"\\n\" . $iv . openssl_encrypt('{plain}', 'aes-256-cbc', '{secret}', OPENSSL_RAW_DATA, $iv));"
        );
        let out = std::process::Command::new("php")
            .args(["-r", &code])
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8(out.stdout).unwrap())
    }

    #[test]
    fn packetons_encrypted_values_open_with_its_secret_only() {
        let Some(stored) = php_encrypt(
            "-----BEGIN OPENSSH PRIVATE KEY-----",
            "0123456789abcdef0123456789abcdef",
        ) else {
            assert!(
                std::env::var("PACKYARD_TEST_REQUIRE_SERVICES").as_deref() != Ok("1"),
                "php with openssl is needed"
            );
            return;
        };
        assert_eq!(
            decrypt(&stored, Some("0123456789abcdef0123456789abcdef")),
            Ok("-----BEGIN OPENSSH PRIVATE KEY-----".to_owned())
        );
        assert_eq!(
            decrypt(&stored, Some("another secret")),
            Err(DecryptError::WrongSecret)
        );
        assert_eq!(decrypt(&stored, None), Err(DecryptError::NoSecret));
        // A short secret is padded with zeros, as OpenSSL pads it.
        let short = php_encrypt("{\"http-basic\":{}}", "s3cr3t").unwrap();
        assert_eq!(
            decrypt(&short, Some("s3cr3t")),
            Ok("{\"http-basic\":{}}".to_owned())
        );
        let json = r#"{"http-basic":{"git.example":{"username":"bot","password":"s3cret"}}}"#;
        let stored = php_encrypt(json, "8d3f0c6a2b1e4f5a9c7d6e5f4a3b2c1d").unwrap();
        assert_eq!(
            decrypt(&stored, Some("8d3f0c6a2b1e4f5a9c7d6e5f4a3b2c1d")),
            Ok(json.to_owned())
        );
        // Rows from before encryption are their plaintext.
        assert_eq!(decrypt("plain key", None), Ok("plain key".to_owned()));
    }
}
