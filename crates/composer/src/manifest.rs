//! composer.json: parsing, validation and the fields a repository publishes.
//!
//! Validation mirrors `Composer\Package\Loader\ValidatingArrayLoader::load()`
//! (composer/composer) for the fields that end up in repository metadata, plus `name`
//! and the type of `version`. Where Composer only warns and silently drops a bad value
//! (a malformed `type`, a link target name with uppercase letters, a bad `license` or
//! `authors` shape), this module refuses the manifest instead: a repository that
//! published the value would hand every client the problem, and a repository that
//! dropped it would publish something other than what the author wrote.
//!
//! PHP decodes both `{}` and `[]` to an empty array, so composer.json files written by
//! PHP tools often say `"require": []`. An empty JSON array is therefore accepted
//! wherever an object is expected, and an empty object wherever an array is.

use std::fmt;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Map, Value};
use thiserror::Error;

use crate::package_name;

/// The link sections of `BasePackage::$supportedLinkTypes`: their keys are package names
/// and their values version constraints.
const LINK_SECTIONS: [&str; 5] = ["require", "require-dev", "conflict", "provide", "replace"];

/// The autoload types `ValidatingArrayLoader` accepts.
const AUTOLOAD_TYPES: [&str; 5] = [
    "psr-0",
    "psr-4",
    "classmap",
    "files",
    "exclude-from-classmap",
];

/// The `support` keys `ValidatingArrayLoader` requires to be strings.
const SUPPORT_KEYS: [&str; 10] = [
    "issues", "forum", "wiki", "source", "email", "irc", "docs", "rss", "chat", "security",
];

/// The `authors` entry keys `ValidatingArrayLoader` requires to be strings.
const AUTHOR_KEYS: [&str; 4] = ["homepage", "email", "name", "role"];

/// The composer.json keys published in p2 metadata: the keys packagist's
/// `Version::toV2Array()` emits that come from composer.json. See [`Manifest::for_metadata`].
const PUBLISHED_KEYS: [&str; 23] = [
    "name",
    "description",
    "keywords",
    "homepage",
    "license",
    "authors",
    "type",
    "support",
    "funding",
    "time",
    "autoload",
    "extra",
    "target-dir",
    "include-path",
    "bin",
    "require",
    "require-dev",
    "suggest",
    "conflict",
    "provide",
    "replace",
    "abandoned",
    "php-ext",
];

/// `ValidatingArrayLoader`'s rule for `type` (the schema's is lowercase-only, but the
/// loader is what decides whether Composer accepts a package).
static PACKAGE_TYPE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Za-z0-9-]+$").expect("type regex compiles"));

/// `ValidatingArrayLoader`'s check for a `bin` path escaping the package directory
/// (GHSA-gjfg-22fp-rrxx).
static PARENT_PATH_SEGMENT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?:^|[\\/])\.\.(?:[\\/]|$)").expect("bin regex compiles"));

/// The release-date formats [`parse_time`] accepts.
static RELEASE_TIME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"^([0-9]{4})-([0-9]{2})-([0-9]{2})",
        r"(?:[Tt ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:[.,][0-9]+)?)?",
        r"(?: ?(?:[Zz]|UTC|GMT|([+-])([0-9]{2})(?::?([0-9]{2}))?))?)?$",
    ))
    .expect("time regex compiles")
});

/// Why a composer.json was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ManifestError {
    /// Not JSON; the message is serde_json's and names the line and column.
    #[error("composer.json is not valid JSON: {0}")]
    Json(String),
    #[error("composer.json must contain a JSON object, found {found}")]
    NotAnObject { found: &'static str },
    /// Valid JSON that breaks Composer's rules; every problem found, in field order.
    #[error("composer.json is invalid: {}", join_errors(.0))]
    Invalid(Vec<FieldError>),
}

/// One problem in one field, e.g. `require.acme/Lib: ...`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    /// Dotted path to the offending value, as Composer names it (`autoload.psr-4`,
    /// `authors.0.email`, `require.acme/lib`).
    pub field: String,
    pub message: String,
}

fn join_errors(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(FieldError::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// A package's composer.json, kept as the JSON object it is (key order preserved).
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    fields: Map<String, Value>,
}

impl Manifest {
    /// Parses composer.json bytes, like Composer's `JsonFile::parseJson()`: strict JSON
    /// (no byte-order mark, no comments), and the top level must be an object.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, ManifestError> {
        if bytes.starts_with(b"\xEF\xBB\xBF") {
            return Err(ManifestError::Json(
                "the file starts with a UTF-8 byte-order mark, which Composer refuses".to_owned(),
            ));
        }
        let value: Value =
            serde_json::from_slice(bytes).map_err(|e| ManifestError::Json(e.to_string()))?;
        match value {
            Value::Object(fields) => Ok(Self { fields }),
            other => Err(ManifestError::NotAnObject {
                found: json_type(&other),
            }),
        }
    }

    /// Wraps an already parsed composer.json object.
    pub fn from_fields(fields: Map<String, Value>) -> Self {
        Self { fields }
    }

    /// `name`, if it is a string.
    pub fn name(&self) -> Option<&str> {
        self.fields.get("name").and_then(Value::as_str)
    }

    /// `version`, if it is a string; [`Manifest::validate`] refuses any other type.
    pub fn version(&self) -> Option<&str> {
        self.fields.get("version").and_then(Value::as_str)
    }

    pub fn fields(&self) -> &Map<String, Value> {
        &self.fields
    }

    pub fn into_fields(self) -> Map<String, Value> {
        self.fields
    }

    /// Checks the manifest as `ValidatingArrayLoader::load()` does for the fields a
    /// repository needs (see the module documentation for where it is stricter) and
    /// reports every problem at once.
    ///
    /// Not checked here: the content of `version` and of link constraints (the version
    /// module parses those), SPDX license identifiers and URL shapes (warnings only in
    /// Composer), and root-only settings (`config`, `scripts`, `repositories`, ...),
    /// which a repository never publishes.
    pub fn validate(&self) -> Result<(), ManifestError> {
        let mut check = Checker::default();
        let fields = &self.fields;
        check_name(&mut check, fields);
        check_version(&mut check, fields);
        check_type(&mut check, fields);
        check.string(fields, "description");
        check.string(fields, "homepage");
        check.string(fields, "target-dir");
        check_license(&mut check, fields);
        check.scalar_list(fields, "keywords");
        check.string_list(fields, "include-path");
        check_time(&mut check, fields);
        check_authors(&mut check, fields);
        check_support(&mut check, fields);
        check_funding(&mut check, fields);
        check_bin(&mut check, fields);
        check_abandoned(&mut check, fields);
        check_php_ext(&mut check, fields);
        check_extra(&mut check, fields);
        for section in ["autoload", "autoload-dev"] {
            check_autoload(&mut check, fields, section);
        }
        check_target_dir_with_psr4(&mut check, fields);
        for section in LINK_SECTIONS {
            check_links(&mut check, fields, section);
        }
        check_suggest(&mut check, fields);
        check.finish()
    }

    /// The fields a repository publishes for this package in p2 metadata, in
    /// composer.json order; the caller adds `version`, `version_normalized`, `dist`,
    /// `source`, `time` (if absent here) and `default-branch`.
    ///
    /// Kept: the composer.json keys packagist's `Version::toV2Array()` publishes —
    /// `name description keywords homepage license authors type support funding time
    /// autoload extra target-dir include-path bin require require-dev suggest conflict
    /// provide replace abandoned php-ext`.
    ///
    /// Dropped, as packagist and Packeton drop them:
    /// * values the repository owns: `version`, `version_normalized`, `source`, `dist`,
    ///   `default-branch`, `notification-url`, `installation-source`, `transport-options`;
    /// * settings Composer reads from the root package only, which mean nothing in a
    ///   dependency: `autoload-dev`, `scripts`, `scripts-descriptions`, `scripts-aliases`,
    ///   `config`, `repositories`, `minimum-stability`, `prefer-stable`, `archive`,
    ///   `non-feature-branches`;
    /// * anything else (`readme`, `_comment`, unknown keys), and `null` values, which
    ///   Composer treats as absent.
    pub fn for_metadata(&self) -> Map<String, Value> {
        self.fields
            .iter()
            .filter(|(key, value)| PUBLISHED_KEYS.contains(&key.as_str()) && !value.is_null())
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect()
    }
}

/// Parses a composer.json `time` into seconds since the Unix epoch (UTC; fractions of a
/// second are dropped).
///
/// Accepts the formats composer-schema.json documents (`YYYY-MM-DD`,
/// `YYYY-MM-DD HH:MM:SS`, `YYYY-MM-DDTHH:MM:SSZ`) and their ISO 8601 relatives: `T` or
/// space, optional seconds and fraction, and a zone of `Z`, `UTC`, `GMT`, `±HH`, `±HHMM`
/// or `±HH:MM`, optionally after a space; no zone means UTC, as in `ValidatingArrayLoader`.
/// PHP's `DateTime` also takes relative phrases such as `"now"`, which make no sense as a
/// release date and are refused.
pub fn parse_time(value: &str) -> Option<i64> {
    let captures = RELEASE_TIME.captures(value)?;
    let number = |index: usize| -> i64 {
        captures
            .get(index)
            .map_or(0, |m| m.as_str().parse().expect("regex matched digits"))
    };
    let (year, month, day) = (number(1), number(2), number(3));
    let (hour, minute, second) = (number(4), number(5), number(6));
    let (offset_hours, offset_minutes) = (number(8), number(9));
    let valid = (1..=12).contains(&month)
        && (1..=days_in_month(year, month)).contains(&day)
        && hour < 24
        && minute < 60
        && second < 60
        && offset_hours < 24
        && offset_minutes < 60;
    if !valid {
        return None;
    }
    let offset = (offset_hours * 60 + offset_minutes) * 60;
    let offset = if captures.get(7).is_some_and(|sign| sign.as_str() == "-") {
        -offset
    } else {
        offset
    };
    let local = days_from_civil(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second;
    Some(local - offset)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The JSON name of a value's type, for messages.
fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A field's value, or `None` when it is absent or `null` (PHP's `isset()`).
fn present<'a>(fields: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    fields.get(key).filter(|value| !value.is_null())
}

/// An object, or an empty array standing in for one (see the module documentation).
fn as_object(value: &Value) -> Option<Map<String, Value>> {
    match value {
        Value::Object(map) => Some(map.clone()),
        Value::Array(items) if items.is_empty() => Some(Map::new()),
        _ => None,
    }
}

/// An array, or an empty object standing in for one.
fn as_array(value: &Value) -> Option<&[Value]> {
    match value {
        Value::Array(items) => Some(items),
        Value::Object(map) if map.is_empty() => Some(&[]),
        _ => None,
    }
}

/// Collects [`FieldError`]s; the shape checks shared by many fields live here.
#[derive(Default)]
struct Checker {
    errors: Vec<FieldError>,
}

impl Checker {
    fn error(&mut self, field: impl fmt::Display, message: impl Into<String>) {
        self.errors.push(FieldError {
            field: field.to_string(),
            message: message.into(),
        });
    }

    fn finish(self) -> Result<(), ManifestError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ManifestError::Invalid(self.errors))
        }
    }

    fn wrong_type(&mut self, field: impl fmt::Display, expected: &str, value: &Value) {
        let given = json_type(value);
        self.error(field, format!("must be {expected}, {given} given"));
    }

    /// `ValidatingArrayLoader::validateString()`: a string if present.
    fn string<'a>(&mut self, fields: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
        let value = present(fields, key)?;
        let text = value.as_str();
        if text.is_none() {
            self.wrong_type(key, "a string", value);
        }
        text
    }

    /// An object (or `[]`) if present.
    fn object(&mut self, fields: &Map<String, Value>, key: &str) -> Option<Map<String, Value>> {
        let value = present(fields, key)?;
        let object = as_object(value);
        if object.is_none() {
            self.wrong_type(key, "an object", value);
        }
        object
    }

    /// An array of strings if present.
    fn string_list(&mut self, fields: &Map<String, Value>, key: &str) {
        self.list_of(fields, key, "a string", Value::is_string);
    }

    /// `ValidatingArrayLoader::validateFlatArray()`: an array of strings or numbers.
    fn scalar_list(&mut self, fields: &Map<String, Value>, key: &str) {
        self.list_of(fields, key, "a string", |item| {
            item.is_string() || item.is_number()
        });
    }

    fn list_of(
        &mut self,
        fields: &Map<String, Value>,
        key: &str,
        expected: &str,
        accepts: fn(&Value) -> bool,
    ) {
        if let Some(value) = present(fields, key) {
            self.list_value(key, value, expected, accepts);
        }
    }

    /// `value` at `field` is an array whose items all pass `accepts`.
    fn list_value(
        &mut self,
        field: &str,
        value: &Value,
        expected: &str,
        accepts: fn(&Value) -> bool,
    ) {
        let Some(items) = as_array(value) else {
            return self.wrong_type(field, "an array", value);
        };
        for (index, item) in items.iter().enumerate() {
            if !accepts(item) {
                self.wrong_type(format!("{field}.{index}"), expected, item);
            }
        }
    }

    /// The keys of `object` listed in `keys` that are present but not strings.
    fn string_members(&mut self, prefix: &str, object: &Map<String, Value>, keys: &[&str]) {
        for key in keys {
            if let Some(value) = present(object, key).filter(|value| !value.is_string()) {
                self.wrong_type(format!("{prefix}.{key}"), "a string", value);
            }
        }
    }
}

/// `name`: required, and a valid package name.
fn check_name(check: &mut Checker, fields: &Map<String, Value>) {
    match check.string(fields, "name") {
        None if present(fields, "name").is_none() => check.error("name", "must be present"),
        None => {}
        Some(name) if name.trim().is_empty() => check.error("name", "must be present"),
        Some(name) => {
            if let Err(error) = package_name::validate(name) {
                check.error("name", error.to_string());
            }
        }
    }
}

/// `version`: its content is the version module's business, but it must be a string.
/// Composer would cast a number; a repository would then publish a version nobody wrote.
fn check_version(check: &mut Checker, fields: &Map<String, Value>) {
    check.string(fields, "version");
}

/// `type`: `ValidatingArrayLoader::validateRegex('type', '[A-Za-z0-9-]+')`; blank means
/// absent (the default, `library`).
fn check_type(check: &mut Checker, fields: &Map<String, Value>) {
    let Some(package_type) = check.string(fields, "type") else {
        return;
    };
    if !package_type.trim().is_empty() && !PACKAGE_TYPE.is_match(package_type) {
        check.error(
            "type",
            format!("invalid value ({package_type}), must match [A-Za-z0-9-]+"),
        );
    }
}

/// `license`: a string or an array of strings.
fn check_license(check: &mut Checker, fields: &Map<String, Value>) {
    match present(fields, "license") {
        None | Some(Value::String(_)) => {}
        Some(Value::Array(_)) => check.string_list(fields, "license"),
        Some(other) => check.wrong_type("license", "a string or an array of strings", other),
    }
}

/// `time`: a date Composer can parse.
fn check_time(check: &mut Checker, fields: &Map<String, Value>) {
    let Some(time) = check.string(fields, "time") else {
        return;
    };
    if !time.trim().is_empty() && parse_time(time).is_none() {
        check.error(
            "time",
            format!(
                "invalid value ({time}), must be a date like YYYY-MM-DD, YYYY-MM-DD HH:MM:SS or YYYY-MM-DDTHH:MM:SSZ"
            ),
        );
    }
}

/// `authors`: an array of objects whose name, email, homepage and role are strings.
fn check_authors(check: &mut Checker, fields: &Map<String, Value>) {
    let Some(value) = present(fields, "authors") else {
        return;
    };
    let Some(authors) = as_array(value) else {
        return check.wrong_type("authors", "an array", value);
    };
    for (index, author) in authors.iter().enumerate() {
        let field = format!("authors.{index}");
        match as_object(author) {
            Some(author) => check.string_members(&field, &author, &AUTHOR_KEYS),
            None => check.wrong_type(field, "an object", author),
        }
    }
}

/// `support`: an object whose known keys are strings.
fn check_support(check: &mut Checker, fields: &Map<String, Value>) {
    if let Some(support) = check.object(fields, "support") {
        check.string_members("support", &support, &SUPPORT_KEYS);
    }
}

/// `funding`: an array of objects whose type and url are strings.
fn check_funding(check: &mut Checker, fields: &Map<String, Value>) {
    let Some(value) = present(fields, "funding") else {
        return;
    };
    let Some(options) = as_array(value) else {
        return check.wrong_type("funding", "an array", value);
    };
    for (index, option) in options.iter().enumerate() {
        let field = format!("funding.{index}");
        match as_object(option) {
            Some(option) => check.string_members(&field, &option, &["type", "url"]),
            None => check.wrong_type(field, "an object", option),
        }
    }
}

/// `bin`: a path or an array of paths, none with a `..` component, which would let the
/// package make any file on the installing machine executable.
fn check_bin(check: &mut Checker, fields: &Map<String, Value>) {
    let escapes = |path: &str| PARENT_PATH_SEGMENT.is_match(path);
    match present(fields, "bin") {
        Some(Value::String(path)) if escapes(path) => check.error(
            "bin",
            format!("invalid value ({path}), must not contain a \"..\" path component"),
        ),
        None | Some(Value::String(_)) => {}
        Some(Value::Array(paths)) => {
            check.string_list(fields, "bin");
            for (index, path) in paths.iter().enumerate() {
                if let Some(path) = path.as_str().filter(|path| escapes(path)) {
                    check.error(
                        format!("bin.{index}"),
                        format!("invalid value ({path}), must not contain a \"..\" path component"),
                    );
                }
            }
        }
        Some(other) => check.wrong_type("bin", "a string or an array of strings", other),
    }
}

/// `abandoned`: `true`/`false` or the name or URL of a replacement (composer-schema.json).
fn check_abandoned(check: &mut Checker, fields: &Map<String, Value>) {
    if let Some(value) = present(fields, "abandoned").filter(|v| !(v.is_boolean() || v.is_string()))
    {
        check.wrong_type("abandoned", "a boolean or a string", value);
    }
}

/// `php-ext`: an object, and only on packages of type `php-ext` or `php-ext-zend`.
fn check_php_ext(check: &mut Checker, fields: &Map<String, Value>) {
    if check.object(fields, "php-ext").is_none() {
        return;
    }
    let package_type = fields.get("type").and_then(Value::as_str).unwrap_or("");
    if !matches!(package_type, "php-ext" | "php-ext-zend") {
        check.error(
            "php-ext",
            "can only be set by packages of type \"php-ext\" or \"php-ext-zend\"",
        );
    }
}

/// `extra`: an object; its `branch-alias`, read by every repository, an object too.
fn check_extra(check: &mut Checker, fields: &Map<String, Value>) {
    let Some(extra) = check.object(fields, "extra") else {
        return;
    };
    if let Some(aliases) = present(&extra, "branch-alias").filter(|v| as_object(v).is_none()) {
        check.wrong_type(
            "extra.branch-alias",
            "an object of versions => aliases",
            aliases,
        );
    }
}

/// `autoload` / `autoload-dev`: an object of known autoload types, each of the shape
/// composer-schema.json gives it; PSR-4 prefixes end with a namespace separator.
fn check_autoload(check: &mut Checker, fields: &Map<String, Value>, section: &str) {
    let Some(autoload) = check.object(fields, section) else {
        return;
    };
    for (kind, rules) in &autoload {
        let field = format!("{section}.{kind}");
        match kind.as_str() {
            "psr-0" | "psr-4" => check_namespace_map(check, &field, kind == "psr-4", rules),
            "classmap" | "files" | "exclude-from-classmap" => {
                check.list_value(&field, rules, "a string", Value::is_string);
            }
            _ => check.error(
                section,
                format!(
                    "invalid value ({kind}), must be one of {}",
                    AUTOLOAD_TYPES.join(", ")
                ),
            ),
        }
    }
}

/// A PSR-0/PSR-4 map: namespace prefix → path or array of paths.
fn check_namespace_map(check: &mut Checker, field: &str, psr4: bool, rules: &Value) {
    let Some(rules) = as_object(rules) else {
        return check.wrong_type(field, "an object of namespace => paths", rules);
    };
    for (namespace, paths) in &rules {
        if psr4 && !namespace.is_empty() && !namespace.ends_with('\\') {
            check.error(
                field,
                format!(
                    "invalid value ({namespace}), namespaces must end with a namespace separator, should be {namespace}\\\\"
                ),
            );
        }
        let valid = match paths {
            Value::String(_) => true,
            Value::Array(items) => items.iter().all(Value::is_string),
            _ => false,
        };
        if !valid {
            check.wrong_type(
                format!("{field}.{namespace}"),
                "a string or an array of strings",
                paths,
            );
        }
    }
}

/// `target-dir` predates PSR-4 and Composer refuses the two together.
fn check_target_dir_with_psr4(check: &mut Checker, fields: &Map<String, Value>) {
    let has_psr4 = present(fields, "autoload")
        .and_then(as_object)
        .is_some_and(|autoload| autoload.contains_key("psr-4"));
    if has_psr4 && present(fields, "target-dir").is_some() {
        check.error(
            "target-dir",
            "can not be used together with autoload.psr-4, remove target-dir to upgrade to psr-4",
        );
    }
}

/// A link section: package name → constraint string. The name must be a valid package
/// or platform name and not the package itself; a conflict can not repeat a replace.
fn check_links(check: &mut Checker, fields: &Map<String, Value>, section: &str) {
    let Some(links) = check.object(fields, section) else {
        return;
    };
    let own_name = fields.get("name").and_then(Value::as_str);
    let replaced = present(fields, "replace").and_then(as_object);
    for (target, constraint) in &links {
        let field = format!("{section}.{target}");
        if own_name.is_some_and(|own| own.eq_ignore_ascii_case(target)) {
            check.error(field, format!("a package cannot set a {section} on itself"));
            continue;
        }
        if let Err(error) = package_name::validate_link_name(target) {
            check.error(&field, error.to_string());
        }
        if !constraint.is_string() {
            check.wrong_type(
                &field,
                "a string containing a version constraint",
                constraint,
            );
        }
        if section == "conflict" && replaced.as_ref().is_some_and(|r| r.contains_key(target)) {
            check.error(
                field,
                "you cannot conflict with a package that is also replaced, as replace already creates an implicit conflict rule",
            );
        }
    }
}

/// `suggest`: package name → why. Composer checks only the values: a suggestion changes
/// nothing in dependency resolution, and published packages use free-form keys.
fn check_suggest(check: &mut Checker, fields: &Map<String, Value>) {
    let Some(suggestions) = check.object(fields, "suggest") else {
        return;
    };
    for (target, reason) in &suggestions {
        if !reason.is_string() {
            check.wrong_type(
                format!("suggest.{target}"),
                "a string describing why the package is suggested",
                reason,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn manifest(value: &Value) -> Manifest {
        Manifest::from_slice(&serde_json::to_vec(value).unwrap()).unwrap()
    }

    fn errors(value: &Value) -> Vec<String> {
        match manifest(value).validate() {
            Ok(()) => Vec::new(),
            Err(ManifestError::Invalid(errors)) => errors
                .iter()
                .map(std::string::ToString::to_string)
                .collect(),
            Err(other) => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn from_slice_refuses_non_json_and_non_objects() {
        let error = Manifest::from_slice(b"{\n  \"name\": \"a/b\",\n}").unwrap_err();
        assert!(
            matches!(&error, ManifestError::Json(message) if message.contains("line 3 column 1")),
            "{error}"
        );
        assert!(matches!(
            Manifest::from_slice(b"[]"),
            Err(ManifestError::NotAnObject { found: "array" })
        ));
        assert!(matches!(
            Manifest::from_slice(b"\xEF\xBB\xBF{}"),
            Err(ManifestError::Json(message)) if message.contains("byte-order mark")
        ));
        assert!(matches!(
            Manifest::from_slice(b""),
            Err(ManifestError::Json(_))
        ));
    }

    #[test]
    fn accessors_keep_key_order() {
        let manifest =
            Manifest::from_slice(br#"{"version":"1.0.0","name":"a/b","type":"library"}"#).unwrap();
        assert_eq!(manifest.name(), Some("a/b"));
        assert_eq!(manifest.version(), Some("1.0.0"));
        let keys: Vec<_> = manifest.fields().keys().cloned().collect();
        assert_eq!(keys, ["version", "name", "type"]);
        assert_eq!(manifest.into_fields().len(), 3);
        assert_eq!(Manifest::from_slice(br#"{"name":1}"#).unwrap().name(), None);
    }

    /// `ValidatingArrayLoaderTest::successProvider`'s complete package, minus the parts
    /// out of scope here, plus the PHP-style empty arrays.
    #[test]
    fn complete_manifest_is_valid() {
        let complete = json!({
            "name": "foo/bar",
            "description": "Foo bar",
            "version": "1.0.0",
            "type": "library",
            "keywords": ["a", "b_c", "D E", "éîüø", "微信", 5],
            "homepage": "https://foo.com",
            "time": "2010-10-10T10:10:10+00:00",
            "license": ["MIT", "WTFPL"],
            "authors": [
                {"name": "Alice", "email": "alice@example.org", "role": "Lead", "homepage": "http://example.org"},
                {"name": "Bob", "homepage": ""}
            ],
            "support": {"email": "mail@example.org", "issues": "http://example.org/", "irc": "irc://example.org/example"},
            "funding": [{"type": "example", "url": "https://example.org/fund"}, {"url": "https://example.org/fund"}],
            "require": {"a/b": "1.*", "b/c": "~2", "example/pkg": ">2.0-dev,<2.4-dev", "composer-runtime-api": "*", "php": ">=8.1", "ext-json": "*"},
            "require-dev": {"a/b": "1.*", "b/c": "*"},
            "conflict": {"a/bx": "1.*", "b/cx": ">2.7"},
            "replace": {"a/b": "1.*"},
            "provide": {"a/b": "1.*", "psr/log-implementation": "1.0"},
            "suggest": {"foo/bar": "Foo bar is very useful", "Monolog": "free-form key"},
            "autoload": {
                "psr-0": {"Foo\\Bar": "src/", "": "fallback/libs/"},
                "psr-4": {"Foo\\": ["src/", "lib/"], "": "fallback/"},
                "classmap": ["dir/", "dir2/file.php"],
                "files": ["functions.php"],
                "exclude-from-classmap": ["/tests/"]
            },
            "autoload-dev": {"psr-4": {"Foo\\Tests\\": "tests/"}},
            "include-path": ["lib/"],
            "extra": {"random": {"stuff": {"deeply": "nested"}}, "branch-alias": {"dev-master": "2.0-dev"}},
            "bin": ["bin/foo", "bin/bar"],
            "abandoned": "foo/baz",
            "scripts": {"post-update-cmd": "Foo\\Bar\\Baz::doSomething"},
            "config": {"bin-dir": "bin"},
            "minimum-stability": "dev"
        });
        assert_eq!(errors(&complete), Vec::<String>::new());
    }

    #[test]
    fn small_manifests_that_are_valid() {
        let cases = [
            json!({"name": "foo/bar"}),
            json!({"name": "foo/bar", "bin": "bin1"}),
            json!({"name": "npm-asset/angular--core"}),
            json!({"name": "foo/bar", "require": [], "autoload": [], "extra": [], "suggest": []}),
            json!({"name": "foo/bar", "authors": {}, "keywords": {}}),
            json!({"name": "foo/bar", "description": null, "type": null, "require": null}),
            json!({"name": "foo/bar", "type": ""}),
            json!({"name": "foo/bar", "type": "Symfony-Bundle"}),
            json!({"name": "foo/bar", "license": "proprietary"}),
            json!({"name": "foo/bar", "time": "2020-02-29"}),
            json!({"name": "foo/bar", "time": "2012-05-09 17:44:22"}),
            json!({"name": "foo/bar", "time": "2012-05-09T17:44:22Z"}),
            json!({"name": "foo/bar", "time": "2012-05-09T17:44:22.123456-05:30"}),
            json!({"name": "foo/bar", "time": "2012-05-09 17:44 +0200"}),
            json!({"name": "foo/bar", "abandoned": true}),
            json!({"name": "foo/bar", "type": "php-ext", "php-ext": {"extension-name": "ext-xdebug"}}),
            json!({"name": "foo/bar", "require": {"PHP": ">=8.1", "ext-JSON": "*"}}),
        ];
        for case in cases {
            assert_eq!(errors(&case), Vec::<String>::new(), "{case}");
        }
    }

    #[test]
    fn each_rule_names_the_offending_field() {
        let cases = [
            (json!({}), "name: must be present"),
            (json!({"name": "  "}), "name: must be present"),
            (json!({"name": null}), "name: must be present"),
            (json!({"name": 5}), "name: must be a string, number given"),
            (
                json!({"name": "Foo/Bar"}),
                "name: Foo/Bar is invalid: package names must be lowercase; use foo/bar instead",
            ),
            (json!({"name": "foo"}), "name: foo has no vendor"),
            (
                json!({"name": "foo/bar.json"}),
                "name: foo/bar.json is invalid: package names can not end in .json",
            ),
            (json!({"name": "com1/foo"}), "name: com1/foo is reserved"),
            (
                json!({"name": "a/b", "version": 1.0}),
                "version: must be a string, number given",
            ),
            (
                json!({"name": "a/b", "type": 5}),
                "type: must be a string, number given",
            ),
            (
                json!({"name": "a/b", "type": "my_type"}),
                "type: invalid value (my_type), must match [A-Za-z0-9-]+",
            ),
            (
                json!({"name": "a/b", "description": ["x"]}),
                "description: must be a string, array given",
            ),
            (
                json!({"name": "a/b", "homepage": 43}),
                "homepage: must be a string, number given",
            ),
            (
                json!({"name": "a/b", "license": {"id": "MIT"}}),
                "license: must be a string or an array of strings, object given",
            ),
            (
                json!({"name": "a/b", "license": [{"author": "bar"}, "MIT"]}),
                "license.0: must be a string, object given",
            ),
            (
                json!({"name": "a/b", "keywords": "php"}),
                "keywords: must be an array, string given",
            ),
            (
                json!({"name": "a/b", "keywords": [["x"]]}),
                "keywords.0: must be a string, array given",
            ),
            (
                json!({"name": "a/b", "time": 1_700_000_000}),
                "time: must be a string, number given",
            ),
            (
                json!({"name": "a/b", "time": "yesterday"}),
                "time: invalid value (yesterday)",
            ),
            (
                json!({"name": "a/b", "time": "2021-02-29"}),
                "time: invalid value (2021-02-29)",
            ),
            (
                json!({"name": "a/b", "time": "2021-01-01T24:00:00Z"}),
                "time: invalid value",
            ),
            (
                json!({"name": "a/b", "authors": "me"}),
                "authors: must be an array, string given",
            ),
            (
                json!({"name": "a/b", "authors": ["me"]}),
                "authors.0: must be an object, string given",
            ),
            (
                json!({"name": "a/b", "authors": [{"email": 5}]}),
                "authors.0.email: must be a string, number given",
            ),
            (
                json!({"name": "a/b", "support": {"source": []}}),
                "support.source: must be a string, array given",
            ),
            (
                json!({"name": "a/b", "support": "x"}),
                "support: must be an object, string given",
            ),
            (
                json!({"name": "a/b", "funding": [{"url": 1}]}),
                "funding.0.url: must be a string, number given",
            ),
            (
                json!({"name": "a/b", "bin": "../escape"}),
                "bin: invalid value (../escape), must not contain a \"..\" path component",
            ),
            (
                json!({"name": "a/b", "bin": ["bin/ok", "nested/../../escape"]}),
                "bin.1: invalid value (nested/../../escape)",
            ),
            (
                json!({"name": "a/b", "bin": [1]}),
                "bin.0: must be a string, number given",
            ),
            (
                json!({"name": "a/b", "abandoned": 1}),
                "abandoned: must be a boolean or a string, number given",
            ),
            (
                json!({"name": "a/b", "php-ext": {}}),
                "php-ext: can only be set by packages of type",
            ),
            (
                json!({"name": "a/b", "extra": "x"}),
                "extra: must be an object, string given",
            ),
            (
                json!({"name": "a/b", "extra": ["x"]}),
                "extra: must be an object, array given",
            ),
            (
                json!({"name": "a/b", "extra": {"branch-alias": "2.x-dev"}}),
                "extra.branch-alias: must be an object of versions => aliases, string given",
            ),
            (
                json!({"name": "a/b", "autoload": "strings"}),
                "autoload: must be an object, string given",
            ),
            (
                json!({"name": "a/b", "autoload": {"psr0": {"foo": "src"}}}),
                "autoload: invalid value (psr0), must be one of psr-0, psr-4, classmap, files, exclude-from-classmap",
            ),
            (
                json!({"name": "a/b", "autoload-dev": {"classes": []}}),
                "autoload-dev: invalid value (classes)",
            ),
            (
                json!({"name": "a/b", "autoload": {"psr-4": {"Foo": "src/"}}}),
                "autoload.psr-4: invalid value (Foo), namespaces must end with a namespace separator, should be Foo\\\\",
            ),
            (
                json!({"name": "a/b", "autoload": {"psr-4": ["src/"]}}),
                "autoload.psr-4: must be an object of namespace => paths, array given",
            ),
            (
                json!({"name": "a/b", "autoload": {"psr-0": {"Foo": 5}}}),
                "autoload.psr-0.Foo: must be a string or an array of strings, number given",
            ),
            (
                json!({"name": "a/b", "autoload": {"classmap": "src/"}}),
                "autoload.classmap: must be an array, string given",
            ),
            (
                json!({"name": "a/b", "autoload-dev": {"files": [1]}}),
                "autoload-dev.files.0: must be a string, number given",
            ),
            (
                json!({"name": "a/b", "target-dir": "Foo", "autoload": {"psr-4": {"Foo\\": ""}}}),
                "target-dir: can not be used together with autoload.psr-4",
            ),
            (
                json!({"name": "a/b", "require": ["acme/bar"]}),
                "require: must be an object, array given",
            ),
            (
                json!({"name": "a/b", "require": {"acme/Lib": "^1.0"}}),
                "require.acme/Lib: acme/Lib is invalid: package names must be lowercase; use acme/lib instead",
            ),
            (
                json!({"name": "a/b", "require-dev": {"acme": "^1.0"}}),
                "require-dev.acme: acme has no vendor",
            ),
            (
                json!({"name": "a/b", "provide": {"acme/lib": 1}}),
                "provide.acme/lib: must be a string containing a version constraint, number given",
            ),
            (
                json!({"name": "foo/bar", "require": {"foo/Bar": "1.*"}}),
                "require.foo/Bar: a package cannot set a require on itself",
            ),
            (
                json!({"name": "a/b", "replace": {"c/d": "*"}, "conflict": {"c/d": "*"}}),
                "conflict.c/d: you cannot conflict with a package that is also replaced",
            ),
            (
                json!({"name": "a/b", "suggest": {"c/d": true}}),
                "suggest.c/d: must be a string describing why the package is suggested, boolean given",
            ),
        ];
        for (case, expected) in cases {
            let found = errors(&case);
            assert!(
                found.len() == 1 && found[0].starts_with(expected),
                "{case}: expected one error starting with {expected:?}, got {found:?}"
            );
        }
    }

    #[test]
    fn all_problems_are_reported_together() {
        let error = manifest(&json!({"type": 1, "require": {"x": 1}}))
            .validate()
            .unwrap_err();
        let ManifestError::Invalid(errors) = &error else {
            panic!("{error:?}");
        };
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name", "type", "require.x", "require.x"]);
        assert!(
            error
                .to_string()
                .starts_with("composer.json is invalid: name: must be present; type: ")
        );
    }

    #[test]
    fn for_metadata_keeps_published_keys_in_order() {
        let manifest = manifest(&json!({
            "name": "acme/lib",
            "version": "1.0.0",
            "description": "A library",
            "_comment": "ignored",
            "require": {"php": ">=8.1"},
            "require-dev": {"phpunit/phpunit": "^10"},
            "autoload": {"psr-4": {"Acme\\": "src/"}},
            "autoload-dev": {"psr-4": {"Acme\\Tests\\": "tests/"}},
            "scripts": {"test": "phpunit"},
            "config": {"sort-packages": true},
            "repositories": [{"type": "vcs", "url": "https://example.org"}],
            "minimum-stability": "dev",
            "prefer-stable": true,
            "dist": {"type": "zip", "url": "https://example.org/a.zip"},
            "homepage": null,
            "extra": {"branch-alias": {"dev-main": "1.x-dev"}},
            "license": "MIT"
        }));
        let published = serde_json::to_string(&manifest.for_metadata()).unwrap();
        assert_eq!(
            published,
            r#"{"name":"acme/lib","description":"A library","require":{"php":">=8.1"},"require-dev":{"phpunit/phpunit":"^10"},"autoload":{"psr-4":{"Acme\\":"src/"}},"extra":{"branch-alias":{"dev-main":"1.x-dev"}},"license":"MIT"}"#
        );
    }

    #[test]
    fn parse_time_gives_unix_seconds() {
        let cases = [
            ("1970-01-01", Some(0)),
            ("2010-10-10T10:10:10+00:00", Some(1_286_705_410)),
            ("2010-10-10 10:10:10", Some(1_286_705_410)),
            ("2010-10-10T12:10:10+02:00", Some(1_286_705_410)),
            ("2010-10-10T08:40:10-0130", Some(1_286_705_410)),
            ("2010-10-10T10:10:10.999Z", Some(1_286_705_410)),
            ("2010-10-10T10:10:10 UTC", Some(1_286_705_410)),
            ("2000-02-29T00:00", Some(951_782_400)),
            ("1969-12-31T23:59:59Z", Some(-1)),
            ("1900-02-29", None),
            ("2010-13-01", None),
            ("2010-10-10T10:60:00", None),
            ("2010-10-10T", None),
            ("2010-10-10Z", None),
            ("10/10/2010", None),
            ("1286705410", None),
            ("２０１０-10-10", None),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_time(text), expected, "{text}");
        }
    }

    /// Found by fuzzing (fuzz/corpus/manifest/regression-float-round-trip): a number
    /// read back from the manifest's own serialization must be the number written.
    #[test]
    fn numbers_survive_serialization() {
        let manifest =
            Manifest::from_slice(br#"{"name":"a/b","extra":{"x":4.4444e+37,"y":0.1}}"#).unwrap();
        let written = serde_json::to_vec(manifest.fields()).unwrap();
        assert_eq!(Manifest::from_slice(&written).unwrap(), manifest);
        assert_eq!(
            String::from_utf8(written).unwrap(),
            r#"{"name":"a/b","extra":{"x":4.4444e+37,"y":0.1}}"#
        );
    }
}
