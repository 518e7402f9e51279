//! The web UI: server-rendered HTML from askama templates compiled into the binary
//! (`crates/packyard/templates`), with its CSS and small script embedded too
//! (`crates/packyard/assets`): nothing is fetched from elsewhere, and every page works
//! without JavaScript. Pages see what the viewer's access view shows, as the Composer
//! routes do.
//!
//! Templates are in a folder per area: `layout/` (`base.html`, the frame of every page,
//! and `macros.html`, the fragments pages share: the CSRF field, table headers,
//! one-button forms, messages), `packages/`, `account/`, `admin/` (whose `layout.html`
//! adds the admin navigation; admin pages extend it and fill `admin_content`) and
//! `errors/`. A page's struct names its template (`#[template(path = "admin/jobs.html")]`)
//! and holds a `pages::Chrome` for the frame. Asset URLs come from `assets`.

mod admin;
mod assets;
mod error;
mod form;
mod login;
mod maintain;
mod operations;
mod pages;
pub mod password;
mod profile;
mod session;

use axum::routing::{get, post};

pub use error::{error_page, not_found_page};

/// The web UI's routes.
pub fn routes() -> crate::http::Routes {
    crate::http::Routes::new()
        .route("/", get(pages::index))
        // Every form's body is read by `form::read_fields` (or, for the upload, the
        // extractor `form::AdminUpload`), within limits of its own.
        .route("/login", get(login::form).post(login::submit))
        .route("/logout", post(login::logout))
        .route("/profile", get(profile::show))
        .route("/profile/tokens", post(profile::create_token))
        .route("/profile/tokens/revoke", post(profile::revoke_token))
        .route("/packages/{vendor}/", get(pages::vendor))
        .route("/packages/{vendor}/{package}", get(pages::package))
        .route(
            "/packages/{vendor}/{package}/update",
            post(maintain::update),
        )
        .route(
            "/packages/{vendor}/{package}/delete",
            post(maintain::delete),
        )
        .route("/assets/{file}", get(assets::serve))
        .route(
            "/admin/packages",
            get(operations::packages).post(operations::add_package),
        )
        // The upload's own limit (PACKYARD_MAX_UPLOAD) applies, not axum's 2 MB default.
        .route(
            "/admin/packages/upload",
            post(operations::upload).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route("/admin/mirrors", get(operations::mirrors))
        .route("/admin/mirrors/{alias}/approve", post(operations::approve))
        .route("/admin/mirrors/{alias}/forget", post(operations::forget))
        .route("/admin/jobs", get(operations::jobs))
        .route(
            "/admin/storage",
            get(operations::storage).post(operations::check_storage),
        )
        .route("/admin/users", get(admin::users).post(admin::create_user))
        .route(
            "/admin/users/{name}",
            get(admin::user).post(admin::update_user),
        )
        .route("/admin/users/{name}/remove", post(admin::remove_user))
        .route(
            "/admin/groups",
            get(admin::groups).post(admin::create_group),
        )
        .route("/admin/groups/{name}", get(admin::group))
        .route("/admin/groups/{name}/grants", post(admin::grant))
        .route("/admin/groups/{name}/grants/revoke", post(admin::revoke))
        .route("/admin/groups/{name}/settings", post(admin::group_settings))
        .route("/admin/groups/{name}/members", post(admin::members))
        .route("/admin/groups/{name}/remove", post(admin::remove_group))
}
