//! packyard: a private Composer repository in one binary.

use packyard::cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let command = cli::Cli::parse();
    let log_writer = init_logging();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("starting the async runtime");
    let result = runtime.block_on(cli::run(command));
    runtime.shutdown_timeout(packyard::server::RUNTIME_EXIT_LIMIT);
    // Every line logged so far is written before the process says anything more.
    drop(log_writer);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // One line naming the problem, then its causes.
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr (stdout carries command output such as new tokens), written by a
/// thread of their own (`packyard::logging`), filtered by `RUST_LOG` (default
/// `info,sqlx=warn`); `PACKYARD_LOG_FORMAT=json` writes one JSON object per line
/// instead of text. The guard writes what is queued when it is dropped.
fn init_logging() -> packyard::logging::LogGuard {
    let (writer, guard) = packyard::logging::queued_stderr();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    // Colours only for a person at a terminal: a log file or collector gets plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(writer);
    match std::env::var("PACKYARD_LOG_FORMAT").as_deref() {
        Ok("json") => builder.json().flatten_event(true).init(),
        Ok("text" | "") | Err(_) => builder.init(),
        Ok(other) => {
            eprintln!("error: PACKYARD_LOG_FORMAT: {other:?} is not text or json");
            std::process::exit(1);
        }
    }
    guard
}
