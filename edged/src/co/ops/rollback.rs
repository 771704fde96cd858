//! `co rollback`: the desired state of an earlier commit of a site's
//! repository, restored as a new commit (history only grows).
//!
//! The rollback is planned first, deployment by deployment, against what the
//! site holds now: `created` (back again), `updated` (with what changes: the
//! version, each parameter, each component), `removed` (made after that
//! commit) or `unchanged`. A deployment of an app version that is no longer
//! in the store is `skipped` with the reason, and left as it is now: its
//! document names a description and artifacts the store no longer holds, so
//! a node could not install it. The plan is the answer of a dry run, which
//! `edgectl co rollback` shows before it asks; the rollback writes exactly
//! the plan's files (the bytes of that commit), as one commit whose message
//! names each change, or no commit when nothing changes.

use std::collections::{BTreeMap, HashMap};
use std::fs;

use edge_api::types::DeploymentSummary;
use edge_model::{ApplicationDeployment, MargoDocument as _};
use edge_workspace::git::{GitError, Mirror};

use super::change::{describe, open_site_repo, row_of};
use super::deployments::{reindex_site, summary};
use crate::co::db::apps::versions_of;
use crate::co::db::deployments::{self as db, DeploymentRow};
use crate::co::store::{Store, author};
use crate::error::ApiError;

/// Most deployment files one commit of a site may hold.
const MAX_FILES: usize = 100_000;
/// Largest deployment file read back from a commit.
const MAX_FILE_BYTES: u64 = edge_model::load::MAX_DOCUMENT_BYTES as u64;

/// A deployment as it was at the commit restored.
struct Then {
    bytes: Vec<u8>,
    doc: ApplicationDeployment,
}

/// What the rollback does to one deployment.
enum Step {
    /// Write the file of that commit (`created` or `updated`).
    Write {
        then: Then,
        previous: Option<DeploymentRow>,
        what: Vec<String>,
    },
    /// Remove the deployment made after that commit.
    Remove(DeploymentRow),
    /// Nothing differs.
    Unchanged(Then, DeploymentRow),
    /// Left as it is now, for `reason`.
    Skip(Then, Option<DeploymentRow>, String),
}

/// Restore (or with `dry_run`, plan) site `site`'s desired state of commit
/// `to` (full or abbreviated id); one summary per deployment, with its
/// change (`created`, `updated`, `removed`, `unchanged`, `skipped`).
pub(crate) fn rollback(
    store: &Store,
    site: &str,
    to: &str,
    by: &str,
    dry_run: bool,
) -> Result<Vec<DeploymentSummary>, ApiError> {
    let _w = store.write_lock();
    super::suggest::known_site(&store.db(), site, "")?;
    let dir = store.site_repo(site);
    if !dir.join(".git").exists() {
        return Err(ApiError::not_found(format!(
            "site `{site}` has no history yet"
        )));
    }
    let repo = open_site_repo(&dir)?;
    let target = match repo.resolve(to) {
        Ok(t) => t,
        Err(e @ GitError::UnknownCommit { .. }) => return Err(ApiError::not_found(e.to_string())),
        Err(other) => return Err(ApiError::internal(&other.into())),
    };
    let steps = plan(store, site, &dir, &target)?;
    let short = &target[..12.min(target.len())];
    let changed = steps
        .iter()
        .any(|s| matches!(s, Step::Write { .. } | Step::Remove(_)));
    if dry_run || !changed {
        return Ok(answer(site, &steps, None));
    }
    let folder = dir.join("deployments");
    fs::create_dir_all(&folder).map_err(|e| ApiError::internal(&e.into()))?;
    // What each touched file held before, to put back if anything fails.
    let mut undo = super::change::FileUndo::default();
    let mut lines = Vec::new();
    for step in &steps {
        let (path, bytes) = match step {
            Step::Write { then, .. } => (
                folder.join(format!("{}.yaml", then.doc.id())),
                Some(&then.bytes),
            ),
            Step::Remove(row) => (folder.join(format!("{}.yaml", row.id)), None),
            Step::Unchanged(..) => continue,
            Step::Skip(then, _, why) => {
                lines.push(format!(
                    "skipped {} on {}: {why}",
                    then.doc.id(),
                    device_of(&then.doc)
                ));
                continue;
            }
        };
        undo.record(&path);
        let written = match bytes {
            Some(b) => fs::write(&path, b),
            None => fs::remove_file(&path),
        };
        if let Err(e) = written {
            undo.put_back();
            return Err(ApiError::internal(&e.into()));
        }
        lines.push(line(step));
    }
    let message = format!(
        "roll back site {site} to {short}\n\nby: {by}\nrestores: {target}\n{}",
        lines.join("\n")
    );
    let commit = match repo.commit_all(&message, &author()) {
        Ok(Some(c)) => c.id,
        Ok(None) => String::new(),
        Err(e) => {
            undo.put_back();
            return Err(ApiError::internal(&e.into()));
        }
    };
    // The index follows the repository: the site's deployments are the
    // files now in it. When it cannot be stored, the commit is taken back.
    if let Err(e) = reindex_site(&mut store.db(), site, &dir, &commit, false) {
        undo.put_back();
        if !commit.is_empty()
            && let Err(undone) = repo.uncommit(&commit, &author())
        {
            tracing::error!(site, commit, error = %undone, "cannot take back a rollback whose deployments could not be recorded; the next start indexes it");
        }
        return Err(e.into());
    }
    store.changed(site);
    store.events().publish(
        "site.rolled-back",
        site,
        Some(site),
        serde_json::json!({"to": target, "commit": commit}),
    );
    tracing::info!(site, to = target, commit, "rolled back");
    Ok(answer(site, &steps, Some(&commit)))
}

/// Compare the deployments of commit `target` with the site's now.
fn plan(
    store: &Store,
    site: &str,
    dir: &std::path::Path,
    target: &str,
) -> Result<Vec<Step>, ApiError> {
    let files = Mirror::at(dir)
        .files_at(target, "deployments", ".yaml", MAX_FILES, MAX_FILE_BYTES)
        .map_err(|e| ApiError::internal(&e.into()))?;
    let mut then: BTreeMap<String, Then> = BTreeMap::new();
    for (name, bytes) in files {
        let doc = ApplicationDeployment::from_slice(&bytes)
            .map_err(|_| {
                ApiError::unprocessable(format!(
                    "`deployments/{name}` of commit {target} does not read as an ApplicationDeployment; nothing was changed"
                ))
            })?
            .document;
        then.insert(doc.id().to_string(), Then { bytes, doc });
    }
    let conn = store.db();
    let mut now: HashMap<String, DeploymentRow> = db::deployments(&conn, Some(site))?
        .into_iter()
        .map(|r| (r.id.clone(), r))
        .collect();
    let mut in_store: HashMap<String, Vec<String>> = HashMap::new();
    let mut steps = Vec::new();
    for (id, t) in then {
        let app = t.doc.spec.application_id.to_string();
        let version = version_of(&t.doc);
        if !in_store.contains_key(&app) {
            let versions = versions_of(&conn, &app)?
                .into_iter()
                .map(|r| r.version)
                .collect();
            in_store.insert(app.clone(), versions);
        }
        let stored = in_store.get(&app).is_some_and(|v| v.contains(&version));
        let previous = now.remove(&id);
        let current = fs::read(dir.join("deployments").join(format!("{id}.yaml"))).ok();
        steps.push(match previous {
            Some(row) if current.as_deref() == Some(t.bytes.as_slice()) => Step::Unchanged(t, row),
            previous if !stored => {
                let why = format!(
                    "app `{app}` version `{version}` is no longer in the store; {}",
                    if previous.is_some() {
                        "left as it is now"
                    } else {
                        "not restored"
                    }
                );
                Step::Skip(t, previous, why)
            }
            Some(row) => {
                let what = current
                    .and_then(|b| ApplicationDeployment::from_slice(&b).ok())
                    .map_or_else(
                        || vec!["document".to_owned()],
                        |old| describe(&old.document, &t.doc),
                    );
                Step::Write {
                    then: t,
                    previous: Some(row),
                    what,
                }
            }
            None => Step::Write {
                then: t,
                previous: None,
                what: Vec::new(),
            },
        });
    }
    let mut gone: Vec<DeploymentRow> = now.into_values().collect();
    gone.sort_by(|a, b| a.id.cmp(&b.id));
    steps.extend(gone.into_iter().map(Step::Remove));
    Ok(steps)
}

/// The summaries of a plan; `commit` once it is made.
fn answer(site: &str, steps: &[Step], commit: Option<&str>) -> Vec<DeploymentSummary> {
    steps
        .iter()
        .map(|step| {
            let of = |then: &Then, previous: Option<&DeploymentRow>| {
                let created = previous.map(|r| r.created_at.clone()).unwrap_or_default();
                let was = previous.map_or("", |r| r.commit_id.as_str());
                summary(row_of(
                    &then.doc,
                    &then.bytes,
                    site,
                    commit.unwrap_or(was),
                    created,
                ))
            };
            let (mut s, change, changes) = match step {
                Step::Write {
                    then,
                    previous,
                    what,
                } => {
                    let kind = if previous.is_some() {
                        "updated"
                    } else {
                        "created"
                    };
                    (of(then, previous.as_ref()), kind, what.clone())
                }
                Step::Remove(row) => {
                    let mut s = summary(row.clone());
                    s.commit = commit.unwrap_or_default().to_owned();
                    (s, "removed", Vec::new())
                }
                Step::Unchanged(then, row) => (of(then, Some(row)), "unchanged", Vec::new()),
                Step::Skip(then, previous, why) => {
                    (of(then, previous.as_ref()), "skipped", vec![why.clone()])
                }
            };
            s.change = Some(change.to_owned());
            s.changes = changes;
            s
        })
        .collect()
}

/// One line of the commit message for a step that writes.
fn line(step: &Step) -> String {
    match step {
        Step::Write {
            then,
            previous,
            what,
        } => {
            let kind = if previous.is_some() {
                "updated"
            } else {
                "created"
            };
            let tail = if what.is_empty() {
                String::new()
            } else {
                format!(": {}", what.join(", "))
            };
            format!("{kind} {} on {}{tail}", then.doc.id(), device_of(&then.doc))
        }
        Step::Remove(row) => format!("removed {} on {}", row.id, row.device),
        Step::Unchanged(..) | Step::Skip(..) => String::new(),
    }
}

fn version_of(d: &ApplicationDeployment) -> String {
    d.metadata
        .labels
        .get("app.version")
        .cloned()
        .unwrap_or_default()
}

fn device_of(d: &ApplicationDeployment) -> String {
    d.metadata
        .device_id
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default()
}
