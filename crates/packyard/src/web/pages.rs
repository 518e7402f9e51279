//! The browsing pages: the package list with search, vendor pages and package pages.
//! Everything shown goes through the viewer's access view of the repository browsed
//! (the root or a sub-repository, see `session::Viewer::browse`), as the Composer
//! routes do.

use std::cmp::Ordering;
use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use composer::package_name::PackageName;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::error::WebError;
use super::session::{Browsing, Repository, Viewer};
use crate::access::roles::{Admins, Maintainers, Role};
use crate::app::App;
use crate::catalogue::{Filter, MAX_QUERY_BYTES, MAX_QUERY_WORDS, Summary};
use crate::db::VersionRecord;
use composer::constraint::Constraint;

/// Packages per page of the list.
pub const PAGE_SIZE: usize = 20;

/// What every page's frame shows: the title and who is signed in.
pub struct Chrome {
    pub title: String,
    pub user: Option<String>,
    pub is_admin: bool,
    /// The session's CSRF token, for the logout form.
    pub csrf: String,
    /// The repository the page's `?subrepo=` names (empty: none), which the search
    /// in the header keeps.
    pub subrepo: String,
}

impl Chrome {
    pub fn new(viewer: &Viewer, title: impl Into<String>) -> Chrome {
        Chrome {
            title: title.into(),
            user: viewer.user().map(|user| user.name.clone()),
            is_admin: viewer.user().is_some_and(Admins::allows),
            csrf: viewer
                .session
                .as_ref()
                .map(|session| session.csrf_token.clone())
                .unwrap_or_default(),
            subrepo: viewer.chosen.clone().unwrap_or_default(),
        }
    }

    pub fn anonymous(title: impl Into<String>) -> Chrome {
        Chrome {
            title: title.into(),
            user: None,
            is_admin: false,
            csrf: String::new(),
            subrepo: String::new(),
        }
    }
}

/// Renders a template into a response.
pub fn render(page: &impl Template) -> Result<Response, WebError> {
    page.render()
        .map(html_response)
        .map_err(|error| WebError::Internal(format!("rendering a page: {error}")))
}

/// Renders a template into a response with `status` (a form shown again with its
/// problem, a resource just created).
pub fn render_with_status(page: &impl Template, status: StatusCode) -> Result<Response, WebError> {
    let mut response = render(page)?;
    *response.status_mut() = status;
    Ok(response)
}

/// The package a page's path names; a name that cannot be a package is the 404 page,
/// as for an unknown one.
pub fn package_path(vendor: &str, package: &str) -> Result<PackageName, WebError> {
    PackageName::try_from(format!("{vendor}/{package}").to_ascii_lowercase())
        .map_err(|_| WebError::NotFound)
}

/// An HTML page with the headers every page carries: a Content-Security-Policy that
/// allows only this site's own script and style (so that markup slipping through
/// from a package could not run code or load frames), no framing, no MIME sniffing.
pub fn html_response(html: String) -> Response {
    // Images from this site, and README images from https hosts, as GitHub and
    // Packagist show them (badges, logos). `crate::readme` lets only https images
    // through and gives them no Referer; the page's Referrer-Policy sends none to
    // other sites either.
    const CSP: &str = "default-src 'self'; img-src 'self' data: https:; style-src 'self'; \
         script-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
         frame-ancestors 'none'";
    (
        [
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CSP),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("same-origin"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        Html(html),
    )
        .into_response()
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    q: String,
    vendor: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    page: Option<usize>,
}

/// The repository selector of a package list: each repository the viewer may use as
/// `(slug, name, shown)`; shown only when there is a choice.
pub struct Selector {
    pub options: Vec<(String, String, bool)>,
    /// The slug of the sub-repository shown (empty for the root), kept by the filter
    /// form and the pager.
    pub subrepo: String,
    /// The shown repository's query string, for links that stay within it.
    pub here: String,
    /// The shown repository's name.
    pub name: String,
}

impl Selector {
    fn new(browsing: &Browsing) -> Selector {
        let shown = browsing.repository.slug();
        Selector {
            options: browsing
                .repositories
                .iter()
                .map(|r| (r.slug().to_owned(), r.name().to_owned(), r.slug() == shown))
                .collect(),
            subrepo: match browsing.repository {
                Repository::Root => String::new(),
                Repository::Sub(_) => shown.to_owned(),
            },
            here: browsing.repository.query(),
            name: browsing.repository.name().to_owned(),
        }
    }
}

#[derive(Template)]
#[template(path = "packages/list.html")]
struct IndexPage<'a> {
    chrome: Chrome,
    selector: Selector,
    heading: String,
    query: &'a str,
    vendor: &'a str,
    kind: &'a str,
    kinds: Vec<String>,
    packages: Vec<Arc<Summary>>,
    total: usize,
    page: usize,
    pages: usize,
    /// The query string of this list without `page`, for the pager's links.
    pager_query: String,
}

/// `GET /`: the packages the viewer may see, searched and filtered, a page at a time.
pub async fn index(
    State(app): State<Arc<App>>,
    viewer: Viewer,
    Query(query): Query<ListQuery>,
) -> Result<Response, WebError> {
    list(&app, &viewer, query, None).await
}

/// `GET /packages/{vendor}/`: one vendor's packages.
pub async fn vendor(
    State(app): State<Arc<App>>,
    viewer: Viewer,
    Path(vendor): Path<String>,
    Query(query): Query<ListQuery>,
) -> Result<Response, WebError> {
    list(&app, &viewer, query, Some(vendor.to_ascii_lowercase())).await
}

async fn list(
    app: &App,
    viewer: &Viewer,
    query: ListQuery,
    vendor_page: Option<String>,
) -> Result<Response, WebError> {
    let browsing = viewer.browse(app).await?;
    let view = browsing.view.clone();
    let selector = Selector::new(&browsing);
    if query.q.len() > MAX_QUERY_BYTES || query.q.split_whitespace().count() > MAX_QUERY_WORDS {
        return Err(WebError::BadRequest(format!(
            "Search for at most {MAX_QUERY_WORDS} words and {MAX_QUERY_BYTES} characters."
        )));
    }
    let catalogue = app.catalogue.current(&app.db, &app.metadata).await?;
    let nonempty = |value: Option<String>| value.filter(|v| !v.trim().is_empty());
    let filter = Filter {
        query: query.q.trim().to_owned(),
        vendor: vendor_page.clone().or_else(|| nonempty(query.vendor)),
        kind: nonempty(query.kind),
    };
    let found = catalogue.search(&app.metadata, &view, &filter).await?;
    if vendor_page.is_some() && found.is_empty() && filter.query.is_empty() && filter.kind.is_none()
    {
        // A vendor the viewer sees nothing of does not exist for it.
        return Err(WebError::NotFound);
    }
    let total = found.len();
    let pages = total.div_ceil(PAGE_SIZE).max(1);
    let page = query.page.unwrap_or(1).clamp(1, pages);
    let kinds: Vec<String> = found
        .iter()
        .map(|summary| summary.kind.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let heading = match &vendor_page {
        Some(vendor) => format!("Packages of {vendor}"),
        None => "Packages".to_owned(),
    };
    let pager_query = [
        ("q", filter.query.as_str()),
        (
            "vendor",
            if vendor_page.is_some() {
                ""
            } else {
                filter.vendor.as_deref().unwrap_or_default()
            },
        ),
        ("type", filter.kind.as_deref().unwrap_or_default()),
        ("subrepo", selector.subrepo.as_str()),
    ]
    .iter()
    .filter(|(_, value)| !value.is_empty())
    .fold(
        form_urlencoded::Serializer::new(String::new()),
        |mut s, (k, v)| {
            s.append_pair(k, v);
            s
        },
    )
    .finish();
    let packages = found
        .into_iter()
        .skip((page - 1) * PAGE_SIZE)
        .take(PAGE_SIZE)
        .collect();
    render(&IndexPage {
        chrome: Chrome::new(viewer, heading.clone()),
        selector,
        heading,
        query: &filter.query,
        vendor: filter.vendor.as_deref().unwrap_or_default(),
        kind: filter.kind.as_deref().unwrap_or_default(),
        kinds,
        packages,
        total,
        page,
        pages,
        pager_query,
    })
}

/// One version as the package page shows it.
pub struct VersionView {
    pub version: String,
    pub released: String,
    /// When packyard published it (which no author sets).
    pub published: String,
    pub is_dev: bool,
    pub reference: String,
    pub source_reference: String,
    pub license: String,
    pub authors: Vec<String>,
    /// `(label, links)`: requires, suggests, …
    pub links: Vec<(&'static str, Vec<Link>)>,
}

/// A package a version links to (requires, suggests, …).
pub struct Link {
    pub package: String,
    pub constraint: String,
    /// Whether it has a page here for the viewer (a package it sees).
    pub hosted: bool,
}

impl VersionView {
    /// The view of `record`; `hosted` says whether a linked package has a page here.
    fn new(record: &VersionRecord, hosted: &impl Fn(&str) -> bool) -> VersionView {
        let fields: Map<String, Value> = serde_json::from_str(&record.metadata).unwrap_or_default();
        let links = [
            ("require", "Requires"),
            ("require-dev", "Requires (dev)"),
            ("suggest", "Suggests"),
            ("provide", "Provides"),
            ("conflict", "Conflicts"),
            ("replace", "Replaces"),
        ]
        .into_iter()
        .filter_map(|(key, label)| {
            let list: Vec<Link> = fields
                .get(key)?
                .as_object()?
                .iter()
                .map(|(name, value)| Link {
                    package: name.clone(),
                    constraint: value.as_str().unwrap_or_default().to_owned(),
                    hosted: hosted(&name.to_ascii_lowercase()),
                })
                .collect();
            (!list.is_empty()).then_some((label, list))
        })
        .collect();
        let authors = fields
            .get("authors")
            .and_then(Value::as_array)
            .map(|authors| {
                authors
                    .iter()
                    .filter_map(|author| author.get("name")?.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        VersionView {
            version: record.version.clone(),
            released: crate::time::display(record.released_at),
            published: crate::time::display(record.published_at),
            is_dev: composer::version::is_dev(&record.version_normalized),
            reference: record.reference.clone(),
            source_reference: source_field(&fields, "reference"),
            license: license_of(&fields),
            authors,
            links,
        }
    }
}

/// A field of a version's `source` (`url`, `reference`); empty when it has none.
fn source_field(fields: &Map<String, Value>, key: &str) -> String {
    fields
        .get("source")
        .and_then(|source| source.get(key))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn license_of(fields: &Map<String, Value>) -> String {
    match fields.get("license") {
        Some(Value::String(license)) => license.clone(),
        Some(Value::Array(licenses)) => licenses
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(", "),
        _ => String::new(),
    }
}

/// Stable versions first, newest first; then dev versions, most recently released
/// first.
fn version_order(a: &VersionRecord, b: &VersionRecord) -> Ordering {
    let (a_dev, b_dev) = (
        composer::version::is_dev(&a.version_normalized),
        composer::version::is_dev(&b.version_normalized),
    );
    a_dev.cmp(&b_dev).then_with(|| {
        if a_dev {
            b.released_at.cmp(&a.released_at)
        } else {
            composer::constraint::php_version_compare(&b.version_normalized, &a.version_normalized)
        }
    })
}

/// Days the installs chart covers.
const CHART_DAYS: i64 = 30;
/// The chart's drawing height, in SVG units.
const CHART_HEIGHT: i64 = 60;

/// One day's bar of the installs chart.
pub struct Bar {
    pub x: i64,
    pub y: i64,
    pub height: i64,
    pub label: String,
}

/// Installs of the versions a viewer sees over the last [`CHART_DAYS`] days, drawn as
/// an SVG bar chart on the server (no script, no external library).
pub struct InstallsChart {
    pub bars: Vec<Bar>,
    pub total: i64,
}

impl InstallsChart {
    /// From `(version, day, count)` rows, counting only `visible` versions.
    fn new(rows: &[(String, i64, i64)], visible: &[VersionRecord], today: i64) -> Self {
        let first = today - CHART_DAYS + 1;
        let mut per_day = vec![0i64; usize::try_from(CHART_DAYS).unwrap_or(0)];
        for (version, day, count) in rows {
            let index = usize::try_from(day - first)
                .ok()
                .filter(|i| *i < per_day.len());
            if let Some(index) = index
                && visible.iter().any(|v| &v.version_normalized == version)
            {
                per_day[index] += count;
            }
        }
        let max = per_day.iter().copied().max().unwrap_or(0).max(1);
        let bars = per_day
            .iter()
            .zip(first..)
            .zip(0..)
            .map(|((count, day), slot)| {
                let height = if *count == 0 {
                    0
                } else {
                    (count * (CHART_HEIGHT - 4) / max).max(1)
                };
                Bar {
                    x: slot * 10,
                    y: CHART_HEIGHT - height,
                    height,
                    label: format!(
                        "{}: {count}",
                        &crate::time::rfc3339(day * (crate::db::DAY_MS / 1000))[..10]
                    ),
                }
            })
            .collect();
        InstallsChart {
            bars,
            total: per_day.iter().sum(),
        }
    }
}

#[derive(Template)]
#[template(path = "packages/package.html")]
struct PackagePage {
    chrome: Chrome,
    name: String,
    vendor: String,
    description: String,
    license: String,
    homepage: String,
    repository: String,
    /// Whether `repository` is a web address (https), shown as a link.
    repository_link: bool,
    /// The newest stable version and when it was published here, if there is one.
    latest: Option<(String, String)>,
    abandoned: Option<String>,
    installs: i64,
    chart: InstallsChart,
    versions: Vec<VersionView>,
    /// How many versions the viewer sees, of which `versions` are those the filter
    /// (`version_filter`) keeps.
    versions_total: usize,
    version_filter: String,
    /// Packages the viewer sees whose summarised release requires this one: the first
    /// [`REQUIRED_BY_SHOWN`] by name, and how many there are.
    required_by: Vec<String>,
    required_by_total: usize,
    /// The sanitised HTML of the default version's README, when there is one, its
    /// headings a level lower than written: the page's one `h1` is the package name.
    readme: Option<String>,
    /// For maintainers and admins.
    panel: Option<super::maintain::Panel>,
    /// Whether the viewer may delete the package.
    may_delete: bool,
    /// The query string that keeps links within the repository browsed.
    here: String,
}

#[derive(Deserialize, Default)]
pub struct PackageQuery {
    /// A re-scan to follow.
    job: Option<i64>,
    /// Narrows the version list: a version's text contains it, or it is a Composer
    /// constraint the version satisfies.
    #[serde(default)]
    versions: String,
}

/// The dependents a package page names; the rest are counted.
const REQUIRED_BY_SHOWN: usize = 20;

/// The longest version filter read; a constraint longer than this is nobody's.
const MAX_VERSION_FILTER: usize = 100;

/// Whether `version` passes the package page's version filter: its text contains
/// `needle` (the filter, lowercased), or the filter is a constraint it satisfies
/// (`^1.0`, `>=2.1 <3`).
fn version_matches(needle: &str, version: &VersionRecord, constraint: Option<&Constraint>) -> bool {
    needle.is_empty()
        || version.version.to_ascii_lowercase().contains(needle)
        || constraint.is_some_and(|c| c.matches(&version.version_normalized))
}

/// `GET /packages/{vendor}/{package}`.
pub async fn package(
    State(app): State<Arc<App>>,
    viewer: Viewer,
    Path((vendor, package)): Path<(String, String)>,
    Query(query): Query<PackageQuery>,
) -> Result<Response, WebError> {
    let browsing = viewer.browse(&app).await?;
    let view = browsing.view;
    let name = package_path(&vendor, &package)?;
    let Some(mut versions) = app.metadata.visible_versions(&name, &view).await? else {
        return Err(WebError::NotFound);
    };
    versions.sort_by(version_order);
    let default = &versions[0];
    let fields: Map<String, Value> = serde_json::from_str(&default.metadata).unwrap_or_default();
    let text = |key: &str| {
        fields
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let git = app.db.git_package(name.as_str()).await?;
    let repository = git
        .as_ref()
        .map(|vcs| crate::redact::public(&vcs.repository_url))
        .unwrap_or_default();
    // What the viewer sees of the repository browsed: links to packages it has a
    // page for, and the packages that require this one.
    let catalogue = app.catalogue.current(&app.db, &app.metadata).await?;
    let seen = catalogue
        .search(&app.metadata, &view, &Filter::default())
        .await?;
    let hosted: std::collections::HashSet<&str> =
        seen.iter().map(|summary| summary.name.as_str()).collect();
    let hosted = |package: &str| hosted.contains(package);
    let mut required_by: Vec<String> = seen
        .iter()
        .filter(|summary| summary.requires.iter().any(|r| r == name.as_str()))
        .map(|summary| summary.name.clone())
        .collect();
    let required_by_total = required_by.len();
    required_by.truncate(REQUIRED_BY_SHOWN);
    let latest = versions
        .iter()
        .find(|v| !composer::version::is_dev(&v.version_normalized))
        .map(|v| (v.version.clone(), crate::time::display(v.published_at)));
    let version_filter: String = query
        .versions
        .trim()
        .chars()
        .take(MAX_VERSION_FILTER)
        .collect();
    let constraint = Constraint::parse(&version_filter).ok();
    let needle = version_filter.to_ascii_lowercase();
    let shown: Vec<VersionView> = versions
        .iter()
        .filter(|v| version_matches(&needle, v, constraint.as_ref()))
        .map(|v| VersionView::new(v, &hosted))
        .collect();
    let abandoned = match fields.get("abandoned") {
        Some(Value::String(replacement)) => Some(replacement.clone()),
        Some(Value::Bool(true)) => Some(String::new()),
        _ => None,
    };
    let installs = app
        .db
        .download_counts(&name)
        .await?
        .iter()
        .filter(|(version, _)| versions.iter().any(|v| &v.version_normalized == version))
        .map(|(_, count)| count)
        .sum();
    let today = crate::db::now_millis().div_euclid(crate::db::DAY_MS);
    let chart = InstallsChart::new(
        &app.db
            .daily_downloads(&name, today - CHART_DAYS + 1)
            .await?,
        &versions,
        today,
    );
    // Only a README of a version the viewer sees: it may document the others. Its
    // relative links point into its repository, at that version's commit: the git
    // package's, else the source its metadata names.
    let readme = app
        .db
        .readme(name.as_str())
        .await?
        .and_then(|(version, content)| {
            let record = versions.iter().find(|v| v.version_normalized == version)?;
            let fields: Map<String, Value> =
                serde_json::from_str(&record.metadata).unwrap_or_default();
            let url = git.as_ref().map_or_else(
                || source_field(&fields, "url"),
                |vcs| vcs.repository_url.clone(),
            );
            let base = crate::readme::RepositoryBase::of(&url, &source_field(&fields, "reference"));
            Some(crate::readme::render_below_title(&content, base.as_ref()))
        });
    let panel = if viewer.user().is_some_and(Maintainers::allows) {
        Some(super::maintain::panel(&app, name.as_str(), query.job).await?)
    } else {
        None
    };
    render(&PackagePage {
        chrome: Chrome::new(&viewer, name.as_str()),
        vendor: name.vendor().to_owned(),
        description: text("description"),
        license: license_of(&fields),
        // Only web links: a `javascript:` homepage must not become a link.
        homepage: if text("homepage").starts_with("http") {
            text("homepage")
        } else {
            String::new()
        },
        repository_link: repository.starts_with("https://"),
        repository,
        latest,
        abandoned,
        installs,
        chart,
        versions_total: versions.len(),
        versions: shown,
        version_filter,
        required_by,
        required_by_total,
        readme,
        panel,
        may_delete: viewer.user().is_some_and(Admins::allows),
        here: browsing.repository.query(),
        name: name.as_str().to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(normalized: &str) -> VersionRecord {
        VersionRecord {
            version: normalized.to_owned(),
            version_normalized: normalized.to_owned(),
            reference: String::new(),
            shasum: String::new(),
            dist_store: storage::StoreName::Artifact,
            dist_key: String::new(),
            metadata: "{}".to_owned(),
            released_at: 0,
            published_at: 0,
        }
    }

    #[test]
    fn the_chart_counts_visible_versions_of_the_last_30_days() {
        let today = 20_000;
        let rows = [
            ("1.0.0.0".to_owned(), today, 4),
            ("1.0.0.0".to_owned(), today - 29, 2),
            ("1.0.0.0".to_owned(), today - 30, 100), // before the window
            ("2.0.0.0".to_owned(), today, 50),       // a version the viewer does not see
        ];
        let chart = InstallsChart::new(&rows, &[version("1.0.0.0")], today);
        assert_eq!(chart.total, 6);
        assert_eq!(chart.bars.len(), 30);
        let last = chart.bars.last().unwrap();
        assert_eq!((last.x, last.height, last.y), (290, 56, 4));
        assert_eq!(chart.bars[0].height, 28);
        assert_eq!(chart.bars[1].height, 0);
        assert!(last.label.ends_with(": 4"), "{}", last.label);
        assert!(
            chart.bars[0].label.starts_with("2024-09-"),
            "{}",
            chart.bars[0].label
        );
    }
}
