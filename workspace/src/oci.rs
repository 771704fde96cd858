//! Margo application packages as OCI artifacts: push a package folder to a
//! registry, pull one back into a folder.
//!
//! The layout is the Margo one (DIGEST §11.2): an image manifest with
//! `artifactType` [`ARTIFACT_TYPE`], the empty config, one layer per package
//! file titled with its relative path, `margo.yaml` as the description layer,
//! catalog files as resource layers, every other file as an edgectl file
//! layer, and the tag equal to `metadata.version`. The executable bit travels
//! in the [`MODE_ANNOTATION`] annotation.
//!
//! This is the only module that talks to registries and the only user of
//! `oci-client`. Everything a registry sends is untrusted: a pull checks the
//! whole manifest (artifact type, config, layer count, sizes, titles) before
//! downloading anything, bounds every download by its declared size, verifies
//! every digest itself, and writes only regular files below the destination,
//! removing them again when anything fails. It never follows or creates
//! links, never writes outside the destination, never sends credentials (only
//! anonymous access so far) and never uses plain HTTP for a registry that is
//! not listed in [`Registries::insecure`].

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Component, Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use edge_model::digest::sha256;
use edge_model::profile::is_local_path;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::manifest::{OCI_IMAGE_MEDIA_TYPE, OciDescriptor, OciImageManifest};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use tokio::io::{AsyncWrite, AsyncWriteExt as _};

use crate::package::{DESCRIPTION_FILE, check_package};

/// The Margo application package artifact type.
pub const ARTIFACT_TYPE: &str = "application/vnd.margo.app.v1+json";
/// The spelling of the concept page, accepted when pulling.
pub const ARTIFACT_TYPE_ALT: &str = "application/vnd.org.margo.app.v1+json";
/// Media type of the description layer.
pub const DESCRIPTION_MEDIA_TYPE: &str = "application/vnd.margo.app.description.v1+yaml";
/// Media type of a package file that is neither description nor resource.
pub const FILE_MEDIA_TYPE: &str = "application/vnd.edgectl.package.file.v1";
/// Media type of the empty config.
pub const EMPTY_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";
/// Digest of the empty config, `{}`.
pub const EMPTY_DIGEST: &str =
    "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
/// The layer annotation holding the relative path.
pub const TITLE_ANNOTATION: &str = "org.opencontainers.image.title";
/// The layer annotation marking a catalog resource, valued with its field name.
pub const RESOURCE_ANNOTATION: &str = "org.margo.app.resource";
/// The layer annotation holding the file mode: `0755` or `0644`.
pub const MODE_ANNOTATION: &str = "org.edgectl.file.mode";
/// The manifest annotation holding the package version.
pub const VERSION_ANNOTATION: &str = "org.opencontainers.image.version";
/// Most layers in one package.
pub const MAX_LAYERS: usize = 1_000;
/// Largest single layer.
pub const MAX_LAYER_BYTES: u64 = 64 * 1024 * 1024;
/// Largest package, all layers together.
pub const MAX_PACKAGE_BYTES: u64 = 256 * 1024 * 1024;

/// The empty config blob.
const EMPTY_DATA: &[u8] = b"{}";
/// Longest layer title, in bytes.
const MAX_TITLE_BYTES: usize = 1024;
/// Deepest layer title, in path segments.
const MAX_TITLE_DEPTH: usize = 32;
/// How long connecting to a registry may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a registry may stay silent in the middle of an answer.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// How registries are reached.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Registries {
    /// Registries (`host:port`) reached over plain HTTP, such as a loopback
    /// test registry; every other registry is reached over HTTPS.
    pub insecure: Vec<String>,
}

/// What [`pull_package`] fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PulledPackage {
    /// `sha256:` digest of the manifest bytes received.
    pub manifest_digest: String,
    /// The tag pulled, when the reference named one.
    pub tag: Option<String>,
    /// Number of layers, which is the number of files written.
    pub layers: usize,
}

/// Why a push or pull failed. `reference` is the full reference (or the
/// folder, for a package too large to push), `registry` its `host:port`.
#[allow(missing_docs)]
#[derive(Debug, thiserror::Error)]
pub enum OciError {
    /// The reference does not parse.
    #[error(
        "`{reference}` is not an OCI reference ({reason}); write it as `host:port/repository:tag`"
    )]
    Reference { reference: String, reason: String },
    /// A pull reference without tag or digest.
    #[error("`{reference}` names no tag; add the package version, as in `{reference}:1.0.0`")]
    NoTag { reference: String },
    /// The registry cannot be reached.
    #[error(
        "cannot reach registry `{registry}`: {reason}; check the address and that it is running (a plain-HTTP registry must be listed as insecure)"
    )]
    Unreachable { registry: String, reason: String },
    /// The registry has no such repository, tag or blob.
    #[error(
        "`{reference}` was not found in registry `{registry}`; check the repository name and the tag"
    )]
    NotFound { reference: String, registry: String },
    /// The registry wants credentials.
    #[error(
        "registry `{registry}` refused anonymous access to `{reference}`; only anonymous access is supported so far, use a registry that allows it"
    )]
    Unauthorized { reference: String, registry: String },
    /// Any other registry or transport failure.
    #[error("registry `{registry}` failed while {action} `{reference}`: {reason}")]
    Registry {
        reference: String,
        registry: String,
        action: &'static str,
        reason: String,
    },
    /// The manifest is not a Margo application package.
    #[error("`{reference}` is not a Margo application package: {reason}")]
    NotAPackage { reference: String, reason: String },
    /// The package exceeds a size or count limit.
    #[error(
        "`{reference}` is too large: {reason}; packages are limited to {MAX_LAYERS} files of at most 64 MiB and 256 MiB in total"
    )]
    TooLarge { reference: String, reason: String },
    /// One layer is unusable.
    #[error("layer {index} (`{title}`) of `{reference}` is refused: {reason}")]
    BadLayer {
        reference: String,
        index: usize,
        title: String,
        reason: String,
    },
    /// A downloaded blob does not hash to its descriptor's digest.
    #[error(
        "layer `{title}` of `{reference}` does not match its digest `{digest}`; the registry served other bytes than the manifest names, so nothing was kept: do not use this package and push it again"
    )]
    DigestMismatch {
        reference: String,
        title: String,
        digest: String,
    },
    /// The pull destination is in use.
    #[error("`{path}` exists and is not an empty folder; pull into a new or empty folder")]
    Destination { path: PathBuf },
    /// Writing the pulled package failed.
    #[error("cannot write `{path}`: {source}; check the destination's permissions and free space")]
    Write { path: PathBuf, source: io::Error },
    /// Reading the package to push failed.
    #[error("cannot read `{path}`: {source}")]
    Read { path: PathBuf, source: io::Error },
    /// The package to push is invalid.
    #[error("package `{dir}` is invalid; fix these and push again:\n{errors}")]
    InvalidPackage { dir: PathBuf, errors: String },
    /// The package folder holds something that cannot become a layer.
    #[error("package `{dir}` cannot be pushed: {reason}")]
    Unpushable { dir: PathBuf, reason: String },
    /// The tag of a push reference is not the package version.
    #[error(
        "tag `{tag}` differs from the package version `{version}`; Margo requires the tag to equal `metadata.version`, so push to `{repository}:{version}`"
    )]
    TagMismatch {
        tag: String,
        version: String,
        repository: String,
    },
    /// Something inside this module failed that should not.
    #[error("internal error while {0}; please report it")]
    Internal(String),
}

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
        .pull_manifest_raw(&image, &RegistryAuth::Anonymous, &[OCI_IMAGE_MEDIA_TYPE])
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

/// Push the package in `dir` to `reference`; returns the manifest digest.
/// A reference without a tag gets `metadata.version` as its tag.
pub async fn push_package(
    dir: &Path,
    reference: &str,
    registries: &Registries,
) -> Result<String, OciError> {
    let (image, explicit_tag) = parse_reference(reference)?;
    if image.digest().is_some() {
        return Err(OciError::Reference {
            reference: strip_scheme(reference).to_owned(),
            reason: "a push names a tag, not a digest".into(),
        });
    }
    let owned = dir.to_path_buf();
    let package = tokio::task::spawn_blocking(move || read_package(&owned))
        .await
        .map_err(|e| OciError::Internal(format!("reading the package: {e}")))??;
    let image = match image.tag() {
        Some(tag) if explicit_tag && tag != package.version => {
            return Err(OciError::TagMismatch {
                tag: tag.to_owned(),
                version: package.version,
                repository: format!("{}/{}", image.registry(), image.repository()),
            });
        }
        _ => Reference::with_tag(
            image.registry().to_owned(),
            image.repository().to_owned(),
            package.version.clone(),
        ),
    };
    let at = Target::new(&image);
    let client = client(registries)?;

    let mut descriptors = Vec::with_capacity(package.files.len());
    for file in &package.files {
        let digest = sha256(&file.data).to_string();
        push_blob(&client, &image, &at, file.data.clone(), &digest).await?;
        descriptors.push(OciDescriptor {
            media_type: file.media_type.clone(),
            digest,
            size: i64::try_from(file.data.len())
                .map_err(|_| OciError::Internal("sizing a layer".into()))?,
            urls: None,
            annotations: Some(file.annotations.clone()),
            artifact_type: None,
        });
    }
    push_blob(&client, &image, &at, EMPTY_DATA.to_vec(), EMPTY_DIGEST).await?;
    let manifest = OciImageManifest {
        schema_version: 2,
        media_type: Some(OCI_IMAGE_MEDIA_TYPE.to_owned()),
        config: OciDescriptor {
            media_type: EMPTY_MEDIA_TYPE.to_owned(),
            digest: EMPTY_DIGEST.to_owned(),
            size: 2,
            urls: None,
            annotations: None,
            artifact_type: None,
        },
        layers: descriptors,
        subject: None,
        artifact_type: Some(ARTIFACT_TYPE.to_owned()),
        annotations: Some(BTreeMap::from([(
            VERSION_ANNOTATION.to_owned(),
            package.version.clone(),
        )])),
    };
    let body = serde_json::to_vec(&manifest)
        .map_err(|e| OciError::Internal(format!("serializing the manifest: {e}")))?;
    let digest = sha256(&body).to_string();
    let content_type = OCI_IMAGE_MEDIA_TYPE
        .parse()
        .map_err(|_| OciError::Internal("building the manifest content type".into()))?;
    client
        .push_manifest_raw(&image, body, content_type)
        .await
        .map_err(|e| at.error(e, "pushing the manifest of"))?;
    Ok(digest)
}

// ---------------------------------------------------------------- references

fn strip_scheme(reference: &str) -> &str {
    reference.strip_prefix("oci://").unwrap_or(reference)
}

/// Parse a reference; the flag tells whether it spelled out a tag (the parser
/// fills in `latest` otherwise).
fn parse_reference(reference: &str) -> Result<(Reference, bool), OciError> {
    let text = strip_scheme(reference);
    let image: Reference = text.parse().map_err(|e| OciError::Reference {
        reference: text.to_owned(),
        reason: format!("{e}"),
    })?;
    let name = text.split('@').next().unwrap_or(text);
    let last = name.rsplit('/').next().unwrap_or(name);
    Ok((image, last.contains(':')))
}

/// The reference and registry named in errors.
struct Target {
    reference: String,
    registry: String,
}

impl Target {
    fn new(image: &Reference) -> Self {
        Self {
            reference: image.whole(),
            registry: image.registry().to_owned(),
        }
    }

    fn not_a_package(&self, reason: String) -> OciError {
        OciError::NotAPackage {
            reference: self.reference.clone(),
            reason,
        }
    }

    fn too_large(&self, reason: String) -> OciError {
        OciError::TooLarge {
            reference: self.reference.clone(),
            reason,
        }
    }

    fn bad_layer(&self, index: usize, title: &str, reason: impl Into<String>) -> OciError {
        OciError::BadLayer {
            reference: self.reference.clone(),
            index,
            title: title.to_owned(),
            reason: reason.into(),
        }
    }

    /// Translate a client error into what the user can act on.
    fn error(&self, e: OciDistributionError, action: &'static str) -> OciError {
        let reference = self.reference.clone();
        let registry = self.registry.clone();
        match &e {
            OciDistributionError::RequestError(re) if re.is_connect() || re.is_timeout() => {
                OciError::Unreachable {
                    registry,
                    reason: chain(&e),
                }
            }
            OciDistributionError::RegistryError { envelope, .. }
                if envelope.errors.iter().any(|x| {
                    matches!(
                        x.code,
                        OciErrorCode::ManifestUnknown
                            | OciErrorCode::NameUnknown
                            | OciErrorCode::NotFound
                            | OciErrorCode::BlobUnknown
                    )
                }) =>
            {
                OciError::NotFound {
                    reference,
                    registry,
                }
            }
            OciDistributionError::ServerError { code: 404, .. }
            | OciDistributionError::ImageManifestNotFoundError(_) => OciError::NotFound {
                reference,
                registry,
            },
            OciDistributionError::UnauthorizedError { .. }
            | OciDistributionError::AuthenticationFailure(_) => OciError::Unauthorized {
                reference,
                registry,
            },
            _ => OciError::Registry {
                reference,
                registry,
                action,
                reason: chain(&e),
            },
        }
    }
}

/// An error and its sources on one line.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            let _ = write!(text, ": {part}");
        }
        source = s.source();
    }
    text
}

fn client(registries: &Registries) -> Result<Client, OciError> {
    let config = ClientConfig {
        protocol: ClientProtocol::HttpsExcept(registries.insecure.clone()),
        connect_timeout: Some(CONNECT_TIMEOUT),
        read_timeout: Some(READ_TIMEOUT),
        max_concurrent_upload: 1,
        max_concurrent_download: 1,
        ..ClientConfig::default()
    };
    Client::try_from(config).map_err(|e| OciError::Internal(format!("building the client: {e}")))
}

// ---------------------------------------------------------------------- pull

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

/// A layer title as a normalized relative path (`./` segments dropped), or
/// why it is refused.
fn safe_title(title: &str) -> Result<String, String> {
    if title.len() > MAX_TITLE_BYTES {
        return Err(format!("its title is longer than {MAX_TITLE_BYTES} bytes"));
    }
    if !is_local_path(title) {
        return Err(
            "its title is not a relative path inside the package (absolute, `..`, `\\` or a URL)"
                .into(),
        );
    }
    if title.chars().any(char::is_control) {
        return Err("its title holds control characters".into());
    }
    let segments: Vec<&str> = title.split('/').filter(|s| *s != ".").collect();
    if segments.is_empty() || segments.iter().any(|s| s.is_empty()) {
        return Err("its title has an empty path segment".into());
    }
    if segments.len() > MAX_TITLE_DEPTH {
        return Err(format!(
            "its title is deeper than {MAX_TITLE_DEPTH} folders"
        ));
    }
    Ok(segments.join("/"))
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

// ---------------------------------------------------------------------- push

/// A package read from disk, ready to become layers.
struct Package {
    version: String,
    files: Vec<PackageFile>,
}

struct PackageFile {
    media_type: String,
    annotations: BTreeMap<String, String>,
    data: Vec<u8>,
}

/// Check the package and read every file in it (blocking).
fn read_package(dir: &Path) -> Result<Package, OciError> {
    let check = check_package(dir).map_err(|reason| OciError::InvalidPackage {
        dir: dir.to_path_buf(),
        errors: format!("- {reason}"),
    })?;
    let Some(app) = check.description else {
        let mut errors = String::new();
        for issue in &check.report.errors {
            let _ = writeln!(errors, "- {issue}");
        }
        return Err(OciError::InvalidPackage {
            dir: dir.to_path_buf(),
            errors: errors.trim_end().to_owned(),
        });
    };
    let unpushable = |reason: String| OciError::Unpushable {
        dir: dir.to_path_buf(),
        reason,
    };
    let too_large = |reason: String| OciError::TooLarge {
        reference: dir.display().to_string(),
        reason,
    };
    // Catalog files by normalized path, first field wins.
    let mut resources: BTreeMap<String, &'static str> = BTreeMap::new();
    if let Some(catalog) = &app.metadata.catalog.application {
        for (field, rel) in catalog.files() {
            let title = safe_title(rel).map_err(|why| {
                unpushable(format!(
                    "catalog file `{rel}`: {}",
                    why.replace("its title", "the path")
                ))
            })?;
            resources.entry(title).or_insert(field);
        }
    }
    let paths = walk(dir).map_err(|e| match e {
        Walk::Io(path, source) => OciError::Read { path, source },
        Walk::Refused(reason) => unpushable(reason),
    })?;
    if paths.len() > MAX_LAYERS {
        return Err(too_large(format!(
            "{} files, more than {MAX_LAYERS}",
            paths.len()
        )));
    }
    let mut total = 0u64;
    let mut files = Vec::with_capacity(paths.len());
    for (title, executable) in paths {
        let path = dir.join(&title);
        let data = read_limited(&path)?;
        total = total.saturating_add(data.len() as u64);
        if total > MAX_PACKAGE_BYTES {
            let why = format!("the files add up to more than {MAX_PACKAGE_BYTES} bytes");
            return Err(too_large(why));
        }
        let mut annotations = BTreeMap::from([
            (TITLE_ANNOTATION.to_owned(), title.clone()),
            (
                MODE_ANNOTATION.to_owned(),
                if executable { "0755" } else { "0644" }.to_owned(),
            ),
        ]);
        let media_type = if title == DESCRIPTION_FILE {
            DESCRIPTION_MEDIA_TYPE.to_owned()
        } else if let Some(field) = resources.get(&title) {
            annotations.insert(RESOURCE_ANNOTATION.to_owned(), (*field).to_owned());
            format!("application/vnd.margo.app.{field}.v1+{}", format_of(&title))
        } else {
            FILE_MEDIA_TYPE.to_owned()
        };
        files.push(PackageFile {
            media_type,
            annotations,
            data,
        });
    }
    // Description first, then resources, then the rest (each sorted by path).
    files.sort_by_key(|f| {
        if f.media_type == DESCRIPTION_MEDIA_TYPE {
            0
        } else if f.annotations.contains_key(RESOURCE_ANNOTATION) {
            1
        } else {
            2
        }
    });
    Ok(Package {
        version: app.metadata.version,
        files,
    })
}

enum Walk {
    Io(PathBuf, io::Error),
    Refused(String),
}

/// Every regular file below `dir` as (relative path, executable), sorted.
/// Links and special files are refused.
fn walk(dir: &Path) -> Result<Vec<(String, bool)>, Walk> {
    let mut found = Vec::new();
    let mut stack = vec![(dir.to_path_buf(), String::new())];
    while let Some((folder, rel)) = stack.pop() {
        let entries = std::fs::read_dir(&folder).map_err(|e| Walk::Io(folder.clone(), e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Walk::Io(folder.clone(), e))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                return Err(Walk::Refused(format!(
                    "`{}` has a name that is not UTF-8; rename it",
                    entry.path().display()
                )));
            };
            let child = if rel.is_empty() {
                name.to_owned()
            } else {
                format!("{rel}/{name}")
            };
            let meta = entry
                .path()
                .symlink_metadata()
                .map_err(|e| Walk::Io(entry.path(), e))?;
            if meta.is_dir() {
                stack.push((entry.path(), child));
            } else if meta.is_file() {
                if let Err(why) = safe_title(&child) {
                    return Err(Walk::Refused(format!(
                        "`{child}` cannot be a layer title: {}",
                        why.replace("its title", "the path")
                    )));
                }
                found.push((child, meta.permissions().mode() & 0o111 != 0));
            } else if meta.file_type().is_symlink() {
                return Err(Walk::Refused(format!(
                    "`{child}` is a symbolic link; replace it with the file it points to"
                )));
            } else {
                return Err(Walk::Refused(format!(
                    "`{child}` is not a regular file or folder; remove it"
                )));
            }
            if found.len() > MAX_LAYERS {
                return Err(Walk::Refused(format!(
                    "it holds more than {MAX_LAYERS} files, the most a package may have"
                )));
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Read a file, refusing one larger than a layer may be.
fn read_limited(path: &Path) -> Result<Vec<u8>, OciError> {
    use std::io::Read as _;
    let read_err = |source| OciError::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_err)?;
    let mut data = Vec::new();
    file.take(MAX_LAYER_BYTES + 1)
        .read_to_end(&mut data)
        .map_err(read_err)?;
    if data.len() as u64 > MAX_LAYER_BYTES {
        return Err(OciError::TooLarge {
            reference: path.display().to_string(),
            reason: format!("the file has more than {MAX_LAYER_BYTES} bytes"),
        });
    }
    Ok(data)
}

/// The `<fmt>` of a Margo resource media type, from the file extension.
fn format_of(path: &str) -> &'static str {
    let ext = Path::new(path)
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("md") => "markdown",
        Some("png") => "png",
        Some("pdf") => "pdf",
        Some("txt") => "plain",
        Some("svg") => "svg+xml",
        Some("jpg" | "jpeg") => "jpeg",
        _ => "octet-stream",
    }
}

async fn push_blob(
    client: &Client,
    image: &Reference,
    at: &Target,
    data: Vec<u8>,
    digest: &str,
) -> Result<(), OciError> {
    let exists = client
        .blob_exists(image, digest)
        .await
        .map_err(|e| at.error(e, "checking a blob of"))?;
    if !exists {
        client
            .push_blob(image, data, digest)
            .await
            .map_err(|e| at.error(e, "uploading a layer of"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles() {
        assert_eq!(
            safe_title("./resources/a.md").as_deref(),
            Ok("resources/a.md")
        );
        assert_eq!(safe_title("margo.yaml").as_deref(), Ok("margo.yaml"));
        for bad in [
            "../evil",
            "/etc/passwd",
            "a/../../b",
            "a//b",
            "a/",
            ".",
            "",
            "x\\y",
            "a\nb",
        ] {
            assert!(safe_title(bad).is_err(), "{bad:?}");
        }
        assert!(safe_title("a/".repeat(40).trim_end_matches('/')).is_err());
    }

    #[test]
    fn references() {
        let (r, tagged) = parse_reference("oci://127.0.0.1:5000/apps/x:1.0.0").unwrap();
        assert!(tagged);
        assert_eq!(r.registry(), "127.0.0.1:5000");
        assert_eq!(r.repository(), "apps/x");
        assert_eq!(r.tag(), Some("1.0.0"));
        let (_, tagged) = parse_reference("127.0.0.1:5000/apps/x").unwrap();
        assert!(!tagged);
        assert!(parse_reference("UPPER/Case:x").is_err());
    }

    #[test]
    fn formats() {
        assert_eq!(format_of("resources/icon.PNG"), "png");
        assert_eq!(format_of("a.svg"), "svg+xml");
        assert_eq!(format_of("LICENSE"), "octet-stream");
        assert_eq!(format_of("notes.txt"), "plain");
    }
}
