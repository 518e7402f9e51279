//! Package-name rules, as Composer enforces them.
//!
//! Mirrors `Composer\Package\Loader\ValidatingArrayLoader::hasPackageNamingError()` and
//! `Composer\Repository\PlatformRepository::isPlatformPackage()` (composer/composer).
//! Composer reports every failure with one long sentence; here each failure has its own
//! variant so that a user is told exactly what to change.

use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The longest name accepted for a hosted package.
///
/// Composer itself has no limit, but packagist and Packeton store names in a
/// `VARCHAR(191)` column (the longest indexable utf8mb4 string in MySQL), so no name
/// longer than this exists in either, and keeping to it keeps our storage keys sane.
pub const MAX_NAME_LENGTH: usize = 191;

/// Vendor and package names Windows cannot use as file names; Composer refuses them
/// because packages are installed into `vendor/<vendor>/<package>`.
const RESERVED_NAMES: [&str; 22] = [
    "nul", "con", "prn", "aux", "com1", "com2", "com3", "com4", "com5", "com6", "com7", "com8",
    "com9", "lpt1", "lpt2", "lpt3", "lpt4", "lpt5", "lpt6", "lpt7", "lpt8", "lpt9",
];

/// Composer's shape for names, `^[a-z0-9]([_.-]?[a-z0-9]+)*/[a-z0-9](([_.]|-{1,2})?[a-z0-9]+)*$`
/// with the `i` flag (PCRE without `u` folds ASCII only): words of ASCII letters and
/// digits, separated in the vendor by one `_`, `.` or `-`, in the package by one `_`
/// or `.` or by one or two `-`. Checked by hand rather than with a regex because every
/// Composer request checks the name it asks for.
fn has_composer_shape(name: &str) -> bool {
    name.split_once('/').is_some_and(|(vendor, package)| {
        words_with_separators(vendor, 1) && words_with_separators(package, 2)
    })
}

/// Whether `part` is ASCII alphanumeric words joined by single `_`, `.` or `-`, or by
/// runs of at most `max_dashes` dashes.
fn words_with_separators(part: &str, max_dashes: usize) -> bool {
    let bytes = part.as_bytes();
    let (Some(first), Some(last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    first.is_ascii_alphanumeric()
        && last.is_ascii_alphanumeric()
        && bytes
            .split(u8::is_ascii_alphanumeric)
            .all(|separator| match separator {
                [] | [b'_' | b'.' | b'-'] => true,
                dashes => dashes.len() <= max_dashes && dashes.iter().all(|&b| b == b'-'),
            })
}

/// `PlatformRepository::PLATFORM_PACKAGE_REGEX`.
static PLATFORM_NAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?i-u:php(?:-64bit|-ipv6|-zts|-debug)?|hhvm|(?:ext|lib)-[a-z0-9](?:[_.-]?[a-z0-9]+)*|composer(?:-(?:plugin|runtime)-api)?)$",
    )
    .expect("platform package regex compiles")
});

/// Where Composer splits a camel-cased name to suggest a lowercase one.
static CAMEL_CASE_BOUNDARY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"([a-z])([A-Z])|([A-Z])([A-Z][a-z])").expect("camel case regex compiles")
});

/// Why a name is not an acceptable Composer package name.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NameError {
    #[error("package name is empty")]
    Empty,
    #[error("package name is {length} characters long; at most {MAX_NAME_LENGTH} are allowed")]
    TooLong { length: usize },
    #[error("{name} has no vendor: a package name must be \"vendor/package\"")]
    MissingVendor { name: String },
    #[error("{name} has more than one slash: a package name must be \"vendor/package\"")]
    TooManySlashes { name: String },
    #[error(
        "{name} contains {character:?}: package names may only contain a-z, 0-9, \"-\", \".\", \"_\" and one \"/\""
    )]
    InvalidCharacter { name: String, character: char },
    #[error(
        "{name} is invalid: vendor and package must start and end with a letter or digit, with words separated by a single \"-\", \".\" or \"_\" (the package part also allows \"--\"); the name must match \"^[a-z0-9]([_.-]?[a-z0-9]+)*/[a-z0-9](([_.]|-{{1,2}})?[a-z0-9]+)*$\""
    )]
    BadSeparators { name: String },
    #[error("{name} is reserved: vendor and package names can not be any of {}", RESERVED_NAMES.join(", "))]
    Reserved { name: String },
    #[error(
        "{name} is invalid: package names can not end in .json (consider a -json suffix instead)"
    )]
    JsonSuffix { name: String },
    #[error("{name} is invalid: package names must be lowercase; use {suggestion} instead")]
    Uppercase { name: String, suggestion: String },
}

/// Checks a package name as written in a package's own composer.json `name`.
///
/// Mirrors `ValidatingArrayLoader::hasPackageNamingError($name)` for a non-platform name,
/// plus [`MAX_NAME_LENGTH`]. Platform names (`php`, `ext-json`, ...) have no vendor and so
/// are refused here, which is what a repository wants: nobody may publish `php`.
pub fn validate(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.len() > MAX_NAME_LENGTH {
        return Err(NameError::TooLong { length: name.len() });
    }
    check_structure(name)?;
    if name.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(NameError::Uppercase {
            name: name.to_owned(),
            suggestion: suggest_lowercase(name),
        });
    }
    Ok(())
}

/// Checks the name of a link target: a key of `require`, `require-dev`, `conflict`,
/// `provide` or `replace`.
///
/// Mirrors `ValidatingArrayLoader::hasPackageNamingError($name, isLink: true)`: platform
/// packages are accepted as they are, and the uppercase suggestion is plain lowercasing.
/// No length limit applies, since the name is someone else's.
pub fn validate_link_name(name: &str) -> Result<(), NameError> {
    if is_platform_package(name) {
        return Ok(());
    }
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    check_structure(name)?;
    if name.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(NameError::Uppercase {
            name: name.to_owned(),
            suggestion: name.to_ascii_lowercase(),
        });
    }
    Ok(())
}

/// Whether Composer treats `name` as a platform package (provided by the PHP runtime,
/// never by a repository). Mirrors `PlatformRepository::isPlatformPackage()`;
/// case-insensitive, like Composer.
pub fn is_platform_package(name: &str) -> bool {
    PLATFORM_NAME.is_match(name)
}

/// Every rule except case and length, in the order that gives the most precise message.
fn check_structure(name: &str) -> Result<(), NameError> {
    let owned = || name.to_owned();
    match name.matches('/').count() {
        0 => return Err(NameError::MissingVendor { name: owned() }),
        1 => {}
        _ => return Err(NameError::TooManySlashes { name: owned() }),
    }
    if let Some(character) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '/')))
    {
        return Err(NameError::InvalidCharacter {
            name: owned(),
            character,
        });
    }
    if !has_composer_shape(name) {
        return Err(NameError::BadSeparators { name: owned() });
    }
    if name.split('/').any(|part| {
        RESERVED_NAMES
            .iter()
            .any(|reserved| part.eq_ignore_ascii_case(reserved))
    }) {
        return Err(NameError::Reserved { name: owned() });
    }
    if name.ends_with(".json") {
        return Err(NameError::JsonSuffix { name: owned() });
    }
    Ok(())
}

/// Composer's suggestion for an uppercase name: split camel case with dashes, then
/// lowercase (`FooBar/HTTPClient` → `foo-bar/http-client`).
fn suggest_lowercase(name: &str) -> String {
    CAMEL_CASE_BOUNDARY
        .replace_all(name, "${1}${3}-${2}${4}")
        .to_ascii_lowercase()
}

/// Whether `name` matches a package name pattern as Composer reads
/// `available-package-patterns`: `*` matches any run of characters; everything else
/// matches itself.
pub fn pattern_matches(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !name.starts_with(first)
        || !name[first.len()..].ends_with(last)
        || name.len() < first.len() + last.len()
    {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    true
}

/// A valid package name (`vendor/package`), as accepted by [`validate`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PackageName(String);

impl PackageName {
    /// Validates `name` with [`validate`].
    pub fn parse(name: &str) -> Result<Self, NameError> {
        validate(name)?;
        Ok(Self(name.to_owned()))
    }

    /// The part before the slash.
    pub fn vendor(&self) -> &str {
        self.split().0
    }

    /// The part after the slash.
    pub fn package(&self) -> &str {
        self.split().1
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn split(&self) -> (&str, &str) {
        self.0
            .split_once('/')
            .expect("a validated package name has exactly one slash")
    }
}

impl fmt::Display for PackageName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for PackageName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl FromStr for PackageName {
    type Err = NameError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::parse(name)
    }
}

impl TryFrom<String> for PackageName {
    type Error = NameError;

    fn try_from(name: String) -> Result<Self, Self::Error> {
        validate(&name)?;
        Ok(Self(name))
    }
}

impl From<PackageName> for String {
    fn from(name: PackageName) -> Self {
        name.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hand-written shape check agrees with Composer's regex on every string of up
    /// to 6 characters over letters of both cases, a digit, each separator and `/`.
    #[test]
    fn shape_check_agrees_with_composers_regex() {
        let regex = Regex::new(
            r"^[A-Za-z0-9](?:[_.-]?[A-Za-z0-9]+)*/[A-Za-z0-9](?:(?:[_.]|-{1,2})?[A-Za-z0-9]+)*$",
        )
        .unwrap();
        let alphabet = ['a', 'B', '0', '-', '.', '_', '/'];
        let mut names = vec![String::new()];
        let mut checked = 0;
        for _ in 0..6 {
            names = names
                .iter()
                .flat_map(|name| alphabet.iter().map(move |c| format!("{name}{c}")))
                .collect();
            for name in &names {
                assert_eq!(has_composer_shape(name), regex.is_match(name), "{name:?}");
                checked += 1;
            }
        }
        assert_eq!(checked, (1..=6).map(|n| 7usize.pow(n)).sum::<usize>());
    }

    #[test]
    fn valid_names() {
        let names = [
            "foo/bar",
            "a/b",
            "0/0",
            "foo/bar-baz",
            "foo/bar--baz",
            "foo/b-ar--ba-z",
            "npm-asset/angular--core",
            "foo.bar/baz.qux",
            "foo_bar/baz_qux",
            "foo-bar/baz",
            "acme123/lib456",
            "symfony/http-kernel",
            "doctrine/orm",
            "psr/log",
            "vendor/package.name_with-mixed",
            "a1-b2.c3_d4/e5",
            "con1/foo",
            "foo/bar.jsonx",
            "foo/json",
        ];
        for name in names {
            assert_eq!(validate(name), Ok(()), "{name} should be valid");
            let parsed = PackageName::parse(name).expect(name);
            assert_eq!(parsed.to_string(), name);
        }
    }

    /// Recognises the expected error of one invalid-name case.
    type Expectation = fn(&NameError) -> bool;

    #[test]
    fn invalid_names() {
        let long = format!("{}/{}", "a".repeat(100), "b".repeat(91));
        let cases: Vec<(&str, Expectation)> = vec![
            ("", |e| matches!(e, NameError::Empty)),
            (&long, |e| matches!(e, NameError::TooLong { length: 192 })),
            ("foo", |e| matches!(e, NameError::MissingVendor { .. })),
            ("php", |e| matches!(e, NameError::MissingVendor { .. })),
            ("ext-json", |e| matches!(e, NameError::MissingVendor { .. })),
            ("foo/bar/baz", |e| {
                matches!(e, NameError::TooManySlashes { .. })
            }),
            ("foo/bar baz", |e| {
                matches!(e, NameError::InvalidCharacter { character: ' ', .. })
            }),
            ("foo/bär", |e| {
                matches!(
                    e,
                    NameError::InvalidCharacter {
                        character: 'ä', ..
                    }
                )
            }),
            ("foo/bar\n", |e| {
                matches!(
                    e,
                    NameError::InvalidCharacter {
                        character: '\n',
                        ..
                    }
                )
            }),
            ("foo/bar@1", |e| {
                matches!(e, NameError::InvalidCharacter { character: '@', .. })
            }),
            ("foo/ba\u{212a}", |e| {
                matches!(e, NameError::InvalidCharacter { .. })
            }),
            ("foo/-bar-", |e| {
                matches!(e, NameError::BadSeparators { .. })
            }),
            ("foo/-bar", |e| matches!(e, NameError::BadSeparators { .. })),
            ("fo--oo/bar", |e| {
                matches!(e, NameError::BadSeparators { .. })
            }),
            ("fo-oo/bar__baz", |e| {
                matches!(e, NameError::BadSeparators { .. })
            }),
            ("fo-oo/bar_.baz", |e| {
                matches!(e, NameError::BadSeparators { .. })
            }),
            ("foo/bar---baz", |e| {
                matches!(e, NameError::BadSeparators { .. })
            }),
            ("/bar", |e| matches!(e, NameError::BadSeparators { .. })),
            ("foo/", |e| matches!(e, NameError::BadSeparators { .. })),
            ("foo./bar", |e| matches!(e, NameError::BadSeparators { .. })),
            ("com1/foo", |e| matches!(e, NameError::Reserved { .. })),
            ("foo/nul", |e| matches!(e, NameError::Reserved { .. })),
            ("Foo/Con", |e| matches!(e, NameError::Reserved { .. })),
            ("foo/bar.json", |e| {
                matches!(e, NameError::JsonSuffix { .. })
            }),
            (
                "Foo/Bar",
                |e| matches!(e, NameError::Uppercase { suggestion, .. } if suggestion == "foo/bar"),
            ),
            (
                "FooBar/HTTPClient",
                |e| matches!(e, NameError::Uppercase { suggestion, .. } if suggestion == "foo-bar/http-client"),
            ),
            (
                "acme/Lib",
                |e| matches!(e, NameError::Uppercase { suggestion, .. } if suggestion == "acme/lib"),
            ),
        ];
        for (name, expected) in cases {
            let error = validate(name).expect_err(name);
            assert!(expected(&error), "{name:?} gave {error:?}");
            assert_eq!(PackageName::parse(name), Err(error));
        }
    }

    #[test]
    fn link_names_accept_platform_packages_and_refuse_bad_names() {
        for name in [
            "php",
            "ext-json",
            "lib-icu",
            "composer-plugin-api",
            "acme/lib",
        ] {
            assert_eq!(validate_link_name(name), Ok(()), "{name}");
        }
        assert!(matches!(
            validate_link_name("FooBar/Baz"),
            Err(NameError::Uppercase { suggestion, .. }) if suggestion == "foobar/baz"
        ));
        assert!(matches!(
            validate_link_name("foo"),
            Err(NameError::MissingVendor { .. })
        ));
        assert!(matches!(validate_link_name(""), Err(NameError::Empty)));
    }

    #[test]
    fn platform_packages() {
        let platform = [
            "php",
            "PHP",
            "php-64bit",
            "php-ipv6",
            "php-zts",
            "php-debug",
            "hhvm",
            "ext-json",
            "ext-pdo_mysql",
            "ext-Zend-OPcache",
            "lib-icu",
            "lib-libxml",
            "composer",
            "composer-plugin-api",
            "composer-runtime-api",
        ];
        for name in platform {
            assert!(is_platform_package(name), "{name} is a platform package");
        }
        let not_platform = [
            "php-foo",
            "ext-",
            "ext-json-",
            "lib",
            "composer-api",
            "foo/php",
            "phpunit/phpunit",
            "ext-\u{212a}",
        ];
        for name in not_platform {
            assert!(
                !is_platform_package(name),
                "{name} is not a platform package"
            );
        }
    }

    #[test]
    fn parts_and_conversions() {
        let name: PackageName = "acme/http-client".parse().unwrap();
        assert_eq!(name.vendor(), "acme");
        assert_eq!(name.package(), "http-client");
        assert_eq!(name.as_ref(), "acme/http-client");
        let json = serde_json::to_string(&name).unwrap();
        assert_eq!(json, "\"acme/http-client\"");
        assert_eq!(serde_json::from_str::<PackageName>(&json).unwrap(), name);
        assert!(serde_json::from_str::<PackageName>("\"Acme/Lib\"").is_err());
    }

    #[test]
    fn messages_are_specific() {
        assert_eq!(
            validate("acme/Lib").unwrap_err().to_string(),
            "acme/Lib is invalid: package names must be lowercase; use acme/lib instead"
        );
        assert_eq!(
            validate("acme").unwrap_err().to_string(),
            "acme has no vendor: a package name must be \"vendor/package\""
        );
    }

    #[test]
    fn patterns_match_like_composers_available_package_patterns() {
        assert!(pattern_matches("symfony/*", "symfony/console"));
        assert!(!pattern_matches("symfony/*", "laravel/framework"));
        assert!(pattern_matches("*/log", "psr/log"));
        assert!(pattern_matches("a*b*c", "axxbyyc"));
        assert!(!pattern_matches("a*b*c", "axxc"));
        assert!(pattern_matches("psr/log", "psr/log"));
        assert!(!pattern_matches("ab*ba", "aba"));
    }
}
