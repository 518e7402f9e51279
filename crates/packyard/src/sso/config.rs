//! The `login:` section of the config file: one entry per identity provider, by alias,
//! and who may still use a local password.
//!
//! ```yaml
//! login:
//!   break_glass_admin: root          # keeps a password when PACKYARD_PASSWORD_LOGIN=0
//!   corp:                            # the alias: /login/corp, /login/corp/callback
//!     type: ldap
//!     title: Company directory
//!     url: ldaps://ldap.example.com  # or ldap:// with starttls: true
//!     ca_file: /etc/ssl/ldap-ca.pem
//!     bind_dn: cn=packyard,ou=services,dc=example,dc=com
//!     bind_password_env: LDAP_BIND_PASSWORD      # or bind_password_file, bind_password
//!     user_base: ou=people,dc=example,dc=com
//!     user_filter: "(&(objectClass=inetOrgPerson)(uid={username}))"
//!     allow_register: true
//!     allowed_email_domains: [example.com]
//!     required_groups: [developers]
//!     roles: {admins: admin, release-managers: maintainer}
//!     groups: {developers: [customers-dev]}
//! ```
//!
//! Secrets come from the environment or a file (`*_env`, `*_file`) so that the YAML can
//! be shared; written in the YAML itself they work too.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::github::GitHubSettings;
use super::oidc::{ClaimMapping, OidcSettings};

/// How often LDAP users are looked up again, so that one removed from the directory
/// loses access (tokens included) without logging in.
pub const DEFAULT_RECHECK: Duration = Duration::from_secs(15 * 60);

/// Everything about signing in.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoginSettings {
    /// The identity providers, by alias, in the config file's order.
    pub providers: Vec<Provider>,
    /// `PACKYARD_PASSWORD_LOGIN` (default on): local passwords at the login page.
    pub password_login: bool,
    /// The one user whose password works when password login is off.
    pub break_glass_admin: Option<String>,
}

impl LoginSettings {
    pub fn provider(&self, alias: &str) -> Option<&Provider> {
        self.providers.iter().find(|p| p.alias == alias)
    }

    /// Whether `user` may log in with a local password.
    pub fn allows_password(&self, user: &str) -> bool {
        self.password_login || self.break_glass_admin.as_deref() == Some(user)
    }
}

/// One identity provider.
#[derive(Debug, Clone, PartialEq)]
pub struct Provider {
    pub alias: String,
    /// What the login page's button says.
    pub title: String,
    pub kind: ProviderKind,
    pub rules: Rules,
    /// A user of this provider who has not signed in for this long is deprovisioned
    /// (for providers that cannot be asked whether the user is still there).
    pub deprovision_after: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ProviderKind {
    Ldap(LdapSettings),
    /// OpenID Connect (`type: oidc`, or the `gitlab` preset).
    Oidc(OidcSettings),
    /// GitHub's OAuth apps (`type: github`), on github.com or an Enterprise server.
    GitHub(GitHubSettings),
}

impl ProviderKind {
    pub fn name(&self) -> &'static str {
        match self {
            ProviderKind::Ldap(_) => "ldap",
            ProviderKind::Oidc(_) => "oidc",
            ProviderKind::GitHub(_) => "github",
        }
    }
}

/// Who may sign in through a provider, and as what.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rules {
    /// Create the user at its first sign-in (a plain user who sees nothing until a
    /// group grants it); otherwise an admin links it first.
    pub allow_register: bool,
    /// Link a first sign-in to the existing user with the same verified e-mail address.
    pub link_by_email: bool,
    /// When set, only addresses in these domains (lower case) may sign in.
    pub allowed_email_domains: Vec<String>,
    /// When set, only members of one of these provider groups may sign in.
    pub required_groups: Vec<String>,
    /// Provider group → packyard role, the highest one a user's groups give.
    pub roles: BTreeMap<String, MappedRole>,
    /// Provider group → packyard groups, kept in step at every sign-in.
    pub groups: BTreeMap<String, Vec<String>>,
}

/// A role a provider group gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MappedRole {
    /// Sees every package.
    FullAccess,
    Maintainer,
    Admin,
}

/// An LDAP directory.
#[derive(Debug, Clone, PartialEq)]
pub struct LdapSettings {
    /// `ldap://host[:port]` or `ldaps://host[:port]`.
    pub url: String,
    /// Upgrade an `ldap://` connection with StartTLS before anything is sent.
    pub starttls: bool,
    /// The CA that signed the server's certificate (PEM); default the system's.
    pub ca_file: Option<PathBuf>,
    pub bind_dn: String,
    pub bind_password: String,
    pub user_base: String,
    /// `{username}` stands for the login name, escaped (RFC 4515).
    pub user_filter: String,
    /// The attribute holding the user name packyard uses (default `uid`).
    pub username_attribute: String,
    pub email_attribute: String,
    /// Groups: `memberOf` of the user when `group_base` is unset, else a search under
    /// it with `group_filter` (`{dn}` the user's DN, escaped), each named by `cn`.
    pub group_base: Option<String>,
    pub group_filter: String,
    pub recheck_interval: Duration,
    /// Bound on one LDAP operation.
    pub timeout: Duration,
    /// Whether the directory's addresses are verified (`trust_email`): by default not,
    /// since many directories let users edit their own `mail`.
    pub trust_email: bool,
    /// The attribute that names a user for good (default `entryUUID`).
    pub subject_attribute: String,
}

/// A provider entry as written.
// Its flags are the YAML's independent yes/no keys, one field each.
#[allow(clippy::struct_excessive_bools)]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    #[serde(rename = "type")]
    kind: String,
    title: Option<String>,
    #[serde(default)]
    allow_register: bool,
    #[serde(default)]
    link_by_email: bool,
    #[serde(default)]
    allowed_email_domains: Vec<String>,
    #[serde(default)]
    required_groups: Vec<String>,
    #[serde(default)]
    roles: BTreeMap<String, MappedRole>,
    #[serde(default)]
    groups: BTreeMap<String, OneOrMany>,
    // LDAP
    url: Option<String>,
    #[serde(default)]
    starttls: bool,
    ca_file: Option<PathBuf>,
    bind_dn: Option<String>,
    bind_password: Option<String>,
    bind_password_env: Option<String>,
    bind_password_file: Option<PathBuf>,
    user_base: Option<String>,
    user_filter: Option<String>,
    username_attribute: Option<String>,
    email_attribute: Option<String>,
    group_base: Option<String>,
    group_filter: Option<String>,
    recheck_interval: Option<serde_yaml_ng::Value>,
    #[serde(default)]
    trust_email: bool,
    subject_attribute: Option<String>,
    /// Plain `ldap://` without StartTLS sends passwords in the clear: only on request.
    #[serde(default)]
    allow_cleartext: bool,
    // OpenID Connect
    issuer: Option<String>,
    discovery_url: Option<String>,
    /// A self-hosted GitLab's URL (the `gitlab` preset).
    base_url: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    client_secret_env: Option<String>,
    client_secret_file: Option<PathBuf>,
    scopes: Option<Vec<String>>,
    claim_mapping: Option<ClaimsEntry>,
    deprovision_after: Option<serde_yaml_ng::Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClaimsEntry {
    username: Option<String>,
    email: Option<String>,
    groups: Option<String>,
    roles: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

/// Why the `login:` section cannot be used; the message names the key.
#[derive(Debug, thiserror::Error)]
#[error("login.{key}: {why}")]
pub struct LoginConfigError {
    key: String,
    why: String,
}

fn fail(key: impl Into<String>, why: impl Into<String>) -> LoginConfigError {
    LoginConfigError {
        key: key.into(),
        why: why.into(),
    }
}

/// Reads the `login:` section (`section`: its YAML, `None` when absent) with the
/// environment `lookup` (for `*_env` secrets and `PACKYARD_PASSWORD_LOGIN`).
pub fn resolve(
    section: Option<&serde_yaml_ng::Value>,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<LoginSettings, LoginConfigError> {
    let password_login = match lookup("PACKYARD_PASSWORD_LOGIN") {
        None => true,
        Some(value) => storage::config::parse_flag("PACKYARD_PASSWORD_LOGIN", &value)
            .map_err(|e| fail("PACKYARD_PASSWORD_LOGIN", e.to_string()))?,
    };
    let mut settings = LoginSettings {
        password_login,
        ..LoginSettings::default()
    };
    let Some(section) = section else {
        return Ok(settings);
    };
    let Some(map) = section.as_mapping() else {
        return Err(fail("", "a mapping of providers by alias"));
    };
    for (key, value) in map {
        let Some(key) = key.as_str() else {
            return Err(fail("", "keys are provider aliases"));
        };
        if key == "break_glass_admin" {
            let name = value.as_str().ok_or_else(|| fail(key, "a user name"))?;
            settings.break_glass_admin = Some(name.to_owned());
            continue;
        }
        if key.is_empty()
            || key.len() > 32
            || !key
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(fail(key, "an alias is 1-32 of a-z, 0-9 and '-'"));
        }
        let entry: Entry =
            serde_yaml_ng::from_value(value.clone()).map_err(|e| fail(key, e.to_string()))?;
        settings.providers.push(provider(key, entry, lookup)?);
    }
    if !settings.password_login && settings.providers.is_empty() {
        return Err(fail(
            "",
            "PACKYARD_PASSWORD_LOGIN=0 needs at least one identity provider, or nobody could log in",
        ));
    }
    Ok(settings)
}

fn provider(
    alias: &str,
    mut entry: Entry,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Provider, LoginConfigError> {
    let at = |field: &str| format!("{alias}.{field}");
    let required = |value: Option<String>, field: &str| {
        value
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| fail(at(field), "required"))
    };
    let rules = Rules {
        allow_register: entry.allow_register,
        link_by_email: entry.link_by_email,
        allowed_email_domains: entry
            .allowed_email_domains
            .iter()
            .map(|d| d.trim().trim_start_matches('@').to_ascii_lowercase())
            .collect(),
        required_groups: entry.required_groups,
        roles: entry.roles,
        groups: entry
            .groups
            .into_iter()
            .map(|(from, to)| {
                let to = match to {
                    OneOrMany::One(one) => vec![one],
                    OneOrMany::Many(many) => many,
                };
                (from, to)
            })
            .collect(),
    };
    // An OAuth or OpenID Connect client: its id, and its secret given one of three ways.
    let (id, inline, env, file) = (
        entry.client_id.take(),
        entry.client_secret.take(),
        entry.client_secret_env.take(),
        entry.client_secret_file.take(),
    );
    let client = move || -> Result<(String, String), LoginConfigError> {
        let id = required(id, "client_id")?;
        Ok((
            id,
            secret(alias, "client_secret", inline, env, file, lookup)?,
        ))
    };
    let kind = match entry.kind.as_str() {
        "ldap" => {
            let url = required(entry.url, "url")?;
            let secure = url.starts_with("ldaps://");
            if !secure && !url.starts_with("ldap://") {
                return Err(fail(at("url"), "ldap://… or ldaps://…"));
            }
            if secure && entry.starttls {
                return Err(fail(at("starttls"), "ldaps:// is TLS already"));
            }
            if !secure && !entry.starttls && !entry.allow_cleartext {
                return Err(fail(
                    at("url"),
                    "ldap:// without starttls sends passwords in the clear: use ldaps://, starttls: true, or allow_cleartext: true",
                ));
            }
            let user_filter = entry
                .user_filter
                .unwrap_or_else(|| "(uid={username})".to_owned());
            if !user_filter.contains("{username}") {
                return Err(fail(at("user_filter"), "must hold {username}"));
            }
            let recheck_interval = match &entry.recheck_interval {
                None => DEFAULT_RECHECK,
                Some(value) => parse_interval(value).ok_or_else(|| {
                    fail(at("recheck_interval"), "an interval such as 900, 15m or 1h")
                })?,
            };
            ProviderKind::Ldap(LdapSettings {
                url,
                starttls: entry.starttls,
                ca_file: entry.ca_file,
                bind_dn: required(entry.bind_dn, "bind_dn")?,
                bind_password: secret(
                    alias,
                    "bind_password",
                    entry.bind_password,
                    entry.bind_password_env,
                    entry.bind_password_file,
                    lookup,
                )?,
                user_base: required(entry.user_base, "user_base")?,
                user_filter,
                username_attribute: entry.username_attribute.unwrap_or_else(|| "uid".into()),
                email_attribute: entry.email_attribute.unwrap_or_else(|| "mail".into()),
                group_filter: entry
                    .group_filter
                    .unwrap_or_else(|| "(member={dn})".to_owned()),
                group_base: entry.group_base,
                recheck_interval,
                timeout: Duration::from_secs(10),
                trust_email: entry.trust_email,
                subject_attribute: entry
                    .subject_attribute
                    .unwrap_or_else(|| "entryUUID".into()),
            })
        }
        "github" => {
            let (client_id, client_secret) = client()?;
            ProviderKind::GitHub(GitHubSettings::at(
                entry.base_url.as_deref(),
                client_id,
                client_secret,
            ))
        }
        "oidc" | "gitlab" => {
            let gitlab = entry.kind == "gitlab";
            let issuer = match (entry.issuer, entry.discovery_url, entry.base_url) {
                (Some(issuer), None, None) => issuer,
                (None, Some(url), None) => url
                    .strip_suffix("/.well-known/openid-configuration")
                    .map(str::to_owned)
                    .ok_or_else(|| {
                        fail(
                            at("discovery_url"),
                            "must end with /.well-known/openid-configuration",
                        )
                    })?,
                (None, None, Some(base)) if gitlab => base.trim_end_matches('/').to_owned(),
                (None, None, None) if gitlab => "https://gitlab.com".to_owned(),
                _ if gitlab => {
                    return Err(fail(alias, "give base_url (self-hosted GitLab) or nothing"));
                }
                _ => return Err(fail(alias, "give issuer or discovery_url, one of them")),
            };
            if !(issuer.starts_with("https://") || issuer.starts_with("http://")) {
                return Err(fail(at("issuer"), "an https:// URL"));
            }
            let defaults = if gitlab {
                // GitLab puts a user's groups in `groups_direct` of its ID tokens.
                ClaimMapping {
                    username: "nickname".into(),
                    groups: "groups_direct".into(),
                    ..ClaimMapping::default()
                }
            } else {
                ClaimMapping::default()
            };
            let given = entry.claim_mapping.unwrap_or_default();
            let (client_id, client_secret) = client()?;
            ProviderKind::Oidc(OidcSettings {
                issuer,
                client_id,
                client_secret,
                scopes: entry.scopes.unwrap_or_else(|| {
                    let mut scopes = vec!["email".to_owned(), "profile".to_owned()];
                    if !gitlab {
                        scopes.push("groups".to_owned());
                    }
                    scopes
                }),
                claims: ClaimMapping {
                    username: given.username.unwrap_or(defaults.username),
                    email: given.email.unwrap_or(defaults.email),
                    groups: given.groups.unwrap_or(defaults.groups),
                    roles: given.roles.or(defaults.roles),
                },
            })
        }
        other => {
            return Err(fail(
                at("type"),
                format!("{other:?} is not a provider type: ldap, oidc, gitlab or github"),
            ));
        }
    };
    let deprovision_after = match &entry.deprovision_after {
        None => None,
        Some(value) => Some(
            parse_interval(value)
                .ok_or_else(|| fail(at("deprovision_after"), "an interval such as 90d"))?,
        ),
    };
    if deprovision_after.is_some() && matches!(kind, ProviderKind::Ldap(_)) {
        return Err(fail(
            at("deprovision_after"),
            "a directory is asked instead (recheck_interval)",
        ));
    }
    Ok(Provider {
        deprovision_after,
        alias: alias.to_owned(),
        title: entry
            .title
            .unwrap_or_else(|| format!("Sign in with {alias}")),
        kind,
        rules,
    })
}

/// A secret given in the YAML, by an environment variable's name (`_env`) or by a
/// file (`_file`, its content without the final newline): exactly one of them.
fn secret(
    alias: &str,
    field: &str,
    inline: Option<String>,
    env: Option<String>,
    file: Option<PathBuf>,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, LoginConfigError> {
    let key = format!("{alias}.{field}");
    match (inline, env, file) {
        (Some(value), None, None) => Ok(value),
        (None, Some(name), None) => {
            lookup(&name).ok_or_else(|| fail(format!("{key}_env"), format!("{name} is not set")))
        }
        (None, None, Some(path)) => std::fs::read_to_string(&path)
            .map(|text| text.trim_end_matches(['\n', '\r']).to_owned())
            .map_err(|e| fail(format!("{key}_file"), format!("{}: {e}", path.display()))),
        (None, None, None) => Err(fail(
            key,
            format!("required: {field}, {field}_env or {field}_file"),
        )),
        _ => Err(fail(
            key,
            format!("give one of {field}, {field}_env, {field}_file"),
        )),
    }
}

fn parse_interval(value: &serde_yaml_ng::Value) -> Option<Duration> {
    crate::time::interval_in_yaml(value).filter(|duration| *duration >= Duration::from_secs(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(yaml: &str, env: &[(&str, &str)]) -> Result<LoginSettings, LoginConfigError> {
        let value: serde_yaml_ng::Value = serde_yaml_ng::from_str(yaml).unwrap();
        let lookup = |name: &str| {
            env.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        };
        resolve(Some(&value), &lookup)
    }

    #[test]
    fn an_ldap_provider_is_read_with_its_secret_from_the_environment() {
        let settings = read(
            "break_glass_admin: root\ncorp:\n  type: ldap\n  url: ldap://127.0.0.1:389\n  starttls: true\n  bind_dn: cn=svc\n  bind_password_env: LDAP_PW\n  user_base: ou=people\n  roles: {admins: admin}\n  groups: {developers: devs, qa: [testers, devs]}\n  recheck_interval: 5m\n",
            &[("LDAP_PW", "s3cret"), ("PACKYARD_PASSWORD_LOGIN", "0")],
        )
        .unwrap();
        assert!(!settings.password_login);
        assert!(settings.allows_password("root") && !settings.allows_password("alice"));
        let corp = settings.provider("corp").unwrap();
        assert_eq!(corp.title, "Sign in with corp");
        let ProviderKind::Ldap(ldap) = &corp.kind else {
            panic!("{corp:?}");
        };
        assert_eq!(ldap.bind_password, "s3cret");
        assert_eq!(ldap.user_filter, "(uid={username})");
        assert_eq!(ldap.recheck_interval, Duration::from_secs(300));
        assert_eq!(corp.rules.roles["admins"], MappedRole::Admin);
        assert_eq!(corp.rules.groups["qa"], ["testers", "devs"]);
    }

    #[test]
    fn openid_connect_providers_and_the_gitlab_preset_are_read() {
        let settings = read(
            "sso:\n  type: oidc\n  title: Corporate SSO\n  discovery_url: https://idp.example/realms/x/.well-known/openid-configuration\n  client_id: packyard\n  client_secret_file: /nonexistent\n",
            &[],
        );
        assert!(
            settings
                .unwrap_err()
                .to_string()
                .starts_with("login.sso.client_secret_file: /nonexistent")
        );
        let settings = read(
            "sso:\n  type: oidc\n  discovery_url: https://idp.example/realms/x/.well-known/openid-configuration\n  client_id: packyard\n  client_secret_env: SECRET\n  claim_mapping: {username: email, roles: realm_roles}\n  roles: {ops: admin}\nlab:\n  type: gitlab\n  base_url: https://gitlab.example/\n  client_id: id\n  client_secret: s\n",
            &[("SECRET", "abc")],
        )
        .unwrap();
        let ProviderKind::Oidc(sso) = &settings.provider("sso").unwrap().kind else {
            panic!()
        };
        assert_eq!(sso.issuer, "https://idp.example/realms/x");
        assert_eq!(sso.client_secret, "abc");
        assert_eq!(sso.claims.username, "email");
        assert_eq!(sso.claims.groups, "groups");
        assert_eq!(sso.claims.roles.as_deref(), Some("realm_roles"));
        assert_eq!(sso.scopes, ["email", "profile", "groups"]);
        let ProviderKind::Oidc(lab) = &settings.provider("lab").unwrap().kind else {
            panic!()
        };
        assert_eq!(lab.issuer, "https://gitlab.example");
        assert_eq!(lab.claims.groups, "groups_direct");
        let bad = read(
            "x:\n  type: oidc\n  issuer: https://a\n  discovery_url: https://a/.well-known/openid-configuration\n  client_id: c\n  client_secret: s\n",
            &[],
        );
        assert!(
            bad.unwrap_err()
                .to_string()
                .contains("give issuer or discovery_url, one of them")
        );
    }

    #[test]
    fn mistakes_name_their_key() {
        for (yaml, expected) in [
            ("Corp:\n  type: ldap\n", "login.Corp: an alias"),
            ("corp:\n  type: kerberos\n", "login.corp.type"),
            (
                "corp:\n  type: ldap\n  url: http://x\n  bind_dn: a\n  bind_password: b\n  user_base: c\n",
                "login.corp.url",
            ),
            (
                "corp:\n  type: ldap\n  url: ldap://x\n  starttls: true\n  bind_dn: a\n  bind_password_env: NOPE\n  user_base: c\n",
                "login.corp.bind_password_env: NOPE is not set",
            ),
            (
                "corp:\n  type: ldap\n  url: ldap://x\n  starttls: true\n  bind_dn: a\n  bind_password: b\n  bind_password_env: B\n  user_base: c\n",
                "login.corp.bind_password: give one of",
            ),
            (
                "corp:\n  type: ldap\n  url: ldap://x\n  starttls: true\n  bind_dn: a\n  bind_password: b\n  user_base: c\n  user_filter: (uid=alice)\n",
                "login.corp.user_filter: must hold {username}",
            ),
            (
                "corp:\n  type: ldap\n  colour: blue\n",
                "login.corp: unknown field `colour`",
            ),
            (
                "corp:\n  type: ldap\n  url: ldap://x\n  bind_dn: a\n  bind_password: b\n  user_base: c\n",
                "login.corp.url: ldap:// without starttls sends passwords in the clear",
            ),
        ] {
            let error = read(yaml, &[]).unwrap_err().to_string();
            assert!(error.starts_with(expected), "{yaml}: {error}");
        }
        let none = read("{}", &[("PACKYARD_PASSWORD_LOGIN", "0")])
            .unwrap_err()
            .to_string();
        assert!(
            none.contains("needs at least one identity provider"),
            "{none}"
        );
    }
}
