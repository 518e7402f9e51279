//! Git packages: repositories added by URL, scanned into versions the way Composer's
//! own VCS repository reads them, kept current by webhooks and a schedule, and served
//! as zips built from the exact commit (ARCHITECTURE.md, "One job's path").
//!
//! Dependencies point one way: [`job`] → [`service`] → [`scan`] and [`dists`],
//! [`changelog`] → [`repository`] → [`git`]; [`push_hooks`] → [`job`].
//!
//! - [`service`]: adding a package and re-scanning one; what the CLI, the HTTP API and
//!   the job call.
//! - [`scan`]: a repository's refs and composer.json files, read into versions.
//! - [`dists`]: zips built with `git archive` on first download.
//! - [`changelog`]: the commit subjects between two versions, from the mirror.
//! - [`repository`]: reaching a repository: its bare mirror and its credentials.
//! - [`git`]: the `git` command itself.
//! - [`job`]: the re-scan job.
//! - [`push_hooks`]: push hooks from GitHub, GitLab, Gitea and Bitbucket: the pushed
//!   repository, the hook's signature, the re-scans it queues.

pub mod changelog;
pub mod dists;
mod error;
pub mod git;
pub mod job;
pub mod push_hooks;
pub mod repository;
pub mod scan;
pub mod service;

use std::path::PathBuf;
use std::sync::Arc;

use storage::Storage;

pub use error::{BuildError, GitPackageError};
pub use repository::Credentials;
pub use service::{AddRequest, RefNote, ScanSummary};

use crate::config::Settings;
use crate::config::limits::GitLimits;
use crate::db::Db;
use crate::jobs::JobQueue;
use crate::metadata::Metadata;
use crate::outbound::NetworkPolicy;
use crate::secrets::Secrets;
use crate::single_flight::SingleFlight;
use crate::webhooks::Webhooks;

/// The git packages service: what adding, scanning and building archives use, and
/// the context of [`job::ScanJob`]. Cheap to clone.
#[derive(Clone)]
pub struct GitPackages {
    db: Db,
    storage: Storage,
    metadata: Arc<Metadata>,
    secrets: Secrets,
    jobs: Arc<JobQueue>,
    webhooks: Webhooks,
    options: Arc<GitOptions>,
    /// Dist archives being built, so concurrent first downloads build each once.
    dist_builds: Arc<SingleFlight<String>>,
}

/// The settings git packages are handled under.
#[derive(Debug, Clone)]
pub struct GitOptions {
    pub limits: GitLimits,
    /// Which addresses repositories may be fetched from.
    pub network_policy: NetworkPolicy,
    /// `PACKYARD_VCS_CACHE_DIR`: the bare mirrors.
    pub cache_dir: PathBuf,
    /// `PACKYARD_SSH_KNOWN_HOSTS`.
    pub ssh_known_hosts: PathBuf,
    /// `PACKYARD_TMP_DIR`: archives being built.
    pub tmp_dir: PathBuf,
    /// `PACKYARD_PREBUILD_DISTS`.
    pub prebuild_dists: bool,
    /// `PACKYARD_IMMUTABLE_VERSIONS`: which versions a scan may no longer change.
    pub immutability: crate::supply_chain::Immutability,
}

impl GitOptions {
    pub fn of(settings: &Settings) -> Self {
        GitOptions {
            limits: settings.git_limits,
            network_policy: settings.network_policy.clone(),
            cache_dir: settings.vcs_cache_dir.clone(),
            ssh_known_hosts: settings.ssh_known_hosts.clone(),
            tmp_dir: settings.tmp_dir.clone(),
            prebuild_dists: settings.prebuild_dists,
            immutability: settings.supply_chain.immutable_versions,
        }
    }
}

impl GitPackages {
    pub fn new(
        db: Db,
        storage: Storage,
        metadata: Arc<Metadata>,
        secrets: Secrets,
        jobs: Arc<JobQueue>,
        webhooks: Webhooks,
        options: GitOptions,
    ) -> Self {
        GitPackages {
            db,
            storage,
            metadata,
            secrets,
            jobs,
            webhooks,
            options: Arc::new(options),
            dist_builds: Arc::new(SingleFlight::named("dist_build")),
        }
    }
}
