//! OpenTelemetry data on its way from workloads to the operator's backend,
//! as the edge node and the LO share it: the three OTLP signals and their
//! paths, the resource attributes the node adds, the non-Margo south path
//! a node forwards to its LO on, and the wire-level reading and rewriting
//! of export requests (`wire`). The node's receiver and buffer are in
//! `en/otlp`, the LO's intake and exporter in `lo/otlp.rs`;
//! `docs/telemetry.md` describes the whole.

pub(crate) mod wire;

/// The resource attribute naming the device (added by the node, checked by
/// the LO against the caller's certificate).
pub(crate) const DEVICE: &str = "edge.device.id";
/// The resource attribute naming the site.
pub(crate) const SITE: &str = "edge.site";
/// The resource attribute naming the deployment.
pub(crate) const DEPLOYMENT: &str = "edge.deployment.id";
/// The resource attribute naming the component.
pub(crate) const COMPONENT: &str = "edge.component";

/// The south path a node posts telemetry to (`{signal}`: `traces`,
/// `metrics` or `logs`), authorized by its device certificate.
pub(crate) const SOUTH_PATH: &str = "/x-edgectl/v1/otlp/{signal}";

/// Largest export request (decoded) the node takes from a workload or the
/// LO from a node.
pub(crate) const MAX_REQUEST: usize = 4 * 1024 * 1024;

/// An OTLP signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signal {
    Traces,
    Metrics,
    Logs,
}

impl Signal {
    /// The signal a path segment names (`traces`, `metrics`, `logs`).
    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "traces" => Some(Self::Traces),
            "metrics" => Some(Self::Metrics),
            "logs" => Some(Self::Logs),
            _ => None,
        }
    }

    /// Its path segment.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Traces => "traces",
            Self::Metrics => "metrics",
            Self::Logs => "logs",
        }
    }
}
