//! Version constraints (`^1.0 || ^2.0`, `>=1.2,<1.5`, `1.*`, `dev-main`) as
//! composer/semver parses them, and whether a version satisfies one: what access
//! rules with version constraints are checked with.
//!
//! [`Constraint::parse`] builds the tree `VersionParser::parseConstraints` builds (its
//! rules live in [`crate::version`], next to the validation they share), and
//! [`Constraint::matches`] answers what
//! `$constraint->matches(new Constraint('==', $normalizedVersion))` answers, including
//! the rule that branches (`dev-*`) only ever equal themselves.

use std::cmp::Ordering;

use crate::version::{self, VersionError};

/// A comparison operator, as composer/semver's `Constraint` stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Op {
    /// `=`/`==`, `!=`/`<>`, `<`, `<=`, `>`, `>=`.
    pub(crate) fn from_text(op: &[u8]) -> Option<Op> {
        Some(match op {
            b"=" | b"==" => Op::Eq,
            b"!=" | b"<>" => Op::Ne,
            b"<" => Op::Lt,
            b"<=" => Op::Le,
            b">" => Op::Gt,
            b">=" => Op::Ge,
            _ => return None,
        })
    }

    fn holds(self, ordering: Ordering) -> bool {
        match self {
            Op::Eq => ordering == Ordering::Equal,
            Op::Ne => ordering != Ordering::Equal,
            Op::Lt => ordering == Ordering::Less,
            Op::Le => ordering != Ordering::Greater,
            Op::Gt => ordering == Ordering::Greater,
            Op::Ge => ordering != Ordering::Less,
        }
    }
}

/// A parsed constraint: composer/semver's `MatchAllConstraint`, `Constraint` and
/// conjunctive (`And`) or disjunctive (`Or`) `MultiConstraint`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Constraint {
    MatchAll,
    Compare { op: Op, version: String },
    And(Vec<Constraint>),
    Or(Vec<Constraint>),
}

impl Constraint {
    /// Parses a constraint string as `VersionParser::parseConstraints` does, with its
    /// errors.
    pub fn parse(constraints: &str) -> Result<Constraint, VersionError> {
        version::parse_constraint_tree(constraints)
    }

    /// Whether the normalized version `version` (`1.2.0.0`, `dev-main`) satisfies this
    /// constraint.
    pub fn matches(&self, version: &str) -> bool {
        match self {
            Constraint::MatchAll => true,
            Constraint::Compare { op, version: bound } => compare(version, bound, *op),
            Constraint::And(all) => all.iter().all(|c| c.matches(version)),
            Constraint::Or(any) => any.iter().any(|c| c.matches(version)),
        }
    }

    /// `parts` as one constraint that needs all of them.
    pub(crate) fn all(mut parts: Vec<Constraint>) -> Constraint {
        match parts.len() {
            1 => parts.remove(0),
            _ => Constraint::And(parts),
        }
    }

    /// `parts` as one constraint that needs any of them.
    pub(crate) fn any(mut parts: Vec<Constraint>) -> Constraint {
        match parts.len() {
            1 => parts.remove(0),
            _ => Constraint::Or(parts),
        }
    }
}

/// `Constraint::versionCompare($a, $b, $op)` without branch comparison: a branch
/// (`dev-*`) is only ever equal (or unequal) to itself, and never less or greater
/// than anything.
fn compare(a: &str, b: &str, op: Op) -> bool {
    let (a_branch, b_branch) = (a.starts_with("dev-"), b.starts_with("dev-"));
    if op == Op::Ne && (a_branch || b_branch) {
        return a != b;
    }
    if a_branch && b_branch {
        return op == Op::Eq && a == b;
    }
    if a_branch || b_branch {
        return false;
    }
    op.holds(php_version_compare(a, b))
}

/// PHP's `version_compare($a, $b)` (php-src `ext/standard/versioning.c`), which
/// composer/semver's `==` constraint uses: `1.0.0.0-RC01` equals `1.0.0.0-RC1`.
pub fn php_version_compare(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.is_empty() || b.is_empty() {
        return (!a.is_empty()).cmp(&!b.is_empty());
    }
    let canonical = |v: &[u8]| {
        if v[0] == b'#' {
            v.to_vec()
        } else {
            canonicalize_version(v)
        }
    };
    let (a, b) = (canonical(a), canonical(b));
    let (mut parts_a, mut parts_b) = (a.split(|&c| c == b'.'), b.split(|&c| c == b'.'));
    loop {
        match (parts_a.next(), parts_b.next()) {
            (Some(x), Some(y)) => match compare_version_parts(x, y) {
                Ordering::Equal => {}
                unequal => return unequal,
            },
            (Some(x), None) if x.first().is_some_and(u8::is_ascii_digit) => {
                return Ordering::Greater;
            }
            (Some(x), None) => return compare_special_forms(x, b"#N#"),
            (None, Some(y)) if y.first().is_some_and(u8::is_ascii_digit) => return Ordering::Less,
            (None, Some(y)) => return compare_special_forms(b"#N#", y),
            (None, None) => return Ordering::Equal,
        }
    }
}

fn compare_version_parts(x: &[u8], y: &[u8]) -> Ordering {
    let numeric = |p: &[u8]| p.first().is_some_and(u8::is_ascii_digit);
    match (numeric(x), numeric(y)) {
        (true, true) => leading_number(x).cmp(&leading_number(y)),
        (false, false) => compare_special_forms(x, y),
        (true, false) => compare_special_forms(b"#N#", y),
        (false, true) => compare_special_forms(x, b"#N#"),
    }
}

/// `strtol()`: the leading digits, saturating.
fn leading_number(part: &[u8]) -> i64 {
    part.iter()
        .take_while(|c| c.is_ascii_digit())
        .fold(0i64, |n, &c| {
            n.saturating_mul(10).saturating_add(i64::from(c - b'0'))
        })
}

fn compare_special_forms(x: &[u8], y: &[u8]) -> Ordering {
    const FORMS: [(&[u8], i32); 10] = [
        (b"dev", 0),
        (b"alpha", 1),
        (b"a", 1),
        (b"beta", 2),
        (b"b", 2),
        (b"RC", 3),
        (b"rc", 3),
        (b"#", 4),
        (b"pl", 5),
        (b"p", 5),
    ];
    let order = |form: &[u8]| {
        FORMS
            .iter()
            .find(|(name, _)| form.starts_with(name))
            .map_or(-6, |&(_, order)| order)
    };
    order(x).cmp(&order(y))
}

/// `php_canonicalize_version()`: `-`, `_`, `+` and other punctuation become `.`, and a
/// `.` separates digits from letters.
fn canonicalize_version(version: &[u8]) -> Vec<u8> {
    let is_digit = |c: u8| c.is_ascii_digit();
    let is_non_digit = |c: u8| !c.is_ascii_digit() && c != b'.';
    let mut out = vec![version[0]];
    let mut previous = version[0];
    for &c in &version[1..] {
        let after_dot = out.last() == Some(&b'.');
        if matches!(c, b'-' | b'_' | b'+') {
            if !after_dot {
                out.push(b'.');
            }
        } else if (is_non_digit(previous) && is_digit(c)) || (is_digit(previous) && is_non_digit(c))
        {
            if !after_dot {
                out.push(b'.');
            }
            out.push(c);
        } else if !c.is_ascii_alphanumeric() {
            if !after_dot {
                out.push(b'.');
            }
        } else {
            out.push(c);
        }
        previous = c;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(constraint: &str, version: &str) -> bool {
        Constraint::parse(constraint)
            .unwrap_or_else(|e| panic!("{constraint}: {e}"))
            .matches(version)
    }

    #[test]
    fn ranges_match_as_composer_reads_them() {
        let cases = [
            ("^1.0", "1.0.0.0", true),
            ("^1.0", "1.9.3.0", true),
            ("^1.0", "2.0.0.0", false),
            ("^1.0", "2.0.0.0-beta1", false),
            // Stability is not the constraint's business (minimum-stability is).
            ("^1.0", "1.0.0.0-beta1", true),
            ("^1.0 || ^2.0", "2.5.0.0", true),
            ("^1.0 || ^2.0", "3.0.0.0", false),
            ("^0.3", "0.3.9.0", true),
            ("^0.3", "0.4.0.0", false),
            ("~1.2", "1.9.0.0", true),
            ("~1.2", "2.0.0.0", false),
            ("~1.2.3", "1.2.9.0", true),
            ("~1.2.3", "1.3.0.0", false),
            (">=1.2,<1.5", "1.4.9.0", true),
            (">=1.2 <1.5", "1.5.0.0", false),
            ("1.*", "1.7.0.0", true),
            ("1.*", "2.0.0.0", false),
            ("1.0 - 2.0", "2.0.5.0", true),
            ("1.0 - 2.0", "2.1.0.0", false),
            ("*", "dev-main", true),
            ("dev-main", "dev-main", true),
            ("dev-main", "dev-other", false),
            (">=1.0", "dev-main", false),
            ("!=1.0", "dev-main", true),
            ("1.x-dev", "1.9999999.9999999.9999999-dev", true),
            ("1.0.0", "1.0.0.0", true),
            ("=1.0.0-RC01", "1.0.0.0-RC1", true),
        ];
        for (constraint, version, expected) in cases {
            assert_eq!(
                matches(constraint, version),
                expected,
                "{constraint:?} against {version}"
            );
        }
    }

    #[test]
    fn bounds_are_composers() {
        let compare = |op, version: &str| Constraint::Compare {
            op,
            version: version.to_owned(),
        };
        assert_eq!(
            Constraint::parse("^1.2").unwrap(),
            Constraint::And(vec![
                compare(Op::Ge, "1.2.0.0-dev"),
                compare(Op::Lt, "2.0.0.0-dev")
            ])
        );
        assert_eq!(
            Constraint::parse("<1.5").unwrap(),
            compare(Op::Lt, "1.5.0.0-dev")
        );
        assert_eq!(
            Constraint::parse("0.*").unwrap(),
            compare(Op::Lt, "1.0.0.0-dev")
        );
        assert_eq!(Constraint::parse("*").unwrap(), Constraint::MatchAll);
        assert!(Constraint::parse("^").is_err());
    }

    /// Expected values from PHP 8.2's `version_compare()`.
    #[test]
    fn version_compare_matches_php() {
        let cases = [
            ("1.0.0.0", "1.0.0.0", Ordering::Equal),
            ("1.0.0.0-RC01", "1.0.0.0-RC1", Ordering::Equal),
            ("2024.01.01.0", "2024.1.1.0", Ordering::Equal),
            ("1.0.0.0", "1.0.0.0-beta", Ordering::Greater),
            ("1.0.0.0-alpha1", "1.0.0.0-beta1", Ordering::Less),
            ("1.0.0.0-patch1", "1.0.0.0", Ordering::Greater),
            ("1.0.0", "1.0.0.0", Ordering::Less),
            ("20240101", "2024.01.01.0", Ordering::Greater),
            ("1.0.0.0-dev", "1.0.0.0-alpha", Ordering::Less),
            ("1.0-foo", "1.0-bar", Ordering::Less),
            ("1.0-foo", "1.0-xyz", Ordering::Equal),
            ("1#2", "1.2", Ordering::Greater),
            ("1.0.0.0-RC1", "1.0.0.0-rc1", Ordering::Equal),
        ];
        for (a, b, expected) in cases {
            assert_eq!(php_version_compare(a, b), expected, "{a} vs {b}");
        }
    }
}
