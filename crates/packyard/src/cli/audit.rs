//! `packyard audit`: the audit log read (`list`, `downloads`), checked (`verify`) and
//! signed (`checkpoint`).

use anyhow::{Context, bail};
use clap::Subcommand;

use crate::app::App;
use crate::audit::{MAX_PAGE, entry_json};
use crate::config::Settings;
use crate::db::audit::AuditEntry;

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Walk the hash chain; exit 1 naming the first entry that was edited, removed or
    /// reordered. With --checkpoint, also prove the chain was not rewritten as a whole
    /// since that checkpoint was taken.
    Verify {
        /// A file holding a checkpoint `packyard audit checkpoint` printed.
        #[arg(long)]
        checkpoint: Option<std::path::PathBuf>,
    },
    /// Print a checkpoint (entry count and head hash, signed with a key derived from
    /// PACKYARD_SECRET) to keep somewhere the server cannot write.
    Checkpoint,
    /// Entries, newest first: time, actor (and how it proved itself), client address,
    /// action, object, details. With --json, one JSON object per line (for a SIEM).
    List {
        /// Only entries by this user.
        #[arg(long)]
        actor: Option<String>,
        /// Only entries about this package.
        #[arg(long)]
        package: Option<String>,
        /// Only this action (`token.created`) or family of actions (`token`).
        #[arg(long)]
        action: Option<String>,
        /// Only entries since: 7d, 12h, 2026-12-01 or 2026-12-01T12:00:00Z.
        #[arg(long)]
        since: Option<String>,
        /// At most this many entries (0: all of them).
        #[arg(long, default_value_t = 50)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
    /// Apply PACKYARD_AUDIT_RETENTION now (the server does hourly): remove older entries
    /// and download counts, leaving a sealed anchor the chain is checked from.
    Prune,
    /// Who downloaded a package's archives: per day, user and token, with counts.
    Downloads {
        package: String,
        /// Only this version (1.2.3 or 1.2.3.0).
        #[arg(long)]
        version: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(settings: Settings, command: AuditCommand) -> anyhow::Result<()> {
    let app = App::open(settings).await?;
    match command {
        AuditCommand::Verify { checkpoint } => {
            let text = match &checkpoint {
                Some(path) => Some(
                    std::fs::read_to_string(path)
                        .with_context(|| format!("cannot read {}", path.display()))?,
                ),
                None => None,
            };
            let verified = app.audit.verify(text.as_deref()).await?;
            println!(
                "the audit log is intact: {} entries, {} checked, head {}",
                verified.entries, verified.checked, verified.head
            );
            if verified.pruned_through > 0 {
                println!(
                    "entries up to {} were removed by retention; the chain is checked from there",
                    verified.pruned_through
                );
            }
            if let Some(entries) = verified.checkpoint {
                println!("it extends the checkpoint of {entries} entries");
            }
        }
        AuditCommand::Prune => {
            let Some(retention) = app.settings.audit_retention else {
                bail!("PACKYARD_AUDIT_RETENTION is not set: the audit log is kept forever");
            };
            let removed = app.audit.prune(retention).await?;
            println!("removed {removed} audit entries older than the retention");
        }
        AuditCommand::Checkpoint => {
            print!("{}", app.audit.checkpoint().await?.to_text());
        }
        AuditCommand::List {
            actor,
            package,
            action,
            since,
            limit,
            json,
        } => {
            if limit < 0 {
                bail!("--limit must be 0 (all) or more");
            }
            let mut filter = crate::audit::filter(actor, package, action, since.as_deref())?;
            let mut left = if limit == 0 { i64::MAX } else { limit };
            while left > 0 {
                let page = app.audit.list(&filter, left.min(MAX_PAGE)).await?;
                let Some(last) = page.last() else { break };
                filter.before_seq = Some(last.seq);
                left -= i64::try_from(page.len()).unwrap_or(i64::MAX);
                for entry in &page {
                    if json {
                        println!("{}", serde_json::to_string(&entry_json(entry))?);
                    } else {
                        println!("{}", entry_line(entry));
                    }
                }
            }
        }
        AuditCommand::Downloads {
            package,
            version,
            json,
        } => {
            for count in app.audit.downloads(&package, version.as_deref()).await? {
                if json {
                    println!("{}", serde_json::to_string(&count)?);
                } else {
                    let day = crate::time::rfc3339(count.day * 86_400);
                    println!(
                        "{}\t{}\t{}\t{}\t{}",
                        &day[..10],
                        count.version,
                        if count.actor.is_empty() {
                            "-"
                        } else {
                            &count.actor
                        },
                        count.credential,
                        count.count
                    );
                }
            }
        }
    }
    Ok(())
}

/// An entry on one line: number, time, who (how, from where), action, object, details.
fn entry_line(entry: &AuditEntry) -> String {
    let who = match (entry.actor.as_str(), entry.credential.as_str()) {
        ("", "") => entry.actor_kind.clone(),
        ("", credential) => credential.to_owned(),
        (user, "") => user.to_owned(),
        (user, credential) => format!("{user} ({credential})"),
    };
    let from = if entry.client_ip.is_empty() {
        String::new()
    } else {
        format!(" from {}", entry.client_ip)
    };
    format!(
        "{}\t{}\t{}{from}\t{}\t{}\t{}",
        entry.seq,
        crate::time::display(entry.at),
        printable(&who),
        printable(&entry.action),
        printable(&entry.object),
        printable(&entry.details)
    )
}

/// `text` with its control characters escaped (`\u{1b}`): what clients wrote (a user
/// name tried) must not move a terminal's cursor or start a line of its own.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}
