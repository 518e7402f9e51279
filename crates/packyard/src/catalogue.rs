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
    /// The packages that release requires (`require`, lowercased; platform packages
    /// such as `php` and `ext-*` included): "required by" on package pages.
    pub requires: Vec<String>,
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
        let requires = fields
            .get("require")
            .and_then(Value::as_object)
            .map(|require| {
                require
                    .keys()
                    .map(|name| name.to_ascii_lowercase())
                    .collect()
            })
            .unwrap_or_default();
        Summary {
            name,
            description,
            keywords,
            kind,
            abandoned,
            version,
            released_at,
            requires,
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
        let previous = self.current.read().unwrap().clone();
        if let Some(catalogue) = &previous
            && Arc::ptr_eq(&catalogue.built_from, &stamps)
        {
            return Ok(catalogue.clone());
        }
        let catalogue = match previous {
            Some(previous) => match changed_packages(&previous.built_from, &stamps) {
                Some(changed) => previous.updated(db, stamps, &changed).await?,
                None => Catalogue::read(db, stamps).await?,
            },
            None => Catalogue::read(db, stamps).await?,
        };
        let catalogue = Arc::new(catalogue);
        *self.current.write().unwrap() = Some(catalogue.clone());
        Ok(catalogue)
    }
}

/// The most changed packages a list is updated for rather than read again whole.
const MAX_CHANGES_APPLIED: usize = 1_000;

/// The packages added, changed or removed between two stamp maps, in name order, when
/// at most [`MAX_CHANGES_APPLIED`]; one walk over both (they are sorted), no database.
fn changed_packages(
    before: &BTreeMap<String, i64>,
    after: &BTreeMap<String, i64>,
) -> Option<Vec<String>> {
    let mut changed = Vec::new();
    let (mut old, mut new) = (before.iter().peekable(), after.iter().peekable());
    loop {
        let name = match (old.peek().copied(), new.peek().copied()) {
            (None, None) => return Some(changed),
            (Some((a, _)), None) => {
                old.next();
                a.as_str()
            }
            (None, Some((b, _))) => {
                new.next();
                b.as_str()
            }
            (Some((a, x)), Some((b, y))) => match a.cmp(b) {
                std::cmp::Ordering::Less => {
                    old.next();
                    a.as_str()
                }
                std::cmp::Ordering::Greater => {
                    new.next();
                    b.as_str()
                }
                std::cmp::Ordering::Equal => {
                    let same = x == y;
                    let name = a.as_str();
                    old.next();
                    new.next();
                    if same {
                        continue;
                    }
                    name
                }
            },
        };
        changed.push(name.to_owned());
        if changed.len() > MAX_CHANGES_APPLIED {
            return None;
        }
    }
}

impl Catalogue {
    /// Every package's summary, read from the database.
    async fn read(db: &Db, stamps: Arc<BTreeMap<String, i64>>) -> Result<Catalogue, sqlx::Error> {
        let summaries = db
            .newest_releases()
            .await?
            .into_iter()
            .map(|(name, version, fields, released_at)| {
                Arc::new(Summary::new(name, version, &fields, released_at))
            })
            .collect();
        Ok(Catalogue {
            built_from: stamps,
            summaries,
            older: RwLock::default(),
        })
    }

    /// This catalogue with the summaries of `changed` packages read again (removed ones
    /// dropped): what a replica does after an upload, whatever the catalogue's size.
    async fn updated(
        &self,
        db: &Db,
        stamps: Arc<BTreeMap<String, i64>>,
        changed: &[String],
    ) -> Result<Catalogue, sqlx::Error> {
        let names: Vec<&str> = changed.iter().map(String::as_str).collect();
        let fresh = db.newest_releases_of(&names).await?;
        let is_changed = |name: &str| names.binary_search(&name).is_ok();
        let mut summaries: Vec<Arc<Summary>> = self
            .summaries
            .iter()
            .filter(|summary| !is_changed(&summary.name))
            .cloned()
            .chain(
                fresh
                    .into_iter()
                    .map(|(name, version, fields, released_at)| {
                        Arc::new(Summary::new(name, version, &fields, released_at))
                    }),
            )
            .collect();
        summaries.sort_by(|a, b| a.name.cmp(&b.name));
        let older = self
            .older
            .read()
            .unwrap()
            .iter()
            .filter(|((name, _), _)| !is_changed(name))
            .map(|(key, summary)| (key.clone(), summary.clone()))
            .collect();
        Ok(Catalogue {
            built_from: stamps,
            summaries,
            older: RwLock::new(older),
        })
    }

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
            {
                continue;
            }
            let Some(summary) = self.as_seen(metadata, view, summary).await? else {
                continue;
            };
            // Type and words are matched on what the viewer sees, never on a hidden
            // version's fields.
            if filter.kind.as_deref().is_none_or(|k| summary.kind == k) && summary.matches(&words) {
                found.push(summary);
            }
        }
        Ok(found)
    }

    /// The summary of the package `name` as `view` sees it (see [`Self::search`]);
    /// `None` when it sees no version of it.
    pub async fn summary(
        &self,
        metadata: &Metadata,
        view: &View,
        name: &str,
    ) -> Result<Option<Arc<Summary>>, sqlx::Error> {
        // By name, not by binary search: the database's collation ordered the list.
        match self.summaries.iter().find(|summary| summary.name == name) {
            Some(summary) => self.as_seen(metadata, view, summary).await,
            None => Ok(None),
        }
    }

    /// `summary` as `view` sees its package: itself, or the summary of the newest
    /// version the view sees; `None` when it sees none (or the package is gone).
    async fn as_seen(
        &self,
        metadata: &Metadata,
        view: &View,
        summary: &Arc<Summary>,
    ) -> Result<Option<Arc<Summary>>, sqlx::Error> {
        if !view.sees_package(&summary.name) {
            return Ok(None);
        }
        let seen = if view.sees_all_versions_of(&summary.name) {
            Some(summary.clone())
        } else {
            metadata
                .with_newest_visible(&summary.name, view, |v| self.summary_of(&summary.name, v))
                .await?
        };
        Ok(seen.filter(|summary| metadata.exists(&summary.name)))
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

    fn stamps(entries: &[(&str, i64)]) -> BTreeMap<String, i64> {
        entries.iter().map(|(n, s)| ((*n).to_owned(), *s)).collect()
    }

    #[test]
    fn changes_between_stamp_maps_are_found_in_one_walk() {
        let before = stamps(&[("a/kept", 1), ("b/changed", 1), ("c/removed", 1)]);
        let after = stamps(&[("a/kept", 1), ("a/new", 2), ("b/changed", 2)]);
        assert_eq!(
            changed_packages(&before, &after).unwrap(),
            ["a/new", "b/changed", "c/removed"]
        );
        assert_eq!(
            changed_packages(&after, &after).unwrap(),
            Vec::<String>::new()
        );
        let many: BTreeMap<String, i64> = (0..=MAX_CHANGES_APPLIED)
            .map(|n| (format!("v/p{n:05}"), 1))
            .collect();
        assert!(changed_packages(&BTreeMap::new(), &many).is_none());
    }

    #[tokio::test]
    async fn a_list_updated_for_a_change_is_the_list_read_whole() {
        let (db, _dir) = crate::db::testing::sqlite().await;
        for (name, version, normalized) in [
            ("acme/a", "1.0.0", "1.0.0.0"),
            ("acme/b", "1.0.0", "1.0.0.0"),
            ("acme/c", "1.0.0", "1.0.0.0"),
        ] {
            let mut record = crate::db::testing::artifact_version(version, name);
            record.version_normalized = normalized.into();
            db.save_version(name, crate::db::PackageKind::Artifact, &record)
                .await
                .unwrap();
        }
        let metadata = Metadata::load(db.clone()).await.unwrap();
        let lists = Catalogues::default();
        let first = lists.current(&db, &metadata).await.unwrap();
        // Another version of b, a new package d, c removed.
        let mut newer = crate::db::testing::artifact_version("2.0.0", "b2");
        newer.version_normalized = "2.0.0.0".into();
        newer.released_at += 1_000;
        newer.metadata = r#"{"description":"the second"}"#.into();
        db.save_version("acme/b", crate::db::PackageKind::Artifact, &newer)
            .await
            .unwrap();
        let mut added = crate::db::testing::artifact_version("0.1.0", "d");
        added.version_normalized = "0.1.0.0".into();
        db.save_version("acme/d", crate::db::PackageKind::Artifact, &added)
            .await
            .unwrap();
        db.delete_package("acme/c").await.unwrap();
        metadata.refresh().await.unwrap();
        let updated = lists.current(&db, &metadata).await.unwrap();
        let whole = Catalogue::read(&db, metadata.stamps()).await.unwrap();
        let shown = |catalogue: &Catalogue| {
            catalogue
                .summaries
                .iter()
                .map(|s| (s.name.clone(), s.version.clone(), s.description.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(shown(&updated), shown(&whole));
        assert_ne!(shown(&updated), shown(&first));
        assert_eq!(
            shown(&updated)
                .iter()
                .map(|s| s.0.as_str())
                .collect::<Vec<_>>(),
            ["acme/a", "acme/b", "acme/d"]
        );
        assert_eq!(updated.summaries[1].version, "2.0.0");
    }

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
