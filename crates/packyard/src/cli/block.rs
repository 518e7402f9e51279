//! `packyard block`: block lists (versions nobody may install, published with
//! Composer's `filter` protocol).

use anyhow::bail;
use clap::Subcommand;

use crate::access::Actor;
use crate::app::App;
use crate::block_lists::BlockRequest;
use crate::config::Settings;

#[derive(Subcommand)]
pub enum BlockCommand {
    /// Block versions of a package: withdrawn from the metadata (unless their category
    /// only flags), their archives answer 410 with the reason.
    Add {
        package: String,
        /// The blocked versions, as a Composer constraint ('1.2.3', '>=2.0,<2.1.4');
        /// every version when left out.
        #[arg(long)]
        versions: Option<String>,
        #[arg(long)]
        reason: String,
        /// The Composer filter list it is published in (malware, compromised, policy…).
        #[arg(long)]
        category: String,
        /// Where to read more (http or https).
        #[arg(long)]
        url: Option<String>,
    },
    /// List blocks (of one package, or all): id, package, versions, category, reason.
    List { package: Option<String> },
    /// Lift a block by its id.
    Remove { id: i64 },
    /// How a category treats blocked versions in metadata: --withdraw (the default) or
    /// --flag (left in the metadata, flagged in the filter list; archives still 410).
    Category {
        name: String,
        #[arg(long, conflicts_with = "flag")]
        withdraw: bool,
        #[arg(long)]
        flag: bool,
    },
}

pub async fn run(settings: Settings, command: BlockCommand) -> anyhow::Result<()> {
    let app = App::open(settings).await?;
    match command {
        BlockCommand::Add {
            package,
            versions,
            reason,
            category,
            url,
        } => {
            let request = BlockRequest {
                package,
                versions,
                reason,
                category,
                url,
            };
            let row = app.blocks.add(request, Actor::Operator).await?;
            println!(
                "blocked {} {} ({}) as block {}",
                row.package, row.versions, row.category, row.id
            );
        }
        BlockCommand::List { package } => {
            for row in app.blocks.list(package.as_deref()).await? {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    row.id, row.package, row.versions, row.category, row.reason
                );
            }
        }
        BlockCommand::Remove { id } => {
            let row = app.blocks.remove(id, Actor::Operator).await?;
            println!("lifted block {id} ({} {})", row.package, row.versions);
        }
        BlockCommand::Category {
            name,
            withdraw,
            flag,
        } => {
            if !withdraw && !flag {
                bail!(
                    "say --withdraw (blocked versions leave the metadata) or --flag (they stay, flagged)"
                );
            }
            app.blocks.set_withdraw(&name, withdraw).await?;
            let treatment = if withdraw {
                "withdrawn from"
            } else {
                "flagged in"
            };
            println!("versions blocked in {name} are {treatment} the metadata");
        }
    }
    Ok(())
}
