//! `packyard secrets`: the secrets sealed in the database.

use clap::Subcommand;

use crate::app::App;
use crate::config::Settings;

#[derive(Subcommand)]
pub enum SecretsCommand {
    /// Reseal every stored secret (repository credentials, webhook secrets) under the
    /// current PACKYARD_SECRET, opening them with the old one. Run it with the new
    /// PACKYARD_SECRET set; it can be run again (what is already current is left).
    Rotate {
        /// The PACKYARD_SECRET the values were sealed with until now.
        #[arg(long, env = "PACKYARD_OLD_SECRET", hide_env_values = true)]
        old: String,
    },
}

pub async fn run(settings: Settings, command: SecretsCommand) -> anyhow::Result<()> {
    let SecretsCommand::Rotate { old } = command;
    rotate_secrets(settings, &old).await
}

/// Reseals every stored secret under the current `PACKYARD_SECRET`, bound to its row.
async fn rotate_secrets(settings: Settings, old: &str) -> anyhow::Result<()> {
    let app = App::open(settings).await?;
    let current = app.secrets()?;
    let old = crate::secrets::SecretBox::new(old);
    let report = crate::secrets::rotate(&app.db, current, &old).await?;
    println!(
        "resealed {} of {} stored secrets under the current PACKYARD_SECRET",
        report.resealed, report.seen
    );
    // The point the audit log was pruned to is sealed with a key of the secret too.
    if app.audit.reseal_anchor(&old).await? {
        println!("sealed the audit log's pruned point under the current PACKYARD_SECRET");
    }
    Ok(())
}
