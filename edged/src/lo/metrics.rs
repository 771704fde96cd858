//! The LO's `/metrics` (`--metrics-listen`): what its Margo API served
//! (`south::metrics`), its outbox, the time its views take to rebuild, its
//! artifact store, and what it pulled through from upstream registries.
//! Names in `docs/metrics.md`.

use std::path::Path;

use edge_outbox::Outbox;

use super::store::Lo;
use super::upstream;
use crate::prom::{Durations, Page};
use crate::south::metrics::{HELD, MANIFESTS, NOT_MODIFIED, REPORTS};

/// Rebuilds of the served views after the mirror moved.
pub(crate) static REBUILD: Durations = Durations::new();

/// The page now.
#[allow(clippy::cast_precision_loss)]
pub(crate) fn page(lo: &Lo, data: &Path) -> String {
    let (entries, bytes) = {
        let c = lo.db();
        (
            Outbox::count(&c).unwrap_or(0),
            Outbox::used(&c).unwrap_or(0),
        )
    };
    let site = lo.site.as_str();
    let mut p = Page::default();
    p.counter(
        "edged_lo_manifests_total",
        "Margo state manifests answered, by answer: 200 with a body, 304 unchanged.",
        &[
            (&[("answer", "200")], MANIFESTS.get()),
            (&[("answer", "304")], NOT_MODIFIED.get()),
        ],
    );
    p.gauge(
        "edged_lo_long_polls",
        "Manifest long polls held open now.",
        &[(&[], HELD.get() as f64)],
    );
    p.counter(
        "edged_lo_reports_total",
        "Status reports taken from devices.",
        &[(&[], REPORTS.get())],
    );
    p.gauge(
        "edged_lo_outbox_entries",
        "Reports waiting in the outbox for the CO.",
        &[(&[("site", site)], entries as f64)],
    );
    p.gauge(
        "edged_lo_outbox_bytes",
        "Bytes the waiting reports count against the outbox's bound.",
        &[(&[("site", site)], bytes as f64)],
    );
    p.durations(
        "edged_lo_view_rebuild_seconds",
        "Time to rebuild the served views after the site's desired state moved.",
        &REBUILD,
    );
    p.gauge(
        "edged_lo_artifact_store_bytes",
        "Bytes of artifacts kept for this site's devices.",
        &[(
            &[],
            edge_cas::Cas::at(&data.join(edge_cas::DIR)).total() as f64,
        )],
    );
    p.counter(
        "edged_lo_pull_through_total",
        "Artifacts the site's registry was asked for that are not on a stick, by result: hit (pulled before), pulled (fetched from its registry now), failed.",
        &[
            (&[("result", "hit")], upstream::HITS.get()),
            (&[("result", "pulled")], upstream::PULLS.get()),
            (&[("result", "failed")], upstream::FAILURES.get()),
        ],
    );
    p.counter(
        "edged_lo_pull_through_fetched_bytes_total",
        "Bytes fetched from upstream registries for the site.",
        &[(&[], upstream::PULLED_BYTES.get())],
    );
    p.counter(
        "edged_lo_pull_through_evictions_total",
        "Pulled-through artifacts dropped, least recently used first, to stay within --pull-cache-max-bytes.",
        &[(&[], upstream::EVICTIONS.get())],
    );
    p.gauge(
        "edged_lo_pull_cache_bytes",
        "Bytes of pulled-through artifacts kept now (bounded by --pull-cache-max-bytes).",
        &[(&[], lo.pull_cache_bytes() as f64)],
    );
    super::otlp::metrics(&mut p);
    p.process();
    p.into_text()
}
