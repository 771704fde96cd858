//! What became of a deploy sent from the form: the deployments the CO made
//! (one per device), each followed through the status its device reports
//! until it is installed or failed (with the reason). Pure: the rows are
//! read from the state, where status events and refreshes keep them; the
//! popup that shows them is in `popup.rs`.

use edge_api::types::DeploymentSummary;

use crate::state::State;

/// A deploy from the form, followed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DeployOutcome {
    pub(crate) app: String,
    pub(crate) version: String,
    pub(crate) site: String,
    /// The deployments made, as the CO answered (kept up to date by status
    /// events while the list has not caught up with them).
    pub(crate) made: Vec<DeploymentSummary>,
    /// The summary went to the status line once every device had answered.
    pub(crate) told: bool,
    /// Snapshots still to arrive before the list shows the deploy: one
    /// asked before it may be on its way.
    pub(crate) loads_to_wait: u8,
}

/// Where one device's deployment is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Step {
    pub(crate) device: String,
    /// What to show: its reported state, or what it waits for.
    pub(crate) label: String,
    /// The reported state the label stands for, for its colour.
    pub(crate) state: Option<String>,
    /// Why it failed.
    pub(crate) error: Option<String>,
    /// Installed, failed or otherwise settled: nothing more to wait for.
    pub(crate) done: bool,
}

impl DeployOutcome {
    /// Follow `made`, the CO's answer to a deploy, once `loads_to_wait`
    /// snapshots have come. A deployment changed in place waits for a
    /// report of its new document.
    pub(crate) fn new(mut made: Vec<DeploymentSummary>, loads_to_wait: u8) -> Self {
        for m in &mut made {
            if m.change.as_deref() == Some("updated") {
                m.state = None;
                m.stale = true;
            }
        }
        let first = made.first();
        Self {
            app: first.map(|d| d.app.clone()).unwrap_or_default(),
            version: first.map(|d| d.version.clone()).unwrap_or_default(),
            site: first.map(|d| d.site.clone()).unwrap_or_default(),
            made,
            told: false,
            loads_to_wait,
        }
    }

    /// Each device's step, the failed first, then those still waiting.
    pub(crate) fn steps(&self, state: &State) -> Vec<Step> {
        let mut steps: Vec<Step> = self.made.iter().map(|m| self.step(state, m)).collect();
        steps.sort_by_key(|s| match (s.done, s.state.as_deref()) {
            (true, Some("failed")) => 0,
            (false, _) => 1,
            _ => 2,
        });
        steps
    }

    /// `hello-wasm 1.0.0: installed on 1 of 2 devices, failed on 1`.
    pub(crate) fn summary(&self, state: &State) -> String {
        let steps = self.steps(state);
        let count = |f: &dyn Fn(&Step) -> bool| steps.iter().filter(|s| f(s)).count();
        let installed = count(&|s| s.done && s.state.as_deref() == Some("installed"));
        let failed = count(&|s| s.done && s.state.as_deref() == Some("failed"));
        let waiting = count(&|s| !s.done);
        let mut text = format!(
            "{} {}: installed on {installed} of {}",
            self.app,
            self.version,
            plural(steps.len(), "device")
        );
        if failed > 0 {
            text.push_str(&format!(", failed on {failed}"));
        }
        if waiting > 0 {
            text.push_str(&format!(", {waiting} waiting"));
        }
        text
    }

    /// Where `made` is now: its row in the list once the list shows the
    /// deploy (kept by status events and refreshes), else what the CO
    /// answered, updated by status events.
    fn step(&self, state: &State, made: &DeploymentSummary) -> Step {
        let listed = (self.loads_to_wait == 0)
            .then(|| state.snapshot.deployments.iter().find(|d| d.id == made.id))
            .flatten();
        let now = listed.unwrap_or(made);
        let unchanged = made.change.as_deref() == Some("unchanged");
        let reported = now.state.clone().filter(|_| !now.stale);
        let (label, done) = match reported.as_deref() {
            _ if unchanged => (
                format!(
                    "unchanged ({})",
                    now.state.as_deref().unwrap_or("no report yet")
                ),
                true,
            ),
            None if now.stale => ("waiting for its report of this change".to_owned(), false),
            None => ("waiting for its first report".to_owned(), false),
            Some(s @ ("pending" | "installing")) => (s.to_owned(), false),
            Some(s) => (s.to_owned(), true),
        };
        Step {
            device: now.device.clone(),
            label,
            state: if unchanged {
                now.state.clone()
            } else {
                reported
            },
            error: now.error.clone().filter(|_| !now.stale),
            done,
        }
    }

    /// Every device has answered.
    pub(crate) fn settled(&self, state: &State) -> bool {
        self.steps(state).iter().all(|s| s.done)
    }
}

/// `1 device`, `2 devices`.
pub(crate) fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// A status report of deployment `id`: keep the answer's copy current,
/// for the time the list does not have the row yet.
pub(crate) fn on_status(
    state: &mut State,
    id: &str,
    reported: Option<String>,
    error: Option<String>,
    stale: bool,
) {
    let Some(outcome) = state.outcome.as_mut() else {
        return;
    };
    if let Some(m) = outcome.made.iter_mut().find(|m| m.id == id) {
        m.state = reported;
        m.error = error;
        m.stale = stale;
    }
}

/// Once every device has answered, say how it went on the status line
/// (the popup may have been closed meanwhile).
pub(crate) fn tell(state: &mut State) {
    let Some(outcome) = state.outcome.as_ref() else {
        return;
    };
    if outcome.told || !outcome.settled(state) {
        return;
    }
    let text = outcome.summary(state);
    let failed = outcome
        .steps(state)
        .iter()
        .any(|s| s.state.as_deref() == Some("failed"));
    if let Some(o) = state.outcome.as_mut() {
        o.told = true;
    }
    if failed {
        state.complain(text);
    } else {
        state.say(text);
    }
}
