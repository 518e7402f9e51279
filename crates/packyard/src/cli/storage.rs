//! `packyard storage`: check, migrate and verify the stores.

use anyhow::{Context, bail};
use clap::Subcommand;

use crate::app::App;
use crate::config::Settings;

#[derive(Subcommand)]
pub enum StorageCommand {
    /// Write, read and delete a probe object in each store.
    Check,
    /// Copy every object of the four stores to another STORAGE_SOURCE (resumable).
    Migrate {
        /// The destination: `local`, `s3`, or a storage name from the config file.
        #[arg(long)]
        to: String,
    },
    /// Read back every recorded archive and report missing objects and sha1 mismatches.
    Verify,
}

pub async fn run(settings: Settings, command: StorageCommand) -> anyhow::Result<()> {
    match command {
        StorageCommand::Check => storage_check(settings).await,
        StorageCommand::Migrate { to } => storage_migrate(settings, &to).await,
        StorageCommand::Verify => storage_verify(settings).await,
    }
}

async fn storage_check(settings: Settings) -> anyhow::Result<()> {
    let storage = storage::Storage::open(&settings.storage)?;
    crate::storage_ops::check(&storage).await?;
    for name in storage::StoreName::ALL {
        println!(
            "{:<12} ok  {}",
            name.as_str(),
            storage.store(name).description()
        );
    }
    Ok(())
}

async fn storage_migrate(settings: Settings, to: &str) -> anyhow::Result<()> {
    let destination = Settings::from_lookup(|name| match name {
        "STORAGE_SOURCE" => Some(to.to_owned()),
        _ => std::env::var(name).ok().filter(|v| !v.is_empty()),
    })?;
    let from = storage::Storage::open(&settings.storage)?;
    let to_storage = storage::Storage::open(&destination.storage)?;
    crate::storage_ops::check(&to_storage)
        .await
        .context("checking the destination")?;
    let report = crate::storage_ops::migrate(&from, &to_storage).await?;
    println!(
        "copied {} objects ({} bytes), skipped {} already present; now set STORAGE_SOURCE={to}",
        report.copied, report.copied_bytes, report.skipped
    );
    Ok(())
}

async fn storage_verify(settings: Settings) -> anyhow::Result<()> {
    let app = App::open(settings).await?;
    let (checked, problems) = crate::storage_ops::verify(&app.db, &app.storage).await?;
    for problem in &problems {
        println!(
            "{} {}: {}/{}: {}",
            problem.package, problem.version, problem.store, problem.key, problem.issue
        );
    }
    println!("checked {checked} versions, {} problems", problems.len());
    if !problems.is_empty() {
        bail!(
            "{} of {checked} versions have missing or corrupt archives",
            problems.len()
        );
    }
    Ok(())
}
