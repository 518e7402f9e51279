//! `packyard subrepo`: sub-repositories, each a Composer repository at `/{slug}` with
//! only its packages.

use clap::Subcommand;

use crate::access::subrepos::{self, SubRepositoryChange};
use crate::app::App;
use crate::config::Settings;

#[derive(Subcommand)]
pub enum SubrepoCommand {
    /// Create a sub-repository: a Composer repository at /SLUG with only its packages.
    Add {
        slug: String,
        #[arg(long)]
        name: String,
        /// Package names and patterns (`acme/*`), comma-separated.
        #[arg(long, value_delimiter = ',')]
        packages: Vec<String>,
    },
    /// Change a sub-repository's name or packages.
    Set {
        slug: String,
        #[arg(long)]
        name: Option<String>,
        /// Replaces the package list (comma-separated names and patterns).
        #[arg(long, value_delimiter = ',')]
        packages: Option<Vec<String>>,
        #[arg(long, value_delimiter = ',')]
        add_packages: Vec<String>,
        #[arg(long, value_delimiter = ',')]
        remove_packages: Vec<String>,
    },
    /// Remove a sub-repository (its packages stay, at the root and in others).
    Remove { slug: String },
    /// List sub-repositories with their packages.
    List,
}

pub async fn run(settings: Settings, command: SubrepoCommand) -> anyhow::Result<()> {
    let app = App::open(settings).await?;
    let db = &app.db;
    match command {
        SubrepoCommand::Add {
            slug,
            name,
            packages,
        } => {
            subrepos::add(
                db,
                &slug,
                &name,
                packages,
                crate::routes::is_reserved_segment,
            )
            .await?;
            println!("created sub-repository {slug}: /{slug}/packages.json");
        }
        SubrepoCommand::Set {
            slug,
            name,
            packages,
            add_packages,
            remove_packages,
        } => {
            let row = subrepos::change(
                db,
                &slug,
                SubRepositoryChange {
                    name,
                    packages,
                    add_packages,
                    remove_packages,
                },
            )
            .await?;
            println!("{slug}: {} ({})", row.name, row.packages.join(", "));
        }
        SubrepoCommand::Remove { slug } => {
            subrepos::remove(db, &slug).await?;
            println!("removed sub-repository {slug}");
        }
        SubrepoCommand::List => {
            for row in db.sub_repositories().await? {
                let packages = if row.packages.is_empty() {
                    "no packages".to_owned()
                } else {
                    row.packages.join(", ")
                };
                println!("{}\t{}\t{packages}", row.slug, row.name);
            }
        }
    }
    Ok(())
}
