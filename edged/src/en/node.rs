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

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use edge_model::status::{
    ComponentStatus, DeploymentStatusManifest, OverallStatus, State, StatusError,
};
use edge_model::{ApplicationDeployment, DeploymentId, MargoDocument as _, ProfileType};
use edge_runtime::driver::{Driver, Observed, Running, Workload};
use edge_runtime::plan::{self, Applied, ComponentPlan, Desired, Step};
use edge_runtime::process::RestartPolicy;
use edge_workspace::archive;

mod fetch;
mod images;

use super::state::{Db, DesiredSet, Doc};
use crate::cas::Cas;

/// Longest a component may take to come up when its deployment sets no `timeout`.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);
/// How long a component that crashed while installing must run again
/// before it counts as installed.
const SETTLE: Duration = Duration::from_millis(500);
/// How long a stopping component gets before it is killed.
pub(crate) const GRACE: Duration = Duration::from_secs(10);

/// A component being removed: index, name, type, and what runs of it.
type Taken = (usize, String, ProfileType, Option<Box<dyn Running>>);

/// A component's state and error as last reported.
type Seen = (State, Option<(String, String)>);

/// One component on this node.
pub(crate) struct Comp {
    pub(crate) plan: ComponentPlan,
    pub(crate) state: State,
    pub(crate) error: Option<(String, String)>,
    pub(crate) restarts: u32,
    /// Stopped by an operator on the node (`edgectl en stop`).
    pub(crate) held: bool,
    pub(crate) running: Option<Box<dyn Running>>,
    pub(crate) workload: Option<Workload>,
}

/// One deployment on this node.
pub(crate) struct Run {
    pub(crate) name: String,
    pub(crate) app: String,
    pub(crate) app_version: String,
    pub(crate) digest: String,
    pub(crate) version: u64,
    /// Installed as far as it goes; the watcher reports changes from now on.
    pub(crate) settled: bool,
    /// It must be installed (again): never started here, or its install failed.
    pub(crate) needs_install: bool,
    pub(crate) comps: Vec<Comp>,
    /// An update that could not be installed (component, error); the
    /// version that runs stays, and is reported failed with this error.
    pub(crate) update_error: Option<(String, (String, String))>,
    reported: Option<Vec<Seen>>,
}

/// The node: its state, drivers, artifacts and what runs.
pub(crate) struct Node {
    pub(crate) db: Db,
    pub(crate) cas: Cas,
    pub(crate) device: String,
    pub(crate) server: String,
    drivers: Vec<Arc<dyn Driver>>,
    pub(crate) runs: Mutex<BTreeMap<String, Run>>,
    client: reqwest::blocking::Client,
    /// Registries reached over plain HTTP.
    pub(crate) registries: edge_workspace::oci::Registries,
    workloads: PathBuf,
    /// Wakes the reporter (a report was queued).
    pub(crate) bell: crate::bell::Bell,
    /// Wakes the poller (an operator asked for a sync).
    pub(crate) wake: crate::bell::Bell,
    /// Rung when the fleet manager answers (a reporter backing off retries).
    pub(crate) link: crate::bell::Bell,
    pub(crate) restart: RestartPolicy,
    artifact_limit: u64,
    /// Bytes the artifact store may hold.
    store_limit: u64,
    /// When the fleet manager last answered (Unix seconds).
    heard: Mutex<Option<i64>>,
}

fn fail(code: &str, message: impl Into<String>) -> (String, String) {
    (code.to_owned(), message.into())
}

impl Node {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        db: Db,
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
            client,
            registries: edge_workspace::oci::Registries::default(),
            workloads,
            bell: crate::bell::Bell::default(),
            wake: crate::bell::Bell::default(),
            link: crate::bell::Bell::default(),
            restart,
            artifact_limit,
            store_limit: artifact_limit.saturating_mul(4),
            heard: Mutex::new(None),
        };
        // What was applied before a restart: nothing of it runs now.
        for (doc, version) in node.db.applied()? {
            match ApplicationDeployment::from_slice(&doc.bytes) {
                Ok(parsed) => {
                    let mut run = node.new_run(&doc, &parsed.document, version);
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

    pub(crate) fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Run>> {
        self.runs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The driver of a profile type.
    pub(crate) fn driver(&self, kind: edge_model::ProfileType) -> Option<Arc<dyn Driver>> {
        self.drivers.iter().find(|d| d.kind() == kind).cloned()
    }

    /// The driver names this node was built with (for capabilities).
    pub(crate) fn driver_names(&self) -> Vec<&'static str> {
        self.drivers.iter().map(|d| d.kind().as_str()).collect()
    }

    fn new_run(&self, doc: &Doc, d: &ApplicationDeployment, version: u64) -> Run {
        Run {
            name: d.metadata.name.clone(),
            app: d.metadata.annotations.application_id.to_string(),
            app_version: d
                .metadata
                .labels
                .get("app.version")
                .cloned()
                .unwrap_or_default(),
            digest: doc.digest.clone(),
            version,
            settled: false,
            needs_install: false,
            comps: plan::components(d)
                .into_iter()
                .map(|p| Comp {
                    plan: p,
                    state: State::Pending,
                    error: None,
                    restarts: 0,
                    held: false,
                    running: None,
                    workload: None,
                })
                .collect(),
            update_error: None,
            reported: None,
        }
    }

    /// The fleet manager answered: reports waiting for it go now.
    pub(crate) fn heard(&self) {
        self.link.ring();
        *self
            .heard
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(crate::clock::unix_now());
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
        match self.db.desired() {
            Ok(Some(set)) => self.reconcile(&set),
            Ok(None) => {}
            Err(e) => tracing::error!(error = %e, "cannot read the kept desired state"),
        }
    }

    /// Bring the node to `set`.
    pub(crate) fn reconcile(&self, set: &DesiredSet) {
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
        error: (String, String),
    ) {
        tracing::error!(
            id = doc.id,
            component,
            code = error.0,
            message = error.1,
            "cannot install"
        );
        let mut runs = self.lock();
        match runs.get_mut(&doc.id) {
            Some(run) if run.digest == doc.digest => {
                // The same document failed before: report again.
                run.needs_install = true;
                set_failed(run, component, &error);
                self.report(&doc.id, run);
            }
            Some(run) => {
                // An update: the earlier version keeps running, reported
                // failed with the reason until the update goes in.
                let message = format!("{}; the previous version keeps running", error.1);
                run.update_error = Some((component.to_owned(), (error.0, message)));
                run.needs_install = true;
                apply_update_error(run);
                self.report(&doc.id, run);
            }
            None => {
                let mut run = self.new_run(doc, d, version);
                run.needs_install = true;
                run.settled = true;
                set_failed(&mut run, component, &error);
                self.report(&doc.id, &mut run);
                runs.insert(doc.id.clone(), run);
            }
        }
    }

    fn install(
        &self,
        doc: &Doc,
        d: &ApplicationDeployment,
        version: u64,
        artifacts: &HashMap<(String, String), PathBuf>,
    ) {
        let id = doc.id.clone();
        // A retry (or a restart) starts from nothing running.
        let old = self.lock().remove(&id);
        if let Some(old) = old {
            for c in old.comps.into_iter().rev() {
                if let Some(r) = c.running {
                    r.stop(GRACE);
                }
            }
        }
        if let Err(e) = self.db.set_applied(doc, version) {
            tracing::error!(id, error = %e, "cannot record the deployment; not installing it");
            return;
        }
        let mut run = self.new_run(doc, d, version);
        for c in &mut run.comps {
            c.state = State::Installing;
        }
        self.report(&id, &mut run);
        let names: Vec<String> = run.comps.iter().map(|c| c.plan.name.clone()).collect();
        self.lock().insert(id.clone(), run);
        let mut failed = false;
        for (i, name) in names.iter().enumerate() {
            if failed {
                // Later components are not started after a failure.
                self.update(&id, |run| {
                    run.comps[i].state = State::Failed;
                    run.comps[i].error = Some(fail(
                        "NOT_STARTED",
                        format!("not started: an earlier component of `{}` failed", run.name),
                    ));
                });
                continue;
            }
            let outcome = self.start_component(&id, i, artifacts.get(&(id.clone(), name.clone())));
            failed = outcome.state == State::Failed;
            self.update(&id, |run| {
                let c = &mut run.comps[i];
                c.state = outcome.state;
                c.error.clone_from(&outcome.error);
                c.restarts = outcome.restarts;
            });
            self.report_now(&id);
        }
        self.update(&id, |run| {
            run.settled = true;
            run.needs_install = failed;
        });
        self.report_now(&id);
    }

    /// Start component `i` of deployment `id` and, when it asks for `wait`,
    /// wait for it to run (or fail, or time out).
    fn start_component(&self, id: &str, i: usize, artifact: Option<&PathBuf>) -> Observed {
        let failed = |(code, message): (String, String)| Observed {
            state: State::Failed,
            error: Some((code, message)),
            restarts: 0,
        };
        let Some(plan) = self.update(id, |run| run.comps[i].plan.clone()) else {
            return failed(fail("REMOVED", "the deployment went away"));
        };
        let Some(driver) = self.drivers.iter().find(|d| d.kind() == plan.kind) else {
            return failed(fail(
                "UNSUPPORTED",
                format!("this node has no `{}` runtime", plan.kind),
            ));
        };
        if let Some(why) = driver.unavailable() {
            return failed(fail("UNSUPPORTED", why));
        }
        let dir = self.workloads.join(id).join(&plan.name);
        let artifact = match (plan.kind, artifact) {
            (ProfileType::Container, _) => PathBuf::new(),
            (ProfileType::Compose, Some(a)) => match unpack_compose(a, &dir) {
                Ok(top) => top,
                Err(e) => return failed(e),
            },
            (_, Some(a)) => a.clone(),
            (_, None) => return failed(fail("ARTIFACT", "the component names no artifact")),
        };
        let workload = Workload {
            deployment: id.to_owned(),
            component: plan.clone(),
            artifact,
            dir,
            restart: self.restart,
        };
        let running = match driver.start(&workload) {
            Ok(r) => r,
            Err(e) => return failed((e.code, e.message)),
        };
        let deadline = Instant::now() + plan.timeout.unwrap_or(DEFAULT_TIMEOUT);
        // Up since when, after how many restarts: after a crash, running is
        // believed only once it has lasted a moment (a crash loop passes
        // through `installed` between its crashes).
        let mut up: Option<(Instant, u32)> = None;
        let observed = loop {
            let o = running.observe();
            // Crash loops and failed starts are final; a restart in progress is not.
            let gave_up = o
                .error
                .as_ref()
                .is_some_and(|e| matches!(e.0.as_str(), "GAVE_UP" | "START_FAILED"));
            if !plan.wait || gave_up {
                break o;
            }
            if o.state == State::Installed {
                match up {
                    _ if o.restarts == 0 => break o,
                    Some((since, n)) if n == o.restarts && since.elapsed() >= SETTLE => break o,
                    Some((_, n)) if n == o.restarts => {}
                    _ => up = Some((Instant::now(), o.restarts)),
                }
            } else {
                up = None;
            }
            if Instant::now() >= deadline {
                break Observed {
                    state: State::Failed,
                    error: Some(fail(
                        "TIMEOUT",
                        format!(
                            "not running within {}s",
                            plan.timeout.unwrap_or(DEFAULT_TIMEOUT).as_secs()
                        ),
                    )),
                    restarts: o.restarts,
                };
            }
            std::thread::park_timeout(Duration::from_millis(25));
        };
        if observed.state == State::Failed {
            running.stop(GRACE);
            return observed;
        }
        let kept = self.update(id, |run| {
            let c = &mut run.comps[i];
            c.running = Some(running);
            c.workload = Some(workload);
        });
        if kept.is_none() {
            return failed(fail("REMOVED", "the deployment went away"));
        }
        observed
    }

    fn remove(&self, id: &str, _components: &[String]) {
        // `removing` while it lasts (and shown so by `edgectl en list`); the
        // watcher leaves a deployment that is not settled alone.
        let taken: Vec<Taken> = {
            let mut runs = self.lock();
            let Some(run) = runs.get_mut(id) else {
                return;
            };
            run.settled = false;
            for c in &mut run.comps {
                c.state = State::Removing;
                c.error = None;
                c.held = false;
            }
            self.report(id, run);
            run.comps
                .iter_mut()
                .enumerate()
                .rev()
                .map(|(i, c)| (i, c.plan.name.clone(), c.plan.kind, c.running.take()))
                .collect()
        };
        for (i, name, kind, running) in taken {
            if let Some(r) = running {
                r.stop(GRACE);
            }
            // What a killed daemon left behind (a process, containers).
            if let Some(d) = self.driver(kind) {
                d.clean(&self.workloads.join(id).join(&name));
            }
            self.update(id, |run| {
                run.comps[i].state = State::Removed;
                run.comps[i].workload = None;
            });
        }
        let _ = std::fs::remove_dir_all(self.workloads.join(id));
        let Some(mut run) = self.lock().remove(id) else {
            return;
        };
        self.report(id, &mut run);
        if let Err(e) = self.db.remove_applied(id) {
            tracing::error!(id, error = %e, "cannot record the removal");
        }
        tracing::info!(id, name = run.name, "removed");
    }

    /// Run `f` on deployment `id`, if it is still here.
    pub(crate) fn update<T>(&self, id: &str, f: impl FnOnce(&mut Run) -> T) -> Option<T> {
        self.lock().get_mut(id).map(f)
    }

    fn report_now(&self, id: &str) {
        let mut runs = self.lock();
        if let Some(run) = runs.get_mut(id) {
            self.report(id, run);
        }
    }

    /// Queue a status report of `run` when it differs from the last one.
    pub(crate) fn report(&self, id: &str, run: &mut Run) {
        let now: Vec<_> = run
            .comps
            .iter()
            .map(|c| (c.state, c.error.clone()))
            .collect();
        if run.reported.as_ref() == Some(&now) {
            return;
        }
        let Ok(deployment_id) = DeploymentId::new(id) else {
            return;
        };
        let doc = status_doc(deployment_id, run);
        match serde_json::to_vec(&doc) {
            Ok(body) => match self.db.push("status", id, &body) {
                Ok(()) => {
                    tracing::info!(id, state = %doc.status.state, "status");
                    run.reported = Some(now);
                    self.bell.ring();
                }
                Err(e) => tracing::error!(id, error = %e, "cannot queue a status report"),
            },
            Err(e) => tracing::error!(id, error = %e, "cannot encode a status report"),
        }
    }

    /// Look at every settled component and report what changed (a crash,
    /// a restart that brought it back).
    pub(crate) fn observe(&self) {
        let mut runs = self.lock();
        for (id, run) in runs.iter_mut() {
            if !run.settled {
                continue;
            }
            for c in &mut run.comps {
                if c.held {
                    c.state = State::Failed;
                    c.error = Some(fail(
                        "STOPPED",
                        "stopped on the node by an operator (`edgectl en stop`)",
                    ));
                } else if let Some(r) = &c.running {
                    let o = r.observe();
                    c.state = o.state;
                    c.error = o.error;
                    c.restarts = o.restarts;
                }
            }
            apply_update_error(run);
            self.report(id, run);
        }
    }

    /// Stop every workload (the daemon is exiting); nothing is reported,
    /// since they come back when it starts again.
    pub(crate) fn shutdown(&self) {
        let mut runs = std::mem::take(&mut *self.lock());
        for run in runs.values_mut() {
            for c in run.comps.iter_mut().rev() {
                if let Some(r) = c.running.take() {
                    r.stop(GRACE);
                }
            }
        }
    }
}

/// Unpack a (checked) compose archive into `dir/project`, replacing what an
/// earlier start left there; returns its top directory.
fn unpack_compose(
    archive_file: &std::path::Path,
    dir: &std::path::Path,
) -> Result<PathBuf, (String, String)> {
    let bytes = std::fs::read(archive_file).map_err(|e| fail("ARTIFACT", e.to_string()))?;
    let dest = dir.join("project");
    let _ = std::fs::remove_dir_all(&dest);
    std::fs::create_dir_all(dir).map_err(|e| fail("START", e.to_string()))?;
    archive::unpack_compose(&bytes, &dest, archive::Limits::default())
        .map_err(|e| fail("ARTIFACT", format!("the compose archive is refused: {e}")))
}

fn apply_update_error(run: &mut Run) {
    if let Some((component, error)) = &run.update_error
        && let Some(c) = run.comps.iter_mut().find(|c| &c.plan.name == component)
    {
        c.state = State::Failed;
        c.error = Some(error.clone());
    }
}

fn set_failed(run: &mut Run, component: &str, error: &(String, String)) {
    for c in &mut run.comps {
        if c.plan.name == component {
            c.state = State::Failed;
            c.error = Some(error.clone());
        } else if c.running.is_none() {
            c.state = State::Pending;
            c.error = None;
        }
    }
}

/// The Margo status report of a deployment.
pub(crate) fn status_doc(id: DeploymentId, run: &Run) -> DeploymentStatusManifest {
    let components: Vec<ComponentStatus> = run
        .comps
        .iter()
        .map(|c| ComponentStatus {
            name: c.plan.name.clone(),
            state: c.state,
            error: c.error.as_ref().map(|(code, message)| StatusError {
                code: Some(code.clone()),
                source: Some(c.plan.name.clone()),
                message: Some(message.clone()),
            }),
        })
        .collect();
    let state = State::overall(components.iter().map(|c| c.state)).unwrap_or(State::Pending);
    let error = components
        .iter()
        .find(|c| c.state == State::Failed)
        .and_then(|c| c.error.clone())
        .map(|e| StatusError {
            source: Some(run.name.clone()),
            ..e
        });
    DeploymentStatusManifest {
        api_version: None,
        kind: None,
        deployment_id: id,
        device_id: None,
        adopted_manifest_version: Some(run.version),
        status: OverallStatus { state, error },
        components,
    }
}
