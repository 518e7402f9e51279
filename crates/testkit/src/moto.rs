//! moto, S3 and STS in one server.

use std::process::Command;

use crate::{Service, TempDir, free_port, request, required_tool};

/// moto: S3 and STS in one server; accepts any credentials, records requests.
pub struct Moto {
    pub service: Service,
    _dir: TempDir,
}

impl Moto {
    pub fn start() -> Moto {
        let binary = required_tool("PACKYARD_TEST_MOTO", "moto");
        // moto's recorder appends to a file in its working directory: give each server
        // its own, so parallel tests do not read each other's requests.
        let dir = TempDir::new("moto");
        let port = free_port();
        let service = Service::spawn(
            "moto_server",
            Command::new(binary)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .current_dir(dir.path())
                .env("MOTO_RECORDER_FILEPATH", dir.path().join("recording")),
            port,
        );
        Moto { service, _dir: dir }
    }

    /// Creates a bucket: moto, like AWS, answers `NoSuchBucket` until then.
    pub fn create_bucket(&self, bucket: &str) {
        let (status, body) = request("PUT", &format!("{}/{bucket}", self.service.url()), &[]);
        assert_eq!(status, 200, "creating bucket {bucket} in moto: {body}");
    }
}

impl Moto {
    /// Starts recording requests from now on (earlier ones are forgotten).
    pub fn start_recording(&self) {
        for action in ["reset-recording", "start-recording"] {
            let url = format!("{}/moto-api/recorder/{action}", self.service.url());
            ureq::post(&url)
                .send_empty()
                .unwrap_or_else(|e| panic!("moto {action}: {e}"));
        }
    }

    /// The recorded requests: `{"method", "url", "headers", "body", "body_encoded"}`.
    pub fn recording(&self) -> Vec<serde_json::Value> {
        let url = format!(
            "{}/moto-api/recorder/download-recording",
            self.service.url()
        );
        let text = ureq::get(&url)
            .call()
            .expect("downloading moto's recording")
            .body_mut()
            .read_to_string()
            .unwrap();
        text.lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| serde_json::from_str(line).expect("a recorded request"))
            .collect()
    }
}

/// A header of a recorded request, matched without regard to case (moto title-cases).
pub fn recorded_header<'a>(request: &'a serde_json::Value, name: &str) -> Option<&'a str> {
    request["headers"]
        .as_object()?
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .and_then(|(_, value)| value.as_str())
}
