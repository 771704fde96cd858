//! What an LO asks of the CO for remote operations on its site's nodes:
//! `GET /lo/v1/ops?wait=` (those queued for its site, at once or as soon as
//! one comes) and `POST /lo/v1/ops/{id}` (a node's result). The caller must
//! be a site's unrevoked LO; it sees and answers its own site's only.

use std::sync::Arc;

use axum::extract::{Extension, Path as UrlPath, State};
use axum::http::StatusCode;
use edge_api::remote::{MAX_RESULT, OpRequest, OpResult};
use serde::Deserialize;

use crate::co::ops::identities::lo_site;
use crate::co::ops::remote;
use crate::co::store::Store;
use crate::error::ApiError;
use crate::http::{BoundedBody, QueryParams, blocking};
use crate::south::Caller;

/// Query of `GET /lo/v1/ops`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OpsQuery {
    /// Seconds to wait for an operation (at most 30).
    wait: Option<u64>,
}

/// The operations queued for the caller's site.
pub(crate) async fn ops(
    State(store): State<Arc<Store>>,
    Extension(caller): Extension<Caller>,
    QueryParams(q): QueryParams<OpsQuery>,
) -> Result<axum::Json<Vec<OpRequest>>, ApiError> {
    let s = store.clone();
    let site = blocking(move || lo_site(&s, &caller)).await?;
    Ok(axum::Json(
        remote::take(&store, &site, q.wait.unwrap_or(0)).await,
    ))
}

/// The result of one of the caller's site's operations.
pub(crate) async fn answer(
    State(store): State<Arc<Store>>,
    Extension(caller): Extension<Caller>,
    UrlPath(id): UrlPath<String>,
    BoundedBody(body): BoundedBody<MAX_RESULT>,
) -> Result<StatusCode, ApiError> {
    let result: OpResult = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("the result is not valid: {e}")))?;
    blocking(move || {
        let site = lo_site(&store, &caller)?;
        remote::answer(&store, &site, &id, result)?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}
