//! `packyard mirror`: mirrored repositories.

use anyhow::{Context, bail};
use clap::Subcommand;

use composer::package_name::PackageName;

use crate::app::App;
use crate::config::Settings;
use crate::mirror::documents::Revalidation;

#[derive(Subcommand)]
pub enum MirrorCommand {
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

pub async fn run(settings: Settings, command: MirrorCommand) -> anyhow::Result<()> {
    match command {
        MirrorCommand::Approve { alias, names } => mirror_approve(settings, &alias, &names).await,
        MirrorCommand::Sync { alias } => mirror_sync(settings, &alias).await,
        MirrorCommand::List => mirror_list(settings).await,
        MirrorCommand::Forget { alias, package } => mirror_forget(settings, &alias, &package).await,
    }
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
