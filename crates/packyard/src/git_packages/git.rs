//! The `git` command, driven asynchronously: one process per step, never one per ref.
//!
//! A repository is kept as a bare mirror of its branches and tags in a cache directory:
//! `git ls-remote` tells what the remote has (and its default branch), `git fetch`
//! brings the mirror up to date only when that differs from the mirror, one
//! `git for-each-ref` lists refs, peeled commits and dates, one `git cat-file --batch`
//! reads a file at every commit, and [`archive`] builds dists.
//!
//! The mirror is a `git clone --bare --filter=blob:none` (branches and tags, their
//! commits and trees, no file contents) whose config then forgets the URL: later
//! commands that reach the remote are given it as `remote.origin.url` in the
//! environment, and name the refspecs `refs/heads/*` and `refs/tags/*` themselves. Not
//! `git clone --mirror`: a mirror clone keeps the URL (and any password in it) in its
//! config and also fetches every `refs/pull/*` a forge publishes, which can outnumber
//! the branches a hundred to one.
//!
//! A scan needs only the refs and the `composer.json` (and README) at each of them:
//! [`Mirror::blobs_at`] finds those files' blobs in the trees and
//! [`Mirror::fetch_missing`] fetches the missing ones in one request. A dist build fetches the rest of its commit the same
//! way when it is first asked for ([`Mirror::archive`]). A server that does not offer
//! partial clones (a `git daemon` without `uploadpack.allowFilter`, an old server)
//! ignores the filter and sends everything, as a plain clone: nothing is missing then,
//! and nothing is fetched later. Commands that do not reach the remote run with
//! `GIT_NO_LAZY_FETCH`, so they never fetch behind our back one object at a time.
//!
//! git runs without prompts (`GIT_TERMINAL_PROMPT=0`, no askpass), in the C locale so
//! that its messages are the ones users search for, and with the caller's credentials
//! passed in the environment (`GIT_CONFIG_*`), never on the command line or in a config
//! file. Every failure carries git's stderr, trimmed, as git wrote it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, LazyLock, Mutex};

use base64::Engine;
use composer::vcs::RefKind;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;

use crate::outbound::NetworkPolicy;
use crate::repository_url;

/// Bumped whenever what a scan derives from the same refs changes, so that every
/// repository is derived again once after an upgrade.
const FINGERPRINT_FORMAT: &str = "packyard-git-refs 1";

/// The only variables of packyard's environment git sees: where programs are, where
/// scratch files go, and which CA certificates to trust. Everything else —
/// `PACKYARD_SECRET`, cloud keys, `DATABASE_URL`, a parent git's `GIT_DIR`, an ssh
/// agent, and the `*_proxy` variables, with which a proxy would resolve names past the
/// network policy (`PACKYARD_OUTBOUND_PROXY` is the opt-in) — stays out of git and of
/// what it runs.
const PASSED_TO_GIT: [&str; 4] = ["PATH", "TMPDIR", "SSL_CERT_FILE", "SSL_CERT_DIR"];

/// The transports git may use (`GIT_ALLOW_PROTOCOL`); `file` is added for repositories
/// on the server's disk, which only the command line (or
/// `PACKYARD_ALLOW_LOCAL_REPOSITORIES`) can add. `ext::` and the rest never run.
const NETWORK_PROTOCOLS: &str = "https:http:ssh:git";

/// The most of git's stderr an error carries.
const MAX_ERROR_TEXT: usize = 2000;

/// The widest commit subject [`Mirror::subjects_between`] gives, in columns.
pub const MAX_SUBJECT_COLUMNS: usize = 250;

/// How to authenticate to the remote, supplied per repository.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct GitAuth {
    /// User name and password (or token) for http(s) URLs, sent as an
    /// `Authorization: Basic` header.
    pub https_basic: Option<(String, String)>,
    /// A private key file for ssh URLs.
    pub ssh_key_path: Option<PathBuf>,
    /// The known_hosts file that ssh (with `ssh_key_path`) reads and adds host keys to:
    /// a host is trusted on first use and pinned from then on. `None` leaves ssh's
    /// default, the user's `~/.ssh/known_hosts`.
    pub known_hosts: Option<PathBuf>,
}

impl fmt::Debug for GitAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitAuth")
            .field(
                "https_basic",
                &self.https_basic.as_ref().map(|(user, _)| (user, "***")),
            )
            .field("ssh_key_path", &self.ssh_key_path)
            .field("known_hosts", &self.known_hosts)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("could not run git: {0}")]
    Spawn(#[source] std::io::Error),
    /// git exited with an error; the message is its stderr, verbatim and trimmed.
    #[error("{}", if .stderr.is_empty() { format!("git {command} failed ({status})") } else { .stderr.clone() })]
    Failed {
        command: &'static str,
        status: std::process::ExitStatus,
        stderr: String,
    },
    #[error("git {command} printed something unexpected: {detail}")]
    UnexpectedOutput {
        command: &'static str,
        detail: String,
    },
    #[error("not a commit id: {0:?}")]
    InvalidCommit(String),
    #[error("the repository may not be reached: {0}")]
    Refused(#[source] crate::outbound::Refused),
    #[error(
        "the repository is larger than PACKYARD_MAX_REPO_SIZE ({limit} bytes); the transfer was stopped"
    )]
    TooLarge { limit: u64 },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl GitError {
    /// Whether the remote refused us for want of (right) credentials. git says so only
    /// in words: with prompts off it reports an HTTP 401 as being unable to ask for a
    /// user name, whether or not credentials were sent.
    pub fn is_refused_credentials(&self) -> bool {
        let GitError::Failed { stderr, .. } = self else {
            return false;
        };
        [
            "could not read Username",
            "Authentication failed",
            "returned error: 401",
            "returned error: 403",
        ]
        .iter()
        .any(|sign| stderr.contains(sign))
    }

    fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> GitError {
        let context = context.into();
        move |source| GitError::Io { context, source }
    }
}

/// The refs of a repository as far as packages are concerned: every branch and tag
/// with its object (and, for an annotated tag, the commit it peels to as
/// `refs/tags/NAME^{}`), and the branch HEAD names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RefListing {
    /// Full ref name → object id, sorted by name.
    pub refs: BTreeMap<String, String>,
    /// The default branch's short name.
    pub head: Option<String>,
}

impl RefListing {
    /// A digest of the listing that changes when any branch, tag or the default branch
    /// does; what a scan derives depends on nothing else.
    pub fn fingerprint(&self) -> String {
        let mut hasher = Sha256::new();
        hasher.update(FINGERPRINT_FORMAT);
        hasher.update(format!("\nHEAD {}\n", self.head.as_deref().unwrap_or("")));
        for (name, object) in &self.refs {
            hasher.update(format!("{object} {name}\n"));
        }
        hex::encode(hasher.finalize())
    }

    pub fn is_empty(&self) -> bool {
        self.refs.is_empty()
    }
}

/// One branch or tag of the mirror.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorRef {
    /// The short name (`main`, `v1.0.0`).
    pub name: String,
    pub kind: RefKind,
    /// The object the ref names: a commit, or a tag object for annotated tags.
    pub object: String,
    /// What the ref ends at after peeling tags, and its type (`commit`, `tree`, ...).
    pub target: String,
    pub target_type: String,
    /// The author time of `target` when it is a commit.
    pub time: Option<i64>,
}

/// What a path holds at one commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileAt {
    Missing,
    /// The file's bytes, shared by every commit where the file is the same blob.
    File(Arc<[u8]>),
    /// A file larger than the caller's limit (its size), left unread.
    TooLarge(u64),
    /// A file left unread because the files read before it reached the caller's limit
    /// for all of them together.
    OverBudget,
    /// Something other than a file: a directory (`tree`) or a submodule.
    NotAFile(String),
}

pub use crate::config::limits::DEFAULT_MAX_REPO_SIZE;

/// How often a clone or fetch in progress has its mirror's size measured.
const SIZE_CHECK_INTERVAL: std::time::Duration = std::time::Duration::from_millis(250);

/// The bare mirror of one remote repository.
pub struct Mirror {
    url: String,
    dir: PathBuf,
    auth: GitAuth,
    max_size: u64,
    policy: NetworkPolicy,
}

impl Mirror {
    pub fn new(url: &str, dir: &Path, auth: &GitAuth) -> Self {
        Self {
            url: url.to_owned(),
            dir: dir.to_owned(),
            auth: auth.clone(),
            max_size: DEFAULT_MAX_REPO_SIZE,
            policy: NetworkPolicy::default(),
        }
    }

    /// The addresses git may connect to (`PACKYARD_ALLOW_NETWORKS`,
    /// `PACKYARD_DENY_NETWORKS`); the default policy refuses loopback and link-local.
    #[must_use]
    pub fn with_network_policy(mut self, policy: NetworkPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The most the mirror may hold on disk (`PACKYARD_MAX_REPO_SIZE`): a clone or fetch
    /// that grows it past this is killed and the mirror removed.
    #[must_use]
    pub fn with_max_size(mut self, bytes: u64) -> Self {
        self.max_size = bytes;
        self
    }

    /// Brings the mirror up to date (creating it when absent), for callers that need
    /// its commits rather than a scan.
    pub async fn update(&self) -> Result<(), GitError> {
        let _exclusive = self.lock().await;
        let remote = self.remote_listing().await?;
        self.sync(&remote).await.map(drop)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The branch the mirror's HEAD names (the remote's default), whether or not it
    /// exists.
    pub fn head_branch(&self) -> Option<String> {
        let head = std::fs::read_to_string(self.dir.join("HEAD")).ok()?;
        head.trim()
            .strip_prefix("ref: refs/heads/")
            .map(str::to_owned)
    }

    /// Whether the mirror has been created (it may still be out of date).
    pub fn exists(&self) -> bool {
        self.dir.join("HEAD").is_file() && self.dir.join("objects").is_dir()
    }

    /// Serializes work on this mirror within the process: two fetches into one
    /// repository at once fail on each other's ref locks.
    pub async fn lock(&self) -> tokio::sync::OwnedMutexGuard<()> {
        static LOCKS: LazyLock<Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>> =
            LazyLock::new(Mutex::default);
        let lock = LOCKS
            .lock()
            .expect("mirror lock table is never poisoned")
            .entry(self.dir.clone())
            .or_default()
            .clone();
        lock.lock_owned().await
    }

    /// What the remote has: `git ls-remote --symref`, branches and tags only.
    pub async fn remote_listing(&self) -> Result<RefListing, GitError> {
        let cmd = self
            .remote_command(None, &["ls-remote", "--symref", "--", &self.url])
            .await?;
        let output = self.finish("ls-remote", cmd, None, None).await?;
        let mut listing = RefListing::default();
        for line in output.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let line = String::from_utf8_lossy(line);
            let (left, name) = line
                .split_once('\t')
                .ok_or_else(|| unexpected("ls-remote", &line))?;
            if let Some(target) = left.strip_prefix("ref: ") {
                if name == "HEAD" {
                    listing.head = target.strip_prefix("refs/heads/").map(str::to_owned);
                }
            } else if is_package_ref(name) {
                listing.refs.insert(name.to_owned(), left.to_owned());
            }
        }
        Ok(listing)
    }

    /// Creates the mirror or brings it up to `remote`: fetches only when the refs differ
    /// and points HEAD at the remote's default branch (Composer's `master` when the
    /// remote names none). Returns the mirror's refs afterwards.
    pub async fn sync(
        &self,
        remote: &RefListing,
    ) -> Result<(RefListing, Vec<MirrorRef>), GitError> {
        let head = remote.head.as_deref().unwrap_or("master");
        if !self.exists() {
            self.create(Some(head)).await?;
            return self.refs().await;
        }
        let (mut listing, mut refs) = self.refs().await?;
        if listing.refs != remote.refs {
            if let Err(error) = self.fetch(&self.dir).await {
                if matches!(error, GitError::TooLarge { .. }) {
                    // What the killed fetch left is over the limit and of no use.
                    remove_dir(&self.dir).await?;
                }
                return Err(error);
            }
            // One packed-refs file keeps for-each-ref on the no-change path one read.
            self.run_in("pack-refs", &["pack-refs", "--all"], &self.dir)
                .await?;
        }
        if listing.head.as_deref() != Some(head) {
            self.set_head(&self.dir, head).await?;
        }
        if listing.refs != remote.refs || listing.head.as_deref() != Some(head) {
            (listing, refs) = self.refs().await?;
        }
        Ok((listing, refs))
    }

    /// Creates the mirror, which must not exist yet, without asking the remote what it
    /// has first: the clone tells (its refs, and HEAD where the remote's points, or
    /// Composer's `master` when the remote names no branch). One round trip fewer than
    /// [`Self::sync`] for a first scan.
    pub async fn create_new(&self) -> Result<(RefListing, Vec<MirrorRef>), GitError> {
        self.create(None).await?;
        let (listing, refs) = self.refs().await?;
        if listing.head.is_some() || refs.is_empty() {
            return Ok((listing, refs));
        }
        self.set_head(&self.dir, "master").await?;
        self.refs().await
    }

    /// A new mirror is built beside its final place and renamed into it, so that a
    /// failed first fetch leaves nothing that looks like a mirror.
    async fn create(&self, head: Option<&str>) -> Result<(), GitError> {
        let parent = self.dir.parent().unwrap_or(Path::new("."));
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(GitError::io(format!("creating {}", parent.display())))?;
        let dir_name = self.dir.file_name().map_or_else(
            || "mirror".into(),
            |name| name.to_string_lossy().into_owned(),
        );
        let building = self
            .dir
            .with_file_name(format!("{dir_name}.building-{}", std::process::id()));
        if tokio::fs::metadata(&building).await.is_ok() {
            remove_dir(&building).await?;
        }
        if tokio::fs::metadata(&self.dir).await.is_ok() {
            // Not a mirror (checked by the caller): left over from an interrupted run.
            remove_dir(&self.dir).await?;
        }
        let building_arg = building.to_string_lossy();
        let result = async {
            // Clone, not init + fetch: clone writes all refs into one packed-refs file,
            // where fetch creates a file per ref (10x slower for a thousand tags).
            // `--bare` takes branches and tags only; `--no-local` copies objects
            // rather than hard-linking another user's files; `--filter=blob:none`
            // leaves file contents on the server until a scan or a dist needs them.
            let clone = self
                .remote_command(
                    None,
                    &[
                        "clone",
                        "--bare",
                        "--no-local",
                        "--filter=blob:none",
                        "--quiet",
                        "--",
                        &self.url,
                        &building_arg,
                    ],
                )
                .await?;
            self.finish("clone", clone, Some(&building), None).await?;
            // Later commands are given the URL; a password in it stays off the disk.
            // The remote itself stays as the promisor the missing blobs come from —
            // unless the clone came whole without one (git's dumb HTTP protocol, which
            // knows no filters, writes no `.promisor` pack): then it is a plain mirror.
            // (A bare clone writes no fetch refspec: the URL is all there is.)
            let forget = if has_promisor_pack(&building).await {
                ["config", "--unset-all", "remote.origin.url"]
            } else {
                ["config", "--remove-section", "remote.origin"]
            };
            self.run_in("config", &forget, &building).await?;
            match head {
                Some(head) => self.set_head(&building, head).await,
                None => Ok(()),
            }
        }
        .await;
        if let Err(error) = result {
            let _ = tokio::fs::remove_dir_all(&building).await;
            return Err(error);
        }
        tokio::fs::rename(&building, &self.dir)
            .await
            .map_err(GitError::io(format!(
                "moving the new mirror to {}",
                self.dir.display()
            )))
    }

    async fn fetch(&self, git_dir: &Path) -> Result<(), GitError> {
        let fetch = self
            .remote_command(
                Some(git_dir),
                &[
                    "fetch",
                    "--quiet",
                    "--prune",
                    "--prune-tags",
                    "--no-tags",
                    "--no-write-fetch-head",
                    "--",
                    "origin",
                    "+refs/heads/*:refs/heads/*",
                    "+refs/tags/*:refs/tags/*",
                ],
            )
            .await?;
        self.finish("fetch", fetch, Some(git_dir), None)
            .await
            .map(drop)
    }

    /// The blobs of `names` (files at the root of the tree) at each of `commits`, read
    /// from the trees alone (a partial mirror has them all): two local git commands,
    /// however many commits. Give them to [`Self::fetch_missing`], which fetches those
    /// the mirror lacks in one request.
    pub async fn blobs_at(
        &self,
        commits: &[&str],
        names: &[&str],
    ) -> Result<Vec<String>, GitError> {
        for commit in commits {
            check_commit_id(commit)?;
        }
        let Some(first) = commits.first() else {
            return Ok(Vec::new());
        };
        let trees = self
            .run_with_input(
                "cat-file",
                &["cat-file", "--batch-check=%(objectname) %(objecttype)"],
                commits
                    .iter()
                    .flat_map(|commit| format!("{commit}^{{tree}}\n").into_bytes())
                    .collect(),
            )
            .await?;
        // Each tree against the empty tree: every file at its root is "added", with
        // its blob id, read from the trees alone.
        let empty_tree = empty_tree_of(first);
        let mut pairs = Vec::new();
        for line in trees.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let line = String::from_utf8_lossy(line);
            if let Some(tree) = line.strip_suffix(" tree") {
                pairs.extend_from_slice(format!("{empty_tree} {tree}\n").as_bytes());
            }
        }
        let mut args = vec!["diff-tree", "--stdin", "--no-renames", "--"];
        args.extend_from_slice(names);
        let added = self.run_with_input("diff-tree", &args, pairs).await?;
        let blobs: BTreeSet<&str> = added
            .split(|&b| b == b'\n')
            .filter_map(|line| added_blob(std::str::from_utf8(line).ok()?))
            .collect();
        Ok(blobs.into_iter().map(str::to_owned).collect())
    }

    /// Fetches whatever of `commit`'s tree the mirror lacks, in one request.
    async fn complete(&self, commit: &str) -> Result<(), GitError> {
        check_commit_id(commit)?;
        let listed = self
            .run_in(
                "rev-list",
                &[
                    "rev-list",
                    "--objects",
                    "--no-walk",
                    "--missing=print",
                    commit,
                ],
                &self.dir,
            )
            .await?;
        let missing: Vec<String> = listed
            .split(|&b| b == b'\n')
            .filter_map(|line| line.strip_prefix(b"?"))
            .map(|oid| String::from_utf8_lossy(oid).into_owned())
            .collect();
        self.fetch_objects(&missing).await
    }

    /// Of `objects`, fetches those the mirror lacks, in one request.
    pub async fn fetch_missing(&self, objects: Vec<String>) -> Result<(), GitError> {
        if objects.is_empty() {
            return Ok(());
        }
        let checked = self
            .run_with_input(
                "cat-file",
                &["cat-file", "--batch-check=%(objectname)"],
                objects
                    .iter()
                    .flat_map(|oid| format!("{oid}\n").into_bytes())
                    .collect(),
            )
            .await?;
        let missing: Vec<String> = checked
            .split(|&b| b == b'\n')
            .filter_map(|line| line.strip_suffix(b" missing"))
            .map(|oid| String::from_utf8_lossy(oid).into_owned())
            .collect();
        self.fetch_objects(&missing).await
    }

    /// Fetches `objects` by id from the remote in one request, as git's own lazy fetch
    /// of a partial clone does for one object at a time.
    async fn fetch_objects(&self, objects: &[String]) -> Result<(), GitError> {
        if objects.is_empty() {
            return Ok(());
        }
        for oid in objects {
            check_commit_id(oid)?;
        }
        let fetch = self
            .remote_command(
                Some(&self.dir),
                &[
                    "-c",
                    "fetch.negotiationAlgorithm=noop",
                    // A few blobs more are no reason to repack the mirror now.
                    "-c",
                    "maintenance.auto=false",
                    "fetch",
                    "--quiet",
                    "--no-tags",
                    "--no-write-fetch-head",
                    "--recurse-submodules=no",
                    "--filter=blob:none",
                    "--stdin",
                    "origin",
                ],
            )
            .await?;
        let input = objects
            .iter()
            .flat_map(|oid| format!("{oid}\n").into_bytes())
            .collect();
        self.finish("fetch", fetch, Some(&self.dir), Some(input))
            .await
            .map(drop)
    }

    /// Writes the zip of `commit` to `output` ([`archive`]), first fetching what of the
    /// commit a partial mirror lacks.
    pub async fn archive(&self, commit: &str, output: &Path) -> Result<(), GitError> {
        {
            let _exclusive = self.lock().await;
            self.complete(commit).await?;
        }
        archive(&self.dir, commit, output).await
    }

    /// The subjects of the commits reachable from `to` and not from `from`, newest
    /// first, merges left out: at most `limit`, each cut to [`MAX_SUBJECT_COLUMNS`]
    /// columns (git marks a cut with `..`), so that what a repository holds cannot make
    /// the answer large. Both are commit ids, checked as such: neither can reach git as
    /// an option. Read from the mirror alone; a commit it lacks is an error.
    pub async fn subjects_between(
        &self,
        from: &str,
        to: &str,
        limit: usize,
    ) -> Result<Vec<String>, GitError> {
        check_commit_id(from)?;
        check_commit_id(to)?;
        let format = format!("--format=%<({MAX_SUBJECT_COLUMNS},trunc)%s");
        let max_count = format!("--max-count={limit}");
        let range = format!("{from}..{to}");
        let output = self
            .run_in(
                "log",
                &["log", "--no-merges", &format, &max_count, &range, "--"],
                &self.dir,
            )
            .await?;
        // `%<(N)` pads shorter subjects with spaces.
        Ok(String::from_utf8_lossy(&output)
            .lines()
            .map(|line| line.trim_end().to_owned())
            .collect())
    }

    async fn set_head(&self, git_dir: &Path, branch: &str) -> Result<(), GitError> {
        let target = format!("refs/heads/{branch}");
        self.run_in("symbolic-ref", &["symbolic-ref", "HEAD", &target], git_dir)
            .await
            .map(drop)
    }

    /// Every branch and tag of the mirror with its peeled target and date, and HEAD's
    /// branch, in one `git for-each-ref`.
    pub async fn refs(&self) -> Result<(RefListing, Vec<MirrorRef>), GitError> {
        const FORMAT: &str = "%(refname)%00%(objecttype)%00%(objectname)%00%(*objecttype)%00%(*objectname)%00%(authordate:unix)%00%(*authordate:unix)%00%(HEAD)";
        let output = self
            .run_in(
                "for-each-ref",
                &[
                    "for-each-ref",
                    &format!("--format={FORMAT}"),
                    "refs/heads/",
                    "refs/tags/",
                ],
                &self.dir,
            )
            .await?;
        let mut listing = RefListing::default();
        let mut refs = Vec::new();
        for line in output.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let line = String::from_utf8_lossy(line);
            let fields: Vec<&str> = line.split('\0').collect();
            let [
                refname,
                object_type,
                object,
                peeled_type,
                peeled,
                time,
                peeled_time,
                head,
            ] = fields[..]
            else {
                return Err(unexpected("for-each-ref", &line));
            };
            let (kind, name) = if let Some(name) = refname.strip_prefix("refs/heads/") {
                (RefKind::Branch, name)
            } else if let Some(name) = refname.strip_prefix("refs/tags/") {
                (RefKind::Tag, name)
            } else {
                return Err(unexpected("for-each-ref", &line));
            };
            listing.refs.insert(refname.to_owned(), object.to_owned());
            if head == "*" {
                listing.head = Some(name.to_owned());
            }
            let (target, target_type, time) = if object_type == "tag" {
                listing
                    .refs
                    .insert(format!("{refname}^{{}}"), peeled.to_owned());
                (peeled, peeled_type, peeled_time)
            } else {
                (object, object_type, time)
            };
            refs.push(MirrorRef {
                name: name.to_owned(),
                kind,
                object: object.to_owned(),
                target: target.to_owned(),
                target_type: target_type.to_owned(),
                time: time.parse().ok(),
            });
        }
        Ok((listing, refs))
    }

    /// `path` at each of `commits`, read in one `git cat-file --batch` (fetch their
    /// blobs first in a partial mirror: [`Self::blobs_at`]). A repository
    /// decides the sizes, so what is held is bounded: a file larger than `max_size`
    /// bytes is skipped unread, a blob that several commits share is held once, and
    /// once `max_total` bytes are held the remaining files are skipped too.
    pub async fn files_at(
        &self,
        commits: &[&str],
        path: &str,
        max_size: u64,
        max_total: u64,
    ) -> Result<HashMap<String, FileAt>, GitError> {
        for commit in commits {
            check_commit_id(commit)?;
        }
        // With the remote at hand: a blob not fetched beforehand is
        // fetched by git as it reads (one request per blob, slow but right) rather
        // than read as a missing file.
        let mut child = self
            .remote_command(Some(&self.dir), &["cat-file", "--batch", "--buffer"])
            .await?
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(GitError::Spawn)?;
        let mut stdin = child.stdin.take().expect("stdin is piped");
        let requests: Vec<u8> = commits
            .iter()
            .flat_map(|commit| format!("{commit}:{path}\n").into_bytes())
            .collect();
        // Written while the answers are read: git stops reading when its output pipe is full.
        let writer = tokio::spawn(async move {
            let written = stdin.write_all(&requests).await;
            drop(stdin);
            written
        });
        let mut stderr = child.stderr.take().expect("stderr is piped");
        let stderr_reader = tokio::spawn(async move {
            let mut text = Vec::new();
            let _ = stderr.read_to_end(&mut text).await;
            text
        });
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
        let mut files = HashMap::with_capacity(commits.len());
        let mut blobs = Blobs::new(max_size, max_total);
        let mut read_error = None;
        for commit in commits {
            match read_batch_answer(&mut stdout, &mut blobs).await {
                Ok(file) => {
                    files.insert((*commit).to_owned(), file);
                }
                Err(error) => {
                    read_error = Some(error);
                    break;
                }
            }
        }
        drop(stdout);
        let written = writer.await.expect("the writer task does not panic");
        let status = child.wait().await.map_err(GitError::Spawn)?;
        let stderr = stderr_reader.await.expect("the stderr task does not panic");
        if !status.success() {
            return Err(GitError::Failed {
                command: "cat-file",
                status,
                stderr: String::from_utf8_lossy(&stderr).trim().to_owned(),
            });
        }
        if let Some(error) = read_error {
            return Err(error);
        }
        written.map_err(GitError::io("writing to git cat-file"))?;
        Ok(files)
    }

    /// Runs git on the repository at `git_dir`, without the network.
    async fn run_in(
        &self,
        command: &'static str,
        args: &[&str],
        git_dir: &Path,
    ) -> Result<Vec<u8>, GitError> {
        let cmd = self.command(args, git_dir);
        self.finish(command, cmd, None, None).await
    }

    /// Runs git on the mirror, without the network, with `input` on its stdin.
    async fn run_with_input(
        &self,
        command: &'static str,
        args: &[&str],
        input: Vec<u8>,
    ) -> Result<Vec<u8>, GitError> {
        let cmd = self.command(args, &self.dir);
        self.finish(command, cmd, None, Some(input)).await
    }

    /// git on the repository at `git_dir`, without credentials and without the
    /// network: what a partial mirror lacks is missing, not fetched one object at a time.
    fn command(&self, args: &[&str], git_dir: &Path) -> Command {
        let mut cmd = git_command(None, &[], self.allowed_protocols());
        cmd.env("GIT_NO_LAZY_FETCH", "1");
        cmd.arg("--git-dir").arg(git_dir).args(args);
        cmd
    }

    /// git for a command that reaches the remote: the addresses its host resolves to
    /// are checked against the network policy first and, for http(s), git is pinned
    /// to them (`http.curloptResolve`), so a name cannot resolve to an allowed address
    /// for the check and to another for git. ssh and git:// connect by name; what they
    /// speak first is their own protocol, not a request a metadata service answers.
    async fn remote_command(
        &self,
        git_dir: Option<&Path>,
        args: &[&str],
    ) -> Result<Command, GitError> {
        // The promisor remote of a partial mirror, and the remote fetches name: given
        // here, never written to the mirror's config.
        let mut config = vec![("remote.origin.url", self.url.clone())];
        let endpoint = repository_url::endpoint(&self.url);
        // What the policy cannot judge does not reach git (validation refuses such URLs;
        // this holds for any stored before it did).
        if endpoint.is_none() && !repository_url::is_local(&self.url) {
            return Err(GitError::Refused(crate::outbound::Refused::Unjudgeable(
                crate::redact::redacted(&self.url),
            )));
        }
        if let Some(endpoint) = endpoint {
            let http = endpoint.scheme.starts_with("http");
            let literal = endpoint.host.parse::<std::net::IpAddr>().is_ok();
            let proxy = self.policy.proxy().filter(|_| http);
            if let Some(proxy) = proxy {
                // The operator's proxy resolves names: only literal addresses are ours
                // to judge (below), and there is nothing to pin.
                config.push(("http.proxy", proxy.to_owned()));
            }
            let addresses = if proxy.is_some() && !literal {
                Vec::new()
            } else {
                self.policy
                    .allowed_addresses(&endpoint.host, endpoint.port)
                    .await
                    .map_err(GitError::Refused)?
            };
            if http && proxy.is_none() && !literal {
                let list: Vec<String> = addresses
                    .iter()
                    .map(|address| match address.ip() {
                        std::net::IpAddr::V4(ip) => ip.to_string(),
                        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
                    })
                    .collect();
                config.push((
                    "http.curloptResolve",
                    format!("{}:{}:{}", endpoint.host, endpoint.port, list.join(",")),
                ));
            }
        }
        let mut cmd = git_command(Some(&self.auth), &config, self.allowed_protocols());
        if let Some(dir) = git_dir {
            cmd.arg("--git-dir").arg(dir);
        }
        cmd.args(args);
        Ok(cmd)
    }

    fn allowed_protocols(&self) -> &'static str {
        if repository_url::is_local(&self.url) {
            "https:http:ssh:git:file"
        } else {
            NETWORK_PROTOCOLS
        }
    }

    /// Runs `cmd` to its end. With `growing`, the directory git writes the mirror to is
    /// measured as it runs: past the mirror's size limit, git is killed.
    async fn finish(
        &self,
        command: &'static str,
        mut cmd: Command,
        growing: Option<&Path>,
        input: Option<Vec<u8>>,
    ) -> Result<Vec<u8>, GitError> {
        let mut child = cmd
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(GitError::Spawn)?;
        if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
            // Written while the output is read: git stops reading when its output pipe
            // is full. A git that exits early closes the pipe; its status says why.
            tokio::spawn(async move {
                let _ = stdin.write_all(&input).await;
            });
        }
        let group = ProcessGroup::of(&child);
        let output = match growing {
            None => child.wait_with_output().await,
            Some(dir) => tokio::select! {
                output = child.wait_with_output() => output,
                () = outgrows(dir, self.max_size) => {
                    return Err(GitError::TooLarge { limit: self.max_size });
                }
            },
        }
        .map_err(GitError::Spawn)?;
        group.ended();
        if let Some(dir) = growing
            && output.status.success()
            && directory_size(dir.to_owned()).await > self.max_size
        {
            return Err(GitError::TooLarge {
                limit: self.max_size,
            });
        }
        if output.status.success() {
            return Ok(output.stdout);
        }
        Err(GitError::Failed {
            command,
            status: output.status,
            stderr: self.reported(&output.stderr),
        })
    }

    /// What of git's stderr an error may carry: the password written into the URL
    /// (`https://user:secret@host/`) hidden, at most [`MAX_ERROR_TEXT`] characters, and
    /// for http(s) without the `remote:` lines in which git relays the body of an error
    /// answer: the server may be no git server at all (a metadata endpoint, an internal
    /// service), and its body is not ours to show.
    fn reported(&self, stderr: &[u8]) -> String {
        let text = String::from_utf8_lossy(stderr);
        let http = self.url.trim_start().starts_with("http");
        let kept: Vec<&str> = text
            .lines()
            .filter(|line| !(http && line.trim_start().starts_with("remote:")))
            .collect();
        let text = crate::redact::hide_password_of(&self.url, kept.join("\n").trim());
        match text.char_indices().nth(MAX_ERROR_TEXT) {
            Some((end, _)) => format!("{}…", &text[..end]),
            None => text,
        }
    }
}

/// Writes `git archive --format=zip` of `commit` to `output`, atomically: to a
/// temporary file beside it, synced, then renamed. The commit's `.gitattributes`
/// apply (`export-ignore`, `export-subst`); entry times are the commit's, so the
/// same commit always gives the same bytes.
async fn archive(mirror_dir: &Path, commit: &str, output: &Path) -> Result<(), GitError> {
    check_commit_id(commit)?;
    let file_name = output.file_name().map_or_else(
        || "archive".into(),
        |name| name.to_string_lossy().into_owned(),
    );
    let partial = output.with_file_name(format!(".{file_name}.partial-{}", std::process::id()));
    let file = std::fs::File::create(&partial)
        .map_err(GitError::io(format!("creating {}", partial.display())))?;
    let result = async {
        let child = git_command(None, &[], NETWORK_PROTOCOLS)
            .arg("--git-dir")
            .arg(mirror_dir)
            .args(["archive", "--format=zip", commit])
            .stdin(Stdio::null())
            .stdout(Stdio::from(
                file.try_clone()
                    .map_err(GitError::io("opening the archive file"))?,
            ))
            .stderr(Stdio::piped())
            .spawn()
            .map_err(GitError::Spawn)?;
        let finished = child.wait_with_output().await.map_err(GitError::Spawn)?;
        if !finished.status.success() {
            return Err(GitError::Failed {
                command: "archive",
                status: finished.status,
                stderr: String::from_utf8_lossy(&finished.stderr).trim().to_owned(),
            });
        }
        file.sync_all()
            .map_err(GitError::io("syncing the archive file"))?;
        tokio::fs::rename(&partial, output)
            .await
            .map_err(GitError::io(format!(
                "moving the archive to {}",
                output.display()
            )))
    }
    .await;
    if result.is_err() {
        let _ = tokio::fs::remove_file(&partial).await;
    }
    result
}

/// git with a predictable, prompt-free environment, and `auth`'s credentials if given.
fn git_command(
    auth: Option<&GitAuth>,
    extra_config: &[(&'static str, String)],
    protocols: &str,
) -> Command {
    let mut cmd = Command::new("git");
    // Its own process group, so that git's helpers (git-remote-https, ssh) end with it.
    cmd.kill_on_drop(true).process_group(0).env_clear();
    for variable in PASSED_TO_GIT {
        if let Some(value) = std::env::var_os(variable) {
            cmd.env(variable, value);
        }
    }
    cmd.env("GIT_TERMINAL_PROMPT", "0")
        // A home where nothing is: no ~/.gitconfig, no credential helper, no ~/.ssh.
        .env("HOME", "/nonexistent")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_ALLOW_PROTOCOL", protocols)
        // Set but empty: git then neither runs an askpass program nor prompts.
        .env("GIT_ASKPASS", "")
        .env("GCM_INTERACTIVE", "never")
        .env("LC_ALL", "C")
        // A transfer slower than 1 byte/s for a minute is a dead connection.
        .env("GIT_HTTP_LOW_SPEED_LIMIT", "1")
        .env("GIT_HTTP_LOW_SPEED_TIME", "60");
    // No redirects: one could lead to another host, past the network policy's check.
    let mut config: Vec<(&str, String)> = vec![("http.followRedirects", "false".to_owned())];
    config.extend(extra_config.iter().cloned());
    if let Some((user, password)) = auth.and_then(|a| a.https_basic.as_ref()) {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        config.push(("http.extraHeader", format!("Authorization: Basic {token}")));
    }
    let known_hosts = auth.and_then(|a| a.known_hosts.as_deref());
    cmd.env(
        "GIT_SSH_COMMAND",
        ssh_command(
            auth.and_then(|a| a.ssh_key_path.as_deref()),
            known_hosts,
            known_hosts.is_none_or(can_pin_new_hosts),
        ),
    );
    // Config through the environment: not visible in the process list, not stored.
    cmd.env("GIT_CONFIG_COUNT", config.len().to_string());
    for (index, (key, value)) in config.into_iter().enumerate() {
        cmd.env(format!("GIT_CONFIG_KEY_{index}"), key)
            .env(format!("GIT_CONFIG_VALUE_{index}"), value);
    }
    cmd
}

/// Whether ssh can add a host's key to `known_hosts`. A read-only file (a mounted
/// Kubernetes ConfigMap, say) is a list of the only hosts to trust: ssh's
/// `accept-new` would connect to any other host anyway, failing only to note its key.
fn can_pin_new_hosts(known_hosts: &Path) -> bool {
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(known_hosts)
        .is_ok()
}

/// An ssh command that reads no configuration (`-F /dev/null`), offers only the given
/// key (none without one: `IdentityFile=/dev/null` keeps ssh from trying the service
/// user's) and never asks anything. With `pin_new`, unknown hosts are trusted on first
/// use and pinned in `known_hosts`; without, only hosts listed there are; a host whose
/// key changed is refused either way.
fn ssh_command(key: Option<&Path>, known_hosts: Option<&Path>, pin_new: bool) -> String {
    // `-o IdentityFile=`, not `-i`: ssh checks an `-i` path as given but then opens it
    // after expanding `%` tokens, so no spelling of a path with `%` works there.
    let mut command = format!(
        "ssh -F /dev/null -o {} -o IdentitiesOnly=yes -o IdentityAgent=none -o BatchMode=yes -o StrictHostKeyChecking={}",
        ssh_path_option("IdentityFile", key.unwrap_or(Path::new("/dev/null"))),
        if pin_new { "accept-new" } else { "yes" }
    );
    if let Some(file) = known_hosts {
        command.push_str(" -o ");
        command.push_str(&ssh_path_option("UserKnownHostsFile", file));
    }
    command.push_str(" -o ConnectTimeout=30 -o ServerAliveInterval=15 -o ServerAliveCountMax=4");
    command
}

/// `NAME="path"` as one word for `sh` (which runs `GIT_SSH_COMMAND`), and quoted for
/// ssh, which splits option values at spaces and expands `%` tokens in file names.
fn ssh_path_option(name: &str, path: &Path) -> String {
    let value = path
        .to_string_lossy()
        .replace('\\', r"\\")
        .replace('"', r#"\""#)
        .replace('%', "%%");
    let word = format!("{name}=\"{value}\"");
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// The process group of a git command (git and the helpers it starts): killed whole
/// when the command is abandoned (a scan past its time, a mirror past its size) before
/// it ended. `kill_on_drop` alone would leave a helper such as git-remote-https
/// holding its connection.
struct ProcessGroup(Option<i32>);

impl ProcessGroup {
    fn of(child: &tokio::process::Child) -> Self {
        ProcessGroup(child.id().and_then(|pid| i32::try_from(pid).ok()))
    }

    /// git has exited and been waited for: nothing to kill.
    fn ended(mut self) {
        self.0 = None;
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        if let Some(group) = self.0 {
            // git led the group (`process_group(0)`); a group's id is not reused while
            // any of its processes lives, and once none does this fails harmlessly.
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(group),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

/// Completes once `dir` holds more than `limit` bytes (measured every
/// [`SIZE_CHECK_INTERVAL`]); never otherwise.
async fn outgrows(dir: &Path, limit: u64) {
    loop {
        tokio::time::sleep(SIZE_CHECK_INTERVAL).await;
        if directory_size(dir.to_owned()).await > limit {
            return;
        }
    }
}

/// The bytes of every file under `dir`; what cannot be read (a file git just
/// renamed) counts as nothing.
async fn directory_size(dir: PathBuf) -> u64 {
    fn walk(dir: &Path) -> u64 {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return 0;
        };
        entries
            .flatten()
            .map(|entry| match entry.file_type() {
                Ok(kind) if kind.is_dir() => walk(&entry.path()),
                Ok(kind) if kind.is_file() => entry.metadata().map_or(0, |m| m.len()),
                _ => 0,
            })
            .sum()
    }
    tokio::task::spawn_blocking(move || walk(&dir))
        .await
        .unwrap_or(0)
}

/// The blobs read so far by one `files_at`, by object id, and what may still be read.
struct Blobs {
    max_size: u64,
    remaining: u64,
    seen: HashMap<String, Arc<[u8]>>,
}

impl Blobs {
    fn new(max_size: u64, max_total: u64) -> Self {
        Blobs {
            max_size,
            remaining: max_total,
            seen: HashMap::new(),
        }
    }
}

/// One answer of `git cat-file --batch`: `<oid> <type> <size>\n<content>\n`, or
/// `<request> missing\n`. Content that is not kept is read past in small buffers.
async fn read_batch_answer<R: tokio::io::AsyncBufRead + Unpin>(
    reader: &mut R,
    blobs: &mut Blobs,
) -> Result<FileAt, GitError> {
    let mut header = Vec::new();
    (&mut *reader)
        .take(512)
        .read_until(b'\n', &mut header)
        .await
        .map_err(GitError::io("reading from git cat-file"))?;
    let header = String::from_utf8_lossy(&header);
    let header = header
        .strip_suffix('\n')
        .ok_or_else(|| unexpected("cat-file", &header))?;
    if header.ends_with(" missing") || header.ends_with(" ambiguous") {
        return Ok(FileAt::Missing);
    }
    let mut fields = header.split(' ');
    let (Some(oid), Some(object_type), Some(size), None) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err(unexpected("cat-file", header));
    };
    let size: u64 = size.parse().map_err(|_| unexpected("cat-file", header))?;
    // The content and the newline that ends it.
    let mut answer = reader.take(size + 1);
    let skipped = match object_type {
        "blob" if size > blobs.max_size => Some(FileAt::TooLarge(size)),
        "blob" => match blobs.seen.get(oid) {
            Some(known) => Some(FileAt::File(known.clone())),
            None if size > blobs.remaining => Some(FileAt::OverBudget),
            None => None,
        },
        other => Some(FileAt::NotAFile(other.to_owned())),
    };
    if let Some(skipped) = skipped {
        let passed = tokio::io::copy(&mut answer, &mut tokio::io::sink())
            .await
            .map_err(GitError::io("reading from git cat-file"))?;
        if passed != size + 1 {
            return Err(unexpected("cat-file", header));
        }
        return Ok(skipped);
    }
    let mut content = Vec::with_capacity(usize::try_from(size + 1).unwrap_or(0));
    answer
        .read_to_end(&mut content)
        .await
        .map_err(GitError::io("reading from git cat-file"))?;
    if content.pop() != Some(b'\n') || content.len() as u64 != size {
        return Err(unexpected("cat-file", header));
    }
    blobs.remaining -= size;
    let content: Arc<[u8]> = content.into();
    blobs.seen.insert(oid.to_owned(), content.clone());
    Ok(FileAt::File(content))
}

/// Whether a pack of the repository at `git_dir` came from a promisor remote: the clone
/// was partial, or asked to be from a server that speaks the protocol.
async fn has_promisor_pack(git_dir: &Path) -> bool {
    let Ok(mut packs) = tokio::fs::read_dir(git_dir.join("objects/pack")).await else {
        return false;
    };
    while let Ok(Some(pack)) = packs.next_entry().await {
        if pack.path().extension().is_some_and(|ext| ext == "promisor") {
            return true;
        }
    }
    false
}

/// The empty tree's id in the object format `commit` is written in (SHA-1 or SHA-256).
fn empty_tree_of(commit: &str) -> &'static str {
    if commit.len() == 64 {
        "6ef19b41225c5369f1c104d45d8d85efa9b057b53b14b4b9b939dd74decc5321"
    } else {
        "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
    }
}

/// The blob of a file `git diff-tree` reports added
/// (`:000000 100644 0000… BLOB A\tcomposer.json`); not a submodule's commit, nor the
/// tree pairs it echoes.
fn added_blob(line: &str) -> Option<&str> {
    let (status, _path) = line.strip_prefix(':')?.split_once('\t')?;
    let [_, mode, _, blob, _] = status.split(' ').collect::<Vec<_>>()[..] else {
        return None;
    };
    matches!(mode, "100644" | "100755" | "120000").then_some(blob)
}

fn is_package_ref(name: &str) -> bool {
    name.starts_with("refs/heads/") || name.starts_with("refs/tags/")
}

fn check_commit_id(commit: &str) -> Result<(), GitError> {
    if matches!(commit.len(), 40 | 64) && commit.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(GitError::InvalidCommit(commit.to_owned()))
    }
}

fn unexpected(command: &'static str, detail: &str) -> GitError {
    GitError::UnexpectedOutput {
        command,
        detail: detail.chars().take(200).collect(),
    }
}

async fn remove_dir(dir: &Path) -> Result<(), GitError> {
    tokio::fs::remove_dir_all(dir)
        .await
        .map_err(GitError::io(format!("removing {}", dir.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_follows_refs_and_head() {
        let mut listing = RefListing::default();
        listing
            .refs
            .insert("refs/heads/main".into(), "a".repeat(40));
        listing.head = Some("main".into());
        let first = listing.fingerprint();
        assert_eq!(first.len(), 64);
        assert_eq!(first, listing.clone().fingerprint());
        let mut moved = listing.clone();
        moved.refs.insert("refs/heads/main".into(), "b".repeat(40));
        assert_ne!(first, moved.fingerprint());
        let mut other_head = listing.clone();
        other_head.head = Some("2.x".into());
        assert_ne!(first, other_head.fingerprint());
    }

    #[test]
    fn only_branches_tags_and_peeled_tags_count() {
        for (name, counts) in [
            ("refs/heads/main", true),
            ("refs/tags/v1", true),
            ("refs/tags/v1^{}", true),
            ("refs/pull/1/head", false),
            ("refs/remotes/origin/main", false),
            ("HEAD", false),
        ] {
            assert_eq!(is_package_ref(name), counts, "{name}");
        }
    }

    #[tokio::test]
    async fn batch_answers_are_parsed() {
        let output =
            b"0123 blob 5\nhello\nabc:composer.json missing\n4567 tree 3\nxyz\n89ab blob 12\nhello world!\ncdef blob 2\nok\n"
                .to_vec();
        let mut reader = BufReader::new(&output[..]);
        let mut blobs = Blobs::new(10, 100);
        let file = |bytes: &[u8]| FileAt::File(bytes.into());
        assert_eq!(
            read_batch_answer(&mut reader, &mut blobs).await.unwrap(),
            file(b"hello")
        );
        assert_eq!(
            read_batch_answer(&mut reader, &mut blobs).await.unwrap(),
            FileAt::Missing
        );
        assert_eq!(
            read_batch_answer(&mut reader, &mut blobs).await.unwrap(),
            FileAt::NotAFile("tree".into())
        );
        // Over the limit: skipped unread, and the next answer still parses.
        assert_eq!(
            read_batch_answer(&mut reader, &mut blobs).await.unwrap(),
            FileAt::TooLarge(12)
        );
        assert_eq!(
            read_batch_answer(&mut reader, &mut blobs).await.unwrap(),
            file(b"ok")
        );
        assert!(read_batch_answer(&mut reader, &mut blobs).await.is_err());
    }

    #[tokio::test]
    async fn shared_blobs_are_held_once_and_the_total_is_bounded() {
        let output = b"0123 blob 4\nsame\n0123 blob 4\nsame\n4567 blob 6\nsecond\n89ab blob 3\nend\n89ab blob 3\nend\n".to_vec();
        let mut reader = BufReader::new(&output[..]);
        let mut blobs = Blobs::new(10, 12);
        let FileAt::File(first) = read_batch_answer(&mut reader, &mut blobs).await.unwrap() else {
            panic!("a file")
        };
        let FileAt::File(again) = read_batch_answer(&mut reader, &mut blobs).await.unwrap() else {
            panic!("a file")
        };
        assert!(Arc::ptr_eq(&first, &again), "one copy for one blob");
        // 4 + 6 of 12 bytes held: the 3-byte blob no longer fits, twice.
        assert!(matches!(
            read_batch_answer(&mut reader, &mut blobs).await.unwrap(),
            FileAt::File(_)
        ));
        for _ in 0..2 {
            assert_eq!(
                read_batch_answer(&mut reader, &mut blobs).await.unwrap(),
                FileAt::OverBudget
            );
        }
    }

    #[test]
    fn errors_hide_passwords_and_what_an_http_server_said() {
        let mirror = Mirror::new(
            "https://me:s3cret@example.com/x.git",
            Path::new("/tmp/m"),
            &GitAuth::default(),
        );
        assert_eq!(
            mirror.reported(
                b"remote: AccessKeyId: AKIA-from-the-body\nremote: Token: abc\nfatal: unable to access 'https://me:s3cret@example.com/x.git/': The requested URL returned error: 500\n"
            ),
            "fatal: unable to access 'https://me:***@example.com/x.git/': The requested URL returned error: 500"
        );
        // ssh and git:// speak to git servers, whose `remote:` lines explain a refusal.
        let ssh = Mirror::new(
            "git@example.com:x",
            Path::new("/tmp/m"),
            &GitAuth::default(),
        );
        assert_eq!(
            ssh.reported(
                b"remote: Repository not found.\nfatal: Could not read from remote repository.\n"
            ),
            "remote: Repository not found.\nfatal: Could not read from remote repository."
        );
        let long = "x".repeat(10 * MAX_ERROR_TEXT);
        assert_eq!(
            ssh.reported(long.as_bytes()).chars().count(),
            MAX_ERROR_TEXT + 1
        );
    }

    #[tokio::test]
    async fn git_runs_only_the_allowed_transports() {
        // `ext::` runs a command; git refuses it before doing anything.
        let scratch = std::env::temp_dir().join(format!("packyard-ext-{}", std::process::id()));
        let marker = scratch.with_extension("ran");
        let url = format!("ext::sh -c touch% {}", marker.display());
        let mirror = Mirror::new(&url, &scratch, &GitAuth::default());
        let error = mirror.remote_listing().await.unwrap_err();
        // Refused before git runs, as a remote the network policy cannot judge;
        // GIT_ALLOW_PROTOCOL would refuse it again in git.
        assert!(
            matches!(
                error,
                GitError::Refused(crate::outbound::Refused::Unjudgeable(_))
            ),
            "{error:?}"
        );
        assert!(!marker.exists(), "the ext:: command ran");
        let command = git_command(None, &[], NETWORK_PROTOCOLS)
            .args(["ls-remote", &url])
            .output()
            .await
            .unwrap();
        assert!(
            String::from_utf8_lossy(&command.stderr).contains("transport 'ext' not allowed"),
            "{command:?}"
        );
        assert!(!marker.exists(), "the ext:: command ran");
    }

    #[tokio::test]
    async fn remotes_in_refused_networks_are_not_contacted() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        for url in [
            format!("http://127.0.0.1:{port}/x.git"),
            format!("http://localhost:{port}/x.git"),
            format!("git://127.0.0.1:{port}/x"),
            format!("ssh://git@127.0.0.1:{port}/x"),
            "https://169.254.169.254/latest/meta-data/".to_owned(),
        ] {
            let mirror = Mirror::new(&url, Path::new("/nonexistent/m"), &GitAuth::default());
            let error = mirror.remote_listing().await.unwrap_err();
            assert!(matches!(error, GitError::Refused(_)), "{url}: {error:?}");
            assert!(
                error.to_string().contains("PACKYARD_ALLOW_NETWORKS"),
                "{url}: {error}"
            );
        }
        // Remotes whose host the policy cannot read (stored before validation refused
        // them) are refused rather than left to git.
        for url in [
            format!("http://[::ffff:127.0.0.1%25lo]:{port}/x.git"),
            format!("ssh://git@[::ffff:127.0.0.1%25lo]:{port}/x"),
            "http://xn--a.example/x.git".to_owned(),
        ] {
            let mirror = Mirror::new(&url, Path::new("/nonexistent/m"), &GitAuth::default());
            let error = mirror.remote_listing().await.unwrap_err();
            assert!(
                matches!(
                    error,
                    GitError::Refused(crate::outbound::Refused::Unjudgeable(_))
                ),
                "{url}: {error:?}"
            );
        }
        assert!(listener.accept().is_err(), "nothing connected");
    }

    #[test]
    fn debug_output_hides_the_password() {
        let auth = GitAuth {
            https_basic: Some(("me".into(), "s3cret".into())),
            ssh_key_path: None,
            known_hosts: None,
        };
        assert!(!format!("{auth:?}").contains("s3cret"));
    }

    #[test]
    fn ssh_command_pins_hosts_in_its_own_known_hosts() {
        assert_eq!(
            ssh_command(
                Some(Path::new("/keys/k")),
                Some(Path::new("/vcs/known_hosts")),
                true
            ),
            "ssh -F /dev/null -o 'IdentityFile=\"/keys/k\"' -o IdentitiesOnly=yes -o IdentityAgent=none \
             -o BatchMode=yes -o StrictHostKeyChecking=accept-new -o 'UserKnownHostsFile=\"/vcs/known_hosts\"' \
             -o ConnectTimeout=30 -o ServerAliveInterval=15 -o ServerAliveCountMax=4"
        );
        assert!(
            ssh_command(None, None, true)
                .contains("'IdentityFile=\"/dev/null\"' -o IdentitiesOnly=yes"),
            "without a key, none of the service user's is offered"
        );
        // A known_hosts that cannot be written to lists the only hosts trusted.
        assert!(
            ssh_command(
                None,
                Some(Path::new("/etc/packyard/ssh/known_hosts")),
                false
            )
            .contains(" -o StrictHostKeyChecking=yes "),
        );
    }

    #[test]
    fn a_known_hosts_file_that_cannot_be_written_pins_no_new_hosts() {
        let dir = std::env::temp_dir().join(format!("packyard-known-hosts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert!(can_pin_new_hosts(&dir.join("known_hosts")));
        // Root writes through permission bits, so a path no one can create stands in
        // for a read-only mount.
        assert!(!can_pin_new_hosts(Path::new("/proc/packyard/known_hosts")));
        assert!(!can_pin_new_hosts(
            &dir.join("missing-dir").join("known_hosts")
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn ssh_command_quotes_paths_for_sh_and_ssh() {
        let command = ssh_command(
            Some(Path::new("/keys/it's")),
            Some(Path::new(r#"/srv/a "b" 100%h\known_hosts"#)),
            true,
        );
        assert!(
            command.starts_with(
                r#"ssh -F /dev/null -o 'IdentityFile="/keys/it'\''s"' -o IdentitiesOnly=yes"#
            ),
            "{command}"
        );
        assert!(
            command.contains(r#" -o 'UserKnownHostsFile="/srv/a \"b\" 100%%h\\known_hosts"' "#),
            "{command}"
        );
    }
}
