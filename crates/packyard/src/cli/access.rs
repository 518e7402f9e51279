//! `packyard user`, `packyard group` and `packyard access`: who may see what.

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use composer::constraint::Constraint;

use crate::access::{Actor, check_grant_target, may_change_account};
use crate::app::App;
use crate::auth::{generate_token, hash_token, validate_user_name};
use crate::config::Settings;
use crate::db::{GroupChange, Role, User, UserChange, is_unique_violation, now_millis};
use crate::time::{parse_moment, rfc3339};
use crate::tokens::{Scope, Scopes};

#[derive(Subcommand)]
pub enum UserCommand {
    /// Create a user; prints its API token as the last line of output. A plain user
    /// sees nothing until a group grants it packages (or with --full-access).
    Add {
        name: String,
        #[command(flatten)]
        role: RoleFlags,
        /// Sees every package, whatever its groups grant.
        #[arg(long)]
        full_access: bool,
        #[command(flatten)]
        dates: DateFlags,
        /// Read a password for the web UI as one line from standard input (without
        /// it, the user is API-only and cannot log in).
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set a user's web UI password, read as one line from standard input; `--remove`
    /// makes the user API-only. Either way the user's web sessions end.
    Passwd {
        name: String,
        #[arg(long)]
        remove: bool,
    },
    /// Change a user's role, access or dates.
    Set {
        name: String,
        #[command(flatten)]
        role: RoleFlags,
        /// Make a plain user (neither admin nor maintainer).
        #[arg(long, conflicts_with_all = ["admin", "maintainer"])]
        plain: bool,
        /// Sees every package.
        #[arg(long, conflicts_with = "no_full_access")]
        full_access: bool,
        /// Sees what its groups grant.
        #[arg(long)]
        no_full_access: bool,
        #[command(flatten)]
        dates: DateFlags,
    },
    /// Remove a user, its tokens and group memberships.
    Remove { name: String },
    /// List users with their role, access, dates and groups.
    List,
}

#[derive(Args)]
pub struct RoleFlags {
    /// May do everything, including uploading archives.
    #[arg(long, conflicts_with = "maintainer")]
    admin: bool,
    /// May add git packages and trigger updates; sees every package.
    #[arg(long)]
    maintainer: bool,
}

#[derive(Args)]
pub struct DateFlags {
    /// After this the user's tokens are refused: a date (valid through that day, UTC),
    /// an RFC 3339 time, a span such as 365d, or `none`.
    #[arg(long)]
    expires: Option<String>,
    /// Versions released after this are hidden (where its groups set no date of their
    /// own): a date, a time, a span, or `none`.
    #[arg(long)]
    updates_until: Option<String>,
}

#[derive(Subcommand)]
pub enum GroupCommand {
    /// Create a group.
    Add { name: String },
    /// Remove a group with its grants and memberships.
    Remove { name: String },
    /// List groups with their freeze, mirrors, members and grants.
    List,
    /// Let the group's members see a package, or every package a pattern (`acme/*`)
    /// matches; granting it again replaces the version constraint.
    Grant {
        group: String,
        package: String,
        /// Only versions matching this Composer constraint (e.g. `^1.0 || ^2.0`).
        #[arg(long)]
        versions: Option<String>,
    },
    /// Withdraw a grant.
    Revoke { group: String, package: String },
    /// Change the group's update freeze or the mirrors its members may use.
    Set {
        group: String,
        /// Versions released after this are hidden for the packages this group grants:
        /// a date (through that day, UTC), a time, a span, or `none`.
        #[arg(long)]
        updates_until: Option<String>,
        /// Mirror aliases the members may use, comma-separated (empty: none).
        #[arg(long, value_delimiter = ',')]
        mirrors: Option<Vec<String>>,
    },
    /// Add users to the group or remove them.
    Members {
        group: String,
        #[arg(long)]
        add: Vec<String>,
        #[arg(long)]
        remove: Vec<String>,
    },
}

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Create a named token for USER; prints the token as the last line (shown once).
    Create {
        user: String,
        #[arg(long)]
        name: String,
        /// What the token may be used for, comma-separated: metadata, mirror:read,
        /// mirror:all, webhooks, packages:read, packages:all, users, groups (default:
        /// everything its owner may do).
        #[arg(long, value_delimiter = ',')]
        scopes: Option<Vec<String>>,
        /// When it stops working: a date, a time, or a span such as 30d.
        #[arg(long)]
        expires: Option<String>,
    },
    /// List USER's tokens with their scopes, expiry and last use.
    List { user: String },
    /// Revoke a token; it stops working on every server within seconds.
    Revoke { user: String, name: String },
}

#[derive(Subcommand)]
pub enum AccessCommand {
    /// Say whether USER sees PACKAGE (or PACKAGE:VERSION), and which grant allows or
    /// which rule hides it.
    Explain { user: String, package: String },
}

/// Checks that the operator may change user `name`, by the rule the API and the web UI
/// apply too ([`may_change_account`]: at the CLI, any account may be changed).
async fn changeable(app: &App, name: &str) -> anyhow::Result<()> {
    let (user, _) = app
        .db
        .user_with_password(name)
        .await?
        .with_context(|| format!("no user named {name}"))?;
    Ok(may_change_account(Actor::Operator, &user)?)
}

pub async fn user(settings: Settings, command: UserCommand) -> anyhow::Result<()> {
    let app = App::open(settings).await?;
    match command {
        UserCommand::Add {
            name,
            role,
            full_access,
            dates,
            password_stdin,
        } => {
            validate_user_name(&name)?;
            // Read and checked before anything is created, so a bad password creates
            // no half-made user.
            let password_hash = if password_stdin {
                Some(hash_password_from_stdin().await?)
            } else {
                None
            };
            let token = generate_token();
            let role = role.role().unwrap_or(Role::User);
            match app.db.create_user(&name, role, &hash_token(&token)).await {
                Ok(_) => {}
                Err(error) if is_unique_violation(&error) => bail!("user {name} already exists"),
                Err(error) => return Err(error).context("creating the user"),
            }
            let change = UserChange {
                full_access: full_access.then_some(true),
                ..dates.change()?
            };
            let user = app
                .db
                .change_user(&name, &change)
                .await?
                .context("the user vanished")?;
            if let Some(hash) = password_hash {
                app.db.set_password(&name, Some(&hash)).await?;
            }
            println!("created {}; API token:", describe(&user));
            println!("{token}");
        }
        UserCommand::Set {
            name,
            role,
            plain,
            full_access,
            no_full_access,
            dates,
        } => {
            changeable(&app, &name).await?;
            let change = UserChange {
                role: if plain { Some(Role::User) } else { role.role() },
                full_access: (full_access || no_full_access).then_some(full_access),
                ..dates.change()?
            };
            let user = app
                .db
                .change_user(&name, &change)
                .await?
                .with_context(|| format!("no user named {name}"))?;
            println!("{}", describe(&user));
        }
        UserCommand::Passwd { name, remove } => {
            changeable(&app, &name).await?;
            let hash = if remove {
                None
            } else {
                Some(hash_password_from_stdin().await?)
            };
            if !app.db.set_password(&name, hash.as_deref()).await? {
                bail!("there is no user {name}");
            }
            if remove {
                println!("{name} has no password now: API tokens only");
            } else {
                println!("password of {name} set; its web sessions ended");
            }
        }
        UserCommand::Remove { name } => {
            changeable(&app, &name).await?;
            if !app.db.remove_user(&name).await? {
                bail!("no user named {name}");
            }
            println!("removed user {name}");
        }
        UserCommand::List => {
            let rules = app.db.access_rules().await?;
            for user in app.db.users().await? {
                let groups: Vec<&str> = rules
                    .groups
                    .iter()
                    .filter(|group| group.members.contains(&user.name))
                    .map(|group| group.name.as_str())
                    .collect();
                println!("{}\tgroups: {}", describe(&user), groups.join(","));
            }
        }
    }
    Ok(())
}

pub async fn group(settings: Settings, command: GroupCommand) -> anyhow::Result<()> {
    let app = App::open(settings).await?;
    let db = &app.db;
    let missing = |group: &str| anyhow::anyhow!("no group named {group}");
    match command {
        GroupCommand::Add { name } => {
            validate_user_name(&name).map_err(|_| {
                anyhow::anyhow!(
                    "invalid group name {name:?}: use 1-64 letters, digits, '.', '_' or '-'"
                )
            })?;
            match db.create_group(&name).await {
                Ok(_) => println!("created group {name}"),
                Err(error) if is_unique_violation(&error) => bail!("group {name} already exists"),
                Err(error) => return Err(error.into()),
            }
        }
        GroupCommand::Remove { name } => {
            if !db.remove_group(&name).await? {
                return Err(missing(&name));
            }
            println!("removed group {name}");
        }
        GroupCommand::List => {
            for group in db.access_rules().await?.groups {
                let until = group
                    .updates_until
                    .map_or_else(|| "none".to_owned(), |ms| rfc3339(ms / 1000));
                println!(
                    "{}\tupdates until: {until}\tmirrors: {}\tmembers: {}",
                    group.name,
                    group.mirrors.join(","),
                    group.members.join(",")
                );
                for (package, versions) in &group.grants {
                    println!(
                        "  {package}\t{}",
                        versions.as_deref().unwrap_or("all versions")
                    );
                }
            }
        }
        GroupCommand::Grant {
            group,
            package,
            versions,
        } => {
            check_grant_target(&package)?;
            if let Some(versions) = &versions {
                Constraint::parse(versions).with_context(|| format!("--versions {versions:?}"))?;
            }
            if !db.grant(&group, &package, versions.as_deref()).await? {
                return Err(missing(&group));
            }
            let versions = versions.as_deref().unwrap_or("all versions");
            println!("group {group} may see {package} ({versions})");
        }
        GroupCommand::Revoke { group, package } => {
            if !db.revoke(&group, &package).await? {
                bail!("group {group} has no grant of {package}");
            }
            println!("group {group} no longer sees {package}");
        }
        GroupCommand::Set {
            group,
            updates_until,
            mirrors,
        } => {
            let change = GroupChange {
                updates_until: updates_until.as_deref().map(parse_date_flag).transpose()?,
                mirrors: mirrors.map(|list| list.into_iter().filter(|m| !m.is_empty()).collect()),
            };
            if !db.change_group(&group, &change).await? {
                return Err(missing(&group));
            }
            println!("changed group {group}");
        }
        GroupCommand::Members { group, add, remove } => {
            for (users, member) in [(&add, true), (&remove, false)] {
                for user in users {
                    if db.set_membership(&group, user, member).await?.is_none() {
                        bail!("no group named {group}, or no user named {user}");
                    }
                }
            }
            println!("changed the members of group {group}");
        }
    }
    Ok(())
}

pub async fn access(settings: Settings, command: AccessCommand) -> anyhow::Result<()> {
    let app = App::open(settings).await?;
    let AccessCommand::Explain { user, package } = command;
    let user: User = app
        .db
        .users()
        .await?
        .into_iter()
        .find(|u| u.name == user)
        .with_context(|| format!("no user named {user}"))?;
    let (package, version) = match package.split_once(':') {
        Some((package, version)) => (package.to_ascii_lowercase(), Some(version.to_owned())),
        None => (package.to_ascii_lowercase(), None),
    };
    let view = app.access.view(Some(&user));
    let Some(version) = version else {
        let verdict = if view.sees_package(&package) {
            "may see"
        } else {
            "does not see"
        };
        println!("{} {verdict} {package}", user.name);
        println!("{}", view.explain(&package, None));
        return Ok(());
    };
    let (_, versions) = app
        .db
        .package_with_versions(&package)
        .await?
        .with_context(|| format!("no package named {package}"))?;
    let found = versions
        .iter()
        .find(|v| v.version == version || v.version_normalized == version)
        .with_context(|| format!("{package} has no version {version}"))?;
    let sees = view.sees_version(&package, &found.version_normalized, found.released_at);
    let verdict = if sees { "may install" } else { "does not see" };
    println!("{} {verdict} {package} {}", user.name, found.version);
    println!(
        "{}",
        view.explain(
            &package,
            Some((&found.version_normalized, found.released_at))
        )
    );
    Ok(())
}

impl RoleFlags {
    fn role(&self) -> Option<Role> {
        match (self.admin, self.maintainer) {
            (true, _) => Some(Role::Admin),
            (false, true) => Some(Role::Maintainer),
            (false, false) => None,
        }
    }
}

impl DateFlags {
    fn change(&self) -> anyhow::Result<UserChange> {
        Ok(UserChange {
            expires_at: self
                .expires
                .as_deref()
                .map(parse_date_flag)
                .transpose()
                .context("--expires")?,
            updates_until: self
                .updates_until
                .as_deref()
                .map(parse_date_flag)
                .transpose()
                .context("--updates-until")?,
            ..UserChange::default()
        })
    }
}

pub async fn token(settings: Settings, command: TokenCommand) -> anyhow::Result<()> {
    let app = App::open(settings).await?;
    match command {
        TokenCommand::Create {
            user,
            name,
            scopes,
            expires,
        } => {
            validate_user_name(&name).map_err(|_| {
                anyhow::anyhow!(
                    "invalid token name {name:?}: use 1-64 letters, digits, '.', '_' or '-'"
                )
            })?;
            let scopes = match scopes {
                None => Scopes(None),
                Some(names) => Scopes(Some(
                    names
                        .iter()
                        .map(|n| n.trim().parse::<Scope>())
                        .collect::<Result<_, _>>()?,
                )),
            };
            let expires_at = expires
                .as_deref()
                .map(parse_date_flag)
                .transpose()
                .context("--expires")?
                .flatten();
            let token = generate_token();
            match app
                .db
                .create_token(&user, &name, &scopes, expires_at, &hash_token(&token))
                .await
            {
                Ok(Some(_)) => {}
                Ok(None) => bail!("no user named {user}"),
                Err(error) if is_unique_violation(&error) => {
                    bail!("{user} already has a token named {name}")
                }
                Err(error) => return Err(error.into()),
            }
            println!("created token {name} of {user} ({scopes}); token:");
            println!("{token}");
        }
        TokenCommand::List { user } => {
            let tokens = app
                .db
                .tokens_of(&user)
                .await?
                .with_context(|| format!("no user named {user}"))?;
            for token in tokens {
                println!(
                    "{}\t{}\texpires: {}\tlast used: {}{}",
                    token.name,
                    token.scopes,
                    date(token.expires_at, "never"),
                    date(token.last_used_at, "never"),
                    token
                        .last_used_from
                        .map(|from| format!(" from {from}"))
                        .unwrap_or_default()
                );
            }
        }
        TokenCommand::Revoke { user, name } => {
            if !app.db.revoke_token(&user, &name).await? {
                bail!("{user} has no token named {name}");
            }
            println!("revoked token {name} of {user}");
        }
    }
    Ok(())
}

/// `none` clears a date; anything else must be one (see [`parse_moment`]).
fn parse_date_flag(text: &str) -> anyhow::Result<Option<i64>> {
    if matches!(text, "none" | "never") {
        return Ok(None);
    }
    parse_moment(text, now_millis()).map(Some).with_context(|| {
        format!("{text:?} is not a date (2026-12-31), a time (2026-12-31T12:00:00Z), a span (30d, 12h) or none")
    })
}

/// A moment in Unix milliseconds as a date and time, or `none` when there is none.
fn date(at: Option<i64>, none: &str) -> String {
    at.map_or_else(|| none.to_owned(), |ms| rfc3339(ms / 1000))
}

fn describe(user: &User) -> String {
    let role = if user.is_admin {
        "admin"
    } else if user.is_maintainer {
        "maintainer"
    } else if user.full_access {
        "user (full access)"
    } else {
        "user"
    };
    format!(
        "{role} {}\texpires: {}\tupdates until: {}",
        user.name,
        date(user.expires_at, "never"),
        date(user.updates_until, "no freeze")
    )
}

/// Reads one line from standard input as a new password, checks it and hashes it.
async fn hash_password_from_stdin() -> anyhow::Result<String> {
    tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .context("reading the password from standard input")?;
        let password = line.strip_suffix('\n').unwrap_or(&line);
        let password = password.strip_suffix('\r').unwrap_or(password);
        crate::web::password::check(password)?;
        Ok(crate::web::password::hash(password))
    })
    .await?
}
