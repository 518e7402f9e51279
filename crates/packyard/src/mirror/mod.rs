//! Mirrors of Composer repositories (packagist.org by default): metadata proxied lazily,
//! archives cached in storage, all state in the mirror stores so replicas share it.

pub mod config;
pub mod dists;
pub mod documents;
pub mod upstream;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, Value, json};
use storage::{Storage, StoreName, keys};

use config::MirrorConfig;
use dists::{DistSource, Dists};
use documents::{Documents, MirroredDoc};
use upstream::Upstream;

pub struct Mirrors {
    configs: BTreeMap<String, Arc<MirrorConfig>>,
    pub documents: Arc<Documents>,
    pub dists: Arc<Dists>,
}

impl Mirrors {
    pub fn new(configs: Vec<MirrorConfig>, storage: &Storage) -> Self {
        let upstream = Upstream::new();
        Mirrors {
            configs: configs
                .into_iter()
                .map(|m| (m.alias.clone(), Arc::new(m)))
                .collect(),
            documents: Arc::new(Documents::new(
                storage.store(StoreName::MirrorMeta).clone(),
                upstream.clone(),
            )),
            dists: Arc::new(Dists::new(
                storage.store(StoreName::MirrorDist).clone(),
                upstream,
            )),
        }
    }

    pub fn get(&self, alias: &str) -> Option<&Arc<MirrorConfig>> {
        self.configs.get(alias)
    }

    pub fn aliases(&self) -> impl Iterator<Item = &String> {
        self.configs.keys()
    }
}

/// The upstream root rewritten for our clients: metadata and archives come from us;
/// what we do not proxy (`providers-api`, `search`, `list`, the upstream's
/// `notify-batch`, v1 provider files) is removed.
pub fn rewrite_root(
    upstream_root: &[u8],
    mirror: &MirrorConfig,
    base: &str,
    available: Option<Vec<String>>,
) -> Result<Vec<u8>, String> {
    let mut root: Map<String, Value> = match serde_json::from_slice(upstream_root) {
        Ok(Value::Object(root)) => root,
        _ => return Err("the upstream packages.json is not a JSON object".into()),
    };
    for unproxied in [
        "providers-api",
        "search",
        "list",
        "notify-batch",
        "notify",
        "providers-url",
        "provider-includes",
        "providers",
        "providers-lazy-url",
        "security-advisories",
        "metadata-changes-url",
        "mirrors",
        "includes",
    ] {
        root.remove(unproxied);
    }
    root.insert("packages".into(), json!([]));
    let prefix = format!("{base}/mirror/{}", mirror.alias);
    root.insert(
        "metadata-url".into(),
        json!(format!("{prefix}/p2/%package%.json")),
    );
    if mirror.enable_dist_mirror {
        root.insert(
            "mirrors".into(),
            json!([{"dist-url": format!("{prefix}/zipball/%package%/%version%/%reference%.%type%"), "preferred": true}]),
        );
    }
    if let Some(names) = available {
        root.insert("available-packages".into(), json!(names));
        root.remove("available-package-patterns");
    } else if !mirror.available_packages.is_empty() || !mirror.available_package_patterns.is_empty()
    {
        root.insert(
            "available-packages".into(),
            json!(mirror.available_packages),
        );
        root.insert(
            "available-package-patterns".into(),
            json!(mirror.available_package_patterns),
        );
    }
    Ok(serde_json::to_vec(&Value::Object(root)).expect("JSON serializes"))
}

/// Finds the version of `package` whose dist the client asks for and where to get it.
/// Clients md5-hash references that are not hex and versions that contain `/`, so both
/// spellings are accepted.
pub fn dist_source(
    mirror: &MirrorConfig,
    package: &str,
    version: &str,
    reference: &str,
    kind: &str,
    documents: &[&MirroredDoc],
    upstream_root: Option<&[u8]>,
) -> Option<DistSource> {
    let versions = documents.iter().flat_map(|doc| versions_of(doc, package));
    let matches = |candidate: &Map<String, Value>| {
        let dist_ref = candidate
            .get("dist")
            .and_then(|d| d.get("reference"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        let pretty = candidate
            .get("version")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let normalized = candidate
            .get("version_normalized")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let reference_matches = dist_ref == reference || md5_hex(dist_ref) == reference;
        let version_matches = [pretty, normalized]
            .iter()
            .any(|v| *v == version || md5_hex(v) == version);
        reference_matches && version_matches
    };
    let found = versions.into_iter().find(|v| matches(v))?;
    let dist = found.get("dist")?;
    let dist_reference = dist
        .get("reference")
        .and_then(Value::as_str)
        .unwrap_or(reference)
        .to_owned();
    let pretty = found
        .get("version")
        .and_then(Value::as_str)
        .unwrap_or(version)
        .to_owned();
    let normalized = found
        .get("version_normalized")
        .and_then(Value::as_str)
        .unwrap_or(version)
        .to_owned();
    let mut urls: Vec<String> = dist
        .get("url")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .into_iter()
        .collect();
    urls.extend(upstream_mirror_urls(
        mirror,
        upstream_root,
        package,
        &normalized,
        &pretty,
        &dist_reference,
        kind,
    ));
    Some(DistSource {
        key: keys::mirror_dist(&mirror.alias, package, &normalized, &dist_reference, kind),
        urls,
        shasum: dist
            .get("shasum")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
    })
}

/// The versions in a p2 document, expanded when minified.
fn versions_of(doc: &MirroredDoc, package: &str) -> Vec<Map<String, Value>> {
    let Ok(value) = serde_json::from_slice::<Value>(&doc.body) else {
        return Vec::new();
    };
    let list: Vec<Map<String, Value>> = value["packages"][package]
        .as_array()
        .map(|list| list.iter().filter_map(|v| v.as_object().cloned()).collect())
        .unwrap_or_default();
    if value["minified"] == "composer/2.0" {
        composer::minify::expand(list)
    } else {
        list
    }
}

/// The upstream's own `mirrors` dist-urls, tried after the version's `dist.url`.
fn upstream_mirror_urls(
    mirror: &MirrorConfig,
    upstream_root: Option<&[u8]>,
    package: &str,
    version: &str,
    pretty_version: &str,
    reference: &str,
    kind: &str,
) -> Vec<String> {
    let Some(root) = upstream_root.and_then(|r| serde_json::from_slice::<Value>(r).ok()) else {
        return Vec::new();
    };
    root["mirrors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["dist-url"].as_str())
        .map(|template| {
            let url = template
                .replace("%package%", package)
                .replace("%version%", version)
                .replace("%prettyVersion%", pretty_version)
                .replace("%reference%", reference)
                .replace("%type%", kind);
            if url.starts_with('/') {
                format!("{}{url}", mirror.url)
            } else {
                url
            }
        })
        .collect()
}

fn md5_hex(text: &str) -> String {
    use md5::{Digest, Md5};
    hex::encode(Md5::digest(text.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mirror() -> MirrorConfig {
        config::resolve(&Default::default()).unwrap().remove(0)
    }

    #[test]
    fn the_root_points_at_us_and_drops_what_we_do_not_proxy() {
        let upstream = br#"{"packages":[],"metadata-url":"/p2/%package%.json","notify-batch":"https://packagist.org/downloads/","search":"/search.json?q=%query%","providers-api":"/providers/%package%.json","list":"/list.json","mirrors":[{"dist-url":"https://mirror.example/%package%","preferred":true}]}"#;
        let rewritten: Value =
            serde_json::from_slice(&rewrite_root(upstream, &mirror(), "http://h", None).unwrap())
                .unwrap();
        assert_eq!(
            rewritten["metadata-url"],
            "http://h/mirror/packagist/p2/%package%.json"
        );
        assert_eq!(
            rewritten["mirrors"],
            json!([{"dist-url": "http://h/mirror/packagist/zipball/%package%/%version%/%reference%.%type%", "preferred": true}])
        );
        for removed in ["notify-batch", "search", "providers-api", "list"] {
            assert!(rewritten.get(removed).is_none(), "{removed}");
        }
        let restricted = rewrite_root(
            upstream,
            &mirror(),
            "http://h",
            Some(vec!["psr/log".into()]),
        )
        .unwrap();
        assert_eq!(
            serde_json::from_slice::<Value>(&restricted).unwrap()["available-packages"],
            json!(["psr/log"])
        );
        assert!(rewrite_root(b"[1]", &mirror(), "http://h", None).is_err());
    }

    #[test]
    fn dists_are_found_by_reference_and_version_hashed_or_not() {
        let doc = MirroredDoc {
            body: bytes::Bytes::from(
                json!({"minified": "composer/2.0", "packages": {"psr/log": [
                    {"name": "psr/log", "version": "3.0.0", "version_normalized": "3.0.0.0",
                     "dist": {"type": "zip", "url": "https://codeload.example/psr/log/abc", "reference": "abc", "shasum": "s1"}},
                    {"version": "2.0.0", "version_normalized": "2.0.0.0",
                     "dist": {"type": "zip", "url": "https://codeload.example/psr/log/def", "reference": "def", "shasum": ""}}
                ]}})
                .to_string(),
            ),
            upstream_last_modified: None,
            fetched_at: 0,
            checked_at: std::time::Instant::now(),
        };
        let root = br#"{"mirrors":[{"dist-url":"/dists/%package%/%reference%.%type%"}]}"#;
        let found = dist_source(
            &mirror(),
            "psr/log",
            "2.0.0.0",
            "def",
            "zip",
            &[&doc],
            Some(root),
        )
        .unwrap();
        assert_eq!(
            found.urls,
            [
                "https://codeload.example/psr/log/def",
                "https://repo.packagist.org/dists/psr/log/def.zip"
            ]
        );
        assert_eq!(found.shasum, "");
        let hashed = dist_source(
            &mirror(),
            "psr/log",
            &md5_hex("3.0.0"),
            &md5_hex("abc"),
            "zip",
            &[&doc],
            None,
        )
        .unwrap();
        assert_eq!(hashed.shasum, "s1");
        assert!(
            dist_source(&mirror(), "psr/log", "3.0.0.0", "zzz", "zip", &[&doc], None).is_none()
        );
        assert!(
            found.key.contains("/packagist/psr/log/2.0.0.0-"),
            "{}",
            found.key
        );
    }
}
