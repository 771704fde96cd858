//! The `edged` daemon: one binary whose `--mode` decides which components run.
//!
//! `--mode co` runs the Central Orchestrator (app store, sites and devices,
//! Git-backed desired state, the north REST API and the south mTLS listener);
//! `--mode lo` a site's Local Orchestrator (mirror of the site repository,
//! the Margo API for edge nodes, the outbox to the CO); `--mode en` an Edge
//! Node (the Margo device client: reconcile, runtimes, status, node
//! operations); `--mode all` the three together on loopback as a demo
//! (`all.rs`). This crate joins `edge-model`, `edge-workspace`,
//! `edge-runtime`, `edge-api`, `edge-cas` (the artifact store) and
//! `edge-outbox` (the LO's outbox tables); it is the only crate that links
//! the HTTP server. It prints exactly one line to stdout (the readiness line; `all`
//! follows it with the commands to try next);
//! logs go to stderr; all state lives in the data directory it is given.

// A build with only some modes leaves parts of the shared code unused.
#![cfg_attr(
    not(all(feature = "co", feature = "lo", feature = "en")),
    allow(dead_code, unused_imports)
)]

#[cfg(all(feature = "co", feature = "lo", feature = "en"))]
mod all;
#[cfg(any(feature = "lo", feature = "en"))]
mod anchors;
#[cfg(any(feature = "lo", feature = "en"))]
mod backoff;
mod bell;
mod cas;
mod cli;
mod clock;
#[cfg(feature = "co")]
mod co;
#[cfg(feature = "en")]
mod en;
mod error;
mod http;
#[cfg(feature = "lo")]
mod lo;
mod lock;
#[cfg(any(feature = "lo", feature = "en"))]
mod otlp;
mod perms;
mod prom;
mod settings;
mod south;
mod stop;
mod trace;

use std::ffi::OsString;
use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser as _;

pub use cli::Args;
pub use http::Limits;
pub use settings::Settings;

/// The most threads the daemon runs blocking work on at once. Reports
/// waiting on the LO's group commit hold one each, so this also bounds a
/// group; 64 is enough for tens of thousands of reports a second.
const BLOCKING: usize = 16;

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
    let export = init_logging(&settings);
    // Every listener's connection caps stay well under the open-file limit.
    let files = http::raise_file_limit();
    settings.listen_limits.within_files(files).install();
    // Blocking work (SQLite, Git, files) runs on at most BLOCKING threads:
    // a burst of thousands of reports queues for them instead of starting a
    // thread each (an LO grew to 134 threads and their allocator heaps in
    // a 1,000-node burst; BENCHMARKS.md, issue 17).
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(BLOCKING)
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            let _ = writeln!(
                std::io::stderr(),
                "error: cannot start the async runtime: {e}"
            );
            return ExitCode::from(1);
        }
    };
    // Handlers first: a signal that arrives once the daemon serves stops it
    // cleanly, never by the default action.
    if let Err(e) = {
        let _inside = runtime.enter();
        stop::install()
    } {
        let _ = writeln!(
            std::io::stderr(),
            "error: cannot handle termination signals: {e}"
        );
        return ExitCode::from(1);
    }
    // Before anything in the data folder is opened: one daemon per folder.
    let lock = match lock::DataLock::take(&settings.data) {
        Ok(l) => l,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "error: {e:#}");
            return ExitCode::from(1);
        }
    };
    let mode: std::pin::Pin<Box<dyn Future<Output = anyhow::Result<()>>>> = match settings.mode {
        #[cfg(feature = "co")]
        cli::Mode::Co => Box::pin(co::run(settings)),
        #[cfg(feature = "lo")]
        cli::Mode::Lo => Box::pin(lo::run(settings)),
        #[cfg(feature = "en")]
        cli::Mode::En => Box::pin(en::run(settings)),
        #[cfg(all(feature = "co", feature = "lo", feature = "en"))]
        cli::Mode::All => Box::pin(all::run(settings)),
        #[allow(unreachable_patterns)]
        other => {
            let mode = format!("{other:?}").to_lowercase();
            Box::pin(std::future::ready(Err(anyhow::anyhow!(
                "this edged was built without `--mode {mode}` (cargo feature `{mode}`); use a full build"
            ))))
        }
    };
    let ran = runtime.block_on(async {
        tokio::select! {
            ran = mode => Some(ran),
            () = stop::forced() => None,
        }
    });
    let Some(ran) = ran else {
        // A second signal: nothing more is waited for (the log said so).
        runtime.shutdown_background();
        return ExitCode::from(1);
    };
    // Blocking worker threads (fetches, long polls) must not hold up exit.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    // The spans of the last moments go out before the process ends.
    #[cfg(feature = "otel")]
    if let Some(export) = export {
        export.shutdown();
    }
    #[cfg(not(feature = "otel"))]
    let _ = export;
    match ran {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // A start that failed leaves no empty folder of its own behind.
            lock.abandon();
            let _ = writeln!(std::io::stderr(), "error: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// The OpenAPI 3.1 document of the CO's north API, as served at
/// `/api/openapi.json`.
#[cfg(feature = "co")]
#[must_use]
pub fn openapi_json() -> String {
    co::openapi_json()
}

/// Logging to stderr, and span export when the environment asks for it
/// (`trace::export`); the exporter returned is shut down (flushed) at exit.
#[cfg(feature = "otel")]
type Export = Option<trace::export::Export>;
#[cfg(not(feature = "otel"))]
type Export = Option<std::convert::Infallible>;

fn init_logging(settings: &Settings) -> Export {
    use std::io::IsTerminal as _;
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let filter = tracing_subscriber::EnvFilter::try_new(&settings.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let fmt = match settings.log_format {
        cli::LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
            .with_filter(filter)
            .boxed(),
        cli::LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_writer(std::io::stderr)
            .with_current_span(true)
            .with_filter(filter)
            .boxed(),
    };
    #[cfg(feature = "otel")]
    {
        let mode = format!("{:?}", settings.mode).to_lowercase();
        // Spans (info and above) and warnings and errors in them, whatever
        // the log filter: the log's level does not cut traces short.
        let (otel, export) = match trace::export::layer(&mode, settings.credentials.as_deref()) {
            Some((layer, export)) => (
                Some(
                    layer.with_filter(tracing_subscriber::filter::filter_fn(|m| {
                        (m.is_span() && *m.level() <= tracing::Level::INFO)
                            || *m.level() <= tracing::Level::WARN
                    })),
                ),
                Some(export),
            ),
            None => (None, None),
        };
        let _ = tracing_subscriber::registry()
            .with(fmt)
            .with(otel)
            .try_init();
        export
    }
    #[cfg(not(feature = "otel"))]
    {
        let _ = tracing_subscriber::registry().with(fmt).try_init();
        None
    }
}
