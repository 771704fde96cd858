//! Remote operations (`edgectl co logs`, `co restart`) on the way from the
//! CO to the site's edge nodes, with no connection made to a node:
//!
//! - [`forward`], a thread, long-polls the CO for the site's operations
//!   (`GET /lo/v1/ops`) and queues each on the LO's board for its device,
//!   after checking that this LO serves that deployment to that device and
//!   that the device polls (else the CO gets the failure at once: refused,
//!   or offline);
//! - [`router`] serves the nodes: `GET /x-edgectl/v1/ops?wait=` hands a node
//!   its own operations (the device its certificate names, nothing else),
//!   and `POST /x-edgectl/v1/ops/{id}` takes its result for an operation it
//!   took, bounded and checked, and posts it on to the CO.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Extension, Path as UrlPath, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use edge_api::remote::{FailureCode, MAX_POLL_WAIT, MAX_RESULT, OpRequest, OpResult};
use edge_api::routes;
use edge_api::south::{CallError, South};
use serde::Deserialize;

use super::store::Lo;
use crate::backoff::Backoff;
use crate::error::ApiError;
use crate::http::{BoundedBody, QueryParams, blocking};
use crate::south::Caller;
use crate::south::backend::Backend as _;
use crate::south::opboard::{self, Board};

/// How long one poll of the CO waits there.
const POLL_WAIT_SECS: u64 = 25;
/// How long an operation waits here for its node (the CO waits 20 s).
const OP_DEADLINE: Duration = Duration::from_secs(20);
/// Longest an operation waits for its node to take it (a connected node
/// polls again at once after taking some).
const TAKE_WITHIN: Duration = Duration::from_secs(5);
/// Most operations waiting for one device, and in all.
const PER_DEVICE: usize = 16;
const TOTAL: usize = 512;

/// The LO's side of remote operations.
pub(crate) struct Relay {
    board: Arc<Board>,
    lo: Arc<Lo>,
    co: South,
}

impl Relay {
    /// The relay of `lo`, with a client to its CO.
    pub(crate) fn new(lo: Arc<Lo>) -> anyhow::Result<Arc<Self>> {
        let client = lo.identity.blocking_client(
            &lo.identity.wfm_id("co"),
            Duration::from_secs(POLL_WAIT_SECS + 20),
        )?;
        let co = South::new(&lo.identity.file.server, client);
        Ok(Arc::new(Self {
            board: Board::new(PER_DEVICE, TOTAL),
            lo,
            co,
        }))
    }

    /// Why `op` cannot go to its device now, when it cannot.
    fn refusal(&self, op: &OpRequest) -> Option<OpResult> {
        let served = self
            .lo
            .view(&op.device)
            .is_ok_and(|v| v.docs.iter().any(|d| d.id == op.deployment));
        if !served {
            return Some(OpResult::failed(
                FailureCode::Refused,
                format!(
                    "this LO (site `{}`) does not serve deployment `{}` to device `{}` (yet)",
                    self.lo.site, op.deployment, op.device
                ),
            ));
        }
        if !self.board.connected(&op.device) {
            return Some(OpResult::failed(
                FailureCode::Offline,
                format!(
                    "device `{}` has not asked the LO of site `{}` for operations in the last {} s",
                    op.device,
                    self.lo.site,
                    opboard::GRACE.as_secs()
                ),
            ));
        }
        None
    }

    /// Queue `op` for its device, or tell the CO at once why not.
    fn relay(&self, op: OpRequest) {
        let refused = self.refusal(&op).or_else(|| {
            let deadline = tokio::time::Instant::now() + OP_DEADLINE;
            let device = op.device.clone();
            self.board
                .queue(&device, op.clone(), deadline, false)
                .err()
                .map(|_| {
                    OpResult::failed(
                        FailureCode::Failed,
                        format!(
                            "too many operations wait for device `{device}`; try again shortly"
                        ),
                    )
                })
        });
        if let Some(result) = refused {
            tracing::info!(op = op.id, device = op.device, deployment = op.deployment, why = ?result.failure, "remote operation not relayed");
            if let Err(e) = self.co.answer(routes::LO_OP, &op.id, &result) {
                tracing::warn!(error = %crate::backoff::chain(&e), "cannot tell the CO why an operation was not relayed");
            }
        }
    }
}

/// Tell the CO of each operation its node did not take in time, until the
/// process ends.
pub(crate) fn expire(relay: Arc<Relay>) {
    while !crate::stop::is_requested() {
        std::thread::sleep(Duration::from_secs(1));
        for op in relay.board.untaken_for(TAKE_WITHIN) {
            let result = OpResult::failed(
                FailureCode::Offline,
                format!(
                    "device `{}` did not take the request within {} s: it is offline or not polling the LO of site `{}`",
                    op.device,
                    TAKE_WITHIN.as_secs(),
                    relay.lo.site
                ),
            );
            if let Err(e) = relay.co.answer(routes::LO_OP, &op.id, &result) {
                tracing::debug!(error = %crate::backoff::chain(&e), "cannot tell the CO an operation was not taken");
            }
        }
    }
}

/// Long-poll the CO for the site's operations until the process ends.
pub(crate) fn forward(relay: Arc<Relay>) {
    let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
    loop {
        if crate::stop::is_requested() {
            return;
        }
        match relay.co.ops(routes::LO_OPS, POLL_WAIT_SECS) {
            Ok(ops) => {
                backoff.succeeded();
                for op in ops {
                    relay.relay(op);
                }
            }
            Err(e) => {
                if !backoff.is_down() && !crate::stop::is_requested() {
                    let quiet = matches!(e, CallError::NotFound { .. });
                    if !quiet {
                        tracing::warn!(error = %crate::backoff::chain(&e), "cannot ask the CO for remote operations");
                    }
                }
                std::thread::sleep(backoff.failed());
            }
        }
    }
}

/// Query of `GET /x-edgectl/v1/ops`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OpsQuery {
    /// Seconds to wait for an operation (at most 30).
    wait: Option<u64>,
}

/// The node-facing routes for one connection's caller.
pub(crate) fn router(relay: Arc<Relay>, caller: Caller) -> axum::Router {
    axum::Router::new()
        .route(routes::NODE_OPS, get(ops))
        .route(
            routes::NODE_OP,
            post(answer).layer(DefaultBodyLimit::max(MAX_RESULT)),
        )
        .layer(Extension(caller))
        .with_state(relay)
}

/// The device the caller is (403 otherwise).
async fn device(relay: &Arc<Relay>, caller: Caller) -> Result<String, ApiError> {
    let lo = relay.lo.clone();
    blocking(move || lo.device(&caller)).await
}

async fn ops(
    State(relay): State<Arc<Relay>>,
    Extension(caller): Extension<Caller>,
    QueryParams(q): QueryParams<OpsQuery>,
) -> Result<axum::Json<Vec<OpRequest>>, ApiError> {
    let device = device(&relay, caller).await?;
    let wait = Duration::from_secs(q.wait.unwrap_or(0).min(MAX_POLL_WAIT));
    Ok(axum::Json(relay.board.take(&device, wait).await))
}

async fn answer(
    State(relay): State<Arc<Relay>>,
    Extension(caller): Extension<Caller>,
    UrlPath(id): UrlPath<String>,
    BoundedBody(body): BoundedBody<MAX_RESULT>,
) -> Result<StatusCode, ApiError> {
    let device = device(&relay, caller).await?;
    let result: OpResult = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("the result is not valid: {e}")))?;
    if !result.well_formed() {
        return Err(ApiError::bad_request(
            "a result holds exactly one of `log` (at most 64 KiB of the log), `workloads` or `failure`",
        ));
    }
    if relay.board.taken(&device, &id).is_none() {
        return Err(ApiError::not_found(format!(
            "no operation `{id}` waits for an answer from device `{device}`"
        )));
    }
    blocking(move || {
        let sent = relay.co.answer(routes::LO_OP, &id, &result);
        relay.board.answer(&device, &id, OpResult::default());
        match sent {
            Ok(()) => Ok(StatusCode::NO_CONTENT),
            Err(CallError::NotFound { .. }) => Err(ApiError::not_found(format!(
                "the CO no longer waits for operation `{id}`"
            ))),
            Err(e) => Err(ApiError::upstream(format!(
                "cannot pass the result on to the CO: {}",
                crate::backoff::chain(&e)
            ))),
        }
    })
    .await
}
