//! The executor: applies the planner's steps through the runtime drivers and
//! keeps what runs, component by component, with the state it last
//! observed. Every state change becomes a Margo status report in the
//! durable outbox (one entry per component, overall state by severity,
//! `adoptedManifestVersion` set).
//!
//! Order of a reconcile: every artifact an install needs is fetched and
//! verified first — a deployment whose artifacts cannot be had keeps its
//! previous version running and is reported `failed` — then removals, then
//! installs in manifest order, components in listed order honouring `wait`
//! and `timeout`. The `applied` table is written before a component starts
//! and cleared after the last one is removed, so a crash in between is
//! finished on restart, and a process left behind by a killed daemon is
//! ended before its component starts again (no duplicates).
//!
//! The records of what runs (`run.rs`) are the executor's own: the
//! operations socket acts through `Node`'s methods (`operate.rs`). The runs
//! lock is never held across I/O: a report is decided under it and queued,
//! and written to `en.db` after it is released (`report.rs`). `install.rs`
//! starts and removes components.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use edge_model::status::State;
use edge_model::{ApplicationDeployment, MargoDocument as _};
use edge_runtime::driver::Driver;
use edge_runtime::plan::{self, Applied, Desired, Step};
use edge_runtime::process::RestartPolicy;
use edge_runtime::{ComponentError, FailureCode};

mod fetch;
mod images;
mod install;
mod operate;
mod report;
mod run;

#[cfg(test)]
mod fake;
#[cfg(test)]
mod tests;

pub(crate) use operate::{FindError, StartError, WorkloadRef};
use run::{Run, UpdateError};

use super::state::{Db, DesiredSet, Doc};
use crate::cas::Cas;

/// Longest a component may take to come up when its deployment sets no `timeout`.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);
/// How long a component that crashed while installing must run again
/// before it counts as installed.
const SETTLE: Duration = Duration::from_millis(500);
/// How long a component seen running at its first start must still be
/// running before it counts as installed: a module that fails at once
/// (fuel used up, a bad argument) was `installed` for an instant first.
const CONFIRM: Duration = Duration::from_millis(20);
/// How long a stopping component gets before it is killed.
const GRACE: Duration = Duration::from_secs(10);

/// The node: its state, drivers, artifacts and what runs.
pub(crate) struct Node {
    pub(crate) db: Arc<Db>,
    cas: Cas,
    pub(crate) device: String,
    pub(crate) server: String,
    drivers: Vec<Arc<dyn Driver>>,
    runs: Mutex<BTreeMap<String, Run>>,
    /// Status reports decided under the runs lock, not yet in `en.db`.
    outbox: report::Outbox,
    client: reqwest::blocking::Client,
    /// Registries reached over plain HTTP.
    pub(crate) registries: edge_workspace::oci::Registries,
    /// The variables the node's collector gives a component
    /// (deployment, component, type); `None` while it runs none.
    pub(crate) workload_env: Option<WorkloadEnv>,
    workloads: PathBuf,
    /// Wakes the reporter (a report was queued).
    pub(crate) bell: crate::bell::Bell,
    /// Wakes the poller (an operator asked for a sync).
    pub(crate) wake: crate::bell::Bell,
    /// Rung when the fleet manager answers (a reporter backing off retries).
    pub(crate) link: crate::bell::Bell,
    restart: RestartPolicy,
    artifact_limit: u64,
    /// Bytes the artifact store may hold.
    store_limit: u64,
    /// When the fleet manager last answered (Unix seconds).
    heard: Mutex<Option<i64>>,
    /// Since when (Unix seconds) and why the fleet manager refuses this
    /// node's identity (revoked, expired, unknown), while it does.
    refused: Mutex<Option<(i64, String)>>,
    /// No failed install is tried again before this: the fleet manager
    /// refused an artifact with a `Retry-After`.
    fetch_after: Mutex<Option<Instant>>,
}

/// What gives a component its collector variables.
pub(crate) type WorkloadEnv =
    Arc<dyn Fn(&str, &str, edge_model::ProfileType) -> Vec<(String, String)> + Send + Sync>;

/// A component's failure with `code`.
fn fail(code: FailureCode, message: impl Into<String>) -> ComponentError {
    ComponentError::new(code, message)
}

impl Node {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        db: Arc<Db>,
        cas: Cas,
        device: String,
        server: String,
        drivers: Vec<Arc<dyn Driver>>,
        client: reqwest::blocking::Client,
        workloads: PathBuf,
        restart: RestartPolicy,
        artifact_limit: u64,
    ) -> anyhow::Result<Self> {
        let node = Self {
            db,
            cas,
            device,
            server,
            drivers,
            runs: Mutex::new(BTreeMap::new()),
            outbox: report::Outbox::default(),
            client,
            registries: edge_workspace::oci::Registries::default(),
            workload_env: None,
            workloads,
            bell: crate::bell::Bell::default(),
            wake: crate::bell::Bell::default(),
            link: crate::bell::Bell::default(),
            restart,
            artifact_limit,
            store_limit: artifact_limit.saturating_mul(4),
            heard: Mutex::new(None),
            fetch_after: Mutex::new(None),
            refused: Mutex::new(None),
        };
        // What was applied before a restart: nothing of it runs now.
        for (doc, version) in node.db.applied()? {
            match ApplicationDeployment::from_slice(&doc.bytes) {
                Ok(parsed) => {
                    let mut run = Run::new(&doc, &parsed.document, version);
                    run.needs_install = true;
                    for c in &mut run.comps {
                        c.state = State::Removed;
                    }
                    node.lock().insert(doc.id.clone(), run);
                }
                Err(e) => {
                    tracing::error!(id = doc.id, error = %e, "an applied deployment no longer reads; forgetting it");
                }
            }
        }
        Ok(node)
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Run>> {
        self.runs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The driver of a profile type.
    fn driver(&self, kind: edge_model::ProfileType) -> Option<Arc<dyn Driver>> {
        self.drivers.iter().find(|d| d.kind() == kind).cloned()
    }

    /// The runtime of `kind` components, or why this node cannot run them
    /// at all: it has no runtime for the type (Helm: there is no Helm
    /// driver), or the tools the runtime needs are missing. Checked before
    /// anything is fetched, and again at start.
    fn runtime(&self, kind: edge_model::ProfileType) -> Result<Arc<dyn Driver>, ComponentError> {
        let Some(driver) = self.driver(kind) else {
            let what = match kind {
                edge_model::ProfileType::Helm => "Helm".to_owned(),
                other => format!("`{other}`"),
            };
            let usable: Vec<&str> = self
                .drivers
                .iter()
                .filter(|d| d.unavailable().is_none())
                .map(|d| d.kind().as_str())
                .collect();
            return Err(fail(
                FailureCode::Unsupported,
                format!(
                    "{what} is not supported on this node: it has no `{kind}` runtime (it runs {})",
                    usable.join(", ")
                ),
            ));
        };
        match driver.unavailable() {
            Some(why) => Err(fail(FailureCode::Unsupported, why)),
            None => Ok(driver),
        }
    }

    /// The driver names this node was built with (for capabilities).
    pub(crate) fn driver_names(&self) -> Vec<&'static str> {
        self.drivers.iter().map(|d| d.kind().as_str()).collect()
    }

    /// The fleet manager answered: reports waiting for it go now.
    pub(crate) fn heard(&self) {
        self.link.ring();
        *self
            .refused
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
        *self
            .heard
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(crate::clock::unix_now());
    }

    /// The fleet manager refused this node's identity, saying `reason`
    /// (its problem detail): kept, with when it started, until it answers.
    pub(crate) fn refused(&self, reason: &str) {
        let mut refused = self
            .refused
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let since = refused
            .as_ref()
            .map_or_else(crate::clock::unix_now, |(since, _)| *since);
        *refused = Some((since, reason.to_owned()));
    }

    /// Since when and why the fleet manager refuses this node, while it does.
    pub(crate) fn refusal(&self) -> Option<(i64, String)> {
        self.refused
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// When the fleet manager last answered.
    pub(crate) fn last_heard(&self) -> Option<i64> {
        *self
            .heard
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether an install failed and waits for another attempt.
    pub(crate) fn has_failed_installs(&self) -> bool {
        self.lock().values().any(|r| r.settled && r.needs_install)
    }

    /// Try again the installs that failed (an artifact that could not be
    /// fetched, a component that would not start), from the kept desired state.
    pub(crate) fn retry_failed(&self) {
        if !self.has_failed_installs() {
            return;
        }
        let held = *self
            .fetch_after
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if held.is_some_and(|until| Instant::now() < until) {
            return;
        }
        match self.db.desired() {
            Ok(Some(set)) => self.reconcile(&set),
            Ok(None) => {}
            Err(e) => tracing::error!(error = %e, "cannot read the kept desired state"),
        }
    }

    /// Try no failed install again for `after` (bounded by the caller: a
    /// refusal's advice already is).
    pub(crate) fn hold_fetches(&self, after: Duration) {
        tracing::info!(
            seconds = after.as_secs_f32(),
            "the fleet manager asked to wait before fetching again"
        );
        *self
            .fetch_after
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Instant::now() + after);
    }

    /// Bring the node to `set`.
    pub(crate) fn reconcile(&self, set: &DesiredSet) {
        let _timed = crate::prom::Timer::start(&super::metrics::RECONCILE);
        let mut desired = Vec::new();
        let mut docs = HashMap::new();
        for doc in &set.docs {
            match ApplicationDeployment::from_slice(&doc.bytes) {
                Ok(p) => {
                    desired.push(Desired {
                        digest: doc.digest.clone(),
                        deployment: p.document.clone(),
                    });
                    docs.insert(doc.id.clone(), (doc.clone(), p.document));
                }
                Err(e) => {
                    tracing::error!(id = doc.id, error = %e, "a served deployment does not read; it is left alone");
                }
            }
        }
        let applied: Vec<Applied> = self
            .lock()
            .iter()
            .map(|(id, r)| Applied {
                id: id.clone(),
                digest: r.digest.clone(),
                components: r
                    .comps
                    .iter()
                    .map(|c| {
                        // Installed as far as the planner is concerned unless
                        // it still needs installing: crash loops are the
                        // supervisor's to retry, not the planner's.
                        let s = if r.needs_install {
                            c.state
                        } else {
                            State::Installed
                        };
                        (c.plan.name.clone(), s)
                    })
                    .collect(),
            })
            .collect();
        let steps = plan::plan(&desired, &applied);
        // Fetch first: a deployment whose artifacts cannot be had is not touched.
        let mut artifacts = HashMap::new();
        let mut blocked = HashSet::new();
        for step in &steps {
            let Step::Install { id, components, .. } = step else {
                continue;
            };
            let Some((doc, d)) = docs.get(id) else {
                continue;
            };
            for c in components {
                if let Err(e) = self.runtime(c.kind) {
                    blocked.insert(id.clone());
                    self.refuse(doc, d, set.version, &c.name, e);
                    break;
                }
                match self.fetch(d, c) {
                    Ok(Some(path)) => {
                        artifacts.insert((id.clone(), c.name.clone()), path);
                    }
                    Ok(None) => {}
                    Err(e) => {
                        blocked.insert(id.clone());
                        self.refuse(doc, d, set.version, &c.name, e);
                        break;
                    }
                }
            }
        }
        for step in steps {
            match step {
                Step::Remove { id, .. } if blocked.contains(&id) => {}
                Step::Remove { id, components } => self.remove(&id, &components),
                Step::Install { id, .. } if blocked.contains(&id) => {}
                Step::Install { id, .. } => {
                    if let Some((doc, d)) = docs.get(&id) {
                        self.install(doc, d, set.version, &artifacts);
                    }
                }
            }
        }
        self.collect_garbage();
    }

    /// Report a deployment that cannot be installed for want of an artifact,
    /// leaving what runs of it (an earlier version) alone.
    fn refuse(
        &self,
        doc: &Doc,
        d: &ApplicationDeployment,
        version: u64,
        component: &str,
        error: ComponentError,
    ) {
        tracing::error!(
            id = doc.id,
            component,
            code = %error.code,
            message = error.message,
            "cannot install"
        );
        {
            let mut runs = self.lock();
            match runs.get_mut(&doc.id) {
                Some(run) if run.digest == doc.digest => {
                    // The same document failed before: report again.
                    run.needs_install = true;
                    run.set_failed(component, &error);
                    self.report(&doc.id, run);
                }
                Some(run) => {
                    // An update: the earlier version keeps running, reported
                    // failed with the reason until the update goes in.
                    let message = format!("{}; the previous version keeps running", error.message);
                    run.update_error = Some(UpdateError {
                        component: component.to_owned(),
                        error: ComponentError::new(error.code, message),
                    });
                    run.needs_install = true;
                    run.apply_update_error();
                    self.report(&doc.id, run);
                }
                None => {
                    let mut run = Run::new(doc, d, version);
                    run.needs_install = true;
                    run.settled = true;
                    run.set_failed(component, &error);
                    self.report(&doc.id, &mut run);
                    runs.insert(doc.id.clone(), run);
                }
            }
        }
        self.flush();
    }

    /// Run `f` on deployment `id`, if it is still here.
    fn update<T>(&self, id: &str, f: impl FnOnce(&mut Run) -> T) -> Option<T> {
        self.lock().get_mut(id).map(f)
    }
}
