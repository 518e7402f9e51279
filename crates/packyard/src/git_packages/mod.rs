//! Git packages: repositories added by URL, scanned into versions the way Composer's
//! own VCS repository reads them, kept current by webhooks and a schedule, and served
//! as zips built from the exact commit (ARCHITECTURE.md, "One job's path").
//!
//! Dependencies point one way: [`job`] → [`service`] → [`scan`] and [`dists`] →
//! [`repository`] → [`git`].
//!
//! - [`service`]: adding a package and re-scanning one; what the CLI, the HTTP API and
//!   the job call.
//! - [`scan`]: a repository's refs and composer.json files, read into versions.
//! - [`dists`]: zips built with `git archive` on first download.
//! - [`repository`]: reaching a repository: its bare mirror and its credentials.
//! - [`git`]: the `git` command itself.
//! - [`job`]: the re-scan job.

pub mod dists;
mod error;
pub mod git;
pub mod job;
pub mod repository;
pub mod scan;
pub mod service;

pub use error::{BuildError, GitPackageError};
pub use repository::Credentials;
pub use service::{AddRequest, RefNote, ScanSummary, add, rescan};
