//! `packyard import`: taking over another installation (see `crate::import`).

use clap::Subcommand;

use crate::app::App;
use crate::config::Settings;
use crate::import::{packeton, satis};

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
        /// Packeton's YAML configuration (packeton.yaml, or Docker's /data/config.yaml):
        /// its mirrors are checked and the ones packyard lacks printed as the
        /// `mirrors:` block to add to PACKYARD_CONFIG.
        #[arg(long)]
        packeton_config: Option<std::path::PathBuf>,
        /// The running Packeton (https://old.example): archives its storage does not
        /// hold here are downloaded from it, as one of its admins, and checked alike.
        #[arg(long)]
        packeton_url: Option<String>,
        /// Print the report without writing anything.
        #[arg(long)]
        dry_run: bool,
    },
    /// Add the git repositories of a Satis configuration as git packages (each scanned
    /// now), keeping only the packages its `require` list names when it has one.
    Satis {
        /// The Satis configuration (satis.json).
        file: std::path::PathBuf,
        /// Print the report without adding anything.
        #[arg(long)]
        dry_run: bool,
    },
}

pub async fn run(settings: Settings, command: ImportCommand) -> anyhow::Result<()> {
    let app = App::open(settings).await?;
    let report = match command {
        ImportCommand::Packeton {
            database_url,
            packeton_env,
            packeton_config,
            packeton_url,
            dry_run,
        } => {
            let options = packeton::Options {
                database_url,
                packeton_env,
                packeton_config,
                packeton_url,
                dry_run,
            };
            packeton::import(&app, &options).await?
        }
        ImportCommand::Satis { file, dry_run } => satis::import(&app, &file, dry_run).await?,
    };
    print!("{report}");
    Ok(())
}
