//! The Prometheus text exposition (format 0.0.4) every tier writes its
//! `/metrics` with, and the two kinds of live value the LO and the edge node
//! keep: a counter and a histogram of durations, both lock-free. Names and
//! labels are documented in `docs/metrics.md`; label values are few (states,
//! answer codes, a node's own workloads), never ids of things that grow.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Bounds of the duration histograms, seconds.
pub(crate) const SECONDS: [f64; 10] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0, 30.0];

/// A counter that only goes up.
#[derive(Debug, Default)]
pub(crate) struct Counter(AtomicU64);

impl Counter {
    /// A counter at 0 (for a `static`).
    pub(crate) const fn new() -> Self {
        Self(AtomicU64::new(0))
    }

    /// Add `n`.
    pub(crate) fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// The value now.
    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A histogram of durations over [`SECONDS`].
#[derive(Debug, Default)]
pub(crate) struct Durations {
    buckets: [AtomicU64; SECONDS.len()],
    count: AtomicU64,
    micros: AtomicU64,
}

impl Durations {
    /// An empty histogram (for a `static`).
    pub(crate) const fn new() -> Self {
        Self {
            buckets: [const { AtomicU64::new(0) }; SECONDS.len()],
            count: AtomicU64::new(0),
            micros: AtomicU64::new(0),
        }
    }

    /// Record one duration.
    pub(crate) fn observe(&self, d: Duration) {
        let s = d.as_secs_f64();
        for (bound, b) in SECONDS.iter().zip(&self.buckets) {
            if s <= *bound {
                b.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.micros.fetch_add(
            u64::try_from(d.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }
}

/// Records the time from its making to its drop into a histogram.
pub(crate) struct Timer<'a>(&'a Durations, std::time::Instant);

impl<'a> Timer<'a> {
    /// Start timing into `h`.
    pub(crate) fn start(h: &'a Durations) -> Self {
        Self(h, std::time::Instant::now())
    }
}

impl Drop for Timer<'_> {
    fn drop(&mut self) {
        self.0.observe(self.1.elapsed());
    }
}

/// A gauge of things in progress, such as held long polls.
#[derive(Debug)]
pub(crate) struct InFlight(std::sync::atomic::AtomicI64);

impl InFlight {
    /// None in flight (for a `static`).
    pub(crate) const fn new() -> Self {
        Self(std::sync::atomic::AtomicI64::new(0))
    }

    /// One more until the guard drops.
    pub(crate) fn enter(&self) -> InFlightGuard<'_> {
        self.0.fetch_add(1, Ordering::Relaxed);
        InFlightGuard(self)
    }

    /// How many now.
    pub(crate) fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// See [`InFlight::enter`].
pub(crate) struct InFlightGuard<'a>(&'a InFlight);

impl Drop for InFlightGuard<'_> {
    fn drop(&mut self) {
        self.0.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A metrics page being written.
#[derive(Debug, Default)]
pub(crate) struct Page(String);

/// Label pairs of one sample.
pub(crate) type Labels<'a> = &'a [(&'a str, &'a str)];

impl Page {
    fn head(&mut self, name: &str, help: &str, kind: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}");
        let _ = writeln!(self.0, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: Labels<'_>, value: f64) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let _ = write!(self.0, "{k}=\"{}\"", escape(v));
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {value}");
    }

    /// A gauge with one sample per label set.
    pub(crate) fn gauge(&mut self, name: &str, help: &str, samples: &[(Labels<'_>, f64)]) {
        self.head(name, help, "gauge");
        for (labels, v) in samples {
            self.sample(name, labels, *v);
        }
    }

    /// A counter (`name` ends in `_total`) with one sample per label set.
    pub(crate) fn counter(&mut self, name: &str, help: &str, samples: &[(Labels<'_>, u64)]) {
        self.head(name, help, "counter");
        for (labels, v) in samples {
            #[allow(clippy::cast_precision_loss)]
            self.sample(name, labels, *v as f64);
        }
    }

    /// A histogram of durations, in seconds.
    pub(crate) fn durations(&mut self, name: &str, help: &str, h: &Durations) {
        self.head(name, help, "histogram");
        let bucket = format!("{name}_bucket");
        for (bound, b) in SECONDS.iter().zip(&h.buckets) {
            let le = bound.to_string();
            #[allow(clippy::cast_precision_loss)]
            self.sample(&bucket, &[("le", &le)], b.load(Ordering::Relaxed) as f64);
        }
        let count = h.count.load(Ordering::Relaxed);
        #[allow(clippy::cast_precision_loss)]
        {
            self.sample(&bucket, &[("le", "+Inf")], count as f64);
            self.sample(
                &format!("{name}_sum"),
                &[],
                h.micros.load(Ordering::Relaxed) as f64 / 1e6,
            );
            self.sample(&format!("{name}_count"), &[], count as f64);
        }
    }

    /// This process's own use of the host, as Prometheus's process
    /// collectors name it: resident memory, CPU time, open files, threads
    /// (from `/proc/self`; absent where it cannot be read).
    #[allow(clippy::cast_precision_loss)]
    pub(crate) fn process(&mut self) {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse::<u64>().ok())
        };
        if let Some(kb) = field("VmRSS:") {
            self.gauge(
                "process_resident_memory_bytes",
                "Resident memory of this daemon.",
                &[(&[], (kb * 1024) as f64)],
            );
        }
        if let Some(n) = field("Threads:") {
            self.gauge(
                "process_threads",
                "Threads of this daemon.",
                &[(&[], n as f64)],
            );
        }
        // utime and stime, fields 14 and 15 of /proc/self/stat, counted
        // after the command name's closing parenthesis; in USER_HZ (100 a
        // second for /proc on Linux).
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
        let ticks: Option<u64> = stat.rsplit_once(')').and_then(|(_, rest)| {
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
        });
        if let Some(t) = ticks {
            self.0.push_str("# HELP process_cpu_seconds_total CPU time of this daemon, user and system.\n# TYPE process_cpu_seconds_total counter\n");
            self.sample("process_cpu_seconds_total", &[], t as f64 / 100.0);
        }
        if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
            self.gauge(
                "process_open_fds",
                "Open file descriptors of this daemon.",
                &[(&[], fds.count() as f64)],
            );
        }
    }

    /// The page's text.
    pub(crate) fn into_text(self) -> String {
        self.0
    }
}

/// A label value escaped as the text format asks.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Serve `render()` at `GET /metrics` on `addr` (plain HTTP: meant for
/// loopback or a monitoring network), through the guarded server loop.
/// Returns the bound address.
pub(crate) async fn serve(
    addr: &str,
    render: std::sync::Arc<dyn Fn() -> String + Send + Sync>,
) -> anyhow::Result<std::net::SocketAddr> {
    let (listener, bound) = crate::http::listen(addr, None).await?;
    let router = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let render = render.clone();
            async move {
                let text = tokio::task::spawn_blocking(move || render())
                    .await
                    .unwrap_or_default();
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        "text/plain; version=0.0.4",
                    )],
                    text,
                )
            }
        }),
    );
    tokio::spawn(crate::http::serve(
        listener,
        None,
        crate::http::Limits::current(),
        crate::stop::requested(),
        move |_conn: crate::http::ConnInfo| Some(router.clone()),
    ));
    Ok(bound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_is_the_text_format_with_escaped_labels_and_cumulative_buckets() {
        let h = Durations::default();
        h.observe(Duration::from_millis(3));
        h.observe(Duration::from_secs(2));
        let c = Counter::default();
        c.add(5);
        let mut p = Page::default();
        p.gauge("edged_x", "An x.", &[(&[("state", "a\"b")], 2.0)]);
        p.counter("edged_y_total", "A y.", &[(&[], c.get())]);
        p.durations("edged_z_seconds", "A z.", &h);
        let text = p.into_text();
        assert!(
            text.contains("# TYPE edged_x gauge\nedged_x{state=\"a\\\"b\"} 2\n"),
            "{text}"
        );
        assert!(text.contains("edged_y_total 5\n"), "{text}");
        assert!(
            text.contains("edged_z_seconds_bucket{le=\"0.001\"} 0\n"),
            "{text}"
        );
        assert!(
            text.contains("edged_z_seconds_bucket{le=\"0.005\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("edged_z_seconds_bucket{le=\"5\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("edged_z_seconds_bucket{le=\"+Inf\"} 2\n"),
            "{text}"
        );
        assert!(text.contains("edged_z_seconds_count 2\n"), "{text}");
        let mut p = Page::default();
        p.process();
        let text = p.into_text();
        for name in [
            "process_resident_memory_bytes",
            "process_cpu_seconds_total",
            "process_threads",
            "process_open_fds",
        ] {
            assert!(text.contains(&format!("# TYPE {name} ")), "{name}: {text}");
        }
    }
}
