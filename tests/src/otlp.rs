//! An OTLP receiving end for the observability scenarios: `tests/otel/sink.py`
//! (the opentelemetry-proto definitions from PyPI, installed by `scripts/test`
//! into `target/otel-venv`) run on loopback, port 0. It decodes every
//! OTLP/HTTP protobuf request it takes and records it; [`Sink::spans`],
//! [`Sink::metrics`] and [`Sink::logs`] flatten that record into one item per
//! span, data point series or log record, each with its resource's attributes,
//! so a scenario asserts on what arrived and from whom. [`python`] is the
//! venv's interpreter, for process workloads that emit through the real SDK.
//! Dropping a [`Sink`] kills the process.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use crate::co::{Daemon, repo_root};

/// The venv's Python, where the OpenTelemetry SDK and protobuf definitions
/// are (`tests/otel/requirements.txt`).
///
/// # Panics
/// When the venv is missing: `scripts/test` makes it.
#[must_use]
pub fn python() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| repo_root().join("target"), PathBuf::from);
    let python = target.join("otel-venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: scripts/test makes it (python3 -m venv target/otel-venv && \
         target/otel-venv/bin/pip install -r tests/otel/requirements.txt)",
        python.display()
    );
    python
}

/// A running `sink.py`.
pub struct Sink {
    /// `http://127.0.0.1:PORT`: the base an OTLP exporter appends
    /// `/v1/traces`, `/v1/metrics` or `/v1/logs` to.
    pub url: String,
    out: PathBuf,
    _dir: tempfile::TempDir,
    daemon: Daemon,
}

/// One span as it arrived.
#[derive(Debug, Clone)]
pub struct Span {
    /// Its resource's attributes (`service.name`, …), values as strings.
    pub resource: BTreeMap<String, String>,
    /// Its own attributes, values as strings.
    pub attributes: BTreeMap<String, String>,
    /// The span's name.
    pub name: String,
    /// Hex, 32 digits.
    pub trace_id: String,
    /// Hex, 16 digits.
    pub span_id: String,
    /// Hex, 16 digits; empty for a root span.
    pub parent_span_id: String,
    /// The whole decoded span.
    pub raw: Value,
}

/// One metric (all its data points) as it arrived.
#[derive(Debug, Clone)]
pub struct Metric {
    /// Its resource's attributes, values as strings.
    pub resource: BTreeMap<String, String>,
    /// The metric's name.
    pub name: String,
    /// The whole decoded metric (`sum`, `gauge`, `histogram`, … with points).
    pub raw: Value,
}

/// One log record as it arrived.
#[derive(Debug, Clone)]
pub struct LogRecord {
    /// Its resource's attributes, values as strings.
    pub resource: BTreeMap<String, String>,
    /// The body, as a string when it is one.
    pub body: String,
    /// The whole decoded record.
    pub raw: Value,
}

impl Sink {
    /// Start a sink.
    ///
    /// # Panics
    /// When it does not start.
    #[must_use]
    pub fn start() -> Sink {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
        let out = dir.path().join("otlp.jsonl");
        let mut cmd = Command::new(python());
        cmd.arg(repo_root().join("tests/otel/sink.py"))
            .arg("--out")
            .arg(&out);
        let (daemon, url) = Daemon::spawn(cmd, "otlp sink listening on ");
        Sink {
            url,
            out,
            _dir: dir,
            daemon,
        }
    }

    /// Every request recorded so far, in arrival order.
    ///
    /// # Panics
    /// When the record does not read or a line is not JSON.
    #[must_use]
    pub fn requests(&self) -> Vec<Value> {
        let text = match std::fs::read_to_string(&self.out) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => panic!("cannot read {}: {e}", self.out.display()),
        };
        text.lines()
            .filter(|l| l.ends_with('}'))
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }

    /// Requests that did not decode (each with its `error`).
    #[must_use]
    pub fn rejected(&self) -> Vec<Value> {
        self.requests()
            .into_iter()
            .filter(|r| r.get("error").is_some())
            .collect()
    }

    /// Every span received so far.
    #[must_use]
    pub fn spans(&self) -> Vec<Span> {
        let mut spans = Vec::new();
        for (resource, item) in self.items("traces", "resourceSpans", "scopeSpans", "spans") {
            spans.push(Span {
                resource,
                attributes: attributes(item.get("attributes")),
                name: text(&item, "name"),
                trace_id: hex(&item, "traceId"),
                span_id: hex(&item, "spanId"),
                parent_span_id: hex(&item, "parentSpanId"),
                raw: item,
            });
        }
        spans
    }

    /// Every metric received so far.
    #[must_use]
    pub fn metrics(&self) -> Vec<Metric> {
        self.items("metrics", "resourceMetrics", "scopeMetrics", "metrics")
            .into_iter()
            .map(|(resource, item)| Metric {
                resource,
                name: text(&item, "name"),
                raw: item,
            })
            .collect()
    }

    /// Every log record received so far.
    #[must_use]
    pub fn logs(&self) -> Vec<LogRecord> {
        self.items("logs", "resourceLogs", "scopeLogs", "logRecords")
            .into_iter()
            .map(|(resource, item)| LogRecord {
                resource,
                body: item
                    .pointer("/body/stringValue")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                raw: item,
            })
            .collect()
    }

    /// The sink's stderr, for a failing scenario's message.
    #[must_use]
    pub fn log(&self) -> String {
        self.daemon.log()
    }

    fn items(
        &self,
        signal: &str,
        resources: &str,
        scopes: &str,
        leaves: &str,
    ) -> Vec<(BTreeMap<String, String>, Value)> {
        let mut out = Vec::new();
        for request in self.requests() {
            if request.get("signal").and_then(Value::as_str) != Some(signal) {
                continue;
            }
            let Some(body) = request.get("body") else {
                continue;
            };
            for resource in list(body, resources) {
                let attrs = attributes(resource.pointer("/resource/attributes"));
                for scope in list(resource, scopes) {
                    for leaf in list(scope, leaves) {
                        out.push((attrs.clone(), leaf.clone()));
                    }
                }
            }
        }
        out
    }
}

fn list<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn text(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// protobuf's JSON mapping writes `bytes` as base64; OTLP ids are read as hex.
fn hex(v: &Value, key: &str) -> String {
    let b64 = text(v, key);
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = String::new();
    for c in b64.bytes() {
        let d = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => continue,
        };
        bits = (bits << 6) | u32::from(d);
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push_str(&format!("{:02x}", (bits >> n) & 0xff));
        }
    }
    out
}

/// OTLP `KeyValue`s as a map, every value written as a string.
fn attributes(v: Option<&Value>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for kv in v.and_then(Value::as_array).map_or(&[][..], Vec::as_slice) {
        let key = text(kv, "key");
        let value = kv.get("value").map_or_else(String::new, |v| {
            v.get("stringValue").and_then(Value::as_str).map_or_else(
                || {
                    v.as_object()
                        .and_then(|o| o.values().next())
                        .map_or_else(String::new, |x| {
                            x.as_str().map_or_else(|| x.to_string(), str::to_owned)
                        })
                },
                str::to_owned,
            )
        });
        out.insert(key, value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kit against the real SDK: a span and a counter sent by
    /// opentelemetry-sdk's OTLP/HTTP exporter arrive decoded, with the
    /// resource attributes the standard variable gave.
    #[test]
    fn the_sdk_exports_to_the_sink_and_it_decodes() {
        let sink = Sink::start();
        let script = r#"
from opentelemetry import trace, metrics
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
resource = Resource.create()
tp = TracerProvider(resource=resource)
tp.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter()))
with tp.get_tracer("kit").start_as_current_span("outer"):
    with tp.get_tracer("kit").start_as_current_span("inner"):
        pass
tp.shutdown()
mp = MeterProvider(resource=resource, metric_readers=[PeriodicExportingMetricReader(OTLPMetricExporter())])
mp.get_meter("kit").create_counter("kit.count").add(3)
mp.shutdown()
"#;
        let status = Command::new(python())
            .args(["-c", script])
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", &sink.url)
            .env("OTEL_RESOURCE_ATTRIBUTES", "kit.probe=yes")
            .status()
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(status.success(), "{}", sink.log());
        let spans = sink.spans();
        let outer = spans
            .iter()
            .find(|s| s.name == "outer")
            .expect("outer span");
        let inner = spans
            .iter()
            .find(|s| s.name == "inner")
            .expect("inner span");
        assert_eq!(inner.trace_id, outer.trace_id);
        assert_eq!(inner.parent_span_id, outer.span_id);
        assert_eq!(outer.trace_id.len(), 32);
        assert_eq!(outer.resource["kit.probe"], "yes");
        let metrics = sink.metrics();
        let count = metrics
            .iter()
            .find(|m| m.name == "kit.count")
            .expect("counter");
        assert_eq!(count.resource["kit.probe"], "yes");
        assert_eq!(
            count
                .raw
                .pointer("/sum/dataPoints/0/asInt")
                .and_then(Value::as_str),
            Some("3")
        );
        assert!(sink.rejected().is_empty());
    }

    #[test]
    fn ids_read_from_base64_as_hex() {
        let v = serde_json::json!({"traceId": "AAECAwQFBgcICQoLDA0ODw==", "spanId": ""});
        assert_eq!(hex(&v, "traceId"), "000102030405060708090a0b0c0d0e0f");
        assert_eq!(hex(&v, "spanId"), "");
    }

    #[test]
    fn attribute_values_become_strings() {
        let v = serde_json::json!([
            {"key": "a", "value": {"stringValue": "x"}},
            {"key": "b", "value": {"intValue": "7"}},
            {"key": "c", "value": {"boolValue": true}}
        ]);
        let m = attributes(Some(&v));
        assert_eq!(m["a"], "x");
        assert_eq!(m["b"], "7");
        assert_eq!(m["c"], "true");
    }
}
