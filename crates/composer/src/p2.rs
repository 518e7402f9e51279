//! The `/p2/<vendor>/<package>.json` and `~dev.json` documents, and Composer 1's
//! `/p/<vendor>/<package>.json`.
//!
//! Mirrors packagist's `App\Package\V2Dumper::dumpPackageToV2File()`
//! (composer/packagist): versions are split into tags and branches, each list is sorted
//! newest first with `App\Entity\Package::sortVersions()`, minified with
//! `MetadataMinifier::minify()` and wrapped as
//! `{"packages":{"<package>":[...]},"minified":"composer/2.0"}`. Composer 1's document
//! ([`render_v1`]) holds the same versions whole, keyed by version.

use std::cmp::Ordering;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Map, Value};

use crate::manifest::parse_time;
use crate::minify::{VersionMap, minify};

/// The two p2 documents of one package, as compact JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct P2Documents {
    /// `/p2/<package>.json`: tagged releases.
    pub tagged: Vec<u8>,
    /// `/p2/<package>~dev.json`: branches (`dev-*`, `*-dev`).
    pub dev: Vec<u8>,
}

/// Builds both p2 documents of `package` from its complete (not minified) versions, in
/// any order.
///
/// A version is a branch when its `version_normalized` starts with `dev-` or ends with
/// `-dev` (Composer's dev stability); `version` stands in for a missing
/// `version_normalized`. An empty list still yields a document naming the package.
pub fn render(package: &str, versions: Vec<VersionMap>) -> P2Documents {
    render_with_filter(package, versions, &Map::new())
}

/// [`render`], with `filter` (Composer's filter-list entries of the package, by list
/// name: `{"malware": [{"constraint": "1.2.3", "reason": ...}]}`) as both documents'
/// top-level `filter` key, where `ComposerRepository::getFilter` reads it; no key when
/// it is empty.
pub fn render_with_filter(
    package: &str,
    versions: Vec<VersionMap>,
    filter: &Map<String, Value>,
) -> P2Documents {
    let (dev, tagged): (Vec<_>, Vec<_>) = versions
        .into_iter()
        .partition(|version| is_dev(normalized_version(version)));
    P2Documents {
        tagged: document(package, sort_newest_first(tagged), filter),
        dev: document(package, sort_newest_first(dev), filter),
    }
}

/// Composer 1's document of `package` from the same complete versions as [`render`]:
/// `{"packages":{"<package>":{"<version>":{...}}}}`, tags and branches together, newest
/// first, nothing minified (Composer 1 does not read `composer/2.0`).
pub fn render_v1(package: &str, versions: Vec<VersionMap>) -> Vec<u8> {
    let by_version: Map<String, Value> = sort_newest_first(versions)
        .into_iter()
        .map(|version| {
            let name = version
                .get("version")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            (name, Value::Object(version))
        })
        .collect();
    let mut packages = Map::new();
    packages.insert(package.to_owned(), Value::Object(by_version));
    let mut document = Map::new();
    document.insert("packages".to_owned(), Value::Object(packages));
    serde_json::to_vec(&document).expect("a JSON value always serializes")
}

/// The versions of `package` in a p2 document (any repository's, as Composer reads it),
/// expanded when the document is minified, and whether it was.
pub fn versions_in(document: &Map<String, Value>, package: &str) -> (Vec<VersionMap>, bool) {
    let minified = document.get("minified").and_then(Value::as_str) == Some("composer/2.0");
    let list: Vec<VersionMap> = document
        .get("packages")
        .and_then(|packages| packages.get(package))
        .and_then(Value::as_array)
        .map(|list| list.iter().filter_map(|v| v.as_object().cloned()).collect())
        .unwrap_or_default();
    let versions = if minified {
        crate::minify::expand(list)
    } else {
        list
    };
    (versions, minified)
}

/// Makes `versions` the versions of `package` in `document`, minified when `minified`
/// (as [`versions_in`] read them); the document's other keys stay.
pub fn set_versions(
    document: &mut Map<String, Value>,
    package: &str,
    versions: Vec<VersionMap>,
    minified: bool,
) {
    let versions = if minified { minify(versions) } else { versions };
    let mut packages = Map::new();
    packages.insert(
        package.to_owned(),
        Value::Array(versions.into_iter().map(Value::Object).collect()),
    );
    document.insert("packages".to_owned(), Value::Object(packages));
}

fn document(package: &str, versions: Vec<VersionMap>, filter: &Map<String, Value>) -> Vec<u8> {
    let minified = minify(versions).into_iter().map(Value::Object).collect();
    let mut packages = Map::new();
    packages.insert(package.to_owned(), Value::Array(minified));
    let mut document = Map::new();
    document.insert("packages".to_owned(), Value::Object(packages));
    document.insert("minified".to_owned(), Value::from("composer/2.0"));
    if !filter.is_empty() {
        document.insert("filter".to_owned(), Value::Object(filter.clone()));
    }
    serde_json::to_vec(&document).expect("a JSON value always serializes")
}

fn normalized_version(version: &VersionMap) -> &str {
    ["version_normalized", "version"]
        .iter()
        .find_map(|key| version.get(*key).and_then(Value::as_str))
        .unwrap_or("")
}

/// Composer's dev stability, read off a normalized version. A private copy so that this
/// module does not wait on the version module's `is_dev`.
fn is_dev(normalized: &str) -> bool {
    normalized.starts_with("dev-") || normalized.ends_with("-dev")
}

/// packagist's `Package::sortVersions()`, newest first.
fn sort_newest_first(versions: Vec<VersionMap>) -> Vec<VersionMap> {
    // Keys are computed once: comparing would otherwise re-parse both versions each time.
    let mut keyed: Vec<(SortKey, VersionMap)> = versions
        .into_iter()
        .map(|version| (SortKey::of(&version), version))
        .collect();
    keyed.sort_by(|(a, _), (b, _)| a.cmp_newest_first(b));
    keyed.into_iter().map(|(_, version)| version).collect()
}

/// What `Package::sortVersions()` looks at in one version.
struct SortKey {
    /// The default branch, when it has no numeric alias, goes first.
    default_branch_first: bool,
    /// The version to compare: its branch alias if any, `dev-*` as `0.0.0-alpha`.
    sortable: Vec<Part>,
    /// Release time; a version without one counts as the oldest.
    released: Option<i64>,
    normalized: String,
}

/// `{(.x)?-dev$}` as packagist writes it: the `.` is any character, so `2.x-dev` and
/// `2.1.x-dev` both qualify.
static ALIAS_DEV_SUFFIX: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(.x)?-dev$").expect("alias regex compiles"));

/// What every `dev-*` branch without an alias sorts as: below every numeric version.
const UNALIASED_BRANCH: &str = "0.0.0-alpha";

impl SortKey {
    fn of(version: &VersionMap) -> Self {
        let normalized = normalized_version(version).to_owned();
        let sortable = match branch_alias(version, &normalized) {
            Some(alias) => ALIAS_DEV_SUFFIX.replace(alias, ".9999999-dev").into_owned(),
            None if normalized.starts_with("dev-") => UNALIASED_BRANCH.to_owned(),
            None => normalized.clone(),
        };
        let is_default = version.get("default-branch") == Some(&Value::Bool(true));
        Self {
            default_branch_first: is_default && sortable == UNALIASED_BRANCH,
            sortable: version_parts(&sortable),
            released: version
                .get("time")
                .and_then(Value::as_str)
                .and_then(parse_time),
            normalized,
        }
    }

    /// Packagist compares equal versions by date, and its comparator treats versions PHP
    /// considers equal but spells differently (`1.0-b` / `1.0-beta`) as tied; here every
    /// version tie falls through to date and then name, which keeps this a total order,
    /// as Rust's sort requires.
    fn cmp_newest_first(&self, other: &Self) -> Ordering {
        other
            .default_branch_first
            .cmp(&self.default_branch_first)
            .then_with(|| compare_parts(&other.sortable, &self.sortable))
            .then_with(|| other.released.cmp(&self.released))
            .then_with(|| self.normalized.cmp(&other.normalized))
    }
}

fn branch_alias<'a>(version: &'a VersionMap, normalized: &str) -> Option<&'a str> {
    version
        .get("extra")?
        .get("branch-alias")?
        .get(normalized)?
        .as_str()
}

/// One segment of a version as PHP's `version_compare()` sees it, declared in PHP's
/// order: unknown words < `dev` < `alpha`/`a` < `beta`/`b` < `RC`/`rc` < a missing
/// segment < numbers < `pl`/`p` (patch).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Part {
    Word,
    Dev,
    Alpha,
    Beta,
    ReleaseCandidate,
    Missing,
    Number(u64),
    Patch,
}

/// PHP's `php_canonicalize_version()` + segment classification: a version splits at
/// every non-alphanumeric character and between letters and digits. A word is
/// classified by its prefix, as PHP's `strncmp` does (`patch` is `p`, `abc` is `a`).
fn version_parts(version: &str) -> Vec<Part> {
    let mut parts = Vec::new();
    let mut rest = version;
    while let Some(start) = rest.find(|c: char| c.is_ascii_alphanumeric()) {
        rest = &rest[start..];
        let digits = rest.starts_with(|c: char| c.is_ascii_digit());
        let end = rest
            .find(|c: char| !c.is_ascii_alphanumeric() || c.is_ascii_digit() != digits)
            .unwrap_or(rest.len());
        parts.push(classify(&rest[..end], digits));
        rest = &rest[end..];
    }
    parts
}

fn classify(segment: &str, digits: bool) -> Part {
    if digits {
        // strtol saturates too.
        return Part::Number(segment.parse().unwrap_or(u64::MAX));
    }
    let forms = [
        ("dev", Part::Dev),
        ("alpha", Part::Alpha),
        ("a", Part::Alpha),
        ("beta", Part::Beta),
        ("b", Part::Beta),
        ("RC", Part::ReleaseCandidate),
        ("rc", Part::ReleaseCandidate),
        ("pl", Part::Patch),
        ("p", Part::Patch),
    ];
    forms
        .iter()
        .find(|(prefix, _)| segment.starts_with(prefix))
        .map_or(Part::Word, |(_, part)| *part)
}

/// PHP's `version_compare()` on canonical segments: pairwise, and where one version is
/// longer its first extra segment is compared with a missing one (so `1.0` > `1.0-RC1`
/// but `1.0` < `1.0.1` and `1.0` < `1.0-pl1`). An empty version is the smallest, as in
/// PHP. Checked against PHP 8.2's `version_compare()` on every pair of 43 versions;
/// differs only on strings ending in punctuation, which PHP does not even order
/// consistently (it calls `1.0.` smaller than itself).
fn compare_parts(a: &[Part], b: &[Part]) -> Ordering {
    match (a.is_empty(), b.is_empty()) {
        (true, true) => return Ordering::Equal,
        (true, false) => return Ordering::Less,
        (false, true) => return Ordering::Greater,
        (false, false) => {}
    }
    let missing = Part::Missing;
    (0..a.len().max(b.len()))
        .map(|i| {
            a.get(i)
                .unwrap_or(&missing)
                .cmp(b.get(i).unwrap_or(&missing))
        })
        .find(|ordering| ordering.is_ne())
        .unwrap_or(Ordering::Equal)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::minify::expand;
    use serde_json::json;

    fn version(value: Value) -> VersionMap {
        serde_json::from_value(value).unwrap()
    }

    fn tag(pretty: &str, normalized: &str) -> VersionMap {
        version(json!({
            "name": "acme/lib",
            "version": pretty,
            "version_normalized": normalized,
            "require": {"php": ">=8.1"},
            "dist": {"type": "zip", "url": format!("https://repo.example/acme/lib/{pretty}.zip"), "reference": pretty, "shasum": ""},
        }))
    }

    /// Parses a document, checks its envelope and returns the expanded versions.
    fn read(document: &[u8], package: &str) -> Vec<VersionMap> {
        let value: Value = serde_json::from_slice(document).unwrap();
        assert_eq!(value["minified"], "composer/2.0");
        let packages = value["packages"].as_object().unwrap();
        assert_eq!(packages.len(), 1);
        let versions = packages[package].as_array().unwrap();
        expand(
            versions
                .iter()
                .map(|v| v.as_object().unwrap().clone())
                .collect(),
        )
    }

    fn versions_of(document: &[u8]) -> Vec<String> {
        read(document, "acme/lib")
            .iter()
            .map(|v| v["version"].as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn empty_package_names_itself_with_no_versions() {
        let documents = render("acme/lib", Vec::new());
        let expected = br#"{"packages":{"acme/lib":[]},"minified":"composer/2.0"}"#;
        assert_eq!(documents.tagged, expected);
        assert_eq!(documents.dev, expected);
    }

    #[test]
    fn composer_1_documents_hold_every_version_whole_by_name() {
        let mut release = tag("1.0.0", "1.0.0.0");
        release.insert("description".into(), json!("Only on 1.0.0"));
        let versions = vec![
            tag("dev-main", "dev-main"),
            release.clone(),
            tag("1.1.0", "1.1.0.0"),
        ];
        let document: Value = serde_json::from_slice(&render_v1("acme/lib", versions)).unwrap();
        assert_eq!(document.as_object().unwrap().len(), 1, "no `minified`");
        let by_version = document["packages"]["acme/lib"].as_object().unwrap();
        let names: Vec<&str> = by_version.keys().map(String::as_str).collect();
        assert_eq!(names, ["1.1.0", "1.0.0", "dev-main"]);
        assert_eq!(by_version["1.0.0"], Value::Object(release));
        assert_eq!(
            render_v1("acme/lib", Vec::new()),
            br#"{"packages":{"acme/lib":{}}}"#
        );
    }

    #[test]
    fn splits_tags_from_branches() {
        let documents = render(
            "acme/lib",
            vec![
                tag("dev-main", "dev-main"),
                tag("1.0.0", "1.0.0.0"),
                tag("2.x-dev", "2.9999999.9999999.9999999-dev"),
                tag("v1.1.0-RC1", "1.1.0.0-RC1"),
                tag("1.2.0-dev", "1.2.0.0-dev"),
            ],
        );
        assert_eq!(versions_of(&documents.tagged), ["v1.1.0-RC1", "1.0.0"]);
        assert_eq!(
            versions_of(&documents.dev),
            ["2.x-dev", "1.2.0-dev", "dev-main"]
        );
    }

    #[test]
    fn tags_are_newest_first_with_stabilities_in_order() {
        let input = [
            ("1.0.0-alpha1", "1.0.0.0-alpha1"),
            ("1.0.0", "1.0.0.0"),
            ("1.0.0-beta2", "1.0.0.0-beta2"),
            ("10.0.0", "10.0.0.0"),
            ("1.0.0-RC1", "1.0.0.0-RC1"),
            ("1.0.0-patch1", "1.0.0.0-patch1"),
            ("1.0.0-beta10", "1.0.0.0-beta10"),
            ("2.0.0", "2.0.0.0"),
            ("1.0.1", "1.0.1.0"),
            ("2020.01.01", "2020.01.01.0"),
            ("0.9", "0.9.0.0"),
        ];
        let versions = input.iter().map(|(p, n)| tag(p, n)).collect();
        let documents = render("acme/lib", versions);
        assert_eq!(
            versions_of(&documents.tagged),
            [
                "2020.01.01",
                "10.0.0",
                "2.0.0",
                "1.0.1",
                "1.0.0-patch1",
                "1.0.0",
                "1.0.0-RC1",
                "1.0.0-beta10",
                "1.0.0-beta2",
                "1.0.0-alpha1",
                "0.9",
            ]
        );
    }

    #[test]
    fn branches_sort_by_alias_and_default_branch_first() {
        let mut main = tag("dev-main", "dev-main");
        main.insert("default-branch".into(), json!(true));
        let mut aliased = tag("dev-next", "dev-next");
        aliased.insert(
            "extra".into(),
            json!({"branch-alias": {"dev-next": "3.x-dev"}}),
        );
        let versions = vec![
            tag("dev-feature", "dev-feature"),
            tag("1.x-dev", "1.9999999.9999999.9999999-dev"),
            aliased,
            main,
            tag("2.1.x-dev", "2.1.9999999.9999999-dev"),
        ];
        let documents = render("acme/lib", versions);
        assert_eq!(
            versions_of(&documents.dev),
            [
                "dev-main",
                "dev-next",
                "2.1.x-dev",
                "1.x-dev",
                "dev-feature"
            ]
        );
    }

    #[test]
    fn aliased_default_branch_sorts_by_its_alias() {
        let mut main = tag("dev-main", "dev-main");
        main.insert("default-branch".into(), json!(true));
        main.insert(
            "extra".into(),
            json!({"branch-alias": {"dev-main": "1.x-dev"}}),
        );
        let versions = vec![main, tag("2.x-dev", "2.9999999.9999999.9999999-dev")];
        let documents = render("acme/lib", versions);
        assert_eq!(versions_of(&documents.dev), ["2.x-dev", "dev-main"]);
    }

    #[test]
    fn equal_versions_sort_by_release_time_then_name() {
        let at = |name: &str, time: Option<&str>| {
            let mut v = tag(name, name);
            if let Some(time) = time {
                v.insert("time".into(), json!(time));
            }
            v
        };
        let versions = vec![
            at("dev-b", None),
            at("dev-old", Some("2020-01-01T00:00:00+00:00")),
            at("dev-a", None),
            at("dev-new", Some("2020-01-01T01:00:00+02:00")),
            at("dev-newest", Some("2020-01-01T00:30:00+00:00")),
        ];
        let documents = render("acme/lib", versions);
        assert_eq!(
            versions_of(&documents.dev),
            ["dev-newest", "dev-old", "dev-new", "dev-a", "dev-b"]
        );
    }

    #[test]
    fn documents_expand_back_to_the_inputs() {
        let mut inputs = vec![
            tag("1.0.0", "1.0.0.0"),
            tag("1.1.0", "1.1.0.0"),
            tag("dev-main", "dev-main"),
        ];
        inputs[1].insert("require".into(), json!({"php": ">=8.2", "psr/log": "^3"}));
        inputs[0].insert("description".into(), json!("Only on 1.0.0"));
        let documents = render("acme/lib", inputs.clone());
        let tagged = read(&documents.tagged, "acme/lib");
        assert_eq!(tagged, vec![inputs[1].clone(), inputs[0].clone()]);
        assert_eq!(read(&documents.dev, "acme/lib"), vec![inputs[2].clone()]);
        let raw: Value = serde_json::from_slice(&documents.tagged).unwrap();
        let second = raw["packages"]["acme/lib"][1].as_object().unwrap();
        assert!(!second.contains_key("name"), "unchanged keys are left out");
        assert!(!documents.tagged.contains(&b'\n'), "documents are compact");
    }

    #[test]
    fn php_version_compare_rules() {
        let ascending = [
            "",
            "1.0-foo",
            "1.0-dev",
            "1.0-a",
            "1.0-alpha2",
            "1.0-b1",
            "1.0-beta2",
            "1.0-RC1",
            "1.0",
            "1.0.0",
            "1.0.1",
            "1.0-pl1",
            "1.0-patch2",
            "1.1",
            "1.10",
            "99999999999999999999999",
        ];
        for pair in ascending.windows(2) {
            let (low, high) = (version_parts(pair[0]), version_parts(pair[1]));
            assert_eq!(compare_parts(&low, &high), Ordering::Less, "{pair:?}");
            assert_eq!(compare_parts(&high, &low), Ordering::Greater, "{pair:?}");
        }
        let same = [
            ("1.0.0.0-RC1", "1.0.0.0rc1"),
            ("1-0_0+0", "1.0.0.0"),
            ("1.0-b", "1.0-beta"),
        ];
        for (a, b) in same {
            assert_eq!(
                compare_parts(&version_parts(a), &version_parts(b)),
                Ordering::Equal,
                "{a} {b}"
            );
        }
    }
}
