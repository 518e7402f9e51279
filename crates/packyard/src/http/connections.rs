//! Accepting and serving connections, nginx-style: one listening socket per core
//! (`SO_REUSEPORT`, so the kernel spreads connections over them), each served by its own
//! thread running a single-threaded tokio runtime. A request is read, answered and
//! written on one thread; nothing it touches is handed between threads.
//!
//! Connections speak HTTP/1.1 (what Composer and every package manager use) through
//! hyper directly: no protocol sniffing, no upgrades.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tower::ServiceExt;

/// How long to wait before accepting again after `accept` failed (out of file
/// descriptors, mostly): retrying at once would spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Listening sockets bound to one address, one per serving thread.
pub struct HttpListeners {
    sockets: Vec<std::net::TcpListener>,
    address: SocketAddr,
}

impl HttpListeners {
    /// Binds `threads` sockets to `address` (port 0: the first picks one, the others
    /// join it).
    pub fn bind(address: SocketAddr, threads: usize) -> std::io::Result<Self> {
        let mut bound = address;
        let mut sockets = Vec::with_capacity(threads);
        for _ in 0..threads.max(1) {
            let socket = if bound.is_ipv4() {
                tokio::net::TcpSocket::new_v4()?
            } else {
                tokio::net::TcpSocket::new_v6()?
            };
            socket.set_reuseaddr(true)?;
            socket.set_reuseport(true)?;
            socket.bind(bound)?;
            let listener = socket.listen(1024)?;
            bound = listener.local_addr()?;
            sockets.push(listener.into_std()?);
        }
        Ok(HttpListeners {
            sockets,
            address: bound,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.address
    }

    /// Serves `router` on every socket until `shutdown` completes, then lets requests
    /// in flight finish and returns once every connection has closed.
    pub async fn serve(
        self,
        router: Router,
        shutdown: impl Future<Output = ()>,
    ) -> anyhow::Result<()> {
        let (stop, stopped) = watch::channel(false);
        let mut threads = Vec::new();
        for (index, socket) in self.sockets.into_iter().enumerate() {
            let router = router.clone();
            let stopped = stopped.clone();
            let thread = std::thread::Builder::new()
                .name(format!("http-{index}"))
                .spawn(move || -> anyhow::Result<()> {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .context("starting an HTTP runtime")?
                        .block_on(async move {
                            let listener = TcpListener::from_std(socket)?;
                            accept_loop(&listener, &router, stopped).await;
                            Ok(())
                        })
                })
                .context("starting an HTTP thread")?;
            threads.push(thread);
        }
        shutdown.await;
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
}

/// Accepts connections until `stopped`, then waits for the open ones to finish.
async fn accept_loop(listener: &TcpListener, router: &Router, mut stopped: watch::Receiver<bool>) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stopped.wait_for(|stop| *stop) => break,
        };
        match accepted {
            Ok((stream, peer)) => {
                connections.spawn(serve_connection(
                    stream,
                    peer,
                    router.clone(),
                    stopped.clone(),
                ));
            }
            Err(error) => {
                tracing::warn!(%error, "accepting a connection failed");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
        }
        // Finished connections are reaped as we go, so the set stays small.
        while connections.try_join_next().is_some() {}
    }
    while connections.join_next().await.is_some() {}
}

/// One HTTP/1.1 connection; on shutdown, the request in flight is answered and the
/// connection closed.
async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    mut stopped: watch::Receiver<bool>,
) {
    // Responses go out whole in one write; Nagle's algorithm would only delay them.
    let _ = stream.set_nodelay(true);
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let mut request = request.map(Body::new);
        request.extensions_mut().insert(ConnectInfo(peer));
        let response = router.clone().oneshot(request);
        async move { Ok::<_, Infallible>(response.await.unwrap_or_else(|never| match never {})) }
    });
    let connection =
        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(error) = result {
                tracing::debug!(%error, %peer, "connection ended with an error");
            }
            return;
        }
        _ = stopped.wait_for(|stop| *stop) => {}
    }
    connection.as_mut().graceful_shutdown();
    let _ = connection.await;
}
