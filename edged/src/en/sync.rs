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
//! Both keep quiet during the configured downtime window and poll only in
//! the configured polling period (Margo's extended-downtime rules).

use std::sync::Arc;
use std::time::{Duration, Instant};

use edge_api::device::{ManifestSync, Poll, SyncError};
use edge_api::south::{CallError, South};

use super::node::Node;
use super::state::{DesiredSet, Doc};
use super::window::Schedule;
use crate::backoff::{Backoff, chain};

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

/// Poll for the state manifest forever.
pub(crate) fn poller(
    node: &Arc<Node>,
    mut sync: ManifestSync,
    accepted_file: &std::path::Path,
    interval: Duration,
    schedule: &Schedule,
) {
    let mut backoff = Backoff::new(Duration::from_secs(2), Duration::from_secs(60));
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
                let pause = backoff.failed().min(interval);
                // A stopping process (the LO of `--mode all` too) says nothing.
                if !schedule.in_downtime(crate::clock::unix_now()) && !crate::stop::is_requested() {
                    tracing::warn!(error = %chain(&e), retry_in = pause.as_secs(), "cannot poll the state manifest");
                }
                node.wake.wait(pause);
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
            server.report_status(&next.key, next.body.clone())
        };
        let retry = match sent {
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
                    chain(&e)
                } else {
                    // Refused for good (a bug, or a deployment it no longer
                    // knows): keeping it would block every later report.
                    tracing::error!(kind = next.kind, key = next.key, error = %e, "a report was refused; dropping it");
                    let _ = node.db.done(next.seq);
                    continue;
                }
            }
        };
        let pause = backoff.failed();
        if !schedule.in_downtime(crate::clock::unix_now()) && !crate::stop::is_requested() {
            tracing::warn!(
                queued = node.db.queued(),
                retry_in = pause.as_secs(),
                error = retry,
                "cannot send reports"
            );
        }
        // New reports do not cut this short; the fleet manager answering does.
        node.link.wait(pause);
    }
}
