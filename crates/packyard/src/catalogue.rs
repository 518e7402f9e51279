//! What the package lists show and search, the web UI's and the listing API's: one
//! summary per package (from its newest release), read from the database once per
//! change of the package set and shared by every page view, so that listing or
//! searching 10,000 packages reads nothing.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use serde_json::Value;

use crate::access::View;
use crate::db::{Db, VersionRecord};
use crate::metadata::Metadata;

/// A package as the list shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub name: String,
    pub description: String,
    pub keywords: Vec<String>,
    /// Composer's `type` (`library` when absent).
    pub kind: String,
    pub abandoned: bool,
    /// The newest release's version and time (Unix milliseconds).
    pub version: String,
    pub released_at: i64,
    /// Lowercased name, description and keywords, for search.
    haystack: String,
}

impl Summary {
    fn new(name: String, version: String, metadata: &str, released_at: i64) -> Summary {
        let fields: Value = serde_json::from_str(metadata).unwrap_or(Value::Null);
        let text = |key: &str| fields.get(key).and_then(Value::as_str).unwrap_or_default();
        let description = text("description").to_owned();
        let keywords: Vec<String> = fields
            .get("keywords")
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let kind = Some(text("type"))
            .filter(|kind| !kind.is_empty())
            .unwrap_or("library")
            .to_owned();
        let abandoned = fields
            .get("abandoned")
            .is_some_and(|value| value.as_bool() != Some(false) && !value.is_null());
        let haystack = format!("{name}\n{description}\n{}", keywords.join("\n")).to_lowercase();
        Summary {
            name,
            description,
            keywords,
            kind,
            abandoned,
            version,
            released_at,
            haystack,
        }
    }

    pub fn vendor(&self) -> &str {
        self.name.split_once('/').map_or("", |(vendor, _)| vendor)
    }

    /// Whether every word of `query` occurs in the name, description or keywords.
    pub fn matches(&self, words: &[String]) -> bool {
        words
            .iter()
            .all(|word| self.haystack.contains(word.as_str()))
    }
}

/// Summaries of every package, built from one state of the package set.
pub struct Catalogue {
    built_from: Arc<BTreeMap<String, i64>>,
    pub summaries: Vec<Arc<Summary>>,
    /// Summaries of other versions than the newest, for viewers who do not see the
    /// newest, by package and normalized version: the same for every such viewer, so
    /// each is parsed once.
    older: RwLock<HashMap<(String, String), Arc<Summary>>>,
}

/// The current [`Catalogue`], rebuilt when the package set changes.
#[derive(Default)]
pub struct Catalogues {
    current: RwLock<Option<Arc<Catalogue>>>,
}

impl Catalogues {
    pub async fn current(
        &self,
        db: &Db,
        metadata: &Metadata,
    ) -> Result<Arc<Catalogue>, sqlx::Error> {
        let stamps = metadata.stamps();
        if let Some(catalogue) = self.current.read().unwrap().as_ref()
            && Arc::ptr_eq(&catalogue.built_from, &stamps)
        {
            return Ok(catalogue.clone());
        }
        let summaries = db
            .newest_releases()
            .await?
            .into_iter()
            .map(|(name, version, fields, released_at)| {
                Arc::new(Summary::new(name, version, &fields, released_at))
            })
            .collect();
        let catalogue = Arc::new(Catalogue {
            built_from: stamps,
            summaries,
            older: RwLock::default(),
        });
        *self.current.write().unwrap() = Some(catalogue.clone());
        Ok(catalogue)
    }
}

impl Catalogue {
    /// The summaries `view` may see that match the filters, in name order. A package
    /// of which the view sees only some versions is summarised from the newest of
    /// those: the list must not show a version (or its description) it hides.
    pub async fn search(
        &self,
        metadata: &Metadata,
        view: &View,
        filter: &Filter,
    ) -> Result<Vec<Arc<Summary>>, sqlx::Error> {
        let words: Vec<String> = filter
            .query
            .split_whitespace()
            .map(str::to_lowercase)
            .collect();
        let mut found = Vec::new();
        for summary in &self.summaries {
            if filter
                .vendor
                .as_deref()
                .is_some_and(|v| summary.vendor() != v)
                || !view.sees_package(&summary.name)
            {
                continue;
            }
            let summary = if view.sees_all_versions_of(&summary.name) {
                summary.clone()
            } else {
                let newest = metadata
                    .with_newest_visible(&summary.name, view, |v| self.summary_of(&summary.name, v))
                    .await?;
                let Some(newest) = newest else {
                    continue;
                };
                newest
            };
            // Type and words are matched on what the viewer sees, never on a hidden
            // version's fields.
            if filter.kind.as_deref().is_none_or(|k| summary.kind == k)
                && summary.matches(&words)
                && metadata.exists(&summary.name)
            {
                found.push(summary);
            }
        }
        Ok(found)
    }

    /// The summary of `package` as of `version`.
    fn summary_of(&self, package: &str, version: &VersionRecord) -> Arc<Summary> {
        let key = (package.to_owned(), version.version_normalized.clone());
        if let Some(summary) = self.older.read().unwrap().get(&key) {
            return summary.clone();
        }
        let summary = Arc::new(Summary::new(
            package.to_owned(),
            version.version.clone(),
            &version.metadata,
            version.released_at,
        ));
        let mut older = self.older.write().unwrap();
        // Bounded: at most one entry per stored version, and cleared past that many.
        if older.len() >= MAX_OLDER_SUMMARIES {
            older.clear();
        }
        older.insert(key, summary.clone());
        summary
    }
}

/// Summaries of older versions kept at once.
const MAX_OLDER_SUMMARIES: usize = 100_000;

/// The longest search accepted, in bytes, and the most words: every word is looked
/// for in every package.
pub const MAX_QUERY_BYTES: usize = 200;
pub const MAX_QUERY_WORDS: usize = 10;

/// What the list is narrowed to.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub query: String,
    pub vendor: Option<String>,
    pub kind: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_read_composer_fields() {
        let summary = Summary::new(
            "acme/lib".into(),
            "1.2.0".into(),
            r#"{"description":"Parses YAML","keywords":["yaml","Parser"],"type":"symfony-bundle","abandoned":"acme/new"}"#,
            5,
        );
        assert_eq!(summary.vendor(), "acme");
        assert_eq!(summary.kind, "symfony-bundle");
        assert!(summary.abandoned);
        assert!(summary.matches(&["yaml".into(), "parser".into()]));
        assert!(summary.matches(&["acme/".into()]));
        assert!(!summary.matches(&["json".into()]));
        let plain = Summary::new("a/b".into(), "1.0".into(), "{}", 0);
        assert_eq!(plain.kind, "library");
        assert!(!plain.abandoned);
        let kept = Summary::new("a/c".into(), "1.0".into(), r#"{"abandoned":false}"#, 0);
        assert!(!kept.abandoned);
    }
}
