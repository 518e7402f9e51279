//! `packyard group`: groups, their grants, freezes, mirrors and members.

use clap::Subcommand;

use super::{age, describe_limit, parse_age_flag, parse_date_flag, parse_limit_flag};
use crate::access::Actor;
use crate::access::admin::{GroupSettings, NewGrant};
use crate::app::App;
use crate::config::Settings;
use crate::time::rfc3339;

#[derive(Subcommand)]
pub enum GroupCommand {
    /// Create a group.
    Add { name: String },
    /// Remove a group with its grants and memberships.
    Remove { name: String },
    /// List groups with their freeze, mirrors, members and grants.
    List,
    /// Let the group's members see a package, or every package a pattern (`acme/*`)
    /// matches; granting it again replaces the version constraint.
    Grant {
        group: String,
        package: String,
        /// Only versions matching this Composer constraint (e.g. `^1.0 || ^2.0`).
        #[arg(long)]
        versions: Option<String>,
    },
    /// Withdraw a grant.
    Revoke { group: String, package: String },
    /// Change the group's update freeze, the mirrors its members may use, or the
    /// sub-repositories its grants count in.
    Set {
        group: String,
        /// Versions released after this are hidden for the packages this group grants:
        /// a date (through that day, UTC), a time, a span, or `none`.
        #[arg(long)]
        updates_until: Option<String>,
        /// Versions published less than this long ago (3d, 72h) are not offered through
        /// this group's grants; `none` removes it.
        #[arg(long)]
        min_release_age: Option<String>,
        /// Mirror aliases the members may use, comma-separated (empty: none).
        #[arg(long, value_delimiter = ',')]
        mirrors: Option<Vec<String>>,
        /// The sub-repositories through which the group's grants count: slugs,
        /// comma-separated (`root` for the root repository), or `all`.
        #[arg(long)]
        subrepos: Option<String>,
    },
    /// Add users to the group or remove them.
    Members {
        group: String,
        #[arg(long)]
        add: Vec<String>,
        #[arg(long)]
        remove: Vec<String>,
    },
}

pub async fn run(settings: Settings, command: GroupCommand) -> anyhow::Result<()> {
    let app = App::open(settings).await?;
    let (admin, operator) = (app.access_admin(), Actor::Operator);
    match command {
        GroupCommand::Add { name } => {
            admin
                .create_group(operator, &name, GroupSettings::default())
                .await?;
            println!("created group {name}");
        }
        GroupCommand::Remove { name } => {
            admin.remove_group(operator, &name).await?;
            println!("removed group {name}");
        }
        GroupCommand::List => {
            for group in app.db.access_rules().await?.groups {
                let until = group
                    .updates_until
                    .map_or_else(|| "none".to_owned(), |ms| rfc3339(ms / 1000));
                println!(
                    "{}\tupdates until: {until}\tminimum release age: {}\tmirrors: {}\tmembers: {}\tsub-repositories: {}",
                    group.name,
                    age(group.min_release_age),
                    group.mirrors.join(","),
                    group.members.join(","),
                    describe_limit(group.subrepos.as_deref())
                );
                for (package, versions) in &group.grants {
                    println!(
                        "  {package}\t{}",
                        versions.as_deref().unwrap_or("all versions")
                    );
                }
            }
        }
        GroupCommand::Grant {
            group,
            package,
            versions,
        } => {
            let grant = admin
                .grant(operator, &group, NewGrant { package, versions })
                .await?;
            let versions = grant.versions.as_deref().unwrap_or("all versions");
            println!("group {group} may see {} ({versions})", grant.package);
        }
        GroupCommand::Revoke { group, package } => {
            admin.revoke(operator, &group, &package).await?;
            println!("group {group} no longer sees {package}");
        }
        GroupCommand::Set {
            group,
            updates_until,
            min_release_age,
            mirrors,
            subrepos,
        } => {
            let settings = GroupSettings {
                updates_until: updates_until.as_deref().map(parse_date_flag).transpose()?,
                min_release_age: min_release_age.as_deref().map(parse_age_flag).transpose()?,
                mirrors: mirrors.map(|list| list.into_iter().filter(|m| !m.is_empty()).collect()),
                grants: None,
                subrepos: subrepos.as_deref().map(parse_limit_flag),
            };
            admin.change_group(operator, &group, settings).await?;
            println!("changed group {group}");
        }
        GroupCommand::Members { group, add, remove } => {
            for user in &add {
                admin.add_member(operator, &group, user).await?;
            }
            for user in &remove {
                admin.remove_member(operator, &group, user).await?;
            }
            println!("changed the members of group {group}");
        }
    }
    Ok(())
}
