//! `packyard login`: the identity providers of PACKYARD_CONFIG's `login:` section.

use clap::Subcommand;

use crate::config::Settings;
use crate::sso::config::ProviderKind;

#[derive(Subcommand)]
pub enum LoginCommand {
    /// List the identity providers: alias, type, button title, and where users sign
    /// in (the URL to give the provider as the redirect URL, where it needs one).
    List,
}

pub fn run(settings: &Settings, command: &LoginCommand) {
    match command {
        LoginCommand::List => {
            let login = &settings.login;
            let base = settings.public_url.as_deref().unwrap_or("");
            let site = if base.is_empty() {
                "https://HOST"
            } else {
                base
            };
            for provider in &login.providers {
                let signs_in_at = match &provider.kind {
                    ProviderKind::Ldap(directory) => {
                        format!(
                            "{base}/login (form posting to /login/{}; directory {})",
                            provider.alias, directory.url
                        )
                    }
                    ProviderKind::Oidc(oidc) => format!(
                        "redirect URL {}; issuer {}",
                        crate::sso::Sso::redirect_url(site, &provider.alias),
                        oidc.issuer
                    ),
                    ProviderKind::GitHub(github) => format!(
                        "callback URL {}; {}",
                        crate::sso::Sso::redirect_url(site, &provider.alias),
                        github.web_url
                    ),
                };
                println!(
                    "{}\t{}\t{}\t{signs_in_at}",
                    provider.alias,
                    provider.kind.name(),
                    provider.title
                );
            }
            println!(
                "passwords: {}",
                match (login.password_login, &login.break_glass_admin) {
                    (true, _) => "on".to_owned(),
                    (false, Some(admin)) => format!("off, but for the break-glass admin {admin}"),
                    (false, None) => "off".to_owned(),
                }
            );
        }
    }
}
