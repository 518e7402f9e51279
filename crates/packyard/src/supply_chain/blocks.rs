//! Block lists: admins block versions of a package (a Composer constraint, `*` for all)
//! with a reason and a category. A blocked version is withdrawn from the metadata (or,
//! for a category set to flag, left in it), its archive answers `410 Gone` with the
//! reason, and every block is published in Composer's `filter` protocol: the root
//! announces the categories as lists (`filter.lists`, with `metadata: true`) and each
//! package's p2 document carries its entries (`filter.{list}: [{package, constraint,
//! reason, url, id, source}]`), as composer/composer's `ComposerRepository::getFilter`
//! and `FilterListEntryBuilder` read them, so Composer 2.10+ names the reason before it
//! downloads anything. Older clients get the 410's JSON `warning`, which Composer prints.

use composer::constraint::Constraint;
use serde_json::{Map, Value, json};

use crate::db::BlockRow;

const MAX_CATEGORY: usize = 40;

/// List names Composer keeps for itself (`PolicyConfig::RESERVED_NAMES`,
/// `FUTURE_RESERVED_NAMES`); a repository advertising one is ignored by Composer.
const RESERVED_CATEGORIES: [&str; 13] = [
    "advisories",
    "abandoned",
    "package",
    "packages",
    "license",
    "licence",
    "licenses",
    "licences",
    "support",
    "maintenance",
    "security",
    "minimum-release-age",
    "all",
];

/// A category that cannot be a Composer `filter` list name.
#[derive(Debug, thiserror::Error)]
#[error(
    "category {0:?} must be 1 to {MAX_CATEGORY} lower-case letters, digits and dashes, and not a name Composer reserves (advisories, abandoned, security, ignore…)"
)]
pub struct InvalidCategory(pub String);

/// Checks a category name: it becomes a `filter` list name.
pub fn check_category(category: &str) -> Result<String, InvalidCategory> {
    let category = category.trim().to_owned();
    let well_formed = !category.is_empty()
        && category.len() <= MAX_CATEGORY
        && category
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !category.starts_with('-');
    if !well_formed
        || RESERVED_CATEGORIES.contains(&category.as_str())
        || category.starts_with("ignore")
    {
        return Err(InvalidCategory(category));
    }
    Ok(category)
}

/// Why a version may not be installed: what its archive's `410` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockNotice {
    pub package: String,
    pub version: String,
    pub category: String,
    pub reason: String,
    pub url: Option<String>,
}

impl BlockNotice {
    /// The sentence Composer prints (`Warning from <url>: ...`) and the body's message.
    pub fn sentence(&self) -> String {
        let sentence = format!(
            "{} {} is blocked by this repository ({}): {}",
            self.package, self.version, self.category, self.reason
        );
        match &self.url {
            Some(url) => format!("{sentence} (see {url})"),
            None => sentence,
        }
    }

    /// The `410`'s JSON body: Composer prints `warning` from an error answer of type
    /// `application/json` (`HttpDownloader::outputWarnings`), so every client version
    /// shows the reason.
    pub fn body(&self) -> Value {
        let sentence = self.sentence();
        json!({
            "status": "error",
            "message": sentence,
            "warning": sentence,
            "blocked": {
                "package": self.package,
                "version": self.version,
                "category": self.category,
                "reason": self.reason,
                "url": self.url,
            },
        })
    }
}

/// The blocks of one package, with their categories' treatment: what the metadata
/// cache applies when it renders the package.
#[derive(Debug, Default)]
pub struct BlockRules {
    blocks: Vec<(BlockRow, Constraint, bool)>,
}

impl BlockRules {
    /// `categories`: each category with whether it withdraws (absent ones do).
    pub fn new(rows: Vec<BlockRow>, categories: &[(String, bool)]) -> Self {
        let blocks = rows
            .into_iter()
            .filter_map(|row| {
                // Checked when added; a row that does not parse blocks nothing rather
                // than everything.
                let constraint = Constraint::parse(&row.versions).ok()?;
                let withdraw = categories
                    .iter()
                    .find(|(category, _)| *category == row.category)
                    .is_none_or(|(_, withdraw)| *withdraw);
                Some((row, constraint, withdraw))
            })
            .collect();
        BlockRules { blocks }
    }

    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// The first block of version `normalized` (`version` is its display form).
    pub fn notice(&self, version: &str, normalized: &str) -> Option<BlockNotice> {
        self.blocks
            .iter()
            .find(|(_, constraint, _)| constraint.matches(normalized))
            .map(|(row, _, _)| BlockNotice {
                package: row.package.clone(),
                version: version.to_owned(),
                category: row.category.clone(),
                reason: row.reason.clone(),
                url: row.url.clone(),
            })
    }

    /// Whether a block in a withdrawing category takes `normalized` out of the metadata.
    pub fn withdraws(&self, normalized: &str) -> bool {
        self.blocks
            .iter()
            .any(|(_, constraint, withdraw)| *withdraw && constraint.matches(normalized))
    }

    /// The package document's `filter` value: `{list: [entry]}`. `visible`, for a caller
    /// who does not see every version, is the normalized versions it would see: each
    /// entry then names those it blocks (`1.0.0.0 || 1.1.0.0`) instead of the constraint
    /// as written, which could tell of versions it may not know of, and entries that
    /// block none of them are left out.
    pub fn filter(&self, visible: Option<&[&str]>) -> Map<String, Value> {
        let mut lists: Map<String, Value> = Map::new();
        for (row, constraint, _) in &self.blocks {
            let constraint_text = match visible {
                None => row.versions.clone(),
                Some(versions) => {
                    let blocked: Vec<&str> = versions
                        .iter()
                        .copied()
                        .filter(|v| constraint.matches(v))
                        .collect();
                    if blocked.is_empty() {
                        continue;
                    }
                    blocked.join(" || ")
                }
            };
            let mut entry = Map::new();
            entry.insert("package".into(), row.package.clone().into());
            entry.insert("constraint".into(), constraint_text.into());
            entry.insert("reason".into(), row.reason.clone().into());
            if let Some(url) = &row.url {
                entry.insert("url".into(), url.clone().into());
            }
            entry.insert("id".into(), format!("PKYBL-{}", row.id).into());
            entry.insert("source".into(), "packyard".into());
            if let Value::Array(entries) = lists
                .entry(row.category.clone())
                .or_insert_with(|| Value::Array(Vec::new()))
            {
                entries.push(Value::Object(entry));
            }
        }
        lists
    }
}

/// The root document's `filter` announcement for `categories` (none: no key).
pub fn root_filter(categories: &[String]) -> Option<Value> {
    if categories.is_empty() {
        return None;
    }
    let lists: Map<String, Value> = categories
        .iter()
        .map(|category| (category.clone(), json!({"enabled": true})))
        .collect();
    Some(json!({"metadata": true, "lists": lists}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64, versions: &str, category: &str) -> BlockRow {
        BlockRow {
            id,
            package: "acme/lib".into(),
            versions: versions.into(),
            category: category.into(),
            reason: "stole credentials".into(),
            url: None,
            created_by: "admin".into(),
            created_at: 0,
        }
    }

    #[test]
    fn categories_are_list_names_composer_accepts() {
        for good in ["malware", "policy-2026", "compromised"] {
            assert_eq!(check_category(good).unwrap(), good);
        }
        for bad in [
            "",
            "Malware",
            "mal ware",
            "-x",
            "security",
            "advisories",
            "abandoned",
            "ignore-me",
            "minimum-release-age",
        ] {
            assert!(check_category(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn blocks_withdraw_or_flag_by_category_and_their_entries_follow_composers_format() {
        let rules = BlockRules::new(
            vec![row(1, "1.2.3", "malware"), row(2, ">=2.0", "policy")],
            &[("policy".into(), false)],
        );
        assert!(rules.withdraws("1.2.3.0"));
        assert!(!rules.withdraws("1.2.4.0"));
        assert!(!rules.withdraws("2.1.0.0"), "policy only flags");
        assert_eq!(rules.notice("2.1.0", "2.1.0.0").unwrap().category, "policy");
        assert!(rules.notice("1.0.0", "1.0.0.0").is_none());

        let filter = rules.filter(None);
        assert_eq!(
            Value::Object(filter),
            json!({
                "malware": [{"package": "acme/lib", "constraint": "1.2.3", "reason": "stole credentials", "id": "PKYBL-1", "source": "packyard"}],
                "policy": [{"package": "acme/lib", "constraint": ">=2.0", "reason": "stole credentials", "id": "PKYBL-2", "source": "packyard"}],
            })
        );
        // A caller who sees only 1.x: the entry names the versions it sees, the 2.x
        // block is not mentioned.
        let filter = rules.filter(Some(&["1.2.3.0", "1.0.0.0"]));
        assert_eq!(
            Value::Object(filter),
            json!({"malware": [{"package": "acme/lib", "constraint": "1.2.3.0", "reason": "stole credentials", "id": "PKYBL-1", "source": "packyard"}]})
        );
    }

    #[test]
    fn the_410_body_carries_the_reason_as_composers_warning() {
        let notice = BlockNotice {
            package: "acme/lib".into(),
            version: "1.2.3".into(),
            category: "malware".into(),
            reason: "stole credentials".into(),
            url: Some("https://example.com/incident".into()),
        };
        let body = notice.body();
        assert_eq!(body["warning"], body["message"]);
        let warning = body["warning"].as_str().unwrap();
        assert!(warning.contains("acme/lib 1.2.3") && warning.contains("stole credentials"));
        assert_eq!(root_filter(&[]), None);
        assert_eq!(
            root_filter(&["malware".into()]).unwrap(),
            json!({"metadata": true, "lists": {"malware": {"enabled": true}}})
        );
    }
}
