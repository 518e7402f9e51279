//! Logs: to stderr (stdout carries command output such as new tokens), filtered by
//! `RUST_LOG` (default `info,sqlx=warn`), as text or, with `PACKYARD_LOG_FORMAT=json`,
//! one JSON object per line ([`format`]); written by a thread of their own so that no
//! request waits for stderr ([`writer`]).

pub mod format;
pub mod writer;

pub use format::{RequestId, in_request};
pub use writer::{LogGuard, dropped_lines};

/// Installs the logger for the whole process; the guard writes what is buffered when it
/// is dropped. An unknown `PACKYARD_LOG_FORMAT` is an error naming it.
pub fn init() -> anyhow::Result<LogGuard> {
    let json = match std::env::var("PACKYARD_LOG_FORMAT").as_deref() {
        Ok("json") => true,
        Ok("text" | "") | Err(_) => false,
        Ok(other) => anyhow::bail!("PACKYARD_LOG_FORMAT: {other:?} is not text or json"),
    };
    let (output, guard) = writer::queued_stderr();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Colours only for a person at a terminal: a log file or collector gets plain text.
        .with_ansi(!json && std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(output)
        .event_format(format::LineFormat { json })
        .init();
    Ok(guard)
}
