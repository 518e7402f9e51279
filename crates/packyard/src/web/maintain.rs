//! What maintainers and admins see and do on a package page: the last scan of a git
//! package (when, git's error, the refs it skipped and why), and "update now", which
//! queues a re-scan and follows the job until it ends.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Response;

use super::error::WebError;
use super::form::{AdminForm, MaintainerForm};
use super::pages::package_path;
use super::session::see_other;
use crate::app::App;
use crate::db::JobState;
use crate::git_packages::service::RefNote;

/// The maintainer's part of a package page.
pub struct Panel {
    pub is_git: bool,
    pub scanned: String,
    pub scan_error: String,
    /// `(ref, reason)` of every ref the last scan skipped.
    pub skipped: Vec<(String, String)>,
    /// `(ref, notice)` of what the last scan remarked on (a moved tag of an immutable
    /// version, say).
    pub notices: Vec<(String, String)>,
    /// The re-scan this page follows: its id, state and error.
    pub job: Option<(i64, &'static str, String)>,
}

impl Panel {
    /// Whether the page should reload itself to follow a job still under way.
    pub fn following(&self) -> bool {
        self.job
            .as_ref()
            .is_some_and(|(_, state, _)| matches!(*state, "queued" | "running"))
    }
}

/// The part of a stored scan report the page shows.
#[derive(serde::Deserialize, Default)]
struct Report {
    #[serde(default)]
    skipped: Vec<RefNote>,
    #[serde(default)]
    notices: Vec<RefNote>,
}

/// The panel for `package`, following job `job` when it is a scan of this package.
pub async fn panel(app: &App, package: &str, job: Option<i64>) -> Result<Panel, WebError> {
    let Some(vcs) = app.db.git_package(package).await? else {
        return Ok(Panel {
            is_git: false,
            scanned: String::new(),
            scan_error: String::new(),
            skipped: Vec::new(),
            notices: Vec::new(),
            job: None,
        });
    };
    let report: Report = vcs
        .scan_report
        .as_deref()
        .and_then(|report| serde_json::from_str(report).ok())
        .unwrap_or_default();
    let pairs = |notes: Vec<RefNote>| -> Vec<(String, String)> {
        notes
            .into_iter()
            .map(|note| (note.ref_name, note.reason))
            .collect()
    };
    let job = match job {
        Some(id) => app
            .db
            .job(id)
            .await?
            .filter(|row| crate::jobs::JobView::package_of(row).as_deref() == Some(package)),
        None => None,
    };
    Ok(Panel {
        is_git: true,
        scanned: vcs
            .scanned_at
            .map_or_else(|| "never".to_owned(), crate::time::display),
        scan_error: vcs.scan_error.unwrap_or_default(),
        skipped: pairs(report.skipped),
        notices: pairs(report.notices),
        job: job.map(|row| {
            let error = if row.state == JobState::Failed {
                row.error.unwrap_or_default()
            } else {
                String::new()
            };
            (row.id, row.state.as_str(), error)
        }),
    })
}

/// `POST /packages/{vendor}/{package}/update`: queues a re-scan of a git package and
/// shows its page following the job, in the repository the page was shown in.
pub async fn update(
    State(app): State<Arc<App>>,
    Path((vendor, package)): Path<(String, String)>,
    posted: MaintainerForm,
) -> Result<Response, WebError> {
    let name = package_path(&vendor, &package)?;
    let job = app.git_packages.request_scan(&name).await?;
    // Only a slug goes into the URL: the page reads it again and checks it.
    let subrepo = posted.fields.get("subrepo");
    let within = if !subrepo.is_empty()
        && subrepo.len() <= 64
        && subrepo
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        format!("&subrepo={subrepo}")
    } else {
        String::new()
    };
    Ok(see_other(&format!(
        "/packages/{}?job={job}{within}",
        name.as_str()
    )))
}

/// `POST /packages/{vendor}/{package}/delete`: deletes a package, for admins, when the
/// form repeats its name (`confirm`). Its archives stay in storage.
pub async fn delete(
    State(app): State<Arc<App>>,
    Path((vendor, package)): Path<(String, String)>,
    posted: AdminForm,
) -> Result<Response, WebError> {
    let admin = posted.user();
    let name = package_path(&vendor, &package)?;
    if posted.fields.get("confirm") != name.as_str() {
        return Err(WebError::BadRequest(format!(
            "Type {} to confirm the deletion.",
            name.as_str()
        )));
    }
    if !app.db.delete_package(name.as_str()).await? {
        return Err(WebError::NotFound);
    }
    // Gone here at once; the other replicas notice within their refresh.
    app.metadata.refresh().await?;
    tracing::info!(package = %name.as_str(), by = %admin.name, "package deleted");
    let deleted =
        crate::webhooks::Occurrence::new(crate::webhooks::Event::DeletePackage, name.as_str());
    app.webhooks.emit(&[deleted]).await;
    Ok(see_other("/admin/packages"))
}
