//! The versions a git repository offers, derived from its branches and tags exactly as
//! Composer's own VCS repository derives them. No I/O: the caller reads the refs and
//! the composer.json at each of them.
//!
//! Mirrors `Composer\Repository\VcsRepository::initialize()` of Composer 2.5.5 (the
//! version Debian ships and the parity tests run), with `GitDriver` and `VcsDriver::
//! getBaseComposerInformation()` for reading composer.json and `ArrayLoader::load()` for
//! what makes a version unloadable:
//!
//! * Tags first, in refname order. `release-` is removed wherever it occurs in the name;
//!   the rest must normalize as a version. A composer.json `version` overrides the tag
//!   name but must normalize to the same version (and neither may carry `dev`). Two tags
//!   with equal versions (by PHP's `version_compare`, so `1.0.0` equals `v1.0.0` and
//!   `2024.1.1` equals `2024.01.01`) keep the first one in refname order.
//! * Then branches, the default branch first. `2.x`, `1.0`, `v3` become `2.x-dev`,
//!   `1.0.x-dev`, `v3.x-dev`; any other name `dev-NAME`. Only the default branch gets
//!   `default-branch`.
//! * Every ref takes the package name of the default branch, whatever its own
//!   composer.json says: Composer keeps old tags installable under a renamed package.
//!   Such a version carries a notice saying so.
//! * A ref is skipped, with Composer's reason, when its composer.json is missing, empty
//!   (`{}`, `[]`, `0`, whitespace), not JSON, or refused by `ArrayLoader` (an invalid
//!   link constraint, a malformed `source` or `dist`).
//!
//! Where Composer itself would stop with a PHP `TypeError` (a non-string `type` or
//! `version`, a number as `bin`, ...) the ref is skipped instead, with the reason. Two
//! branches whose versions are equal (`1.0` and `v1.0`) are a deliberate difference:
//! Composer keeps both, which no repository can publish as distinct versions, so the
//! second one (in the order above) is skipped.

use std::cmp::Ordering;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Map, Value};

use crate::constraint::php_version_compare;
use crate::manifest::Manifest;
use crate::package_name::PackageName;
use crate::version;

/// `VersionParser::DEFAULT_BRANCH_ALIAS`.
const DEFAULT_BRANCH_ALIAS: &str = "9999999-dev";

/// `ArrayLoader::load()`'s link sections, in `BasePackage::$supportedLinkTypes` order.
const LINK_SECTIONS: [&str; 5] = ["require", "conflict", "provide", "replace", "require-dev"];

/// `{[.-]?dev$}i`, keeping the newline PCRE's `$` lets through.
static DEV_SUFFIX: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i-u)[.-]?dev(\n?)\z").expect("dev suffix regex compiles"));

/// `{(^dev-|[.-]?dev$)}i`.
static DEV_AFFIX: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i-u)^dev-|[.-]?dev(\n?)\z").expect("dev affix regex compiles"));

/// `{(\.9{7})+}`: the numeric wildcard of a branch version, printed back as `.x`.
static BRANCH_WILDCARD: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?:\.9{7})+").expect("wildcard regex compiles"));

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefKind {
    Tag,
    Branch,
}

impl RefKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            RefKind::Tag => "tag",
            RefKind::Branch => "branch",
        }
    }
}

/// A branch or tag and what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitRef {
    /// The short name: `v1.0.0`, `main`, `feature/x`.
    pub name: String,
    pub kind: RefKind,
    /// The commit the ref points at (annotated tags peeled).
    pub commit: String,
    /// When the commit was authored, in seconds since the Unix epoch (what Composer's
    /// `git log -1 --format=%at` gives).
    pub time: Option<i64>,
    /// composer.json at that commit; `None` when there is none. Shared: refs at commits
    /// with the same file hold one copy.
    pub composer_json: Option<std::sync::Arc<[u8]>>,
}

/// One version of the package, ready to publish.
#[derive(Debug, Clone, PartialEq)]
pub struct DerivedVersion {
    pub ref_name: String,
    pub kind: RefKind,
    /// The pretty version: `v1.0.0`, `2.x-dev`, `dev-main`.
    pub version: String,
    pub version_normalized: String,
    pub commit: String,
    /// The commit's author time; composer.json's own `time`, when it has one, is kept in
    /// `manifest` and is what Composer shows as the release date.
    pub time: Option<i64>,
    /// composer.json as published ([`Manifest::for_metadata`]), with `name` set to the
    /// package's name; `extra.branch-alias` stays, since clients read it from metadata.
    pub manifest: Map<String, Value>,
    pub is_default_branch: bool,
    /// What is worth telling the package's owner about this version although it is
    /// published, e.g. that its composer.json names another package.
    pub notices: Vec<String>,
}

/// Why Composer would not take a ref's composer.json: its own words, as the reason a
/// ref is skipped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Rejection(pub String);

impl Rejection {
    fn new(reason: &str) -> Self {
        Rejection(reason.to_owned())
    }
}

/// A [`Rejection`] with a formatted reason.
macro_rules! reject {
    ($($arg:tt)*) => {
        Rejection(format!($($arg)*))
    };
}

/// A ref that gives no version, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedRef {
    pub ref_name: String,
    pub kind: RefKind,
    pub reason: String,
}

/// Derives the versions `package` has at `refs`, in Composer's order (tags by name, then
/// the default branch, then the other branches by name), and the refs that give none.
pub fn derive_versions(
    package: &str,
    default_branch: &str,
    refs: &[GitRef],
) -> (Vec<DerivedVersion>, Vec<SkippedRef>) {
    let mut tags: Vec<&GitRef> = refs.iter().filter(|r| r.kind == RefKind::Tag).collect();
    // git lists refs in byte order, and Composer takes them as git lists them.
    tags.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
    let mut branches: Vec<&GitRef> = refs.iter().filter(|r| r.kind == RefKind::Branch).collect();
    branches.sort_by_key(|r| (r.name != default_branch, r.name.as_bytes()));

    let mut versions: Vec<DerivedVersion> = Vec::new();
    let mut skipped = Vec::new();
    for git_ref in tags.into_iter().chain(branches) {
        let derived = match git_ref.kind {
            RefKind::Tag => derive_tag(package, git_ref, &versions),
            RefKind::Branch => {
                derive_branch(package, git_ref, git_ref.name == default_branch, &versions)
            }
        };
        match derived {
            Ok(version) => versions.push(version),
            Err(Rejection(reason)) => skipped.push(SkippedRef {
                ref_name: git_ref.name.clone(),
                kind: git_ref.kind,
                reason,
            }),
        }
    }
    (versions, skipped)
}

/// The package name in the default branch's composer.json, which names every version:
/// it must be there and be a valid, lowercase package name.
pub fn package_name_of(default_branch_manifest: &[u8]) -> Result<PackageName, Rejection> {
    let fields = match read_composer_json(Some(default_branch_manifest)) {
        ComposerJson::Missing => {
            return Err(Rejection::new(
                "composer.json is empty (no JSON object with fields)",
            ));
        }
        ComposerJson::Invalid(reason) => return Err(Rejection(reason)),
        ComposerJson::Fields(fields) => fields,
    };
    let name = match fields.get("name") {
        Some(Value::String(name)) if !is_php_empty_string(name) => name,
        Some(Value::String(_) | Value::Null) | None => {
            return Err(Rejection::new("composer.json has no \"name\""));
        }
        Some(other) => {
            return Err(reject!(
                "composer.json \"name\" must be a string, found {}",
                json_type(other)
            ));
        }
    };
    PackageName::parse(name).map_err(|e| reject!("composer.json \"name\": {e}"))
}

/// `VcsRepository::initialize()`'s loop body for one tag.
fn derive_tag(
    package: &str,
    git_ref: &GitRef,
    earlier: &[DerivedVersion],
) -> Result<DerivedVersion, Rejection> {
    let tag = git_ref.name.replace("release-", "");
    let parsed_tag = version::normalize(&tag).map_err(|e| reject!("invalid tag name: {e}"))?;
    let data = composer_fields(git_ref)?;

    // A manually versioned package; otherwise the version is the tag's.
    let (pretty, normalized) = match data.get("version") {
        None | Some(Value::Null) => (tag.clone(), parsed_tag.clone()),
        Some(Value::String(declared)) => {
            let normalized = version::normalize(declared)
                .map_err(|e| reject!("composer.json \"version\": {e}"))?;
            (declared.clone(), normalized)
        }
        Some(other) => return Err(type_error("version", "a string", other)),
    };
    // Tags never carry a dev flag.
    let pretty = DEV_SUFFIX.replace(&pretty, "$1").into_owned();
    let normalized = DEV_AFFIX.replace_all(&normalized, "$1").into_owned();

    if normalized != parsed_tag {
        return Err(if DEV_AFFIX.is_match(&parsed_tag) {
            Rejection::new("invalid tag name, tags can not use dev prefixes or suffixes")
        } else {
            reject!("tag ({parsed_tag}) does not match version ({normalized}) in composer.json")
        });
    }
    if let Some(existing) = earlier
        .iter()
        .find(|v| php_version_compare(&v.version_normalized, &normalized) == Ordering::Equal)
    {
        return Err(reject!(
            "it conflicts with another tag ({}) as both resolve to {normalized} internally",
            existing.version
        ));
    }
    loader_rejection(&data, &pretty)?;
    Ok(derived(package, git_ref, pretty, normalized, data, false))
}

/// `VcsRepository::initialize()`'s loop body for one branch.
fn derive_branch(
    package: &str,
    git_ref: &GitRef,
    is_default_branch: bool,
    earlier: &[DerivedVersion],
) -> Result<DerivedVersion, Rejection> {
    let branch = &git_ref.name;
    // GitDriver::getBranches() drops names git could take for options.
    if branch.starts_with('-') {
        return Err(Rejection::new("invalid branch name"));
    }
    let parsed_branch = version::normalize_branch(branch);
    // A name that breaks constraint syntax (`a,b`, `x|y`) could never be required.
    if version::parse_constraints(&parsed_branch).is_err() {
        return Err(Rejection::new("invalid branch name"));
    }
    let pretty = if parsed_branch.starts_with("dev-") || parsed_branch == DEFAULT_BRANCH_ALIAS {
        format!("dev-{branch}")
    } else {
        let prefix = if branch.starts_with('v') { "v" } else { "" };
        format!(
            "{prefix}{}",
            BRANCH_WILDCARD.replace_all(&parsed_branch, ".x")
        )
    };
    let data = composer_fields(git_ref)?;
    if let Some(existing) = earlier
        .iter()
        .find(|v| v.version_normalized == parsed_branch)
    {
        return Err(reject!(
            "it conflicts with the branch {} as both resolve to {parsed_branch}",
            existing.ref_name
        ));
    }
    loader_rejection(&data, &pretty)?;
    Ok(derived(
        package,
        git_ref,
        pretty,
        parsed_branch,
        data,
        is_default_branch,
    ))
}

fn derived(
    package: &str,
    git_ref: &GitRef,
    version: String,
    version_normalized: String,
    mut data: Map<String, Value>,
    is_default_branch: bool,
) -> DerivedVersion {
    // VcsRepository::preProcess(): the default branch's name for every version.
    let mut notices = Vec::new();
    if let Some(Value::String(own_name)) = data.get("name")
        && own_name != package
    {
        notices.push(format!(
            "composer.json names the package {own_name}; published as {package}, the name on the default branch"
        ));
    }
    data.insert("name".to_owned(), Value::String(package.to_owned()));
    // An empty `time` is replaced by the commit date (VcsDriver), i.e. `DerivedVersion::time`.
    if data.get("time").is_some_and(is_php_empty) {
        data.remove("time");
    }
    DerivedVersion {
        ref_name: git_ref.name.clone(),
        kind: git_ref.kind,
        version,
        version_normalized,
        commit: git_ref.commit.clone(),
        time: git_ref.time,
        manifest: Manifest::from_fields(data).for_metadata(),
        is_default_branch,
        notices,
    }
}

enum ComposerJson {
    /// No file, or a file Composer treats as none.
    Missing,
    Invalid(String),
    Fields(Map<String, Value>),
}

/// `VcsDriver::getBaseComposerInformation()`: what Composer makes of the bytes.
fn read_composer_json(bytes: Option<&[u8]>) -> ComposerJson {
    let Some(bytes) = bytes else {
        return ComposerJson::Missing;
    };
    // `if (!trim($content))`: whitespace and "0" count as no file.
    let trimmed = php_trim_bytes(bytes);
    if trimmed.is_empty() || trimmed == b"0" {
        return ComposerJson::Missing;
    }
    if bytes.starts_with(b"\xEF\xBB\xBF") {
        return ComposerJson::Invalid(
            "composer.json is not valid JSON: it starts with a UTF-8 byte-order mark".to_owned(),
        );
    }
    match serde_json::from_slice::<Value>(bytes) {
        Err(e) => ComposerJson::Invalid(format!("composer.json is not valid JSON: {e}")),
        Ok(Value::Object(fields)) if !fields.is_empty() => ComposerJson::Fields(fields),
        // PHP decodes a list to an array too, keyed 0, 1, ...
        Ok(Value::Array(items)) if !items.is_empty() => ComposerJson::Fields(
            items
                .into_iter()
                .enumerate()
                .map(|(index, item)| (index.to_string(), item))
                .collect(),
        ),
        // `{}`, `[]`, a string, a number, `null`: not an array with something in it.
        Ok(_) => ComposerJson::Missing,
    }
}

fn composer_fields(git_ref: &GitRef) -> Result<Map<String, Value>, Rejection> {
    match read_composer_json(git_ref.composer_json.as_deref()) {
        ComposerJson::Missing => Err(Rejection::new("no composer.json")),
        ComposerJson::Invalid(reason) => Err(Rejection(reason)),
        ComposerJson::Fields(fields) => Ok(fields),
    }
}

/// Why `ArrayLoader::load()` would not load `data` as version `pretty_version`: the
/// exceptions it throws, plus the `TypeError`s and (with Composer's error handler)
/// warnings its strictly typed calls raise on values of the wrong type.
fn loader_rejection(data: &Map<String, Value>, pretty_version: &str) -> Result<(), Rejection> {
    for section in LINK_SECTIONS {
        let Some(links) = data.get(section).and_then(php_array) else {
            continue;
        };
        for (target, constraint) in links {
            let Value::String(constraint) = constraint else {
                continue;
            };
            let parsed = if constraint == "self.version" {
                pretty_version
            } else {
                constraint
            };
            if let Err(e) = version::parse_constraints(parsed) {
                return Err(reject!("{section}.{target}: {e}"));
            }
        }
    }
    let set = |key: &str| data.get(key).filter(|v| !v.is_null());
    for key in ["type", "target-dir", "installation-source"] {
        if let Some(value) = set(key).filter(|v| !v.is_string()) {
            return Err(type_error(key, "a string", value));
        }
    }
    if let Some(bin) = set("bin") {
        let entries: Vec<&Value> =
            php_array(bin).map_or(vec![bin], |b| b.map(|(_, v)| v).collect());
        if let Some(bad) = entries.into_iter().find(|v| !v.is_string()) {
            return Err(type_error("bin", "a string or a list of strings", bad));
        }
    }
    if let Some(source) = set("source") {
        check_package_location("source", source, &["type", "url", "reference"])?;
    }
    if let Some(dist) = set("dist") {
        check_package_location("dist", dist, &["type", "url"])?;
    }
    if let Some(suggest) = data.get("suggest").and_then(php_array)
        && let Some((target, reason)) = suggest.into_iter().find(|(_, v)| !v.is_string())
    {
        return Err(type_error(&format!("suggest.{target}"), "a string", reason));
    }
    for key in ["autoload", "autoload-dev", "include-path", "support"] {
        if let Some(value) = set(key).filter(|v| !is_php_array(v)) {
            return Err(type_error(key, "an object or array", value));
        }
    }
    for key in ["time", "notification-url"] {
        if let Some(value) = data.get(key).filter(|v| !is_php_empty(v) && !v.is_string()) {
            return Err(type_error(key, "a string", value));
        }
    }
    if let Some(archive) = data.get("archive").and_then(Value::as_object) {
        if let Some(name) = archive
            .get("name")
            .filter(|v| !is_php_empty(v) && !v.is_string())
        {
            return Err(type_error("archive.name", "a string", name));
        }
        if let Some(exclude) = archive
            .get("exclude")
            .filter(|v| !is_php_empty(v) && !is_php_array(v))
        {
            return Err(type_error("archive.exclude", "an array", exclude));
        }
    }
    if let Some(keywords) = data
        .get("keywords")
        .filter(|v| !is_php_empty(v))
        .and_then(php_array)
        && let Some((_, keyword)) = keywords.into_iter().find(|(_, v)| is_php_array(v))
    {
        return Err(type_error("keywords", "a list of strings", keyword));
    }
    if let Some(abandoned) = set("abandoned").filter(|v| !v.is_string() && !v.is_boolean()) {
        return Err(type_error("abandoned", "a boolean or a string", abandoned));
    }
    check_branch_aliases(data, pretty_version)
}

/// `source` and `dist` given in composer.json replace the repository's own, so the
/// loader insists on their shape.
fn check_package_location(key: &str, value: &Value, required: &[&str]) -> Result<(), Rejection> {
    let fields = value.as_object();
    let has = |field: &str| {
        fields
            .and_then(|f| f.get(field))
            .is_some_and(|v| !v.is_null())
    };
    if !required.iter().all(|field| has(field)) {
        return Err(reject!(
            "composer.json \"{key}\" must be an object with {}",
            required.join(", ")
        ));
    }
    let fields = fields.expect("checked to be an object");
    for field in ["type", "url"] {
        if let Some(value) = fields.get(field).filter(|v| !v.is_string()) {
            return Err(type_error(&format!("{key}.{field}"), "a string", value));
        }
    }
    if let Some(value) = fields.get("reference").filter(|v| is_php_array(v)) {
        return Err(type_error(&format!("{key}.reference"), "a string", value));
    }
    if let Some(value) = fields
        .get("shasum")
        .filter(|v| key == "dist" && !v.is_null() && !v.is_string())
    {
        return Err(type_error("dist.shasum", "a string", value));
    }
    if let Some(value) = fields
        .get("mirrors")
        .filter(|v| !v.is_null() && !is_php_array(v))
    {
        return Err(type_error(&format!("{key}.mirrors"), "an array", value));
    }
    Ok(())
}

/// `ArrayLoader::getBranchAlias()` reads `extra.branch-alias` of dev versions up to the
/// first alias that applies, and fails on a target that is not a string on the way.
fn check_branch_aliases(data: &Map<String, Value>, pretty_version: &str) -> Result<(), Rejection> {
    if !pretty_version.starts_with("dev-") && !pretty_version.ends_with("-dev") {
        return Ok(());
    }
    let Some(aliases) = data
        .get("extra")
        .and_then(php_array)
        .and_then(|mut extra| extra.find(|(key, _)| key == "branch-alias"))
        .and_then(|(_, aliases)| php_array(aliases))
    else {
        return Ok(());
    };
    for (source, target) in aliases {
        let Value::String(target) = target else {
            return Err(type_error(
                &format!("extra.branch-alias.{source}"),
                "a string",
                target,
            ));
        };
        if branch_alias_applies(&source, target, pretty_version) {
            break;
        }
    }
    Ok(())
}

/// One step of `ArrayLoader::getBranchAlias()`: whether `source => target` aliases
/// `version`.
fn branch_alias_applies(source: &str, target: &str, version: &str) -> bool {
    let Some(target_version) = target.strip_suffix("-dev") else {
        return false;
    };
    let validated = if target == DEFAULT_BRANCH_ALIAS {
        DEFAULT_BRANCH_ALIAS.to_owned()
    } else {
        version::normalize_branch(target_version)
    };
    if !validated.ends_with("-dev") || !version.eq_ignore_ascii_case(source) {
        return false;
    }
    match (
        version::parse_numeric_alias_prefix(source),
        version::parse_numeric_alias_prefix(target),
    ) {
        (Some(source_prefix), Some(target_prefix)) => target_prefix
            .to_ascii_lowercase()
            .starts_with(&source_prefix.to_ascii_lowercase()),
        _ => true,
    }
}

fn type_error(field: &str, expected: &str, found: &Value) -> Rejection {
    reject!(
        "composer.json \"{field}\" must be {expected}, found {} (Composer fails on it)",
        json_type(found)
    )
}

/// A JSON object or list as PHP sees it after `json_decode(..., true)`: key/value pairs,
/// lists keyed by their index.
fn php_array(value: &Value) -> Option<Box<dyn Iterator<Item = (String, &Value)> + '_>> {
    match value {
        Value::Object(fields) => Some(Box::new(fields.iter().map(|(k, v)| (k.clone(), v)))),
        Value::Array(items) => Some(Box::new(
            items.iter().enumerate().map(|(i, v)| (i.to_string(), v)),
        )),
        _ => None,
    }
}

fn is_php_array(value: &Value) -> bool {
    value.is_object() || value.is_array()
}

/// PHP's `empty()`.
fn is_php_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => is_php_empty_string(s),
        Value::Array(items) => items.is_empty(),
        Value::Object(fields) => fields.is_empty(),
    }
}

fn is_php_empty_string(s: &str) -> bool {
    s.is_empty() || s == "0"
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// PHP's `trim()` on bytes.
fn php_trim_bytes(bytes: &[u8]) -> &[u8] {
    let is_space = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\0' | b'\x0B');
    let start = bytes
        .iter()
        .position(|b| !is_space(b))
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !is_space(b))
        .map_or(start, |i| i + 1);
    &bytes[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const PACKAGE: &str = "acme/lib";

    fn manifest(extra: &Value) -> Vec<u8> {
        let mut fields = json!({"name": PACKAGE});
        fields
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        serde_json::to_vec(&fields).unwrap()
    }

    fn tag(name: &str, composer_json: Option<Vec<u8>>) -> GitRef {
        git_ref(name, RefKind::Tag, composer_json)
    }

    fn branch(name: &str, composer_json: Option<Vec<u8>>) -> GitRef {
        git_ref(name, RefKind::Branch, composer_json)
    }

    fn git_ref(name: &str, kind: RefKind, composer_json: Option<Vec<u8>>) -> GitRef {
        let composer_json = composer_json.map(Into::into);
        GitRef {
            name: name.to_owned(),
            kind,
            commit: format!("{:0>40}", name.len()),
            time: Some(1_700_000_000),
            composer_json,
        }
    }

    fn plain() -> Vec<u8> {
        manifest(&json!({}))
    }

    /// A ref's (version, normalized), or the start of its skip reason.
    type Expected = Result<(&'static str, &'static str), &'static str>;

    fn check(name: &str, outcome: &Result<(String, String), SkippedRef>, expected: &Expected) {
        match (expected, outcome) {
            (Ok(pair), Ok((version, normalized))) => {
                assert_eq!(*pair, (version.as_str(), normalized.as_str()), "{name}");
            }
            (Err(reason), Err(got)) => {
                assert!(got.reason.starts_with(reason), "{name}: {}", got.reason);
            }
            _ => panic!("{name}: expected {expected:?}, got {outcome:?}"),
        }
    }

    /// Derives one ref alone: its (version, normalized) or its skip reason.
    fn one(git_ref: GitRef) -> Result<(String, String), SkippedRef> {
        let (versions, skipped) = derive_versions(PACKAGE, "main", &[git_ref]);
        match (versions.as_slice(), skipped.as_slice()) {
            ([v], []) => Ok((v.version.clone(), v.version_normalized.clone())),
            ([], [s]) => Err(s.clone()),
            other => panic!("expected one outcome, got {other:?}"),
        }
    }

    #[test]
    fn tag_names_become_versions_or_are_skipped() {
        let cases: &[(&str, Expected)] = &[
            ("v1.0", Ok(("v1.0", "1.0.0.0"))),
            ("1.0.0", Ok(("1.0.0", "1.0.0.0"))),
            ("v1.2.3.4", Ok(("v1.2.3.4", "1.2.3.4"))),
            ("1.0.0-rc1", Ok(("1.0.0-rc1", "1.0.0.0-RC1"))),
            ("1.0.0-RC1", Ok(("1.0.0-RC1", "1.0.0.0-RC1"))),
            ("1.0.0-beta.2", Ok(("1.0.0-beta.2", "1.0.0.0-beta2"))),
            ("2.0.0-alpha", Ok(("2.0.0-alpha", "2.0.0.0-alpha"))),
            ("1.0.0-p1", Ok(("1.0.0-p1", "1.0.0.0-patch1"))),
            ("1.0.0+build.5", Ok(("1.0.0+build.5", "1.0.0.0"))),
            ("release-2.0", Ok(("2.0", "2.0.0.0"))),
            ("v2.0-release-candidate", Err("invalid tag name")),
            ("20240101", Ok(("20240101", "20240101"))),
            ("2024.01.01", Ok(("2024.01.01", "2024.01.01.0"))),
            ("2024-01-01", Ok(("2024-01-01", "2024.01.01"))),
            ("latest", Err("invalid tag name")),
            ("foo", Err("invalid tag name")),
            (
                "1.0.0-dev",
                Err("invalid tag name, tags can not use dev prefixes or suffixes"),
            ),
            (
                "1.x-dev",
                Err("invalid tag name, tags can not use dev prefixes or suffixes"),
            ),
            (
                "dev-foo",
                Err("invalid tag name, tags can not use dev prefixes or suffixes"),
            ),
            (
                "master",
                Err("invalid tag name, tags can not use dev prefixes or suffixes"),
            ),
        ];
        for (name, expected) in cases {
            let outcome = one(tag(name, Some(plain())));
            check(name, &outcome, expected);
        }
    }

    #[test]
    fn composer_json_version_must_match_the_tag() {
        let with_version = |v: &str| Some(manifest(&json!({"version": v})));
        let cases: &[(&str, &str, Expected)] = &[
            // The declared spelling wins when it means the same version.
            ("v1.0.0", "1.0.0", Ok(("1.0.0", "1.0.0.0"))),
            ("1.0.0", "1.0", Ok(("1.0", "1.0.0.0"))),
            // A dev flag in composer.json is dropped on tags.
            ("1.0.0", "1.0.0-dev", Ok(("1.0.0", "1.0.0.0"))),
            (
                "2.0.0",
                "1.0.0",
                Err("tag (2.0.0.0) does not match version (1.0.0.0) in composer.json"),
            ),
            (
                "2.0.0",
                "not a version",
                Err("composer.json \"version\": invalid version string"),
            ),
        ];
        for (name, declared, expected) in cases {
            let outcome = one(tag(name, with_version(declared)));
            check(name, &outcome, expected);
        }
        let numeric = one(tag(
            "1.0.0",
            Some(br#"{"name":"acme/lib","version":1}"#.to_vec()),
        ));
        assert_eq!(
            numeric.unwrap_err().reason,
            "composer.json \"version\" must be a string, found a number (Composer fails on it)"
        );
        let null = one(tag(
            "1.0.0",
            Some(br#"{"name":"acme/lib","version":null}"#.to_vec()),
        ));
        assert_eq!(null.unwrap(), ("1.0.0".to_owned(), "1.0.0.0".to_owned()));
    }

    #[test]
    fn branch_names_become_dev_versions() {
        let cases: &[(&str, Expected)] = &[
            ("main", Ok(("dev-main", "dev-main"))),
            ("master", Ok(("dev-master", "dev-master"))),
            ("feature/x", Ok(("dev-feature/x", "dev-feature/x"))),
            ("2.x", Ok(("2.x-dev", "2.9999999.9999999.9999999-dev"))),
            ("1.0", Ok(("1.0.x-dev", "1.0.9999999.9999999-dev"))),
            ("v3", Ok(("v3.x-dev", "3.9999999.9999999.9999999-dev"))),
            ("V3", Ok(("3.x-dev", "3.9999999.9999999.9999999-dev"))),
            ("1.2.*", Ok(("1.2.x-dev", "1.2.9999999.9999999-dev"))),
            ("1.2.3.4", Ok(("1.2.3.4-dev", "1.2.3.4-dev"))),
            ("feat#1", Ok(("dev-feat#1", "dev-feat#1"))),
            ("a,b", Err("invalid branch name")),
            ("x|y", Err("invalid branch name")),
            ("-oops", Err("invalid branch name")),
        ];
        for (name, expected) in cases {
            let outcome = one(branch(name, Some(plain())));
            check(name, &outcome, expected);
        }
    }

    #[test]
    fn composer_json_that_composer_reads_as_absent() {
        for content in [
            &b""[..],
            b"  \n",
            b"0",
            b" 0 ",
            b"{}",
            b"[]",
            b"null",
            b"\"acme/lib\"",
            b"17",
        ] {
            let outcome = one(tag("1.0.0", Some(content.to_vec())));
            assert_eq!(
                outcome.unwrap_err().reason,
                "no composer.json",
                "{content:?}"
            );
        }
        assert_eq!(
            one(tag("1.0.0", None)).unwrap_err().reason,
            "no composer.json"
        );
        assert_eq!(
            one(branch("main", None)).unwrap_err().reason,
            "no composer.json"
        );
    }

    #[test]
    fn composer_json_that_is_not_json_is_skipped_with_the_parser_error() {
        for content in [
            &b"{\"name\": "[..],
            b"{'name': 'acme/lib'}",
            b"\xEF\xBB\xBF{\"a\":1}",
        ] {
            let reason = one(tag("1.0.0", Some(content.to_vec())))
                .unwrap_err()
                .reason;
            assert!(
                reason.starts_with("composer.json is not valid JSON: "),
                "{reason}"
            );
            let reason = one(branch("main", Some(content.to_vec())))
                .unwrap_err()
                .reason;
            assert!(
                reason.starts_with("composer.json is not valid JSON: "),
                "{reason}"
            );
        }
    }

    #[test]
    fn a_json_list_is_a_package_without_fields() {
        let (versions, skipped) =
            derive_versions(PACKAGE, "main", &[tag("1.0.0", Some(b"[1]".to_vec()))]);
        assert!(skipped.is_empty());
        assert_eq!(
            versions[0].manifest,
            json!({"name": PACKAGE}).as_object().unwrap().clone()
        );
    }

    #[test]
    fn what_the_loader_refuses() {
        let cases: &[(Value, &str)] = &[
            (
                json!({"require": {"php": "not a constraint"}}),
                "require.php: could not parse version constraint",
            ),
            (
                json!({"require-dev": {"x/y": "^^1"}}),
                "require-dev.x/y: could not parse version constraint",
            ),
            (
                json!({"conflict": ["nonsense constraint!"]}),
                "conflict.0: could not parse version constraint",
            ),
            (
                json!({"type": 1}),
                "composer.json \"type\" must be a string, found a number",
            ),
            (
                json!({"target-dir": []}),
                "composer.json \"target-dir\" must be a string",
            ),
            (
                json!({"bin": 1}),
                "composer.json \"bin\" must be a string or a list of strings",
            ),
            (
                json!({"bin": ["a", 2]}),
                "composer.json \"bin\" must be a string or a list of strings",
            ),
            (
                json!({"source": {"type": "git", "url": "x"}}),
                "composer.json \"source\" must be an object with type, url, reference",
            ),
            (
                json!({"source": "git"}),
                "composer.json \"source\" must be an object with type, url, reference",
            ),
            (
                json!({"dist": {"type": "zip"}}),
                "composer.json \"dist\" must be an object with type, url",
            ),
            (
                json!({"dist": {"type": "zip", "url": 1}}),
                "composer.json \"dist.url\" must be a string",
            ),
            (
                json!({"suggest": {"x/y": 1}}),
                "composer.json \"suggest.x/y\" must be a string",
            ),
            (
                json!({"autoload": "src/"}),
                "composer.json \"autoload\" must be an object or array",
            ),
            (
                json!({"support": "none"}),
                "composer.json \"support\" must be an object or array",
            ),
            (
                json!({"time": 1_700_000_000}),
                "composer.json \"time\" must be a string",
            ),
            (
                json!({"keywords": [["nested"]]}),
                "composer.json \"keywords\" must be a list of strings",
            ),
            (
                json!({"abandoned": 1}),
                "composer.json \"abandoned\" must be a boolean or a string",
            ),
        ];
        for (fields, reason) in cases {
            let got = one(tag("1.0.0", Some(manifest(fields))))
                .unwrap_err()
                .reason;
            assert!(got.starts_with(reason), "{fields}: {got}");
        }
    }

    #[test]
    fn what_the_loader_lets_through() {
        let cases = [
            // `self.version` is checked as the version itself.
            json!({"require": {"acme/other": "self.version"}}),
            // Non-string constraints are ignored, not refused.
            json!({"require": {"acme/other": 1}, "require-dev": "nonsense"}),
            json!({"type": "Weird Type", "license": 5, "keywords": ["a", 1]}),
            json!({"time": "not a date", "description": 7, "homepage": []}),
            json!({"time": 0, "notification-url": ""}),
            json!({"extra": "not an object", "authors": "me", "funding": 3}),
            json!({"source": {"type": "git", "url": "https://x", "reference": 12}}),
            json!({"dist": {"type": "zip", "url": "https://x/a.zip", "shasum": null}}),
            json!({"abandoned": "acme/new"}),
        ];
        for fields in cases {
            let outcome = one(tag("1.0.0", Some(manifest(&fields))));
            assert!(outcome.is_ok(), "{fields}: {outcome:?}");
        }
    }

    #[test]
    fn branch_alias_targets_are_read_up_to_the_one_that_applies() {
        let with_aliases =
            |aliases: Value| Some(manifest(&json!({"extra": {"branch-alias": aliases}})));
        let bad_first = one(branch(
            "main",
            with_aliases(json!({"dev-other": 1, "dev-main": "1.0.x-dev"})),
        ));
        assert!(
            bad_first
                .unwrap_err()
                .reason
                .starts_with("composer.json \"extra.branch-alias.dev-other\" must be a string")
        );
        let bad_after_match = one(branch(
            "main",
            with_aliases(json!({"dev-main": "1.0.x-dev", "dev-other": 1})),
        ));
        assert_eq!(
            bad_after_match.unwrap(),
            ("dev-main".to_owned(), "dev-main".to_owned())
        );
        // Tags never read aliases.
        let on_tag = one(tag("1.0.0", with_aliases(json!({"dev-main": 1}))));
        assert!(on_tag.is_ok());
    }

    #[test]
    fn branch_alias_stays_in_the_published_manifest() {
        let json = manifest(&json!({"extra": {"branch-alias": {"dev-main": "3.0.x-dev"}}}));
        let (versions, _) = derive_versions(PACKAGE, "main", &[branch("main", Some(json))]);
        assert_eq!(
            versions[0].manifest["extra"],
            json!({"branch-alias": {"dev-main": "3.0.x-dev"}})
        );
        assert!(versions[0].is_default_branch);
    }

    #[test]
    fn branch_alias_rules_of_the_loader() {
        // (source, target, version, applies)
        let cases = [
            ("dev-main", "3.0.x-dev", "dev-main", true),
            ("DEV-MAIN", "3.0.x-dev", "dev-main", true),
            ("dev-main", "3.0.x", "dev-main", false),
            ("dev-main", "foo-dev", "dev-main", false),
            ("dev-main", "9999999-dev", "dev-main", true),
            ("dev-other", "3.0.x-dev", "dev-main", false),
            ("2.x-dev", "2.1.x-dev", "2.x-dev", true),
            ("2.x-dev", "3.1.x-dev", "2.x-dev", false),
        ];
        for (source, target, version, applies) in cases {
            assert_eq!(
                branch_alias_applies(source, target, version),
                applies,
                "{source} => {target}"
            );
        }
    }

    #[test]
    fn every_version_takes_the_package_name() {
        let renamed = Some(br#"{"name":"acme/old-name","description":"old"}"#.to_vec());
        let nameless = Some(br#"{"description":"no name"}"#.to_vec());
        let (versions, skipped) = derive_versions(
            PACKAGE,
            "main",
            &[tag("1.0.0", renamed), tag("2.0.0", nameless)],
        );
        assert!(skipped.is_empty(), "{skipped:?}");
        assert!(versions.iter().all(|v| v.manifest["name"] == PACKAGE));
        assert_eq!(versions[0].manifest["description"], "old");
        assert_eq!(
            versions[0].notices,
            [
                "composer.json names the package acme/old-name; published as acme/lib, the name on the default branch"
            ]
        );
        assert!(versions[1].notices.is_empty());
    }

    #[test]
    fn equal_tags_keep_the_first_in_refname_order() {
        let refs = [
            tag("v1.0.0", Some(plain())),
            tag("1.0.0", Some(plain())),
            tag("1.0", Some(plain())),
            tag("1.0.0-rc1", Some(plain())),
            tag("1.0.0-RC01", Some(plain())),
            tag("2024.01.01", Some(plain())),
            tag("2024.1.1", Some(plain())),
            tag("release-3.0", Some(plain())),
            tag("3.0", Some(plain())),
        ];
        let (versions, skipped) = derive_versions(PACKAGE, "main", &refs);
        let kept: Vec<&str> = versions.iter().map(|v| v.ref_name.as_str()).collect();
        assert_eq!(kept, ["1.0", "1.0.0-RC01", "2024.01.01", "3.0"]);
        let reasons: Vec<(&str, &str)> = skipped
            .iter()
            .map(|s| (s.ref_name.as_str(), s.reason.as_str()))
            .collect();
        assert_eq!(
            reasons,
            [
                (
                    "1.0.0",
                    "it conflicts with another tag (1.0) as both resolve to 1.0.0.0 internally"
                ),
                (
                    "1.0.0-rc1",
                    "it conflicts with another tag (1.0.0-RC01) as both resolve to 1.0.0.0-RC1 internally"
                ),
                (
                    "2024.1.1",
                    "it conflicts with another tag (2024.01.01) as both resolve to 2024.1.1.0 internally"
                ),
                (
                    "release-3.0",
                    "it conflicts with another tag (3.0) as both resolve to 3.0.0.0 internally"
                ),
                (
                    "v1.0.0",
                    "it conflicts with another tag (1.0) as both resolve to 1.0.0.0 internally"
                ),
            ]
        );
    }

    #[test]
    fn equal_branches_keep_the_first() {
        let refs = [
            branch("v1.0", Some(plain())),
            branch("1.0", Some(plain())),
            branch("main", Some(plain())),
        ];
        let (versions, skipped) = derive_versions(PACKAGE, "main", &refs);
        let kept: Vec<&str> = versions.iter().map(|v| v.version.as_str()).collect();
        assert_eq!(kept, ["dev-main", "1.0.x-dev"]);
        assert_eq!(skipped[0].ref_name, "v1.0");
        assert_eq!(
            skipped[0].reason,
            "it conflicts with the branch 1.0 as both resolve to 1.0.9999999.9999999-dev"
        );
    }

    #[test]
    fn default_branch_comes_first_and_is_flagged() {
        let refs = [
            branch("2.x", Some(plain())),
            branch("main", Some(plain())),
            branch("feature/x", Some(plain())),
            tag("1.0.0", Some(plain())),
        ];
        let (versions, _) = derive_versions(PACKAGE, "main", &refs);
        let order: Vec<(&str, bool)> = versions
            .iter()
            .map(|v| (v.version.as_str(), v.is_default_branch))
            .collect();
        assert_eq!(
            order,
            [
                ("1.0.0", false),
                ("dev-main", true),
                ("2.x-dev", false),
                ("dev-feature/x", false),
            ]
        );
        let (numeric_default, _) = derive_versions(PACKAGE, "2.x", &refs);
        assert_eq!(numeric_default[1].version, "2.x-dev");
        assert!(numeric_default[1].is_default_branch);
    }

    #[test]
    fn published_manifest_drops_what_the_repository_owns() {
        let json = manifest(&json!({
            "version": "1.0.0",
            "default-branch": true,
            "time": "",
            "scripts": {"test": "phpunit"},
            "require": {"php": ">=8.1"},
        }));
        let (versions, _) = derive_versions(PACKAGE, "main", &[tag("1.0.0", Some(json))]);
        assert_eq!(
            Value::Object(versions[0].manifest.clone()),
            json!({"name": PACKAGE, "require": {"php": ">=8.1"}})
        );
        assert_eq!(versions[0].time, Some(1_700_000_000));
        let dated = manifest(&json!({"time": "2020-01-01"}));
        let (versions, _) = derive_versions(PACKAGE, "main", &[tag("1.0.0", Some(dated))]);
        assert_eq!(versions[0].manifest["time"], "2020-01-01");
    }

    #[test]
    fn package_name_comes_from_the_default_branch() {
        assert_eq!(
            package_name_of(br#"{"name":"acme/lib"}"#).unwrap().as_str(),
            "acme/lib"
        );
        let cases: &[(&[u8], &str)] = &[
            (b"{}", "composer.json is empty"),
            (b"  ", "composer.json is empty"),
            (b"{\"name\":", "composer.json is not valid JSON"),
            (br#"{"description":"x"}"#, "composer.json has no \"name\""),
            (br#"{"name":""}"#, "composer.json has no \"name\""),
            (
                br#"{"name":["a/b"]}"#,
                "composer.json \"name\" must be a string",
            ),
            (br#"{"name":"Acme/Lib"}"#, "composer.json \"name\": "),
            (br#"{"name":"nolash"}"#, "composer.json \"name\": "),
        ];
        for (json, reason) in cases {
            let got = package_name_of(json).unwrap_err().0;
            assert!(
                got.starts_with(reason),
                "{}: {got}",
                String::from_utf8_lossy(json)
            );
        }
    }
}
