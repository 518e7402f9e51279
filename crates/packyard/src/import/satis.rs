//! `packyard import satis satis.json`: the repositories of a Satis configuration added
//! as git packages (each scanned as `packyard package add` scans it), with Satis's
//! `require` list narrowing which of them are kept. What a Satis file holds that is not
//! a git repository (Composer repositories, artifact directories, inline packages,
//! paths) is reported with what to do instead.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::{Outcome, Report};
use crate::app::App;
use crate::git_packages::AddRequest;

/// Why the Satis file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SatisError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a Satis configuration: {source}")]
    Parse {
        path: std::path::PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("writing to packyard's database: {0}")]
    Database(#[from] sqlx::Error),
}

/// The parts of satis.json an import reads.
#[derive(Debug, Deserialize)]
struct SatisFile {
    #[serde(default)]
    repositories: Vec<Value>,
    /// Package name → version constraint: only these packages, when given.
    #[serde(default)]
    require: BTreeMap<String, String>,
    #[serde(default, rename = "require-all")]
    require_all: bool,
}

/// Repository types that are git (or a forge's git) repositories.
const GIT_TYPES: [&str; 8] = [
    "vcs",
    "git",
    "github",
    "gitlab",
    "bitbucket",
    "git-bitbucket",
    "gitea",
    "forgejo",
];

/// The largest Satis file read: a configuration, not a data dump.
const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// Adds the git repositories of the Satis file at `path` (`dry_run`: reports only).
pub async fn import(
    app: &App,
    path: &std::path::Path,
    dry_run: bool,
) -> Result<Report, SatisError> {
    let read = |source| SatisError::Read {
        path: path.to_owned(),
        source,
    };
    let size = std::fs::metadata(path).map_err(read)?.len();
    if size > MAX_FILE_BYTES {
        return Err(read(std::io::Error::other(format!(
            "it is larger than {MAX_FILE_BYTES} bytes"
        ))));
    }
    let text = std::fs::read_to_string(path).map_err(read)?;
    let satis: SatisFile = serde_json::from_str(&text).map_err(|source| SatisError::Parse {
        path: path.to_owned(),
        source,
    })?;
    let narrowed = !satis.require_all && !satis.require.is_empty();
    let mut report = Report {
        dry_run,
        ..Report::default()
    };
    for repository in &satis.repositories {
        let kind = repository.get("type").and_then(Value::as_str).unwrap_or("");
        let url = repository.get("url").and_then(Value::as_str).unwrap_or("");
        let shown = if url.is_empty() { kind } else { url };
        let shown = crate::redact::public(shown);
        if !GIT_TYPES.contains(&kind) {
            let why = match kind {
                "composer" => {
                    "a Composer repository: define it as a mirror in the config file (mirrors:)"
                        .to_owned()
                }
                "artifact" => {
                    "a directory of zips: publish them with `packyard package upload`".to_owned()
                }
                "package" => {
                    "an inline package definition, which packyard does not serve".to_owned()
                }
                "path" => "a path repository, which packyard does not serve".to_owned(),
                "" => "a repository without a type".to_owned(),
                other => format!("a {other} repository, which packyard does not read"),
            };
            report.add("repository", shown, Outcome::Skipped(why));
            continue;
        }
        if url.is_empty() {
            report.add(
                "repository",
                shown,
                Outcome::Skipped("it has no url".to_owned()),
            );
            continue;
        }
        let known = app
            .db
            .git_packages_by_key(&crate::repository_url::key(url))
            .await?;
        if let Some(existing) = known.first() {
            report.add("repository", shown, Outcome::Unchanged).notes =
                vec![format!("already here as {}", existing.name)];
            continue;
        }
        if dry_run {
            report.add("repository", shown, Outcome::Created);
            continue;
        }
        let request = AddRequest {
            url: url.to_owned(),
            credentials: None,
            webhook_secret: None,
            // As from `packyard package add`: the operator runs the import.
            allow_local: true,
        };
        match app.git_packages.add(request).await {
            Err(error) => {
                report.add("repository", shown, Outcome::Skipped(error.to_string()));
            }
            Ok(added) if narrowed && !satis.require.contains_key(&added.package) => {
                app.db.delete_package(&added.package).await?;
                report.add(
                    "repository",
                    shown,
                    Outcome::Skipped(format!(
                        "its package {} is not in the file's require list",
                        added.package
                    )),
                );
            }
            Ok(added) => {
                let line = report.add("repository", shown, Outcome::Created);
                line.notes.push(format!(
                    "package {} with {} versions",
                    added.package, added.versions
                ));
                if let Some(constraint) = satis
                    .require
                    .get(&added.package)
                    .filter(|c| c.trim() != "*")
                {
                    line.notes.push(format!(
                        "Satis kept only versions matching {constraint:?}: packyard publishes them all (limit who sees which with group grants)"
                    ));
                }
            }
        }
    }
    Ok(report)
}
