//! What operators watch and do: packages (add a git repository, last scans), mirrors
//! (approvals, what is kept after the upstream dropped it), jobs (recent and failed)
//! and storage (each store probed on request, as `packyard storage check`). Packages are for
//! maintainers and admins; the rest for admins.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::error::WebError;
use super::form::{AdminForm, AdminUpload, MaintainerForm, UploadPart};
use super::notice::{Done, DoneQuery, NOTHING_DONE, redirect};
use super::pages::{Chrome, render, render_with_status};
use super::session::{SignedIn, Viewer, WebAdmin, WebMaintainer, see_other};
use crate::app::App;
use crate::db::JobState;
use crate::error::Classify;
use crate::git_packages::{AddRequest, Credentials};
use crate::jobs::JobView;
use crate::time::display;

/// Jobs listed per table.
pub const JOBS_SHOWN: i64 = 50;

/// A package as the admin list shows it.
pub struct PackageLine {
    pub name: String,
    pub kind: String,
    pub versions: i64,
    pub scanned: String,
    pub scan_error: String,
}

#[derive(Template)]
#[template(path = "admin/packages.html")]
struct PackagesPage {
    chrome: Chrome,
    packages: Vec<PackageLine>,
    message: String,
    url: String,
    /// `vendor/package version` just uploaded (empty: none), and its package.
    uploaded: String,
    uploaded_package: String,
}

async fn packages_page(
    app: &App,
    viewer: &Viewer,
    message: String,
    url: String,
    done: &DoneQuery,
    status: StatusCode,
) -> Result<Response, WebError> {
    let packages: Vec<PackageLine> = app
        .db
        .package_overview()
        .await?
        .into_iter()
        .map(
            |(name, kind, versions, scanned_at, scan_error)| PackageLine {
                name,
                kind,
                versions,
                scanned: scanned_at.map(display).unwrap_or_default(),
                scan_error: scan_error.unwrap_or_default(),
            },
        )
        .collect();
    // "vendor/package version", said only for a package that is listed.
    let uploaded = match done.get() {
        Some((Done::Uploaded, what)) => what
            .split_once(' ')
            .filter(|(package, _)| packages.iter().any(|p| p.name == *package))
            .map(|(package, _)| (what.to_owned(), package.to_owned())),
        _ => None,
    };
    let (uploaded, uploaded_package) = uploaded.unwrap_or_default();
    render_with_status(
        &PackagesPage {
            chrome: Chrome::new(viewer, "Packages"),
            uploaded,
            uploaded_package,
            packages,
            message,
            url,
        },
        status,
    )
}

/// `GET /admin/packages`.
pub async fn packages(
    State(app): State<Arc<App>>,
    SignedIn { viewer, .. }: WebMaintainer,
    Query(done): Query<DoneQuery>,
) -> Result<Response, WebError> {
    packages_page(
        &app,
        &viewer,
        String::new(),
        String::new(),
        &done,
        StatusCode::OK,
    )
    .await
}

/// `POST /admin/packages`: adds a git repository (with optional credentials, sealed
/// with `PACKYARD_SECRET`) and scans it; the new package's page on success.
pub async fn add_package(
    State(app): State<Arc<App>>,
    MaintainerForm {
        viewer,
        fields: form,
        ..
    }: MaintainerForm,
) -> Result<Response, WebError> {
    let field = |name: &str| Some(form.get(name).to_owned()).filter(|value| !value.is_empty());
    let credentials = Credentials {
        username: field("username"),
        password: field("password"),
        ssh_key: field("ssh_key"),
    };
    let has_credentials = credentials.username.is_some()
        || credentials.password.is_some()
        || credentials.ssh_key.is_some();
    let request = AddRequest {
        url: form.get("url").to_owned(),
        credentials: has_credentials.then_some(credentials),
        webhook_secret: field("webhook_secret"),
        allow_local: app.settings.allow_local_repositories,
    };
    match app.git_packages.add(request).await {
        Ok(summary) => Ok(see_other(&format!("/packages/{}", summary.package))),
        Err(error) => {
            // What the person adding can act on is shown; server-side faults go to
            // the log (their text may name paths or quote the remote).
            let kind = error.kind();
            let message = kind.message(&error);
            packages_page(
                &app,
                &viewer,
                message,
                form.get("url").to_owned(),
                &NOTHING_DONE,
                StatusCode::BAD_REQUEST,
            )
            .await
        }
    }
}

/// A job as the jobs page lists it.
pub struct JobLine {
    pub id: i64,
    pub kind: String,
    pub package: String,
    pub state: &'static str,
    pub attempts: String,
    pub created: String,
    pub error: String,
}

#[derive(Template)]
#[template(path = "admin/jobs.html")]
struct JobsPage {
    chrome: Chrome,
    recent: Vec<JobLine>,
    failed: Vec<JobLine>,
}

/// Jobs as the pages list them.
pub fn job_lines(rows: Vec<crate::db::JobRow>) -> Vec<JobLine> {
    rows.into_iter()
        .map(|row| JobLine {
            id: row.id,
            package: JobView::package_of(&row).unwrap_or_default(),
            kind: row.kind,
            state: row.state.as_str(),
            attempts: format!("{}/{}", row.attempts, row.max_attempts),
            created: display(row.created_at),
            error: row.error.unwrap_or_default(),
        })
        .collect()
}

/// `GET /admin/jobs`: the newest jobs, and the newest failed ones with their errors.
pub async fn jobs(
    State(app): State<Arc<App>>,
    SignedIn { viewer, .. }: WebAdmin,
) -> Result<Response, WebError> {
    render(&JobsPage {
        chrome: Chrome::new(&viewer, "Jobs"),
        recent: job_lines(app.db.jobs(None, JOBS_SHOWN).await?),
        failed: job_lines(app.db.jobs(Some(JobState::Failed), JOBS_SHOWN).await?),
    })
}

#[derive(Template)]
#[template(path = "admin/storage.html")]
struct StoragePage {
    chrome: Chrome,
    /// `(store, where, problem)`: an empty problem is a store that works.
    stores: Vec<(&'static str, String, String)>,
    /// Whether the stores were just probed (else they are only listed).
    probed: bool,
}

/// `GET /admin/storage`: the stores, and a button that probes them. A GET writes
/// nothing: a page elsewhere can make an admin's browser GET any URL (an image in a
/// README), so the probe, which writes an object to each store, is a POST.
pub async fn storage(
    State(app): State<Arc<App>>,
    SignedIn { viewer, .. }: WebAdmin,
) -> Result<Response, WebError> {
    let stores = storage::StoreName::ALL
        .into_iter()
        .map(|name| {
            let place = app.storage.store(name).description().to_owned();
            (name.as_str(), place, String::new())
        })
        .collect();
    render(&StoragePage {
        chrome: Chrome::new(&viewer, "Storage"),
        stores,
        probed: false,
    })
}

/// `POST /admin/storage`: every store probed now, as `packyard storage check` does.
pub async fn check_storage(
    State(app): State<Arc<App>>,
    AdminForm { viewer, .. }: AdminForm,
) -> Result<Response, WebError> {
    let stores = crate::storage_ops::check_each(&app.storage)
        .await
        .into_iter()
        .map(|check| {
            (
                check.name.as_str(),
                check.description,
                check
                    .outcome
                    .err()
                    .map(|failed| failed.to_string())
                    .unwrap_or_default(),
            )
        })
        .collect();
    render(&StoragePage {
        chrome: Chrome::new(&viewer, "Storage"),
        stores,
        probed: true,
    })
}

/// A mirror as the mirrors page shows it.
pub struct MirrorLine {
    pub alias: String,
    pub url: String,
    pub flags: Vec<&'static str>,
    pub strict: bool,
    pub sync_seconds: u64,
    /// Approved names, for strict mirrors.
    pub approved: Vec<String>,
    /// `(package, since)` of packages the upstream no longer has, kept and served.
    pub gone: Vec<(String, String)>,
    /// Why the kept documents could not be listed, if they could not.
    pub problem: String,
    /// When the upstream last answered this server, and its latest failure since.
    pub answered: String,
    pub failure: String,
}

/// A mirror's latest upstream failure (`Contact::failure`) as the pages show it: when,
/// and why. The reason names the URL asked: never with a password written in it.
pub fn upstream_failure(
    mirror: &crate::mirror::config::MirrorConfig,
    failure: Option<(i64, String)>,
) -> Option<String> {
    let (at, why) = failure?;
    let why = crate::redact::hide_password_of(&mirror.url, &why);
    Some(format!("{}: {why}", display(at)))
}

#[derive(Template)]
#[template(path = "admin/mirrors.html")]
struct MirrorsPage {
    chrome: Chrome,
    mirrors: Vec<MirrorLine>,
    message: String,
}

async fn mirrors_page(
    app: &App,
    viewer: &Viewer,
    message: String,
    status: StatusCode,
) -> Result<Response, WebError> {
    let mut mirrors = Vec::new();
    let mut aliases: Vec<&String> = app.mirrors.aliases().collect();
    aliases.sort();
    for alias in aliases {
        let mirror = app.mirrors.get(alias).expect("a listed alias");
        let flags = [
            ("public", mirror.public_access),
            ("strict", mirror.strict),
            ("archives", mirror.enable_dist_mirror),
        ]
        .into_iter()
        .filter_map(|(flag, on)| on.then_some(flag))
        .collect();
        let approved = if mirror.strict {
            app.db.approved_mirrored_packages(alias).await?
        } else {
            Vec::new()
        };
        let (gone, problem) = match app.mirrors.gone_upstream(mirror).await {
            Ok(gone) => (
                gone.into_iter()
                    .map(|document| (document.name().to_owned(), display(document.since)))
                    .collect(),
                String::new(),
            ),
            Err(error) => (Vec::new(), error.to_string()),
        };
        let contact = app.mirrors.upstream_contact(alias);
        mirrors.push(MirrorLine {
            answered: contact
                .answered_at
                .map_or_else(|| "not since this server started".to_owned(), display),
            failure: upstream_failure(mirror, contact.failure).unwrap_or_default(),
            alias: alias.clone(),
            url: crate::redact::public(&mirror.url),
            flags,
            strict: mirror.strict,
            sync_seconds: mirror.sync_interval.as_secs(),
            approved,
            gone,
            problem,
        });
    }
    render_with_status(
        &MirrorsPage {
            chrome: Chrome::new(viewer, "Mirrors"),
            mirrors,
            message,
        },
        status,
    )
}

/// `GET /admin/mirrors`.
pub async fn mirrors(
    State(app): State<Arc<App>>,
    SignedIn { viewer, .. }: WebAdmin,
) -> Result<Response, WebError> {
    mirrors_page(&app, &viewer, String::new(), StatusCode::OK).await
}

/// `POST /admin/mirrors/{alias}/approve`: lets packages (one name per line) through a
/// strict mirror.
pub async fn approve(
    State(app): State<Arc<App>>,
    axum::extract::Path(alias): axum::extract::Path<String>,
    AdminForm {
        viewer,
        fields: form,
        ..
    }: AdminForm,
) -> Result<Response, WebError> {
    let mirror = app.mirrors.get(&alias).cloned().ok_or(WebError::NotFound)?;
    let names: Vec<String> = form
        .get("packages")
        .split_whitespace()
        .map(str::to_ascii_lowercase)
        .collect();
    match app.mirrors.approve(&mirror, &names).await {
        Ok(_) => Ok(see_other("/admin/mirrors")),
        Err(crate::mirror::ApproveError::Database(error)) => Err(error.into()),
        Err(error) => mirrors_page(&app, &viewer, error.to_string(), StatusCode::BAD_REQUEST).await,
    }
}

/// `POST /admin/mirrors/{alias}/forget`: drops what the mirror stored of a package
/// (documents and archives), as `packyard mirror forget`.
pub async fn forget(
    State(app): State<Arc<App>>,
    axum::extract::Path(alias): axum::extract::Path<String>,
    AdminForm {
        viewer,
        fields: form,
        ..
    }: AdminForm,
) -> Result<Response, WebError> {
    let mirror = app.mirrors.get(&alias).cloned().ok_or(WebError::NotFound)?;
    let Ok(package) = composer::package_name::PackageName::parse(form.get("package")) else {
        let message = format!("{:?} is not a package name", form.get("package"));
        return mirrors_page(&app, &viewer, message, StatusCode::BAD_REQUEST).await;
    };
    app.mirrors.forget(&mirror, &package).await?;
    Ok(see_other("/admin/mirrors"))
}

/// `POST /admin/packages/upload` (multipart): publishes an uploaded zip as a version,
/// as `PUT /api/packages/upload/...` does. Admins only, like that route. The CSRF
/// field must come before the file, so that no file is stored for a forged form.
pub async fn upload(
    State(app): State<Arc<App>>,
    AdminUpload { viewer, mut form }: AdminUpload,
) -> Result<Response, WebError> {
    let refuse = |message: String| {
        packages_page(
            &app,
            &viewer,
            message,
            String::new(),
            &NOTHING_DONE,
            StatusCode::BAD_REQUEST,
        )
    };
    let (mut version, mut force) = (None, false);
    while let Some(part) = form.next_part().await? {
        let received = match part {
            UploadPart::Field { name, value } => {
                match name.as_str() {
                    "version" => version = Some(value.trim().to_owned()).filter(|v| !v.is_empty()),
                    "force" => force = !value.is_empty(),
                    _ => {}
                }
                continue;
            }
            UploadPart::File(received) => received,
        };
        let archive = match received {
            Ok(archive) => archive,
            Err(error) if error.kind().is_callers_fault() => {
                return refuse(error.to_string()).await;
            }
            Err(error) => return Err(error.into()),
        };
        let request = crate::uploads::artifact::PublishRequest {
            package: None,
            version,
            force,
            by: viewer
                .user()
                .map(|user| user.name.clone())
                .unwrap_or_default(),
        };
        return match app.uploads.upload(&archive, request).await {
            // Back to the form, for the next one; the notice links to the package.
            Ok(published) => Ok(redirect(
                "/admin/packages",
                Done::Uploaded,
                &format!("{} {}", published.package, published.version),
            )),
            Err(error) if error.kind().is_callers_fault() => refuse(error.to_string()).await,
            Err(error) => Err(error.into()),
        };
    }
    refuse("Choose a zip file to upload.".to_owned()).await
}
