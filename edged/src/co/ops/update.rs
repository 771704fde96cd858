//! Changing deployments in place (`edgectl co set`, `co upgrade`): the
//! chosen deployments keep their ids, device and profile type and are
//! rendered again from their app, with a new version and/or new parameter
//! values merged over the values the user set before (recorded in the
//! document), checked against the schema of the version they move to.
//! Every deployment is worked out before anything is written; each site's
//! changes are then one commit (`change::commit_site`).

use std::collections::{BTreeMap, HashMap};
use std::fs;

use edge_api::types::{DeploymentSummary, UpdateRequest};
use edge_model::app::ApplicationDescription;
use edge_model::artifact::ArtifactRef;
use edge_model::{ApplicationDeployment, MargoDocument as _, render};

use super::apps::{resolve, stored_description};
use super::change::{self, Draft};
use super::deployments::find;
use crate::co::db::apps::versions_of;
use crate::co::db::deployments::{self as db, DeploymentRow};
use crate::co::db::sites;
use crate::co::store::Store;
use crate::error::ApiError;

/// Apply `req`: returns one summary per chosen deployment (`updated` or
/// `unchanged`).
pub(crate) fn update(
    store: &Store,
    req: &UpdateRequest,
    by: &str,
) -> Result<Vec<DeploymentSummary>, ApiError> {
    if req.set.is_empty() && req.version.is_none() && !req.newest {
        return Err(ApiError::bad_request(
            "nothing to change: give parameter values (`co set`) or a version (`co upgrade`)",
        ));
    }
    let _w = store.write_lock();
    let rows = select(store, req)?;
    let mut apps: HashMap<(String, String), ApplicationDescription> = HashMap::new();
    let mut stored: HashMap<(String, String, String), BTreeMap<String, ArtifactRef>> =
        HashMap::new();
    let mut by_site: BTreeMap<String, Vec<Draft>> = BTreeMap::new();
    for row in rows {
        let version = target_version(store, req, &row)?;
        let path = store
            .site_repo(&row.site)
            .join("deployments")
            .join(format!("{}.yaml", row.id));
        let old = fs::read(&path)
            .ok()
            .and_then(|b| ApplicationDeployment::from_slice(&b).ok())
            .ok_or_else(|| {
                ApiError::internal(&anyhow::anyhow!(
                    "the file of deployment `{}` does not read",
                    row.id
                ))
            })?
            .document;
        let key = (row.app_id.clone(), version.clone());
        if !apps.contains_key(&key) {
            let app = stored_description(store, &row.app_id, &version)?;
            apps.insert(key.clone(), app);
        }
        let Some(app) = apps.get(&key) else { continue };
        let kind = old.spec.deployment_profile.profile_type;
        let profile = app.profile(kind).ok_or_else(|| {
            ApiError::unprocessable(format!(
                "app `{}` version `{version}` has no `{kind}` profile, which deployment `{}` uses; nothing was changed",
                row.app_id, row.id
            ))
        })?;
        let mut set = if old.metadata.labels.contains_key(change::SET_LABEL) {
            change::set_values(&old)
        } else {
            // Made before values were recorded: keep every value that is not
            // its version's default, so nothing set by hand is lost.
            let was = stored_description(store, &row.app_id, &row.version)?;
            change::values_beside_defaults(&old, &was)
        };
        set.extend(req.set.clone());
        let parameters = render::parameters(app, profile, &set).map_err(|issues| {
            ApiError::invalid(
                format!(
                    "{} parameter problem(s) for deployment `{}` ({} {version}); nothing was changed",
                    issues.len(),
                    row.id,
                    row.app_id
                ),
                &issues,
                "parameters",
            )
        })?;
        let fixed = render::immutable_changes(app, &old.spec.parameters, &parameters);
        if !fixed.is_empty() {
            return Err(ApiError::invalid(
                format!(
                    "deployment `{}` ({} {version}) would change a value fixed at install; nothing was changed",
                    row.id, row.app_id
                ),
                &fixed,
                "parameters",
            ));
        }
        let akey = (row.app_id.clone(), version.clone(), kind.to_string());
        if !stored.contains_key(&akey) {
            let dir = store
                .workspace()
                .join("apps")
                .join(&row.app_id)
                .join(&version);
            let a = super::artifacts::store_local(store, &dir, profile)?;
            stored.insert(akey.clone(), a);
        }
        let Some(device) = old.metadata.device_id.clone() else {
            return Err(ApiError::internal(&anyhow::anyhow!(
                "deployment `{}` names no device",
                row.id
            )));
        };
        let mut doc = render::deployment(
            app,
            profile,
            parameters,
            old.id().clone(),
            device,
            &row.site,
        );
        if let Some(a) = stored.get(&akey) {
            super::artifacts::attach(&mut doc, a);
        }
        change::label(&mut doc, &change::name_of(&old), &set);
        by_site.entry(row.site.clone()).or_default().push(Draft {
            doc,
            previous: Some(row),
        });
    }
    let mut what = Vec::new();
    match (&req.version, req.newest) {
        (Some(v), _) => what.push(format!("to version {v}")),
        (None, true) => what.push("to the newest version".to_owned()),
        (None, false) => {}
    }
    if !req.set.is_empty() {
        let names: Vec<&str> = req.set.keys().map(String::as_str).collect();
        what.push(format!("set {}", names.join(", ")));
    }
    let mut parts = Vec::new();
    for (site, drafts) in by_site {
        let mut names: Vec<String> = drafts
            .iter()
            .map(|d| d.doc.spec.application_id.to_string())
            .collect();
        names.sort();
        names.dedup();
        let head = format!(
            "update {} at site {site}: {}",
            names.join(", "),
            what.join(", ")
        );
        parts.push(super::rollout::Part {
            site,
            change: drafts.into(),
            head,
        });
    }
    super::rollout::commit(store, parts, by, req.dry_run, req.rollout.as_ref())
}

/// The version deployment `row` moves to.
fn target_version(
    store: &Store,
    req: &UpdateRequest,
    row: &DeploymentRow,
) -> Result<String, ApiError> {
    let versions = versions_of(&store.db(), &row.app_id)?;
    let known = || {
        versions
            .iter()
            .map(|r| r.version.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match (&req.version, req.newest) {
        (Some(v), _) => versions
            .iter()
            .find(|r| &r.version == v)
            .map(|r| r.version.clone())
            .ok_or_else(|| {
                ApiError::not_found(format!(
                    "app `{}` has no version `{v}` (it has {}); nothing was changed",
                    row.app_id,
                    known()
                ))
            }),
        (None, true) => versions
            .last()
            .map(|r| r.version.clone())
            .ok_or_else(|| ApiError::not_found(format!("no app `{}`", row.app_id))),
        (None, false) => Ok(row.version.clone()),
    }
}

/// The deployments `req` chooses: by id (or prefix), or by app and place.
fn select(store: &Store, req: &UpdateRequest) -> Result<Vec<DeploymentRow>, ApiError> {
    if !req.ids.is_empty() {
        if req.app.is_some()
            || req.site.is_some()
            || req.all_sites
            || req.device.is_some()
            || !req.selector.is_empty()
        {
            return Err(ApiError::bad_request(
                "name deployments by id or by app and place (site, device, selector), not both",
            ));
        }
        let mut rows: Vec<DeploymentRow> = Vec::new();
        for id in &req.ids {
            let row = find(store, id)?;
            if !rows.iter().any(|r| r.id == row.id) {
                rows.push(row);
            }
        }
        return Ok(rows);
    }
    let Some(app) = &req.app else {
        return Err(ApiError::bad_request(
            "say which deployments: their ids, or an app with a site (or every site)",
        ));
    };
    if req.site.is_some() == req.all_sites {
        return Err(ApiError::bad_request(
            "give either a site or every site (`--all-sites`) for the app",
        ));
    }
    let app_id = resolve(store, app)?;
    let conn = store.db();
    let labels: HashMap<String, BTreeMap<String, String>> =
        sites::devices(&conn, req.site.as_deref())?
            .into_iter()
            .map(|d| (d.id, d.labels))
            .collect();
    let rows: Vec<DeploymentRow> = db::deployments(&conn, req.site.as_deref())?
        .into_iter()
        .filter(|r| r.app_id == app_id)
        .filter(|r| req.device.as_ref().is_none_or(|d| &r.device == d))
        .filter(|r| {
            req.selector
                .iter()
                .all(|(k, v)| labels.get(&r.device).and_then(|l| l.get(k)) == Some(v))
        })
        .collect();
    if rows.is_empty() {
        let at = req
            .site
            .as_ref()
            .map_or_else(|| "any site".to_owned(), |s| format!("site `{s}`"));
        let mut more = String::new();
        if let Some(d) = &req.device {
            more.push_str(&format!(" on device `{d}`"));
        }
        if !req.selector.is_empty() {
            let sel: Vec<String> = req
                .selector
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            more.push_str(&format!(" on devices labelled {}", sel.join(",")));
        }
        return Err(ApiError::not_found(format!(
            "app `{app_id}` is not deployed at {at}{more}; nothing was changed"
        )));
    }
    Ok(rows)
}
