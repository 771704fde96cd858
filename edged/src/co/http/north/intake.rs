//! `POST /api/sites/{site}/intake`: an LO's outbox batches carried back on a
//! stick; the work is in `ops::intake`.

use std::sync::Arc;

use axum::extract::{Path as UrlPath, State};
use edge_api::types::{IntakeAck, IntakeBatch};

use crate::co::ops::intake::{self, MAX_INTAKE};
use crate::co::store::Store;
use crate::error::ApiError;
use crate::http::{BoundedBody, blocking};

/// Status and capabilities of a site carried on a stick (`edgectl lo
/// export-status`, then `edgectl co import-status`): the same batches an LO
/// forwards, applied once each however often they arrive.
#[utoipa::path(post, path = "/api/sites/{site}/intake", params(("site" = String, Path, description = "Site name")), request_body = IntakeBatch,
    responses((status = 200, body = IntakeAck, description = "Every entry up to `acked` is stored"), (status = 404, description = "No such site")))]
pub(crate) async fn intake_from_stick(
    State(store): State<Arc<Store>>,
    UrlPath(site): UrlPath<String>,
    BoundedBody(body): BoundedBody<MAX_INTAKE>,
) -> Result<axum::Json<IntakeAck>, ApiError> {
    let batch = intake::read_batch(&body)?;
    let acked = blocking(move || intake::from_stick(&store, &site, &batch)).await?;
    Ok(axum::Json(IntakeAck { acked }))
}
