//! Package-local artifacts at deploy time. A component whose `repository`
//! is a path inside the package (`./components/hello.wasm`, an edgectl
//! extension) is stored in the CO's content-addressed store — a file as it
//! is, a compose folder as a deterministic gzip tar with the folder as its
//! one top directory — and the deployment names it by digest in the
//! component's `x-edgectl-extensions.artifact`, so edge nodes fetch exactly
//! those bytes (`GET /v2/<app>/blobs/<digest>`, through their LO) and verify
//! them. Such an artifact is served to an LO only when a deployment of
//! its site names it ([`site_uses`]), to a device only when one of its own
//! deployments does (`crate::south::blobs`).

use std::collections::BTreeMap;
use std::path::Path;

use edge_model::app::DeploymentProfile;
use edge_model::artifact::{ArtifactRef, COMPOSE_TYPE, FILE_TYPE, MAX_ARTIFACT};
use edge_model::{ApplicationDeployment, Digest};

use crate::co::store::Store;
use crate::error::ApiError;
use crate::south::view::SiteViews;

/// Store the package-local artifacts of `profile` (its package in
/// `app_dir`); returns each such component's reference, by component name.
pub(crate) fn store_local(
    store: &Store,
    app_dir: &Path,
    profile: &DeploymentProfile,
) -> Result<BTreeMap<String, ArtifactRef>, ApiError> {
    let mut out = BTreeMap::new();
    for c in &profile.components {
        let Some(rel) = c.properties.local_path() else {
            continue;
        };
        let path = app_dir.join(rel.trim_start_matches("./"));
        let fail = |what: String| {
            ApiError::internal(&anyhow::anyhow!(
                "component `{}`: cannot read its artifact `{}`: {what}",
                c.name,
                path.display()
            ))
        };
        let meta = std::fs::symlink_metadata(&path).map_err(|e| fail(e.to_string()))?;
        let (bytes, media) = if meta.is_dir() {
            let top = path.file_name().map(Path::new).unwrap_or(Path::new("app"));
            let packed = edge_workspace::archive::pack_dir_as(&path, top)
                .map_err(|e| fail(e.to_string()))?;
            (packed, COMPOSE_TYPE)
        } else if meta.len() > MAX_ARTIFACT {
            return Err(fail(format!("it is larger than {MAX_ARTIFACT} bytes")));
        } else {
            (
                std::fs::read(&path).map_err(|e| fail(e.to_string()))?,
                FILE_TYPE,
            )
        };
        let digest = store
            .cas()
            .put(&bytes)
            .map_err(|e| ApiError::internal(&e.into()))?;
        out.insert(
            c.name.to_string(),
            ArtifactRef {
                digest,
                size: bytes.len() as u64,
                media_type: media.to_owned(),
            },
        );
    }
    Ok(out)
}

/// Name the stored artifacts in a rendered deployment, beside what else the
/// component's extension holds (its limits).
pub(crate) fn attach(doc: &mut ApplicationDeployment, artifacts: &BTreeMap<String, ArtifactRef>) {
    for c in &mut doc.spec.deployment_profile.components {
        if let Some(a) = artifacts.get(c.name.as_str()) {
            c.set_artifact(a);
        }
    }
}

/// Whether a deployment a site's views serve (or served one change ago)
/// names artifact `digest`.
pub(crate) fn site_uses(views: &SiteViews, digest: &Digest) -> bool {
    views
        .devices
        .values()
        .any(|v| crate::south::blobs::names_artifact(v.docs_with_previous(), digest))
}
