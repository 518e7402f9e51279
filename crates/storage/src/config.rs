//! Storage configuration, read from the environment with Packeton's names and defaults
//! (the README's Storage section lists them), plus named storages from the YAML config
//! file.
//!
//! `STORAGE_SOURCE=local` (default) keeps every store on local disk; `s3` puts all four
//! stores in one bucket under their prefixes; any other name selects the storages
//! `NAME.storage`, `NAME.artifact`, `NAME.mirror-meta` and `NAME.mirror-dist` defined in
//! the config file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::StoreName;
use crate::web_identity::WebIdentityConfig;

pub const DEFAULT_BUCKET: &str = "packeton-bucket";
pub const DEFAULT_ARTIFACT_CACHE_MAX: u64 = 1 << 30;
/// Bound on one storage request before it counts as failed (see README: outages).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(1500);

/// A configuration problem; the message starts with the variable or key at fault.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

fn error(message: impl Into<String>) -> ConfigError {
    ConfigError(message.into())
}

/// Everything needed to open the four stores.
#[derive(Debug, Clone, PartialEq)]
pub struct StorageSettings {
    /// The value of `STORAGE_SOURCE`.
    pub source: String,
    pub dist: StoreSpec,
    pub artifact: StoreSpec,
    pub mirror_meta: StoreSpec,
    pub mirror_dist: StoreSpec,
    /// Local copy of remote artifact archives (`PACKYARD_ARTIFACT_CACHE_DIR`).
    pub artifact_cache: Option<CacheSettings>,
    /// `MIRROR_METADATA_CACHE_DIR`: empty means no local copy at all (stateless).
    pub mirror_meta_cache: Option<CacheSettings>,
    /// `MIRROR_DIST_CACHE_DIR`: empty means no local copy at all (stateless).
    pub mirror_dist_cache: Option<CacheSettings>,
    /// `PACKYARD_STORAGE_TIMEOUT`: how long one request to a remote store may take to
    /// answer before the caller gets an error.
    pub timeout: Duration,
    /// `PACKYARD_DIST_REDIRECT`: archives in S3 stores are handed out as presigned URLs
    /// (valid this long) instead of being streamed through the process.
    pub download_redirect: Option<Duration>,
}

impl StorageSettings {
    pub fn store(&self, name: StoreName) -> &StoreSpec {
        match name {
            StoreName::Dist => &self.dist,
            StoreName::Artifact => &self.artifact,
            StoreName::MirrorMeta => &self.mirror_meta,
            StoreName::MirrorDist => &self.mirror_dist,
        }
    }

    fn store_mut(&mut self, name: StoreName) -> &mut StoreSpec {
        match name {
            StoreName::Dist => &mut self.dist,
            StoreName::Artifact => &mut self.artifact,
            StoreName::MirrorMeta => &mut self.mirror_meta,
            StoreName::MirrorDist => &mut self.mirror_dist,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct CacheSettings {
    pub dir: PathBuf,
    /// Bytes kept before the least recently used files are evicted.
    pub max_bytes: u64,
}

/// One store: a backend and the key prefix inside it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreSpec {
    pub backend: BackendSpec,
    pub prefix: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum BackendSpec {
    Local {
        root: PathBuf,
    },
    S3(S3Spec),
    Gcs {
        bucket: String,
        key_file: Option<PathBuf>,
        /// Base URL of the storage API (object_store speaks its XML flavour), for
        /// emulators; default Google's. Needed for a plain-http emulator even when the key
        /// file names one, since http is allowed only for an http `endpoint`.
        endpoint: Option<String>,
    },
    Azure(AzureSpec),
}

impl BackendSpec {
    pub fn is_local(&self) -> bool {
        matches!(self, BackendSpec::Local { .. })
    }

    /// `s3://bucket`, `gs://bucket`, `az://account/container`, `file:///root`.
    pub fn describe(&self) -> String {
        match self {
            BackendSpec::Local { root } => format!("file://{}", root.display()),
            BackendSpec::S3(s3) => match &s3.endpoint {
                Some(endpoint) => format!("s3://{} at {endpoint}", s3.bucket),
                None => format!("s3://{}", s3.bucket),
            },
            BackendSpec::Gcs { bucket, .. } => format!("gs://{bucket}"),
            BackendSpec::Azure(azure) => format!("az://{}/{}", azure.account, azure.container),
        }
    }
}

/// `STORAGE_AWS_ARGS`: the JSON object Packeton passes to its S3 client, plus our
/// `pathStyle` and `stsEndpoint`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct S3Args {
    pub endpoint: Option<String>,
    pub access_key_id: Option<String>,
    pub access_key_secret: Option<String>,
    pub session_token: Option<String>,
    pub region: Option<String>,
    pub role_arn: Option<String>,
    pub web_identity_token_file: Option<PathBuf>,
    pub role_session_name: Option<String>,
    /// Path-style URLs (`endpoint/bucket/key`); default true when `endpoint` is set,
    /// since S3-compatible servers rarely have wildcard DNS.
    pub path_style: Option<bool>,
    pub sts_endpoint: Option<String>,
}

impl S3Args {
    /// Parses `STORAGE_AWS_ARGS`. Packeton's default is `[]` (an empty PHP array).
    pub fn parse(json: &str) -> Result<S3Args, ConfigError> {
        let value: serde_json::Value = serde_json::from_str(json)
            .map_err(|e| error(format!("STORAGE_AWS_ARGS: invalid JSON: {e}")))?;
        match value {
            serde_json::Value::Array(items) if items.is_empty() => Ok(S3Args::default()),
            serde_json::Value::Object(_) => {
                serde_json::from_value(value).map_err(|e| error(format!("STORAGE_AWS_ARGS: {e}")))
            }
            _ => Err(error(
                "STORAGE_AWS_ARGS: must be a JSON object such as {\"region\":\"us-east-1\"}",
            )),
        }
    }

    pub fn path_style(&self) -> bool {
        self.path_style.unwrap_or(self.endpoint.is_some())
    }
}

/// An S3 bucket with everything about reaching it resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct S3Spec {
    pub bucket: String,
    pub region: String,
    pub endpoint: Option<String>,
    pub path_style: bool,
    pub credentials: S3Credentials,
}

/// Where S3 credentials come from, in the order they are looked for: explicit keys >
/// explicit web identity > web identity from the environment (IRSA) > keys from the
/// environment > instance metadata.
#[derive(Clone, PartialEq)]
pub enum S3Credentials {
    Static {
        key_id: String,
        secret: String,
        session_token: Option<String>,
    },
    WebIdentity {
        role_arn: String,
        token_file: PathBuf,
        session_name: Option<String>,
        sts_endpoint: String,
    },
    InstanceMetadata,
}

impl std::fmt::Debug for S3Credentials {
    /// Secrets never reach logs or error messages.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            S3Credentials::Static { key_id, .. } => {
                write!(f, "Static {{ key_id: {key_id:?}, .. }}")
            }
            S3Credentials::WebIdentity {
                role_arn,
                token_file,
                sts_endpoint,
                ..
            } => write!(
                f,
                "WebIdentity {{ role_arn: {role_arn:?}, token_file: {token_file:?}, sts_endpoint: {sts_endpoint:?} }}"
            ),
            S3Credentials::InstanceMetadata => write!(f, "InstanceMetadata"),
        }
    }
}

impl S3Spec {
    pub fn resolve(
        bucket: String,
        args: &S3Args,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<S3Spec, ConfigError> {
        let region = args
            .region
            .clone()
            .or_else(|| lookup("AWS_REGION"))
            .or_else(|| lookup("AWS_DEFAULT_REGION"))
            .unwrap_or_else(|| "us-east-1".into());
        let sts_endpoint = args
            .sts_endpoint
            .clone()
            .or_else(|| lookup("AWS_ENDPOINT_URL_STS"))
            .unwrap_or_else(|| WebIdentityConfig::regional_sts_endpoint(&region));
        let credentials = resolve_credentials(args, lookup, sts_endpoint)?;
        Ok(S3Spec {
            bucket,
            region,
            endpoint: args.endpoint.clone(),
            path_style: args.path_style(),
            credentials,
        })
    }
}

fn resolve_credentials(
    args: &S3Args,
    lookup: &dyn Fn(&str) -> Option<String>,
    sts_endpoint: String,
) -> Result<S3Credentials, ConfigError> {
    match (&args.access_key_id, &args.access_key_secret) {
        (Some(key_id), Some(secret)) => {
            return Ok(S3Credentials::Static {
                key_id: key_id.clone(),
                secret: secret.clone(),
                session_token: args.session_token.clone(),
            });
        }
        (Some(_), None) | (None, Some(_)) => {
            return Err(error(
                "STORAGE_AWS_ARGS: accessKeyId and accessKeySecret must be given together",
            ));
        }
        (None, None) => {}
    }
    match (&args.role_arn, &args.web_identity_token_file) {
        (Some(role_arn), Some(token_file)) => {
            return Ok(S3Credentials::WebIdentity {
                role_arn: role_arn.clone(),
                token_file: token_file.clone(),
                session_name: args.role_session_name.clone(),
                sts_endpoint,
            });
        }
        (Some(_), None) | (None, Some(_)) => {
            return Err(error(
                "STORAGE_AWS_ARGS: roleArn and webIdentityTokenFile must be given together",
            ));
        }
        (None, None) => {}
    }
    if let (Some(role_arn), Some(token_file)) = (
        lookup("AWS_ROLE_ARN"),
        lookup("AWS_WEB_IDENTITY_TOKEN_FILE"),
    ) {
        return Ok(S3Credentials::WebIdentity {
            role_arn,
            token_file: PathBuf::from(token_file),
            session_name: args
                .role_session_name
                .clone()
                .or_else(|| lookup("AWS_ROLE_SESSION_NAME")),
            sts_endpoint,
        });
    }
    if let (Some(key_id), Some(secret)) =
        (lookup("AWS_ACCESS_KEY_ID"), lookup("AWS_SECRET_ACCESS_KEY"))
    {
        return Ok(S3Credentials::Static {
            key_id,
            secret,
            session_token: lookup("AWS_SESSION_TOKEN"),
        });
    }
    Ok(S3Credentials::InstanceMetadata)
}

#[derive(Debug, Clone, PartialEq)]
pub struct AzureSpec {
    pub account: String,
    pub container: String,
    pub access_key: Option<String>,
    /// Blob endpoint for emulators and sovereign clouds, e.g. `http://127.0.0.1:10000/devstoreaccount1`.
    pub endpoint: Option<String>,
}

/// One named storage of the config file (`storages:` in `PACKYARD_CONFIG`): the
/// translation of Packeton's flysystem storages.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StorageEntry {
    /// `s3` (also `asyncaws`, `aws`), `gcs` (also `gcloud`), `azure`, `local`.
    pub adapter: String,
    pub bucket: Option<String>,
    pub container: Option<String>,
    #[serde(default)]
    pub prefix: String,
    /// Root directory of a `local` storage.
    pub root: Option<PathBuf>,
    /// S3 client options, the same keys as `STORAGE_AWS_ARGS` (which is the default).
    pub options: Option<serde_json::Value>,
    /// GCS service-account key file (default: `GOOGLE_APPLICATION_CREDENTIALS`).
    pub key_file: Option<PathBuf>,
    /// Azure storage account, key and endpoint.
    pub account: Option<String>,
    pub access_key: Option<String>,
    pub endpoint: Option<String>,
}

/// Reads the storage settings. `lookup` returns non-empty environment values;
/// `storages` are the named storages of the config file.
pub fn from_env(
    lookup: &dyn Fn(&str) -> Option<String>,
    data_dir: &Path,
    storages: &BTreeMap<String, StorageEntry>,
) -> Result<StorageSettings, ConfigError> {
    let source = lookup("STORAGE_SOURCE").unwrap_or_else(|| "local".into());
    let mut settings = match source.as_str() {
        "local" => local_settings(lookup, data_dir),
        "s3" => s3_settings(lookup)?,
        name => named_settings(lookup, name, storages)?,
    };
    settings.source = source;
    settings.timeout = match lookup("PACKYARD_STORAGE_TIMEOUT") {
        Some(value) => parse_duration("PACKYARD_STORAGE_TIMEOUT", &value)?,
        None => DEFAULT_TIMEOUT,
    };
    settings.artifact_cache = artifact_cache(lookup, data_dir, &settings.artifact)?;
    let mirror_cache_max = match lookup("PACKYARD_MIRROR_CACHE_MAX") {
        Some(value) => parse_size("PACKYARD_MIRROR_CACHE_MAX", &value)?,
        None => DEFAULT_ARTIFACT_CACHE_MAX,
    };
    let mirror_cache = |name: &str| {
        lookup(name).map(|dir| CacheSettings {
            dir: PathBuf::from(dir),
            max_bytes: mirror_cache_max,
        })
    };
    settings.mirror_meta_cache = mirror_cache("MIRROR_METADATA_CACHE_DIR");
    settings.mirror_dist_cache = mirror_cache("MIRROR_DIST_CACHE_DIR");
    settings.download_redirect = download_redirect(lookup, &settings)?;
    check_overlaps(&settings)?;
    Ok(settings)
}

/// How long a presigned archive URL stays valid: long enough for a client to start
/// the download it was redirected to, short enough not to be a lasting credential.
pub const REDIRECT_VALIDITY: Duration = Duration::from_secs(300);

/// `PACKYARD_DIST_REDIRECT=1`: only meaningful when an archive store is on S3.
fn download_redirect(
    lookup: &dyn Fn(&str) -> Option<String>,
    settings: &StorageSettings,
) -> Result<Option<Duration>, ConfigError> {
    let wanted = lookup("PACKYARD_DIST_REDIRECT")
        .map(|value| parse_flag("PACKYARD_DIST_REDIRECT", &value))
        .transpose()?;
    if wanted != Some(true) {
        return Ok(None);
    }
    if !StoreName::ALL
        .into_iter()
        .filter(|name| name.holds_archives())
        .any(|name| matches!(settings.store(name).backend, BackendSpec::S3(_)))
    {
        return Err(error(format!(
            "PACKYARD_DIST_REDIRECT=1 needs archive stores on S3, but STORAGE_SOURCE={} keeps them elsewhere",
            settings.source
        )));
    }
    Ok(Some(REDIRECT_VALIDITY))
}

fn empty_settings(dist: StoreSpec) -> StorageSettings {
    StorageSettings {
        source: String::new(),
        artifact: dist.clone(),
        mirror_meta: dist.clone(),
        mirror_dist: dist.clone(),
        dist,
        artifact_cache: None,
        mirror_meta_cache: None,
        mirror_dist_cache: None,
        timeout: DEFAULT_TIMEOUT,
        download_redirect: None,
    }
}

/// Each store in its own directory of the data dir; `PACKAGIST_DIST_PATH` (Packeton's
/// name) moves the dist store.
fn local_settings(lookup: &dyn Fn(&str) -> Option<String>, data_dir: &Path) -> StorageSettings {
    let local = |root: PathBuf| StoreSpec {
        backend: BackendSpec::Local { root },
        prefix: String::new(),
    };
    let dist_root =
        lookup("PACKAGIST_DIST_PATH").map_or_else(|| data_dir.join("zipball"), PathBuf::from);
    let mut settings = empty_settings(local(dist_root));
    settings.artifact = local(data_dir.join("artifact"));
    settings.mirror_meta = local(data_dir.join("mirror-meta"));
    settings.mirror_dist = local(data_dir.join("mirror-dist"));
    settings
}

/// One bucket, four prefixes: Packeton's `STORAGE_SOURCE=s3`.
fn s3_settings(lookup: &dyn Fn(&str) -> Option<String>) -> Result<StorageSettings, ConfigError> {
    let bucket = lookup("STORAGE_AWS_BUCKET").unwrap_or_else(|| DEFAULT_BUCKET.into());
    let args = S3Args::parse(&lookup("STORAGE_AWS_ARGS").unwrap_or_else(|| "[]".into()))?;
    let backend = BackendSpec::S3(S3Spec::resolve(bucket, &args, lookup)?);
    let prefixed = |variable: &str, default: &str| StoreSpec {
        backend: backend.clone(),
        prefix: lookup(variable).unwrap_or_else(|| default.into()),
    };
    let mut settings = empty_settings(prefixed("STORAGE_AWS_PREFIX", "packeton"));
    settings.artifact = prefixed("STORAGE_AWS_ARTIFACT_PREFIX", "artifact");
    settings.mirror_meta = prefixed("STORAGE_AWS_MIRROR_META_PREFIX", "mirror-meta");
    settings.mirror_dist = prefixed("STORAGE_AWS_MIRROR_DIST_PREFIX", "mirror-dist");
    Ok(settings)
}

/// `NAME.storage` is required; a missing `.artifact` or `.mirror-*` entry uses the
/// `.storage` backend with the default prefix of that store.
fn named_settings(
    lookup: &dyn Fn(&str) -> Option<String>,
    name: &str,
    storages: &BTreeMap<String, StorageEntry>,
) -> Result<StorageSettings, ConfigError> {
    let main_key = format!("{name}.storage");
    let Some(main) = storages.get(&main_key) else {
        return Err(error(format!(
            "STORAGE_SOURCE: unknown source {name:?}: use local, s3, or define storage {main_key:?} in the config file (PACKYARD_CONFIG)"
        )));
    };
    let main = entry_spec(lookup, &main_key, main)?;
    let mut settings = empty_settings(main.clone());
    for (store, suffix, default_prefix) in [
        (StoreName::Artifact, "artifact", "artifact"),
        (StoreName::MirrorMeta, "mirror-meta", "mirror-meta"),
        (StoreName::MirrorDist, "mirror-dist", "mirror-dist"),
    ] {
        let key = format!("{name}.{suffix}");
        *settings.store_mut(store) = match storages.get(&key) {
            Some(entry) => entry_spec(lookup, &key, entry)?,
            None => StoreSpec {
                backend: main.backend.clone(),
                prefix: default_prefix.to_owned(),
            },
        };
    }
    Ok(settings)
}

/// Two stores on one backend must not contain each other: listing one (for migrate or
/// verify) would otherwise return the other's objects.
fn check_overlaps(settings: &StorageSettings) -> Result<(), ConfigError> {
    for (i, a) in StoreName::ALL.iter().enumerate() {
        for b in &StoreName::ALL[i + 1..] {
            let (spec_a, spec_b) = (settings.store(*a), settings.store(*b));
            if spec_a.backend != spec_b.backend {
                continue;
            }
            let (pa, pb) = (
                spec_a.prefix.trim_matches('/'),
                spec_b.prefix.trim_matches('/'),
            );
            let contains = |outer: &str, inner: &str| {
                outer.is_empty() || inner == outer || inner.starts_with(&format!("{outer}/"))
            };
            if contains(pa, pb) || contains(pb, pa) {
                return Err(error(format!(
                    "STORAGE_SOURCE={}: the {} store (prefix {pa:?}) and the {} store (prefix {pb:?}) overlap in {}; give each store its own prefix",
                    settings.source,
                    a.as_str(),
                    b.as_str(),
                    spec_a.backend.describe()
                )));
            }
        }
    }
    Ok(())
}

fn entry_spec(
    lookup: &dyn Fn(&str) -> Option<String>,
    key: &str,
    entry: &StorageEntry,
) -> Result<StoreSpec, ConfigError> {
    let require = |value: &Option<String>, field: &str| {
        value.clone().filter(|v| !v.is_empty()).ok_or_else(|| {
            error(format!(
                "storages.{key}.{field}: required for adapter {}",
                entry.adapter
            ))
        })
    };
    let backend = match entry.adapter.as_str() {
        "s3" | "asyncaws" | "aws" => {
            let args = match &entry.options {
                Some(options) => S3Args::parse(&options.to_string()).map_err(|e| {
                    error(format!(
                        "storages.{key}.options: {}",
                        e.0.trim_start_matches("STORAGE_AWS_ARGS: ")
                    ))
                })?,
                None => S3Args::parse(&lookup("STORAGE_AWS_ARGS").unwrap_or_else(|| "[]".into()))?,
            };
            BackendSpec::S3(S3Spec::resolve(
                require(&entry.bucket, "bucket")?,
                &args,
                lookup,
            )?)
        }
        "gcs" | "gcloud" | "google" => BackendSpec::Gcs {
            bucket: require(&entry.bucket, "bucket")?,
            key_file: entry
                .key_file
                .clone()
                .or_else(|| lookup("GOOGLE_APPLICATION_CREDENTIALS").map(PathBuf::from)),
            endpoint: entry.endpoint.clone(),
        },
        "azure" => BackendSpec::Azure(AzureSpec {
            account: require(&entry.account, "account")?,
            container: require(&entry.container, "container")?,
            access_key: entry.access_key.clone(),
            endpoint: entry.endpoint.clone(),
        }),
        "local" => BackendSpec::Local {
            root: entry
                .root
                .clone()
                .ok_or_else(|| error(format!("storages.{key}.root: required for adapter local")))?,
        },
        other => {
            return Err(error(format!(
                "storages.{key}.adapter: unknown adapter {other:?} (use s3, gcs, azure or local)"
            )));
        }
    };
    Ok(StoreSpec {
        backend,
        prefix: entry.prefix.trim_matches('/').to_owned(),
    })
}

/// Remote artifact archives are kept locally, bounded; local artifacts need no copy.
fn artifact_cache(
    lookup: &dyn Fn(&str) -> Option<String>,
    data_dir: &Path,
    artifact: &StoreSpec,
) -> Result<Option<CacheSettings>, ConfigError> {
    let max_bytes = match lookup("PACKYARD_ARTIFACT_CACHE_MAX") {
        Some(value) => parse_size("PACKYARD_ARTIFACT_CACHE_MAX", &value)?,
        None => DEFAULT_ARTIFACT_CACHE_MAX,
    };
    if artifact.backend.is_local() || max_bytes == 0 {
        return Ok(None);
    }
    let dir = lookup("PACKYARD_ARTIFACT_CACHE_DIR")
        .map_or_else(|| data_dir.join("cache").join("artifact"), PathBuf::from);
    Ok(Some(CacheSettings { dir, max_bytes }))
}

/// Parses a flag: `1`/`true`/`yes`/`on` or `0`/`false`/`no`/`off`, any case.
pub fn parse_flag(name: &str, value: &str) -> Result<bool, ConfigError> {
    match value.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(error(format!(
            "{name}: {value:?} is not a boolean (use 1 or 0)"
        ))),
    }
}

/// Parses `1048576`, `512K`, `100M`, `2G` (binary units, optional `iB`/`B` suffix).
pub fn parse_size(name: &str, value: &str) -> Result<u64, ConfigError> {
    let invalid = || error(format!("{name}: {value:?} is not a size such as 100M"));
    let upper = value.trim().to_ascii_uppercase();
    let digits_end = upper
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(upper.len());
    let (digits, unit) = upper.split_at(digits_end);
    let multiplier: u64 = match unit.trim_end_matches("IB").trim_end_matches('B') {
        "" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        _ => return Err(invalid()),
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(multiplier))
        .ok_or_else(invalid)
}

/// Parses seconds, with an optional fraction (`1.5`) or an `ms` suffix (`1500ms`).
pub fn parse_duration(name: &str, value: &str) -> Result<Duration, ConfigError> {
    let invalid = || {
        error(format!(
            "{name}: {value:?} is not a duration such as 1.5 or 1500ms"
        ))
    };
    let value = value.trim();
    let duration = match value.strip_suffix("ms") {
        Some(millis) => millis.parse::<u64>().ok().map(Duration::from_millis),
        None => value
            .trim_end_matches('s')
            .parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(Duration::from_secs_f64),
    };
    duration.filter(|d| !d.is_zero()).ok_or_else(invalid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings_with(
        vars: &[(&str, &str)],
        storages: &BTreeMap<String, StorageEntry>,
    ) -> Result<StorageSettings, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        from_env(
            &|name| vars.get(name).cloned(),
            Path::new("/data"),
            storages,
        )
    }

    fn settings(vars: &[(&str, &str)]) -> Result<StorageSettings, ConfigError> {
        settings_with(vars, &BTreeMap::new())
    }

    fn yaml(text: &str) -> BTreeMap<String, StorageEntry> {
        serde_yaml_ng::from_str(text).unwrap()
    }

    #[test]
    fn local_is_the_default() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.source, "local");
        assert_eq!(
            s.dist.backend,
            BackendSpec::Local {
                root: "/data/zipball".into()
            }
        );
        assert_eq!(
            s.artifact.backend,
            BackendSpec::Local {
                root: "/data/artifact".into()
            }
        );
        assert_eq!(
            s.mirror_meta.backend,
            BackendSpec::Local {
                root: "/data/mirror-meta".into()
            }
        );
        assert_eq!(
            s.mirror_dist.backend,
            BackendSpec::Local {
                root: "/data/mirror-dist".into()
            }
        );
        assert_eq!(s.artifact_cache, None, "local artifacts need no cache");
        assert_eq!(
            (s.mirror_meta_cache.clone(), s.mirror_dist_cache.clone()),
            (None, None)
        );
        assert_eq!(s.timeout, DEFAULT_TIMEOUT);
        let moved = settings(&[("PACKAGIST_DIST_PATH", "/srv/zipball")]).unwrap();
        assert_eq!(
            moved.dist.backend,
            BackendSpec::Local {
                root: "/srv/zipball".into()
            }
        );
    }

    #[test]
    fn s3_uses_packeton_names_and_defaults() {
        let s = settings(&[("STORAGE_SOURCE", "s3")]).unwrap();
        let BackendSpec::S3(s3) = &s.dist.backend else {
            panic!("{s:?}")
        };
        assert_eq!(s3.bucket, DEFAULT_BUCKET);
        assert_eq!(s3.region, "us-east-1");
        assert_eq!((s3.endpoint.clone(), s3.path_style), (None, false));
        assert_eq!(s3.credentials, S3Credentials::InstanceMetadata);
        let prefixes: Vec<_> = StoreName::ALL
            .iter()
            .map(|n| s.store(*n).prefix.as_str())
            .collect();
        assert_eq!(
            prefixes,
            ["packeton", "artifact", "mirror-meta", "mirror-dist"]
        );
        assert_eq!(
            s.artifact_cache.as_ref().unwrap().dir,
            PathBuf::from("/data/cache/artifact")
        );
        assert_eq!(
            s.artifact_cache.as_ref().unwrap().max_bytes,
            DEFAULT_ARTIFACT_CACHE_MAX
        );

        let s = settings(&[
            ("STORAGE_SOURCE", "s3"),
            ("STORAGE_AWS_BUCKET", "b"),
            ("STORAGE_AWS_PREFIX", "p"),
            ("STORAGE_AWS_ARTIFACT_PREFIX", "a"),
            ("STORAGE_AWS_MIRROR_META_PREFIX", "mm"),
            ("STORAGE_AWS_MIRROR_DIST_PREFIX", "md"),
            (
                "STORAGE_AWS_ARGS",
                r#"{"endpoint":"http://127.0.0.1:9000","accessKeyId":"AK","accessKeySecret":"SK","region":"waw"}"#,
            ),
            ("MIRROR_METADATA_CACHE_DIR", "/tmp/mm"),
            ("PACKYARD_ARTIFACT_CACHE_DIR", "/cache"),
            ("PACKYARD_ARTIFACT_CACHE_MAX", "10M"),
            ("PACKYARD_STORAGE_TIMEOUT", "500ms"),
        ])
        .unwrap();
        let prefixes: Vec<_> = StoreName::ALL
            .iter()
            .map(|n| s.store(*n).prefix.as_str())
            .collect();
        assert_eq!(prefixes, ["p", "a", "mm", "md"]);
        let BackendSpec::S3(s3) = &s.artifact.backend else {
            panic!()
        };
        assert_eq!(s3.bucket, "b");
        assert_eq!(s3.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert_eq!(
            s3.credentials,
            S3Credentials::Static {
                key_id: "AK".into(),
                secret: "SK".into(),
                session_token: None
            }
        );
        assert_eq!(s3.region, "waw");
        assert!(s3.path_style, "path style by default with an endpoint");
        assert_eq!(
            s.mirror_meta_cache.as_ref().unwrap().dir,
            PathBuf::from("/tmp/mm")
        );
        assert_eq!(s.mirror_dist_cache, None);
        assert_eq!(
            s.artifact_cache,
            Some(CacheSettings {
                dir: "/cache".into(),
                max_bytes: 10 << 20
            })
        );
        assert_eq!(s.timeout, Duration::from_millis(500));
    }

    #[test]
    fn s3_args_accept_web_identity_and_our_keys() {
        let args = S3Args::parse(
            r#"{"region":"us-east-1","roleArn":"arn:aws:iam::1:role/r","webIdentityTokenFile":"/t","roleSessionName":"s","pathStyle":false,"stsEndpoint":"http://sts"}"#,
        )
        .unwrap();
        assert_eq!(args.role_arn.as_deref(), Some("arn:aws:iam::1:role/r"));
        assert_eq!(args.web_identity_token_file, Some(PathBuf::from("/t")));
        assert_eq!(args.role_session_name.as_deref(), Some("s"));
        assert_eq!(args.sts_endpoint.as_deref(), Some("http://sts"));
        assert!(!args.path_style());
        assert_eq!(S3Args::parse("[]").unwrap(), S3Args::default());
        assert_eq!(S3Args::parse("{}").unwrap(), S3Args::default());
    }

    fn credentials(vars: &[(&str, &str)]) -> S3Credentials {
        let mut vars = vars.to_vec();
        vars.push(("STORAGE_SOURCE", "s3"));
        let BackendSpec::S3(s3) = settings(&vars).unwrap().dist.backend else {
            panic!()
        };
        s3.credentials
    }

    #[test]
    fn credentials_follow_the_documented_order() {
        let explicit_keys = r#"{"accessKeyId":"AK","accessKeySecret":"SK","sessionToken":"T","roleArn":"r","webIdentityTokenFile":"/t"}"#;
        let explicit_identity =
            r#"{"region":"eu-central-1","roleArn":"arn:r","webIdentityTokenFile":"/t"}"#;
        let irsa_env = [
            ("AWS_ROLE_ARN", "arn:env"),
            ("AWS_WEB_IDENTITY_TOKEN_FILE", "/env/token"),
            ("AWS_REGION", "eu-west-3"),
            ("AWS_ACCESS_KEY_ID", "ENVAK"),
            ("AWS_SECRET_ACCESS_KEY", "ENVSK"),
        ];
        let mut all = irsa_env.to_vec();
        all.push(("STORAGE_AWS_ARGS", explicit_keys));
        assert_eq!(
            credentials(&all),
            S3Credentials::Static {
                key_id: "AK".into(),
                secret: "SK".into(),
                session_token: Some("T".into())
            }
        );
        let mut all = irsa_env.to_vec();
        all.push(("STORAGE_AWS_ARGS", explicit_identity));
        assert_eq!(
            credentials(&all),
            S3Credentials::WebIdentity {
                role_arn: "arn:r".into(),
                token_file: "/t".into(),
                session_name: None,
                sts_endpoint: "https://sts.eu-central-1.amazonaws.com".into()
            }
        );
        let mut env_only = irsa_env.to_vec();
        env_only.push(("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:5000"));
        env_only.push(("AWS_ROLE_SESSION_NAME", "pod-1"));
        assert_eq!(
            credentials(&env_only),
            S3Credentials::WebIdentity {
                role_arn: "arn:env".into(),
                token_file: "/env/token".into(),
                session_name: Some("pod-1".into()),
                sts_endpoint: "http://127.0.0.1:5000".into()
            }
        );
        assert_eq!(
            credentials(&irsa_env[2..]),
            S3Credentials::Static {
                key_id: "ENVAK".into(),
                secret: "ENVSK".into(),
                session_token: None
            }
        );
        assert_eq!(credentials(&[]), S3Credentials::InstanceMetadata);
        let half = settings(&[
            ("STORAGE_SOURCE", "s3"),
            ("STORAGE_AWS_ARGS", r#"{"roleArn":"r"}"#),
        ]);
        assert!(
            half.unwrap_err()
                .to_string()
                .contains("webIdentityTokenFile")
        );
        let debug = format!("{:?}", credentials(&[("STORAGE_AWS_ARGS", explicit_keys)]));
        assert!(!debug.contains("SK"), "secrets stay out of Debug: {debug}");
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (vars, variable) in [
            (
                vec![("STORAGE_SOURCE", "s3"), ("STORAGE_AWS_ARGS", "{nope")],
                "STORAGE_AWS_ARGS: invalid JSON",
            ),
            (
                vec![("STORAGE_SOURCE", "s3"), ("STORAGE_AWS_ARGS", "42")],
                "STORAGE_AWS_ARGS",
            ),
            (
                vec![
                    ("STORAGE_SOURCE", "s3"),
                    ("STORAGE_AWS_ARGS", r#"{"region":7}"#),
                ],
                "STORAGE_AWS_ARGS",
            ),
            (
                vec![("STORAGE_SOURCE", "gcloud")],
                "STORAGE_SOURCE: unknown source \"gcloud\"",
            ),
            (
                vec![("PACKYARD_STORAGE_TIMEOUT", "soon")],
                "PACKYARD_STORAGE_TIMEOUT",
            ),
            (
                vec![
                    ("STORAGE_SOURCE", "s3"),
                    ("PACKYARD_ARTIFACT_CACHE_MAX", "big"),
                ],
                "PACKYARD_ARTIFACT_CACHE_MAX",
            ),
        ] {
            let message = settings(&vars).unwrap_err().to_string();
            assert!(
                message.starts_with(variable),
                "{message:?} should start with {variable:?}"
            );
            assert!(!message.contains('\n'), "one line: {message:?}");
        }
    }

    #[test]
    fn named_storages_come_from_the_config_file() {
        let storages = yaml(
            r#"
gcloud.storage: {adapter: gcloud, bucket: bucket_name, prefix: optional/path/prefix, key_file: /keys/sa.json}
gcloud.artifact: {adapter: gcs, bucket: bucket_name, prefix: optional/path/artifact}
s3_v2.storage: {adapter: asyncaws, bucket: b1, prefix: packeton, options: {region: eu-west-1}}
s3_v2.artifact: {adapter: s3, bucket: b2, prefix: artifact}
s3_v2.mirror-dist: {adapter: local, root: /mnt/mirror}
az.storage: {adapter: azure, account: acct, container: c, access_key: k, endpoint: "http://127.0.0.1:10000/acct", prefix: dist}
"#,
        );
        let s = settings_with(
            &[
                ("STORAGE_SOURCE", "gcloud"),
                ("GOOGLE_APPLICATION_CREDENTIALS", "/env/key.json"),
            ],
            &storages,
        )
        .unwrap();
        assert_eq!(
            s.dist,
            StoreSpec {
                backend: BackendSpec::Gcs {
                    bucket: "bucket_name".into(),
                    key_file: Some("/keys/sa.json".into()),
                    endpoint: None
                },
                prefix: "optional/path/prefix".into()
            }
        );
        assert_eq!(
            s.artifact.backend,
            BackendSpec::Gcs {
                bucket: "bucket_name".into(),
                key_file: Some("/env/key.json".into()),
                endpoint: None
            }
        );
        assert_eq!(s.artifact.prefix, "optional/path/artifact");
        // Mirror stores fall back to the main storage with the default prefixes.
        assert_eq!(s.mirror_meta.backend, s.dist.backend);
        assert_eq!(s.mirror_meta.prefix, "mirror-meta");
        assert_eq!(s.mirror_dist.prefix, "mirror-dist");

        let s = settings_with(
            &[
                ("STORAGE_SOURCE", "s3_v2"),
                ("STORAGE_AWS_ARGS", r#"{"region":"x"}"#),
            ],
            &storages,
        )
        .unwrap();
        let BackendSpec::S3(s3) = &s.dist.backend else {
            panic!()
        };
        assert_eq!(
            (s3.bucket.as_str(), s3.region.as_str()),
            ("b1", "eu-west-1")
        );
        let BackendSpec::S3(s3) = &s.artifact.backend else {
            panic!()
        };
        assert_eq!(
            (s3.bucket.as_str(), s3.region.as_str()),
            ("b2", "x"),
            "STORAGE_AWS_ARGS is the default"
        );
        assert_eq!(
            s.mirror_dist.backend,
            BackendSpec::Local {
                root: "/mnt/mirror".into()
            }
        );

        let s = settings_with(&[("STORAGE_SOURCE", "az")], &storages).unwrap();
        let BackendSpec::Azure(azure) = &s.dist.backend else {
            panic!()
        };
        assert_eq!(
            azure.endpoint.as_deref(),
            Some("http://127.0.0.1:10000/acct")
        );
        assert_eq!(s.artifact.prefix, "artifact");
    }

    #[test]
    fn overlapping_stores_are_refused() {
        let storages = yaml(
            "flat.storage: {adapter: s3, bucket: b}\nnested.storage: {adapter: local, root: /r, prefix: p}\nnested.artifact: {adapter: local, root: /r, prefix: p/artifact}\n",
        );
        let flat = settings_with(&[("STORAGE_SOURCE", "flat")], &storages)
            .unwrap_err()
            .to_string();
        assert!(
            flat.starts_with("STORAGE_SOURCE=flat: the dist store"),
            "{flat}"
        );
        let nested = settings_with(&[("STORAGE_SOURCE", "nested")], &storages)
            .unwrap_err()
            .to_string();
        assert!(
            nested.contains("the dist store (prefix \"p\") and the artifact store"),
            "{nested}"
        );
        let empty = settings(&[("STORAGE_SOURCE", "s3"), ("STORAGE_AWS_PREFIX", "/")])
            .unwrap_err()
            .to_string();
        assert!(empty.contains("overlap"), "{empty}");
    }

    #[test]
    fn config_file_errors_name_the_key() {
        let storages =
            yaml("bad.storage: {adapter: ftp, bucket: x}\nnobucket.storage: {adapter: s3}\n");
        let message = settings_with(&[("STORAGE_SOURCE", "bad")], &storages)
            .unwrap_err()
            .to_string();
        assert!(
            message.starts_with("storages.bad.storage.adapter"),
            "{message}"
        );
        let message = settings_with(&[("STORAGE_SOURCE", "nobucket")], &storages)
            .unwrap_err()
            .to_string();
        assert!(
            message.starts_with("storages.nobucket.storage.bucket"),
            "{message}"
        );
        let unknown_field: Result<BTreeMap<String, StorageEntry>, _> =
            serde_yaml_ng::from_str("x.storage: {adapter: s3, buckett: x}");
        assert!(unknown_field.unwrap_err().to_string().contains("buckett"));
    }

    #[test]
    fn sizes_and_durations_parse() {
        assert_eq!(parse_size("X", "512k").unwrap(), 512 << 10);
        assert_eq!(parse_size("X", "1GiB").unwrap(), 1 << 30);
        assert!(parse_size("X", "1T").is_err());
        assert_eq!(
            parse_duration("X", "1.5").unwrap(),
            Duration::from_millis(1500)
        );
        assert_eq!(parse_duration("X", "2s").unwrap(), Duration::from_secs(2));
        assert_eq!(
            parse_duration("X", "250ms").unwrap(),
            Duration::from_millis(250)
        );
        assert!(parse_duration("X", "0").is_err());
        assert!(parse_duration("X", "-1").is_err());
    }
}
