//! The fuzz targets, one function per parser: each runs the code under test on arbitrary
//! bytes and panics when an invariant of what it accepted is broken, not only when the
//! code itself crashes. `fuzz/` (cargo-fuzz) calls them with libFuzzer's inputs, and
//! `tests/corpora.rs` replays the committed corpora through them as ordinary tests.
//!
//! Each function documents the invariants it checks; [`TARGETS`] lists them by the name
//! of their fuzz target and corpus folder.

use std::fmt::Write as _;
use std::io::{Cursor, Write as _};

use composer::constraint::{Constraint, Op, php_version_compare};
use composer::manifest::Manifest;
use composer::minify::{self, UNSET, VersionMap};
use composer::{p2, package_name, version};
use packyard::mirror::config::MirrorConfig;
use packyard::mirror::documents::{Envelope, MirroredDoc};
use packyard::percent::{self, Plus};
use packyard::{mirror, redact, repository_url};
use serde_json::{Map, Value};

/// A target's function: it panics when its input breaks an invariant.
pub type Target = fn(&[u8]);

/// Every target: its name (the fuzz target's and its corpus folder's) and its function.
pub const TARGETS: [(&str, Target); 7] = [
    ("version", version),
    ("constraint", constraint),
    ("manifest", manifest),
    ("zip", zip),
    ("minify", minify),
    ("mirror_document", mirror_document),
    ("url", url),
];

/// Version strings (`composer::version::normalize`). A normalized version is a valid
/// version again, and so on until a fixed point, which comes within a step per
/// character; `is_dev` agrees with `parse_stability` on every form. Normalizing once is
/// not always a fixed point, in composer/semver too: each step may peel one more layer
/// (`2010-01-02` → `2010.01.02` → `2010.01.02.0`, `1.0-STABLE-dev` →
/// `1.0.0.0-stable-dev` → `1.0.0.0`, `dev-x\0@dev` → `dev-x\0` → `dev-x`), as its tables
/// and PHP say.
pub fn version(data: &[u8]) {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let _ = version::normalize_branch(input);
    let _ = version::parse_stability(input);
    let _ = version::parse_numeric_alias_prefix(input);
    let Ok(mut form) = version::normalize(input) else {
        return;
    };
    for _ in 0..input.len() + 3 {
        assert_eq!(
            version::is_dev(&form),
            version::parse_stability(&form) == version::Stability::Dev,
            "{form:?}: is_dev and parse_stability disagree"
        );
        let next = version::normalize(&form)
            .unwrap_or_else(|e| panic!("{input:?}: its normal form {form:?} fails: {e}"));
        if next == form {
            return;
        }
        form = next;
    }
    panic!("{input:?}: normalizing again and again reaches no fixed point");
}

/// Version constraints (`Constraint::parse`), `input` or `constraint\0version`.
/// Whatever parses also validates (`parse_constraints`); printed back in Composer's
/// syntax it parses to the same tree (when its bounds are plain versions, see
/// [`printable`]); `matches` never panics; and PHP's `version_compare` is antisymmetric.
pub fn constraint(data: &[u8]) {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let (constraints, probe) = input.split_once('\0').unwrap_or((input, "1.0.0"));
    let Ok(parsed) = Constraint::parse(constraints) else {
        assert!(
            version::parse_constraints(constraints).is_err(),
            "{constraints:?}: parse_constraints accepts what Constraint::parse refuses"
        );
        return;
    };
    assert!(
        version::parse_constraints(constraints).is_ok(),
        "{constraints:?}: parse_constraints refuses what Constraint::parse accepts"
    );
    if let Ok(normalized) = version::normalize(probe) {
        let _ = parsed.matches(&normalized);
        for bound in bounds(&parsed) {
            assert_eq!(
                php_version_compare(bound, &normalized),
                php_version_compare(&normalized, bound).reverse(),
                "version_compare({bound:?}, {normalized:?}) is not antisymmetric"
            );
        }
    }
    if comparisons(&parsed).into_iter().all(printable) {
        let printed = print(&parsed);
        let reparsed = Constraint::parse(&printed).unwrap_or_else(|e| {
            panic!("{constraints:?} parses, but printed back as {printed:?} it fails: {e}")
        });
        assert_eq!(
            reparsed, parsed,
            "{constraints:?}, printed back as {printed:?}, parses to another constraint"
        );
    }
}

/// The versions a constraint compares against.
fn bounds(constraint: &Constraint) -> Vec<&str> {
    match constraint {
        Constraint::MatchAll => Vec::new(),
        Constraint::Compare { version, .. } => vec![version.as_str()],
        Constraint::And(parts) | Constraint::Or(parts) => parts.iter().flat_map(bounds).collect(),
    }
}

/// The leaves of a constraint.
fn comparisons(constraint: &Constraint) -> Vec<&Constraint> {
    match constraint {
        Constraint::And(parts) | Constraint::Or(parts) => {
            parts.iter().flat_map(comparisons).collect()
        }
        leaf => vec![leaf],
    }
}

/// Whether one comparison, written alone, reads back as itself, and its version is of
/// plain characters (no separators, `@`, `#` or `+`, not ending in `-` or `as`, after
/// which Composer does not split, so it would glue to the next constraint). Some cannot be written at all: Composer appends `-dev` to
/// every `<`/`>=` bound whose version ends in `-RC…` (its check is case-sensitive on a
/// lowercased string), and bounds PHP computed as floats (`1.0E+25.0.0.0`) do not parse.
fn printable(leaf: &Constraint) -> bool {
    let plain = |bound: &str| {
        bound
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'/'))
            && !bound.ends_with('-')
            && !bound.ends_with("as")
            && !bound.starts_with('-')
    };
    bounds(leaf).into_iter().all(plain) && Constraint::parse(&print(leaf)).as_ref() == Ok(leaf)
}

/// Composer's syntax for a parsed constraint: `>=1.0.0.0-dev <2.0.0.0-dev || ==dev-main`.
/// A `<` or `>=` bound without a stability is written with `-stable`, which Composer
/// drops again, as it would otherwise append `-dev` to it.
fn print(constraint: &Constraint) -> String {
    match constraint {
        Constraint::MatchAll => "*".to_owned(),
        Constraint::Compare { op, version } => {
            let op_text = match op {
                Op::Eq => "==",
                Op::Ne => "!=",
                Op::Lt => "<",
                Op::Le => "<=",
                Op::Gt => ">",
                Op::Ge => ">=",
            };
            let needs_stable = matches!(op, Op::Lt | Op::Ge)
                && !version.starts_with("dev-")
                && version::parse_stability(version) == version::Stability::Stable
                && !version.contains('-');
            let suffix = if needs_stable { "-stable" } else { "" };
            format!("{op_text}{version}{suffix}")
        }
        Constraint::And(parts) => parts.iter().map(print).collect::<Vec<_>>().join(" "),
        Constraint::Or(parts) => parts.iter().map(print).collect::<Vec<_>>().join(" || "),
    }
}

/// composer.json (`Manifest::from_slice` and `validate`). A manifest read back from its
/// own serialization is the same manifest with the same verdict; a valid one has a valid
/// package name, and the fields it publishes are a valid manifest too.
pub fn manifest(data: &[u8]) {
    let Ok(manifest) = Manifest::from_slice(data) else {
        return;
    };
    let verdict = manifest.validate();
    let written = serde_json::to_vec(manifest.fields()).expect("a JSON object serializes");
    let reread = Manifest::from_slice(&written).unwrap_or_else(|e| {
        panic!("a manifest's own serialization is refused: {e}");
    });
    assert_eq!(
        reread, manifest,
        "a manifest changes through its serialization"
    );
    assert_eq!(
        reread.validate(),
        verdict,
        "a manifest's verdict changes through its serialization"
    );
    if verdict.is_err() {
        return;
    }
    let name = manifest.name().expect("a valid manifest has a name");
    package_name::PackageName::parse(name)
        .unwrap_or_else(|e| panic!("a valid manifest's name {name:?} does not parse: {e}"));
    let published = Manifest::from_fields(manifest.for_metadata());
    assert!(published.fields().values().all(|v| !v.is_null()));
    if let Err(e) = published.validate() {
        panic!("the published fields of a valid manifest are not valid: {e}");
    }
}

/// Uploaded zips (`uploads::artifact::read_archive`): never panics; what it accepts has a
/// composer.json of at most 1 MiB that reads back as the same manifest, a README within
/// its limit, the same contents when read again, and a fresh archive holding that
/// manifest is accepted too. Memory is bounded by libFuzzer's `-rss_limit_mb`.
pub fn zip(data: &[u8]) {
    use packyard::uploads::artifact::read_archive;
    let Ok(contents) = read_archive(Cursor::new(data)) else {
        return;
    };
    let written = serde_json::to_vec(contents.manifest.fields()).expect("JSON serializes");
    assert!(
        written.len() <= 1024 * 1024,
        "an accepted composer.json of {} bytes",
        written.len()
    );
    assert_eq!(
        Manifest::from_slice(&written).ok().as_ref(),
        Some(&contents.manifest),
        "an accepted composer.json does not read back"
    );
    if let Some(readme) = &contents.readme {
        // Lossy decoding may turn each byte of the limit into a 3-byte U+FFFD.
        assert!(readme.len() <= 3 * packyard::readme::MAX_README_BYTES);
    }
    let again = read_archive(Cursor::new(data)).expect("an accepted archive is accepted again");
    assert_eq!(again.manifest, contents.manifest);
    assert_eq!(again.readme, contents.readme);
    let mut fresh = ::zip::ZipWriter::new(Cursor::new(Vec::new()));
    fresh
        .start_file("composer.json", ::zip::write::SimpleFileOptions::default())
        .expect("an entry starts");
    fresh.write_all(&written).expect("an entry is written");
    let fresh = fresh.finish().expect("a zip is finished").into_inner();
    let rebuilt = read_archive(Cursor::new(fresh))
        .unwrap_or_else(|e| panic!("an accepted manifest in a fresh archive is refused: {e}"));
    assert_eq!(rebuilt.manifest, contents.manifest);
}

/// The `composer/2.0` minifier and p2 documents, on a JSON array of version objects:
/// `expand(minify(versions)) == versions` (nested key order included), also through the
/// JSON text clients read, and the two p2 documents `p2::render` writes hold every
/// version exactly once. Lists with the string `"__unset"` as a version's value are not
/// valid input: the format cannot carry it (Composer's limitation too).
pub fn minify(data: &[u8]) {
    let Ok(versions) = serde_json::from_slice::<Vec<VersionMap>>(data) else {
        return;
    };
    if versions
        .iter()
        .any(|version| version.values().any(|value| value.as_str() == Some(UNSET)))
    {
        return;
    }
    let minified = minify::minify(versions.clone());
    assert_same_versions(&minify::expand(minified.clone()), &versions, "in memory");
    let text = serde_json::to_vec(&minified).expect("JSON serializes");
    let read: Vec<VersionMap> = serde_json::from_slice(&text).expect("minified JSON reads back");
    assert_same_versions(&minify::expand(read), &versions, "through JSON");

    let documents = p2::render("acme/lib", versions.clone());
    let mut rendered = Vec::new();
    for document in [&documents.tagged, &documents.dev] {
        let document: Value = serde_json::from_slice(document).expect("a p2 document is JSON");
        assert_eq!(document["minified"], "composer/2.0");
        let list: Vec<VersionMap> =
            serde_json::from_value(document["packages"]["acme/lib"].clone())
                .expect("a p2 document lists the package's versions");
        rendered.extend(minify::expand(list));
    }
    assert_eq!(rendered.len(), versions.len(), "p2 documents lose versions");
    let mut unmatched: Vec<&VersionMap> = versions.iter().collect();
    for version in &rendered {
        let found = unmatched
            .iter()
            .position(|candidate| same_version(candidate, version))
            .unwrap_or_else(|| panic!("p2 documents hold a version never given: {version:?}"));
        unmatched.swap_remove(found);
    }
}

fn assert_same_versions(got: &[VersionMap], expected: &[VersionMap], how: &str) {
    assert_eq!(got.len(), expected.len(), "expand(minify(x)) {how}: length");
    for (index, (got, expected)) in got.iter().zip(expected).enumerate() {
        assert!(
            same_version(got, expected),
            "expand(minify(x)) {how}: version {index} is {got:?}, not {expected:?}"
        );
    }
}

/// Equal keys and values, a version's own keys in any order, nested objects in the same
/// order (what PHP's `===` compares).
fn same_version(a: &VersionMap, b: &VersionMap) -> bool {
    a.len() == b.len()
        && a.iter().all(|(key, value)| {
            b.get(key)
                .is_some_and(|other| minify::identical(value, other))
        })
}

/// What a mirror reads from its upstream and its store, on one document: the stored
/// envelope round-trips; an upstream root, once rewritten, points metadata at us, keeps
/// nothing we do not proxy and is a fixed point of the rewrite; the advisories kept from
/// an answer parse as constraints and are kept again unchanged; and every version of a
/// p2 document with a dist is found by its own version and reference (asked as the
/// zipball route lets clients ask: a valid name, a plain archive type), under a key in its
/// package's folder.
pub fn mirror_document(data: &[u8]) {
    if let Ok(envelope) = serde_json::from_slice::<Envelope>(data) {
        let stored = serde_json::to_vec(&envelope).expect("an envelope serializes");
        let reread: Envelope = serde_json::from_slice(&stored)
            .unwrap_or_else(|e| panic!("a stored envelope does not read back: {e}"));
        assert_eq!(reread, envelope);
    }
    let mirror = MirrorConfig::new("up", "https://repo.example.org");
    if let Ok(rewritten) = mirror::rewrite_root(data, &mirror, "http://h", None, None) {
        let root: Map<String, Value> =
            serde_json::from_slice(&rewritten).expect("a rewritten root is a JSON object");
        assert_eq!(root["metadata-url"], "http://h/mirror/up/p2/%package%.json");
        for unproxied in ["providers-url", "provider-includes", "search", "list"] {
            assert!(!root.contains_key(unproxied), "{unproxied} survives");
        }
        let twice = mirror::rewrite_root(&rewritten, &mirror, "http://h", None, None)
            .expect("a rewritten root is rewritten again");
        let twice: Map<String, Value> = serde_json::from_slice(&twice).expect("JSON object");
        assert_eq!(twice, root, "rewriting a rewritten root changes it");
    }
    if let Some(answer) = mirror::advisories::parse_upstream_answer(data) {
        for (package, list) in answer {
            let Value::Array(list) = list else { continue };
            let kept = mirror::advisories::checked(&package, list);
            for advisory in &kept {
                let affected = advisory["affectedVersions"].as_str().expect("a string");
                Constraint::parse(affected).expect("kept advisories' constraints parse");
            }
            assert_eq!(mirror::advisories::checked(&package, kept.clone()), kept);
        }
    }
    let Ok(document) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let doc = MirroredDoc {
        body: data.to_vec().into(),
        upstream_last_modified: None,
        fetched_at: 0,
        gone_upstream_at: None,
        checked_at: std::time::Instant::now(),
    };
    let Some(packages) = document.get("packages").and_then(Value::as_object) else {
        return;
    };
    for (package, versions) in packages {
        // Clients ask for archives by a valid name (`PackagePath`).
        if package_name::PackageName::parse(package).is_err() {
            continue;
        }
        let mut list: Vec<VersionMap> = versions
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_object().cloned())
            .collect();
        if document["minified"] == "composer/2.0" {
            list = minify::expand(list);
        }
        let text = |value: Option<&Value>| value.and_then(Value::as_str).map(str::to_owned);
        let reference_of =
            |version: &VersionMap| text(version.get("dist").and_then(|d| d.get("reference")));
        for (index, found) in list.iter().enumerate() {
            let dist = found.get("dist").and_then(Value::as_object);
            let (Some(pretty), Some(reference), Some(kind)) = (
                text(found.get("version")),
                reference_of(found),
                text(dist.and_then(|d| d.get("type"))),
            ) else {
                continue;
            };
            // A client asking for this version and reference gets the first entry that
            // has them (whose type must then be the one asked for).
            let shadowed = list[..index].iter().any(|earlier| {
                reference_of(earlier).as_ref() == Some(&reference)
                    && ["version", "version_normalized"]
                        .iter()
                        .any(|key| text(earlier.get(*key)).as_ref() == Some(&pretty))
            });
            if shadowed {
                continue;
            }
            // What the zipball route lets through as an archive type.
            let route_kind = |kind: &str| {
                !kind.is_empty()
                    && kind.len() <= 8
                    && kind
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            };
            if !route_kind(&kind) || pretty.contains('/') || reference.contains('/') {
                continue;
            }
            let located = mirror::locate_dist(&mirror, package, &pretty, &reference, &kind, &doc)
                .unwrap_or_else(|| panic!("{package} {pretty} ({reference}) is not found"));
            let folder = format!(
                "{}/",
                storage::keys::mirror_dist_folder(&mirror.alias, package)
            );
            let file = located
                .key
                .strip_prefix(&folder)
                .unwrap_or_else(|| panic!("{} is outside {folder}", located.key));
            assert!(!file.contains('/'), "{} leaves its folder", located.key);
        }
    }
}

/// Repository URLs, redaction and percent-decoding. Credentials never survive in the
/// public or redacted form (neither our parser nor a WHATWG one finds the password
/// there); an accepted repository URL keeps its identity (`key`), its endpoint and its
/// validity when its credentials are taken out; percent-decoding inverts encoding.
pub fn url(data: &[u8]) {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let public = redact::public(input);
    let redacted = redact::redacted(input);
    let trimmed = input.trim();
    let _ = redact::hide_password_of(input, input);
    let _ = repository_url::endpoint(input);
    let _ = repository_url::key(input);
    let _ = repository_url::is_local(input);
    assert_eq!(
        redact::credentials_in(&public),
        None,
        "{public:?} has credentials"
    );
    if let Some((user, password)) = redact::credentials_in(input) {
        // A password is hidden and its user kept; a bare user name in an http(s) URL is
        // the credential (a token) and is hidden itself.
        let hidden_password = Some((user, "***".to_owned()));
        let hidden_token = Some(("***".to_owned(), String::new()));
        let found = redact::credentials_in(&redacted);
        assert!(
            found == hidden_password || (password.is_empty() && found == hidden_token),
            "{input:?} redacted as {redacted:?}"
        );
    }
    if repository_url::validate(input).is_ok() {
        // What adding a git package does: the trimmed URL, its credentials taken out.
        let public = redact::public(trimmed);
        assert_eq!(
            repository_url::key(&public),
            repository_url::key(trimmed),
            "{input:?} and its public form {public:?} are different repositories"
        );
        assert_eq!(
            repository_url::endpoint(&public),
            repository_url::endpoint(trimmed),
            "{input:?} and its public form {public:?} connect to different places"
        );
        if let Ok(parsed) = reqwest::Url::parse(&public) {
            assert_eq!(parsed.password(), None, "{public:?} keeps a password");
        }
    }
    let encoded = input.bytes().fold(String::new(), |mut encoded, b| {
        let _ = write!(encoded, "%{b:02X}");
        encoded
    });
    assert_eq!(percent::decode(&encoded, Plus::Literal), input);
    assert_eq!(percent::decode(&encoded, Plus::Space), input);
    if !input.contains(['%', '+']) {
        assert_eq!(percent::decode(input, Plus::Space), input);
    }
}
