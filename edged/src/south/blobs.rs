//! Artifacts by digest under an app's name (`GET /v2/{app}/blobs/{digest}`,
//! [`by_app`], served by [`super::registry`] with the registry's blobs), so
//! edge nodes fetch package-local artifacts from their LO (which caches them
//! from the CO) and a site needs no outside registry; single byte ranges
//! ([`range`]) are how an interrupted download resumes.
//!
//! `GET /v2/{name}/pins?reference=oci://…`: the artifact this server holds
//! for a registry reference (a module or binary a site stick carried), as
//! [`ArtifactPin`] JSON, so an edge node whose registry is out of reach
//! fetches it here by digest. Container images are answered the same way
//! (the digest is the image manifest's; the node then fetches each blob it
//! names). Answered only for a reference one of the caller's own
//! deployments of app `name` names (a module or binary, a container
//! component's image, or an `image:` of the `compose.yaml` in one of its
//! compose archives); 404 otherwise.
//!
//! A device is served only the artifacts its own deployments name
//! ([`names_artifact`]: a component's package-local artifact; or what this
//! server holds for a registry reference they name, and each blob of such
//! an image): anything else is a 404, the same as an artifact that does not
//! exist, so digests of other devices' artifacts cannot be probed. A caller
//! that is not a device of this server (an LO at the CO) is left to the
//! [`super::backend::Backend`], which scopes it to its site.

use axum::extract::{Extension, Path as UrlPath, Query, State};
use axum::http::{HeaderMap, header};
use edge_api::types::{ArtifactPin, PinQuery};
use edge_model::profile::oci_reference;
use edge_model::{ApplicationDeployment, Digest, MargoDocument as _, ProfileType};

use super::Caller;
use super::backend::Shared;
use super::margo::who;
use super::view::DeviceView;
use crate::error::ApiError;
use crate::http::blocking;

/// A single byte range `start..=end` of a `Range` header, `None` when absent
/// or not of that form (then the whole blob is sent).
pub(super) fn range(headers: &HeaderMap, len: u64) -> Option<Result<(u64, u64), ()>> {
    let text = headers.get(header::RANGE)?.to_str().ok()?;
    let spec = text.strip_prefix("bytes=")?;
    let (a, b) = spec.split_once('-')?;
    let start = a.trim().parse::<u64>().ok()?;
    let end = if b.trim().is_empty() {
        len.saturating_sub(1)
    } else {
        b.trim().parse::<u64>().ok()?.min(len.saturating_sub(1))
    };
    if start >= len || end < start {
        return Some(Err(()));
    }
    Some(Ok((start, end)))
}

/// The file of artifact `digest` asked for under the single-segment name
/// `name` (an app), as edge nodes and LOs have asked for artifacts since
/// before the registry served manifests: for a device, only what its own
/// deployments name; another caller (an LO at the CO) is left to the
/// backend. `None` when there is no such artifact for this caller.
pub(super) fn by_app(
    backend: &Shared,
    caller: &Caller,
    name: &str,
    digest: &Digest,
) -> Result<Option<std::path::PathBuf>, ApiError> {
    if !super::segment_ok(name) {
        return Ok(None);
    }
    if let Ok(device) = backend.device(caller) {
        let view = backend.view(&device)?;
        if !device_uses(backend, caller, &view, digest)? {
            return Ok(None);
        }
    }
    backend.artifact(caller, name, digest)
}

/// Whether one of `docs` names `digest` as a component's package-local
/// artifact.
pub(crate) fn names_artifact<'a>(
    docs: impl IntoIterator<Item = &'a super::view::Doc>,
    digest: &Digest,
) -> bool {
    let needle = digest.as_str().as_bytes();
    docs.into_iter().any(|doc| {
        // Only a document that holds the digest's text can name it.
        let holds = doc.bytes.windows(needle.len()).any(|w| w == needle);
        holds
            && ApplicationDeployment::from_slice(&doc.bytes).is_ok_and(|parsed| {
                parsed
                    .document
                    .spec
                    .deployment_profile
                    .components
                    .iter()
                    .any(|c| c.artifact().is_some_and(|a| a.digest == *digest))
            })
    })
}

/// Whether a deployment `view` serves (or served one change ago) needs
/// artifact `digest`: its own package-local artifact, or what this server
/// holds for a registry reference it names (a module, binary or image; and
/// every blob of such an image).
fn device_uses(
    backend: &Shared,
    caller: &Caller,
    view: &DeviceView,
    digest: &Digest,
) -> Result<bool, ApiError> {
    if names_artifact(view.docs_with_previous(), digest) {
        return Ok(true);
    }
    let mut references = std::collections::BTreeSet::new();
    for doc in view.docs_with_previous() {
        let Ok(parsed) = ApplicationDeployment::from_slice(&doc.bytes) else {
            continue;
        };
        let d = parsed.document;
        let app = d.metadata.annotations.application_id.as_str();
        let profile = &d.spec.deployment_profile;
        for c in &profile.components {
            let p = &c.properties;
            if profile.profile_type == ProfileType::Compose {
                let Some(archive) = c.artifact() else {
                    continue;
                };
                let Some(path) = backend.artifact(caller, app, &archive.digest)? else {
                    continue;
                };
                let bytes = std::fs::read(&path).map_err(|e| ApiError::internal(&e.into()))?;
                if let Ok(images) = edge_workspace::image::compose_images(&bytes) {
                    references.extend(images.fixed);
                }
            } else if let Some(r) = p
                .repository
                .as_deref()
                .and_then(|r| oci_reference(r, p.revision.as_deref()))
            {
                references.insert(r);
            }
        }
    }
    for reference in references {
        let Some(pinned) = backend.pinned(&format!("oci://{reference}"))? else {
            continue;
        };
        let pinned = pinned.digest;
        if pinned == *digest {
            return Ok(true);
        }
        // An image: the blobs its manifest names.
        let Some(path) = backend.artifact(caller, "", &pinned)? else {
            continue;
        };
        let bytes = std::fs::read(&path).map_err(|e| ApiError::internal(&e.into()))?;
        let limit = crate::cas::MAX_ARTIFACT;
        if let Ok(manifest) = edge_workspace::image::parse_manifest(&bytes, limit)
            && manifest.parts().any(|b| b.digest == digest.as_str())
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Whether a deployment of app `app` in `view` has a module, binary or
/// container component from the registry reference `reference` (`oci://…`).
fn names(view: &DeviceView, app: &str, reference: &str) -> bool {
    view.docs.iter().any(|doc| {
        let Ok(parsed) = ApplicationDeployment::from_slice(&doc.bytes) else {
            return false;
        };
        let d = parsed.document;
        let profile = &d.spec.deployment_profile;
        d.metadata.annotations.application_id.as_str() == app
            && matches!(
                profile.profile_type,
                ProfileType::Wasm | ProfileType::Process | ProfileType::Container
            )
            && profile.components.iter().any(|c| {
                let p = &c.properties;
                p.repository
                    .as_deref()
                    .and_then(|r| oci_reference(r, p.revision.as_deref()))
                    .is_some_and(|r| reference.strip_prefix("oci://") == Some(r.as_str()))
            })
    })
}

/// The compose archives (by digest) of app `app`'s compose deployments in
/// `view`.
fn compose_archives(view: &DeviceView, app: &str) -> Vec<Digest> {
    let mut out = Vec::new();
    for doc in &view.docs {
        let Ok(parsed) = ApplicationDeployment::from_slice(&doc.bytes) else {
            continue;
        };
        let d = parsed.document;
        let profile = &d.spec.deployment_profile;
        if d.metadata.annotations.application_id.as_str() != app
            || profile.profile_type != ProfileType::Compose
        {
            continue;
        }
        out.extend(
            profile
                .components
                .iter()
                .filter_map(|c| c.artifact().map(|a| a.digest)),
        );
    }
    out
}

pub(super) async fn pin(
    State(backend): State<Shared>,
    Extension(caller): Extension<Caller>,
    UrlPath(name): UrlPath<String>,
    query: Result<Query<PinQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::Json<ArtifactPin>, ApiError> {
    let Query(PinQuery { reference }) = query.map_err(|e| {
        ApiError::bad_request(format!(
            "name the registry reference as `?reference=oci://HOST/NAME:TAG` ({e})"
        ))
    })?;
    if !super::segment_ok(&name) {
        return Err(ApiError::bad_request(format!(
            "`{name}` is not a repository name"
        )));
    }
    let (device, view) = who(&backend, &caller).await?;
    blocking(move || {
        let in_compose = || -> Result<bool, ApiError> {
            let wanted = reference.strip_prefix("oci://").unwrap_or_default();
            for digest in compose_archives(&view, &name) {
                let Some(path) = backend.artifact(&caller, &name, &digest)? else {
                    continue;
                };
                let bytes = std::fs::read(&path).map_err(|e| ApiError::internal(&e.into()))?;
                let images = edge_workspace::image::compose_images(&bytes).unwrap_or_default();
                if images.fixed.iter().any(|i| i == wanted) {
                    return Ok(true);
                }
            }
            Ok(false)
        };
        if !names(&view, &name, &reference) && !in_compose()? {
            return Err(ApiError::not_found(format!(
                "no deployment of app `{name}` on device `{device}` takes a module, binary or image from `{reference}`"
            )));
        }
        let Some(super::backend::Held { digest, size, .. }) = backend.pinned(&reference)? else {
            return Err(ApiError::not_found(format!(
                "this fleet manager holds no copy of `{reference}` (an LO gets one from a site stick exported while the registry was reachable)"
            )));
        };
        Ok(axum::Json(ArtifactPin {
            reference,
            digest: digest.to_string(),
            size,
        }))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(v: &str) -> HeaderMap {
        let mut m = HeaderMap::new();
        m.insert(header::RANGE, v.parse().unwrap());
        m
    }

    #[test]
    fn ranges_are_read_and_bounded() {
        assert_eq!(range(&HeaderMap::new(), 10), None);
        assert_eq!(range(&h("bytes=4-"), 10), Some(Ok((4, 9))));
        assert_eq!(range(&h("bytes=2-5"), 10), Some(Ok((2, 5))));
        assert_eq!(range(&h("bytes=2-50"), 10), Some(Ok((2, 9))));
        assert_eq!(range(&h("bytes=10-"), 10), Some(Err(())));
        assert_eq!(range(&h("bytes=-5"), 10), None, "suffix ranges: whole blob");
        assert_eq!(range(&h("items=1-2"), 10), None);
    }
}
