//! packyard: a private Composer repository in one binary.

use packyard::cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let command = cli::Cli::parse();
    let log_writer = match packyard::logging::init() {
        Ok(guard) => guard,
        Err(error) => {
            eprintln!("error: {error:#}");
            return ExitCode::FAILURE;
        }
    };
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
            eprintln!("error: {}", cli::error_text(&error));
            ExitCode::FAILURE
        }
    }
}
