//! Admin pages for sub-repositories: what `packyard subrepo` does, in a browser. Every
//! change goes through [`crate::access::AccessAdmin`], which checks the fields, as the
//! CLI's and the API's changes do: the pages parse forms and show the outcome.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::admin::form_message;
use super::error::WebError;
use super::form::{AdminForm, Fields};
use super::pages::{Chrome, render, render_with_status};
use super::session::{SignedIn, Viewer, WebAdmin, see_other};
use crate::access::Actor;
use crate::access::subrepos::SubRepositoryChange;
use crate::app::App;
use crate::db::{SubRepositoryFields, SubRepositoryRow};

/// A sub-repository's fields as its form shows them: those stored, or those just
/// posted when they were refused (so that nothing typed is lost).
pub struct SubRepositoryForm {
    /// Empty on the form of a new one.
    pub slug: String,
    pub name: String,
    /// One name or pattern a line.
    pub packages: String,
    /// One host name a line.
    pub hosts: String,
    pub public: bool,
    /// Each configured mirror alias and whether it is included: the included ones
    /// first, in the order they are asked for a package (which saving the form keeps),
    /// then the others by name.
    pub mirrors: Vec<(String, bool)>,
}

impl SubRepositoryForm {
    fn new(app: &App, slug: &str, fields: &SubRepositoryFields) -> SubRepositoryForm {
        let mut others: Vec<String> = app
            .mirrors
            .aliases()
            .filter(|alias| !fields.mirrors.contains(alias))
            .cloned()
            .collect();
        others.sort();
        let included = fields
            .mirrors
            .iter()
            .filter(|alias| app.mirrors.aliases().any(|known| known == *alias))
            .map(|alias| (alias.clone(), true));
        SubRepositoryForm {
            slug: slug.to_owned(),
            name: fields.name.clone(),
            packages: fields.packages.join("\n"),
            hosts: fields.hosts.join("\n"),
            public: fields.public,
            mirrors: included
                .chain(others.into_iter().map(|alias| (alias, false)))
                .collect(),
        }
    }

    fn stored(app: &App, row: &SubRepositoryRow) -> SubRepositoryForm {
        SubRepositoryForm::new(app, &row.slug, &stored_fields(row))
    }
}

fn stored_fields(row: &SubRepositoryRow) -> SubRepositoryFields {
    SubRepositoryFields {
        name: row.name.clone(),
        packages: row.packages.clone(),
        hosts: row.hosts.clone(),
        public: row.public,
        mirrors: row.mirrors.clone(),
    }
}

/// A list a form field holds: entries one a line or separated by commas or spaces.
fn list_field(form: &Fields, name: &str) -> Vec<String> {
    form.get(name)
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|entry| !entry.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The fields a sub-repository form posts; checked by the service.
fn posted_fields(form: &Fields) -> SubRepositoryFields {
    SubRepositoryFields {
        name: form.get("name").to_owned(),
        packages: list_field(form, "packages"),
        hosts: list_field(form, "hosts"),
        public: form.checked("public"),
        mirrors: form.all("mirror").into_iter().map(str::to_owned).collect(),
    }
}

#[derive(Template)]
#[template(path = "admin/subrepos.html")]
struct SubRepositoriesPage {
    chrome: Chrome,
    rows: Vec<SubRepositoryRow>,
    /// The form for a new one.
    form: SubRepositoryForm,
    message: String,
}

async fn list_page(
    app: &App,
    viewer: &Viewer,
    form: SubRepositoryForm,
    message: String,
    status: StatusCode,
) -> Result<Response, WebError> {
    render_with_status(
        &SubRepositoriesPage {
            chrome: Chrome::new(viewer, "Sub-repositories"),
            rows: app.access_admin().sub_repositories().await?,
            form,
            message,
        },
        status,
    )
}

/// `GET /admin/subrepos`.
pub async fn list(
    State(app): State<Arc<App>>,
    SignedIn { viewer, .. }: WebAdmin,
) -> Result<Response, WebError> {
    let empty = SubRepositoryForm::new(&app, "", &SubRepositoryFields::default());
    list_page(&app, &viewer, empty, String::new(), StatusCode::OK).await
}

/// `POST /admin/subrepos`: a new sub-repository, then its page.
pub async fn create(
    State(app): State<Arc<App>>,
    AdminForm {
        viewer,
        fields: form,
        ..
    }: AdminForm,
) -> Result<Response, WebError> {
    let (slug, fields) = (form.get("slug"), posted_fields(&form));
    let me = Actor::Http(&viewer.signed_in()?.user);
    let added = app
        .access_admin()
        .add_sub_repository(me, slug, fields.clone())
        .await;
    match added {
        Ok(row) => Ok(see_other(&format!("/admin/subrepos/{}", row.slug))),
        Err(error) => {
            let message = form_message(error)?;
            let form = SubRepositoryForm::new(&app, slug, &fields);
            list_page(&app, &viewer, form, message, StatusCode::BAD_REQUEST).await
        }
    }
}

#[derive(Template)]
#[template(path = "admin/subrepo.html")]
struct SubRepositoryPage {
    chrome: Chrome,
    form: SubRepositoryForm,
    message: String,
}

/// `GET /admin/subrepos/{slug}`: its fields to change, and its removal.
pub async fn edit(
    State(app): State<Arc<App>>,
    SignedIn { viewer, .. }: WebAdmin,
    Path(slug): Path<String>,
) -> Result<Response, WebError> {
    let row = app.access_admin().sub_repository(&slug).await?;
    render(&SubRepositoryPage {
        chrome: Chrome::new(&viewer, format!("Sub-repository {slug}")),
        form: SubRepositoryForm::stored(&app, &row),
        message: String::new(),
    })
}

/// `POST /admin/subrepos/{slug}`: replaces its name, packages, host names, public
/// flag and mirrors with the form's.
pub async fn update(
    State(app): State<Arc<App>>,
    Path(slug): Path<String>,
    AdminForm {
        viewer,
        fields: form,
        ..
    }: AdminForm,
) -> Result<Response, WebError> {
    let fields = posted_fields(&form);
    let change = SubRepositoryChange {
        name: Some(fields.name.clone()),
        packages: Some(fields.packages.clone()),
        add_packages: Vec::new(),
        remove_packages: Vec::new(),
        hosts: Some(fields.hosts.clone()),
        public: Some(fields.public),
        mirrors: Some(fields.mirrors.clone()),
    };
    let me = Actor::Http(&viewer.signed_in()?.user);
    match app
        .access_admin()
        .change_sub_repository(me, &slug, change)
        .await
    {
        Ok(_) => Ok(see_other(&format!("/admin/subrepos/{slug}"))),
        Err(error) => render_with_status(
            &SubRepositoryPage {
                chrome: Chrome::new(&viewer, format!("Sub-repository {slug}")),
                message: form_message(error)?,
                form: SubRepositoryForm::new(&app, &slug, &fields),
            },
            StatusCode::BAD_REQUEST,
        ),
    }
}

/// `POST /admin/subrepos/{slug}/remove`: its packages stay, and it leaves every
/// user's and group's limit.
pub async fn remove(
    State(app): State<Arc<App>>,
    Path(slug): Path<String>,
    posted: AdminForm,
) -> Result<Response, WebError> {
    let me = Actor::Http(posted.user());
    app.access_admin().remove_sub_repository(me, &slug).await?;
    Ok(see_other("/admin/subrepos"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_read_one_a_line_or_separated_by_commas() {
        let form = Fields::parse(b"packages=acme%2F*%0D%0Aacme%2Flib%2C+other%2Fx++%0A%0A&hosts=");
        assert_eq!(
            list_field(&form, "packages"),
            ["acme/*", "acme/lib", "other/x"]
        );
        assert!(list_field(&form, "hosts").is_empty());
        assert!(list_field(&form, "missing").is_empty());
    }
}
