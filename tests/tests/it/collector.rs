//! The node's OpenTelemetry collector (Margo: a workload-hosting device runs
//! one and injects its endpoint into every workload), end to end with real
//! parts: a process workload using the real OpenTelemetry SDK, configured
//! only by the variables the node injected, emits a span and a metric; the
//! node stamps them with its and the deployment's resource attributes,
//! buffers them in `en.db` and forwards them over mTLS to its LO, which
//! exports them to an OTLP/HTTP sink (`tests/otel/sink.py`). Also: the
//! buffer survives `kill -9` while the LO exports nothing, overflows oldest
//! first, the receiver refuses what it must, a node cannot post as another,
//! and a wasm module sees the variables.

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use edge_tests::co::{Co, copy_tree, ok};
use edge_tests::en::En;
use edge_tests::fleet::{Fleet, deploy_to, fixture, fleet};
use edge_tests::lo::{Lo, Margo};
use edge_tests::otlp::{Sink, python};
use edge_tests::wait::until_or;

use crate::metrics::metrics_addr;

/// The probe: one span named `probe-span-<pid>` at start, then a counter
/// `probe.ticks` exported every second, all through the SDK's OTLP/HTTP
/// exporters with no endpoint of their own (they read the variables). Its
/// resource claims to be device `spoofed`; the node must replace that.
const PROBE: &str = r#"
import os, sys, time
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
print("endpoint " + os.environ.get("HTTP_OTEL_EXPORTER_OTLP_ENDPOINT", "none"), flush=True)
res = Resource.create({"service.name": "probe", "edge.device.id": "spoofed"})
tp = TracerProvider(resource=res)
tp.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter()))
reader = PeriodicExportingMetricReader(OTLPMetricExporter(), export_interval_millis=1000)
mp = MeterProvider(resource=res, metric_readers=[reader])
ticks = mp.get_meter("probe").create_counter("probe.ticks")
with tp.get_tracer("probe").start_as_current_span("probe-span-%d" % os.getpid()):
    ticks.add(1)
print("emitted %d" % os.getpid(), flush=True)
while True:
    ticks.add(1)
    time.sleep(1)
"#;

/// The `probe` app: hello-process running [`PROBE`] with the venv's Python.
fn probe_package(dir: &Path) -> PathBuf {
    let pkg = dir.join("probe");
    copy_tree(&fixture("hello-process"), &pkg);
    let script = pkg.join("components/hello.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nexec {} -u - <<'EOF'\n{PROBE}\nEOF\n",
            python().display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let yaml = std::fs::read_to_string(pkg.join("margo.yaml"))
        .unwrap()
        .replace("id: hello-process\n", "id: probe\n");
    std::fs::write(pkg.join("margo.yaml"), yaml).unwrap();
    pkg
}

/// The `env-wasm` app: hello-wasm whose module writes its whole environment
/// to standard output.
fn env_wasm_package(dir: &Path) -> PathBuf {
    let pkg = dir.join("env-wasm");
    copy_tree(&fixture("hello-wasm"), &pkg);
    std::fs::write(
        pkg.join("components/hello.wat"),
        r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $sizes (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get" (func $get (param i32 i32) (result i32)))
  (memory (export "memory") 2)
  (func (export "_start")
    (drop (call $sizes (i32.const 0) (i32.const 4)))
    (drop (call $get (i32.const 1024) (i32.const 8192)))
    (i32.store (i32.const 16) (i32.const 8192))
    (i32.store (i32.const 20) (i32.load (i32.const 4)))
    (drop (call $fd_write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 32)))))
"#,
    )
    .unwrap();
    let yaml = std::fs::read_to_string(pkg.join("margo.yaml"))
        .unwrap()
        .replace("id: hello-wasm\n", "id: env-wasm\n");
    std::fs::write(pkg.join("margo.yaml"), yaml).unwrap();
    pkg
}

/// The value of an unlabelled sample on a `/metrics` page.
fn sample(addr: &str, name: &str) -> Option<f64> {
    let page = reqwest::blocking::get(format!("http://{addr}/metrics"))
        .ok()?
        .text()
        .ok()?;
    page.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
}

/// The `otelCollector` the node last reported, as the CO has it.
fn reported_collector(co: &Co, device: &str) -> Option<bool> {
    let d: serde_json::Value = serde_json::from_str(&ok(
        &co.edgectl(&["co", "show", "device", device, "-o", "json"])
    ))
    .ok()?;
    d.get("capabilities")?
        .get("properties")?
        .get("otelCollector")?
        .as_bool()
}

/// What the probe wrote after `prefix` (its endpoint, its pid), once it has.
fn probe_line(en: &En, prefix: &str, log: impl Fn() -> String) -> Vec<String> {
    until_or(
        &format!("`{prefix}` in the probe's log"),
        || {
            let out = String::from_utf8_lossy(&en.edgectl(&["logs", "probe"]).stdout).into_owned();
            let found: Vec<String> = out
                .lines()
                .filter_map(|l| l.strip_prefix(prefix).map(str::to_owned))
                .collect();
            (!found.is_empty()).then_some(found)
        },
        log,
    )
}

/// The probe runs as root (`--run-as root`): the venv's interpreter may
/// live under a home folder other accounts cannot enter.
const AS_ROOT: [&str; 2] = ["--run-as", "root"];

/// `extra` and [`AS_ROOT`].
fn with_root<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut all = extra.to_vec();
    all.extend(AS_ROOT);
    all
}

fn probe_fleet() -> Fleet {
    let f = fleet();
    f.co.add_app(probe_package(f.dir.path()).to_str().unwrap());
    f
}

#[test]
fn a_workload_s_span_and_metric_reach_the_lo_s_exporter_stamped_by_the_node() {
    let f = probe_fleet();
    let sink = Sink::start();
    let lo = Lo::start(
        &f.lo_creds,
        &f.dir.path().join("lo"),
        &["--otlp-export", &sink.url],
    );
    let en = En::start(&f.d1, &f.dir.path().join("en"), &lo.url, &AS_ROOT);
    let log = || {
        format!(
            "--- EN\n{}\n--- LO\n{}\n--- SINK\n{}",
            en.log(),
            lo.log(),
            sink.log()
        )
    };
    let id = deploy_to(&f.co, "probe", "edge-1", &[]);
    let pid = probe_line(&en, "emitted ", log)[0].clone();
    let endpoint = probe_line(&en, "endpoint ", log)[0].clone();
    assert!(
        endpoint.starts_with("http://127.0.0.1:") && endpoint.contains("/w/"),
        "{endpoint}"
    );
    let want = |resource: &std::collections::BTreeMap<String, String>| {
        resource.get("edge.device.id").map(String::as_str) == Some("edge-1")
            && resource.get("edge.site").map(String::as_str) == Some("plant-1")
            && resource.get("edge.deployment.id") == Some(&id)
            && resource.get("edge.component").map(String::as_str) == Some("hello")
            && resource.get("service.name").map(String::as_str) == Some("probe")
    };
    let span = until_or(
        "the probe's span at the sink",
        || {
            sink.spans()
                .into_iter()
                .find(|s| s.name == format!("probe-span-{pid}"))
        },
        log,
    );
    assert!(want(&span.resource), "{:?}", span.resource);
    let metric = until_or(
        "the probe's metric at the sink",
        || sink.metrics().into_iter().find(|m| m.name == "probe.ticks"),
        log,
    );
    assert!(want(&metric.resource), "{:?}", metric.resource);
    // Every resource names edge-1 once: the workload's claim was replaced.
    assert!(
        sink.spans().iter().chain(std::iter::empty()).all(|s| s
            .resource
            .get("edge.device.id")
            .map(String::as_str)
            == Some("edge-1"))
    );
    assert!(
        sink.requests()
            .iter()
            .all(|r| !r.to_string().contains("spoofed")),
        "the workload's own edge.device.id reached the sink"
    );
    until_or(
        "otelCollector: true at the CO",
        || (reported_collector(&f.co, "edge-1") == Some(true)).then_some(()),
        log,
    );
}

#[test]
fn with_the_receiver_off_the_node_reports_no_collector_and_injects_nothing() {
    let f = probe_fleet();
    let lo = Lo::start(&f.lo_creds, &f.dir.path().join("lo"), &[]);
    let en = En::start(
        &f.d1,
        &f.dir.path().join("en"),
        &lo.url,
        &with_root(&["--otlp-listen", "off"]),
    );
    let log = || format!("--- EN\n{}\n--- LO\n{}", en.log(), lo.log());
    deploy_to(&f.co, "probe", "edge-1", &[]);
    assert_eq!(probe_line(&en, "endpoint ", log), ["none"]);
    until_or(
        "otelCollector: false at the CO",
        || (reported_collector(&f.co, "edge-1") == Some(false)).then_some(()),
        log,
    );
}

#[test]
fn telemetry_kept_through_kill_9_arrives_once_the_lo_exports() {
    let f = probe_fleet();
    let lo_data = f.dir.path().join("lo");
    let en_data = f.dir.path().join("en");
    // An LO that exports nothing: it refuses, the node keeps.
    let lo = Lo::start(&f.lo_creds, &lo_data, &[]);
    let en = En::start(
        &f.d1,
        &en_data,
        &lo.url,
        &with_root(&["--metrics-listen", "127.0.0.1:0"]),
    );
    let log = || format!("--- EN\n{}\n--- LO\n{}", en.log(), lo.log());
    deploy_to(&f.co, "probe", "edge-1", &[]);
    let first = probe_line(&en, "emitted ", log)[0].clone();
    let metrics = metrics_addr(&en.log());
    until_or(
        "telemetry buffered at the node",
        || {
            (sample(&metrics, "edged_en_otlp_received_total")? >= 2.0
                && sample(&metrics, "edged_en_otlp_buffer_bytes")? > 0.0)
                .then_some(())
        },
        log,
    );
    assert_eq!(sample(&metrics, "edged_en_otlp_forwarded_total"), Some(0.0));
    en.kill();
    drop(lo);
    edge_tests::en::end_leftovers(&en_data);

    // The path back: an LO that exports, the node started again.
    let sink = Sink::start();
    let lo = Lo::start(&f.lo_creds, &lo_data, &["--otlp-export", &sink.url]);
    let en = En::start(&f.d1, &en_data, &lo.url, &AS_ROOT);
    let log = || {
        format!(
            "--- EN\n{}\n--- LO\n{}\n--- SINK\n{}",
            en.log(),
            lo.log(),
            sink.log()
        )
    };
    let span = until_or(
        "the span of the probe's first run at the sink",
        || {
            sink.spans()
                .into_iter()
                .find(|s| s.name == format!("probe-span-{first}"))
        },
        log,
    );
    assert_eq!(
        span.resource.get("edge.device.id").map(String::as_str),
        Some("edge-1")
    );
    let n = sink
        .spans()
        .iter()
        .filter(|s| s.name == format!("probe-span-{first}"))
        .count();
    assert_eq!(n, 1, "the kept span arrived more than once");
}

#[test]
fn a_full_buffer_drops_the_oldest_and_counts_them() {
    let f = probe_fleet();
    let lo = Lo::start(&f.lo_creds, &f.dir.path().join("lo"), &[]);
    let en = En::start(
        &f.d1,
        &f.dir.path().join("en"),
        &lo.url,
        &with_root(&[
            "--metrics-listen",
            "127.0.0.1:0",
            "--otlp-buffer-max-bytes",
            "2048",
        ]),
    );
    let log = || format!("--- EN\n{}\n--- LO\n{}", en.log(), lo.log());
    deploy_to(&f.co, "probe", "edge-1", &[]);
    let metrics = metrics_addr(&en.log());
    let (received, dropped) = until_or(
        "requests dropped from the full buffer",
        || {
            let dropped = sample(&metrics, "edged_en_otlp_dropped_total")?;
            (dropped >= 2.0).then_some((sample(&metrics, "edged_en_otlp_received_total")?, dropped))
        },
        log,
    );
    assert!(received > dropped, "received {received}, dropped {dropped}");
    let bytes = sample(&metrics, "edged_en_otlp_buffer_bytes").unwrap();
    assert!(bytes > 0.0 && bytes <= 2048.0, "{bytes} bytes buffered");
    assert!(
        en.log().contains("the telemetry buffer is full"),
        "{}",
        en.log()
    );
}

/// An export request of one resource with string attributes `attrs`.
fn request(attrs: &[(&str, &str)]) -> Vec<u8> {
    fn len(out: &mut Vec<u8>, field: u8, payload: &[u8]) {
        out.push(field << 3 | 2);
        let mut n = payload.len();
        while n >= 0x80 {
            out.push(u8::try_from(n & 0x7f).unwrap() | 0x80);
            n >>= 7;
        }
        out.push(u8::try_from(n).unwrap());
        out.extend_from_slice(payload);
    }
    let mut resource = Vec::new();
    for (k, v) in attrs {
        let mut any = Vec::new();
        len(&mut any, 1, v.as_bytes());
        let mut kv = Vec::new();
        len(&mut kv, 1, k.as_bytes());
        len(&mut kv, 2, &any);
        len(&mut resource, 1, &kv);
    }
    let mut entry = Vec::new();
    len(&mut entry, 1, &resource);
    let mut out = Vec::new();
    len(&mut out, 1, &entry);
    out
}

fn post(url: &str, headers: &[(&str, &str)], body: Vec<u8>) -> (u16, Option<String>) {
    let mut req = reqwest::blocking::Client::new().post(url).body(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.send().unwrap();
    let retry = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (r.status().as_u16(), retry)
}

#[test]
fn the_receiver_and_the_lo_refuse_what_they_must() {
    let f = probe_fleet();
    let lo = Lo::start(&f.lo_creds, &f.dir.path().join("lo"), &[]);
    let en = En::start(
        &f.d1,
        &f.dir.path().join("en"),
        &lo.url,
        &with_root(&["--metrics-listen", "127.0.0.1:0"]),
    );
    let log = || format!("--- EN\n{}\n--- LO\n{}", en.log(), lo.log());
    deploy_to(&f.co, "probe", "edge-1", &[]);
    let endpoint = probe_line(&en, "endpoint ", log)[0].clone();
    let metrics = metrics_addr(&en.log());
    // Wait for the probe's own requests, then count from there.
    until_or(
        "the probe's requests",
        || (sample(&metrics, "edged_en_otlp_received_total")? >= 1.0).then_some(()),
        log,
    );
    let pb = [("content-type", "application/x-protobuf")];
    let good = request(&[("service.name", "x")]);
    let base = endpoint.rsplit_once("/w/").unwrap().0.to_owned();
    assert_eq!(
        post(&format!("{endpoint}/v1/traces"), &pb, good.clone()).0,
        200
    );
    // Unknown or absent token, unknown signal.
    assert_eq!(
        post(
            &format!("{base}/w/0123456789abcdef0123456789abcdef/v1/traces"),
            &pb,
            good.clone()
        )
        .0,
        403
    );
    assert_eq!(post(&format!("{base}/v1/traces"), &pb, good.clone()).0, 404);
    assert_eq!(
        post(&format!("{endpoint}/v1/profiles"), &pb, good.clone()).0,
        404
    );
    // JSON and unknown encodings are not taken.
    assert_eq!(
        post(
            &format!("{endpoint}/v1/traces"),
            &[("content-type", "application/json")],
            b"{}".to_vec()
        )
        .0,
        415
    );
    assert_eq!(
        post(
            &format!("{endpoint}/v1/traces"),
            &[pb[0], ("content-encoding", "br")],
            good.clone()
        )
        .0,
        415
    );
    // Gzip is.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&good).unwrap();
    assert_eq!(
        post(
            &format!("{endpoint}/v1/logs"),
            &[pb[0], ("content-encoding", "gzip")],
            gz.finish().unwrap()
        )
        .0,
        200
    );
    let before = until_or(
        "a steady count",
        || sample(&metrics, "edged_en_otlp_received_total"),
        log,
    );
    let stored = |what: &str, url: &str, headers: &[(&str, &str)], body: Vec<u8>, want: u16| {
        let got = post(url, headers, body).0;
        assert_eq!(got, want, "{what}");
    };
    // Garbage, oversize, and a gzip bomb: refused, nothing stored.
    stored(
        "garbage",
        &format!("{endpoint}/v1/traces"),
        &pb,
        b"\x0a\xff\xff\xff\x0fnot protobuf".to_vec(),
        400,
    );
    stored(
        "oversize",
        &format!("{endpoint}/v1/traces"),
        &pb,
        vec![0; 5 * 1024 * 1024],
        413,
    );
    let mut bomb = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    bomb.write_all(&vec![0; 64 * 1024 * 1024]).unwrap();
    let bomb = bomb.finish().unwrap();
    assert!(bomb.len() < 1024 * 1024);
    stored(
        "gzip bomb",
        &format!("{endpoint}/v1/metrics"),
        &[pb[0], ("content-encoding", "gzip")],
        bomb,
        413,
    );
    stored(
        "bad gzip",
        &format!("{endpoint}/v1/metrics"),
        &[pb[0], ("content-encoding", "gzip")],
        b"not gzip".to_vec(),
        400,
    );
    let after = sample(&metrics, "edged_en_otlp_received_total").unwrap();
    // Only the probe's own (one a second at most) came in meanwhile.
    assert!(after - before < 30.0, "{before} → {after}");
    // Nothing refused is in the buffer: no garbage, nothing large.
    let db = rusqlite::Connection::open_with_flags(
        en.data.join("en.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let (rows, garbage, largest): (i64, i64, i64) = db
        .query_row(
            "SELECT count(*), COALESCE(SUM(instr(body, CAST('not protobuf' AS BLOB)) > 0), 0),
                    COALESCE(MAX(length(body)), 0) FROM otlp_buffer",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert!(rows >= 2, "the taken requests are kept: {rows}");
    assert_eq!(garbage, 0, "a refused body was stored");
    assert!(largest < 64 * 1024, "a {largest}-byte body was stored");

    // At the LO: edge-2 posting edge-1's telemetry is refused, and so is
    // garbage; its own is refused only because the LO exports nothing.
    let m = Margo::new(&f.d2, &lo.url, "plant-1");
    let as_other = request(&[("edge.device.id", "edge-1")]);
    let own = request(&[("edge.device.id", "edge-2")]);
    let r = m
        .send("POST", "/x-edgectl/v1/otlp/traces", &[], Some(as_other))
        .unwrap();
    assert_eq!(r.status, 503, "no exporter: refused before anything else");
    let sink = Sink::start();
    drop(lo);
    let lo = Lo::start(
        &f.lo_creds,
        &f.dir.path().join("lo"),
        &["--otlp-export", &sink.url],
    );
    let m = Margo::new(&f.d2, &lo.url, "plant-1");
    let send = |body: Vec<u8>| {
        m.send("POST", "/x-edgectl/v1/otlp/traces", &[], Some(body))
            .unwrap()
    };
    assert_eq!(send(request(&[("edge.device.id", "edge-1")])).status, 403);
    assert_eq!(send(request(&[("service.name", "x")])).status, 403);
    assert_eq!(send(b"\x0a\x05ab".to_vec()).status, 400);
    let r = send(own);
    assert_eq!(r.status, 200, "{}", r.problem());
    let lo_creds = Margo::new(&f.lo_creds, &lo.url, "plant-1");
    let r = lo_creds
        .send(
            "POST",
            "/x-edgectl/v1/otlp/traces",
            &[],
            Some(request(&[("edge.device.id", "edge-2")])),
        )
        .unwrap();
    assert_eq!(r.status, 403, "an LO's certificate is not a device");
    until_or(
        "edge-2's own request at the sink",
        || {
            sink.requests()
                .iter()
                .any(|r| r.to_string().contains("edge-2"))
                .then_some(())
        },
        || format!("--- LO\n{}\n--- SINK\n{}", lo.log(), sink.log()),
    );
    assert!(
        !sink
            .requests()
            .iter()
            .any(|r| r.to_string().contains("\"edge-1\"") && r.to_string().contains("\"x\"")),
        "a refused request was exported"
    );
}

#[test]
fn a_wasm_module_sees_the_collector_variables() {
    let f = fleet();
    f.co.add_app(env_wasm_package(f.dir.path()).to_str().unwrap());
    let lo = Lo::start(&f.lo_creds, &f.dir.path().join("lo"), &[]);
    let en = En::start(&f.d1, &f.dir.path().join("en"), &lo.url, &[]);
    let log = || format!("--- EN\n{}\n--- LO\n{}", en.log(), lo.log());
    let id = deploy_to(&f.co, "env-wasm", "edge-1", &[]);
    let out = until_or(
        "the module's environment in its log",
        || {
            let out =
                String::from_utf8_lossy(&en.edgectl(&["logs", "env-wasm"]).stdout).into_owned();
            out.contains("OTEL_RESOURCE_ATTRIBUTES").then_some(out)
        },
        log,
    );
    let vars: Vec<&str> = out.split(['\0', '\n']).collect();
    let get = |k: &str| {
        vars.iter()
            .find_map(|v| v.strip_prefix(&format!("{k}=")))
            .unwrap_or_else(|| panic!("no {k} in {out:?}"))
    };
    let endpoint = get("HTTP_OTEL_EXPORTER_OTLP_ENDPOINT");
    assert!(
        endpoint.starts_with("http://127.0.0.1:") && endpoint.contains("/w/"),
        "{endpoint}"
    );
    assert_eq!(get("OTEL_EXPORTER_OTLP_ENDPOINT"), endpoint);
    assert_eq!(get("OTEL_EXPORTER_OTLP_PROTOCOL"), "http/protobuf");
    assert_eq!(
        get("OTEL_RESOURCE_ATTRIBUTES"),
        format!(
            "edge.device.id=edge-1,edge.site=plant-1,edge.deployment.id={id},edge.component=hello"
        )
    );
    // Its endpoint takes a request for it.
    let (code, _) = post(
        &format!("{endpoint}/v1/logs"),
        &[("content-type", "application/x-protobuf")],
        request(&[]),
    );
    assert_eq!(code, 200);
}

/// The node's own host metrics (Margo: "host metrics MUST be collected")
/// reach the LO's exporter every `--host-metrics-interval`, under the
/// node's resource attributes, with sane values.
#[test]
fn host_metrics_reach_the_lo_s_exporter_under_the_node_s_resource() {
    let f = fleet();
    let sink = Sink::start();
    let lo = Lo::start(
        &f.lo_creds,
        &f.dir.path().join("lo"),
        &["--otlp-export", &sink.url],
    );
    let en = En::start(
        &f.d1,
        &f.dir.path().join("en"),
        &lo.url,
        &["--host-metrics-interval", "1"],
    );
    let log = || {
        format!(
            "--- EN\n{}\n--- LO\n{}\n--- SINK\n{}",
            en.log(),
            lo.log(),
            sink.log()
        )
    };
    let wanted = [
        "system.cpu.time",
        "system.memory.usage",
        "system.filesystem.usage",
    ];
    let found = until_or(
        "the node's host metrics at the sink",
        || {
            let all = sink.metrics();
            let found: Vec<_> = wanted
                .iter()
                .filter_map(|w| all.iter().find(|m| m.name == *w).cloned())
                .collect();
            (found.len() == wanted.len()).then_some(found)
        },
        log,
    );
    for m in &found {
        assert_eq!(
            m.resource.get("edge.device.id").map(String::as_str),
            Some("edge-1"),
            "{m:?}"
        );
        assert_eq!(
            m.resource.get("edge.site").map(String::as_str),
            Some("plant-1"),
            "{m:?}"
        );
        assert_eq!(
            m.resource.get("service.name").map(String::as_str),
            Some("edged-en"),
            "{m:?}"
        );
    }
    // Memory in use is above zero; the sum is not monotonic. Values are
    // int64, which the protobuf JSON mapping writes as strings.
    let memory = &found[1].raw["sum"];
    assert_eq!(memory["isMonotonic"].as_bool(), None, "{memory}");
    let used: u64 = memory["dataPoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["attributes"].to_string().contains("\"used\""))
        .and_then(|p| p["asInt"].as_str())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no used memory in {memory}"));
    assert!(used > 0, "{memory}");
    let cpu = &found[0].raw["sum"];
    assert_eq!(cpu["isMonotonic"].as_bool(), Some(true), "{cpu}");
    assert_eq!(
        cpu["aggregationTemporality"].as_str(),
        Some("AGGREGATION_TEMPORALITY_CUMULATIVE"),
        "{cpu}"
    );
    let fs = found[2].raw["sum"]["dataPoints"].to_string();
    assert!(fs.contains("system.filesystem.mountpoint"), "{fs}");
}

/// A compose app of two services whose compose file names none of the
/// collector's variables (one sets Margo's endpoint itself): both services
/// get all of them from the node, its own value replaced, while the
/// `greeting` parameter still reaches `${GREETING}`. And a container on
/// podman's default network (where container workloads run) reaches the
/// receiver at that endpoint: it posts a small OTLP logs request there with
/// busybox `wget`, which the node receives.
#[test]
fn every_compose_service_gets_the_collector_variables() {
    use edge_tests::podman::{BUSYBOX, Podman};
    let podman = Podman::setup();
    let f = fleet();
    let pkg = f.dir.path().join("otel-compose");
    copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/packages/hello-compose"),
        &pkg,
    );
    let yaml = std::fs::read_to_string(pkg.join("margo.yaml"))
        .unwrap()
        .replace("id: hello-compose\n", "id: otel-compose\n");
    std::fs::write(pkg.join("margo.yaml"), yaml).unwrap();
    let sleep = r#"command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]"#;
    // An ExportLogsServiceRequest of one ResourceLogs whose resource has
    // `a=b`, printed by busybox `printf` (busybox `wget` stops at a NUL).
    assert_eq!(
        request(&[("a", "b")]),
        b"\n\x0c\n\n\n\x08\n\x01a\x12\x03\n\x01b"
    );
    let post = "printf '\\n\\014\\n\\n\\n\\010\\n\\001a\\022\\003\\n\\001b' > /b && wget -q -O /dev/null --header 'Content-Type: application/x-protobuf' --post-file /b \"$E/v1/logs\" && echo posted";
    std::fs::write(
        pkg.join("components/hello/compose.yaml"),
        format!(
            "services:\n  front:\n    image: {BUSYBOX}\n    {sleep}\n    environment:\n      - GREETING=${{GREETING:-hello}}\n      - HTTP_OTEL_EXPORTER_OTLP_ENDPOINT=mine\n  back:\n    image: {BUSYBOX}\n    {sleep}\n"
        ),
    )
    .unwrap();
    f.co.add_app(pkg.to_str().unwrap());
    let lo = Lo::start(&f.lo_creds, &f.dir.path().join("lo"), &[]);
    let data = f.dir.path().join("en");
    let en = En::start_with_env(
        &f.d1,
        &data,
        &lo.url,
        &["--metrics-listen", "127.0.0.1:0"],
        &[("CONTAINERS_CONF", &podman.conf)],
    );
    let log = || format!("--- EN\n{}\n--- LO\n{}", en.log(), lo.log());
    let id = deploy_to(
        &f.co,
        "otel-compose",
        "edge-1",
        &["--set", "greeting=from plant one"],
    );
    edge_tests::fleet::wait_state(&f.co, &id, "installed", log);
    let short: String = id.chars().filter(char::is_ascii_hexdigit).take(8).collect();
    let project = format!("com.docker.compose.project=edged-{short}-hello");
    let names = podman.names(&project);
    assert_eq!(names.len(), 2, "{names:?}\n{}", log());
    let mut endpoints = Vec::new();
    for name in &names {
        let env = podman.run(&[
            "inspect",
            "--format",
            "{{range .Config.Env}}{{println .}}{{end}}",
            name,
        ]);
        let get = |k: &str| {
            env.lines()
                .find_map(|l| l.strip_prefix(&format!("{k}=")))
                .unwrap_or_else(|| panic!("no {k} in {name}: {env}"))
                .to_owned()
        };
        let endpoint = get("HTTP_OTEL_EXPORTER_OTLP_ENDPOINT");
        assert!(
            endpoint.starts_with("http://host.containers.internal:") && endpoint.contains("/w/"),
            "{name}: {endpoint}"
        );
        assert_eq!(get("OTEL_EXPORTER_OTLP_ENDPOINT"), endpoint);
        assert_eq!(get("OTEL_EXPORTER_OTLP_PROTOCOL"), "http/protobuf");
        assert_eq!(
            get("OTEL_RESOURCE_ATTRIBUTES"),
            format!(
                "edge.device.id=edge-1,edge.site=plant-1,edge.deployment.id={id},edge.component=hello"
            )
        );
        if name.contains("front") {
            assert_eq!(get("GREETING"), "from plant one");
        }
        endpoints.push(endpoint);
    }
    assert_eq!(endpoints[0], endpoints[1], "one token per component");
    let metrics = metrics_addr(&en.log());
    assert_eq!(sample(&metrics, "edged_en_otlp_received_total"), Some(0.0));
    let env = format!("E={}", endpoints[0]);
    let out = podman.run(&["run", "--rm", "-e", &env, BUSYBOX, "sh", "-c", post]);
    assert!(out.contains("posted"), "{out}");
    assert_eq!(sample(&metrics, "edged_en_otlp_received_total"), Some(1.0));
    ok(&f.co.edgectl(&["co", "undeploy", &id]));
    until_or(
        "removed",
        || edge_tests::fleet::row(&en, &id).is_none().then_some(()),
        log,
    );
    assert!(podman.names(&project).is_empty(), "nothing left running");
    drop(en);
    podman.clean(&data);
}
