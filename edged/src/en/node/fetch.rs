//! Where a component's artifact comes from, onto local disk and verified:
//! a package-local artifact from the fleet manager (the LO's cache), a
//! WebAssembly module or binary from a registry (`oci://`, one layer), or
//! nothing to fetch (a container image, which podman pulls, unless the
//! fleet manager holds a copy podman lacks: `images.rs`).
//!
//! A package-local artifact is named by digest in our extension. When the
//! served document also names it as a standard reference into the fleet
//! manager's own registry (`oci://<its host>/<app>/<component>` and a tag,
//! as an LO serves it), the node pulls it the way any OCI client does, over
//! its mTLS connection: the manifest, which must name exactly that layer,
//! then the layer by digest. A fleet manager whose registry serves no such
//! manifest (an earlier release) is asked by digest at its blob endpoint,
//! as before.
//!
//! A registry reference is resolved to a digest once and pinned in the
//! artifact store, so a node that restarts with no network starts the same
//! bytes again, and a tag moved later does not change what runs. When the
//! registry cannot be had, the node asks its fleet manager which artifact it
//! holds for the reference (`GET /v2/<app>/pins?reference=oci://…`, what a
//! site stick carried to an LO) and fetches that by digest like a
//! package-local artifact, then pins it the same way. Every
//! download resumes where an interrupted one stopped and is verified before
//! it is used; a failure leaves what runs alone.

use std::collections::HashSet;
use std::path::PathBuf;

use edge_api::south::{CallError, South};
use edge_model::profile::{Component, oci_reference};
use edge_model::{ApplicationDeployment, Digest, MargoDocument as _, ProfileType};
use edge_runtime::plan::ComponentPlan;
use edge_runtime::{ComponentError, FailureCode};
use edge_workspace::archive;
use edge_workspace::oci::BlobSource;

use super::{Node, fail};
use crate::backoff::chain;
use crate::cas::{CasError, FetchBlob as _, FetchError};

/// The package-local artifact a component names, `(digest, size)`.
fn local_artifact(d: &ApplicationDeployment, component: &str) -> Option<(Digest, u64)> {
    d.spec
        .deployment_profile
        .components
        .iter()
        .find(|c| c.name.as_str() == component)?
        .artifact()
        .map(|a| (a.digest, a.size))
}

/// The repository name and tag (or digest) of registry reference
/// `repository` (`oci://host/name`) with `revision`; `None` for anything
/// else.
fn registry_name<'a>(repository: &'a str, revision: Option<&'a str>) -> Option<(&'a str, &'a str)> {
    let (_host, name) = repository.strip_prefix("oci://")?.split_once('/')?;
    let revision = revision.filter(|r| !r.is_empty())?;
    (!name.is_empty()).then_some((name, revision))
}

/// Whether `manifest` is an image manifest with exactly one layer, `digest`
/// of `size` bytes; why not, as the end of a sentence.
fn one_layer(manifest: &[u8], digest: &Digest, size: u64) -> Result<(), String> {
    let m = edge_workspace::image::parse_manifest(manifest, crate::cas::MAX_ARTIFACT)
        .map_err(|e| format!("does not read: {e}"))?;
    match m.layers.as_slice() {
        [layer] if layer.digest == digest.as_str() && layer.size == size => Ok(()),
        [layer] => Err(format!(
            "names {} ({} bytes), not the deployment's {digest} ({size} bytes)",
            layer.digest, layer.size
        )),
        layers => Err(format!("has {} layers, not one", layers.len())),
    }
}

/// The registry reference of a wasm or process component pulled from one.
fn registry_reference(c: &Component) -> Option<String> {
    let p = &c.properties;
    oci_reference(p.repository.as_deref()?, p.revision.as_deref())
}

impl Node {
    /// The south API of this node's fleet manager.
    pub(super) fn fleet_manager(&self) -> South {
        South::new(&self.server, self.client.clone())
    }

    /// A component's artifact on local disk, fetched and verified.
    pub(super) fn fetch(
        &self,
        d: &ApplicationDeployment,
        c: &ComponentPlan,
    ) -> Result<Option<PathBuf>, ComponentError> {
        if let Some((digest, size)) = local_artifact(d, &c.name) {
            if size > self.artifact_limit {
                return Err(fail(
                    FailureCode::Artifact,
                    format!(
                        "{digest} is {size} bytes, over this node's limit of {}",
                        self.artifact_limit
                    ),
                ));
            }
            self.make_room(&digest, size)?;
            let app = d.metadata.annotations.application_id.as_str();
            let path = self.fetch_package_local(app, c, &digest, size)?;
            if c.kind == ProfileType::Compose {
                // Checked whole before anything is extracted or stopped.
                let bytes =
                    std::fs::read(&path).map_err(|e| fail(FailureCode::Artifact, chain(&e)))?;
                archive::check_compose(&bytes, archive::Limits::default()).map_err(|e| {
                    fail(
                        FailureCode::Artifact,
                        format!("the compose archive {digest} is refused: {e}"),
                    )
                })?;
                // Images named with variables are left to podman-compose;
                // those named outright are taken in first.
                let images = edge_workspace::image::compose_images(&bytes).unwrap_or_default();
                for image in images.fixed {
                    self.ensure_image(d.metadata.annotations.application_id.as_str(), &image)?;
                }
            }
            return Ok(Some(path));
        }
        if c.kind == ProfileType::Container {
            // podman pulls the image itself, unless the fleet manager holds
            // a copy of one podman does not have.
            if let Some(image) = c
                .repository
                .as_deref()
                .and_then(|r| oci_reference(r, c.revision.as_deref()))
            {
                self.ensure_image(d.metadata.annotations.application_id.as_str(), &image)?;
            }
            return Ok(None);
        }
        match c.repository.as_deref() {
            Some(r) if r.starts_with("oci://") => self
                .pull(d.metadata.annotations.application_id.as_str(), r, c)
                .map(Some),
            Some(r) => Err(fail(
                FailureCode::Artifact,
                format!(
                    "`{r}` is a package-local artifact the fleet manager did not name by digest"
                ),
            )),
            None => Ok(None),
        }
    }

    /// Where component `c`'s artifact came from, for messages: its package
    /// path or registry reference, and the digest it was taken as.
    pub(super) fn origin(&self, c: &ComponentPlan) -> String {
        let Some(repository) = c.repository.as_deref() else {
            return String::new();
        };
        if let Some(reference) = oci_reference(repository, c.revision.as_deref()) {
            return match self.cas.pinned(&reference) {
                Some((digest, _)) => format!("from `oci://{reference}` ({digest})"),
                None => format!("from `oci://{reference}`"),
            };
        }
        match &c.artifact {
            Some(digest) => format!("from `{repository}` in the package ({digest})"),
            None => format!("from `{repository}` in the package"),
        }
    }

    /// The module or binary at registry `repository` (with the component's
    /// revision) of app `app`, pinned on first pull: from the registry, or
    /// when that fails, from the fleet manager's copy.
    fn pull(
        &self,
        app: &str,
        repository: &str,
        c: &ComponentPlan,
    ) -> Result<PathBuf, ComponentError> {
        if !matches!(c.kind, ProfileType::Wasm | ProfileType::Process) {
            return Err(fail(
                FailureCode::Artifact,
                format!("a {} component cannot come from `{repository}`", c.kind),
            ));
        }
        let reference = oci_reference(repository, c.revision.as_deref()).ok_or_else(|| {
            fail(
                FailureCode::Artifact,
                format!("`{repository}` is not a registry reference; write oci://HOST/NAME"),
            )
        })?;
        if let Some((digest, _)) = self.cas.pinned(&reference)
            && let Some(path) = self.cas.get(&digest)
        {
            return Ok(path);
        }
        match self.pull_registry(&reference) {
            Err(registry) if registry.code == FailureCode::Artifact => {
                match self.fleet_manager_copy(app, &reference) {
                    Ok(path) => {
                        tracing::info!(
                            reference,
                            registry = registry.message,
                            "the registry failed; the fleet manager's copy was taken"
                        );
                        Ok(path)
                    }
                    Err(copy) => Err(fail(
                        copy.code,
                        format!(
                            "{}; and from the fleet manager: {}",
                            registry.message, copy.message
                        ),
                    )),
                }
            }
            other => other,
        }
    }

    /// `reference` pulled from its registry and pinned.
    fn pull_registry(&self, reference: &str) -> Result<PathBuf, ComponentError> {
        let reference = reference.to_owned();
        let artifact = |e: &dyn std::error::Error| fail(FailureCode::Artifact, chain(e));
        let source = BlobSource::new(&reference, &self.registries).map_err(|e| artifact(&e))?;
        let blob = source
            .resolve(self.artifact_limit)
            .map_err(|e| artifact(&e))?;
        let digest = Digest::new(&blob.digest).map_err(|e| artifact(&e))?;
        self.make_room(&digest, blob.size)?;
        tracing::info!(reference, digest = %digest, size = blob.size, "pulling");
        let path = self
            .cas
            .fill(&digest, blob.size, &reference, |have| {
                if have > 0 {
                    tracing::info!(reference, from = have, "resuming a download");
                }
                let (start, reader) = source
                    .open(&blob, have)
                    .map_err(|e| CasError::source(&reference, e))?;
                Ok((start, Box::new(reader) as Box<dyn std::io::Read>))
            })
            .map_err(|e| artifact(&e))?;
        self.cas
            .pin(&reference, &digest, blob.size)
            .map_err(|e| artifact(&e))?;
        Ok(path)
    }

    /// Package-local artifact `digest` (`size` bytes) of component `c` of
    /// app `app` from the fleet manager: through its registry when `c` names
    /// it there (the manifest, which must name exactly this layer, then the
    /// layer by digest), else, or when the registry serves no such manifest,
    /// from the blob endpoint by digest. Either way the bytes are verified
    /// by digest as they are stored; one already stored is taken as it is.
    /// The reference's host is what other clients dial; the node asks the
    /// fleet manager it is connected to, which is where its package-local
    /// artifacts are.
    fn fetch_package_local(
        &self,
        app: &str,
        c: &ComponentPlan,
        digest: &Digest,
        size: u64,
    ) -> Result<PathBuf, ComponentError> {
        // Held already (verified when stored): no network, as after a reboot
        // with the fleet manager away.
        if let Some(path) = self.cas.get(digest) {
            return Ok(path);
        }
        let artifact = |e: &dyn std::error::Error| fail(FailureCode::Artifact, chain(e));
        if let Some((name, tag)) = c
            .repository
            .as_deref()
            .and_then(|r| registry_name(r, c.revision.as_deref()))
        {
            match self.fleet_manager().oci_manifest(name, tag) {
                Ok(bytes) => {
                    one_layer(&bytes, digest, size).map_err(|why| {
                        fail(
                            FailureCode::Artifact,
                            format!("the fleet manager's manifest of `{name}:{tag}` {why}"),
                        )
                    })?;
                    return self
                        .fetch_from_fleet_manager(name, digest, size)
                        .map_err(|e| artifact(&e));
                }
                Err(CallError::NotFound { .. }) => {
                    tracing::info!(
                        name,
                        tag,
                        "the fleet manager's registry serves no such manifest; fetching the artifact by digest"
                    );
                }
                Err(e) => {
                    if let Some(after) = e.advice().after {
                        self.hold_fetches(after);
                    }
                    return Err(artifact(&e));
                }
            }
        }
        self.fetch_from_fleet_manager(app, digest, size)
            .map_err(|e| artifact(&e))
    }

    /// Artifact `digest` (at most `size` bytes) under repository `app` (an
    /// app id, or a registry name) from the fleet manager's blob endpoint
    /// into the store; a refusal that says when to
    /// try again holds back [`Node::retry_failed`] until then.
    pub(super) fn fetch_from_fleet_manager(
        &self,
        app: &str,
        digest: &Digest,
        size: u64,
    ) -> Result<PathBuf, FetchError> {
        let fetched = self
            .cas
            .fetch_blob(&self.fleet_manager(), app, digest, size);
        if let Err(FetchError::Call(e)) = &fetched
            && let Some(after) = e.advice().after
        {
            self.hold_fetches(after);
        }
        fetched
    }

    /// The fleet manager's copy of `reference` (`host/name:tag`) for app
    /// `app`: which digest it holds, then that blob, verified and pinned.
    fn fleet_manager_copy(&self, app: &str, reference: &str) -> Result<PathBuf, ComponentError> {
        let artifact = |e: &dyn std::error::Error| fail(FailureCode::Artifact, chain(e));
        let asked = format!("oci://{reference}");
        let pin = self
            .fleet_manager()
            .pin(app, &asked)
            .map_err(|e| artifact(&e))?;
        let digest = Digest::new(&pin.digest).map_err(|e| artifact(&e))?;
        if pin.size > self.artifact_limit {
            return Err(fail(
                FailureCode::Artifact,
                format!(
                    "{digest} is {} bytes, over this node's limit of {}",
                    pin.size, self.artifact_limit
                ),
            ));
        }
        self.make_room(&digest, pin.size)?;
        tracing::info!(reference, digest = %digest, size = pin.size, "fetching the fleet manager's copy");
        let path = self
            .fetch_from_fleet_manager(app, &digest, pin.size)
            .map_err(|e| artifact(&e))?;
        self.cas
            .pin(reference, &digest, pin.size)
            .map_err(|e| artifact(&e))?;
        Ok(path)
    }

    /// Refuse an artifact the store cannot hold, after dropping what nothing
    /// refers to.
    pub(super) fn make_room(&self, digest: &Digest, size: u64) -> Result<(), ComponentError> {
        if self.cas.get(digest).is_some() {
            return Ok(());
        }
        self.make_room_keeping(size, digest.as_str(), &HashSet::new())
    }

    /// Refuse `size` more bytes (of `what`, named in the error) the store
    /// cannot hold, after dropping what nothing refers to: neither the
    /// deployments nor `in_use` (digests being gathered, such as the blobs
    /// of an image being assembled).
    pub(super) fn make_room_keeping(
        &self,
        size: u64,
        what: &str,
        in_use: &HashSet<String>,
    ) -> Result<(), ComponentError> {
        if self.cas.total() + size > self.store_limit {
            self.collect_garbage_keeping(in_use);
            if self.cas.total() + size > self.store_limit {
                return Err(fail(
                    FailureCode::Storage,
                    format!(
                        "{what} ({size} bytes) does not fit in this node's artifact store ({} of {} bytes used)",
                        self.cas.total(),
                        self.store_limit
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Drop stored artifacts nothing here refers to any more.
    pub(super) fn collect_garbage(&self) {
        self.collect_garbage_keeping(&HashSet::new());
    }

    /// Drop stored artifacts nothing here refers to any more, keeping those
    /// in `in_use` too.
    fn collect_garbage_keeping(&self, in_use: &HashSet<String>) {
        let (mut keep, mut refs) = (in_use.clone(), HashSet::new());
        if let Ok(Some(set)) = self.db.desired() {
            for doc in set.docs {
                if let Ok(p) = ApplicationDeployment::from_slice(&doc.bytes) {
                    for c in &p.document.spec.deployment_profile.components {
                        if let Some((d, _)) = local_artifact(&p.document, c.name.as_str()) {
                            keep.insert(d.to_string());
                        } else if let Some(r) = registry_reference(c) {
                            if let Some((d, _)) = self.cas.pinned(&r) {
                                keep.insert(d.to_string());
                            }
                            refs.insert(r);
                        }
                    }
                }
            }
        }
        self.cas.unpin_except(&refs);
        let freed = self.cas.retain(&keep);
        if freed > 0 {
            tracing::info!(freed, "unused artifacts removed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reference_into_the_fleet_managers_registry_gives_its_name_and_tag() {
        assert_eq!(
            registry_name("oci://lo.example:7443/hello-wasm/hello", Some("1.0.0")),
            Some(("hello-wasm/hello", "1.0.0"))
        );
        assert_eq!(registry_name("./components/hello.wat", Some("1.0.0")), None);
        assert_eq!(registry_name("oci://lo.example/x", None), None);
        assert_eq!(registry_name("oci://lo.example/", Some("1")), None);
        assert_eq!(registry_name("oci://lo.example", Some("1")), None);
    }

    #[test]
    fn the_manifest_must_name_exactly_the_deployments_layer() {
        let d = edge_model::digest::sha256(b"module");
        let manifest = |layers: serde_json::Value| {
            serde_json::to_vec(&serde_json::json!({
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.empty.v1+json",
                    "digest": edge_model::digest::sha256(b"{}").as_str(), "size": 2},
                "layers": layers,
            }))
            .unwrap()
        };
        let layer = |digest: &str, size: u64| serde_json::json!({"mediaType": "application/vnd.edgectl.file.v1", "digest": digest, "size": size});
        assert_eq!(
            one_layer(&manifest(serde_json::json!([layer(d.as_str(), 6)])), &d, 6),
            Ok(())
        );
        let other = edge_model::digest::sha256(b"other");
        let e = one_layer(
            &manifest(serde_json::json!([layer(other.as_str(), 6)])),
            &d,
            6,
        )
        .unwrap_err();
        assert!(e.contains(other.as_str()) && e.contains(d.as_str()), "{e}");
        assert!(one_layer(&manifest(serde_json::json!([layer(d.as_str(), 7)])), &d, 6).is_err());
        let two = serde_json::json!([layer(d.as_str(), 6), layer(d.as_str(), 6)]);
        assert_eq!(
            one_layer(&manifest(two), &d, 6),
            Err("has 2 layers, not one".to_owned())
        );
        assert!(
            one_layer(b"{}", &d, 6)
                .unwrap_err()
                .starts_with("does not read")
        );
    }
}
