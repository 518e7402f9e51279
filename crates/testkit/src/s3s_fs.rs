//! s3s-fs, a real S3 server.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{Service, TempDir, free_port, required_tool};

/// s3s-fs: a real S3 server that checks SigV4 signatures, storing buckets as directories.
pub struct S3sFs {
    pub service: Service,
    pub root: PathBuf,
    _dir: Option<TempDir>,
}

pub const S3_ACCESS_KEY: &str = "packyard-test-key";
pub const S3_SECRET_KEY: &str = "packyard-test-secret";

impl S3sFs {
    /// Starts s3s-fs with one bucket, `bucket`.
    pub fn start(bucket: &str) -> S3sFs {
        let dir = TempDir::new("s3s-fs");
        let root = dir.path().to_owned();
        let server = Self::start_at(&root, free_port());
        std::fs::create_dir_all(root.join(bucket)).unwrap();
        S3sFs {
            _dir: Some(dir),
            ..server
        }
    }

    /// Starts (or restarts) s3s-fs over an existing directory and port.
    pub fn start_at(root: &Path, port: u16) -> S3sFs {
        let binary = required_tool("PACKYARD_TEST_S3S_FS", "s3s-fs");
        let service = Service::spawn(
            "s3s-fs",
            Command::new(binary)
                .args(["--host", "127.0.0.1", "--port", &port.to_string()])
                .args(["--access-key", S3_ACCESS_KEY, "--secret-key", S3_SECRET_KEY])
                .arg(root),
            port,
        );
        S3sFs {
            service,
            root: root.to_owned(),
            _dir: None,
        }
    }

    /// `STORAGE_AWS_ARGS` for this server.
    pub fn storage_aws_args(&self) -> String {
        Self::storage_aws_args_at(&self.service.url())
    }

    /// `STORAGE_AWS_ARGS` with this server's credentials for another endpoint (a proxy
    /// in front of it).
    pub fn storage_aws_args_at(endpoint: &str) -> String {
        format!(
            r#"{{"endpoint":"{endpoint}","accessKeyId":"{S3_ACCESS_KEY}","accessKeySecret":"{S3_SECRET_KEY}","region":"us-east-1"}}"#
        )
    }

    /// Kills the server, keeping its directory and port for [`restart`](Self::restart).
    pub fn stop(&mut self) {
        self.service.kill();
    }

    /// Starts the server again over the same directory and port.
    pub fn restart(&mut self) {
        let restarted = Self::start_at(&self.root, self.service.port);
        self.service = restarted.service;
    }

    /// Every object key of `bucket`, found on disk, sorted. s3s-fs keeps its metadata
    /// and upload parts in its root directory, so every file in a bucket is an object,
    /// dot-named keys included.
    pub fn keys(&self, bucket: &str) -> Vec<String> {
        let mut keys = Vec::new();
        collect_files(&self.root.join(bucket), &self.root.join(bucket), &mut keys);
        keys.sort();
        keys
    }

    /// Multipart uploads begun and neither completed nor aborted: s3s-fs keeps each as
    /// `.upload-{id}.json` and `.upload_id-{id}.part-{n}` files in its root.
    pub fn pending_upload_files(&self) -> Vec<String> {
        let mut files: Vec<String> = std::fs::read_dir(&self.root)
            .unwrap()
            .flatten()
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with(".upload"))
            .collect();
        files.sort();
        files
    }
}

fn collect_files(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_files(root, &path, out);
        } else if let Ok(relative) = path.strip_prefix(root) {
            out.push(relative.to_string_lossy().into_owned());
        }
    }
}
