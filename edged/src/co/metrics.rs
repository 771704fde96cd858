//! Prometheus metrics: request counts and latencies by route, plus gauges of
//! the store (apps, versions, sites, devices), rendered in the text format.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

/// Latency bucket bounds, seconds.
const BUCKETS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

/// Bounds of the intake batch-size histogram, entries.
const BATCH_BUCKETS: [u64; 8] = [1, 10, 50, 100, 250, 500, 1000, 5000];

/// Intake batches taken (from LOs and sticks) and the entries they held.
#[derive(Default)]
struct Intake {
    counts: [u64; BATCH_BUCKETS.len()],
    batches: u64,
    entries: u64,
}

#[derive(Default)]
struct Inner {
    requests: BTreeMap<(String, String, u16), u64>,
    latency: BTreeMap<String, Histogram>,
    intake: Intake,
}

/// Request metrics.
#[derive(Default)]
pub(crate) struct Metrics {
    inner: Mutex<Inner>,
}

impl Metrics {
    /// Record one finished request.
    pub(crate) fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let mut m = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *m.requests
            .entry((method.to_owned(), route.to_owned(), status))
            .or_default() += 1;
        let h = m.latency.entry(route.to_owned()).or_default();
        for (i, bound) in BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                h.counts[i] += 1;
            }
        }
        h.sum += seconds;
        h.count += 1;
    }

    /// Record one intake batch applied, holding `entries` entries (those
    /// stored before, re-sent, included).
    pub(crate) fn intake(&self, entries: usize) {
        let mut m = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = u64::try_from(entries).unwrap_or(u64::MAX);
        for (i, bound) in BATCH_BUCKETS.iter().enumerate() {
            if n <= *bound {
                m.intake.counts[i] += 1;
            }
        }
        m.intake.batches += 1;
        m.intake.entries += n;
    }

    /// The text exposition, with `gauges` (name, help, value) appended.
    pub(crate) fn render(&self, gauges: &[(&str, &str, u64)]) -> String {
        let m = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut out = String::new();
        out.push_str("# HELP edged_http_requests_total HTTP requests handled.\n# TYPE edged_http_requests_total counter\n");
        for ((method, route, status), n) in &m.requests {
            let _ = writeln!(
                out,
                "edged_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {n}"
            );
        }
        out.push_str("# HELP edged_http_request_duration_seconds Time to answer HTTP requests.\n# TYPE edged_http_request_duration_seconds histogram\n");
        for (route, h) in &m.latency {
            for (bound, c) in BUCKETS.iter().zip(h.counts) {
                let _ = writeln!(
                    out,
                    "edged_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {c}"
                );
            }
            let _ = writeln!(
                out,
                "edged_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "edged_http_request_duration_seconds_sum{{route=\"{route}\"}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "edged_http_request_duration_seconds_count{{route=\"{route}\"}} {}",
                h.count
            );
        }
        out.push_str("# HELP edged_intake_batch_entries Entries per intake batch applied (LO outboxes and sticks).\n# TYPE edged_intake_batch_entries histogram\n");
        for (bound, c) in BATCH_BUCKETS.iter().zip(m.intake.counts) {
            let _ = writeln!(
                out,
                "edged_intake_batch_entries_bucket{{le=\"{bound}\"}} {c}"
            );
        }
        let _ = writeln!(
            out,
            "edged_intake_batch_entries_bucket{{le=\"+Inf\"}} {b}\nedged_intake_batch_entries_sum {}\nedged_intake_batch_entries_count {b}",
            m.intake.entries,
            b = m.intake.batches
        );
        for (name, help, value) in gauges {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn renders_counters_histograms_and_gauges() {
        let m = super::Metrics::default();
        m.observe("GET", "/api/apps", 200, 0.002);
        m.observe("GET", "/api/apps", 200, 0.2);
        m.intake(500);
        m.intake(3);
        let text = m.render(&[("edged_apps", "Apps in the store.", 3)]);
        assert!(text.contains("edged_intake_batch_entries_bucket{le=\"10\"} 1"));
        assert!(text.contains("edged_intake_batch_entries_bucket{le=\"500\"} 2"));
        assert!(text.contains("edged_intake_batch_entries_sum 503"));
        assert!(text.contains("edged_intake_batch_entries_count 2"));
        assert!(text.contains(
            "edged_http_requests_total{method=\"GET\",route=\"/api/apps\",status=\"200\"} 2"
        ));
        assert!(text.contains(
            "edged_http_request_duration_seconds_bucket{route=\"/api/apps\",le=\"0.0025\"} 1"
        ));
        assert!(text.contains("edged_http_request_duration_seconds_count{route=\"/api/apps\"} 2"));
        assert!(text.contains("# TYPE edged_apps gauge\nedged_apps 3"));
    }
}
