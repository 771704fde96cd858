//! Container images as content, with no network: what an image manifest
//! names (its config and layers, each by `sha256:` digest and size, checked
//! and bounded), which manifest of a multi-platform index this host runs,
//! which platform an image's config says it is for ([`config_platform`]),
//! the images a compose archive's `compose.yaml` names (as full references,
//! normalized the way podman and docker read them; those named with a
//! variable apart, as they cannot be resolved before the workload runs),
//! and an OCI image layout archive of one image that podman takes in
//! (`podman load`).
//!
//! Everything here reads untrusted bytes: a manifest larger than
//! [`MAX_MANIFEST`], with more than [`MAX_LAYERS`] layers, a digest that is
//! not sha256 or a size over the caller's limit is refused with a sentence.
//! Fetching is elsewhere (`oci::BlobSource::resolve_image` from a registry,
//! or the edge node from its LO).

use std::io::Read as _;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::oci::Blob;

/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// Docker's schema 2 manifest.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker's manifest list.
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Largest manifest or index read, in bytes.
pub const MAX_MANIFEST: usize = 256 * 1024;
/// Most layers of one image.
pub const MAX_LAYERS: usize = 256;
/// Largest `compose.yaml` read from an archive.
const MAX_COMPOSE: u64 = 1024 * 1024;
/// Largest image config read to learn its platform.
pub const MAX_CONFIG: u64 = 1024 * 1024;

/// Why an image's manifest, index, config or compose file is refused, or
/// its archive not written: one sentence about the content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ImageError(String);

impl From<String> for ImageError {
    fn from(sentence: String) -> Self {
        Self(sentence)
    }
}

impl From<&str> for ImageError {
    fn from(sentence: &str) -> Self {
        Self(sentence.to_owned())
    }
}

/// What an image manifest names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageManifest {
    /// The manifest's own media type.
    pub media_type: String,
    /// The config blob.
    pub config: Blob,
    /// The layers, in order.
    pub layers: Vec<Blob>,
}

impl ImageManifest {
    /// Config first, then the layers.
    pub fn parts(&self) -> impl Iterator<Item = &Blob> {
        std::iter::once(&self.config).chain(self.layers.iter())
    }
}

/// Whether `media_type` is an image manifest (OCI or Docker schema 2).
#[must_use]
pub fn is_manifest_type(media_type: &str) -> bool {
    media_type == OCI_MANIFEST || media_type == DOCKER_MANIFEST
}

/// Whether `media_type` is a multi-platform index (OCI or Docker).
#[must_use]
pub fn is_index_type(media_type: &str) -> bool {
    media_type == OCI_INDEX || media_type == DOCKER_LIST
}

/// `true` for a `sha256:` followed by 64 lower-case hex digits.
#[must_use]
pub fn is_sha256(digest: &str) -> bool {
    digest.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

fn descriptor(v: &Value, what: &str, limit: u64) -> Result<Blob, String> {
    let digest = v["digest"].as_str().unwrap_or_default();
    if !is_sha256(digest) {
        return Err(format!(
            "its {what} digest `{digest}` is not a sha256 digest"
        ));
    }
    let size = v["size"]
        .as_u64()
        .ok_or_else(|| format!("its {what} {digest} has no size"))?;
    if size > limit {
        return Err(format!(
            "its {what} {digest} is {size} bytes, over the limit of {limit}"
        ));
    }
    Ok(Blob {
        digest: digest.to_owned(),
        size,
        media_type: v["mediaType"].as_str().unwrap_or_default().to_owned(),
    })
}

fn json_of(bytes: &[u8]) -> Result<Value, String> {
    if bytes.len() > MAX_MANIFEST {
        return Err(format!("its manifest is larger than {MAX_MANIFEST} bytes"));
    }
    serde_json::from_slice(bytes).map_err(|e| format!("its manifest is not JSON: {e}"))
}

/// The media type a manifest or index declares (`mediaType`), or OCI's
/// image manifest when it declares none and has layers.
#[must_use]
pub fn declared_type(bytes: &[u8]) -> Option<String> {
    let v = json_of(bytes).ok()?;
    match v["mediaType"].as_str() {
        Some(t) => Some(t.to_owned()),
        None if v.get("layers").is_some() => Some(OCI_MANIFEST.to_owned()),
        None if v.get("manifests").is_some() => Some(OCI_INDEX.to_owned()),
        None => None,
    }
}

/// The config and layers an image manifest names, each at most `limit`
/// bytes.
///
/// # Errors
/// A sentence: not an image manifest, too large, too many layers, a digest
/// that is not sha256, a size missing or over the limit.
pub fn parse_manifest(bytes: &[u8], limit: u64) -> Result<ImageManifest, ImageError> {
    let v = json_of(bytes)?;
    let media_type = declared_type(bytes).unwrap_or_default();
    if !is_manifest_type(&media_type) || v["schemaVersion"].as_u64() != Some(2) {
        return Err(format!("it is not an image manifest (media type `{media_type}`)").into());
    }
    let config = descriptor(&v["config"], "config", limit)?;
    let layers = v["layers"]
        .as_array()
        .ok_or("its manifest names no layers")?;
    if layers.len() > MAX_LAYERS {
        return Err(format!("it has {} layers, more than {MAX_LAYERS}", layers.len()).into());
    }
    let layers = layers
        .iter()
        .map(|l| descriptor(l, "layer", limit))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ImageManifest {
        media_type,
        config,
        layers,
    })
}

/// This host's architecture as OCI names it (`amd64`, `arm64`, …).
#[must_use]
pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

/// This host's platform as an image config names it: (`os`, `architecture`).
#[must_use]
pub fn host_platform() -> (&'static str, &'static str) {
    (std::env::consts::OS, host_arch())
}

/// The platform (`os`, `architecture`) an image config says its image is
/// for.
///
/// # Errors
/// When the config is larger than [`MAX_CONFIG`], is not JSON or names no
/// `os` or `architecture`.
pub fn config_platform(config: &[u8]) -> Result<(String, String), ImageError> {
    if config.len() as u64 > MAX_CONFIG {
        return Err(format!("its config is larger than {MAX_CONFIG} bytes").into());
    }
    let v: Value =
        serde_json::from_slice(config).map_err(|e| format!("its config is not JSON: {e}"))?;
    let field = |k: &str| {
        v[k].as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("its config names no `{k}`"))
    };
    Ok((field("os")?, field("architecture")?))
}

/// The manifest for `linux/<arch>` in a multi-platform index.
///
/// # Errors
/// When the index does not read or holds no manifest for that platform.
pub fn pick_platform(index: &[u8], arch: &str) -> Result<Blob, ImageError> {
    let v = json_of(index)?;
    let manifests = v["manifests"]
        .as_array()
        .ok_or("its index lists no manifests")?;
    let found = manifests.iter().find(|m| {
        m["platform"]["os"].as_str() == Some("linux")
            && m["platform"]["architecture"].as_str() == Some(arch)
    });
    let Some(m) = found else {
        return Err(format!("it has no image for linux/{arch}").into());
    };
    Ok(descriptor(m, "manifest", MAX_MANIFEST as u64)?)
}

/// `name` as a full reference (`host/path:tag` or `host/path@sha256:…`),
/// the way podman and docker read a short name: no host means `docker.io`,
/// a one-segment name on it is under `library/`, no tag means `latest`.
#[must_use]
pub fn full_reference(name: &str) -> Option<String> {
    let ok = |c: char| c.is_ascii_alphanumeric() || "._-/:@".contains(c);
    if name.is_empty() || name.len() > 1024 || !name.chars().all(ok) || name.contains("..") {
        return None;
    }
    let (named, digest) = match name.split_once('@') {
        Some((n, d)) if is_sha256(d) => (n, Some(d)),
        Some(_) => return None,
        None => (name, None),
    };
    let (first, rest) = match named.split_once('/') {
        Some((f, r)) if f.contains('.') || f.contains(':') || f == "localhost" => (f, r.to_owned()),
        _ => ("docker.io", named.to_owned()),
    };
    let path = if first == "docker.io" && !rest.contains('/') {
        format!("library/{rest}")
    } else {
        rest
    };
    if path.is_empty() || path.starts_with('/') || path.ends_with('/') || path.contains("//") {
        return None;
    }
    let last = path.rsplit('/').next().unwrap_or_default();
    Some(match digest {
        Some(d) => format!("{first}/{path}@{d}"),
        None if last.contains(':') => format!("{first}/{path}"),
        None => format!("{first}/{path}:latest"),
    })
}

/// The images a `compose.yaml` names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ComposeImages {
    /// Named outright, as full references, sorted, each once.
    pub fixed: Vec<String>,
    /// Named with a variable (`${VERSION}`), which only the compose run
    /// resolves: `(service, image as written)`, by service.
    pub with_variables: Vec<(String, String)>,
}

/// The images the `compose.yaml` of a compose archive (a gzip tar, one top
/// folder) names: those named outright as full references, those named with
/// a variable apart.
///
/// # Errors
/// When the archive or its `compose.yaml` does not read, or an image
/// named outright is no image reference.
pub fn compose_images(archive: &[u8]) -> Result<ComposeImages, ImageError> {
    let mut tar = crate::archive::TarReader::new(archive, crate::archive::Limits::default());
    let mut text = None;
    while let Some(entry) = tar
        .next_entry()
        .map_err(|e| format!("the archive does not read: {e}"))?
    {
        let parts: Vec<_> = entry
            .path
            .components()
            .filter(|c| !matches!(c, std::path::Component::CurDir))
            .collect();
        if entry.kind == crate::archive::Kind::File
            && parts.len() == 2
            && parts[1].as_os_str() == "compose.yaml"
        {
            let mut bytes = Vec::new();
            (&mut tar)
                .take(MAX_COMPOSE + 1)
                .read_to_end(&mut bytes)
                .map_err(|e| format!("its compose.yaml does not read: {e}"))?;
            text = Some(bytes);
            break;
        }
    }
    let bytes = text.ok_or("the archive holds no compose.yaml")?;
    let (value, _) = edge_model::load::parse_value(&bytes)
        .map_err(|e| format!("its compose.yaml does not read: {e}"))?;
    let mut fixed = std::collections::BTreeSet::new();
    let mut with_variables = Vec::new();
    if let Some(services) = value["services"].as_object() {
        for (service, s) in services {
            let Some(image) = s["image"].as_str() else {
                continue;
            };
            if image.contains('$') {
                with_variables.push((service.clone(), image.to_owned()));
                continue;
            }
            let full = full_reference(image).ok_or_else(|| {
                format!("service `{service}` names `{image}`, which is not an image reference")
            })?;
            fixed.insert(full);
        }
    }
    with_variables.sort();
    Ok(ComposeImages {
        fixed: fixed.into_iter().collect(),
        with_variables,
    })
}

/// Write an OCI image layout archive (`oci-archive`, a tar) of one image
/// to `path`: the manifest `manifest` (its bytes), named `name` (the full
/// reference podman then gives the image), and every blob it names, each
/// read from the file `blob` gives for its digest.
///
/// # Errors
/// When a blob is not to be had or the file cannot be written.
pub fn write_archive(
    path: &Path,
    manifest: &[u8],
    name: &str,
    blob: impl Fn(&str) -> Option<PathBuf>,
) -> Result<(), ImageError> {
    let parsed = parse_manifest(manifest, u64::MAX)?;
    let file = std::fs::File::create(path)
        .map_err(|e| format!("cannot write `{}`: {e}", path.display()))?;
    let mut tar = tar::Builder::new(std::io::BufWriter::new(file));
    let write = |e: std::io::Error| format!("cannot write `{}`: {e}", path.display());
    let data = |tar: &mut tar::Builder<_>, at: &str, bytes: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, at, bytes).map_err(write)
    };
    let mut seen = std::collections::BTreeSet::new();
    for part in parsed.parts() {
        if !seen.insert(part.digest.clone()) {
            continue;
        }
        let from = blob(&part.digest).ok_or_else(|| format!("{} is not here", part.digest))?;
        let at = format!("blobs/sha256/{}", part.digest.trim_start_matches("sha256:"));
        tar.append_path_with_name(&from, &at).map_err(write)?;
    }
    let digest = edge_model::digest::sha256(manifest);
    let at = format!(
        "blobs/sha256/{}",
        digest.as_str().trim_start_matches("sha256:")
    );
    data(&mut tar, &at, manifest)?;
    let index = json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [{
            "mediaType": parsed.media_type,
            "digest": digest.as_str(),
            "size": manifest.len(),
            "annotations": {"org.opencontainers.image.ref.name": name},
        }],
    });
    data(&mut tar, "index.json", index.to_string().as_bytes())?;
    data(&mut tar, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    tar.into_inner()
        .and_then(|mut w| std::io::Write::flush(&mut w))
        .map_err(write)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const D0: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
    const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

    fn manifest(layers: &str) -> Vec<u8> {
        format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}",
              "config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{D0}","size":10}},
              "layers":[{layers}]}}"#
        )
        .into_bytes()
    }

    #[test]
    fn manifests_are_read_checked_and_bounded() {
        let layer = format!(
            r#"{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{D1}","size":100}}"#
        );
        let m = parse_manifest(&manifest(&layer), 1000).unwrap();
        assert_eq!(m.parts().count(), 2);
        assert_eq!(m.layers[0].digest, D1);
        assert!(
            parse_manifest(&manifest(&layer), 99)
                .unwrap_err()
                .to_string()
                .contains("over the limit")
        );
        let md5 = layer.replace("sha256:1111", "md5:1111");
        assert!(
            parse_manifest(&manifest(&md5), 1000)
                .unwrap_err()
                .to_string()
                .contains("not a sha256")
        );
        assert!(parse_manifest(b"{}", 1000).is_err());
        let docker = String::from_utf8(manifest(&layer))
            .unwrap()
            .replace(OCI_MANIFEST, DOCKER_MANIFEST);
        assert_eq!(
            parse_manifest(docker.as_bytes(), 1000).unwrap().media_type,
            DOCKER_MANIFEST
        );
        let index = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[
              {{"mediaType":"{OCI_MANIFEST}","digest":"{D0}","size":5,"platform":{{"os":"linux","architecture":"arm64"}}}},
              {{"mediaType":"{OCI_MANIFEST}","digest":"{D1}","size":6,"platform":{{"os":"linux","architecture":"amd64"}}}}]}}"#
        );
        assert_eq!(pick_platform(index.as_bytes(), "amd64").unwrap().digest, D1);
        assert!(
            pick_platform(index.as_bytes(), "s390x")
                .unwrap_err()
                .to_string()
                .contains("linux/s390x")
        );
    }

    #[test]
    fn short_names_become_full_references() {
        let f = |n: &str| full_reference(n);
        assert_eq!(
            f("busybox").as_deref(),
            Some("docker.io/library/busybox:latest")
        );
        assert_eq!(
            f("busybox:1.36").as_deref(),
            Some("docker.io/library/busybox:1.36")
        );
        assert_eq!(f("me/app:1").as_deref(), Some("docker.io/me/app:1"));
        assert_eq!(
            f("127.0.0.1:5000/a/b:2").as_deref(),
            Some("127.0.0.1:5000/a/b:2")
        );
        assert_eq!(f("localhost/x").as_deref(), Some("localhost/x:latest"));
        let pinned = format!("q.io/x@{D1}");
        assert_eq!(f(&pinned), Some(pinned.clone()));
        for bad in ["", "a b", "x/../y", "q.io/x@md5:1", "q.io/", "a//b"] {
            assert_eq!(f(bad), None, "{bad}");
        }
    }

    fn archive(compose: &str) -> Vec<u8> {
        let mut tar = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(compose.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, "app/compose.yaml", compose.as_bytes())
            .unwrap();
        let raw = tar.into_inner().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut gz, &raw).unwrap();
        gz.finish().unwrap()
    }

    #[test]
    fn compose_archives_name_their_images() {
        let a = archive(
            "services:\n  web:\n    image: busybox:1.36\n  db:\n    image: 127.0.0.1:5000/x/db:2\n  built:\n    build: .\n",
        );
        assert_eq!(
            compose_images(&a).unwrap().fixed,
            ["127.0.0.1:5000/x/db:2", "docker.io/library/busybox:1.36"]
        );
        assert!(compose_images(b"not a tar").is_err());
    }

    #[test]
    fn images_named_with_a_variable_are_set_apart() {
        let got = compose_images(&archive(
            "services:\n  web:\n    image: q.io/web:${VERSION}\n  db:\n    image: busybox\n  a:\n    image: $IMG\n",
        ))
        .unwrap();
        assert_eq!(got.fixed, ["docker.io/library/busybox:latest"]);
        assert_eq!(
            got.with_variables,
            [
                ("a".to_owned(), "$IMG".to_owned()),
                ("web".to_owned(), "q.io/web:${VERSION}".to_owned())
            ]
        );
        let e = compose_images(&archive("services:\n  web:\n    image: 'a b'\n"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("web") && e.contains("not an image reference"),
            "{e}"
        );
    }

    #[test]
    fn a_config_names_its_platform() {
        let (os, arch) =
            config_platform(br#"{"os":"linux","architecture":"arm64","rootfs":{}}"#).unwrap();
        assert_eq!((os.as_str(), arch.as_str()), ("linux", "arm64"));
        assert!(
            config_platform(b"{}")
                .unwrap_err()
                .to_string()
                .contains("`os`")
        );
        assert!(config_platform(b"nope").is_err());
        assert_eq!(host_platform().0, "linux");
    }

    #[test]
    fn an_archive_holds_the_image_and_names_it() {
        let store = tempfile::tempdir().unwrap();
        let (config, layer) = (b"{}".as_slice(), b"layer".as_slice());
        let cd = edge_model::digest::sha256(config).to_string();
        let ld = edge_model::digest::sha256(layer).to_string();
        std::fs::write(store.path().join("c"), config).unwrap();
        std::fs::write(store.path().join("l"), layer).unwrap();
        let m = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"x","digest":"{cd}","size":2}},"layers":[{{"mediaType":"y","digest":"{ld}","size":5}}]}}"#
        );
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("image.tar");
        let find = |d: &str| {
            Some(store.path().join(if d == cd {
                "c"
            } else if d == ld {
                "l"
            } else {
                return None;
            }))
        };
        write_archive(&out, m.as_bytes(), "q.io/x:1", find).unwrap();
        let mut names = Vec::new();
        let mut index = String::new();
        for entry in tar::Archive::new(std::fs::File::open(&out).unwrap())
            .entries()
            .unwrap()
        {
            let mut entry = entry.unwrap();
            let name = entry.path().unwrap().display().to_string();
            if name == "index.json" {
                entry.read_to_string(&mut index).unwrap();
            }
            names.push(name);
        }
        assert!(
            index.contains(r#""org.opencontainers.image.ref.name":"q.io/x:1""#),
            "{index}"
        );
        assert!(
            names.contains(&format!(
                "blobs/sha256/{}",
                ld.trim_start_matches("sha256:")
            )),
            "{names:?}"
        );
        assert!(names.contains(&"oci-layout".to_owned()), "{names:?}");
        let e = write_archive(&dir.path().join("other"), m.as_bytes(), "q.io/x:1", |_| {
            None
        })
        .unwrap_err()
        .to_string();
        assert!(e.contains("is not here"), "{e}");
    }
}
