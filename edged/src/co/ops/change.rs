//! One change of a site's deployment documents, the step every operation
//! that writes deployments ends in (`deploy`, `update` for `co set` and
//! `co upgrade`): each draft is compared with the file it replaces, only
//! the files whose bytes differ are written, and together they become one
//! commit of the site's repository whose message lists each deployment and
//! what changed in it. Nothing changed means no commit. A dry run stops
//! after the comparison. The caller holds the store's write lock.
//!
//! A deployment keeps its id for life: an update in place rewrites its file
//! under the same name, so its `metadata.annotations.id` stays and only its
//! digest moves. Our own bookkeeping travels in the document's labels
//! ([`NAME_LABEL`], [`SET_LABEL`]), so the site repository alone is enough to
//! rebuild the index.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use edge_api::types::DeploymentSummary;
use edge_model::{ApplicationDeployment, DeploymentId, MargoDocument as _};
use edge_workspace::git::Repo;

use crate::co::db::deployments::{self as db, DeploymentRow};
use crate::co::store::{Store, author};
use crate::error::ApiError;

/// The parameters of deployment `id` as its file at `site` holds them now
/// (what runs, for the `immutable` rule); `None` when it does not read.
pub(crate) fn installed_parameters(
    store: &Store,
    site: &str,
    id: &str,
) -> Option<BTreeMap<String, edge_model::profile::Parameter>> {
    let path = store
        .site_repo(site)
        .join("deployments")
        .join(format!("{id}.yaml"));
    let bytes = fs::read(path).ok()?;
    Some(
        ApplicationDeployment::from_slice(&bytes)
            .ok()?
            .document
            .spec
            .parameters,
    )
}

/// Label holding the name a deployment was given (`--name`).
pub(crate) const NAME_LABEL: &str = "edgectl.io/name";
/// Label marking a deployment `edgectl co apply` manages (value `apply`):
/// only those are removed by `co apply --prune`.
pub(crate) const MANAGED_LABEL: &str = "edgectl.io/managed-by";

/// Label holding the parameter values the user set, as compact JSON text
/// (name → text), so an upgrade re-applies them to the new version.
pub(crate) const SET_LABEL: &str = "edgectl.io/set";

/// Open a site repository for a change (under the write lock). Its work tree
/// already equals `HEAD`: start-up resets every site repository, and each
/// change undoes its own files when it fails; so the hot path does not
/// rewrite the tree. Before the first commit, leftovers of a failed first
/// deploy are dropped here (start-up skips repositories without commits).
pub(crate) fn open_site_repo(dir: &Path) -> Result<Repo, ApiError> {
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

/// One deployment as it should be after the change.
#[derive(Clone)]
pub(crate) struct Draft {
    /// The document (its id is the deployment's, new or kept).
    pub(crate) doc: ApplicationDeployment,
    /// Its index row before the change, for an update.
    pub(crate) previous: Option<DeploymentRow>,
}

/// The user's parameter values recorded in a document.
pub(crate) fn set_values(doc: &ApplicationDeployment) -> BTreeMap<String, String> {
    doc.metadata
        .labels
        .get(SET_LABEL)
        .and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or_default()
}

/// The parameter values of `doc` that differ from `app`'s defaults, as the
/// text `--set` would give (strings, numbers, booleans; other values as
/// JSON): what a user must have set on a deployment made before the values
/// set were recorded in its labels.
pub(crate) fn values_beside_defaults(
    doc: &ApplicationDeployment,
    app: &edge_model::app::ApplicationDescription,
) -> BTreeMap<String, String> {
    doc.spec
        .parameters
        .iter()
        .filter_map(|(name, p)| {
            let value = p.value.as_ref()?;
            let default = app.parameters.get(name).and_then(|d| d.value.as_ref());
            if default == Some(value) {
                return None;
            }
            let text = match value {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            Some((name.clone(), text))
        })
        .collect()
}

/// Record the name and the user's values in a rendered document's labels.
pub(crate) fn label(doc: &mut ApplicationDeployment, name: &str, set: &BTreeMap<String, String>) {
    if !name.is_empty() {
        doc.metadata
            .labels
            .insert(NAME_LABEL.to_owned(), name.to_owned());
    }
    if !set.is_empty()
        && let Ok(text) = serde_json::to_string(set)
    {
        doc.metadata.labels.insert(SET_LABEL.to_owned(), text);
    }
}

/// The name recorded in a document (empty for none).
pub(crate) fn name_of(doc: &ApplicationDeployment) -> String {
    doc.metadata
        .labels
        .get(NAME_LABEL)
        .cloned()
        .unwrap_or_default()
}

/// What differs between two versions of a deployment, for people: the
/// version, the profile, each parameter and component by name.
pub(crate) fn describe(old: &ApplicationDeployment, new: &ApplicationDeployment) -> Vec<String> {
    let mut out = Vec::new();
    let version = |d: &ApplicationDeployment| {
        d.metadata
            .labels
            .get("app.version")
            .cloned()
            .unwrap_or_default()
    };
    if version(old) != version(new) {
        out.push(format!("version {} → {}", version(old), version(new)));
    }
    let (po, pn) = (&old.spec.deployment_profile, &new.spec.deployment_profile);
    if po.profile_type != pn.profile_type {
        out.push(format!("profile {} → {}", po.profile_type, pn.profile_type));
    }
    let value = |d: &ApplicationDeployment, k: &str| {
        d.spec
            .parameters
            .get(k)
            .map(|p| serde_json::to_string(&p.value).unwrap_or_default())
    };
    let mut names: Vec<&String> = old
        .spec
        .parameters
        .keys()
        .chain(new.spec.parameters.keys())
        .collect();
    names.sort();
    names.dedup();
    for k in names {
        let (a, b) = (value(old, k), value(new, k));
        if a != b {
            // Short values are shown (they are in the repository anyway).
            let shown = |v: Option<String>| {
                v.filter(|t| t.chars().count() <= 40)
                    .unwrap_or_else(|| "…".to_owned())
            };
            out.push(format!("parameter {k} {} → {}", shown(a), shown(b)));
        }
    }
    if po.profile_type == pn.profile_type {
        let json = |c: &edge_model::profile::Component| serde_json::to_string(c).ok();
        for c in &pn.components {
            match po.components.iter().find(|o| o.name == c.name) {
                Some(o) if json(o) == json(c) => {}
                Some(_) => out.push(format!("component {}", c.name)),
                None => out.push(format!("component {} added", c.name)),
            }
        }
        for o in &po.components {
            if !pn.components.iter().any(|c| c.name == o.name) {
                out.push(format!("component {} removed", o.name));
            }
        }
    }
    if out.is_empty() {
        out.push("document".to_owned());
    }
    out
}

/// A draft compared with what is there.
struct Planned {
    draft: Draft,
    path: PathBuf,
    bytes: String,
    /// `None`: unchanged.
    change: Option<(&'static str, Vec<String>)>,
}

/// One site's change: documents to write and deployments to remove.
#[derive(Clone)]
pub(crate) struct SiteChange {
    pub(crate) drafts: Vec<Draft>,
    pub(crate) removals: Vec<DeploymentRow>,
}

impl From<Vec<Draft>> for SiteChange {
    fn from(drafts: Vec<Draft>) -> Self {
        Self {
            drafts,
            removals: Vec::new(),
        }
    }
}

/// Write a site's change as one commit whose message starts with `head`
/// (unless `dry_run`, or nothing differs); returns one summary per draft,
/// saying whether it was created, updated or is unchanged, and one per
/// removal (`removed`).
pub(crate) fn commit_site(
    store: &Store,
    site: &str,
    change: impl Into<SiteChange>,
    head: &str,
    by: &str,
    dry_run: bool,
) -> Result<Vec<DeploymentSummary>, ApiError> {
    let SiteChange { drafts, removals } = change.into();
    let _span = tracing::info_span!("co.commit", site, dry_run).entered();
    let repo_dir = store.site_repo(site);
    let dir = repo_dir.join("deployments");
    let mut planned = Vec::with_capacity(drafts.len());
    for draft in drafts {
        let path = dir.join(format!("{}.yaml", draft.doc.id()));
        let bytes = draft.doc.to_yaml();
        let change = match &draft.previous {
            None => Some(("created", Vec::new())),
            Some(_) => match fs::read(&path) {
                Ok(old) if old == bytes.as_bytes() => None,
                Ok(old) => {
                    let what = ApplicationDeployment::from_slice(&old)
                        .map(|o| describe(&o.document, &draft.doc))
                        .unwrap_or_else(|_| vec!["document".to_owned()]);
                    Some(("updated", what))
                }
                Err(_) => Some(("updated", vec!["document".to_owned()])),
            },
        };
        planned.push(Planned {
            draft,
            path,
            bytes,
            change,
        });
    }
    let changed = planned.iter().filter(|p| p.change.is_some()).count() + removals.len();
    if dry_run || changed == 0 {
        let mut out: Vec<DeploymentSummary> = planned
            .iter()
            .map(|p| {
                summary_of(
                    p,
                    site,
                    p.draft.previous.as_ref().map_or("", |r| &r.commit_id),
                )
            })
            .collect();
        out.extend(removals.iter().map(|r| removed(r, "")));
        return Ok(out);
    }
    let repo = open_site_repo(&repo_dir)?;
    fs::create_dir_all(&dir).map_err(|e| ApiError::internal(&e.into()))?;
    // What each written file held before, to put back if the commit fails.
    let mut undo = FileUndo::default();
    let mut lines = Vec::new();
    for p in &planned {
        let Some((kind, what)) = &p.change else {
            continue;
        };
        // Recorded before writing: a write that fails part-way (a full
        // disk) leaves a file to undo too.
        undo.record(&p.path);
        if let Err(e) = fs::write(&p.path, &p.bytes) {
            undo.put_back();
            return Err(ApiError::internal(&e.into()));
        }
        let device = device_of(&p.draft.doc);
        lines.push(if what.is_empty() {
            format!("{kind} {} on {device}", p.draft.doc.id())
        } else {
            format!(
                "{kind} {} on {device}: {}",
                p.draft.doc.id(),
                what.join(", ")
            )
        });
    }
    for r in &removals {
        let path = dir.join(format!("{}.yaml", r.id));
        let old = fs::read(&path).ok();
        if old.is_some()
            && let Err(e) = fs::remove_file(&path)
        {
            undo.put_back();
            return Err(ApiError::internal(&e.into()));
        }
        undo.push(path, old);
        lines.push(format!("removed {} on {}", r.id, r.device));
    }
    let message = crate::trace::with_trailer(format!("{head}\n\nby: {by}\n{}", lines.join("\n")));
    let commit = match repo.commit_all(&message, &author()) {
        Ok(Some(c)) => c.id,
        Ok(None) => String::new(),
        Err(e) => {
            undo.put_back();
            return Err(ApiError::internal(&e.into()));
        }
    };
    // The index follows in one transaction (one synchronous write, not one
    // per deployment); the events go out once it is stored. When it cannot
    // be stored (a full disk), the commit is taken back and the files put
    // back: the change is refused whole.
    let mut events = Vec::new();
    let out = match index_change(store, site, &planned, &removals, &commit, &mut events) {
        Ok(out) => out,
        Err(e) => {
            undo.put_back();
            if !commit.is_empty()
                && let Err(undone) = repo.uncommit(&commit, &author())
            {
                tracing::error!(site, commit, error = %undone, "cannot take back a commit whose deployments could not be recorded; the next start indexes it");
            }
            return Err(e);
        }
    };
    for (kind, subject, data) in events {
        store.events().publish(&kind, &subject, Some(site), data);
    }
    if let Some(tp) = crate::trace::Traceparent::current() {
        crate::trace::SITES.note(site, &commit, tp);
    }
    store.changed(site);
    tracing::info!(site, commit, changed, "deployments changed");
    Ok(out)
}

/// Record a committed change of `site` in the index (one transaction); its
/// summaries, and the events to publish into `events`.
fn index_change(
    store: &Store,
    site: &str,
    planned: &[Planned],
    removals: &[DeploymentRow],
    commit: &str,
    events: &mut Vec<(String, String, serde_json::Value)>,
) -> Result<Vec<DeploymentSummary>, ApiError> {
    let mut conn = store.db();
    let tx = conn.transaction()?;
    let now = crate::clock::now();
    let mut out = Vec::with_capacity(planned.len());
    for p in planned {
        let Some((kind, what)) = &p.change else {
            out.push(summary_of(
                p,
                site,
                p.draft.previous.as_ref().map_or("", |r| &r.commit_id),
            ));
            continue;
        };
        let created_at = p
            .draft
            .previous
            .as_ref()
            .map_or_else(|| now.clone(), |r| r.created_at.clone());
        let row = row_of(&p.draft.doc, p.bytes.as_bytes(), site, commit, created_at);
        match p.draft.previous {
            Some(_) => db::update_deployment(&tx, &row)?,
            None => db::insert_deployment(&tx, &row)?,
        }
        events.push((
            format!("deployment.{kind}"),
            row.id.clone(),
            serde_json::json!({"app": row.app_id, "version": row.version, "device": row.device,
                               "commit": commit, "changes": what}),
        ));
        let mut s = summary_of(p, site, commit);
        s.created_at = row.created_at;
        out.push(s);
    }
    for r in removals {
        db::delete_deployment(&tx, &r.id)?;
        events.push((
            "deployment.removed".to_owned(),
            r.id.clone(),
            serde_json::json!({"app": r.app_id, "device": r.device, "commit": commit}),
        ));
        out.push(removed(r, commit));
    }
    tx.commit()?;
    Ok(out)
}

/// The summary of a deployment a change removes.
fn removed(r: &DeploymentRow, commit: &str) -> DeploymentSummary {
    let mut s = super::deployments::summary(r.clone());
    commit.clone_into(&mut s.commit);
    s.change = Some("removed".to_owned());
    s
}

/// The index row of deployment document `d` at `site`, whose file holds
/// `bytes`.
pub(crate) fn row_of(
    d: &ApplicationDeployment,
    bytes: &[u8],
    site: &str,
    commit: &str,
    created_at: String,
) -> DeploymentRow {
    DeploymentRow {
        id: d.id().to_string(),
        app_id: d.spec.application_id.to_string(),
        version: d
            .metadata
            .labels
            .get("app.version")
            .cloned()
            .unwrap_or_default(),
        site: site.to_owned(),
        device: device_of(d),
        profile: d.spec.deployment_profile.profile_type.to_string(),
        commit_id: commit.to_owned(),
        created_at,
        name: name_of(d),
        digest: edge_model::digest::sha256(bytes).as_str().to_owned(),
    }
}

fn device_of(d: &ApplicationDeployment) -> String {
    d.metadata
        .device_id
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default()
}

fn summary_of(p: &Planned, site: &str, commit: &str) -> DeploymentSummary {
    let created_at = p
        .draft
        .previous
        .as_ref()
        .map(|r| r.created_at.clone())
        .unwrap_or_default();
    let mut s = super::deployments::summary(row_of(
        &p.draft.doc,
        p.bytes.as_bytes(),
        site,
        commit,
        created_at,
    ));
    s.change = Some(
        p.change
            .as_ref()
            .map_or("unchanged", |(k, _)| *k)
            .to_owned(),
    );
    s.changes = p
        .change
        .as_ref()
        .map(|(_, w)| w.clone())
        .unwrap_or_default();
    s
}

/// A new deployment id.
pub(crate) fn new_id() -> Result<DeploymentId, ApiError> {
    DeploymentId::new(uuid::Uuid::new_v4().to_string()).map_err(|e| ApiError::internal(&e.into()))
}

/// The files a change touched, each with what it held before (`None`: it
/// did not exist), so a change that fails half-way can be put back whole.
#[derive(Default)]
pub(crate) struct FileUndo(Vec<(PathBuf, Option<Vec<u8>>)>);

impl FileUndo {
    /// Remember what `path` holds now, before it is written or removed.
    pub(crate) fn record(&mut self, path: &Path) {
        self.0.push((path.to_owned(), fs::read(path).ok()));
    }

    /// Remember that `path` held `old` before it was removed.
    pub(crate) fn push(&mut self, path: PathBuf, old: Option<Vec<u8>>) {
        self.0.push((path, old));
    }

    /// Put every file back as it was (best effort: this is the error path).
    pub(crate) fn put_back(&self) {
        for (p, old) in &self.0 {
            let _ = match old {
                Some(b) => fs::write(p, b),
                None => fs::remove_file(p),
            };
        }
    }
}
