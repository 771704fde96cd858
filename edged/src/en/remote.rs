//! Remote operations asked at the CO (`edgectl co logs`, `co restart`),
//! done here with no connection made to the node: [`poller`] long-polls the
//! fleet manager for this device's operations (`GET /x-edgectl/v1/ops`),
//! does each, and posts the result (`POST /x-edgectl/v1/ops/{id}`).
//!
//! Only a deployment this node runs is acted on (looked up as `edgectl en`
//! does, then checked to be that very deployment); a log is read as the
//! operations socket reads it (`logs.rs`), at most
//! [`edge_api::remote::MAX_LOG_TEXT`] bytes of it per answer (the client asks
//! again from `next`); a request to follow that finds nothing new waits up
//! to [`FOLLOW_WAIT`] for the log to grow. A fleet manager without these
//! routes (a CO serving a node attached directly, an older LO) is asked
//! again only every [`ABSENT_PAUSE`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use edge_api::remote::{FailureCode, MAX_LOG_TEXT, OpKind, OpRequest, OpResult};
use edge_api::routes;
use edge_api::south::{CallError, South};

use super::logs::{self, LogQuery, LogTimes};
use super::node::{FindError, Node};
use crate::backoff::Backoff;

/// How long one poll waits at the fleet manager.
const POLL_WAIT_SECS: u64 = 25;
/// Longest a follow request waits for the log to grow.
pub(crate) const FOLLOW_WAIT: Duration = Duration::from_secs(2);
/// How often the log's length is looked at meanwhile.
const FOLLOW_STEP: Duration = Duration::from_millis(100);
/// Pause before asking a fleet manager without remote operations again.
const ABSENT_PAUSE: Duration = Duration::from_secs(300);

/// Poll, do and answer until the process ends.
pub(crate) fn poller(node: &Arc<Node>, times: &Arc<LogTimes>, server: &South) {
    let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
    loop {
        if crate::stop::is_requested() {
            return;
        }
        match server.ops(routes::NODE_OPS, POLL_WAIT_SECS) {
            Ok(ops) => {
                backoff.succeeded();
                // Each on a thread of its own, so a slow restart holds up
                // neither a log read nor the next poll (at most a poll's
                // batch at once per poll; the LO bounds what waits).
                for op in ops {
                    let (node, times, server) = (node.clone(), times.clone(), server.clone());
                    let spawned = crate::bell::spawn("en-remote-op", move || {
                        let result = perform(&node, &times, &op);
                        if let Err(e) = server.answer(routes::NODE_OP, &op.id, &result) {
                            tracing::warn!(op = op.id, error = %crate::backoff::chain(&e), "cannot post the result of a remote operation");
                        }
                    });
                    if let Err(e) = spawned {
                        tracing::warn!(error = %e, "cannot start a remote operation");
                    }
                }
            }
            Err(CallError::NotFound { .. }) => {
                tracing::debug!("the fleet manager offers no remote operations");
                std::thread::sleep(ABSENT_PAUSE);
            }
            Err(e) => {
                if !backoff.is_down() && !crate::stop::is_requested() {
                    tracing::debug!(error = %crate::backoff::chain(&e), "cannot ask for remote operations");
                }
                std::thread::sleep(backoff.failed());
            }
        }
    }
}

/// Do `op` here; what became of it.
pub(crate) fn perform(node: &Node, times: &LogTimes, op: &OpRequest) -> OpResult {
    let name = match &op.component {
        Some(c) => format!("{}/{c}", op.deployment),
        None => op.deployment.clone(),
    };
    let found = match node.find(&name) {
        Ok(f) if f.deployment() == op.deployment => f,
        Ok(_) | Err(FindError::Unknown(_) | FindError::Ambiguous { .. }) => {
            return OpResult::failed(
                FailureCode::NotPlaced,
                format!("device `{}` does not run it", node.device),
            );
        }
        Err(e @ (FindError::NoComponent { .. } | FindError::WhichComponent { .. })) => {
            return OpResult::failed(FailureCode::NoComponent, e.to_string());
        }
    };
    match op.kind {
        OpKind::Logs => {
            let Some(path) = node.log_path(&found) else {
                return OpResult::failed(
                    FailureCode::NoLog,
                    format!(
                        "`{name}` keeps no log here (it has not started, or its runtime keeps none)"
                    ),
                );
            };
            if let Some(offset) = op.offset {
                // Following: wait a little for something new.
                let until = Instant::now() + FOLLOW_WAIT;
                while Instant::now() < until
                    && std::fs::metadata(&path).map_or(0, |m| m.len()) <= offset
                {
                    std::thread::sleep(FOLLOW_STEP);
                }
            }
            let q = LogQuery {
                offset: op.offset,
                tail: op.tail,
                since: op.since,
            };
            match logs::read_up_to(&path, q, times, MAX_LOG_TEXT as u64) {
                Ok(chunk) => OpResult {
                    log: Some(chunk),
                    ..OpResult::default()
                },
                Err(e) => OpResult::failed(
                    FailureCode::Failed,
                    format!("cannot read the log of `{name}`: {e}"),
                ),
            }
        }
        OpKind::Restart => match super::ops::act_on(node, &found, &name, "restart") {
            Ok(()) => {
                tracing::info!(workload = name, "restarted as the CO asked");
                let rows = super::ops::rows(node)
                    .into_iter()
                    .filter(|r| r.deployment == op.deployment)
                    .collect();
                OpResult {
                    workloads: Some(rows),
                    ..OpResult::default()
                }
            }
            Err(e) => OpResult::failed(FailureCode::Failed, e.detail()),
        },
    }
}
