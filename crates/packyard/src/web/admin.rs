//! Admin pages for users and groups: what `packyard user` and `packyard group` do,
//! in a browser. Every change goes through the same database calls as the CLI and the
//! API, so it reaches every replica within the access refresh (and this one at once).

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use composer::constraint::Constraint;

use super::error::WebError;
use super::form::{AdminForm, FieldError, Fields};
use super::pages::{Chrome, render, render_with_status};
use super::password;
use super::session::{Viewer, see_other};
use crate::access::{Actor, check_grant_target};
use crate::app::App;
use crate::auth::{generate_token, hash_token, validate_user_name};
use crate::db::{GroupChange, GroupRow, Role, User, UserChange, is_unique_violation};
use crate::time::rfc3339;

/// A moment as the forms show it, in a form [`crate::time::parse_moment`] reads back
/// to the same moment: a day (`2026-12-31`, which means its end) when it is the end
/// of one, else the exact time. Empty for none.
fn day(at: Option<i64>) -> String {
    at.map(|ms| {
        if ms % 86_400_000 == 0 {
            rfc3339((ms - 1) / 1000)[..10].to_owned()
        } else {
            rfc3339(ms / 1000).replace("+00:00", "Z")
        }
    })
    .unwrap_or_default()
}

/// A date field's new value: `None` (unchanged) when the form sends back what it was
/// shown, so that saving a form never moves a date; `Some(None)` removes the date.
#[allow(clippy::option_option)] // the shape of `UserChange`'s and `GroupChange`'s dates
fn changed_moment(
    form: &Fields,
    name: &str,
    label: &str,
    current: Option<i64>,
) -> Result<Option<Option<i64>>, FieldError> {
    if form.get(name) == day(current) {
        return Ok(None);
    }
    form.moment(name, label).map(Some)
}

/// The user the path names, or the 404 page.
async fn user_named(app: &App, name: &str) -> Result<User, WebError> {
    let found = app.db.user_with_password(name).await?;
    found.map(|(user, _)| user).ok_or(WebError::NotFound)
}

/// The user the path names, when the signed-in admin may change it
/// ([`crate::access::may_change_account`]: not an admin, not itself).
async fn editable_user(app: &App, admin: &User, name: &str) -> Result<User, WebError> {
    let user = user_named(app, name).await?;
    crate::access::may_change_account(Actor::Http(admin), &user)
        .map_err(|refused| WebError::Forbidden(refused.to_string()))?;
    Ok(user)
}

/// The group the path names, with its grants and members, or the 404 page.
async fn group_named(app: &App, name: &str) -> Result<GroupRow, WebError> {
    let rules = app.db.access_rules().await?;
    let group = rules.groups.into_iter().find(|group| group.name == name);
    group.ok_or(WebError::NotFound)
}

fn role_of(user: &User) -> &'static str {
    if user.is_admin {
        "admin"
    } else if user.is_maintainer {
        "maintainer"
    } else {
        "user"
    }
}

/// A user as the admin pages list it.
pub struct UserLine {
    pub name: String,
    pub role: &'static str,
    pub full_access: bool,
    pub expires: String,
    pub updates_until: String,
    pub groups: Vec<String>,
}

#[derive(Template)]
#[template(path = "admin/users.html")]
struct UsersPage {
    chrome: Chrome,
    users: Vec<UserLine>,
    message: String,
    /// A user just created and its first token, shown once.
    created: Option<(String, String)>,
}

async fn users_page(
    app: &App,
    viewer: &Viewer,
    message: String,
    created: Option<(String, String)>,
    status: StatusCode,
) -> Result<Response, WebError> {
    let rules = app.db.access_rules().await?;
    let users = app
        .db
        .users()
        .await?
        .iter()
        .map(|user| UserLine {
            name: user.name.clone(),
            role: role_of(user),
            full_access: user.full_access,
            expires: day(user.expires_at),
            updates_until: day(user.updates_until),
            groups: rules
                .groups
                .iter()
                .filter(|group| group.members.contains(&user.name))
                .map(|group| group.name.clone())
                .collect(),
        })
        .collect();
    render_with_status(
        &UsersPage {
            chrome: Chrome::new(viewer, "Users"),
            users,
            message,
            created,
        },
        status,
    )
}

/// `GET /admin/users`.
pub async fn users(State(app): State<Arc<App>>, viewer: Viewer) -> Result<Response, WebError> {
    viewer.admin()?;
    users_page(&app, &viewer, String::new(), None, StatusCode::OK).await
}

fn role_field(form: &Fields) -> Result<Role, FieldError> {
    match form.get("role") {
        "" | "user" => Ok(Role::User),
        "maintainer" => Ok(Role::Maintainer),
        "admin" => Ok(Role::Admin),
        other => Err(FieldError::UnknownRole(other.to_owned())),
    }
}

/// The role, full access and dates a user form sets; `current` is the user as the form
/// showed it (`None` for a new user).
fn user_change(form: &Fields, current: Option<&User>) -> Result<UserChange, FieldError> {
    Ok(UserChange {
        role: Some(role_field(form)?),
        full_access: Some(form.checked("full_access")),
        expires_at: changed_moment(
            form,
            "expires",
            "Expires",
            current.and_then(|u| u.expires_at),
        )?,
        updates_until: changed_moment(
            form,
            "updates_until",
            "Updates until",
            current.and_then(|u| u.updates_until),
        )?,
    })
}

/// The new password a form carries, hashed; `None` when the field is empty.
async fn password_field(form: &Fields) -> Result<Option<String>, WebError> {
    let password = form.get("password").to_owned();
    if password.is_empty() {
        return Ok(None);
    }
    password::check(&password).map_err(|error| WebError::BadRequest(error.to_string()))?;
    password::hash_in_slot(password)
        .await
        .map(Some)
        .map_err(|busy| WebError::BadRequest(busy.to_string()))
}

/// `POST /admin/users`: creates a user and shows its first API token once.
pub async fn create_user(
    State(app): State<Arc<App>>,
    AdminForm {
        viewer,
        fields: form,
        ..
    }: AdminForm,
) -> Result<Response, WebError> {
    let name = form.get("name").to_owned();
    let refuse =
        |message: String| users_page(&app, &viewer, message, None, StatusCode::BAD_REQUEST);
    if let Err(error) = validate_user_name(&name) {
        return refuse(error.to_string()).await;
    }
    let change = match user_change(&form, None) {
        Ok(change) => change,
        Err(error) => return refuse(error.to_string()).await,
    };
    crate::access::may_apply(Actor::Http(&viewer.signed_in()?.user), &change)
        .map_err(|refused| WebError::Forbidden(refused.to_string()))?;
    let password_hash = match password_field(&form).await {
        Ok(hash) => hash,
        Err(WebError::BadRequest(message)) => return refuse(message).await,
        Err(error) => return Err(error),
    };
    let token = generate_token();
    let role = change.role.unwrap_or(Role::User);
    match app.db.create_user(&name, role, &hash_token(&token)).await {
        Ok(_) => {}
        Err(error) if is_unique_violation(&error) => {
            return refuse(format!("a user named {name} already exists")).await;
        }
        Err(error) => return Err(error.into()),
    }
    app.db.change_user(&name, &change).await?;
    if let Some(hash) = password_hash {
        app.db.set_password(&name, Some(&hash)).await?;
    }
    app.apply_access_changes().await?;
    users_page(
        &app,
        &viewer,
        String::new(),
        Some((name, token)),
        StatusCode::CREATED,
    )
    .await
}

#[derive(Template)]
#[template(path = "admin/user.html")]
struct UserPage {
    chrome: Chrome,
    user: UserLine,
    all_groups: Vec<(String, bool)>,
    message: String,
    /// Why the viewer may not change this user (no forms are shown); empty if it may.
    locked: String,
}

async fn user_page(
    app: &App,
    viewer: &Viewer,
    name: &str,
    message: String,
    status: StatusCode,
) -> Result<Response, WebError> {
    let user = user_named(app, name).await?;
    let locked = match viewer.signed_in() {
        Ok(session) => crate::access::may_change_account(Actor::Http(&session.user), &user)
            .err()
            .map(|refused| refused.to_string())
            .unwrap_or_default(),
        Err(_) => String::new(),
    };
    let rules = app.db.access_rules().await?;
    let all_groups: Vec<(String, bool)> = rules
        .groups
        .iter()
        .map(|group| (group.name.clone(), group.members.contains(&user.name)))
        .collect();
    render_with_status(
        &UserPage {
            chrome: Chrome::new(viewer, format!("User {name}")),
            user: UserLine {
                name: user.name.clone(),
                role: role_of(&user),
                full_access: user.full_access,
                expires: day(user.expires_at),
                updates_until: day(user.updates_until),
                groups: all_groups
                    .iter()
                    .filter(|(_, member)| *member)
                    .map(|(group, _)| group.clone())
                    .collect(),
            },
            all_groups,
            message,
            locked,
        },
        status,
    )
}

/// `GET /admin/users/{name}`.
pub async fn user(
    State(app): State<Arc<App>>,
    viewer: Viewer,
    Path(name): Path<String>,
) -> Result<Response, WebError> {
    viewer.admin()?;
    user_page(&app, &viewer, &name, String::new(), StatusCode::OK).await
}

/// `POST /admin/users/{name}`: role, full access, dates, groups and (when given) a new
/// password, which ends the user's sessions.
pub async fn update_user(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    AdminForm {
        viewer,
        fields: form,
        ..
    }: AdminForm,
) -> Result<Response, WebError> {
    let refuse =
        |message: String| user_page(&app, &viewer, &name, message, StatusCode::BAD_REQUEST);
    let current = editable_user(&app, &viewer.signed_in()?.user, &name).await?;
    let change = match user_change(&form, Some(&current)) {
        Ok(change) => change,
        Err(error) => return refuse(error.to_string()).await,
    };
    crate::access::may_apply(Actor::Http(&viewer.signed_in()?.user), &change)
        .map_err(|refused| WebError::Forbidden(refused.to_string()))?;
    let password_hash = match password_field(&form).await {
        Ok(hash) => hash,
        Err(WebError::BadRequest(message)) => return refuse(message).await,
        Err(error) => return Err(error),
    };
    if app.db.change_user(&name, &change).await?.is_none() {
        return Err(WebError::NotFound);
    }
    let wanted = form.all("group");
    let groups: Vec<i64> = app
        .db
        .access_rules()
        .await?
        .groups
        .iter()
        .filter(|group| wanted.contains(&group.name.as_str()))
        .map(|group| group.id)
        .collect();
    app.db.set_user_groups(&name, &groups).await?;
    if let Some(hash) = password_hash {
        app.db.set_password(&name, Some(&hash)).await?;
    }
    app.apply_access_changes().await?;
    Ok(see_other(&format!("/admin/users/{name}")))
}

/// `POST /admin/users/{name}/remove`: the user, its tokens, memberships and sessions.
pub async fn remove_user(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    posted: AdminForm,
) -> Result<Response, WebError> {
    editable_user(&app, posted.user(), &name).await?;
    if !app.db.remove_user(&name).await? {
        return Err(WebError::NotFound);
    }
    app.apply_access_changes().await?;
    Ok(see_other("/admin/users"))
}

#[derive(Template)]
#[template(path = "admin/groups.html")]
struct GroupsPage {
    chrome: Chrome,
    groups: Vec<GroupRow>,
    message: String,
}

/// `GET /admin/groups`.
pub async fn groups(State(app): State<Arc<App>>, viewer: Viewer) -> Result<Response, WebError> {
    viewer.admin()?;
    render(&GroupsPage {
        chrome: Chrome::new(&viewer, "Groups"),
        groups: app.db.access_rules().await?.groups,
        message: String::new(),
    })
}

/// `POST /admin/groups`: a new, empty group.
pub async fn create_group(
    State(app): State<Arc<App>>,
    AdminForm {
        viewer,
        fields: form,
        ..
    }: AdminForm,
) -> Result<Response, WebError> {
    let name = form.get("name");
    let problem = if validate_user_name(name).is_err() {
        Some(format!(
            "invalid group name {name:?}: use 1-64 letters, digits, '.', '_' or '-'"
        ))
    } else {
        match app.db.create_group(name).await {
            Ok(_) => None,
            Err(error) if is_unique_violation(&error) => {
                Some(format!("a group named {name} already exists"))
            }
            Err(error) => return Err(error.into()),
        }
    };
    match problem {
        None => {
            app.apply_access_changes().await?;
            Ok(see_other(&format!("/admin/groups/{name}")))
        }
        Some(message) => render_with_status(
            &GroupsPage {
                chrome: Chrome::new(&viewer, "Groups"),
                groups: app.db.access_rules().await?.groups,
                message,
            },
            StatusCode::BAD_REQUEST,
        ),
    }
}

#[derive(Template)]
#[template(path = "admin/group.html")]
struct GroupPage {
    chrome: Chrome,
    group: GroupRow,
    updates_until: String,
    mirrors: Vec<(String, bool)>,
    message: String,
}

async fn group_page(
    app: &App,
    viewer: &Viewer,
    name: &str,
    message: String,
    status: StatusCode,
) -> Result<Response, WebError> {
    let group = group_named(app, name).await?;
    let mut mirrors: Vec<(String, bool)> = app
        .mirrors
        .aliases()
        .map(|alias| (alias.clone(), group.mirrors.contains(alias)))
        .collect();
    mirrors.sort();
    render_with_status(
        &GroupPage {
            chrome: Chrome::new(viewer, format!("Group {name}")),
            updates_until: day(group.updates_until),
            group,
            mirrors,
            message,
        },
        status,
    )
}

/// `GET /admin/groups/{name}`: grants, freeze, mirrors and members.
pub async fn group(
    State(app): State<Arc<App>>,
    viewer: Viewer,
    Path(name): Path<String>,
) -> Result<Response, WebError> {
    viewer.admin()?;
    group_page(&app, &viewer, &name, String::new(), StatusCode::OK).await
}

/// `POST /admin/groups/{name}/grants`: grants a package or pattern, with an optional
/// version constraint (replacing the group's grant of the same target).
pub async fn grant(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    AdminForm {
        viewer,
        fields: form,
        ..
    }: AdminForm,
) -> Result<Response, WebError> {
    let package = form.get("package").to_ascii_lowercase();
    let versions = Some(form.get("versions")).filter(|v| !v.is_empty());
    let problem = check_grant_target(&package)
        .map_err(|error| error.to_string())
        .and_then(|()| {
            versions.map_or(Ok(()), |v| {
                Constraint::parse(v)
                    .map(|_| ())
                    .map_err(|error| format!("versions {v:?}: {error}"))
            })
        });
    if let Err(message) = problem {
        return group_page(&app, &viewer, &name, message, StatusCode::BAD_REQUEST).await;
    }
    if !app.db.grant(&name, &package, versions).await? {
        return Err(WebError::NotFound);
    }
    app.apply_access_changes().await?;
    Ok(see_other(&format!("/admin/groups/{name}")))
}

/// `POST /admin/groups/{name}/grants/revoke`.
pub async fn revoke(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    posted: AdminForm,
) -> Result<Response, WebError> {
    app.db.revoke(&name, posted.fields.get("package")).await?;
    app.apply_access_changes().await?;
    Ok(see_other(&format!("/admin/groups/{name}")))
}

/// `POST /admin/groups/{name}/settings`: the update freeze and the mirrors.
pub async fn group_settings(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    AdminForm {
        viewer,
        fields: form,
        ..
    }: AdminForm,
) -> Result<Response, WebError> {
    let current = group_named(&app, &name).await?;
    let updates_until = match changed_moment(
        &form,
        "updates_until",
        "Updates until",
        current.updates_until,
    ) {
        Ok(at) => at,
        Err(error) => {
            return group_page(
                &app,
                &viewer,
                &name,
                error.to_string(),
                StatusCode::BAD_REQUEST,
            )
            .await;
        }
    };
    let mirrors = form
        .all("mirror")
        .into_iter()
        .filter(|alias| app.mirrors.get(alias).is_some())
        .map(str::to_owned)
        .collect();
    let change = GroupChange {
        updates_until,
        mirrors: Some(mirrors),
    };
    if !app.db.change_group(&name, &change).await? {
        return Err(WebError::NotFound);
    }
    app.apply_access_changes().await?;
    Ok(see_other(&format!("/admin/groups/{name}")))
}

/// `POST /admin/groups/{name}/members`: adds (`action=add`) or removes a user.
pub async fn members(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    AdminForm {
        viewer,
        fields: form,
        ..
    }: AdminForm,
) -> Result<Response, WebError> {
    let user = form.get("user");
    let add = form.get("action") == "add";
    if app.db.set_membership(&name, user, add).await?.is_none() {
        let message = format!("there is no user {user:?}");
        return group_page(&app, &viewer, &name, message, StatusCode::BAD_REQUEST).await;
    }
    app.apply_access_changes().await?;
    Ok(see_other(&format!("/admin/groups/{name}")))
}

/// `POST /admin/groups/{name}/remove`.
pub async fn remove_group(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    _: AdminForm,
) -> Result<Response, WebError> {
    if !app.db.remove_group(&name).await? {
        return Err(WebError::NotFound);
    }
    app.apply_access_changes().await?;
    Ok(see_other("/admin/groups"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::parse_moment;

    #[test]
    fn shown_dates_read_back_to_the_same_moment() {
        for text in ["2026-12-31", "2027-02-28", "2026-12-31T12:30:00Z"] {
            let at = parse_moment(text, 0).unwrap();
            assert_eq!(day(Some(at)), text);
            assert_eq!(parse_moment(&day(Some(at)), 0), Some(at), "{text}");
        }
        assert_eq!(day(None), "");
    }

    #[test]
    fn a_form_sent_back_unchanged_changes_no_date() {
        let at = parse_moment("2026-12-31", 0).unwrap();
        let form = |value: &str| {
            serde_json::from_value::<Fields>(serde_json::json!([["expires", value]])).unwrap()
        };
        assert_eq!(
            changed_moment(&form("2026-12-31"), "expires", "E", Some(at)),
            Ok(None)
        );
        assert_eq!(
            changed_moment(&form("2027-01-31"), "expires", "E", Some(at)),
            Ok(Some(parse_moment("2027-01-31", 0)))
        );
        assert_eq!(
            changed_moment(&form(""), "expires", "E", Some(at)),
            Ok(Some(None))
        );
        assert_eq!(changed_moment(&form(""), "expires", "E", None), Ok(None));
        assert!(changed_moment(&form("soon"), "expires", "E", None).is_err());
        assert!(changed_moment(&form("99999-01-01"), "expires", "E", None).is_err());
    }
}
