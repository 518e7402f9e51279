//! What a client may cost: how long it may take to send a request and to take its
//! answer, and how many connections may be open at once. A server facing the internet
//! meets clients that open connections and then send a header a byte at a time, declare
//! a large body and stall, or never read their answers: each holds a socket, a task and
//! buffers. Here every such client is cut after [`ClientLimits::timeout`]:
//!
//! - a request header must arrive whole within the timeout, and an idle keep-alive
//!   connection is closed after it (hyper's header-read timer, which runs from the moment
//!   the connection waits for a request);
//! - a request body must arrive at [`MIN_BODY_BYTES`] per timeout at least ([`MinRateBody`]);
//! - an answer the client does not take (writes blocked for the timeout) ends the
//!   connection ([`WriteStallGuard`]).
//!
//! A handler that works long (a scan, a slow upstream) is not the client's fault and is
//! not cut.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::body::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// The least a request body must deliver per [`ClientLimits::timeout`]: far below any
/// real client's rate, far above a trickle meant to hold the connection.
pub const MIN_BODY_BYTES: u64 = 1024;

/// Default of `PACKYARD_CLIENT_TIMEOUT`.
pub const DEFAULT_CLIENT_TIMEOUT: Duration = Duration::from_secs(20);

/// Default of `PACKYARD_MAX_CONNECTIONS`.
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;

/// Largest body read from a caller whose credentials are not checked first.
pub const ANONYMOUS_BODY_BYTES: usize = 64 * 1024;

/// Largest request header (request line and all fields) answered; larger ones get `431`.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

/// The limits every connection is served under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientLimits {
    /// `PACKYARD_CLIENT_TIMEOUT`: see the module's comment.
    pub timeout: Duration,
    /// `PACKYARD_MAX_CONNECTIONS`: connections open at once, over all serving threads;
    /// beyond it, new ones wait in the listen backlog until one closes.
    pub max_connections: usize,
}

impl Default for ClientLimits {
    fn default() -> Self {
        ClientLimits {
            timeout: DEFAULT_CLIENT_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

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

/// A connection whose writes fail once they have made no progress for `timeout`: a
/// client that stops reading its answer cannot hold the connection. Reads pass through
/// (hyper's header timer and [`MinRateBody`] bound them).
pub struct WriteStallGuard<S> {
    inner: S,
    timeout: Duration,
    stalled: Option<Pin<Box<Sleep>>>,
}

impl<S> WriteStallGuard<S> {
    pub fn new(inner: S, timeout: Duration) -> Self {
        WriteStallGuard {
            inner,
            timeout,
            stalled: None,
        }
    }

    /// Called when a write could not proceed: fails once it has not for `timeout`.
    fn poll_stall(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        let timeout = self.timeout;
        let stalled = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        ready!(stalled.as_mut().poll(cx));
        Poll::Ready(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("the client took no data for {timeout:?}"),
        ))
    }

    fn watch<T>(
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
                self.stalled = None;
                done
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for WriteStallGuard<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for WriteStallGuard<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.watch(cx, result)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.watch(cx, result)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let result = Pin::new(&mut self.inner).poll_flush(cx);
        self.watch(cx, result)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let result = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.watch(cx, result)
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
        let mut guarded = WriteStallGuard::new(writer, WINDOW);
        let started = Instant::now();
        let error = guarded
            .write_all(&vec![0u8; 64 * 1024])
            .await
            .expect_err("the write stalls");
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        let waited = started.elapsed();
        assert!(waited >= WINDOW && waited < 2 * WINDOW, "{waited:?}");
    }
}
