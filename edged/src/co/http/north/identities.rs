//! North handlers of enrolment and revocation (`/api/enrollments`,
//! `/api/revocations`), and of the CA and its rotation (`/api/ca`,
//! `/api/ca/{step}`); the work is in `ops::identities` and `ops::ca`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Response;
use edge_api::types::{CaInfo, CaStep, EnrollRequest, Enrollment, RevokeRequest, Revoked};

use crate::co::ops::{ca, identities};
use crate::co::store::Store;
use crate::error::ApiError;
use crate::http::{JsonBody, blocking, created};

/// Issue an identity for a site's Local Orchestrator, or for a device of the site.
#[utoipa::path(post, path = "/api/enrollments", request_body = EnrollRequest,
    responses((status = 201, body = Enrollment), (status = 404, description = "No such site or device"),
              (status = 400, description = "The device id cannot be a SPIFFE path segment")))]
pub(crate) async fn enroll(
    State(store): State<Arc<Store>>,
    JsonBody(req): JsonBody<EnrollRequest>,
) -> Result<Response, ApiError> {
    let enrollment = blocking(move || identities::enroll(&store, &req)).await?;
    Ok(created(&enrollment))
}

/// Revoke the identities of a site's LO (no device) or of a device; the next
/// request made with them fails.
#[utoipa::path(post, path = "/api/revocations", request_body = RevokeRequest,
    responses((status = 200, body = Revoked), (status = 404, description = "Nothing to revoke")))]
pub(crate) async fn revoke(
    State(store): State<Arc<Store>>,
    JsonBody(req): JsonBody<RevokeRequest>,
) -> Result<axum::Json<Revoked>, ApiError> {
    let revoked = blocking(move || identities::revoke(&store, &req)).await?;
    Ok(axum::Json(Revoked { revoked }))
}

/// The CA's anchors: the generation that signs, one staged, and retired
/// ones still trusted, with the trust bundle's sequence and refresh hint.
#[utoipa::path(get, path = "/api/ca", responses((status = 200, body = CaInfo)))]
pub(crate) async fn show_ca(
    State(store): State<Arc<Store>>,
) -> Result<axum::Json<CaInfo>, ApiError> {
    Ok(axum::Json(blocking(move || Ok(ca::info(&store))).await?))
}

/// A step of a CA rotation: `stage` a new CA (trusted, not signing),
/// `activate` it (it signs; the former one is retired, still trusted) or
/// `retire` the retired ones whose identities are gone.
#[utoipa::path(post, path = "/api/ca/{step}", request_body = CaStep,
    params(("step" = String, Path, description = "stage, activate or retire")),
    responses((status = 200, body = CaInfo),
              (status = 404, description = "Not a step"),
              (status = 409, description = "The step does not follow, or too early")))]
pub(crate) async fn rotate_ca(
    State(store): State<Arc<Store>>,
    Path(step): Path<String>,
    JsonBody(opts): JsonBody<CaStep>,
) -> Result<axum::Json<CaInfo>, ApiError> {
    Ok(axum::Json(
        blocking(move || ca::step(&store, &step, &opts)).await?,
    ))
}
