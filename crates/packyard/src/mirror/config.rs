//! Mirror definitions from the config file:
//!
//! ```yaml
//! mirrors:
//!   packagist: {url: https://repo.packagist.org}      # present by default; `packagist: false` removes it
//!   partner:
//!     url: https://composer.partner.example
//!     http_basic: {username: bot, password: secret}
//!     public_access: false
//!     available_packages: [partner/sdk]
//!     available_package_patterns: ["partner/*"]
//!     strict: false
//!     sync_interval: 5m
//!     enable_dist_mirror: true
//!     include_in_root: false     # also served through the root repository's URL
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use composer::package_name::pattern_matches;
use serde::Deserialize;

pub const DEFAULT_ALIAS: &str = "packagist";
pub const DEFAULT_URL: &str = "https://repo.packagist.org";
pub const DEFAULT_SYNC_INTERVAL: Duration = Duration::from_secs(300);

/// One mirrored repository.
// The flags are the config file's independent yes/no keys, one field each.
#[allow(clippy::struct_excessive_bools)]
#[derive(Debug, Clone, PartialEq)]
pub struct MirrorConfig {
    pub alias: String,
    /// The upstream repository's base URL, without a trailing slash.
    pub url: String,
    pub http_basic: Option<(String, String)>,
    /// Anonymous clients may use this mirror.
    pub public_access: bool,
    /// When non-empty, only these names (and the patterns) are proxied.
    pub available_packages: Vec<String>,
    /// Patterns with `*`, e.g. `symfony/*`.
    pub available_package_patterns: Vec<String>,
    /// Only packages an admin approved are proxied.
    pub strict: bool,
    /// How long fetched metadata is served before it is revalidated upstream.
    pub sync_interval: Duration,
    /// Whether archives are mirrored too (served from our storage).
    pub enable_dist_mirror: bool,
    /// Whether the root repository includes it: its packages are served through
    /// `/packages.json` too, behind the private ones (sub-repositories include mirrors
    /// with `packyard subrepo set --mirrors`).
    pub include_in_root: bool,
    /// Versions the upstream published less than this long ago (milliseconds) are not
    /// offered (`supply_chain::release_age`).
    pub min_release_age: Option<i64>,
    /// Whether plugins are served only once approved (`supply_chain::plugins`).
    pub plugins: crate::supply_chain::plugins::PluginPolicy,
}

impl MirrorConfig {
    pub fn new(alias: &str, url: &str) -> Self {
        MirrorConfig {
            alias: alias.to_owned(),
            url: url.trim_end_matches('/').to_owned(),
            http_basic: None,
            public_access: false,
            available_packages: Vec::new(),
            available_package_patterns: Vec::new(),
            strict: false,
            sync_interval: DEFAULT_SYNC_INTERVAL,
            enable_dist_mirror: true,
            include_in_root: false,
            min_release_age: None,
            plugins: crate::supply_chain::plugins::PluginPolicy::Allow,
        }
    }

    /// Whether the allow-lists let `package` through (empty lists allow everything).
    pub fn allows(&self, package: &str) -> bool {
        if self.available_packages.is_empty() && self.available_package_patterns.is_empty() {
            return true;
        }
        self.available_packages.iter().any(|p| p == package)
            || self
                .available_package_patterns
                .iter()
                .any(|p| pattern_matches(p, package))
    }
}

/// The `mirrors:` section as written: an entry is a table, or `false` to remove a default.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum MirrorEntry {
    Disabled(bool),
    Defined(Box<MirrorFields>),
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MirrorFields {
    pub url: Option<String>,
    pub http_basic: Option<HttpBasic>,
    #[serde(default)]
    pub public_access: bool,
    #[serde(default)]
    pub available_packages: Vec<String>,
    #[serde(default)]
    pub available_package_patterns: Vec<String>,
    #[serde(default)]
    pub strict: bool,
    /// Seconds, or `90s`, `5m`, `1h`.
    pub sync_interval: Option<serde_yaml_ng::Value>,
    pub enable_dist_mirror: Option<bool>,
    #[serde(default)]
    pub include_in_root: bool,
    /// `3d`, `72h`: versions the upstream published more recently are not offered.
    pub min_release_age: Option<String>,
    /// `allow` (the default) or `approve`.
    #[serde(default)]
    pub plugins: crate::supply_chain::plugins::PluginPolicy,
    /// Set `false` to keep the entry but switch it off.
    pub enabled: Option<bool>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HttpBasic {
    pub username: String,
    pub password: String,
}

/// A mirror definition that cannot be used, named by its config key
/// (`mirrors.ALIAS.FIELD`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MirrorConfigError {
    #[error("mirrors.{0}: an alias is letters, digits, '-' and '_'")]
    InvalidAlias(String),
    #[error("mirrors.{0}: needs at least a url")]
    NoUrl(String),
    #[error("mirrors.{0}.url: required")]
    MissingUrl(String),
    #[error("mirrors.{alias}.url: {url:?} must start with https:// or http://")]
    UnsupportedUrl { alias: String, url: String },
    #[error(
        "mirrors.{0}.url: has credentials and mirrors.{0}.http_basic is set too; keep them in http_basic only"
    )]
    TwoCredentials(String),
    #[error("mirrors.{alias}.sync_interval: {value} is not an interval such as 300, 5m or 1h")]
    InvalidInterval { alias: String, value: String },
    #[error("mirrors.{alias}.min_release_age: {reason}")]
    InvalidReleaseAge {
        alias: String,
        reason: crate::supply_chain::release_age::InvalidReleaseAge,
    },
}

/// The mirrors in effect: `packagist` unless removed, plus those defined.
pub fn resolve(
    entries: &BTreeMap<String, MirrorEntry>,
) -> Result<Vec<MirrorConfig>, MirrorConfigError> {
    let mut mirrors = Vec::new();
    if !entries.contains_key(DEFAULT_ALIAS) {
        mirrors.push(MirrorConfig::new(DEFAULT_ALIAS, DEFAULT_URL));
    }
    for (alias, entry) in entries {
        if !is_valid_alias(alias) {
            return Err(MirrorConfigError::InvalidAlias(alias.clone()));
        }
        let fields = match entry {
            MirrorEntry::Disabled(true) if alias == DEFAULT_ALIAS => {
                mirrors.push(MirrorConfig::new(DEFAULT_ALIAS, DEFAULT_URL));
                continue;
            }
            MirrorEntry::Disabled(false) => continue,
            MirrorEntry::Disabled(true) => {
                return Err(MirrorConfigError::NoUrl(alias.clone()));
            }
            MirrorEntry::Defined(fields) if fields.enabled == Some(false) => continue,
            MirrorEntry::Defined(fields) => fields,
        };
        let url = match (&fields.url, alias.as_str()) {
            (Some(url), _) => url.clone(),
            (None, DEFAULT_ALIAS) => DEFAULT_URL.to_owned(),
            (None, _) => return Err(MirrorConfigError::MissingUrl(alias.clone())),
        };
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(MirrorConfigError::UnsupportedUrl {
                alias: alias.clone(),
                url: crate::redact::redacted(&url),
            });
        }
        let mut http_basic = fields
            .http_basic
            .as_ref()
            .map(|b| (b.username.clone(), b.password.clone()));
        // Credentials written into the URL are the mirror's http_basic: the URL is
        // shown, logged and compared with dist URLs, and credentials go only to the
        // upstream's own origin (`upstream::same_origin`).
        if let Some(credentials) = crate::redact::credentials_in(&url) {
            if http_basic.is_some() {
                return Err(MirrorConfigError::TwoCredentials(alias.clone()));
            }
            http_basic = Some(credentials);
        }
        let mut mirror = MirrorConfig::new(alias, &crate::redact::public(&url));
        mirror.http_basic = http_basic;
        mirror.public_access = fields.public_access;
        mirror
            .available_packages
            .clone_from(&fields.available_packages);
        mirror
            .available_package_patterns
            .clone_from(&fields.available_package_patterns);
        mirror.strict = fields.strict;
        mirror.enable_dist_mirror = fields.enable_dist_mirror.unwrap_or(true);
        mirror.include_in_root = fields.include_in_root;
        mirror.plugins = fields.plugins;
        if let Some(age) = &fields.min_release_age {
            mirror.min_release_age =
                crate::supply_chain::release_age::parse(age).map_err(|reason| {
                    MirrorConfigError::InvalidReleaseAge {
                        alias: alias.clone(),
                        reason,
                    }
                })?;
        }
        if let Some(interval) = &fields.sync_interval {
            mirror.sync_interval = crate::time::interval_in_yaml(interval).ok_or_else(|| {
                MirrorConfigError::InvalidInterval {
                    alias: alias.clone(),
                    value: match interval {
                        serde_yaml_ng::Value::String(text) => format!("{text:?}"),
                        other => format!("{other:?}"),
                    },
                }
            })?;
        }
        mirrors.push(mirror);
    }
    Ok(mirrors)
}

fn is_valid_alias(alias: &str) -> bool {
    !alias.is_empty()
        && alias
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Why a test's configuration was refused: its YAML, or what it says.
    #[derive(Debug, thiserror::Error)]
    enum ParseError {
        #[error(transparent)]
        Yaml(#[from] serde_yaml_ng::Error),
        #[error(transparent)]
        Config(#[from] MirrorConfigError),
    }

    fn parse(yaml: &str) -> Result<Vec<MirrorConfig>, ParseError> {
        let entries: BTreeMap<String, MirrorEntry> = serde_yaml_ng::from_str(yaml)?;
        Ok(resolve(&entries)?)
    }

    #[test]
    fn packagist_is_there_by_default_and_can_be_removed() {
        let mirrors = resolve(&BTreeMap::new()).unwrap();
        assert_eq!(mirrors.len(), 1);
        assert_eq!(
            (mirrors[0].alias.as_str(), mirrors[0].url.as_str()),
            ("packagist", "https://repo.packagist.org")
        );
        assert!(mirrors[0].enable_dist_mirror && !mirrors[0].public_access && !mirrors[0].strict);
        assert_eq!(mirrors[0].sync_interval, DEFAULT_SYNC_INTERVAL);
        assert!(parse("packagist: false").unwrap().is_empty());
        assert!(parse("packagist: {enabled: false}").unwrap().is_empty());
    }

    #[test]
    fn mirrors_are_read_with_all_their_settings() {
        let mirrors = parse(
            r#"
packagist: {public_access: true}
partner:
  url: http://127.0.0.1:9000/
  http_basic: {username: bot, password: pw}
  available_packages: [partner/sdk]
  available_package_patterns: ["tools/*"]
  strict: true
  sync_interval: 90s
  enable_dist_mirror: false
  min_release_age: 3d
  plugins: approve
"#,
        )
        .unwrap();
        let packagist = mirrors.iter().find(|m| m.alias == "packagist").unwrap();
        assert!(packagist.public_access);
        assert_eq!(packagist.url, DEFAULT_URL);
        let partner = mirrors.iter().find(|m| m.alias == "partner").unwrap();
        assert_eq!(partner.url, "http://127.0.0.1:9000");
        assert_eq!(partner.http_basic, Some(("bot".into(), "pw".into())));
        assert!(partner.strict && !partner.enable_dist_mirror);
        assert_eq!(partner.sync_interval, Duration::from_secs(90));
        assert_eq!(partner.min_release_age, Some(3 * 86_400_000));
        assert_eq!(
            partner.plugins,
            crate::supply_chain::plugins::PluginPolicy::Approve
        );
        assert_eq!(
            packagist.plugins,
            crate::supply_chain::plugins::PluginPolicy::Allow
        );
        assert!(
            partner.allows("partner/sdk")
                && partner.allows("tools/x")
                && !partner.allows("other/x")
        );
        assert!(packagist.allows("anything/at-all"));
    }

    #[test]
    fn credentials_in_the_url_become_http_basic() {
        let mirrors =
            parse("packagist: false\npartner: {url: 'http://bot:s3%40cret@127.0.0.1:9000/'}")
                .unwrap();
        assert_eq!(mirrors[0].url, "http://127.0.0.1:9000");
        assert_eq!(
            mirrors[0].http_basic,
            Some(("bot".into(), "s3@cret".into()))
        );
        let both = parse(
            "partner: {url: 'http://bot:pw@h.example', http_basic: {username: a, password: b}}",
        )
        .unwrap_err()
        .to_string();
        assert!(both.starts_with("mirrors.partner.url"), "{both}");
        assert!(both.contains("http_basic"), "{both}");
        assert!(!both.contains("pw"), "{both}");
        let unsupported = parse("partner: {url: 'ftp://bot:pw@h.example'}")
            .unwrap_err()
            .to_string();
        assert!(!unsupported.contains(":pw"), "{unsupported}");
        // A bare user name is a token: http_basic with an empty password.
        let token =
            parse("packagist: false\npartner: {url: 'https://T0KEN@h.example/repo'}").unwrap();
        assert_eq!(token[0].url, "https://h.example/repo");
        assert_eq!(token[0].http_basic, Some(("T0KEN".into(), String::new())));
    }

    #[test]
    fn bad_entries_name_the_key() {
        for (yaml, key) in [
            (
                "partner: {http_basic: {username: a, password: b}}",
                "mirrors.partner.url",
            ),
            ("partner: {url: ftp://x}", "mirrors.partner.url"),
            (
                "partner: {url: http://x, sync_interval: soon}",
                "mirrors.partner.sync_interval",
            ),
            ("\"bad alias\": {url: http://x}", "mirrors.bad alias"),
            (
                "partner: {url: http://x, min_release_age: soon}",
                "mirrors.partner.min_release_age",
            ),
        ] {
            let error = parse(yaml).unwrap_err().to_string();
            assert!(error.starts_with(key), "{error}");
        }
        assert!(parse("partner: {url: http://x, unknown: 1}").is_err());
    }
}
