//! The spans the tiers' request paths open through one call each, kept here
//! so those paths change by a line: the LO's sync of a new desired state
//! and the manifests it then serves, the node's apply and its reports, the
//! LO's status intake and its forward to the CO.

use std::collections::HashMap;
use std::sync::Arc;

use tracing::field::Empty;

use super::{APPLIED, REPORTS, SERVED, Traceparent, adopt, enabled};
use crate::south::view::DeviceView;

/// The LO's span for taking in `head` of `site`: a child of the change's
/// context, which its commit message's `Traceparent:` trailer names.
pub(crate) fn synced(
    mirror: &edge_workspace::git::Mirror,
    site: &str,
    head: Option<&str>,
) -> tracing::Span {
    let span = tracing::info_span!(
        "lo.sync",
        site,
        head = head.unwrap_or("none"),
        trace_id = Empty,
        span_id = Empty
    );
    let parent = if enabled() {
        head.and_then(|h| mirror.message(h).ok())
            .and_then(|m| Traceparent::from_message(&m))
    } else {
        None
    };
    adopt(span, parent)
}

/// Remember `span` (the sync) as the context of every device whose
/// manifest it changed.
pub(crate) fn note_served(
    span: &tracing::Span,
    before: &HashMap<String, Arc<DeviceView>>,
    after: &HashMap<String, Arc<DeviceView>>,
) {
    let Some(tp) = Traceparent::of(span) else {
        return;
    };
    for (device, view) in after {
        if before.get(device).is_none_or(|b| b.etag != view.etag) {
            SERVED.note(device, &view.etag, tp);
        }
    }
}

/// The span of serving `device` a new manifest made in the trace `tp`; its
/// context, for the answer's `traceparent` header.
pub(crate) fn served_span(device: &str, tp: Traceparent) -> Option<String> {
    let span = adopt(
        tracing::info_span!("manifest.serve", device, trace_id = Empty, span_id = Empty),
        Some(tp),
    );
    Traceparent::of(&span).map(|t| t.to_string())
}

/// The node's span for applying a new manifest, a child of the context
/// the manifest came with; remembered for each of its deployments, whose
/// status reports follow it.
pub(crate) fn applying<'a>(
    version: u64,
    parent: Option<Traceparent>,
    deployments: impl IntoIterator<Item = &'a str>,
) -> tracing::Span {
    let span = adopt(
        tracing::info_span!("en.apply", version, trace_id = Empty, span_id = Empty),
        parent,
    );
    if let Some(tp) = Traceparent::of(&span) {
        for d in deployments {
            APPLIED.note(d, "", tp);
        }
    }
    span
}

/// The node's span for sending the status report of `deployment`, and the
/// `traceparent` the report carries; `None` outside a trace.
pub(crate) fn reporting(deployment: &str) -> Option<(tracing::Span, String)> {
    let parent = APPLIED.get(deployment, "")?;
    let span = adopt(
        tracing::info_span!("en.report", deployment, trace_id = Empty, span_id = Empty),
        Some(parent),
    );
    let tp = Traceparent::of(&span)?;
    Some((span, tp.to_string()))
}

/// The LO's span for a device's status report, a child of the report's
/// `traceparent`; remembered for the device, whose forward to the CO
/// follows it.
pub(crate) fn report_taken(device: &str, parent: Option<Traceparent>) -> tracing::Span {
    let span = adopt(
        tracing::info_span!("lo.status", device, trace_id = Empty, span_id = Empty),
        parent,
    );
    if !enabled() {
        return span;
    }
    match parent.and_then(|_| Traceparent::of(&span)) {
        Some(tp) => REPORTS.note(device, "", tp),
        // A report outside the trace: what is forwarded next is not in it.
        None => REPORTS.forget(device),
    }
    span
}

/// The LO's span for forwarding a batch of reports to the CO: a child of
/// the first status report in it that came with a trace, linked to the
/// others; its context, for the batch's `traceparent` header.
pub(crate) fn forwarding<'a>(
    devices: impl IntoIterator<Item = &'a str>,
) -> Option<(tracing::Span, String)> {
    if !enabled() {
        return None;
    }
    let mut contexts = devices.into_iter().filter_map(|d| REPORTS.get(d, ""));
    let parent = contexts.next()?;
    let span = adopt(
        tracing::info_span!("lo.forward", trace_id = Empty, span_id = Empty),
        Some(parent),
    );
    #[cfg(feature = "otel")]
    for other in contexts.filter(|c| *c != parent).take(32) {
        super::export::link(&span, other);
    }
    let tp = Traceparent::of(&span)?;
    Some((span, tp.to_string()))
}
