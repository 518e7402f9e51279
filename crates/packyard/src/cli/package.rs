//! `packyard package`: uploads, git packages, downloads and visibility.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Subcommand;

use crate::access::Actor;
use crate::app::App;
use crate::config::Settings;
use crate::git_packages::{AddRequest, Credentials, ScanSummary};
use crate::uploads::archive_file::ArchiveFile;
use crate::uploads::artifact::PublishRequest;

#[derive(Subcommand)]
pub enum PackageCommand {
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
    /// Add a git package: the URL is scanned now and its versions published.
    Add {
        url: String,
        /// HTTPS user name for a private repository (with --password).
        #[arg(long, requires = "password")]
        username: Option<String>,
        /// HTTPS password or token; stored sealed with PACKYARD_SECRET.
        #[arg(long, requires = "username")]
        password: Option<String>,
        /// A file with an SSH private key; stored sealed with PACKYARD_SECRET.
        #[arg(long)]
        ssh_key: Option<PathBuf>,
        /// Secret that signs this repository's webhooks.
        #[arg(long)]
        webhook_secret: Option<String>,
    },
    /// Fetch and re-scan a git package now.
    Update { name: String },
    /// Make a package public (every caller sees it) or private again.
    Set {
        name: String,
        #[arg(long, conflicts_with = "private", required_unless_present = "private")]
        public: bool,
        #[arg(long)]
        private: bool,
    },
}

pub async fn run(settings: Settings, command: PackageCommand) -> anyhow::Result<()> {
    match command {
        PackageCommand::Upload {
            file,
            version,
            force,
        } => upload(settings, &file, version, force).await,
        PackageCommand::Downloads { name } => downloads(settings, &name).await,
        PackageCommand::Add {
            url,
            username,
            password,
            ssh_key,
            webhook_secret,
        } => {
            let ssh_key = match ssh_key {
                Some(path) => Some(
                    std::fs::read_to_string(&path)
                        .with_context(|| format!("reading {}", path.display()))?,
                ),
                None => None,
            };
            let credentials = (username.is_some() || ssh_key.is_some()).then_some(Credentials {
                username,
                password,
                ssh_key,
            });
            let request = AddRequest {
                url,
                credentials,
                webhook_secret,
                allow_local: true,
            };
            add_package(settings, request).await
        }
        PackageCommand::Update { name } => update_package(settings, &name).await,
        PackageCommand::Set { name, public, .. } => {
            let app = App::open(settings).await?;
            app.access_admin()
                .set_public(Actor::Operator, &name, public)
                .await?;
            let state = if public { "public" } else { "private" };
            println!("{name} is {state}");
            Ok(())
        }
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
        by: crate::access::Actor::Operator.name().to_owned(),
    };
    let published = app.uploads.upload(&archive, request).await?;
    println!(
        "{} {} {} (reference {})",
        published.outcome.as_str(),
        published.package,
        published.version,
        published.reference
    );
    Ok(())
}

/// Installs of a package, as `stats.json` counts them: totals, then one line per
/// version; then the same for each mirror it was installed through.
async fn downloads(settings: Settings, name: &str) -> anyhow::Result<()> {
    let app = App::open(settings).await?;
    let name = composer::package_name::PackageName::parse(&name.to_ascii_lowercase())?;
    let today = crate::stats::today();
    let installs = app
        .stats
        .installs(
            &name,
            &crate::access::View::everything(),
            today - crate::stats::MONTH_DAYS + 1,
        )
        .await?;
    let mirrored = app.db.mirror_downloads(name.as_str()).await?;
    if installs.is_none() && mirrored.is_empty() {
        bail!("package {name} does not exist here, and no mirror counted installs of it");
    }
    let summary = |total: i64, monthly: i64, daily: i64| {
        format!("{total} installs, {monthly} in the last 30 days, {daily} today")
    };
    if let Some(installs) = installs {
        let totals = installs.totals(today);
        println!(
            "{name}: {}",
            summary(totals.total, totals.monthly, totals.daily)
        );
        for (version, count) in &installs.per_version {
            println!("{version}\t{count}");
        }
    }
    let mut aliases: Vec<&str> = mirrored.iter().map(|(alias, ..)| alias.as_str()).collect();
    aliases.dedup();
    for alias in aliases {
        let rows: Vec<_> = mirrored.iter().filter(|row| row.0 == alias).collect();
        let within = |days: i64| -> i64 {
            rows.iter()
                .filter(|(_, _, day, _)| *day > today - days)
                .map(|row| row.3)
                .sum()
        };
        let total = rows.iter().map(|row| row.3).sum();
        println!(
            "{name} through the {alias} mirror: {}",
            summary(total, within(30), within(1))
        );
        let mut per_version = std::collections::BTreeMap::<&str, i64>::new();
        for (_, version, _, count) in &rows {
            *per_version.entry(version.as_str()).or_default() += count;
        }
        for (version, count) in per_version {
            println!("{version}\t{count}");
        }
    }
    Ok(())
}

async fn add_package(settings: Settings, request: AddRequest) -> anyhow::Result<()> {
    let app = App::open(settings).await?;
    let started = std::time::Instant::now();
    let summary = app.git_packages.add(request).await?;
    print_scan(&summary, started.elapsed());
    Ok(())
}

async fn update_package(settings: Settings, name: &str) -> anyhow::Result<()> {
    let app = App::open(settings).await?;
    let started = std::time::Instant::now();
    let summary = app.git_packages.rescan(name).await?;
    // A scan that changed versions is recorded with them; one the operator asked for
    // that found nothing new is recorded too (scheduled ones are not: they would fill
    // the log with nothing).
    if !summary.changed {
        let change = crate::db::audit::Change::of_package("package.scanned", name)
            .detail("versions", Vec::<String>::new());
        app.db.record_audit(&change).await?;
    }
    print_scan(&summary, started.elapsed());
    Ok(())
}

fn print_scan(summary: &ScanSummary, elapsed: std::time::Duration) {
    let what = match (summary.unchanged_refs, summary.changed) {
        (true, _) => "unchanged",
        (false, true) => "updated",
        (false, false) => "scanned, no change",
    };
    println!(
        "{} {what}: {} versions, {} refs skipped, in {:.3} s",
        summary.package,
        summary.versions,
        summary.skipped.len(),
        elapsed.as_secs_f64()
    );
    for (label, entries) in [("skipped", &summary.skipped), ("notice", &summary.notices)] {
        for note in entries {
            println!("  {label} {}: {}", note.ref_name, note.reason);
        }
    }
}
