//! One deployment in detail (`GET /api/deployments/{deployment}`, what
//! `edgectl co show deployment` prints): its summary as the list has it,
//! with the state its device last reported, and its ApplicationDeployment
//! read back from the site repository (`deployments/<id>.yaml`, bounded by
//! the model's document limit), with its parameter values and the ones set
//! for it. The deployment is named by its id or a unique start of it, as
//! `co undeploy` takes it.

use std::collections::BTreeMap;

use edge_api::types::DeploymentDetail;
use edge_model::{ApplicationDeployment, MargoDocument as _};

use super::change::set_values;
use super::deployments::{find, summary};
use crate::co::db::reports::state_of;
use crate::co::store::Store;
use crate::error::ApiError;

/// The deployment `id` names (whole, or a unique start of at least 4
/// characters), in detail.
pub(crate) fn show(store: &Store, id: &str) -> Result<DeploymentDetail, ApiError> {
    let row = find(store, id)?;
    let state = state_of(&store.db(), &row.id)?;
    let path = store
        .site_repo(&row.site)
        .join("deployments")
        .join(format!("{}.yaml", row.id));
    let bytes = match edge_workspace::read_bounded(&path) {
        Ok(b) => b,
        // Undeployed between the look-up and the read.
        Err(edge_workspace::PackageError::Read(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ApiError::not_found(format!(
                "deployment `{}` was removed meanwhile",
                row.id
            )));
        }
        Err(e) => {
            return Err(ApiError::internal(&anyhow::Error::new(e).context(format!(
                "cannot read the document of deployment `{}`",
                row.id
            ))));
        }
    };
    let doc = ApplicationDeployment::from_slice(&bytes)
        .map_err(|e| {
            ApiError::internal(&anyhow::anyhow!(
                "the stored document of deployment `{}` no longer reads: {e}",
                row.id
            ))
        })?
        .document;
    let document = serde_json::to_value(&doc).map_err(|e| ApiError::internal(&e.into()))?;
    let parameters: BTreeMap<String, serde_json::Value> = doc
        .spec
        .parameters
        .iter()
        .map(|(name, p)| (name.clone(), p.value.clone().unwrap_or_default()))
        .collect();
    let digest = row.digest.clone();
    let mut s = summary(row);
    if let Some(st) = state {
        s.stale = !digest.is_empty() && st.digest.as_deref() != Some(digest.as_str());
        s.state = Some(st.state);
        s.state_at = Some(st.at);
        s.error = st.error;
    }
    Ok(DeploymentDetail {
        summary: s,
        document,
        parameters,
        set: set_values(&doc),
    })
}
