//! What an operator on the node may do to one workload (`edgectl en`
//! through `ops.rs`): list, find by name, stop, start, and look at its log
//! and usage. A stopped workload is held: reported `failed`/`STOPPED` until
//! started again.

use std::collections::HashMap;
use std::path::PathBuf;

use edge_api::node::WorkloadRow;
use edge_model::ProfileType;
use edge_model::status::State;
use edge_runtime::ComponentError;

use super::run::Comp;
use super::{GRACE, Node};

/// One component of one deployment here, as found by [`Node::find`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WorkloadRef {
    id: String,
    index: usize,
}

impl WorkloadRef {
    /// The id of the deployment it belongs to.
    pub(crate) fn deployment(&self) -> &str {
        &self.id
    }
}

/// Why a workload name names no one component.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FindError {
    /// No deployment by that name, id or app.
    #[error("no workload `{0}` on this node; `edgectl en list` shows them")]
    Unknown(String),
    /// Several deployments answer to it.
    #[error("`{who}` names {count} deployments; use a deployment name from `edgectl en list`")]
    Ambiguous { who: String, count: usize },
    /// The deployment has several components and none was named.
    #[error("`{who}` has {count} components; name one as `{who}/COMPONENT`")]
    WhichComponent { who: String, count: usize },
    /// The deployment has no such component.
    #[error("`{who}` has no component `{component}`")]
    NoComponent { who: String, component: String },
}

/// Why a workload cannot be started by an operator.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StartError {
    /// Its deployment was removed meanwhile.
    #[error("it went away")]
    Gone,
    /// It never started here, so there is nothing to start again.
    #[error("it was never started on this node; it starts when its deployment is installed")]
    NeverStarted,
    /// This node has no driver of its type.
    #[error("no `{0}` runtime here")]
    NoRuntime(ProfileType),
    /// The driver refused it.
    #[error("it does not start")]
    Driver(#[source] ComponentError),
}

/// What an operator sees of a workload's use of the host.
#[derive(Debug, Clone)]
pub(crate) struct Usage {
    pub(crate) state: State,
    pub(crate) restarts: u32,
    /// Its process, when it is one of its own.
    pub(crate) pid: Option<u32>,
}

impl Node {
    /// One row per component, with the app version `desired` (by
    /// deployment id) asks for.
    pub(crate) fn workloads(&self, desired: &HashMap<String, String>) -> Vec<WorkloadRow> {
        let runs = self.lock();
        let mut out = Vec::new();
        for (id, run) in runs.iter() {
            let several = run.comps.len() > 1;
            for c in &run.comps {
                let running = c
                    .running
                    .as_ref()
                    .is_some_and(|_| c.state == State::Installed);
                out.push(WorkloadRow {
                    workload: if several {
                        format!("{}/{}", run.name, c.plan.name)
                    } else {
                        run.name.clone()
                    },
                    deployment: id.clone(),
                    app: run.app.clone(),
                    component: c.plan.name.clone(),
                    kind: c.plan.kind.to_string(),
                    desired_version: desired.get(id).cloned().unwrap_or_default(),
                    running_version: if running {
                        run.app_version.clone()
                    } else {
                        String::new()
                    },
                    state: c.state.to_string(),
                    restarts: c.restarts,
                    last_error: c.error.as_ref().map(ToString::to_string),
                    held: c.held,
                    pid: c.running.as_ref().and_then(|r| r.pid()),
                });
            }
        }
        out
    }

    /// The component a workload name names: a deployment name, id or app
    /// id, then `/component` when the deployment has several.
    pub(crate) fn find(&self, name: &str) -> Result<WorkloadRef, FindError> {
        let (who, component) = match name.split_once('/') {
            Some((w, c)) => (w, Some(c)),
            None => (name, None),
        };
        let runs = self.lock();
        let mut matches: Vec<_> = runs
            .iter()
            .filter(|(id, r)| id.as_str() == who || r.name == who || r.app == who)
            .collect();
        // Else a unique start of a deployment id (at least 4 characters), as
        // the CO takes them.
        if matches.is_empty() && who.len() >= 4 {
            matches = runs.iter().filter(|(id, _)| id.starts_with(who)).collect();
        }
        let (id, run) = match matches.as_slice() {
            [one] => *one,
            [] => return Err(FindError::Unknown(who.to_owned())),
            _ => {
                return Err(FindError::Ambiguous {
                    who: who.to_owned(),
                    count: matches.len(),
                });
            }
        };
        let index = match component {
            Some(c) => run.comps.iter().position(|x| x.plan.name == c),
            None if run.comps.len() == 1 => Some(0),
            None => {
                return Err(FindError::WhichComponent {
                    who: who.to_owned(),
                    count: run.comps.len(),
                });
            }
        }
        .ok_or_else(|| FindError::NoComponent {
            who: who.to_owned(),
            component: component.unwrap_or_default().to_owned(),
        })?;
        Ok(WorkloadRef {
            id: id.clone(),
            index,
        })
    }

    /// Run `f` on the component `w` names, if it is still here.
    fn with_comp<T>(&self, w: &WorkloadRef, f: impl FnOnce(&mut Comp) -> T) -> Option<T> {
        self.update(&w.id, |run| run.comps.get_mut(w.index).map(f))
            .flatten()
    }

    /// Stop a workload and hold it stopped.
    pub(crate) fn stop_workload(&self, w: &WorkloadRef) {
        if let Some(r) = self.with_comp(w, |c| c.running.take()).flatten() {
            r.stop(GRACE);
        }
        self.with_comp(w, |c| c.held = true);
    }

    /// Start a workload again (nothing to do when it runs) and release its
    /// hold; `true` when it was started.
    ///
    /// # Errors
    /// When it went away, never ran here, or does not start.
    pub(crate) fn start_workload(&self, w: &WorkloadRef) -> Result<bool, StartError> {
        let (workload, kind) = self
            .with_comp(w, |c| (c.workload.clone(), c.plan.kind))
            .ok_or(StartError::Gone)?;
        let workload = workload.ok_or(StartError::NeverStarted)?;
        let driver = self.driver(kind).ok_or(StartError::NoRuntime(kind))?;
        let already = self.with_comp(w, |c| c.running.is_some()).unwrap_or(false);
        if !already {
            let r = driver.start(&workload).map_err(StartError::Driver)?;
            self.with_comp(w, |c| c.running = Some(r));
        }
        self.with_comp(w, |c| c.held = false);
        Ok(!already)
    }

    /// Where a workload's log is, once it has started here.
    pub(crate) fn log_path(&self, w: &WorkloadRef) -> Option<PathBuf> {
        self.with_comp(w, |c| c.workload.as_ref().map(|x| x.dir.join("output.log")))
            .flatten()
    }

    /// The log of every workload that started here.
    pub(crate) fn log_paths(&self) -> Vec<PathBuf> {
        let runs = self.lock();
        runs.values()
            .flat_map(|run| &run.comps)
            .filter_map(|c| c.workload.as_ref().map(|x| x.dir.join("output.log")))
            .collect()
    }

    /// A workload's state, restarts and process, `None` when it went away.
    pub(crate) fn usage(&self, w: &WorkloadRef) -> Option<Usage> {
        self.with_comp(w, |c| Usage {
            state: c.state,
            restarts: c.restarts,
            pid: c.running.as_ref().and_then(|r| r.pid()),
        })
    }
}
