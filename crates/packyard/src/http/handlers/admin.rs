//! The access API, with Packeton's paths and fields: users (`/api/users`,
//! `/api/user/{id}`), groups (`/api/groups`, `/api/group/{id}`), tokens (`/api/tokens`),
//! and the packages a caller may see (`/api/packages`). Admins only, except that every
//! user manages its own tokens and lists what it sees. The handlers parse Packeton's
//! JSON and render it: every change, and its rules, are [`crate::access::AccessAdmin`]'s.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use composer::package_name::PackageName;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::access::Actor;
use crate::access::admin::{
    GroupSettings, Key, Membership, NewGrant, NewToken, NewUser, UserUpdate,
};
use crate::access::subrepos::SubRepositoryChange;
use crate::app::App;
use crate::db::{
    GroupRow, Role, SubRepositoryFields, SubRepositoryRow, User, UserChange, now_millis,
};
use crate::http::extractors::access::{Admin, Reader, SignedIn};
use crate::http::extractors::paths::PackagePath;
use crate::http::{ApiError, JsonBody};
use crate::redact;
use crate::time::{parse_moment, rfc3339};
use crate::tokens::{Scope, Scopes};

/// A date field: `null` clears it, a string is a date, time or span.
fn date_field(value: &Value, field: &str) -> Result<Option<i64>, ApiError> {
    match value {
        Value::Null => Ok(None),
        Value::String(text) => parse_moment(text, now_millis()).map(Some).ok_or_else(|| {
            ApiError::bad_request(format!(
                "{field}: {text:?} is not a date (2026-12-31), a time (2026-12-31T12:00:00Z) or a span (30d)"
            ))
        }),
        other => Err(ApiError::bad_request(format!("{field}: expected a date string or null, got {other}"))),
    }
}

/// `minReleaseAge`: a span (`"3d"`, `"72h"`), or `null` (or `"none"`) for none.
fn age_field(value: &Value) -> Result<Option<i64>, ApiError> {
    match value {
        Value::Null => Ok(None),
        Value::String(text) => crate::supply_chain::release_age::parse(text)
            .map_err(|error| ApiError::bad_request(format!("minReleaseAge: {error}"))),
        other => Err(ApiError::bad_request(format!(
            "minReleaseAge: expected a span such as \"3d\" or null, got {other}"
        ))),
    }
}

fn age_json(age: Option<i64>) -> Value {
    age.map_or(Value::Null, |ms| {
        json!(crate::supply_chain::release_age::describe(ms))
    })
}

fn time_json(at: Option<i64>) -> Value {
    at.map_or(Value::Null, |ms| json!(rfc3339(ms / 1000)))
}

pub(super) fn parse_body<T: for<'de> Deserialize<'de>>(
    body: &[u8],
    expected: &str,
) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("expected {expected}: {e}")))
}

// ---- users ----

fn user_json(user: &User, groups: &[i64]) -> Value {
    let mut roles = vec!["ROLE_USER"];
    if user.full_access {
        roles.push("ROLE_FULL_CUSTOMER");
    }
    if user.is_maintainer {
        roles.push("ROLE_MAINTAINER");
    }
    if user.is_admin {
        roles.push("ROLE_ADMIN");
    }
    json!({
        "id": user.id,
        "username": user.name,
        "enabled": true,
        "expiresAt": time_json(user.expires_at),
        "expiredUpdatesAt": time_json(user.updates_until),
        "minReleaseAge": age_json(user.min_release_age),
        "roles": roles,
        "isMaintainer": user.is_maintainer,
        "fullAccess": user.full_access,
        "groups": groups,
        "subRepos": user.subrepos,
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct UserBody {
    username: Option<String>,
    #[serde(default)]
    enabled: Option<bool>,
    full_access: Option<bool>,
    is_maintainer: Option<bool>,
    is_admin: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    expires_at: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    expired_updates_at: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    min_release_age: Option<Value>,
    groups: Option<Vec<i64>>,
    #[serde(default, deserialize_with = "present")]
    sub_repos: Option<Value>,
}

/// Distinguishes a field set to `null` (`Some(Null)`) from one left out (`None`).
fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

impl UserBody {
    fn change(&self) -> Result<UserChange, ApiError> {
        let role = match (self.is_admin, self.is_maintainer) {
            (Some(true), _) => Some(Role::Admin),
            (_, Some(true)) => Some(Role::Maintainer),
            (Some(false), _) | (_, Some(false)) => Some(Role::User),
            (None, None) => None,
        };
        Ok(UserChange {
            role,
            full_access: self.full_access,
            expires_at: self
                .expires_at
                .as_ref()
                .map(|v| date_field(v, "expiresAt"))
                .transpose()?,
            updates_until: self
                .expired_updates_at
                .as_ref()
                .map(|v| date_field(v, "expiredUpdatesAt"))
                .transpose()?,
            min_release_age: self.min_release_age.as_ref().map(age_field).transpose()?,
            subrepos: self.sub_repos.as_ref().map(limit_field).transpose()?,
            groups: None,
            password_hash: None,
        })
    }
}

/// `subRepos`: a list of sub-repository slugs (`root` for the root repository), or
/// `null` for no limit.
fn limit_field(value: &Value) -> Result<Option<Vec<String>>, ApiError> {
    match value {
        Value::Null => Ok(None),
        Value::Array(entries) => entries
            .iter()
            .map(|entry| entry.as_str().map(str::to_owned))
            .collect::<Option<Vec<String>>>()
            .map(Some)
            .ok_or_else(|| {
                ApiError::bad_request("subRepos: a list of sub-repository slugs, or null")
            }),
        _ => Err(ApiError::bad_request(
            "subRepos: a list of sub-repository slugs, or null",
        )),
    }
}

async fn memberships(app: &App) -> Result<std::collections::HashMap<i64, Vec<i64>>, ApiError> {
    Ok(app.db.access_rules().await?.memberships)
}

/// `GET /api/users`.
pub async fn list_users(State(app): State<Arc<App>>, _: Admin) -> Result<Response, ApiError> {
    let groups = memberships(&app).await?;
    let users: Vec<Value> = app
        .db
        .users()
        .await?
        .iter()
        .map(|u| user_json(u, groups.get(&u.id).map_or(&[], Vec::as_slice)))
        .collect();
    Ok(Json(users).into_response())
}

/// `GET /api/user/{id}`.
pub async fn get_user(
    State(app): State<Arc<App>>,
    _: Admin,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let user = app.access_admin().user(Key::Id(id)).await?;
    let groups = memberships(&app).await?;
    Ok(Json(user_json(&user, groups.get(&id).map_or(&[], Vec::as_slice))).into_response())
}

/// `POST /api/users`: a new user; its first token is in the answer (shown once).
pub async fn create_user(
    State(app): State<Arc<App>>,
    Admin(me): Admin,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let body: UserBody = parse_body(&body, r#"{"username": "...", ...}"#)?;
    let name = body
        .username
        .clone()
        .ok_or_else(|| ApiError::bad_request("username is required"))?;
    let groups = body.groups.clone().unwrap_or_default();
    let new = NewUser {
        name,
        change: body.change()?,
        groups: Some(Membership::Ids(groups.clone())),
        password: None,
        // Packeton's API answers a new user with its `apiToken`: the calling system
        // provisions it.
        token: Some(crate::tokens::Scopes(None)),
    };
    let (user, token) = app
        .access_admin()
        .create_user(Actor::Http(&me), new)
        .await?;
    let mut answer = user_json(&user, &groups);
    answer["apiToken"] = json!(token);
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

/// `PUT /api/user/{id}`: changes the fields given. Neither yourself nor an admin can be
/// edited this way (the CLI can): see [`crate::access::accounts`].
pub async fn update_user(
    State(app): State<Arc<App>>,
    Admin(me): Admin,
    Path(id): Path<i64>,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let body: UserBody = parse_body(&body, "user fields")?;
    let admin = app.access_admin();
    let user = admin.editable_user(Actor::Http(&me), Key::Id(id)).await?;
    if body.username.as_ref().is_some_and(|n| *n != user.name) {
        return Err(ApiError::bad_request("a user cannot be renamed"));
    }
    if body.enabled == Some(false) {
        return Err(ApiError::bad_request(
            "to disable a user, set expiresAt to a past date or DELETE it",
        ));
    }
    let update = UserUpdate {
        change: body.change()?,
        groups: body.groups.clone().map(Membership::Ids),
        password: None,
    };
    let user = admin
        .change_user(Actor::Http(&me), &user.name, update)
        .await?;
    let groups = memberships(&app).await?;
    Ok(Json(user_json(&user, groups.get(&id).map_or(&[], Vec::as_slice))).into_response())
}

/// `DELETE /api/user/{id}`.
pub async fn delete_user(
    State(app): State<Arc<App>>,
    Admin(me): Admin,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let admin = app.access_admin();
    let user = admin.editable_user(Actor::Http(&me), Key::Id(id)).await?;
    admin.remove_user(Actor::Http(&me), &user.name).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---- groups ----

fn group_json(group: &GroupRow) -> Value {
    let permissions: Vec<Value> = group
        .grants
        .iter()
        .map(|(name, version)| json!({"name": name, "version": version}))
        .collect();
    json!({
        "id": group.id,
        "name": group.name,
        "proxies": group.mirrors,
        "expiredUpdatesAt": time_json(group.updates_until),
        "minReleaseAge": age_json(group.min_release_age),
        "packages": group.grants.iter().map(|(name, _)| name).collect::<Vec<_>>(),
        "aclPermissions": permissions,
        "members": group.members,
        "subRepos": group.subrepos,
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct GroupBody {
    name: Option<String>,
    acl_permissions: Option<Vec<Permission>>,
    #[serde(default, deserialize_with = "present")]
    expired_updates_at: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    min_release_age: Option<Value>,
    proxies: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    sub_repos: Option<Value>,
}

/// `"vendor/pkg"` or `{"name": "vendor/pkg", "version": "^1.0"}`.
#[derive(Deserialize)]
#[serde(untagged)]
enum Permission {
    Name(String),
    Versions {
        name: String,
        version: Option<String>,
    },
}

impl GroupBody {
    /// The settings given; `aclPermissions` replaces every grant (a blank version
    /// grants every version).
    fn settings(&self) -> Result<GroupSettings, ApiError> {
        let grants = self.acl_permissions.as_ref().map(|permissions| {
            permissions
                .iter()
                .map(|permission| match permission {
                    Permission::Name(name) => NewGrant {
                        package: name.clone(),
                        versions: None,
                    },
                    Permission::Versions { name, version } => NewGrant {
                        package: name.clone(),
                        versions: version.clone().filter(|v| !v.trim().is_empty()),
                    },
                })
                .collect()
        });
        Ok(GroupSettings {
            updates_until: self
                .expired_updates_at
                .as_ref()
                .map(|v| date_field(v, "expiredUpdatesAt"))
                .transpose()?,
            min_release_age: self.min_release_age.as_ref().map(age_field).transpose()?,
            mirrors: self.proxies.clone(),
            grants,
            subrepos: self.sub_repos.as_ref().map(limit_field).transpose()?,
        })
    }
}

/// `GET /api/groups`.
pub async fn list_groups(State(app): State<Arc<App>>, _: Admin) -> Result<Response, ApiError> {
    let groups: Vec<Value> = app
        .db
        .access_rules()
        .await?
        .groups
        .iter()
        .map(group_json)
        .collect();
    Ok(Json(groups).into_response())
}

/// `GET /api/group/{id}`.
pub async fn get_group(
    State(app): State<Arc<App>>,
    _: Admin,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let group = app.access_admin().group(Key::Id(id)).await?;
    Ok(Json(group_json(&group)).into_response())
}

/// `POST /api/groups`.
pub async fn create_group(
    State(app): State<Arc<App>>,
    Admin(me): Admin,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let body: GroupBody = parse_body(&body, r#"{"name": "...", "aclPermissions": [...]}"#)?;
    let name = body
        .name
        .as_deref()
        .ok_or_else(|| ApiError::bad_request("name is required"))?;
    let group = app
        .access_admin()
        .create_group(Actor::Http(&me), name, body.settings()?)
        .await?;
    Ok((StatusCode::CREATED, Json(group_json(&group))).into_response())
}

/// `PUT /api/group/{id}`: `aclPermissions` replaces every grant; other fields change
/// when given.
pub async fn update_group(
    State(app): State<Arc<App>>,
    Admin(me): Admin,
    Path(id): Path<i64>,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let body: GroupBody = parse_body(&body, "group fields")?;
    let admin = app.access_admin();
    let group = admin.group(Key::Id(id)).await?;
    if body.name.as_ref().is_some_and(|n| *n != group.name) {
        return Err(ApiError::bad_request("a group cannot be renamed"));
    }
    let group = admin
        .change_group(Actor::Http(&me), &group.name, body.settings()?)
        .await?;
    Ok(Json(group_json(&group)).into_response())
}

/// `DELETE /api/group/{id}`.
pub async fn delete_group(
    State(app): State<Arc<App>>,
    Admin(me): Admin,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let admin = app.access_admin();
    let group = admin.group(Key::Id(id)).await?;
    admin.remove_group(Actor::Http(&me), &group.name).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---- sub-repositories ----

fn sub_repository_json(row: &SubRepositoryRow) -> Value {
    json!({
        "slug": row.slug,
        "name": row.name,
        "packages": row.packages,
        "hosts": row.hosts,
        "public": row.public,
        "mirrors": row.mirrors,
        "createdAt": time_json(Some(row.created_at)),
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SubRepositoryBody {
    slug: Option<String>,
    name: Option<String>,
    packages: Option<Vec<String>>,
    add_packages: Option<Vec<String>>,
    remove_packages: Option<Vec<String>>,
    hosts: Option<Vec<String>>,
    public: Option<bool>,
    mirrors: Option<Vec<String>>,
}

const SUB_REPOSITORY_FIELDS: &str = r#"{"slug": "client-a", "name": "Client A", "packages": ["acme/*"], "hosts"?: [...], "public"?: false, "mirrors"?: [...]}"#;

/// `GET /api/subrepos`.
pub async fn list_sub_repositories(
    State(app): State<Arc<App>>,
    _: Admin,
) -> Result<Response, ApiError> {
    let rows = app.access_admin().sub_repositories().await?;
    Ok(Json(rows.iter().map(sub_repository_json).collect::<Vec<_>>()).into_response())
}

/// `GET /api/subrepo/{slug}`.
pub async fn get_sub_repository(
    State(app): State<Arc<App>>,
    _: Admin,
    Path(slug): Path<String>,
) -> Result<Response, ApiError> {
    let row = app.access_admin().sub_repository(&slug).await?;
    Ok(Json(sub_repository_json(&row)).into_response())
}

/// `POST /api/subrepos`: `201` with the new sub-repository.
pub async fn create_sub_repository(
    State(app): State<Arc<App>>,
    Admin(me): Admin,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let body: SubRepositoryBody = parse_body(&body, SUB_REPOSITORY_FIELDS)?;
    if body.add_packages.is_some() || body.remove_packages.is_some() {
        return Err(ApiError::bad_request(
            "a new sub-repository takes packages, not addPackages or removePackages",
        ));
    }
    let (Some(slug), Some(name)) = (body.slug, body.name) else {
        return Err(ApiError::bad_request("slug and name are required"));
    };
    let fields = SubRepositoryFields {
        name,
        packages: body.packages.unwrap_or_default(),
        hosts: body.hosts.unwrap_or_default(),
        public: body.public.unwrap_or(false),
        mirrors: body.mirrors.unwrap_or_default(),
    };
    let row = app
        .access_admin()
        .add_sub_repository(Actor::Http(&me), &slug, fields)
        .await?;
    Ok((StatusCode::CREATED, Json(sub_repository_json(&row))).into_response())
}

/// `PUT /api/subrepo/{slug}`: the fields given change (`packages`, `hosts` and
/// `mirrors` replace their lists; `addPackages` and `removePackages` edit the
/// packages).
pub async fn update_sub_repository(
    State(app): State<Arc<App>>,
    Admin(me): Admin,
    Path(slug): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let body: SubRepositoryBody = parse_body(&body, SUB_REPOSITORY_FIELDS)?;
    if body.slug.as_ref().is_some_and(|given| *given != slug) {
        return Err(ApiError::bad_request(
            "a sub-repository's slug cannot change: its URL is in its clients' composer.json",
        ));
    }
    let change = SubRepositoryChange {
        name: body.name,
        packages: body.packages,
        add_packages: body.add_packages.unwrap_or_default(),
        remove_packages: body.remove_packages.unwrap_or_default(),
        hosts: body.hosts,
        public: body.public,
        mirrors: body.mirrors,
    };
    let row = app
        .access_admin()
        .change_sub_repository(Actor::Http(&me), &slug, change)
        .await?;
    Ok(Json(sub_repository_json(&row)).into_response())
}

/// `DELETE /api/subrepo/{slug}`: its packages stay.
pub async fn delete_sub_repository(
    State(app): State<Arc<App>>,
    Admin(me): Admin,
    Path(slug): Path<String>,
) -> Result<Response, ApiError> {
    app.access_admin()
        .remove_sub_repository(Actor::Http(&me), &slug)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---- tokens ----

/// `GET /api/tokens`: the caller's tokens, without their secrets.
pub async fn list_tokens(
    State(app): State<Arc<App>>,
    SignedIn(user): SignedIn,
) -> Result<Response, ApiError> {
    let tokens: Vec<Value> = app
        .access_admin()
        .tokens_of(Actor::Http(&user), &user.name)
        .await?
        .iter()
        .map(|t| {
            json!({
                "name": t.name,
                "scopes": t.scopes.0.as_ref().map(|s| s.iter().map(|s| s.as_str()).collect::<Vec<_>>()),
                "expiresAt": time_json(t.expires_at),
                "createdAt": time_json(Some(t.created_at)),
                "lastUsedAt": time_json(t.last_used_at),
                "lastUsedFrom": t.last_used_from,
            })
        })
        .collect();
    Ok(Json(tokens).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenBody {
    name: String,
    scopes: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    expires: Option<Value>,
    #[serde(default, rename = "minReleaseAge", deserialize_with = "present")]
    min_release_age: Option<Value>,
}

/// `POST /api/tokens`: a token for the caller, shown once. A token can only be given
/// scopes its owner may use: `users` and `groups` are for admins.
pub async fn create_token(
    State(app): State<Arc<App>>,
    SignedIn(user): SignedIn,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let body: TokenBody = parse_body(
        &body,
        r#"{"name": "...", "scopes": [...], "expires": "30d", "minReleaseAge": "3d"}"#,
    )?;
    let scopes = match &body.scopes {
        None => Scopes(None),
        Some(names) => Scopes(Some(
            names
                .iter()
                .map(|n| {
                    n.parse::<Scope>()
                        .map_err(|e| ApiError::bad_request(e.to_string()))
                })
                .collect::<Result<_, _>>()?,
        )),
    };
    let expires_at = body
        .expires
        .as_ref()
        .map(|v| date_field(v, "expires"))
        .transpose()?
        .flatten();
    let min_release_age = body
        .min_release_age
        .as_ref()
        .map(age_field)
        .transpose()?
        .flatten();
    let new = NewToken {
        name: body.name,
        scopes,
        expires_at,
        min_release_age,
    };
    let token = app
        .access_admin()
        .issue_token(Actor::Http(&user), &user.name, &new)
        .await?;
    let (name, scopes) = (new.name, new.scopes);
    let answer = json!({"name": name, "token": token, "scopes": scopes.to_string(), "expiresAt": time_json(expires_at), "minReleaseAge": age_json(min_release_age)});
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

/// `DELETE /api/tokens/{name}`: revokes one of the caller's tokens.
pub async fn revoke_token(
    State(app): State<Arc<App>>,
    SignedIn(user): SignedIn,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    app.access_admin()
        .revoke_token(Actor::Http(&user), &user.name, &name)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---- packages ----

/// `GET /api/packages`: the names of the packages the caller sees.
pub async fn list_packages(
    State(app): State<Arc<App>>,
    reader: Reader,
) -> Result<Response, ApiError> {
    let mut names = Vec::new();
    for stamp in app.db.package_stamps().await? {
        // Listed only when a version is visible, as in packages.json.
        let Ok(package) = PackageName::parse(&stamp.name) else {
            continue;
        };
        if app.metadata.visible(&package, &reader.view).await? {
            names.push(stamp.name);
        }
    }
    Ok(Json(json!({"packageNames": names})).into_response())
}

/// `GET /api/packages/{vendor}/{pkg}`: a package with the versions the caller is
/// offered, as its metadata has them (access rules, blocks that withdraw, cooldowns,
/// plugin approvals); a package it may not see is answered like an unknown one.
pub async fn get_package(
    State(app): State<Arc<App>>,
    reader: Reader,
    PackagePath(package): PackagePath,
) -> Result<Response, ApiError> {
    let name = package.as_str();
    let unknown = || ApiError::not_found(format!("package {name} not found"));
    let versions = app
        .metadata
        .visible_versions(&package, &reader.view)
        .await?
        .ok_or_else(unknown)?;
    let row = app.db.find_package(&package).await?.ok_or_else(unknown)?;
    let visible: serde_json::Map<String, Value> = versions
        .iter()
        .map(|v| {
            (
                v.version.clone(),
                json!({
                    "version": v.version,
                    "version_normalized": v.version_normalized,
                    "reference": v.reference,
                    "time": rfc3339(v.released_at / 1000),
                    "published_time": rfc3339(v.published_at / 1000),
                }),
            )
        })
        .collect();
    if visible.is_empty() {
        return Err(unknown());
    }
    let repository = app
        .db
        .git_package(name)
        .await?
        .map(|vcs| redact::public(&vcs.repository_url));
    Ok(Json(json!({"package": {
        "name": row.name,
        "type": row.kind.as_str(),
        "repository": repository,
        "versions": visible,
    }}))
    .into_response())
}
