//! Immutable versions: once published, a version's reference, archive and metadata stay
//! what they were. A git tag moved to another commit does not change its version (the
//! scan keeps the first commit and reports the move); a deleted tag's archive stays
//! downloadable by its reference; replacing an uploaded version takes an admin's
//! `--force`, and the archive it replaces stays downloadable too. So every
//! `composer.lock` that names a published version keeps installing the same bytes.

use composer::version::{Stability, parse_stability};

/// `PACKYARD_IMMUTABLE_VERSIONS`: which published versions may no longer change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Immutability {
    /// Stable releases (`1.2.3`, `1.2.3-p1`), the default: what `composer require`
    /// gives without a stability flag.
    #[default]
    Stable,
    /// Every tagged release, pre-releases (`-alpha`, `-beta`, `-RC`) included. Branches
    /// (`dev-*`, `*-dev`) move by nature and are never frozen.
    All,
    /// Nothing is frozen: a moved tag moves its version, a deleted tag's archive goes.
    Off,
}

impl Immutability {
    pub const VARIABLE: &'static str = "PACKYARD_IMMUTABLE_VERSIONS";

    pub fn parse(value: &str) -> Result<Immutability, String> {
        match value.trim().to_ascii_lowercase().as_str() {
            "stable" => Ok(Immutability::Stable),
            "all" => Ok(Immutability::All),
            "off" => Ok(Immutability::Off),
            _ => Err(format!(
                "{}: {value:?} is none of stable, all or off",
                Self::VARIABLE
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Immutability::Stable => "stable",
            Immutability::All => "all",
            Immutability::Off => "off",
        }
    }

    /// Whether the published version `normalized` may no longer change.
    pub fn freezes(self, normalized: &str) -> bool {
        match (self, parse_stability(normalized)) {
            (Immutability::Off, _) | (_, Stability::Dev) => false,
            (Immutability::All, _) => true,
            (Immutability::Stable, stability) => stability == Stability::Stable,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_freezes_releases_only_and_all_adds_pre_releases_never_branches() {
        let cases = [
            ("1.0.0.0", true, true),
            ("1.0.0.0-patch1", true, true),
            ("1.0.0.0-RC1", false, true),
            ("2.0.0.0-beta2", false, true),
            ("dev-main", false, false),
            ("1.0.9999999.9999999-dev", false, false),
        ];
        for (version, stable, all) in cases {
            assert_eq!(Immutability::Stable.freezes(version), stable, "{version}");
            assert_eq!(Immutability::All.freezes(version), all, "{version}");
            assert!(!Immutability::Off.freezes(version), "{version}");
        }
    }

    #[test]
    fn the_setting_is_read_whatever_its_case_and_refuses_anything_else() {
        assert_eq!(Immutability::parse(" ALL "), Ok(Immutability::All));
        assert_eq!(Immutability::parse("off"), Ok(Immutability::Off));
        let refused = Immutability::parse("yes").unwrap_err();
        assert!(refused.contains("PACKYARD_IMMUTABLE_VERSIONS") && refused.contains("\"yes\""));
    }
}
