//! A TCP proxy that plays a slow or stalled link in front of a real server: what the
//! client sends reaches the server at a fixed rate (answers come back at full speed),
//! and [`ThrottledProxy::stall`] stops taking bytes altogether, as a store that hangs
//! mid-transfer would.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::oneshot;
use tokio::time::Instant;

/// Bytes read from the client at once: the pacing's granularity.
const SLICE: usize = 16 * 1024;
/// The proxy's receive buffer for client connections: small, so that what the client
/// sends waits in the client's socket rather than in the proxy's kernel buffers, and
/// the client sees the link's rate.
const RECEIVE_BUFFER: u32 = 64 * 1024;

pub struct ThrottledProxy {
    address: SocketAddr,
    stalled: Arc<AtomicBool>,
    forwarded: Arc<AtomicU64>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ThrottledProxy {
    /// Listens on 127.0.0.1 and forwards each connection to `upstream`, letting
    /// `bytes_per_second` through towards it.
    pub fn start(upstream: SocketAddr, bytes_per_second: u64) -> ThrottledProxy {
        let stalled = Arc::new(AtomicBool::new(false));
        let forwarded = Arc::new(AtomicU64::new(0));
        let (shutdown, stop) = oneshot::channel();
        let (bound, address) = std::sync::mpsc::channel();
        let link = Link {
            upstream,
            bytes_per_second,
            stalled: stalled.clone(),
            forwarded: forwarded.clone(),
        };
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let socket = TcpSocket::new_v4().unwrap();
                socket.set_recv_buffer_size(RECEIVE_BUFFER).unwrap();
                socket.bind(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
                let listener = socket.listen(64).unwrap();
                bound.send(listener.local_addr().unwrap()).unwrap();
                let link = Arc::new(link);
                let accepting = async {
                    loop {
                        let Ok((client, _)) = listener.accept().await else {
                            continue;
                        };
                        tokio::spawn(link.clone().carry(client));
                    }
                };
                tokio::select! {
                    () = accepting => {}
                    _ = stop => {}
                }
            });
        });
        ThrottledProxy {
            address: address.recv().unwrap(),
            stalled,
            forwarded,
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Stops taking bytes from clients (connections stay open, nothing moves).
    pub fn stall(&self) {
        self.stalled.store(true, Ordering::SeqCst);
    }

    pub fn resume(&self) {
        self.stalled.store(false, Ordering::SeqCst);
    }

    /// Bytes passed on to the upstream so far.
    pub fn forwarded(&self) -> u64 {
        self.forwarded.load(Ordering::SeqCst)
    }
}

impl Drop for ThrottledProxy {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct Link {
    upstream: SocketAddr,
    bytes_per_second: u64,
    stalled: Arc<AtomicBool>,
    forwarded: Arc<AtomicU64>,
}

impl Link {
    async fn carry(self: Arc<Self>, client: TcpStream) {
        let Ok(server) = TcpStream::connect(self.upstream).await else {
            return;
        };
        let (mut from_client, mut to_client) = client.into_split();
        let (mut from_server, mut to_server) = server.into_split();
        let answers = async {
            let _ = tokio::io::copy(&mut from_server, &mut to_client).await;
            let _ = to_client.shutdown().await;
        };
        let requests = async {
            // When the link is free again; idle time earns no credit for a burst.
            let mut free_at = Instant::now();
            let mut buffer = vec![0u8; SLICE];
            loop {
                let read = match from_client.read(&mut buffer).await {
                    Ok(0) | Err(_) => break,
                    Ok(read) => read,
                };
                // Held, not passed on, while stalled (a read may have been waiting when
                // the stall began).
                while self.stalled.load(Ordering::SeqCst) {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                if to_server.write_all(&buffer[..read]).await.is_err() {
                    break;
                }
                self.forwarded.fetch_add(read as u64, Ordering::SeqCst);
                let busy = Duration::from_secs_f64(read as f64 / self.bytes_per_second as f64);
                free_at = free_at.max(Instant::now()) + busy;
                tokio::time::sleep_until(free_at).await;
            }
            let _ = to_server.shutdown().await;
        };
        tokio::join!(answers, requests);
    }
}
