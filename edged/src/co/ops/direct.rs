//! The Margo API for edge nodes attached to the CO directly (identities
//! `…/margo/wfm/co/client/<device>` from `co enroll --direct`): the
//! [`Backend`] the shared south handlers call, with views built from the
//! site repositories (one [`crate::south::view::ViewCache`] per site,
//! rebuilt when the site's change generation moved) and reports written
//! straight to the database.

use std::path::PathBuf;
use std::sync::Arc;

use edge_model::Digest;
use edge_model::capabilities::DeviceCapabilitiesManifest;
use edge_model::status::DeploymentStatusManifest;
use edge_workspace::git::Mirror;

use super::artifacts::site_uses;
use super::identities::{direct_device, known_identity, lo_site};
use super::intake::status_event;
use crate::co::db::{reports, sites};
use crate::co::store::Store;
use crate::error::ApiError;
use crate::south::Caller;
use crate::south::backend::Backend;
use crate::south::view::{self, DeviceView, ViewCache};

/// The CO as the fleet manager of directly attached nodes.
pub(crate) struct CoBackend {
    pub(crate) store: Arc<Store>,
}

impl CoBackend {
    fn site_of(&self, device: &str) -> Result<String, ApiError> {
        sites::device(&self.store.db(), device)?
            .map(|d| d.site)
            .ok_or_else(|| {
                ApiError::not_authorized(format!("device `{device}` is no longer registered"))
            })
    }

    /// The site's views, rebuilt when the site changed since they were
    /// built. Building for one site happens one at a time, so no version is
    /// assigned from views that are being replaced; a site whose files
    /// cannot be served keeps its previous views.
    fn site_views(&self, site: &str) -> Result<Arc<ViewCache>, ApiError> {
        let cache = self.store.views_of(site);
        let mut building = cache.lock();
        let generation = self.store.generation(site);
        if building.stamp() != generation {
            let repo = Mirror::at(&self.store.site_repo(site));
            let built = self.store.site_head(site).and_then(|head| {
                Ok(building.rebuild(&repo, head, generation, || self.store.db())?)
            });
            match built {
                Ok(_) => {}
                Err(e) if building.stamp() != 0 => {
                    tracing::error!(
                        site,
                        error = format!("{e:#}"),
                        "cannot serve the site's new desired state; serving the previous one"
                    );
                }
                Err(e) => return Err(ApiError::internal(&e)),
            }
        }
        drop(building);
        Ok(cache)
    }

    fn device_view(&self, site: &str, device: &str) -> Result<Arc<DeviceView>, ApiError> {
        Ok(self.site_views(site)?.view(device, || self.store.db())?)
    }
}

impl Backend for CoBackend {
    fn device(&self, caller: &Caller) -> Result<String, ApiError> {
        direct_device(&self.store, caller)
    }

    fn view(&self, device: &str) -> Result<Arc<DeviceView>, ApiError> {
        let site = self.site_of(device)?;
        self.device_view(&site, device)
    }

    fn owner(&self, device: &str, deployment: &str) -> Result<Option<String>, ApiError> {
        let site = self.site_of(device)?;
        Ok(view::owner(&self.store.db(), &site, deployment)?)
    }

    fn capabilities(
        &self,
        device: &str,
        doc: &DeviceCapabilitiesManifest,
    ) -> Result<bool, ApiError> {
        let site = match sites::device(&self.store.db(), device)? {
            Some(d) => d.site,
            // A child its gateway reports that the CO does not know.
            None if device.contains('/') => {
                return Err(ApiError::margo_not_found(
                    "device-not-found",
                    format!(
                        "no device `{device}` is registered at the CO; add it with `edgectl co add device {device} --site SITE`"
                    ),
                ));
            }
            None => self.site_of(device)?,
        };
        let json = serde_json::to_string(doc).unwrap_or_default();
        let first = sites::set_capabilities(
            &self.store.db(),
            &site,
            device,
            Some(&json),
            &crate::clock::now(),
        )?
        .ok_or_else(|| {
            ApiError::margo_not_found("device-not-found", format!("no device `{device}`"))
        })?;
        self.store.events().publish(
            "device.capabilities",
            device,
            Some(&site),
            serde_json::json!({}),
        );
        Ok(first)
    }

    fn reported(&self, device: &str) -> Result<bool, ApiError> {
        Ok(sites::device(&self.store.db(), device)?.is_some_and(|d| d.capabilities.is_some()))
    }

    fn delete_capabilities(&self, device: &str) -> Result<bool, ApiError> {
        let site = self.site_of(device)?;
        Ok(
            sites::set_capabilities(&self.store.db(), &site, device, None, &crate::clock::now())?
                .is_some_and(|first| !first),
        )
    }

    fn status(&self, device: &str, doc: &DeploymentStatusManifest) -> Result<bool, ApiError> {
        let site = self.site_of(device)?;
        let conn = self.store.db();
        let id = doc.deployment_id.as_str();
        let digest =
            view::versions::reported_digest(&conn, &site, id, doc.adopted_manifest_version)?;
        let first = reports::set_status(
            &conn,
            &site,
            device,
            doc,
            &crate::clock::now(),
            digest.as_deref(),
        )?
        .ok_or_else(|| {
            ApiError::not_authorized(format!(
                "deployment `{}` is not one of yours",
                doc.deployment_id
            ))
        })?;
        let (kind, subject, data) = status_event(&conn, device, doc, digest.as_deref());
        drop(conn);
        self.store
            .events()
            .publish(kind, &subject, Some(&site), data);
        Ok(first)
    }

    fn changes(&self, device: &str) -> Option<tokio::sync::watch::Receiver<u64>> {
        let site = self.site_of(device).ok()?;
        Some(self.store.subscribe(&site))
    }

    fn artifact(
        &self,
        caller: &Caller,
        _name: &str,
        digest: &Digest,
    ) -> Result<Option<PathBuf>, ApiError> {
        // A directly attached node's own deployments were checked by the
        // handler; an LO fills its site's cache with what its site's
        // deployments name. Anything else is not there for this caller.
        known_identity(&self.store, caller)?;
        if direct_device(&self.store, caller).is_err() {
            let site = lo_site(&self.store, caller)?;
            if !site_uses(&self.site_views(&site)?.current(), digest) {
                return Ok(None);
            }
        }
        Ok(self.store.cas().get(digest))
    }
}
