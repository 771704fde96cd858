//! A site on a USB stick: what `edgectl co export` writes and a Local
//! Orchestrator takes in with no network.
//!
//! Layout of the stick folder:
//!
//! - `site.git/` — a bare copy of the site repository (`refs/heads/main`);
//! - `oci/` — an OCI image layout (`oci-layout`, `index.json`,
//!   `blobs/sha256/…`): per artifact one image manifest whose one layer is
//!   the artifact, annotated with its app and component, and with
//!   [`REFERENCE_ANNOTATION`] when it is a module or binary the CO pulled
//!   from a registry (`oci://…`) for the site; a container image the CO
//!   pulled is listed as its own manifest instead (`stick/images.rs`);
//! - `credentials/` — the site LO's enrolment folder, only when asked for;
//! - `stick.json` — [`StickManifest`]: the site, the head commit, every
//!   artifact by digest, the site's revoked and issued device certificates
//!   and the CO's signature over them (`stick/signed.rs`), written last, so
//!   a half-written stick has none.
//!
//! Nothing on a stick is trusted on the way in: [`import`] reads a bounded
//! manifest, checks that it names the LO's own site and that the CO's CA
//! (the one in the LO's credentials, [`Anchor`]) signed it, verifies every
//! artifact by its digest and every Git object by its id, checks that each artifact the deployments at the head name is on
//! the stick, and takes the history only as a fast-forward of what the LO
//! has, all before it changes anything. An artifact whose file is not the
//! size its manifest names is refused before it is read. The registry
//! references the stick answers for are kept in the LO's `pins.json`
//! ([`read_pins`]), merged with those of earlier sticks whose artifacts the
//! LO still holds (`stick/pins.rs`), so its edge nodes can get those
//! artifacts from it when the registry is out of reach. The revocations and
//! the issued list it carries go into the LO's `trust.json`
//! (`stick/trust.rs`).

use std::collections::BTreeSet;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use edge_cas::{Cas, CasError};
use edge_model::digest::sha256;
use edge_model::{Digest, MargoDocument as _};
use serde::{Deserialize, Serialize};

use crate::git::{self, GitError, Mirror};

mod images;
mod pins;
pub mod signed;
pub mod trust;

pub use pins::{Pin, Pins, ReferenceError, read_pins, references};
pub use signed::{SignatureError, Statement};
pub use trust::{Anchor, TrustLists};

/// The bare site repository on a stick.
pub const SITE_GIT: &str = "site.git";
/// The OCI image layout on a stick.
pub const LAYOUT: &str = "oci";
/// The stick's own manifest.
pub const MANIFEST: &str = "stick.json";
/// The LO's enrolment folder, when exported.
pub const CREDENTIALS: &str = "credentials";
/// The branch the site's desired state lives on.
pub const BRANCH_REF: &str = "refs/heads/main";
/// The ref an LO's mirror keeps the site's branch under.
pub const MIRROR_REF: &str = "refs/remotes/origin/main";
/// The stick format this code writes and reads (2: signed by the CO).
pub const FORMAT: u32 = 2;
/// The LO's record of the registry references its sticks answered for.
pub const PINS: &str = "pins.json";
/// The layout annotation naming the registry reference an artifact answers for.
pub const REFERENCE_ANNOTATION: &str = "org.edgectl.reference";

/// Largest `stick.json` or `index.json` read.
const MAX_JSON: u64 = 4 * 1024 * 1024;
/// Most deployment files read at the head.
const MAX_DEPLOYMENTS: usize = 100_000;

/// What a stick holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StickManifest {
    /// [`FORMAT`].
    pub format: u32,
    /// The site.
    pub site: String,
    /// The head commit of `site.git` (hex).
    pub head: String,
    /// When it was written (RFC 3339, UTC).
    pub exported_at: String,
    /// Every artifact the site's deployments name.
    pub artifacts: Vec<StickArtifact>,
    /// Whether `credentials/` holds the site LO's private key.
    pub credentials: bool,
    /// Fingerprints of the site's revoked device certificates.
    #[serde(default)]
    pub revoked: Vec<String>,
    /// Fingerprints of the device certificates the CO issued for the site.
    #[serde(default)]
    pub issued: Vec<String>,
    /// The CO's CA signature over [`StickManifest::statement`] (hex).
    #[serde(default)]
    pub signature: String,
}

impl StickManifest {
    /// What the CO signed for this stick: all but `credentials` (which
    /// the writer adds) and the signature itself.
    #[must_use]
    pub fn statement(&self) -> Statement {
        Statement {
            purpose: signed::PURPOSE.to_owned(),
            format: self.format,
            site: self.site.clone(),
            head: self.head.clone(),
            exported_at: self.exported_at.clone(),
            artifacts: self.artifacts.clone(),
            revoked: self.revoked.clone(),
            issued: self.issued.clone(),
        }
    }
}

/// One artifact on a stick.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StickArtifact {
    /// `sha256:…`.
    pub digest: String,
    /// Bytes.
    pub size: u64,
    /// Its media type.
    pub media_type: String,
    /// The app that carries it.
    pub app: String,
    /// The component it is the artifact of.
    pub component: String,
    /// The registry reference (`oci://…`) it answers for, when the
    /// component comes from a registry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

/// Why a stick cannot be written or taken in.
#[derive(Debug, thiserror::Error)]
pub enum StickError {
    /// A file operation failed.
    #[error("cannot {action} `{path}`")]
    Io {
        /// What was being done.
        action: &'static str,
        /// On what.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The stick is not one, or not whole.
    #[error("`{path}` is not a usable site stick: {reason}")]
    Invalid {
        /// The stick.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// An artifact's bytes are not the ones named.
    #[error(
        "the artifact {digest} on the stick was changed (its bytes hash to {got}); nothing was taken in: write the stick again"
    )]
    Tampered {
        /// The digest named.
        digest: String,
        /// What the bytes hash to.
        got: String,
    },
    /// The stick belongs to another site.
    #[error(
        "the stick holds site `{found}`, but this LO serves site `{expected}`; nothing was taken in"
    )]
    OtherSite {
        /// The LO's site.
        expected: String,
        /// The stick's.
        found: String,
    },
    /// The stick is not signed by the LO's CA.
    #[error("the stick was not taken in: {0}")]
    Signature(#[from] SignatureError),
    /// The history could not be read or is not a fast-forward.
    #[error(transparent)]
    Git(#[from] GitError),
    /// The LO's artifact store failed.
    #[error(transparent)]
    Store(#[from] CasError),
}

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> StickError + 'a {
    move |source| StickError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

fn invalid(path: &Path, reason: impl Into<String>) -> StickError {
    StickError::Invalid {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

/// Where the blob `digest` lives in the layout under `stick`.
#[must_use]
pub fn blob_path(stick: &Path, digest: &str) -> PathBuf {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    stick.join(LAYOUT).join("blobs/sha256").join(hex)
}

fn hex_ok(digest: &str) -> bool {
    digest.strip_prefix("sha256:").is_some_and(|h| {
        h.len() == 64
            && h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// Write `bytes` as the blob `digest` (verified first; atomic).
///
/// # Errors
/// When the bytes are not the digest's, or the file cannot be written.
pub fn put_blob(stick: &Path, digest: &str, bytes: &[u8]) -> Result<PathBuf, StickError> {
    let got = sha256(bytes).to_string();
    if !hex_ok(digest) || got != digest {
        return Err(StickError::Tampered {
            digest: digest.to_owned(),
            got,
        });
    }
    let path = blob_path(stick, digest);
    if path.is_file() {
        return Ok(path);
    }
    write_atomic(&path, bytes)?;
    Ok(path)
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StickError> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(io("create", dir))?;
    }
    let tmp = path.with_extension("tmp");
    let mut f = fs::File::create(&tmp).map_err(io("write", &tmp))?;
    f.write_all(bytes).map_err(io("write", &tmp))?;
    f.sync_all().map_err(io("write", &tmp))?;
    fs::rename(&tmp, path).map_err(io("write", path))
}

/// The artifacts of `manifest` whose blobs `stick` does not hold yet.
#[must_use]
pub fn missing(stick: &Path, artifacts: &[StickArtifact]) -> Vec<StickArtifact> {
    artifacts
        .iter()
        .filter(|a| fs::metadata(blob_path(stick, &a.digest)).map_or(true, |m| m.len() != a.size))
        .cloned()
        .collect()
}

/// Finish a stick whose `site.git` and blobs are written: the image
/// manifests, `index.json`, `oci-layout`, then `stick.json`.
///
/// # Errors
/// When a blob is missing or a file cannot be written.
pub fn finish(stick: &Path, manifest: &StickManifest) -> Result<(), StickError> {
    let mut index = Vec::new();
    if let Some(a) = manifest
        .artifacts
        .iter()
        .find(|a| !blob_path(stick, &a.digest).is_file())
    {
        return Err(invalid(
            stick,
            format!("the artifact {} was not written", a.digest),
        ));
    }
    let parts = images::image_parts(stick, manifest)?;
    for a in &manifest.artifacts {
        if images::is_image(a) {
            index.push(images::index_entry(a));
            continue;
        }
        if parts.contains(&a.digest) {
            continue;
        }
        put_blob(stick, EMPTY_DIGEST, b"{}")?;
        let image = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "artifactType": a.media_type,
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": EMPTY_DIGEST, "size": 2},
            "layers": [{"mediaType": a.media_type, "digest": a.digest, "size": a.size}],
        });
        let bytes = serde_json::to_vec(&image).map_err(|e| invalid(stick, e.to_string()))?;
        let digest = sha256(&bytes).to_string();
        put_blob(stick, &digest, &bytes)?;
        let mut annotations = serde_json::json!({
            "org.opencontainers.image.ref.name": format!("{}.{}", a.app, a.component),
            "org.edgectl.app": a.app,
            "org.edgectl.component": a.component,
        });
        if let Some(r) = &a.reference {
            annotations[REFERENCE_ANNOTATION] = serde_json::Value::from(r.as_str());
        }
        index.push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": digest,
            "size": bytes.len(),
            "annotations": annotations,
        }));
    }
    let layout = stick.join(LAYOUT);
    write_atomic(
        &layout.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )?;
    let index = serde_json::json!({"schemaVersion": 2, "manifests": index});
    write_atomic(
        &layout.join("index.json"),
        &serde_json::to_vec_pretty(&index).map_err(|e| invalid(stick, e.to_string()))?,
    )?;
    let text = serde_json::to_vec_pretty(manifest).map_err(|e| invalid(stick, e.to_string()))?;
    write_atomic(&stick.join(MANIFEST), &text)
}

/// Digest of `{}`, the empty config.
const EMPTY_DIGEST: &str =
    "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

/// Read and check a stick's manifest (bounded).
///
/// # Errors
/// When it is missing, too large or malformed.
pub fn read_manifest(stick: &Path) -> Result<StickManifest, StickError> {
    let path = stick.join(MANIFEST);
    let meta = fs::metadata(&path).map_err(|_| {
        invalid(
            stick,
            format!("it has no `{MANIFEST}` (an unfinished or foreign folder)"),
        )
    })?;
    if meta.len() > MAX_JSON {
        return Err(invalid(
            stick,
            format!("`{MANIFEST}` is larger than {MAX_JSON} bytes"),
        ));
    }
    let text = fs::read(&path).map_err(io("read", &path))?;
    let m: StickManifest = serde_json::from_slice(&text)
        .map_err(|e| invalid(stick, format!("`{MANIFEST}` does not read: {e}")))?;
    if m.format == 1 {
        return Err(SignatureError::Unsigned.into());
    }
    if m.format != FORMAT {
        return Err(invalid(
            stick,
            format!(
                "it is format {}, this edgectl reads format {FORMAT}",
                m.format
            ),
        ));
    }
    if let Some(bad) = m.artifacts.iter().find(|a| !hex_ok(&a.digest)) {
        return Err(invalid(
            stick,
            format!("`{}` is not a sha256 digest", bad.digest),
        ));
    }
    references(&m.artifacts).map_err(|reason| invalid(stick, reason.to_string()))?;
    Ok(m)
}

/// Every artifact of `manifest` on `stick`, whole and unchanged.
fn verify_artifacts(stick: &Path, manifest: &StickManifest) -> Result<(), StickError> {
    for a in &manifest.artifacts {
        let path = blob_path(stick, &a.digest);
        let what = || {
            a.reference.as_ref().map_or_else(
                || format!("{}/{}", a.app, a.component),
                |r| format!("{r}, for {}/{}", a.app, a.component),
            )
        };
        let Some(meta) = fs::metadata(&path).ok().filter(fs::Metadata::is_file) else {
            return Err(invalid(
                stick,
                format!("the artifact {} ({}) is missing", a.digest, what()),
            ));
        };
        // Before it is read: a size is what later reads are bounded by.
        if meta.len() != a.size {
            return Err(invalid(
                stick,
                format!(
                    "the artifact {} ({}) is {} bytes on it, not the {} its manifest names; nothing was taken in: write the stick again",
                    a.digest,
                    what(),
                    meta.len(),
                    a.size
                ),
            ));
        }
        let got = edge_cas::file_digest(&path)?.to_string();
        if got != a.digest {
            return Err(StickError::Tampered {
                digest: a.digest.clone(),
                got,
            });
        }
    }
    Ok(())
}

/// The artifact digests the deployments at `head` of the repository `git` name.
fn named_artifacts(git: &Path, head: &str) -> Result<BTreeSet<String>, StickError> {
    let files = Mirror::at(git).files_at(head, "deployments", ".yaml", MAX_DEPLOYMENTS, 1 << 20)?;
    let mut out = BTreeSet::new();
    for (name, bytes) in files {
        let parsed = edge_model::ApplicationDeployment::from_slice(&bytes)
            .map_err(|e| invalid(git, format!("deployments/{name} does not read: {e}")))?;
        for c in &parsed.document.spec.deployment_profile.components {
            if let Some(a) = c.artifact() {
                out.insert(a.digest.to_string());
            }
        }
    }
    Ok(out)
}

/// What [`import`] took in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    /// The stick's manifest.
    pub manifest: StickManifest,
    /// The history carried.
    pub carried: git::Carried,
    /// Artifacts stored that the LO did not have.
    pub new_artifacts: usize,
    /// Registry references the LO now answers for.
    pub references: usize,
}

/// Take the stick at `stick` into the LO data folder `lo_data`: check that
/// it is for `anchor`'s site and signed by its CA, verify everything, store
/// the artifacts in the LO's artifact store (`edge_cas`), add the
/// revocations and the issued list to the LO's trust lists, then move the
/// mirror `lo_data/site.git` forward.
///
/// # Errors
/// When the stick is unsigned, signed by another CA, for another site, or
/// anything on it is missing, changed, older than what the LO has, or from
/// another history; the LO is unchanged then.
pub fn import(stick: &Path, lo_data: &Path, anchor: &Anchor) -> Result<Imported, StickError> {
    let manifest = read_manifest(stick)?;
    if anchor.site != manifest.site {
        return Err(StickError::OtherSite {
            expected: anchor.site.clone(),
            found: manifest.site.clone(),
        });
    }
    signed::verify(
        anchor.ca.as_bytes(),
        &manifest.statement(),
        &manifest.signature,
    )?;
    let git_dir = stick.join(SITE_GIT);
    if !git_dir.join("HEAD").is_file() {
        return Err(invalid(stick, format!("it has no `{SITE_GIT}` repository")));
    }
    let tip = git::tip_of(&git_dir, BRANCH_REF)?;
    if tip.as_deref() != Some(manifest.head.as_str()) {
        return Err(invalid(
            stick,
            format!(
                "`{SITE_GIT}` ends at {}, not at the {} its manifest names",
                tip.as_deref().unwrap_or("nothing"),
                manifest.head
            ),
        ));
    }
    verify_artifacts(stick, &manifest)?;
    images::check_images(stick, &manifest)?;
    // Every artifact the deployments need is among them.
    let on_stick: BTreeSet<&str> = manifest
        .artifacts
        .iter()
        .map(|a| a.digest.as_str())
        .collect();
    if let Some(absent) = named_artifacts(&git_dir, &manifest.head)?
        .into_iter()
        .find(|d| !on_stick.contains(d.as_str()))
    {
        return Err(invalid(
            stick,
            format!("a deployment needs the artifact {absent}, which is not on it"),
        ));
    }
    let mirror = lo_data.join("site.git");
    Mirror::open_or_init(&mirror)?;
    git::check_forward(&git_dir, BRANCH_REF, &mirror, MIRROR_REF)?;
    let store = Cas::in_data(lo_data)?;
    let mut new_artifacts = 0;
    for a in &manifest.artifacts {
        let digest = Digest::new(&a.digest).map_err(|e| invalid(stick, e.to_string()))?;
        match store.put_file(&blob_path(stick, &a.digest), &digest, a.size) {
            Ok(true) => new_artifacts += 1,
            Ok(false) => {}
            Err(CasError::Mismatch { got, .. }) => {
                return Err(StickError::Tampered {
                    digest: a.digest.clone(),
                    got,
                });
            }
            Err(e) => return Err(e.into()),
        }
    }
    // The references before the history: a served deployment never names
    // one the LO cannot answer for. Merged, not replaced: a pin of an
    // earlier stick stays while its artifact does (a stick written with
    // `--skip-images` carries no image, yet the deployments may still name
    // it), so a history that then fails to move leaves no pin wrong.
    let fresh =
        references(&manifest.artifacts).map_err(|reason| invalid(stick, reason.to_string()))?;
    let pins = pins::merged(lo_data, &manifest.head, fresh)?;
    let text = serde_json::to_vec_pretty(&pins).map_err(|e| invalid(stick, e.to_string()))?;
    write_atomic(&lo_data.join(PINS), &text)?;
    let references = pins.pins.len();
    // The revocations before the history: a revoked device is refused
    // before anything new is served to it.
    trust::apply(lo_data, &manifest.revoked, Some(&manifest.issued))?;
    let carried = git::carry_forward(&git_dir, BRANCH_REF, &mirror, MIRROR_REF)?;
    Ok(Imported {
        manifest,
        carried,
        new_artifacts,
        references,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stick_manifest_that_is_missing_malformed_or_foreign_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let e = read_manifest(dir.path()).unwrap_err().to_string();
        assert!(e.contains("has no `stick.json`"), "{e}");
        let write = |text: &str| fs::write(dir.path().join(MANIFEST), text).unwrap();
        write("{not json");
        assert!(
            read_manifest(dir.path())
                .unwrap_err()
                .to_string()
                .contains("does not read")
        );
        let good = r#"{"format":2,"site":"s","head":"h","exportedAt":"t","artifacts":[],"credentials":false}"#;
        write(good);
        assert_eq!(read_manifest(dir.path()).unwrap().site, "s");
        write(&good.replace("\"format\":2", "\"format\":3"));
        assert!(
            read_manifest(dir.path())
                .unwrap_err()
                .to_string()
                .contains("format 3")
        );
        write(&good.replace("\"format\":2", "\"format\":1"));
        let e = read_manifest(dir.path()).unwrap_err().to_string();
        assert!(e.contains("not signed by a CO"), "{e}");
        write(&good.replace(
            "[]",
            r#"[{"digest":"md5:00","size":1,"mediaType":"x","app":"a","component":"c"}]"#,
        ));
        assert!(
            read_manifest(dir.path())
                .unwrap_err()
                .to_string()
                .contains("not a sha256 digest")
        );
        let huge = format!("{good}{}", " ".repeat(usize::try_from(MAX_JSON).unwrap()));
        write(&huge);
        assert!(
            read_manifest(dir.path())
                .unwrap_err()
                .to_string()
                .contains("larger than")
        );
    }

    #[test]
    fn a_blob_is_stored_only_under_its_own_digest() {
        let dir = tempfile::tempdir().unwrap();
        let d = sha256(b"module").to_string();
        assert!(put_blob(dir.path(), &d, b"module").unwrap().is_file());
        let e = put_blob(dir.path(), &d, b"forged").unwrap_err();
        assert!(matches!(e, StickError::Tampered { .. }), "{e}");
        assert!(put_blob(dir.path(), "sha256:../../x", b"module").is_err());
    }

    fn artifact(bytes: &[u8], reference: Option<&str>) -> StickArtifact {
        StickArtifact {
            digest: sha256(bytes).to_string(),
            size: bytes.len() as u64,
            media_type: "application/vnd.wasm.content.layer.v1+wasm".into(),
            app: "a".into(),
            component: "c".into(),
            reference: reference.map(str::to_owned),
        }
    }

    const REF: &str = "oci://127.0.0.1:5000/apps/hello:1.0.0";

    #[test]
    fn references_are_read_checked_and_unique() {
        let dir = tempfile::tempdir().unwrap();
        let write = |text: &str| fs::write(dir.path().join(MANIFEST), text).unwrap();
        let with = |artifacts: &str| {
            format!(
                r#"{{"format":2,"site":"s","head":"h","exportedAt":"t","artifacts":[{artifacts}],"credentials":false}}"#
            )
        };
        let one = |r: &str| {
            format!(
                r#"{{"digest":"{}","size":6,"mediaType":"x","app":"a","component":"c","reference":"{r}"}}"#,
                sha256(b"module")
            )
        };
        write(&with(&one(REF)));
        let m = read_manifest(dir.path()).unwrap();
        assert_eq!(m.artifacts[0].reference.as_deref(), Some(REF));
        // Written back the same way; absent references are left out.
        let text = serde_json::to_string(&m.artifacts[0]).unwrap();
        assert!(text.contains(r#""reference":"oci://"#), "{text}");
        let plain = serde_json::to_string(&artifact(b"m", None)).unwrap();
        assert!(!plain.contains("reference"), "{plain}");
        for bad in [
            "https://127.0.0.1:5000/apps/hello:1.0.0",
            "oci://",
            "oci://host-only",
            "oci:///apps/x",
            "oci://h/../x",
            "oci://h/a b",
        ] {
            write(&with(&one(bad)));
            let e = read_manifest(dir.path()).unwrap_err().to_string();
            assert!(e.contains("is not a registry reference"), "{bad}: {e}");
        }
        let other = one(REF).replace(&sha256(b"module").to_string(), sha256(b"other").as_str());
        write(&with(&format!("{},{other}", one(REF))));
        let e = read_manifest(dir.path()).unwrap_err().to_string();
        assert!(e.contains("names both"), "{e}");
        // The same artifact for two components is one pin.
        let pins = references(&[artifact(b"m", Some(REF)), artifact(b"m", Some(REF))]).unwrap();
        assert_eq!(pins.len(), 1);
        assert_eq!(pins[REF].digest, sha256(b"m").to_string());
    }

    #[test]
    fn a_referenced_artifact_missing_from_the_stick_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let local = artifact(b"local", None);
        let pulled = artifact(b"pulled", Some(REF));
        put_blob(dir.path(), &local.digest, b"local").unwrap();
        let manifest = StickManifest {
            format: FORMAT,
            site: "s".into(),
            head: "h".into(),
            exported_at: "t".into(),
            artifacts: vec![local, pulled.clone()],
            credentials: false,
            revoked: vec![],
            issued: vec![],
            signature: String::new(),
        };
        let e = verify_artifacts(dir.path(), &manifest)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&pulled.digest) && e.contains(REF) && e.contains("is missing"),
            "{e}"
        );
        put_blob(dir.path(), &pulled.digest, b"pulled").unwrap();
        verify_artifacts(dir.path(), &manifest).unwrap();
        fs::write(blob_path(dir.path(), &pulled.digest), b"forged").unwrap();
        let e = verify_artifacts(dir.path(), &manifest).unwrap_err();
        assert!(matches!(e, StickError::Tampered { .. }), "{e}");
    }

    #[test]
    fn an_artifact_of_another_size_than_named_is_refused_unread() {
        let dir = tempfile::tempdir().unwrap();
        let mut small = artifact(b"module", Some(REF));
        put_blob(dir.path(), &small.digest, b"module").unwrap();
        small.size = 3;
        let manifest = StickManifest {
            format: FORMAT,
            site: "s".into(),
            head: "h".into(),
            exported_at: "t".into(),
            artifacts: vec![small.clone()],
            credentials: false,
            revoked: vec![],
            issued: vec![],
            signature: String::new(),
        };
        let e = verify_artifacts(dir.path(), &manifest)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&small.digest)
                && e.contains(REF)
                && e.contains("is 6 bytes on it, not the 3"),
            "{e}"
        );
        // Refused before it is hashed or copied: the stick is as it was.
        assert_eq!(
            fs::read(blob_path(dir.path(), &small.digest)).unwrap(),
            b"module"
        );
    }

    #[test]
    fn the_layout_names_the_reference_and_pins_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let pulled = artifact(b"pulled", Some(REF));
        put_blob(dir.path(), &pulled.digest, b"pulled").unwrap();
        let manifest = StickManifest {
            format: FORMAT,
            site: "s".into(),
            head: "h".into(),
            exported_at: "t".into(),
            artifacts: vec![pulled.clone(), artifact(b"local", None)],
            credentials: false,
            revoked: vec![],
            issued: vec![],
            signature: String::new(),
        };
        let e = finish(dir.path(), &manifest).unwrap_err().to_string();
        assert!(e.contains("was not written"), "{e}");
        put_blob(dir.path(), sha256(b"local").as_str(), b"local").unwrap();
        finish(dir.path(), &manifest).unwrap();
        let index: serde_json::Value =
            serde_json::from_slice(&fs::read(dir.path().join("oci/index.json")).unwrap()).unwrap();
        let entries = index["manifests"].as_array().unwrap();
        assert_eq!(entries[0]["annotations"][REFERENCE_ANNOTATION], REF);
        assert!(
            entries[1]["annotations"]
                .get(REFERENCE_ANNOTATION)
                .is_none()
        );
        assert_eq!(read_manifest(dir.path()).unwrap(), manifest);

        let lo = tempfile::tempdir().unwrap();
        assert_eq!(read_pins(lo.path()).unwrap(), Pins::default());
        let pins = Pins {
            format: FORMAT,
            head: "h".into(),
            pins: references(&manifest.artifacts).unwrap(),
        };
        fs::write(lo.path().join(PINS), serde_json::to_vec(&pins).unwrap()).unwrap();
        assert_eq!(read_pins(lo.path()).unwrap().pins[REF].size, 6);
        fs::write(lo.path().join(PINS), b"{").unwrap();
        let e = read_pins(lo.path()).unwrap_err().to_string();
        assert!(e.contains("does not read"), "{e}");
    }
}
