//! Per-device views of a site's desired state: the ApplicationDeployment
//! files of one commit, grouped by the Margo client that serves their
//! `metadata.deviceId` (the device itself, or for a child behind a see-thru
//! gateway, `gw-1/cam-2`, its gateway `gw-1`, whose one client acts for
//! all its children: DIGEST §1, §7.3), turned into what the
//! Margo API serves — the state manifest (canonical JSON, its digest as the
//! ETag), each deployment's exact bytes by digest, and the bundle (a gzip tar
//! of exactly the listed files).
//!
//! Files are routed, not judged: only `metadata.annotations.id` and
//! `metadata.deviceId` are read (the CO validated the documents when it wrote
//! them, and a newer CO may write fields this build does not know). A file
//! that cannot be routed fails the whole rebuild, and the previous views stay
//! in service: leaving a deployment out of a manifest would tell its device
//! to remove it.
//!
//! `manifestVersion` is per device and grows whenever what the device is
//! served changes (its deployments, their digests, or the bundle bytes). The
//! new number is at least one more than the stored one and at least the
//! site history's first-parent depth plus one, so a server that lost its
//! database never hands out a number below one it served before. Numbers are
//! stored before a view using them is served: `versions.rs` is where (the
//! only SQL of the views), and `cache.rs` the one cache of a site's served
//! views that the CO and the LO both use.
//!
//! A server that is its nodes' OCI registry (the LO) serves each
//! package-local artifact as a standard reference into itself,
//! `oci://<registry host>/<app>/<component>` tagged with the component's
//! `revision` (`edge_model::artifact::name_in_registry`; the registry's
//! grammar decides what is a name and a tag), so the served bytes, and
//! their digest, differ from the Git file's. Each served document keeps the
//! digest of the file it came from ([`Doc::source`]); that is what `served`
//! remembers and what a report is tied to, so the CO compares it with the
//! digest of the document it wrote.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::body::Bytes;
use edge_api::routes;
use edge_model::manifest::{BundleRef, DeploymentRef, DesiredStateManifest};
use edge_model::{DeploymentId, DeviceTarget, Digest, digest};
use rusqlite::Connection;

mod cache;
pub(crate) mod versions;

pub(crate) use cache::{RebuildError, ViewCache};
pub(crate) use versions::owner;

pub(crate) use edge_model::manifest::{
    BUNDLE_MEDIA_TYPE as BUNDLE_TYPE, MANIFEST_MEDIA_TYPE as MANIFEST_TYPE,
};

/// Most deployment files one site may hold.
pub(crate) const MAX_SITE_FILES: usize = 100_000;
/// Largest deployment file (the model's document limit).
pub(crate) const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// One deployment as served: its id, the device it is for
/// (`metadata.deviceId`), digest and exact bytes, and the digest of the
/// Git file it was made from (the same unless its artifacts were named in
/// a registry).
#[derive(Debug, Clone)]
pub(crate) struct Doc {
    pub(crate) id: String,
    pub(crate) target: String,
    pub(crate) digest: Digest,
    pub(crate) bytes: Bytes,
    pub(crate) source: Digest,
}

/// What one device is served.
#[derive(Debug)]
pub(crate) struct DeviceView {
    pub(crate) version: u64,
    /// What the version stands for (deployments, digests, bundle digest).
    key: String,
    pub(crate) manifest: Bytes,
    /// Quoted digest of `manifest`.
    pub(crate) etag: String,
    pub(crate) docs: Vec<Doc>,
    pub(crate) bundle: Option<(Digest, Bytes)>,
    /// The view this one replaced: its documents and bundle stay fetchable by
    /// digest for one more change, so a device downloading during a burst of
    /// changes is not sent 404s.
    previous: Option<Arc<DeviceView>>,
}

impl DeviceView {
    fn build(version: u64, prepared: Prepared, previous: Option<Arc<DeviceView>>) -> Self {
        let Prepared { docs, bundle, key } = prepared;
        let manifest = DesiredStateManifest {
            manifest_version: version,
            bundle: bundle.as_ref().map(|(d, b)| BundleRef {
                media_type: BUNDLE_TYPE.to_owned(),
                digest: d.clone(),
                size_bytes: Some(b.len() as u64),
                url: routes::fill_all(routes::MARGO_BUNDLE, &[d.as_str()]),
            }),
            deployments: docs
                .iter()
                .filter_map(|d| {
                    Some(DeploymentRef {
                        deployment_id: DeploymentId::new(&d.id).ok()?,
                        digest: d.digest.clone(),
                        size_bytes: Some(d.bytes.len() as u64),
                        url: routes::fill_all(
                            routes::MARGO_DEPLOYMENT,
                            &[&d.id, d.digest.as_str()],
                        ),
                    })
                })
                .collect(),
        };
        let manifest = Bytes::from(digest::canonical_json(&manifest));
        let etag = digest::etag(&digest::sha256(&manifest));
        Self {
            version,
            key,
            manifest,
            etag,
            docs,
            bundle,
            previous: previous.map(|p| Arc::new(p.without_previous())),
        }
    }

    fn without_previous(&self) -> Self {
        Self {
            version: self.version,
            key: self.key.clone(),
            manifest: self.manifest.clone(),
            etag: self.etag.clone(),
            docs: self.docs.clone(),
            bundle: self.bundle.clone(),
            previous: None,
        }
    }

    /// The deployment `id` at `digest`, from this view or the one before.
    pub(crate) fn doc(&self, id: &str, digest: &str) -> Option<&Doc> {
        let find = |v: &DeviceView| {
            v.docs
                .iter()
                .position(|d| d.id == id && d.digest.as_str() == digest)
        };
        match find(self) {
            Some(i) => self.docs.get(i),
            None => {
                let p = self.previous.as_deref()?;
                find(p).and_then(|i| p.docs.get(i))
            }
        }
    }

    /// The deployments served now and those of the view this one replaced
    /// (still fetchable for one more change, and so are their artifacts).
    pub(crate) fn docs_with_previous(&self) -> impl Iterator<Item = &Doc> {
        self.docs
            .iter()
            .chain(self.previous.iter().flat_map(|p| p.docs.iter()))
    }

    /// The bundle with `digest`, from this view or the one before.
    pub(crate) fn bundle(&self, digest: &str) -> Option<&(Digest, Bytes)> {
        self.bundle
            .as_ref()
            .filter(|(d, _)| d.as_str() == digest)
            .or_else(|| {
                self.previous
                    .as_deref()?
                    .bundle
                    .as_ref()
                    .filter(|(d, _)| d.as_str() == digest)
            })
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

/// A device's documents with their bundle, before a version is assigned.
#[derive(Debug)]
pub(crate) struct Prepared {
    docs: Vec<Doc>,
    bundle: Option<(Digest, Bytes)>,
    key: String,
}

impl Prepared {
    /// Bundle `docs` (sorted by id), reusing `previous`'s bundle when it
    /// holds exactly these documents.
    fn new(docs: Vec<Doc>, previous: Option<&DeviceView>) -> Self {
        let same_docs = previous.is_some_and(|p| {
            p.docs.len() == docs.len()
                && p.docs
                    .iter()
                    .zip(&docs)
                    .all(|(a, b)| a.id == b.id && a.digest == b.digest)
        });
        let bundle = if docs.is_empty() {
            None
        } else if let (true, Some(b)) = (same_docs, previous.and_then(|p| p.bundle.clone())) {
            Some(b)
        } else {
            let bytes = Bytes::from(bundle(&docs));
            Some((digest::sha256(&bytes), bytes))
        };
        let mut text = String::new();
        for d in &docs {
            text.push_str(&d.id);
            text.push(' ');
            text.push_str(d.digest.as_str());
            text.push('\n');
        }
        if let Some((d, _)) = &bundle {
            text.push_str(d.as_str());
        }
        Self {
            key: digest::sha256(text.as_bytes()).to_string(),
            docs,
            bundle,
        }
    }
}

/// A deployment file that cannot be routed to a device.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RouteError {
    #[error("`deployments/{name}` does not read")]
    Load {
        name: String,
        #[source]
        source: edge_model::load::LoadError,
    },
    #[error("`deployments/{name}` has no valid `metadata.annotations.id`")]
    NoId { name: String },
    #[error("`deployments/{name}` holds deployment `{id}`; its file must be `{id}.yaml`")]
    Misnamed { name: String, id: String },
    #[error("`deployments/{name}` has no valid `metadata.deviceId`")]
    NoDevice { name: String },
    #[error("`deployments/{name}` copies another deployment file")]
    Copy { name: String },
}

/// The device whose Margo client is served the deployments of `target`:
/// the first segment of a hierarchical device id (`gw-1` for `gw-1/cam-2`
/// and `gw-1/*`), the device itself otherwise.
pub(crate) fn client_of(target: &str) -> &str {
    target.split('/').next().unwrap_or(target)
}

/// Whether the client `client` speaks for `device`: it is that device, or
/// the gateway (the first segment) of a child behind it.
pub(crate) fn speaks_for(client: &str, device: &str) -> bool {
    device == client
        || device
            .strip_prefix(client)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// Route one deployment file (`<id>.yaml`): the client it is served to
/// ([`client_of`] its `metadata.deviceId`) and the document, its
/// package-local artifacts named in the registry at `registry` when given.
pub(crate) fn route_one(
    name: &str,
    bytes: Vec<u8>,
    registry: Option<&str>,
) -> Result<(String, Doc), RouteError> {
    let file = || name.to_owned();
    let (mut value, _) =
        edge_model::load::parse_value(&bytes).map_err(|source| RouteError::Load {
            name: file(),
            source,
        })?;
    let meta = &value["metadata"];
    let id = meta["annotations"]["id"]
        .as_str()
        .filter(|id| DeploymentId::is_valid(id))
        .ok_or_else(|| RouteError::NoId { name: file() })?;
    if name != format!("{id}.yaml") {
        return Err(RouteError::Misnamed {
            name: file(),
            id: id.to_owned(),
        });
    }
    let device = meta["deviceId"]
        .as_str()
        .filter(|d| DeviceTarget::is_valid(d))
        .ok_or_else(|| RouteError::NoDevice { name: file() })?;
    let (client, id, target) = (
        client_of(device).to_owned(),
        id.to_owned(),
        device.to_owned(),
    );
    let source = digest::sha256(&bytes);
    let served = registry
        .filter(|host| {
            edge_model::artifact::name_in_registry(
                &mut value,
                host,
                crate::south::registry::grammar::name_ok,
                crate::south::registry::grammar::tag_ok,
            ) > 0
        })
        .and_then(|_| edge_model::load::value_to_yaml(&value))
        .map_or(bytes, String::into_bytes);
    Ok((
        client,
        Doc {
            id,
            target,
            digest: digest::sha256(&served),
            bytes: Bytes::from(served),
            source,
        },
    ))
}

/// Every device's view of one commit of a site.
#[derive(Debug, Default)]
pub(crate) struct SiteViews {
    /// The commit the views were built from.
    pub(crate) head: Option<String>,
    pub(crate) devices: HashMap<String, Arc<DeviceView>>,
}

/// Views of a site at `head`, prepared (routed, bundled) without touching
/// the database; [`Staged::commit`] assigns the versions.
pub(crate) struct Staged {
    head: Option<String>,
    floor: u64,
    devices: BTreeMap<String, Prepared>,
}

/// Deployment files already routed, by Git blob id: a rebuild reads and
/// parses only the files whose blob is new (a change costs what it changes,
/// not what the site holds). The cache follows the last commit staged.
#[derive(Debug, Default)]
pub(crate) struct RouteCache {
    routed: HashMap<String, (String, Doc)>,
    /// The registry host package-local artifacts are named in, if any.
    registry: Option<String>,
}

impl RouteCache {
    /// Name package-local artifacts in the registry at `host`.
    pub(crate) fn naming_registry(host: Option<String>) -> Self {
        Self {
            routed: HashMap::new(),
            registry: host,
        }
    }

    /// Read the deployment files of `head` in `repo`, route them, and stage
    /// the site's views (bundling without any lock). `head` is `None` for a
    /// site without commits.
    pub(crate) fn stage(
        &mut self,
        repo: &edge_workspace::git::Mirror,
        head: Option<String>,
        previous: &SiteViews,
    ) -> anyhow::Result<Staged> {
        let Some(h) = head.as_deref() else {
            self.routed.clear();
            return Ok(stage_routed(None, 0, BTreeMap::new(), previous));
        };
        let files = repo.files_at_except(
            h,
            "deployments",
            ".yaml",
            MAX_SITE_FILES,
            MAX_FILE_BYTES,
            &|blob| self.routed.contains_key(blob),
        )?;
        let mut routed: BTreeMap<String, Vec<Doc>> = BTreeMap::new();
        let mut next = HashMap::with_capacity(files.len());
        for f in files {
            let (device, doc) = match (f.bytes, self.routed.get(&f.blob)) {
                (Some(bytes), _) => route_one(&f.name, bytes, self.registry.as_deref()),
                (None, Some((device, doc))) if f.name == format!("{}.yaml", doc.id) => {
                    Ok((device.clone(), doc.clone()))
                }
                // The same content under another name.
                (None, _) => Err(RouteError::Copy {
                    name: f.name.clone(),
                }),
            }
            .map_err(|e| {
                anyhow::Error::new(e).context(format!("the desired state at {h} cannot be served"))
            })?;
            next.insert(f.blob, (device.clone(), doc.clone()));
            routed.entry(device).or_default().push(doc);
        }
        self.routed = next;
        Ok(stage_routed(head.clone(), repo.depth(h)?, routed, previous))
    }
}

/// Stage the views of files already routed to their devices, at a commit
/// whose first-parent history is `depth` commits long. Needs no lock.
pub(crate) fn stage_routed(
    head: Option<String>,
    depth: u64,
    routed: BTreeMap<String, Vec<Doc>>,
    previous: &SiteViews,
) -> Staged {
    let devices = routed
        .into_iter()
        .map(|(device, mut docs)| {
            docs.sort_by(|a, b| a.id.cmp(&b.id));
            let prepared = Prepared::new(docs, previous.devices.get(&device).map(AsRef::as_ref));
            (device, prepared)
        })
        .collect();
    Staged {
        head,
        floor: depth + 1,
        devices,
    }
}

impl Staged {
    /// Assign and store versions (one transaction) and build the views.
    /// Devices known from before that have nothing now get an empty manifest.
    pub(crate) fn commit(
        self,
        c: &mut Connection,
        scope: &str,
        previous: &SiteViews,
    ) -> rusqlite::Result<SiteViews> {
        let Staged {
            head,
            floor,
            mut devices,
        } = self;
        let tx = c.transaction()?;
        for d in versions::devices(&tx, scope)? {
            devices
                .entry(d)
                .or_insert_with(|| Prepared::new(Vec::new(), None));
        }
        let mut out = HashMap::new();
        for (device, prepared) in devices {
            let ids = prepared
                .docs
                .iter()
                .map(|d| (d.id.as_str(), d.source.as_str(), d.target.as_str()));
            let version = versions::assign(&tx, scope, &device, &prepared.key, floor, ids)?;
            let old = previous.devices.get(&device);
            let view = match old {
                Some(o) if o.version == version && o.key == prepared.key => o.clone(),
                _ => Arc::new(DeviceView::build(version, prepared, old.cloned())),
            };
            out.insert(device, view);
        }
        tx.commit()?;
        Ok(SiteViews { head, devices: out })
    }
}

/// The view of a device the site has never given anything (version stored).
/// A view of nothing at `version`, for tests of the handlers.
#[cfg(test)]
pub(crate) fn test_view(version: u64) -> DeviceView {
    DeviceView::build(version, Prepared::new(Vec::new(), None), None)
}

pub(crate) fn empty_view(
    c: &Connection,
    scope: &str,
    device: &str,
) -> rusqlite::Result<DeviceView> {
    let prepared = Prepared::new(Vec::new(), None);
    let version = versions::assign(c, scope, device, &prepared.key, 1, [])?;
    Ok(DeviceView::build(version, prepared, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Route the deployment files of one commit (`<id>.yaml`, as (name, bytes))
    /// to their devices. Any file that cannot be routed is an error naming it.
    fn route(files: Vec<(String, Vec<u8>)>) -> Result<BTreeMap<String, Vec<Doc>>, RouteError> {
        let mut out: BTreeMap<String, Vec<Doc>> = BTreeMap::new();
        for (name, bytes) in files {
            let (device, doc) = route_one(&name, bytes, None)?;
            out.entry(device).or_default().push(doc);
        }
        Ok(out)
    }

    /// Route and stage `files` (what `RouteCache::stage` does from a repository).
    fn stage(
        head: Option<String>,
        depth: u64,
        files: Vec<(String, Vec<u8>)>,
        previous: &SiteViews,
    ) -> Result<Staged, RouteError> {
        Ok(stage_routed(head, depth, route(files)?, previous))
    }

    fn doc(id: &str, body: &str) -> Doc {
        Doc {
            id: id.to_owned(),
            target: "d".to_owned(),
            digest: digest::sha256(body.as_bytes()),
            bytes: Bytes::from(body.to_owned()),
            source: digest::sha256(body.as_bytes()),
        }
    }

    fn view(version: u64, docs: Vec<Doc>) -> DeviceView {
        DeviceView::build(version, Prepared::new(docs, None), None)
    }

    #[test]
    fn an_empty_view_has_a_null_bundle_and_the_same_bytes_give_the_same_bundle() {
        let empty = view(1, Vec::new());
        let m: serde_json::Value = serde_json::from_slice(&empty.manifest).unwrap();
        assert!(m["bundle"].is_null() && m["deployments"].as_array().unwrap().is_empty());
        assert_eq!(m["manifestVersion"], 1);
        let a = view(2, vec![doc("a", "x: 1\n")]);
        let b = view(2, vec![doc("a", "x: 1\n")]);
        assert_eq!(a.bundle.as_ref().unwrap().1, b.bundle.as_ref().unwrap().1);
        assert_eq!(a.etag, b.etag);
        assert_eq!(a.etag, format!("\"{}\"", digest::sha256(&a.manifest)));
    }

    #[test]
    fn the_bundle_holds_exactly_the_listed_files() {
        let v = view(3, vec![doc("a", "x: 1\n"), doc("b", "y: 2\n")]);
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
    fn the_replaced_view_stays_fetchable_by_digest_for_one_change() {
        let one = Arc::new(view(1, vec![doc("a", "1")]));
        let two = Arc::new(DeviceView::build(
            2,
            Prepared::new(vec![doc("a", "2")], None),
            Some(one.clone()),
        ));
        let three = DeviceView::build(
            3,
            Prepared::new(vec![doc("a", "3")], None),
            Some(two.clone()),
        );
        let d = |s: &str| digest::sha256(s.as_bytes()).to_string();
        assert!(three.doc("a", &d("3")).is_some() && three.doc("a", &d("2")).is_some());
        assert!(
            three.doc("a", &d("1")).is_none(),
            "only one generation back"
        );
        let old_bundle = two.bundle.as_ref().unwrap().0.to_string();
        assert!(three.bundle(&old_bundle).is_some());
        assert!(
            three
                .bundle(one.bundle.as_ref().unwrap().0.as_ref())
                .is_none()
        );
    }

    fn open(path: &std::path::Path) -> Connection {
        let c = Connection::open(path).unwrap();
        c.execute_batch(versions::SCHEMA).unwrap();
        c
    }

    fn yaml(id: &str, device: &str) -> (String, Vec<u8>) {
        (
            format!("{id}.yaml"),
            format!("apiVersion: margo.org/v1-alpha1\nkind: ApplicationDeployment\nmetadata:\n  annotations:\n    id: {id}\n  deviceId: {device}\n  future: field\n").into_bytes(),
        )
    }

    const A: &str = "0b0e5f0c-4a3e-4c5e-9d7e-5a1f2b3c4d5e";
    const B: &str = "1b0e5f0c-4a3e-4c5e-9d7e-5a1f2b3c4d5e";

    #[test]
    fn versions_grow_with_content_never_below_the_history_depth_and_survive_a_lost_database() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = open(&dir.path().join("v.db"));
        let none = SiteViews::default();
        assert_eq!(empty_view(&c, "s", "d").unwrap().version, 1);
        let v1 = stage(Some("h1".into()), 1, vec![yaml(A, "d")], &none)
            .unwrap()
            .commit(&mut c, "s", &none)
            .unwrap();
        assert_eq!(v1.devices["d"].version, 2);
        // Unchanged content at a later commit: same version, same view.
        let v2 = stage(Some("h2".into()), 5, vec![yaml(A, "d")], &v1)
            .unwrap()
            .commit(&mut c, "s", &v1)
            .unwrap();
        assert!(Arc::ptr_eq(&v1.devices["d"], &v2.devices["d"]));
        // Changed content: at least depth + 1.
        let v3 = stage(Some("h3".into()), 9, vec![yaml(A, "d"), yaml(B, "d")], &v2)
            .unwrap()
            .commit(&mut c, "s", &v2)
            .unwrap();
        assert_eq!(v3.devices["d"].version, 10);
        // Everything removed: the device still gets the next, empty manifest.
        let v4 = stage(Some("h4".into()), 10, vec![], &v3)
            .unwrap()
            .commit(&mut c, "s", &v3)
            .unwrap();
        assert_eq!(v4.devices["d"].version, 11);
        assert!(v4.devices["d"].docs.is_empty());
        assert_eq!(owner(&c, "s", B).unwrap().as_deref(), Some("d"));
        // The database is lost: the depth floor keeps the numbers from going back.
        drop(c);
        let mut fresh = open(&dir.path().join("new.db"));
        let v5 = stage(Some("h5".into()), 11, vec![yaml(A, "d")], &none)
            .unwrap()
            .commit(&mut fresh, "s", &none)
            .unwrap();
        assert!(v5.devices["d"].version >= 12);
    }

    #[test]
    fn a_childs_deployments_are_served_to_its_gateway_and_owned_by_the_child() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = open(&dir.path().join("v.db"));
        let none = SiteViews::default();
        let v = stage(
            Some("h1".into()),
            1,
            vec![yaml(A, "gw-1/cam-2"), yaml(B, "gw-1")],
            &none,
        )
        .unwrap()
        .commit(&mut c, "s", &none)
        .unwrap();
        assert_eq!(v.devices.keys().collect::<Vec<_>>(), ["gw-1"]);
        assert_eq!(v.devices["gw-1"].docs.len(), 2);
        assert_eq!(owner(&c, "s", A).unwrap().as_deref(), Some("gw-1/cam-2"));
        assert_eq!(owner(&c, "s", B).unwrap().as_deref(), Some("gw-1"));
        assert!(speaks_for("gw-1", "gw-1") && speaks_for("gw-1", "gw-1/cam-2"));
        assert!(!speaks_for("gw-1", "gw-10/cam-2") && !speaks_for("gw-1/cam-2", "gw-1"));
        assert!(!speaks_for("gw-1", "edge-1"));
    }

    #[test]
    fn package_local_artifacts_are_served_as_references_into_the_registry_and_reports_tie_to_the_git_file()
     {
        let artifact = digest::sha256(b"module");
        let file = format!(
            "apiVersion: margo.org/v1-alpha1\nkind: ApplicationDeployment\nmetadata:\n  name: hello\n  namespace: default\n  annotations:\n    id: {A}\n    applicationId: hello-wasm\n  deviceId: d\nspec:\n  deploymentProfile:\n    type: wasm\n    components:\n    - name: hello\n      properties:\n        repository: ./components/hello.wat\n        revision: 1.0.0\n      x-edgectl-extensions:\n        artifact: {{digest: '{artifact}', size: 6, mediaType: application/vnd.edgectl.file.v1}}\n"
        );
        let git = digest::sha256(file.as_bytes());
        let name = format!("{A}.yaml");
        let (_, plain) = route_one(&name, file.clone().into_bytes(), None).unwrap();
        assert_eq!((&plain.digest, &plain.source), (&git, &git));
        assert_eq!(plain.bytes.as_ref(), file.as_bytes(), "served as written");

        let (device, served) =
            route_one(&name, file.clone().into_bytes(), Some("lo.example:7443")).unwrap();
        assert_eq!(device, "d");
        assert_eq!(served.source, git);
        assert_eq!(served.digest, digest::sha256(&served.bytes));
        assert_ne!(served.digest, git);
        let d = <edge_model::ApplicationDeployment as edge_model::MargoDocument>::from_slice(
            &served.bytes,
        )
        .unwrap()
        .document;
        let c = &d.spec.deployment_profile.components[0];
        assert_eq!(
            c.properties.repository.as_deref(),
            Some("oci://lo.example:7443/hello-wasm/hello")
        );
        assert_eq!(c.properties.revision.as_deref(), Some("1.0.0"));
        assert_eq!(c.artifact().unwrap().digest, artifact);

        // The version follows the served bytes; `served` keeps the Git file's digest.
        let dir = tempfile::tempdir().unwrap();
        let mut db = open(&dir.path().join("v.db"));
        let none = SiteViews::default();
        let mut routed = BTreeMap::new();
        routed.insert(device, vec![served.clone()]);
        let views = stage_routed(Some("h1".into()), 1, routed, &none)
            .commit(&mut db, "s", &none)
            .unwrap();
        let view = &views.devices["d"];
        assert!(view.doc(A, served.digest.as_str()).is_some());
        assert_eq!(
            versions::reported_digest(&db, "s", A, Some(view.version))
                .unwrap()
                .as_deref(),
            Some(git.as_str())
        );
    }

    #[test]
    fn a_file_that_cannot_be_routed_fails_the_whole_rebuild() {
        let none = SiteViews::default();
        let (_, good) = yaml(A, "d");
        for (files, want) in [
            (
                vec![(format!("{B}.yaml"), good.clone())],
                "its file must be",
            ),
            (
                vec![(format!("{A}.yaml"), b"metadata: {deviceId: d}".to_vec())],
                "metadata.annotations.id",
            ),
            (
                vec![(
                    format!("{A}.yaml"),
                    format!("metadata: {{annotations: {{id: {A}}}}}").into_bytes(),
                )],
                "metadata.deviceId",
            ),
            (
                vec![(format!("{A}.yaml"), b"\x00\x01".to_vec())],
                "does not read",
            ),
        ] {
            let e = stage(None, 0, files, &none).err().unwrap().to_string();
            assert!(e.contains(want), "{e}");
        }
    }
}
