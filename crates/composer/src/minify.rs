//! The `composer/2.0` metadata minification used by `/p2/` documents.
//!
//! A line-by-line port of `Composer\MetadataMinifier\MetadataMinifier` (composer/metadata-
//! minifier), including two PHP details that decide the exact output:
//!
//! * values are compared with PHP's `!==`, under which two arrays are identical only if
//!   they hold the same keys in the same order; serde_json's `Map` equality ignores order,
//!   so `identical()` does the comparison instead. The order-sensitivity is what lets
//!   `expand(minify(x))` give back every value of `x` exactly, nested key order included.
//!   (The order of a version's own keys is not kept: a key that comes back after being
//!   unset is appended, in PHP as here. JSON consumers do not care.)
//! * the running state starts over whenever it is an empty array (PHP's `!$array`), so a
//!   version following an empty one is written out in full.
//!
//! The format cannot carry a value that is the string `"__unset"` in a later version:
//! it reads as a deletion. Composer has the same limitation.

use serde_json::{Map, Value};

/// One version's metadata: the keys of a version object in a p2 document.
pub type VersionMap = Map<String, Value>;

/// The marker a minified version uses for "this key is gone from here on".
pub const UNSET: &str = "__unset";

/// Mirrors `MetadataMinifier::minify()`: the first version stays complete, each later one
/// keeps only the keys whose values differ from the running state, plus `"__unset"` for
/// keys the version no longer has.
pub fn minify(versions: Vec<VersionMap>) -> Vec<VersionMap> {
    let mut minified = Vec::with_capacity(versions.len());
    let mut last_known = VersionMap::new();
    for version in versions {
        if last_known.is_empty() {
            last_known.clone_from(&version);
            minified.push(version);
            continue;
        }
        minified.push(diff_against(&mut last_known, &version));
    }
    minified
}

/// Mirrors `MetadataMinifier::expand()`: replays the diffs of [`minify`] into complete
/// versions.
pub fn expand(versions: Vec<VersionMap>) -> Vec<VersionMap> {
    let mut expanded = Vec::with_capacity(versions.len());
    let mut current = VersionMap::new();
    for version in versions {
        if current.is_empty() {
            current = version;
        } else {
            apply_diff(&mut current, version);
        }
        expanded.push(current.clone());
    }
    expanded
}

/// The keys of `version` that changed, then the deletions; updates `last_known` to
/// `version` on the way, as the PHP code does.
fn diff_against(last_known: &mut VersionMap, version: &VersionMap) -> VersionMap {
    let mut diff = VersionMap::new();
    for (key, value) in version {
        let unchanged = last_known
            .get(key)
            .is_some_and(|known| identical(known, value));
        if !unchanged {
            diff.insert(key.clone(), value.clone());
            last_known.insert(key.clone(), value.clone());
        }
    }
    // `shift_remove` keeps the remaining keys in place, as PHP's `unset()` does, so that
    // later diffs list keys in the same order as the PHP minifier.
    let removed: Vec<String> = last_known
        .keys()
        .filter(|key| !version.contains_key(*key))
        .cloned()
        .collect();
    for key in removed {
        last_known.shift_remove(&key);
        diff.insert(key, Value::String(UNSET.to_owned()));
    }
    diff
}

fn apply_diff(current: &mut VersionMap, diff: VersionMap) {
    for (key, value) in diff {
        if value.as_str() == Some(UNSET) {
            current.shift_remove(&key);
        } else {
            current.insert(key, value);
        }
    }
}

/// PHP's `===` on values decoded by `json_decode($json, true)`: like `==` on JSON values,
/// except that objects must also agree on key order.
pub fn identical(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .zip(b)
                    .all(|((ka, va), (kb, vb))| ka == kb && identical(va, vb))
        }
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(va, vb)| identical(va, vb))
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn versions(value: Value) -> Vec<VersionMap> {
        serde_json::from_value(value).unwrap()
    }

    /// Serialized, so that key order counts in comparisons.
    fn text(versions: &[VersionMap]) -> String {
        serde_json::to_string(versions).unwrap()
    }

    /// `MetadataMinifierTest::testMinifyExpand`, with the arrays `ArrayDumper` produces for
    /// its four `CompletePackage`s written out.
    #[test]
    fn minify_expand() {
        let source = versions(json!([
            {"name": "foo/bar", "version": "2.0.0", "version_normalized": "2.0.0.0", "type": "library", "scripts": {"foo": ["bar"]}, "license": ["MIT"]},
            {"name": "foo/bar", "version": "1.2.0", "version_normalized": "1.2.0.0", "type": "library", "license": ["GPL"], "homepage": "https://example.org"},
            {"name": "foo/bar", "version": "1.0.0", "version_normalized": "1.0.0.0", "type": "library", "license": ["GPL"]},
            {"name": "foo/bar", "version": "0.1.0", "version_normalized": "0.1.0.0", "type": "library", "license": ["GPL"]},
        ]));
        let minified = versions(json!([
            {"name": "foo/bar", "version": "2.0.0", "version_normalized": "2.0.0.0", "type": "library", "scripts": {"foo": ["bar"]}, "license": ["MIT"]},
            {"version": "1.2.0", "version_normalized": "1.2.0.0", "license": ["GPL"], "homepage": "https://example.org", "scripts": "__unset"},
            {"version": "1.0.0", "version_normalized": "1.0.0.0", "homepage": "__unset"},
            {"version": "0.1.0", "version_normalized": "0.1.0.0"},
        ]));
        assert_eq!(text(&minify(source.clone())), text(&minified));
        assert_eq!(text(&expand(minified)), text(&source));
    }

    /// `MetadataMinifierTest::testMinifyExpandWithNullValues`.
    #[test]
    fn minify_expand_with_null_values() {
        let source = versions(json!([
            {"name": "foo/bar", "version": "2.0.0", "dist": null},
            {"name": "foo/bar", "version": "1.0.0", "dist": null},
        ]));
        let minified = versions(json!([
            {"name": "foo/bar", "version": "2.0.0", "dist": null},
            {"version": "1.0.0"},
        ]));
        assert_eq!(text(&minify(source.clone())), text(&minified));
        assert_eq!(text(&expand(minified)), text(&source));
    }

    #[test]
    fn empty_list_stays_empty() {
        assert!(minify(Vec::new()).is_empty());
        assert!(expand(Vec::new()).is_empty());
    }

    #[test]
    fn reordered_object_is_a_change_as_in_php() {
        let source = versions(json!([
            {"v": "1", "require": {"a/a": "1", "b/b": "1"}},
            {"v": "2", "require": {"b/b": "1", "a/a": "1"}},
        ]));
        let minified = minify(source.clone());
        assert_eq!(
            text(&minified[1..]),
            r#"[{"v":"2","require":{"b/b":"1","a/a":"1"}}]"#
        );
        assert_eq!(text(&expand(minified)), text(&source));
    }

    #[test]
    fn integer_and_float_are_not_identical() {
        let source = versions(json!([{"n": 1, "x": 0}, {"n": 1.0, "x": 0}]));
        let minified = minify(source.clone());
        assert_eq!(text(&minified[1..]), r#"[{"n":1.0}]"#);
        assert_eq!(text(&expand(minified)), text(&source));
    }

    #[test]
    fn version_after_an_empty_one_is_complete() {
        let source = versions(json!([{"a": 1}, {}, {"a": 1, "b": 2}, {"a": 1, "b": 2}]));
        let minified = minify(source.clone());
        assert_eq!(
            text(&minified),
            r#"[{"a":1},{"a":"__unset"},{"a":1,"b":2},{}]"#
        );
        assert_eq!(text(&expand(minified)), text(&source));
    }

    #[test]
    fn leading_empty_version_is_kept() {
        let source = versions(json!([{}, {"a": 1}, {"a": 2}]));
        let minified = minify(source.clone());
        assert_eq!(text(&minified), r#"[{},{"a":1},{"a":2}]"#);
        assert_eq!(text(&expand(minified)), text(&source));
    }

    #[test]
    fn deletions_follow_changes_in_the_order_of_the_running_state() {
        let source = versions(json!([
            {"a": 1, "b": 2, "c": 3, "d": 4},
            {"c": 3, "e": 5},
        ]));
        assert_eq!(
            text(&minify(source)[1..]),
            r#"[{"e":5,"a":"__unset","b":"__unset","d":"__unset"}]"#
        );
    }

    /// splitmix64: a tiny deterministic generator, so the property test needs no crate
    /// and every run checks the same cases.
    struct SplitMix(u64);

    impl SplitMix {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }

        fn below(&mut self, bound: u64) -> u64 {
            self.next() % bound
        }

        fn chance(&mut self, percent: u64) -> bool {
            self.below(100) < percent
        }

        fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
            items[self.below(items.len() as u64) as usize]
        }
    }

    fn random_require(rng: &mut SplitMix) -> Value {
        let names = ["php", "ext-json", "acme/a", "acme/b", "psr/log", "foo/bar"];
        let constraints = ["^1.0", "~2.3", "*", ">=7.4", "1.2.3", "dev-main"];
        let mut require = Map::new();
        for _ in 0..rng.below(5) {
            let name = rng.pick(&names).to_owned();
            require.insert(name, Value::from(rng.pick(&constraints)));
        }
        Value::Object(require)
    }

    fn random_dist(rng: &mut SplitMix, version: &str) -> Value {
        json!({
            "type": rng.pick(&["zip", "tar"]),
            "url": format!("https://repo.example/dist/acme/lib/{version}.zip"),
            "reference": format!("{:040x}", rng.below(4)),
            "shasum": if rng.chance(50) { "" } else { "da39a3ee5e6b4b0d3255bfef95601890afd80709" },
        })
    }

    fn random_autoload(rng: &mut SplitMix) -> Value {
        match rng.below(3) {
            0 => json!({"psr-4": {"Acme\\": "src/"}}),
            1 => json!({"psr-4": {"Acme\\": ["src/", "lib/"]}, "files": ["functions.php"]}),
            _ => json!({"classmap": ["src/"]}),
        }
    }

    /// A value for `key` that is sometimes the previous one, sometimes null, sometimes new.
    fn random_value(
        rng: &mut SplitMix,
        key: &str,
        index: usize,
        previous: Option<&Value>,
    ) -> Value {
        if let Some(previous) = previous.filter(|_| rng.chance(50)) {
            return previous.clone();
        }
        if rng.chance(10) {
            return Value::Null;
        }
        let version = format!("{}.{}.0", 30 - index, rng.below(3));
        match key {
            "name" => Value::from(rng.pick(&["acme/lib", "Acme/Lib"])),
            "version" => Value::from(version),
            "version_normalized" => Value::from(format!("{version}.0")),
            "require" | "require-dev" => random_require(rng),
            "dist" => random_dist(rng, &version),
            "autoload" => random_autoload(rng),
            "description" => Value::from(rng.pick(&["A library", "", "Änderungen 🎉"])),
            "time" => Value::from(format!("2024-01-{:02}T00:00:00+00:00", 1 + rng.below(28))),
            _ => Value::from(rng.below(3)),
        }
    }

    fn random_versions(rng: &mut SplitMix) -> Vec<VersionMap> {
        let keys = [
            "name",
            "version",
            "version_normalized",
            "require",
            "require-dev",
            "dist",
            "autoload",
            "description",
            "time",
            "extra-key",
        ];
        let count = 1 + rng.below(30) as usize;
        let mut versions: Vec<VersionMap> = Vec::with_capacity(count);
        for index in 0..count {
            let mut version = VersionMap::new();
            for key in keys {
                // Absent now and then, so that minify has to emit "__unset".
                if rng.chance(15) {
                    continue;
                }
                let previous = versions.last().and_then(|last| last.get(key));
                let value = random_value(rng, key, index, previous);
                version.insert(key.to_owned(), value);
            }
            versions.push(version);
        }
        versions
    }

    /// The format keeps every value exactly (nested key order included) but not the order
    /// of a version's own keys: a key that reappears is appended, as in PHP.
    fn same_version(a: &VersionMap, b: &VersionMap) -> bool {
        a.len() == b.len()
            && a.iter()
                .all(|(key, value)| b.get(key).is_some_and(|other| identical(value, other)))
    }

    #[test]
    fn reappearing_key_is_appended() {
        let source = versions(json!([{"a": 1, "b": 2}, {"b": 2}, {"a": 1, "b": 2}]));
        let expanded = expand(minify(source.clone()));
        assert_eq!(text(&expanded[2..]), r#"[{"b":2,"a":1}]"#);
        assert!(same_version(&expanded[2], &source[2]));
    }

    #[test]
    fn expand_reverses_minify_on_random_version_lists() {
        let mut rng = SplitMix(0x5EED_CAFE);
        let (mut shrunk, mut with_unset) = (0, 0);
        for case in 0..600 {
            let source = random_versions(&mut rng);
            let minified = minify(source.clone());
            assert_eq!(minified.len(), source.len());
            if text(&minified).len() < text(&source).len() {
                shrunk += 1;
            }
            if text(&minified).contains(UNSET) {
                with_unset += 1;
            }
            let expanded = expand(minified);
            assert_eq!(expanded.len(), source.len());
            for (index, (back, original)) in expanded.iter().zip(&source).enumerate() {
                assert!(
                    same_version(back, original),
                    "case {case}, version {index}: {} came back as {}",
                    text(std::slice::from_ref(original)),
                    text(std::slice::from_ref(back)),
                );
            }
        }
        assert!(shrunk > 300, "minify shrank only {shrunk} of 600 lists");
        assert!(
            with_unset > 300,
            "only {with_unset} of 600 lists used \"__unset\""
        );
    }
}
