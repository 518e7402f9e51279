//! The admin page of the audit log, `/admin/audit`: what `packyard audit list` and
//! `audit downloads` show, filtered by a form that works without JavaScript, through
//! the same service (`crate::audit::AuditLog`).

use std::sync::Arc;

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::error::WebError;
use super::pages::{Chrome, render_with_status};
use super::session::{SignedIn, WebAdmin};
use crate::app::App;
use crate::http::extractors::access::query_param;

/// Entries a page shows.
const PAGE: i64 = 100;

/// One entry as the table shows it.
struct EntryLine {
    seq: i64,
    time: String,
    /// The acting user ('' for none), linked to their page.
    user: String,
    /// How the actor proved itself, or what kind of actor it was.
    how: String,
    from: String,
    action: String,
    object: String,
    /// The package the entry concerns, linked to its page.
    package: String,
    details: String,
}

/// One count of the downloads table.
struct DownloadLine {
    day: String,
    version: String,
    user: String,
    credential: String,
    count: i64,
}

#[derive(Template)]
#[template(path = "admin/audit.html")]
struct AuditPage {
    chrome: Chrome,
    /// The filters as typed (kept in the form).
    actor: String,
    package: String,
    action: String,
    since: String,
    entries: Vec<EntryLine>,
    /// The URL of the older entries, when there are more.
    older: String,
    /// With a package filter: who downloaded its archives.
    downloads: Vec<DownloadLine>,
    message: String,
}

/// `GET /admin/audit[?actor=&package=&action=&since=&before=]`: entries newest first,
/// and with a package, who downloaded it.
pub async fn list(
    State(app): State<Arc<App>>,
    SignedIn { viewer, .. }: WebAdmin,
    RawQuery(query): RawQuery,
) -> Result<Response, WebError> {
    let query = query.unwrap_or_default();
    let typed = |name: &str| {
        query_param(&query, name)
            .unwrap_or_default()
            .trim()
            .to_owned()
    };
    let (actor, package, action, since) = (
        typed("actor"),
        typed("package"),
        typed("action"),
        typed("since"),
    );
    let some = |text: &str| (!text.is_empty()).then(|| text.to_owned());
    let mut page = AuditPage {
        chrome: Chrome::new(&viewer, "Audit log"),
        actor: actor.clone(),
        package: package.clone(),
        action: action.clone(),
        since: since.clone(),
        entries: Vec::new(),
        older: String::new(),
        downloads: Vec::new(),
        message: String::new(),
    };
    let mut filter =
        match crate::audit::filter(some(&actor), some(&package), some(&action), Some(&since)) {
            Ok(filter) => filter,
            Err(invalid) => {
                page.message = invalid.to_string();
                return render_with_status(&page, StatusCode::BAD_REQUEST);
            }
        };
    filter.before_seq = typed("before").parse().ok();
    let entries = app.audit.list(&filter, PAGE).await?;
    if i64::try_from(entries.len()).unwrap_or(0) == PAGE
        && let Some(last) = entries.last()
    {
        let older = form_urlencoded::Serializer::new(String::new())
            .append_pair("actor", &actor)
            .append_pair("package", &package)
            .append_pair("action", &action)
            .append_pair("since", &since)
            .append_pair("before", &last.seq.to_string())
            .finish();
        page.older = format!("/admin/audit?{older}");
    }
    page.entries = entries
        .into_iter()
        .map(|entry| EntryLine {
            seq: entry.seq,
            time: crate::time::display(entry.at),
            how: if entry.credential.is_empty() {
                entry.actor_kind
            } else {
                entry.credential
            },
            user: entry.actor,
            from: entry.client_ip,
            action: entry.action,
            object: entry.object,
            package: entry.package.unwrap_or_default(),
            details: entry.details,
        })
        .collect();
    if !package.is_empty() {
        page.downloads = app
            .audit
            .downloads(&package, None)
            .await?
            .into_iter()
            .map(|count| DownloadLine {
                day: crate::time::rfc3339(count.day * 86_400)[..10].to_owned(),
                version: count.version,
                user: count.actor,
                credential: count.credential,
                count: count.count,
            })
            .collect();
    }
    render_with_status(&page, StatusCode::OK)
}
