//! Test harness: the real `packyard` binary on a free port with a temporary data dir,
//! archives built in the test, and the real `composer` client.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sha1::{Digest, Sha1};
use zip::write::SimpleFileOptions;

pub mod git;
pub mod in_process;

pub use testkit::{TempDir, unique_name};

/// A running `packyard serve`, killed on drop.
pub struct Server {
    pub base: String,
    pub data: TempDir,
    /// Outside the data dir: `server.log` collects the server's stderr across restarts.
    pub logs: TempDir,
    env: Vec<(String, String)>,
    /// A command the server runs under (`unshare -m ...`), empty for none.
    wrapper: Vec<String>,
    child: Child,
}

impl Server {
    pub fn start() -> Server {
        Self::start_with(&[])
    }

    pub fn start_with(extra_env: &[(&str, &str)]) -> Server {
        Self::start_wrapped(&[], extra_env)
    }

    /// Starts `packyard serve` as the last arguments of `wrapper` (a command that ends
    /// by exec'ing its arguments, so the server keeps the process id).
    pub fn start_wrapped(wrapper: &[&str], extra_env: &[(&str, &str)]) -> Server {
        let data = TempDir::new("packyard-e2e");
        let mut env: Vec<(String, String)> = vec![
            (
                "PACKYARD_DATA_DIR".into(),
                data.path().display().to_string(),
            ),
            ("PACKYARD_LISTEN".into(), "127.0.0.1:0".into()),
            ("RUST_LOG".into(), "warn".into()),
            // Tests build their repositories on local disk.
            ("PACKYARD_ALLOW_LOCAL_REPOSITORIES".into(), "1".into()),
            // Test servers (git remotes, upstreams, hook receivers) listen on loopback,
            // which the default network policy refuses.
            ("PACKYARD_ALLOW_NETWORKS".into(), "127.0.0.0/8".into()),
        ];
        env.extend(
            extra_env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        let logs = TempDir::new("packyard-logs");
        let wrapper: Vec<String> = wrapper.iter().map(ToString::to_string).collect();
        let (child, base) = spawn_server(&wrapper, &env, Some(&logs.path().join("server.log")))
            .unwrap_or_else(|error| panic!("{error}"));
        Server {
            base,
            data,
            logs,
            env,
            wrapper,
            child,
        }
    }

    /// The server process's id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server process's resident memory, in bytes (`VmRSS` in `/proc`).
    pub fn rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        let kib: u64 = status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc/PID/status");
        kib * 1024
    }

    /// The file the server's stderr is copied to (appended to on every restart).
    pub fn log_path(&self) -> PathBuf {
        self.logs.path().join("server.log")
    }

    /// Everything the server wrote on stderr so far. The server writes its log lines
    /// from a thread of their own, a moment after what they tell of: the log is read
    /// once it has stopped growing (for 30 ms, or 2 s at most).
    pub fn log(&self) -> String {
        let read = || std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut log = read();
        loop {
            std::thread::sleep(Duration::from_millis(30));
            let again = read();
            if again.len() == log.len() || Instant::now() > deadline {
                return again;
            }
            log = again;
        }
    }

    /// Lines of the server's stderr containing `needle`.
    pub fn log_lines(&self, needle: &str) -> usize {
        self.log().lines().filter(|l| l.contains(needle)).count()
    }

    /// Waits until at least `at_least` lines of the log contain `needle`; panics with the
    /// log after `limit`.
    pub fn wait_for_log(&self, needle: &str, at_least: usize, limit: Duration) {
        let deadline = Instant::now() + limit;
        while self.log_lines(needle) < at_least {
            assert!(
                Instant::now() < deadline,
                "fewer than {at_least} log lines contain {needle:?} after {limit:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the server and starts it again on the same data dir, with `changes`
    /// applied to its environment.
    pub fn restart_with(&mut self, changes: &[(&str, &str)]) {
        self.stop();
        self.env = self.env_with(changes);
        let (child, base) = spawn_server(&self.wrapper, &self.env, Some(&self.log_path()))
            .unwrap_or_else(|error| panic!("{error}"));
        self.child = child;
        self.base = base;
    }

    /// Kills the server at once (SIGKILL: no shutdown of any kind).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the server again after [`stop`](Self::stop) or its exit, with the same
    /// environment (a fixed `PACKYARD_LISTEN` port stays the same).
    #[allow(dead_code)] // used by tests/scale_out.rs, a binary of its own
    pub fn start_again(&mut self) {
        self.restart_with(&[]);
    }

    /// Sends SIGTERM, as an orchestrator does to stop a replica.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -TERM {}", self.pid());
    }

    /// Waits for the process to exit; `None` if it still runs after `limit`.
    pub fn wait_for_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starting with `changes` fails: returns what the server printed on stderr.
    pub fn start_failure(&self, changes: &[(&str, &str)]) -> String {
        match spawn_server(&self.wrapper, &self.env_with(changes), None) {
            Ok((mut child, _)) => {
                let _ = child.kill();
                panic!("the server started with {changes:?}");
            }
            Err(stderr) => stderr,
        }
    }

    fn env_with(&self, changes: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = self
            .env
            .iter()
            .filter(|(name, _)| !changes.iter().any(|(changed, _)| changed == name))
            .cloned()
            .collect();
        env.extend(changes.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        env
    }

    pub fn host(&self) -> &str {
        self.base.trim_start_matches("http://")
    }

    /// Runs a `packyard` command against the same data dir and database.
    pub fn cli(&self, args: &[&str]) -> Output {
        self.cli_with(&[], args)
    }

    /// Runs a `packyard` command with `changes` applied to the server's environment.
    pub fn cli_with(&self, changes: &[(&str, &str)], args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_packyard"))
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(self.env_with(changes))
            .output()
            .expect("running packyard")
    }

    /// Runs a `packyard` command and asserts it succeeded; its standard output.
    pub fn cli_ok(&self, args: &[&str]) -> String {
        let output = self.cli(args);
        assert!(
            output.status.success(),
            "{args:?}: {}",
            output_text(&output)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Runs a `packyard` command with `input` on its standard input.
    pub fn cli_input(&self, args: &[&str], input: &str) -> Output {
        use std::io::Write as _;
        let mut child = Command::new(env!("CARGO_BIN_EXE_packyard"))
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(self.env_with(&[]))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("running packyard");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        child.wait_with_output().expect("running packyard")
    }

    /// Creates an admin, or a user that sees every package (`--full-access`), and
    /// returns its token (the last line of stdout).
    pub fn add_user(&self, name: &str, admin: bool) -> String {
        self.create_user(
            name,
            if admin {
                &["--admin"]
            } else {
                &["--full-access"]
            },
        )
    }

    /// Creates a plain user, which sees what its groups grant, with `flags` (e.g.
    /// `--updates-until`), and returns its token.
    pub fn add_plain_user(&self, name: &str, flags: &[&str]) -> String {
        self.create_user(name, flags)
    }

    /// Creates a maintainer (may add packages and send hooks) and returns its token.
    pub fn add_maintainer(&self, name: &str) -> String {
        self.create_user(name, &["--maintainer"])
    }

    fn create_user(&self, name: &str, roles: &[&str]) -> String {
        let mut args = vec!["user", "add", name];
        args.extend_from_slice(roles);
        let output = self.cli(&args);
        assert!(output.status.success(), "{}", output_text(&output));
        String::from_utf8(output.stdout)
            .unwrap()
            .lines()
            .last()
            .unwrap()
            .to_owned()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// Starts `packyard serve` and waits for the line announcing its address; on failure,
/// returns its stderr. Once started, its stderr is appended to `log` (when given).
fn spawn_server(
    wrapper: &[String],
    env: &[(String, String)],
    log: Option<&Path>,
) -> Result<(Child, String), String> {
    let binary = env!("CARGO_BIN_EXE_packyard");
    let mut command = match wrapper.split_first() {
        Some((program, args)) => {
            let mut command = Command::new(program);
            command.args(args).arg(binary);
            command
        }
        None => Command::new(binary),
    };
    let mut child = command
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(env.iter().cloned())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting packyard");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    if let Some(base) = line.trim().strip_prefix("packyard listening on ") {
        // Keep draining stderr so a chatty server never blocks on a full pipe.
        let mut stderr = child.stderr.take().unwrap();
        let mut sink: Box<dyn Write + Send> = match log {
            Some(path) => Box::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .unwrap_or_else(|e| panic!("opening {}: {e}", path.display())),
            ),
            None => Box::new(std::io::sink()),
        };
        std::thread::spawn(move || std::io::copy(&mut stderr, &mut sink));
        Ok((child, base.to_owned()))
    } else {
        let mut stderr = String::new();
        std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
        let _ = child.wait();
        Err(stderr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// An HTTP response reduced to what tests look at.
pub struct Reply {
    pub status: u16,
    pub headers: ureq::http::HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    }
}

/// Answers as they come: errors are replies, and redirects are not followed (tests
/// look at where they point).
fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .max_redirects_will_error(false)
        .build()
        .into()
}

fn reply(response: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Reply {
    try_reply(response).expect("HTTP request failed")
}

/// The reply, or what failed on the way (a refused or dropped connection).
fn try_reply(
    response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> Result<Reply, String> {
    let mut response = response.map_err(|error| error.to_string())?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response
        .body_mut()
        .with_config()
        .limit(1 << 30)
        .read_to_vec()
        .map_err(|error| format!("reading the body: {error}"))?;
    Ok(Reply {
        status,
        headers,
        body,
    })
}

pub fn unix_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Waits until the next whole second has passed (by 200 ms) and returns it: a date
/// that falls between what was published before the call and what is published after.
pub fn wait_past_a_second() -> u64 {
    let boundary = unix_seconds() + 1;
    while std::time::SystemTime::now()
        < std::time::UNIX_EPOCH + Duration::from_millis(boundary * 1000 + 200)
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    boundary
}

/// `seconds` since the epoch as an RFC 3339 date (UTC), as the CLI's date flags take it.
pub fn rfc3339(seconds: u64) -> String {
    let output = std::process::Command::new("date")
        .args(["-u", "-d", &format!("@{seconds}"), "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .unwrap();
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

pub fn basic(user: &str, token: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{token}"))
    )
}

pub fn get(url: &str, headers: &[(&str, &str)]) -> Reply {
    try_get(url, headers).expect("HTTP request failed")
}

/// `get` of an answer that may be cut short (a download refused on the way): a
/// transport failure is an `Err`.
pub fn try_get(url: &str, headers: &[(&str, &str)]) -> Result<Reply, String> {
    let mut request = agent().get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    try_reply(request.call())
}

pub fn put(url: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    try_put(url, headers, body).expect("HTTP request failed")
}

/// `put` for a server that may die under the request: a transport failure is an `Err`.
pub fn try_put(url: &str, headers: &[(&str, &str)], body: &[u8]) -> Result<Reply, String> {
    let mut request = agent().put(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    try_reply(request.send(body))
}

pub fn post(url: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    try_post(url, headers, body).expect("HTTP request failed")
}

/// `post` for a server that may die under the request: a transport failure is an `Err`.
pub fn try_post(url: &str, headers: &[(&str, &str)], body: &[u8]) -> Result<Reply, String> {
    let mut request = agent().post(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    try_reply(request.send(body))
}

/// `method url` with `headers` and `body` (any method, `PATCH` included).
pub fn send(method: &str, url: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    let mut request = ureq::http::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    reply(agent().run(request.body(body.to_vec()).unwrap()))
}

pub fn delete(url: &str, headers: &[(&str, &str)]) -> Reply {
    let mut request = agent().delete(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    reply(request.call())
}

/// Waits until `user` gets `status` for `path` (access changes reach a running server
/// within its 2 s refresh).
pub fn wait_for_status(server: &Server, user: &str, token: &str, path: &str, status: u16) -> Reply {
    let deadline = Instant::now() + Duration::from_secs(8);
    loop {
        let reply = get(&server.url(path), &[("Authorization", &basic(user, token))]);
        if reply.status == status {
            return reply;
        }
        assert!(
            Instant::now() < deadline,
            "{user} still gets {} for {path}: {}",
            reply.status,
            reply.text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn sha1_hex(bytes: &[u8]) -> String {
    hex::encode(Sha1::digest(bytes))
}

/// A server with a `maintainer` user; returns the server and the maintainer's token.
pub fn server_with_maintainer(env: &[(&str, &str)]) -> (Server, String) {
    let server = Server::start_with(env);
    let token = server.add_maintainer("maintainer");
    (server, token)
}

/// `POST {path}` with a JSON body, as `user`.
pub fn post_json(server: &Server, user: &str, token: &str, path: &str, body: &Value) -> Reply {
    post(
        &server.url(path),
        &[
            ("Authorization", &basic(user, token)),
            ("Content-Type", "application/json"),
        ],
        body.to_string().as_bytes(),
    )
}

/// `POST /api/create-package` with `{"repository": repository}`, as `user`.
pub fn create_package(server: &Server, user: &str, token: &str, repository: &Value) -> Reply {
    post_json(
        server,
        user,
        token,
        "/api/create-package",
        &json!({"repository": repository}),
    )
}

/// `PUT /api/packages/upload/{name}/{version}` with `archive`, as the user `admin` (only
/// admins may upload); `version` may carry a query (`1.0.0?force=1`).
pub fn upload(server: &Server, token: &str, name: &str, version: &str, archive: &[u8]) -> Reply {
    put(
        &server.url(&format!("/api/packages/upload/{name}/{version}")),
        &[("Authorization", &basic("admin", token))],
        archive,
    )
}

/// Sends the generic `update-package` hook for the repository at `url`, with the
/// credentials in the query as Packagist's clients send them; returns the queued job.
pub fn queue_update(server: &Server, user: &str, token: &str, url: &str) -> i64 {
    let reply = post(
        &server.url(&format!(
            "/api/update-package?username={user}&apiToken={token}"
        )),
        &[("Content-Type", "application/json")],
        json!({"repository": {"url": url}}).to_string().as_bytes(),
    );
    assert_eq!(reply.status, 202, "{}", reply.text());
    reply.json()["jobs"][0]["job"].as_i64().unwrap()
}

/// Polls `GET /api/jobs/{id}` as `user` until the job has succeeded or failed; panics
/// after `limit`.
pub fn wait_for_job(server: &Server, user: &str, token: &str, id: i64, limit: Duration) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        let job = get(
            &server.url(&format!("/api/jobs/{id}")),
            &[("Authorization", &basic(user, token))],
        );
        assert_eq!(job.status, 200, "{}", job.text());
        let job = job.json();
        if job["state"] == "succeeded" || job["state"] == "failed" {
            return job;
        }
        assert!(Instant::now() < deadline, "job {id} did not finish: {job}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Sends the `update-package` hook for `url` and waits (up to `limit`) for the re-scan
/// it queued.
pub fn update_package(
    server: &Server,
    user: &str,
    token: &str,
    url: &str,
    limit: Duration,
) -> Value {
    let id = queue_update(server, user, token, url);
    wait_for_job(server, user, token, id, limit)
}

/// `GET /p2/{file}.json` as `user`: `file` is a package name, or `vendor/name~dev` for
/// its dev versions.
pub fn p2(server: &Server, user: &str, token: &str, file: &str) -> Reply {
    get(
        &server.url(&format!("/p2/{file}.json")),
        &[("Authorization", &basic(user, token))],
    )
}

/// Every version of `package` in a p2 reply, expanded from Composer's minified form (a
/// list that is not minified expands to itself).
pub fn p2_documents(reply: &Reply, package: &str) -> Vec<serde_json::Map<String, Value>> {
    assert_eq!(reply.status, 200, "{}", reply.text());
    p2_expanded(&reply.json(), package)
}

/// Every version of `package` in a p2 document, expanded from Composer's minified form.
pub fn p2_expanded(document: &Value, package: &str) -> Vec<serde_json::Map<String, Value>> {
    let list: Vec<serde_json::Map<String, Value>> = document["packages"][package]
        .as_array()
        .unwrap_or_else(|| panic!("no {package} in {document}"))
        .iter()
        .map(|v| v.as_object().unwrap().clone())
        .collect();
    composer::minify::expand(list)
}

/// The version strings of `package` in a p2 reply, in the document's order.
pub fn p2_version_names(reply: &Reply, package: &str) -> Vec<String> {
    p2_documents(reply, package)
        .iter()
        .map(|v| v["version"].as_str().unwrap().to_owned())
        .collect()
}

/// Every version the server publishes in `file` (see [`p2`]), expanded.
pub fn version_documents(
    server: &Server,
    user: &str,
    token: &str,
    file: &str,
) -> Vec<serde_json::Map<String, Value>> {
    let package = file.trim_end_matches("~dev");
    p2_documents(&p2(server, user, token, file), package)
}

/// The versions the server publishes in `file` (see [`p2`]): (version, commit).
pub fn versions(server: &Server, user: &str, token: &str, file: &str) -> Vec<(String, String)> {
    version_documents(server, user, token, file)
        .into_iter()
        .map(|v| {
            (
                v["version"].as_str().unwrap().to_owned(),
                v["source"]["reference"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Waits until the server publishes `package` (added by another process).
pub fn wait_for_package(server: &Server, user: &str, token: &str, package: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let reply = p2(server, user, token, package);
        if reply.status == 200 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{package} is not published after 10 s: {} {}",
            reply.status,
            reply.text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One entry of a test archive.
pub enum Entry<'a> {
    File(&'a str, &'a [u8]),
    Symlink(&'a str, &'a str),
}

pub fn zip(entries: &[Entry]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default();
    for entry in entries {
        match entry {
            Entry::File(name, content) => {
                writer.start_file(*name, options).unwrap();
                writer.write_all(content).unwrap();
            }
            Entry::Symlink(name, target) => writer.add_symlink(*name, *target, options).unwrap(),
        }
    }
    writer.finish().unwrap().into_inner()
}

/// A package archive the way `git archive --prefix=NAME/` or GitHub would build it: one
/// top-level folder with composer.json and a PHP class autoloaded by PSR-4.
pub fn package_zip(name: &str, requires: &[(&str, &str)], marker: &str) -> Vec<u8> {
    let (_, short) = name.split_once('/').unwrap();
    let require: serde_json::Map<String, serde_json::Value> = requires
        .iter()
        .map(|(n, c)| (n.to_string(), serde_json::Value::from(*c)))
        .collect();
    let class = to_class_name(short);
    let manifest = serde_json::json!({
        "name": name,
        "description": format!("{name} for tests"),
        "type": "library",
        "license": "MIT",
        "require": require,
        "autoload": {"psr-4": {format!("Acme\\{class}\\"): "src/"}},
    });
    let source = format!(
        "<?php\nnamespace Acme\\{class};\n\nfinal class {class}\n{{\n    public const MARKER = '{marker}';\n}}\n"
    );
    let folder = format!("{short}-{marker}");
    zip(&[
        Entry::File(
            &format!("{folder}/composer.json"),
            manifest.to_string().as_bytes(),
        ),
        Entry::File(&format!("{folder}/src/{class}.php"), source.as_bytes()),
    ])
}

fn to_class_name(short: &str) -> String {
    short
        .split(['-', '_', '.'])
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// A fresh Composer project whose only repository is the server.
pub struct ComposerProject {
    pub dir: TempDir,
    home: TempDir,
}

impl ComposerProject {
    pub fn new(server: &Server, user: &str, token: &str) -> ComposerProject {
        Self::with_repository(server, &server.base, user, token)
    }

    /// A project whose only repository is `url` on the server (e.g. a mirror's).
    pub fn with_repository(server: &Server, url: &str, user: &str, token: &str) -> ComposerProject {
        Self::with_repositories(server, &[url], user, token)
    }

    /// A project whose repositories are `urls` on the server, in that order (e.g. the
    /// private repository, then a mirror).
    pub fn with_repositories(
        server: &Server,
        urls: &[&str],
        user: &str,
        token: &str,
    ) -> ComposerProject {
        Self::for_host(server.host(), urls, user, token)
    }

    /// A project whose repositories are `urls`, with credentials for `host` (a load
    /// balancer in front of the servers, say).
    pub fn for_host(host: &str, urls: &[&str], user: &str, token: &str) -> ComposerProject {
        require_composer();
        let dir = TempDir::new("composer-project");
        let home = TempDir::new("composer-home");
        let mut repositories: serde_json::Map<String, serde_json::Value> = urls
            .iter()
            .enumerate()
            .map(|(i, url)| {
                let name = if i == 0 {
                    "private".to_owned()
                } else {
                    format!("repo{i}")
                };
                (name, serde_json::json!({"type": "composer", "url": url}))
            })
            .collect();
        repositories.insert("packagist.org".into(), serde_json::Value::Bool(false));
        let manifest = serde_json::json!({
            "name": "test/project",
            "repositories": repositories,
            "config": {"secure-http": false},
            "minimum-stability": "stable",
        });
        std::fs::write(
            dir.path().join("composer.json"),
            serde_json::to_vec_pretty(&manifest).unwrap(),
        )
        .unwrap();
        let auth = serde_json::json!({"http-basic": {host: {"username": user, "password": token}}});
        std::fs::write(dir.path().join("auth.json"), auth.to_string()).unwrap();
        ComposerProject { dir, home }
    }

    pub fn run(&self, args: &[&str]) -> Output {
        Command::new("composer")
            .args(args)
            .arg("--no-interaction")
            .arg("--no-ansi")
            .current_dir(self.dir.path())
            .env("COMPOSER_HOME", self.home.path())
            .env("COMPOSER_CACHE_DIR", self.home.path().join("cache"))
            .env("COMPOSER_NO_INTERACTION", "1")
            .env("COMPOSER_ALLOW_SUPERUSER", "1")
            .env("COMPOSER_DISABLE_NETWORK", "0")
            .output()
            .expect("running composer")
    }

    /// Sets the project's `require` (an object of names and constraints) in its
    /// composer.json, for a `composer install` to resolve.
    #[allow(dead_code)] // used by tests/scale_out.rs, a binary of its own
    pub fn set_requires(&self, requires: serde_json::Value) {
        let path = self.dir.path().join("composer.json");
        let mut manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        manifest["require"] = requires;
        std::fs::write(&path, serde_json::to_vec_pretty(&manifest).unwrap()).unwrap();
    }

    /// `composer require PACKAGE` (a name, or `name:constraint`); asserts it succeeded.
    pub fn require(&self, package: &str) {
        let output = self.run(&["require", package, "--no-audit"]);
        assert!(output.status.success(), "{}", output_text(&output));
    }

    pub fn lock(&self) -> serde_json::Value {
        let lock = std::fs::read(self.dir.path().join("composer.lock")).expect("composer.lock");
        serde_json::from_slice(&lock).unwrap()
    }

    pub fn installed_file(&self, relative: &str) -> Option<String> {
        std::fs::read_to_string(self.dir.path().join("vendor").join(relative)).ok()
    }
}

pub fn output_text(output: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn require_composer() {
    let found = Command::new("composer")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "the composer client is required: run scripts/test (it installs Debian's composer package)"
    );
}

/// Runs `work` (database work through sqlx's `Any` drivers) to its end, from a test
/// that is not async.
pub fn with_database_drivers<T>(work: impl std::future::Future<Output = T>) -> T {
    sqlx::any::install_default_drivers();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(work)
}

/// A fresh PostgreSQL database on the server scripts/test started; returns its URL.
pub fn postgres_database() -> String {
    let server = std::env::var("PACKYARD_TEST_POSTGRES")
        .expect("PACKYARD_TEST_POSTGRES is not set: run scripts/test, which starts PostgreSQL 15 and sets it");
    let name = unique_name("packyard_e2e").replace('-', "_");
    with_database_drivers(async {
        let admin = sqlx::AnyPool::connect(&format!("{server}/postgres"))
            .await
            .unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&admin)
            .await
            .unwrap();
    });
    format!("{server}/{name}")
}

pub fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

/// The SQLite database with its write-ahead log: a row just written may be in either.
pub fn database_files(server: &Server) -> Vec<(PathBuf, Vec<u8>)> {
    let files: Vec<(PathBuf, Vec<u8>)> = ["packyard.db", "packyard.db-wal", "packyard.db-shm"]
        .iter()
        .map(|name| server.data.path().join(name))
        .filter_map(|path| std::fs::read(&path).ok().map(|bytes| (path, bytes)))
        .collect();
    assert!(
        files.iter().any(|(path, _)| path.ends_with("packyard.db")),
        "no SQLite database in {}",
        server.data.path().display()
    );
    files
}

/// Every file under `root`, recursively, as a path relative to `root` (none if `root`
/// does not exist).
pub fn files_under(root: &Path) -> Vec<String> {
    let mut files = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            if entry.path().is_dir() {
                stack.push(entry.path());
            } else {
                files.push(
                    entry
                        .path()
                        .strip_prefix(root)
                        .unwrap()
                        .display()
                        .to_string(),
                );
            }
        }
    }
    files
}

/// A stand-in HTTP proxy on 127.0.0.1: it records the first line of every request it
/// gets (`POST http://host/path HTTP/1.1`, `CONNECT host:443 HTTP/1.1`) and answers
/// each with a 502, so a client that went through it fails visibly.
pub struct RecordingProxy {
    pub address: std::net::SocketAddr,
    requests: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl RecordingProxy {
    pub fn start() -> RecordingProxy {
        use std::io::Read;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let requests = std::sync::Arc::<std::sync::Mutex<Vec<String>>>::default();
        let recorded = requests.clone();
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                let mut head = [0u8; 4096];
                let read = stream.read(&mut head).unwrap_or(0);
                let text = String::from_utf8_lossy(&head[..read]);
                let line = text.lines().next().unwrap_or_default().to_owned();
                recorded.lock().unwrap().push(line);
                let _ = stream.write_all(
                    b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
            }
        });
        RecordingProxy { address, requests }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The proxy variables of curl, reqwest and most tools, all pointing at this proxy.
    pub fn environment(&self) -> Vec<(&'static str, String)> {
        [
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "ALL_PROXY",
            "http_proxy",
            "https_proxy",
            "all_proxy",
        ]
        .into_iter()
        .map(|name| (name, self.url()))
        .collect()
    }

    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

/// The counters of `/metrics` as an admin (`admin_token`) reads them, by series: no
/// histograms (their buckets follow timings) and not the scrapes' own requests.
pub fn metric_counters(
    server: &Server,
    admin_token: &str,
) -> std::collections::BTreeMap<String, f64> {
    let reply = get(
        &server.url("/metrics"),
        &[("Authorization", &basic("admin", admin_token))],
    );
    assert_eq!(reply.status, 200, "/metrics: {}", reply.text());
    reply
        .text()
        .lines()
        // The scrapes themselves grow as series appear: not what is compared.
        .filter(|line| !line.starts_with('#') && !line.contains("_seconds"))
        .filter(|line| !line.contains("route=\"/metrics\""))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect()
}

/// What moved between two readings of [`metric_counters`].
pub fn moved_counters(
    before: &std::collections::BTreeMap<String, f64>,
    after: &std::collections::BTreeMap<String, f64>,
) -> Vec<(String, f64)> {
    after
        .iter()
        .filter_map(|(series, value)| {
            let delta = value - before.get(series).copied().unwrap_or(0.0);
            (delta != 0.0).then(|| (series.clone(), delta))
        })
        .collect()
}

/// The login form's CSRF token and the cookie that carries it (`name=value`), as a
/// browser gets them with the form.
/// The session cookie a login answer sets (`Set-Cookie` as sent), if any.
pub fn session_cookie(reply: &Reply) -> Option<String> {
    reply
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| {
            let v = v.trim_start_matches("__Host-");
            v.starts_with("packyard_session=") && !v.starts_with("packyard_session=;")
        })
}

pub fn login_form(server: &Server, extra: &[(&str, &str)]) -> (String, String) {
    let page = get(&server.url("/login"), extra);
    let cookie = page
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| {
            v.trim_start_matches("__Host-")
                .starts_with("packyard_login_csrf=")
        })
        .expect("a login CSRF cookie");
    let value = cookie.split(';').next().unwrap().to_owned();
    let csrf = value.split_once('=').unwrap().1.to_owned();
    (csrf, value)
}

/// Logs in through the web form as a browser does, with `extra` headers on both
/// requests.
pub fn try_login(server: &Server, user: &str, password: &str, extra: &[(&str, &str)]) -> Reply {
    try_login_at(server, "/login", user, password, extra)
}

/// Logs in through the form that posts to `path` (`/login/ALIAS` for a directory).
pub fn try_login_at(
    server: &Server,
    path: &str,
    user: &str,
    password: &str,
    extra: &[(&str, &str)],
) -> Reply {
    let (csrf, cookie) = login_form(server, extra);
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("csrf", &csrf)
        .append_pair("username", user)
        .append_pair("password", password)
        .finish();
    let mut headers = vec![
        ("Cookie", cookie.as_str()),
        ("Content-Type", "application/x-www-form-urlencoded"),
    ];
    headers.extend_from_slice(extra);
    post(&server.url(path), &headers, body.as_bytes())
}

/// A private name's answer and an unknown name's, given in that order with the
/// [`metric_counters`] read before, between and after them, look alike to the client:
/// `/metrics` moved the same for both, and each took as long as the `round` allows — an
/// upstream's 300 ms in the `"first"`, none once the miss is `"remembered"`.
pub fn assert_alike(
    round: &str,
    [before, between, after]: [&std::collections::BTreeMap<String, f64>; 3],
    [private_took, unknown_took]: [Duration; 2],
) {
    assert_eq!(
        moved_counters(before, between),
        moved_counters(between, after),
        "{round}: /metrics tells them apart"
    );
    let (fast, slow) = if round == "first" {
        (Duration::from_millis(250), Duration::from_secs(2))
    } else {
        (Duration::ZERO, Duration::from_millis(250))
    };
    for (what, took) in [("private", private_took), ("unknown", unknown_took)] {
        assert!(
            took >= fast && took < slow,
            "{round}: the {what} name took {took:?}"
        );
    }
}

/// Where browser tests put their screenshots: `target/screenshots/`.
pub fn screenshots() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target dir")
        .join("screenshots")
}

/// Waits up to `within` for `done` to hold, checking every 100 ms; fails with
/// `what()` (what is seen instead) when it does not.
pub fn eventually(within: Duration, what: impl Fn() -> String, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "{}", what());
        std::thread::sleep(Duration::from_millis(100));
    }
}
