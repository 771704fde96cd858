//! North handlers of the app store (`/api/apps…`); the work is in
//! `ops::apps`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use edge_api::types::{AddAppRequest, AppDetail, AppSummary};
use serde::Deserialize;

use crate::co::ops::apps;
use crate::co::store::Store;
use crate::error::ApiError;
use crate::http::{JsonBody, QueryParams, blocking, created};

/// Largest uploaded package.
pub(crate) const MAX_UPLOAD_BYTES: usize = 64 * 1024 * 1024;

/// List the apps in the store.
#[utoipa::path(get, path = "/api/apps", responses((status = 200, body = Vec<AppSummary>)))]
pub(crate) async fn list_apps(State(store): State<Arc<Store>>) -> Result<Response, ApiError> {
    let body = match store.cached_apps() {
        Ok(body) => body,
        Err(generation) => blocking(move || apps::list(&store, generation)).await?,
    };
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        Bytes::from_owner(body),
    )
        .into_response())
}

/// Add an app from a Git repository or an OCI registry.
#[utoipa::path(post, path = "/api/apps", request_body = AddAppRequest,
    responses((status = 201, body = AppDetail), (status = 400, description = "Malformed request"),
              (status = 409, description = "Duplicate version or id clash"), (status = 422, description = "Invalid package"),
              (status = 502, description = "The source could not be fetched")))]
pub(crate) async fn add_app(
    State(store): State<Arc<Store>>,
    JsonBody(req): JsonBody<AddAppRequest>,
) -> Result<Response, ApiError> {
    Ok(created(&apps::add(store, req).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct UploadQuery {
    /// Name of the uploaded folder (for the record), or the expected app id.
    name: Option<String>,
}

/// Add an app from an uploaded package: a tar (optionally gzip) of the package folder.
#[utoipa::path(post, path = "/api/apps/upload", params(UploadQuery), request_body(content = Vec<u8>, content_type = "application/x-tar"),
    responses((status = 201, body = AppDetail), (status = 409, description = "Duplicate version or id clash"),
              (status = 413, description = "Over 64 MiB"), (status = 422, description = "Invalid package")))]
pub(crate) async fn upload_app(
    State(store): State<Arc<Store>>,
    QueryParams(q): QueryParams<UploadQuery>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large(format!(
                "packages are limited to {} MiB",
                MAX_UPLOAD_BYTES >> 20
            ))
        } else {
            ApiError::bad_request(format!("the upload could not be read: {}", r.body_text()))
        }
    })?;
    let detail = blocking(move || apps::upload(&store, &body, q.name.as_deref())).await?;
    Ok(created(&detail))
}

/// Show one app (by id or display name): metadata, profiles, parameters and schema, versions.
#[utoipa::path(get, path = "/api/apps/{app}", params(("app" = String, Path, description = "App id or display name")),
    responses((status = 200, body = AppDetail), (status = 404, description = "No such app"), (status = 409, description = "The name is ambiguous")))]
pub(crate) async fn show_app(
    State(store): State<Arc<Store>>,
    UrlPath(app): UrlPath<String>,
) -> Result<axum::Json<AppDetail>, ApiError> {
    blocking(move || apps::show(&store, &app))
        .await
        .map(axum::Json)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct RemoveQuery {
    /// Remove only this version.
    version: Option<String>,
    /// Remove even while deployed.
    #[serde(default)]
    force: bool,
}

/// Remove an app (or one version); refused while deployed unless `force`.
#[utoipa::path(delete, path = "/api/apps/{app}", params(("app" = String, Path, description = "App id or display name"), RemoveQuery),
    responses((status = 204, description = "Removed"), (status = 404, description = "No such app or version"), (status = 409, description = "Deployed")))]
pub(crate) async fn remove_app(
    State(store): State<Arc<Store>>,
    UrlPath(app): UrlPath<String>,
    QueryParams(q): QueryParams<RemoveQuery>,
) -> Result<Response, ApiError> {
    blocking(move || apps::remove(&store, &app, q.version.as_deref(), q.force)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
