//! `/admin`: an admin's first page. What needs attention (failing scans, failing
//! mirrors, failed jobs) above what there is (packages, users, groups), then the
//! latest jobs and the first things to do on a new installation.

use std::sync::Arc;

use askama::Template;
use axum::extract::State;
use axum::response::Response;

use super::error::WebError;
use super::operations::{JobLine, job_lines, upstream_failure};
use super::pages::{Chrome, render};
use super::session::{SignedIn, WebAdmin};
use crate::app::App;
use crate::db::JobState;

/// Jobs the dashboard lists.
const RECENT_JOBS: i64 = 8;

#[derive(Template)]
#[template(path = "admin/dashboard.html")]
struct DashboardPage {
    chrome: Chrome,
    packages: usize,
    versions: i64,
    users: usize,
    groups: usize,
    /// Git packages whose last scan failed.
    failing_scans: Vec<String>,
    /// `(alias, when and why)` of mirrors whose upstream last failed.
    failing_mirrors: Vec<(String, String)>,
    mirrors: usize,
    failed_jobs: usize,
    recent: Vec<JobLine>,
}

/// `GET /admin`.
pub async fn show(
    State(app): State<Arc<App>>,
    SignedIn { viewer, .. }: WebAdmin,
) -> Result<Response, WebError> {
    let overview = app.db.package_overview().await?;
    let failing_scans = overview
        .iter()
        .filter(|(_, _, _, _, error)| error.as_deref().is_some_and(|e| !e.is_empty()))
        .map(|(name, ..)| name.clone())
        .collect();
    let mut failing_mirrors: Vec<(String, String)> = app
        .mirrors
        .aliases()
        .filter_map(|alias| {
            let mirror = app.mirrors.get(alias)?;
            let failure = app.mirrors.upstream_contact(alias).failure;
            Some((alias.clone(), upstream_failure(mirror, failure)?))
        })
        .collect();
    failing_mirrors.sort();
    let rules = app.db.access_rules().await?;
    render(&DashboardPage {
        chrome: Chrome::new(&viewer, "Dashboard"),
        packages: overview.len(),
        versions: overview.iter().map(|(_, _, versions, ..)| versions).sum(),
        users: app.db.users().await?.len(),
        groups: rules.groups.len(),
        failing_scans,
        failing_mirrors,
        mirrors: app.mirrors.aliases().count(),
        failed_jobs: app
            .db
            .jobs(Some(JobState::Failed), super::operations::JOBS_SHOWN)
            .await?
            .len(),
        recent: job_lines(app.db.jobs(None, RECENT_JOBS).await?),
    })
}
