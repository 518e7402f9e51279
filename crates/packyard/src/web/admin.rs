//! Admin pages for users and groups: what `packyard user` and `packyard group` do,
//! in a browser. Every change goes through [`crate::access::AccessAdmin`], as the CLI's
//! and the API's do: the pages parse forms and show the outcome.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::error::WebError;
use super::form::{AdminForm, FieldError, Fields};
use super::notice::{Done, DoneQuery, NOTHING_DONE, redirect};
use super::pages::{Chrome, render, render_with_status};
use super::session::{SignedIn, Viewer, WebAdmin, see_other};
use crate::access::Actor;
use crate::access::admin::{
    AdminError, GroupSettings, Key, Membership, NewGrant, NewUser, UserUpdate,
};
use crate::app::App;
use crate::db::{GroupRow, ROOT_SUB_REPOSITORY, Role, User, UserChange};
use crate::time::rfc3339;

/// What a form's page says when the service refused the form's input (invalid, a
/// name taken), or the error page for any other refusal.
pub(super) fn form_message(error: AdminError) -> Result<String, WebError> {
    match error {
        AdminError::Invalid(message) | AdminError::Conflict(message) => Ok(message),
        other => Err(other.into()),
    }
}

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
    Ok(app.access_admin().user(Key::Name(name)).await?)
}

/// The group the path names, with its grants and members, or the 404 page.
async fn group_named(app: &App, name: &str) -> Result<GroupRow, WebError> {
    Ok(app.access_admin().group(Key::Name(name)).await?)
}

/// A sub-repository limit as the lists show it: `all` without one.
fn describe_limit(limit: Option<&[String]>) -> String {
    match limit {
        None => "all".to_owned(),
        Some([]) => "none".to_owned(),
        Some(slugs) => slugs.join(", "),
    }
}

/// The sub-repository limit setting of a user's or group's form: "all" (no limit), or
/// only the ticked repositories.
pub struct LimitChoice {
    pub limited: bool,
    /// `root` (the root repository) and each sub-repository's slug, with whether the
    /// limit names it.
    pub options: Vec<(String, bool)>,
}

async fn limit_choice(app: &App, limit: Option<&[String]>) -> Result<LimitChoice, WebError> {
    let slugs = app.access_admin().sub_repositories().await?;
    let options = std::iter::once(ROOT_SUB_REPOSITORY.to_owned())
        .chain(slugs.into_iter().map(|row| row.slug))
        .map(|slug| {
            let named = limit.is_some_and(|limit| limit.contains(&slug));
            (slug, named)
        })
        .collect();
    Ok(LimitChoice {
        limited: limit.is_some(),
        options,
    })
}

/// The limit a form's setting ([`LimitChoice`]) posts: `None` (unchanged) from a form
/// without it, `Some(None)` for no limit.
#[allow(clippy::option_option)] // the shape of `UserChange`'s and `GroupSettings`' limits
fn limit_field(form: &Fields) -> Result<Option<Option<Vec<String>>>, FieldError> {
    match form.get("subrepos_limit") {
        "" => Ok(None),
        "all" => Ok(Some(None)),
        "some" => Ok(Some(Some(
            form.all("subrepo").into_iter().map(str::to_owned).collect(),
        ))),
        other => Err(FieldError::UnknownLimit(other.to_owned())),
    }
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
    /// Its sub-repository limit ([`describe_limit`]).
    pub subrepos: String,
    /// How it signs in: `password`, or its identity providers (and whether one of
    /// them removed it).
    pub sign_in: String,
}

impl UserLine {
    fn new(user: &User, groups: Vec<String>, providers: &[String]) -> UserLine {
        let mut sign_in = if providers.is_empty() {
            "password".to_owned()
        } else {
            providers.join(", ")
        };
        if user.deprovisioned_at.is_some() {
            sign_in.push_str(" (deprovisioned)");
        }
        UserLine {
            sign_in,
            name: user.name.clone(),
            role: role_of(user),
            full_access: user.full_access,
            expires: day(user.expires_at),
            updates_until: day(user.updates_until),
            groups,
            subrepos: describe_limit(user.subrepos.as_deref()),
        }
    }
}

#[derive(Template)]
#[template(path = "admin/users.html")]
struct UsersPage {
    chrome: Chrome,
    users: Vec<UserLine>,
    /// Every group, for the new user's memberships.
    groups: Vec<String>,
    /// The scopes a new user's first token may have (not the admins' own).
    scopes: Vec<&'static str>,
    message: String,
    notice: String,
    created: Option<Created>,
}

/// A user just created, and its first token when the admin asked for one (shown once).
struct Created {
    name: String,
    token: Option<String>,
}

async fn users_page(
    app: &App,
    viewer: &Viewer,
    message: String,
    created: Option<Created>,
    done: &DoneQuery,
    status: StatusCode,
) -> Result<Response, WebError> {
    let rules = app.db.access_rules().await?;
    let providers = app.db.identity_providers().await?;
    let all = app.db.users().await?;
    let notice = done.notice(|done, name| {
        done == Done::UserRemoved && !all.iter().any(|user| user.name == name)
    });
    let users = all
        .iter()
        .map(|user| {
            let groups = rules
                .groups
                .iter()
                .filter(|group| group.members.contains(&user.name))
                .map(|group| group.name.clone())
                .collect();
            let none = Vec::new();
            UserLine::new(user, groups, providers.get(&user.id).unwrap_or(&none))
        })
        .collect();
    render_with_status(
        &UsersPage {
            chrome: Chrome::new(viewer, "Users"),
            groups: rules
                .groups
                .iter()
                .map(|group| group.name.clone())
                .collect(),
            scopes: crate::tokens::Scope::ALL
                .iter()
                .filter(|scope| {
                    !matches!(
                        scope,
                        crate::tokens::Scope::Users | crate::tokens::Scope::Groups
                    )
                })
                .map(|scope| scope.as_str())
                .collect(),
            users,
            message,
            notice,
            created,
        },
        status,
    )
}

/// `GET /admin/users`.
pub async fn users(
    State(app): State<Arc<App>>,
    SignedIn { viewer, .. }: WebAdmin,
    Query(done): Query<DoneQuery>,
) -> Result<Response, WebError> {
    users_page(&app, &viewer, String::new(), None, &done, StatusCode::OK).await
}

fn role_field(form: &Fields) -> Result<Role, FieldError> {
    match form.get("role") {
        "" | "user" => Ok(Role::User),
        "maintainer" => Ok(Role::Maintainer),
        "admin" => Ok(Role::Admin),
        other => Err(FieldError::UnknownRole(other.to_owned())),
    }
}

/// The role, full access, dates and (from the user page) sub-repository limit a user
/// form sets; `current` is the user as the form showed it (`None` for a new user).
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
        // Set with the CLI or the API; the form leaves it as it is.
        min_release_age: None,
        subrepos: limit_field(form)?,
        groups: None,
        password_hash: None,
    })
}

/// The new password a form carries; `None` when the field is empty.
fn password_field(form: &Fields) -> Option<String> {
    Some(form.get("password").to_owned()).filter(|password| !password.is_empty())
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
    let refuse = |message: String| {
        users_page(
            &app,
            &viewer,
            message,
            None,
            &NOTHING_DONE,
            StatusCode::BAD_REQUEST,
        )
    };
    let change = match user_change(&form, None) {
        Ok(change) => change,
        Err(error) => return refuse(error.to_string()).await,
    };
    // No token unless the admin asks for one, with the scopes chosen: a user's tokens
    // are its own to make, and a secret someone else has seen is not.
    let token = if form.get("token").is_empty() {
        None
    } else {
        let scopes = form
            .all("token_scope")
            .iter()
            .map(|name| name.parse::<crate::tokens::Scope>())
            .collect::<Result<Vec<_>, _>>();
        match scopes {
            Ok(scopes) if scopes.is_empty() => {
                return refuse(
                    "Choose what the token may be used for (metadata, to install with Composer)."
                        .to_owned(),
                )
                .await;
            }
            Ok(scopes) => Some(crate::tokens::Scopes(Some(scopes))),
            Err(error) => return refuse(error.to_string()).await,
        }
    };
    let groups = form.all("group").into_iter().map(str::to_owned).collect();
    let new = NewUser {
        name: form.get("name").to_owned(),
        change,
        groups: Some(Membership::Names(groups)),
        password: password_field(&form),
        token,
    };
    let me = Actor::Http(&viewer.signed_in()?.user);
    match app.access_admin().create_user(me, new).await {
        Ok((user, token)) => {
            let created = Some(Created {
                name: user.name,
                token,
            });
            users_page(
                &app,
                &viewer,
                String::new(),
                created,
                &NOTHING_DONE,
                StatusCode::CREATED,
            )
            .await
        }
        Err(error) => refuse(form_message(error)?).await,
    }
}

#[derive(Template)]
#[template(path = "admin/user.html")]
struct UserPage {
    chrome: Chrome,
    user: UserLine,
    all_groups: Vec<(String, bool)>,
    limit: LimitChoice,
    message: String,
    notice: String,
    /// Why the viewer may not change this user (no forms are shown); empty if it may.
    locked: String,
}

async fn user_page(
    app: &App,
    viewer: &Viewer,
    name: &str,
    message: String,
    done: &DoneQuery,
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
    let groups = all_groups
        .iter()
        .filter(|(_, member)| *member)
        .map(|(group, _)| group.clone())
        .collect();
    render_with_status(
        &UserPage {
            chrome: Chrome::new(viewer, format!("User {name}")),
            user: UserLine::new(
                &user,
                groups,
                &app.db
                    .identities_of(user.id)
                    .await?
                    .into_iter()
                    .map(|identity| identity.provider)
                    .collect::<Vec<_>>(),
            ),
            all_groups,
            limit: limit_choice(app, user.subrepos.as_deref()).await?,
            message,
            notice: done.notice(|done, _| done == Done::UserSaved),
            locked,
        },
        status,
    )
}

/// `GET /admin/users/{name}`.
pub async fn user(
    State(app): State<Arc<App>>,
    SignedIn { viewer, .. }: WebAdmin,
    Path(name): Path<String>,
    Query(done): Query<DoneQuery>,
) -> Result<Response, WebError> {
    user_page(&app, &viewer, &name, String::new(), &done, StatusCode::OK).await
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
    let refuse = |message: String| {
        user_page(
            &app,
            &viewer,
            &name,
            message,
            &NOTHING_DONE,
            StatusCode::BAD_REQUEST,
        )
    };
    let (admin, me) = (app.access_admin(), Actor::Http(&viewer.signed_in()?.user));
    let current = admin.editable_user(me, Key::Name(&name)).await?;
    let change = match user_change(&form, Some(&current)) {
        Ok(change) => change,
        Err(error) => return refuse(error.to_string()).await,
    };
    let groups = form.all("group").into_iter().map(str::to_owned).collect();
    let update = UserUpdate {
        change,
        groups: Some(Membership::Names(groups)),
        password: password_field(&form),
    };
    match admin.change_user(me, &name, update).await {
        Ok(_) => Ok(redirect(
            &format!("/admin/users/{name}"),
            Done::UserSaved,
            &name,
        )),
        Err(error) => refuse(form_message(error)?).await,
    }
}

/// `POST /admin/users/{name}/remove`: the user, its tokens, memberships and sessions.
pub async fn remove_user(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    posted: AdminForm,
) -> Result<Response, WebError> {
    let me = Actor::Http(posted.user());
    app.access_admin().remove_user(me, &name).await?;
    Ok(redirect("/admin/users", Done::UserRemoved, &name))
}

#[derive(Template)]
#[template(path = "admin/groups.html")]
struct GroupsPage {
    chrome: Chrome,
    /// Each group with its sub-repository limit ([`describe_limit`]).
    groups: Vec<(GroupRow, String)>,
    message: String,
    notice: String,
}

/// The groups as their list shows them.
async fn group_lines(app: &App) -> Result<Vec<(GroupRow, String)>, WebError> {
    Ok(app
        .db
        .access_rules()
        .await?
        .groups
        .into_iter()
        .map(|group| {
            let limit = describe_limit(group.subrepos.as_deref());
            (group, limit)
        })
        .collect())
}

/// `GET /admin/groups`.
pub async fn groups(
    State(app): State<Arc<App>>,
    SignedIn { viewer, .. }: WebAdmin,
    Query(done): Query<DoneQuery>,
) -> Result<Response, WebError> {
    let groups = group_lines(&app).await?;
    let notice = done.notice(|done, name| {
        done == Done::GroupRemoved && !groups.iter().any(|(group, _)| group.name == name)
    });
    render(&GroupsPage {
        chrome: Chrome::new(&viewer, "Groups"),
        groups,
        message: String::new(),
        notice,
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
    let me = Actor::Http(&viewer.signed_in()?.user);
    let created = app
        .access_admin()
        .create_group(me, name, GroupSettings::default())
        .await;
    match created {
        Ok(_) => Ok(see_other(&format!("/admin/groups/{name}"))),
        Err(error) => render_with_status(
            &GroupsPage {
                chrome: Chrome::new(&viewer, "Groups"),
                groups: group_lines(&app).await?,
                message: form_message(error)?,
                notice: String::new(),
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
    limit: LimitChoice,
    /// The users who are not members yet, for "Add a user".
    candidates: Vec<String>,
    message: String,
    notice: String,
}

/// The group's page, confirming what `done` says was just done when the group agrees.
/// A group's page saying why a form posted to it was refused (`400`).
async fn group_refusal(
    app: &App,
    viewer: &Viewer,
    name: &str,
    message: String,
) -> Result<Response, WebError> {
    group_page(
        app,
        viewer,
        name,
        message,
        &NOTHING_DONE,
        StatusCode::BAD_REQUEST,
    )
    .await
}

async fn group_page(
    app: &App,
    viewer: &Viewer,
    name: &str,
    message: String,
    done: &DoneQuery,
    status: StatusCode,
) -> Result<Response, WebError> {
    let group = group_named(app, name).await?;
    let granted = |package: &str| group.grants.iter().any(|(target, _)| target == package);
    let member = |user: &str| group.members.iter().any(|m| m == user);
    let notice = done.notice(|done, what| match done {
        Done::Granted => granted(what),
        Done::Revoked => !granted(what),
        Done::MemberAdded => member(what),
        Done::MemberRemoved => !member(what),
        Done::SettingsSaved => true,
        _ => false,
    });
    let candidates = app
        .db
        .users()
        .await?
        .into_iter()
        .map(|user| user.name)
        .filter(|user| !member(user))
        .collect();
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
            limit: limit_choice(app, group.subrepos.as_deref()).await?,
            group,
            mirrors,
            candidates,
            message,
            notice,
        },
        status,
    )
}

/// `GET /admin/groups/{name}`: grants, freeze, mirrors and members.
pub async fn group(
    State(app): State<Arc<App>>,
    SignedIn { viewer, .. }: WebAdmin,
    Path(name): Path<String>,
    Query(done): Query<DoneQuery>,
) -> Result<Response, WebError> {
    group_page(&app, &viewer, &name, String::new(), &done, StatusCode::OK).await
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
    let grant = NewGrant {
        package: form.get("package").to_owned(),
        versions: Some(form.get("versions").to_owned()).filter(|v| !v.is_empty()),
    };
    let me = Actor::Http(&viewer.signed_in()?.user);
    let package = grant.package.clone();
    match app.access_admin().grant(me, &name, grant).await {
        Ok(_) => Ok(redirect(
            &format!("/admin/groups/{name}"),
            Done::Granted,
            &package,
        )),
        Err(error) => {
            let message = form_message(error)?;
            group_refusal(&app, &viewer, &name, message).await
        }
    }
}

/// `POST /admin/groups/{name}/grants/revoke`.
pub async fn revoke(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    posted: AdminForm,
) -> Result<Response, WebError> {
    let me = Actor::Http(posted.user());
    let package = posted.fields.get("package");
    app.access_admin().revoke(me, &name, package).await?;
    Ok(redirect(
        &format!("/admin/groups/{name}"),
        Done::Revoked,
        package,
    ))
}

/// `POST /admin/groups/{name}/settings`: the update freeze, the mirrors and the
/// sub-repositories its grants count in.
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
    let fields = changed_moment(
        &form,
        "updates_until",
        "Updates until",
        current.updates_until,
    )
    .and_then(|updates_until| Ok((updates_until, limit_field(&form)?)));
    let (updates_until, subrepos) = match fields {
        Ok(fields) => fields,
        Err(error) => {
            return group_refusal(&app, &viewer, &name, error.to_string()).await;
        }
    };
    let settings = GroupSettings {
        updates_until,
        min_release_age: None,
        mirrors: Some(form.all("mirror").into_iter().map(str::to_owned).collect()),
        grants: None,
        subrepos,
    };
    let me = Actor::Http(&viewer.signed_in()?.user);
    match app.access_admin().change_group(me, &name, settings).await {
        Ok(_) => Ok(redirect(
            &format!("/admin/groups/{name}"),
            Done::SettingsSaved,
            "",
        )),
        Err(error) => {
            let message = form_message(error)?;
            group_refusal(&app, &viewer, &name, message).await
        }
    }
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
    let (admin, me) = (app.access_admin(), Actor::Http(&viewer.signed_in()?.user));
    let adding = form.get("action") == "add";
    let changed = if adding {
        admin.add_member(me, &name, user).await
    } else {
        admin.remove_member(me, &name, user).await
    };
    match changed {
        Ok(()) => Ok(redirect(
            &format!("/admin/groups/{name}"),
            if adding {
                Done::MemberAdded
            } else {
                Done::MemberRemoved
            },
            user,
        )),
        // A user name typed into the form that is nobody's, said on the group's page
        // (which is the 404 page when the group is gone).
        Err(AdminError::NotFound(message)) => group_refusal(&app, &viewer, &name, message).await,
        Err(error) => Err(error.into()),
    }
}

/// `POST /admin/groups/{name}/remove`.
pub async fn remove_group(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    posted: AdminForm,
) -> Result<Response, WebError> {
    let me = Actor::Http(posted.user());
    app.access_admin().remove_group(me, &name).await?;
    Ok(redirect("/admin/groups", Done::GroupRemoved, &name))
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
