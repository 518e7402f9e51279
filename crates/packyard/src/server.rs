//! `packyard serve`: check the stores, bind, serve until SIGINT or SIGTERM.

use std::io::Write;
use std::time::Duration;

use anyhow::Context;

use crate::app::App;
use crate::config::Settings;

/// How often this replica looks for package changes made by others.
const REFRESH_INTERVAL: Duration = Duration::from_secs(2);

pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    let listen = settings.listen;
    let app = App::open(settings).await?;
    crate::storage_ops::check(&app.storage).await?;
    app.metadata.spawn_refresher(REFRESH_INTERVAL);
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("PACKYARD_LISTEN: cannot listen on {listen}"))?;
    let address = listener.local_addr()?;
    tracing::info!(%address, "packyard listening");
    // On stdout as well, so scripts that start us on port 0 learn the port.
    println!("packyard listening on http://{address}");
    std::io::stdout().flush()?;
    axum::serve(listener, crate::http::router(app))
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("serving HTTP")
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
