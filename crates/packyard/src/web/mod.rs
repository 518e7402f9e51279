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
mod audit;
mod blocks;
mod dashboard;
mod error;
mod form;
mod login;
mod maintain;
mod notice;
mod operations;
mod pages;
mod profile;
mod session;
mod subrepos;

use axum::routing::{get, post};

pub use error::{NOT_FOUND_SENTENCE, NOT_FOUND_TITLE, error_page, not_found_page};
/// A package's page, `/packages/{vendor}/{package}`: served by `crate::routes`, which
/// shares that route with Packeton's JSON document of the package (`….json`).
pub use pages::package as package_page;

/// The web UI's routes (and [`package_page`], which `crate::routes` serves).
pub fn routes() -> crate::http::Routes {
    crate::http::Routes::new()
        .page("/", get(pages::index))
        // Every form's body is read by `form::read_fields` (or, for the upload, the
        // extractor `form::AdminUpload`), within limits of its own.
        .page("/login", get(login::form).post(login::submit))
        .page(
            "/login/{alias}",
            get(login::start_external).post(login::submit_to),
        )
        .page("/login/{alias}/callback", get(login::callback))
        .page("/logout", post(login::logout))
        .page("/profile", get(profile::show))
        .page("/profile/tokens", post(profile::create_token))
        .page("/profile/tokens/revoke", post(profile::revoke_token))
        .page("/packages/{vendor}/", get(pages::vendor))
        .page(
            "/packages/{vendor}/{package}/update",
            post(maintain::update),
        )
        .page(
            "/packages/{vendor}/{package}/delete",
            post(maintain::delete),
        )
        .page("/assets/{file}", get(assets::serve))
        .page("/admin", get(dashboard::show))
        .page(
            "/admin/packages",
            get(operations::packages).post(operations::add_package),
        )
        // The upload's own limit (PACKYARD_MAX_UPLOAD) applies, not axum's 2 MB default.
        .page(
            "/admin/packages/upload",
            post(operations::upload).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .page("/admin/mirrors", get(operations::mirrors))
        .page("/admin/mirrors/{alias}/approve", post(operations::approve))
        .page("/admin/mirrors/{alias}/forget", post(operations::forget))
        .page("/admin/jobs", get(operations::jobs))
        .page(
            "/admin/storage",
            get(operations::storage).post(operations::check_storage),
        )
        .page("/admin/users", get(admin::users).post(admin::create_user))
        .page(
            "/admin/users/{name}",
            get(admin::user).post(admin::update_user),
        )
        .page("/admin/users/{name}/remove", post(admin::remove_user))
        .page(
            "/admin/groups",
            get(admin::groups).post(admin::create_group),
        )
        .page("/admin/groups/{name}", get(admin::group))
        .page("/admin/groups/{name}/grants", post(admin::grant))
        .page("/admin/groups/{name}/grants/revoke", post(admin::revoke))
        .page("/admin/groups/{name}/settings", post(admin::group_settings))
        .page("/admin/groups/{name}/members", post(admin::members))
        .page("/admin/groups/{name}/remove", post(admin::remove_group))
        .page(
            "/admin/subrepos",
            get(subrepos::list).post(subrepos::create),
        )
        .page(
            "/admin/subrepos/{slug}",
            get(subrepos::edit).post(subrepos::update),
        )
        .page("/admin/subrepos/{slug}/remove", post(subrepos::remove))
        .page("/admin/audit", get(audit::list))
        .page("/admin/blocks", get(blocks::list).post(blocks::create))
        .page("/admin/blocks/category", post(blocks::category))
        .page("/admin/blocks/{id}/remove", post(blocks::remove))
}
