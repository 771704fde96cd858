//! The one door between the TUI and the world. `edgectl` implements it over
//! the CO's north API and the node operations socket; tests use a fake.
//! Every call blocks; the TUI makes them off its drawing thread.

use edge_api::types::{
    AppDetail, AppSummary, DeployRequest, DeploymentSummary, Device, Event, Rollout, Site,
};

/// Everything the screens list, read at start and again when the event
/// stream says the picture changed in a way an event does not carry.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// Sites, by name.
    pub sites: Vec<Site>,
    /// Devices of every site.
    pub devices: Vec<Device>,
    /// Deployments with their last reported state.
    pub deployments: Vec<DeploymentSummary>,
    /// The app store.
    pub apps: Vec<AppSummary>,
}

/// A piece of a workload's log, read through this host's node operations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogPiece {
    /// The text read (lossy UTF-8).
    pub text: String,
    /// Where to read from next time to follow the log.
    pub next: u64,
}

/// The edge node on this host, the one whose workloads' logs the TUI can
/// read (it reads them through the node's operations socket, in its data
/// folder).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalNode {
    /// No node's data folder was named (`edgectl tui` without `--en-data`).
    Unnamed,
    /// The node in the named data folder is this device.
    Device(String),
    /// A data folder was named but no node answers there: why.
    Unreachable(String),
}

/// What the user can do to a rollout (`POST /api/rollouts/{id}/{action}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RolloutAction {
    /// Send no more waves; the devices already changed keep the change.
    Pause,
    /// Go on with a paused rollout.
    Resume,
    /// Put the previous deployments back on every device it changed.
    Undo,
}

impl RolloutAction {
    /// The last segment of its path.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pause => "pause",
            Self::Resume => "resume",
            Self::Undo => "undo",
        }
    }
}

/// What the TUI asks of the outside. Errors are sentences for the status line.
pub trait Backend: Send + Sync + 'static {
    /// Sites, devices, deployments and apps as they are now.
    ///
    /// # Errors
    /// When the CO cannot be reached or refuses.
    fn snapshot(&self) -> Result<Snapshot, String>;

    /// One app of the store with its newest description (profiles,
    /// parameters, configuration schema).
    ///
    /// # Errors
    /// When the CO cannot be reached or has no such app.
    fn app(&self, id: &str) -> Result<AppDetail, String>;

    /// Deploy; returns the deployments made (one per device).
    ///
    /// # Errors
    /// The CO's refusal, as a sentence (bad parameter, no device fits, …).
    fn deploy(&self, request: &DeployRequest) -> Result<Vec<DeploymentSummary>, String>;

    /// Remove a deployment from its site's desired state.
    ///
    /// # Errors
    /// When the CO refuses or cannot be reached.
    fn undeploy(&self, deployment: &str) -> Result<(), String>;

    /// The newest `limit` rollouts, newest first, without their targets.
    ///
    /// # Errors
    /// When the CO cannot be reached or refuses.
    fn rollouts(&self, limit: usize) -> Result<Vec<Rollout>, String>;

    /// One rollout with its targets (each deployment it changes).
    ///
    /// # Errors
    /// When the CO cannot be reached or has no such rollout.
    fn rollout(&self, id: &str) -> Result<Rollout, String>;

    /// Pause, resume or undo a rollout; returns it as it is afterwards.
    ///
    /// # Errors
    /// The CO's refusal, as a sentence (e.g. not possible in its state).
    fn rollout_action(&self, id: &str, action: RolloutAction) -> Result<Rollout, String>;

    /// Which edge node runs on this host, if any: the TUI reads the logs
    /// of that device's workloads only.
    fn local_node(&self) -> LocalNode;

    /// The log of a deployment's workload on this host's edge node, from
    /// byte `from` on.
    ///
    /// # Errors
    /// When no edge node runs here, or it does not run that deployment.
    fn logs(&self, deployment: &str, from: u64) -> Result<LogPiece, String>;

    /// The log of a deployment's workload on whatever device runs it, read
    /// there through the CO and the site's LO (`GET
    /// /api/deployments/{id}/logs`), from byte `from` on (0: its end).
    ///
    /// # Errors
    /// Why it cannot be had, as the CO says it (the LO or the device not
    /// reachable, not placed yet, no log, …).
    fn remote_logs(&self, deployment: &str, from: u64) -> Result<LogPiece, String>;

    /// Follow the CO's event stream after event `after`, handing each event
    /// to `sink` until it returns `false` (then `Ok`) or the stream breaks
    /// (then `Err`; the caller reconnects, resuming after the last id).
    ///
    /// # Errors
    /// When the stream cannot be opened or breaks.
    fn events(&self, after: Option<u64>, sink: &mut dyn FnMut(Event) -> bool)
    -> Result<(), String>;
}
