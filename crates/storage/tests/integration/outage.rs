//! Storage outages against a real S3 server (s3s-fs): a dead or hung backend is reported
//! quickly and classified as unreachable, the same `Storage` recovers by itself when the
//! server is back, and an upload cut off midway leaves nothing behind.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use storage::config::{DEFAULT_TIMEOUT, from_env};
use storage::{Diagnosis, Storage, StorageError};
use testkit::{S3sFs, TempDir};

const BUCKET: &str = "packyard-outage";
const KEY: &str = "acme/widget/1.0.0-abc.zip";

fn open_storage(s3: &S3sFs, data_dir: &TempDir) -> Storage {
    let vars: HashMap<&str, String> = [
        ("STORAGE_SOURCE", "s3".to_owned()),
        ("STORAGE_AWS_BUCKET", BUCKET.to_owned()),
        ("STORAGE_AWS_ARGS", s3.storage_aws_args()),
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
    assert_eq!(DEFAULT_TIMEOUT, Duration::from_millis(1500));
    Storage::open(&settings).unwrap()
}

/// Runs `operation`, which must fail as unreachable within `limit`; returns how long
/// it took.
async fn fails_unreachable<T, F>(what: &str, limit: Duration, operation: F) -> Duration
where
    F: Future<Output = Result<T, StorageError>>,
{
    let started = Instant::now();
    let result = operation.await;
    let elapsed = started.elapsed();
    let Err(error) = result else {
        panic!("{what} succeeded against a server that is down")
    };
    assert_eq!(
        error.diagnose(),
        Diagnosis::Unreachable,
        "{what}: {error:?}"
    );
    assert!(
        elapsed < limit,
        "{what} took {elapsed:?} to fail (limit {limit:?}): {error}"
    );
    eprintln!("{what}: failed after {elapsed:?}: {error}");
    elapsed
}

async fn every_operation_fails_unreachable(storage: &Storage, limit: Duration, state: &str) {
    let store = storage.dist();
    fails_unreachable(&format!("get ({state})"), limit, store.get(KEY)).await;
    fails_unreachable(&format!("size ({state})"), limit, store.size(KEY)).await;
    let put = store.put_bytes("acme/widget/2.0.0-def.zip", Bytes::from_static(b"new"));
    fails_unreachable(&format!("put_bytes ({state})"), limit, put).await;
}

async fn works(storage: &Storage, content: &Bytes) {
    let store = storage.dist();
    assert_eq!(store.get_bytes(KEY).await.unwrap(), *content);
    assert_eq!(store.size(KEY).await.unwrap(), Some(content.len() as u64));
    store
        .put_bytes("acme/widget/3.0.0-fed.zip", Bytes::from_static(b"after"))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_killed_server_is_reported_unreachable_fast_and_the_same_storage_recovers_after_restart()
{
    testkit::needs!(S3sFs);
    let mut s3 = S3sFs::start(BUCKET);
    let data_dir = TempDir::new("outage-killed");
    let storage = open_storage(&s3, &data_dir);
    let content = Bytes::from_static(b"archive bytes");
    storage
        .dist()
        .put_bytes(KEY, content.clone())
        .await
        .unwrap();

    s3.stop();
    every_operation_fails_unreachable(&storage, Duration::from_secs(2), "killed").await;

    s3.restart();
    works(&storage, &content).await;
}

#[tokio::test]
async fn a_hung_server_is_reported_unreachable_within_the_timeout_and_the_same_storage_recovers_on_resume()
 {
    testkit::needs!(S3sFs);
    let s3 = S3sFs::start(BUCKET);
    let data_dir = TempDir::new("outage-paused");
    let storage = open_storage(&s3, &data_dir);
    let content = Bytes::from_static(b"archive bytes");
    storage
        .dist()
        .put_bytes(KEY, content.clone())
        .await
        .unwrap();

    s3.service.pause();
    every_operation_fails_unreachable(&storage, Duration::from_millis(2500), "paused").await;

    s3.service.resume();
    works(&storage, &content).await;
}

#[tokio::test]
async fn an_upload_cut_off_midway_leaves_no_object_and_no_parts_behind() {
    const MIB: usize = 1 << 20;
    testkit::needs!(S3sFs);
    let s3 = S3sFs::start(BUCKET);
    let data_dir = TempDir::new("outage-cut");
    let storage = open_storage(&s3, &data_dir);

    // Nine MiB (more than one 8 MiB part), then, once the first part has reached the
    // server, the source fails: as a client disconnecting in the middle of an upload.
    let first_part_stored = async {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !s3
            .pending_upload_files()
            .iter()
            .any(|file| file.contains(".part-"))
        {
            assert!(Instant::now() < deadline, "no part reached the server");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let source = futures_util::stream::iter((0..9).map(|_| Ok(Bytes::from(vec![1u8; MIB]))))
        .chain(futures_util::stream::once(async {
            first_part_stored.await;
            Err(StorageError::Io {
                context: "reading the upload".into(),
                source: std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "client went away",
                ),
            })
        }))
        .boxed();

    let error = storage
        .artifact()
        .put_stream("cut.zip", source, 20 * MIB as u64)
        .await
        .unwrap_err();
    assert!(
        matches!(error, StorageError::Io { .. }),
        "the source's error is returned: {error:?}"
    );
    assert_eq!(s3.keys(BUCKET), Vec::<String>::new(), "no object");
    assert_eq!(
        s3.pending_upload_files(),
        Vec::<String>::new(),
        "the multipart upload was aborted"
    );
    assert_eq!(storage.artifact().size("cut.zip").await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_whose_caller_goes_away_is_aborted_too() {
    const MIB: usize = 1 << 20;
    testkit::needs!(S3sFs);
    let s3 = S3sFs::start(BUCKET);
    let data_dir = TempDir::new("outage-dropped");
    let storage = open_storage(&s3, &data_dir);

    // Nine MiB, then a source that never ends: the caller's future is dropped midway
    // (a client disconnecting during an upload cancels the request's future).
    let source = futures_util::stream::iter((0..9).map(|_| Ok(Bytes::from(vec![2u8; MIB]))))
        .chain(futures_util::stream::pending())
        .boxed();
    let store = storage.artifact().clone();
    let upload = tokio::spawn(async move {
        store
            .put_stream("dropped.zip", source, 20 * MIB as u64)
            .await
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while !s3
        .pending_upload_files()
        .iter()
        .any(|file| file.contains(".part-"))
    {
        assert!(Instant::now() < deadline, "no part reached the server");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    upload.abort();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !s3.pending_upload_files().is_empty() {
        assert!(
            Instant::now() < deadline,
            "the abandoned multipart upload was not aborted: {:?}",
            s3.pending_upload_files()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(s3.keys(BUCKET), Vec::<String>::new(), "no object");
}
