//! Container images from the fleet manager, for a site with no registry:
//! before a `container` or `compose` workload starts, each image it needs
//! that podman does not hold is asked of the fleet manager
//! (`GET /v2/<app>/pins?reference=oci://…`, what a site stick carried to
//! the LO). When it holds a copy, the manifest and every blob it names are
//! fetched by digest (`/v2/<app>/blobs/<digest>`: resumable, verified, in
//! the node's artifact store), written as a temporary OCI image archive
//! naming the reference and taken in by podman (`podman load`), so the driver's `podman run` or
//! podman-compose finds it. When it holds none (or cannot be asked), podman
//! pulls the image from its registry as before.

use edge_api::types::ArtifactPin;
use edge_model::Digest;
use edge_runtime::podman::Podman;
use edge_workspace::image::{MAX_MANIFEST, parse_manifest, write_archive};

use super::{Node, fail};

/// Largest answer about a pinned artifact read from the fleet manager.
const MAX_PIN_REPLY: u64 = 64 * 1024;

impl Node {
    /// Which artifact the fleet manager holds for `asked` (`oci://…`) of app
    /// `app`: `Ok(Err(detail))` when it holds none or will not say why.
    ///
    /// # Errors
    /// When it cannot be asked or its answer does not read.
    pub(super) fn ask_pin(
        &self,
        app: &str,
        asked: &str,
    ) -> Result<Result<ArtifactPin, String>, String> {
        let mut url = reqwest::Url::parse(&format!("{}/v2/{app}/pins", self.server))
            .map_err(|e| e.to_string())?;
        url.query_pairs_mut().append_pair("reference", asked);
        let resp = self
            .client
            .get(url)
            .send()
            .map_err(|e| format!("cannot ask which artifact it holds: {e}"))?;
        let status = resp.status();
        let mut body = Vec::new();
        std::io::Read::read_to_end(&mut std::io::Read::take(resp, MAX_PIN_REPLY), &mut body)
            .map_err(|e| e.to_string())?;
        if !status.is_success() {
            let detail = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("detail")?.as_str().map(str::to_owned))
                .unwrap_or_else(|| status.to_string());
            return if status == reqwest::StatusCode::NOT_FOUND {
                Ok(Err(detail))
            } else {
                Err(detail)
            };
        }
        let pin: ArtifactPin =
            serde_json::from_slice(&body).map_err(|e| format!("its answer does not read: {e}"))?;
        if pin.reference != asked {
            return Err(format!(
                "it answered for `{}`, not `{asked}`",
                pin.reference
            ));
        }
        Ok(Ok(pin))
    }

    /// podman holds the image `reference` (`host/name:tag`) of app `app`
    /// once this returns: it had it, it was taken in from the fleet
    /// manager's copy, or it is left to podman to pull (no copy there).
    ///
    /// # Errors
    /// When the fleet manager's copy cannot be fetched, verified or taken in.
    pub(super) fn ensure_image(&self, app: &str, reference: &str) -> Result<(), (String, String)> {
        let podman = Podman::default();
        if podman.image_exists(reference) {
            return Ok(());
        }
        let asked = format!("oci://{reference}");
        let pin = match self.ask_pin(app, &asked) {
            Ok(Ok(pin)) => pin,
            Ok(Err(detail)) => {
                tracing::info!(
                    reference,
                    detail,
                    "no copy of the image here; podman pulls it"
                );
                return Ok(());
            }
            Err(e) => {
                tracing::warn!(
                    reference,
                    error = e,
                    "cannot ask for a copy of the image; podman pulls it"
                );
                return Ok(());
            }
        };
        let artifact = |e: &dyn std::fmt::Display| {
            fail(
                "ARTIFACT",
                format!("the image `{reference}` from the fleet manager: {e}"),
            )
        };
        let digest = Digest::new(&pin.digest).map_err(|e| artifact(&e))?;
        if pin.size > MAX_MANIFEST as u64 {
            return Err(artifact(&format!(
                "its manifest is {} bytes, over {MAX_MANIFEST}",
                pin.size
            )));
        }
        let get = |digest: &Digest, size: u64| {
            self.make_room(digest, size)?;
            let url = format!("{}/v2/{app}/blobs/{digest}", self.server);
            self.cas
                .download(&self.client, &url, digest, size)
                .map_err(|e| artifact(&e))
        };
        tracing::info!(reference, digest = %digest, "taking the image from the fleet manager");
        let manifest = std::fs::read(get(&digest, pin.size)?).map_err(|e| artifact(&e))?;
        let parsed = parse_manifest(&manifest, self.artifact_limit).map_err(|e| artifact(&e))?;
        for part in parsed.parts() {
            let d = Digest::new(&part.digest).map_err(|e| artifact(&e))?;
            get(&d, part.size)?;
        }
        std::fs::create_dir_all(&self.workloads).map_err(|e| artifact(&e))?;
        let tar = self.workloads.join(format!(
            ".image-{}-{}.tar",
            digest
                .as_str()
                .trim_start_matches("sha256:")
                .get(..16)
                .unwrap_or_default(),
            std::process::id()
        ));
        let done = write_archive(&tar, &manifest, reference, |d| {
            Digest::new(d).ok().and_then(|d| self.cas.get(&d))
        })
        .and_then(|()| podman.load_archive(&tar, reference));
        let _ = std::fs::remove_file(&tar);
        done.map_err(|e| artifact(&e))?;
        tracing::info!(reference, digest = %digest, "image taken in from the fleet manager");
        Ok(())
    }
}
