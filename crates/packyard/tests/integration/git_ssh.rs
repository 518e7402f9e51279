//! Git packages over ssh end to end: a real sshd on 127.0.0.1 (testkit's `SshServer`)
//! serves the tests' repositories. A private key given to `packyard package add
//! --ssh-key` or to `POST /api/create-package` is stored sealed with `PACKYARD_SECRET`,
//! and the server opens it again for every later fetch: re-scans queued by webhooks and
//! dists built on download. Host keys are pinned in packyard's own known_hosts.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::git::library;
use crate::common::*;
use serde_json::{Value, json};
use testkit::SshServer;

const LIB: &str = "acme/lib";
const OTHER: &str = "acme/other";
const SECRET: &str = "git-over-ssh test secret";
/// How long a re-scan queued by a webhook may take.
const SCAN_LIMIT: Duration = Duration::from_secs(60);

/// The base64 lines of an OpenSSH private key: any of them in a file means the key is
/// stored there in the clear (raw, or as a JSON string with `\n` escapes).
fn key_body_lines(key: &str) -> Vec<&str> {
    let lines: Vec<&str> = key
        .lines()
        .filter(|line| !line.starts_with("-----") && line.len() >= 40)
        .collect();
    assert!(!lines.is_empty(), "not an OpenSSH private key: {key}");
    lines
}

/// The base64 field of a public key line (`ssh-ed25519 AAAA... comment`).
fn key_base64(public_key: &str) -> String {
    public_key.split_whitespace().nth(1).unwrap().to_owned()
}

/// The known_hosts ssh writes to by default: the home directory of the user the
/// server runs as (ssh takes it from the password database, not `$HOME`).
fn home_known_hosts() -> PathBuf {
    let output = std::process::Command::new("sh")
        .args(["-c", "getent passwd \"$(id -u)\" | cut -d: -f6"])
        .output()
        .unwrap();
    let home = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    assert!(!home.is_empty(), "no home directory for the current user");
    Path::new(&home).join(".ssh/known_hosts")
}

/// Bare mirrors in the VCS cache (each has a HEAD file); the rest (keys, known_hosts)
/// is kept.
fn remove_mirrors(vcs_cache: &Path) {
    for entry in std::fs::read_dir(vcs_cache).unwrap().flatten() {
        if entry.path().join("HEAD").is_file() {
            std::fs::remove_dir_all(entry.path()).unwrap();
        }
    }
}

fn zip_file(archive: &[u8], suffix: &str) -> String {
    use std::io::Read;
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(archive)).unwrap();
    let name = zip
        .file_names()
        .map(|name| name.unwrap().into_owned())
        .find(|name| name.ends_with(suffix))
        .unwrap_or_else(|| panic!("no {suffix} in the dist"));
    let mut content = String::new();
    zip.by_name(&name)
        .unwrap()
        .read_to_string(&mut content)
        .unwrap();
    content
}

#[test]
fn ssh_keys_are_sealed_and_used_by_the_cli_the_api_jobs_and_dists() {
    testkit::needs!(Sshd, Git);
    let mut ssh = SshServer::start();
    let (repo, v100) = library(LIB, "v1.0.0");
    let url = ssh.url_for(repo.path());
    let key_path = ssh.client_key_path();
    let key = std::fs::read_to_string(&key_path).unwrap();
    // A cache path that must be quoted for sh and for ssh (which splits at spaces and
    // expands `%` tokens).
    let scratch = TempDir::new("vcs-cache");
    let vcs_cache = scratch.path().join("vcs cache's 100%h");
    let vcs_cache_text = vcs_cache.display().to_string();
    let (server, token) = server_with_maintainer(&[
        ("PACKYARD_SECRET", SECRET),
        ("PACKYARD_VCS_CACHE_DIR", &vcs_cache_text),
    ]);
    let home_known_hosts = home_known_hosts();
    let home_before = std::fs::read(&home_known_hosts).ok();

    // (a) Added from the command line, which reads the key file.
    let output = server.cli(&[
        "package",
        "add",
        &url,
        "--ssh-key",
        key_path.to_str().unwrap(),
    ]);
    assert!(
        output.status.success(),
        "{}\n--- sshd\n{}",
        output_text(&output),
        ssh.log()
    );
    assert!(
        ssh.log().contains("Accepted publickey"),
        "the scan went through sshd: {}",
        ssh.log()
    );
    // The server sees what the CLI added within its 2 s refresh of change stamps.
    wait_for_package(&server, "maintainer", &token, LIB);
    assert_eq!(
        versions(&server, "maintainer", &token, LIB),
        [("v1.0.0".into(), v100)]
    );

    // The key is sealed: no line of it is in the database, WAL included (where the
    // repository URL, stored in the clear, is found by the same search).
    let database = database_files(&server);
    assert!(
        database.iter().any(|(_, bytes)| contains(bytes, &url)),
        "the package row is in none of {:?}",
        database.iter().map(|(path, _)| path).collect::<Vec<_>>()
    );
    for (path, bytes) in database {
        for line in key_body_lines(&key) {
            assert!(
                !contains(&bytes, line),
                "{} holds the private key in the clear",
                path.display()
            );
        }
    }
    // The key's temporary file is gone once git is done.
    let leftover: Vec<_> = std::fs::read_dir(vcs_cache.join("keys"))
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(leftover.is_empty(), "key files left behind: {leftover:?}");

    // The host key is pinned in packyard's own known_hosts, not the service user's.
    let host_key = key_base64(&ssh.host_public_key());
    let known_hosts = vcs_cache.join("known_hosts");
    let pinned = std::fs::read_to_string(&known_hosts)
        .unwrap_or_else(|e| panic!("no {}: {e}", known_hosts.display()));
    assert!(pinned.contains(&host_key), "{pinned}");
    let home_after = std::fs::read(&home_known_hosts).ok();
    assert!(
        home_after == home_before,
        "{} was modified",
        home_known_hosts.display()
    );
    assert!(
        !home_after.is_some_and(|bytes| contains(&bytes, &host_key)),
        "{} learned the test server's host key",
        home_known_hosts.display()
    );

    // (b) A new tag and a push hook: the server opens the stored key for the re-scan.
    repo.write_library(LIB, "1.1.0", Value::Null);
    let v110 = repo.commit("1.1.0");
    repo.tag("v1.1.0");
    let job = update_package(&server, "maintainer", &token, &url, SCAN_LIMIT);
    assert_eq!(job["state"], "succeeded", "{job}\n--- sshd\n{}", ssh.log());
    assert!(
        versions(&server, "maintainer", &token, LIB).contains(&("v1.1.0".into(), v110.clone())),
        "{:?}",
        versions(&server, "maintainer", &token, LIB)
    );

    // The dist is built through ssh too: with the mirror gone (it is only a cache), the
    // first download fetches the repository again with the stored key.
    remove_mirrors(&vcs_cache);
    let logins = ssh.log().matches("Accepted publickey").count();
    let zipball = get(
        &server.url(&format!("/zipball/{LIB}/{v110}.zip")),
        &[("Authorization", &basic("maintainer", &token))],
    );
    assert_eq!(
        zipball.status,
        200,
        "{}\n--- sshd\n{}",
        zipball.text(),
        ssh.log()
    );
    assert!(zip_file(&zipball.body, "src/Lib.php").contains("'1.1.0'"));
    assert!(
        ssh.log().matches("Accepted publickey").count() > logins,
        "the dist build fetched over ssh: {}",
        ssh.log()
    );

    // (c) Over the API, with the key's text, for another repository on the same host.
    let (other, other_v100) = library(OTHER, "v1.0.0");
    let created = create_package(
        &server,
        "maintainer",
        &token,
        &json!({"url": ssh.url_for(other.path()), "credentials": {"ssh_key": key}}),
    );
    assert_eq!(
        created.status,
        201,
        "{}\n--- sshd\n{}",
        created.text(),
        ssh.log()
    );
    assert_eq!(created.json()["package"], OTHER);
    assert_eq!(
        versions(&server, "maintainer", &token, OTHER),
        [("v1.0.0".into(), other_v100)]
    );
    for (path, bytes) in database_files(&server) {
        for line in key_body_lines(&key) {
            assert!(!contains(&bytes, line), "{}", path.display());
        }
    }
    assert_eq!(std::fs::read(&home_known_hosts).ok(), home_before);

    // Pinned, not just trusted: a host whose key changed is refused, and packyard's
    // known_hosts keeps the first key.
    ssh.restart_with_new_host_key();
    let job = update_package(&server, "maintainer", &token, &url, SCAN_LIMIT);
    assert_eq!(job["state"], "failed", "{job}");
    assert!(
        job["error"]
            .as_str()
            .unwrap()
            .contains("Host key verification failed"),
        "{job}"
    );
    assert_eq!(std::fs::read_to_string(&known_hosts).unwrap(), pinned);
    assert!(
        versions(&server, "maintainer", &token, LIB).contains(&("v1.1.0".into(), v110)),
        "a failed scan loses no version"
    );
}

#[test]
fn ssh_keys_need_packyard_secret() {
    testkit::needs!(Sshd, Git);
    let ssh = SshServer::start();
    let (repo, _) = library(LIB, "v1.0.0");
    let url = ssh.url_for(repo.path());
    let key_path = ssh.client_key_path();
    let (server, token) = server_with_maintainer(&[]);

    adding_with_the_key_is_refused(&server, &token, &url, &key_path, 400, "PACKYARD_SECRET");
    assert!(
        !ssh.log().contains("Accepted publickey"),
        "nothing was fetched with a key that cannot be stored: {}",
        ssh.log()
    );
}

#[test]
fn a_key_the_host_does_not_accept_is_reported_with_ssh_s_words() {
    testkit::needs!(Sshd, Git);
    let ssh = SshServer::start();
    let (repo, _) = library(LIB, "v1.0.0");
    let url = ssh.url_for(repo.path());
    let keys = TempDir::new("other-ssh-key");
    let wrong_key = keys.path().join("id_ed25519");
    testkit::generate_ssh_key(&wrong_key);
    let (server, token) = server_with_maintainer(&[("PACKYARD_SECRET", SECRET)]);

    adding_with_the_key_is_refused(&server, &token, &url, &wrong_key, 422, "Permission denied");
    let missing = p2(&server, "maintainer", &token, LIB);
    assert_eq!(missing.status, 404, "nothing was added: {}", missing.text());
    assert!(
        !ssh.log().contains("Accepted publickey"),
        "sshd let the wrong key in: {}",
        ssh.log()
    );
}

#[test]
fn host_keys_are_pinned_where_packyard_ssh_known_hosts_says() {
    testkit::needs!(Sshd, Git);
    let ssh = SshServer::start();
    let (repo, _) = library(LIB, "v1.0.0");
    let key_path = ssh.client_key_path().display().to_string();
    let pins = TempDir::new("ssh-pins");
    let known_hosts = pins.path().join("durable/known_hosts");
    let known_hosts_text = known_hosts.display().to_string();
    let (server, _token) = server_with_maintainer(&[
        ("PACKYARD_SECRET", SECRET),
        ("PACKYARD_SSH_KNOWN_HOSTS", &known_hosts_text),
    ]);
    let output = server.cli(&[
        "package",
        "add",
        &ssh.url_for(repo.path()),
        "--ssh-key",
        &key_path,
    ]);
    assert!(output.status.success(), "{}", output_text(&output));
    let pinned =
        std::fs::read_to_string(&known_hosts).expect("the configured known_hosts was written");
    assert!(
        pinned.contains(&key_base64(&ssh.host_public_key())),
        "{pinned}"
    );
    assert!(
        !server.data.path().join("vcs/known_hosts").exists(),
        "nothing pinned in the VCS cache"
    );
}

/// Adding `url` with the key at `key_path` fails alike from the command line (naming
/// `words` on stderr) and over the API (`status`, naming `words`).
fn adding_with_the_key_is_refused(
    server: &Server,
    token: &str,
    url: &str,
    key_path: &std::path::Path,
    status: u16,
    words: &str,
) {
    let output = server.cli(&[
        "package",
        "add",
        url,
        "--ssh-key",
        key_path.to_str().unwrap(),
    ]);
    assert!(!output.status.success(), "{}", output_text(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains(words),
        "{}",
        output_text(&output)
    );
    let key = std::fs::read_to_string(key_path).unwrap();
    let refused = create_package(
        server,
        "maintainer",
        token,
        &json!({"url": url, "credentials": {"ssh_key": key}}),
    );
    assert_eq!(refused.status, status, "{}", refused.text());
    assert!(refused.text().contains(words), "{}", refused.text());
}

/// Runs its arguments in a mount namespace of its own where `PACKYARD_SSH_KNOWN_HOSTS`
/// is a read-only bind mount of itself, as a Kubernetes ConfigMap's file is.
const READ_ONLY_KNOWN_HOSTS: &str = r#"set -e
mount --bind "$PACKYARD_SSH_KNOWN_HOSTS" "$PACKYARD_SSH_KNOWN_HOSTS"
mount -o remount,bind,ro "$PACKYARD_SSH_KNOWN_HOSTS"
if (: >> "$PACKYARD_SSH_KNOWN_HOSTS") 2>/dev/null; then
    echo "the known_hosts file is still writable" >&2
    exit 97
fi
exec "$@"
"#;

#[test]
fn a_known_hosts_file_packyard_cannot_write_lists_the_only_hosts_trusted() {
    testkit::needs!(Sshd, Git);
    let ssh = SshServer::start();
    let (repo, v100) = library(LIB, "v1.0.0");
    let url = ssh.url_for(repo.path());
    let key = std::fs::read_to_string(ssh.client_key_path()).unwrap();
    let dir = TempDir::new("known-hosts");
    let known_hosts = dir.path().join("known_hosts");
    std::fs::write(&known_hosts, "").unwrap();
    let known_hosts_text = known_hosts.display().to_string();
    let server = Server::start_wrapped(
        &["unshare", "-m", "sh", "-c", READ_ONLY_KNOWN_HOSTS, "sh"],
        &[
            ("PACKYARD_SECRET", SECRET),
            ("PACKYARD_SSH_KNOWN_HOSTS", &known_hosts_text),
        ],
    );
    let token = server.add_maintainer("maintainer");
    let repository = json!({"url": url, "credentials": {"ssh_key": key}});

    // A host that is not listed is refused, not trusted on first use.
    let refused = create_package(&server, "maintainer", &token, &repository);
    assert!(
        refused.status >= 400 && refused.text().contains("Host key verification failed"),
        "{} {}",
        refused.status,
        refused.text()
    );
    assert!(
        !ssh.log().contains("Accepted publickey"),
        "packyard logged in to a host it does not list: {}",
        ssh.log()
    );
    assert_eq!(std::fs::read_to_string(&known_hosts).unwrap(), "");

    // Listed (as an operator updates the ConfigMap), it is trusted.
    std::fs::write(
        &known_hosts,
        format!("[127.0.0.1]:{} {}\n", ssh.port, ssh.host_public_key()),
    )
    .unwrap();
    let created = create_package(&server, "maintainer", &token, &repository);
    assert_eq!(
        created.status,
        201,
        "{}\n--- sshd\n{}",
        created.text(),
        ssh.log()
    );
    assert_eq!(
        versions(&server, "maintainer", &token, LIB),
        [("v1.0.0".into(), v100)]
    );
}
