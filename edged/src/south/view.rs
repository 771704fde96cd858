//! Per-device views of a site's desired state: the ApplicationDeployment
//! files of one commit, grouped by `metadata.deviceId`, turned into what the
//! Margo API serves — the state manifest (canonical JSON, its digest as the
//! ETag), each deployment's exact bytes by digest, and the bundle (a gzip tar
//! of exactly the listed files).
//!
//! `manifestVersion` is per device, starts at 1, and grows by one whenever the
//! set of (deployment, digest) pairs the device is given changes; the number
//! and the content it stands for are stored in SQLite before a view using
//! them is served, so a restart never hands out a smaller or reused number.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::body::Bytes;
use edge_model::manifest::{BundleRef, DeploymentRef, DesiredStateManifest};
use edge_model::{ApplicationDeployment, DeploymentId, Digest, MargoDocument as _, digest};
use rusqlite::{Connection, OptionalExtension as _, params};

/// The manifest's media type.
pub(crate) const MANIFEST_TYPE: &str = "application/vnd.margo.manifest.v1+json";
/// The bundle's media type.
pub(crate) const BUNDLE_TYPE: &str = "application/vnd.margo.bundle.v1+tar+gzip";

/// Most deployment files one site may hold.
pub(crate) const MAX_SITE_FILES: usize = 100_000;
/// Largest deployment file (the model's document limit).
pub(crate) const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// Tables kept next to the owner's own (CO or LO database).
pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS manifest_versions (
    scope TEXT NOT NULL,
    device TEXT NOT NULL,
    version INTEGER NOT NULL,
    content TEXT NOT NULL,
    PRIMARY KEY (scope, device)
);
CREATE TABLE IF NOT EXISTS served (
    scope TEXT NOT NULL,
    deployment TEXT NOT NULL,
    device TEXT NOT NULL,
    PRIMARY KEY (scope, deployment)
);
";

/// One deployment as served: its id, digest and exact bytes.
#[derive(Debug, Clone)]
pub(crate) struct Doc {
    pub(crate) id: String,
    pub(crate) digest: Digest,
    pub(crate) bytes: Bytes,
}

/// What one device is served.
#[derive(Debug)]
pub(crate) struct DeviceView {
    pub(crate) manifest: Bytes,
    /// Quoted digest of `manifest`.
    pub(crate) etag: String,
    pub(crate) docs: Vec<Doc>,
    pub(crate) bundle: Option<(Digest, Bytes)>,
}

impl DeviceView {
    /// Build the view of `docs` (sorted by id) at `version`.
    pub(crate) fn build(version: u64, docs: Vec<Doc>) -> Self {
        let bundle = (!docs.is_empty()).then(|| {
            let bytes = Bytes::from(bundle(&docs));
            (digest::sha256(&bytes), bytes)
        });
        let manifest = DesiredStateManifest {
            manifest_version: version,
            bundle: bundle.as_ref().map(|(d, b)| BundleRef {
                media_type: BUNDLE_TYPE.to_owned(),
                digest: d.clone(),
                size_bytes: Some(b.len() as u64),
                url: format!("/api/v1/bundles/{d}"),
            }),
            deployments: docs
                .iter()
                .filter_map(|d| {
                    Some(DeploymentRef {
                        deployment_id: DeploymentId::new(&d.id).ok()?,
                        digest: d.digest.clone(),
                        size_bytes: Some(d.bytes.len() as u64),
                        url: format!("/api/v1/deployments/{}/{}", d.id, d.digest),
                    })
                })
                .collect(),
        };
        let manifest = Bytes::from(digest::canonical_json(&manifest));
        let etag = digest::etag(&digest::sha256(&manifest));
        Self {
            manifest,
            etag,
            docs,
            bundle,
        }
    }

    /// The deployment `id` at `digest`, when this view lists exactly that.
    pub(crate) fn doc(&self, id: &str, digest: &str) -> Option<&Doc> {
        self.docs
            .iter()
            .find(|d| d.id == id && d.digest.as_str() == digest)
    }
}

/// A gzip tar holding `docs` as `<id>.yaml` at its root; the same input
/// always gives the same bytes (fixed times, owners and modes).
fn bundle(docs: &[Doc]) -> Vec<u8> {
    let gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    for d in docs {
        let mut h = tar::Header::new_ustar();
        h.set_size(d.bytes.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        h.set_entry_type(tar::EntryType::Regular);
        // Writing to memory cannot fail; a name over 100 bytes is impossible
        // (a UUID and `.yaml`).
        let _ = tar.append_data(&mut h, format!("{}.yaml", d.id), d.bytes.as_ref());
    }
    // Writing to memory cannot fail.
    tar.into_inner()
        .and_then(flate2::write::GzEncoder::finish)
        .unwrap_or_default()
}

/// The deployment files of one commit, grouped by target device (sorted by
/// deployment id). Files that do not read as deployments are skipped and
/// named in the returned warnings.
pub(crate) fn by_device(
    files: Vec<(String, Vec<u8>)>,
) -> (BTreeMap<String, Vec<Doc>>, Vec<String>) {
    let mut out: BTreeMap<String, Vec<Doc>> = BTreeMap::new();
    let mut warnings = Vec::new();
    for (name, bytes) in files {
        let parsed = match ApplicationDeployment::from_slice(&bytes) {
            Ok(c) => c.document,
            Err(e) => {
                warnings.push(format!(
                    "`deployments/{name}` is not a valid deployment: {e}"
                ));
                continue;
            }
        };
        let Some(device) = parsed.metadata.device_id.as_ref().map(ToString::to_string) else {
            warnings.push(format!("`deployments/{name}` names no device"));
            continue;
        };
        let id = parsed.metadata.annotations.id.to_string();
        out.entry(device).or_default().push(Doc {
            id,
            digest: digest::sha256(&bytes),
            bytes: Bytes::from(bytes),
        });
    }
    for docs in out.values_mut() {
        docs.sort_by(|a, b| a.id.cmp(&b.id));
    }
    (out, warnings)
}

/// What a device's manifest stands for: its (id, digest) pairs.
fn content_key(docs: &[Doc]) -> String {
    let mut text = String::new();
    for d in docs {
        text.push_str(&d.id);
        text.push(' ');
        text.push_str(d.digest.as_str());
        text.push('\n');
    }
    digest::sha256(text.as_bytes()).to_string()
}

/// The version for `device` with `docs`: the stored one when the content is
/// unchanged, else the next one (1 for a new device), stored. Run inside the
/// caller's transaction.
fn version_for(c: &Connection, scope: &str, device: &str, docs: &[Doc]) -> rusqlite::Result<u64> {
    let key = content_key(docs);
    let row: Option<(i64, String)> = c
        .query_row(
            "SELECT version, content FROM manifest_versions WHERE scope = ?1 AND device = ?2",
            params![scope, device],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let version = match row {
        Some((v, k)) if k == key => return Ok(u64::try_from(v).unwrap_or(1)),
        Some((v, _)) => v + 1,
        None => 1,
    };
    c.execute(
        "INSERT INTO manifest_versions (scope, device, version, content) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (scope, device) DO UPDATE SET version = excluded.version, content = excluded.content",
        params![scope, device, version, key],
    )?;
    for d in docs {
        c.execute(
            "INSERT INTO served (scope, deployment, device) VALUES (?1, ?2, ?3)
             ON CONFLICT (scope, deployment) DO UPDATE SET device = excluded.device",
            params![scope, d.id, device],
        )?;
    }
    Ok(u64::try_from(version).unwrap_or(1))
}

/// Every device's view of one commit of a site.
#[derive(Debug, Default)]
pub(crate) struct SiteViews {
    /// The commit the views were built from.
    pub(crate) head: Option<String>,
    pub(crate) devices: HashMap<String, Arc<DeviceView>>,
}

/// Build the views of a site at `head` from its deployment files, storing
/// new versions first. Devices that had deployments before and have none now
/// get an empty manifest with the next version.
pub(crate) fn build_site(
    c: &mut Connection,
    scope: &str,
    head: Option<String>,
    files: Vec<(String, Vec<u8>)>,
) -> rusqlite::Result<(SiteViews, Vec<String>)> {
    let (mut wanted, warnings) = by_device(files);
    let tx = c.transaction()?;
    let known: Vec<String> = {
        let mut st = tx.prepare("SELECT device FROM manifest_versions WHERE scope = ?1")?;
        st.query_map([scope], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?
    };
    for d in known {
        wanted.entry(d).or_default();
    }
    let mut devices = HashMap::new();
    for (device, docs) in wanted {
        let version = version_for(&tx, scope, &device, &docs)?;
        devices.insert(device, Arc::new(DeviceView::build(version, docs)));
    }
    tx.commit()?;
    Ok((SiteViews { head, devices }, warnings))
}

/// The view of a device the site has never given anything (version stored).
pub(crate) fn empty_view(
    c: &Connection,
    scope: &str,
    device: &str,
) -> rusqlite::Result<DeviceView> {
    let version = version_for(c, scope, device, &[])?;
    Ok(DeviceView::build(version, Vec::new()))
}

/// The device a deployment was ever served to in `scope`.
pub(crate) fn owner(
    c: &Connection,
    scope: &str,
    deployment: &str,
) -> rusqlite::Result<Option<String>> {
    c.query_row(
        "SELECT device FROM served WHERE scope = ?1 AND deployment = ?2",
        params![scope, deployment],
        |r| r.get(0),
    )
    .optional()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(id: &str, body: &str) -> Doc {
        Doc {
            id: id.to_owned(),
            digest: digest::sha256(body.as_bytes()),
            bytes: Bytes::from(body.to_owned()),
        }
    }

    #[test]
    fn an_empty_view_has_a_null_bundle_and_the_same_bytes_give_the_same_bundle() {
        let empty = DeviceView::build(1, Vec::new());
        let m: serde_json::Value = serde_json::from_slice(&empty.manifest).unwrap();
        assert!(m["bundle"].is_null() && m["deployments"].as_array().unwrap().is_empty());
        assert_eq!(m["manifestVersion"], 1);
        let a = DeviceView::build(2, vec![doc("a", "x: 1\n")]);
        let b = DeviceView::build(2, vec![doc("a", "x: 1\n")]);
        assert_eq!(a.bundle.as_ref().unwrap().1, b.bundle.as_ref().unwrap().1);
        assert_eq!(a.etag, b.etag);
        assert_eq!(a.etag, format!("\"{}\"", digest::sha256(&a.manifest)));
    }

    #[test]
    fn the_bundle_holds_exactly_the_listed_files() {
        let v = DeviceView::build(3, vec![doc("a", "x: 1\n"), doc("b", "y: 2\n")]);
        let (d, bytes) = v.bundle.clone().unwrap();
        assert_eq!(d, digest::sha256(&bytes));
        let mut names = Vec::new();
        let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(bytes.as_ref()));
        for e in tar.entries().unwrap() {
            let mut e = e.unwrap();
            let mut body = String::new();
            std::io::Read::read_to_string(&mut e, &mut body).unwrap();
            names.push((e.path().unwrap().display().to_string(), body));
        }
        assert_eq!(
            names,
            [
                ("a.yaml".to_owned(), "x: 1\n".to_owned()),
                ("b.yaml".to_owned(), "y: 2\n".to_owned())
            ]
        );
    }

    #[test]
    fn versions_grow_only_when_the_content_changes_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.db");
        let open = || {
            let c = Connection::open(&path).unwrap();
            c.execute_batch(SCHEMA).unwrap();
            c
        };
        let c = open();
        assert_eq!(version_for(&c, "s", "d", &[]).unwrap(), 1);
        assert_eq!(version_for(&c, "s", "d", &[]).unwrap(), 1);
        assert_eq!(version_for(&c, "s", "d", &[doc("a", "1")]).unwrap(), 2);
        assert_eq!(version_for(&c, "s", "d", &[doc("a", "2")]).unwrap(), 3);
        drop(c);
        let c = open();
        assert_eq!(version_for(&c, "s", "d", &[doc("a", "2")]).unwrap(), 3);
        assert_eq!(version_for(&c, "s", "d", &[]).unwrap(), 4);
        assert_eq!(owner(&c, "s", "a").unwrap().as_deref(), Some("d"));
        assert_eq!(version_for(&c, "other", "d", &[]).unwrap(), 1);
    }
}
