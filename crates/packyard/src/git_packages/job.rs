//! The re-scan job: queued by webhooks, `packyard package update` (through the API) and
//! the schedule; runs [`GitPackages::rescan`].

use std::time::Duration;

use composer::package_name::PackageName;
use serde::{Deserialize, Serialize};

use super::service::ScanSummary;
use super::{GitPackageError, GitPackages};
use crate::db::NewJob;
use crate::db::audit::Change;
use crate::jobs::{BackgroundJob, JobQueue, new_job};

/// Fetch and re-scan one git package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanJob {
    pub package: String,
}

impl BackgroundJob for ScanJob {
    const KIND: &'static str = "scan";
    type Context = GitPackages;
    type Output = ScanSummary;
    type Error = GitPackageError;

    /// A scan is not retried when it fails: the error (git's text) is kept on the job
    /// and the package at once, and the next push or scheduled scan tries again.
    const RETRY_FAILURES: bool = false;

    /// A re-scan already waiting absorbs this one. Three attempts, for scans whose
    /// replica died under them (see `RETRY_FAILURES`).
    fn configure(&self, job: NewJob) -> NewJob {
        job.dedupe_key(format!("scan:{}", self.package))
            .max_attempts(3)
    }

    async fn run(self, packages: GitPackages) -> Result<ScanSummary, GitPackageError> {
        packages.rescan(&self.package).await
    }
}

/// Queues a re-scan of `package`; a re-scan already waiting absorbs this one. The
/// request is recorded in the audit log (`package.scan_requested`, with the job).
pub async fn enqueue_scan(jobs: &JobQueue, package: &str) -> Result<i64, sqlx::Error> {
    let job = new_job(&ScanJob {
        package: package.to_owned(),
    })
    .recorded(Change::of_package("package.scan_requested", package));
    jobs.enqueue(job).await
}

impl GitPackages {
    /// Queues a re-scan of the git package `package` ("update now" on its page,
    /// Packeton's hook for one named package) and returns the job; a re-scan already
    /// waiting absorbs it. An uploaded package has nothing to scan.
    pub async fn request_scan(&self, package: &PackageName) -> Result<i64, GitPackageError> {
        let name = package.as_str();
        if self.db.git_package(name).await?.is_none() {
            return Err(if self.metadata.knows(package).await? {
                GitPackageError::NotGit(name.to_owned())
            } else {
                GitPackageError::UnknownPackage(name.to_owned())
            });
        }
        Ok(enqueue_scan(&self.jobs, name).await?)
    }

    /// Queues a re-scan of every git package not scanned within `interval`. Safe on every
    /// replica at once: a scan queued by any replica within half the interval absorbs the
    /// others'.
    pub async fn enqueue_due_scans(&self, interval: Duration) -> Result<usize, sqlx::Error> {
        let before = crate::db::now_millis() - interval.as_millis() as i64;
        let due = self.db.git_packages_scanned_before(before).await?;
        for package in &due {
            let job = new_job(&ScanJob {
                package: package.clone(),
            })
            .skip_if_created_within(interval / 2);
            self.jobs.enqueue(job).await?;
        }
        Ok(due.len())
    }
}
