//! Settings read from the environment. Every setting has a default that works on a
//! laptop: SQLite and local disk under `./data`, listening on 127.0.0.1:8080.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;
use storage::StorageSettings;
use storage::config::{StorageEntry, parse_size};

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_MAX_UPLOAD: u64 = 100 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct Settings {
    /// `PACKYARD_DATA_DIR` (default `./data`): SQLite database and local stores.
    pub data_dir: PathBuf,
    /// `DATABASE_URL`: `postgres://...` or `sqlite://...`; default SQLite in the data dir.
    pub database_url: String,
    /// `PACKYARD_LISTEN`.
    pub listen: SocketAddr,
    /// `PACKYARD_PUBLIC_URL`: base of absolute URLs; otherwise taken from the request's Host.
    pub public_url: Option<String>,
    /// `PUBLIC_ACCESS` (Packeton's name): anonymous reads of Composer metadata and dists.
    pub public_access: bool,
    /// `PACKYARD_MAX_UPLOAD`: largest accepted upload body, in bytes.
    pub max_upload: u64,
    /// Where archives and mirrored files are kept (`STORAGE_*`, see the README).
    pub storage: StorageSettings,
}

/// The YAML file at `PACKYARD_CONFIG` (default `$PACKYARD_DATA_DIR/config.yaml` when it
/// exists): settings that do not fit in environment variables.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Named storages for `STORAGE_SOURCE=NAME`: `NAME.storage`, `NAME.artifact`, ...
    #[serde(default)]
    pub storages: BTreeMap<String, StorageEntry>,
}

impl ConfigFile {
    fn load(
        lookup: &dyn Fn(&str) -> Option<String>,
        data_dir: &Path,
    ) -> anyhow::Result<ConfigFile> {
        let (path, required) = match lookup("PACKYARD_CONFIG") {
            Some(path) => (PathBuf::from(path), true),
            None => (data_dir.join("config.yaml"), false),
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {
                return Ok(ConfigFile::default());
            }
            Err(e) => bail!("PACKYARD_CONFIG: cannot read {}: {e}", path.display()),
        };
        if text.trim().is_empty() {
            return Ok(ConfigFile::default());
        }
        serde_yaml_ng::from_str(&text)
            .map_err(|e| anyhow::anyhow!("PACKYARD_CONFIG: {}: {e}", path.display()))
    }
}

impl Settings {
    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    }

    /// Reads settings through `lookup`, so tests can supply their own environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let data_dir = PathBuf::from(lookup("PACKYARD_DATA_DIR").unwrap_or_else(|| "data".into()));
        let database_url = match lookup("DATABASE_URL") {
            Some(url) => url,
            None => format!(
                "sqlite://{}?mode=rwc",
                data_dir.join("packyard.db").display()
            ),
        };
        let listen = lookup("PACKYARD_LISTEN").unwrap_or_else(|| DEFAULT_LISTEN.into());
        let listen = listen.parse().with_context(|| {
            format!("PACKYARD_LISTEN: {listen:?} is not an address such as {DEFAULT_LISTEN}")
        })?;
        let public_url = lookup("PACKYARD_PUBLIC_URL")
            .map(|url| parse_public_url(&url))
            .transpose()?;
        let public_access = lookup("PUBLIC_ACCESS")
            .map(|v| parse_flag("PUBLIC_ACCESS", &v))
            .transpose()?
            .unwrap_or(false);
        let max_upload = lookup("PACKYARD_MAX_UPLOAD")
            .map(|v| parse_size("PACKYARD_MAX_UPLOAD", &v))
            .transpose()?
            .unwrap_or(DEFAULT_MAX_UPLOAD);
        let file = ConfigFile::load(&lookup, &data_dir)?;
        let storage = storage::config::from_env(&lookup, &data_dir, &file.storages)?;
        Ok(Settings {
            storage,
            data_dir,
            database_url,
            listen,
            public_url,
            public_access,
            max_upload,
        })
    }
}

fn parse_public_url(url: &str) -> anyhow::Result<String> {
    let trimmed = url.trim_end_matches('/');
    if !(trimmed.starts_with("http://") || trimmed.starts_with("https://")) {
        bail!("PACKYARD_PUBLIC_URL: {url:?} must start with http:// or https://");
    }
    Ok(trimmed.to_owned())
}

fn parse_flag(name: &str, value: &str) -> anyhow::Result<bool> {
    match value.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => bail!("{name}: {value:?} is not a boolean (use 1 or 0)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> anyhow::Result<Settings> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn config_file_defines_storages() {
        let dir = std::env::temp_dir().join(format!("packyard-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("config.yaml");
        std::fs::write(
            &file,
            "storages:\n  disk.storage: {adapter: local, root: /srv/dist}\n",
        )
        .unwrap();
        let path = file.display().to_string();
        let s = settings(&[("PACKYARD_CONFIG", &path), ("STORAGE_SOURCE", "disk")]).unwrap();
        assert_eq!(s.storage.source, "disk");
        std::fs::write(&file, "storage:\n  disk.storage: {adapter: local}\n").unwrap();
        let error = settings(&[("PACKYARD_CONFIG", &path)])
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("PACKYARD_CONFIG") && error.contains("unknown field"),
            "{error}"
        );
        let missing = settings(&[("PACKYARD_CONFIG", "/nonexistent/config.yaml")])
            .unwrap_err()
            .to_string();
        assert!(
            missing.starts_with("PACKYARD_CONFIG: cannot read"),
            "{missing}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn defaults_need_no_configuration() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.data_dir, PathBuf::from("data"));
        assert_eq!(s.database_url, "sqlite://data/packyard.db?mode=rwc");
        assert_eq!(s.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(s.public_url, None);
        assert!(!s.public_access);
        assert_eq!(s.max_upload, DEFAULT_MAX_UPLOAD);
    }

    #[test]
    fn values_are_read_and_checked() {
        let s = settings(&[
            ("PACKYARD_PUBLIC_URL", "https://repo.example.com/"),
            ("PUBLIC_ACCESS", "1"),
            ("PACKYARD_MAX_UPLOAD", "5M"),
        ])
        .unwrap();
        assert_eq!(s.public_url.as_deref(), Some("https://repo.example.com"));
        assert!(s.public_access);
        assert_eq!(s.max_upload, 5 << 20);
        for bad in [
            ("PACKYARD_LISTEN", "nowhere"),
            ("PUBLIC_ACCESS", "maybe"),
            ("PACKYARD_MAX_UPLOAD", "lots"),
            ("PACKYARD_PUBLIC_URL", "repo.example.com"),
        ] {
            let error = settings(&[bad]).unwrap_err().to_string();
            assert!(error.starts_with(bad.0), "{error}");
        }
    }
}
