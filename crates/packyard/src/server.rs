//! `packyard serve`: check the stores, bind, serve until SIGINT or SIGTERM.

use std::io::Write;
use std::time::Duration;

use anyhow::Context;
use axum::serve::ListenerExt;

use std::sync::Arc;

use crate::app::App;
use crate::config::Settings;
use crate::git_packages::job::{ScanJob, enqueue_due_scans};
use crate::jobs::{Handlers, spawn_periodic};

/// How often this replica looks for package changes made by others.
const REFRESH_INTERVAL: Duration = Duration::from_secs(2);
/// Jobs one process runs at once: scans are mostly waiting on git and the network.
const JOB_CONCURRENCY: usize = 4;

pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    let listen = settings.listen;
    let app = App::open(settings).await?;
    crate::storage_ops::check(&app.storage).await?;
    app.metadata.spawn_refresher(REFRESH_INTERVAL);
    spawn_access_refresher(&app);
    start_background_work(&app);
    let listeners = bind_listeners(listen, http_threads())
        .with_context(|| format!("PACKYARD_LISTEN: cannot listen on {listen}"))?;
    let address = listeners[0].local_addr()?;
    tracing::info!(%address, "packyard listening");
    // On stdout as well, so scripts that start us on port 0 learn the port.
    println!("packyard listening on http://{address}");
    std::io::stdout().flush()?;
    let router = crate::http::router(app.clone());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut threads = Vec::new();
    for (index, listener) in listeners.into_iter().enumerate() {
        let router = router.clone();
        let mut stopped = stopped.clone();
        let thread = std::thread::Builder::new()
            .name(format!("http-{index}"))
            .spawn(move || -> anyhow::Result<()> {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .context("starting an HTTP runtime")?;
                runtime.block_on(async move {
                    // Responses go out whole in one write; Nagle would only delay them.
                    let listener = tokio::net::TcpListener::from_std(listener)?.tap_io(|tcp| {
                        let _ = tcp.set_nodelay(true);
                    });
                    axum::serve(
                        listener,
                        router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
                    )
                    .with_graceful_shutdown(async move {
                        let _ = stopped.wait_for(|stop| *stop).await;
                    })
                    .await
                    .context("serving HTTP")
                })
            })?;
        threads.push(thread);
    }
    shutdown_signal().await;
    let _ = stop.send(true);
    tokio::task::spawn_blocking(move || {
        for thread in threads {
            thread
                .join()
                .map_err(|_| anyhow::anyhow!("an HTTP thread panicked"))??;
        }
        Ok(())
    })
    .await?
}

fn http_threads() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// One listening socket per HTTP thread on the same address (`SO_REUSEPORT`): the
/// kernel spreads connections over them as it does over nginx's workers.
fn bind_listeners(
    listen: std::net::SocketAddr,
    count: usize,
) -> std::io::Result<Vec<std::net::TcpListener>> {
    let mut address = listen;
    let mut listeners = Vec::with_capacity(count);
    for _ in 0..count {
        let socket = if address.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        socket.set_reuseport(true)?;
        socket.bind(address)?;
        let listener = socket.listen(1024)?;
        // Port 0 binds the first socket anywhere; the others join it there.
        address = listener.local_addr()?;
        listeners.push(listener.into_std()?);
    }
    Ok(listeners)
}

/// Jobs run in this process; with PostgreSQL every replica takes its share. Re-scans
/// are queued on a schedule as well as by webhooks.
fn start_background_work(app: &Arc<App>) {
    let handlers = Handlers::default().register::<ScanJob>(app.clone());
    // Dropping the handle leaves the runner going for the life of the process.
    drop(app.jobs.clone().spawn_runner(handlers, JOB_CONCURRENCY));
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
            if let Err(error) = app.access.refresh(|| app.auth.forget_all()).await {
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
