//! The executor's records of what runs: one [`Run`] per deployment, one
//! [`Comp`] per component, with the state last observed and the status
//! report they make. Private to the executor; node operations go through
//! `Node`'s methods.

use edge_model::status::{
    ComponentStatus, DeploymentStatusManifest, OverallStatus, State, StatusError,
};
use edge_model::{ApplicationDeployment, DeploymentId};
use edge_runtime::driver::{Running, Workload};
use edge_runtime::plan::{self, ComponentPlan};
use edge_runtime::{ComponentError, FailureCode};

use super::super::state::Doc;

/// One component on this node.
pub(super) struct Comp {
    pub(super) plan: ComponentPlan,
    pub(super) state: State,
    pub(super) error: Option<ComponentError>,
    pub(super) restarts: u32,
    /// Stopped by an operator on the node (`edgectl en stop`).
    pub(super) held: bool,
    pub(super) running: Option<Box<dyn Running>>,
    pub(super) workload: Option<Workload>,
}

/// A component's state and error as last reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Seen {
    state: State,
    error: Option<ComponentError>,
}

/// An update that could not be installed: the version that runs stays, and
/// `component` is reported failed with `error` until the update goes in.
#[derive(Debug, Clone)]
pub(super) struct UpdateError {
    pub(super) component: String,
    pub(super) error: ComponentError,
}

/// One deployment on this node.
pub(super) struct Run {
    pub(super) name: String,
    pub(super) app: String,
    pub(super) app_version: String,
    pub(super) digest: String,
    pub(super) version: u64,
    /// Installed as far as it goes; the watcher reports changes from now on.
    pub(super) settled: bool,
    /// It must be installed (again): never started here, or its install failed.
    pub(super) needs_install: bool,
    pub(super) comps: Vec<Comp>,
    /// An update that could not be installed.
    pub(super) update_error: Option<UpdateError>,
    /// What the last queued report said, per component.
    pub(super) reported: Option<Vec<Seen>>,
}

impl Run {
    /// A deployment not started yet: every component `pending`.
    pub(super) fn new(doc: &Doc, d: &ApplicationDeployment, version: u64) -> Self {
        Self {
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

    /// What a report of it would say now.
    pub(super) fn seen(&self) -> Vec<Seen> {
        self.comps
            .iter()
            .map(|c| Seen {
                state: c.state,
                error: c.error.clone(),
            })
            .collect()
    }

    /// Mark `component` failed with `error`; the others that do not run are
    /// pending again.
    pub(super) fn set_failed(&mut self, component: &str, error: &ComponentError) {
        for c in &mut self.comps {
            if c.plan.name == component {
                c.state = State::Failed;
                c.error = Some(error.clone());
            } else if c.running.is_none() {
                c.state = State::Pending;
                c.error = None;
            }
        }
    }

    /// Show the update that could not be installed, if any, on its component.
    pub(super) fn apply_update_error(&mut self) {
        if let Some(u) = &self.update_error
            && let Some(c) = self.comps.iter_mut().find(|c| c.plan.name == u.component)
        {
            c.state = State::Failed;
            c.error = Some(u.error.clone());
        }
    }

    /// Held by an operator: failed, `STOPPED`.
    pub(super) fn hold_reason() -> ComponentError {
        ComponentError::new(
            FailureCode::Stopped,
            "stopped on the node by an operator (`edgectl en stop`)",
        )
    }

    /// The Margo status report of this deployment.
    pub(super) fn status_doc(&self, id: DeploymentId) -> DeploymentStatusManifest {
        let components: Vec<ComponentStatus> = self
            .comps
            .iter()
            .map(|c| ComponentStatus {
                name: c.plan.name.clone(),
                state: c.state,
                error: c.error.as_ref().map(|e| StatusError {
                    code: Some(e.code.as_str().to_owned()),
                    source: Some(c.plan.name.clone()),
                    message: Some(e.message.clone()),
                }),
            })
            .collect();
        let state = State::overall(components.iter().map(|c| c.state)).unwrap_or(State::Pending);
        let error = components
            .iter()
            .find(|c| c.state == State::Failed)
            .and_then(|c| c.error.clone())
            .map(|e| StatusError {
                source: Some(self.name.clone()),
                ..e
            });
        DeploymentStatusManifest {
            api_version: None,
            kind: None,
            deployment_id: id,
            device_id: None,
            adopted_manifest_version: Some(self.version),
            status: OverallStatus { state, error },
            components,
        }
    }
}
