//! Azurite, the Azure Blob Storage emulator.

use std::process::Command;

use crate::{Service, TempDir, free_port, request, required_tool};

/// Azurite: Microsoft's Azure Blob Storage emulator.
pub struct Azurite {
    pub service: Service,
    _dir: TempDir,
}

/// Azurite's well-known development account (published in Azurite's documentation).
pub const AZURITE_ACCOUNT: &str = "devstoreaccount1";
pub const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

impl Azurite {
    pub fn start() -> Azurite {
        let binary = required_tool("PACKYARD_TEST_AZURITE", "Azurite");
        let dir = TempDir::new("azurite");
        let port = free_port();
        let service = Service::spawn(
            "azurite-blob",
            Command::new(binary)
                .args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()])
                .args(["--location", &dir.path().display().to_string()])
                .arg("--silent")
                .arg("--skipApiVersionCheck"),
            port,
        );
        Azurite { service, _dir: dir }
    }

    /// The blob endpoint of the development account.
    pub fn endpoint(&self) -> String {
        format!("{}/{AZURITE_ACCOUNT}", self.service.url())
    }

    /// Creates a container, which object_store cannot do: a `Create Container` request
    /// signed with the account key (Azure's SharedKey scheme).
    pub fn create_container(&self, container: &str) {
        use base64::Engine;
        let base64 = base64::engine::general_purpose::STANDARD;
        let path = format!("/{AZURITE_ACCOUNT}/{container}");
        let date = httpdate::fmt_http_date(std::time::SystemTime::now());
        let version = "2021-08-06";
        // Verb, eleven empty standard headers, the x-ms-* headers, then the resource:
        // the account followed by the URL path (which here starts with the account too).
        let string_to_sign = format!(
            "PUT\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:{date}\nx-ms-version:{version}\n/{AZURITE_ACCOUNT}{path}\nrestype:container"
        );
        let key = base64.decode(AZURITE_KEY).unwrap();
        let signature = base64.encode(hmac_sha256(&key, string_to_sign.as_bytes()));
        let authorization = format!("SharedKey {AZURITE_ACCOUNT}:{signature}");
        let (status, body) = request(
            "PUT",
            &format!("{}{path}?restype=container", self.service.url()),
            &[
                ("x-ms-date", &date),
                ("x-ms-version", version),
                ("Authorization", &authorization),
            ],
        );
        assert_eq!(
            status, 201,
            "creating container {container} in Azurite: {body}"
        );
    }
}

/// HMAC-SHA256 (RFC 2104), for the one signature tests make themselves.
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    const BLOCK: usize = 64;
    let mut padded_key = [0u8; BLOCK];
    if key.len() > BLOCK {
        padded_key[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        padded_key[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| padded_key.map(|k| k ^ byte);
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}
