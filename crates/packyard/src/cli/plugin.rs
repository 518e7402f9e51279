//! `packyard plugin`: approving Composer plugins where `plugins: approve` is set.

use anyhow::bail;
use clap::Subcommand;
use serde_json::{Map, Value};

use crate::access::Actor;
use crate::app::App;
use crate::config::Settings;
use crate::supply_chain::plugins::{self, PRIVATE};

#[derive(Subcommand)]
pub enum PluginCommand {
    /// Approve a plugin: its major versions (every one it has now, or those named
    /// with --major) are served; a new major version needs approving again.
    Approve {
        package: String,
        /// A major version (2, or dev for branches); repeat for several.
        #[arg(long = "major")]
        majors: Vec<String>,
        /// Approve it on this mirror rather than among packyard's own packages.
        #[arg(long)]
        mirror: Option<String>,
    },
    /// Withdraw approvals (of the named majors, or all of them).
    Revoke {
        package: String,
        #[arg(long = "major")]
        majors: Vec<String>,
        #[arg(long)]
        mirror: Option<String>,
    },
    /// List approvals: repository, package, major version, who approved it, when.
    List {
        #[arg(long)]
        mirror: Option<String>,
    },
}

pub async fn run(settings: Settings, command: PluginCommand) -> anyhow::Result<()> {
    let app = App::open(settings).await?;
    let repository = |mirror: &Option<String>| -> anyhow::Result<String> {
        match mirror {
            None => Ok(PRIVATE.to_owned()),
            Some(alias) if app.mirrors.get(alias).is_some() => Ok(alias.clone()),
            Some(alias) => bail!("no mirror named {alias}"),
        }
    };
    match command {
        PluginCommand::Approve {
            package,
            majors,
            mirror,
        } => {
            let repository = repository(&mirror)?;
            let name = package.trim().to_ascii_lowercase();
            let published: Vec<(String, Map<String, Value>)> = if repository == PRIVATE {
                app.db
                    .package_with_versions(&name)
                    .await?
                    .map(|(_, versions)| {
                        versions
                            .into_iter()
                            .map(|v| {
                                let fields = serde_json::from_str(&v.metadata).unwrap_or_default();
                                (v.version_normalized, fields)
                            })
                            .collect()
                    })
                    .unwrap_or_default()
            } else {
                match app.mirrors.get(&repository) {
                    Some(mirror) => {
                        app.mirrors
                            .stored_versions_with_fields(mirror, &name)
                            .await?
                    }
                    None => Vec::new(),
                }
            };
            let approved = plugins::approve(
                &app.db,
                &repository,
                &package,
                &majors,
                &published,
                Actor::Operator,
            )
            .await?;
            app.metadata.refresh().await?;
            println!(
                "approved {name} (major versions {}) in {repository}",
                approved.join(", ")
            );
        }
        PluginCommand::Revoke {
            package,
            majors,
            mirror,
        } => {
            let repository = repository(&mirror)?;
            let (name, majors) = plugins::checked(&package, &majors)?;
            let removed = app.db.revoke_plugin(&repository, &name, &majors).await?;
            println!("withdrew {removed} approvals of {name} in {repository}");
        }
        PluginCommand::List { mirror } => {
            let repository = mirror.map(|m| repository(&Some(m))).transpose()?;
            for row in plugins::approvals(&app.db, repository.as_deref()).await? {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    row.repository,
                    row.package,
                    row.major,
                    row.approved_by,
                    crate::time::display(row.approved_at)
                );
            }
        }
    }
    Ok(())
}
