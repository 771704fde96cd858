//! North handlers of sites and devices (`/api/sites…`, `/api/devices…`);
//! the work is in `ops::sites` (removing one: `ops::remove`).

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path as UrlPath, State};
use axum::response::Response;
use edge_api::types::{CreateDevice, CreateDevices, CreateSite, Device, Labels, Removal, Site};
use serde::Deserialize;

use crate::co::ops::access::Caller;
use crate::co::ops::{remove, sites};
use crate::co::store::Store;
use crate::error::ApiError;
use crate::http::{BoundedBody, JsonBody, QueryParams, blocking, created};

/// List sites.
#[utoipa::path(get, path = "/api/sites", responses((status = 200, body = Vec<Site>)))]
pub(crate) async fn list_sites(
    State(store): State<Arc<Store>>,
) -> Result<axum::Json<Vec<Site>>, ApiError> {
    blocking(move || sites::list_sites(&store))
        .await
        .map(axum::Json)
}

/// Create a site.
#[utoipa::path(post, path = "/api/sites", request_body = CreateSite,
    responses((status = 201, body = Site), (status = 400, description = "Bad name or labels"), (status = 409, description = "Exists")))]
pub(crate) async fn create_site(
    State(store): State<Arc<Store>>,
    JsonBody(req): JsonBody<CreateSite>,
) -> Result<Response, ApiError> {
    let site = blocking(move || sites::create_site(&store, &req)).await?;
    Ok(created(&site))
}

/// Show a site.
#[utoipa::path(get, path = "/api/sites/{site}", params(("site" = String, Path, description = "Site name")),
    responses((status = 200, body = Site), (status = 404, description = "No such site")))]
pub(crate) async fn show_site(
    State(store): State<Arc<Store>>,
    UrlPath(site): UrlPath<String>,
) -> Result<axum::Json<Site>, ApiError> {
    blocking(move || sites::show_site(&store, &site))
        .await
        .map(axum::Json)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct RemoveQuery {
    /// Undeploy what runs there first, instead of refusing.
    #[serde(default)]
    force: bool,
}

/// Remove a site with its devices, revoking the identities of its LO and
/// devices; refused while anything is deployed there unless `force`, which
/// undeploys it first (one commit). Its LO, locked out at once, cannot
/// fetch that commit: workloads at the site keep running as last fetched.
#[utoipa::path(delete, path = "/api/sites/{site}", params(("site" = String, Path, description = "Site name"), RemoveQuery),
    responses((status = 200, body = Removal), (status = 404, description = "No such site"),
              (status = 409, description = "Deployments are there (without `force`), or a rollout is under way there")))]
pub(crate) async fn remove_site(
    State(store): State<Arc<Store>>,
    Extension(caller): Extension<Caller>,
    UrlPath(site): UrlPath<String>,
    QueryParams(q): QueryParams<RemoveQuery>,
) -> Result<axum::Json<Removal>, ApiError> {
    blocking(move || remove::remove_site(&store, &site, q.force, &caller.actor))
        .await
        .map(axum::Json)
}

/// Replace a site's labels.
#[utoipa::path(put, path = "/api/sites/{site}/labels", params(("site" = String, Path, description = "Site name")), request_body = Labels,
    responses((status = 200, body = Site), (status = 404, description = "No such site")))]
pub(crate) async fn label_site(
    State(store): State<Arc<Store>>,
    UrlPath(site): UrlPath<String>,
    JsonBody(req): JsonBody<Labels>,
) -> Result<axum::Json<Site>, ApiError> {
    blocking(move || sites::label_site(&store, &site, &req.labels))
        .await
        .map(axum::Json)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeviceQuery {
    /// Only devices of this site.
    site: Option<String>,
}

/// List devices.
#[utoipa::path(get, path = "/api/devices", params(DeviceQuery), responses((status = 200, body = Vec<Device>)))]
pub(crate) async fn list_devices(
    State(store): State<Arc<Store>>,
    QueryParams(q): QueryParams<DeviceQuery>,
) -> Result<axum::Json<Vec<Device>>, ApiError> {
    blocking(move || sites::list_devices(&store, q.site.as_deref()))
        .await
        .map(axum::Json)
}

/// Register a device at a site.
#[utoipa::path(post, path = "/api/devices", request_body = CreateDevice,
    responses((status = 201, body = Device), (status = 400, description = "Bad id or labels"), (status = 404, description = "No such site"),
              (status = 409, description = "Exists")))]
pub(crate) async fn create_device(
    State(store): State<Arc<Store>>,
    JsonBody(req): JsonBody<CreateDevice>,
) -> Result<Response, ApiError> {
    let device = blocking(move || sites::create_device(&store, &req)).await?;
    Ok(created(&device))
}

/// Register many devices at once, all or none, in one commit (at most
/// 10,000; 4 MiB of JSON).
#[utoipa::path(post, path = "/api/devices/batch", request_body = CreateDevices,
    responses((status = 201, body = Vec<Device>), (status = 400, description = "Bad id or labels, a device named twice, or too many"),
              (status = 404, description = "No such site"), (status = 409, description = "A device exists")))]
pub(crate) async fn create_devices(
    State(store): State<Arc<Store>>,
    BoundedBody(body): BoundedBody<MAX_DEVICES_BODY>,
) -> Result<Response, ApiError> {
    let req: CreateDevices = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("the request body is not valid: {e}")))?;
    let devices = blocking(move || sites::create_devices(&store, &req.devices)).await?;
    Ok(created(&devices))
}

/// Largest body of a batch of devices.
pub(crate) const MAX_DEVICES_BODY: usize = 4 * 1024 * 1024;

/// Show a device.
#[utoipa::path(get, path = "/api/devices/{device}", params(("device" = String, Path, description = "Device id")),
    responses((status = 200, body = Device), (status = 404, description = "No such device")))]
pub(crate) async fn show_device(
    State(store): State<Arc<Store>>,
    UrlPath(device): UrlPath<String>,
) -> Result<axum::Json<Device>, ApiError> {
    blocking(move || sites::show_device(&store, &device))
        .await
        .map(axum::Json)
}

/// Remove a device, revoking its identities; refused while anything is
/// deployed on it unless `force`, which undeploys it first (one commit).
/// Locked out at once, the device cannot fetch that commit: its workloads
/// keep running as last fetched.
#[utoipa::path(delete, path = "/api/devices/{device}", params(("device" = String, Path, description = "Device id"), RemoveQuery),
    responses((status = 200, body = Removal), (status = 404, description = "No such device"),
              (status = 409, description = "Deployments are there (without `force`), or a rollout is under way there")))]
pub(crate) async fn remove_device(
    State(store): State<Arc<Store>>,
    Extension(caller): Extension<Caller>,
    UrlPath(device): UrlPath<String>,
    QueryParams(q): QueryParams<RemoveQuery>,
) -> Result<axum::Json<Removal>, ApiError> {
    blocking(move || remove::remove_device(&store, &device, q.force, &caller.actor))
        .await
        .map(axum::Json)
}

/// Replace a device's labels.
#[utoipa::path(put, path = "/api/devices/{device}/labels", params(("device" = String, Path, description = "Device id")), request_body = Labels,
    responses((status = 200, body = Device), (status = 404, description = "No such device")))]
pub(crate) async fn label_device(
    State(store): State<Arc<Store>>,
    UrlPath(device): UrlPath<String>,
    JsonBody(req): JsonBody<Labels>,
) -> Result<axum::Json<Device>, ApiError> {
    blocking(move || sites::label_device(&store, &device, &req.labels))
        .await
        .map(axum::Json)
}
