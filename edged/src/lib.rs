//! The `edged` daemon: one binary whose `--mode` decides which components run.
//!
//! Today it runs the Central Orchestrator (`--mode co`): the app store, sites and
//! devices, a Git-backed workspace and the north REST API. The Local
//! Orchestrator and Edge Node modes arrive with their issues. This crate joins
//! `edge-model`, `edge-workspace` and `edge-api`; it is the only crate that links
//! the HTTP server. It prints exactly one line to stdout (the readiness line);
//! logs go to stderr; all state lives in the data directory it is given.

mod cli;
mod co;
mod settings;

use std::ffi::OsString;
use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser as _;

pub use cli::Args;
pub use settings::Settings;

/// Parse arguments, then run the daemon until SIGTERM/SIGINT.
pub fn run<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args = match Args::try_parse_from(args) {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let settings = match Settings::resolve(&args) {
        Ok(s) => s,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "error: {e:#}");
            return ExitCode::from(2);
        }
    };
    if args.print_config {
        let _ = std::io::stdout().write_all(settings.to_toml().as_bytes());
        return ExitCode::SUCCESS;
    }
    init_logging(&settings);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            let _ = writeln!(
                std::io::stderr(),
                "error: cannot start the async runtime: {e}"
            );
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(co::run(settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "error: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// The OpenAPI 3.1 document of the CO's north API, as served at
/// `/api/openapi.json`.
#[must_use]
pub fn openapi_json() -> String {
    co::openapi_json()
}

fn init_logging(settings: &Settings) {
    use std::io::IsTerminal as _;
    let filter = tracing_subscriber::EnvFilter::try_new(&settings.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}
