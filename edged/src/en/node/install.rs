//! Starting and removing a deployment's components through the drivers:
//! components in listed order honouring `wait` and `timeout` (a start that
//! fails leaves the later ones `NOT_STARTED`), removal last-installed first,
//! ending what a killed daemon left behind.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use edge_model::status::State;
use edge_model::{ApplicationDeployment, ProfileType};
use edge_runtime::driver::{Observed, Running, Workload};
use edge_runtime::{ComponentError, FailureCode};
use edge_workspace::archive;

use super::run::Run;
use super::{CONFIRM, DEFAULT_TIMEOUT, Doc, GRACE, Node, SETTLE, fail};

/// A component being removed, with what runs of it.
struct Taken {
    index: usize,
    name: String,
    kind: ProfileType,
    running: Option<Box<dyn Running>>,
}

impl Node {
    /// Install `doc` (parsed as `d`) of manifest `version`, its artifacts
    /// already on disk in `artifacts` by (deployment id, component).
    pub(super) fn install(
        &self,
        doc: &Doc,
        d: &ApplicationDeployment,
        version: u64,
        artifacts: &HashMap<(String, String), PathBuf>,
    ) {
        let id = doc.id.clone();
        let mut kept = self.stop_replaced(&id, doc, d);
        if let Err(e) = self.db.set_applied(doc, version) {
            tracing::error!(id, error = %e, "cannot record the deployment; not installing it");
            return;
        }
        let mut run = Run::new(doc, d, version);
        for c in &mut run.comps {
            match kept.remove(&c.plan.name) {
                Some(k) => *c = k,
                None => c.state = State::Installing,
            }
        }
        let keep: Vec<bool> = run.comps.iter().map(|c| c.running.is_some()).collect();
        self.report(&id, &mut run);
        let names: Vec<String> = run.comps.iter().map(|c| c.plan.name.clone()).collect();
        self.lock().insert(id.clone(), run);
        self.flush();
        let mut failed = false;
        for (i, name) in names.iter().enumerate() {
            if keep[i] {
                // Unchanged by an update: it runs on.
                continue;
            }
            if failed {
                // Later components are not started after a failure.
                self.update(&id, |run| {
                    run.comps[i].state = State::Failed;
                    run.comps[i].error = Some(fail(
                        FailureCode::NotStarted,
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

    /// Take deployment `id`'s run before (re)installing it from `doc`. A
    /// retry or a restart starts from nothing running. An update (a new
    /// digest) keeps the components whose plan did not change running
    /// (returned by name) and stops the others; the components the new
    /// version no longer has are cleaned up and their folders removed.
    fn stop_replaced(
        &self,
        id: &str,
        doc: &Doc,
        d: &ApplicationDeployment,
    ) -> HashMap<String, super::run::Comp> {
        let mut kept = HashMap::new();
        let Some(old) = self.lock().remove(id) else {
            return kept;
        };
        let replacing = old.digest != doc.digest;
        let new = edge_runtime::plan::components(d);
        let keep = if replacing && !old.needs_install {
            let was: Vec<_> = old
                .comps
                .iter()
                .map(|c| (c.plan.clone(), c.state))
                .collect();
            edge_runtime::plan::unchanged(&was, &new)
        } else {
            Vec::new()
        };
        for c in old.comps.into_iter().rev() {
            let name = c.plan.name.clone();
            if c.running.is_some() && !c.held && keep.contains(&name) {
                kept.insert(name, c);
                continue;
            }
            if let Some(r) = c.running {
                r.stop(GRACE);
            }
            if replacing {
                if let Some(driver) = self.driver(c.plan.kind) {
                    driver.clean(id, &name);
                }
                if !new.iter().any(|p| p.name == name) {
                    let _ = std::fs::remove_dir_all(self.workloads.join(id).join(&name));
                }
            }
        }
        if replacing {
            tracing::info!(
                id,
                kept = kept.len(),
                replaced = new.len() - kept.len(),
                "updating in place"
            );
        }
        kept
    }

    /// Start component `i` of deployment `id` and, when it asks for `wait`,
    /// wait for it to run (or fail, or time out).
    fn start_component(&self, id: &str, i: usize, artifact: Option<&PathBuf>) -> Observed {
        let failed = |error: ComponentError| Observed {
            state: State::Failed,
            error: Some(error),
            restarts: 0,
        };
        let Some(plan) = self.update(id, |run| run.comps[i].plan.clone()) else {
            return failed(fail(FailureCode::Removed, "the deployment went away"));
        };
        let driver = match self.runtime(plan.kind) {
            Ok(driver) => driver,
            Err(e) => return failed(e),
        };
        let dir = self.workloads.join(id).join(&plan.name);
        let artifact = match (plan.kind, artifact) {
            (ProfileType::Container, _) => PathBuf::new(),
            (ProfileType::Compose, Some(a)) => match unpack_compose(a, &dir) {
                Ok(top) => top,
                Err(e) => return failed(e),
            },
            (_, Some(a)) => a.clone(),
            (_, None) => {
                return failed(fail(
                    FailureCode::Artifact,
                    "the component names no artifact",
                ));
            }
        };
        let workload = Workload {
            deployment: id.to_owned(),
            component: plan.clone(),
            artifact,
            origin: self.origin(&plan),
            dir,
            restart: self.restart,
            env: self
                .workload_env
                .as_ref()
                .map(|f| f(id, &plan.name, plan.kind))
                .unwrap_or_default(),
        };
        let running = match driver.start(&workload) {
            Ok(r) => r,
            Err(e) => return failed(e),
        };
        let timeout = plan.timeout.unwrap_or(DEFAULT_TIMEOUT);
        let observed = if plan.wait {
            wait_until_up(running.as_ref(), timeout)
        } else {
            running.observe()
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
            return failed(fail(FailureCode::Removed, "the deployment went away"));
        }
        observed
    }

    /// Stop and remove deployment `id`, components last-installed first.
    pub(super) fn remove(&self, id: &str, _components: &[String]) {
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
                .map(|(index, c)| Taken {
                    index,
                    name: c.plan.name.clone(),
                    kind: c.plan.kind,
                    running: c.running.take(),
                })
                .collect()
        };
        self.flush();
        for t in taken {
            if let Some(r) = t.running {
                r.stop(GRACE);
            }
            // What a killed daemon left behind (a process, containers).
            if let Some(d) = self.driver(t.kind) {
                d.clean(id, &t.name);
            }
            self.update(id, |run| {
                run.comps[t.index].state = State::Removed;
                run.comps[t.index].workload = None;
            });
        }
        let _ = std::fs::remove_dir_all(self.workloads.join(id));
        let Some(mut run) = self.lock().remove(id) else {
            return;
        };
        self.report(id, &mut run);
        self.flush();
        if let Err(e) = self.db.remove_applied(id) {
            tracing::error!(id, error = %e, "cannot record the removal");
        }
        tracing::info!(id, name = run.name, "removed");
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

/// Watch a started component until it runs, fails for good, or `timeout`
/// passes (then `failed`, `TIMEOUT`). Running is believed only once it has
/// lasted: [`CONFIRM`] (one look later) at the first start, [`SETTLE`] after
/// a crash (a crash loop passes through `installed` between its crashes),
/// and once the driver sees it at rest (`Running::resting`), which a
/// starved machine cannot fake by the clock running on.
fn wait_until_up(running: &dyn Running, timeout: Duration) -> Observed {
    let started = Instant::now();
    let deadline = started + timeout;
    // Up since when, after how many restarts.
    let mut up: Option<(Instant, u32)> = None;
    loop {
        let o = running.observe();
        // Crash loops and failed starts are final; a restart in progress is not.
        if o.error.as_ref().is_some_and(|e| e.code.is_final()) {
            return o;
        }
        if o.state == State::Installed {
            let settle = if o.restarts == 0 { CONFIRM } else { SETTLE };
            match up {
                // Lasted, and come to rest (waiting for work, or working a
                // while): on a busy machine a module that will fail soon
                // may simply not have run yet.
                Some((since, n))
                    if n == o.restarts
                        && since.elapsed() >= settle
                        && running.resting() != Some(false) =>
                {
                    return o;
                }
                Some((_, n)) if n == o.restarts => {}
                _ => up = Some((Instant::now(), o.restarts)),
            }
        } else {
            up = None;
        }
        if Instant::now() >= deadline {
            return Observed {
                state: State::Failed,
                error: Some(fail(
                    FailureCode::Timeout,
                    format!("not running within {}s", timeout.as_secs()),
                )),
                restarts: o.restarts,
            };
        }
        // Look again when the component may have lasted long enough, or
        // soon while it is starting (most start within milliseconds), then
        // every [`LOOK`].
        let next = match up {
            Some((since, n)) => {
                let settle = if n == 0 { CONFIRM } else { SETTLE };
                match settle.saturating_sub(since.elapsed()) {
                    // Lasted, not yet at rest: soon again.
                    left if left.is_zero() => LOOK / 10,
                    left => left.min(LOOK),
                }
            }
            None if started.elapsed() < LOOK * 4 => LOOK / 10,
            None => LOOK,
        };
        std::thread::park_timeout(next.max(Duration::from_millis(1)));
    }
}

/// How often a starting component is looked at, at most.
const LOOK: Duration = Duration::from_millis(25);

/// Unpack a (checked) compose archive into `dir/project`, replacing what an
/// earlier start left there; returns its top directory. `dir` is the
/// workload's control folder, the daemon's alone.
fn unpack_compose(archive_file: &Path, dir: &Path) -> Result<PathBuf, ComponentError> {
    let bytes =
        std::fs::read(archive_file).map_err(|e| fail(FailureCode::Artifact, e.to_string()))?;
    let dest = dir.join("project");
    edge_runtime::control::ControlDir::make(dir, 0o700)
        .map_err(|e| fail(FailureCode::Start, e.to_string()))?;
    // Links in it are removed, never followed.
    let _ = std::fs::remove_dir_all(&dest);
    archive::unpack_compose(&bytes, &dest, archive::Limits::default()).map_err(|e| {
        fail(
            FailureCode::Artifact,
            format!("the compose archive is refused: {e}"),
        )
    })
}
