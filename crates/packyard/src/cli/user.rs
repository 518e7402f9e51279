//! `packyard user`: accounts, their roles, dates and web UI passwords.

use anyhow::Context;
use clap::{Args, Subcommand};

use super::{age, date, describe_limit, parse_age_flag, parse_date_flag, parse_limit_flag};
use crate::access::Actor;
use crate::access::admin::{Key, NewUser, UserUpdate};
use crate::app::App;
use crate::config::Settings;
use crate::db::{Role, User, UserChange};

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
    /// Link a user to its identity at an identity provider (`login:` in
    /// PACKYARD_CONFIG): its LDAP DN, or its OIDC subject. Its next sign-in there is
    /// this user.
    Link {
        name: String,
        /// The provider's alias.
        #[arg(long)]
        provider: String,
        /// The user's subject at the provider (LDAP: its DN; OIDC: the `sub` claim).
        #[arg(long)]
        subject: String,
    },
    /// Remove a user's link to an identity provider.
    Unlink {
        name: String,
        #[arg(long)]
        provider: String,
    },
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
    /// Versions published less than this long ago (3d, 72h) are not offered to the
    /// user, whatever its groups grant; `none` removes it.
    #[arg(long)]
    min_release_age: Option<String>,
    /// The sub-repositories the user's tokens work in: slugs, comma-separated (`root`
    /// for the root repository), or `all`. Elsewhere it is answered as if nothing
    /// were there. Admins and maintainers are never limited.
    #[arg(long)]
    subrepos: Option<String>,
}

pub async fn run(settings: Settings, command: UserCommand) -> anyhow::Result<()> {
    let app = App::open(settings).await?;
    let admin = app.access_admin();
    match command {
        UserCommand::Add {
            name,
            role,
            full_access,
            dates,
            password_stdin,
        } => {
            let change = UserChange {
                role: role.role(),
                full_access: full_access.then_some(true),
                ..dates.change()?
            };
            // Read before anything is created, so a bad password creates no half-made
            // user.
            let password = if password_stdin {
                Some(read_password().await?)
            } else {
                None
            };
            let new = NewUser {
                name,
                change,
                groups: None,
                password,
                // The operator hands the first token over (scripts read it from the
                // last line).
                token: Some(crate::tokens::Scopes(None)),
            };
            let (user, token) = admin.create_user(Actor::Operator, new).await?;
            println!("created {}; API token:", describe(&user));
            println!("{}", token.unwrap_or_default());
        }
        UserCommand::Set {
            name,
            role,
            plain,
            full_access,
            no_full_access,
            dates,
        } => {
            let change = UserChange {
                role: if plain { Some(Role::User) } else { role.role() },
                full_access: (full_access || no_full_access).then_some(full_access),
                ..dates.change()?
            };
            let update = UserUpdate {
                change,
                ..UserUpdate::default()
            };
            let user = admin.change_user(Actor::Operator, &name, update).await?;
            println!("{}", describe(&user));
        }
        UserCommand::Passwd { name, remove } => {
            // Known before the password is read.
            admin.user(Key::Name(&name)).await?;
            let password = if remove {
                None
            } else {
                Some(read_password().await?)
            };
            admin.set_password(Actor::Operator, &name, password).await?;
            if remove {
                println!("{name} has no password now: API tokens only");
            } else {
                println!("password of {name} set; its web sessions ended");
            }
        }
        UserCommand::Remove { name } => {
            admin.remove_user(Actor::Operator, &name).await?;
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
                let sources: Vec<String> = app
                    .db
                    .identities_of(user.id)
                    .await?
                    .into_iter()
                    .map(|identity| identity.provider)
                    .collect();
                let deprovisioned = if user.deprovisioned_at.is_some() {
                    "\tdeprovisioned"
                } else {
                    ""
                };
                println!(
                    "{}\tgroups: {}\tsign-in: {}{deprovisioned}",
                    describe(&user),
                    groups.join(","),
                    if sources.is_empty() {
                        "password".to_owned()
                    } else {
                        sources.join(",")
                    }
                );
            }
        }
        UserCommand::Link {
            name,
            provider,
            subject,
        } => {
            app.sso.link(&name, &provider, &subject).await?;
            println!("linked {name} to {provider} {subject}");
        }
        UserCommand::Unlink { name, provider } => {
            if app.sso.unlink(&name, &provider).await? {
                println!("unlinked {name} from {provider}");
            } else {
                anyhow::bail!("{name} has no identity at {provider}");
            }
        }
    }
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
            min_release_age: self
                .min_release_age
                .as_deref()
                .map(parse_age_flag)
                .transpose()
                .context("--min-release-age")?,
            subrepos: self.subrepos.as_deref().map(parse_limit_flag),
            ..UserChange::default()
        })
    }
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
        "{role} {}\texpires: {}\tupdates until: {}\tminimum release age: {}\tsub-repositories: {}",
        user.name,
        date(user.expires_at, "never"),
        date(user.updates_until, "no freeze"),
        age(user.min_release_age),
        describe_limit(user.subrepos.as_deref())
    )
}

/// Reads one line from standard input: a new password (checked and hashed by
/// [`crate::access::AccessAdmin`]).
async fn read_password() -> anyhow::Result<String> {
    tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .context("reading the password from standard input")?;
        let password = line.strip_suffix('\n').unwrap_or(&line);
        let password = password.strip_suffix('\r').unwrap_or(password);
        Ok(password.to_owned())
    })
    .await?
}
