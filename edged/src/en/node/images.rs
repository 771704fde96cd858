//! Container images from the fleet manager, for a site with no registry:
//! before a `container` or `compose` workload starts, each image it needs
//! that podman does not hold is asked of the fleet manager
//! (`GET /v2/<app>/pins?reference=oci://…`, what a site stick carried to
//! the LO). When it holds a copy, its manifest is fetched by digest
//! (`/v2/<app>/blobs/<digest>`: resumable, verified, in the node's artifact
//! store), room is made in the store for the whole image at once (what it
//! gathers kept from the garbage collection that may need), then its config:
//! a copy for another platform than this host's (the CO pulled it for its
//! own) is left, and podman pulls the image. Otherwise every layer is
//! fetched the same way, the image written as a temporary OCI image archive
//! (`.image-*.tar` in the workloads folder; those a killed run left are
//! removed on the next call) naming the reference and taken in by podman
//! (`podman load`, bounded in time), so the driver's `podman run` or
//! podman-compose finds it. When it holds none (or cannot be asked, or
//! podman cannot say whether it has the image), podman pulls the image from
//! its registry as before.

use std::collections::HashSet;

use edge_api::south::CallError;
use edge_model::Digest;
use edge_runtime::podman::Podman;
use edge_runtime::{ComponentError, FailureCode};
use edge_workspace::image::{
    MAX_CONFIG, MAX_MANIFEST, config_platform, host_platform, parse_manifest, write_archive,
};

use super::{Node, fail};
use crate::backoff::chain;

impl Node {
    /// podman holds the image `reference` (`host/name:tag`) of app `app`
    /// once this returns: it had it, it was taken in from the fleet
    /// manager's copy, or it is left to podman to pull (no copy there, or
    /// one for another platform).
    ///
    /// # Errors
    /// When the fleet manager's copy cannot be fetched, verified or taken in,
    /// or does not fit in the artifact store.
    pub(super) fn ensure_image(&self, app: &str, reference: &str) -> Result<(), ComponentError> {
        self.remove_stale_archives();
        let podman = Podman::default();
        match podman.image_exists(reference) {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(
                    reference,
                    error = edge_runtime::failure::sentence(&e),
                    "cannot ask podman whether it holds the image; podman pulls it"
                );
                return Ok(());
            }
        }
        let asked = format!("oci://{reference}");
        let pin = match self.fleet_manager().pin(app, &asked) {
            Ok(pin) => pin,
            Err(CallError::NotFound { detail, .. }) => {
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
                    error = %chain(&e),
                    "cannot ask for a copy of the image; podman pulls it"
                );
                return Ok(());
            }
        };
        let artifact = |e: &dyn std::fmt::Display| {
            fail(
                FailureCode::Artifact,
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
        // Every blob of the image stays while it is gathered: making room
        // for one must not drop another already fetched.
        let mut in_use = HashSet::from([digest.to_string()]);
        let missing = |d: &Digest, size: u64| if self.cas.get(d).is_some() { 0 } else { size };
        self.make_room_keeping(missing(&digest, pin.size), digest.as_str(), &in_use)?;
        let get = |digest: &Digest, size: u64| {
            self.fetch_from_fleet_manager(app, digest, size)
                .map_err(|e| artifact(&chain(&e)))
        };
        tracing::info!(reference, digest = %digest, "taking the image from the fleet manager");
        let manifest = std::fs::read(get(&digest, pin.size)?).map_err(|e| artifact(&e))?;
        let parsed = parse_manifest(&manifest, self.artifact_limit).map_err(|e| artifact(&e))?;
        let mut parts = Vec::new();
        let mut room = 0u64;
        for part in parsed.parts() {
            let d = Digest::new(&part.digest).map_err(|e| artifact(&e))?;
            if in_use.insert(d.to_string()) {
                room = room.saturating_add(missing(&d, part.size));
            }
            parts.push((d, part.size));
        }
        // Room for the whole image at once, before any of it is fetched.
        self.make_room_keeping(room, &format!("the image `{reference}`"), &in_use)?;
        let Some((config, config_size)) = parts.first() else {
            return Err(artifact(&"its manifest names no config"));
        };
        if *config_size > MAX_CONFIG {
            tracing::warn!(
                reference,
                size = config_size,
                "the copy's config is too large to learn its platform; podman pulls the image"
            );
            return Ok(());
        }
        // Its platform before its layers: the fleet manager's copy is for
        // the platform its CO runs on, which need not be this one's.
        let config_bytes = std::fs::read(get(config, *config_size)?).map_err(|e| artifact(&e))?;
        let (want_os, want_arch) = host_platform();
        match config_platform(&config_bytes) {
            Ok((os, arch)) if os == want_os && arch == want_arch => {}
            Ok((os, arch)) => {
                tracing::warn!(
                    reference,
                    copy = format!("{os}/{arch}"),
                    here = format!("{want_os}/{want_arch}"),
                    "the fleet manager's copy of the image is for another platform; podman pulls it"
                );
                return Ok(());
            }
            Err(e) => {
                tracing::warn!(
                    reference,
                    error = %e,
                    "the platform of the fleet manager's copy of the image is unknown; podman pulls it"
                );
                return Ok(());
            }
        }
        for (d, size) in parts.iter().skip(1) {
            get(d, *size)?;
        }
        std::fs::create_dir_all(&self.workloads).map_err(|e| artifact(&e))?;
        let tar = self.workloads.join(format!(
            "{ARCHIVE_PREFIX}{}-{}{ARCHIVE_SUFFIX}",
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
        .map_err(|e| e.to_string())
        .and_then(|()| {
            podman
                .load_archive(&tar, reference)
                .map_err(|e| edge_runtime::failure::sentence(&e))
        });
        let _ = std::fs::remove_file(&tar);
        done.map_err(|e| artifact(&e))?;
        tracing::info!(reference, digest = %digest, "image taken in from the fleet manager");
        Ok(())
    }

    /// Remove the image archives an earlier run of the node left in the
    /// workloads folder (killed while podman took one in); this run's own
    /// are left alone.
    fn remove_stale_archives(&self) {
        let Ok(entries) = std::fs::read_dir(&self.workloads) else {
            return;
        };
        let ours = format!("-{}{ARCHIVE_SUFFIX}", std::process::id());
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if is_stale_archive(&name, &ours) {
                match std::fs::remove_file(e.path()) {
                    Ok(()) => tracing::info!(file = name, "a left-over image archive removed"),
                    Err(err) => {
                        tracing::warn!(file = name, error = %err, "cannot remove a left-over image archive");
                    }
                }
            }
        }
    }
}

/// How the temporary image archives in the workloads folder are named:
/// prefix, manifest digest (16 hex digits), `-<pid>`, suffix.
const ARCHIVE_PREFIX: &str = ".image-";
const ARCHIVE_SUFFIX: &str = ".tar";

/// Whether `name` is a temporary image archive not ending in `ours`
/// (`-<this pid>.tar`).
fn is_stale_archive(name: &str, ours: &str) -> bool {
    name.starts_with(ARCHIVE_PREFIX) && name.ends_with(ARCHIVE_SUFFIX) && !name.ends_with(ours)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_archives_of_other_runs_are_stale() {
        let ours = "-42.tar";
        assert!(is_stale_archive(".image-0123456789abcdef-7.tar", ours));
        assert!(!is_stale_archive(".image-0123456789abcdef-42.tar", ours));
        assert!(!is_stale_archive("image-0123-7.tar", ours));
        assert!(!is_stale_archive(".image-0123-7.tar.gz", ours));
        assert!(!is_stale_archive("app-1", ours));
    }
}
