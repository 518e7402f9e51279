//! The HTTP client of remote stores, under one rule: a request may take as long as it
//! needs while bytes move, and fails once none have moved for the storage timeout.
//!
//! reqwest's own `read_timeout` runs from the moment a request is sent until its
//! answer's header arrives, without regard to the body going out: with a 1.5 s timeout
//! every upload that takes longer — 6 MiB below ≈ 35 Mbit/s of uplink — fails while it
//! is making progress, and a total timeout around the request does the same. Here each
//! phase is bounded by a stall, never by the length of the transfer:
//!
//! - connecting: reqwest's connect timeout (the same duration);
//! - sending: a piece of the body ([`PIECE`] bytes at most) must be taken by the
//!   connection within the timeout of the previous one, and the kernel closes a
//!   connection whose sent data stays unacknowledged (or unsent for a zero window) that
//!   long (`TCP_USER_TIMEOUT`, on Linux);
//! - waiting: the answer's header must come within the timeout of the last piece, plus
//!   the time the tail of the body may still need in the kernel's send buffer (up to
//!   [`SEND_BUFFER`] bytes at [`SLOWEST_UPLINK`]): the process cannot see those bytes
//!   leave, and on a slow link they take seconds;
//! - receiving: each piece of the answer's body within the timeout of the previous one.

use std::error::Error as _;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use object_store::client::{
    HttpClient, HttpConnector, HttpError, HttpErrorKind, HttpRequest, HttpRequestBody,
    HttpResponse, HttpResponseBody, HttpService,
};
use object_store::{ClientConfigKey, ClientOptions};
use tokio::time::{Instant, Sleep};

/// The largest piece of a request body handed to the connection at once: small enough
/// that a slow link still shows progress well within any sensible timeout (16 KiB take
/// 0.13 s at 1 Mbit/s).
const PIECE: usize = 16 * 1024;

/// The most a socket's send buffer holds once the last piece is handed over: Linux's
/// default ceiling for an auto-tuned buffer (`net.ipv4.tcp_wmem`).
const SEND_BUFFER: u64 = 4 << 20;

/// The slowest uplink whose buffered tail is waited for, in bytes per second (2 Mbit/s):
/// a 4 MiB tail then gets 16 s beyond the timeout.
const SLOWEST_UPLINK: u64 = 256 * 1024;

/// Builds the [`StallTimeoutClient`] for the options object_store gives (which
/// differ per purpose: instance-metadata requests allow plain HTTP, for instance).
#[derive(Debug, Clone, Copy)]
pub(crate) struct StallTimeoutConnector {
    pub(crate) stall: Duration,
}

impl HttpConnector for StallTimeoutConnector {
    fn connect(&self, options: &ClientOptions) -> object_store::Result<HttpClient> {
        let enabled = |key| options.get_config_value(&key).as_deref() == Some("true");
        let client = reqwest::Client::builder()
            .user_agent(concat!("packyard/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(self.stall)
            .tcp_user_timeout(self.stall)
            .https_only(!enabled(ClientConfigKey::AllowHttp))
            .build()
            .map_err(|source| object_store::Error::Generic {
                store: "HTTP client",
                source: Box::new(source),
            })?;
        Ok(HttpClient::new(StallTimeoutClient {
            client,
            stall: self.stall,
        }))
    }
}

/// A reqwest client whose requests fail after `stall` without progress.
#[derive(Debug)]
struct StallTimeoutClient {
    client: reqwest::Client,
    stall: Duration,
}

#[async_trait::async_trait]
impl HttpService for StallTimeoutClient {
    async fn call(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        let (parts, body) = request.into_parts();
        let url = parts
            .uri
            .to_string()
            .parse()
            .map_err(|e| HttpError::new(HttpErrorKind::Unknown, e))?;
        let progress = Arc::new(Progress::new());
        let mut outgoing = reqwest::Request::new(parts.method, url);
        *outgoing.headers_mut() = parts.headers;
        *outgoing.body_mut() = Some(reqwest::Body::wrap(ProgressBody {
            inner: body,
            piece: Bytes::new(),
            sent: 0,
            progress: progress.clone(),
        }));
        let answer = until_stalled(&progress, self.stall, self.client.execute(outgoing))
            .await?
            .map_err(classify)?;
        let (parts, body) = http::Response::<reqwest::Body>::from(answer).into_parts();
        let body = StallTimeoutBody {
            inner: body,
            stall: self.stall,
            timer: None,
        };
        Ok(HttpResponse::from_parts(parts, HttpResponseBody::new(body)))
    }
}

/// When the request last moved: set by the body as the connection takes its pieces.
struct Progress {
    started: Instant,
    /// Milliseconds from `started` to the last progress.
    last: AtomicU64,
    /// Milliseconds granted beyond the stall once the whole body is handed over, for
    /// its tail still in the send buffer.
    tail: AtomicU64,
}

impl Progress {
    fn new() -> Self {
        Progress {
            started: Instant::now(),
            last: AtomicU64::new(0),
            tail: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let elapsed = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.fetch_max(elapsed, Ordering::Relaxed);
    }

    /// The body of `size` bytes has been handed over whole.
    fn sent(&self, size: u64) {
        self.touch();
        let tail_ms = size.min(SEND_BUFFER) * 1000 / SLOWEST_UPLINK;
        self.tail.store(tail_ms, Ordering::Relaxed);
    }

    /// When the request fails unless it moves again.
    fn deadline(&self, stall: Duration) -> Instant {
        let last = self.last.load(Ordering::Relaxed);
        let tail = self.tail.load(Ordering::Relaxed);
        self.started + Duration::from_millis(last + tail) + stall
    }
}

/// What a stalled transfer's error says, whatever wraps it on the way out (a retry
/// layer may pass it on as text only): `StorageError::is_slow` looks for it.
pub(crate) const STALLED: &str = "the store made no progress";

fn stalled(stall: Duration) -> HttpError {
    HttpError::new(
        HttpErrorKind::Timeout,
        io::Error::new(
            io::ErrorKind::TimedOut,
            format!("timed out: {STALLED} for {stall:?}"),
        ),
    )
}

/// Runs `request` until it finishes, or until `stall` has passed since `progress` last
/// moved.
async fn until_stalled<F: Future>(
    progress: &Progress,
    stall: Duration,
    request: F,
) -> Result<F::Output, HttpError> {
    tokio::pin!(request);
    loop {
        let deadline = progress.deadline(stall);
        tokio::select! {
            output = &mut request => return Ok(output),
            () = tokio::time::sleep_until(deadline) => {
                if progress.deadline(stall) <= Instant::now() {
                    return Err(stalled(stall));
                }
            }
        }
    }
}

/// object_store retries what failed to connect or was cut off, not what the store
/// refused: the same distinction reqwest's errors allow.
fn classify(error: reqwest::Error) -> HttpError {
    let io_kind = io_error_kind(&error);
    let kind = if error.is_timeout() || io_kind == Some(io::ErrorKind::TimedOut) {
        HttpErrorKind::Timeout
    } else if error.is_connect() {
        HttpErrorKind::Connect
    } else if error.is_decode() {
        HttpErrorKind::Decode
    } else if io_kind.is_some_and(|kind| {
        matches!(
            kind,
            io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionAborted
                | io::ErrorKind::BrokenPipe
                | io::ErrorKind::UnexpectedEof
        )
    }) {
        HttpErrorKind::Interrupted
    } else if error.is_request() || error.is_body() {
        HttpErrorKind::Request
    } else {
        HttpErrorKind::Unknown
    };
    HttpError::new(kind, error.without_url())
}

fn io_error_kind(error: &reqwest::Error) -> Option<io::ErrorKind> {
    let mut source = error.source();
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<io::Error>() {
            return Some(io.kind());
        }
        source = cause.source();
    }
    None
}

/// A request body handed out in pieces of at most [`PIECE`] bytes, each one marking
/// progress when the connection takes it.
struct ProgressBody {
    inner: HttpRequestBody,
    /// What is left of the frame being handed out.
    piece: Bytes,
    /// Bytes handed out so far.
    sent: u64,
    progress: Arc<Progress>,
}

impl Body for ProgressBody {
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, HttpError>>> {
        let this = &mut *self;
        this.progress.touch();
        if this.piece.is_empty() {
            match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => this.piece = data,
                    Err(frame) => return Poll::Ready(Some(Ok(frame))),
                },
                None => {
                    this.progress.sent(this.sent);
                    return Poll::Ready(None);
                }
                error => return Poll::Ready(error),
            }
        }
        let piece = this.piece.split_to(this.piece.len().min(PIECE));
        this.sent += piece.len() as u64;
        // A body of known length is not asked for its end once it has delivered it.
        if this.piece.is_empty() && this.inner.is_end_stream() {
            this.progress.sent(this.sent);
        }
        Poll::Ready(Some(Ok(Frame::data(piece))))
    }

    fn is_end_stream(&self) -> bool {
        self.piece.is_empty() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let rest = self.inner.size_hint();
        let piece = self.piece.len() as u64;
        let mut hint = SizeHint::new();
        hint.set_lower(rest.lower() + piece);
        if let Some(upper) = rest.upper() {
            hint.set_upper(upper + piece);
        }
        hint
    }
}

/// An answer's body that fails once it has delivered nothing for `stall` while being
/// read (a reader that stops reading is not a stall of the store).
struct StallTimeoutBody {
    inner: reqwest::Body,
    stall: Duration,
    timer: Option<Pin<Box<Sleep>>>,
}

impl Body for StallTimeoutBody {
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, HttpError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.timer = None;
                Poll::Ready(frame.map(|frame| frame.map_err(classify)))
            }
            Poll::Pending => {
                let stall = this.stall;
                let timer = this
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(stall)));
                ready!(timer.as_mut().poll(cx));
                Poll::Ready(Some(Err(stalled(stall))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bodies_are_handed_out_in_pieces_that_mark_progress() {
        let progress = Arc::new(Progress::new());
        let mut body = ProgressBody {
            inner: HttpRequestBody::from(Bytes::from(vec![7u8; 3 * PIECE + 10])),
            piece: Bytes::new(),
            sent: 0,
            progress: progress.clone(),
        };
        assert_eq!(body.size_hint().exact(), Some(3 * PIECE as u64 + 10));
        let mut sizes = Vec::new();
        tokio::time::sleep(Duration::from_millis(20)).await;
        while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await
        {
            sizes.push(frame.unwrap().into_data().unwrap().len());
        }
        assert_eq!(sizes, vec![PIECE, PIECE, PIECE, 10]);
        assert!(body.is_end_stream());
        assert!(progress.last.load(Ordering::Relaxed) >= 20);
        // The tail of a body this small needs next to no time in the send buffer.
        let tail = progress.tail.load(Ordering::Relaxed);
        assert_eq!(tail, (3 * PIECE as u64 + 10) * 1000 / SLOWEST_UPLINK);
        assert!(tail < 300, "{tail}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_that_keeps_moving_outlives_the_timeout_and_one_that_stops_does_not() {
        let stall = Duration::from_secs(1);
        let progress = Arc::new(Progress::new());
        let moving = {
            let progress = progress.clone();
            async move {
                for _ in 0..10 {
                    tokio::time::sleep(stall / 2).await;
                    progress.touch();
                }
            }
        };
        let started = Instant::now();
        until_stalled(&progress, stall, moving).await.unwrap();
        assert_eq!(started.elapsed(), 5 * stall);

        let progress = Progress::new();
        let started = Instant::now();
        let error = until_stalled(&progress, stall, tokio::time::sleep(10 * stall))
            .await
            .unwrap_err();
        assert_eq!(error.kind(), HttpErrorKind::Timeout);
        assert_eq!(started.elapsed(), stall);

        // Once a 1 MiB body is handed over, its tail gets 4 s at 256 KiB/s.
        let progress = Progress::new();
        progress.sent(1 << 20);
        let started = Instant::now();
        until_stalled(&progress, stall, tokio::time::sleep(10 * stall))
            .await
            .unwrap_err();
        assert_eq!(started.elapsed(), stall + Duration::from_secs(4));
    }
}
