//! Settings read from the environment. Every setting has a default that works on a
//! laptop: SQLite and local disk under `./data`, listening on 127.0.0.1:8080.

pub mod limits;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Deserialize;
use storage::StorageSettings;
use storage::config::{StorageEntry, parse_flag, parse_size};

use self::limits::{ClientLimits, GitLimits};
use crate::mirror::config::{MirrorConfig, MirrorEntry};

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_MAX_UPLOAD: u64 = 100 * 1024 * 1024;
pub const DEFAULT_UPDATE_INTERVAL: Duration = Duration::from_secs(3600);
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub struct Settings {
    /// `PACKYARD_DATA_DIR` (default `./data`): SQLite database and local stores.
    pub data_dir: PathBuf,
    /// `DATABASE_URL`: `postgres://...` or `sqlite://...`; default SQLite in the data dir.
    pub database_url: String,
    /// `PACKYARD_LISTEN`.
    pub listen: SocketAddr,
    /// `PACKYARD_METRICS_LISTEN`: a second address serving only `/metrics` (without
    /// credentials) and the probes, for scraping inside a private network.
    pub metrics_listen: Option<SocketAddr>,
    /// `PACKYARD_PUBLIC_URL`: base of absolute URLs; otherwise taken from the request's Host.
    pub public_url: Option<String>,
    /// `PUBLIC_ACCESS` (Packeton's name): anonymous reads of Composer metadata and dists.
    pub public_access: bool,
    /// `PACKYARD_MAX_UPLOAD`: largest accepted upload body, in bytes.
    pub max_upload: u64,
    /// `PACKYARD_TMP_DIR` (default `$PACKYARD_DATA_DIR/tmp`): scratch files (uploads
    /// being received, dists being built). With a read-only data dir it goes to /tmp.
    pub tmp_dir: PathBuf,
    /// `PACKYARD_SHUTDOWN_GRACE` (default 30 s, `0`: none): how long requests in flight
    /// may go on after SIGTERM before the process exits.
    pub shutdown_grace: Duration,
    /// Where archives and mirrored files are kept (`STORAGE_*`, see the README).
    pub storage: StorageSettings,
    /// `PACKYARD_SECRET`: seals repository credentials stored in the database.
    pub secret: Option<String>,
    /// `PACKYARD_VCS_CACHE_DIR` (default `$PACKYARD_DATA_DIR/vcs`): bare mirrors of git
    /// repositories. Only a cache: it may live on /tmp and be lost at any time.
    pub vcs_cache_dir: PathBuf,
    /// `PACKYARD_SSH_KNOWN_HOSTS` (default `$PACKYARD_VCS_CACHE_DIR/known_hosts`): where
    /// SSH host keys are pinned on first use, or, when packyard cannot write to it (a
    /// mounted ConfigMap), the list of the only hosts trusted. Point it at durable or
    /// pre-filled storage when the VCS cache is ephemeral.
    pub ssh_known_hosts: PathBuf,
    /// `PACKYARD_UPDATE_INTERVAL` (default 1 h, `0` = never): every package is re-scanned
    /// this often, webhooks or not.
    pub update_interval: Option<Duration>,
    /// `PACKYARD_AUDIT_RETENTION` (default: keep forever; `forever` or `0` say so):
    /// audit entries and download counts older than this are removed, hourly.
    pub audit_retention: Option<Duration>,
    /// `PACKYARD_PREBUILD_DISTS`: build zips of git versions while scanning instead of on
    /// first download.
    pub prebuild_dists: bool,
    /// `PACKYARD_IMMUTABLE_VERSIONS` and `PACKYARD_RELEASE_AGE_EXEMPT_FIXES`.
    pub supply_chain: crate::supply_chain::SupplyChainSettings,
    /// `PACKYARD_ALLOW_LOCAL_REPOSITORIES`: let the API add `file://` and local-path
    /// repositories (the command line always may).
    pub allow_local_repositories: bool,
    /// Mirrored repositories: `packagist` unless the config file removes it.
    pub mirrors: Vec<MirrorConfig>,
    /// Identity providers and password sign-in (`login:` and `PACKYARD_PASSWORD_LOGIN`).
    pub login: std::sync::Arc<crate::sso::config::LoginSettings>,
    /// `PACKYARD_TRUSTED_PROXIES` (comma-separated addresses or networks): when a request comes from
    /// one of these, the client's address is the last one its `X-Forwarded-For` adds.
    pub trusted_proxies: Vec<crate::outbound::Network>,
    /// `PACKYARD_METRICS_TOKEN`: when set, `/metrics` needs `Authorization: Bearer` with it.
    pub metrics_token: Option<String>,
    /// `PACKYARD_ALLOW_NETWORKS` and `PACKYARD_DENY_NETWORKS`: which addresses outgoing
    /// connections to URLs others chose (webhooks) may reach.
    pub network_policy: crate::outbound::NetworkPolicy,
    /// `PACKYARD_JOB_RETRY_BACKOFF` (default 10 s): the wait before a failed job's first
    /// retry; it doubles with each further attempt.
    pub job_retry_backoff: Duration,
    /// `PACKYARD_CLIENT_TIMEOUT` (default 20 s) and `PACKYARD_MAX_CONNECTIONS` (default
    /// 4096): how long a client may take to send a request or take its answer, and how
    /// many connections may be open at once.
    pub client_limits: ClientLimits,
    /// `PACKYARD_MAX_REPO_SIZE` (default 1 GiB) and `PACKYARD_SCAN_TIMEOUT` (default
    /// 10 min): what one git repository may cost.
    pub git_limits: GitLimits,
}

impl std::fmt::Debug for Settings {
    /// Everything but `PACKYARD_SECRET`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("data_dir", &self.data_dir)
            .field("listen", &self.listen)
            .field("metrics_listen", &self.metrics_listen)
            .field("public_url", &self.public_url)
            .field("public_access", &self.public_access)
            .field("max_upload", &self.max_upload)
            .field("tmp_dir", &self.tmp_dir)
            .field("shutdown_grace", &self.shutdown_grace)
            .field("storage", &self.storage)
            .field("secret", &self.secret.as_ref().map(|_| "***"))
            .field("vcs_cache_dir", &self.vcs_cache_dir)
            .field("ssh_known_hosts", &self.ssh_known_hosts)
            .field("update_interval", &self.update_interval)
            .field("audit_retention", &self.audit_retention)
            .field("prebuild_dists", &self.prebuild_dists)
            .field("supply_chain", &self.supply_chain)
            .field("allow_local_repositories", &self.allow_local_repositories)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("metrics_token", &self.metrics_token.as_ref().map(|_| "***"))
            .field("client_limits", &self.client_limits)
            .field("git_limits", &self.git_limits)
            .field(
                "mirrors",
                &self.mirrors.iter().map(|m| &m.alias).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// The YAML file at `PACKYARD_CONFIG` (default `$PACKYARD_DATA_DIR/config.yaml` when it
/// exists): settings that do not fit in environment variables.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Named storages for `STORAGE_SOURCE=NAME`: `NAME.storage`, `NAME.artifact`, ...
    #[serde(default)]
    pub storages: BTreeMap<String, StorageEntry>,
    /// Mirrored repositories by alias (see `mirror::config`).
    #[serde(default)]
    pub mirrors: BTreeMap<String, MirrorEntry>,
    /// Identity providers by alias, and the break-glass admin (see `sso::config`).
    #[serde(default)]
    pub login: Option<serde_yaml_ng::Value>,
    /// `allow` (the default) or `approve`: whether packyard's own Composer plugins are
    /// served only once approved (`supply_chain::plugins`).
    #[serde(default)]
    pub plugins: crate::supply_chain::plugins::PluginPolicy,
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
        let metrics_listen = lookup("PACKYARD_METRICS_LISTEN")
            .map(|value| {
                value.parse::<SocketAddr>().with_context(|| {
                    format!(
                        "PACKYARD_METRICS_LISTEN: {value:?} is not an address such as 0.0.0.0:9464"
                    )
                })
            })
            .transpose()?;
        let public_url = lookup("PACKYARD_PUBLIC_URL")
            .map(|url| parse_public_url(&url))
            .transpose()?;
        // Flags are off unless set.
        let flag = |name: &str| -> anyhow::Result<bool> {
            Ok(lookup(name)
                .map(|v| parse_flag(name, &v))
                .transpose()?
                .unwrap_or(false))
        };
        let public_access = flag("PUBLIC_ACCESS")?;
        let max_upload = lookup("PACKYARD_MAX_UPLOAD")
            .map(|v| parse_size("PACKYARD_MAX_UPLOAD", &v))
            .transpose()?
            .unwrap_or(DEFAULT_MAX_UPLOAD);
        let tmp_dir =
            lookup("PACKYARD_TMP_DIR").map_or_else(|| data_dir.join("tmp"), PathBuf::from);
        let shutdown_grace = match lookup("PACKYARD_SHUTDOWN_GRACE") {
            Some(value) => {
                parse_interval("PACKYARD_SHUTDOWN_GRACE", &value)?.unwrap_or(Duration::ZERO)
            }
            None => DEFAULT_SHUTDOWN_GRACE,
        };
        let file = ConfigFile::load(&lookup, &data_dir)?;
        let vcs_cache_dir =
            lookup("PACKYARD_VCS_CACHE_DIR").map_or_else(|| data_dir.join("vcs"), PathBuf::from);
        let ssh_known_hosts = lookup("PACKYARD_SSH_KNOWN_HOSTS")
            .map_or_else(|| vcs_cache_dir.join("known_hosts"), PathBuf::from);
        let update_interval = match lookup("PACKYARD_UPDATE_INTERVAL") {
            Some(value) => parse_interval("PACKYARD_UPDATE_INTERVAL", &value)?,
            None => Some(DEFAULT_UPDATE_INTERVAL),
        };
        let audit_retention = match lookup("PACKYARD_AUDIT_RETENTION").as_deref().map(str::trim) {
            None | Some("" | "forever") => None,
            Some(value) => {
                parse_interval("PACKYARD_AUDIT_RETENTION", value).with_context(|| {
                    "PACKYARD_AUDIT_RETENTION: a span such as 365d, or forever".to_owned()
                })?
            }
        };
        if audit_retention.is_some() && lookup("PACKYARD_SECRET").is_none_or(|s| s.is_empty()) {
            anyhow::bail!(
                "PACKYARD_AUDIT_RETENTION needs PACKYARD_SECRET: the point the audit log is pruned to is sealed with it"
            );
        }
        let allow_local_repositories = flag("PACKYARD_ALLOW_LOCAL_REPOSITORIES")?;
        let prebuild_dists = flag("PACKYARD_PREBUILD_DISTS")?;
        let release_age_exempt_fixes =
            lookup(crate::supply_chain::release_age::EXEMPT_FIXES_VARIABLE)
                .map(|v| parse_flag(crate::supply_chain::release_age::EXEMPT_FIXES_VARIABLE, &v))
                .transpose()?
                .unwrap_or(true);
        let immutable_versions = lookup(crate::supply_chain::Immutability::VARIABLE)
            .map(|value| crate::supply_chain::Immutability::parse(&value))
            .transpose()?
            .unwrap_or_default();
        let supply_chain = crate::supply_chain::SupplyChainSettings {
            immutable_versions,
            release_age_exempt_fixes,
            plugins: file.plugins,
        };
        let trusted_proxies = lookup("PACKYARD_TRUSTED_PROXIES")
            .map(|value| parse_networks("PACKYARD_TRUSTED_PROXIES", &value))
            .transpose()?
            .unwrap_or_default();
        let storage = storage::config::from_env(&lookup, &data_dir, &file.storages)?;
        let mirrors = crate::mirror::config::resolve(&file.mirrors)
            .map_err(|e| anyhow::anyhow!("PACKYARD_CONFIG: {e}"))?;
        let network_policy = crate::outbound::NetworkPolicy::from_env(&lookup)?;
        let login = crate::sso::config::resolve(file.login.as_ref(), &lookup)
            .map_err(|e| anyhow::anyhow!("PACKYARD_CONFIG: {e}"))?;
        let job_retry_backoff = match lookup("PACKYARD_JOB_RETRY_BACKOFF") {
            Some(value) => parse_interval("PACKYARD_JOB_RETRY_BACKOFF", &value)?
                .with_context(|| "PACKYARD_JOB_RETRY_BACKOFF: must be at least 1s".to_owned())?,
            None => crate::jobs::JobQueue::DEFAULT_RETRY_BACKOFF,
        };
        let client_limits = client_limits(&lookup)?;
        let git_limits = git_limits(&lookup)?;
        Ok(Settings {
            client_limits,
            git_limits,
            network_policy,
            job_retry_backoff,
            storage,
            secret: lookup("PACKYARD_SECRET"),
            metrics_token: lookup("PACKYARD_METRICS_TOKEN"),
            vcs_cache_dir,
            ssh_known_hosts,
            update_interval,
            audit_retention,
            prebuild_dists,
            supply_chain,
            allow_local_repositories,
            mirrors,
            login: std::sync::Arc::new(login),
            trusted_proxies,
            data_dir,
            database_url,
            listen,
            metrics_listen,
            public_url,
            public_access,
            max_upload,
            tmp_dir,
            shutdown_grace,
        })
    }
}

fn client_limits(lookup: &impl Fn(&str) -> Option<String>) -> anyhow::Result<ClientLimits> {
    let mut limits = ClientLimits::default();
    if let Some(value) = lookup("PACKYARD_CLIENT_TIMEOUT") {
        limits.timeout = parse_interval("PACKYARD_CLIENT_TIMEOUT", &value)?
            .with_context(|| "PACKYARD_CLIENT_TIMEOUT: must be at least 1s".to_owned())?;
    }
    if let Some(value) = lookup("PACKYARD_MAX_CONNECTIONS") {
        limits.max_connections = value
            .trim()
            .parse()
            .ok()
            .filter(|count| *count > 0)
            .with_context(|| {
                format!("PACKYARD_MAX_CONNECTIONS: {value:?} is not a number of connections (at least 1)")
            })?;
    }
    Ok(limits)
}

fn git_limits(lookup: &impl Fn(&str) -> Option<String>) -> anyhow::Result<GitLimits> {
    let mut limits = GitLimits::default();
    if let Some(value) = lookup("PACKYARD_MAX_REPO_SIZE") {
        limits.max_repo_size = parse_size("PACKYARD_MAX_REPO_SIZE", &value)?;
    }
    if let Some(value) = lookup("PACKYARD_SCAN_TIMEOUT") {
        limits.scan_timeout = parse_interval("PACKYARD_SCAN_TIMEOUT", &value)?
            .with_context(|| "PACKYARD_SCAN_TIMEOUT: must be at least 1s".to_owned())?;
    }
    Ok(limits)
}

/// Comma-separated IP addresses or networks (`10.0.0.0/8`, `fd00::/8`).
fn parse_networks(name: &str, value: &str) -> anyhow::Result<Vec<crate::outbound::Network>> {
    value
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| {
            crate::outbound::Network::parse(item).ok_or_else(|| {
                anyhow::anyhow!(
                    "{name}: {item:?} is not an IP address or network such as 10.0.0.0/8"
                )
            })
        })
        .collect()
}

fn parse_public_url(url: &str) -> anyhow::Result<String> {
    let trimmed = url.trim_end_matches('/');
    if !(trimmed.starts_with("http://") || trimmed.starts_with("https://")) {
        bail!("PACKYARD_PUBLIC_URL: {url:?} must start with http:// or https://");
    }
    Ok(trimmed.to_owned())
}

/// `3600`, `90s`, `15m`, `1h`; `0` turns the schedule off.
fn parse_interval(name: &str, value: &str) -> anyhow::Result<Option<Duration>> {
    let interval = crate::time::parse_interval(value)
        .with_context(|| format!("{name}: {value:?} is not an interval such as 3600, 15m or 1h"))?;
    Ok((!interval.is_zero()).then_some(interval))
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
    fn trusted_proxies_are_addresses_or_networks() {
        let s = settings(&[(
            "PACKYARD_TRUSTED_PROXIES",
            "10.42.0.0/16, 192.0.2.7,fd00::/8",
        )])
        .unwrap();
        let trusted = |address: &str| {
            let address = address.parse().unwrap();
            s.trusted_proxies
                .iter()
                .any(|proxy| proxy.contains(address))
        };
        assert!(trusted("10.42.3.9") && trusted("192.0.2.7") && trusted("fd00::1"));
        assert!(!trusted("10.43.0.1") && !trusted("192.0.2.8") && !trusted("::1"));
        let error = settings(&[("PACKYARD_TRUSTED_PROXIES", "10.0.0.0/33")])
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("PACKYARD_TRUSTED_PROXIES: \"10.0.0.0/33\""),
            "{error}"
        );
    }

    #[test]
    fn config_file_defines_storages() {
        let dir = std::env::temp_dir().join(format!("packyard-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("config.yaml");
        std::fs::write(
            &file,
            "storages:\n  disk.storage: {adapter: local, root: /srv/dist, prefix: dist}\n",
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
        assert_eq!(s.vcs_cache_dir, PathBuf::from("data/vcs"));
        assert_eq!(s.ssh_known_hosts, PathBuf::from("data/vcs/known_hosts"));
        assert_eq!(s.update_interval, Some(DEFAULT_UPDATE_INTERVAL));
        assert!(!s.prebuild_dists);
        assert!(s.secret.is_none());
    }

    #[test]
    fn intervals_accept_units_and_zero_turns_them_off() {
        assert_eq!(
            parse_interval("X", "90").unwrap(),
            Some(Duration::from_secs(90))
        );
        assert_eq!(
            parse_interval("X", "15m").unwrap(),
            Some(Duration::from_secs(900))
        );
        assert_eq!(
            parse_interval("X", "2h").unwrap(),
            Some(Duration::from_secs(7200))
        );
        assert_eq!(parse_interval("X", "0").unwrap(), None);
        assert!(parse_interval("X", "soon").is_err());
        assert_eq!(
            parse_interval("X", "1d").unwrap(),
            Some(Duration::from_secs(86_400))
        );
        assert!(parse_interval("X", "1w").is_err());
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
