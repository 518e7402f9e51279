//! Composer version strings: normalisation, branch names, stability and constraint
//! validation.
//!
//! Every function mirrors a method of `Composer\Semver\VersionParser` (composer/semver
//! 3.4, the version current Composer releases bundle), rule for rule, so that the
//! `version_normalized` we publish is the string Composer itself would compute.
//!
//! Composer's rules are PCRE patterns applied to bytes, without the `u` flag. They are
//! reproduced here with `regex::bytes` in non-Unicode mode (`(?-u)`), which gives the
//! same meaning to `\d`, `\s`, `.` and the `i` flag (ASCII only). Three PCRE features
//! the regex crate lacks are rewritten by hand:
//! - `$` also matches before a final `"\n"`: written [`END`] (`\n?\z`), which consumes
//!   that newline; callers only use capture groups and match starts, never match ends.
//! - possessive quantifiers (`++`, `*+`): in every pattern here the text after them can
//!   never start with what they would give back, so plain greedy ones match the same.
//! - lookaround in the and-split of constraints: [`split_and_group`] spells out the
//!   search.

use std::fmt;
use std::sync::LazyLock;

use regex::bytes::{Captures, Regex};
use thiserror::Error;

use crate::constraint::{Constraint, Op};

/// How stable a version is, from least to most stable (the derived order is Composer's
/// `BasePackage::STABILITIES` order reversed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stability {
    Dev,
    Alpha,
    Beta,
    RC,
    Stable,
}

impl Stability {
    /// The spelling Composer uses (`"dev"`, `"alpha"`, `"beta"`, `"RC"`, `"stable"`).
    pub fn as_str(&self) -> &'static str {
        match self {
            Stability::Dev => "dev",
            Stability::Alpha => "alpha",
            Stability::Beta => "beta",
            Stability::RC => "RC",
            Stability::Stable => "stable",
        }
    }
}

impl fmt::Display for Stability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a version, stability or constraint string was rejected. The messages are
/// composer/semver's, with a lower-case first letter.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum VersionError {
    /// `VersionParser::normalize` found no version in the string.
    #[error("invalid version string \"{0}\"")]
    Invalid(String),
    /// Longer than [`MAX_VERSION_LENGTH`]: not read at all (and not repeated back); or
    /// its normal form would be, whose length this is then.
    #[error("the version is {0} characters long; at most {MAX_VERSION_LENGTH} are allowed")]
    TooLong(usize),
    /// `"<version> as <alias>"` where the alias is not an exact version.
    #[error(
        "invalid version string \"{version}\" in \"{full}\", the alias must be an exact version"
    )]
    InvalidAlias { version: String, full: String },
    /// `"<source> as <alias>"` where the aliased source is not an exact version.
    #[error(
        "invalid version string \"{version}\" in \"{full}\", the alias source must be an exact version, if it is a branch name you should prefix it with dev-"
    )]
    InvalidAliasSource { version: String, full: String },
    /// `VersionParser::normalizeStability` got something other than a stability name.
    #[error("invalid stability string \"{0}\", expected one of stable, RC, beta, alpha or dev")]
    InvalidStability(String),
    /// `VersionParser::parseConstraints` could not parse one constraint of the string.
    #[error("could not parse version constraint {constraint}: {reason}")]
    InvalidConstraint { constraint: String, reason: String },
}

/// PCRE's `$` without the `D` modifier: the end, or just before a final newline.
const END: &str = r"\n?\z";

/// `VersionParser::$modifierRegex`: the pre-release part. Groups: stability word,
/// its number(s), and a trailing `dev`.
const MODIFIER: &str =
    r"[._-]?(?:(stable|beta|b|RC|alpha|a|patch|pl|p)((?:[.-]?\d+)*)?)?([.-]?dev)?";

/// `VersionParser::$stabilitiesRegex`.
const STABILITIES: &str = "stable|RC|beta|alpha|dev";

/// Compiles a rule in PCRE's byte semantics (see the module documentation).
fn pcre(pattern: &str) -> Regex {
    Regex::new(&format!("(?-u){pattern}")).expect("composer/semver rule compiles")
}

/// `"<version> as <alias>"`, as both `normalize` and `parseConstraint` strip it.
static ALIAS: LazyLock<Regex> = LazyLock::new(|| pcre(&format!(r"^([^,\s]+) +as +([^,\s]+){END}")));

static STABILITY_FLAG: LazyLock<Regex> =
    LazyLock::new(|| pcre(&format!(r"(?i)@(?:{STABILITIES}){END}")));

static BUILD_METADATA: LazyLock<Regex> =
    LazyLock::new(|| pcre(&format!(r"^([^,\s+]+)\+[^\s]+{END}")));

/// `major[.minor[.patch[.build]]]`, the major part at most five digits long so that
/// longer numbers fall through to the date rule.
static CLASSICAL: LazyLock<Regex> = LazyLock::new(|| {
    pcre(&format!(
        r"(?i)^v?(\d{{1,5}})(\.\d+)?(\.\d+)?(\.\d+)?{MODIFIER}{END}"
    ))
});

static DATE: LazyLock<Regex> = LazyLock::new(|| {
    pcre(&format!(
        r"(?i)^v?(\d{{4}}(?:[.:-]?\d{{2}}){{1,6}}(?:[.:-]?\d{{1,3}}){{0,2}}){MODIFIER}{END}"
    ))
});

/// Unanchored on purpose, like Composer's: the match may start after a newline.
static DEV_SUFFIX: LazyLock<Regex> = LazyLock::new(|| pcre(&format!(r"(?i)(.*?)[.-]?dev{END}")));

static NUMERIC_BRANCH: LazyLock<Regex> = LazyLock::new(|| {
    pcre(&format!(
        r"(?i)^v?(\d+)(\.(?:\d+|[xX*]))?(\.(?:\d+|[xX*]))?(\.(?:\d+|[xX*]))?{END}"
    ))
});

static NUMERIC_ALIAS_PREFIX: LazyLock<Regex> =
    LazyLock::new(|| pcre(&format!(r"(?i)^((?:\d+\.)*\d+)(?:\.x)?-dev{END}")));

/// A `#reference` suffix; group 1 keeps the final newline PCRE's `$` would not consume.
static REFERENCE_SUFFIX: LazyLock<Regex> = LazyLock::new(|| pcre(r"#.+(\n?)\z"));

static STABILITY_SUFFIX: LazyLock<Regex> =
    LazyLock::new(|| pcre(&format!(r"(?i){MODIFIER}(?:\+.*)?{END}")));

/// Normalizes a version string so that versions compare as strings of numbers,
/// e.g. `v1.2` → `1.2.0.0`, `1.0.0-RC1` → `1.0.0.0-RC1`, `2.x-dev` →
/// `2.9999999.9999999.9999999-dev`, `dev-main` → `dev-main`.
///
/// Mirrors `VersionParser::normalize($version)` (no `$fullVersion`). An alias
/// (`"1.0 as 2.0"`) and a stability flag (`@dev`) are stripped first; branch names
/// must carry a `dev-` prefix, except `master`, `trunk` and `default`.
///
/// Refuses a version longer than [`MAX_VERSION_LENGTH`], and one whose normal form
/// would be: padding (`.0.0`) and expansion (`2.x` → `2.9999999…`) lengthen it, and
/// the `version_normalized` we publish must itself be a version we accept.
pub fn normalize(version: &str) -> Result<String, VersionError> {
    check_length(version)?;
    let normalized = normalize_within_limit(version)?;
    check_length(&normalized)?;
    Ok(normalized)
}

/// [`normalize`] of a version of at most [`MAX_VERSION_LENGTH`] characters.
fn normalize_within_limit(version: &str) -> Result<String, VersionError> {
    let full = php_trim(version);
    let mut version = full.as_bytes();

    if let Some(alias) = ALIAS.captures(version) {
        version = group(&alias, 1);
    }
    if let Some(flag) = STABILITY_FLAG.find(version) {
        version = &version[..flag.start()];
    }
    // Composer 1 accepted these bare names as constraints; keep them working.
    if matches!(version, b"master" | b"trunk" | b"default") {
        return Ok(format!("dev-{}", text(version)));
    }
    if version.len() >= 4 && version[..4].eq_ignore_ascii_case(b"dev-") {
        return Ok(format!("dev-{}", text(&version[4..])));
    }
    if let Some(build) = BUILD_METADATA.captures(version) {
        version = group(&build, 1);
    }
    if let Some(classical) = CLASSICAL.captures(version) {
        return Ok(normalize_classical(&classical));
    }
    if let Some(date) = DATE.captures(version) {
        return Ok(normalize_date(&date));
    }
    if let Some(branch) = normalize_numeric_dev_branch(version) {
        return Ok(branch);
    }
    Err(invalid_version(full, &text(version)))
}

/// The longest version string accepted (Packagist stores versions in 255 characters).
pub const MAX_VERSION_LENGTH: usize = 255;

/// Refuses a version string longer than [`MAX_VERSION_LENGTH`] characters.
pub fn check_length(version: &str) -> Result<(), VersionError> {
    let length = version.chars().count();
    if length > MAX_VERSION_LENGTH {
        return Err(VersionError::TooLong(length));
    }
    Ok(())
}

/// Normalizes a branch name: numeric ones (`2.1`, `v3.x`, `1.0.*`) become
/// `2.1.9999999.9999999-dev`-style versions, anything else gets a `dev-` prefix.
///
/// Mirrors `VersionParser::normalizeBranch`.
pub fn normalize_branch(name: &str) -> String {
    let name = php_trim(name);
    let Some(numeric) = NUMERIC_BRANCH.captures(name.as_bytes()) else {
        return format!("dev-{name}");
    };
    let mut version = String::new();
    for index in 1..5 {
        match numeric.get(index) {
            Some(part) => version.push_str(&text(part.as_bytes()).replace(['*', 'X'], "x")),
            None => version.push_str(".x"),
        }
    }
    format!("{}-dev", version.replace('x', "9999999"))
}

/// Maps `dev-master`, `dev-default` and `dev-trunk` to `9999999-dev`, returning any
/// other name unchanged.
///
/// Mirrors `VersionParser::normalizeDefaultBranch` (deprecated there: Composer 2 no
/// longer normalizes default branches, but old lock files still hold the result).
pub fn normalize_default_branch(name: &str) -> String {
    match name {
        "dev-master" | "dev-default" | "dev-trunk" => "9999999-dev".to_owned(),
        _ => name.to_owned(),
    }
}

/// The numeric prefix of a numeric branch alias, usable for version comparison:
/// `2.1.x-dev` → `Some("2.1.")`, `dev-master` → `None`.
///
/// Mirrors `VersionParser::parseNumericAliasPrefix`.
pub fn parse_numeric_alias_prefix(branch: &str) -> Option<String> {
    let prefix = NUMERIC_ALIAS_PREFIX.captures(branch.as_bytes())?;
    Some(format!("{}.", text(group(&prefix, 1))))
}

/// The stability of a version string (normalized or not): `dev-*` and `*-dev` are dev,
/// otherwise the stability suffix decides (`-p1`/`-patch` count as stable).
///
/// Mirrors `VersionParser::parseStability`.
pub fn parse_stability(version: &str) -> Stability {
    let version = REFERENCE_SUFFIX.replace_all(version.as_bytes(), &b"$1"[..]);
    if version.starts_with(b"dev-") || version.ends_with(b"-dev") {
        return Stability::Dev;
    }
    let lower = version.to_ascii_lowercase();
    // The pattern can match the empty string at the end, so there is always a match.
    let Some(suffix) = STABILITY_SUFFIX.captures(&lower) else {
        return Stability::Stable;
    };
    if non_empty(&suffix, 3).is_some() {
        return Stability::Dev;
    }
    match non_empty(&suffix, 1) {
        Some(b"beta" | b"b") => Stability::Beta,
        Some(b"alpha" | b"a") => Stability::Alpha,
        Some(b"rc") => Stability::RC,
        _ => Stability::Stable,
    }
}

/// Parses a stability name case-insensitively (`"rc"` → [`Stability::RC`]).
///
/// Mirrors `VersionParser::normalizeStability`.
pub fn normalize_stability(stability: &str) -> Result<Stability, VersionError> {
    match stability.to_ascii_lowercase().as_str() {
        "stable" => Ok(Stability::Stable),
        "rc" => Ok(Stability::RC),
        "beta" => Ok(Stability::Beta),
        "alpha" => Ok(Stability::Alpha),
        "dev" => Ok(Stability::Dev),
        other => Err(VersionError::InvalidStability(other.to_owned())),
    }
}

/// Whether a normalized version is a branch (`dev-*` or `*-dev`), i.e. belongs in
/// the `~dev.json` p2 file rather than the tagged one.
pub fn is_dev(normalized: &str) -> bool {
    normalized.starts_with("dev-") || normalized.ends_with("-dev")
}

/// Checks a version constraint string (`^1.2 || ~2.0`, `>=1.0,<2.0`, `1.0 - 2.0`,
/// `2.*`, `dev-main#abc123`, `1.0@beta`, `dev-x as 1.0`) the way Composer parses it,
/// keeping only whether it parses; [`Constraint::parse`] keeps the constraint.
pub fn parse_constraints(constraints: &str) -> Result<(), VersionError> {
    parse_constraint_tree(constraints).map(drop)
}

/// Mirrors `VersionParser::parseConstraints`: `||` (or `|`) separates alternatives,
/// a comma or space separates constraints that must all hold, and the first
/// constraint that does not parse is reported.
pub(crate) fn parse_constraint_tree(constraints: &str) -> Result<Constraint, VersionError> {
    let mut alternatives = Vec::new();
    for or_group in OR_SEPARATOR.split(php_trim(constraints).as_bytes()) {
        let mut all = Vec::new();
        for constraint in split_and_group(or_group) {
            all.extend(parse_constraint(constraint)?);
        }
        alternatives.push(Constraint::all(all));
    }
    Ok(Constraint::any(alternatives))
}

static OR_SEPARATOR: LazyLock<Regex> = LazyLock::new(|| pcre(r"\s*\|\|?\s*"));

static CONSTRAINT_STABILITY_FLAG: LazyLock<Regex> =
    LazyLock::new(|| pcre(&format!(r"(?i)^([^,\s]*?)@({STABILITIES}){END}")));

/// A `#reference` after a branch name, which only Composer's solver uses.
static BRANCH_REFERENCE: LazyLock<Regex> =
    LazyLock::new(|| pcre(&format!(r"(?i)^(dev-[^,\s@]+?|[^,\s@]+?\.x-dev)#.+{END}")));

static MATCH_ALL: LazyLock<Regex> =
    LazyLock::new(|| pcre(&format!(r"(?i)^(v)?[xX*](\.[xX*])*{END}")));

/// The version part of tilde, caret and hyphen constraints: groups 1–4 numbers,
/// 5–7 [`MODIFIER`], 8 a wildcard branch (`.x-dev`).
fn constraint_version() -> String {
    format!(
        r"v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:\.(\d+))?(?:{MODIFIER}|\.([xX*][.-]?dev))(?:\+[^\s]+)?"
    )
}

static TILDE: LazyLock<Regex> =
    LazyLock::new(|| pcre(&format!(r"(?i)^~>?{}{END}", constraint_version())));

static CARET: LazyLock<Regex> =
    LazyLock::new(|| pcre(&format!(r"(?i)^\^{}{END}", constraint_version())));

/// Case-sensitive in Composer, unlike its neighbours: `V1.*` is not a wildcard range.
static WILDCARD_RANGE: LazyLock<Regex> = LazyLock::new(|| {
    pcre(&format!(
        r"^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:\.[xX*])+{END}"
    ))
});

static HYPHEN_RANGE: LazyLock<Regex> = LazyLock::new(|| {
    let version = constraint_version();
    pcre(&format!(
        r"(?i)^(?P<from>{version}) +- +(?P<to>{version}){END}"
    ))
});

/// Always matches: an optional operator, then the version (up to a newline).
static COMPARISON: LazyLock<Regex> = LazyLock::new(|| pcre(r"^(<>|!=|>=?|<=?|==?)?\s*(.*)"));

static BRANCH_NAME_CHARS: LazyLock<Regex> =
    LazyLock::new(|| pcre(&format!(r"^[0-9a-zA-Z./-]+{END}")));

/// Mirrors `VersionParser::parseConstraint` (private there) for one and-part,
/// keeping the order of its rules, the bounds each one builds and the errors each one
/// lets escape.
fn parse_constraint(constraint: &[u8]) -> Result<Vec<Constraint>, VersionError> {
    let mut constraint = constraint;
    let mut stability_modifier = None;
    if let Some(alias) = ALIAS.captures(constraint) {
        constraint = group(&alias, 1);
    }
    if let Some(flag) = CONSTRAINT_STABILITY_FLAG.captures(constraint) {
        // A bare `@dev` means "anything, at this stability".
        constraint = Some(group(&flag, 1))
            .filter(|c| !c.is_empty())
            .unwrap_or(b"*");
        stability_modifier = Some(group(&flag, 2)).filter(|s| *s != b"stable");
    }
    if let Some(reference) = BRANCH_REFERENCE.captures(constraint) {
        constraint = group(&reference, 1);
    }
    if let Some(all) = MATCH_ALL.captures(constraint) {
        if non_empty(&all, 1).is_some() || non_empty(&all, 2).is_some() {
            return Ok(vec![compare(Op::Ge, "0.0.0.0-dev".to_owned())]);
        }
        return Ok(vec![Constraint::MatchAll]);
    }
    if let Some(tilde) = TILDE.captures(constraint) {
        if constraint.starts_with(b"~>") {
            return Err(VersionError::InvalidConstraint {
                constraint: text(constraint),
                reason: r#"invalid operator "~>", you probably meant to use the "~" operator"#
                    .to_owned(),
            });
        }
        let mut position = (2..=4)
            .rev()
            .find(|&i| non_empty(&tilde, i).is_some())
            .unwrap_or(1);
        // `2.x-dev`, `3.0.x-dev`: the wildcard shifts the position one further.
        if non_empty(&tilde, 8).is_some() {
            position += 1;
        }
        let low = normalize_range_start(constraint, &tilde)?;
        let high = increment_at(&numbers(&tilde, 1), position.saturating_sub(1).max(1));
        return Ok(vec![compare(Op::Ge, low), compare(Op::Lt, high + "-dev")]);
    }
    if let Some(caret) = CARET.captures(constraint) {
        let (major, minor, patch) = (group(&caret, 1), group(&caret, 2), group(&caret, 3));
        let position = if major != b"0" || minor.is_empty() {
            1
        } else if minor != b"0" || patch.is_empty() {
            2
        } else {
            3
        };
        let low = normalize_range_start(constraint, &caret)?;
        let high = increment_at(&numbers(&caret, 1), position);
        return Ok(vec![compare(Op::Ge, low), compare(Op::Lt, high + "-dev")]);
    }
    if let Some(wildcard) = WILDCARD_RANGE.captures(constraint) {
        let position = (2..=3)
            .rev()
            .find(|&i| non_empty(&wildcard, i).is_some())
            .unwrap_or(1);
        let parts = numbers(&wildcard, 1);
        let low = pad_after(&parts, position) + "-dev";
        let high = increment_at(&parts, position) + "-dev";
        if low == "0.0.0.0-dev" {
            return Ok(vec![compare(Op::Lt, high)]);
        }
        return Ok(vec![compare(Op::Ge, low), compare(Op::Lt, high)]);
    }
    if let Some(range) = HYPHEN_RANGE.captures(constraint) {
        // Groups 2-9 are the lower version's, 11-18 the upper's (see `constraint_version`).
        let low_suffix = if [6, 8, 9].iter().all(|&i| non_empty(&range, i).is_none()) {
            "-dev"
        } else {
            ""
        };
        let low = normalize(&text(&range["from"]))? + low_suffix;
        let to = normalize(&text(&range["to"]))?;
        let php_empty = |i: usize| group(&range, i).is_empty();
        let exact = (!php_empty(12) && !php_empty(13))
            || [15, 17, 18].iter().any(|&i| non_empty(&range, i).is_some());
        let high = if exact {
            compare(Op::Le, to)
        } else {
            let position = if php_empty(12) { 1 } else { 2 };
            compare(
                Op::Lt,
                increment_at(&numbers(&range, 11), position) + "-dev",
            )
        };
        return Ok(vec![compare(Op::Ge, low), high]);
    }
    parse_comparison(constraint, stability_modifier)
}

fn compare(op: Op, version: String) -> Constraint {
    Constraint::Compare { op, version }
}

/// The four number groups of a version match, starting at group `first`; missing
/// ones empty, as PHP's `$matches` has them.
fn numbers<'h>(captures: &Captures<'h>, first: usize) -> [&'h [u8]; 4] {
    [0, 1, 2, 3].map(|i| group(captures, first + i))
}

/// `manipulateVersionString($matches, $position)`: the numbers up to `position` as
/// they were written, zeros after it.
fn pad_after(parts: &[&[u8]; 4], position: usize) -> String {
    let kept = |i: usize| {
        if i < position {
            text(parts[i])
        } else {
            "0".to_owned()
        }
    };
    (0..4).map(kept).collect::<Vec<_>>().join(".")
}

/// `manipulateVersionString($matches, $position, 1)`: the number at `position`
/// (1-based) plus one, as PHP adds to a numeric string (leading zeros go; beyond 64
/// bits it becomes a float), the ones before it as written, zeros after it.
fn increment_at(parts: &[&[u8]; 4], position: usize) -> String {
    let part = |i: usize| match (i + 1).cmp(&position) {
        std::cmp::Ordering::Less => text(parts[i]),
        std::cmp::Ordering::Equal => php_increment(&text(parts[i])),
        std::cmp::Ordering::Greater => "0".to_owned(),
    };
    (0..4).map(part).collect::<Vec<_>>().join(".")
}

/// `$digits + 1` in PHP: an integer while it fits in 64 bits, else a float printed
/// with PHP's default precision of 14 digits (`1.0E+25`).
fn php_increment(digits: &str) -> String {
    if let Some(next) = digits.parse::<i64>().ok().and_then(|n| n.checked_add(1)) {
        return next.to_string();
    }
    let value: f64 = digits.parse().unwrap_or(f64::INFINITY) + 1.0;
    let scientific = format!("{value:.13e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let mantissa = mantissa.trim_end_matches('0');
    let mantissa = if mantissa.ends_with('.') {
        format!("{mantissa}0")
    } else {
        mantissa.to_owned()
    };
    format!("{mantissa}E+{exponent}")
}

/// The lower bound of a `~` or `^` range: the version after the operator, given a
/// `-dev` suffix when it has no stability of its own, normalized. Its error escapes
/// unwrapped, as in Composer.
fn normalize_range_start(constraint: &[u8], captures: &Captures) -> Result<String, VersionError> {
    let has_stability = [5, 7, 8].iter().any(|&i| non_empty(captures, i).is_some());
    let suffix = if has_stability { "" } else { "-dev" };
    normalize(&format!("{}{suffix}", text(&constraint[1..])))
}

/// `-` then a modifier at the end, on the lowercased version, case-sensitively (so
/// `-rc1` is not one here, while `-beta` is).
static ENDS_IN_MODIFIER: LazyLock<Regex> = LazyLock::new(|| pcre(&format!("-{MODIFIER}{END}")));

/// `[operator] version`. A version that does not normalize is still accepted in the
/// shape `foobar-dev`, which Composer reads as `dev-foobar`. `<` and `>=` bounds on a
/// version without a stability get `-dev`, so that `<1.5` excludes `1.5.0-beta`; an
/// `@stability` flag on a stable version other than with `=` is appended to it.
fn parse_comparison(
    constraint: &[u8],
    stability_modifier: Option<&[u8]>,
) -> Result<Vec<Constraint>, VersionError> {
    let comparison = COMPARISON.captures(constraint);
    let operator = comparison.as_ref().map_or(&[][..], |c| group(c, 1));
    let written = comparison.as_ref().map_or(&[][..], |c| group(c, 2));
    let mut version = match normalize(&text(written)) {
        Ok(version) => version,
        Err(_) if written.ends_with(b"-dev") && BRANCH_NAME_CHARS.is_match(written) => {
            normalize(&format!("dev-{}", text(&written[..written.len() - 4])))?
        }
        Err(error) => {
            return Err(VersionError::InvalidConstraint {
                constraint: text(constraint),
                reason: error.to_string(),
            });
        }
    };
    let operator = if operator.is_empty() {
        &b"="[..]
    } else {
        operator
    };
    let op = Op::from_text(operator).expect("COMPARISON only captures operators");
    if op != Op::Eq
        && let Some(modifier) = stability_modifier
        && parse_stability(&version) == Stability::Stable
    {
        version = format!("{version}-{}", text(modifier));
    } else if matches!(operator, b"<" | b">=")
        && !ENDS_IN_MODIFIER.is_match(&written.to_ascii_lowercase())
        && !written.starts_with(b"dev-")
    {
        version.push_str("-dev");
    }
    Ok(vec![compare(op, version)])
}

/// Splits an or-group into its and-parts, exactly where Composer's `preg_split` on
/// `(?<!^|as|[=>< ,]) *(?<!-)[, ](?!-) *(?!,|as|$)` would: at a comma or space run
/// that does not follow an operator, a comma or `as`, does not touch a `-` (hyphen
/// ranges) and is not followed by a comma, `as` or the end.
fn split_and_group(group: &[u8]) -> Vec<&[u8]> {
    let mut parts = Vec::new();
    let (mut part_start, mut at) = (0, 0);
    while at < group.len() {
        match and_separator_at(group, at) {
            Some(end) => {
                parts.push(&group[part_start..at]);
                (part_start, at) = (end, end);
            }
            None => at += 1,
        }
    }
    parts.push(&group[part_start..]);
    parts
}

/// Where a separator match starting at `start` ends, trying the alternatives in the
/// order PCRE's backtracking does (greedy space runs, longest first).
fn and_separator_at(s: &[u8], start: usize) -> Option<usize> {
    if start == 0 || s[..start].ends_with(b"as") || b"=>< ,".contains(&s[start - 1]) {
        return None;
    }
    let leading_spaces = count_spaces(&s[start..]);
    for separator in (start..=start + leading_spaces).rev() {
        let at_separator = matches!(s.get(separator), Some(b',' | b' '));
        if !at_separator || s[separator - 1] == b'-' || s.get(separator + 1) == Some(&b'-') {
            continue;
        }
        let after = separator + 1;
        let trailing_spaces = count_spaces(&s[after..]);
        if let Some(end) = (after..=after + trailing_spaces)
            .rev()
            .find(|&end| !separator_forbidden_before(s, end))
        {
            return Some(end);
        }
    }
    None
}

/// `(?!,|as|$)`.
fn separator_forbidden_before(s: &[u8], at: usize) -> bool {
    let rest = &s[at..];
    rest.is_empty() || rest == b"\n" || rest.starts_with(b",") || rest.starts_with(b"as")
}

fn count_spaces(s: &[u8]) -> usize {
    s.iter().take_while(|&&b| b == b' ').count()
}

/// PHP's `trim()`: only these six characters, unlike `str::trim`.
fn php_trim(s: &str) -> &str {
    s.trim_matches([' ', '\t', '\n', '\r', '\0', '\x0B'])
}

/// Back to text. Every slice taken here starts and ends next to an ASCII byte (or the
/// input's ends), so it is whole UTF-8 and the conversion never substitutes.
fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A group that took part in the match; empty if it did not, like PHP's `$matches`.
fn group<'h>(captures: &Captures<'h>, index: usize) -> &'h [u8] {
    captures.get(index).map_or(&[], |m| m.as_bytes())
}

/// A group that matched something, i.e. PHP's `!empty($matches[$i])` (no group here
/// can be `"0"`, the other string PHP calls empty).
fn non_empty<'h>(captures: &Captures<'h>, index: usize) -> Option<&'h [u8]> {
    Some(group(captures, index)).filter(|g| !g.is_empty())
}

fn normalize_classical(captures: &Captures) -> String {
    let mut version = text(group(captures, 1));
    for index in 2..=4 {
        match non_empty(captures, index) {
            Some(part) => version.push_str(&text(part)),
            None => version.push_str(".0"),
        }
    }
    append_modifiers(version, captures, 5)
}

/// Date versions keep their own number of parts; every separator becomes a dot.
fn normalize_date(captures: &Captures) -> String {
    let date: String = group(captures, 1)
        .iter()
        .map(|&b| {
            if b.is_ascii_digit() {
                char::from(b)
            } else {
                '.'
            }
        })
        .collect();
    append_modifiers(date, captures, 2)
}

/// Appends the `-<stability><number>` and `-dev` parts matched by [`MODIFIER`], whose
/// groups start at `index`.
fn append_modifiers(mut version: String, captures: &Captures, index: usize) -> String {
    if let Some(stability) = non_empty(captures, index) {
        // Case-sensitive in Composer too: `-STABLE` is kept as `-stable`.
        if stability == b"stable" {
            return version;
        }
        version.push('-');
        version.push_str(&expand_stability(stability));
        let number = group(captures, index + 1);
        let number_start = number
            .iter()
            .take_while(|&&b| b == b'.' || b == b'-')
            .count();
        version.push_str(&text(&number[number_start..]));
    }
    if non_empty(captures, index + 2).is_some() {
        version.push_str("-dev");
    }
    version
}

/// `VersionParser::expandStability`: long names for the shorthands.
fn expand_stability(stability: &[u8]) -> String {
    let lower = stability.to_ascii_lowercase();
    match lower.as_slice() {
        b"a" => "alpha".to_owned(),
        b"b" => "beta".to_owned(),
        b"p" | b"pl" => "patch".to_owned(),
        b"rc" => "RC".to_owned(),
        _ => text(&lower),
    }
}

/// `1.x-dev`, `2.0-dev`: a branch named like a version with a `dev` suffix. Other
/// `*-dev` names are refused, as Composer wants them spelled `dev-*`.
fn normalize_numeric_dev_branch(version: &[u8]) -> Option<String> {
    let branch = DEV_SUFFIX.captures(version)?;
    let normalized = normalize_branch(&text(group(&branch, 1)));
    (!normalized.contains("dev-")).then_some(normalized)
}

/// The error `normalize` throws, with Composer's hint when the string is one side
/// of an alias (`"<source> as <alias>"`).
fn invalid_version(full: &str, version: &str) -> VersionError {
    let (full_text, version) = (full, version.as_bytes());
    let full = full_text.as_bytes();
    let full_owned = || full_text.to_owned();
    if is_alias_target(full, version) {
        VersionError::InvalidAlias {
            version: full_owned(),
            full: full_owned(),
        }
    } else if is_alias_source(full, version) {
        VersionError::InvalidAliasSource {
            version: full_owned(),
            full: full_owned(),
        }
    } else {
        VersionError::Invalid(full_owned())
    }
}

/// Composer's `{ +as +<version>(?:@(?:<stabilities>))?$}` test on the full string,
/// by hand because the pattern embeds user text of any length. `full` is trimmed, so
/// `$` can only be its end.
fn is_alias_target(full: &[u8], version: &[u8]) -> bool {
    let without_flag = STABILITIES
        .split('|')
        .filter_map(|flag| full.strip_suffix(format!("@{flag}").as_bytes()));
    std::iter::once(full).chain(without_flag).any(|head| {
        head.strip_suffix(version)
            .and_then(|before| before.strip_suffix(b" "))
            .map(trim_end_spaces)
            .and_then(|before| before.strip_suffix(b"as"))
            .is_some_and(|before| before.ends_with(b" "))
    })
}

/// Composer's `{^<version>(?:@(?:<stabilities>))? +as +}` test on the full string.
fn is_alias_source(full: &[u8], version: &[u8]) -> bool {
    let Some(rest) = full.strip_prefix(version) else {
        return false;
    };
    let without_flag = STABILITIES
        .split('|')
        .filter_map(|flag| rest.strip_prefix(format!("@{flag}").as_bytes()));
    std::iter::once(rest).chain(without_flag).any(|tail| {
        tail.strip_prefix(b" ")
            .map(trim_start_spaces)
            .and_then(|after| after.strip_prefix(b"as"))
            .is_some_and(|after| after.starts_with(b" "))
    })
}

fn trim_end_spaces(s: &[u8]) -> &[u8] {
    let kept = s.len() - s.iter().rev().take_while(|&&b| b == b' ').count();
    &s[..kept]
}

fn trim_start_spaces(s: &[u8]) -> &[u8] {
    &s[s.iter().take_while(|&&b| b == b' ').count()..]
}

#[cfg(test)]
mod tests {
    use super::{MAX_VERSION_LENGTH, VersionError, normalize, split_and_group};

    /// Found by fuzzing (fuzz/corpus/version/regression-normal-form-too-long): a
    /// 253-character version was accepted with a 257-character normal form, which
    /// `normalize` then refused.
    #[test]
    fn normal_forms_stay_within_the_limit() {
        let long = format!("1.{}", "6".repeat(MAX_VERSION_LENGTH - 2));
        assert_eq!(
            normalize(&long),
            Err(VersionError::TooLong(MAX_VERSION_LENGTH + 4))
        );
        let fits = format!("1.{}", "6".repeat(MAX_VERSION_LENGTH - 6));
        let normalized = normalize(&fits).unwrap();
        assert_eq!(normalized.len(), MAX_VERSION_LENGTH);
        assert_eq!(normalize(&normalized).as_ref(), Ok(&normalized));
    }

    /// Expected values from PHP's `preg_split` with composer/semver's and-separator.
    #[test]
    fn and_groups_split_where_composer_splits() {
        let cases: &[(&str, &[&str])] = &[
            (">2.0 , <=3.0", &[">2.0", "<=3.0"]),
            ("1.0 - 2.0", &["1.0 - 2.0"]),
            ("foo as 1.0", &["foo as 1.0"]),
            ("~1 ~", &["~1", "~"]),
            (">2.0,,<=3.0", &[">2.0,,<=3.0"]),
            ("a ,b", &["a", "b"]),
            ("a, ", &["a", " "]),
            ("1.0 -2.0", &["1.0 -2.0"]),
            ("x  as  y z", &["x", " as  y", "z"]),
            ("> 2.0   <=  3.0", &["> 2.0", "<=  3.0"]),
        ];
        for &(group, expected) in cases {
            let parts: Vec<&[u8]> = split_and_group(group.as_bytes());
            let expected: Vec<&[u8]> = expected.iter().map(|p| p.as_bytes()).collect();
            assert_eq!(parts, expected, "split_and_group({group:?})");
        }
    }
}
