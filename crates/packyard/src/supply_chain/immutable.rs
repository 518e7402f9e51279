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

/// A `PACKYARD_IMMUTABLE_VERSIONS` that is none of the settings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("PACKYARD_IMMUTABLE_VERSIONS: {0:?} is none of stable, all or off")]
pub struct UnknownImmutability(pub String);

impl Immutability {
    pub const VARIABLE: &'static str = "PACKYARD_IMMUTABLE_VERSIONS";

    pub fn parse(value: &str) -> Result<Immutability, UnknownImmutability> {
        match value.trim().to_ascii_lowercase().as_str() {
            "stable" => Ok(Immutability::Stable),
            "all" => Ok(Immutability::All),
            "off" => Ok(Immutability::Off),
            _ => Err(UnknownImmutability(value.to_owned())),
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
        let refused = Immutability::parse("yes").unwrap_err().to_string();
        assert!(refused.contains("PACKYARD_IMMUTABLE_VERSIONS") && refused.contains("\"yes\""));
    }
}

/// A frozen version an upstream document offered with another reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangedUpstream {
    pub version: String,
    pub kept_reference: String,
    pub offered_reference: String,
}

/// The p2 document `new` of `package` with each frozen version it shares with `old`
/// (the document served so far) as `old` had it, when the upstream changed its
/// reference or its archive's sha1: what a mirror stores, so that its clients keep getting the archive they
/// locked. `None` when no frozen version changed.
pub fn keep_published(
    immutability: Immutability,
    package: &str,
    old: &[u8],
    new: &[u8],
) -> Option<(Vec<u8>, Vec<ChangedUpstream>)> {
    use serde_json::{Map, Value};
    if immutability == Immutability::Off {
        return None;
    }
    let parse = |body: &[u8]| match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(document)) => Some(document),
        _ => None,
    };
    let (old_versions, _) = composer::p2::versions_in(&parse(old)?, package);
    let mut document = parse(new)?;
    let (mut new_versions, minified) = composer::p2::versions_in(&document, package);
    let reference = |version: &Map<String, Value>| -> String {
        ["dist", "source"]
            .iter()
            .find_map(|key| version.get(*key)?.get("reference")?.as_str())
            .unwrap_or_default()
            .to_owned()
    };
    // The archive a lock file names is its reference and, when published, its sha1.
    let shasum = |version: &Map<String, Value>| -> String {
        version
            .get("dist")
            .and_then(|dist| dist.get("shasum"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let normalized = |version: &Map<String, Value>| -> String {
        version
            .get("version_normalized")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let mut changed = Vec::new();
    for version in &mut new_versions {
        let key = normalized(version);
        if key.is_empty() || !immutability.freezes(&key) {
            continue;
        }
        let Some(previous) = old_versions.iter().find(|old| normalized(old) == key) else {
            continue;
        };
        let (kept, offered) = (reference(previous), reference(version));
        let same_archive = kept == offered && shasum(previous) == shasum(version);
        if !same_archive && !kept.is_empty() {
            changed.push(ChangedUpstream {
                version: version
                    .get("version")
                    .and_then(Value::as_str)
                    .unwrap_or(&key)
                    .to_owned(),
                kept_reference: kept,
                offered_reference: offered,
            });
            version.clone_from(previous);
        }
    }
    if changed.is_empty() {
        return None;
    }
    composer::p2::set_versions(&mut document, package, new_versions, minified);
    Some((
        serde_json::to_vec(&document).expect("a JSON value always serializes"),
        changed,
    ))
}

#[cfg(test)]
mod upstream_tests {
    use super::*;
    use serde_json::json;

    fn document(reference: &str, beta: &str) -> Vec<u8> {
        serde_json::to_vec(&json!({"packages": {"acme/x": [
            {"name": "acme/x", "version": "1.0.0", "version_normalized": "1.0.0.0", "dist": {"type": "zip", "url": format!("https://up/{reference}.zip"), "reference": reference}},
            {"version": "2.0.0-beta1", "version_normalized": "2.0.0.0-beta1", "dist": {"type": "zip", "url": "https://up/b.zip", "reference": beta}},
        ]}}))
        .unwrap()
    }

    #[test]
    fn a_frozen_mirrored_version_keeps_its_reference_when_the_upstream_changes_it() {
        let (merged, changed) = keep_published(
            Immutability::Stable,
            "acme/x",
            &document("aaa", "b1"),
            &document("evil", "b2"),
        )
        .unwrap();
        assert_eq!(
            changed,
            [ChangedUpstream {
                version: "1.0.0".into(),
                kept_reference: "aaa".into(),
                offered_reference: "evil".into(),
            }]
        );
        let merged: serde_json::Value = serde_json::from_slice(&merged).unwrap();
        let versions = merged["packages"]["acme/x"].as_array().unwrap();
        assert_eq!(versions[0]["dist"]["reference"], "aaa");
        assert_eq!(
            versions[1]["dist"]["reference"], "b2",
            "a pre-release may move under stable"
        );
        assert!(
            keep_published(
                Immutability::Off,
                "acme/x",
                &document("aaa", "b1"),
                &document("evil", "b2")
            )
            .is_none()
        );
        // Another sha1 for the same reference is a change too.
        let mut resigned: serde_json::Value =
            serde_json::from_slice(&document("aaa", "b1")).unwrap();
        resigned["packages"]["acme/x"][0]["dist"]["shasum"] = json!("0123");
        let (_, changed) = keep_published(
            Immutability::Stable,
            "acme/x",
            &document("aaa", "b1"),
            &serde_json::to_vec(&resigned).unwrap(),
        )
        .unwrap();
        assert_eq!(changed[0].offered_reference, "aaa");
        assert!(
            keep_published(
                Immutability::Stable,
                "acme/x",
                &document("aaa", "b1"),
                &document("aaa", "b1")
            )
            .is_none()
        );
    }
}
