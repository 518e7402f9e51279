//! The scale-out claim under the failures production brings: replicas on one
//! PostgreSQL and one S3 bucket (s3s-fs), behind a real nginx, with no local state —
//! killed with SIGKILL mid-traffic, stopped with SIGTERM mid-download, killed during
//! uploads, run on a read-only root.
//!
//! These tests are heavy (several servers and many composer runs on a small machine),
//! so they take turns.
//!
//! Kept apart from the one binary of tests/integration/ (it shares its `common`
//! harness through `#[path]`): these tests need the machine to themselves. In a binary
//! of their own, while one runs the other test thread waits on the lock, so nothing
//! else runs beside them; in the shared binary the tests sorted after them ran beside
//! the last one, and a load-sensitive one failed there (two_replicas'
//! parallel_guesses_on_two_replicas_get_no_more_than_the_limit: its logins waited
//! out the 5 s for a hashing slot and got 503).

#[path = "integration/common/mod.rs"]
#[allow(dead_code)] // the harness of every integration test, of which these use a part
mod common;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::git::library;
use common::*;
use serde_json::{Value, json};
use testkit::S3sFs;
use testkit::nginx::Nginx;
use testkit::upstream::{UpstreamRepo, UpstreamServer};

const BUCKET: &str = "scale-out";
/// `PACKYARD_SHUTDOWN_GRACE` of the replica stopped with SIGTERM.
const GRACE: Duration = Duration::from_secs(8);
/// Uploads in flight when the server is killed.
const UPLOADS: usize = 100;

/// One heavy test at a time.
static TAKE_TURNS: Mutex<()> = Mutex::new(());

fn take_turn() -> std::sync::MutexGuard<'static, ()> {
    TAKE_TURNS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A mirrored upstream with a package and a dependency.
fn upstream() -> UpstreamServer {
    let mut repo = UpstreamRepo::new();
    repo.minified();
    repo.monolog();
    repo.serve()
}

/// What the replicas of a test share: a PostgreSQL database, an S3 bucket, a mirrored
/// upstream, and the environment of a stateless replica pointing at them (no mirror
/// cache dirs, no artifact cache, job log lines for counting runs).
struct Shared {
    _s3: S3sFs,
    _upstream: UpstreamServer,
    _config: TempDir,
    env: Vec<(String, String)>,
}

impl Shared {
    fn new() -> Shared {
        Self::with_config_in(TempDir::new("scale-out-config"))
    }

    /// With the config file (the `up` mirror, no packagist) in `dir`.
    fn with_config_in(dir: TempDir) -> Shared {
        let s3 = S3sFs::start(BUCKET);
        let upstream = upstream();
        let config = dir.path().join("config.yaml");
        let yaml = json!({"mirrors": {"packagist": false, "up": {"url": upstream.url()}}});
        std::fs::write(&config, yaml.to_string()).unwrap();
        let env = [
            ("DATABASE_URL", postgres_database()),
            ("STORAGE_SOURCE", "s3".to_owned()),
            ("STORAGE_AWS_BUCKET", BUCKET.to_owned()),
            ("STORAGE_AWS_ARGS", s3.storage_aws_args()),
            ("PACKYARD_CONFIG", config.display().to_string()),
            ("RUST_LOG", "warn,packyard::jobs=info".to_owned()),
            // Not even a cache of artifacts: every byte comes from the bucket.
            ("PACKYARD_ARTIFACT_CACHE_MAX", "0".to_owned()),
            ("PACKYARD_METRICS_TOKEN", METRICS_TOKEN.to_owned()),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect();
        Shared {
            _s3: s3,
            _upstream: upstream,
            _config: dir,
            env,
        }
    }
}

fn start(env: &[(String, String)], extra: &[(&str, &str)]) -> Server {
    let mut all: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    all.extend_from_slice(extra);
    Server::start_with(&all)
}

/// A fresh project requiring private packages (an upload and a git package) and
/// mirrored ones through `base` (the load balancer).
fn install_project(base: &str, token: &str) -> ComposerProject {
    let host = base.trim_start_matches("http://");
    let mirror = format!("{base}/mirror/up");
    let project = ComposerProject::for_host(host, &[base, &mirror], "admin", token);
    project.set_requires(json!({
        "acme/uploaded": "^1.0",
        "acme/lib": "^1.0",
        "monolog/monolog": "^3.5",
    }));
    project
}

/// `composer install` (no lock file, no cache) and a look at what it installed.
fn install(base: &str, token: &str) -> Result<(), String> {
    let project = install_project(base, token);
    let output = project.run(&["install", "--no-cache", "--no-progress"]);
    if !output.status.success() {
        return Err(output_text(&output));
    }
    let expected = [
        // v1, or a version uploaded while the installs run (see the test below).
        ("acme/uploaded/src/Uploaded.php", "MARKER = 'v"),
        ("acme/lib/src/Lib.php", "MARKER = '1.0.0'"),
        (
            "psr/log/src/LoggerInterface.php",
            "interface LoggerInterface",
        ),
        ("monolog/monolog/src/Logger.php", "final class Logger"),
    ];
    for (file, needle) in expected {
        match project.installed_file(file) {
            Some(text) if text.contains(needle) => {}
            other => {
                return Err(format!(
                    "vendor/{file}: {other:?}\n{}",
                    output_text(&output)
                ));
            }
        }
    }
    Ok(())
}

/// What the replicas' `/metrics` answer to (anonymous clients get nothing).
const METRICS_TOKEN: &str = "scale-out-scraper";

/// Requests the replica at `address` answered since it started, from its `/metrics`.
fn requests_served(address: &str) -> f64 {
    let Ok(metrics) = std::panic::catch_unwind(|| {
        get(
            &format!("http://{address}/metrics"),
            &[("Authorization", &format!("Bearer {METRICS_TOKEN}"))],
        )
    }) else {
        return 0.0;
    };
    metrics
        .text()
        .lines()
        .filter(|line| line.starts_with("packyard_http_requests_total{"))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[test]
fn three_replicas_behind_nginx_lose_no_install_and_no_job_when_one_is_killed() {
    testkit::needs!(Postgres, S3sFs, Composer, Git, Nginx);
    let _turn = take_turn();
    let shared = Shared::new();
    let env = &shared.env;
    let ports: Vec<u16> = (0..3).map(|_| testkit::free_port()).collect();
    let nginx = Nginx::balancing(&ports);
    let base = nginx.url();
    let listen: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    // All at once on the empty database: they take turns on the migrations.
    let mut replicas: Vec<Server> = std::thread::scope(|scope| {
        let starting: Vec<_> = listen
            .iter()
            .map(|address| {
                scope.spawn(|| {
                    start(
                        env,
                        &[("PACKYARD_LISTEN", address), ("PACKYARD_PUBLIC_URL", &base)],
                    )
                })
            })
            .collect();
        starting.into_iter().map(|s| s.join().unwrap()).collect()
    });
    for replica in &replicas {
        assert!(
            replica.data.path().read_dir().unwrap().all(|entry| {
                let name = entry.unwrap().file_name();
                name == "tmp" || name == "vcs"
            }),
            "a replica keeps nothing but scratch space locally"
        );
    }
    let token = replicas[0].add_user("admin", true);

    // Private packages: an upload (artifact store) and a git package (dist store).
    let uploaded = put(
        &format!("{base}/api/packages/upload/acme/uploaded/1.0.0"),
        &[("Authorization", &basic("admin", &token))],
        &package_zip("acme/uploaded", &[], "v1"),
    );
    assert_eq!(uploaded.status, 201, "{}", uploaded.text());
    let (repo, _) = library("acme/lib", "1.0.0");
    let added = replicas[0].cli(&["package", "add", &repo.url()]);
    assert!(added.status.success(), "{}", output_text(&added));
    // Every replica serves both before the traffic starts (their caches refresh in 2 s).
    for replica in &replicas {
        wait_for_package(replica, "admin", &token, "acme/uploaded");
        wait_for_package(replica, "admin", &token, "acme/lib");
    }

    let stop = Arc::new(AtomicBool::new(false));
    let installed = Arc::new(AtomicUsize::new(0));
    let failures: Arc<Mutex<Vec<String>>> = Arc::default();
    let installers: Vec<_> = (0..20)
        .map(|_| {
            let (stop, installed, failures) = (stop.clone(), installed.clone(), failures.clone());
            let (base, token) = (base.clone(), token.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    match install(&base, &token) {
                        Ok(()) => {
                            installed.fetch_add(1, Ordering::SeqCst);
                        }
                        Err(failure) => failures.lock().unwrap().push(failure),
                    }
                }
            })
        })
        .collect();
    // Re-scans queued all along, through the balancer, for the replicas to share.
    let queued: Arc<Mutex<BTreeSet<i64>>> = Arc::default();
    let rescans = {
        let (stop, queued) = (stop.clone(), queued.clone());
        let url = format!("{base}/api/update-package?username=admin&apiToken={token}");
        let repo_url = repo.url();
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                let body = json!({"repository": {"url": repo_url}}).to_string();
                // A POST that met the dying replica is not retried by nginx: the hook
                // sender sees the error, as GitHub would, and nothing was queued.
                let reply = try_post(
                    &url,
                    &[("Content-Type", "application/json")],
                    body.as_bytes(),
                );
                if let Some(reply) = reply.ok().filter(|reply| reply.status == 202) {
                    queued
                        .lock()
                        .unwrap()
                        .insert(reply.json()["jobs"][0]["job"].as_i64().unwrap());
                }
                std::thread::sleep(Duration::from_millis(300));
            }
        })
    };

    // New versions published all along, through the balancer: Composer reads the
    // version list from one replica and the archive from another, which must serve
    // it at once. An upload that met the dying replica is not retried by nginx (a PUT):
    // the client sees the error, and nothing was published.
    let published = Arc::new(AtomicUsize::new(0));
    let uploads = {
        let (stop, published) = (stop.clone(), published.clone());
        let (base, token) = (base.clone(), token.clone());
        std::thread::spawn(move || {
            for n in 2.. {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let reply = try_put(
                    &format!("{base}/api/packages/upload/acme/uploaded/1.0.{n}"),
                    &[("Authorization", &basic("admin", &token))],
                    &package_zip("acme/uploaded", &[], &format!("v{n}")),
                );
                if reply.is_ok_and(|reply| reply.status == 201) {
                    published.fetch_add(1, Ordering::SeqCst);
                }
                std::thread::sleep(Duration::from_millis(700));
            }
        })
    };

    let wait_for_installs = |at_least: usize| {
        let deadline = Instant::now() + Duration::from_secs(300);
        while installed.load(Ordering::SeqCst) < at_least {
            assert!(
                Instant::now() < deadline,
                "installs stalled at {}; failures: {:?}",
                installed.load(Ordering::SeqCst),
                failures.lock().unwrap().first()
            );
            assert!(
                failures.lock().unwrap().is_empty(),
                "an install failed:\n{}",
                failures.lock().unwrap()[0]
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let mut killed_pids = Vec::new();
    // When each kill happened (Unix milliseconds, the clock the jobs' times are on).
    let mut kill_times = Vec::new();
    wait_for_installs(10);
    for round in 1..=2 {
        killed_pids.push(replicas[2].pid());
        replicas[2].stop();
        kill_times.push(unix_millis());
        println!(
            "round {round}: killed replica 3 after {} installs",
            installed.load(Ordering::SeqCst)
        );
        wait_for_installs(10 + round * 15);
        replicas[2].start_again();
        println!("round {round}: restarted replica 3");
        // It takes its share again: nginx tries it once its second is up.
        let deadline = Instant::now() + Duration::from_secs(120);
        while requests_served(&listen[2]) < 20.0 {
            assert!(
                Instant::now() < deadline,
                "the restarted replica serves nothing"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        wait_for_installs(installed.load(Ordering::SeqCst) + 10);
    }
    stop.store(true, Ordering::SeqCst);
    for installer in installers {
        installer.join().unwrap();
    }
    rescans.join().unwrap();
    uploads.join().unwrap();
    println!(
        "{} versions published during the installs",
        published.load(Ordering::SeqCst)
    );
    assert!(
        published.load(Ordering::SeqCst) > 0,
        "no version was published"
    );

    let failures = failures.lock().unwrap();
    assert!(
        failures.is_empty(),
        "{} of {} installs failed; the first:\n{}",
        failures.len(),
        failures.len() + installed.load(Ordering::SeqCst),
        failures[0]
    );

    // Every queued job ran to success (a job the killed replica held is taken over
    // when its lease runs out: up to a minute), and ran again only as often as a replica
    // was killed while it waited or ran. (Counted by the kills' times, not by the
    // killed replica's log: a kill -9 can take the line saying a job started with it.)
    let queued = queued.lock().unwrap().clone();
    assert!(
        queued.len() >= 5,
        "only {} re-scans were queued",
        queued.len()
    );
    for id in &queued {
        let job = wait_for_job(&replicas[0], "admin", &token, *id, Duration::from_secs(120));
        assert_eq!(job["state"], "succeeded", "{job}");
        let attempts = job["attempts"].as_i64().unwrap();
        let (created, last_started) = (
            job["created_at"].as_i64().unwrap(),
            job["started_at"].as_i64().unwrap(),
        );
        let kills_meanwhile = kill_times
            .iter()
            .filter(|&&at| created <= at && at <= last_started)
            .count() as i64;
        assert!(
            attempts - 1 <= kills_meanwhile,
            "job {id} ran {attempts} times, with {kills_meanwhile} replicas killed while it waited or ran: {job}"
        );
    }
    println!(
        "{} installs, {} jobs, killed pids {killed_pids:?}; nginx retried: {} upstream errors",
        installed.load(Ordering::SeqCst),
        queued.len(),
        nginx
            .error_log()
            .lines()
            .filter(|l| l.contains("upstream"))
            .count()
    );
}

fn unix_millis() -> i64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(since_epoch.as_millis()).unwrap()
}

/// Bytes no compressor can shrink, the same for the same seed.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// A package whose archive is `size` bytes of noise (plus its composer.json).
fn big_package(name: &str, size: usize) -> Vec<u8> {
    let manifest = json!({"name": name, "type": "library", "license": "MIT"}).to_string();
    zip(&[
        Entry::File("big/composer.json", manifest.as_bytes()),
        Entry::File("big/noise.bin", &noise(size, 7)),
    ])
}

/// A download over a connection of its own, read at the test's pace.
struct Download {
    stream: TcpStream,
    length: usize,
    body: Vec<u8>,
}

impl Download {
    /// Sends the request and reads the answer's head; the body waits to be read.
    fn start(address: &str, path: &str, token: &str) -> Download {
        let mut stream = TcpStream::connect(address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: {}\r\n\r\n",
            basic("admin", token)
        )
        .unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8];
        while !head.ends_with(b"\r\n\r\n") {
            assert_eq!(
                stream.read(&mut byte).unwrap(),
                1,
                "the answer's head ended early"
            );
            head.push(byte[0]);
        }
        let head = String::from_utf8(head).unwrap();
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        let length = head
            .lines()
            .find_map(|line| line.strip_prefix("content-length: "))
            .expect("a Content-Length")
            .trim()
            .parse()
            .unwrap();
        Download {
            stream,
            length,
            body: Vec::new(),
        }
    }

    /// Reads up to `bytes` more at about `per_second`; `Err` when the connection ends
    /// before the whole body came.
    fn read(&mut self, bytes: usize, per_second: usize) -> Result<(), String> {
        let until = self.body.len().saturating_add(bytes).min(self.length);
        let mut chunk = vec![0u8; 64 * 1024];
        while self.body.len() < until {
            let want = chunk.len().min(until - self.body.len());
            match self.stream.read(&mut chunk[..want]) {
                Ok(0) => return Err(format!("closed after {} bytes", self.body.len())),
                Ok(read) => self.body.extend_from_slice(&chunk[..read]),
                Err(error) => return Err(format!("{error} after {} bytes", self.body.len())),
            }
            std::thread::sleep(Duration::from_secs_f64(want as f64 / per_second as f64));
        }
        Ok(())
    }
}

/// The `/zipball/...` path of `package`'s only version, from its p2 document.
fn dist_path(server: &Server, token: &str, package: &str) -> String {
    let reply = p2(server, "admin", token, package);
    let url = p2_documents(&reply, package)[0]["dist"]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    url.trim_start_matches(&server.base).to_owned()
}

fn job(server: &Server, token: &str, id: i64) -> Value {
    get(
        &server.url(&format!("/api/jobs/{id}")),
        &[("Authorization", &basic("admin", token))],
    )
    .json()
}

#[test]
fn sigterm_refuses_new_connections_hands_jobs_back_and_drains_downloads_within_the_grace() {
    testkit::needs!(Postgres, S3sFs, Git);
    let _turn = take_turn();
    let shared = Shared::new();
    let env = &shared.env;
    let mut first = start(env, &[("PACKYARD_SHUTDOWN_GRACE", "8s")]);
    let token = first.add_user("admin", true);

    let archive = big_package("acme/big", 32 << 20);
    let uploaded = upload(&first, &token, "acme/big", "1.0.0", &archive);
    assert_eq!(uploaded.status, 201, "{}", uploaded.text());
    let path = dist_path(&first, &token, "acme/big");

    // A scan that hangs: its remote accepts connections and never answers.
    let (repo, _) = library("acme/lib", "1.0.0");
    let daemon = testkit::Service::git_daemon(repo.path());
    let remote = format!(
        "git://127.0.0.1:{}/{}",
        daemon.port,
        repo.path().file_name().unwrap().to_string_lossy()
    );
    let added = first.cli(&["package", "add", &remote]);
    assert!(added.status.success(), "{}", output_text(&added));
    daemon.pause();
    let scan = queue_update(&first, "admin", &token, &remote);
    let first_worker = format!("-{}-", first.pid());
    let deadline = Instant::now() + Duration::from_secs(10);
    while !(job(&first, &token, scan)["state"] == "running"
        && job(&first, &token, scan)["worker"]
            .as_str()
            .is_some_and(|w| w.contains(&first_worker)))
    {
        assert!(Instant::now() < deadline, "{}", job(&first, &token, scan));
        std::thread::sleep(Duration::from_millis(50));
    }
    // The other replica starts now, so the job was the first one's to hand back.
    let second = start(env, &[]);

    let address = first.host().to_owned();
    let mut finishing = Download::start(&address, &path, &token);
    let mut stalled = Download::start(&address, &path, &token);
    finishing.read(1 << 20, 64 << 20).unwrap();
    stalled.read(1 << 20, 64 << 20).unwrap();
    // A kept-alive connection between requests.
    let mut idle = TcpStream::connect(&address).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(idle, "GET /healthz HTTP/1.1\r\nHost: {address}\r\n\r\n").unwrap();
    let mut answer = Vec::new();
    while !answer.ends_with(b"}") {
        let mut chunk = [0u8; 512];
        let read = idle.read(&mut chunk).unwrap();
        assert!(read > 0, "closed before answering");
        answer.extend_from_slice(&chunk[..read]);
    }

    first.terminate();
    let terminated = Instant::now();
    // New connections are refused at once: a balancer in front tries another replica.
    let deadline = terminated + Duration::from_secs(2);
    while TcpStream::connect(&address).is_ok() {
        assert!(
            Instant::now() < deadline,
            "still accepting 2 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // The idle connection is closed, not kept open until the grace runs out.
    let mut byte = [0u8; 1];
    assert!(
        matches!(idle.read(&mut byte), Ok(0)),
        "the idle kept-alive connection stays open after SIGTERM"
    );
    assert!(terminated.elapsed() < Duration::from_secs(3));
    // The running scan went back to the queue and the other replica has it, long
    // before its one-minute lease would have run out.
    let second_worker = format!("-{}-", second.pid());
    let deadline = terminated + Duration::from_secs(5);
    loop {
        let job = job(&second, &token, scan);
        if job["worker"]
            .as_str()
            .is_some_and(|w| w.contains(&second_worker))
        {
            assert_eq!(job["state"], "running", "{job}");
            assert_eq!(
                job["attempts"], 1,
                "the interrupted attempt is not counted: {job}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not taken over within 5 s: {job}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The download in flight finishes, at its own pace, after the process stopped
    // accepting.
    finishing
        .read(usize::MAX, 8 << 20)
        .expect("the download in flight is finished");
    assert_eq!(sha1_hex(&finishing.body), sha1_hex(&archive));
    assert!(terminated.elapsed() < GRACE, "{:?}", terminated.elapsed());

    // The stalled one holds the process until the grace runs out, and no longer.
    let status = first
        .wait_for_exit(GRACE + Duration::from_secs(6))
        .expect("the process exits once the grace has passed");
    let stopped_after = terminated.elapsed();
    assert!(status.success(), "{status:?}\n{}", first.log());
    assert!(
        stopped_after + Duration::from_millis(500) >= GRACE,
        "exited after {stopped_after:?}, before the grace, with a download open"
    );
    let cut = stalled.read(usize::MAX, 1 << 30);
    assert!(cut.is_err(), "the stalled download was cut at exit");
    let log = first.log();
    assert!(log.contains("handed the job back"), "{log}");
    assert!(log.contains("PACKYARD_SHUTDOWN_GRACE passed"), "{log}");

    // The other replica finishes the scan once the remote answers.
    daemon.resume();
    let done = wait_for_job(&second, "admin", &token, scan, Duration::from_secs(60));
    assert_eq!(done["state"], "succeeded", "{done}");
    assert_eq!(done["attempts"], 1, "{done}");
    // With nothing in flight, SIGTERM ends the process at once, the grace unused.
    let mut second = second;
    second.terminate();
    let idle_stop = Instant::now();
    let status = second.wait_for_exit(Duration::from_secs(5));
    assert!(
        status.is_some_and(|s| s.success()),
        "an idle replica did not exit within 5 s: {status:?}"
    );
    println!(
        "idle replica exited {:?} after SIGTERM",
        idle_stop.elapsed()
    );
    println!(
        "SIGTERM: refused new connections, job taken over, download finished, exit after {stopped_after:?}"
    );
}

/// A body handed over in 32 pieces spread over `pace`.
struct PacedBody<'a> {
    bytes: &'a [u8],
    sent: usize,
    pause: Duration,
}

impl Read for PacedBody<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.sent > 0 {
            std::thread::sleep(self.pause);
        }
        let piece = self.bytes.len().div_ceil(32).min(buf.len());
        let end = (self.sent + piece).min(self.bytes.len());
        let n = end - self.sent;
        buf[..n].copy_from_slice(&self.bytes[self.sent..end]);
        self.sent = end;
        Ok(n)
    }
}

/// `PUT` of `body` sent over `pace`; the status, or the transport failure.
fn paced_put(url: &str, authorization: &str, body: &[u8], pace: Duration) -> Result<u16, String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut reader = PacedBody {
        bytes: body,
        sent: 0,
        pause: pace / 32,
    };
    agent
        .put(url)
        .header("Authorization", authorization)
        .header("Content-Length", &body.len().to_string())
        .send(ureq::SendBody::from_reader(&mut reader))
        .map(|response| response.status().as_u16())
        .map_err(|error| error.to_string())
}

#[test]
fn kill_9_during_100_uploads_leaves_each_version_installable_or_absent() {
    testkit::needs!(Postgres, S3sFs, Composer);
    let _turn = take_turn();
    let shared = Shared::new();
    let env = &shared.env;
    let mut server = start(env, &[]);
    let token = server.add_user("admin", true);

    let archives: Vec<Vec<u8>> = (0..UPLOADS)
        .map(|i| {
            let name = format!("acme/p{i}");
            let manifest = json!({"name": name, "type": "library", "license": "MIT"}).to_string();
            zip(&[
                Entry::File("p/composer.json", manifest.as_bytes()),
                Entry::File("p/noise.bin", &noise(256 << 10, i as u64 + 1)),
            ])
        })
        .collect();
    let archives = Arc::new(archives);
    let answered = Arc::new(AtomicUsize::new(0));
    let url = server.base.clone();
    let uploads: Vec<_> = (0..UPLOADS)
        .map(|i| {
            let (archives, answered, url, token) = (
                archives.clone(),
                answered.clone(),
                url.clone(),
                token.clone(),
            );
            std::thread::spawn(move || {
                // Sent at different paces (0.3 s to 5.3 s a body), so that the kill
                // finds uploads at every stage.
                let pace = Duration::from_millis(300 + 50 * i as u64);
                let reply = paced_put(
                    &format!("{url}/api/packages/upload/acme/p{i}/1.0.0"),
                    &basic("admin", &token),
                    &archives[i],
                    pace,
                );
                if reply.is_ok() {
                    answered.fetch_add(1, Ordering::SeqCst);
                }
                reply
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    while answered.load(Ordering::SeqCst) < UPLOADS / 4 {
        assert!(Instant::now() < deadline, "uploads are not answered");
        std::thread::sleep(Duration::from_millis(5));
    }
    server.stop();
    let outcomes: Vec<Result<u16, String>> =
        uploads.into_iter().map(|t| t.join().unwrap()).collect();
    let accepted: Vec<usize> = (0..UPLOADS).filter(|i| outcomes[*i] == Ok(201)).collect();
    let cut = outcomes.iter().filter(|o| o.is_err()).count();
    assert!(
        !accepted.is_empty() && cut > 0,
        "the kill met no upload in flight: {outcomes:?}"
    );
    for (i, outcome) in outcomes.iter().enumerate() {
        assert!(
            matches!(outcome, Ok(201) | Err(_)),
            "upload {i}: {outcome:?}"
        );
    }

    server.start_again();
    // Every package is published whole (its archive byte for byte) or not at all; and
    // every upload that was answered 201 is there.
    let mut present = Vec::new();
    for i in 0..UPLOADS {
        let name = format!("acme/p{i}");
        let reply = p2(&server, "admin", &token, &name);
        match reply.status {
            200 => {
                let path = dist_path(&server, &token, &name);
                let archive = get(
                    &server.url(&path),
                    &[("Authorization", &basic("admin", &token))],
                );
                assert_eq!(archive.status, 200, "{name}: its version has no archive");
                assert_eq!(sha1_hex(&archive.body), sha1_hex(&archives[i]), "{name}");
                present.push(i);
            }
            404 => assert!(
                !accepted.contains(&i),
                "{name} was accepted (201) and is lost"
            ),
            status => panic!("{name}: {status} {}", reply.text()),
        }
    }
    assert!(
        present.len() < UPLOADS,
        "every upload was published: the kill came after them all"
    );
    // No version row lacks its object, and every object reads back with its sha1.
    let verified = server.cli(&["storage", "verify"]);
    assert!(verified.status.success(), "{}", output_text(&verified));

    // And the real client installs every one that is there.
    let project = ComposerProject::new(&server, "admin", &token);
    project.set_requires(
        present
            .iter()
            .map(|i| (format!("acme/p{i}"), json!("1.0.0")))
            .collect::<serde_json::Map<_, _>>()
            .into(),
    );
    let installed = project.run(&["install", "--no-cache", "--no-progress"]);
    assert!(installed.status.success(), "{}", output_text(&installed));
    for i in &present {
        assert!(
            // Noise is not text for `installed_file`: look for the file itself.
            project
                .dir
                .path()
                .join(format!("vendor/acme/p{i}/noise.bin"))
                .exists(),
            "acme/p{i} not installed"
        );
    }
    println!(
        "kill -9 during {UPLOADS} uploads: {} answered 201 before the kill, {cut} cut, {} present afterwards, verify clean",
        accepted.len(),
        present.len()
    );
}

/// Makes every mount of a new mount namespace read-only, mounts an empty tmpfs on
/// /tmp, checks both, then runs its arguments.
///
/// What the replica needs from the /tmp the tmpfs hides when the checkout is under /tmp
/// (its working directory, the binary under test, its data dir and config file) is
/// bound back to the same path, read-only, through a descriptor of the old /tmp (fd 3;
/// `--no-canonicalize` so that `mount` follows `/proc/self/fd/3` rather than the path
/// it names); a path already visible through an earlier one is left as it is.
const READ_ONLY_ROOT: &str = r#"set -e
exec 3</tmp
for mount in $(awk '{print $2}' /proc/self/mounts | sort -u); do
    case "$mount" in /proc|/proc/*|/sys|/sys/*|/dev|/dev/*) ;; *) mount -o remount,bind,ro "$mount" ;; esac
done
mount -t tmpfs -o size=1g tmpfs /tmp
for path in "$PWD" "$1" "$PACKYARD_DATA_DIR" "$PACKYARD_CONFIG"; do
    case "$path" in
    /tmp/*)
        [ ! -e "$path" ] || continue
        old="/proc/self/fd/3/${path#/tmp/}"
        if [ -d "$old" ]; then
            mkdir -p "$path"
        else
            mkdir -p "$(dirname "$path")"
            : > "$path"
        fi
        mount --no-canonicalize --bind "$old" "$path"
        mount --no-canonicalize -o remount,bind,ro "$path"
        ;;
    esac
done
exec 3<&-
cd "$PWD"
if touch "$PACKYARD_DATA_DIR/.probe" 2>/dev/null || touch /.probe 2>/dev/null; then
    echo "the root file system is still writable" >&2
    exit 97
fi
touch /tmp/.probe && rm /tmp/.probe
exec "$@"
"#;

#[test]
fn a_stateless_replica_on_a_read_only_root_serves_installs_and_runs_scans() {
    testkit::needs!(Postgres, S3sFs, Composer, Git);
    let _turn = take_turn();
    // Outside /tmp, which the replica sees as a fresh tmpfs, unless the checkout is under
    // /tmp: then READ_ONLY_ROOT binds them back, read-only, as it does the binary.
    let outside_tmp = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let data = TempDir::new_in(outside_tmp, "read-only-data");
    let data_dir = data.path().to_owned();
    let shared = Shared::with_config_in(TempDir::new_in(outside_tmp, "read-only-config"));
    let mut env = shared.env.clone();
    env.extend(
        [
            ("PACKYARD_DATA_DIR", data_dir.display().to_string()),
            ("PACKYARD_TMP_DIR", "/tmp/packyard/tmp".to_owned()),
            ("PACKYARD_VCS_CACHE_DIR", "/tmp/packyard/vcs".to_owned()),
        ]
        .map(|(k, v)| (k.to_owned(), v)),
    );
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();

    // Without a writable place for scratch files it refuses to start, naming the variable.
    let mut without_tmp = env_refs.clone();
    without_tmp.retain(|(name, _)| *name != "PACKYARD_TMP_DIR");
    let wrapper = ["unshare", "-m", "sh", "-c", READ_ONLY_ROOT, "sh"];
    let refused = std::panic::catch_unwind(|| Server::start_wrapped(&wrapper, &without_tmp));
    let message = refused
        .err()
        .and_then(|panic| panic.downcast::<String>().ok());
    assert!(
        message
            .as_deref()
            .is_some_and(|m| m.contains("PACKYARD_TMP_DIR") && m.contains("not writable")),
        "{message:?}"
    );

    let server = Server::start_wrapped(&wrapper, &env_refs);
    let own_namespace = std::fs::read_link("/proc/self/ns/mnt").unwrap();
    let its_namespace = std::fs::read_link(format!("/proc/{}/ns/mnt", server.pid())).unwrap();
    assert_ne!(
        own_namespace, its_namespace,
        "the replica runs in a mount namespace of its own"
    );
    let token = server.add_user("admin", true);

    let uploaded = upload(
        &server,
        &token,
        "acme/uploaded",
        "1.0.0",
        &package_zip("acme/uploaded", &[], "v1"),
    );
    assert_eq!(uploaded.status, 201, "{}", uploaded.text());
    // A git package added through the API is scanned by the replica itself, into its
    // mirror under /tmp; its dist is built there too on the first download.
    let (repo, _) = library("acme/lib", "1.0.0");
    let daemon = testkit::Service::git_daemon(repo.path());
    let remote = format!(
        "git://127.0.0.1:{}/{}",
        daemon.port,
        repo.path().file_name().unwrap().to_string_lossy()
    );
    let created = create_package(&server, "admin", &token, &json!({"url": remote}));
    assert!(
        created.status < 300,
        "{} {}",
        created.status,
        created.text()
    );
    wait_for_package(&server, "admin", &token, "acme/lib");
    repo.write_library("acme/lib", "1.1.0", Value::Null);
    repo.commit("1.1.0");
    repo.tag("1.1.0");
    let scan = queue_update(&server, "admin", &token, &remote);
    let scanned = wait_for_job(&server, "admin", &token, scan, Duration::from_secs(60));
    assert_eq!(scanned["state"], "succeeded", "{scanned}");
    assert!(
        p2(&server, "admin", &token, "acme/lib")
            .text()
            .contains("1.1.0")
    );

    let mirror = server.url("/mirror/up");
    let project =
        ComposerProject::with_repositories(&server, &[&server.base, &mirror], "admin", &token);
    project.set_requires(
        json!({"acme/uploaded": "^1.0", "acme/lib": "^1.1", "monolog/monolog": "^3.5"}),
    );
    let installed = project.run(&["install", "--no-cache", "--no-progress"]);
    assert!(installed.status.success(), "{}", output_text(&installed));
    assert!(
        project
            .installed_file("acme/lib/src/Lib.php")
            .unwrap()
            .contains("1.1.0")
    );
    assert!(
        project
            .installed_file("acme/uploaded/src/Uploaded.php")
            .is_some()
    );
    assert!(
        project
            .installed_file("psr/log/src/LoggerInterface.php")
            .is_some()
    );

    assert_eq!(
        std::fs::read_dir(&data_dir).unwrap().count(),
        0,
        "nothing was written to the data dir"
    );
    println!(
        "read-only root: upload, scan (job {scan}: {}), dist build and mirrored install served",
        scanned["result"]
    );
}
