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

use super::node::Node;
use super::state::{DesiredSet, Doc};
use super::window::Schedule;

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
    let mut backoff = Duration::from_secs(1);
    loop {
        allowed(schedule, true);
        let started = Instant::now();
        // After a failure, ask without holding (so the link is known to be
        // back at once); with an install to retry, hold no longer than the interval.
        let wait = if backoff > Duration::from_secs(1) {
            None
        } else if node.has_failed_installs() {
            Some(interval.min(LONG_POLL))
        } else {
            Some(LONG_POLL)
        };
        match sync.poll_within(wait) {
            Ok((Poll::Changed(state), _)) => {
                backoff = Duration::from_secs(1);
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
                if let Err(e) = sync.accept(&state, Some(accepted_file)) {
                    tracing::error!(error = %e, "cannot record the accepted manifest version");
                }
            }
            Ok((Poll::Unchanged, held)) => {
                backoff = Duration::from_secs(1);
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
                backoff = (backoff * 2).min(Duration::from_secs(60));
                let pause = backoff.min(interval);
                if !schedule.in_downtime(crate::clock::unix_now()) {
                    tracing::warn!(error = %e, retry_in = pause.as_secs(), "cannot poll the state manifest");
                }
                node.wake.wait(pause);
            }
        }
    }
}

/// Send queued reports forever.
pub(crate) fn reporter(node: &Arc<Node>, client: &reqwest::blocking::Client, schedule: &Schedule) {
    let mut backoff = Duration::from_secs(1);
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
        let req = if next.kind == "capabilities" {
            client.put(format!(
                "{}/api/v1/capabilities/{}",
                node.server, node.device
            ))
        } else {
            client.post(format!(
                "{}/api/v1/deployments/{}/status",
                node.server, next.key
            ))
        };
        let sent = req
            .header("content-type", "application/json")
            .body(next.body.clone())
            .send();
        let retry = match sent {
            Ok(r) if r.status().is_success() => {
                backoff = Duration::from_secs(1);
                node.heard();
                if let Err(e) = node.db.done(next.seq) {
                    tracing::error!(error = %e, "cannot clear a sent report");
                }
                continue;
            }
            Ok(r) if r.status().as_u16() == 429 || r.status().is_server_error() => {
                format!("answered {}", r.status())
            }
            Ok(r) => {
                // Refused for good (a bug, or a deployment it no longer
                // knows): keeping it would block every later report.
                let status = r.status();
                let body = r.text().unwrap_or_default();
                tracing::error!(kind = next.kind, key = next.key, %status, body = body.chars().take(500).collect::<String>(), "a report was refused; dropping it");
                let _ = node.db.done(next.seq);
                continue;
            }
            Err(e) => e.to_string(),
        };
        if !schedule.in_downtime(crate::clock::unix_now()) {
            tracing::warn!(
                queued = node.db.queued(),
                retry_in = backoff.as_secs(),
                error = retry,
                "cannot send reports"
            );
        }
        // New reports do not cut this short; the fleet manager answering does.
        node.link.wait(backoff);
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}
