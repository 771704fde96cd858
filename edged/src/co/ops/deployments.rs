//! Deployment operations: `deploy` turns an app, a site and the user's choices into one
//! ApplicationDeployment per device, committed to the site's repository (the
//! desired state its Local Orchestrator will fetch); `undeploy` removes one in
//! a new commit; the site's history is its commit log.
//!
//! Everything is checked before anything is written: the app and version, the
//! profile, the parameter values against the app's schema (all problems
//! listed), and placement (explicit device, label selector, and the profile's
//! `deviceConstraints` against reported capabilities, naming the constraint a
//! device fails). Writes to one site are serialized by the store's write lock.

use std::fs;

use edge_api::types::{Commit, DeployRequest, DeploymentSummary};
use edge_model::capabilities::DeviceCapabilitiesManifest;
use edge_model::issue::Unfit;
use edge_model::{
    ApplicationDeployment, DeploymentId, DeviceTarget, MargoDocument as _, ProfileType, placement,
    render,
};
use edge_workspace::git::Repo;

use super::apps::{resolve, stored_description};
use crate::co::db::apps::versions_of;
use crate::co::db::deployments::{self as db, DeploymentRow};
use crate::co::db::reports::states;
use crate::co::db::sites::{self, DeviceRow};
use crate::co::store::{Store, author};
use crate::error::ApiError;

/// Open a site repository for a change (under the write lock). Its work tree
/// already equals `HEAD`: start-up resets every site repository, and each
/// change undoes its own files when it fails; so the hot path does not
/// rewrite the tree. Before the first commit, leftovers of a failed first
/// deploy are dropped here (start-up skips repositories without commits).
fn open_site_repo(dir: &std::path::Path) -> Result<Repo, ApiError> {
    let repo = Repo::init_or_open(dir).map_err(|e| ApiError::internal(&e.into()))?;
    if repo
        .head()
        .map_err(|e| ApiError::internal(&e.into()))?
        .is_none()
    {
        let _ = fs::remove_dir_all(dir.join("deployments"));
    }
    Ok(repo)
}

fn summary(r: DeploymentRow) -> DeploymentSummary {
    DeploymentSummary {
        id: r.id,
        app: r.app_id,
        version: r.version,
        site: r.site,
        device: r.device,
        profile: r.profile,
        commit: r.commit_id,
        created_at: r.created_at,
        state: None,
        state_at: None,
        error: None,
    }
}

/// Deploy an app to devices of a site: one ApplicationDeployment per device, one commit.
pub(crate) fn deploy(
    store: &Store,
    req: &DeployRequest,
    by: &str,
) -> Result<Vec<DeploymentSummary>, ApiError> {
    let app_id = resolve(store, &req.app)?;
    let versions = versions_of(&store.db(), &app_id)?;
    let version = match &req.version {
        Some(v) => versions
            .iter()
            .find(|r| &r.version == v)
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
    let profile = match &req.deploy_type {
        Some(t) => {
            let want = ProfileType::parse(t).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "`{t}` is not a deployment type; use helm, compose, wasm or process"
                ))
            })?;
            app.profile(want).ok_or_else(|| {
                let has = app
                    .deployment_profiles
                    .iter()
                    .map(|p| p.profile_type.as_str())
                    .collect::<Vec<_>>()
                    .join(", ");
                ApiError::unprocessable(format!(
                    "app `{app_id}` has no `{want}` profile (it has {has})"
                ))
            })?
        }
        None => app
            .deployment_profiles
            .first()
            .ok_or_else(|| ApiError::unprocessable("the app has no deployment profile"))?,
    };
    let parameters = render::parameters(&app, profile, &req.set).map_err(|issues| {
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
    let app_dir = store.workspace().join("apps").join(&app_id).join(&version);
    let artifacts = super::artifacts::store_local(store, &app_dir, profile)?;

    let _w = store.write_lock();
    // The version may have been removed while values were checked.
    if !versions_of(&store.db(), &app_id)?
        .iter()
        .any(|r| r.version == version)
    {
        return Err(ApiError::conflict(format!(
            "app `{app_id}` version `{version}` was removed meanwhile; nothing was deployed"
        )));
    }
    let repo_dir = store.site_repo(&req.site);
    let repo = open_site_repo(&repo_dir)?;
    let dir = repo_dir.join("deployments");
    fs::create_dir_all(&dir).map_err(|e| ApiError::internal(&e.into()))?;
    let mut written = Vec::new();
    for device in &targets {
        let id = DeploymentId::new(uuid::Uuid::new_v4().to_string())
            .map_err(|e| ApiError::internal(&e.into()))?;
        let target =
            DeviceTarget::new(device.id.clone()).map_err(|e| ApiError::internal(&e.into()))?;
        let mut doc = render::deployment(
            &app,
            profile,
            parameters.clone(),
            id.clone(),
            target,
            &req.site,
        );
        super::artifacts::attach(&mut doc, &artifacts);
        let path = dir.join(format!("{id}.yaml"));
        if let Err(e) = fs::write(&path, doc.to_yaml()) {
            for (p, _, _) in &written {
                let _ = fs::remove_file(p);
            }
            return Err(ApiError::internal(&e.into()));
        }
        written.push((path, id, device.id.clone()));
    }
    let devices = targets
        .iter()
        .map(|d| d.id.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let ids = written
        .iter()
        .map(|(_, id, _)| id.to_string())
        .collect::<Vec<_>>()
        .join("\n  ");
    let message = format!(
        "deploy {app_id} {version} ({}) to {devices} at site {}\n\nby: {by}\ndeployments:\n  {ids}",
        profile.profile_type, req.site
    );
    let commit = match repo.commit_all(&message, &author()) {
        Ok(Some(c)) => c.id,
        Ok(None) => String::new(),
        Err(e) => {
            for (p, _, _) in &written {
                let _ = fs::remove_file(p);
            }
            return Err(ApiError::internal(&e.into()));
        }
    };
    let conn = store.db();
    let now = crate::clock::now();
    let mut out = Vec::new();
    for (_, id, device) in written {
        let row = DeploymentRow {
            id: id.to_string(),
            app_id: app_id.clone(),
            version: version.clone(),
            site: req.site.clone(),
            device,
            profile: profile.profile_type.to_string(),
            commit_id: commit.clone(),
            created_at: now.clone(),
        };
        db::insert_deployment(&conn, &row)?;
        out.push(summary(row));
    }
    drop(conn);
    store.changed(&req.site);
    for d in &out {
        store.events().publish(
            "deployment.created",
            &d.id,
            Some(&d.site),
            serde_json::json!({"app": d.app, "version": d.version, "device": d.device, "commit": d.commit}),
        );
    }
    tracing::info!(
        app = app_id,
        version,
        site = req.site,
        devices,
        commit,
        "deployed"
    );
    Ok(out)
}

/// The devices a deployment goes to, or why none fits.
fn place(
    store: &Store,
    req: &DeployRequest,
    profile: &edge_model::app::DeploymentProfile,
) -> Result<Vec<DeviceRow>, ApiError> {
    let conn = store.db();
    if sites::site(&conn, &req.site)?.is_none() {
        return Err(ApiError::not_found(format!(
            "no site `{}`; `edgectl co list sites` lists them",
            req.site
        )));
    }
    let mut candidates = sites::devices(&conn, Some(&req.site))?;
    drop(conn);
    if let Some(d) = &req.device {
        candidates.retain(|c| &c.id == d);
        if candidates.is_empty() {
            return Err(ApiError::not_found(format!(
                "no device `{d}` at site `{}`",
                req.site
            )));
        }
    }
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
    let Some(constraints) = &profile.device_constraints else {
        return Ok(candidates);
    };
    let mut reasons = Vec::new();
    candidates.retain(|c| {
        let verdict = match c
            .capabilities
            .as_deref()
            .map(|t| DeviceCapabilitiesManifest::from_slice(t.as_bytes()))
        {
            Some(Ok(caps)) => placement::fits(constraints, &caps.document),
            Some(Err(_)) => Err(Unfit("its stored capabilities do not read".to_owned())),
            None => Err(Unfit("it has not reported its capabilities yet".to_owned())),
        };
        match verdict {
            Ok(()) => true,
            Err(why) => {
                reasons.push(format!("`{}`: {why}", c.id));
                false
            }
        }
    });
    if candidates.is_empty() {
        return Err(ApiError::unprocessable(format!(
            "no device fits the profile's deviceConstraints: {}",
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
            let mut s = summary(r);
            if let Some(st) = states.get(&s.id) {
                s.state = Some(st.state.clone());
                s.state_at = Some(st.at.clone());
                s.error.clone_from(&st.error);
            }
            s
        })
        .collect())
}

/// Remove a deployment from its site's desired state (a new commit).
pub(crate) fn undeploy(store: &Store, id: &str, by: &str) -> Result<(), ApiError> {
    let _w = store.write_lock();
    let row = db::deployment(&store.db(), id)?.ok_or_else(|| {
        ApiError::not_found(format!(
            "no deployment `{id}`; `edgectl co list deployments` lists them"
        ))
    })?;
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
    if sites::site(&store.db(), site)?.is_none() {
        return Err(ApiError::not_found(format!("no site `{site}`")));
    }
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

/// Restore the desired state of commit `to`, as a new commit; the site's
/// deployments after it.
pub(crate) fn rollback(
    store: &Store,
    site: &str,
    to: &str,
    by: &str,
) -> Result<Vec<DeploymentSummary>, ApiError> {
    let _w = store.write_lock();
    if sites::site(&store.db(), site)?.is_none() {
        return Err(ApiError::not_found(format!("no site `{site}`")));
    }
    let dir = store.site_repo(site);
    if !dir.join(".git").exists() {
        return Err(ApiError::not_found(format!(
            "site `{site}` has no history yet"
        )));
    }
    let repo = open_site_repo(&dir)?;
    let before = repo
        .head()
        .map_err(|e| ApiError::internal(&e.into()))?
        .unwrap_or_default();
    let target = match repo.restore(to) {
        Ok(t) => t,
        Err(e @ edge_workspace::git::GitError::UnknownCommit { .. }) => {
            return Err(ApiError::not_found(e.to_string()));
        }
        Err(other) => {
            // A half-restored work tree must not be committed by the next change.
            let _ = repo.restore(&before);
            return Err(ApiError::internal(&other.into()));
        }
    };
    let message = format!(
        "roll back site {site} to {}\n\nby: {by}\nrestores: {target}",
        &target[..12.min(target.len())]
    );
    let commit = match repo.commit_all(&message, &author()) {
        Ok(Some(c)) => c.id,
        Ok(None) => before.clone(),
        Err(e) => {
            let _ = repo.restore(&before);
            return Err(ApiError::internal(&e.into()));
        }
    };
    // The index follows the repository: the site's deployments are the files now in it.
    let rows = reindex_site(&mut store.db(), site, &dir, &commit, false)?;
    let out: Vec<DeploymentSummary> = rows.into_iter().map(summary).collect();
    store.changed(site);
    store.events().publish(
        "site.rolled-back",
        site,
        Some(site),
        serde_json::json!({"to": target, "commit": commit}),
    );
    tracing::info!(site, to = target, commit, "rolled back");
    Ok(out)
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
        let row = DeploymentRow {
            version: d
                .metadata
                .labels
                .get("app.version")
                .cloned()
                .unwrap_or_default(),
            app_id: d.spec.application_id.to_string(),
            site: site.to_owned(),
            device: d
                .metadata
                .device_id
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            profile: d.spec.deployment_profile.profile_type.to_string(),
            commit_id: match previous {
                Some(p) if keep_commits => p.commit_id.clone(),
                _ => commit.to_owned(),
            },
            created_at: previous.map_or_else(crate::clock::now, |r| r.created_at.clone()),
            id,
        };
        db::insert_deployment(&tx, &row)?;
        out.push(row);
    }
    tx.commit()?;
    Ok(out)
}
