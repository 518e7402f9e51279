//! `packyard serve`: check the stores, bind, serve until SIGINT or SIGTERM.

use std::io::Write;
use std::time::Duration;

use anyhow::Context;

use std::sync::Arc;

use crate::app::App;
use crate::config::Settings;
use crate::git_packages::job::{ScanJob, enqueue_due_scans};
use crate::http::HttpListeners;
use crate::jobs::{Handlers, spawn_periodic};
use crate::webhooks::DeliverWebhook;

/// How often this replica looks for package changes made by others.
const REFRESH_INTERVAL: Duration = Duration::from_secs(2);
/// Jobs one process runs at once: scans are mostly waiting on git and the network.
const JOB_CONCURRENCY: usize = 4;

pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    let listen = settings.listen;
    let client_limits = settings.client_limits;
    let app = App::open(settings).await?;
    crate::storage_ops::check(&app.storage).await?;
    app.metadata.spawn_refresher(REFRESH_INTERVAL);
    spawn_access_refresher(&app);
    start_background_work(&app);
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let listeners = HttpListeners::bind(listen, threads)
        .with_context(|| format!("PACKYARD_LISTEN: cannot listen on {listen}"))?;
    let address = listeners.local_addr();
    tracing::info!(%address, threads, "packyard listening");
    // On stdout as well, so scripts that start us on port 0 learn the port.
    println!("packyard listening on http://{address}");
    std::io::stdout().flush()?;
    listeners
        .serve(
            crate::http::router(app.clone()),
            client_limits,
            shutdown_signal(),
        )
        .await
        .context("serving HTTP")
}

/// Jobs run in this process; with PostgreSQL every replica takes its share. Re-scans
/// are queued on a schedule as well as by webhooks.
fn start_background_work(app: &Arc<App>) {
    let handlers = Handlers::default()
        .register::<ScanJob>(app.clone())
        .register::<DeliverWebhook>(app.clone());
    // Dropping the handle leaves the runner going for the life of the process.
    drop(app.jobs.clone().spawn_runner(handlers, JOB_CONCURRENCY));
    // Webhook deliveries are kept for a week; any replica may prune them.
    let pruning = app.clone();
    spawn_periodic(Duration::from_secs(3600), move || {
        let app = pruning.clone();
        async move {
            let before = crate::db::now_millis() - crate::webhooks::RETENTION.as_millis() as i64;
            match app.db.prune_deliveries(before).await {
                Ok(0) => {}
                Ok(pruned) => tracing::info!(pruned, "pruned old webhook deliveries"),
                Err(error) => tracing::warn!(%error, "pruning webhook deliveries failed"),
            }
        }
    });
    if let Some(interval) = app.settings.update_interval {
        let app = app.clone();
        // Check often enough that a package is never much later than its interval.
        let check_every = interval.min(Duration::from_secs(60));
        spawn_periodic(check_every, move || {
            let app = app.clone();
            async move {
                match enqueue_due_scans(&app, interval).await {
                    Ok(0) => {}
                    Ok(queued) => tracing::info!(queued, "queued scheduled re-scans"),
                    Err(error) => tracing::warn!(%error, "queueing scheduled re-scans failed"),
                }
            }
        });
    }
}

/// Keeps access rules and verified credentials in step with changes made anywhere:
/// a revoked token or a changed grant counts on every replica within seconds.
fn spawn_access_refresher(app: &Arc<App>) {
    let app = Arc::downgrade(app);
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(crate::access::REFRESH_INTERVAL);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let Some(app) = app.upgrade() else {
                return;
            };
            if let Err(error) = app.apply_access_changes().await {
                tracing::warn!(%error, "refreshing access rules failed");
            }
            // Token uses are written in batches, not on every request.
            if let Err(error) = app.auth.flush_uses().await {
                tracing::warn!(%error, "recording token uses failed");
            }
        }
    });
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing the SIGTERM handler");
    tokio::select! {
        _ = interrupt => {}
        _ = terminate.recv() => {}
    }
    tracing::info!("shutting down");
}
