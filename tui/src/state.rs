//! Everything the TUI knows, in one value: what the CO last said, what the
//! user has selected and which overlay is open. `update` changes it and
//! `view` draws it; nothing else touches it.

use std::collections::{BTreeMap, BTreeSet};

use edge_api::types::{AppDetail, DeployRequest, DeploymentSummary, Device, Rollout, Site};

use crate::backend::{LocalNode, Snapshot};
use crate::form::{DeployForm, Step};
use crate::keys::Mode;
use crate::lists::{self, ListView};
use crate::outcome::DeployOutcome;

/// Keep at most this much of a followed log.
pub(crate) const LOG_KEEP: usize = 256 * 1024;

/// The rollouts tab lists at most this many, newest first.
pub(crate) const ROLLOUT_LIMIT: usize = 50;

/// The tabs, in the order of their number keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tab {
    Deployments,
    Devices,
    Sites,
    Apps,
    Rollouts,
}

impl Tab {
    pub(crate) const ALL: [Tab; 5] = [
        Tab::Deployments,
        Tab::Devices,
        Tab::Sites,
        Tab::Apps,
        Tab::Rollouts,
    ];

    pub(crate) fn title(self) -> &'static str {
        match self {
            Self::Deployments => "Deployments",
            Self::Devices => "Devices",
            Self::Sites => "Sites",
            Self::Apps => "Apps",
            Self::Rollouts => "Rollouts",
        }
    }

    pub(crate) fn index(self) -> usize {
        match self {
            Self::Deployments => 0,
            Self::Devices => 1,
            Self::Sites => 2,
            Self::Apps => 3,
            Self::Rollouts => 4,
        }
    }

    /// The tab `step` places after this one, wrapping around.
    pub(crate) fn cycle(self, step: isize) -> Tab {
        let n = Self::ALL.len() as isize;
        Self::ALL[(self.index() as isize + step).rem_euclid(n) as usize]
    }
}

/// How the event stream is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Conn {
    /// Not yet connected.
    Connecting,
    /// Events are flowing.
    Live,
    /// Broken; the reason, while it reconnects.
    Reconnecting(String),
}

/// A line for the status bar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Note {
    pub(crate) text: String,
    pub(crate) error: bool,
}

/// A yes/no question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Confirm {
    /// Remove this deployment; the label says what it is.
    Undeploy { id: String, label: String },
    /// Send this request.
    Deploy(Box<DeployRequest>),
    /// Undo this rollout; the label says what it changed.
    UndoRollout { id: String, label: String },
}

/// How a log pane reads its workload's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LogAccess {
    /// Waiting to learn which edge node runs on this host.
    Asking,
    /// This host's node runs the workload: reads follow its log there.
    Readable,
    /// Another device runs it (or no node was named here): reads go through
    /// the CO and the site's LO to that device.
    Remote,
    /// A remote read failed before any text came; why, as the pane says it
    /// (asked again on ticks).
    Unavailable(String),
}

/// A followed log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogPane {
    pub(crate) deployment: String,
    /// The device that runs it.
    pub(crate) device: String,
    /// What the title says it is (app on device).
    pub(crate) label: String,
    pub(crate) access: LogAccess,
    pub(crate) text: String,
    /// A read has succeeded: an empty text is an empty log.
    pub(crate) read: bool,
    /// Where to read from next.
    pub(crate) next: u64,
    /// A read is on its way; the next tick waits for it.
    pub(crate) waiting: bool,
    /// The last read's failure.
    pub(crate) error: Option<String>,
    /// Lines above the end; 0 follows the end.
    pub(crate) scroll: u16,
}

/// Refreshes: at most one in flight, and at most one more remembered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Refresh {
    pub(crate) in_flight: bool,
    pub(crate) pending: bool,
}

/// The rollouts tab: the list, and the selected one with its devices.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Rollouts {
    /// Newest first, without targets.
    pub(crate) list: Vec<Rollout>,
    /// The list has arrived at least once.
    pub(crate) loaded: bool,
    /// Why the list could not be read last time.
    pub(crate) error: Option<String>,
    pub(crate) refresh: Refresh,
    /// A rollout with its targets, as last read; shown while it is the
    /// selected one.
    pub(crate) detail: Option<Rollout>,
    /// Why the selected rollout's detail could not be read: (id, reason).
    pub(crate) detail_error: Option<(String, String)>,
    /// The rollout whose detail was asked for last.
    pub(crate) asked: Option<String>,
    pub(crate) detail_refresh: Refresh,
}

/// The whole state of the TUI.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct State {
    pub(crate) snapshot: Snapshot,
    /// A snapshot has arrived at least once.
    pub(crate) loaded: bool,
    pub(crate) tab: Tab,
    /// The selected row of each tab, by `Tab::index`: a position among
    /// the rows shown (filtered and sorted, `lists::visible`).
    pub(crate) selected: [usize; 5],
    /// The filter and sort of each tab's list, by `Tab::index`.
    pub(crate) lists: [ListView; 5],
    /// The filter of the current tab has the keyboard (after `/`).
    pub(crate) filtering: bool,
    /// App details already fetched, by app id.
    pub(crate) apps: BTreeMap<String, AppDetail>,
    /// App details asked for and not yet arrived.
    pub(crate) loading: BTreeSet<String>,
    pub(crate) rollouts: Rollouts,
    pub(crate) form: Option<DeployForm>,
    /// Undeployed rows kept in the list until their node reports them
    /// removed, by deployment id (`removal.rs`).
    pub(crate) removing: BTreeMap<String, DeploymentSummary>,
    /// The last deploy from the form, followed device by device.
    pub(crate) outcome: Option<DeployOutcome>,
    /// Its popup is open.
    pub(crate) outcome_shown: bool,
    pub(crate) confirm: Option<Confirm>,
    pub(crate) logs: Option<LogPane>,
    /// The edge node on this host, once asked (`None`: not known yet).
    pub(crate) node: Option<LocalNode>,
    /// Asking which node runs here.
    pub(crate) node_asked: bool,
    pub(crate) help: bool,
    pub(crate) help_scroll: u16,
    pub(crate) note: Option<Note>,
    pub(crate) last_event: Option<u64>,
    pub(crate) conn: Conn,
    pub(crate) refresh: Refresh,
    /// The terminal's size as last reported.
    pub(crate) size: (u16, u16),
    /// Why the TUI stops with an error (a thread died).
    pub(crate) fatal: Option<String>,
}

impl Default for State {
    fn default() -> Self {
        Self::new()
    }
}

impl State {
    pub(crate) fn new() -> Self {
        Self {
            snapshot: Snapshot::default(),
            loaded: false,
            tab: Tab::Deployments,
            selected: [0; 5],
            lists: Tab::ALL.map(ListView::new),
            filtering: false,
            apps: BTreeMap::new(),
            loading: BTreeSet::new(),
            rollouts: Rollouts::default(),
            form: None,
            removing: BTreeMap::new(),
            outcome: None,
            outcome_shown: false,
            confirm: None,
            logs: None,
            node: None,
            node_asked: false,
            help: false,
            help_scroll: 0,
            note: None,
            last_event: None,
            conn: Conn::Connecting,
            refresh: Refresh::default(),
            size: (0, 0),
            fatal: None,
        }
    }

    /// What has the keyboard.
    pub(crate) fn mode(&self) -> Mode {
        if self.help {
            Mode::Help
        } else if self.confirm.is_some() {
            Mode::Confirm
        } else if let Some(form) = &self.form {
            if form.step == Step::Params {
                Mode::FormText
            } else {
                Mode::FormList
            }
        } else if self.outcome_shown && self.outcome.is_some() {
            Mode::Outcome
        } else if self.logs.is_some() {
            Mode::Logs
        } else if self.filtering {
            Mode::Filter
        } else {
            Mode::Main(self.tab)
        }
    }

    /// The rows of a tab as shown: indices into its list.
    pub(crate) fn visible(&self, tab: Tab) -> Vec<usize> {
        lists::visible(self, tab)
    }

    /// How many rows a tab shows.
    pub(crate) fn rows(&self, tab: Tab) -> usize {
        self.visible(tab).len()
    }

    /// The key (id or name) of every row of a tab's list, in the CO's order.
    pub(crate) fn all_keys(&self, tab: Tab) -> Vec<String> {
        let s = &self.snapshot;
        match tab {
            Tab::Deployments => s.deployments.iter().map(|d| d.id.clone()).collect(),
            Tab::Devices => s.devices.iter().map(|d| d.id.clone()).collect(),
            Tab::Sites => s.sites.iter().map(|d| d.name.clone()).collect(),
            Tab::Apps => s.apps.iter().map(|d| d.id.clone()).collect(),
            Tab::Rollouts => self.rollouts.list.iter().map(|r| r.id.clone()).collect(),
        }
    }

    /// The key of the selected row of a tab, if it has rows.
    pub(crate) fn selected_key(&self, tab: Tab) -> Option<String> {
        let i = self.selected_index(tab)?;
        self.all_keys(tab).into_iter().nth(i)
    }

    /// Select the row with `key` when it is shown; otherwise keep the
    /// position, within the rows there are.
    pub(crate) fn reselect(&mut self, tab: Tab, key: Option<&str>) {
        let keys = self.all_keys(tab);
        let shown = self.visible(tab);
        let at = &mut self.selected[tab.index()];
        if let Some(pos) = key.and_then(|k| {
            shown
                .iter()
                .position(|i| keys.get(*i).is_some_and(|x| x == k))
        }) {
            *at = pos;
        }
        *at = (*at).min(shown.len().saturating_sub(1));
    }

    /// The selected row of the current tab.
    #[cfg(test)]
    pub(crate) fn cursor(&self) -> usize {
        self.selected[self.tab.index()]
    }

    /// The selected row of a tab, as an index into its list.
    pub(crate) fn selected_index(&self, tab: Tab) -> Option<usize> {
        self.visible(tab).get(self.selected[tab.index()]).copied()
    }

    pub(crate) fn selected_deployment(&self) -> Option<&DeploymentSummary> {
        self.snapshot
            .deployments
            .get(self.selected_index(Tab::Deployments)?)
    }

    pub(crate) fn selected_device(&self) -> Option<&Device> {
        self.snapshot
            .devices
            .get(self.selected_index(Tab::Devices)?)
    }

    pub(crate) fn selected_site(&self) -> Option<&Site> {
        self.snapshot.sites.get(self.selected_index(Tab::Sites)?)
    }

    pub(crate) fn selected_app(&self) -> Option<&str> {
        self.snapshot
            .apps
            .get(self.selected_index(Tab::Apps)?)
            .map(|a| a.id.as_str())
    }

    pub(crate) fn selected_rollout(&self) -> Option<&Rollout> {
        self.rollouts.list.get(self.selected_index(Tab::Rollouts)?)
    }

    /// The selected rollout's detail (with targets), when it has arrived.
    pub(crate) fn rollout_detail(&self) -> Option<&Rollout> {
        let id = &self.selected_rollout()?.id;
        self.rollouts.detail.as_ref().filter(|d| d.id == *id)
    }

    /// Say something on the status line.
    pub(crate) fn say(&mut self, text: impl Into<String>) {
        self.note = Some(Note {
            text: text.into(),
            error: false,
        });
    }

    /// Say that something failed.
    pub(crate) fn complain(&mut self, text: impl Into<String>) {
        self.note = Some(Note {
            text: text.into(),
            error: true,
        });
    }
}

/// A deployment's label: `app on device`.
pub(crate) fn deployment_label(d: &DeploymentSummary) -> String {
    format!("{} on {}", d.app, d.device)
}

/// The first eight characters of an id.
pub(crate) fn short(id: &str) -> &str {
    id.char_indices().nth(8).map_or(id, |(i, _)| &id[..i])
}
