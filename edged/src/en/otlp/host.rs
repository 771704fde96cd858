//! Host metrics (Margo: "host metrics MUST be collected", as the OTel
//! Collector's `hostmetrics` receiver does): every `--host-metrics-interval`
//! the node reads `/proc` and `statvfs` and builds one
//! `ExportMetricsServiceRequest`, hand-encoded with the wire helpers, which
//! goes into the collector's buffer like a workload's request (kept across
//! restarts, bounded, forwarded to the fleet manager).
//!
//! Names, units and attributes follow the OpenTelemetry semantic
//! conventions: `system.cpu.time` (all CPUs together, by `cpu.mode`),
//! `system.memory.usage`, `system.filesystem.usage` (the data folder's
//! filesystem only), `system.cpu.load_average.{1m,5m,15m}` and
//! `system.network.io` (at most [`MAX_INTERFACES`] interfaces, `lo`
//! skipped). Every source is read bounded ([`MAX_SOURCE`]); one that does
//! not parse leaves its metric out, logged once.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::Collector;
use crate::otlp::{DEVICE, SITE, Signal, wire};

/// Most bytes read of one `/proc` file.
const MAX_SOURCE: u64 = 256 * 1024;
/// Most network interfaces reported.
pub(crate) const MAX_INTERFACES: usize = 16;
/// `/proc/stat` counts in `USER_HZ`, 100 on every Linux architecture the
/// node runs on.
const USER_HZ: f64 = 100.0;
/// The `service.name` of the node's own telemetry.
const SERVICE: &str = "edged-en";
/// `AggregationTemporality.CUMULATIVE`.
const CUMULATIVE: u64 = 2;

/// A data point's value.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Value {
    Int(u64),
    Double(f64),
}

/// Whether a metric is a gauge or a (monotonic or not) cumulative sum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Gauge,
    Sum { monotonic: bool },
}

/// One metric with its points (attributes, value).
#[derive(Debug, Clone, PartialEq)]
struct Metric {
    name: &'static str,
    unit: &'static str,
    kind: Kind,
    points: Vec<(Vec<(&'static str, String)>, Value)>,
}

/// Which sources failed already (each logged once).
#[derive(Default)]
struct Logged([AtomicBool; 5]);

impl Logged {
    fn once(&self, i: usize, source: &str, why: &str) {
        if let Some(flag) = self.0.get(i)
            && !flag.swap(true, Ordering::Relaxed)
        {
            tracing::warn!(source, why, "a host metric is left out");
        }
    }
}

/// Put one host-metrics request into the collector's buffer every `every`,
/// until the process ends (run on a thread of its own).
pub(crate) fn run(collector: &Arc<Collector>, data: &Path, every: Duration) {
    let data = data.canonicalize().unwrap_or_else(|_| data.to_owned());
    let logged = Logged::default();
    let host = read("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default();
    let resource = vec![
        (DEVICE.to_owned(), collector.device.clone()),
        (SITE.to_owned(), collector.site.clone()),
        ("host.name".to_owned(), host),
        ("service.name".to_owned(), SERVICE.to_owned()),
    ];
    loop {
        std::thread::sleep(every);
        let metrics = collect(&data, &logged);
        if metrics.is_empty() {
            continue;
        }
        let body = encode(&resource, &metrics, now_nanos(), boot_nanos());
        if let Err(e) = collector.buffer.put(Signal::Metrics, &body) {
            tracing::error!(error = %e, "host metrics not kept");
        }
    }
}

/// The text of `path`, at most [`MAX_SOURCE`] bytes.
fn read(path: impl AsRef<Path>) -> Option<String> {
    let mut s = String::new();
    std::fs::File::open(path)
        .ok()?
        .take(MAX_SOURCE)
        .read_to_string(&mut s)
        .ok()?;
    Some(s)
}

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// When the host booted (`btime` of `/proc/stat`): the start of its
/// cumulative counters.
fn boot_nanos() -> u64 {
    read("/proc/stat")
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("btime "))
                .and_then(|v| v.trim().parse::<u64>().ok())
        })
        .map_or(0, |s| s.saturating_mul(1_000_000_000))
}

/// A `/proc` file's parser: its metrics, or `None` when it does not parse.
type Parser = fn(&str) -> Option<Vec<Metric>>;

/// Every metric whose source reads and parses now.
fn collect(data: &Path, logged: &Logged) -> Vec<Metric> {
    let mut out = Vec::new();
    let sources: [(&str, Parser); 4] = [
        ("/proc/stat", |s| cpu_time(s).map(|m| vec![m])),
        ("/proc/meminfo", |s| memory(s).map(|m| vec![m])),
        ("/proc/loadavg", load_average),
        ("/proc/net/dev", |s| network(s).map(|m| vec![m])),
    ];
    for (i, (path, parse)) in sources.iter().enumerate() {
        match read(path).as_deref().map(parse) {
            Some(Some(m)) => out.extend(m),
            Some(None) => logged.once(i, path, "it does not parse"),
            None => logged.once(i, path, "it cannot be read"),
        }
    }
    match filesystem(data) {
        Some(m) => out.push(m),
        None => logged.once(4, &data.display().to_string(), "statvfs failed"),
    }
    out
}

/// `system.cpu.time` from the aggregate `cpu` line of `/proc/stat`.
fn cpu_time(stat: &str) -> Option<Metric> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let n: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    if n.len() < 8 {
        return None;
    }
    #[allow(clippy::cast_precision_loss)]
    let s = |ticks: u64| Value::Double(ticks as f64 / USER_HZ);
    let modes = [
        ("user", n[0]),
        ("nice", n[1]),
        ("system", n[2]),
        ("idle", n[3]),
        ("iowait", n[4]),
        ("interrupt", n[5].saturating_add(n[6])),
        ("steal", n[7]),
    ];
    Some(Metric {
        name: "system.cpu.time",
        unit: "s",
        kind: Kind::Sum { monotonic: true },
        points: modes
            .iter()
            .map(|(m, t)| (vec![("cpu.mode", (*m).to_owned())], s(*t)))
            .collect(),
    })
}

/// `system.memory.usage` from `/proc/meminfo` (as `hostmetrics` counts:
/// cached includes `SReclaimable`; used is what is left).
fn memory(meminfo: &str) -> Option<Metric> {
    let kb = |key: &str| -> Option<u64> {
        meminfo.lines().find_map(|l| {
            let rest = l.strip_prefix(key)?.strip_prefix(':')?;
            rest.split_whitespace().next()?.parse::<u64>().ok()
        })
    };
    let total = kb("MemTotal")?;
    let free = kb("MemFree")?;
    let buffered = kb("Buffers")?;
    let cached = kb("Cached")?.saturating_add(kb("SReclaimable").unwrap_or(0));
    let used = total
        .saturating_sub(free)
        .saturating_sub(buffered)
        .saturating_sub(cached);
    let states = [
        ("used", used),
        ("free", free),
        ("cached", cached),
        ("buffered", buffered),
    ];
    Some(Metric {
        name: "system.memory.usage",
        unit: "By",
        kind: Kind::Sum { monotonic: false },
        points: states
            .iter()
            .map(|(s, v)| {
                (
                    vec![("system.memory.state", (*s).to_owned())],
                    Value::Int(v.saturating_mul(1024)),
                )
            })
            .collect(),
    })
}

/// `system.cpu.load_average.{1m,5m,15m}` from `/proc/loadavg`.
fn load_average(loadavg: &str) -> Option<Vec<Metric>> {
    let v: Vec<f64> = loadavg
        .split_whitespace()
        .take(3)
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    let names = [
        "system.cpu.load_average.1m",
        "system.cpu.load_average.5m",
        "system.cpu.load_average.15m",
    ];
    (v.len() == 3 && v.iter().all(|x| x.is_finite() && *x >= 0.0)).then(|| {
        names
            .iter()
            .zip(v)
            .map(|(name, x)| Metric {
                name,
                unit: "{thread}",
                kind: Kind::Gauge,
                points: vec![(Vec::new(), Value::Double(x))],
            })
            .collect()
    })
}

/// `system.network.io` from `/proc/net/dev`: received and transmitted
/// bytes of the first [`MAX_INTERFACES`] interfaces but `lo`.
fn network(dev: &str) -> Option<Metric> {
    let mut points = Vec::new();
    let mut any = false;
    for line in dev.lines().skip(2) {
        let (name, rest) = line.split_once(':')?;
        let name = name.trim();
        let n: Vec<u64> = rest
            .split_whitespace()
            .map(str::parse)
            .collect::<Result<_, _>>()
            .ok()?;
        let (Some(rx), Some(tx)) = (n.first(), n.get(8)) else {
            return None;
        };
        any = true;
        if name == "lo" || name.is_empty() || name.len() > 64 {
            continue;
        }
        if points.len() >= 2 * MAX_INTERFACES {
            break;
        }
        for (direction, v) in [("receive", *rx), ("transmit", *tx)] {
            points.push((
                vec![
                    ("network.io.direction", direction.to_owned()),
                    ("system.device", name.to_owned()),
                ],
                Value::Int(v),
            ));
        }
    }
    any.then_some(Metric {
        name: "system.network.io",
        unit: "By",
        kind: Kind::Sum { monotonic: true },
        points,
    })
}

/// `system.filesystem.usage` of the filesystem holding `data`.
fn filesystem(data: &Path) -> Option<Metric> {
    let st = rustix::fs::statvfs(data).ok()?;
    let (device, mountpoint) = read("/proc/self/mountinfo")
        .and_then(|m| mount_of(&m, data))
        .unwrap_or_else(|| (String::new(), PathBuf::from("/")));
    let frsize = st.f_frsize;
    let used = st
        .f_blocks
        .saturating_sub(st.f_bfree)
        .saturating_mul(frsize);
    let free = st.f_bavail.saturating_mul(frsize);
    let reserved = st
        .f_bfree
        .saturating_sub(st.f_bavail)
        .saturating_mul(frsize);
    let mountpoint = mountpoint.display().to_string();
    Some(Metric {
        name: "system.filesystem.usage",
        unit: "By",
        kind: Kind::Sum { monotonic: false },
        points: [("used", used), ("free", free), ("reserved", reserved)]
            .iter()
            .map(|(s, v)| {
                (
                    vec![
                        ("system.device", device.clone()),
                        ("system.filesystem.mountpoint", mountpoint.clone()),
                        ("system.filesystem.state", (*s).to_owned()),
                    ],
                    Value::Int(*v),
                )
            })
            .collect(),
    })
}

/// The device and mount point of the longest mount in `mountinfo` holding
/// `path`.
fn mount_of(mountinfo: &str, path: &Path) -> Option<(String, PathBuf)> {
    mountinfo
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let mount = PathBuf::from(unescape(f.get(4)?));
            let sep = f.iter().position(|x| *x == "-")?;
            let device = unescape(f.get(sep + 2)?);
            path.starts_with(&mount).then_some((device, mount))
        })
        .max_by_key(|(_, m)| m.as_os_str().len())
}

/// A `mountinfo` field with its octal escapes (`\040` …) undone.
fn unescape(field: &str) -> String {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let code = b.get(i + 1..i + 4).and_then(|d| {
            std::str::from_utf8(d)
                .ok()
                .and_then(|d| u8::from_str_radix(d, 8).ok())
        });
        match (b[i], code) {
            (b'\\', Some(c)) => {
                out.push(c);
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One `ExportMetricsServiceRequest`: one resource (`resource`), one scope
/// (`edged`), `metrics` measured at `now`, sums counted since `start`.
fn encode(resource: &[(String, String)], metrics: &[Metric], now: u64, start: u64) -> Vec<u8> {
    let mut res = Vec::new();
    for (k, v) in resource {
        wire::put_len(&mut res, 1, &wire::key_value(k, v));
    }
    let mut scope = Vec::new();
    wire::put_len(&mut scope, 1, b"edged");
    wire::put_len(&mut scope, 2, env!("CARGO_PKG_VERSION").as_bytes());
    let mut scope_metrics = Vec::new();
    wire::put_len(&mut scope_metrics, 1, &scope);
    for m in metrics {
        wire::put_len(&mut scope_metrics, 2, &metric(m, now, start));
    }
    let mut entry = Vec::new();
    wire::put_len(&mut entry, 1, &res);
    wire::put_len(&mut entry, 2, &scope_metrics);
    let mut out = Vec::new();
    wire::put_len(&mut out, 1, &entry);
    out
}

/// A `Metric` message.
fn metric(m: &Metric, now: u64, start: u64) -> Vec<u8> {
    let mut data = Vec::new();
    for (attrs, v) in &m.points {
        let mut p = Vec::new();
        if matches!(m.kind, Kind::Sum { .. }) {
            wire::put_fixed64(&mut p, 2, start);
        }
        wire::put_fixed64(&mut p, 3, now);
        match v {
            Value::Double(x) => wire::put_fixed64(&mut p, 4, x.to_bits()),
            Value::Int(i) => wire::put_fixed64(&mut p, 6, *i),
        }
        for (k, val) in attrs {
            wire::put_len(&mut p, 7, &wire::key_value(k, val));
        }
        wire::put_len(&mut data, 1, &p);
    }
    let mut out = Vec::new();
    wire::put_len(&mut out, 1, m.name.as_bytes());
    wire::put_len(&mut out, 3, m.unit.as_bytes());
    match m.kind {
        Kind::Gauge => wire::put_len(&mut out, 5, &data),
        Kind::Sum { monotonic } => {
            wire::put_uint(&mut data, 2, CUMULATIVE);
            wire::put_uint(&mut data, 3, u64::from(monotonic));
            wire::put_len(&mut out, 7, &data);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "cpu  1000 20 300 40000 50 6 7 8 0 0\ncpu0 500 10 150 20000 25 3 3 4 0 0\nintr 1 2\nbtime 1700000000\n";
    const MEMINFO: &str = "MemTotal:        8000000 kB\nMemFree:         1000000 kB\nMemAvailable:    5000000 kB\nBuffers:          200000 kB\nCached:          2000000 kB\nSwapCached:            0 kB\nSReclaimable:     300000 kB\n";
    const NETDEV: &str = "Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    lo: 5000 50 0 0 0 0 0 0 5000 50 0 0 0 0 0 0\n  eth0: 123456 100 0 0 0 0 0 0 654321 90 0 0 0 0 0 0\n";

    fn point<'a>(m: &'a Metric, key: &str, value: &str) -> &'a Value {
        &m.points
            .iter()
            .find(|(a, _)| a.iter().any(|(k, v)| *k == key && v == value))
            .unwrap_or_else(|| panic!("no {key}={value} in {m:?}"))
            .1
    }

    #[test]
    fn cpu_time_is_read_in_seconds_by_mode() {
        let m = cpu_time(STAT).unwrap();
        assert_eq!(m.kind, Kind::Sum { monotonic: true });
        assert_eq!(point(&m, "cpu.mode", "user"), &Value::Double(10.0));
        assert_eq!(point(&m, "cpu.mode", "idle"), &Value::Double(400.0));
        assert_eq!(point(&m, "cpu.mode", "interrupt"), &Value::Double(0.13));
        assert_eq!(m.points.len(), 7);
        assert!(cpu_time("cpu  1 2 x\n").is_none());
        assert!(cpu_time("cpu  1 2 3\n").is_none());
        assert!(cpu_time("").is_none());
    }

    #[test]
    fn memory_states_add_up_to_the_total() {
        let m = memory(MEMINFO).unwrap();
        let kib = |s| match point(&m, "system.memory.state", s) {
            Value::Int(v) => *v / 1024,
            Value::Double(_) => panic!("not an int"),
        };
        assert_eq!(kib("free"), 1_000_000);
        assert_eq!(kib("cached"), 2_300_000);
        assert_eq!(kib("buffered"), 200_000);
        assert_eq!(kib("used"), 4_500_000);
        assert!(memory("MemTotal: 1 kB\n").is_none());
    }

    #[test]
    fn load_averages_are_three_gauges() {
        let m = load_average("0.50 1.25 2.00 1/300 4242\n").unwrap();
        assert_eq!(m.len(), 3);
        assert_eq!(m[1].name, "system.cpu.load_average.5m");
        assert_eq!(m[1].points[0].1, Value::Double(1.25));
        assert!(load_average("0.5 nan 1").is_none());
        assert!(load_average("0.5").is_none());
    }

    #[test]
    fn network_skips_lo_and_caps_the_interfaces() {
        let m = network(NETDEV).unwrap();
        assert_eq!(m.points.len(), 2);
        assert_eq!(
            point(&m, "network.io.direction", "receive"),
            &Value::Int(123_456)
        );
        assert_eq!(
            point(&m, "network.io.direction", "transmit"),
            &Value::Int(654_321)
        );
        assert!(
            !m.points
                .iter()
                .any(|(a, _)| a.iter().any(|(_, v)| v == "lo"))
        );
        let mut many = NETDEV.to_owned();
        for i in 0..40 {
            many.push_str(&format!("veth{i}: 1 0 0 0 0 0 0 0 2 0 0 0 0 0 0 0\n"));
        }
        assert_eq!(network(&many).unwrap().points.len(), 2 * MAX_INTERFACES);
        assert!(network("a\nb\neth0: x y\n").is_none());
    }

    #[test]
    fn the_data_folder_s_mount_is_the_longest_prefix() {
        let info = "22 1 8:1 / / rw - ext4 /dev/sda1 rw\n30 22 8:2 / /var/lib\\040x rw - xfs /dev/sdb1 rw\n31 22 0:5 / /var rw shared:1 - tmpfs tmpfs rw\n";
        let (dev, mount) = mount_of(info, Path::new("/var/lib x/edged")).unwrap();
        assert_eq!(
            (dev.as_str(), mount),
            ("/dev/sdb1", PathBuf::from("/var/lib x"))
        );
        let (dev, _) = mount_of(info, Path::new("/var/log")).unwrap();
        assert_eq!(dev, "tmpfs");
        let m = filesystem(Path::new("/")).unwrap();
        assert_eq!(m.points.len(), 3);
    }

    #[test]
    fn the_request_is_encoded_as_otlp_says() {
        let gauge = Metric {
            name: "g",
            unit: "1",
            kind: Kind::Gauge,
            points: vec![(vec![("k", "v".to_owned())], Value::Int(5))],
        };
        let now = 0x0102_0304_0506_0708_u64;
        let mut want = vec![0x0a, 0x01, b'g', 0x1a, 0x01, b'1', 0x2a, 0x1e, 0x0a, 0x1c];
        want.push(0x19); // time_unix_nano, fixed64
        want.extend_from_slice(&now.to_le_bytes());
        want.push(0x31); // as_int, sfixed64
        want.extend_from_slice(&5_u64.to_le_bytes());
        want.extend_from_slice(&[0x3a, 0x08, 0x0a, 0x01, b'k', 0x12, 0x03, 0x0a, 0x01, b'v']);
        assert_eq!(metric(&gauge, now, 0), want);
        let sum = Metric {
            kind: Kind::Sum { monotonic: true },
            points: vec![(Vec::new(), Value::Double(1.5))],
            ..gauge
        };
        let bytes = metric(&sum, now, 7);
        // A sum (field 7) whose point has a start time and a double, then
        // cumulative and monotonic.
        assert_eq!(bytes[6], 0x3a);
        assert!(
            bytes
                .windows(9)
                .any(|w| w[0] == 0x11 && w[1..] == 7_u64.to_le_bytes())
        );
        assert!(
            bytes
                .windows(9)
                .any(|w| w[0] == 0x21 && w[1..] == 1.5_f64.to_bits().to_le_bytes())
        );
        assert!(bytes.ends_with(&[0x10, 0x02, 0x18, 0x01]));
        let resource = vec![("edge.device.id".to_owned(), "edge-1".to_owned())];
        let body = encode(&resource, &[sum], now, 7);
        assert_eq!(
            wire::resource_attributes(&body).unwrap(),
            vec![resource.clone()]
        );
        assert_eq!(wire::check_device(&body, DEVICE, "edge-1"), Ok(1));
    }

    #[test]
    fn this_host_s_sources_parse() {
        let logged = Logged::default();
        let names: Vec<&str> = collect(Path::new("/"), &logged)
            .iter()
            .map(|m| m.name)
            .collect();
        for want in [
            "system.cpu.time",
            "system.memory.usage",
            "system.filesystem.usage",
        ] {
            assert!(names.contains(&want), "{names:?}");
        }
    }
}
