//! What a client may cost: how long it may take to send a request and to take its
//! answer, and how many connections may be open at once. A server facing the internet
//! meets clients that open connections and then send a header a byte at a time, declare
//! a large body and stall, or never read their answers: each holds a socket, a task and
//! buffers. Here every such client is cut after [`ClientLimits::timeout`]:
//!
//! - a request header must arrive whole within the timeout, and an idle keep-alive
//!   connection is closed after it; the clock runs from the moment the connection waits
//!   for a request ([`GuardedConnection`]);
//! - a request body must arrive at [`MIN_BODY_BYTES`] per timeout at least ([`MinRateBody`]);
//! - an answer the client does not take (writes blocked for the timeout) ends the
//!   connection ([`GuardedConnection`]).
//!
//! A handler that works long (a scan, a slow upstream) is not the client's fault and is
//! not cut.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::body::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

pub use crate::config::limits::ClientLimits;

/// The least a request body must deliver per [`ClientLimits::timeout`]: far below any
/// real client's rate, far above a trickle meant to hold the connection.
pub const MIN_BODY_BYTES: u64 = 1024;

/// Largest body read from a caller whose credentials are not checked first.
pub const ANONYMOUS_BODY_BYTES: usize = 64 * 1024;

/// Largest request header (request line and all fields) answered; larger ones get `431`.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

/// Why a request body was cut off.
#[derive(Debug, thiserror::Error)]
#[error("the request body arrived slower than {MIN_BODY_BYTES} bytes per {0:?}")]
pub struct BodyTooSlow(Duration);

pin_project_lite::pin_project! {
    /// A request body that must deliver [`MIN_BODY_BYTES`] per `window`, counted in
    /// consecutive windows from the first time it is read. Its timer is made only when
    /// the body makes a reader wait.
    pub struct MinRateBody<B> {
        #[pin]
        inner: B,
        window: Duration,
        window_ends: Option<Instant>,
        received: u64,
        timer: Option<Pin<Box<Sleep>>>,
    }
}

impl<B> MinRateBody<B> {
    pub fn new(inner: B, window: Duration) -> Self {
        MinRateBody {
            inner,
            window,
            window_ends: None,
            received: 0,
            timer: None,
        }
    }
}

impl<B> Body for MinRateBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<axum::BoxError>,
{
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::BoxError>>> {
        let this = self.project();
        let window = *this.window;
        let window_ends = *this
            .window_ends
            .get_or_insert_with(|| Instant::now() + window);
        match this.inner.poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    *this.received += data.len() as u64;
                }
                let now = Instant::now();
                if now >= window_ends {
                    if *this.received < MIN_BODY_BYTES {
                        return Poll::Ready(Some(Err(BodyTooSlow(window).into())));
                    }
                    *this.window_ends = Some(now + window);
                    *this.received = 0;
                    *this.timer = None;
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(other) => Poll::Ready(other.map(|frame| frame.map_err(Into::into))),
            Poll::Pending => loop {
                let ends = this.window_ends.unwrap_or(window_ends);
                let timer = this
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(ends)));
                ready!(timer.as_mut().poll(cx));
                if *this.received < MIN_BODY_BYTES {
                    return Poll::Ready(Some(Err(BodyTooSlow(window).into())));
                }
                // Enough came in the window that ended; the next one starts now.
                let next = ends + window;
                *this.window_ends = Some(next);
                *this.received = 0;
                timer.as_mut().reset(next);
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// What a connection's [`RequestsInFlight`] and its socket share: how many requests are
/// being answered, and how many have been started.
#[derive(Debug, Default)]
pub struct Activity {
    in_flight: AtomicUsize,
    started: AtomicU64,
}

/// The requests of one connection, counted from the service: [`Self::start`] when hyper
/// hands over a request, and the answer holds an [`InFlight`] until its body has been
/// written or dropped. [`GuardedConnection`] reads the counts to tell a connection that
/// waits for a request (the client's time, bounded) from one whose answer is being made
/// (the server's time, not bounded).
#[derive(Clone, Debug, Default)]
pub struct RequestsInFlight(Arc<Activity>);

impl RequestsInFlight {
    /// A request has arrived; the answer's body is wrapped so that its end is counted.
    pub fn start(&self) -> InFlight {
        self.0.in_flight.fetch_add(1, Ordering::Relaxed);
        self.0.started.fetch_add(1, Ordering::Relaxed);
        InFlight(self.clone())
    }
}

/// Held by an answer until its body is done (see [`RequestsInFlight`]).
#[derive(Debug)]
pub struct InFlight(RequestsInFlight);

impl Drop for InFlight {
    fn drop(&mut self) {
        (self.0).0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

pin_project_lite::pin_project! {
    /// A response body that counts as in flight until it ends or is dropped.
    pub struct AnswerBody<B> {
        #[pin]
        inner: B,
        in_flight: Option<InFlight>,
    }
}

impl<B> AnswerBody<B> {
    pub fn new(inner: B, in_flight: InFlight) -> Self {
        AnswerBody {
            inner,
            in_flight: Some(in_flight),
        }
    }
}

impl<B: Body> Body for AnswerBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let this = self.project();
        let frame = ready!(this.inner.poll_frame(cx));
        if frame.is_none() {
            this.in_flight.take();
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A client's socket under the client limits:
///
/// - while no request is in flight, the client has `timeout` from the moment the
///   connection began to wait (it was accepted, or the last answer was written) to
///   deliver a whole request header: after that, reads fail and the connection closes.
///   That bounds idle keep-alive connections and headers sent a byte at a time alike;
/// - writes fail once they have made no progress for `timeout`, so a client that stops
///   reading its answer cannot hold the connection.
///
/// Both use one timer each, made once per connection and re-armed only when it fires
/// (at most once per `timeout`): a request costs two atomic loads, not a timer.
pub struct GuardedConnection<S> {
    inner: S,
    timeout: Duration,
    requests: RequestsInFlight,
    /// The `started` count when the current wait began, and when it began.
    waiting: Option<(u64, Instant)>,
    idle_timer: Option<Pin<Box<Sleep>>>,
    write_stalled: Option<Pin<Box<Sleep>>>,
}

impl<S> GuardedConnection<S> {
    pub fn new(inner: S, timeout: Duration, requests: RequestsInFlight) -> Self {
        GuardedConnection {
            inner,
            timeout,
            requests,
            waiting: None,
            idle_timer: None,
            write_stalled: None,
        }
    }

    /// Called when a read could not proceed: fails once no request has arrived for
    /// `timeout` since the connection began to wait.
    fn poll_waiting(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        let activity = &self.requests.0;
        if activity.in_flight.load(Ordering::Relaxed) > 0 {
            // Reading mid-request (hyper watches for the client going away): the
            // answer is the server's business, and the body has its own rate limit.
            return Poll::Pending;
        }
        let started = activity.started.load(Ordering::Relaxed);
        let since = match self.waiting {
            Some((seen, since)) if seen == started => since,
            _ => {
                let now = Instant::now();
                self.waiting = Some((started, now));
                now
            }
        };
        let deadline = since + self.timeout;
        let timer = self
            .idle_timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        loop {
            ready!(timer.as_mut().poll(cx));
            // The timer may have been set for an earlier wait: only a wait that has
            // lasted the whole timeout ends the connection.
            if Instant::now() >= deadline {
                return Poll::Ready(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("no request arrived within {:?}", self.timeout),
                ));
            }
            timer.as_mut().reset(deadline);
        }
    }

    /// Called when a write could not proceed: fails once it has not for `timeout`.
    fn poll_stall(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        let timeout = self.timeout;
        let stalled = self
            .write_stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        ready!(stalled.as_mut().poll(cx));
        Poll::Ready(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("the client took no data for {timeout:?}"),
        ))
    }

    fn watch_write<T>(
        &mut self,
        cx: &mut Context<'_>,
        result: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        match result {
            Poll::Pending => match self.poll_stall(cx) {
                Poll::Ready(error) => Poll::Ready(Err(error)),
                Poll::Pending => Poll::Pending,
            },
            done @ Poll::Ready(_) => {
                self.write_stalled = None;
                done
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for GuardedConnection<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Pending => match self.poll_waiting(cx) {
                Poll::Ready(error) => Poll::Ready(Err(error)),
                Poll::Pending => Poll::Pending,
            },
            done @ Poll::Ready(_) => done,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for GuardedConnection<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.watch_write(cx, result)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.watch_write(cx, result)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let result = Pin::new(&mut self.inner).poll_flush(cx);
        self.watch_write(cx, result)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let result = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.watch_write(cx, result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    /// A body that yields `chunks`, waiting `pause` before each.
    fn trickle(chunks: Vec<&'static [u8]>, pause: Duration) -> axum::body::Body {
        axum::body::Body::from_stream(futures_util::stream::iter(chunks).then(
            move |chunk| async move {
                tokio::time::sleep(pause).await;
                Ok::<_, std::convert::Infallible>(Bytes::from_static(chunk))
            },
        ))
    }

    async fn read(body: MinRateBody<axum::body::Body>) -> Result<Bytes, axum::Error> {
        axum::body::to_bytes(axum::body::Body::new(body), usize::MAX).await
    }

    const WINDOW: Duration = Duration::from_millis(300);

    #[tokio::test]
    async fn bodies_that_keep_the_rate_are_read_whole() {
        let chunk: &'static [u8] = &[b'x'; 2048];
        let body = MinRateBody::new(trickle(vec![chunk; 5], WINDOW / 2), WINDOW);
        let collected = read(body).await.expect("the body keeps the rate");
        assert_eq!(collected.len(), 5 * 2048);
    }

    #[tokio::test]
    async fn trickling_and_stalled_bodies_are_cut_after_a_window() {
        let byte: &'static [u8] = b"x";
        let started = Instant::now();
        let trickling = MinRateBody::new(trickle(vec![byte; 100], WINDOW / 10), WINDOW);
        let error = read(trickling).await.expect_err("a trickle is cut");
        assert!(
            std::error::Error::source(&error)
                .is_some_and(|cause| cause.to_string().contains("slower than 1024 bytes"))
                || error.to_string().contains("slower than 1024 bytes"),
            "{error:?}"
        );
        assert!(started.elapsed() < 2 * WINDOW, "{:?}", started.elapsed());

        // Enough in the first window, then nothing: cut when the second ends.
        let started = Instant::now();
        let chunk: &'static [u8] = &[b'x'; 4096];
        let stalled = MinRateBody::new(trickle(vec![chunk, chunk], 20 * WINDOW), WINDOW);
        assert!(read(stalled).await.is_err(), "a stalled body is cut");
        assert!(started.elapsed() < 3 * WINDOW, "{:?}", started.elapsed());
    }

    #[tokio::test]
    async fn writes_that_make_no_progress_fail_after_the_timeout() {
        use tokio::io::AsyncWriteExt;
        // A pipe whose reader never reads: writes block once its buffer is full.
        let (writer, _reader) = tokio::io::duplex(1024);
        let mut guarded = GuardedConnection::new(writer, WINDOW, RequestsInFlight::default());
        let started = Instant::now();
        let error = guarded
            .write_all(&vec![0u8; 64 * 1024])
            .await
            .expect_err("the write stalls");
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        let waited = started.elapsed();
        assert!(waited >= WINDOW && waited < 2 * WINDOW, "{waited:?}");
    }

    #[tokio::test]
    async fn a_connection_waiting_for_a_request_is_cut_after_the_timeout() {
        use tokio::io::AsyncReadExt;
        let (client, _server_side) = tokio::io::duplex(1024);
        let mut guarded = GuardedConnection::new(client, WINDOW, RequestsInFlight::default());
        let started = Instant::now();
        let error = guarded
            .read(&mut [0u8; 16])
            .await
            .expect_err("nothing arrives");
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        let waited = started.elapsed();
        assert!(waited >= WINDOW && waited < 2 * WINDOW, "{waited:?}");
    }

    #[tokio::test]
    async fn bytes_that_trickle_in_do_not_extend_the_wait_for_a_request() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (client, mut peer) = tokio::io::duplex(1024);
        let mut guarded = GuardedConnection::new(client, WINDOW, RequestsInFlight::default());
        tokio::spawn(async move {
            for _ in 0..100 {
                tokio::time::sleep(WINDOW / 10).await;
                if peer.write_all(b"G").await.is_err() {
                    return;
                }
            }
        });
        let started = Instant::now();
        let mut buffer = [0u8; 16];
        let error = loop {
            match guarded.read(&mut buffer).await {
                Ok(_) => {}
                Err(error) => break error,
            }
        };
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() < 2 * WINDOW, "{:?}", started.elapsed());
    }

    #[tokio::test]
    async fn a_long_answer_is_not_cut_and_the_wait_restarts_when_it_is_done() {
        use tokio::io::AsyncReadExt;
        let requests = RequestsInFlight::default();
        let (client, _peer) = tokio::io::duplex(1024);
        let mut guarded = GuardedConnection::new(client, WINDOW, requests.clone());
        let in_flight = requests.start();
        // Reading while the answer is made (as hyper does) waits past the timeout.
        let mut buffer = [0u8; 16];
        let read = tokio::time::timeout(3 * WINDOW, guarded.read(&mut buffer)).await;
        assert!(read.is_err(), "a read mid-request must not fail: {read:?}");
        drop(in_flight);
        // Answered: the client now has one timeout for its next request, counted from
        // the end of this answer, not from when the connection opened.
        let started = Instant::now();
        let error = guarded
            .read(&mut buffer)
            .await
            .expect_err("no next request");
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        let waited = started.elapsed();
        assert!(waited >= WINDOW && waited < 2 * WINDOW, "{waited:?}");
    }
}
