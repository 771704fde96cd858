//! North handlers of enrolment and revocation (`/api/enrollments`,
//! `/api/revocations`); the work is in `ops::identities`.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use edge_api::types::{EnrollRequest, Enrollment, RevokeRequest, Revoked};

use crate::co::ops::identities;
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
