//! `packyard advisory`: security advisories for private packages.

use anyhow::Context;
use clap::Subcommand;

use crate::app::App;
use crate::config::Settings;

#[derive(Subcommand)]
pub enum AdvisoryCommand {
    /// Publish an advisory: `composer audit` then reports the affected versions.
    Add {
        package: String,
        /// The affected versions, as a Composer constraint (e.g. '<1.4.2').
        #[arg(long)]
        affected: String,
        #[arg(long)]
        title: String,
        /// CVE identifier, e.g. CVE-2026-12345.
        #[arg(long)]
        cve: Option<String>,
        /// Where to read more (http or https).
        #[arg(long)]
        link: Option<String>,
        /// low, medium, high or critical.
        #[arg(long)]
        severity: Option<String>,
        /// When it was reported (2026-12-01, 2026-12-01T12:00:00Z); now by default.
        #[arg(long)]
        reported_at: Option<String>,
    },
    /// List published advisories (of one package, or all).
    List { package: Option<String> },
    /// Withdraw an advisory by its id.
    Remove { id: String },
}

pub async fn run(settings: Settings, command: AdvisoryCommand) -> anyhow::Result<()> {
    let app = App::open(settings).await?;
    match command {
        AdvisoryCommand::Add {
            package,
            affected,
            title,
            cve,
            link,
            severity,
            reported_at,
        } => {
            // A day means its start here, and spans point back in time.
            let reported_at = match reported_at {
                Some(text) => Some(
                    crate::stats::parse_day(&text)
                        .map(|day| day * crate::db::DAY_MS)
                        .or_else(|| {
                            crate::time::parse_moment(&text, 0)
                                .filter(|_| text.contains('T'))
                        })
                        .with_context(|| {
                            format!(
                                "--reported-at: {text:?} is not a date (2026-11-30) or a time (2026-11-30T12:00:00Z)"
                            )
                        })?,
                ),
                None => None,
            };
            let new = crate::advisories::NewAdvisory {
                package,
                affected_versions: affected,
                title,
                cve,
                link,
                severity,
                reported_at,
            };
            let row = app.advisories.publish(new).await?;
            println!(
                "published {} for {} {}",
                row.advisory_id, row.package, row.affected_versions
            );
            println!("{}", row.advisory_id);
        }
        AdvisoryCommand::List { package } => {
            let packages = package.map(|name| vec![name.to_ascii_lowercase()]);
            for row in app.db.advisories(packages.as_deref()).await? {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    row.advisory_id,
                    row.package,
                    row.affected_versions,
                    row.severity.as_deref().unwrap_or("-"),
                    row.cve.as_deref().unwrap_or("-"),
                    row.title
                );
            }
        }
        AdvisoryCommand::Remove { id } => {
            let package = app.advisories.remove(&id).await?;
            println!("removed {id} ({package})");
        }
    }
    Ok(())
}
