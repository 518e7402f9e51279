//! Security advisories, as `composer audit` (and, from Composer 2.9, `update`) reads
//! them: the root announces `security-advisories.api-url`, and Composer posts the names
//! of the locked packages there (`packages[]=vendor/pkg`, form-encoded) and reads back
//! `{"advisories": {"vendor/pkg": [...]}}`.
//!
//! Admins publish advisories for private packages here (CLI and API); a mirror answers
//! from its upstream's own advisories (`mirror::advisories`). Both answer through the
//! same access rules as metadata: a package the caller may not see is answered like one
//! this repository does not have (left out, so Composer asks the next repository).

use serde::Deserialize;
use serde_json::{Map, Value, json};

use composer::package_name::PackageName;

use crate::access::View;
use std::sync::Arc;

use crate::db::AdvisoryRow;
use crate::db::Db;
use crate::metadata::Metadata;
use crate::webhooks::{Event, Occurrence, Webhooks};

/// Advisories of private packages: published by admins, read through the access rules.
#[derive(Clone)]
pub struct Advisories {
    db: Db,
    metadata: Arc<Metadata>,
    webhooks: Webhooks,
}

impl Advisories {
    pub fn new(db: Db, metadata: Arc<Metadata>, webhooks: Webhooks) -> Self {
        Advisories {
            db,
            metadata,
            webhooks,
        }
    }
}

/// The most package names one request may ask about: Composer sends every locked
/// package, and a project with thousands is already unusual.
pub const MAX_ASKED_PACKAGES: usize = 5_000;
/// The largest request body accepted (5,000 names of Packagist's maximum length fit).
pub const MAX_REQUEST_BYTES: usize = 1024 * 1024;

const SEVERITIES: [&str; 4] = ["low", "medium", "high", "critical"];
const MAX_TITLE: usize = 255;
const MAX_LINK: usize = 2048;

/// An advisory as an admin describes it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewAdvisory {
    #[serde(alias = "packageName")]
    pub package: String,
    pub affected_versions: String,
    pub title: String,
    #[serde(default)]
    pub cve: Option<String>,
    #[serde(default)]
    pub link: Option<String>,
    #[serde(default)]
    pub severity: Option<String>,
    /// Unix milliseconds; now when absent.
    #[serde(skip)]
    pub reported_at: Option<i64>,
}

#[derive(Debug, thiserror::Error)]
pub enum AdvisoryError {
    #[error("no package named {0}")]
    UnknownPackage(String),
    #[error("affectedVersions {value:?} is not a Composer constraint: {reason}")]
    InvalidConstraint { value: String, reason: String },
    #[error("title must be 1 to {MAX_TITLE} characters on one line")]
    InvalidTitle,
    #[error("cve must look like CVE-2026-12345, not {0:?}")]
    InvalidCve(String),
    #[error("link must be an http or https URL of at most {MAX_LINK} characters")]
    InvalidLink,
    #[error("severity must be one of low, medium, high, critical, not {0:?}")]
    InvalidSeverity(String),
    #[error("no advisory {0}")]
    UnknownAdvisory(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

impl crate::error::Classify for AdvisoryError {
    fn kind(&self) -> crate::error::ErrorKind {
        use crate::error::ErrorKind;
        match self {
            AdvisoryError::UnknownPackage(_) | AdvisoryError::UnknownAdvisory(_) => {
                ErrorKind::NotFound
            }
            AdvisoryError::Database(error) => error.kind(),
            _ => ErrorKind::Invalid,
        }
    }
}

impl Advisories {
    /// Validates and records `new`; returns it as stored, with its new id.
    pub async fn publish(&self, new: NewAdvisory) -> Result<AdvisoryRow, AdvisoryError> {
        let package = new.package.trim().to_ascii_lowercase();
        let affected = new.affected_versions.trim().to_owned();
        composer::constraint::Constraint::parse(&affected).map_err(|error| {
            AdvisoryError::InvalidConstraint {
                value: affected.clone(),
                reason: error.to_string(),
            }
        })?;
        let title = new.title.trim().to_owned();
        if title.is_empty() || title.chars().count() > MAX_TITLE || title.contains(['\n', '\r']) {
            return Err(AdvisoryError::InvalidTitle);
        }
        let cve = nonempty(new.cve);
        if let Some(cve) = &cve
            && !is_cve(cve)
        {
            return Err(AdvisoryError::InvalidCve(cve.clone()));
        }
        let link = nonempty(new.link);
        if let Some(link) = &link
            && (link.len() > MAX_LINK
                || !(link.starts_with("https://") || link.starts_with("http://"))
                || link.contains(char::is_whitespace))
        {
            return Err(AdvisoryError::InvalidLink);
        }
        let severity = nonempty(new.severity).map(|s| s.to_ascii_lowercase());
        if let Some(severity) = &severity
            && !SEVERITIES.contains(&severity.as_str())
        {
            return Err(AdvisoryError::InvalidSeverity(severity.clone()));
        }
        let row = AdvisoryRow {
            advisory_id: new_advisory_id(),
            package: package.clone(),
            affected_versions: affected,
            title,
            cve,
            link,
            severity,
            reported_at: new.reported_at.unwrap_or_else(crate::db::now_millis),
        };
        if !self.db.add_advisory(&row).await? {
            return Err(AdvisoryError::UnknownPackage(package));
        }
        // The versions that fix it are no longer held back by cooldowns.
        self.metadata.refresh().await?;
        let published = Occurrence::new(Event::SecurityAdvisory, &row.package)
            .with("advisory", composer_json(&row));
        self.webhooks.emit(&[published]).await;
        Ok(row)
    }

    /// Every published advisory, or those about `package`.
    pub async fn list(&self, package: Option<&str>) -> Result<Vec<AdvisoryRow>, AdvisoryError> {
        let package = package.map(|name| vec![name.to_ascii_lowercase()]);
        Ok(self.db.advisories(package.as_deref()).await?)
    }

    /// Deletes an advisory; returns the package it was about.
    pub async fn remove(&self, advisory_id: &str) -> Result<String, AdvisoryError> {
        let package = self
            .db
            .remove_advisory(advisory_id)
            .await?
            .ok_or_else(|| AdvisoryError::UnknownAdvisory(advisory_id.to_owned()))?;
        self.metadata.refresh().await?;
        Ok(package)
    }

    /// The answer for the private packages among `asked`: every package the caller sees
    /// gets its list (`[]` when it has none, so that Composer does not look for it in
    /// other repositories, where a public package of the same name may live); names this
    /// repository does not serve to the caller are left out. A caller who sees only some
    /// versions gets only the advisories that affect one of them, and their
    /// `affectedVersions` as the list of those visible versions (`1.0.0.0 || 1.1.0.0`):
    /// an advisory about the others, or its constraint (`<1.2 || >=3.0,<3.1`), would tell
    /// of versions it may not know of.
    pub async fn for_private_packages(
        &self,
        view: &View,
        asked: &[String],
    ) -> Result<Map<String, Value>, sqlx::Error> {
        let mut served = Vec::new();
        for name in asked {
            let Ok(package) = PackageName::parse(name) else {
                continue;
            };
            if self.metadata.visible(&package, view).await? {
                served.push(name.clone());
            }
        }
        let mut answer: Map<String, Value> = served
            .iter()
            .map(|name| (name.clone(), Value::Array(Vec::new())))
            .collect();
        let mut visible_versions: std::collections::HashMap<String, Vec<String>> =
            std::collections::HashMap::new();
        for mut row in self.db.advisories(Some(&served)).await? {
            if !view.sees_all_versions_of(&row.package) {
                if !visible_versions.contains_key(&row.package) {
                    let package = PackageName::parse(&row.package).ok();
                    let versions = match &package {
                        Some(package) => self.metadata.visible_versions(package, view).await?,
                        None => None,
                    }
                    .unwrap_or_default()
                    .into_iter()
                    .map(|v| v.version_normalized)
                    .collect();
                    visible_versions.insert(row.package.clone(), versions);
                }
                let Ok(affected) = composer::constraint::Constraint::parse(&row.affected_versions)
                else {
                    continue;
                };
                let affected: Vec<&str> = visible_versions[&row.package]
                    .iter()
                    .filter(|version| affected.matches(version))
                    .map(String::as_str)
                    .collect();
                if affected.is_empty() {
                    continue;
                }
                row.affected_versions = affected.join(" || ");
            }
            if let Some(Value::Array(list)) = answer.get_mut(&row.package) {
                list.push(composer_json(&row));
            }
        }
        Ok(answer)
    }
}

/// An advisory in Composer's shape (`Composer\Advisory\SecurityAdvisory`).
pub fn composer_json(row: &AdvisoryRow) -> Value {
    json!({
        "advisoryId": row.advisory_id,
        "packageName": row.package,
        "affectedVersions": row.affected_versions,
        "title": row.title,
        "sources": [{"name": "packyard", "remoteId": row.advisory_id}],
        "reportedAt": reported_at(row.reported_at),
        "cve": row.cve,
        "link": row.link,
        "severity": row.severity,
    })
}

/// `Y-m-d H:i:s` in UTC, as Packagist writes `reportedAt`.
fn reported_at(unix_millis: i64) -> String {
    crate::time::rfc3339(unix_millis.div_euclid(1000))
        .replace('T', " ")
        .replace("+00:00", "")
}

/// Why a request for advisories cannot be answered.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("the request body is larger than {MAX_REQUEST_BYTES} bytes")]
    TooLarge,
    #[error("at most {MAX_ASKED_PACKAGES} packages per request")]
    TooManyPackages,
    #[error("name the packages to check: packages[]=vendor/name (form-encoded or in the query)")]
    NoPackages,
}

impl crate::error::Classify for RequestError {
    fn kind(&self) -> crate::error::ErrorKind {
        match self {
            RequestError::TooLarge => crate::error::ErrorKind::TooLarge,
            RequestError::TooManyPackages | RequestError::NoPackages => {
                crate::error::ErrorKind::Invalid
            }
        }
    }
}

/// The package names a request asks about: `packages[]=` or `packages[N]=` (PHP's
/// `http_build_query`, which Composer uses), in the form body and in the query string,
/// lowercased, without duplicates. Names that cannot be package names (platform
/// packages, `__root__`) are dropped: no repository has advisories for them.
pub fn asked_packages(query: Option<&str>, body: &[u8]) -> Result<Vec<String>, RequestError> {
    if body.len() > MAX_REQUEST_BYTES {
        return Err(RequestError::TooLarge);
    }
    let mut names = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let pairs = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .chain(form_urlencoded::parse(body));
    let mut any = false;
    for (key, value) in pairs {
        let is_list = key == "packages[]"
            || key
                .strip_prefix("packages[")
                .and_then(|rest| rest.strip_suffix(']'))
                .is_some_and(|index| index.bytes().all(|b| b.is_ascii_digit()));
        if !is_list {
            continue;
        }
        any = true;
        // Packagist also accepts package URLs (`pkg:composer/vendor/name`).
        let name = value.strip_prefix("pkg:composer/").unwrap_or(&value);
        let name = name.trim().to_ascii_lowercase();
        if composer::package_name::validate(&name).is_err() || !seen.insert(name.clone()) {
            continue;
        }
        if names.len() == MAX_ASKED_PACKAGES {
            return Err(RequestError::TooManyPackages);
        }
        names.push(name);
    }
    if !any {
        return Err(RequestError::NoPackages);
    }
    Ok(names)
}

/// `None` for absent or blank optional fields and parameters; otherwise trimmed.
pub fn nonempty(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

fn is_cve(text: &str) -> bool {
    let Some(rest) = text.strip_prefix("CVE-") else {
        return false;
    };
    let Some((year, number)) = rest.split_once('-') else {
        return false;
    };
    year.len() == 4
        && year.bytes().all(|b| b.is_ascii_digit())
        && (4..=12).contains(&number.len())
        && number.bytes().all(|b| b.is_ascii_digit())
}

/// `PKYSA-xxxx-xxxx-xxxx` (random hex), in the style of Packagist's `PKSA-` ids, so that
/// ids never collide across replicas and say where they come from.
fn new_advisory_id() -> String {
    let mut bytes = [0u8; 6];
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    let hex = hex::encode(bytes);
    format!("PKYSA-{}-{}-{}", &hex[0..4], &hex[4..8], &hex[8..12])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn composer_requests_are_read_in_every_spelling() {
        // PHP's http_build_query(['packages' => [...]]), as Composer sends it.
        let body = b"packages%5B0%5D=Acme%2Flib&packages%5B1%5D=psr%2Flog&packages%5B2%5D=php";
        assert_eq!(
            asked_packages(None, body).unwrap(),
            vec!["acme/lib", "psr/log"]
        );
        assert_eq!(
            asked_packages(Some("packages[]=a/b&packages[]=a/b&x=1"), b"").unwrap(),
            vec!["a/b"]
        );
        assert_eq!(
            asked_packages(Some("packages[]=pkg:composer/a/b"), b"").unwrap(),
            vec!["a/b"]
        );
        assert!(matches!(
            asked_packages(Some("package=a/b"), b""),
            Err(RequestError::NoPackages)
        ));
        assert!(matches!(
            asked_packages(Some("packages[x]=a/b"), b""),
            Err(RequestError::NoPackages)
        ));
        let many = (0..=MAX_ASKED_PACKAGES).fold(String::new(), |mut body, i| {
            use std::fmt::Write as _;
            let _ = write!(body, "packages[]=v/p{i}&");
            body
        });
        assert!(matches!(
            asked_packages(None, many.as_bytes()),
            Err(RequestError::TooManyPackages)
        ));
        assert!(matches!(
            asked_packages(None, &vec![b'a'; MAX_REQUEST_BYTES + 1]),
            Err(RequestError::TooLarge)
        ));
    }

    #[test]
    fn advisories_have_composers_shape() {
        let row = AdvisoryRow {
            advisory_id: "PKYSA-0000-0000-0001".into(),
            package: "acme/lib".into(),
            affected_versions: "<1.4.2".into(),
            title: "Remote code execution".into(),
            cve: Some("CVE-2026-1234".into()),
            link: None,
            severity: Some("high".into()),
            reported_at: 1_767_225_600_000 + 3_723_000,
        };
        let json = composer_json(&row);
        assert_eq!(json["reportedAt"], "2026-01-01 01:02:03");
        assert_eq!(json["sources"][0]["remoteId"], "PKYSA-0000-0000-0001");
        assert_eq!(json["link"], Value::Null);
        assert_eq!(json["affectedVersions"], "<1.4.2");
    }

    #[test]
    fn fields_are_checked() {
        assert!(is_cve("CVE-2026-1234"));
        assert!(is_cve("CVE-2026-123456"));
        for bad in [
            "CVE-26-1234",
            "cve-2026-1234",
            "CVE-2026-12",
            "CVE-2026-12a4",
            "X",
        ] {
            assert!(!is_cve(bad), "{bad}");
        }
        let id = new_advisory_id();
        assert_eq!(id.len(), "PKYSA-0000-0000-0000".len());
        assert_ne!(id, new_advisory_id());
    }
}
