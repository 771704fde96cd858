//! [`pull_package`]: fetch a Margo package artifact into a folder. The whole
//! manifest is checked before anything is downloaded, every download is
//! bounded by its declared size and verified against its digest, and a failed
//! pull removes what it wrote.

use std::collections::BTreeSet;
use std::io;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Component, Path};
use std::pin::Pin;
use std::task::{Context, Poll};

use edge_model::digest::sha256;
use oci_client::errors::OciDistributionError;
use oci_client::manifest::{OCI_IMAGE_MEDIA_TYPE, OciDescriptor, OciImageManifest};
use oci_client::{Client, Reference};
use tokio::io::{AsyncWrite, AsyncWriteExt as _};

use super::{
    ARTIFACT_TYPE, ARTIFACT_TYPE_ALT, DESCRIPTION_MEDIA_TYPE, EMPTY_DIGEST, EMPTY_MEDIA_TYPE,
    MAX_LAYER_BYTES, MAX_LAYERS, MAX_PACKAGE_BYTES, MODE_ANNOTATION, OciError, PulledPackage,
    Registries, TITLE_ANNOTATION, Target, client, parse_reference, safe_title, strip_scheme,
};
use crate::package::DESCRIPTION_FILE;

/// Pull the package at `reference` (`host:port/repository:tag`, optionally
/// prefixed with `oci://`) into `dest`, which must not exist or be empty.
pub async fn pull_package(
    reference: &str,
    dest: &Path,
    registries: &Registries,
) -> Result<PulledPackage, OciError> {
    let (image, explicit_tag) = parse_reference(reference)?;
    if !explicit_tag && image.digest().is_none() {
        return Err(OciError::NoTag {
            reference: strip_scheme(reference).to_owned(),
        });
    }
    let at = Target::new(&image);
    let client = client(registries)?;
    let (body, _) = client
        .pull_manifest_raw(
            &image,
            &registries.auth_for(image.registry()),
            &[OCI_IMAGE_MEDIA_TYPE],
        )
        .await
        .map_err(|e| at.error(e, "fetching the manifest of"))?;
    let manifest_digest = sha256(&body).to_string();
    if let Some(want) = image.digest()
        && want != manifest_digest
    {
        return Err(at.not_a_package(format!(
            "the manifest hashes to `{manifest_digest}`, not to the `{want}` asked for"
        )));
    }
    let plan = plan_pull(&at, &body)?;

    let created = prepare_destination(dest).await?;
    let written = fetch_layers(&client, &image, &at, &plan, dest).await;
    if let Err(e) = written {
        clean_destination(dest, created).await;
        return Err(e);
    }
    Ok(PulledPackage {
        manifest_digest,
        tag: if explicit_tag {
            image.tag().map(str::to_owned)
        } else {
            None
        },
        layers: plan.len(),
    })
}

/// One layer to download, checked.
struct Planned {
    index: usize,
    descriptor: OciDescriptor,
    /// Normalized relative path.
    title: String,
    size: u64,
    mode: u32,
}

/// Check the manifest completely before anything is downloaded.
fn plan_pull(at: &Target, body: &[u8]) -> Result<Vec<Planned>, OciError> {
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| at.not_a_package(format!("the manifest is not JSON ({e})")))?;
    let media_type = value.get("mediaType").and_then(serde_json::Value::as_str);
    if media_type != Some(OCI_IMAGE_MEDIA_TYPE) {
        return Err(at.not_a_package(format!(
            "the manifest has media type `{}`, not `{OCI_IMAGE_MEDIA_TYPE}`",
            media_type.unwrap_or("(none)")
        )));
    }
    let manifest: OciImageManifest = serde_json::from_value(value)
        .map_err(|e| at.not_a_package(format!("the image manifest does not parse ({e})")))?;
    match manifest.artifact_type.as_deref() {
        Some(ARTIFACT_TYPE | ARTIFACT_TYPE_ALT) => {}
        other => {
            return Err(at.not_a_package(format!(
                "its artifact type is `{}`, not `{ARTIFACT_TYPE}`",
                other.unwrap_or("(none)")
            )));
        }
    }
    let c = &manifest.config;
    if c.media_type != EMPTY_MEDIA_TYPE || c.digest != EMPTY_DIGEST || c.size != 2 {
        return Err(at.not_a_package(format!(
            "its config must be the empty descriptor (`{EMPTY_MEDIA_TYPE}`, `{EMPTY_DIGEST}`, size 2), found `{}`, `{}`, size {}",
            c.media_type, c.digest, c.size
        )));
    }
    let layers = manifest.layers;
    if layers.len() > MAX_LAYERS {
        return Err(at.too_large(format!("{} layers, more than {MAX_LAYERS}", layers.len())));
    }
    let mut plan = Vec::with_capacity(layers.len());
    let (mut total, mut descriptions) = (0u64, 0usize);
    let (mut titles, mut folders) = (BTreeSet::new(), BTreeSet::new());
    for (index, d) in layers.into_iter().enumerate() {
        let layer = check_layer(at, index, d)?;
        total = total.saturating_add(layer.size);
        if total > MAX_PACKAGE_BYTES {
            let why = format!("the layers add up to more than {MAX_PACKAGE_BYTES} bytes");
            return Err(at.too_large(why));
        }
        descriptions += usize::from(layer.descriptor.media_type == DESCRIPTION_MEDIA_TYPE);
        let mut parent = layer.title.as_str();
        while let Some((up, _)) = parent.rsplit_once('/') {
            folders.insert(up.to_owned());
            parent = up;
        }
        if !titles.insert(layer.title.clone()) {
            return Err(at.bad_layer(index, &layer.title, "another layer has the same title"));
        }
        plan.push(layer);
    }
    if let Some(clash) = titles.intersection(&folders).next() {
        let why = format!("`{clash}` is both a file and the folder of other files");
        return Err(at.not_a_package(why));
    }
    if descriptions != 1 {
        return Err(at.not_a_package(format!(
            "it has {descriptions} description layers (`{DESCRIPTION_MEDIA_TYPE}`); exactly one, titled `{DESCRIPTION_FILE}`, is required"
        )));
    }
    Ok(plan)
}

/// Check one layer descriptor on its own.
fn check_layer(at: &Target, index: usize, d: OciDescriptor) -> Result<Planned, OciError> {
    let annotation = |key: &str| d.annotations.as_ref().and_then(|a| a.get(key)).cloned();
    let Some(raw) = annotation(TITLE_ANNOTATION) else {
        let why = format!("it has no `{TITLE_ANNOTATION}` annotation naming its file");
        return Err(at.bad_layer(index, "?", why));
    };
    let bad = |why: String| at.bad_layer(index, &raw, why);
    let title = safe_title(&raw).map_err(bad)?;
    let size =
        u64::try_from(d.size).map_err(|_| bad(format!("its size {} is negative", d.size)))?;
    if size > MAX_LAYER_BYTES {
        let why = format!("layer `{raw}` has {size} bytes, more than {MAX_LAYER_BYTES}");
        return Err(at.too_large(why));
    }
    if !edge_model::Digest::is_valid(&d.digest) {
        let why = format!(
            "its digest `{}` is not `sha256:` and 64 lower-case hex digits",
            d.digest
        );
        return Err(bad(why));
    }
    if d.urls.as_ref().is_some_and(|u| !u.is_empty()) {
        return Err(bad("it points at foreign `urls`".into()));
    }
    if d.media_type == DESCRIPTION_MEDIA_TYPE && title != DESCRIPTION_FILE {
        return Err(bad(format!(
            "the description layer must be titled `{DESCRIPTION_FILE}`"
        )));
    }
    let mode = match annotation(MODE_ANNOTATION).as_deref() {
        None | Some("0644" | "644") => 0o644,
        Some("0755" | "755") => 0o755,
        Some(other) => {
            let allowed = "only `0755` and `0644` are allowed";
            return Err(bad(format!(
                "its `{MODE_ANNOTATION}` is `{other}`; {allowed}"
            )));
        }
    };
    Ok(Planned {
        index,
        descriptor: d,
        title,
        size,
        mode,
    })
}

/// Create `dest` or accept it empty; tells whether it was created.
async fn prepare_destination(dest: &Path) -> Result<bool, OciError> {
    let write = |source: io::Error| OciError::Write {
        path: dest.to_path_buf(),
        source,
    };
    let in_use = || OciError::Destination {
        path: dest.to_path_buf(),
    };
    match tokio::fs::symlink_metadata(dest).await {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            tokio::fs::create_dir_all(dest).await.map_err(write)?;
            Ok(true)
        }
        Err(source) => Err(write(source)),
        Ok(meta) if meta.is_dir() => {
            let mut entries = tokio::fs::read_dir(dest).await.map_err(write)?;
            match entries.next_entry().await.map_err(write)? {
                None => Ok(false),
                Some(_) => Err(in_use()),
            }
        }
        Ok(_) => Err(in_use()),
    }
}

/// Remove what a failed pull wrote: all of `dest` when the pull created it,
/// otherwise its contents (it was empty before).
async fn clean_destination(dest: &Path, created: bool) {
    if created {
        let _ = tokio::fs::remove_dir_all(dest).await;
        return;
    }
    let Ok(mut entries) = tokio::fs::read_dir(dest).await else {
        return;
    };
    while let Ok(Some(entry)) = entries.next_entry().await {
        let path = entry.path();
        let _ = match entry.file_type().await {
            Ok(t) if t.is_dir() => tokio::fs::remove_dir_all(&path).await,
            _ => tokio::fs::remove_file(&path).await,
        };
    }
}

async fn fetch_layers(
    client: &Client,
    image: &Reference,
    at: &Target,
    plan: &[Planned],
    dest: &Path,
) -> Result<(), OciError> {
    for layer in plan {
        let data = fetch_blob(client, image, at, layer).await?;
        write_file(dest, layer, &data).await?;
    }
    Ok(())
}

/// Download one blob, at most its declared size, and verify its digest.
async fn fetch_blob(
    client: &Client,
    image: &Reference,
    at: &Target,
    layer: &Planned,
) -> Result<Vec<u8>, OciError> {
    let mismatch = || OciError::DigestMismatch {
        reference: at.reference.clone(),
        title: layer.title.clone(),
        digest: layer.descriptor.digest.clone(),
    };
    let limit = usize::try_from(layer.size)
        .map_err(|_| OciError::Internal("sizing a layer buffer".into()))?;
    let mut sink = Bounded {
        data: Vec::with_capacity(limit),
        limit,
        overflowed: false,
    };
    let pulled = client.pull_blob(image, &layer.descriptor, &mut sink).await;
    match pulled {
        _ if sink.overflowed => {
            return Err(at.bad_layer(
                layer.index,
                &layer.title,
                format!(
                    "the registry sent more than the {} bytes the manifest declares",
                    layer.size
                ),
            ));
        }
        Err(OciDistributionError::DigestError(_)) => return Err(mismatch()),
        Err(e) => return Err(at.error(e, "downloading a layer of")),
        Ok(()) => {}
    }
    let data = sink.data;
    if data.len() != limit || sha256(&data).as_str() != layer.descriptor.digest {
        return Err(mismatch());
    }
    Ok(data)
}

async fn write_file(dest: &Path, layer: &Planned, data: &[u8]) -> Result<(), OciError> {
    let path = layer
        .title
        .split('/')
        .fold(dest.to_path_buf(), |p, segment| p.join(segment));
    // Titles are checked, but never write anywhere a check could have missed.
    if !path
        .strip_prefix(dest)
        .is_ok_and(|rel| rel.components().all(|c| matches!(c, Component::Normal(_))))
    {
        return Err(OciError::Internal(format!(
            "placing `{}` below the destination",
            layer.title
        )));
    }
    let write_err = |source| OciError::Write {
        path: path.clone(),
        source,
    };
    if let Some(parent) = path.parent() {
        tokio::fs::create_dir_all(parent).await.map_err(write_err)?;
    }
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .await
        .map_err(write_err)?;
    file.write_all(data).await.map_err(write_err)?;
    file.flush().await.map_err(write_err)?;
    drop(file);
    tokio::fs::set_permissions(&path, std::fs::Permissions::from_mode(layer.mode))
        .await
        .map_err(write_err)
}

/// An in-memory sink that refuses to grow past `limit`.
struct Bounded {
    data: Vec<u8>,
    limit: usize,
    overflowed: bool,
}

impl AsyncWrite for Bounded {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.data.len().saturating_add(buf.len()) > this.limit {
            this.overflowed = true;
            return Poll::Ready(Err(io::Error::other("blob larger than declared")));
        }
        this.data.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
