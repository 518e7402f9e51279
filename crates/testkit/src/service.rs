//! Child processes serving on a free port of 127.0.0.1, killed and reaped on drop.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process killed and reaped on drop.
pub struct Service {
    child: Child,
    pub port: u16,
    name: &'static str,
}

impl Service {
    pub(crate) fn spawn(name: &'static str, command: &mut Command, port: u16) -> Service {
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let mut service = Service { child, port, name };
        service.wait_for_port(Duration::from_secs(30), None);
        service
    }

    /// [`Service::spawn`] with the process's stdout and stderr appended to `log`, whose
    /// content a failure to start quotes.
    pub(crate) fn spawn_logged(
        name: &'static str,
        command: &mut Command,
        port: u16,
        log: &Path,
    ) -> Service {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap_or_else(|e| panic!("opening {}: {e}", log.display()));
        let child = command
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let mut service = Service { child, port, name };
        service.wait_for_port(Duration::from_secs(30), Some(log));
        service
    }

    fn wait_for_port(&mut self, limit: Duration, log: Option<&Path>) {
        let deadline = Instant::now() + limit;
        let address = SocketAddr::from(([127, 0, 0, 1], self.port));
        let logged = || {
            log.map(|log| {
                format!(
                    "; its log:\n{}",
                    std::fs::read_to_string(log).unwrap_or_default()
                )
            })
            .unwrap_or_default()
        };
        while TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_err() {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "{} exited before listening: {status}{}",
                    self.name,
                    logged()
                );
            }
            assert!(
                Instant::now() < deadline,
                "{} did not listen within {limit:?}{}",
                self.name,
                logged()
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
