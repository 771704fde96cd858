//! North handlers of site sticks (`/api/sites/{site}/export…`); the work is
//! in `ops::export`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use edge_api::types::{ExportGitQuery, ExportQuery, SiteExport};

use crate::co::ops::export;
use crate::co::store::Store;
use crate::error::ApiError;
use crate::http::{QueryParams, blocking};

/// What a USB stick of the site must hold.
#[utoipa::path(get, path = "/api/sites/{site}/export", params(("site" = String, Path, description = "Site name"), ("skipImages" = Option<bool>, Query, description = "List the container images that cannot be pulled instead of failing")),
    responses((status = 200, body = SiteExport), (status = 404, description = "No such site"), (status = 502, description = "A registry a module, binary or container image comes from cannot be reached")))]
pub(crate) async fn export(
    State(store): State<Arc<Store>>,
    UrlPath(site): UrlPath<String>,
    QueryParams(q): QueryParams<ExportQuery>,
) -> Result<axum::Json<SiteExport>, ApiError> {
    let skip = q.skip_images.unwrap_or(false);
    blocking(move || export::plan_stick(&store, &site, skip))
        .await
        .map(axum::Json)
}

/// The site repository's objects a stick holding `have` lacks, as a tar of
/// `<kind>/<id>` entries; the head commit is in the `x-edgectl-head` header.
#[utoipa::path(get, path = "/api/sites/{site}/export/git", params(("site" = String, Path, description = "Site name"), ("have" = Option<String>, Query, description = "The commit the stick holds")),
    responses((status = 200, description = "A tar of objects", content_type = "application/x-tar"), (status = 404, description = "No such site, or no deployment yet")))]
pub(crate) async fn export_git(
    State(store): State<Arc<Store>>,
    UrlPath(site): UrlPath<String>,
    QueryParams(q): QueryParams<ExportGitQuery>,
) -> Result<Response, ApiError> {
    let (head, body) =
        blocking(move || export::git_objects(&store, &site, q.have.as_deref())).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-tar".to_owned()),
            (header::HeaderName::from_static("x-edgectl-head"), head),
        ],
        Body::from(body),
    )
        .into_response())
}

/// One artifact the site's deployments name.
#[utoipa::path(get, path = "/api/sites/{site}/export/blobs/{digest}", params(("site" = String, Path, description = "Site name"), ("digest" = String, Path, description = "sha256:…")),
    responses((status = 200, description = "The artifact", content_type = "application/octet-stream"), (status = 404, description = "Not an artifact of this site")))]
pub(crate) async fn export_blob(
    State(store): State<Arc<Store>>,
    UrlPath((site, digest)): UrlPath<(String, String)>,
) -> Result<Response, ApiError> {
    let bytes = blocking(move || export::blob(&store, &site, &digest)).await?;
    Ok((
        [(header::CONTENT_TYPE, "application/octet-stream")],
        Body::from(bytes),
    )
        .into_response())
}
