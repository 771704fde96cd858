//! What the processes of a fleet run did during one phase: wall time, CPU of
//! the CO and of each LO (from `/proc`), what the simulated nodes were
//! served (manifests, `304`s, documents), the intake batches the CO applied
//! (from its `/metrics`) and the bytes between site 0's LO and the CO
//! (through a counting proxy).

use std::sync::atomic::Ordering;
use std::time::Instant;

use edge_tests::co::Co;
use edge_tests::lo::Lo;
use edge_tests::proxy::{Proxy, Snapshot};
use edge_tests::sim::Counters;
use serde_json::{Value, json};

use super::intake::{cpu_s, metric};

/// A moment of the run: clocks and counters a phase is measured from.
pub(crate) struct Mark {
    at: Instant,
    co_cpu: f64,
    lo_cpu: Vec<f64>,
    manifests: u64,
    not_modified: u64,
    documents: u64,
    bytes: Snapshot,
    batches: f64,
    entries: f64,
}

/// The processes and counters of a fleet run.
pub(crate) struct Probe<'a> {
    pub(crate) co: &'a Co,
    pub(crate) los: &'a [Lo],
    pub(crate) counters: &'a Counters,
    pub(crate) proxy: &'a Proxy,
    /// Deployments at site 0 (whose LO talks to the CO through `proxy`).
    pub(crate) at_site_0: usize,
}

impl Probe<'_> {
    pub(crate) fn mark(&self) -> Mark {
        Mark {
            at: Instant::now(),
            co_cpu: self.co.pid().map_or(0.0, cpu_s),
            lo_cpu: self.los.iter().map(|l| cpu_s(l.pid())).collect(),
            manifests: self.counters.manifests.load(Ordering::Relaxed),
            not_modified: self.counters.not_modified.load(Ordering::Relaxed),
            documents: self.counters.documents.load(Ordering::Relaxed),
            bytes: self.proxy.snapshot(),
            batches: metric(self.co, "edged_intake_batch_entries_count"),
            entries: metric(self.co, "edged_intake_batch_entries_sum"),
        }
    }

    /// The phase since `m`, as JSON, and a line to print.
    pub(crate) fn since(&self, m: &Mark) -> (Value, String) {
        let secs = m.at.elapsed().as_secs_f64();
        let co_cores = (self.co.pid().map_or(0.0, cpu_s) - m.co_cpu) / secs;
        let lo_cores: Vec<f64> = self
            .los
            .iter()
            .zip(&m.lo_cpu)
            .map(|(l, before)| (cpu_s(l.pid()) - before) / secs)
            .collect();
        let lo_cores_sum: f64 = lo_cores.iter().sum();
        let lo_cores_max = lo_cores.iter().copied().fold(0.0, f64::max);
        let manifests = self.counters.manifests.load(Ordering::Relaxed) - m.manifests;
        let not_modified = self.counters.not_modified.load(Ordering::Relaxed) - m.not_modified;
        let documents = self.counters.documents.load(Ordering::Relaxed) - m.documents;
        let bytes = self.proxy.since(&m.bytes).total();
        let batches = metric(self.co, "edged_intake_batch_entries_count") - m.batches;
        let entries = metric(self.co, "edged_intake_batch_entries_sum") - m.entries;
        let mean_batch = if batches > 0.0 {
            entries / batches
        } else {
            0.0
        };
        let per_deployment = bytes.total() as f64 / self.at_site_0.max(1) as f64;
        let line = format!(
            "{secs:.1} s; CPU cores busy: CO {co_cores:.2}, LOs {lo_cores_sum:.2} (largest {lo_cores_max:.2}); nodes were served {manifests} manifests ({:.0}/s), {not_modified} × 304, {documents} documents; the CO applied {batches:.0} intake batches (mean {mean_batch:.0} entries); site 0's LO↔CO {} B up, {} B down ({per_deployment:.0} B per deployment)",
            manifests as f64 / secs,
            bytes.up,
            bytes.down
        );
        let json = json!({
            "secs": secs, "co_cores": co_cores, "lo_cores_sum": lo_cores_sum,
            "lo_cores_max": lo_cores_max, "manifests": manifests,
            "manifests_per_s": manifests as f64 / secs, "not_modified": not_modified,
            "not_modified_per_s": not_modified as f64 / secs, "documents": documents,
            "intake_batches": batches, "intake_batch_mean_entries": mean_batch,
            "site0_lo_co_bytes_up": bytes.up, "site0_lo_co_bytes_down": bytes.down,
            "site0_lo_co_bytes_per_deployment": per_deployment,
        });
        (json, line)
    }
}
