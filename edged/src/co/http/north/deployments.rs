//! North handlers of deployments and site history (`/api/deployments…`,
//! `/api/sites/{site}/history`, `…/rollback`); the work is in
//! `ops::deployments` (one deployment in detail: `ops::detail`).

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use edge_api::types::{
    ApplyRequest, Commit, DeployRequest, DeploymentDetail, DeploymentSummary, RollbackRequest,
    UpdateRequest,
};
use serde::Deserialize;

use crate::co::ops::access::Caller;
use crate::co::ops::apply::{self, MAX_APPLY_BYTES};
use crate::co::ops::{deployments, detail, rollback, update};
use crate::co::store::Store;
use crate::error::ApiError;
use crate::http::{BoundedBody, JsonBody, QueryParams, blocking, created};

/// Deploy an app to devices of a site: one ApplicationDeployment per device,
/// one commit. Where the app (with that name) already runs on a device, its
/// deployment is updated in place, keeping its id.
#[utoipa::path(post, path = "/api/deployments", request_body = DeployRequest,
    responses((status = 201, body = Vec<DeploymentSummary>, description = "A deployment was created"),
              (status = 200, body = Vec<DeploymentSummary>, description = "Existing deployments were updated or left unchanged, or a dry run"),
              (status = 404, description = "No such app, version, site or device"),
              (status = 422, description = "Invalid values, or no device fits")))]
pub(crate) async fn deploy(
    State(store): State<Arc<Store>>,
    Extension(caller): Extension<Caller>,
    headers: axum::http::HeaderMap,
    JsonBody(req): JsonBody<DeployRequest>,
) -> Result<Response, ApiError> {
    use tracing::Instrument as _;
    let dry = req.dry_run;
    let span = crate::trace::adopt(
        tracing::info_span!(
            "co.deploy",
            app = req.app,
            site = req.site,
            trace_id = tracing::field::Empty,
            span_id = tracing::field::Empty
        ),
        crate::trace::Traceparent::from_headers(&headers),
    );
    let out = blocking(move || deployments::deploy(&store, &req, &caller.actor))
        .instrument(span)
        .await?;
    if !dry && out.iter().any(|d| d.change.as_deref() == Some("created")) {
        Ok(created(&out))
    } else {
        Ok(axum::Json(out).into_response())
    }
}

/// Change deployments in place: a new version, new parameter values, or
/// both; each keeps its id. One commit per site.
#[utoipa::path(post, path = "/api/deployments/update", request_body = UpdateRequest,
    responses((status = 200, body = Vec<DeploymentSummary>, description = "Each chosen deployment, `updated` or `unchanged`"),
              (status = 404, description = "No such deployment, app or version"),
              (status = 409, description = "An id prefix names several deployments"),
              (status = 422, description = "Invalid values for the version moved to")))]
pub(crate) async fn update_deployments(
    State(store): State<Arc<Store>>,
    Extension(caller): Extension<Caller>,
    JsonBody(req): JsonBody<UpdateRequest>,
) -> Result<axum::Json<Vec<DeploymentSummary>>, ApiError> {
    blocking(move || update::update(&store, &req, &caller.actor))
        .await
        .map(axum::Json)
}

/// Make the deployments match the desired ones: create, update in place,
/// and with `prune` remove what an earlier apply made and no entry names.
/// Every entry is checked first; one commit per site that changes.
#[utoipa::path(post, path = "/api/apply", request_body = ApplyRequest,
    responses((status = 200, body = Vec<DeploymentSummary>, description = "Each deployment named or removed, with its change"),
              (status = 400, description = "Not a valid request, or too many entries"),
              (status = 422, description = "Problems in the entries, each with the file and field it came from")))]
pub(crate) async fn apply(
    State(store): State<Arc<Store>>,
    Extension(caller): Extension<Caller>,
    BoundedBody(body): BoundedBody<MAX_APPLY_BYTES>,
) -> Result<axum::Json<Vec<DeploymentSummary>>, ApiError> {
    let req: ApplyRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("the request body is not valid: {e}")))?;
    blocking(move || apply::apply(&store, &req, &caller.actor))
        .await
        .map(axum::Json)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    /// Only deployments of this site.
    site: Option<String>,
}

/// List deployments.
#[utoipa::path(get, path = "/api/deployments", params(ListQuery), responses((status = 200, body = Vec<DeploymentSummary>)))]
pub(crate) async fn list_deployments(
    State(store): State<Arc<Store>>,
    QueryParams(q): QueryParams<ListQuery>,
) -> Result<axum::Json<Vec<DeploymentSummary>>, ApiError> {
    blocking(move || deployments::list(&store, q.site.as_deref()))
        .await
        .map(axum::Json)
}

/// One deployment in detail: its summary with the state last reported,
/// its ApplicationDeployment as the site's repository holds it, and its
/// parameter values.
#[utoipa::path(get, path = "/api/deployments/{deployment}", params(("deployment" = String, Path, description = "Deployment id, or a unique start of it (at least 4 characters)")),
    responses((status = 200, body = DeploymentDetail), (status = 404, description = "No such deployment"),
              (status = 409, description = "The start of several deployments' ids")))]
pub(crate) async fn show_deployment(
    State(store): State<Arc<Store>>,
    UrlPath(id): UrlPath<String>,
) -> Result<axum::Json<DeploymentDetail>, ApiError> {
    blocking(move || detail::show(&store, &id))
        .await
        .map(axum::Json)
}

/// Remove a deployment from its site's desired state (a new commit).
#[utoipa::path(delete, path = "/api/deployments/{deployment}", params(("deployment" = String, Path, description = "Deployment id, or a unique prefix of it")),
    responses((status = 204, description = "Removed from the desired state"), (status = 404, description = "No such deployment")))]
pub(crate) async fn undeploy(
    State(store): State<Arc<Store>>,
    Extension(caller): Extension<Caller>,
    UrlPath(id): UrlPath<String>,
) -> Result<Response, ApiError> {
    blocking(move || deployments::undeploy(&store, &id, &caller.actor)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct HistoryQuery {
    /// Most commits to return (default 50).
    limit: Option<usize>,
}

/// The commits of a site's desired-state repository, newest first.
#[utoipa::path(get, path = "/api/sites/{site}/history", params(("site" = String, Path, description = "Site name"), HistoryQuery),
    responses((status = 200, body = Vec<Commit>), (status = 404, description = "No such site")))]
pub(crate) async fn history(
    State(store): State<Arc<Store>>,
    UrlPath(site): UrlPath<String>,
    QueryParams(q): QueryParams<HistoryQuery>,
) -> Result<axum::Json<Vec<Commit>>, ApiError> {
    blocking(move || deployments::history(&store, &site, q.limit))
        .await
        .map(axum::Json)
}

/// Restore the desired state of an earlier commit, as a new commit (with
/// `dryRun`, only say what would change).
#[utoipa::path(post, path = "/api/sites/{site}/rollback", params(("site" = String, Path, description = "Site name")), request_body = RollbackRequest,
    responses((status = 200, body = Vec<DeploymentSummary>, description = "Each deployment with what the rollback does to it: `created`, `updated` (with what changes), `removed`, `unchanged`, or `skipped` (its app version is no longer in the store; left as it is, the reason in `changes`)"),
              (status = 404, description = "No such site or commit")))]
pub(crate) async fn rollback(
    State(store): State<Arc<Store>>,
    Extension(caller): Extension<Caller>,
    UrlPath(site): UrlPath<String>,
    JsonBody(req): JsonBody<RollbackRequest>,
) -> Result<axum::Json<Vec<DeploymentSummary>>, ApiError> {
    blocking(move || rollback::rollback(&store, &site, &req.to, &caller.actor, req.dry_run))
        .await
        .map(axum::Json)
}
