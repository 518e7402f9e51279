//! The admin page of block lists, `/admin/blocks`: what `packyard block` does, in a
//! browser, through the same service (`crate::block_lists::Blocks`).

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::error::WebError;
use super::form::{AdminForm, Fields};
use super::pages::{Chrome, render_with_status};
use super::session::{SignedIn, Viewer, WebAdmin, see_other};
use crate::access::Actor;
use crate::app::App;
use crate::block_lists::{BlockError, BlockRequest};
use crate::db::BlockRow;
use crate::error::Classify;

/// The new-block form as typed, kept when it is refused.
#[derive(Default)]
pub struct BlockForm {
    pub package: String,
    pub versions: String,
    pub reason: String,
    pub category: String,
    pub url: String,
}

impl BlockForm {
    fn posted(form: &Fields) -> BlockForm {
        BlockForm {
            package: form.get("package").to_owned(),
            versions: form.get("versions").to_owned(),
            reason: form.get("reason").to_owned(),
            category: form.get("category").to_owned(),
            url: form.get("url").to_owned(),
        }
    }

    fn request(&self) -> BlockRequest {
        BlockRequest {
            package: self.package.clone(),
            versions: Some(self.versions.clone()),
            reason: self.reason.clone(),
            category: self.category.clone(),
            url: Some(self.url.clone()),
        }
    }
}

#[derive(Template)]
#[template(path = "admin/blocks.html")]
struct BlocksPage {
    chrome: Chrome,
    rows: Vec<BlockRow>,
    /// Each category in use and whether it withdraws its versions from metadata.
    categories: Vec<(String, bool)>,
    form: BlockForm,
    message: String,
}

async fn page(
    app: &App,
    viewer: &Viewer,
    form: BlockForm,
    message: String,
    status: StatusCode,
) -> Result<Response, WebError> {
    render_with_status(
        &BlocksPage {
            chrome: Chrome::new(viewer, "Block lists"),
            rows: app.blocks.list(None).await?,
            categories: app.blocks.categories().await?,
            form,
            message,
        },
        status,
    )
}

/// What the page says about a refused form, or the error page for anything else.
fn refusal(error: BlockError) -> Result<String, WebError> {
    if error.kind().is_callers_fault() {
        Ok(error.to_string())
    } else {
        Err(error.into())
    }
}

/// `GET /admin/blocks`.
pub async fn list(
    State(app): State<Arc<App>>,
    SignedIn { viewer, .. }: WebAdmin,
) -> Result<Response, WebError> {
    page(
        &app,
        &viewer,
        BlockForm::default(),
        String::new(),
        StatusCode::OK,
    )
    .await
}

/// `POST /admin/blocks`: a new block, then the list.
pub async fn create(
    State(app): State<Arc<App>>,
    AdminForm {
        viewer,
        fields: form,
        ..
    }: AdminForm,
) -> Result<Response, WebError> {
    let posted = BlockForm::posted(&form);
    let me = Actor::Http(&viewer.signed_in()?.user);
    match app.blocks.add(posted.request(), me).await {
        Ok(_) => Ok(see_other("/admin/blocks")),
        Err(error) => {
            let message = refusal(error)?;
            page(&app, &viewer, posted, message, StatusCode::BAD_REQUEST).await
        }
    }
}

/// `POST /admin/blocks/{id}/remove`: lifts the block.
pub async fn remove(
    State(app): State<Arc<App>>,
    Path(id): Path<i64>,
    posted: AdminForm,
) -> Result<Response, WebError> {
    app.blocks.remove(id, Actor::Http(posted.user())).await?;
    Ok(see_other("/admin/blocks"))
}

/// `POST /admin/blocks/category` with `category` and `treatment` (`withdraw` or
/// `flag`).
pub async fn category(
    State(app): State<Arc<App>>,
    posted: AdminForm,
) -> Result<Response, WebError> {
    let withdraw = posted.fields.get("treatment") != "flag";
    app.blocks
        .set_withdraw(posted.fields.get("category"), withdraw)
        .await?;
    Ok(see_other("/admin/blocks"))
}
