//! Container images for a site stick: the image of each `container`
//! component (`repository` + `revision`) and each `image:` of the
//! `compose.yaml` in each package-local compose archive, pulled by the CO
//! when the export is planned — resolved to this host's platform, the
//! manifest, config and layers each bounded and digest verified, into the
//! CO's store, the reference pinned to the manifest — and listed as
//! artifacts: the manifest with the `oci://` reference it answers for, its
//! blobs without one. A registry that cannot be reached fails the export
//! naming the image, unless the export was asked to skip images, which
//! then lists it among what the site needs a registry for. An `image:`
//! named with a variable (`${VERSION}`) is only resolved when the compose
//! file runs: it is listed the same way, saying so, and the archive's other
//! images are carried.

use std::collections::{BTreeMap, BTreeSet};

use edge_api::types::ExportArtifact;
use edge_model::Digest;
use edge_workspace::image::{compose_images, parse_manifest};
use edge_workspace::oci::BlobSource;

use super::pull::{Fetch, PULLING, PullError, fill};
use crate::co::store::Store;
use crate::error::ApiError;

/// One blob of an image: digest, size, media type.
type Part = (Digest, u64, String);

/// Images already resolved for one plan: reference → manifest then blobs,
/// `None` when not pinned (with [`Fetch::Pinned`]) or skipped.
pub(super) type Resolved = BTreeMap<String, Option<Vec<Part>>>;

/// What one export plan gathers.
pub(super) struct Gather<'a> {
    pub(super) store: &'a Store,
    pub(super) how: Fetch,
    pub(super) skip: bool,
    pub(super) resolved: Resolved,
    pub(super) artifacts: &'a mut BTreeSet<ExportArtifact>,
    pub(super) elsewhere: &'a mut BTreeSet<String>,
}

impl Gather<'_> {
    /// Put image `reference` (`oci://…`) of component `component` of app
    /// `app` on the list, pulled or as pinned.
    pub(super) fn image(
        &mut self,
        reference: &str,
        app: &str,
        component: &str,
    ) -> Result<(), ApiError> {
        if !self.resolved.contains_key(reference) {
            let got = match pull(self.store, reference, self.how) {
                Ok(got) => got,
                Err(e) if self.skip => {
                    tracing::warn!(reference, error = %e, "image left off the stick");
                    None
                }
                Err(e) => {
                    return Err(ApiError::upstream(format!(
                        "cannot put the image `{reference}` (component `{component}` of app `{app}`) on the stick, so nothing was exported: {e}; export with --skip-images to leave the site's images out"
                    )));
                }
            };
            self.resolved.insert(reference.to_owned(), got);
        }
        let Some(Some(parts)) = self.resolved.get(reference) else {
            self.elsewhere.insert(format!(
                "{} (component `{component}` of app `{app}`)",
                reference.trim_start_matches("oci://")
            ));
            return Ok(());
        };
        for (i, (digest, size, media_type)) in parts.iter().enumerate() {
            self.artifacts.insert(ExportArtifact {
                digest: digest.to_string(),
                size: *size,
                media_type: media_type.clone(),
                app: app.to_owned(),
                component: component.to_owned(),
                reference: (i == 0).then(|| reference.to_owned()),
            });
        }
        Ok(())
    }

    /// Every image the compose archive `digest` (in the CO's store) names.
    pub(super) fn compose(
        &mut self,
        digest: &str,
        app: &str,
        component: &str,
    ) -> Result<(), ApiError> {
        let Some(path) = Digest::new(digest)
            .ok()
            .and_then(|d| self.store.cas().get(&d))
        else {
            return Ok(());
        };
        let bytes = std::fs::read(&path).map_err(|e| ApiError::internal(&e.into()))?;
        let images = compose_images(&bytes).map_err(|e| {
            ApiError::unprocessable(format!(
                "the compose archive of component `{component}` of app `{app}` cannot be exported: {e}"
            ))
        })?;
        for (service, image) in images.with_variables {
            self.elsewhere
                .insert(unresolved(&image, &service, app, component));
        }
        for image in images.fixed {
            self.image(&format!("oci://{image}"), app, component)?;
        }
        Ok(())
    }
}

/// The line an export lists for an image named with a variable.
fn unresolved(image: &str, service: &str, app: &str, component: &str) -> String {
    format!(
        "{image} (service `{service}` of component `{component}` of app `{app}`: cannot be resolved at export, it uses a variable)"
    )
}

/// The image `reference` names now, every blob in the CO's store and the
/// reference pinned to its manifest; with [`Fetch::Pinned`], only what was
/// pinned before (and is whole).
fn pull(store: &Store, reference: &str, how: Fetch) -> Result<Option<Vec<Part>>, PullError> {
    if how == Fetch::Pinned {
        return Ok(pinned(store, reference));
    }
    let _one = PULLING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let source = BlobSource::new(reference, &store.registries)?;
    let image = source.resolve_image(crate::cas::MAX_ARTIFACT)?;
    let mut parts = Vec::new();
    for blob in &image.parts {
        let digest = fill(store, &source, blob, reference)?;
        parts.push((digest, blob.size, blob.media_type.clone()));
    }
    let digest = store.cas().put(&image.manifest)?;
    let size = image.manifest.len() as u64;
    store.cas().pin(reference, &digest, size)?;
    parts.insert(0, (digest, size, image.media_type));
    Ok(Some(parts))
}

/// The pinned image `reference`, manifest first, when every blob is stored.
fn pinned(store: &Store, reference: &str) -> Option<Vec<Part>> {
    let (digest, size) = store.cas().pinned(reference)?;
    let bytes = std::fs::read(store.cas().get(&digest)?).ok()?;
    let parsed = parse_manifest(&bytes, crate::cas::MAX_ARTIFACT).ok()?;
    let mut parts = vec![(digest, size, parsed.media_type.clone())];
    for blob in parsed.parts() {
        let d = Digest::new(&blob.digest).ok()?;
        store.cas().get(&d)?;
        parts.push((d, blob.size, blob.media_type.clone()));
    }
    Some(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_image_named_with_a_variable_is_listed_saying_why() {
        let line = unresolved("q.io/web:${VERSION}", "web", "app", "stack");
        assert!(
            line.starts_with(
                "q.io/web:${VERSION} (service `web` of component `stack` of app `app`"
            ) && line.contains("cannot be resolved at export")
                && line.contains("uses a variable"),
            "{line}"
        );
    }
}
