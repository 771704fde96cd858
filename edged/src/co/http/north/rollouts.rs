//! North handlers of rollouts (`/api/rollouts…`); the work is in
//! `ops::rollout`.

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path as UrlPath, State};
use edge_api::types::Rollout;
use serde::Deserialize;

use crate::co::ops::access::Caller;
use crate::co::ops::rollout;
use crate::co::store::Store;
use crate::error::ApiError;
use crate::http::{QueryParams, blocking};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    /// Most rollouts to return, newest first (default 50, at most 1000).
    limit: Option<usize>,
}

/// The rollouts, newest first, with each wave's progress.
#[utoipa::path(get, path = "/api/rollouts", params(ListQuery), responses((status = 200, body = Vec<Rollout>)))]
pub(crate) async fn list_rollouts(
    State(store): State<Arc<Store>>,
    QueryParams(q): QueryParams<ListQuery>,
) -> Result<axum::Json<Vec<Rollout>>, ApiError> {
    blocking(move || rollout::list(&store, q.limit))
        .await
        .map(axum::Json)
}

/// One rollout, with every deployment it changes and its state.
#[utoipa::path(get, path = "/api/rollouts/{rollout}", params(("rollout" = String, Path, description = "Rollout id")),
    responses((status = 200, body = Rollout), (status = 404, description = "No such rollout")))]
pub(crate) async fn show_rollout(
    State(store): State<Arc<Store>>,
    UrlPath(id): UrlPath<String>,
) -> Result<axum::Json<Rollout>, ApiError> {
    blocking(move || rollout::show(&store, &id))
        .await
        .map(axum::Json)
}

/// Pause a running rollout (no more waves are sent), resume a paused one
/// (the failures so far are accepted), or undo one (the previous
/// deployments are put back wherever it changed them).
#[utoipa::path(post, path = "/api/rollouts/{rollout}/{action}",
    params(("rollout" = String, Path, description = "Rollout id"),
           ("action" = String, Path, description = "`pause`, `resume` or `undo`")),
    responses((status = 200, body = Rollout, description = "The rollout afterwards"),
              (status = 404, description = "No such rollout or action"),
              (status = 409, description = "Not possible in the rollout's state")))]
pub(crate) async fn act_on_rollout(
    State(store): State<Arc<Store>>,
    Extension(caller): Extension<Caller>,
    UrlPath((id, action)): UrlPath<(String, String)>,
) -> Result<axum::Json<Rollout>, ApiError> {
    blocking(move || rollout::act(&store, &id, &action, &caller.actor))
        .await
        .map(axum::Json)
}
