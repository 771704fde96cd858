//! Everything the TUI knows, in one value: what the CO last said, what the
//! user has selected and which overlay is open. `update` changes it and
//! `view` draws it; nothing else touches it.

use std::collections::{BTreeMap, BTreeSet};

use edge_api::types::{AppDetail, DeployRequest, DeploymentSummary};

use crate::backend::Snapshot;
use crate::form::{DeployForm, Step};
use crate::keys::Mode;

/// Keep at most this much of a followed log.
pub(crate) const LOG_KEEP: usize = 256 * 1024;

/// The tabs, in the order of their number keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tab {
    Deployments,
    Devices,
    Sites,
    Apps,
}

impl Tab {
    pub(crate) const ALL: [Tab; 4] = [Tab::Deployments, Tab::Devices, Tab::Sites, Tab::Apps];

    pub(crate) fn title(self) -> &'static str {
        match self {
            Self::Deployments => "Deployments",
            Self::Devices => "Devices",
            Self::Sites => "Sites",
            Self::Apps => "Apps",
        }
    }

    pub(crate) fn index(self) -> usize {
        match self {
            Self::Deployments => 0,
            Self::Devices => 1,
            Self::Sites => 2,
            Self::Apps => 3,
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
    Deploy(DeployRequest),
}

/// A followed log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogPane {
    pub(crate) deployment: String,
    /// What the title says it is (app on device).
    pub(crate) label: String,
    pub(crate) text: String,
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

/// The whole state of the TUI.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct State {
    pub(crate) snapshot: Snapshot,
    /// A snapshot has arrived at least once.
    pub(crate) loaded: bool,
    pub(crate) tab: Tab,
    /// The selected row of each tab, by `Tab::index`.
    pub(crate) selected: [usize; 4],
    /// App details already fetched, by app id.
    pub(crate) apps: BTreeMap<String, AppDetail>,
    /// App details asked for and not yet arrived.
    pub(crate) loading: BTreeSet<String>,
    pub(crate) form: Option<DeployForm>,
    pub(crate) confirm: Option<Confirm>,
    pub(crate) logs: Option<LogPane>,
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
            selected: [0; 4],
            apps: BTreeMap::new(),
            loading: BTreeSet::new(),
            form: None,
            confirm: None,
            logs: None,
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
        } else if self.logs.is_some() {
            Mode::Logs
        } else {
            Mode::Main(self.tab)
        }
    }

    /// The rows of a tab.
    pub(crate) fn rows(&self, tab: Tab) -> usize {
        match tab {
            Tab::Deployments => self.snapshot.deployments.len(),
            Tab::Devices => self.snapshot.devices.len(),
            Tab::Sites => self.snapshot.sites.len(),
            Tab::Apps => self.snapshot.apps.len(),
        }
    }

    /// The key (id or name) of each row of a tab.
    pub(crate) fn keys(&self, tab: Tab) -> Vec<String> {
        let s = &self.snapshot;
        match tab {
            Tab::Deployments => s.deployments.iter().map(|d| d.id.clone()).collect(),
            Tab::Devices => s.devices.iter().map(|d| d.id.clone()).collect(),
            Tab::Sites => s.sites.iter().map(|d| d.name.clone()).collect(),
            Tab::Apps => s.apps.iter().map(|d| d.id.clone()).collect(),
        }
    }

    /// The selected row of the current tab.
    pub(crate) fn cursor(&self) -> usize {
        self.selected[self.tab.index()]
    }

    pub(crate) fn selected_deployment(&self) -> Option<&DeploymentSummary> {
        self.snapshot
            .deployments
            .get(self.selected[Tab::Deployments.index()])
    }

    pub(crate) fn selected_app(&self) -> Option<&str> {
        self.snapshot
            .apps
            .get(self.selected[Tab::Apps.index()])
            .map(|a| a.id.as_str())
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
