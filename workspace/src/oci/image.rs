//! A container image from a registry, resolved for this host: the manifest
//! (for a multi-platform index, the one for `linux/<this host's arch>`,
//! fetched by digest and checked against it), and the config and layers it
//! names, each bounded by the caller's limit. The blobs themselves are read
//! with [`BlobSource::open`], resumable, and verified by the caller.

use edge_model::digest::sha256;
use oci_client::Reference;

use super::{Blob, BlobSource, OciError};
use crate::image::{
    DOCKER_LIST, DOCKER_MANIFEST, MAX_MANIFEST, OCI_INDEX, OCI_MANIFEST, declared_type, host_arch,
    is_index_type, parse_manifest, pick_platform,
};

/// An image manifest as a registry served it, and what it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PulledImage {
    /// The manifest's bytes, exactly as served (they hash to `digest`).
    pub manifest: Vec<u8>,
    /// `sha256:…` of `manifest`.
    pub digest: String,
    /// The manifest's media type.
    pub media_type: String,
    /// The config, then the layers.
    pub parts: Vec<Blob>,
}

impl BlobSource {
    /// The image manifest this reference names for this host, and its
    /// config and layers, each at most `limit` bytes.
    ///
    /// # Errors
    /// The registry fails, the manifest is not an image (or none is for
    /// this platform), or a manifest does not hash to the digest it was
    /// asked by.
    pub fn resolve_image(&self, limit: u64) -> Result<PulledImage, OciError> {
        let accept = [OCI_MANIFEST, DOCKER_MANIFEST, OCI_INDEX, DOCKER_LIST];
        let not_image = |reason: String| OciError::NotAnImage {
            reference: self.at.reference.clone(),
            reason,
        };
        let (body, _) = self
            .runtime
            .block_on(
                self.client
                    .pull_manifest_raw(&self.image, &self.auth, &accept),
            )
            .map_err(|e| self.at.error(e, "fetching the manifest of"))?;
        if body.len() > MAX_MANIFEST {
            return Err(not_image(format!(
                "its manifest is larger than {MAX_MANIFEST} bytes"
            )));
        }
        if let Some(want) = self.image.digest()
            && sha256(&body).as_str() != want
        {
            return Err(not_image(format!(
                "the manifest hashes to `{}`, not to the `{want}` asked for",
                sha256(&body)
            )));
        }
        let mut body = body.to_vec();
        if declared_type(&body).is_some_and(|t| is_index_type(&t)) {
            let chosen = pick_platform(&body, host_arch()).map_err(|e| not_image(e.to_string()))?;
            let by_digest = Reference::with_digest(
                self.image.registry().to_owned(),
                self.image.repository().to_owned(),
                chosen.digest.clone(),
            );
            let (one, _) = self
                .runtime
                .block_on(
                    self.client
                        .pull_manifest_raw(&by_digest, &self.auth, &accept),
                )
                .map_err(|e| self.at.error(e, "fetching the platform manifest of"))?;
            if sha256(&one).as_str() != chosen.digest {
                return Err(not_image(format!(
                    "its linux/{} manifest hashes to `{}`, not to the `{}` its index names",
                    host_arch(),
                    sha256(&one),
                    chosen.digest
                )));
            }
            body = one.to_vec();
        }
        let parsed = parse_manifest(&body, limit).map_err(|e| not_image(e.to_string()))?;
        Ok(PulledImage {
            digest: sha256(&body).to_string(),
            media_type: parsed.media_type.clone(),
            parts: parsed.parts().cloned().collect(),
            manifest: body,
        })
    }
}
