//! What the registry holds for one device under one repository name: the
//! [`Entry`]s (a manifest, the tag it answers to, the blobs it names) made
//! from the deployments the device is served, and nothing else, so a device
//! can neither list nor fetch what another device's deployments name.
//!
//! Two kinds of entry:
//!
//! - A package-local artifact (a component whose `x-edgectl-extensions`
//!   names one) is served as `<app>/<component>`, tagged with the
//!   component's `revision`, under a manifest made here: an OCI image
//!   manifest with the empty config and one layer, the artifact. It is
//!   deterministic (canonical JSON of the artifact's digest, size, media
//!   type, title and revision), so its digest is the same at every LO and
//!   after every restart. A compose archive gets the artifact and layer
//!   types and the annotations Margo's application registry asks for.
//! - A registry reference (`oci://host/name:tag`) that a deployment names,
//!   as a module, binary or container image, or that the `compose.yaml` of
//!   one of its compose archives names, and for which this server holds a
//!   copy (what a stick carried, or else what it pulls through from the
//!   reference's registry on this request,
//!   [`crate::south::backend::Backend::pull_through`]; only for a manifest
//!   request by the very tag or digest of a reference the device's own
//!   deployments name, so the server is no open proxy): served as `name:tag`, without the host,
//!   as a registry mirror does, so a client's mirror setting maps the
//!   upstream name onto this registry unchanged. An image is served with
//!   its own manifest and blobs; a module or binary under a one-layer
//!   manifest made as above.
//!
//! Entries are made only for the name asked for, so a request reads no
//! more than that name's artifacts.

use edge_model::artifact::{ArtifactRef, FILE_TYPE};
use edge_model::profile::{Component, oci_reference};
use edge_model::{ApplicationDeployment, Digest, MargoDocument as _, ProfileType};
use serde_json::{Value, json};

use super::grammar;
use crate::error::ApiError;
use crate::south::Caller;
use crate::south::backend::{Held, Shared};
use crate::south::view::DeviceView;

/// The OCI image manifest media type, the one every manifest made here has.
pub(crate) const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// The empty config of an artifact manifest (`{}`).
pub(crate) const EMPTY_TYPE: &str = "application/vnd.oci.empty.v1+json";
/// sha256 of `{}`.
pub(crate) const EMPTY_DIGEST: &str =
    "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
/// The bytes of the empty config.
pub(crate) const EMPTY_DATA: &[u8] = b"{}";
/// Margo's artifact type of a compose component (application registry).
const MARGO_COMPOSE_ARTIFACT: &str = "application/vnd.org.margo.component.compose+json";
/// Margo's layer type of a compose component's archive.
const MARGO_COMPOSE_LAYER: &str = "application/vnd.org.margo.component.compose.tar+gzip";
/// Largest stored image manifest read.
const MAX_MANIFEST: u64 = 4 * 1024 * 1024;

/// One manifest served under a name.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// The tag it answers to, if any (it always answers to its digest).
    pub(crate) tag: Option<String>,
    /// Its exact bytes.
    pub(crate) manifest: Vec<u8>,
    /// Its media type.
    pub(crate) media_type: String,
    /// sha256 of [`Entry::manifest`].
    pub(crate) digest: Digest,
    /// The blobs it names (config and layers).
    pub(crate) blobs: Vec<Digest>,
    /// The app whose artifacts hold them (empty for what a stick carried),
    /// as [`crate::south::backend::Backend::artifact`] takes it.
    pub(crate) app: String,
}

/// The entries the deployments in `view` give repository `name`; a
/// reference whose tag or digest is `asked` is pulled through when not
/// held.
pub(crate) fn entries(
    backend: &Shared,
    caller: &Caller,
    view: &DeviceView,
    name: &str,
    asked: Option<&str>,
) -> Result<Vec<Entry>, ApiError> {
    let mut out: Vec<Entry> = Vec::new();
    let mut push = |e: Entry| {
        if !out.iter().any(|o| o.digest == e.digest && o.tag == e.tag) {
            out.push(e);
        }
    };
    for doc in view.docs_with_previous() {
        let Ok(parsed) = ApplicationDeployment::from_slice(&doc.bytes) else {
            continue;
        };
        let d = parsed.document;
        let app = d.metadata.annotations.application_id.as_str();
        let profile = &d.spec.deployment_profile;
        for c in &profile.components {
            let p = &c.properties;
            if let Some(artifact) = c.artifact() {
                if format!("{app}/{}", c.name.as_str()) == name {
                    push(local(app, c, &artifact));
                }
                if profile.profile_type == ProfileType::Compose {
                    for image in compose_images(backend, caller, app, &artifact)? {
                        if let Some(e) = held(backend, caller, &image, name, asked, true)? {
                            push(e);
                        }
                    }
                }
            } else if let Some(r) = p
                .repository
                .as_deref()
                .and_then(|r| oci_reference(r, p.revision.as_deref()))
                && let Some(e) = held(
                    backend,
                    caller,
                    &r,
                    name,
                    asked,
                    profile.profile_type == ProfileType::Container,
                )?
            {
                push(e);
            }
        }
    }
    Ok(out)
}

/// The images a compose archive's `compose.yaml` names outright.
fn compose_images(
    backend: &Shared,
    caller: &Caller,
    app: &str,
    archive: &ArtifactRef,
) -> Result<Vec<String>, ApiError> {
    let Some(path) = backend.artifact(caller, app, &archive.digest)? else {
        return Ok(Vec::new());
    };
    let bytes = std::fs::read(&path).map_err(|e| ApiError::internal(&e.into()))?;
    Ok(edge_workspace::image::compose_images(&bytes)
        .map(|i| i.fixed)
        .unwrap_or_default())
}

/// The manifest made for a package-local artifact of component `c`.
fn local(app: &str, c: &Component, artifact: &ArtifactRef) -> Entry {
    let revision = c.properties.revision.clone();
    let title = c
        .properties
        .local_path()
        .and_then(|p| p.rsplit('/').find(|s| !s.is_empty()))
        // Named in this registry (a served document): the file name kept.
        .or_else(|| c.artifact_title())
        .unwrap_or(c.name.as_str())
        .to_owned();
    let compose = artifact.is_compose();
    let (artifact_type, layer_type) = if compose {
        (MARGO_COMPOSE_ARTIFACT, MARGO_COMPOSE_LAYER)
    } else {
        (FILE_TYPE, FILE_TYPE)
    };
    let mut annotations = serde_json::Map::new();
    if let Some(r) = &revision {
        annotations.insert("org.opencontainers.image.version".into(), json!(r));
        if compose {
            annotations.insert("org.margo.component.type".into(), json!("compose"));
            annotations.insert("org.margo.component.version".into(), json!(r));
        }
    }
    let manifest = one_layer(
        artifact_type,
        json!({
            "mediaType": layer_type,
            "digest": artifact.digest.as_str(),
            "size": artifact.size,
            "annotations": {"org.opencontainers.image.title": title},
        }),
        annotations,
    );
    let digest = edge_model::digest::sha256(&manifest);
    Entry {
        tag: revision.filter(|r| grammar::tag_ok(r)),
        manifest,
        media_type: OCI_MANIFEST.to_owned(),
        digest,
        blobs: vec![empty_digest(), artifact.digest.clone()],
        app: app.to_owned(),
    }
}

/// An OCI artifact manifest: the empty config and `layer`.
fn one_layer(
    artifact_type: &str,
    layer: Value,
    annotations: serde_json::Map<String, Value>,
) -> Vec<u8> {
    let mut m = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": {
            "mediaType": EMPTY_TYPE,
            "digest": EMPTY_DIGEST,
            "size": EMPTY_DATA.len(),
        },
        "layers": [layer],
    });
    if !annotations.is_empty() {
        m["annotations"] = Value::Object(annotations);
    }
    edge_model::digest::canonical_json(&m)
}

fn empty_digest() -> Digest {
    Digest::new(EMPTY_DIGEST).unwrap_or_else(|_| edge_model::digest::sha256(EMPTY_DATA))
}

/// What this server holds for registry reference `reference`
/// (`host/name:tag`, an image when `image`, else a module or binary) when
/// it is served under `name`; pulled through when it holds nothing yet and
/// its tag or digest is the one `asked` for.
fn held(
    backend: &Shared,
    caller: &Caller,
    reference: &str,
    name: &str,
    asked: Option<&str>,
    image: bool,
) -> Result<Option<Entry>, ApiError> {
    let Some(split) = grammar::split(reference) else {
        return Ok(None);
    };
    if split.name != name {
        return Ok(None);
    }
    let oci = format!("oci://{reference}");
    let pin = match backend.pinned(&oci)? {
        Some(pin) => pin,
        None if asked.is_some() && (asked == split.tag || asked == split.digest) => {
            match backend.pull_through(&oci, image)? {
                Some(pin) => pin,
                None => return Ok(None),
            }
        }
        None => return Ok(None),
    };
    let tag = split.tag.map(str::to_owned);
    if !edge_workspace::image::is_manifest_type(&pin.media_type) {
        return Ok(Some(module(pin, tag)));
    }
    if pin.size > MAX_MANIFEST {
        return Ok(None);
    }
    let Some(path) = backend.artifact(caller, "", &pin.digest)? else {
        return Ok(None);
    };
    let bytes = std::fs::read(&path).map_err(|e| ApiError::internal(&e.into()))?;
    let Ok(image) = edge_workspace::image::parse_manifest(&bytes, crate::cas::MAX_ARTIFACT) else {
        return Ok(None);
    };
    let blobs = image
        .parts()
        .filter_map(|b| Digest::new(&b.digest).ok())
        .collect();
    Ok(Some(Entry {
        tag,
        media_type: image.media_type,
        digest: pin.digest,
        manifest: bytes,
        blobs,
        app: String::new(),
    }))
}

/// A module or binary a stick carried, under a one-layer manifest.
fn module(pin: Held, tag: Option<String>) -> Entry {
    let media_type = if pin.media_type.is_empty() {
        FILE_TYPE.to_owned()
    } else {
        pin.media_type.clone()
    };
    let manifest = one_layer(
        &media_type,
        json!({"mediaType": media_type, "digest": pin.digest.as_str(), "size": pin.size}),
        serde_json::Map::new(),
    );
    Entry {
        tag,
        digest: edge_model::digest::sha256(&manifest),
        manifest,
        media_type: OCI_MANIFEST.to_owned(),
        blobs: vec![empty_digest(), pin.digest],
        app: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use edge_model::artifact::COMPOSE_TYPE;

    #[test]
    fn the_empty_config_is_what_its_digest_says() {
        assert_eq!(
            edge_model::digest::sha256(EMPTY_DATA).as_str(),
            EMPTY_DIGEST
        );
        assert_eq!(empty_digest().as_str(), EMPTY_DIGEST);
    }

    #[test]
    fn a_made_manifest_is_deterministic_and_names_the_artifact() {
        let a = ArtifactRef {
            digest: edge_model::digest::sha256(b"module"),
            size: 6,
            media_type: FILE_TYPE.to_owned(),
        };
        let c: Component = serde_json::from_value(json!({
            "name": "hello",
            "properties": {"repository": "./components/hello.wat", "revision": "1.0.0"}
        }))
        .unwrap();
        let one = local("hello-wasm", &c, &a);
        let two = local("hello-wasm", &c, &a);
        assert_eq!(one.manifest, two.manifest);
        assert_eq!(one.digest, edge_model::digest::sha256(&one.manifest));
        assert_eq!(one.tag.as_deref(), Some("1.0.0"));
        let v: Value = serde_json::from_slice(&one.manifest).unwrap();
        assert_eq!(v["mediaType"], OCI_MANIFEST);
        assert_eq!(v["config"]["digest"], EMPTY_DIGEST);
        assert_eq!(v["layers"][0]["digest"], a.digest.as_str());
        assert_eq!(v["layers"][0]["size"], 6);
        assert_eq!(
            v["layers"][0]["annotations"]["org.opencontainers.image.title"],
            "hello.wat"
        );
        assert_eq!(one.blobs, vec![empty_digest(), a.digest.clone()]);
        let parsed = edge_workspace::image::parse_manifest(&one.manifest, 1 << 20).unwrap();
        assert_eq!(parsed.layers[0].digest, a.digest.as_str());

        let compose = ArtifactRef {
            media_type: COMPOSE_TYPE.to_owned(),
            ..a
        };
        let v: Value = serde_json::from_slice(&local("app", &c, &compose).manifest).unwrap();
        assert_eq!(v["artifactType"], MARGO_COMPOSE_ARTIFACT);
        assert_eq!(v["layers"][0]["mediaType"], MARGO_COMPOSE_LAYER);
        assert_eq!(v["annotations"]["org.margo.component.version"], "1.0.0");
    }
}
