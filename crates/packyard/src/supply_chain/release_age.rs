//! Minimum release age (a cooldown): versions packyard published less than the age ago
//! are not offered to a group's members through its grants, to a user, to requests
//! with a token, or through a mirror. The server filters the metadata, so it works
//! with every Composer client. A version that fixes a published security advisory
//! (one that affects an earlier version and not this one) is exempt unless
//! `PACKYARD_RELEASE_AGE_EXEMPT_FIXES=0`: a cooldown must not hold back the fix.

/// `PACKYARD_RELEASE_AGE_EXEMPT_FIXES`.
pub const EXEMPT_FIXES_VARIABLE: &str = "PACKYARD_RELEASE_AGE_EXEMPT_FIXES";

/// The longest cooldown accepted: a year.
const MAX_AGE_MS: i64 = 366 * 86_400_000;

/// A minimum release age that is not a span of at most a year.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("minimum release age {0:?} is not a span such as 3d, 72h or 90m (at most 366d), or none")]
pub struct InvalidReleaseAge(pub String);

/// `--min-release-age`: `3d`, `72h`, `90m`, a number of seconds; `0` or `none`
/// removes it (`Ok(None)`).
pub fn parse(text: &str) -> Result<Option<i64>, InvalidReleaseAge> {
    let trimmed = text.trim();
    if trimmed.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    let age = crate::time::parse_interval(trimmed)
        .and_then(|age| i64::try_from(age.as_millis()).ok())
        .filter(|ms| *ms <= MAX_AGE_MS)
        .ok_or_else(|| InvalidReleaseAge(text.to_owned()))?;
    Ok((age > 0).then_some(age))
}

/// A cooldown as `--min-release-age` takes it: `3d`, `36h`, `90m`, `45s`.
pub fn describe(age_ms: i64) -> String {
    let seconds = age_ms / 1000;
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60)] {
        if seconds % size == 0 {
            return format!("{}{unit}", seconds / size);
        }
    }
    format!("{seconds}s")
}

/// A version as cooldowns judge it (defined with the access rules, which apply them).
pub use crate::access::policy::Release;

/// Whether the version `normalized` fixes an advisory: one of `affected` (the
/// advisories' constraints) matches a version in `earlier` (the package's versions
/// below it) and not `normalized`.
pub fn fixes_advisory(
    normalized: &str,
    affected: &[composer::constraint::Constraint],
    earlier: &[&str],
) -> bool {
    affected.iter().any(|constraint| {
        !constraint.matches(normalized) && earlier.iter().any(|v| constraint.matches(v))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use composer::constraint::Constraint;

    #[test]
    fn ages_are_spans_up_to_a_year_and_none_or_zero_remove_them() {
        assert_eq!(parse("3d"), Ok(Some(3 * 86_400_000)));
        assert_eq!(parse(" 36h "), Ok(Some(36 * 3_600_000)));
        assert_eq!(parse("none"), Ok(None));
        assert_eq!(parse("0"), Ok(None));
        for bad in ["3 days", "-1d", "400d", "3w", ""] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(describe(3 * 86_400_000), "3d");
        assert_eq!(describe(36 * 3_600_000), "36h");
        assert_eq!(describe(90_000), "90s");
    }

    #[test]
    fn a_release_is_old_enough_after_its_age_unless_it_fixes_an_advisory() {
        const DAY: i64 = 86_400_000;
        let fresh = Release {
            normalized: "1.2.1.0",
            released_at: 0,
            published_at: 10 * DAY,
            exempt: false,
        };
        assert!(fresh.old_enough(None, 10 * DAY));
        assert!(!fresh.old_enough(Some(3 * DAY), 11 * DAY));
        assert!(fresh.old_enough(Some(3 * DAY), 13 * DAY));
        assert!(
            Release {
                exempt: true,
                ..fresh
            }
            .old_enough(Some(3 * DAY), 11 * DAY)
        );

        let affected = [Constraint::parse("<1.2.1").unwrap()];
        assert!(fixes_advisory("1.2.1.0", &affected, &["1.2.0.0"]));
        assert!(
            !fixes_advisory("1.2.0.0", &affected, &["1.1.0.0"]),
            "still affected"
        );
        assert!(
            !fixes_advisory("1.0.0.0", &affected, &[]),
            "nothing earlier was affected"
        );
    }
}
