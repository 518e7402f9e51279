//! `packyard import`: taking over another installation (see `crate::import`).

use clap::Subcommand;

use crate::app::App;
use crate::config::Settings;
use crate::import::packeton;

#[derive(Subcommand)]
pub enum ImportCommand {
    /// Import a Packeton installation's users (passwords, API tokens, personal access
    /// tokens), groups with their ACL, sub-repositories, and packages with their
    /// versions and archives. Running it again changes
    /// only what differs; every object is reported.
    Packeton {
        /// Packeton's DATABASE_URL: sqlite:///ABSOLUTE/PATH, mysql://… or postgresql://….
        #[arg(long)]
        database_url: String,
        /// Packeton's .env file: where its archives are (PACKAGIST_DIST_PATH,
        /// APP_COMPOSER_HOME; the import's own environment wins, as for Packeton).
        #[arg(long)]
        packeton_env: Option<std::path::PathBuf>,
        /// Print the report without writing anything.
        #[arg(long)]
        dry_run: bool,
    },
}

pub async fn run(settings: Settings, command: ImportCommand) -> anyhow::Result<()> {
    let ImportCommand::Packeton {
        database_url,
        packeton_env,
        dry_run,
    } = command;
    let app = App::open(settings).await?;
    let options = packeton::Options {
        database_url,
        packeton_env,
        dry_run,
    };
    let report = packeton::import(&app, &options).await?;
    print!("{report}");
    Ok(())
}
