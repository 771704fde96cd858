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
    let counts = db::counts(&store.db());
    store.metrics.render(&[
        ("edged_apps", "Applications in the store.", counts.apps),
        (
            "edged_app_versions",
            "Application versions in the store.",
            counts.app_versions,
        ),
        ("edged_sites", "Sites.", counts.sites),
        ("edged_devices", "Devices.", counts.devices),
    ])
}
