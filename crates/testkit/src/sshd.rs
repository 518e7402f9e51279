//! OpenSSH's sshd, for git over ssh.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::{Service, TempDir, free_port};

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
