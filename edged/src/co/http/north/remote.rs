//! North handlers of remote operations on a deployment's workload
//! (`GET /api/deployments/{deployment}/logs`, `POST
//! /api/deployments/{deployment}/restart`); the work, and the way through
//! the site's LO to the node, is in `ops::remote`.

use std::sync::Arc;

use axum::extract::{Path as UrlPath, State};
use edge_api::node::{LogChunk, WorkloadRow};
use serde::Deserialize;

use crate::co::ops::remote::{self, LogAsk};
use crate::co::store::Store;
use crate::error::ApiError;
use crate::http::QueryParams;

/// Query of `GET /api/deployments/{deployment}/logs`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct LogsQuery {
    /// The component (needed when the deployment has several).
    component: Option<String>,
    /// Go on from this offset (follow by asking again from `next`).
    offset: Option<u64>,
    /// Only the last N lines.
    tail: Option<usize>,
    /// Only lines written since then (Unix milliseconds).
    since: Option<i64>,
}

/// Query of `POST /api/deployments/{deployment}/restart`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct RestartQuery {
    /// The component (needed when the deployment has several).
    component: Option<String>,
}

/// A piece of a deployment's workload log (at most 64 KiB), read on its
/// device through the site's LO; ask again from `next` to follow.
#[utoipa::path(get, path = "/api/deployments/{deployment}/logs", params(("deployment" = String, Path, description = "Deployment id or a unique start of it"), LogsQuery),
    responses((status = 200, body = LogChunk, description = "A piece of the log"),
              (status = 404, description = "No such deployment or component, or no log"),
              (status = 409, description = "The deployment is not placed on its device yet"),
              (status = 503, description = "The site's LO is not connected to the CO"),
              (status = 504, description = "The LO or the device did not answer in time")))]
pub(crate) async fn deployment_logs(
    State(store): State<Arc<Store>>,
    UrlPath(deployment): UrlPath<String>,
    QueryParams(q): QueryParams<LogsQuery>,
) -> Result<axum::Json<LogChunk>, ApiError> {
    let ask = LogAsk {
        component: q.component,
        offset: q.offset,
        tail: q.tail,
        since: q.since,
    };
    remote::logs(store, deployment, ask).await.map(axum::Json)
}

/// Restart a deployment's workload on its device, through the site's LO;
/// answers the deployment's workloads there afterwards.
#[utoipa::path(post, path = "/api/deployments/{deployment}/restart", params(("deployment" = String, Path, description = "Deployment id or a unique start of it"), RestartQuery),
    responses((status = 200, body = Vec<WorkloadRow>, description = "Restarted; the deployment's workloads on the device"),
              (status = 404, description = "No such deployment or component"),
              (status = 409, description = "The deployment is not placed on its device yet"),
              (status = 502, description = "The restart failed on the device"),
              (status = 503, description = "The site's LO is not connected to the CO"),
              (status = 504, description = "The LO or the device did not answer in time")))]
pub(crate) async fn restart_deployment(
    State(store): State<Arc<Store>>,
    UrlPath(deployment): UrlPath<String>,
    QueryParams(q): QueryParams<RestartQuery>,
) -> Result<axum::Json<Vec<WorkloadRow>>, ApiError> {
    remote::restart(store, deployment, q.component)
        .await
        .map(axum::Json)
}
