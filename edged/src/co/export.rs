//! What `edgectl co export` reads to write a site onto a USB stick: the list
//! of what the stick must hold (the head commit and every artifact the
//! deployments at it name), the site repository's objects the stick lacks
//! (a tar of `<kind>/<id>` entries; the receiver checks each against its
//! id), and the artifacts themselves, only those the site's deployments name.
//! Components that come from a registry (`oci://`) are listed, not carried:
//! the site needs that registry.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use edge_api::types::{ExportArtifact, ExportGitQuery, SiteExport};
use edge_model::profile::{EDGECTL_EXTENSION, oci_reference};
use edge_model::{ApplicationDeployment, Digest, MargoDocument as _};
use edge_workspace::git::{self, Mirror};

use super::db;
use super::http::{QueryParams, blocking};
use super::store::Store;
use crate::error::ApiError;

/// Most deployment files read for one export.
const MAX_DEPLOYMENTS: usize = 100_000;

fn internal(e: impl Into<anyhow::Error>) -> ApiError {
    ApiError::internal(&e.into())
}

/// The site's head and the artifacts its deployments name there.
fn plan(store: &Store, site: &str) -> Result<SiteExport, ApiError> {
    if db::site(&store.db(), site)?.is_none() {
        return Err(ApiError::not_found(format!("no site `{site}`")));
    }
    let git_dir = store.site_repo(site).join(".git");
    let head = if git_dir.exists() {
        git::tip_of(&git_dir, "refs/heads/main").map_err(internal)?
    } else {
        None
    };
    let mut artifacts = BTreeSet::new();
    let mut elsewhere = BTreeSet::new();
    if let Some(head) = &head {
        let files = Mirror::at(&git_dir)
            .files_at(head, "deployments", ".yaml", MAX_DEPLOYMENTS, 1 << 20)
            .map_err(internal)?;
        for (_, bytes) in files {
            let Ok(parsed) = ApplicationDeployment::from_slice(&bytes) else {
                continue;
            };
            let d = parsed.document;
            for c in &d.spec.deployment_profile.components {
                let Some(a) = c
                    .extensions
                    .get(EDGECTL_EXTENSION)
                    .and_then(|e| e.get("artifact"))
                else {
                    if let Some(r) = c
                        .properties
                        .repository
                        .as_deref()
                        .filter(|r| r.starts_with("oci://"))
                    {
                        elsewhere.insert(format!(
                            "{} (component `{}` of app `{}`)",
                            oci_reference(r, c.properties.revision.as_deref())
                                .unwrap_or_else(|| r.to_owned()),
                            c.name,
                            d.metadata.annotations.application_id
                        ));
                    }
                    continue;
                };
                let text = |k: &str| a.get(k).and_then(|v| v.as_str()).map(str::to_owned);
                if let (Some(digest), Some(size)) = (
                    text("digest"),
                    a.get("size").and_then(serde_json::Value::as_u64),
                ) {
                    artifacts.insert(ExportArtifact {
                        digest,
                        size,
                        media_type: text("mediaType")
                            .unwrap_or_else(|| "application/octet-stream".into()),
                        app: d.metadata.annotations.application_id.to_string(),
                        component: c.name.to_string(),
                    });
                }
            }
        }
    }
    Ok(SiteExport {
        site: site.to_owned(),
        head,
        artifacts: artifacts.into_iter().collect(),
        in_registries: elsewhere.into_iter().collect(),
        at: crate::clock::format_unix(crate::clock::unix_now()),
    })
}

/// What a USB stick of the site must hold.
#[utoipa::path(get, path = "/api/sites/{site}/export", params(("site" = String, Path, description = "Site name")),
    responses((status = 200, body = SiteExport), (status = 404, description = "No such site")))]
pub(crate) async fn export(
    State(store): State<Arc<Store>>,
    UrlPath(site): UrlPath<String>,
) -> Result<axum::Json<SiteExport>, ApiError> {
    blocking(move || plan(&store, &site).map(axum::Json)).await
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
    blocking(move || {
        if db::site(&store.db(), &site)?.is_none() {
            return Err(ApiError::not_found(format!("no site `{site}`")));
        }
        let git_dir = store.site_repo(&site).join(".git");
        if !git_dir.exists() {
            return Err(ApiError::not_found(format!(
                "site `{site}` has no desired state yet; deploy something first"
            )));
        }
        let (head, objects) =
            git::objects_since(&git_dir, "refs/heads/main", q.have.as_deref()).map_err(internal)?;
        let Some(head) = head else {
            return Err(ApiError::not_found(format!(
                "site `{site}` has no desired state yet; deploy something first"
            )));
        };
        let mut tar = tar::Builder::new(Vec::new());
        for o in &objects {
            let mut h = tar::Header::new_gnu();
            h.set_size(o.data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            tar.append_data(&mut h, format!("{}/{}", o.kind, o.id), o.data.as_slice())
                .map_err(internal)?;
        }
        let body = tar.into_inner().map_err(internal)?;
        Ok((
            [
                (header::CONTENT_TYPE, "application/x-tar".to_owned()),
                (header::HeaderName::from_static("x-edgectl-head"), head),
            ],
            Body::from(body),
        )
            .into_response())
    })
    .await
}

/// One artifact the site's deployments name.
#[utoipa::path(get, path = "/api/sites/{site}/export/blobs/{digest}", params(("site" = String, Path, description = "Site name"), ("digest" = String, Path, description = "sha256:…")),
    responses((status = 200, description = "The artifact", content_type = "application/octet-stream"), (status = 404, description = "Not an artifact of this site")))]
pub(crate) async fn export_blob(
    State(store): State<Arc<Store>>,
    UrlPath((site, digest)): UrlPath<(String, String)>,
) -> Result<Response, ApiError> {
    blocking(move || {
        let named = plan(&store, &site)?
            .artifacts
            .iter()
            .any(|a| a.digest == digest);
        let parsed = Digest::new(&digest).ok();
        let Some(path) = parsed.filter(|_| named).and_then(|d| store.cas().get(&d)) else {
            return Err(ApiError::not_found(format!(
                "`{digest}` is not an artifact of site `{site}`"
            )));
        };
        let bytes = std::fs::read(&path).map_err(internal)?;
        Ok((
            [(header::CONTENT_TYPE, "application/octet-stream")],
            Body::from(bytes),
        )
            .into_response())
    })
    .await
}
