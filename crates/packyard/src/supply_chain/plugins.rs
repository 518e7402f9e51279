//! Plugin approval. A package of type `composer-plugin`, or one that requires
//! `composer-plugin-api`, runs code inside Composer on every machine that installs it.
//! Where `plugins: approve` is set (for packyard's own packages at the top of
//! `PACKYARD_CONFIG`, for a mirror in its entry), a plugin's versions are served only
//! for the major versions an admin approved (`packyard plugin approve`); a new major
//! version needs approval again. Unapproved versions are left out of the metadata and
//! their archives are not served, as if they did not exist.

use serde_json::{Map, Value};

use crate::access::Actor;
use crate::db::{Db, PluginApproval};

/// The repository name approvals of packyard's own packages are kept under.
pub const PRIVATE: &str = "private";

/// `plugins:` of a repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PluginPolicy {
    /// Plugins are served like any package (the default).
    #[default]
    Allow,
    /// Only approved major versions of plugins are served.
    Approve,
}

/// Whether a version's published composer.json fields make it a Composer plugin.
pub fn is_plugin(fields: &Map<String, Value>) -> bool {
    fields.get("type").and_then(Value::as_str) == Some("composer-plugin")
        || fields
            .get("require")
            .and_then(Value::as_object)
            .is_some_and(|require| require.contains_key("composer-plugin-api"))
}

/// The major version an approval covers: the normalized version's first number
/// (`2.1.0.0` → `2`), or `dev` for a branch.
pub fn major_of(normalized: &str) -> String {
    if composer::version::is_dev(normalized) {
        return "dev".to_owned();
    }
    normalized
        .split('.')
        .next()
        .unwrap_or(normalized)
        .to_owned()
}

/// Whether a version (its normalized form and published fields) may be served under
/// `policy` with `approved` majors.
pub fn admitted(
    policy: PluginPolicy,
    normalized: &str,
    fields: &Map<String, Value>,
    approved: &[String],
) -> bool {
    policy == PluginPolicy::Allow
        || !is_plugin(fields)
        || approved.iter().any(|major| *major == major_of(normalized))
}

#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("invalid package name {name:?}: {reason}")]
    InvalidPackage { name: String, reason: String },
    #[error("{0:?} is not a major version (a number such as 2, or dev)")]
    InvalidMajor(String),
    #[error(
        "{package} has no plugin versions here to approve: name the major versions with --major"
    )]
    NothingToApprove { package: String },
    #[error("no mirror named {0}")]
    UnknownMirror(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

impl crate::error::Classify for PluginError {
    fn kind(&self) -> crate::error::ErrorKind {
        use crate::error::ErrorKind;
        match self {
            PluginError::UnknownMirror(_) => ErrorKind::NotFound,
            PluginError::Database(error) => error.kind(),
            _ => ErrorKind::Invalid,
        }
    }
}

/// Checks a package name and the majors an admin named.
pub fn checked(package: &str, majors: &[String]) -> Result<(String, Vec<String>), PluginError> {
    let package = package.trim().to_ascii_lowercase();
    composer::package_name::validate(&package).map_err(|error| PluginError::InvalidPackage {
        name: package.clone(),
        reason: error.to_string(),
    })?;
    let majors = majors
        .iter()
        .map(|major| {
            let major = major.trim().to_ascii_lowercase();
            let valid = major == "dev"
                || (!major.is_empty()
                    && major.len() <= 9
                    && major.bytes().all(|b| b.is_ascii_digit()));
            if valid {
                Ok(major)
            } else {
                Err(PluginError::InvalidMajor(major))
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((package, majors))
}

/// Records approvals of `package` in `repository`: `majors`, or when none are named,
/// every major its plugin versions have now (`published`: normalized version and
/// fields of each version the repository has).
pub async fn approve(
    db: &Db,
    repository: &str,
    package: &str,
    majors: &[String],
    published: &[(String, Map<String, Value>)],
    actor: Actor<'_>,
) -> Result<Vec<String>, PluginError> {
    let (package, mut majors) = checked(package, majors)?;
    if majors.is_empty() {
        majors = published
            .iter()
            .filter(|(_, fields)| is_plugin(fields))
            .map(|(normalized, _)| major_of(normalized))
            .collect();
        majors.sort();
        majors.dedup();
    }
    if majors.is_empty() {
        return Err(PluginError::NothingToApprove { package });
    }
    db.approve_plugin(repository, &package, &majors, actor.name())
        .await?;
    tracing::warn!(repository, %package, majors = %majors.join(","), by = actor.name(), "plugin approved");
    Ok(majors)
}

/// Every approval, or a repository's.
pub async fn approvals(
    db: &Db,
    repository: Option<&str>,
) -> Result<Vec<PluginApproval>, PluginError> {
    Ok(db.plugin_approvals(repository).await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(value: &Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn plugins_are_told_by_type_or_by_requiring_the_plugin_api() {
        assert!(is_plugin(&fields(&json!({"type": "composer-plugin"}))));
        assert!(is_plugin(&fields(
            &json!({"type": "library", "require": {"composer-plugin-api": "^2.0"}})
        )));
        assert!(!is_plugin(&fields(
            &json!({"type": "library", "require": {"php": ">=8.1"}})
        )));
        assert_eq!(major_of("2.1.0.0"), "2");
        assert_eq!(major_of("0.3.1.0"), "0");
        assert_eq!(major_of("dev-main"), "dev");
        assert_eq!(major_of("1.0.9999999.9999999-dev"), "dev");
    }

    #[test]
    fn only_approved_majors_of_plugins_pass_under_approve() {
        let plugin = fields(&json!({"type": "composer-plugin"}));
        let library = fields(&json!({"type": "library"}));
        let approved = ["1".to_owned()];
        assert!(admitted(
            PluginPolicy::Approve,
            "1.4.0.0",
            &plugin,
            &approved
        ));
        assert!(!admitted(
            PluginPolicy::Approve,
            "2.0.0.0",
            &plugin,
            &approved
        ));
        assert!(admitted(PluginPolicy::Approve, "2.0.0.0", &library, &[]));
        assert!(admitted(PluginPolicy::Allow, "2.0.0.0", &plugin, &[]));
        assert!(checked("acme/p", &["2".into(), " DEV ".into()]).is_ok());
        assert!(checked("acme/p", &["2.x".into()]).is_err());
        assert!(checked("not a name", &[]).is_err());
    }
}
