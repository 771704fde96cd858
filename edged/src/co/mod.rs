//! The Central Orchestrator: data directory, app store, sites and devices,
//! and the north REST API, served until SIGTERM or SIGINT.
//!
//! State lives in the data directory: `workspace/` (a Git repository with the
//! layout of DESIGN §3, every change a commit), `sites/<site>/` (one repository
//! per site holding its desired state), `edged.db` (SQLite in WAL mode: the
//! index of apps, sites, devices, deployments and identities), `ca/` (the CA
//! key, mode 0600), `admin.token` (mode 0600) and `lock` (held while a
//! daemon runs on the folder, `crate::lock`). Two listeners: the north API
//! (bearer token) and the south one (mTLS; Git serving for LOs).
//!
//! Three layers, whose imports run one way (top to bottom only):
//! - `http`: the handlers of both listeners, the only code that knows axum;
//! - `ops`: the operations (apps, sites, deployments, identities, intake,
//!   the nudge, direct nodes, export, recovery, status), plain functions;
//! - state and storage: `store` (the shared state and caches), `db` (every
//!   table and query), `ca` (the certificate authority), `events` (the event
//!   ring) and `metrics` (request metrics).

mod ca;
mod db;
mod events;
mod http;
mod metrics;
mod ops;
mod rotate;
mod store;

use std::io::Write as _;
use std::sync::Arc;

use crate::settings::Settings;

pub(crate) use http::openapi_json;

/// Run the CO until a termination signal; in-flight requests are drained.
pub(crate) async fn run(settings: Settings) -> anyhow::Result<()> {
    // Ports first: one in use fails the start before the data folder is
    // touched.
    let (listener, addr) = crate::http::listen(&settings.listen, None).await?;
    let (south_listener, south_addr) =
        crate::http::listen(&settings.south_listen, Some("south")).await?;
    let s = settings.clone();
    let store = crate::http::start_blocking(move || {
        let store = store::Store::open(&s)?;
        ops::recovery::reconcile(&store)?;
        Ok(store)
    })
    .await?;
    let store = Arc::new(store);
    let mut names = vec!["localhost".to_owned(), south_addr.ip().to_string()];
    if !south_addr.ip().is_loopback() {
        names.push("127.0.0.1".to_owned());
    }
    let tls = http::south::tls_config(&store, &names)?;
    let north_tls = http::north::tls::config(&store, &settings, addr)?;
    let scheme = if north_tls.is_some() { "https" } else { "http" };
    store.set_south_url(format!("https://{south_addr}"));
    let south_task = tokio::spawn(http::south::serve(store.clone(), south_listener, tls));
    let rollouts = tokio::spawn(ops::rollout::drive(store.clone()));
    if !settings.ready.send(vec![addr, south_addr]) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "edged co listening on {scheme}://{addr}");
        let _ = writeln!(
            out,
            "edged co south (mTLS) listening on https://{south_addr}"
        );
        let _ = out.flush();
    }
    tracing::info!(data = %settings.data.display(), %addr, %south_addr, "central orchestrator ready");
    let north = http::router(store.clone());
    crate::http::serve(
        listener,
        north_tls.map(tokio_rustls::TlsAcceptor::from),
        crate::http::Limits::current(),
        crate::stop::requested(),
        move |_| Some(north.clone()),
    )
    .await;
    // The south listener drains on the same signal.
    let _ = south_task.await;
    rollouts.abort();
    // The next start numbers its events on from here.
    store.events().close();
    tracing::info!("stopped");
    Ok(())
}
