//! `edgectl co apply` and `co diff`: the fleet's desired deployments given
//! as a list of entries (app, version, site, devices or selector, name,
//! values), and the changes that make the deployments match — creates and
//! updates in place, and with `prune` removals of deployments an earlier
//! apply made that no entry names any more. Every entry is checked before
//! anything is written, and every problem of every entry is returned with
//! the file and field it came from; then each site's changes are one commit
//! (`change::commit_site`), none when nothing differs, so applying the same
//! entries twice changes nothing.

use std::collections::{BTreeMap, HashMap, HashSet};

use edge_api::types::{ApplyEntry, ApplyRequest, DeployRequest, DeploymentSummary};
use edge_model::artifact::ArtifactRef;
use edge_model::{DeploymentId, DeviceTarget, render};

use super::change::{self, Draft, MANAGED_LABEL, SiteChange};
use super::deployments::{Chosen, choose, place};
use crate::co::db::deployments::{self as db, DeploymentRow};
use crate::co::store::Store;
use crate::error::ApiError;

/// Most entries one apply takes.
pub(crate) const MAX_ENTRIES: usize = 10_000;
/// Largest apply request body.
pub(crate) const MAX_APPLY_BYTES: usize = 8 * 1024 * 1024;

/// A deployment's place: (site, device, app, name).
type Place = (String, String, String, String);

/// Apply `req`; one summary per deployment touched or named.
pub(crate) fn apply(
    store: &Store,
    req: &ApplyRequest,
    by: &str,
) -> Result<Vec<DeploymentSummary>, ApiError> {
    if req.entries.len() > MAX_ENTRIES {
        return Err(ApiError::bad_request(format!(
            "{} entries; one apply takes at most {MAX_ENTRIES}",
            req.entries.len()
        )));
    }
    let _w = store.write_lock();
    let mut problems: Vec<(String, String)> = Vec::new();
    let mut chosen: HashMap<(String, Option<String>, Option<String>), Chosen> = HashMap::new();
    let mut stored: HashMap<(String, String, usize), BTreeMap<String, ArtifactRef>> =
        HashMap::new();
    let mut named: HashMap<Place, String> = HashMap::new();
    let mut by_site: BTreeMap<String, SiteChange> = BTreeMap::new();
    for entry in &req.entries {
        let at = |field: &str| format!("{}: {field}", entry.source);
        let key = (
            entry.app.clone(),
            entry.version.clone(),
            entry.deploy_type.clone(),
        );
        if !chosen.contains_key(&key) {
            match choose(
                store,
                &entry.app,
                entry.version.as_deref(),
                entry.deploy_type.as_deref(),
            ) {
                Ok(c) => {
                    chosen.insert(key.clone(), c);
                }
                Err(e) => {
                    problems.push((at("app"), e.detail()));
                    continue;
                }
            }
        }
        let Some(c) = chosen.get(&key) else { continue };
        let name = entry.name.clone().unwrap_or_default();
        if let Err(e) = super::deployments::check_name(&name) {
            problems.push((at("name"), e.detail()));
            continue;
        }
        let parameters = match render::parameters(&c.app, c.profile(), &entry.set) {
            Ok(p) => p,
            Err(issues) => {
                for i in issues {
                    // The model names a value by the `--set` it came from.
                    let name = i.path.strip_prefix("set.").unwrap_or(&i.path);
                    problems.push((at(&format!("parameters.{name}")), i.message));
                }
                continue;
            }
        };
        let devices = match devices_of(store, entry, c, req.allow_unreported) {
            Ok(d) => d,
            Err(e) => {
                problems.push((at("devices"), e.detail()));
                continue;
            }
        };
        let akey = (c.app_id.clone(), c.version.clone(), c.index());
        if !stored.contains_key(&akey) {
            let dir = store
                .workspace()
                .join("apps")
                .join(&c.app_id)
                .join(&c.version);
            stored.insert(
                akey.clone(),
                super::artifacts::store_local(store, &dir, c.profile())?,
            );
        }
        for device in devices {
            let place = (
                entry.site.clone(),
                device.clone(),
                c.app_id.clone(),
                name.clone(),
            );
            if let Some(other) = named.insert(place, entry.source.clone()) {
                problems.push((
                    at("devices"),
                    format!(
                        "`{}` on device `{device}` at site `{}` is also named by {other}; a device runs one deployment of an app per name",
                        c.app_id, entry.site
                    ),
                ));
                continue;
            }
            let previous = db::at_place(&store.db(), &entry.site, &device, &c.app_id, &name)?;
            let id = match &previous {
                Some(p) => {
                    DeploymentId::new(p.id.clone()).map_err(|e| ApiError::internal(&e.into()))?
                }
                None => change::new_id()?,
            };
            let target = DeviceTarget::new(device).map_err(|e| ApiError::internal(&e.into()))?;
            let mut doc = render::deployment(
                &c.app,
                c.profile(),
                parameters.clone(),
                id,
                target,
                &entry.site,
            );
            if let Some(p) = &previous
                && let Some(installed) = change::installed_parameters(store, &entry.site, &p.id)
            {
                for i in render::immutable_changes(&c.app, &installed, &doc.spec.parameters) {
                    let name = i.path.strip_prefix("set.").unwrap_or(&i.path);
                    problems.push((at(&format!("parameters.{name}")), i.message));
                }
            }
            if let Some(a) = stored.get(&akey) {
                super::artifacts::attach(&mut doc, a);
            }
            change::label(&mut doc, &name, &entry.set);
            doc.metadata
                .labels
                .insert(MANAGED_LABEL.to_owned(), "apply".to_owned());
            by_site
                .entry(entry.site.clone())
                .or_insert_with(|| SiteChange::from(Vec::new()))
                .drafts
                .push(Draft { doc, previous });
        }
    }
    if !problems.is_empty() {
        return Err(ApiError::problems(
            format!(
                "{} problem(s) in the desired deployments; nothing was changed",
                problems.len()
            ),
            problems,
        ));
    }
    if req.prune {
        for row in unnamed_managed(store, &named)? {
            by_site
                .entry(row.site.clone())
                .or_insert_with(|| SiteChange::from(Vec::new()))
                .removals
                .push(row);
        }
    }
    let parts = by_site
        .into_iter()
        .map(|(site, change)| {
            let head = format!(
                "apply {} desired deployment(s) at site {site}",
                change.drafts.len()
            );
            super::rollout::Part { site, change, head }
        })
        .collect();
    super::rollout::commit(store, parts, by, req.dry_run, req.rollout.as_ref())
}

/// The devices an entry names, or picks by selector or fit.
fn devices_of(
    store: &Store,
    entry: &ApplyEntry,
    c: &Chosen,
    allow_unreported: bool,
) -> Result<Vec<String>, ApiError> {
    let ask = |device: Option<String>| DeployRequest {
        app: c.app_id.clone(),
        version: Some(c.version.clone()),
        site: entry.site.clone(),
        device,
        selector: entry.selector.clone(),
        set: BTreeMap::new(),
        deploy_type: None,
        name: None,
        rollout: None,
        dry_run: true,
        allow_unreported,
    };
    if entry.devices.is_empty() {
        return Ok(place(store, &ask(None), c.profile())?
            .into_iter()
            .map(|d| d.id)
            .collect());
    }
    let mut out = Vec::new();
    for d in &entry.devices {
        out.extend(
            place(store, &ask(Some(d.clone())), c.profile())?
                .into_iter()
                .map(|d| d.id),
        );
    }
    Ok(out)
}

/// Deployments an earlier apply made whose place no entry names now.
fn unnamed_managed(
    store: &Store,
    named: &HashMap<Place, String>,
) -> Result<Vec<DeploymentRow>, ApiError> {
    let places: HashSet<&Place> = named.keys().collect();
    let mut out = Vec::new();
    for row in db::deployments(&store.db(), None)? {
        let place = (
            row.site.clone(),
            row.device.clone(),
            row.app_id.clone(),
            row.name.clone(),
        );
        if places.contains(&place) {
            continue;
        }
        let path = store
            .site_repo(&row.site)
            .join("deployments")
            .join(format!("{}.yaml", row.id));
        let managed = std::fs::read(&path)
            .ok()
            .and_then(|b| {
                use edge_model::MargoDocument as _;
                edge_model::ApplicationDeployment::from_slice(&b).ok()
            })
            .is_some_and(|d| {
                d.document
                    .metadata
                    .labels
                    .get(MANAGED_LABEL)
                    .map(String::as_str)
                    == Some("apply")
            });
        if managed {
            out.push(row);
        }
    }
    Ok(out)
}
