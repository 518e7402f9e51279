//! Accepting and serving connections, nginx-style: one listening socket per core
//! (`SO_REUSEPORT`, so the kernel spreads connections over them), each served by its own
//! thread running a single-threaded tokio runtime. A request is read, answered and
//! written on one thread; nothing it touches is handed between threads.
//!
//! Connections speak HTTP/1.1 (what Composer and every package manager use) through
//! hyper directly: no protocol sniffing, no upgrades. What a client may cost (timeouts,
//! header size, open connections) is [`ClientLimits`].

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Body as _;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

use super::client_limits::{
    AnswerBody, ClientLimits, GuardedConnection, MAX_HEADER_BYTES, MinRateBody, RequestsInFlight,
};
use crate::http::ObservedRouter;
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

    /// Serves `router` on every socket under `limits` until `shutdown` completes, then
    /// closes the sockets (new connections are refused, so a proxy in front tries
    /// another replica), closes idle connections, lets requests in flight finish and
    /// returns once every connection has closed — or once `grace` has passed, leaving
    /// the rest to be cut when the process exits.
    pub async fn serve(
        self,
        router: ObservedRouter,
        limits: ClientLimits,
        shutdown: impl Future<Output = ()>,
        grace: Duration,
    ) -> anyhow::Result<()> {
        let (stop, stopped) = watch::channel(false);
        let slots = Arc::new(Semaphore::new(limits.max_connections));
        let mut threads = Vec::new();
        for (index, socket) in self.sockets.into_iter().enumerate() {
            let server = Server {
                router: router.clone(),
                limits,
                slots: slots.clone(),
            };
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
                            server.accept_loop(listener, stopped).await;
                            Ok(())
                        })
                })
                .context("starting an HTTP thread")?;
            threads.push(thread);
        }
        shutdown.await;
        let _ = stop.send(true);
        let open = limits.max_connections - slots.available_permits();
        tracing::info!(
            open,
            grace_s = grace.as_secs_f64(),
            "stopped accepting; waiting for requests in flight"
        );
        // Joined on a thread of its own rather than the runtime's blocking pool, which
        // the runtime would wait for at exit when the grace runs out.
        let (drained, joined) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let result = threads.into_iter().try_for_each(|thread| {
                thread
                    .join()
                    .map_err(|_| anyhow::anyhow!("an HTTP thread panicked"))?
            });
            let _ = drained.send(result);
        });
        if let Ok(result) = tokio::time::timeout(grace, joined).await {
            return result.unwrap_or(Ok(()));
        }
        tracing::warn!(
            open = limits.max_connections - slots.available_permits(),
            "PACKYARD_SHUTDOWN_GRACE passed with connections still open; they are cut at exit"
        );
        Ok(())
    }
}

/// What each serving thread serves with.
struct Server {
    router: ObservedRouter,
    limits: ClientLimits,
    /// One permit per open connection, shared by every thread.
    slots: Arc<Semaphore>,
}

impl Server {
    /// Accepts connections until `stopped`, then closes the socket and waits for the
    /// open connections to finish.
    async fn accept_loop(&self, listener: TcpListener, mut stopped: watch::Receiver<bool>) {
        let mut connections = tokio::task::JoinSet::new();
        loop {
            let Some(slot) = self.connection_slot(&mut stopped).await else {
                break;
            };
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                _ = stopped.wait_for(|stop| *stop) => break,
            };
            match accepted {
                Ok((stream, peer)) => {
                    connections.spawn(serve_connection(
                        stream,
                        peer,
                        self.router.clone(),
                        self.limits,
                        slot,
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
        // Connections still in the backlog are refused rather than left waiting.
        drop(listener);
        while connections.join_next().await.is_some() {}
    }

    /// A permit for one more connection; at the limit, waits (new connections queue in
    /// the listen backlog) until one closes. `None` once stopped.
    async fn connection_slot(
        &self,
        stopped: &mut watch::Receiver<bool>,
    ) -> Option<OwnedSemaphorePermit> {
        if let Ok(slot) = self.slots.clone().try_acquire_owned() {
            return Some(slot);
        }
        tracing::warn!(
            limit = self.limits.max_connections,
            "PACKYARD_MAX_CONNECTIONS connections are open; new ones wait until one closes"
        );
        tokio::select! {
            slot = self.slots.clone().acquire_owned() => slot.ok(),
            _ = stopped.wait_for(|stop| *stop) => None,
        }
    }
}

/// One HTTP/1.1 connection, holding `slot` while open; on shutdown, the request in
/// flight is answered and the connection closed.
async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: ObservedRouter,
    limits: ClientLimits,
    _slot: OwnedSemaphorePermit,
    mut stopped: watch::Receiver<bool>,
) {
    // Responses go out whole in one write; Nagle's algorithm would only delay them.
    let _ = stream.set_nodelay(true);
    let requests = RequestsInFlight::default();
    let io = TokioIo::new(GuardedConnection::new(
        stream,
        limits.timeout,
        requests.clone(),
    ));
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let in_flight = requests.start();
        let mut request = request.map(|body| {
            if body.is_end_stream() {
                Body::new(body)
            } else {
                Body::new(MinRateBody::new(body, limits.timeout))
            }
        });
        request.extensions_mut().insert(ConnectInfo(peer));
        let response = router.clone().oneshot(request);
        async move {
            let response = response.await.unwrap_or_else(|never| match never {});
            Ok::<_, Infallible>(response.map(|body| AnswerBody::new(body, in_flight)))
        }
    });
    // No hyper timer: `GuardedConnection` bounds the wait for a request header with one
    // timer per connection, where hyper's header-read timeout makes one per request.
    let connection = hyper::server::conn::http1::Builder::new()
        .header_read_timeout(None)
        .max_header_size(MAX_HEADER_BYTES)
        .serve_connection(io, service);
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
