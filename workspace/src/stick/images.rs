//! Container images on a stick: an image the CO pulled for the site travels
//! as its manifest (a [`StickArtifact`] with the `oci://` reference it
//! answers for and an image manifest media type) and every blob that
//! manifest names (config and layers, artifacts of their own without a
//! reference). In the layout's `index.json` the manifest is listed as it is,
//! annotated with `org.opencontainers.image.ref.name` (the full reference)
//! and [`REFERENCE_ANNOTATION`]; its blobs are not listed on their own.
//!
//! [`check_images`] is the import's check that each image is whole: every
//! blob its manifest names is listed on the stick, with that size, and
//! present (the digests and file sizes themselves are verified with every
//! artifact). A manifest is read bounded by [`MAX_MANIFEST`], whatever size
//! the stick declares for it.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Read as _;
use std::path::Path;

use serde_json::{Value, json};

use super::{REFERENCE_ANNOTATION, StickArtifact, StickError, StickManifest, blob_path, invalid};
use crate::image::{MAX_MANIFEST, is_manifest_type, parse_manifest};

/// Whether `a` is the manifest of a container image carried for a reference.
pub(super) fn is_image(a: &StickArtifact) -> bool {
    a.reference.is_some() && is_manifest_type(&a.media_type)
}

/// The config and layers the image manifest `a` on `stick` names.
fn parts_of(stick: &Path, a: &StickArtifact) -> Result<Vec<crate::oci::Blob>, StickError> {
    let reference = a.reference.as_deref().unwrap_or_default();
    let refuse = |why: String| {
        invalid(
            stick,
            format!("the image `{reference}` ({}) is refused: {why}", a.digest),
        )
    };
    if a.size > MAX_MANIFEST as u64 {
        return Err(refuse(format!(
            "its manifest is larger than {MAX_MANIFEST} bytes"
        )));
    }
    // Read bounded whatever the stick claims (sizes are checked against the
    // files elsewhere, but this read must not trust that it ran first).
    let path = blob_path(stick, &a.digest);
    let mut bytes = Vec::new();
    fs::File::open(&path)
        .and_then(|f| f.take(MAX_MANIFEST as u64 + 1).read_to_end(&mut bytes))
        .map_err(|e| refuse(format!("its manifest does not read: {e}")))?;
    if bytes.len() > MAX_MANIFEST {
        return Err(refuse(format!(
            "its manifest is larger than {MAX_MANIFEST} bytes"
        )));
    }
    let parsed = parse_manifest(&bytes, u64::MAX).map_err(|e| refuse(e.to_string()))?;
    Ok(parsed.parts().cloned().collect())
}

/// Every image on the stick is whole: each blob its manifest names is
/// listed, with the size the manifest gives, and on the stick.
///
/// # Errors
/// A sentence naming the image and the first blob it lacks.
pub(super) fn check_images(stick: &Path, manifest: &StickManifest) -> Result<(), StickError> {
    let listed: BTreeMap<&str, u64> = manifest
        .artifacts
        .iter()
        .map(|a| (a.digest.as_str(), a.size))
        .collect();
    for a in manifest.artifacts.iter().filter(|a| is_image(a)) {
        for part in parts_of(stick, a)? {
            let whole = listed.get(part.digest.as_str()) == Some(&part.size)
                && blob_path(stick, &part.digest).is_file();
            if !whole {
                return Err(invalid(
                    stick,
                    format!(
                        "the image `{}` names the blob {} ({} bytes), which is not on the stick; nothing was taken in: write the stick again",
                        a.reference.as_deref().unwrap_or_default(),
                        part.digest,
                        part.size
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// The blobs of images on the stick, which the index does not list alone.
pub(super) fn image_parts(
    stick: &Path,
    manifest: &StickManifest,
) -> Result<BTreeSet<String>, StickError> {
    let mut out = BTreeSet::new();
    for a in manifest.artifacts.iter().filter(|a| is_image(a)) {
        out.extend(parts_of(stick, a)?.into_iter().map(|p| p.digest));
    }
    Ok(out)
}

/// The index entry of the image manifest `a`.
pub(super) fn index_entry(a: &StickArtifact) -> Value {
    let reference = a.reference.as_deref().unwrap_or_default();
    json!({
        "mediaType": a.media_type,
        "digest": a.digest,
        "size": a.size,
        "annotations": {
            "org.opencontainers.image.ref.name": reference.strip_prefix("oci://").unwrap_or(reference),
            REFERENCE_ANNOTATION: reference,
            "org.edgectl.app": a.app,
            "org.edgectl.component": a.component,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::super::{FORMAT, finish, put_blob};
    use super::*;
    use edge_model::digest::sha256;

    const REF: &str = "oci://127.0.0.1:5000/apps/hello:1.0.0";

    fn blob(bytes: &[u8], media_type: &str, reference: Option<&str>) -> StickArtifact {
        StickArtifact {
            digest: sha256(bytes).to_string(),
            size: bytes.len() as u64,
            media_type: media_type.into(),
            app: "a".into(),
            component: "c".into(),
            reference: reference.map(str::to_owned),
        }
    }

    /// A stick holding an image of one config and one layer, not finished.
    fn image_stick(dir: &Path) -> (StickManifest, StickArtifact) {
        let (config, layer) = (b"{\"os\":\"linux\"}".as_slice(), b"layer bytes".as_slice());
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":{}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{}","size":{}}}]}}"#,
            crate::image::OCI_MANIFEST,
            sha256(config),
            config.len(),
            sha256(layer),
            layer.len()
        );
        let m = blob(manifest.as_bytes(), crate::image::OCI_MANIFEST, Some(REF));
        let c = blob(config, "application/vnd.oci.image.config.v1+json", None);
        let l = blob(layer, "application/vnd.oci.image.layer.v1.tar+gzip", None);
        put_blob(dir, &m.digest, manifest.as_bytes()).unwrap();
        put_blob(dir, &c.digest, config).unwrap();
        put_blob(dir, &l.digest, layer).unwrap();
        let stick = StickManifest {
            format: FORMAT,
            site: "s".into(),
            head: "h".into(),
            exported_at: "t".into(),
            artifacts: vec![m, c, l.clone()],
            credentials: false,
            revoked: vec![],
            issued: vec![],
            signature: String::new(),
        };
        (stick, l)
    }

    #[test]
    fn an_image_lacking_a_layer_is_refused_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let (mut stick, layer) = image_stick(dir.path());
        check_images(dir.path(), &stick).unwrap();
        // Listed but not on the stick.
        fs::remove_file(blob_path(dir.path(), &layer.digest)).unwrap();
        let e = check_images(dir.path(), &stick).unwrap_err().to_string();
        assert!(
            e.contains(&layer.digest) && e.contains(REF) && e.contains("not on the stick"),
            "{e}"
        );
        // On the stick but not listed.
        put_blob(dir.path(), &layer.digest, b"layer bytes").unwrap();
        stick.artifacts.pop();
        let e = check_images(dir.path(), &stick).unwrap_err().to_string();
        assert!(e.contains(&layer.digest), "{e}");
        // A manifest file larger than any manifest, whatever it declares.
        let big = vec![b' '; MAX_MANIFEST + 1];
        let mut huge = blob(&big, crate::image::OCI_MANIFEST, Some(REF));
        put_blob(dir.path(), &huge.digest, &big).unwrap();
        huge.size = 300;
        stick.artifacts = vec![huge];
        let e = check_images(dir.path(), &stick).unwrap_err().to_string();
        assert!(e.contains("larger than"), "{e}");
        // A manifest that is no image manifest.
        let bad = blob(b"{}", crate::image::OCI_MANIFEST, Some(REF));
        put_blob(dir.path(), &bad.digest, b"{}").unwrap();
        stick.artifacts = vec![bad];
        let e = check_images(dir.path(), &stick).unwrap_err().to_string();
        assert!(e.contains("is refused"), "{e}");
    }

    #[test]
    fn the_index_lists_the_image_by_its_reference_and_not_its_blobs() {
        let dir = tempfile::tempdir().unwrap();
        let (stick, layer) = image_stick(dir.path());
        finish(dir.path(), &stick).unwrap();
        let index: Value =
            serde_json::from_slice(&fs::read(dir.path().join("oci/index.json")).unwrap()).unwrap();
        let entries = index["manifests"].as_array().unwrap();
        assert_eq!(entries.len(), 1, "{index}");
        assert_eq!(entries[0]["digest"], stick.artifacts[0].digest.as_str());
        assert_eq!(
            entries[0]["annotations"]["org.opencontainers.image.ref.name"],
            "127.0.0.1:5000/apps/hello:1.0.0"
        );
        assert_eq!(entries[0]["annotations"][REFERENCE_ANNOTATION], REF);
        assert!(!index.to_string().contains(&layer.digest));
    }
}
