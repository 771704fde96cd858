//! The port between the Margo API handlers (`margo.rs`, `blobs.rs`) and
//! whoever serves them: [`Backend`], implemented by the LO (from its mirror,
//! into its outbox) and by the CO (from its site repositories, into its
//! database, for edge nodes attached to it directly). No HTTP types here.

use std::sync::Arc;

use edge_model::capabilities::DeviceCapabilitiesManifest;
use edge_model::status::DeploymentStatusManifest;

use super::Caller;
use super::view::DeviceView;
use crate::error::ApiError;

/// What serves the API: the LO (from its mirror, into its outbox) or the CO
/// (from its site repositories, into its database). Calls may block.
pub(crate) trait Backend: Send + Sync + 'static {
    /// The device the caller is allowed to act as; 403 otherwise.
    fn device(&self, caller: &Caller) -> Result<String, ApiError>;
    /// What `device` is served now.
    fn view(&self, device: &str) -> Result<Arc<DeviceView>, ApiError>;
    /// The device a deployment was ever served for (its `metadata.deviceId`).
    fn owner(&self, device: &str, deployment: &str) -> Result<Option<String>, ApiError>;
    /// Take a valid capabilities report for `device` (the caller, or a child
    /// behind it); `true` when it is the first for `device`.
    fn capabilities(
        &self,
        device: &str,
        doc: &DeviceCapabilitiesManifest,
    ) -> Result<bool, ApiError>;
    /// Whether `device` (the caller, or a child behind it) has reported
    /// capabilities that stand (a child's gateway must have, DIGEST §7.3).
    fn reported(&self, device: &str) -> Result<bool, ApiError>;
    /// Forget `device`'s capabilities; `false` when there were none.
    fn delete_capabilities(&self, device: &str) -> Result<bool, ApiError>;
    /// Take a valid status report about `device` (the caller, or a child
    /// behind it); `true` when it is the first for the deployment.
    fn status(&self, device: &str, doc: &DeploymentStatusManifest) -> Result<bool, ApiError>;
    /// A generation that changes whenever what `device` is served may have
    /// changed; `None` when this server cannot tell (no long polls then).
    fn changes(&self, device: &str) -> Option<tokio::sync::watch::Receiver<u64>>;
    /// The file of artifact `digest` for `caller` (fetched into this
    /// server's cache first when it has to be); `None` when unknown.
    fn artifact(
        &self,
        caller: &Caller,
        name: &str,
        digest: &edge_model::Digest,
    ) -> Result<Option<std::path::PathBuf>, ApiError>;
    /// What this server holds for the registry reference `reference`
    /// (`oci://…`, carried in on a site stick), an artifact it serves by
    /// digest; `None` when it holds nothing for it.
    fn pinned(&self, _reference: &str) -> Result<Option<Held>, ApiError> {
        Ok(None)
    }
    /// Fetch what the registry reference `reference` (`oci://…`) names from
    /// its registry into this server's store, for a caller whose own
    /// deployments name it (the caller checks that), and answer it as
    /// [`Backend::pinned`] then will: an image (`image`) or a module or
    /// binary. `None` where this server does not pull through.
    fn pull_through(&self, _reference: &str, _image: bool) -> Result<Option<Held>, ApiError> {
        Ok(None)
    }
}

/// What a server holds for a registry reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Held {
    /// The artifact's digest (an image's: its manifest's).
    pub(crate) digest: edge_model::Digest,
    /// Its size in bytes.
    pub(crate) size: u64,
    /// Its media type (an image manifest's, or a module's or binary's layer).
    pub(crate) media_type: String,
}

/// The backend as the handlers hold it.
pub(crate) type Shared = Arc<dyn Backend>;
