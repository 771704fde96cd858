//! Span export over OTLP/HTTP (protobuf), the `otel` feature: with
//! `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` set,
//! a `tracing-opentelemetry` layer hands every span to a batch processor
//! (its own thread, the blocking reqwest client) that posts them; with
//! neither set nothing is made. The resource is `service.name`
//! (`OTEL_SERVICE_NAME`, else `edged-<mode>`), `OTEL_RESOURCE_ATTRIBUTES`,
//! and what the credentials folder tells: `edged.site`, `edged.device`.
//! [`Export::shutdown`] flushes what is pending when the daemon stops.

use opentelemetry::trace::{
    SpanContext, SpanId, TraceContextExt as _, TraceFlags, TraceId, TraceState, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use super::Traceparent;

/// The running exporter.
pub(crate) struct Export(SdkTracerProvider);

impl Export {
    /// Send what is pending and stop.
    pub(crate) fn shutdown(self) {
        if let Err(e) = self.0.shutdown() {
            tracing::warn!(error = %e, "cannot flush the spans still pending");
        }
    }
}

/// Set once the exporter runs.
static RUNNING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether spans are being exported.
pub(crate) fn running() -> bool {
    RUNNING.load(std::sync::atomic::Ordering::Relaxed)
}

/// Whether the environment asks for export.
pub(crate) fn wanted() -> bool {
    [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    ]
    .iter()
    .any(|k| std::env::var_os(k).is_some_and(|v| !v.is_empty()))
}

/// What the credentials folder's `edged.toml` says of this daemon (its
/// site, and the device a node's SPIFFE ID names), best effort.
fn identity_attributes(credentials: Option<&std::path::Path>) -> Vec<KeyValue> {
    #[derive(serde::Deserialize)]
    struct File {
        site: String,
        spiffe_id: String,
    }
    let Some(dir) = credentials else {
        return Vec::new();
    };
    let Ok(bytes) = edge_workspace::package::read_bounded(&dir.join("edged.toml")) else {
        return Vec::new();
    };
    let Ok(f) = toml::from_str::<File>(&String::from_utf8_lossy(&bytes)) else {
        return Vec::new();
    };
    let mut out = vec![KeyValue::new("edged.site", f.site)];
    if let Some(device) = f.spiffe_id.rsplit_once("/client/").map(|(_, d)| d) {
        out.push(KeyValue::new("edged.device", device.to_owned()));
    }
    out
}

/// The layer exporting spans for `mode` (`co`, `lo`, `en`, `all`), and the
/// exporter to shut down; `None` when export is not wanted or cannot be set
/// up (said on stderr: logging is not up yet).
pub(crate) fn layer<S>(
    mode: &str,
    credentials: Option<&std::path::Path>,
) -> Option<(
    tracing_opentelemetry::OpenTelemetryLayer<S, opentelemetry_sdk::trace::Tracer>,
    Export,
)>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    if !wanted() {
        return None;
    }
    let exporter = match opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .build()
    {
        Ok(e) => e,
        Err(e) => {
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "warning: spans are not exported: cannot set up the OTLP exporter: {e}"
            );
            return None;
        }
    };
    let mut resource = opentelemetry_sdk::Resource::builder();
    if std::env::var_os("OTEL_SERVICE_NAME").is_none_or(|v| v.is_empty()) {
        resource = resource.with_service_name(format!("edged-{mode}"));
    }
    let resource = resource
        .with_attribute(KeyValue::new("edged.mode", mode.to_owned()))
        .with_attributes(identity_attributes(credentials))
        .build();
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build();
    let tracer = provider.tracer("edged");
    let layer = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_location(false)
        .with_threads(false);
    RUNNING.store(true, std::sync::atomic::Ordering::Relaxed);
    Some((layer, Export(provider)))
}

/// The OpenTelemetry context of `span`, when it has a valid one.
pub(super) fn context_of(span: &tracing::Span) -> Option<Traceparent> {
    let cx = span.context();
    let s = cx.span();
    let sc = s.span_context();
    if !sc.is_valid() {
        return None;
    }
    Some(Traceparent {
        trace_id: sc.trace_id().to_bytes(),
        span_id: sc.span_id().to_bytes(),
        flags: sc.trace_flags().to_u8(),
    })
}

/// Make `parent` (from another process) the parent of `span`.
pub(super) fn set_parent(span: &tracing::Span, parent: Traceparent) {
    let sc = SpanContext::new(
        TraceId::from_bytes(parent.trace_id),
        SpanId::from_bytes(parent.span_id),
        TraceFlags::new(parent.flags),
        true,
        TraceState::default(),
    );
    // No layer (export off) or a span already started: it stays as it is.
    let _ = span.set_parent(Context::new().with_remote_span_context(sc));
}

/// Link `span` (not started yet) to `other`, a context it follows too.
pub(super) fn link(span: &tracing::Span, other: Traceparent) {
    span.add_link(SpanContext::new(
        TraceId::from_bytes(other.trace_id),
        SpanId::from_bytes(other.span_id),
        TraceFlags::new(other.flags),
        true,
        TraceState::default(),
    ));
}
