//! The server's own state: version, uptime, health and the store's size
//! (`GET /api/status`), and the Prometheus text (`GET /metrics`).

use edge_api::types::ServerStatus;

use crate::co::db;
use crate::co::store::Store;

/// Version, uptime, database health and counts.
pub(crate) fn server_status(store: &Store) -> ServerStatus {
    let c = store.db();
    let counts = db::counts(&c);
    ServerStatus {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        health: if db::healthy(&c) {
            "ok"
        } else {
            "database unavailable"
        }
        .to_owned(),
        uptime_seconds: store.started.elapsed().as_secs(),
        apps: counts.apps,
        app_versions: counts.app_versions,
        sites: counts.sites,
        devices: counts.devices,
        deployments: counts.deployments,
    }
}

/// The request metrics with the store's gauges, in the text format.
pub(crate) fn metrics_text(store: &Store) -> String {
    let (counts, states) = {
        let c = store.db();
        (db::counts(&c), db::deployments_by_state(&c))
    };
    let mut page = crate::prom::Page::default();
    #[allow(clippy::cast_precision_loss)]
    let samples: Vec<(Vec<(&str, &str)>, f64)> = states
        .iter()
        .map(|(s, n)| (vec![("state", s.as_str())], *n as f64))
        .collect();
    let samples: Vec<_> = samples.iter().map(|(l, n)| (l.as_slice(), *n)).collect();
    page.gauge(
        "edged_deployments",
        "Deployments by the state their device last reported (pending before any report).",
        &samples,
    );
    let text = store.metrics.render(&[
        ("edged_apps", "Applications in the store.", counts.apps),
        (
            "edged_app_versions",
            "Application versions in the store.",
            counts.app_versions,
        ),
        ("edged_sites", "Sites.", counts.sites),
        ("edged_devices", "Devices.", counts.devices),
    ]);
    text + &page.into_text()
}
