//! Enrolment and revocation of Local Orchestrators and devices: the operator
//! step of MIAF (no trust on first use). `enroll` issues an identity and
//! returns its key once; `revoke` marks a site's LO or a device revoked, which
//! the south listener checks on every request.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use edge_api::types::{EnrollRequest, Enrollment, RevokeRequest, Revoked};
use edge_model::DeviceId;

use super::db::{self, IdentityRow};
use super::http::{JsonBody, blocking, created};
use super::store::Store;
use crate::error::ApiError;
use crate::south::segment_ok;

/// Validity of an LO identity, days.
const LO_DAYS: i64 = 90;
/// Validity of a device identity, days.
const DEVICE_DAYS: i64 = 30;

/// Issue an identity for a site's Local Orchestrator, or for a device of the site.
#[utoipa::path(post, path = "/api/enrollments", request_body = EnrollRequest,
    responses((status = 201, body = Enrollment), (status = 404, description = "No such site or device"),
              (status = 400, description = "The device id cannot be a SPIFFE path segment")))]
pub(crate) async fn enroll(
    State(store): State<Arc<Store>>,
    JsonBody(req): JsonBody<EnrollRequest>,
) -> Result<Response, ApiError> {
    blocking(move || {
        let conn = store.db();
        if db::site(&conn, &req.site)?.is_none() {
            return Err(ApiError::not_found(format!("no site `{}`", req.site)));
        }
        if let Some(d) = &req.device {
            if !DeviceId::is_valid(d) || !segment_ok(d) {
                return Err(ApiError::bad_request(format!(
                    "device `{d}` cannot be enrolled directly: its id must be one level of letters, digits and `._~-` (devices behind a gateway are reported by the gateway)"
                )));
            }
            match db::device(&conn, d)? {
                Some(dev) if dev.site == req.site => {}
                Some(dev) => return Err(ApiError::not_found(format!("device `{d}` belongs to site `{}`, not `{}`", dev.site, req.site))),
                None => return Err(ApiError::not_found(format!("no device `{d}` at site `{}`; add it with `edgectl co add device`", req.site))),
            }
        }
        if !segment_ok(&req.site) || req.site == "co" {
            return Err(ApiError::bad_request(format!("site `{}` cannot be a SPIFFE path segment", req.site)));
        }
        if req.direct && req.device.is_none() {
            return Err(ApiError::bad_request("`direct` applies to a device, not to an LO"));
        }
        // A device is the client of the WFM it attaches to: its site's LO, or the CO.
        let wfm = if req.direct { "co" } else { req.site.as_str() };
        let spiffe_id = store.ca().spiffe_id(wfm, req.device.as_deref());
        let days = if req.device.is_some() { DEVICE_DAYS } else { LO_DAYS };
        // An LO serves its site's devices; a device is only ever a client.
        let issued = store.ca().issue(&spiffe_id, days, &[], req.device.is_none())?;
        db::insert_identity(
            &conn,
            &IdentityRow {
                fingerprint: issued.fingerprint.clone(),
                spiffe_id: issued.spiffe_id.clone(),
                site: req.site.clone(),
                device: req.device.clone(),
                issued_at: crate::clock::now(),
                not_after: issued.not_after.clone(),
                revoked_at: None,
            },
        )?;
        tracing::info!(spiffe_id, fingerprint = issued.fingerprint, "identity issued");
        Ok(created(&Enrollment {
            spiffe_id: issued.spiffe_id,
            fingerprint: issued.fingerprint,
            not_after: issued.not_after,
            certificate: issued.cert_pem,
            private_key: issued.key_pem,
            ca_bundle: store.ca().cert_pem().to_owned(),
            south_url: store.south_url(),
        }))
    })
    .await
}

/// Revoke the identities of a site's LO (no device) or of a device; the next
/// request made with them fails.
#[utoipa::path(post, path = "/api/revocations", request_body = RevokeRequest,
    responses((status = 200, body = Revoked), (status = 404, description = "Nothing to revoke")))]
pub(crate) async fn revoke(
    State(store): State<Arc<Store>>,
    JsonBody(req): JsonBody<RevokeRequest>,
) -> Result<axum::Json<Revoked>, ApiError> {
    blocking(move || {
        let n = db::revoke(
            &store.db(),
            &req.site,
            req.device.as_deref(),
            &crate::clock::now(),
        )?;
        if n == 0 {
            let who = req.device.as_ref().map_or_else(
                || format!("the LO of site `{}`", req.site),
                |d| format!("device `{d}` at site `{}`", req.site),
            );
            return Err(ApiError::not_found(format!("no active identity of {who}")));
        }
        store.changed(&req.site);
        tracing::info!(
            site = req.site,
            device = req.device,
            revoked = n,
            "identities revoked"
        );
        Ok(axum::Json(Revoked { revoked: n as u64 }))
    })
    .await
}
