//! Deployment operations: `deploy` turns an app, a site and the user's choices into one
//! ApplicationDeployment per device, committed to the site's repository (the
//! desired state its Local Orchestrator will fetch); `undeploy` removes one in
//! a new commit; the site's history is its commit log.
//!
//! Everything is checked before anything is written: the app and version, the
//! profile, the parameter values against the app's schema (all problems
//! listed), and placement (explicit device, label selector, then against the
//! capabilities each device reported: the profile's deployment type among its
//! `supportedDeploymentTypes`, and the profile's `deviceConstraints`, naming
//! what a device fails and what it reported; a device that has not reported
//! is refused unless the request allows unreported devices). Writes to one
//! site are serialized by the store's write lock.

use std::collections::HashMap;
use std::fs;

use edge_api::types::{Commit, DeployRequest, DeploymentSummary};
use edge_model::app::{ApplicationDescription, DeploymentProfile};
use edge_model::capabilities::DeviceCapabilitiesManifest;
use edge_model::issue::Unfit;
use edge_model::{
    ApplicationDeployment, DeploymentId, DeviceTarget, MargoDocument as _, ProfileType, placement,
    render,
};
use edge_workspace::git::Repo;

use super::apps::{resolve, stored_description};
use super::change::{self, open_site_repo};
use super::suggest::{known_site, no_device, no_site};
use crate::co::db::apps::versions_of;
use crate::co::db::deployments::{self as db, DeploymentRow};
use crate::co::db::reports::states;
use crate::co::db::sites::{self, DeviceRow};
use crate::co::store::{Store, author};
use crate::error::ApiError;

pub(crate) fn summary(r: DeploymentRow) -> DeploymentSummary {
    DeploymentSummary {
        id: r.id,
        app: r.app_id,
        version: r.version,
        site: r.site,
        device: r.device,
        profile: r.profile,
        commit: r.commit_id,
        created_at: r.created_at,
        name: (!r.name.is_empty()).then_some(r.name),
        change: None,
        changes: Vec::new(),
        state: None,
        state_at: None,
        error: None,
        rollout: None,
        wave: None,
        stale: false,
    }
}

/// Deploy an app to devices of a site: one ApplicationDeployment per device, one commit.
pub(crate) fn deploy(
    store: &Store,
    req: &DeployRequest,
    by: &str,
) -> Result<Vec<DeploymentSummary>, ApiError> {
    let chosen = choose(
        store,
        &req.app,
        req.version.as_deref(),
        req.deploy_type.as_deref(),
    )?;
    let (app_id, version, app) = (&chosen.app_id, &chosen.version, &chosen.app);
    let profile = chosen.profile();
    let parameters = render::parameters(app, profile, &req.set).map_err(|issues| {
        ApiError::invalid(
            format!(
                "{} parameter problem(s); nothing was deployed",
                issues.len()
            ),
            &issues,
            "parameters",
        )
    })?;
    let targets = place(store, req, profile)?;
    let app_dir = store.workspace().join("apps").join(app_id).join(version);
    let artifacts = super::artifacts::store_local(store, &app_dir, profile)?;

    let name = req.name.clone().unwrap_or_default();
    check_name(&name)?;
    let _w = store.write_lock();
    // The version may have been removed while values were checked.
    if !versions_of(&store.db(), app_id)?
        .iter()
        .any(|r| &r.version == version)
    {
        return Err(ApiError::conflict(format!(
            "app `{app_id}` version `{version}` was removed meanwhile; nothing was deployed"
        )));
    }
    let mut drafts = Vec::with_capacity(targets.len());
    for device in &targets {
        // (site, device, app, name) is a deployment's place: deploying there
        // again updates the deployment in place, keeping its id.
        let previous = db::at_place(&store.db(), &req.site, &device.id, app_id, &name)?;
        let id = match &previous {
            Some(p) => {
                DeploymentId::new(p.id.clone()).map_err(|e| ApiError::internal(&e.into()))?
            }
            None => change::new_id()?,
        };
        let target =
            DeviceTarget::new(device.id.clone()).map_err(|e| ApiError::internal(&e.into()))?;
        let mut doc = render::deployment(app, profile, parameters.clone(), id, target, &req.site);
        if let Some(p) = &previous
            && let Some(installed) = change::installed_parameters(store, &req.site, &p.id)
        {
            let fixed = render::immutable_changes(app, &installed, &doc.spec.parameters);
            if !fixed.is_empty() {
                return Err(ApiError::invalid(
                    format!(
                        "deployment `{}` on `{}` would change a value fixed at install; nothing was deployed",
                        p.id, device.id
                    ),
                    &fixed,
                    "parameters",
                ));
            }
        }
        super::artifacts::attach(&mut doc, &artifacts);
        change::label(&mut doc, &name, &req.set);
        drafts.push(change::Draft { doc, previous });
    }
    let devices = targets
        .iter()
        .map(|d| d.id.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let head = format!(
        "deploy {app_id} {version} ({}) to {devices} at site {}",
        profile.profile_type, req.site
    );
    let part = super::rollout::Part {
        site: req.site.clone(),
        change: drafts.into(),
        head,
    };
    let out = super::rollout::commit(store, vec![part], by, req.dry_run, req.rollout.as_ref())?;
    tracing::info!(
        app = app_id,
        version,
        site = req.site,
        devices,
        dry_run = req.dry_run,
        "deploy"
    );
    Ok(out)
}

/// A deployment name: like an app id, lower-case letters, digits and dashes,
/// at most 63.
pub(crate) fn check_name(name: &str) -> Result<(), ApiError> {
    let ok = name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "`{name}` is not a deployment name: use at most 63 lower-case letters, digits and dashes"
        )))
    }
}

/// An app version and profile chosen for a deployment.
pub(crate) struct Chosen {
    pub(crate) app_id: String,
    pub(crate) version: String,
    pub(crate) app: ApplicationDescription,
    index: usize,
}

impl Chosen {
    /// The chosen profile's position in the app.
    pub(crate) fn index(&self) -> usize {
        self.index
    }

    /// The chosen profile.
    pub(crate) fn profile(&self) -> &DeploymentProfile {
        &self.app.deployment_profiles[self.index]
    }
}

/// The app `key` names (id or display name), at `version` (default: the
/// newest), with the profile of type `deploy_type` (default: its first).
pub(crate) fn choose(
    store: &Store,
    key: &str,
    version: Option<&str>,
    deploy_type: Option<&str>,
) -> Result<Chosen, ApiError> {
    let app_id = resolve(store, key)?;
    let versions = versions_of(&store.db(), &app_id)?;
    let version = match version {
        Some(v) => versions
            .iter()
            .find(|r| r.version == v)
            .map(|r| r.version.clone())
            .ok_or_else(|| {
                let known = versions
                    .iter()
                    .map(|r| r.version.as_str())
                    .collect::<Vec<_>>()
                    .join(", ");
                ApiError::not_found(format!(
                    "app `{app_id}` has no version `{v}` (it has {known})"
                ))
            })?,
        None => versions
            .last()
            .map(|r| r.version.clone())
            .ok_or_else(|| ApiError::not_found(format!("no app `{app_id}`")))?,
    };
    let app = stored_description(store, &app_id, &version)?;
    let index = match deploy_type {
        Some(t) => {
            let want = ProfileType::parse(t).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "`{t}` is not a deployment type; use helm, compose, wasm or process"
                ))
            })?;
            let types = || {
                app.deployment_profiles
                    .iter()
                    .map(|p| p.profile_type.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            app.deployment_profiles
                .iter()
                .position(|p| p.profile_type == want)
                .ok_or_else(|| {
                    ApiError::unprocessable(format!(
                        "app `{app_id}` has no `{want}` profile (it has {})",
                        types()
                    ))
                })?
        }
        None if app.deployment_profiles.is_empty() => {
            return Err(ApiError::unprocessable("the app has no deployment profile"));
        }
        None => 0,
    };
    Ok(Chosen {
        app_id,
        version,
        app,
        index,
    })
}

/// The devices a deployment goes to, or why none fits.
pub(crate) fn place(
    store: &Store,
    req: &DeployRequest,
    profile: &DeploymentProfile,
) -> Result<Vec<DeviceRow>, ApiError> {
    let conn = store.db();
    if sites::site(&conn, &req.site)?.is_none() {
        return Err(no_site(
            &conn,
            &req.site,
            "; `edgectl co list sites` lists them",
        ));
    }
    let mut candidates = sites::devices(&conn, Some(&req.site))?;
    if let Some(d) = &req.device {
        candidates.retain(|c| &c.id == d);
        if candidates.is_empty() {
            return Err(no_device(&conn, d, Some(&req.site), ""));
        }
    }
    drop(conn);
    if candidates.is_empty() {
        return Err(ApiError::unprocessable(format!(
            "no device fits: site `{}` has no devices; add one with `edgectl co add device ID --site {}`",
            req.site, req.site
        )));
    }
    if !req.selector.is_empty() {
        candidates.retain(|c| req.selector.iter().all(|(k, v)| c.labels.get(k) == Some(v)));
        if candidates.is_empty() {
            let sel = req
                .selector
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",");
            return Err(ApiError::unprocessable(format!(
                "no device fits: no device at site `{}` has the labels {sel}",
                req.site
            )));
        }
    }
    let committed = match profile
        .device_constraints
        .as_ref()
        .and_then(|c| c.capacity_requirements.as_ref())
    {
        Some(_) => {
            let app_id = resolve(store, &req.app).unwrap_or_else(|_| req.app.clone());
            committed(
                store,
                &req.site,
                &app_id,
                req.name.as_deref().unwrap_or_default(),
            )?
        }
        None => HashMap::new(),
    };
    judge(candidates, profile, req.allow_unreported, &committed)
}

/// The capacity the deployments placed at `site` already hold, by device:
/// the sum of their profiles' `capacityRequirements`. The deployment at
/// `(app_id, name)` on a device is left out: deploying there replaces it.
fn committed(
    store: &Store,
    site: &str,
    app_id: &str,
    name: &str,
) -> Result<HashMap<String, placement::Committed>, ApiError> {
    let rows = db::deployments(&store.db(), Some(site))?;
    let mut apps: HashMap<(String, String), Option<ApplicationDescription>> = HashMap::new();
    let mut out: HashMap<String, placement::Committed> = HashMap::new();
    for r in rows {
        if r.app_id == app_id && r.name == name {
            continue;
        }
        let app = apps
            .entry((r.app_id.clone(), r.version.clone()))
            .or_insert_with(|| stored_description(store, &r.app_id, &r.version).ok());
        let need = app.as_ref().and_then(|a| {
            a.deployment_profiles
                .iter()
                .find(|p| p.profile_type.as_str() == r.profile)?
                .device_constraints
                .as_ref()?
                .capacity_requirements
                .as_ref()
        });
        if let Some(need) = need {
            let short = r.id.get(..8).unwrap_or(&r.id);
            let who = format!("{short} ({} {})", r.app_id, r.version);
            out.entry(r.device).or_default().add(&who, need);
        }
    }
    Ok(out)
}

/// The candidates that can take a deployment of `profile`, by the
/// capabilities each reported: its deployment types, then the profile's
/// `deviceConstraints` (`placement::judge`). A device that cannot is left
/// out; none left is an error naming each device and why. A device that
/// has not reported yet is unknown: without `allow_unreported` the whole
/// placement is refused naming it (the operator decides: wait for it, name
/// other devices, or take it unchecked), with it the device is taken.
fn judge(
    mut candidates: Vec<DeviceRow>,
    profile: &DeploymentProfile,
    allow_unreported: bool,
    committed: &HashMap<String, placement::Committed>,
) -> Result<Vec<DeviceRow>, ApiError> {
    let nothing = placement::Committed::default();
    let kind = profile.profile_type;
    let constraints = profile.device_constraints.as_ref();
    let mut unreported = Vec::new();
    let mut reasons = Vec::new();
    candidates.retain(|c| {
        let verdict = match c
            .capabilities
            .as_deref()
            .map(|t| DeviceCapabilitiesManifest::from_slice(t.as_bytes()))
        {
            Some(Ok(caps)) => placement::judge_beside(
                kind,
                constraints,
                &caps.document,
                committed.get(&c.id).unwrap_or(&nothing),
            ),
            Some(Err(_)) => Err(Unfit("its stored capabilities do not read".to_owned())),
            None if allow_unreported => Ok(()),
            None => {
                unreported.push(format!("`{}`", c.id));
                return false;
            }
        };
        match verdict {
            Ok(()) => true,
            Err(why) => {
                reasons.push(format!("`{}`: {why}", c.id));
                false
            }
        }
    });
    if !unreported.is_empty() {
        let also = if constraints.is_some() {
            " or to meet the profile's deviceConstraints"
        } else {
            ""
        };
        let (who, them) = match unreported.as_slice() {
            [one] => (
                format!(
                    "device {one} has not reported its capabilities yet, so it is not known to run `{kind}` deployments{also}"
                ),
                "it",
            ),
            many => (
                format!(
                    "devices {} have not reported their capabilities yet, so they are not known to run `{kind}` deployments{also}",
                    many.join(", ")
                ),
                "them",
            ),
        };
        return Err(ApiError::unprocessable(format!(
            "{who}; deploy once reported (`edgectl co show device` says), leave {them} out with --device or --selector, or take {them} unchecked with --allow-unreported"
        )));
    }
    if candidates.is_empty() {
        return Err(ApiError::unprocessable(format!(
            "no device can take this `{kind}` deployment: {}",
            reasons.join("; ")
        )));
    }
    Ok(candidates)
}

/// Every deployment (of `site`, when given), with its last reported state.
pub(crate) fn list(store: &Store, site: Option<&str>) -> Result<Vec<DeploymentSummary>, ApiError> {
    let conn = store.db();
    let states = states(&conn)?;
    Ok(db::deployments(&conn, site)?
        .into_iter()
        .map(|r| {
            let digest = r.digest.clone();
            let mut s = summary(r);
            if let Some(st) = states.get(&s.id) {
                s.state = Some(st.state.clone());
                s.state_at = Some(st.at.clone());
                s.error.clone_from(&st.error);
                s.stale = !digest.is_empty() && st.digest.as_deref() != Some(digest.as_str());
            }
            s
        })
        .collect())
}

/// The deployment `id` names: its whole id or a unique prefix of it (at
/// least 4 characters), as `git` takes commits.
pub(crate) fn find(store: &Store, id: &str) -> Result<DeploymentRow, ApiError> {
    match db::lookup(&store.db(), id)? {
        db::Lookup::One(row) => Ok(*row),
        db::Lookup::None => Err(ApiError::not_found(format!(
            "no deployment `{id}`; `edgectl co list deployments` lists them"
        ))),
        db::Lookup::Many(ids) => Err(ApiError::conflict(format!(
            "`{id}` is the start of several deployments ({}); give more of the id",
            ids.join(", ")
        ))),
    }
}

/// Remove a deployment from its site's desired state (a new commit).
pub(crate) fn undeploy(store: &Store, id: &str, by: &str) -> Result<(), ApiError> {
    let _w = store.write_lock();
    let row = find(store, id)?;
    let repo_dir = store.site_repo(&row.site);
    let repo = open_site_repo(&repo_dir)?;
    let path = repo_dir
        .join("deployments")
        .join(format!("{}.yaml", row.id));
    let saved = fs::read(&path).ok();
    if saved.is_some() {
        fs::remove_file(&path).map_err(|e| ApiError::internal(&e.into()))?;
    }
    let message = format!(
        "undeploy {} {} from {} at site {}\n\nby: {by}\ndeployment: {}",
        row.app_id, row.version, row.device, row.site, row.id
    );
    if let Err(e) = repo.commit_all(&message, &author()) {
        if let Some(bytes) = saved {
            let _ = fs::write(&path, bytes);
        }
        return Err(ApiError::internal(&e.into()));
    }
    db::delete_deployment(&store.db(), &row.id)?;
    store.changed(&row.site);
    store.events().publish(
        "deployment.removed",
        &row.id,
        Some(&row.site),
        serde_json::json!({"app": row.app_id, "device": row.device}),
    );
    tracing::info!(deployment = row.id, site = row.site, "undeployed");
    Ok(())
}

/// The commits of a site's desired-state repository, newest first (at most
/// `limit`, default 50).
pub(crate) fn history(
    store: &Store,
    site: &str,
    limit: Option<usize>,
) -> Result<Vec<Commit>, ApiError> {
    known_site(&store.db(), site, "")?;
    let dir = store.site_repo(site);
    if !dir.join(".git").exists() {
        return Ok(Vec::new());
    }
    let repo = Repo::init_or_open(&dir).map_err(|e| ApiError::internal(&e.into()))?;
    let log = repo
        .log(limit.unwrap_or(50).min(1000))
        .map_err(|e| ApiError::internal(&e.into()))?;
    Ok(log
        .into_iter()
        .map(|c| Commit {
            id: c.id,
            message: c.message,
            author: c.author,
            time: crate::clock::format_unix(c.time),
        })
        .collect())
}

/// Make the index of `site`'s deployments equal to the files in its repository
/// work tree, in one transaction. Rows for deployments that are still there
/// keep their creation time, and their commit when `keep_commits` (start-up);
/// new rows get `commit`.
pub(crate) fn reindex_site(
    conn: &mut rusqlite::Connection,
    site: &str,
    dir: &std::path::Path,
    commit: &str,
    keep_commits: bool,
) -> rusqlite::Result<Vec<DeploymentRow>> {
    let tx = conn.transaction()?;
    let old: Vec<DeploymentRow> = db::deployments(&tx, Some(site))?;
    for row in &old {
        db::delete_deployment(&tx, &row.id)?;
    }
    let mut files: Vec<_> = fs::read_dir(dir.join("deployments"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    let mut out = Vec::new();
    for path in files {
        let Ok(bytes) = fs::read(&path) else { continue };
        let Ok(doc) = ApplicationDeployment::from_slice(&bytes) else {
            tracing::warn!(path = %path.display(), "a deployment in the site repository does not read; left out of the index");
            continue;
        };
        let d = doc.document;
        let id = d.id().to_string();
        let previous = old.iter().find(|r| r.id == id);
        let row = change::row_of(
            &d,
            &bytes,
            site,
            match previous {
                Some(p) if keep_commits => &p.commit_id,
                _ => commit,
            },
            previous.map_or_else(crate::clock::now, |r| r.created_at.clone()),
        );
        db::insert_deployment(&tx, &row)?;
        out.push(row);
    }
    tx.commit()?;
    Ok(out)
}
