//! The one place the state changes: `update` takes a message (a key, an
//! event from the CO, a backend answer, a tick) and returns the commands to
//! run. It is pure: no I/O, no clock, no threads, so it is tested directly.

use crossterm::event::{KeyCode, KeyEvent};
use edge_api::types::{AppDetail, DeployRequest, DeploymentSummary, Event, Rollout};
use serde_json::Value;

use crate::backend::{LocalNode, LogPiece, RolloutAction, Snapshot};
use crate::form::DeployForm;
use crate::keys::{self, Action, Mode};
use crate::lists::ListView;
use crate::outcome::{self, DeployOutcome, plural};
use crate::state::{Confirm, Conn, State, Tab, deployment_label, short};
use crate::{logs, removal, rollouts};

/// Something that happened.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Msg {
    Key(KeyEvent),
    Resize(u16, u16),
    Loaded(Result<Snapshot, String>),
    AppLoaded(String, Result<AppDetail, String>),
    Event(Event),
    StreamDown(String),
    StreamUp,
    Deployed(Result<Vec<DeploymentSummary>, String>),
    Undeployed(String, Result<(), String>),
    Logs(String, Result<LogPiece, String>),
    Node(LocalNode),
    RolloutsLoaded(Result<Vec<Rollout>, String>),
    RolloutLoaded(String, Result<Rollout, String>),
    RolloutActed(String, RolloutAction, Result<Rollout, String>),
    Tick,
    /// A thread of the TUI died; stop.
    Fatal(String),
}

/// Something to do outside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Cmd {
    Refresh,
    LoadApp(String),
    Deploy(Box<DeployRequest>),
    Undeploy(String),
    Logs {
        deployment: String,
        from: u64,
    },
    /// Read a deployment's log on its device through the CO (and the site's LO).
    RemoteLogs {
        deployment: String,
        from: u64,
    },
    AskNode,
    LoadRollouts,
    LoadRollout(String),
    ActOnRollout {
        id: String,
        action: RolloutAction,
    },
    Quit,
}

/// The commands to run when the TUI starts.
pub(crate) fn start(state: &mut State) -> Vec<Cmd> {
    everything(state)
}

/// Apply `msg` to `state`; returns what to do next.
pub(crate) fn update(state: &mut State, msg: Msg) -> Vec<Cmd> {
    match msg {
        Msg::Key(key) => on_key(state, &key),
        Msg::Resize(w, h) => {
            state.size = (w, h);
            Vec::new()
        }
        Msg::Loaded(result) => loaded(state, result),
        Msg::AppLoaded(id, result) => app_loaded(state, id, result),
        Msg::Event(event) => on_event(state, &event),
        Msg::StreamDown(why) => {
            state.conn = Conn::Reconnecting(why);
            Vec::new()
        }
        Msg::StreamUp => {
            let was_live = state.conn == Conn::Live;
            state.conn = Conn::Live;
            // Whatever happened while no stream was open is only in a snapshot.
            if was_live {
                Vec::new()
            } else {
                everything(state)
            }
        }
        Msg::Deployed(result) => deployed(state, result),
        Msg::Undeployed(id, result) => match result {
            Ok(()) => {
                state.say(format!(
                    "Undeployed {}; listed as removing until its device confirms.",
                    short(&id)
                ));
                removal::undeployed(state, &id);
                refresh(state).into_iter().collect()
            }
            Err(e) => {
                state.complain(format!("Undeploy of {} failed: {e}", short(&id)));
                Vec::new()
            }
        },
        Msg::Logs(id, result) => {
            logs::piece(state, &id, result);
            Vec::new()
        }
        Msg::Node(node) => logs::node_known(state, node),
        Msg::RolloutsLoaded(result) => rollouts::listed(state, result),
        Msg::RolloutLoaded(id, result) => rollouts::detailed(state, id, result),
        Msg::RolloutActed(id, action, result) => rollouts::acted(state, &id, action, result),
        Msg::Tick => logs::tick(state).into_iter().collect(),
        Msg::Fatal(why) => {
            state.fatal = Some(why);
            vec![Cmd::Quit]
        }
    }
}

/// Ask for a snapshot, unless one is on its way (then remember to ask again).
fn refresh(state: &mut State) -> Option<Cmd> {
    if state.refresh.in_flight {
        state.refresh.pending = true;
        None
    } else {
        state.refresh.in_flight = true;
        Some(Cmd::Refresh)
    }
}

/// Read everything again: the snapshot, the rollouts and the detail shown.
fn everything(state: &mut State) -> Vec<Cmd> {
    let mut cmds: Vec<Cmd> = refresh(state).into_iter().collect();
    cmds.extend(rollouts::reload(state));
    cmds
}

fn loaded(state: &mut State, result: Result<Snapshot, String>) -> Vec<Cmd> {
    state.refresh.in_flight = false;
    if let Some(o) = state.outcome.as_mut() {
        o.loads_to_wait = o.loads_to_wait.saturating_sub(1);
    }
    let mut cmds = Vec::new();
    match result {
        Ok(snapshot) => {
            let before: Vec<Option<String>> =
                Tab::ALL.iter().map(|t| state.selected_key(*t)).collect();
            state.snapshot = snapshot;
            removal::keep(state);
            state.loaded = true;
            for (tab, key) in Tab::ALL.iter().zip(before) {
                state.reselect(*tab, key.as_deref());
            }
            if state.tab == Tab::Apps {
                cmds.extend(want_selected_app(state));
            }
            outcome::tell(state);
        }
        Err(e) => state.complain(e),
    }
    if state.refresh.pending {
        state.refresh.pending = false;
        cmds.extend(refresh(state));
    }
    cmds
}

fn app_loaded(state: &mut State, id: String, result: Result<AppDetail, String>) -> Vec<Cmd> {
    state.loading.remove(&id);
    match result {
        Ok(detail) => {
            if let Some(form) = &mut state.form
                && form.app.as_deref() == Some(id.as_str())
            {
                form.fill(&detail.description);
            }
            state.apps.insert(id, detail);
        }
        Err(e) => {
            if let Some(form) = &mut state.form
                && form.app.as_deref() == Some(id.as_str())
            {
                form.error = Some(e.clone());
            }
            state.complain(e);
        }
    }
    Vec::new()
}

/// Ask for an app's details unless they are here or on their way.
fn want_app(state: &mut State, id: &str) -> Option<Cmd> {
    if state.apps.contains_key(id) || state.loading.contains(id) {
        return None;
    }
    state.loading.insert(id.to_owned());
    Some(Cmd::LoadApp(id.to_owned()))
}

fn want_selected_app(state: &mut State) -> Option<Cmd> {
    let id = state.selected_app()?.to_owned();
    want_app(state, &id)
}

fn on_event(state: &mut State, event: &Event) -> Vec<Cmd> {
    // The CO dropped events this stream missed (or restarted, so its ids
    // began again): read everything again and count ids afresh. A reset
    // carries no id of its own.
    if event.kind == "reset" {
        state.last_event = None;
        state.apps.clear();
        return everything(state);
    }
    if state.last_event.is_some_and(|last| event.id <= last) {
        return Vec::new();
    }
    state.last_event = Some(event.id);
    if event.kind.starts_with("rollout.") {
        return rollouts::on_event(state, event);
    }
    let mut cmds = Vec::new();
    if event.kind == "status" {
        cmds.extend(rollouts::on_status(state, &event.subject));
        let text = |key: &str| {
            event
                .data
                .get(key)
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        };
        let (reported, error) = (text("state"), text("error"));
        // A report about the document before the deployment's latest change.
        let stale = event.data.get("current").and_then(Value::as_bool) == Some(false);
        outcome::on_status(
            state,
            &event.subject,
            reported.clone(),
            error.clone(),
            stale,
        );
        let selected = state.selected_key(Tab::Deployments);
        let row = state
            .snapshot
            .deployments
            .iter_mut()
            .find(|d| d.id == event.subject);
        let known = row.is_some();
        if let Some(d) = row {
            d.state = reported;
            d.error = error;
            d.state_at = Some(event.at.clone());
            d.stale = stale;
            // A change of state may move the row (sorted or filtered by it).
            state.reselect(Tab::Deployments, selected.as_deref());
            removal::reported(state, &event.subject);
        }
        outcome::tell(state);
        if known {
            return cmds;
        }
        // A deployment this snapshot does not know yet.
    }
    if event.kind == "deployment.removed" {
        removal::undeployed(state, &event.subject);
    }
    if event.kind == "app.added" || event.kind == "app.removed" {
        state.apps.remove(&event.subject);
    }
    cmds.extend(refresh(state));
    cmds
}

fn deployed(state: &mut State, result: Result<Vec<DeploymentSummary>, String>) -> Vec<Cmd> {
    match result {
        Ok(made) => {
            state.form = None;
            state.tab = Tab::Deployments;
            let cmds: Vec<Cmd> = refresh(state).into_iter().collect();
            // A snapshot asked for before the deploy may come first.
            let loads = if cmds.is_empty() { 2 } else { 1 };
            let outcome = DeployOutcome::new(made, loads);
            state.say(format!(
                "Deployed {} {} to {}; waiting for their reports.",
                outcome.app,
                outcome.version,
                plural(outcome.made.len(), "device")
            ));
            state.outcome = Some(outcome);
            state.outcome_shown = true;
            cmds
        }
        Err(e) => {
            if let Some(form) = &mut state.form {
                form.busy = false;
                form.error = Some(e.clone());
            }
            state.complain(format!("Deploy refused: {e}"));
            Vec::new()
        }
    }
}

fn on_key(state: &mut State, key: &KeyEvent) -> Vec<Cmd> {
    let mode = state.mode();
    let Some(action) = keys::lookup(mode, key) else {
        return Vec::new();
    };
    if action == Action::Quit {
        return vec![Cmd::Quit];
    }
    match mode {
        Mode::Help => {
            match action {
                Action::Close => state.help = false,
                Action::Up => state.help_scroll = state.help_scroll.saturating_sub(1),
                Action::Down => state.help_scroll = state.help_scroll.saturating_add(1),
                _ => {}
            }
            Vec::new()
        }
        Mode::Confirm => confirm_key(state, action),
        Mode::Outcome => {
            if action == Action::Close {
                state.outcome_shown = false;
            }
            Vec::new()
        }
        Mode::FormList | Mode::FormText => form_key(state, action, key),
        Mode::Logs => {
            if let Some(pane) = &mut state.logs {
                match action {
                    Action::Close => state.logs = None,
                    Action::Up => pane.scroll = pane.scroll.saturating_add(1),
                    Action::Down => pane.scroll = pane.scroll.saturating_sub(1),
                    Action::Follow => pane.scroll = 0,
                    _ => {}
                }
            }
            Vec::new()
        }
        Mode::Filter => filter_key(state, action, key),
        Mode::Main(tab) => main_key(state, tab, action, key),
    }
}

/// Change a tab's filter or sort, keeping the selected row when it is
/// still shown (else the first row).
fn relist(state: &mut State, tab: Tab, change: impl FnOnce(&mut ListView)) {
    let key = state.selected_key(tab);
    change(&mut state.lists[tab.index()]);
    state.selected[tab.index()] = 0;
    state.reselect(tab, key.as_deref());
}

/// A key while typing the current list's filter: the list narrows with
/// every character.
fn filter_key(state: &mut State, action: Action, key: &KeyEvent) -> Vec<Cmd> {
    let tab = state.tab;
    match action {
        Action::Type => {
            if let KeyCode::Char(c) = key.code {
                relist(state, tab, |v| v.filter.push(c));
            }
        }
        Action::Erase => relist(state, tab, |v| {
            v.filter.pop();
        }),
        Action::ClearField => relist(state, tab, |v| v.filter.clear()),
        Action::ClearFilter => {
            relist(state, tab, |v| v.filter.clear());
            state.filtering = false;
        }
        Action::Close => state.filtering = false,
        Action::Up | Action::Down => {
            let rows = state.rows(tab);
            let at = &mut state.selected[tab.index()];
            *at = if action == Action::Up {
                at.saturating_sub(1)
            } else {
                (*at + 1).min(rows.saturating_sub(1))
            };
        }
        _ => {}
    }
    after_move(state, tab)
}

/// What the selection moving asks for: the selected app's or rollout's
/// detail, when the tab shows it.
fn after_move(state: &mut State, from: Tab) -> Vec<Cmd> {
    match state.tab {
        Tab::Apps => want_selected_app(state).into_iter().collect(),
        Tab::Rollouts => rollouts::follow(state, from != Tab::Rollouts)
            .into_iter()
            .collect(),
        _ => Vec::new(),
    }
}

fn main_key(state: &mut State, tab: Tab, action: Action, key: &KeyEvent) -> Vec<Cmd> {
    if tab == Tab::Rollouts
        && matches!(
            action,
            Action::Pause | Action::Resume | Action::Undo | Action::Details
        )
    {
        return rollouts::key(state, action);
    }
    let rows = state.rows(tab);
    let at = &mut state.selected[tab.index()];
    match action {
        Action::Up => *at = at.saturating_sub(1),
        Action::Down => *at = (*at + 1).min(rows.saturating_sub(1)),
        Action::Top => *at = 0,
        Action::Bottom => *at = rows.saturating_sub(1),
        Action::NextTab => state.tab = tab.cycle(1),
        Action::PrevTab => state.tab = tab.cycle(-1),
        Action::GotoTab => {
            if let KeyCode::Char(c) = key.code
                && let Some(n) = c.to_digit(10)
                && let Some(t) = Tab::ALL.get((n as usize).wrapping_sub(1))
            {
                state.tab = *t;
            }
        }
        Action::Help => {
            state.help = true;
            state.help_scroll = 0;
        }
        Action::Filter => state.filtering = true,
        Action::ClearFilter => relist(state, tab, |v| v.filter.clear()),
        Action::Sort => {
            let n = crate::lists::sort_columns(tab).len().max(1);
            relist(state, tab, |v| {
                v.sort = (v.sort + 1) % n;
                v.reverse = false;
            });
        }
        Action::Reverse => relist(state, tab, |v| v.reverse = !v.reverse),
        Action::Refresh => {
            state.say("Refreshing…");
            if tab == Tab::Rollouts {
                return everything(state);
            }
            return refresh(state).into_iter().collect();
        }
        Action::Deploy => return open_form(state, tab),
        Action::Undeploy => {
            if let Some(d) = state.selected_deployment() {
                if removal::is_removing(state, &d.id) {
                    let text = format!(
                        "{} is undeployed already; waiting for {} to confirm the removal.",
                        deployment_label(d),
                        d.device
                    );
                    state.say(text);
                    return Vec::new();
                }
                state.confirm = Some(Confirm::Undeploy {
                    id: d.id.clone(),
                    label: deployment_label(d),
                });
            }
        }
        Action::Logs => {
            let Some(d) = state.selected_deployment().cloned() else {
                return Vec::new();
            };
            return logs::open(state, &d);
        }
        Action::Details => {
            if let Some(id) = state.selected_app().map(str::to_owned) {
                state.apps.remove(&id);
                return want_app(state, &id).into_iter().collect();
            }
        }
        _ => {}
    }
    after_move(state, tab)
}

/// Open the deploy form, starting from what is selected.
fn open_form(state: &mut State, tab: Tab) -> Vec<Cmd> {
    let snapshot = &state.snapshot;
    let (app, site, device) = match tab {
        Tab::Apps => (state.selected_app().map(str::to_owned), None, None),
        Tab::Deployments => {
            let d = state.selected_deployment();
            (
                d.map(|d| d.app.clone()),
                d.map(|d| d.site.clone()),
                d.map(|d| d.device.clone()),
            )
        }
        Tab::Devices => {
            let d = state.selected_device();
            (None, d.map(|d| d.site.clone()), d.map(|d| d.id.clone()))
        }
        Tab::Sites => (None, state.selected_site().map(|s| s.name.clone()), None),
        Tab::Rollouts => (None, None, None),
    };
    let mut form = DeployForm::new(snapshot, app.as_deref());
    form.prefer_site = site;
    form.prefer_device = device;
    let mut cmds = Vec::new();
    if tab == Tab::Apps && app.is_some() {
        form.choose(snapshot);
    }
    if let Some(id) = form.app.clone() {
        if let Some(detail) = state.apps.get(&id) {
            form.fill(&detail.description);
        }
        cmds.extend(want_app(state, &id));
    }
    state.form = Some(form);
    cmds
}

fn form_key(state: &mut State, action: Action, key: &KeyEvent) -> Vec<Cmd> {
    let snapshot = &state.snapshot;
    let Some(form) = state.form.as_mut() else {
        return Vec::new();
    };
    if form.busy {
        return Vec::new();
    }
    match action {
        Action::Up => form.cursor = form.cursor.saturating_sub(1),
        Action::Down => {
            let n = form.choices(snapshot).len();
            form.cursor = (form.cursor + 1).min(n.saturating_sub(1));
        }
        Action::Back if !form.back(snapshot) => state.form = None,
        Action::Next if form.step == crate::form::Step::Params => {
            if form.fields.is_none() {
                form.error = Some("The app's details have not arrived yet.".into());
            } else if let Some(request) = form.request() {
                state.confirm = Some(Confirm::Deploy(Box::new(request)));
            }
        }
        Action::Next => {
            let had = form.app.clone();
            if form.choose(snapshot)
                && form.app != had
                && let Some(id) = form.app.clone()
            {
                if let Some(detail) = state.apps.get(&id) {
                    form.fill(&detail.description);
                }
                return want_app(state, &id).into_iter().collect();
            }
        }
        Action::NextField | Action::PrevField => {
            let n = form.fields.as_ref().map_or(0, Vec::len);
            if n > 0 {
                let step = if action == Action::NextField {
                    1
                } else {
                    n - 1
                };
                form.field = (form.field + step) % n;
            }
        }
        Action::Erase => {
            if let Some(f) = form.focused() {
                f.value.pop();
            }
        }
        Action::ClearField => {
            if let Some(f) = form.focused() {
                f.value.clear();
            }
        }
        Action::Type => {
            if let (KeyCode::Char(c), Some(f)) = (key.code, form.focused()) {
                f.value.push(c);
            }
        }
        _ => {}
    }
    Vec::new()
}

fn confirm_key(state: &mut State, action: Action) -> Vec<Cmd> {
    let Some(question) = state.confirm.take() else {
        return Vec::new();
    };
    if action != Action::Yes {
        if action != Action::No {
            state.confirm = Some(question);
        }
        return Vec::new();
    }
    match question {
        Confirm::Undeploy { id, label } => {
            state.say(format!("Undeploying {label}…"));
            vec![Cmd::Undeploy(id)]
        }
        Confirm::Deploy(request) => {
            if let Some(form) = &mut state.form {
                form.busy = true;
                form.error = None;
            }
            state.say(format!("Deploying {} to {}…", request.app, request.site));
            vec![Cmd::Deploy(request)]
        }
        Confirm::UndoRollout { id, .. } => rollouts::act(state, id, RolloutAction::Undo),
    }
}
