//! `packyard webhook`: outgoing webhooks and their deliveries.

use clap::Subcommand;

use crate::app::App;
use crate::config::Settings;
use crate::webhooks::{DeliveryView, HookSpec};

#[derive(Subcommand)]
pub enum WebhookCommand {
    /// Add a hook: matching events are POSTed to URL as signed JSON.
    Add {
        name: String,
        #[arg(long)]
        url: String,
        /// Comma-separated: new_release, update_release, delete_release, new_package,
        /// delete_package, update_failed, security_advisory.
        #[arg(long, value_delimiter = ',', required = true)]
        events: Vec<String>,
        /// Only events about packages matching this name or '*' pattern.
        #[arg(long)]
        package: Option<String>,
        /// The signing secret (16-256 characters); one is generated when omitted.
        #[arg(long)]
        secret: Option<String>,
    },
    /// List the hooks.
    List,
    /// Remove a hook and its deliveries.
    Remove { name: String },
    /// Show a hook's deliveries, newest first, with each attempt.
    Deliveries {
        name: String,
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
    /// Deliver a delivery again (same id and payload), with the usual retries.
    Redeliver { delivery: String },
}

pub async fn run(settings: Settings, command: WebhookCommand) -> anyhow::Result<()> {
    let app = App::open(settings).await?;
    match command {
        WebhookCommand::Add {
            name,
            url,
            events,
            package,
            secret,
        } => {
            let generated = secret.is_none();
            let spec = HookSpec {
                name,
                url,
                events,
                package,
                secret,
            };
            let (hook, secret) = app.webhooks.create(spec).await?;
            println!(
                "added webhook {} -> {} for {}",
                hook.name,
                hook.url,
                hook.events.join(",")
            );
            if generated {
                println!(
                    "signing secret (shown once; receivers check X-Packyard-Signature with it):"
                );
                println!("{secret}");
            }
        }
        WebhookCommand::List => {
            for hook in app.webhooks.list().await? {
                println!(
                    "{}\t{}\t{}\t{}",
                    hook.name,
                    hook.url,
                    hook.events.join(","),
                    hook.package_pattern.as_deref().unwrap_or("*")
                );
            }
        }
        WebhookCommand::Remove { name } => {
            app.webhooks.remove(&name).await?;
            println!("removed webhook {name}");
        }
        WebhookCommand::Deliveries { name, limit } => {
            for delivery in app.webhooks.deliveries(&name, limit).await? {
                print_delivery(&delivery);
            }
        }
        WebhookCommand::Redeliver { delivery } => {
            let job = app.webhooks.redeliver(&delivery).await?;
            println!("queued redelivery of {delivery} (job {job})");
        }
    }
    Ok(())
}

/// One line per delivery, then one per attempt. The receiver's answer is another
/// server's text: it is shown escaped and shortened, so that it cannot drive the
/// terminal.
fn print_delivery(delivery: &DeliveryView) {
    println!(
        "{}\t{}\t{}\t{}\t{}",
        delivery.delivery, delivery.created_at, delivery.event, delivery.package, delivery.state
    );
    for (number, attempt) in delivery.attempts.iter().enumerate() {
        let outcome = match (attempt.status, &attempt.error) {
            (Some(status), _) => status.to_string(),
            (None, Some(error)) => format!("error: {}", error.escape_debug()),
            (None, None) => "error".to_owned(),
        };
        let answer: String = attempt
            .response
            .as_deref()
            .unwrap_or("")
            .chars()
            .take(200)
            .collect();
        println!(
            "  attempt {}\t{}\t{} ms\t{}\t{}",
            number + 1,
            attempt.at,
            attempt.duration_ms,
            outcome,
            answer.escape_debug()
        );
    }
}
