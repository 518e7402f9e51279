//! A store behind a slow link (a throttling proxy in front of a real S3 server,
//! s3s-fs): the storage timeout bounds stalls, not transfers. An upload that takes
//! twice the timeout at 2 MB/s succeeds; the same store stalled mid-transfer fails
//! within the timeout, and works again when the link does.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use storage::config::{DEFAULT_TIMEOUT, from_env};
use storage::{Diagnosis, Storage};
use testkit::throttle::ThrottledProxy;
use testkit::{S3sFs, TempDir};

const BUCKET: &str = "packyard-slow-link";
const MIB: usize = 1 << 20;
/// 2 MB/s: about 16 Mbit/s of uplink.
const RATE: u64 = 2_000_000;

fn storage_through(proxy: &ThrottledProxy, data_dir: &TempDir) -> Storage {
    let args = S3sFs::storage_aws_args_at(&proxy.url());
    let vars: HashMap<&str, String> = [
        ("STORAGE_SOURCE", "s3".to_owned()),
        ("STORAGE_AWS_BUCKET", BUCKET.to_owned()),
        ("STORAGE_AWS_ARGS", args),
    ]
    .into_iter()
    .collect();
    let settings = from_env(
        &|name| vars.get(name).cloned(),
        data_dir.path(),
        &BTreeMap::new(),
    )
    .unwrap();
    assert_eq!(settings.timeout, DEFAULT_TIMEOUT);
    Storage::open(&settings).unwrap()
}

/// Incompressible bytes, so nothing on the way can shrink them.
fn noise(size: usize) -> Bytes {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut data = Vec::with_capacity(size + 8);
    while data.len() < size {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        data.extend_from_slice(&state.to_le_bytes());
    }
    data.truncate(size);
    Bytes::from(data)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_slower_than_the_timeout_succeeds_and_a_stalled_store_still_fails_within_it() {
    testkit::needs!(S3sFs);
    let s3 = S3sFs::start(BUCKET);
    let upstream: SocketAddr = format!("127.0.0.1:{}", s3.service.port).parse().unwrap();
    let proxy = ThrottledProxy::start(upstream, RATE);
    let data_dir = TempDir::new("slow-link");
    let storage = storage_through(&proxy, &data_dir);
    let store = storage.artifact();

    // 6 MiB go up as one PUT (below the multipart threshold) and take ~3 s at 2 MB/s.
    let content = noise(6 * MIB);
    let file = data_dir.path().join("upload.zip");
    std::fs::write(&file, &content).unwrap();
    let started = Instant::now();
    let stored = store.put_file("slow/upload.zip", &file).await;
    let took = started.elapsed();
    eprintln!(
        "6 MiB through a {} MB/s link: {took:?} (timeout {DEFAULT_TIMEOUT:?}): {stored:?}",
        RATE / 1_000_000
    );
    assert_eq!(stored.unwrap(), content.len() as u64);
    assert!(
        took > 2 * DEFAULT_TIMEOUT,
        "the link was not slow ({took:?}): the test proves nothing"
    );
    assert!(proxy.forwarded() >= content.len() as u64);
    assert_eq!(
        storage
            .artifact()
            .without_cache()
            .get_bytes("slow/upload.zip")
            .await
            .unwrap(),
        content
    );

    // The link stops taking bytes: a small put waiting for its answer and a large one
    // stuck mid-body both fail as unreachable, within the timeout of their last
    // progress (plus what the socket buffers took first).
    proxy.stall();
    let limit = DEFAULT_TIMEOUT + Duration::from_secs(1);
    for (what, size) in [("a small put", 100), ("a 6 MiB put", 6 * MIB)] {
        let started = Instant::now();
        let error = store
            .put_bytes(&format!("stalled/{size}.zip"), noise(size))
            .await
            .expect_err("a stalled store cannot take an upload");
        let took = started.elapsed();
        eprintln!("{what} to a stalled store failed after {took:?}: {error}");
        assert_eq!(
            error.diagnose(),
            Diagnosis::Unreachable,
            "{what}: {error:?}"
        );
        assert!(
            took < limit,
            "{what} took {took:?} to fail (limit {limit:?})"
        );
    }
    let started = Instant::now();
    let error = store
        .without_cache()
        .get_bytes("slow/upload.zip")
        .await
        .expect_err("a stalled store cannot answer");
    assert_eq!(error.diagnose(), Diagnosis::Unreachable, "{error:?}");
    assert!(started.elapsed() < limit, "{:?}", started.elapsed());

    // The same storage works once the link does, and the body cut off midway did not
    // become an object. (The small put may still arrive: its whole request sat in the
    // proxy when the client gave up, as it can on a real network.)
    proxy.resume();
    store
        .put_bytes("after/stall.zip", Bytes::from_static(b"after"))
        .await
        .unwrap();
    let keys = s3.keys(BUCKET);
    // s3s-fs lists keys with the store's prefix.
    assert!(
        keys.contains(&"artifact/after/stall.zip".to_owned()),
        "{keys:?}"
    );
    assert!(
        keys.contains(&"artifact/slow/upload.zip".to_owned()),
        "{keys:?}"
    );
    let cut_off = format!("stalled/{}.zip", 6 * MIB);
    assert!(!keys.contains(&format!("artifact/{cut_off}")), "{keys:?}");
    assert_eq!(store.without_cache().size(&cut_off).await.unwrap(), None);
}
