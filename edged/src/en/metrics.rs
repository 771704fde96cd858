//! The edge node's `/metrics` (`--metrics-listen`): its workloads by state
//! and their restarts, how long reconciling takes, reports waiting for the
//! fleet manager, and its artifact store. Names in `docs/metrics.md`.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use super::node::Node;
use crate::prom::{Durations, Page};

/// Reconciles of the node to a desired set.
pub(crate) static RECONCILE: Durations = Durations::new();

/// The page now.
#[allow(clippy::cast_precision_loss)]
pub(crate) fn page(node: &Node, data: &Path, telemetry: Option<&super::otlp::Buffer>) -> String {
    let rows = node.workloads(&HashMap::new());
    let mut by_state: BTreeMap<String, u64> = BTreeMap::new();
    for r in &rows {
        *by_state.entry(r.state.clone()).or_default() += 1;
    }
    let mut p = Page::default();
    let states: Vec<(Vec<(&str, &str)>, f64)> = by_state
        .iter()
        .map(|(s, n)| (vec![("state", s.as_str())], *n as f64))
        .collect();
    let states: Vec<_> = states.iter().map(|(l, n)| (l.as_slice(), *n)).collect();
    p.gauge(
        "edged_en_workloads",
        "Workloads (components of deployments) on this node, by Margo state.",
        &states,
    );
    let restarts: Vec<(Vec<(&str, &str)>, u64)> = rows
        .iter()
        .map(|r| {
            (
                vec![
                    ("deployment", r.deployment.as_str()),
                    ("component", r.component.as_str()),
                ],
                u64::from(r.restarts),
            )
        })
        .collect();
    let restarts: Vec<_> = restarts.iter().map(|(l, n)| (l.as_slice(), *n)).collect();
    p.counter(
        "edged_en_workload_restarts_total",
        "Restarts of each workload since the daemon started.",
        &restarts,
    );
    p.durations(
        "edged_en_reconcile_seconds",
        "Time to bring the node to a desired state: fetches, stops and starts included.",
        &RECONCILE,
    );
    p.gauge(
        "edged_en_outbox_entries",
        "Reports (status, capabilities) waiting to reach the fleet manager.",
        &[(&[], node.db.queued() as f64)],
    );
    p.gauge(
        "edged_en_artifact_store_bytes",
        "Bytes of artifacts kept on this node.",
        &[(
            &[],
            edge_cas::Cas::at(&data.join(edge_cas::DIR)).total() as f64,
        )],
    );
    if let Some(b) = telemetry {
        super::otlp::metrics(&mut p, b);
    }
    p.process();
    p.into_text()
}
