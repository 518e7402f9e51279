//! One store-level suite, written once and run against every backend on a real server:
//! local disk, S3 (s3s-fs, which checks SigV4 signatures, and moto), and Azure Blob
//! (Azurite). Each test configures storage the way an operator would (environment
//! variables or the config file's named storages) and runs the whole suite on it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::path::Path;

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use storage::config::{BackendSpec, CacheSettings, StorageEntry, StorageSettings, from_env};
use storage::{Diagnosis, Storage, StorageError, StoreName, keys};
use testkit::{AZURITE_ACCOUNT, AZURITE_KEY, Azurite, Moto, S3sFs, TempDir};

const BUCKET: &str = "packyard-suite";
/// The artifact cache bound every suite run is configured with.
const CACHE_MAX: u64 = 100;
/// Bigger than two upload parts (8 MiB each), so `put_file` takes the multipart path.
const LARGE_FILE: usize = 20 << 20;

#[tokio::test]
async fn suite_on_local_disk() {
    let data = TempDir::new("backends-local");
    let mut settings = from_env(&|_| None, data.path(), &BTreeMap::new()).unwrap();
    // Local artifacts get no cache by default; the suite tests the cache on every backend.
    settings.artifact_cache = Some(CacheSettings {
        dir: data.path().join("cache"),
        max_bytes: CACHE_MAX,
    });
    let on_disk = || files_under(data.path(), &["cache"]);
    run_suite("local", &settings, Some(&on_disk)).await;
}

#[tokio::test]
async fn suite_on_s3s_fs_with_packeton_s3_settings() {
    testkit::needs!(S3sFs);
    let s3 = S3sFs::start(BUCKET);
    let scratch = TempDir::new("backends-s3s");
    let cache_dir = scratch.path().join("cache").display().to_string();
    let settings = settings_from_env(
        &[
            ("STORAGE_SOURCE", "s3"),
            ("STORAGE_AWS_BUCKET", BUCKET),
            ("STORAGE_AWS_ARGS", &s3.storage_aws_args()),
            ("PACKYARD_ARTIFACT_CACHE_DIR", &cache_dir),
            ("PACKYARD_ARTIFACT_CACHE_MAX", "100"),
        ],
        scratch.path(),
        &BTreeMap::new(),
    );
    let prefixes: Vec<_> = StoreName::ALL
        .iter()
        .map(|name| settings.store(*name).prefix.as_str())
        .collect();
    assert_eq!(
        prefixes,
        ["packeton", "artifact", "mirror-meta", "mirror-dist"],
        "Packeton's defaults"
    );
    let on_disk = || s3.keys(BUCKET);
    run_suite("s3s-fs", &settings, Some(&on_disk)).await;
    assert!(
        s3.pending_upload_files().is_empty(),
        "{:?}",
        s3.pending_upload_files()
    );
}

#[tokio::test]
async fn suite_on_moto_s3_with_custom_prefixes() {
    testkit::needs!(Moto);
    let moto = Moto::start();
    moto.create_bucket(BUCKET);
    let scratch = TempDir::new("backends-moto");
    let cache_dir = scratch.path().join("cache").display().to_string();
    let args = format!(
        r#"{{"endpoint":"{}","accessKeyId":"moto-key","accessKeySecret":"moto-secret","region":"eu-west-1"}}"#,
        moto.service.url()
    );
    let settings = settings_from_env(
        &[
            ("STORAGE_SOURCE", "s3"),
            ("STORAGE_AWS_BUCKET", BUCKET),
            ("STORAGE_AWS_ARGS", &args),
            ("STORAGE_AWS_PREFIX", "team/dist"),
            ("STORAGE_AWS_ARTIFACT_PREFIX", "team/artifact"),
            ("STORAGE_AWS_MIRROR_META_PREFIX", "team/mirror/meta"),
            ("STORAGE_AWS_MIRROR_DIST_PREFIX", "team/mirror/dist"),
            ("PACKYARD_ARTIFACT_CACHE_DIR", &cache_dir),
            ("PACKYARD_ARTIFACT_CACHE_MAX", "100"),
        ],
        scratch.path(),
        &BTreeMap::new(),
    );
    run_suite("moto", &settings, None).await;
}

#[tokio::test]
async fn suite_on_azurite_with_named_storages_from_the_config_file() {
    testkit::needs!(Azurite);
    let azurite = Azurite::start();
    let scratch = TempDir::new("backends-azurite");
    let cache_dir = scratch.path().join("cache").display().to_string();
    let entry = |prefix: &str| {
        format!(
            "{{adapter: azure, account: {AZURITE_ACCOUNT}, container: packages, access_key: \"{AZURITE_KEY}\", endpoint: \"{}\", prefix: {prefix}}}",
            azurite.endpoint()
        )
    };
    let storages: BTreeMap<String, StorageEntry> = serde_yaml_ng::from_str(&format!(
        "az.storage: {}\naz.artifact: {}\naz.mirror-meta: {}\naz.mirror-dist: {}\n",
        entry("packeton"),
        entry("artifact"),
        entry("mirror/meta"),
        entry("mirror/dist"),
    ))
    .unwrap();
    let settings = settings_from_env(
        &[
            ("STORAGE_SOURCE", "az"),
            ("PACKYARD_ARTIFACT_CACHE_DIR", &cache_dir),
            ("PACKYARD_ARTIFACT_CACHE_MAX", "100"),
        ],
        scratch.path(),
        &storages,
    );
    assert!(
        matches!(settings.dist.backend, BackendSpec::Azure(_)),
        "{settings:?}"
    );
    let missing = Storage::open(&settings).unwrap().check().await.unwrap_err();
    assert_eq!(
        missing.diagnose(),
        Diagnosis::BucketMissing,
        "before the container exists: {missing}"
    );
    azurite.create_container("packages");
    run_suite("azurite", &settings, None).await;
}

/// Runs every check on fresh, empty storage. `on_disk` lists what the server itself
/// holds (not through object_store), as locations like those of [`raw_listing`].
async fn run_suite(
    label: &str,
    settings: &StorageSettings,
    on_disk: Option<&dyn Fn() -> Vec<String>>,
) {
    let cache = settings
        .artifact_cache
        .as_ref()
        .expect("the suite needs an artifact cache");
    assert_eq!(cache.max_bytes, CACHE_MAX, "{label}");
    let storage = Storage::open(settings).unwrap();
    let scratch = TempDir::new("backends-scratch");

    listing_shows_exactly_what_was_written_under_each_prefix(label, settings, &storage, on_disk)
        .await;
    objects_round_trip_in_every_store(label, &storage).await;
    missing_objects_are_not_found(label, &storage).await;
    large_files_upload_in_parts_and_stream_back(label, &storage, scratch.path()).await;
    cold_reads_fill_the_cache_only_when_complete(label, &storage).await;
    warm_reads_are_served_from_the_cache(label, &storage).await;
    the_cache_keeps_to_its_bound_evicting_the_least_recently_used(label, &storage).await;

    assert!(
        raw_listing(settings).await.is_empty(),
        "{label}: the suite cleans up after itself"
    );
    storage
        .check()
        .await
        .unwrap_or_else(|e| panic!("{label}: check: {e}"));
    assert!(
        raw_listing(settings).await.is_empty(),
        "{label}: check leaves no probe object behind"
    );
    if let Some(on_disk) = on_disk {
        assert_eq!(
            on_disk(),
            Vec::<String>::new(),
            "{label}: nothing left on the server"
        );
    }
}

async fn listing_shows_exactly_what_was_written_under_each_prefix(
    label: &str,
    settings: &StorageSettings,
    storage: &Storage,
    on_disk: Option<&dyn Fn() -> Vec<String>>,
) {
    assert!(
        raw_listing(settings).await.is_empty(),
        "{label}: the suite starts on empty storage"
    );
    let mut expected_raw = BTreeSet::new();
    for (index, name) in StoreName::ALL.into_iter().enumerate() {
        let store = storage.store(name);
        let objects = example_objects(name, index);
        for (key, content) in &objects {
            store.put_bytes(key, content.clone()).await.unwrap();
            expected_raw.insert((raw_location(settings, name, key), content.len() as u64));
        }
        let expected: Vec<(String, u64)> = objects
            .iter()
            .map(|(key, content)| (key.clone(), content.len() as u64))
            .collect();
        assert_eq!(
            sorted_listing(storage, name).await,
            expected,
            "{label}: list() of {name:?}"
        );
    }
    // A folder, not a string prefix: `acme/widgetry` is not under `acme/widget`.
    let mut under: Vec<(String, u64)> = storage
        .dist()
        .list_under("acme/widget")
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    under.sort();
    let names: Vec<&str> = under.iter().map(|(key, _)| key.as_str()).collect();
    assert_eq!(
        names,
        [
            keys::dist("acme/widget", "1.0.0", "aaa111"),
            keys::dist("acme/widget", "dev-main", "bbb222")
        ],
        "{label}: list_under()"
    );
    assert_eq!(
        raw_listing(settings).await,
        expected_raw,
        "{label}: keys sit under each store's prefix"
    );
    if let Some(on_disk) = on_disk {
        let expected: Vec<String> = expected_raw
            .iter()
            .map(|(location, _)| location.clone())
            .collect();
        assert_eq!(
            on_disk(),
            expected,
            "{label}: objects as the server stores them"
        );
    }
    for (index, name) in StoreName::ALL.into_iter().enumerate() {
        for (key, _) in example_objects(name, index) {
            storage.store(name).delete(&key).await.unwrap();
        }
        assert_eq!(
            sorted_listing(storage, name).await,
            [],
            "{label}: {name:?} after deleting all"
        );
    }
}

/// Keys shaped as packyard writes them into each store, sorted, with distinct sizes.
fn example_objects(name: StoreName, index: usize) -> Vec<(String, Bytes)> {
    let keys = match name {
        StoreName::Dist => vec![
            keys::dist("acme/widget", "1.0.0", "aaa111"),
            keys::dist("acme/widget", "dev-main", "bbb222"),
            keys::dist("acme/widgetry", "1.0.0", "ddd444"),
            keys::dist("zeta/tool", "2.1.0", "ccc333"),
        ],
        StoreName::Artifact => vec![
            keys::artifact("0123456789abcdef0123456789abcdef01234567", "zip"),
            keys::artifact("fedcba9876543210fedcba9876543210fedcba98", "tar"),
        ],
        StoreName::MirrorMeta => vec![
            "packagist/p2/acme/widget.json".into(),
            "packagist/packages.json".into(),
        ],
        StoreName::MirrorDist => vec!["packagist/acme/widget/1.0.0/aaa111.zip".into()],
    };
    let mut objects: Vec<(String, Bytes)> = keys
        .into_iter()
        .enumerate()
        .map(|(n, key)| {
            let content = Bytes::from(format!("{key} {}", "x".repeat(index * 7 + n * 3)));
            (key, content)
        })
        .collect();
    objects.sort();
    objects
}

async fn sorted_listing(storage: &Storage, name: StoreName) -> Vec<(String, u64)> {
    let mut listed: Vec<(String, u64)> = storage.store(name).list().try_collect().await.unwrap();
    listed.sort();
    listed
}

/// Where `key` of store `name` lands: relative to the bucket or container, or for local
/// disk to the directory holding the store roots.
fn raw_location(settings: &StorageSettings, name: StoreName, key: &str) -> String {
    let spec = settings.store(name);
    let base = match &spec.backend {
        BackendSpec::Local { root } => root.file_name().unwrap().to_string_lossy().into_owned(),
        _ => spec.prefix.clone(),
    };
    [base.as_str(), key]
        .iter()
        .filter(|part| !part.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join("/")
}

/// Everything on the backends of `settings`, prefixes ignored: the whole bucket or
/// container, or each local store root; as `raw_location`s with sizes.
async fn raw_listing(settings: &StorageSettings) -> BTreeSet<(String, u64)> {
    let mut unscoped = settings.clone();
    unscoped.artifact_cache = None;
    unscoped.mirror_meta_cache = None;
    unscoped.mirror_dist_cache = None;
    for name in StoreName::ALL {
        unscoped_prefix(&mut unscoped, name);
    }
    let storage = Storage::open(&unscoped).unwrap();
    let mut seen: Vec<&BackendSpec> = Vec::new();
    let mut listing = BTreeSet::new();
    for name in StoreName::ALL {
        let backend = &unscoped.store(name).backend;
        if seen.contains(&backend) {
            continue;
        }
        seen.push(backend);
        let objects: Vec<(String, u64)> = storage.store(name).list().try_collect().await.unwrap();
        for (key, size) in objects {
            listing.insert((raw_location(&unscoped, name, &key), size));
        }
    }
    listing
}

fn unscoped_prefix(settings: &mut StorageSettings, name: StoreName) {
    let spec = match name {
        StoreName::Dist => &mut settings.dist,
        StoreName::Artifact => &mut settings.artifact,
        StoreName::MirrorMeta => &mut settings.mirror_meta,
        StoreName::MirrorDist => &mut settings.mirror_dist,
    };
    spec.prefix.clear();
}

async fn objects_round_trip_in_every_store(label: &str, storage: &Storage) {
    for name in StoreName::ALL {
        let store = storage.store(name);
        let key = format!("round-trip/{}/1.0.0.zip", name.as_str());
        let first = Bytes::from(format!("first version in {}", name.as_str()));
        store.put_bytes(&key, first.clone()).await.unwrap();
        assert_eq!(
            store.get_bytes(&key).await.unwrap(),
            first,
            "{label} {name:?}"
        );
        assert_eq!(
            store.size(&key).await.unwrap(),
            Some(first.len() as u64),
            "{label} {name:?}"
        );
        assert_eq!(
            store.get(&key).await.unwrap().size,
            first.len() as u64,
            "{label} {name:?}"
        );

        let second = Bytes::from_static(b"a longer second version replacing the first");
        store.put_bytes(&key, second.clone()).await.unwrap();
        assert_eq!(
            store.get_bytes(&key).await.unwrap(),
            second,
            "{label} {name:?} overwritten"
        );
        assert_eq!(
            store.without_cache().get_bytes(&key).await.unwrap(),
            second,
            "{label} {name:?} backend"
        );

        store.delete(&key).await.unwrap();
        assert_eq!(
            store.size(&key).await.unwrap(),
            None,
            "{label} {name:?} deleted"
        );
        assert!(
            store.get(&key).await.err().unwrap().is_not_found(),
            "{label} {name:?} deleted"
        );
        store
            .delete(&key)
            .await
            .expect("deleting a missing object is not an error");
    }
}

async fn missing_objects_are_not_found(label: &str, storage: &Storage) {
    for name in StoreName::ALL {
        let store = storage.store(name);
        match store.get("never/written.zip").await {
            Err(StorageError::NotFound { store, key }) => {
                assert_eq!(
                    (store, key.as_str()),
                    (name.as_str(), "never/written.zip"),
                    "{label}"
                );
            }
            Err(other) => panic!("{label} {name:?}: expected NotFound, got {other:?}"),
            Ok(_) => panic!("{label} {name:?}: a missing object was found"),
        }
        assert_eq!(
            store.size("never/written.zip").await.unwrap(),
            None,
            "{label} {name:?}"
        );
    }
}

async fn large_files_upload_in_parts_and_stream_back(
    label: &str,
    storage: &Storage,
    scratch: &Path,
) {
    let file = scratch.join("large.zip");
    let mut writer = std::io::BufWriter::new(std::fs::File::create(&file).unwrap());
    for block in 0..LARGE_FILE / (1 << 20) {
        writer.write_all(&pattern(block << 20, 1 << 20)).unwrap();
    }
    writer.into_inner().unwrap().sync_all().unwrap();

    let store = storage.dist();
    let key = keys::dist("acme/huge", "1.0.0", "0123abcd");
    assert_eq!(
        store.put_file(&key, &file).await.unwrap(),
        LARGE_FILE as u64,
        "{label}"
    );
    assert_eq!(
        store.size(&key).await.unwrap(),
        Some(LARGE_FILE as u64),
        "{label}"
    );

    let object = store.get(&key).await.unwrap();
    assert_eq!(object.size, LARGE_FILE as u64, "{label}");
    let mut stream = object.stream;
    let (mut offset, mut chunks, mut largest) = (0usize, 0usize, 0usize);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        assert!(
            offset + chunk.len() <= LARGE_FILE,
            "{label}: more bytes than stored"
        );
        assert!(
            chunk[..] == pattern(offset, chunk.len())[..],
            "{label}: bytes differ in the chunk at {offset}"
        );
        offset += chunk.len();
        chunks += 1;
        largest = largest.max(chunk.len());
    }
    assert_eq!(offset, LARGE_FILE, "{label}: whole object read");
    assert!(
        largest <= 4 << 20,
        "{label}: the object arrives as a stream of small chunks, not one buffer ({chunks} chunks, largest {largest} bytes)"
    );
    store.delete(&key).await.unwrap();
}

/// Deterministic bytes that differ between any two parts of the file, so misplaced
/// parts or chunks would be noticed.
fn pattern(offset: usize, len: usize) -> Vec<u8> {
    (offset..offset + len)
        .map(|i| {
            let mixed = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            (mixed >> 56) as u8 ^ (i >> 20) as u8
        })
        .collect()
}

async fn cold_reads_fill_the_cache_only_when_complete(label: &str, storage: &Storage) {
    let store = storage.artifact();
    let cache = store.cache().expect("artifact cache configured");
    let content = Bytes::from(vec![7u8; 60]);

    // Written behind the cache's back, so the first read is a miss.
    store
        .without_cache()
        .put_bytes("abandoned.zip", content.clone())
        .await
        .unwrap();
    let mut abandoned = store.get("abandoned.zip").await.unwrap();
    assert_eq!(
        abandoned.stream.next().await.unwrap().unwrap(),
        content,
        "{label}"
    );
    drop(abandoned);
    assert!(
        !cache.contains("abandoned.zip"),
        "{label}: an unfinished read is not cached"
    );
    assert_eq!(
        std::fs::read_dir(cache.dir().join(".partial"))
            .unwrap()
            .count(),
        0,
        "{label}: no partial copy left"
    );

    store
        .without_cache()
        .put_bytes("cold.zip", content.clone())
        .await
        .unwrap();
    assert!(!cache.contains("cold.zip"), "{label}");
    let mut object = store.get("cold.zip").await.unwrap();
    assert_eq!(object.size, 60, "{label}");
    assert_eq!(
        object.stream.next().await.unwrap().unwrap(),
        content,
        "{label}"
    );
    assert!(
        !cache.contains("cold.zip"),
        "{label}: cached only once the stream ends"
    );
    assert!(object.stream.next().await.is_none(), "{label}");
    assert!(
        cache.contains("cold.zip"),
        "{label}: a complete read fills the cache"
    );
    assert_eq!(
        std::fs::read(cache.dir().join("cold.zip")).unwrap(),
        content,
        "{label}"
    );

    for key in ["abandoned.zip", "cold.zip"] {
        store.delete(key).await.unwrap();
    }
}

async fn warm_reads_are_served_from_the_cache(label: &str, storage: &Storage) {
    let store = storage.artifact();
    let cache = store.cache().expect("artifact cache configured");
    let content = Bytes::from_static(b"an archive read once, then kept locally");
    store
        .without_cache()
        .put_bytes("warm.zip", content.clone())
        .await
        .unwrap();
    assert_eq!(
        store.get_bytes("warm.zip").await.unwrap(),
        content,
        "{label}: cold read"
    );
    assert!(cache.contains("warm.zip"), "{label}");

    store.without_cache().delete("warm.zip").await.unwrap();
    assert_eq!(
        store.without_cache().size("warm.zip").await.unwrap(),
        None,
        "{label}: gone from the backend"
    );
    assert_eq!(
        store.get_bytes("warm.zip").await.unwrap(),
        content,
        "{label}: served from the cache"
    );

    store.delete("warm.zip").await.unwrap();
    assert!(
        !cache.contains("warm.zip"),
        "{label}: delete removes the cached copy"
    );
    assert!(!cache.dir().join("warm.zip").exists(), "{label}");
    assert!(
        store.get("warm.zip").await.err().unwrap().is_not_found(),
        "{label}"
    );
}

async fn the_cache_keeps_to_its_bound_evicting_the_least_recently_used(
    label: &str,
    storage: &Storage,
) {
    let store = storage.artifact();
    let cache = store.cache().expect("artifact cache configured");
    let keys = ["lru/1.zip", "lru/2.zip", "lru/3.zip"];
    for (n, key) in keys.iter().enumerate() {
        store
            .put_bytes(key, Bytes::from(vec![n as u8; 40]))
            .await
            .unwrap();
    }
    assert_eq!(
        cache.total_bytes(),
        80,
        "{label}: 3 × 40 bytes do not fit in {CACHE_MAX}"
    );
    assert!(!cache.contains(keys[0]), "{label}: the oldest was evicted");
    assert!(
        cache.contains(keys[1]) && cache.contains(keys[2]),
        "{label}"
    );
    let on_disk: u64 = files_under(cache.dir(), &[".partial"])
        .iter()
        .map(|file| std::fs::metadata(cache.dir().join(file)).unwrap().len())
        .sum();
    assert!(
        on_disk <= CACHE_MAX,
        "{label}: {on_disk} bytes in the cache directory"
    );
    assert_eq!(
        store.get_bytes(keys[0]).await.unwrap(),
        vec![0u8; 40],
        "{label}: evicted, still in the backend"
    );
    for key in keys {
        store.delete(key).await.unwrap();
    }
    assert_eq!(cache.total_bytes(), 0, "{label}");
}

fn settings_from_env(
    vars: &[(&str, &str)],
    data_dir: &Path,
    storages: &BTreeMap<String, StorageEntry>,
) -> StorageSettings {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    from_env(&|name| vars.get(name).cloned(), data_dir, storages).unwrap()
}

/// Files under `root`, relative and sorted, skipping the named top-level directories.
fn files_under(root: &Path, skip: &[&str]) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, skip: &[&str], out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let relative = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if skip.contains(&relative.as_str()) {
                continue;
            }
            if path.is_dir() {
                walk(root, &path, skip, out);
            } else {
                out.push(relative);
            }
        }
    }
    let mut files = Vec::new();
    walk(root, root, skip, &mut files);
    files.sort();
    files
}

#[tokio::test]
async fn presigned_downloads_fetch_the_object_under_its_prefix_whatever_its_key() {
    testkit::needs!(S3sFs);
    let s3 = S3sFs::start(BUCKET);
    let scratch = TempDir::new("backends-presigned");
    let settings = settings_from_env(
        &[
            ("STORAGE_SOURCE", "s3"),
            ("STORAGE_AWS_BUCKET", BUCKET),
            ("STORAGE_AWS_ARGS", &s3.storage_aws_args()),
            ("PACKYARD_DIST_REDIRECT", "1"),
        ],
        scratch.path(),
        &BTreeMap::new(),
    );
    let storage = Storage::open(&settings).unwrap();
    // Branch names go into dist keys nearly as they are.
    for version in ["dev-fix#12", "dev-100%", "dev-{x}[y]", "1.0.0"] {
        let key = keys::dist("acme/lib", version, "0123456789abcdef");
        let bytes = Bytes::from(format!("the archive of {version}"));
        storage.dist().put_bytes(&key, bytes.clone()).await.unwrap();
        let Ok(storage::Served::Redirect(url)) = storage.dist().serve(&key).await else {
            panic!("{key}: no redirect");
        };
        assert!(url.contains("/packeton/acme/lib/"), "{url}");
        let fetched = tokio::task::spawn_blocking(move || {
            let mut response = ureq::get(&url).call().unwrap();
            response.body_mut().read_to_vec().unwrap()
        })
        .await
        .unwrap();
        assert_eq!(fetched, bytes, "{key}");
    }
    let missing = storage.dist().serve("acme/lib/none.zip").await;
    assert!(matches!(missing, Err(StorageError::NotFound { .. })));
    // Mirrored metadata is read by packyard itself, never handed out.
    storage
        .store(StoreName::MirrorMeta)
        .put_bytes("up/packages.json", Bytes::from_static(b"{}"))
        .await
        .unwrap();
    assert!(matches!(
        storage
            .store(StoreName::MirrorMeta)
            .serve("up/packages.json")
            .await,
        Ok(storage::Served::Stream(_))
    ));
}
