//! Logs and restarts of a deployment's workload on its device, reached
//! through the site's LO with no connection to the node (`GET
//! /api/deployments/{id}/logs`, `POST /api/deployments/{id}/restart`).
//!
//! The CO finds the deployment's site and device, checks a named component
//! against the deployment's document, and queues an operation on the
//! store's board for the site; the LO long-polls for its site's (`GET
//! /lo/v1/ops`, [`take`]), relays each to the node and posts the node's
//! result back (`POST /lo/v1/ops/{id}`, [`answer`]). The north request waits
//! at most [`WAIT`]; every way it can fail names the hop: no LO of the site
//! connected (503), the LO not taking it or the node not answering in time
//! (504), the LO not serving it to the device or the node not running it
//! (409, not placed yet), no such component or
//! no log (404), the restart failing there (502).

use std::time::Duration;

use edge_api::node::{LogChunk, WorkloadRow};
use edge_api::remote::{FailureCode, OpKind, OpRequest, OpResult};
use edge_model::{ApplicationDeployment, MargoDocument as _};

use super::deployments::find;
use crate::co::db::deployments::DeploymentRow;
use crate::co::store::Store;
use crate::error::ApiError;
use crate::http::blocking;
use crate::south::opboard::{self, Refused, Stage};

/// Longest a north request waits for its operation's result.
pub(crate) const WAIT: Duration = Duration::from_secs(20);
/// Longest an operation waits for the LO to take it (a connected LO polls
/// again at once after each answer).
pub(crate) const TAKE_WITHIN: Duration = Duration::from_secs(5);

/// What a log request asks for.
#[derive(Debug, Default, Clone)]
pub(crate) struct LogAsk {
    pub(crate) component: Option<String>,
    pub(crate) offset: Option<u64>,
    pub(crate) tail: Option<usize>,
    pub(crate) since: Option<i64>,
}

/// The deployment `id` names and its component names (from its document).
fn resolve(store: &Store, id: &str) -> Result<(DeploymentRow, Vec<String>), ApiError> {
    let row = find(store, id)?;
    let path = store
        .site_repo(&row.site)
        .join("deployments")
        .join(format!("{}.yaml", row.id));
    let bytes = edge_workspace::read_bounded(&path).map_err(|_| {
        ApiError::not_found(format!("deployment `{}` was removed meanwhile", row.id))
    })?;
    let doc = ApplicationDeployment::from_slice(&bytes).map_err(|e| {
        ApiError::internal(&anyhow::anyhow!(
            "the stored document of deployment `{}` no longer reads: {e}",
            row.id
        ))
    })?;
    let names = doc
        .document
        .spec
        .deployment_profile
        .components
        .iter()
        .map(|c| c.name.to_string())
        .collect();
    Ok((row, names))
}

/// Refuse a component the deployment does not have.
fn check_component(
    row: &DeploymentRow,
    names: &[String],
    component: Option<&str>,
) -> Result<(), ApiError> {
    match component {
        Some(c) if !names.iter().any(|n| n == c) => Err(ApiError::not_found(format!(
            "deployment `{}` has no component `{c}`; it has {}",
            row.id,
            names.join(", ")
        ))),
        None if names.len() > 1 => Err(ApiError::bad_request(format!(
            "deployment `{}` has {} components ({}); name one with `--component`",
            row.id,
            names.len(),
            names.join(", ")
        ))),
        _ => Ok(()),
    }
}

/// Queue `op` for the LO of `row`'s site and wait for its result.
async fn run(store: &Store, row: &DeploymentRow, op: OpRequest) -> Result<OpResult, ApiError> {
    let board = store.remote.clone();
    if !board.connected(&row.site) {
        return Err(ApiError::unavailable(
            format!(
                "the LO of site `{}` is not connected to the CO (it has not asked for operations in the last {} s), so device `{}` cannot be reached",
                row.site,
                opboard::GRACE.as_secs(),
                row.device
            ),
            5,
        ));
    }
    let id = op.id.clone();
    let deadline = tokio::time::Instant::now() + WAIT;
    let rx = match board.queue(&row.site, op, deadline, true) {
        Ok(Some(rx)) => rx,
        Ok(None) => return Err(ApiError::internal(&anyhow::anyhow!("no reply channel"))),
        Err(Refused::Full) => {
            return Err(ApiError::unavailable(
                format!(
                    "too many operations wait for the LO of site `{}`; try again shortly",
                    row.site
                ),
                2,
            ));
        }
    };
    let mut rx = rx;
    let taken_by = tokio::time::Instant::now() + TAKE_WITHIN;
    let got = tokio::select! {
        r = tokio::time::timeout_at(taken_by, &mut rx) => r.ok().and_then(Result::ok),
        () = crate::stop::requested() => None,
    };
    let got = match got {
        Some(result) => Some(result),
        None if board.stage(&id) == Stage::Taken => tokio::select! {
            r = tokio::time::timeout_at(deadline, rx) => r.ok().and_then(Result::ok),
            () = crate::stop::requested() => None,
        },
        None => None,
    };
    if let Some(result) = got {
        return Ok(result);
    }
    Err(match board.withdraw(&id) {
        Stage::Queued => ApiError::gateway_timeout(format!(
            "the LO of site `{}` did not take the request within {} s; it has lost its connection to the CO",
            row.site,
            TAKE_WITHIN.as_secs()
        )),
        Stage::Taken | Stage::Gone => ApiError::gateway_timeout(format!(
            "device `{}` did not answer within {} s: it is offline or not polling the LO of site `{}`",
            row.device,
            WAIT.as_secs(),
            row.site
        )),
    })
}

/// A failure the node or LO reported, as the north API's problem.
fn failure(row: &DeploymentRow, result: &OpResult) -> Option<ApiError> {
    let f = result.failure.as_ref()?;
    let at = format!("device `{}` (site `{}`)", row.device, row.site);
    Some(match f.code {
        FailureCode::NotPlaced => ApiError::conflict(format!(
            "deployment `{}` is not placed on {at} yet: {}",
            row.id, f.message
        )),
        FailureCode::NoComponent | FailureCode::NoLog => {
            ApiError::not_found(format!("{at}: {}", f.message))
        }
        FailureCode::Offline => {
            ApiError::gateway_timeout(format!("{at} is not connected to its LO: {}", f.message))
        }
        // The LO does not serve it to that device (yet): not placed there.
        FailureCode::Refused => ApiError::conflict(format!(
            "deployment `{}` is not placed on {at} yet: {}",
            row.id, f.message
        )),
        FailureCode::Failed => ApiError::upstream(format!("{at}: {}", f.message)),
    })
}

/// A piece of deployment `id`'s log, read on its device.
pub(crate) async fn logs(
    store: std::sync::Arc<Store>,
    id: String,
    ask: LogAsk,
) -> Result<LogChunk, ApiError> {
    let (s, component) = (store.clone(), ask.component.clone());
    let row = blocking(move || {
        let (row, names) = resolve(&s, &id)?;
        check_component(&row, &names, component.as_deref())?;
        Ok(row)
    })
    .await?;
    let op = OpRequest {
        id: opboard::new_id(),
        device: row.device.clone(),
        deployment: row.id.clone(),
        component: ask.component,
        kind: OpKind::Logs,
        offset: ask.offset,
        tail: ask.tail,
        since: ask.since,
    };
    let result = run(&store, &row, op).await?;
    if let Some(e) = failure(&row, &result) {
        return Err(e);
    }
    result.log.ok_or_else(|| {
        ApiError::upstream(format!(
            "device `{}` answered a log request without a log",
            row.device
        ))
    })
}

/// Restart deployment `id`'s workload on its device; its workloads after.
pub(crate) async fn restart(
    store: std::sync::Arc<Store>,
    id: String,
    component: Option<String>,
) -> Result<Vec<WorkloadRow>, ApiError> {
    let (s, c) = (store.clone(), component.clone());
    let row = blocking(move || {
        let (row, names) = resolve(&s, &id)?;
        check_component(&row, &names, c.as_deref())?;
        Ok(row)
    })
    .await?;
    tracing::info!(
        deployment = row.id,
        device = row.device,
        site = row.site,
        "restart asked through the LO"
    );
    let op = OpRequest {
        id: opboard::new_id(),
        device: row.device.clone(),
        deployment: row.id.clone(),
        component,
        kind: OpKind::Restart,
        offset: None,
        tail: None,
        since: None,
    };
    let result = run(&store, &row, op).await?;
    if let Some(e) = failure(&row, &result) {
        return Err(e);
    }
    result.workloads.ok_or_else(|| {
        ApiError::upstream(format!(
            "device `{}` answered a restart without its workloads",
            row.device
        ))
    })
}

/// What waits for the LO of `site`, as soon as something does (at most
/// `wait` seconds, bounded).
pub(crate) async fn take(store: &Store, site: &str, wait: u64) -> Vec<OpRequest> {
    let wait = Duration::from_secs(wait.min(edge_api::remote::MAX_POLL_WAIT));
    store.remote.take(site, wait).await
}

/// The LO of `site` answers operation `id`: handed to the waiting request
/// when the site took it and it is well formed.
pub(crate) fn answer(
    store: &Store,
    site: &str,
    id: &str,
    result: OpResult,
) -> Result<(), ApiError> {
    if !result.well_formed() {
        return Err(ApiError::bad_request(
            "a result holds exactly one of `log` (at most 64 KiB of the log), `workloads` or `failure`",
        ));
    }
    if let Some(op) = store.remote.taken(site, id) {
        let fits = match op.kind {
            OpKind::Logs => result.workloads.is_none(),
            OpKind::Restart => result.log.is_none(),
        };
        if !fits {
            return Err(ApiError::bad_request(
                "the result does not answer that operation: a log answers a log request, workloads a restart",
            ));
        }
    }
    if store.remote.answer(site, id, result) {
        Ok(())
    } else {
        Err(ApiError::not_found(format!(
            "no operation `{id}` waits for an answer from site `{site}`"
        )))
    }
}
