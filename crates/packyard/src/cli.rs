//! The command line: `serve`, `user`, `package`.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};

use crate::app::App;
use crate::auth::{generate_token, hash_token, validate_user_name};
use crate::config::Settings;
use crate::db::is_unique_violation;
use crate::sources::archive_file::ArchiveFile;
use crate::sources::artifact::{self, PublishRequest};

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
    /// Manage packages.
    #[command(subcommand)]
    Package(PackageCommand),
    /// Check, migrate and verify the stores.
    #[command(subcommand)]
    Storage(StorageCommand),
}

#[derive(Subcommand)]
enum StorageCommand {
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

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user; prints its API token as the last line of output.
    Add {
        name: String,
        /// May upload and manage packages.
        #[arg(long)]
        admin: bool,
    },
}

#[derive(Subcommand)]
enum PackageCommand {
    /// Publish a zip archive as a version of the package its composer.json names.
    Upload {
        file: PathBuf,
        /// The version to publish; defaults to composer.json's "version".
        #[arg(long)]
        version: Option<String>,
        /// Replace an existing version that has a different archive.
        #[arg(long)]
        force: bool,
    },
    /// Print installs per version, as counted from Composer's notify-batch.
    Downloads { name: String },
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = Settings::from_env()?;
    match cli.command {
        Command::Serve => crate::server::serve(settings).await,
        Command::User(UserCommand::Add { name, admin }) => add_user(settings, &name, admin).await,
        Command::Package(PackageCommand::Upload {
            file,
            version,
            force,
        }) => upload(settings, &file, version, force).await,
        Command::Package(PackageCommand::Downloads { name }) => downloads(settings, &name).await,
        Command::Storage(StorageCommand::Check) => storage_check(settings).await,
        Command::Storage(StorageCommand::Migrate { to }) => storage_migrate(settings, &to).await,
        Command::Storage(StorageCommand::Verify) => storage_verify(settings).await,
    }
}

async fn add_user(settings: Settings, name: &str, admin: bool) -> anyhow::Result<()> {
    validate_user_name(name).map_err(anyhow::Error::msg)?;
    let app = App::open(settings).await?;
    let token = generate_token();
    match app.db.create_user(name, admin, &hash_token(&token)).await {
        Ok(user) => {
            let role = if user.is_admin { "admin" } else { "user" };
            println!("created {role} {}; API token:", user.name);
            println!("{token}");
            Ok(())
        }
        Err(error) if is_unique_violation(&error) => bail!("user {name} already exists"),
        Err(error) => Err(error).context("creating the user"),
    }
}

async fn upload(
    settings: Settings,
    file: &std::path::Path,
    version: Option<String>,
    force: bool,
) -> anyhow::Result<()> {
    let app = App::open(settings).await?;
    let archive = ArchiveFile::open(file).with_context(|| format!("reading {}", file.display()))?;
    let request = PublishRequest {
        package: None,
        version,
        force,
    };
    let published = artifact::publish(&app.db, &app.storage, &archive, request).await?;
    println!(
        "{} {} {} (reference {})",
        published.outcome.as_str(),
        published.package,
        published.version,
        published.reference
    );
    Ok(())
}

async fn downloads(settings: Settings, name: &str) -> anyhow::Result<()> {
    let app = App::open(settings).await?;
    if app.db.find_package(name).await?.is_none() {
        bail!("package {name} does not exist");
    }
    for (version, count) in app.db.download_counts(name).await? {
        println!("{version}\t{count}");
    }
    Ok(())
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
