//! The writer of log lines: stderr, written by a thread of their own, so that a request
//! never waits for a slow or full stderr (a terminal being scrolled, a pipe whose reader
//! stalls, a log collector that falls behind).
//!
//! The formatter appends each event's line to a shared buffer of at most
//! [`BUFFER_BYTES`]; the writer thread takes the whole buffer at most every
//! [`BATCH_INTERVAL`] and writes it with one system call. A request thread never makes a
//! system call to log: it does not wake the writer for each line (on a busy server that
//! was a thread switch per request), only when the buffer goes from empty to not empty
//! while the writer sleeps. When the buffer is full (stderr takes lines slower than they
//! come) the line is dropped and counted (`packyard_log_lines_dropped_total` in
//! `/metrics`) rather than the request waiting. [`LogGuard`], kept by `main`, writes
//! every buffered line before the process exits.
//!
//! Our own rather than `tracing-appender`'s non-blocking writer: that one sends each
//! line through a channel (a wake-up per line), brings the `time` and
//! `crossbeam-channel` crates, and we want the drop count in our metrics.

use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tracing_subscriber::fmt::MakeWriter;

/// Bytes of log lines held while stderr is slower than they come: seconds of lines at
/// full speed (a request line is about 150 bytes).
pub const BUFFER_BYTES: usize = 16 * 1024 * 1024;

/// How long the writer gathers lines before writing them: a line reaches stderr at
/// most this late.
pub const BATCH_INTERVAL: Duration = Duration::from_millis(20);

/// How long a clean exit waits for the writer to write what is buffered.
const DRAIN_LIMIT: Duration = Duration::from_secs(2);

/// What the formatters and the writer share.
struct Shared {
    state: Mutex<State>,
    /// The writer waits here for lines, and the guard for the writer to have drained.
    changed: Condvar,
    capacity: usize,
}

#[derive(Default)]
struct State {
    /// Lines not yet taken by the writer.
    lines: Vec<u8>,
    /// The writer sleeps until a line comes (and must be woken for it).
    writer_idle: bool,
    /// The process is exiting: write what is left, then stop.
    draining: bool,
    /// The writer has written everything and stopped.
    drained: bool,
}

/// The formatter's writer: each event's line is appended to the buffer.
#[derive(Clone)]
pub struct QueuedStderr {
    shared: Arc<Shared>,
}

/// Dropping it writes every line buffered so far.
pub struct LogGuard {
    shared: Arc<Shared>,
}

/// The writer of log lines and the guard that drains it at exit.
pub fn queued_stderr() -> (QueuedStderr, LogGuard) {
    queued(BUFFER_BYTES, BATCH_INTERVAL, io::stderr)
}

fn queued<W: Write + 'static>(
    capacity: usize,
    interval: Duration,
    output: impl FnOnce() -> W + Send + 'static,
) -> (QueuedStderr, LogGuard) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State::default()),
        changed: Condvar::new(),
        capacity,
    });
    let writer = shared.clone();
    std::thread::Builder::new()
        .name("log-writer".into())
        .spawn(move || write_lines(&writer, interval, output()))
        .expect("starting the log writer thread");
    (
        QueuedStderr {
            shared: shared.clone(),
        },
        LogGuard { shared },
    )
}

/// Sleeps until there are lines, lets more gather for `interval`, writes them all at
/// once; until told to drain, and then once more.
fn write_lines(shared: &Shared, interval: Duration, mut output: impl Write) {
    let mut batch = Vec::new();
    loop {
        let draining = {
            let mut state = lock(&shared.state);
            while state.lines.is_empty() && !state.draining {
                state.writer_idle = true;
                state = shared
                    .changed
                    .wait(state)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
            }
            state.writer_idle = false;
            state.draining
        };
        if !draining {
            std::thread::sleep(interval);
        }
        {
            let mut state = lock(&shared.state);
            std::mem::swap(&mut state.lines, &mut batch);
        }
        // A failed write (stderr closed) loses the lines; nothing better to do.
        let _ = output.write_all(&batch).and_then(|()| output.flush());
        batch.clear();
        if draining {
            let mut state = lock(&shared.state);
            if state.lines.is_empty() {
                state.drained = true;
                shared.changed.notify_all();
                return;
            }
        }
    }
}

/// The state, whether or not a thread panicked holding it (every change to it is one
/// assignment or append, never left half made).
fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        // Waits for every line buffered so far; if stderr takes them slower than the
        // limit allows, the process exits without the rest rather than hanging.
        let deadline = Instant::now() + DRAIN_LIMIT;
        let mut state = lock(&self.shared.state);
        state.draining = true;
        self.shared.changed.notify_all();
        while !state.drained {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            state = self
                .shared
                .changed
                .wait_timeout(state, left)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
    }
}

impl Write for QueuedStderr {
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        let mut state = lock(&self.shared.state);
        if state.drained {
            // The writer is gone (the process is exiting): nowhere to write to.
            return Ok(line.len());
        }
        if state.lines.len() + line.len() > self.shared.capacity {
            drop(state);
            dropped_lines().inc();
            return Ok(line.len());
        }
        state.lines.extend_from_slice(line);
        if state.writer_idle {
            state.writer_idle = false;
            self.shared.changed.notify_all();
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for QueuedStderr {
    type Writer = QueuedStderr;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Lines dropped because the queue was full, for `/metrics`.
pub fn dropped_lines() -> &'static prometheus_client::metrics::counter::Counter {
    static DROPPED: OnceLock<prometheus_client::metrics::counter::Counter> = OnceLock::new();
    DROPPED.get_or_init(Default::default)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// An output that blocks until told to go on, and keeps what it was given.
    #[derive(Clone, Default)]
    struct Stalled {
        open: Arc<(Mutex<bool>, std::sync::Condvar)>,
        written: Arc<Mutex<Vec<u8>>>,
    }

    impl Write for Stalled {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            let (open, opened) = &*self.open;
            let mut is_open = open.lock().unwrap();
            while !*is_open {
                is_open = opened.wait(is_open).unwrap();
            }
            self.written.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_stalled_output_drops_and_counts_lines_instead_of_blocking_the_logger() {
        let output = Stalled::default();
        let given = output.clone();
        let (mut writer, guard) = queued(4 * 7, Duration::from_millis(1), move || given);
        let before = dropped_lines().get();
        let started = Instant::now();
        for n in 0..1000 {
            writer.write_all(format!("line {n}\n").as_bytes()).unwrap();
        }
        // A thousand lines against an output that takes none: the logger went on.
        assert!(started.elapsed() < Duration::from_secs(1));
        let dropped = dropped_lines().get() - before;
        assert!(dropped >= 900, "dropped {dropped}");
        {
            let (open, opened) = &*output.open;
            *open.lock().unwrap() = true;
            opened.notify_all();
        }
        drop(guard);
        let written = String::from_utf8(output.written.lock().unwrap().clone()).unwrap();
        assert!(written.starts_with("line 0\n"), "{written}");
        let kept = written.lines().count() as u64;
        assert_eq!(kept + dropped, 1000, "{written}");
    }

    #[test]
    fn a_clean_exit_writes_every_queued_line() {
        let output = Stalled::default();
        *output.open.0.lock().unwrap() = true;
        let given = output.clone();
        let (mut writer, guard) = queued(BUFFER_BYTES, BATCH_INTERVAL, move || given);
        for n in 0..10_000 {
            writer.write_all(format!("line {n}\n").as_bytes()).unwrap();
        }
        drop(guard);
        let written = String::from_utf8(output.written.lock().unwrap().clone()).unwrap();
        assert_eq!(written.lines().count(), 10_000);
        assert!(written.ends_with("line 9999\n"));
    }
}
