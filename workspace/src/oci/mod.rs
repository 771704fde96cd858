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
//! links, never writes outside the destination, sends credentials only to the
//! registry they are configured for ([`Registries::auth`]; anonymous access
//! otherwise) and never uses plain HTTP for a registry that is not listed in
//! [`Registries::insecure`].
//!
//! `pull.rs` holds [`pull_package`], `push.rs` [`push_package`] and
//! `blob.rs` [`BlobSource`], an edge node's blocking fetch of a
//! single-layer artifact (a WebAssembly module or a binary). This file
//! holds what they share: the layout constants and limits, the error type,
//! reference parsing, layer titles and the registry client.

use std::fmt::Write as _;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

use edge_model::profile::is_local_path;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

mod blob;
mod image;
mod pull;
mod push;

pub use blob::{Blob, BlobReader, BlobSource};
pub use image::PulledImage;
pub use pull::pull_package;
pub use push::push_package;

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
    /// Credentials by registry (`host` or `host:port`, as references name
    /// it); a registry not listed is reached anonymously.
    pub auth: std::collections::BTreeMap<String, Credential>,
}

impl Registries {
    /// What to present to `registry`.
    fn auth_for(&self, registry: &str) -> RegistryAuth {
        match self.auth.get(registry) {
            Some(Credential::Basic { username, password }) => {
                RegistryAuth::Basic(username.clone(), password.clone())
            }
            Some(Credential::Bearer(token)) => RegistryAuth::Bearer(token.clone()),
            None => RegistryAuth::Anonymous,
        }
    }
}

/// A credential for one registry: a user name and password (sent as HTTP
/// Basic, or traded for a bearer token when the registry's challenge names
/// a token service), or a bearer token sent as it is. Its `Debug` shows no
/// secret.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// User name and password.
    Basic {
        /// The user name.
        username: String,
        /// The password.
        password: String,
    },
    /// A bearer token.
    Bearer(String),
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
            Self::Bearer(_) => f.debug_tuple("Bearer").field(&"<redacted>").finish(),
        }
    }
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
        "registry `{registry}` refused access to `{reference}`; give it credentials for this registry (an LO reads them from its `registries.toml`) or check the ones given"
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
    /// The manifest is not a container image this host can run.
    #[error("`{reference}` is not a usable container image: {reason}")]
    NotAnImage { reference: String, reason: String },
    /// The manifest is not a single-blob artifact (a module or a binary).
    #[error("`{reference}` is not a single-file artifact: {reason}")]
    NotAnArtifact { reference: String, reason: String },
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
    #[error("cannot write `{path}`; check the destination's permissions and free space")]
    Write { path: PathBuf, source: io::Error },
    /// Reading the package to push failed.
    #[error("cannot read `{path}`")]
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
}
