//! What `edgectl co export` reads to write a site onto a USB stick: the list
//! of what the stick must hold (the head commit and every artifact the
//! deployments at it name), the site repository's objects the stick lacks
//! (a tar of `<kind>/<id>` entries; the receiver checks each against its
//! id), and the artifacts themselves, only those the site's deployments name.
//!
//! A WebAssembly module or binary that comes from a registry (`oci://`, a
//! `wasm` or `process` component) is pulled by the CO when the export is
//! planned (one layer, bounded, digest verified, into the CO's store and
//! pinned there) and carried like any other artifact, with the reference it
//! answers for; a registry that cannot be reached then fails the export,
//! naming the reference. Container images (of `container` components and
//! those a package-local compose archive names) are pulled and carried the
//! same way, each blob on its own (`images.rs`); `?skipImages=true` leaves
//! those that cannot be pulled out instead, listed. Charts and compose
//! components from a registry are listed, not carried: the site needs that
//! registry or a mirror of it.
//!
//! The plan of a stick is the stick's statement (`edge_workspace::stick::
//! signed`): the CO adds the site's revoked and issued device certificates
//! and signs it with its CA key, so the LO takes in only what the CO wrote.
//!
//! A blob download checks the digest against what the site's last plan at
//! the same head named (kept in memory per site), planning again only when
//! the head moved or the digest is not on it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use edge_api::types::{ExportArtifact, SiteExport};
use edge_model::profile::Component;
use edge_model::profile::oci_reference;
use edge_model::{ApplicationDeployment, Digest, MargoDocument as _, ProfileType};
use edge_workspace::git::{self, Mirror};
use edge_workspace::stick;

use self::pull::{Fetch, pull};
use crate::co::db::identities;
use crate::co::store::Store;
use crate::error::ApiError;

mod images;
mod pull;

/// Most deployment files read for one export.
const MAX_DEPLOYMENTS: usize = 100_000;

fn internal(e: impl Into<anyhow::Error>) -> ApiError {
    ApiError::internal(&e.into())
}

/// The artifact digests of each site's last plan, by its repository (one
/// entry per site of a store), with the head it was made at: a blob
/// download takes it while the head is the same and the digest is on it,
/// instead of planning again (which reads every deployment and every
/// compose archive) for each blob.
type Named = BTreeMap<std::path::PathBuf, (Option<String>, Arc<BTreeSet<String>>)>;
static NAMED: Mutex<Named> = Mutex::new(BTreeMap::new());

/// Keep what `plan` of site `site` names for later blob downloads.
fn remember(store: &Store, site: &str, plan: &SiteExport) -> Arc<BTreeSet<String>> {
    let digests: Arc<BTreeSet<String>> =
        Arc::new(plan.artifacts.iter().map(|a| a.digest.clone()).collect());
    NAMED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(store.site_repo(site), (plan.head.clone(), digests.clone()));
    digests
}

/// Whether `digest` is an artifact of site `site` at its head: from the
/// last plan when it names it at that head, else planned again.
fn names(store: &Store, site: &str, digest: &str) -> Result<bool, ApiError> {
    let head = head_of(store, site)?;
    let known = NAMED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get(&store.site_repo(site))
        .filter(|(at, _)| *at == head)
        .is_some_and(|(_, digests)| digests.contains(digest));
    if known {
        return Ok(true);
    }
    let planned = plan(store, site, Fetch::Pinned, true)?;
    Ok(remember(store, site, &planned).contains(digest))
}

/// The `oci://` reference of a module or binary component from a registry.
fn registry_reference(kind: ProfileType, c: &Component) -> Option<String> {
    if !matches!(kind, ProfileType::Wasm | ProfileType::Process) {
        return None;
    }
    let p = &c.properties;
    oci_reference(p.repository.as_deref()?, p.revision.as_deref()).map(|r| format!("oci://{r}"))
}

/// The head commit of site `site` (`None` before its first deploy); 404
/// for no such site.
fn head_of(store: &Store, site: &str) -> Result<Option<String>, ApiError> {
    crate::co::ops::suggest::known_site(&store.db(), site, "")?;
    let git_dir = store.site_repo(site).join(".git");
    if git_dir.exists() {
        git::tip_of(&git_dir, "refs/heads/main").map_err(internal)
    } else {
        Ok(None)
    }
}

/// The site's head and the artifacts its deployments name there.
fn plan(store: &Store, site: &str, how: Fetch, skip_images: bool) -> Result<SiteExport, ApiError> {
    let head = head_of(store, site)?;
    let git_dir = store.site_repo(site).join(".git");
    let mut artifacts = BTreeSet::new();
    let mut elsewhere = BTreeSet::new();
    // Each reference resolved once, however many deployments name it.
    let mut pulled = BTreeMap::new();
    let mut images = images::Resolved::new();
    if let Some(head) = &head {
        let files = Mirror::at(&git_dir)
            .files_at(head, "deployments", ".yaml", MAX_DEPLOYMENTS, 1 << 20)
            .map_err(internal)?;
        for (_, bytes) in files {
            let Ok(parsed) = ApplicationDeployment::from_slice(&bytes) else {
                continue;
            };
            let d = parsed.document;
            let kind = d.spec.deployment_profile.profile_type;
            let app = d.metadata.annotations.application_id.to_string();
            let mut gather = images::Gather {
                store,
                how,
                skip: skip_images,
                resolved: std::mem::take(&mut images),
                artifacts: &mut artifacts,
                elsewhere: &mut elsewhere,
            };
            for c in &d.spec.deployment_profile.components {
                let image = (kind == ProfileType::Container)
                    .then(|| {
                        let p = &c.properties;
                        oci_reference(p.repository.as_deref()?, p.revision.as_deref())
                    })
                    .flatten();
                if let Some(image) = image {
                    gather.image(&format!("oci://{image}"), &app, c.name.as_str())?;
                    continue;
                }
                let artifact = c.artifact();
                if let Some(a) = artifact
                    .as_ref()
                    .filter(|a| kind == ProfileType::Compose && a.is_compose())
                {
                    gather.compose(a.digest.as_str(), &app, c.name.as_str())?;
                }
                let artifacts = &mut *gather.artifacts;
                let elsewhere = &mut *gather.elsewhere;
                let Some(a) = artifact else {
                    if let Some(reference) = registry_reference(kind, c) {
                        if !pulled.contains_key(&reference) {
                            let got = pull(store, &reference, how).map_err(|e| {
                                ApiError::upstream(format!(
                                    "cannot put `{reference}` (component `{}` of app `{app}`) on the stick, so nothing was exported: {e}",
                                    c.name
                                ))
                            })?;
                            pulled.insert(reference.clone(), got);
                        }
                        if let Some(Some((digest, size, media_type))) =
                            pulled.get(&reference).cloned()
                        {
                            artifacts.insert(ExportArtifact {
                                digest: digest.to_string(),
                                size,
                                media_type,
                                app: app.clone(),
                                component: c.name.to_string(),
                                reference: Some(reference),
                            });
                        }
                    } else if let Some(r) = c
                        .properties
                        .repository
                        .as_deref()
                        .filter(|r| r.starts_with("oci://") || kind == ProfileType::Container)
                    {
                        elsewhere.insert(format!(
                            "{} (component `{}` of app `{app}`)",
                            oci_reference(r, c.properties.revision.as_deref())
                                .unwrap_or_else(|| r.to_owned()),
                            c.name,
                        ));
                    }
                    continue;
                };
                let media_type = if a.media_type.is_empty() {
                    "application/octet-stream".to_owned()
                } else {
                    a.media_type
                };
                artifacts.insert(ExportArtifact {
                    digest: a.digest.to_string(),
                    size: a.size,
                    media_type,
                    app: app.clone(),
                    component: c.name.to_string(),
                    reference: None,
                });
            }
            images = gather.resolved;
        }
    }
    Ok(SiteExport {
        site: site.to_owned(),
        head,
        artifacts: artifacts.into_iter().collect(),
        in_registries: elsewhere.into_iter().collect(),
        at: crate::clock::format_unix(crate::clock::unix_now()),
        revoked: Vec::new(),
        issued: Vec::new(),
        signature: String::new(),
    })
}

/// What a USB stick of the site must hold, pulling what comes from
/// registries (`skip_images`: list the images that cannot be pulled
/// instead of failing), with the site's revoked and issued device
/// certificates, signed by the CA as the stick's statement.
pub(crate) fn plan_stick(
    store: &Store,
    site: &str,
    skip_images: bool,
) -> Result<SiteExport, ApiError> {
    let mut planned = plan(store, site, Fetch::Pull, skip_images)?;
    remember(store, site, &planned);
    {
        let conn = store.db();
        planned.revoked = identities::revoked_devices(&conn, site)?;
        planned.issued = identities::issued_devices(&conn, site)?;
    }
    if let Some(head) = &planned.head {
        let statement = stick::Statement {
            purpose: stick::signed::PURPOSE.to_owned(),
            format: stick::FORMAT,
            site: site.to_owned(),
            head: head.clone(),
            exported_at: planned.at.clone(),
            artifacts: planned
                .artifacts
                .iter()
                .map(|a| stick::StickArtifact {
                    digest: a.digest.clone(),
                    size: a.size,
                    media_type: a.media_type.clone(),
                    app: a.app.clone(),
                    component: a.component.clone(),
                    reference: a.reference.clone(),
                })
                .collect(),
            revoked: planned.revoked.clone(),
            issued: planned.issued.clone(),
        };
        let signature = store.ca().sign(&statement.bytes()).map_err(internal)?;
        planned.signature = stick::signed::to_hex(&signature);
    }
    Ok(planned)
}

/// The head of the site's repository and its objects a stick holding
/// `have` lacks, as a tar of `<kind>/<id>` entries.
pub(crate) fn git_objects(
    store: &Store,
    site: &str,
    have: Option<&str>,
) -> Result<(String, Vec<u8>), ApiError> {
    crate::co::ops::suggest::known_site(&store.db(), site, "")?;
    let git_dir = store.site_repo(site).join(".git");
    if !git_dir.exists() {
        return Err(ApiError::not_found(format!(
            "site `{site}` has no desired state yet; deploy something first"
        )));
    }
    let (head, objects) =
        git::objects_since(&git_dir, "refs/heads/main", have).map_err(internal)?;
    let Some(head) = head else {
        return Err(ApiError::not_found(format!(
            "site `{site}` has no desired state yet; deploy something first"
        )));
    };
    let mut tar = tar::Builder::new(Vec::new());
    for o in &objects {
        let mut h = tar::Header::new_gnu();
        h.set_size(o.data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, format!("{}/{}", o.kind, o.id), o.data.as_slice())
            .map_err(internal)?;
    }
    Ok((head, tar.into_inner().map_err(internal)?))
}

/// The bytes of artifact `digest`, when the site's deployments name it.
pub(crate) fn blob(store: &Store, site: &str, digest: &str) -> Result<Vec<u8>, ApiError> {
    let named = names(store, site, digest)?;
    let parsed = Digest::new(digest).ok();
    let Some(path) = parsed.filter(|_| named).and_then(|d| store.cas().get(&d)) else {
        return Err(ApiError::not_found(format!(
            "`{digest}` is not an artifact of site `{site}`"
        )));
    };
    std::fs::read(&path).map_err(internal)
}
