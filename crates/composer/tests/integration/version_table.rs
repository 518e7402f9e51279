//! Table tests for `composer::version`.
//!
//! The cases marked "semver" are composer/semver's own `VersionParserTest` data
//! providers (tests/VersionParserTest.php, 3.4); the "extra" ones were run through
//! composer/semver to get their expected values, and cover rules its tables leave
//! implicit (PHP's trim, PCRE's `$`, case handling, the alias error messages).

use composer::version::{
    Stability, VersionError, is_dev, normalize, normalize_branch, normalize_default_branch,
    normalize_stability, parse_constraints, parse_numeric_alias_prefix, parse_stability,
};

/// semver: `successfulNormalizedVersions`.
const SEMVER_NORMALIZED: &[(&str, &str)] = &[
    ("1.0.0", "1.0.0.0"),
    ("1.2.3.4", "1.2.3.4"),
    ("1.0.0RC1dev", "1.0.0.0-RC1-dev"),
    ("1.0.0-rC15-dev", "1.0.0.0-RC15-dev"),
    ("1.0.0.RC.15-dev", "1.0.0.0-RC15-dev"),
    ("1.0.0-rc1", "1.0.0.0-RC1"),
    ("1.0.0.pl3-dev", "1.0.0.0-patch3-dev"),
    ("1.0-dev", "1.0.0.0-dev"),
    ("0", "0.0.0.0"),
    ("99999", "99999.0.0.0"),
    ("10.4.13-beta", "10.4.13.0-beta"),
    ("10.4.13beta2", "10.4.13.0-beta2"),
    ("10.4.13beta.2", "10.4.13.0-beta2"),
    ("v1.13.11-beta.0", "1.13.11.0-beta0"),
    ("1.13.11.0-beta0", "1.13.11.0-beta0"),
    ("10.4.13-b", "10.4.13.0-beta"),
    ("10.4.13-b5", "10.4.13.0-beta5"),
    ("v1.0.0", "1.0.0.0"),
    ("2010.01", "2010.01.0.0"),
    ("2010.01.02", "2010.01.02.0"),
    ("2010.1.555", "2010.1.555.0"),
    ("2010.10.200", "2010.10.200.0"),
    ("20230131.0.0", "20230131.0.0"),
    ("202301310000.0.0", "202301310000.0.0"),
    ("v20100102", "20100102"),
    ("20100102", "20100102"),
    ("20100102.0", "20100102.0"),
    ("20100102.1.0", "20100102.1.0"),
    ("20100102.0.3", "20100102.0.3"),
    ("100000", "100000"),
    ("2010-01-02-10-20-30.0.3", "2010.01.02.10.20.30.0.3"),
    ("2010-01-02-10-20-30.5", "2010.01.02.10.20.30.5"),
    ("2010-01-02", "2010.01.02"),
    ("2012.06.07", "2012.06.07.0"),
    ("2010-01-02.5", "2010.01.02.5"),
    ("20100102-203040", "20100102.203040"),
    ("20100102.x-dev", "20100102.9999999.9999999.9999999-dev"),
    (
        "20100102.203040.x-dev",
        "20100102.203040.9999999.9999999-dev",
    ),
    ("20100102203040-10", "20100102203040.10"),
    ("20100102-203040-p1", "20100102.203040-patch1"),
    ("201903.0", "201903.0"),
    ("201903.x-dev", "201903.9999999.9999999.9999999-dev"),
    ("201903.0-p2", "201903.0-patch2"),
    ("dev-master", "dev-master"),
    ("master", "dev-master"),
    ("dev-trunk", "dev-trunk"),
    ("1.x-dev", "1.9999999.9999999.9999999-dev"),
    ("dev-feature-foo", "dev-feature-foo"),
    ("DEV-FOOBAR", "dev-FOOBAR"),
    ("dev-feature/foo", "dev-feature/foo"),
    ("dev-feature+issue-1", "dev-feature+issue-1"),
    ("dev-master as 1.0.0", "dev-master"),
    (
        "dev-load-varnish-only-when-used as ^2.0",
        "dev-load-varnish-only-when-used",
    ),
    (
        "dev-load-varnish-only-when-used@dev as ^2.0@dev",
        "dev-load-varnish-only-when-used",
    ),
    ("1.0.0+foo@dev", "1.0.0.0"),
    (
        "dev-load-varnish-only-when-used@stable",
        "dev-load-varnish-only-when-used",
    ),
    ("1.0.0-beta.5+foo", "1.0.0.0-beta5"),
    ("1.0.0+foo", "1.0.0.0"),
    ("1.0.0-alpha.3.1+foo", "1.0.0.0-alpha3.1"),
    ("1.0.0-alpha2.1+foo", "1.0.0.0-alpha2.1"),
    ("1.0.0-alpha-2.1-3+foo", "1.0.0.0-alpha2.1-3"),
    ("1.0.0+foo as 2.0", "1.0.0.0"),
    ("00.01.03.04", "00.01.03.04"),
    ("000.001.003.004", "000.001.003.004"),
    ("0.000.103.204", "0.000.103.204"),
    ("0700", "0700.0.0.0"),
    ("041.x-dev", "041.9999999.9999999.9999999-dev"),
    ("dev-041.003", "dev-041.003"),
    ("dev-1.0.0-dev<1.0.5-dev", "dev-1.0.0-dev<1.0.5-dev"),
    ("dev-foo bar", "dev-foo bar"),
    (" 1.0.0", "1.0.0.0"),
    ("1.0.0 ", "1.0.0.0"),
];

/// extra: values produced by composer/semver 3.4.
const EXTRA_NORMALIZED: &[(&str, &str)] = &[
    ("v1.2", "1.2.0.0"),
    ("1.0.0-RC1", "1.0.0.0-RC1"),
    ("1.0.x-dev", "1.0.9999999.9999999-dev"),
    ("dev-main", "dev-main"),
    // PCRE's `$` also matches before a final newline, which the flag strip exposes.
    ("1.0\n@dev", "1.0.0.0"),
    // The dev-branch rule is unanchored: its match starts after the newline.
    ("a\n1.0-dev", "1.0.9999999.9999999-dev"),
    // The branch part is trimmed before it is parsed.
    ("1.0 -dev", "1.0.9999999.9999999-dev"),
    // `stable` ends the version only when spelled in lower case.
    ("1.0-STABLE-dev", "1.0.0.0-stable-dev"),
    ("1.0-stable5-dev", "1.0.0.0"),
    ("1.0.0-b\n", "1.0.0.0-beta"),
    ("1.0 as foo", "1.0.0.0"),
    ("V1.0", "1.0.0.0"),
    ("v1.0.0-p2", "1.0.0.0-patch2"),
    ("1.0-pl", "1.0.0.0-patch"),
    ("1.0.0.0-patch", "1.0.0.0-patch"),
    ("2.0.0.beta.1.2", "2.0.0.0-beta1.2"),
    ("1.0-beta-1", "1.0.0.0-beta1"),
    ("trunk", "dev-trunk"),
    ("default", "dev-default"),
    ("dev-Master", "dev-Master"),
    ("1.0.0+build.1", "1.0.0.0"),
    ("1.0.0+build+2", "1.0.0.0"),
    ("1.0.0-alpha+x as 2.0", "1.0.0.0-alpha"),
    ("123456", "123456"),
    ("99999.1", "99999.1.0.0"),
    ("100000.1", "100000.1"),
    ("v99999", "99999.0.0.0"),
    ("1.X-DEV", "1.9999999.9999999.9999999-dev"),
    ("v2.0-dev", "2.0.0.0-dev"),
    ("2.0.x.x-dev", "2.0.9999999.9999999-dev"),
    (" \t1.0\n", "1.0.0.0"),
    ("\u{0}1.0", "1.0.0.0"),
    ("1.0@dev", "1.0.0.0"),
    ("1.0@DEV", "1.0.0.0"),
    ("1.0-dev@dev", "1.0.0.0-dev"),
    ("dev-foo@dev", "dev-foo"),
    ("1.0 as 2.0@dev", "1.0.0.0"),
    ("1.0.0-rc.1", "1.0.0.0-RC1"),
    ("1.0.0RC", "1.0.0.0-RC"),
    ("1.0.0rc", "1.0.0.0-RC"),
    ("1.0.0alpha.1", "1.0.0.0-alpha1"),
    ("1.0.0-a1", "1.0.0.0-alpha1"),
    ("1.0.0-a", "1.0.0.0-alpha"),
    ("1.0p", "1.0.0.0-patch"),
    ("1.0.0.dev", "1.0.0.0-dev"),
    ("1.0.0_dev", "1.0.0.0-dev"),
    ("0.0.0", "0.0.0.0"),
    ("00.00", "00.00.0.0"),
    ("1.", "1.0.0.0"),
    ("1.0-", "1.0.0.0"),
    ("1.0.0-+foo", "1.0.0.0"),
    ("2012-06-07", "2012.06.07"),
    ("2012.6.7", "2012.6.7.0"),
    ("201206", "201206"),
    ("2012", "2012.0.0.0"),
];

/// semver: `failingNormalizedVersions`.
const SEMVER_INVALID: &[&str] = &[
    "",
    "a",
    "1.0.0-meh",
    "1.0.0.0.0",
    "feature-foo",
    "1.0.0+foo bar",
    "1.0.1-SNAPSHOT",
    "1.0.0<1.0.5-dev",
    "1.0.0-dev<1.0.5-dev",
    "foo bar-dev",
    "1.0 .2",
    " as ",
    " as 1.2",
    "^",
    "^8 || ^",
    "~",
    "~1 ~",
    "~1",
    "^1",
    "1.*",
    "20100102.0.3.4",
    "100000.0.0.0",
    "2023013.0.0",
    "202301311.0.0",
    "20230131000.0.0",
    "2023013100000.0.0",
];

/// extra: rejected by composer/semver 3.4.
const EXTRA_INVALID: &[&str] = &[
    // PCRE without the `u` flag folds ASCII only, and `\d` is ASCII digits only.
    "1.0.0-\u{17F}table",
    "\u{FF11}.0",
    "1.0.0-\u{212A}",
    "2010-01-02T10:20:30",
    "1.0_RC_1",
    "Master",
    "main",
    "1234567.1.2.3",
    "1.0.*",
    "1.x",
    "foo-dev",
    "3.next-dev",
    "1.0@foo",
    "1.0@stable@dev",
    "1.0.0-dev-dev",
    "1.0.0dev1",
    "v",
    "1..0",
    "-1.0",
    ".1.0",
    "20120607.1.2.3.4",
    "1.0 as",
    "1.0 RC",
    "1.0\u{A0}",
];

#[test]
fn normalize_accepts_what_composer_accepts() {
    for &(input, expected) in SEMVER_NORMALIZED.iter().chain(EXTRA_NORMALIZED) {
        assert_eq!(
            normalize(input).as_deref(),
            Ok(expected),
            "normalize({input:?})"
        );
    }
}

#[test]
fn normalize_rejects_what_composer_rejects() {
    for &input in SEMVER_INVALID.iter().chain(EXTRA_INVALID) {
        let trimmed = input.trim_matches([' ', '\t', '\n', '\r', '\0', '\x0B']);
        assert_eq!(
            normalize(input),
            Err(VersionError::Invalid(trimmed.to_owned())),
            "normalize({input:?})"
        );
    }
}

#[test]
fn the_table_is_large_enough() {
    let total = SEMVER_NORMALIZED.len()
        + EXTRA_NORMALIZED.len()
        + SEMVER_INVALID.len()
        + EXTRA_INVALID.len();
    assert!(total >= 150, "only {total} normalize cases");
}

#[test]
fn normalize_explains_bad_aliases_like_composer() {
    assert_eq!(
        normalize("foo as foo").unwrap_err().to_string(),
        r#"invalid version string "foo as foo" in "foo as foo", the alias must be an exact version"#
    );
    assert_eq!(
        normalize("foo as 1.0").unwrap_err().to_string(),
        r#"invalid version string "foo as 1.0" in "foo as 1.0", the alias source must be an exact version, if it is a branch name you should prefix it with dev-"#
    );
    assert_eq!(
        normalize("foo@dev as 1.0"),
        Err(VersionError::InvalidAliasSource {
            version: "foo@dev as 1.0".to_owned(),
            full: "foo@dev as 1.0".to_owned()
        })
    );
    assert_eq!(
        normalize("feature-a  as  feature-a@beta"),
        Err(VersionError::InvalidAlias {
            version: "feature-a  as  feature-a@beta".to_owned(),
            full: "feature-a  as  feature-a@beta".to_owned()
        })
    );
    assert_eq!(
        normalize("meh").unwrap_err().to_string(),
        r#"invalid version string "meh""#
    );
}

#[test]
fn normalize_branch_matches_composer() {
    const CASES: &[(&str, &str)] = &[
        // semver: `successfulNormalizedBranches`.
        ("v1.x", "1.9999999.9999999.9999999-dev"),
        ("v1.*", "1.9999999.9999999.9999999-dev"),
        ("v1.0", "1.0.9999999.9999999-dev"),
        ("2.0", "2.0.9999999.9999999-dev"),
        ("v1.0.x", "1.0.9999999.9999999-dev"),
        ("v1.0.3.*", "1.0.3.9999999-dev"),
        ("v2.4.0", "2.4.0.9999999-dev"),
        ("2.4.4", "2.4.4.9999999-dev"),
        ("master", "dev-master"),
        ("trunk", "dev-trunk"),
        ("feature-a", "dev-feature-a"),
        ("FOOBAR", "dev-FOOBAR"),
        ("feature+issue-1", "dev-feature+issue-1"),
        // extra.
        ("1.0\n", "1.0.9999999.9999999-dev"),
        ("V2.X", "2.9999999.9999999.9999999-dev"),
        (" 3.x ", "3.9999999.9999999.9999999-dev"),
        ("1.2.3.4", "1.2.3.4-dev"),
        ("1.2.3.4.5", "dev-1.2.3.4.5"),
        ("v", "dev-v"),
        ("1.x.2", "1.9999999.2.9999999-dev"),
        ("01.2", "01.2.9999999.9999999-dev"),
        ("1.0-dev", "dev-1.0-dev"),
        ("dev-1.x", "dev-dev-1.x"),
        ("main", "dev-main"),
    ];
    for &(input, expected) in CASES {
        assert_eq!(
            normalize_branch(input),
            expected,
            "normalize_branch({input:?})"
        );
    }
}

#[test]
fn parse_stability_matches_composer() {
    use Stability::*;
    const CASES: &[(Stability, &str)] = &[
        // semver: `stabilityProvider`.
        (Stable, "1"),
        (Stable, "1.0"),
        (Stable, "3.2.1"),
        (Stable, "v3.2.1"),
        (Dev, "v2.0.x-dev"),
        (Dev, "v2.0.x-dev#abc123"),
        (Dev, "v2.0.x-dev#trunk/@123"),
        (RC, "3.0-RC2"),
        (Dev, "dev-master"),
        (Dev, "3.1.2-dev"),
        (Dev, "dev-feature+issue-1"),
        (Stable, "3.1.2-p1"),
        (Stable, "3.1.2-pl2"),
        (Stable, "3.1.2-patch"),
        (Alpha, "3.1.2-alpha5"),
        (Beta, "3.1.2-beta"),
        (Beta, "2.0B1"),
        (Alpha, "1.2.0a1"),
        (Alpha, "1.2_a1"),
        (RC, "2.0.0rc1"),
        (Alpha, "1.0.0-alpha11+cs-1.1.0"),
        (Dev, "1-2_dev"),
        // extra.
        (Beta, "1.0.0-b\n"),
        (Dev, "1.0-beta1-dev"),
        (Alpha, "1.0.0-ALPHA"),
        (RC, "1.0.0-Rc1"),
        (RC, "1.0-RC1#dev-"),
        (Dev, "dev-foo#x"),
        (Stable, "1.0.0-stable"),
        (Stable, "1.0.0-patch1"),
        (Beta, "1.0beta"),
        (Dev, "1.0.0-dev#abc"),
        (Dev, "foo-DEV"),
        (Dev, "1.0.x-dev\n"),
        (Dev, "2.0.x-dev@dev"),
        (Alpha, "1.0.0-alpha#beta"),
        (RC, "1.0 RC"),
        (Beta, "1.0.0-b+rc.1"),
    ];
    for &(expected, input) in CASES {
        assert_eq!(
            parse_stability(input),
            expected,
            "parse_stability({input:?})"
        );
    }
}

#[test]
fn parse_numeric_alias_prefix_matches_composer() {
    const CASES: &[(&str, Option<&str>)] = &[
        // semver: `numericAliasVersions`.
        ("0.x-dev", Some("0.")),
        ("1.0.x-dev", Some("1.0.")),
        ("1.x-dev", Some("1.")),
        ("1.2.x-dev", Some("1.2.")),
        ("1.2-dev", Some("1.2.")),
        ("1-dev", Some("1.")),
        ("dev-develop", None),
        ("dev-master", None),
        // extra.
        ("1.0.x-dev\n", Some("1.0.")),
        ("1.X-DEV", Some("1.")),
        ("1.2.3.4.x-dev", Some("1.2.3.4.")),
        ("2.0.x-dev@dev", None),
        ("v1.x-dev", None),
        ("1.x.x-dev", None),
        ("1.x-dev#abc", None),
    ];
    for &(input, expected) in CASES {
        assert_eq!(
            parse_numeric_alias_prefix(input).as_deref(),
            expected,
            "parse_numeric_alias_prefix({input:?})"
        );
    }
}

#[test]
fn normalize_default_branch_maps_only_the_three_defaults() {
    for name in ["dev-master", "dev-default", "dev-trunk"] {
        assert_eq!(normalize_default_branch(name), "9999999-dev", "{name}");
    }
    for name in ["dev-main", "master", "dev-Master", "1.0.0.0", "9999999-dev"] {
        assert_eq!(normalize_default_branch(name), name, "{name}");
    }
}

#[test]
fn normalize_stability_is_case_insensitive_and_strict() {
    assert_eq!(normalize_stability("rc"), Ok(Stability::RC));
    assert_eq!(normalize_stability("BeTa"), Ok(Stability::Beta));
    assert_eq!(normalize_stability("stable"), Ok(Stability::Stable));
    assert_eq!(
        normalize_stability("Patch"),
        Err(VersionError::InvalidStability("patch".to_owned()))
    );
    assert_eq!(Stability::RC.as_str(), "RC");
    assert!(Stability::Dev < Stability::Alpha && Stability::RC < Stability::Stable);
}

#[test]
fn is_dev_splits_branches_from_tags() {
    for normalized in [
        "dev-main",
        "dev-feature/x",
        "1.9999999.9999999.9999999-dev",
        "1.0.0.0-RC1-dev",
    ] {
        assert!(is_dev(normalized), "{normalized}");
    }
    for normalized in [
        "1.0.0.0",
        "1.0.0.0-RC1",
        "20100102.203040",
        "1.0.0.0-patch1",
    ] {
        assert!(!is_dev(normalized), "{normalized}");
    }
}

#[test]
fn parse_constraints_accepts_what_composer_accepts() {
    const CASES: &[&str] = &[
        // semver: simple, wildcard, tilde, caret, hyphen, multi and complex tables.
        "*",
        "v*",
        "*.*",
        "v*.*",
        "*.x.*",
        "x.X.x.*",
        "<>1.0.0",
        "!=1.0.0",
        ">1.0.0",
        "<1.2.3.4",
        "<=1.2.3",
        ">=1.2.3",
        "=1.2.3",
        "==1.2.3",
        "1.2.3",
        "=1.0",
        "1.2.3b5",
        "1.2.3a1",
        "1.2.3p1234",
        "1.2.3pl1234",
        ">= 1.2.3",
        "< 1.2.3",
        "> 1.2.3",
        ">=dev-master",
        "dev-master",
        "dev-feature-a",
        "dev-some-fix",
        "dev-CAPS",
        "dev-master as 1.0.0",
        "<1.2.3.4-stable",
        ">=1.2.3.4-stable",
        "v2.*",
        "2.*.*",
        "20.*",
        "20.*.*",
        "2.0.*",
        "2.x",
        "2.x.x",
        "2.2.x",
        "2.10.X",
        "2.1.3.*",
        "0.*",
        "0.*.*",
        "0.x",
        "0.x.x",
        "~v1",
        "~1.0",
        "~1.0.0",
        "~1.2",
        "~1.2.3",
        "~1.2.3.4",
        "~1.2-beta",
        "~1.2-b2",
        "~1.2-BETA2",
        "~1.2.2-dev",
        "~1.2.2-stable",
        "~201903.0",
        "~201903.0-beta",
        "~201903.0-stable",
        "~201903.205830.1-stable",
        "~2.x-dev",
        "~2.0.x-dev",
        "~2.0.3.x-dev",
        "~0.x-dev",
        "^v1",
        "^0",
        "^0.0",
        "^1.2",
        "^1.2.3-beta.2",
        "^1.2.3.4",
        "^1.2.3",
        "^0.2.3",
        "^0.2",
        "^0.2.0",
        "^0.0.3",
        "^0.0.3-alpha",
        "^0.0.3-dev",
        "^0.0.3-stable",
        "^201903.0",
        "^201903.0-beta",
        "^201903.205830.1-stable",
        "^2.x-dev",
        "^2.0.*-dev",
        "^2.0.x-dev",
        "^2.0.3.x-dev",
        "^0.x-dev",
        "v1 - v2",
        "1.2.3 - 2.3.4.5",
        "1.2-beta - 2.3",
        "1.2-beta - 2.3-dev",
        "1.2-RC - 2.3.1",
        "1.2.3-alpha - 2.3-RC",
        "1 - 2.0",
        "1 - 2.1",
        "1.2 - 2.1.0",
        "1.3 - 2.1.3",
        "2.0.3.x-dev - 3.0.3.x-dev",
        "2.0.x-dev - 3.0.x-dev",
        "2.x-dev - 3.x-dev",
        "0.x-dev - 1.x-dev",
        "3.x-dev",
        "3-dev",
        "dev-3.x",
        "xsd2php-dev",
        "3.next-dev",
        "foobar-dev",
        "dev-xsd2php",
        "dev-3.next",
        "dev-1.0.0-dev<1.0.5-dev",
        "dev-1.0.0-dev<1.0.5",
        "foobar-dev as 2.1.0",
        "foobar-dev as 2.1.0 || 3.5",
        "foobar-dev as 2.1.0 || 3.5 as 1.5",
        "2.1.0 - 2.3-dev",
        "1.0 - 2.0.x-dev",
        "^1.",
        "~1.",
        "1.2.",
        "1.2..dev",
        "1.2-.dev",
        "1.2_-dev",
        "~2.5.9|~2.6,>=2.6.2",
        ">2.0,<=3.0",
        ">2.0 <=3.0",
        ">2.0  <=3.0",
        ">2.0, <=3.0",
        ">2.0 ,<=3.0",
        ">2.0 , <=3.0",
        ">2.0   , <=3.0",
        "> 2.0   <=  3.0",
        "> 2.0  ,  <=  3.0",
        "  > 2.0  ,  <=  3.0 ",
        ">=1.1.0-alpha4,<1.2.x-dev",
        ">=1.1.0-alpha4,<1.2-beta2",
        ">2.0,<2.0.5 | >2.0.6",
        ">2.0,<2.0.5 || >2.0.6",
        "> 2.0 , <2.0.5 | >  2.0.6",
        ">2.0@stable,<=3.0@dev",
        ">2.0@stable,@dev",
        ">2.0@stable || 0@dev",
        "1.0@dev",
        ">=1.0@beta",
        "dev-load-varnish-only-when-used as ^2.0@dev",
        "dev-load-varnish-only-when-used@dev as ^2.0@dev",
        "1.0.x-dev#abcd123",
        "1.0.x-dev#trunk/@123",
        "~0.1 || ~1.0 !=1.0.1",
        // extra.
        "^1.2 || ^2.0",
        "v1.*",
        "dev-main#abc123",
        "@dev",
        "1.0@dev@dev",
        ">= 1.0, < 2.0",
        "~123456.0",
        "~1234567.1.2.3",
        "1.0 as 2.0",
        "1.0\nfoo",
        ">2.0 as 1.0",
        "dev-a as 1.0 || 2.0",
    ];
    for &input in CASES {
        assert_eq!(
            parse_constraints(input),
            Ok(()),
            "parse_constraints({input:?})"
        );
    }
}

#[test]
fn parse_constraints_rejects_what_composer_rejects() {
    const CASES: &[&str] = &[
        // semver: `failingConstraints` and the bad-reference test.
        "",
        "1.0.0-meh",
        ">2.0,,<=3.0",
        ">2.0 ,, <=3.0",
        ">2.0 ||| <=3.0",
        ",^1@dev || ^4@dev",
        ",^1@dev",
        "|| ^1@dev",
        "^1@dev ||",
        "^1@dev ,",
        "^2.0.*",
        "^2.0.x",
        "^2.0.x-beta",
        "^2.*",
        "^2.x",
        "^2.x-beta",
        "^2.1.2.*",
        "^2.1.2.x",
        "^2.1.2.x-beta",
        "~2.0.*",
        "~2.0.x",
        "~2.0.x-beta",
        "~2.*",
        "~2.x",
        "~2.x-beta",
        "~2.1.2.*",
        "~2.1.2.x",
        "~2.1.2.x-beta",
        "1.x - 2.*",
        "2.x.x.x-dev - 3.x.x.x-dev",
        "^1.*-beta-dev",
        "^1. *-dev",
        "~1.*-beta-dev",
        "1.0.0-dev<1.0.5-dev",
        "*-dev",
        "^",
        "^8 || ^",
        "~",
        "~1 ~",
        "1.0#abcd123",
        "1.0#trunk/@123",
        "~>1.2",
        // extra.
        "V1.*",
        "1.0 -2.0",
        "foo bar-dev",
        "1 - 2.x",
        "=> 1.0",
        "1.0,,2.0",
        "^1.0 |",
    ];
    for &input in CASES {
        assert!(
            parse_constraints(input).is_err(),
            "parse_constraints({input:?}) should fail"
        );
    }
}

#[test]
fn parse_constraints_reports_composers_messages() {
    let message = |input| parse_constraints(input).unwrap_err().to_string();
    assert_eq!(
        message("~>1.2"),
        r#"could not parse version constraint ~>1.2: invalid operator "~>", you probably meant to use the "~" operator"#
    );
    assert_eq!(
        message("foo bar-dev"),
        r#"could not parse version constraint foo: invalid version string "foo""#
    );
    assert_eq!(
        message("=> 1.0"),
        r#"could not parse version constraint => 1.0: invalid version string "> 1.0""#
    );
    assert_eq!(
        message("|| 1.0"),
        r#"could not parse version constraint : invalid version string """#
    );
}
