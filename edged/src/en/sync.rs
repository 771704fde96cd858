//! The node's two conversations with its fleet manager (LO or CO), each on
//! its own thread so neither waits for the other:
//!
//! - [`poller`]: the state manifest, long-polled (`Prefer: wait`) so a
//!   change arrives at once, paced by the poll interval when the server
//!   answers immediately; a new manifest is verified (version, digests),
//!   kept, reconciled, then accepted. A manifest whose version does not
//!   increase is refused and logged as a security event.
//! - [`reporter`]: the outbox, sent oldest first, each report removed only
//!   once the server took it, with growing pauses while it is away.
//!
//! A refusal is retried as the server advised (DIGEST §8.5,
//! [`Backoff::refused`]): never before its `Retry-After` (a seconds count or
//! a date, bounded by [`edge_api::retry::MAX_WAIT`], a longer ask logged),
//! with pauses that grow (exponential, jittered, capped) while it keeps
//! failing or cannot be reached, or stay the same for `fixed`. A report
//! refused with 429 or 503 stays first in the outbox and is sent again after
//! the wait; nothing overtakes it.
//!
//! Both keep quiet during the configured downtime window and poll only in
//! the configured polling period (Margo's extended-downtime rules).

use std::sync::Arc;
use std::time::{Duration, Instant};

use edge_api::device::{ManifestSync, Poll, SyncError};
use edge_api::retry::Advice;
use edge_api::south::{CallError, South};

use super::node::Node;
use super::state::{DesiredSet, Doc};
use super::window::Schedule;
use crate::backoff::{Backoff, chain};
use crate::bell::Bell;

/// Longest a manifest request is held by a server that long-polls.
const LONG_POLL: Duration = Duration::from_secs(25);

/// Wait until `schedule` allows talking (polling, or sending reports).
fn allowed(schedule: &Schedule, polling: bool) {
    loop {
        let wait = schedule.quiet_for(crate::clock::unix_now(), polling);
        if wait.is_zero() {
            return;
        }
        tracing::debug!(seconds = wait.as_secs(), "quiet window");
        // A plain sleep: a nudge must not end a downtime window early.
        std::thread::sleep(wait.min(Duration::from_secs(60)));
    }
}

/// Wait `pause` on `bell`, which may end it early, but not before `floor`
/// (the server's `Retry-After`) has passed.
fn pause_on(bell: &Bell, pause: Duration, floor: Option<Duration>) {
    let start = Instant::now();
    if let Some(floor) = floor {
        // Rings during the floor are not for us: the server said when.
        loop {
            let left = floor.saturating_sub(start.elapsed());
            if left.is_zero() {
                break;
            }
            std::thread::sleep(left);
        }
    }
    let left = pause.saturating_sub(start.elapsed());
    if !left.is_zero() {
        bell.wait(left);
    }
}

/// Log a `Retry-After` longer than the longest wait obeyed.
fn note_cut(advice: &Advice, what: &str) {
    if let (Some(asked), Some(after)) = (advice.asked, advice.after) {
        tracing::warn!(
            asked = asked.as_secs(),
            waiting = after.as_secs(),
            what,
            "the fleet manager asked to wait longer than this node ever waits; retrying sooner"
        );
    }
}

/// Poll for the state manifest forever.
pub(crate) fn poller(
    node: &Arc<Node>,
    mut sync: ManifestSync,
    accepted_file: &std::path::Path,
    interval: Duration,
    schedule: &Schedule,
) {
    // First the poll interval (at most 2 s), then doubling up to 30 s (the
    // default interval), or the interval when that is longer.
    let mut backoff = Backoff::new(
        interval.min(Duration::from_secs(2)),
        interval.max(Duration::from_secs(30)),
    );
    loop {
        allowed(schedule, true);
        let started = Instant::now();
        // After a failure, ask without holding (so the link is known to be
        // back at once); with an install to retry, hold no longer than the interval.
        let wait = if backoff.is_down() {
            None
        } else if node.has_failed_installs() {
            Some(interval.min(LONG_POLL))
        } else {
            Some(LONG_POLL)
        };
        match sync.poll_within(wait) {
            Ok((Poll::Changed(state), _)) => {
                backoff.succeeded();
                node.heard();
                tracing::info!(
                    version = state.version,
                    deployments = state.deployments.len(),
                    "new state manifest"
                );
                let set = DesiredSet {
                    version: state.version,
                    etag: state.etag.clone(),
                    docs: state
                        .deployments
                        .iter()
                        .map(|d| Doc {
                            id: d.id.clone(),
                            digest: d.digest.to_string(),
                            bytes: d.bytes.clone(),
                        })
                        .collect(),
                };
                let span = crate::trace::applying(
                    set.version,
                    state
                        .traceparent
                        .as_deref()
                        .and_then(crate::trace::Traceparent::parse),
                    set.docs.iter().map(|d| d.id.as_str()),
                );
                let _in = span.enter();
                if let Err(e) = node.db.set_desired(&set) {
                    tracing::error!(error = %e, "cannot keep the new desired state; not applying it");
                    node.wake.wait(interval);
                    continue;
                }
                node.reconcile(&set);
                tracing::debug!(target: "latency", version = set.version, "reconciled");
                if let Err(e) = sync.accept(&state, Some(accepted_file)) {
                    tracing::error!(error = %e, "cannot record the accepted manifest version");
                }
            }
            Ok((Poll::Unchanged, held)) => {
                backoff.succeeded();
                node.heard();
                node.retry_failed();
                if !held {
                    node.wake.wait(interval.saturating_sub(started.elapsed()));
                }
            }
            Err(e @ (SyncError::NotNewer { .. } | SyncError::DigestMismatch { .. })) => {
                // A replay, a rolled-back server or tampering.
                tracing::warn!(target: "security", error = %e, "refused a manifest; the state in force stays");
                node.wake.wait(interval);
            }
            Err(e) => {
                if let SyncError::Call(CallError::Unauthorized { detail, .. }) = &e {
                    node.refused(detail);
                }
                let advice = match &e {
                    SyncError::Call(c) => c.advice(),
                    _ => Advice::default(),
                };
                let pause = backoff.refused(&advice);
                // A stopping process (the LO of `--mode all` too) says nothing.
                if !schedule.in_downtime(crate::clock::unix_now()) && !crate::stop::is_requested() {
                    note_cut(&advice, "manifest poll");
                    tracing::warn!(error = %chain(&e), retry_in = pause.as_secs_f32(), "cannot poll the state manifest");
                }
                pause_on(&node.wake, pause, advice.after);
            }
        }
    }
}

/// Send queued reports forever.
pub(crate) fn reporter(node: &Arc<Node>, client: &reqwest::blocking::Client, schedule: &Schedule) {
    let server = South::new(&node.server, client.clone());
    let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
    loop {
        allowed(schedule, false);
        let next = match node.db.next() {
            Ok(Some(q)) => q,
            Ok(None) => {
                node.bell.wait(Duration::from_secs(60));
                continue;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot read the report queue");
                node.bell.wait(Duration::from_secs(5));
                continue;
            }
        };
        let sent = if next.kind == "capabilities" {
            server.report_capabilities(node.device.as_str(), next.body.clone())
        } else {
            let traced = crate::trace::reporting(&next.key);
            let _in = traced.as_ref().map(|(span, _)| span.enter());
            server.report_status_traced(
                &next.key,
                next.body.clone(),
                traced.as_ref().map(|(_, tp)| tp.as_str()),
            )
        };
        let (retry, advice) = match sent {
            Ok(()) => {
                tracing::debug!(target: "latency", kind = next.kind, key = next.key, "report sent");
                backoff.succeeded();
                node.heard();
                if let Err(e) = node.db.done(next.seq) {
                    tracing::error!(error = %e, "cannot clear a sent report");
                }
                continue;
            }
            Err(e) => {
                if let CallError::Unauthorized { detail, .. } = &e {
                    node.refused(detail);
                }
                if e.is_transient() {
                    (chain(&e), e.advice())
                } else {
                    // Refused for good (a bug, or a deployment it no longer
                    // knows): keeping it would block every later report.
                    tracing::error!(kind = next.kind, key = next.key, error = %e, "a report was refused; dropping it");
                    let _ = node.db.done(next.seq);
                    continue;
                }
            }
        };
        let pause = backoff.refused(&advice);
        if !schedule.in_downtime(crate::clock::unix_now()) && !crate::stop::is_requested() {
            note_cut(&advice, "report");
            tracing::warn!(
                queued = node.db.queued(),
                retry_in = pause.as_secs_f32(),
                error = retry,
                "cannot send reports"
            );
        }
        // New reports do not cut this short; the fleet manager answering
        // does, once its Retry-After has passed.
        pause_on(&node.link, pause, advice.after);
    }
}
