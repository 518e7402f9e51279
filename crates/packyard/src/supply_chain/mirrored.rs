//! The supply-chain rules applied to a mirrored package's document: the upstream's own
//! `filter` lists (packagist.org's malware list) and the admins' block lists withdraw
//! versions, a mirror's `min_release_age` holds fresh ones back, and under
//! `plugins: approve` unapproved plugin versions are left out. What the rules take out
//! of the document is also refused as an archive: `410` with the reason for a listed
//! version, as unknown for the others.

use std::collections::{HashMap, HashSet};

use composer::constraint::Constraint;
use serde_json::{Map, Value};

use super::blocks::{BlockNotice, BlockRules};
use super::plugins::{self, PluginPolicy};

/// What applies to one mirrored package.
pub struct MirrorRules<'a> {
    /// The longer of the mirror's `min_release_age` and the caller's own cooldown.
    pub min_release_age: Option<i64>,
    /// The affected versions of the package's published advisories (the upstream's
    /// and the admins'): a version that fixes one passes the cooldown. Empty under
    /// `PACKYARD_RELEASE_AGE_EXEMPT_FIXES=0`.
    pub advisories_affect: &'a [Constraint],
    pub plugins: PluginPolicy,
    /// The approved major versions, under `plugins: approve`.
    pub approved_majors: &'a [String],
    /// The admins' blocks of this name.
    pub blocks: &'a BlockRules,
    /// Unix milliseconds.
    pub now: i64,
    /// Where packyard serves a version's archive (from its normalized version,
    /// reference and type): each version's own `dist.url` is rewritten to it, so that a
    /// client refused an archive (blocked, pinned) does not fetch it around the mirror,
    /// as Composer does with every URL a version has. `None` when the mirror does not
    /// serve archives.
    pub archive_url: Option<&'a ArchiveUrl<'a>>,
}

/// The URL of a mirrored archive, from its normalized version, reference and type.
pub type ArchiveUrl<'a> = dyn Fn(&str, &str, &str) -> String + Send + Sync + 'a;

impl MirrorRules<'_> {
    fn changes_nothing(&self) -> bool {
        self.min_release_age.is_none()
            && self.plugins == PluginPolicy::Allow
            && self.blocks.is_empty()
            && self.archive_url.is_none()
    }
}

/// A mirrored document after the rules.
#[derive(Debug, Default)]
pub struct Ruled {
    /// The document to serve, when the rules changed it.
    pub body: Option<Vec<u8>>,
    /// Versions (normalized) withdrawn by a list, with why: their archives are `410`.
    pub blocked: HashMap<String, BlockNotice>,
    /// Versions (normalized) held back or unapproved: their archives are unknown.
    pub hidden: HashSet<String>,
    /// When the last version the cooldown let through came of age (Unix
    /// milliseconds): the document changed then.
    pub came_of_age_at: Option<i64>,
    /// Whether a version was younger than the cooldown (offered or not, as a fix):
    /// only then do the advisories matter.
    pub too_young: bool,
}

/// An upstream `filter` entry that applies to the package.
struct Listed {
    list: String,
    constraint: Constraint,
    reason: Option<String>,
    url: Option<String>,
}

/// The upstream's `filter` entries of `package` in a p2 document, as Composer reads
/// them (`FilterListEntryBuilder`): lists of objects with a `constraint`, `package`
/// defaulting to the document's. Entries Composer would skip are skipped.
fn upstream_entries(document: &Value, package: &str) -> Vec<Listed> {
    let Some(lists) = document.get("filter").and_then(Value::as_object) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for (list, entries) in lists {
        for entry in entries.as_array().into_iter().flatten() {
            let Some(entry) = entry.as_object() else {
                continue;
            };
            let named = entry
                .get("package")
                .and_then(Value::as_str)
                .unwrap_or(package);
            let Some(constraint) = entry.get("constraint").and_then(Value::as_str) else {
                continue;
            };
            if !named.eq_ignore_ascii_case(package) {
                continue;
            }
            let Ok(constraint) = Constraint::parse(constraint) else {
                continue;
            };
            // What the upstream wrote is repeated in our answers: bounded, one line.
            let text = |key: &str| {
                entry.get(key).and_then(Value::as_str).map(|text| {
                    text.chars()
                        .filter(|c| !c.is_control())
                        .take(500)
                        .collect::<String>()
                })
            };
            found.push(Listed {
                list: list.clone(),
                constraint,
                reason: text("reason"),
                url: text("url")
                    .filter(|url| url.starts_with("https://") || url.starts_with("http://")),
            });
        }
    }
    found
}

/// When the upstream published a version: packagist.org's `published-time`, else its
/// `time` (Unix milliseconds).
fn published_at(version: &Map<String, Value>) -> Option<i64> {
    ["published-time", "time"]
        .iter()
        .find_map(|key| version.get(*key).and_then(Value::as_str))
        .and_then(composer::manifest::parse_time)
        .map(|seconds| seconds * 1000)
}

/// A version's normalized form, as Composer reads it: `version_normalized`, else its
/// `version` normalized.
fn normalized_of(version: &Map<String, Value>) -> String {
    let text = |key: &str| version.get(key).and_then(Value::as_str).unwrap_or_default();
    match text("version_normalized") {
        "" => composer::version::normalize(text("version"))
            .unwrap_or_else(|_| text("version").to_owned()),
        known => known.to_owned(),
    }
}

/// Applies `rules` to the p2 document `body` of `package`.
pub fn apply(package: &str, body: &[u8], rules: &MirrorRules<'_>) -> Ruled {
    let mentions_filter = body.windows(8).any(|w| w == b"\"filter\"");
    if rules.changes_nothing() && !mentions_filter {
        return Ruled::default();
    }
    let Ok(Value::Object(mut document)) = serde_json::from_slice::<Value>(body) else {
        return Ruled::default();
    };
    let listed = upstream_entries(&Value::Object(document.clone()), package);
    if rules.changes_nothing() && listed.is_empty() {
        return Ruled::default();
    }
    let (versions, minified) = composer::p2::versions_in(&document, package);
    let all_normalized: Vec<String> = if rules.advisories_affect.is_empty() {
        Vec::new()
    } else {
        versions.iter().map(normalized_of).collect()
    };
    let fixes_advisory = |normalized: &str| {
        let earlier: Vec<&str> = all_normalized
            .iter()
            .map(String::as_str)
            .filter(|other| composer::constraint::php_version_compare(other, normalized).is_lt())
            .collect();
        super::release_age::fixes_advisory(normalized, rules.advisories_affect, &earlier)
    };
    let mut outcome = Ruled::default();
    let mut kept = Vec::with_capacity(versions.len());
    let mut rewritten = false;
    for version in versions {
        let pretty = version
            .get("version")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let normalized = normalized_of(&version);
        if let Some(entry) = listed.iter().find(|e| e.constraint.matches(&normalized)) {
            outcome.blocked.insert(
                normalized,
                BlockNotice {
                    package: package.to_owned(),
                    version: pretty,
                    category: entry.list.clone(),
                    reason: entry
                        .reason
                        .clone()
                        .unwrap_or_else(|| format!("listed in the upstream's {} list", entry.list)),
                    url: entry.url.clone(),
                },
            );
            continue;
        }
        if !rules.blocks.is_empty()
            && let Some(notice) = rules.blocks.notice(&pretty, &normalized)
        {
            if rules.blocks.withdraws(&normalized) {
                outcome.blocked.insert(normalized, notice);
                continue;
            }
            // Flagged only: offered, but its archive is still refused.
            outcome.blocked.insert(normalized.clone(), notice);
        }
        let admitted =
            plugins::admitted(rules.plugins, &normalized, &version, rules.approved_majors);
        let of_age_at = rules
            .min_release_age
            .zip(published_at(&version))
            .map(|(age, at)| at + age);
        let too_young = of_age_at.is_some_and(|at| at > rules.now);
        if let Some(at) = of_age_at.filter(|at| *at <= rules.now) {
            outcome.came_of_age_at = outcome.came_of_age_at.max(Some(at));
        }
        outcome.too_young |= too_young;
        let held_back = too_young && !fixes_advisory(&normalized);
        if !admitted || held_back {
            outcome.hidden.insert(normalized);
            continue;
        }
        let mut version = version;
        if let Some(archive_url) = rules.archive_url
            && let Some(Value::Object(dist)) = version.get_mut("dist")
        {
            let text = |key: &str| {
                dist.get(key)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            let (reference, kind) = (text("reference"), text("type"));
            if !kind.is_empty() {
                let url = archive_url(&normalized, &reference, &kind);
                dist.insert("url".to_owned(), Value::String(url));
                rewritten = true;
            }
        }
        kept.push(version);
    }
    let admin_filter = rules.blocks.filter(None);
    if outcome.blocked.is_empty()
        && outcome.hidden.is_empty()
        && admin_filter.is_empty()
        && !rewritten
    {
        return outcome;
    }
    composer::p2::set_versions(&mut document, package, kept, minified);
    if !admin_filter.is_empty() {
        let filter = document
            .entry("filter")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(lists) = filter {
            for (list, entries) in admin_filter {
                let Value::Array(entries) = entries else {
                    continue;
                };
                match lists
                    .entry(list)
                    .or_insert_with(|| Value::Array(Vec::new()))
                {
                    Value::Array(existing) => existing.extend(entries),
                    other => *other = Value::Array(entries),
                }
            }
        }
    }
    outcome.body = Some(serde_json::to_vec(&document).expect("a JSON value always serializes"));
    outcome
}

/// The p2 document `new` of `package`, a fresh upstream copy, with each version that
/// `held` (the copy stored so far) did not list published no earlier than `now` (Unix
/// milliseconds): its `published-time` becomes the later of the upstream's (or its
/// `time`, which an author sets) and the moment the mirror first saw it. An upstream
/// that backdates a new release cannot slip it past a cooldown; versions the first
/// copy held keep the upstream's dates, having no earlier sighting. `None` when no
/// version needed it.
pub fn date_arrivals(package: &str, held: &[u8], new: &[u8], now: i64) -> Option<Vec<u8>> {
    let parse = |body: &[u8]| match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(document)) => Some(document),
        _ => None,
    };
    let (known, _) = composer::p2::versions_in(&parse(held)?, package);
    let known: HashSet<String> = known.iter().map(normalized_of).collect();
    let mut document = parse(new)?;
    let (mut versions, minified) = composer::p2::versions_in(&document, package);
    let mut dated = false;
    for version in &mut versions {
        if known.contains(&normalized_of(version)) {
            continue;
        }
        if published_at(version).is_none_or(|at| at < now) {
            version.insert(
                "published-time".to_owned(),
                Value::String(crate::time::rfc3339(now.div_euclid(1000))),
            );
            dated = true;
        }
    }
    if !dated {
        return None;
    }
    composer::p2::set_versions(&mut document, package, versions, minified);
    Some(serde_json::to_vec(&document).expect("a JSON value always serializes"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::BlockRow;
    use serde_json::json;

    const DAY: i64 = 86_400_000;

    fn document(filter: Value) -> Vec<u8> {
        let versions = vec![
            json!({"name": "evil/pkg", "version": "1.0.0", "version_normalized": "1.0.0.0", "time": "2026-01-01T00:00:00+00:00", "type": "library", "dist": {"type": "zip", "url": "https://up.example/a.zip", "reference": "aaa"}}),
            json!({"name": "evil/pkg", "version": "1.0.1", "version_normalized": "1.0.1.0", "time": "2026-01-01T00:00:00+00:00", "published-time": "2026-12-06T00:00:00+00:00", "type": "composer-plugin", "dist": {"type": "zip", "url": "https://up.example/b.zip", "reference": "bbb"}}),
        ];
        let minified = composer::minify::minify(
            versions
                .into_iter()
                .map(|v| v.as_object().unwrap().clone())
                .collect(),
        );
        let mut doc = json!({"packages": {"evil/pkg": minified}, "minified": "composer/2.0"});
        if !filter.is_null() {
            doc["filter"] = filter;
        }
        serde_json::to_vec(&doc).unwrap()
    }

    fn names(body: &[u8]) -> Vec<String> {
        let value: Value = serde_json::from_slice(body).unwrap();
        let list = value["packages"]["evil/pkg"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_object().unwrap().clone())
            .collect();
        composer::minify::expand(list)
            .iter()
            .map(|v| v["version"].as_str().unwrap().to_owned())
            .collect()
    }

    fn rules(blocks: &BlockRules) -> MirrorRules<'_> {
        MirrorRules {
            min_release_age: None,
            advisories_affect: &[],
            plugins: PluginPolicy::Allow,
            approved_majors: &[],
            blocks,
            now: composer::manifest::parse_time("2026-12-07T00:00:00Z").unwrap() * 1000,
            archive_url: None,
        }
    }

    #[test]
    fn every_kept_versions_archive_url_is_the_mirrors_own() {
        let none = BlockRules::default();
        let url = |version: &str, reference: &str, kind: &str| {
            format!("http://repo/mirror/up/zipball/evil/pkg/{version}/{reference}.{kind}")
        };
        let rewriting = MirrorRules {
            archive_url: Some(&url),
            ..rules(&none)
        };
        let body = apply("evil/pkg", &document(Value::Null), &rewriting)
            .body
            .unwrap();
        let value: Value = serde_json::from_slice(&body).unwrap();
        let list = value["packages"]["evil/pkg"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_object().unwrap().clone())
            .collect();
        let urls: Vec<String> = composer::minify::expand(list)
            .iter()
            .map(|v| v["dist"]["url"].as_str().unwrap_or_default().to_owned())
            .collect();
        assert!(
            urls.iter()
                .all(|u| u.starts_with("http://repo/mirror/up/zipball/evil/pkg/1.0.")),
            "{urls:?}"
        );
    }

    #[test]
    fn a_version_new_to_the_mirror_is_dated_when_the_mirror_first_saw_it() {
        let now = composer::manifest::parse_time("2026-12-07T00:00:00Z").unwrap() * 1000;
        let held = serde_json::to_vec(&json!({"packages": {"evil/pkg": [
            {"name": "evil/pkg", "version": "1.0.0", "version_normalized": "1.0.0.0", "time": "2020-01-01T00:00:00+00:00"},
        ]}}))
        .unwrap();
        let new = document(Value::Null);
        let dated = date_arrivals("evil/pkg", &held, &new, now).unwrap();
        let versions = composer::p2::versions_in(
            serde_json::from_slice::<Value>(&dated)
                .unwrap()
                .as_object()
                .unwrap(),
            "evil/pkg",
        )
        .0;
        // 1.0.0 was held: the upstream's date stays. 1.0.1, new and dated a day before
        // the mirror saw it, is published when the mirror saw it.
        assert!(versions[0].get("published-time").is_none());
        assert_eq!(versions[1]["published-time"], "2026-12-07T00:00:00+00:00");
        // An upstream date later than the sighting is kept, and nothing new changes
        // nothing.
        assert!(date_arrivals("evil/pkg", &held, &new, now - 7 * DAY).is_none());
        assert!(date_arrivals("evil/pkg", &new, &new, now).is_none());
    }

    #[test]
    fn nothing_to_apply_leaves_the_bytes_alone() {
        let none = BlockRules::default();
        let outcome = apply("evil/pkg", &document(Value::Null), &rules(&none));
        assert!(outcome.body.is_none() && outcome.blocked.is_empty() && outcome.hidden.is_empty());
    }

    #[test]
    fn the_upstreams_lists_withdraw_what_they_name_and_stay_in_the_document() {
        let none = BlockRules::default();
        let filter = json!({"malware": [{"constraint": "1.0.1", "reason": "exfiltrates tokens", "url": "https://example.com/x"}, {"package": "other/pkg", "constraint": "*"}]});
        let outcome = apply("evil/pkg", &document(filter), &rules(&none));
        let body = outcome.body.unwrap();
        assert_eq!(names(&body), ["1.0.0"]);
        assert_eq!(outcome.blocked["1.0.1.0"].reason, "exfiltrates tokens");
        assert_eq!(outcome.blocked["1.0.1.0"].category, "malware");
        let value: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            value["filter"]["malware"].as_array().unwrap().len(),
            2,
            "passed through"
        );
    }

    #[test]
    fn cooldowns_plugins_and_admin_blocks_apply_to_mirrored_versions() {
        let none = BlockRules::default();
        let young = MirrorRules {
            min_release_age: Some(3 * DAY),
            ..rules(&none)
        };
        let outcome = apply("evil/pkg", &document(Value::Null), &young);
        assert_eq!(
            names(&outcome.body.unwrap()),
            ["1.0.0"],
            "published a day ago"
        );
        assert!(outcome.hidden.contains("1.0.1.0"));
        // A fix of an advisory that affects 1.0.0 passes the cooldown; an advisory that
        // affects the fresh version too does not make it a fix.
        let fixed = [Constraint::parse("<1.0.1").unwrap()];
        let fixing = MirrorRules {
            advisories_affect: &fixed,
            ..young
        };
        let fixed_outcome = apply("evil/pkg", &document(Value::Null), &fixing);
        assert!(fixed_outcome.hidden.is_empty() && fixed_outcome.too_young);
        // The fix is offered early, but the document did not change in the future.
        assert!(
            fixed_outcome
                .came_of_age_at
                .is_some_and(|at| at <= fixing.now)
        );
        let unfixed = [Constraint::parse("<2.0").unwrap()];
        let still = MirrorRules {
            advisories_affect: &unfixed,
            ..fixing
        };
        assert!(
            apply("evil/pkg", &document(Value::Null), &still)
                .hidden
                .contains("1.0.1.0")
        );

        let unapproved = MirrorRules {
            plugins: PluginPolicy::Approve,
            ..rules(&none)
        };
        assert_eq!(
            names(
                &apply("evil/pkg", &document(Value::Null), &unapproved)
                    .body
                    .unwrap()
            ),
            ["1.0.0"]
        );
        let approved = ["1".to_owned()];
        let approved = MirrorRules {
            plugins: PluginPolicy::Approve,
            approved_majors: &approved,
            ..rules(&none)
        };
        assert!(
            apply("evil/pkg", &document(Value::Null), &approved)
                .body
                .is_none()
        );

        let row = BlockRow {
            id: 3,
            package: "evil/pkg".into(),
            versions: "1.0.0".into(),
            category: "malware".into(),
            reason: "ours".into(),
            url: None,
            created_by: "admin".into(),
            created_at: 0,
        };
        let blocks = BlockRules::new(vec![row], &[]);
        let outcome = apply("evil/pkg", &document(Value::Null), &rules(&blocks));
        let body = outcome.body.unwrap();
        assert_eq!(names(&body), ["1.0.1"]);
        assert_eq!(outcome.blocked["1.0.0.0"].reason, "ours");
        let value: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(value["filter"]["malware"][0]["id"], "PKYBL-3");
    }
}
