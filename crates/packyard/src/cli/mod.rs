//! The command line: `serve`, `user`, `package`.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};

use composer::package_name::PackageName;

mod access;
mod webhooks;

use access::{AccessCommand, GroupCommand, TokenCommand, UserCommand};

use crate::app::App;
use crate::config::Settings;
use crate::git_packages::{AddRequest, Credentials, ScanSummary};
use crate::mirror::documents::Revalidation;
use crate::uploads::archive_file::ArchiveFile;
use crate::uploads::artifact::PublishRequest;

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
    /// Manage outgoing webhooks and see their deliveries.
    #[command(subcommand)]
    Webhook(webhooks::WebhookCommand),
    /// Work with the secrets sealed in the database.
    #[command(subcommand)]
    Secrets(SecretsCommand),
    /// Show background jobs, newest first.
    Jobs {
        /// Only jobs in this state: queued, running, succeeded or failed.
        #[arg(long)]
        state: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
}

#[derive(Subcommand)]
enum SecretsCommand {
    /// Reseal every stored secret (repository credentials, webhook secrets) under the
    /// current PACKYARD_SECRET, opening them with the old one. Run it with the new
    /// PACKYARD_SECRET set; it can be run again (what is already current is left).
    Rotate {
        /// The PACKYARD_SECRET the values were sealed with until now.
        #[arg(long, env = "PACKYARD_OLD_SECRET", hide_env_values = true)]
        old: String,
    },
}

#[derive(Subcommand)]
enum AdvisoryCommand {
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

#[derive(Subcommand)]
enum MirrorCommand {
    /// Allow a package through a strict mirror.
    Approve { alias: String, names: Vec<String> },
    /// Revalidate every mirrored document of a mirror against its upstream.
    Sync { alias: String },
    /// List the mirrors in effect and the packages their upstreams no longer have.
    List,
    /// Drop what a mirror stored of a package (documents and archives), e.g. one that
    /// is gone upstream; the next request asks the upstream afresh.
    Forget { alias: String, package: String },
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

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = Settings::from_env()?;
    match cli.command {
        Command::Serve => crate::server::serve(settings).await,
        Command::User(command) => access::user(settings, command).await,
        Command::Group(command) => access::group(settings, command).await,
        Command::Token(command) => access::token(settings, command).await,
        Command::Access(command) => access::access(settings, command).await,
        Command::Package(PackageCommand::Upload {
            file,
            version,
            force,
        }) => upload(settings, &file, version, force).await,
        Command::Package(PackageCommand::Downloads { name }) => downloads(settings, &name).await,
        Command::Package(PackageCommand::Add {
            url,
            username,
            password,
            ssh_key,
            webhook_secret,
        }) => {
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
        Command::Package(PackageCommand::Update { name }) => update_package(settings, &name).await,
        Command::Package(PackageCommand::Set { name, public, .. }) => {
            let app = App::open(settings).await?;
            if !app.db.set_package_public(&name, public).await? {
                bail!("no package named {name}");
            }
            let state = if public { "public" } else { "private" };
            println!("{name} is {state}");
            Ok(())
        }
        Command::Advisory(command) => advisory(settings, command).await,
        Command::Webhook(command) => webhooks::run(settings, command).await,
        Command::Jobs { state, limit } => list_jobs(settings, state.as_deref(), limit).await,
        Command::Secrets(SecretsCommand::Rotate { old }) => rotate_secrets(settings, &old).await,
        Command::Mirror(MirrorCommand::Approve { alias, names }) => {
            mirror_approve(settings, &alias, &names).await
        }
        Command::Mirror(MirrorCommand::Sync { alias }) => mirror_sync(settings, &alias).await,
        Command::Mirror(MirrorCommand::List) => mirror_list(settings).await,
        Command::Mirror(MirrorCommand::Forget { alias, package }) => {
            mirror_forget(settings, &alias, &package).await
        }
        Command::Storage(StorageCommand::Check) => storage_check(settings).await,
        Command::Storage(StorageCommand::Migrate { to }) => storage_migrate(settings, &to).await,
        Command::Storage(StorageCommand::Verify) => storage_verify(settings).await,
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
    let name = name.to_ascii_lowercase();
    let today = crate::stats::today();
    let installs = app
        .stats
        .installs(
            &name,
            &crate::access::View::everything(),
            today - crate::stats::MONTH_DAYS + 1,
        )
        .await?;
    let mirrored = app.db.mirror_downloads(&name).await?;
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

async fn advisory(settings: Settings, command: AdvisoryCommand) -> anyhow::Result<()> {
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

async fn list_jobs(settings: Settings, state: Option<&str>, limit: i64) -> anyhow::Result<()> {
    let state = match state {
        Some(name) => Some(name.parse::<crate::db::JobState>()?),
        None => None,
    };
    let app = App::open(settings).await?;
    for job in app.db.jobs(state, limit).await? {
        let detail = job.error.as_deref().or(job.result.as_deref()).unwrap_or("");
        println!(
            "{}\t{}\t{}\t{}\t{}",
            job.id,
            job.kind,
            job.state.as_str(),
            job.payload,
            detail.lines().next().unwrap_or("")
        );
    }
    Ok(())
}

async fn mirror_approve(settings: Settings, alias: &str, names: &[String]) -> anyhow::Result<()> {
    let app = App::open(settings).await?;
    let mirror = app
        .mirrors
        .get(alias)
        .with_context(|| format!("no mirror named {alias}"))?;
    if !mirror.strict {
        eprintln!(
            "note: the {alias} mirror is not strict; approvals only matter for strict mirrors"
        );
    }
    for name in app.mirrors.approve(mirror, names).await? {
        println!("approved {name} for the {alias} mirror");
    }
    Ok(())
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
    Ok(())
}

/// One line per mirror (alias, URL, flags), each followed by the packages whose stored
/// documents its upstream no longer has.
async fn mirror_list(settings: Settings) -> anyhow::Result<()> {
    let app = App::open(settings).await?;
    let mut failures = 0;
    for alias in app.mirrors.aliases() {
        let mirror = app.mirrors.get(alias).expect("listed");
        let flags = [
            ("public", mirror.public_access),
            ("strict", mirror.strict),
            ("dists", mirror.enable_dist_mirror),
        ];
        let on: Vec<&str> = flags
            .iter()
            .filter(|(_, set)| *set)
            .map(|(name, _)| *name)
            .collect();
        println!("{}\t{}\t{}", mirror.alias, mirror.url, on.join(","));
        let gone = match app.mirrors.gone_upstream(mirror).await {
            Ok(gone) => gone,
            Err(error) => {
                eprintln!("  cannot list what the {alias} mirror keeps: {error}");
                failures += 1;
                continue;
            }
        };
        for document in gone {
            let name = document.name();
            println!(
                "  {name}\tgone upstream since {}",
                crate::time::rfc3339(document.since / 1000)
            );
        }
    }
    if failures > 0 {
        bail!("{failures} mirrors could not be listed");
    }
    Ok(())
}

async fn mirror_forget(settings: Settings, alias: &str, package: &str) -> anyhow::Result<()> {
    let app = App::open(settings).await?;
    let mirror = app
        .mirrors
        .get(alias)
        .with_context(|| format!("no mirror named {alias}"))?;
    let package = PackageName::parse(&package.to_ascii_lowercase())?;
    let forgotten = app.mirrors.forget(mirror, &package).await?;
    if forgotten.documents == 0 && forgotten.archives == 0 {
        println!("the {alias} mirror stores nothing of {package}");
    } else {
        println!(
            "forgot {package} in the {alias} mirror: {} documents, {} archives deleted",
            forgotten.documents, forgotten.archives
        );
    }
    Ok(())
}

async fn mirror_sync(settings: Settings, alias: &str) -> anyhow::Result<()> {
    let app = App::open(settings).await?;
    let mirror = app
        .mirrors
        .get(alias)
        .cloned()
        .with_context(|| format!("no mirror named {alias}"))?;
    let paths = app.mirrors.documents.stored_paths(&mirror).await?;
    let progress = indicatif::ProgressBar::new(paths.len() as u64).with_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}")
            .expect("a valid progress template"),
    );
    let (mut changed, mut gone, mut failures) = (0, 0, 0);
    for path in &paths {
        progress.set_message(path.clone());
        match app.mirrors.documents.revalidate(&mirror, path).await {
            Ok(Revalidation::Changed) => changed += 1,
            Ok(Revalidation::Unchanged | Revalidation::Missing) => {}
            Ok(Revalidation::GoneUpstream) => {
                progress.println(format!("{path}: gone upstream; the stored copy is kept"));
                gone += 1;
            }
            Ok(Revalidation::Unreachable(error)) => {
                progress.println(format!("{path}: {error}; the stored copy is kept"));
                failures += 1;
            }
            Err(error) => {
                progress.println(format!("{path}: {error}"));
                failures += 1;
            }
        }
        progress.inc(1);
    }
    progress.finish_and_clear();
    println!(
        "revalidated {} documents of the {alias} mirror: {changed} changed, {gone} gone upstream (kept), {failures} failed",
        paths.len()
    );
    if failures > 0 {
        bail!("{failures} documents could not be revalidated");
    }
    Ok(())
}
