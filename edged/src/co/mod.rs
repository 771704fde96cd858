//! The Central Orchestrator: data directory, app store, sites and devices,
//! and the north REST API, served until SIGTERM or SIGINT.
//!
//! State lives in the data directory: `workspace/` (a Git repository with the
//! layout of DESIGN §3, every change a commit), `edged.db` (SQLite in WAL mode:
//! the index of apps, sites and devices) and `admin.token` (mode 0600).

mod apps;
mod clock;
mod db;
mod deployments;
mod error;
mod http;
mod metrics;
mod sites;
mod store;

use std::io::Write as _;
use std::sync::Arc;

use anyhow::Context as _;

use crate::settings::Settings;

pub(crate) use http::openapi_json;

/// Run the CO until a termination signal; in-flight requests are drained.
pub(crate) async fn run(settings: Settings) -> anyhow::Result<()> {
    let s = settings.clone();
    let store = tokio::task::spawn_blocking(move || store::Store::open(&s))
        .await
        .context("the start-up task failed")??;
    let store = Arc::new(store);
    let listener = tokio::net::TcpListener::bind(&settings.listen)
        .await
        .with_context(|| format!("cannot listen on `{}`", settings.listen))?;
    let addr = listener
        .local_addr()
        .context("cannot read the listening address")?;
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "edged co listening on http://{addr}");
        let _ = out.flush();
    }
    tracing::info!(data = %settings.data.display(), %addr, "central orchestrator ready");
    axum::serve(listener, http::router(store))
        .with_graceful_shutdown(shutdown())
        .await
        .context("the server failed")?;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = term => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    tracing::info!("termination signal: draining requests");
}
