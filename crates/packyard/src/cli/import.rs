//! `packyard import`: taking over another installation (see `crate::import`).

use clap::Subcommand;

use crate::app::App;
use crate::config::Settings;
use crate::import::packeton;

#[derive(Subcommand)]
pub enum ImportCommand {
    /// Import a Packeton installation's users (passwords, API tokens, personal access
    /// tokens), groups with their ACL, and sub-repositories. Running it again changes
    /// only what differs; every object is reported.
    Packeton {
        /// Packeton's DATABASE_URL: sqlite:///ABSOLUTE/PATH, mysql://… or postgresql://….
        #[arg(long)]
        database_url: String,
        /// Print the report without writing anything.
        #[arg(long)]
        dry_run: bool,
    },
}

pub async fn run(settings: Settings, command: ImportCommand) -> anyhow::Result<()> {
    let ImportCommand::Packeton {
        database_url,
        dry_run,
    } = command;
    let app = App::open(settings).await?;
    let options = packeton::Options {
        database_url,
        dry_run,
    };
    let report = packeton::import(&app, &options).await?;
    print!("{report}");
    Ok(())
}
