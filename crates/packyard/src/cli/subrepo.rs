//! `packyard subrepo`: sub-repositories, each a Composer repository at `/{slug}` (and
//! at the root of its host names) with only its packages.

use clap::Subcommand;

use crate::access::Actor;
use crate::access::subrepos::SubRepositoryChange;
use crate::app::App;
use crate::config::Settings;
use crate::db::{SubRepositoryFields, SubRepositoryRow};

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
        /// A host name whose requests are answered as this sub-repository at `/`
        /// (repeat or separate with commas).
        #[arg(long = "host", value_delimiter = ',')]
        hosts: Vec<String>,
        /// Anonymous clients may read its packages (not the root's).
        #[arg(long)]
        public: bool,
        /// Mirror aliases it includes, comma-separated, asked in this order for a
        /// package that is not private: one URL for private and mirrored packages.
        #[arg(long, value_delimiter = ',')]
        mirrors: Vec<String>,
    },
    /// Change a sub-repository's name, packages, host names, public flag or mirrors.
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
        /// Replaces the host names (`--host ''` removes them all).
        #[arg(long = "host", value_delimiter = ',')]
        hosts: Option<Vec<String>>,
        /// Anonymous clients may read its packages.
        #[arg(long, conflicts_with = "private")]
        public: bool,
        /// Only clients with credentials may read it (the default).
        #[arg(long)]
        private: bool,
        /// Replaces the mirrors it includes (`--mirrors ''` removes them all).
        #[arg(long, value_delimiter = ',')]
        mirrors: Option<Vec<String>>,
    },
    /// Remove a sub-repository (its packages stay, at the root and in others).
    Remove { slug: String },
    /// List sub-repositories: slug, name, packages, host names, public or private,
    /// mirrors.
    List,
}

pub async fn run(settings: Settings, command: SubrepoCommand) -> anyhow::Result<()> {
    let app = App::open(settings).await?;
    let (admin, operator) = (app.access_admin(), Actor::Operator);
    match command {
        SubrepoCommand::Add {
            slug,
            name,
            packages,
            hosts,
            public,
            mirrors,
        } => {
            let fields = SubRepositoryFields {
                name,
                packages,
                hosts,
                public,
                mirrors: without_empty(mirrors),
            };
            admin.add_sub_repository(operator, &slug, fields).await?;
            println!("created sub-repository {slug}: /{slug}/packages.json");
        }
        SubrepoCommand::Set {
            slug,
            name,
            packages,
            add_packages,
            remove_packages,
            hosts,
            public,
            private,
            mirrors,
        } => {
            let change = SubRepositoryChange {
                name,
                packages,
                add_packages,
                remove_packages,
                hosts,
                public: (public || private).then_some(public),
                mirrors: mirrors.map(without_empty),
            };
            let row = admin.change_sub_repository(operator, &slug, change).await?;
            println!("{}", describe(&row));
        }
        SubrepoCommand::Remove { slug } => {
            admin.remove_sub_repository(operator, &slug).await?;
            println!("removed sub-repository {slug}");
        }
        SubrepoCommand::List => {
            for row in admin.sub_repositories().await? {
                println!("{}", describe(&row));
            }
        }
    }
    Ok(())
}

/// `slug<TAB>name<TAB>packages<TAB>host names<TAB>public|private<TAB>mirrors`.
fn describe(row: &SubRepositoryRow) -> String {
    let list = |items: &[String], none: &str| {
        if items.is_empty() {
            none.to_owned()
        } else {
            items.join(", ")
        }
    };
    format!(
        "{}\t{}\t{}\t{}\t{}\t{}",
        row.slug,
        row.name,
        list(&row.packages, "no packages"),
        list(&row.hosts, "no host names"),
        if row.public { "public" } else { "private" },
        list(&row.mirrors, "no mirrors")
    )
}

/// `--mirrors ''` means none.
fn without_empty(list: Vec<String>) -> Vec<String> {
    list.into_iter().filter(|item| !item.is_empty()).collect()
}
