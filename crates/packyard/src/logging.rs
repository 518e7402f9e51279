//! Where log lines go: stderr, written by a thread of their own, so that a request
//! never waits for a slow or full stderr (a terminal being scrolled, a pipe whose reader
//! stalls, a log collector that falls behind).
//!
//! The formatter writes each event as one line into a bounded queue ([`QUEUE_LINES`]);
//! the writer thread takes every line waiting and writes them with one system call. When
//! the queue is full the line is dropped and counted (`packyard_log_lines_dropped_total`
//! in `/metrics`) rather than the request waiting. [`LogGuard`], kept by `main`, writes
//! every queued line before the process exits.
//!
//! Our own rather than `tracing-appender`'s non-blocking writer: that one brings the
//! `time` and `crossbeam-channel` crates for what is here a bounded channel and a loop,
//! and we want the drop count in our metrics.

use std::io::{self, Write};
use std::sync::OnceLock;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::time::{Duration, Instant};

use tracing_subscriber::fmt::MakeWriter;

/// Lines the queue holds before new ones are dropped: a burst of seconds at full speed.
pub const QUEUE_LINES: usize = 65_536;

/// How long a clean exit waits for the writer to write what is queued.
const DRAIN_LIMIT: Duration = Duration::from_secs(2);

enum Message {
    Line(Vec<u8>),
    /// Write what came before, say so, then stop.
    Drain(SyncSender<()>),
}

/// The formatter's writer: each event's formatted line goes to the queue as it is.
#[derive(Clone)]
pub struct QueuedStderr {
    queue: SyncSender<Message>,
}

/// Dropping it writes every line queued so far.
pub struct LogGuard {
    queue: SyncSender<Message>,
}

/// The writer of log lines and the guard that drains it at exit.
pub fn queued_stderr() -> (QueuedStderr, LogGuard) {
    queued(QUEUE_LINES, io::stderr)
}

fn queued<W: Write + 'static>(
    lines: usize,
    output: impl FnOnce() -> W + Send + 'static,
) -> (QueuedStderr, LogGuard) {
    let (queue, received) = sync_channel(lines);
    std::thread::Builder::new()
        .name("log-writer".into())
        .spawn(move || write_lines(&received, output()))
        .expect("starting the log writer thread");
    (
        QueuedStderr {
            queue: queue.clone(),
        },
        LogGuard { queue },
    )
}

/// Writes lines as they come, every line waiting at once, until told to drain.
fn write_lines(received: &Receiver<Message>, output: impl Write) {
    let mut output = io::BufWriter::with_capacity(64 * 1024, output);
    while let Ok(first) = received.recv() {
        let mut next = Some(first);
        while let Some(message) = next {
            match message {
                // A failed write (stderr closed) loses the line; nothing better to do.
                Message::Line(line) => {
                    let _ = output.write_all(&line);
                }
                Message::Drain(drained) => {
                    let _ = output.flush();
                    let _ = drained.send(());
                    return;
                }
            }
            next = received.try_recv().ok();
        }
        let _ = output.flush();
    }
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        // Behind every line queued so far; if the queue stays full past the limit, the
        // process exits without the rest rather than hanging.
        let deadline = Instant::now() + DRAIN_LIMIT;
        let (drained, done) = sync_channel(1);
        let mut drain = Message::Drain(drained);
        loop {
            match self.queue.try_send(drain) {
                Ok(()) => break,
                Err(TrySendError::Full(back)) if Instant::now() < deadline => {
                    drain = back;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(_) => return,
            }
        }
        let _ = done.recv_timeout(deadline.saturating_duration_since(Instant::now()));
    }
}

impl Write for QueuedStderr {
    fn write(&mut self, line: &[u8]) -> io::Result<usize> {
        // A closed queue means the writer is gone (the process is exiting): nowhere to
        // write to, and nothing to count.
        if let Err(TrySendError::Full(_)) = self.queue.try_send(Message::Line(line.to_vec())) {
            dropped_lines().inc();
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
        let (mut writer, guard) = queued(4, move || given);
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
        let (mut writer, guard) = queued(QUEUE_LINES, move || given);
        for n in 0..10_000 {
            writer.write_all(format!("line {n}\n").as_bytes()).unwrap();
        }
        drop(guard);
        let written = String::from_utf8(output.written.lock().unwrap().clone()).unwrap();
        assert_eq!(written.lines().count(), 10_000);
        assert!(written.ends_with("line 9999\n"));
    }
}
