//! Differential test: our version parser against composer/semver itself, run by PHP.
//!
//! Thousands of generated strings (valid, near-valid and garbage) go through both
//! implementations; every function must give the same answer, errors included.
//!
//! The oracle is Debian's composer/semver (from the `composer` package). Debian ships
//! 3.3.2; Composer releases since 2.6 bundle 3.4, whose only change to these functions
//! is upstream commit ce46554 (date versions may end in two short number groups, e.g.
//! `20230131.0.0`). The PHP script applies that one change in memory when it is
//! missing, so the oracle is current composer/semver; it refuses to run if the
//! installed source does not look as expected.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Command;

use composer::constraint::Constraint;
use composer::version::{
    is_dev, normalize, normalize_branch, normalize_default_branch, parse_constraints,
    parse_numeric_alias_prefix, parse_stability,
};
use serde_json::Value;

const SEMVER_DIR: &str = "/usr/share/php/Composer/Semver";

const MISSING: &str = "php and composer/semver are required: run scripts/test (it installs Debian's composer package)";

const ORACLE: &str = r#"<?php
ini_set('display_errors', 'stderr');
error_reporting(E_ALL);
$dir = $argv[1];
$src = file_get_contents("$dir/VersionParser.php");
$current = '(?:[.:-]?\d{1,3}){0,2})';
$old = '(?:[.:-]?\d{1,3})?)';
if (strpos($src, $current) === false) {
    if (substr_count($src, $old) !== 1) {
        fwrite(STDERR, "unexpected $dir/VersionParser.php: cannot apply composer/semver commit ce46554\n");
        exit(3);
    }
    $src = str_replace($old, $current, $src);
}
if (strncmp($src, '<?php', 5) !== 0) {
    fwrite(STDERR, "unexpected start of VersionParser.php\n");
    exit(3);
}
require "$dir/autoload.php";
eval(substr($src, 5));

use Composer\Semver\VersionParser;
use Composer\Semver\Constraint\Constraint;

$parser = new VersionParser();
$inputs = json_decode(file_get_contents($argv[3]), true);
$results = array();
foreach ($inputs as $input) {
    if ($argv[2] === 'matches') {
        // What access rules ask: does this version satisfy this constraint?
        $version = new Constraint('==', $parser->normalize($input[1]));
        $results[] = $parser->parseConstraints($input[0])->matches($version);
        continue;
    }
    if ($argv[2] === 'constraints') {
        try {
            $parser->parseConstraints($input);
            $results[] = array('ok', null);
        } catch (UnexpectedValueException $e) {
            $results[] = array('err', $e->getMessage());
        } catch (Throwable $e) {
            $results[] = array('crash', get_class($e) . ': ' . $e->getMessage());
        }
        continue;
    }
    try {
        $normalized = array('ok', $parser->normalize($input));
    } catch (UnexpectedValueException $e) {
        $normalized = array('err', $e->getMessage());
    }
    $results[] = array(
        'normalize' => $normalized,
        'stability' => VersionParser::parseStability($input),
        'branch' => $parser->normalizeBranch($input),
        'default_branch' => $parser->normalizeDefaultBranch($input),
        'alias_prefix' => $parser->parseNumericAliasPrefix($input),
    );
}
echo json_encode($results, JSON_INVALID_UTF8_SUBSTITUTE | JSON_UNESCAPED_SLASHES);
"#;

/// SplitMix64: tiny, deterministic, good enough to spread the generated shapes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn percent(&mut self, p: usize) -> bool {
        self.below(100) < p
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

fn number(rng: &mut Rng) -> String {
    let len = match rng.below(10) {
        0..=4 => 1,
        5..=7 => 2,
        8 => 3,
        _ => 4 + rng.below(6),
    };
    let mut digits: String = (0..len)
        .map(|_| char::from(b'0' + rng.below(10) as u8))
        .collect();
    if rng.percent(8) {
        digits.insert(0, '0');
    }
    digits
}

fn classical(rng: &mut Rng) -> String {
    let parts = 1 + rng.below(5);
    let mut version = number(rng);
    for _ in 1..parts {
        version.push_str(if rng.percent(92) {
            "."
        } else {
            rng.pick(&["-", "_", ":", ".."])
        });
        if rng.percent(12) {
            version.push_str(rng.pick(&["x", "X", "*"]));
        } else {
            version.push_str(&number(rng));
        }
    }
    version
}

fn date(rng: &mut Rng) -> String {
    let mut version = format!("{}{:02}", 19 + rng.below(2), rng.below(100));
    if rng.percent(10) {
        version = format!("{}", 1000 + rng.below(9000));
    }
    for _ in 0..=rng.below(6) {
        version.push_str(rng.pick(&["", "", ".", "-", ":", "_"]));
        let _ = write!(version, "{:02}", rng.below(100));
    }
    for _ in 0..rng.below(4) {
        version.push_str(rng.pick(&[".", "-", ":", ""]));
        version.push_str(&(rng.below(1500)).to_string());
    }
    version
}

fn calver(rng: &mut Rng) -> String {
    let major = match rng.below(4) {
        0 => "20230131",
        1 => "202301310000",
        2 => "2023013",
        _ => "202301311",
    };
    let mut tail = String::new();
    for _ in 0..rng.below(4) {
        let _ = write!(tail, ".{}", rng.below(4));
    }
    format!("{major}{tail}")
}

fn modifier(rng: &mut Rng) -> String {
    let mut modifier = rng.pick(&["", "-", "-", ".", "_"]).to_owned();
    modifier.push_str(rng.pick(&[
        "stable", "beta", "b", "RC", "rc", "alpha", "a", "patch", "pl", "p", "STABLE", "Beta",
        "ALPHA", "Rc", "B", "P", "SNAPSHOT", "meh", "final", "dev", "x",
    ]));
    for _ in 0..rng.below(3) {
        modifier.push_str(rng.pick(&["", "", ".", "-", "_"]));
        modifier.push_str(&number(rng));
    }
    modifier
}

fn branch_name(rng: &mut Rng) -> String {
    rng.pick(&[
        "master",
        "trunk",
        "default",
        "main",
        "develop",
        "feature-foo",
        "feature/bar",
        "Master",
        "1.x",
        "2.0.x",
        "v3.*",
        "V4.X",
        "release-1.0",
        "foo bar",
        "x",
        "*",
        "1.0",
        "3.next",
        "fix+issue-1",
        "",
        "1-2_",
        "7.x.x",
    ])
    .to_owned()
}

/// A version-like string: mostly plausible shapes, a fair share of broken ones.
fn version(rng: &mut Rng, depth: usize) -> String {
    let mut version = match rng.below(12) {
        0..=5 => {
            let mut v = rng.pick(&["", "", "", "", "v", "V", "vv", "="]).to_owned();
            v.push_str(&match rng.below(10) {
                0 | 1 => date(rng),
                2 => calver(rng),
                _ => classical(rng),
            });
            if rng.percent(40) {
                v.push_str(&modifier(rng));
            }
            if rng.percent(20) {
                v.push_str(rng.pick(&["-dev", ".dev", "dev", "-DEV", "_dev", "-Dev", " -dev"]));
            }
            if rng.percent(12) {
                v.push_str(rng.pick(&[
                    "+foo",
                    "+exp.sha.5114f85",
                    "+",
                    "+a+b",
                    "+ x",
                    "+20130313",
                ]));
            }
            v
        }
        6 => format!(
            "{}{}",
            rng.pick(&["dev-", "DEV-", "Dev-", "dev_", "dev"]),
            branch_name(rng)
        ),
        7 => format!(
            "{}{}",
            branch_name(rng),
            rng.pick(&["", "-dev", ".x-dev", "dev", "-DEV"])
        ),
        8 if depth == 0 => format!(
            "{}{}as{}{}",
            version(rng, 1),
            rng.pick(&[" ", " ", "  ", ""]),
            rng.pick(&[" ", " ", "  ", ""]),
            version(rng, 1)
        ),
        _ => classical(rng),
    };
    if rng.percent(10) {
        version.push_str(rng.pick(&[
            "@dev", "@stable", "@RC", "@beta", "@alpha", "@DEV", "@foo", "@",
        ]));
    }
    if rng.percent(15) {
        version = mutate(rng, &version);
    }
    if rng.percent(6) {
        version = format!("{}{version}{}", whitespace(rng), whitespace(rng));
    }
    version
}

fn whitespace(rng: &mut Rng) -> &'static str {
    rng.pick(&["", " ", "\t", "\n", "\r\n", "\0", "\x0B", "\x0C", "  "])
}

/// One random edit, including characters PCRE and the regex crate could treat
/// differently (non-ASCII digits and letters that fold to ASCII ones).
fn mutate(rng: &mut Rng, version: &str) -> String {
    let boundaries: Vec<usize> = (0..=version.len())
        .filter(|&i| version.is_char_boundary(i))
        .collect();
    let at = boundaries[rng.below(boundaries.len())];
    let (head, tail) = version.split_at(at);
    match rng.below(4) {
        0 => {
            let next = tail.chars().next().map_or(0, char::len_utf8);
            format!("{head}{}", &tail[next..])
        }
        1 => version.to_uppercase(),
        _ => {
            let inserted = rng.pick(&[
                " ", ",", "#", "<", "|", "@", "+", "-", ".", "é", "\t", "\n", "\0", "a", "Z",
                "\u{17F}", "\u{212A}", "\u{663}", "\u{A0}", "\u{85}", "#abc", " as ", "x",
            ]);
            format!("{head}{inserted}{tail}")
        }
    }
}

/// A constraint string: one to three terms with operators, joined like users do.
fn constraints(rng: &mut Rng) -> String {
    let terms = 1 + rng.below(3);
    let mut out = String::new();
    for i in 0..terms {
        if i > 0 {
            out.push_str(rng.pick(&[
                ",", " ", ", ", " ,", "||", " || ", "|", " | ", ",,", "  ", " , ", "|||",
            ]));
        }
        out.push_str(&term(rng));
    }
    if rng.percent(5) {
        out = format!("{}{out}{}", whitespace(rng), whitespace(rng));
    }
    out
}

fn term(rng: &mut Rng) -> String {
    match rng.below(10) {
        0 => rng
            .pick(&[
                "*", "v*", "*.*", "x.X.x.*", "@dev", "", "^", "~", "1.*", "V1.*", "2.x.x",
            ])
            .to_owned(),
        1 => format!(
            "{}{}{}",
            version(rng, 0),
            rng.pick(&[" - ", " -", "- ", "  -  ", " - "]),
            version(rng, 0)
        ),
        2 => format!(
            "{}#{}",
            version(rng, 1),
            rng.pick(&["abc123", "trunk/@123", "", " x"])
        ),
        _ => format!(
            "{}{}{}",
            rng.pick(&[
                "", "", "", "=", "==", ">", ">=", "<", "<=", "!=", "<>", "^", "^", "~", "~", "~>",
                "=>",
            ]),
            rng.pick(&["", "", "", " ", "  "]),
            if rng.percent(50) {
                plain_version(rng)
            } else {
                version(rng, 1)
            }
        ),
    }
}

/// A version users would plausibly write in a constraint, so that enough
/// constraints are valid.
fn plain_version(rng: &mut Rng) -> String {
    let mut version = classical(rng);
    if rng.percent(20) {
        version.push_str(rng.pick(&[
            "-beta", "-RC1", "-alpha2", "-dev", ".x-dev", "@dev", "@beta",
        ]));
    }
    version
}

/// Runs the oracle on `inputs`, one JSON result per input.
fn composer_semver(mode: &str, inputs: &impl serde::Serialize) -> Vec<Value> {
    let php_works = Command::new("php")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        php_works
            && PathBuf::from(SEMVER_DIR)
                .join("VersionParser.php")
                .is_file(),
        "{MISSING}"
    );

    let dir = std::env::temp_dir().join(format!("packyard-semver-{}-{mode}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    let script = dir.join("oracle.php");
    let input_file = dir.join("inputs.json");
    std::fs::write(&script, ORACLE).expect("write oracle script");
    std::fs::write(
        &input_file,
        serde_json::to_vec(inputs).expect("inputs to json"),
    )
    .expect("write inputs");

    let output = Command::new("php")
        .arg(&script)
        .arg(SEMVER_DIR)
        .arg(mode)
        .arg(&input_file)
        .output()
        .expect("run php");
    std::fs::remove_dir_all(&dir).ok();
    assert!(
        output.status.success(),
        "the composer/semver oracle failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let results: Vec<Value> =
        serde_json::from_slice(&output.stdout).expect("oracle output is json");
    results
}

/// Composer's messages start with a capital; ours follow Rust style.
fn same_message(ours: &str, composer: &str) -> bool {
    ours.eq_ignore_ascii_case(composer)
}

fn report(kind: &str, mismatches: &[String]) {
    assert!(
        mismatches.is_empty(),
        "{} {kind} mismatches against composer/semver; first ones:\n{}",
        mismatches.len(),
        mismatches
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn version_functions_match_composer_semver() {
    testkit::needs!(Php);
    let mut rng = Rng(0x5EED_0F5E);
    let mut inputs: Vec<String> = (0..4000).map(|_| version(&mut rng, 0)).collect();
    inputs.sort();
    inputs.dedup();
    let results = composer_semver("versions", &inputs);

    let mut mismatches = Vec::new();
    let (mut valid, mut invalid) = (0, 0);
    for (input, expected) in inputs.iter().zip(&results) {
        let mut check = |function: &str, ours: String, theirs: &Value, same: bool| {
            if !same {
                mismatches.push(format!(
                    "{function}({input:?}): ours {ours}, composer {theirs}"
                ));
            }
        };

        let theirs = &expected["normalize"];
        match normalize(input) {
            Ok(ours) => {
                valid += 1;
                let same = theirs[0] == "ok" && theirs[1] == ours.as_str();
                check("normalize", format!("Ok({ours:?})"), theirs, same);
                let dev = is_dev(&ours);
                let stability_is_dev = parse_stability(&ours).as_str() == "dev";
                check(
                    "is_dev",
                    format!("{dev}"),
                    &Value::Bool(stability_is_dev),
                    dev == stability_is_dev,
                );
            }
            Err(error) => {
                invalid += 1;
                let message = error.to_string();
                let same = theirs[0] == "err"
                    && theirs[1]
                        .as_str()
                        .is_some_and(|m| same_message(&message, m));
                check("normalize", format!("Err({message:?})"), theirs, same);
            }
        }

        let ours = parse_stability(input).as_str();
        check(
            "parse_stability",
            ours.to_owned(),
            &expected["stability"],
            expected["stability"] == ours,
        );
        let ours = normalize_branch(input);
        check(
            "normalize_branch",
            ours.clone(),
            &expected["branch"],
            expected["branch"] == ours.as_str(),
        );
        let ours = normalize_default_branch(input);
        let theirs = &expected["default_branch"];
        check(
            "normalize_default_branch",
            ours.clone(),
            theirs,
            *theirs == ours.as_str(),
        );
        let ours = parse_numeric_alias_prefix(input);
        let theirs = &expected["alias_prefix"];
        let same = match &ours {
            Some(prefix) => theirs == prefix.as_str(),
            None => *theirs == Value::Bool(false),
        };
        check(
            "parse_numeric_alias_prefix",
            format!("{ours:?}"),
            theirs,
            same,
        );
    }

    eprintln!(
        "{} distinct inputs: {valid} valid, {invalid} invalid",
        inputs.len()
    );
    report("version", &mismatches);
    assert!(
        inputs.len() >= 1000,
        "only {} distinct inputs",
        inputs.len()
    );
    assert!(
        valid >= 300 && invalid >= 300,
        "generator degenerated: {valid} valid, {invalid} invalid"
    );
}

#[test]
fn constraint_validation_matches_composer_semver() {
    testkit::needs!(Php);
    let mut rng = Rng(0xC045_7A14);
    let mut inputs: Vec<String> = (0..5000).map(|_| constraints(&mut rng)).collect();
    inputs.sort();
    inputs.dedup();
    let results = composer_semver("constraints", &inputs);

    let mut mismatches = Vec::new();
    let (mut valid, mut invalid) = (0, 0);
    for (input, theirs) in inputs.iter().zip(&results) {
        let (ours, same) = match parse_constraints(input) {
            Ok(()) => {
                valid += 1;
                ("Ok".to_owned(), theirs[0] == "ok")
            }
            Err(error) => {
                invalid += 1;
                let message = error.to_string();
                let same = theirs[0] == "err"
                    && theirs[1]
                        .as_str()
                        .is_some_and(|m| same_message(&message, m));
                (format!("Err({message:?})"), same)
            }
        };
        if !same {
            mismatches.push(format!(
                "parse_constraints({input:?}): ours {ours}, composer {theirs}"
            ));
        }
    }

    eprintln!(
        "{} distinct constraints: {valid} valid, {invalid} invalid",
        inputs.len()
    );
    report("constraint", &mismatches);
    assert!(
        inputs.len() >= 1000,
        "only {} distinct inputs",
        inputs.len()
    );
    assert!(
        valid >= 300 && invalid >= 300,
        "generator degenerated: {valid} valid, {invalid} invalid"
    );
}

/// Versions near the numbers a constraint names: the same, one more at the end or at
/// the front, pre-releases of it, its dev branch.
fn versions_near(rng: &mut Rng, constraint: &str) -> Vec<String> {
    let numbers: String = constraint
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let numbers = numbers.trim_end_matches('.');
    if numbers.is_empty() {
        return vec![version(rng, 0)];
    }
    let parts: Vec<u64> = numbers.split('.').map(|n| n.parse().unwrap_or(0)).collect();
    let join = |parts: &[u64]| {
        parts
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(".")
    };
    let mut last_up = parts.clone();
    *last_up.last_mut().unwrap() += 1;
    let mut first_up = parts.clone();
    first_up[0] += 1;
    let mut near = vec![
        join(&parts),
        join(&last_up),
        join(&first_up),
        format!(
            "{}-{}",
            join(&parts),
            rng.pick(&["beta1", "RC2", "alpha", "dev", "patch1"])
        ),
        format!("{}.x-dev", parts[0]),
    ];
    if parts.len() > 1 && parts[parts.len() - 1] > 0 {
        let mut down = parts.clone();
        *down.last_mut().unwrap() -= 1;
        near.push(join(&down));
    }
    near
}

#[test]
fn constraint_matching_matches_composer_semver() {
    testkit::needs!(Php);
    let mut rng = Rng(0x4D47_C4E5);
    let mut pairs: Vec<(String, String)> = Vec::new();
    while pairs.len() < 20_000 {
        let constraint = if rng.percent(40) {
            plain_version(&mut rng)
        } else {
            constraints(&mut rng)
        };
        if Constraint::parse(&constraint).is_err() {
            continue;
        }
        let mut versions = versions_near(&mut rng, &constraint);
        versions.push(version(&mut rng, 0));
        versions.push(
            rng.pick(&["dev-main", "dev-master", "1.x-dev", "9999999-dev"])
                .to_owned(),
        );
        for version in versions {
            if normalize(&version).is_ok() {
                pairs.push((constraint.clone(), version));
            }
        }
    }
    pairs.sort();
    pairs.dedup();
    let results = composer_semver("matches", &pairs);
    assert_eq!(results.len(), pairs.len(), "one oracle result per pair");

    let mut mismatches = Vec::new();
    let mut matched = 0;
    for ((constraint, version), theirs) in pairs.iter().zip(&results) {
        let normalized = normalize(version).unwrap();
        let ours = Constraint::parse(constraint).unwrap().matches(&normalized);
        matched += usize::from(ours);
        if Value::Bool(ours) != *theirs {
            mismatches.push(format!(
                "{constraint:?} against {version:?} ({normalized}): ours {ours}, composer {theirs}"
            ));
        }
    }
    eprintln!(
        "{} (constraint, version) pairs: {matched} match, {} do not",
        pairs.len(),
        pairs.len() - matched
    );
    report("match", &mismatches);
    assert!(
        matched >= 2000 && pairs.len() - matched >= 2000,
        "generator degenerated: {matched} of {} match",
        pairs.len()
    );
}
