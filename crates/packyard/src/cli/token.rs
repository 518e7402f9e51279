//! `packyard token`: API tokens, several per user, with scopes and an expiry.

use anyhow::Context;
use clap::Subcommand;

use super::{date, parse_age_flag, parse_date_flag};
use crate::access::Actor;
use crate::access::admin::NewToken;
use crate::app::App;
use crate::config::Settings;
use crate::tokens::{Scope, Scopes};

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
        /// Versions published less than this long ago (3d, 72h) are not offered to
        /// requests with this token (on top of its owner's own rules).
        #[arg(long)]
        min_release_age: Option<String>,
    },
    /// List USER's tokens with their scopes, expiry and last use.
    List { user: String },
    /// Revoke a token; it stops working on every server within seconds.
    Revoke { user: String, name: String },
}

pub async fn run(settings: Settings, command: TokenCommand) -> anyhow::Result<()> {
    let app = App::open(settings).await?;
    let admin = app.access_admin();
    match command {
        TokenCommand::Create {
            user,
            name,
            scopes,
            expires,
            min_release_age,
        } => {
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
            let min_release_age = min_release_age
                .as_deref()
                .map(parse_age_flag)
                .transpose()
                .context("--min-release-age")?
                .flatten();
            let new = NewToken {
                name,
                scopes,
                expires_at,
                min_release_age,
            };
            let token = admin.issue_token(Actor::Operator, &user, &new).await?;
            println!(
                "created token {} of {user} ({}); token:",
                new.name, new.scopes
            );
            println!("{token}");
        }
        TokenCommand::List { user } => {
            let tokens = admin.tokens_of(Actor::Operator, &user).await?;
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
            admin.revoke_token(Actor::Operator, &user, &name).await?;
            println!("revoked token {name} of {user}");
        }
    }
    Ok(())
}
