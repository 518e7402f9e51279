//! A fake upstream Composer v2 repository for mirror tests: [`UpstreamRepo`] writes a
//! static repository (packages.json, p2 files, dist zips) into a temporary directory in
//! Composer's real format, and [`UpstreamServer`] serves it over HTTP/1.1 on 127.0.0.1,
//! counting every request.
//!
//! ```ignore
//! let mut upstream = UpstreamRepo::new();
//! upstream.package("psr/log", "3.0.0", json!({"autoload": {"psr-4": {"Psr\\Log\\": "src"}}}),
//!     &[("src/LoggerInterface.php", "<?php\nnamespace Psr\\Log;\ninterface LoggerInterface {}\n")]);
//! let server = upstream.serve();
//! // ... point packyard at server.url() ...
//! assert_eq!(server.count("/p2/psr/log.json"), 1);
//! ```
//!
//! Layout served (paths relative to [`UpstreamServer::url`]):
//! - `/packages.json`: `metadata-url` plus `notify-batch`, `search`, `providers-api` and
//!   `list` (and `available-packages` when announced; see [`UpstreamRepo::root_field`]).
//! - `/list.json`: `{"packageNames": [...]}`.
//! - `/p2/{vendor}/{name}.json` (tagged versions, newest first) and
//!   `/p2/{vendor}/{name}~dev.json` (`dev-*` versions, in the order added), both written
//!   for every package, with an empty list when it has no such versions.
//! - `/dists/{vendor}/{name}/{version}.zip`: a zip with one top-level folder
//!   `{vendor}-{name}-{reference[..7]}/` holding composer.json and the package's files.
//!
//! Last-Modified: every file written by [`UpstreamRepo::serve`] gets [`INITIAL_LAST_MODIFIED`]
//! (2024-01-01T00:00:00Z). Whenever a file's bytes change afterwards (or it is
//! [`touch`](UpstreamServer::touch)ed), its Last-Modified becomes
//! `max(now, previous + 1 s)` rounded to whole seconds, so it strictly increases even
//! within one second. Files placed in the directory by hand fall back to their mtime.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};
use sha1::{Digest, Sha1};

use crate::TempDir;

/// The Last-Modified of every file when the server starts: 2024-01-01T00:00:00Z.
pub const INITIAL_LAST_MODIFIED: Duration = Duration::from_secs(1_704_067_200);

/// The `time` of a version whose extra JSON has none.
pub const DEFAULT_TIME: &str = "2024-01-01T00:00:00+00:00";

/// Where the server answers advisories requests (see [`UpstreamServer::advisory`]).
pub const ADVISORIES_PATH: &str = "/api/security-advisories/";

/// The `notify-batch` URL of packages.json (never reachable: `.invalid`).
pub const NOTIFY_BATCH_URL: &str = "https://example.invalid/downloads/";

fn initial_last_modified() -> SystemTime {
    UNIX_EPOCH + INITIAL_LAST_MODIFIED
}

/// The path of a version's dist zip on the server: `/dists/{vendor}/{name}/{version}.zip`.
pub fn dist_path(name: &str, version: &str) -> String {
    format!("/dists/{name}/{version}.zip")
}

/// The dist `reference` announced for a version: sha1 of `{name}@{version}`, in hex.
pub fn dist_reference(name: &str, version: &str) -> String {
    sha1_hex(format!("{name}@{version}").as_bytes())
}

/// sha1 in lowercase hex, the way Composer's `shasum` is written.
pub fn sha1_hex(bytes: &[u8]) -> String {
    hex::encode(Sha1::digest(bytes))
}

/// `version_normalized` for the versions the builder accepts: `[v]X.Y.Z` → `X.Y.Z.0`,
/// `dev-*` unchanged. Panics on anything else.
pub fn normalize_version(version: &str) -> String {
    if let Some(branch) = version.strip_prefix("dev-") {
        assert!(
            !branch.is_empty() && !branch.contains('/') && !branch.contains(char::is_whitespace),
            "upstream: dev version {version:?} must be dev-<branch> without '/' or spaces"
        );
        return version.to_owned();
    }
    let numbers = numeric_parts(version).unwrap_or_else(|| {
        panic!("upstream: version {version:?} must be X.Y.Z, vX.Y.Z or dev-<branch>")
    });
    format!("{}.{}.{}.0", numbers[0], numbers[1], numbers[2])
}

fn numeric_parts(version: &str) -> Option<[u64; 3]> {
    let plain = version.strip_prefix('v').unwrap_or(version);
    let parts: Vec<&str> = plain.split('.').collect();
    if parts.len() != 3 {
        return None;
    }
    let mut numbers = [0u64; 3];
    for (slot, part) in numbers.iter_mut().zip(&parts) {
        if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        *slot = part.parse().ok()?;
    }
    Some(numbers)
}

fn is_dev(version: &str) -> bool {
    version.starts_with("dev-")
}

/// composer/metadata-minifier's `minify`, key for key (PHP's `isset` treats null as unset).
pub fn minify(versions: &[Map<String, Value>]) -> Vec<Value> {
    let mut minified = Vec::new();
    let mut last: Option<Map<String, Value>> = None;
    for version in versions {
        let Some(last) = last.as_mut() else {
            minified.push(Value::Object(version.clone()));
            last = Some(version.clone());
            continue;
        };
        let mut diff = Map::new();
        for (key, value) in version {
            let known = last.get(key).filter(|v| !v.is_null());
            if known != Some(value) {
                diff.insert(key.clone(), value.clone());
                last.insert(key.clone(), value.clone());
            }
        }
        let gone: Vec<String> = last
            .keys()
            .filter(|key| version.get(*key).is_none_or(Value::is_null))
            .cloned()
            .collect();
        for key in gone {
            diff.insert(key.clone(), Value::from("__unset"));
            last.shift_remove(&key);
        }
        minified.push(Value::Object(diff));
    }
    minified
}

/// composer/metadata-minifier's `expand`: the inverse of [`minify`].
pub fn expand(versions: &[Value]) -> Vec<Map<String, Value>> {
    let mut expanded = Vec::new();
    let mut current: Option<Map<String, Value>> = None;
    for version in versions {
        let object = version.as_object().cloned().unwrap_or_default();
        let Some(current) = current.as_mut() else {
            expanded.push(object.clone());
            current = Some(object);
            continue;
        };
        for (key, value) in object {
            if value == "__unset" {
                current.shift_remove(&key);
            } else {
                current.insert(key, value);
            }
        }
        expanded.push(current.clone());
    }
    expanded
}

#[derive(Clone)]
struct Version {
    /// As given, e.g. `v1.0.0`; `normalized` is `1.0.0.0`.
    pretty: String,
    normalized: String,
    extra: Map<String, Value>,
    files: Vec<(String, Vec<u8>)>,
    corrupt_shasum: bool,
}

/// The repository's content, shared by the builder and the running server.
struct Model {
    dir: TempDir,
    base_url: String,
    packages: BTreeMap<String, Vec<Version>>,
    announce_available: bool,
    minified: bool,
    root_fields: Map<String, Value>,
    /// Paths whose content a test set by hand: `Some(bytes)` is served, `None` is a 404.
    overrides: BTreeMap<String, Option<Vec<u8>>>,
    /// Paths written by [`Model::sync`], to delete those no longer wanted.
    written: BTreeSet<String>,
    last_modified: HashMap<String, SystemTime>,
    /// Before the first sync every file gets [`INITIAL_LAST_MODIFIED`].
    started: bool,
}

impl Model {
    fn new() -> Model {
        let mut root_fields = Map::new();
        root_fields.insert("packages".into(), json!([]));
        root_fields.insert("metadata-url".into(), json!("/p2/%package%.json"));
        root_fields.insert("notify-batch".into(), json!(NOTIFY_BATCH_URL));
        root_fields.insert("search".into(), json!("/search.json?q=%query%"));
        root_fields.insert("providers-api".into(), json!("/providers/%package%.json"));
        root_fields.insert("list".into(), json!("/list.json"));
        Model {
            dir: TempDir::new("upstream"),
            base_url: String::new(),
            packages: BTreeMap::new(),
            announce_available: false,
            minified: false,
            root_fields,
            overrides: BTreeMap::new(),
            written: BTreeSet::new(),
            last_modified: HashMap::new(),
            started: false,
        }
    }

    fn add(&mut self, name: &str, version: &str, extra: Value, files: &[(&str, &str)]) {
        check_name(name);
        let normalized = normalize_version(version);
        let extra = match extra {
            Value::Object(map) => map,
            Value::Null => Map::new(),
            other => panic!(
                "upstream: the extra JSON of {name} {version} must be an object, not {other}"
            ),
        };
        let entry = Version {
            pretty: version.to_owned(),
            normalized,
            extra,
            files: files
                .iter()
                .map(|(path, content)| (path.to_string(), content.as_bytes().to_vec()))
                .collect(),
            corrupt_shasum: false,
        };
        let versions = self.packages.entry(name.to_owned()).or_default();
        match versions.iter_mut().find(|v| v.pretty == version) {
            Some(existing) => {
                let corrupt = existing.corrupt_shasum;
                *existing = entry;
                existing.corrupt_shasum = corrupt;
            }
            None => versions.push(entry),
        }
    }

    fn version_mut(&mut self, name: &str, version: &str) -> &mut Version {
        self.packages
            .get_mut(name)
            .and_then(|versions| versions.iter_mut().find(|v| v.pretty == version))
            .unwrap_or_else(|| panic!("upstream: no package {name} {version}"))
    }

    fn remove_version(&mut self, name: &str, version: &str) {
        let versions = self
            .packages
            .get_mut(name)
            .unwrap_or_else(|| panic!("upstream: no package {name}"));
        let before = versions.len();
        versions.retain(|v| v.pretty != version);
        assert!(
            versions.len() < before,
            "upstream: no package {name} {version}"
        );
    }

    fn remove_package(&mut self, name: &str) {
        assert!(
            self.packages.remove(name).is_some(),
            "upstream: no package {name}"
        );
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn zip_for(name: &str, version: &Version) -> Vec<u8> {
        let reference = dist_reference(name, &version.pretty);
        let folder = format!("{}-{}", name.replace('/', "-"), &reference[..7]);
        let mut manifest = Map::new();
        manifest.insert("name".into(), json!(name));
        manifest.insert("version".into(), json!(version.pretty));
        for (key, value) in &version.extra {
            if !matches!(
                key.as_str(),
                "name" | "version" | "version_normalized" | "dist" | "source"
            ) {
                manifest.insert(key.clone(), value.clone());
            }
        }
        let mut manifest = serde_json::to_vec_pretty(&Value::Object(manifest)).unwrap();
        manifest.push(b'\n');

        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .last_modified_time(zip::DateTime::from_date_and_time(2024, 1, 1, 0, 0, 0).unwrap());
        let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        writer.add_directory(format!("{folder}/"), options).unwrap();
        writer
            .start_file(format!("{folder}/composer.json"), options)
            .unwrap();
        writer.write_all(&manifest).unwrap();
        let mut directories: Vec<String> = Vec::new();
        for (path, content) in &version.files {
            let path = path.trim_start_matches('/');
            assert!(
                path != "composer.json",
                "upstream: {name} {version}: composer.json is generated from the extra JSON",
                version = version.pretty
            );
            // Directory entries, like `git archive` writes them.
            let mut prefix = String::new();
            for part in path.split('/').collect::<Vec<_>>().split_last().unwrap().1 {
                prefix.push_str(part);
                prefix.push('/');
                if !directories.contains(&prefix) {
                    writer
                        .add_directory(format!("{folder}/{prefix}"), options)
                        .unwrap();
                    directories.push(prefix.clone());
                }
            }
            writer
                .start_file(format!("{folder}/{path}"), options)
                .unwrap();
            writer.write_all(content).unwrap();
        }
        writer.finish().unwrap().into_inner()
    }

    fn version_json(&self, name: &str, version: &Version, zip: &[u8]) -> Map<String, Value> {
        let mut object = Map::new();
        object.insert("name".into(), json!(name));
        object.insert("version".into(), json!(version.pretty));
        object.insert("version_normalized".into(), json!(version.normalized));
        for (key, value) in &version.extra {
            if !matches!(
                key.as_str(),
                "name" | "version" | "version_normalized" | "dist" | "time"
            ) {
                object.insert(key.clone(), value.clone());
            }
        }
        let shasum = if version.corrupt_shasum {
            sha1_hex(&[zip, b"corrupt".as_slice()].concat())
        } else {
            sha1_hex(zip)
        };
        let mut dist = json!({
            "type": "zip",
            "url": format!("{}{}", self.base_url, dist_path(name, &version.pretty)),
            "reference": dist_reference(name, &version.pretty),
            "shasum": shasum,
        });
        if let Some(Value::Object(overrides)) = version.extra.get("dist") {
            for (key, value) in overrides {
                dist[key] = value.clone();
            }
        }
        object.insert("dist".into(), dist);
        let time = version
            .extra
            .get("time")
            .cloned()
            .unwrap_or_else(|| json!(DEFAULT_TIME));
        object.insert("time".into(), time);
        object
    }

    fn p2_json(&self, name: &str, versions: Vec<Map<String, Value>>) -> Vec<u8> {
        let list = if self.minified {
            minify(&versions)
        } else {
            versions.into_iter().map(Value::Object).collect()
        };
        let mut body = json!({"packages": {name: list}});
        if self.minified {
            body["minified"] = json!("composer/2.0");
        }
        serde_json::to_vec(&body).unwrap()
    }

    /// Every file the repository consists of, by URL path.
    fn files(&self) -> BTreeMap<String, Vec<u8>> {
        let mut files = BTreeMap::new();
        let mut root = self.root_fields.clone();
        if self.announce_available {
            root.insert(
                "available-packages".into(),
                json!(self.packages.keys().collect::<Vec<_>>()),
            );
        }
        files.insert(
            "/packages.json".to_owned(),
            serde_json::to_vec(&Value::Object(root)).unwrap(),
        );
        files.insert(
            "/list.json".to_owned(),
            serde_json::to_vec(&json!({"packageNames": self.packages.keys().collect::<Vec<_>>()}))
                .unwrap(),
        );
        for (name, versions) in &self.packages {
            let mut tagged: Vec<&Version> =
                versions.iter().filter(|v| !is_dev(&v.pretty)).collect();
            tagged.sort_by_key(|v| std::cmp::Reverse(numeric_parts(&v.pretty)));
            let dev: Vec<&Version> = versions.iter().filter(|v| is_dev(&v.pretty)).collect();
            let mut render = |list: Vec<&Version>| -> Vec<Map<String, Value>> {
                list.into_iter()
                    .map(|version| {
                        let zip = Self::zip_for(name, version);
                        let object = self.version_json(name, version, &zip);
                        files.insert(dist_path(name, &version.pretty), zip);
                        object
                    })
                    .collect()
            };
            let tagged = render(tagged);
            let dev = render(dev);
            // As on packagist.org: a package without branches has no `~dev` file and
            // one with only branches no tagged file (both are 404s).
            if !tagged.is_empty() {
                files.insert(format!("/p2/{name}.json"), self.p2_json(name, tagged));
            }
            if !dev.is_empty() {
                files.insert(format!("/p2/{name}~dev.json"), self.p2_json(name, dev));
            }
        }
        for (path, content) in &self.overrides {
            match content {
                Some(bytes) => files.insert(path.clone(), bytes.clone()),
                None => files.remove(path),
            };
        }
        files
    }

    /// Writes the files whose bytes changed, bumping their Last-Modified, and deletes
    /// the files no longer part of the repository.
    fn sync(&mut self) {
        let files = self.files();
        for path in self.written.iter().cloned().collect::<Vec<_>>() {
            if !files.contains_key(&path) {
                let _ = std::fs::remove_file(self.disk_path(&path));
                self.last_modified.remove(&path);
                self.written.remove(&path);
            }
        }
        for (path, bytes) in files {
            let disk = self.disk_path(&path);
            if std::fs::read(&disk).ok().as_deref() == Some(bytes.as_slice()) {
                continue;
            }
            std::fs::create_dir_all(disk.parent().unwrap()).unwrap();
            std::fs::write(&disk, &bytes).unwrap();
            self.bump(&path);
            self.written.insert(path);
        }
        self.started = true;
    }

    fn bump(&mut self, path: &str) {
        let time = if self.started {
            let previous = self
                .last_modified
                .get(path)
                .copied()
                .unwrap_or_else(initial_last_modified);
            let now = whole_seconds(SystemTime::now());
            now.max(previous + Duration::from_secs(1))
        } else {
            initial_last_modified()
        };
        self.last_modified.insert(path.to_owned(), time);
    }

    fn disk_path(&self, path: &str) -> PathBuf {
        self.dir.path().join(path.trim_start_matches('/'))
    }

    /// The bytes and Last-Modified of a URL path, or `None` for a 404.
    fn read(&self, path: &str) -> Option<(Vec<u8>, SystemTime)> {
        let disk = self.disk_path(path);
        if !disk.is_file() {
            return None;
        }
        let bytes = std::fs::read(&disk).ok()?;
        let time = match self.last_modified.get(path) {
            Some(time) => *time,
            None => whole_seconds(std::fs::metadata(&disk).ok()?.modified().ok()?),
        };
        Some((bytes, time))
    }
}

fn check_name(name: &str) {
    let valid = name.split_once('/').is_some_and(|(vendor, package)| {
        let part = |s: &str| {
            !s.is_empty()
                && s.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
                })
        };
        part(vendor) && part(package)
    });
    assert!(
        valid,
        "upstream: package name {name:?} must be lowercase vendor/name"
    );
}

fn whole_seconds(time: SystemTime) -> SystemTime {
    let seconds = time
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    UNIX_EPOCH + Duration::from_secs(seconds)
}

/// A static Composer v2 repository being built; [`serve`](Self::serve) writes it to disk
/// (dist URLs are absolute, so files are written once the port is known) and serves it.
pub struct UpstreamRepo {
    model: Model,
}

impl Default for UpstreamRepo {
    fn default() -> Self {
        Self::new()
    }
}

impl UpstreamRepo {
    /// An empty repository in a new temporary directory.
    pub fn new() -> UpstreamRepo {
        UpstreamRepo {
            model: Model::new(),
        }
    }

    /// Adds (or replaces) a version. `version` is `X.Y.Z`, `vX.Y.Z` or `dev-<branch>`
    /// (dev versions go to `~dev.json`). `extra` is an object merged into the version's
    /// metadata and its zip's composer.json (`require`, `autoload`, `type`, `source`, ...;
    /// `time` overrides [`DEFAULT_TIME`]; `dist` keys override the computed dist's).
    /// `files` are `(path, content)` inside the package, composer.json excluded.
    pub fn package(
        &mut self,
        name: &str,
        version: &str,
        extra: Value,
        files: &[(&str, &str)],
    ) -> &mut Self {
        self.model.add(name, version, extra, files);
        self
    }

    /// psr/log 3.0.0 and monolog/monolog 3.5.0, which requires it: a package with a
    /// dependency, as the mirror tests install them.
    pub fn monolog(&mut self) -> &mut Self {
        self.package(
            "psr/log",
            "3.0.0",
            json!({"autoload": {"psr-4": {"Psr\\Log\\": "src"}}}),
            &[(
                "src/LoggerInterface.php",
                "<?php\nnamespace Psr\\Log;\n\ninterface LoggerInterface {}\n",
            )],
        )
        .package(
            "monolog/monolog",
            "3.5.0",
            json!({"require": {"psr/log": "^3.0"}, "autoload": {"psr-4": {"Monolog\\": "src"}}}),
            &[(
                "src/Logger.php",
                "<?php\nnamespace Monolog;\n\nfinal class Logger {}\n",
            )],
        )
    }

    /// [`package`](Self::package) for a `dev-*` version (asserts the prefix).
    pub fn dev_package(
        &mut self,
        name: &str,
        version: &str,
        extra: Value,
        files: &[(&str, &str)],
    ) -> &mut Self {
        assert!(
            is_dev(version),
            "upstream: {version:?} is not a dev-* version"
        );
        self.package(name, version, extra, files)
    }

    /// Makes the metadata announce a shasum that does not match the served zip.
    pub fn corrupt_shasum(&mut self, name: &str, version: &str) -> &mut Self {
        self.model.version_mut(name, version).corrupt_shasum = true;
        self
    }

    /// Adds `available-packages` (every package name) to packages.json.
    pub fn announce_available_packages(&mut self) -> &mut Self {
        self.model.announce_available = true;
        self
    }

    /// Writes p2 files minified (`"minified": "composer/2.0"`), as packagist.org does.
    pub fn minified(&mut self) -> &mut Self {
        self.model.minified = true;
        self
    }

    /// Sets a top-level key of packages.json (`mirrors`, `security-advisories`, `info`,
    /// ...); `Value::Null` removes it.
    pub fn root_field(&mut self, key: &str, value: Value) -> &mut Self {
        set_root_field(&mut self.model, key, value);
        self
    }

    /// Serves `content` at `path` (e.g. `/p2/acme/broken.json`) instead of what the
    /// repository would generate there.
    pub fn put_file(&mut self, path: &str, content: impl Into<Vec<u8>>) -> &mut Self {
        self.model
            .overrides
            .insert(clean_path(path), Some(content.into()));
        self
    }

    /// The directory the files are written to.
    pub fn root(&self) -> &Path {
        self.model.root()
    }

    /// Writes the files and starts an [`UpstreamServer`] on 127.0.0.1 with a free port.
    pub fn serve(self) -> UpstreamServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding the upstream server");
        let address = listener.local_addr().unwrap();
        let mut model = self.model;
        model.base_url = format!("http://{address}");
        model.sync();
        let shared = Arc::new(Shared {
            model: Mutex::new(model),
            log: Mutex::new(Log::default()),
            logged: Condvar::new(),
            dist_delay: Mutex::new(Duration::ZERO),
            metadata_delay: Mutex::new(Duration::ZERO),
            basic_auth: Mutex::new(None),
            failures: Mutex::new(HashMap::new()),
            advisories: Mutex::new(BTreeMap::new()),
            advisories_asked: Mutex::new(Vec::new()),
            generation: AtomicU64::new(0),
            connections: Mutex::new(HashMap::new()),
            next_connection: AtomicU64::new(0),
            accepted: AtomicUsize::new(0),
        });
        let acceptor = Some(spawn_acceptor(listener, shared.clone()));
        UpstreamServer {
            shared,
            address,
            acceptor,
        }
    }
}

fn set_root_field(model: &mut Model, key: &str, value: Value) {
    if value.is_null() {
        model.root_fields.shift_remove(key);
    } else {
        model.root_fields.insert(key.to_owned(), value);
    }
}

fn clean_path(path: &str) -> String {
    let path = format!("/{}", path.trim_start_matches('/'));
    assert!(
        !path.split('/').any(|part| part == ".." || part == "."),
        "upstream: bad path {path:?}"
    );
    path
}

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub method: String,
    /// The request target as sent, query included.
    pub target: String,
    /// The decoded path, query excluded (what [`UpstreamServer::count`] counts).
    pub path: String,
    /// Header names lowercased, in the order received.
    pub headers: Vec<(String, String)>,
}

impl RecordedRequest {
    /// The first header of that (case-insensitive) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

#[derive(Default)]
struct Log {
    requests: Vec<RecordedRequest>,
    counts: HashMap<String, usize>,
}

struct Shared {
    model: Mutex<Model>,
    log: Mutex<Log>,
    logged: Condvar,
    dist_delay: Mutex<Duration>,
    /// Delays every other response (metadata, advisories).
    metadata_delay: Mutex<Duration>,
    basic_auth: Mutex<Option<String>>,
    failures: Mutex<HashMap<String, u16>>,
    /// Security advisories by package, served at [`ADVISORIES_PATH`].
    advisories: Mutex<BTreeMap<String, Vec<Value>>>,
    /// Every name asked at [`ADVISORIES_PATH`], in order.
    advisories_asked: Mutex<Vec<String>>,
    /// Bumped by `stop`: connections of an older generation close without answering.
    generation: AtomicU64,
    connections: Mutex<HashMap<u64, TcpStream>>,
    next_connection: AtomicU64,
    accepted: AtomicUsize,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// An HTTP/1.1 server over an [`UpstreamRepo`]'s files, with a thread per connection.
/// Dropping it stops it and removes the files.
pub struct UpstreamServer {
    shared: Arc<Shared>,
    address: SocketAddr,
    acceptor: Option<JoinHandle<()>>,
}

impl UpstreamServer {
    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    pub fn port(&self) -> u16 {
        self.address.port()
    }

    /// The directory the files live in (files placed here by hand are served too).
    pub fn root(&self) -> PathBuf {
        lock(&self.shared.model).root().to_owned()
    }

    /// The absolute dist URL of a version.
    pub fn dist_url(&self, name: &str, version: &str) -> String {
        format!("{}{}", self.url(), dist_path(name, version))
    }

    /// The bytes of a served file (`/p2/psr/log.json`, a dist path, ...), if any.
    pub fn file(&self, path: &str) -> Option<Vec<u8>> {
        lock(&self.shared.model)
            .read(&clean_path(path))
            .map(|(bytes, _)| bytes)
    }

    /// The served zip of a version.
    pub fn zip(&self, name: &str, version: &str) -> Vec<u8> {
        self.file(&dist_path(name, version))
            .unwrap_or_else(|| panic!("upstream: no dist for {name} {version}"))
    }

    // ---- counting ----

    /// Requests (any method, any status) whose decoded path, query excluded, is `path`.
    pub fn count(&self, path: &str) -> usize {
        lock(&self.shared.log)
            .counts
            .get(path)
            .copied()
            .unwrap_or(0)
    }

    /// Requests received since the start or the last [`reset_counts`](Self::reset_counts).
    pub fn total(&self) -> usize {
        lock(&self.shared.log).requests.len()
    }

    /// Forgets the counted and recorded requests.
    pub fn reset_counts(&self) {
        let mut log = lock(&self.shared.log);
        log.requests.clear();
        log.counts.clear();
    }

    /// `(method, target)` of every request in arrival order; target includes the query.
    pub fn requests(&self) -> Vec<(String, String)> {
        lock(&self.shared.log)
            .requests
            .iter()
            .map(|r| (r.method.clone(), r.target.clone()))
            .collect()
    }

    /// Every request with its headers, in arrival order.
    pub fn request_log(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.log).requests.clone()
    }

    /// TCP connections accepted so far (not reset by `reset_counts`).
    pub fn connections_accepted(&self) -> usize {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// Waits until `count(path) >= at_least`; panics after `limit`. A request is counted
    /// as soon as its headers are read, before any dist delay.
    pub fn wait_for_count(&self, path: &str, at_least: usize, limit: Duration) {
        let deadline = Instant::now() + limit;
        let mut log = lock(&self.shared.log);
        while log.counts.get(path).copied().unwrap_or(0) < at_least {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "upstream: {path} was requested {} times, not {at_least}, within {limit:?}",
                log.counts.get(path).copied().unwrap_or(0)
            );
            log = self
                .shared
                .logged
                .wait_timeout(log, left)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
    }

    // ---- behaviour ----

    /// Delays every response under `/dists/` by `delay` (counted at arrival, answered
    /// after the delay).
    pub fn set_dist_delay(&self, delay: Duration) {
        *lock(&self.shared.dist_delay) = delay;
    }

    /// Delays every response outside `/dists/` (metadata documents, 404s included, and
    /// advisories) by `delay`: a distant or slow upstream.
    pub fn set_metadata_delay(&self, delay: Duration) {
        *lock(&self.shared.metadata_delay) = delay;
    }

    /// Answers `status` (with a JSON body) to every request for `path` until
    /// [`clear_failure`](Self::clear_failure).
    pub fn fail(&self, path: &str, status: u16) {
        lock(&self.shared.failures).insert(clean_path(path), status);
    }

    pub fn clear_failure(&self, path: &str) {
        lock(&self.shared.failures).remove(&clean_path(path));
    }

    /// Answers 401 to requests without `Authorization: Basic base64(user:password)`;
    /// `None` turns it off.
    pub fn require_basic_auth(&self, credentials: Option<(&str, &str)>) {
        use base64::Engine;
        *lock(&self.shared.basic_auth) = credentials.map(|(user, password)| {
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
            )
        });
    }

    /// Publishes a security advisory for `package` at [`ADVISORIES_PATH`] (Packagist's
    /// API: `POST` form-encoded `packages[]=`), which packages.json then announces as
    /// `security-advisories.api-url`. `fields` are the advisory's own (`advisoryId`,
    /// `affectedVersions`, `title`, ...); `packageName` is filled in.
    pub fn advisory(&self, package: &str, mut fields: Value) {
        fields["packageName"] = json!(package);
        lock(&self.shared.advisories)
            .entry(package.to_owned())
            .or_default()
            .push(fields);
        let api_url = format!("{}{ADVISORIES_PATH}", self.url());
        self.root_field(
            "security-advisories",
            json!({"metadata": false, "api-url": api_url}),
        );
    }

    /// Every package name asked at [`ADVISORIES_PATH`] so far, in order.
    pub fn advisories_asked(&self) -> Vec<String> {
        lock(&self.shared.advisories_asked).clone()
    }

    /// Stops the server: the listening socket is closed (new connections are refused)
    /// and open connections are shut down, in-flight responses included. Idempotent.
    pub fn stop(&mut self) {
        let Some(acceptor) = self.acceptor.take() else {
            return;
        };
        self.shared.generation.fetch_add(1, Ordering::SeqCst);
        // Wakes the acceptor blocked in accept(); it sees the new generation and exits,
        // dropping the listener.
        let _ = TcpStream::connect_timeout(&self.address, Duration::from_secs(1));
        let _ = acceptor.join();
        for (_, stream) in lock(&self.shared.connections).drain() {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    /// Listens again on the same port after [`stop`](Self::stop) (no-op when running).
    /// Panics if the port cannot be bound again within 5 seconds.
    pub fn start_again(&mut self) {
        if self.acceptor.is_some() {
            return;
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        let listener = loop {
            match TcpListener::bind(self.address) {
                Ok(listener) => break listener,
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => panic!("upstream: cannot listen on {} again: {e}", self.address),
            }
        };
        self.acceptor = Some(spawn_acceptor(listener, self.shared.clone()));
    }

    pub fn is_running(&self) -> bool {
        self.acceptor.is_some()
    }

    // ---- changing content ----

    /// Adds or replaces a version (see [`UpstreamRepo::package`]) and rewrites the files;
    /// changed files get a new Last-Modified.
    pub fn package(&self, name: &str, version: &str, extra: Value, files: &[(&str, &str)]) {
        self.change(|model| model.add(name, version, extra, files));
    }

    /// Removes one version (its dist then answers 404).
    pub fn remove_version(&self, name: &str, version: &str) {
        self.change(|model| model.remove_version(name, version));
    }

    /// Removes a package: its p2 files and dists answer 404.
    pub fn remove_package(&self, name: &str) {
        self.change(|model| model.remove_package(name));
    }

    /// See [`UpstreamRepo::corrupt_shasum`]; `corrupt: false` repairs it.
    pub fn corrupt_shasum(&self, name: &str, version: &str, corrupt: bool) {
        self.change(|model| model.version_mut(name, version).corrupt_shasum = corrupt);
    }

    /// See [`UpstreamRepo::root_field`].
    pub fn root_field(&self, key: &str, value: Value) {
        self.change(|model| set_root_field(model, key, value));
    }

    /// Serves `content` at `path` instead of the generated file (new Last-Modified).
    pub fn put_file(&self, path: &str, content: impl Into<Vec<u8>>) {
        let content = content.into();
        self.change(|model| {
            model.overrides.insert(clean_path(path), Some(content));
        });
    }

    /// Makes `path` answer 404 (generated or not).
    pub fn remove_file(&self, path: &str) {
        self.change(|model| {
            model.overrides.insert(clean_path(path), None);
        });
    }

    /// Undoes [`put_file`](Self::put_file) / [`remove_file`](Self::remove_file).
    pub fn restore_file(&self, path: &str) {
        self.change(|model| {
            model.overrides.remove(&clean_path(path));
        });
    }

    /// Gives `path` a newer Last-Modified without changing its bytes.
    pub fn touch(&self, path: &str) {
        let path = clean_path(path);
        let mut model = lock(&self.shared.model);
        assert!(
            model.disk_path(&path).is_file(),
            "upstream: touch {path}: no such file"
        );
        model.bump(&path);
    }

    /// The Last-Modified `path` is served with, if it exists.
    pub fn last_modified(&self, path: &str) -> Option<SystemTime> {
        lock(&self.shared.model)
            .read(&clean_path(path))
            .map(|(_, time)| time)
    }

    /// Sets the Last-Modified `path` is served with (whole seconds are sent).
    pub fn set_last_modified(&self, path: &str, time: SystemTime) {
        lock(&self.shared.model)
            .last_modified
            .insert(clean_path(path), whole_seconds(time));
    }

    fn change(&self, edit: impl FnOnce(&mut Model)) {
        let mut model = lock(&self.shared.model);
        edit(&mut model);
        model.sync();
    }
}

impl Drop for UpstreamServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn spawn_acceptor(listener: TcpListener, shared: Arc<Shared>) -> JoinHandle<()> {
    let generation = shared.generation.load(Ordering::SeqCst);
    std::thread::Builder::new()
        .name("upstream-accept".into())
        .spawn(move || {
            for stream in listener.incoming() {
                if shared.generation.load(Ordering::SeqCst) != generation {
                    break;
                }
                let Ok(stream) = stream else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                shared.accepted.fetch_add(1, Ordering::SeqCst);
                let id = shared.next_connection.fetch_add(1, Ordering::SeqCst);
                let Ok(clone) = stream.try_clone() else {
                    continue;
                };
                lock(&shared.connections).insert(id, clone);
                let connection_shared = shared.clone();
                let spawned = std::thread::Builder::new()
                    .name("upstream-conn".into())
                    .spawn(move || {
                        serve_connection(&connection_shared, stream, generation);
                        lock(&connection_shared.connections).remove(&id);
                    });
                if spawned.is_err()
                    && let Some(stream) = lock(&shared.connections).remove(&id)
                {
                    let _ = stream.shutdown(Shutdown::Both);
                }
            }
        })
        .expect("spawning the upstream acceptor")
}

pub(crate) struct Request {
    pub(crate) method: String,
    pub(crate) target: String,
    version: String,
    pub(crate) headers: Vec<(String, String)>,
}

impl Request {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    fn has_token(&self, header: &str, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(key, _)| key == header)
            .flat_map(|(_, value)| value.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }
}

pub(crate) enum ReadError {
    /// The peer closed (or the connection was shut down) between requests.
    Closed,
    Bad(&'static str),
}

const MAX_LINE: usize = 16 * 1024;

fn read_line(reader: &mut BufReader<TcpStream>) -> Result<String, ReadError> {
    let mut line = Vec::new();
    let read = reader
        .by_ref()
        .take(MAX_LINE as u64)
        .read_until(b'\n', &mut line)
        .map_err(|_| ReadError::Closed)?;
    if read == 0 {
        return Err(ReadError::Closed);
    }
    if line.last() != Some(&b'\n') {
        return Err(ReadError::Bad("header line too long or truncated"));
    }
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    String::from_utf8(line).map_err(|_| ReadError::Bad("header is not UTF-8"))
}

pub(crate) fn read_request(reader: &mut BufReader<TcpStream>) -> Result<Request, ReadError> {
    let mut line = read_line(reader)?;
    // RFC 9112 §2.2: ignore empty lines before the request line.
    while line.is_empty() {
        line = read_line(reader)?;
    }
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ReadError::Bad("malformed request line"));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(ReadError::Bad("unsupported HTTP version"));
    }
    let mut request = Request {
        method: method.to_owned(),
        target: target.to_owned(),
        version: version.to_owned(),
        headers: Vec::new(),
    };
    loop {
        let line = read_line(reader).map_err(|e| match e {
            ReadError::Closed => ReadError::Bad("connection closed inside the headers"),
            bad @ ReadError::Bad(_) => bad,
        })?;
        if line.is_empty() {
            break;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(ReadError::Bad("malformed header"));
        };
        request
            .headers
            .push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        if request.headers.len() > 200 {
            return Err(ReadError::Bad("too many headers"));
        }
    }
    Ok(request)
}

/// Percent-decodes a path (`%7E` → `~`); `None` when it is not valid UTF-8.
fn decode_path(path: &str) -> Option<String> {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok()?;
            if let Ok(byte) = u8::from_str_radix(hex, 16) {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).ok()
}

struct Response {
    status: u16,
    content_type: &'static str,
    body: Vec<u8>,
    last_modified: Option<SystemTime>,
    extra_headers: Vec<(&'static str, String)>,
}

impl Response {
    fn json(status: u16, message: &str) -> Response {
        Response {
            status,
            content_type: "application/json",
            body: serde_json::to_vec(&json!({"status": "error", "message": message})).unwrap(),
            last_modified: None,
            extra_headers: Vec::new(),
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

fn content_type(path: &str) -> &'static str {
    if path.ends_with(".json") {
        "application/json"
    } else if path.ends_with(".zip") {
        "application/zip"
    } else {
        "application/octet-stream"
    }
}

fn serve_connection(shared: &Shared, stream: TcpStream, generation: u64) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(120)));
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let mut writer = stream;
    let current = || shared.generation.load(Ordering::SeqCst) == generation;
    loop {
        let request = match read_request(&mut reader) {
            Ok(request) => request,
            Err(ReadError::Closed) => return,
            Err(ReadError::Bad(why)) => {
                if current() {
                    let _ = write_response(&mut writer, "GET", &Response::json(400, why), true);
                }
                return;
            }
        };
        if !current() {
            return;
        }
        let (raw_path, _) = request
            .target
            .split_once('?')
            .unwrap_or((&request.target, ""));
        let path = decode_path(raw_path).unwrap_or_else(|| raw_path.to_owned());
        {
            let mut log = lock(&shared.log);
            *log.counts.entry(path.clone()).or_default() += 1;
            log.requests.push(RecordedRequest {
                method: request.method.clone(),
                target: request.target.clone(),
                path: path.clone(),
                headers: request.headers.clone(),
            });
        }
        shared.logged.notify_all();

        let keep_alive = if request.version == "HTTP/1.0" {
            request.has_token("connection", "keep-alive")
        } else {
            !request.has_token("connection", "close")
        };
        // Request bodies: a Content-Length body is read (and kept up to 1 MiB for the
        // advisories API); chunked is not supported.
        let mut close = !keep_alive;
        let mut response = None;
        let mut body = Vec::new();
        if request.header("transfer-encoding").is_some() {
            response = Some(Response::json(
                501,
                "chunked request bodies are not supported",
            ));
            close = true;
        } else if let Some(length) = request.header("content-length") {
            if let Ok(length) = length.parse::<u64>() {
                let copied = if length <= 1024 * 1024 {
                    reader
                        .by_ref()
                        .take(length)
                        .read_to_end(&mut body)
                        .map(|n| n as u64)
                } else {
                    std::io::copy(&mut reader.by_ref().take(length), &mut std::io::sink())
                };
                if copied.ok() != Some(length) {
                    return;
                }
            } else {
                response = Some(Response::json(400, "bad Content-Length"));
                close = true;
            }
        }
        let response = response.unwrap_or_else(|| {
            if path == ADVISORIES_PATH && request.method == "POST" {
                answer_advisories(shared, &request, &body)
            } else {
                answer(shared, &request, &path)
            }
        });
        let delay = if path.starts_with("/dists/") {
            *lock(&shared.dist_delay)
        } else {
            *lock(&shared.metadata_delay)
        };
        if !delay.is_zero() {
            std::thread::sleep(delay);
        }
        if !current() {
            return;
        }
        if write_response(&mut writer, &request.method, &response, close).is_err() || close {
            let _ = writer.shutdown(Shutdown::Write);
            return;
        }
    }
}

fn answer(shared: &Shared, request: &Request, path: &str) -> Response {
    if let Some(expected) = lock(&shared.basic_auth).as_deref()
        && request.header("authorization") != Some(expected)
    {
        let mut response = Response::json(401, "authentication required");
        response
            .extra_headers
            .push(("WWW-Authenticate", "Basic realm=\"upstream\"".into()));
        return response;
    }
    if let Some(status) = lock(&shared.failures).get(path).copied() {
        return Response::json(status, "injected failure");
    }
    if request.method != "GET" && request.method != "HEAD" {
        let mut response = Response::json(405, "only GET and HEAD");
        response.extra_headers.push(("Allow", "GET, HEAD".into()));
        return response;
    }
    if !path.starts_with('/') || path.split('/').any(|part| part == "..") {
        return Response::json(404, "Not Found");
    }
    let Some((body, last_modified)) = lock(&shared.model).read(path) else {
        return Response::json(404, "Not Found");
    };
    let not_modified = request
        .header("if-modified-since")
        .and_then(|value| httpdate::parse_http_date(value).ok())
        .is_some_and(|since| last_modified <= since);
    Response {
        status: if not_modified { 304 } else { 200 },
        content_type: content_type(path),
        body: if not_modified { Vec::new() } else { body },
        last_modified: Some(last_modified),
        extra_headers: Vec::new(),
    }
}

/// Packagist's advisories API: every asked name it knows (a package it serves, or one
/// with advisories) gets its list, `[]` when it has none; names it does not know are
/// left out, as Packagist leaves them out.
fn answer_advisories(shared: &Shared, request: &Request, body: &[u8]) -> Response {
    let names: Vec<String> = form_urlencoded::parse(body)
        .filter(|(key, _)| key.starts_with("packages["))
        .map(|(_, name)| name.into_owned())
        .collect();
    lock(&shared.advisories_asked).extend(names.iter().cloned());
    if let Some(expected) = lock(&shared.basic_auth).as_deref()
        && request.header("authorization") != Some(expected)
    {
        return Response::json(401, "authentication required");
    }
    if let Some(status) = lock(&shared.failures).get(ADVISORIES_PATH).copied() {
        return Response::json(status, "injected failure");
    }
    let served: BTreeSet<String> = lock(&shared.model).packages.keys().cloned().collect();
    let advisories = lock(&shared.advisories);
    let mut answer = Map::new();
    for name in names {
        if served.contains(&name) || advisories.contains_key(&name) {
            let list = advisories.get(&name).cloned().unwrap_or_default();
            answer.insert(name, Value::Array(list));
        }
    }
    Response {
        status: 200,
        content_type: "application/json",
        body: serde_json::to_vec(&json!({"advisories": answer})).unwrap(),
        last_modified: None,
        extra_headers: Vec::new(),
    }
}

fn write_response(
    writer: &mut TcpStream,
    method: &str,
    response: &Response,
    close: bool,
) -> std::io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nDate: {}\r\nServer: packyard-testkit-upstream\r\n",
        response.status,
        reason(response.status),
        httpdate::fmt_http_date(SystemTime::now()),
    );
    if let Some(time) = response.last_modified {
        let _ = write!(head, "Last-Modified: {}\r\n", httpdate::fmt_http_date(time));
    }
    // A 304 has no body and no Content-Length/Content-Type of its own.
    if response.status != 304 {
        let _ = write!(
            head,
            "Content-Type: {}\r\nContent-Length: {}\r\n",
            response.content_type,
            response.body.len()
        );
    }
    for (name, value) in &response.extra_headers {
        let _ = write!(head, "{name}: {value}\r\n");
    }
    head.push_str(if close {
        "Connection: close\r\n"
    } else {
        "Connection: keep-alive\r\n"
    });
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    if method != "HEAD" {
        bytes.extend_from_slice(&response.body);
    }
    writer.write_all(&bytes)?;
    writer.flush()
}
