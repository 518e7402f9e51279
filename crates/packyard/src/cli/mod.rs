//! The command line: `serve`, `user`, `package`.
//!
//! One module per command group, each with its subcommands and what runs them; the
//! access commands (`user`, `group`, `token`) only parse and print: their rules are
//! [`crate::access::AccessAdmin`]'s.

use anyhow::Context;
use clap::{Parser, Subcommand};

mod access;
mod advisory;
mod audit;
mod block;
mod group;
mod import;
mod jobs;
mod login;
mod mirror;
mod package;
mod plugin;
mod secrets;
mod storage;
mod subrepo;
mod token;
mod user;
mod webhooks;

use access::AccessCommand;
use advisory::AdvisoryCommand;
use audit::AuditCommand;
use block::BlockCommand;
use group::GroupCommand;
use import::ImportCommand;
use mirror::MirrorCommand;
use package::PackageCommand;
use plugin::PluginCommand;
use secrets::SecretsCommand;
use storage::StorageCommand;
use subrepo::SubrepoCommand;
use token::TokenCommand;
use user::UserCommand;

use crate::config::Settings;
use crate::db::now_millis;
use crate::time::{parse_moment, rfc3339};

#[derive(Parser)]
#[command(name = "packyard", version, about = "A private Composer repository")]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (configured by environment variables; see the README).
    Serve,
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage groups: which packages and versions their members see.
    #[command(subcommand)]
    Group(GroupCommand),
    /// Manage sub-repositories: Composer repositories at /SLUG with only their packages.
    #[command(subcommand)]
    Subrepo(SubrepoCommand),
    /// Manage API tokens: several per user, with scopes and an expiry.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Explain access decisions.
    #[command(subcommand)]
    Access(AccessCommand),
    /// Manage packages.
    #[command(subcommand)]
    Package(PackageCommand),
    /// Check, migrate and verify the stores.
    #[command(subcommand)]
    Storage(StorageCommand),
    /// Work with mirrored repositories.
    #[command(subcommand)]
    Mirror(MirrorCommand),
    /// Publish and withdraw security advisories for private packages (`composer audit`).
    #[command(subcommand)]
    Advisory(AdvisoryCommand),
    /// Block versions nobody may install (Composer's `filter` lists; archives answer 410).
    #[command(subcommand)]
    Block(BlockCommand),
    /// The audit log: list entries, who downloaded what, verify the chain, checkpoints.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Approve Composer plugins where `plugins: approve` is set.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Manage outgoing webhooks and see their deliveries.
    #[command(subcommand)]
    Webhook(webhooks::WebhookCommand),
    /// Work with the secrets sealed in the database.
    #[command(subcommand)]
    Secrets(SecretsCommand),
    /// Identity providers users sign in with (`login:` in PACKYARD_CONFIG).
    #[command(subcommand)]
    Login(login::LoginCommand),
    /// Take over another installation: `packyard import packeton`.
    #[command(subcommand)]
    Import(ImportCommand),
    /// Show background jobs, newest first.
    Jobs {
        /// Only jobs in this state: queued, running, succeeded or failed.
        #[arg(long)]
        state: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = Settings::from_env()?;
    match cli.command {
        Command::Serve => crate::server::serve(settings).await,
        // What a command changes is recorded as done at the command line, by the
        // operating-system user who ran it.
        command => {
            crate::db::audit::set_replica(&crate::jobs::default_worker_id());
            crate::db::audit::AuditActor::cli(&operating_system_user())
                .scope(Box::pin(run_command(settings, command)))
                .await
        }
    }
}

/// Who runs this command: the user `sudo` was run by, else the login's name, else the
/// numeric user id.
fn operating_system_user() -> String {
    ["SUDO_USER", "USER", "LOGNAME"]
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|value| !value.is_empty()))
        .unwrap_or_else(|| {
            use std::os::unix::fs::MetadataExt as _;
            std::fs::metadata("/proc/self")
                .map_or_else(|_| "unknown".to_owned(), |m| format!("uid {}", m.uid()))
        })
}

async fn run_command(settings: Settings, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve => crate::server::serve(settings).await,
        Command::User(command) => user::run(settings, command).await,
        Command::Group(command) => group::run(settings, command).await,
        Command::Subrepo(command) => subrepo::run(settings, command).await,
        Command::Token(command) => token::run(settings, command).await,
        Command::Access(command) => access::run(settings, command).await,
        Command::Package(command) => package::run(settings, command).await,
        Command::Advisory(command) => advisory::run(settings, command).await,
        Command::Block(command) => block::run(settings, command).await,
        Command::Audit(command) => audit::run(settings, command).await,
        Command::Plugin(command) => plugin::run(settings, command).await,
        Command::Webhook(command) => webhooks::run(settings, command).await,
        Command::Login(command) => {
            login::run(&settings, &command);
            Ok(())
        }
        Command::Jobs { state, limit } => jobs::run(settings, state.as_deref(), limit).await,
        Command::Secrets(command) => secrets::run(settings, command).await,
        Command::Import(command) => import::run(settings, command).await,
        Command::Mirror(command) => mirror::run(settings, command).await,
        Command::Storage(command) => storage::run(settings, command).await,
    }
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

/// `--subrepos`: `all` lifts the limit; anything else is the comma-separated slugs
/// (`root` for the root repository), checked where the change is made.
/// `--min-release-age`: a span (`3d`, `72h`), or `none`/`0` to remove it.
fn parse_age_flag(text: &str) -> anyhow::Result<Option<i64>> {
    Ok(crate::supply_chain::release_age::parse(text)?)
}

/// A cooldown as the lists show it.
fn age(age_ms: Option<i64>) -> String {
    age_ms.map_or_else(
        || "none".to_owned(),
        crate::supply_chain::release_age::describe,
    )
}

fn parse_limit_flag(text: &str) -> Option<Vec<String>> {
    if text.trim() == "all" {
        return None;
    }
    Some(
        text.split(',')
            .map(str::trim)
            .filter(|slug| !slug.is_empty())
            .map(str::to_owned)
            .collect(),
    )
}

/// A sub-repository limit as `list` prints it.
fn describe_limit(limit: Option<&[String]>) -> String {
    match limit {
        None => "all".to_owned(),
        Some([]) => "none".to_owned(),
        Some(slugs) => slugs.join(","),
    }
}

/// A moment in Unix milliseconds as a date and time, or `none` when there is none.
fn date(at: Option<i64>, none: &str) -> String {
    at.map_or_else(|| none.to_owned(), |ms| rfc3339(ms / 1000))
}

/// What a failed command prints after `error: `: the error, then each cause its
/// message does not already say. Many errors carry their cause's words in their own
/// message (`cannot fetch the repository: <git's words>`) and as their source too;
/// printing both would say everything twice.
pub fn error_text(error: &anyhow::Error) -> String {
    let mut text = error.to_string();
    for cause in error.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot fetch the repository: {0}")]
    struct Wrapping(#[source] std::io::Error);

    #[test]
    fn a_cause_the_message_already_says_is_not_printed_twice() {
        let error = anyhow::Error::new(Wrapping(std::io::Error::other("connection refused")));
        assert_eq!(
            error_text(&error),
            "cannot fetch the repository: connection refused"
        );
        let error =
            anyhow::Error::new(std::io::Error::other("disk full")).context("saving the upload");
        assert_eq!(error_text(&error), "saving the upload: disk full");
    }
}
