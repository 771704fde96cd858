//! Package-local artifacts at deploy time. A component whose `repository`
//! is a path inside the package (`./components/hello.wasm`, an edgectl
//! extension) is stored in the CO's content-addressed store — a file as it
//! is, a compose folder as a deterministic gzip tar with the folder as its
//! one top directory — and the deployment names it by digest in the
//! component's `x-edgectl-extensions.artifact`, so edge nodes fetch exactly
//! those bytes (`GET /v2/<app>/blobs/<digest>`, through their LO) and verify
//! them.

use std::collections::BTreeMap;
use std::path::Path;

use edge_model::ApplicationDeployment;
use edge_model::app::DeploymentProfile;
use serde_json::{Value, json};

use crate::co::store::Store;
use crate::error::ApiError;

/// The extension key (Margo: `x-<name>-extensions`, an object).
pub(crate) const EXTENSION: &str = "x-edgectl-extensions";
/// Media type of a single-file artifact.
pub(crate) const FILE_TYPE: &str = "application/vnd.edgectl.file.v1";
/// Media type of a compose archive (Margo).
pub(crate) const COMPOSE_TYPE: &str = "application/vnd.margo.compose.v1+tar+gzip";

/// Store the package-local artifacts of `profile` (its package in
/// `app_dir`); returns each such component's extension object.
pub(crate) fn store_local(
    store: &Store,
    app_dir: &Path,
    profile: &DeploymentProfile,
) -> Result<BTreeMap<String, Value>, ApiError> {
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
        } else if meta.len() > crate::cas::MAX_ARTIFACT {
            return Err(fail(format!(
                "it is larger than {} bytes",
                crate::cas::MAX_ARTIFACT
            )));
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
            json!({"artifact": {"digest": digest.as_str(), "size": bytes.len(), "mediaType": media}}),
        );
    }
    Ok(out)
}

/// Name the stored artifacts in a rendered deployment, beside what else the
/// component's extension holds (its limits).
pub(crate) fn attach(doc: &mut ApplicationDeployment, artifacts: &BTreeMap<String, Value>) {
    for c in &mut doc.spec.deployment_profile.components {
        let Some(Value::Object(ext)) = artifacts.get(c.name.as_str()) else {
            continue;
        };
        match c.extensions.get_mut(EXTENSION) {
            Some(Value::Object(mine)) => {
                mine.extend(ext.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
            _ => {
                c.extensions
                    .insert(EXTENSION.to_owned(), Value::Object(ext.clone()));
            }
        }
    }
}
