//! `packyard access`: why a user sees a package or version, or does not.

use anyhow::Context;
use clap::Subcommand;

use crate::app::App;
use crate::config::Settings;
use crate::db::User;

#[derive(Subcommand)]
pub enum AccessCommand {
    /// Say whether USER sees PACKAGE (or PACKAGE:VERSION), and which grant allows or
    /// which rule hides it.
    Explain { user: String, package: String },
}

pub async fn run(settings: Settings, command: AccessCommand) -> anyhow::Result<()> {
    let app = App::open(settings).await?;
    let AccessCommand::Explain { user, package } = command;
    let user: User = app
        .db
        .users()
        .await?
        .into_iter()
        .find(|u| u.name == user)
        .with_context(|| format!("no user named {user}"))?;
    let (package, version) = match package.split_once(':') {
        Some((package, version)) => (package.to_ascii_lowercase(), Some(version.to_owned())),
        None => (package.to_ascii_lowercase(), None),
    };
    let view = app.access.view(Some(&user));
    let Some(version) = version else {
        let verdict = if view.sees_package(&package) {
            "may see"
        } else {
            "does not see"
        };
        println!("{} {verdict} {package}", user.name);
        println!("{}", view.explain(&package, None));
        return Ok(());
    };
    let (_, versions) = app
        .db
        .package_with_versions(&package)
        .await?
        .with_context(|| format!("no package named {package}"))?;
    let found = versions
        .iter()
        .find(|v| v.version == version || v.version_normalized == version)
        .with_context(|| format!("{package} has no version {version}"))?;
    let sees = view.sees_version(&package, &found.version_normalized, found.released_at);
    let verdict = if sees { "may install" } else { "does not see" };
    println!("{} {verdict} {package} {}", user.name, found.version);
    println!(
        "{}",
        view.explain(
            &package,
            Some((&found.version_normalized, found.released_at))
        )
    );
    Ok(())
}
