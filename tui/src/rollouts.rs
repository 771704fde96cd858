//! The rollouts tab's part of `update`: reading the list and the selected
//! rollout's detail (each coalesced to one request in flight and one
//! remembered), following `rollout.*` and `status` events, and the pause,
//! resume and undo keys. Pure like the rest of `update`: it changes the
//! state and returns commands.

use edge_api::types::{Event, Rollout};

use crate::backend::RolloutAction;
use crate::keys::Action;
use crate::state::{Confirm, Refresh, State, Tab};
use crate::update::Cmd;

/// Ask for the list, unless it is on its way (then remember to ask again).
pub(crate) fn load_list(state: &mut State) -> Option<Cmd> {
    coalesce(&mut state.rollouts.refresh).then_some(Cmd::LoadRollouts)
}

/// Ask for the selected rollout's detail while the tab shows it, unless a
/// read is on its way (then remember to ask again).
pub(crate) fn load_detail(state: &mut State) -> Option<Cmd> {
    if state.tab != Tab::Rollouts {
        return None;
    }
    let id = state.selected_rollout()?.id.clone();
    let r = &mut state.rollouts;
    if !coalesce(&mut r.detail_refresh) {
        return None;
    }
    r.asked = Some(id.clone());
    Some(Cmd::LoadRollout(id))
}

/// Whether to send a request now; otherwise one is remembered.
fn coalesce(refresh: &mut Refresh) -> bool {
    if refresh.in_flight {
        refresh.pending = true;
        false
    } else {
        refresh.in_flight = true;
        true
    }
}

/// After a key on the rollouts tab: read the detail of the rollout now
/// selected when it is not here or on its way, or afresh on entering the tab.
pub(crate) fn follow(state: &mut State, entered: bool) -> Option<Cmd> {
    let id = state.selected_rollout()?.id.clone();
    let r = &state.rollouts;
    let here = r.detail.as_ref().is_some_and(|d| d.id == id);
    let coming = r.detail_refresh.in_flight && r.asked.as_deref() == Some(id.as_str());
    if entered || !(here || coming) {
        load_detail(state)
    } else {
        None
    }
}

/// Reread the list and, while the tab shows it, the selected detail.
pub(crate) fn reload(state: &mut State) -> Vec<Cmd> {
    let mut cmds: Vec<Cmd> = load_list(state).into_iter().collect();
    cmds.extend(load_detail(state));
    cmds
}

/// The list arrived (or did not).
pub(crate) fn listed(state: &mut State, result: Result<Vec<Rollout>, String>) -> Vec<Cmd> {
    state.rollouts.refresh.in_flight = false;
    let mut cmds = Vec::new();
    match result {
        Ok(list) => {
            let before = state.selected_key(Tab::Rollouts);
            let r = &mut state.rollouts;
            r.list = list;
            r.loaded = true;
            r.error = None;
            state.reselect(Tab::Rollouts, before.as_deref());
            if state.tab == Tab::Rollouts {
                cmds.extend(follow(state, false));
            }
        }
        Err(e) => state.rollouts.error = Some(e),
    }
    if state.rollouts.refresh.pending {
        state.rollouts.refresh.pending = false;
        cmds.extend(load_list(state));
    }
    cmds
}

/// A rollout's detail arrived (or did not).
pub(crate) fn detailed(state: &mut State, id: String, result: Result<Rollout, String>) -> Vec<Cmd> {
    let r = &mut state.rollouts;
    r.detail_refresh.in_flight = false;
    match result {
        Ok(detail) => {
            if r.detail_error.as_ref().is_some_and(|(of, _)| *of == id) {
                r.detail_error = None;
            }
            r.detail = Some(detail);
        }
        Err(e) => r.detail_error = Some((id, e)),
    }
    if r.detail_refresh.pending {
        r.detail_refresh.pending = false;
        return load_detail(state).into_iter().collect();
    }
    // The selection may have moved on while this one was read.
    follow(state, false).into_iter().collect()
}

/// A `rollout.*` event: the list changed; so did the detail when it is the
/// selected one's.
pub(crate) fn on_event(state: &mut State, event: &Event) -> Vec<Cmd> {
    let mut cmds: Vec<Cmd> = load_list(state).into_iter().collect();
    if state
        .selected_rollout()
        .is_some_and(|r| r.id == event.subject)
    {
        cmds.extend(load_detail(state));
    }
    cmds
}

/// A `status` event of `deployment`: while the selected rollout runs and
/// changes that deployment, its wave counts move; read it again.
pub(crate) fn on_status(state: &mut State, deployment: &str) -> Option<Cmd> {
    let detail = state.rollout_detail()?;
    let ours =
        detail.state == "running" && detail.targets.iter().any(|t| t.deployment == deployment);
    if ours { load_detail(state) } else { None }
}

/// A key of the rollouts tab.
pub(crate) fn key(state: &mut State, action: Action) -> Vec<Cmd> {
    let Some(r) = state.selected_rollout() else {
        return Vec::new();
    };
    let id = r.id.clone();
    match action {
        Action::Pause => act(state, id, RolloutAction::Pause),
        Action::Resume => act(state, id, RolloutAction::Resume),
        Action::Undo => {
            state.confirm = Some(Confirm::UndoRollout {
                label: label(r),
                id,
            });
            Vec::new()
        }
        Action::Details => load_detail(state).into_iter().collect(),
        _ => Vec::new(),
    }
}

/// Send `action`, saying so.
pub(crate) fn act(state: &mut State, id: String, action: RolloutAction) -> Vec<Cmd> {
    let doing = match action {
        RolloutAction::Pause => "Pausing",
        RolloutAction::Resume => "Resuming",
        RolloutAction::Undo => "Undoing",
    };
    state.say(format!("{doing} rollout {id}…"));
    vec![Cmd::ActOnRollout { id, action }]
}

/// The CO's answer to an action: the rollout afterwards, or its refusal.
pub(crate) fn acted(
    state: &mut State,
    id: &str,
    action: RolloutAction,
    result: Result<Rollout, String>,
) -> Vec<Cmd> {
    let r = match result {
        Ok(r) => r,
        Err(e) => {
            state.complain(format!("Could not {} rollout {id}: {e}", action.as_str()));
            return Vec::new();
        }
    };
    let waves = r.waves.len();
    state.say(match action {
        RolloutAction::Pause => format!("Rollout {} paused at wave {} of {waves}.", r.id, r.wave),
        RolloutAction::Resume => {
            format!(
                "Rollout {} is {} (wave {} of {waves}).",
                r.id, r.state, r.wave
            )
        }
        RolloutAction::Undo => {
            let back = r
                .targets
                .iter()
                .filter(|t| t.state == "rolled-back")
                .count();
            format!(
                "Rollout {} undone: {back} deployment(s) put back as they were.",
                r.id
            )
        }
    });
    if let Some(row) = state.rollouts.list.iter_mut().find(|x| x.id == r.id) {
        *row = Rollout {
            targets: Vec::new(),
            ..r.clone()
        };
    }
    if !r.targets.is_empty() {
        state.rollouts.detail = Some(r);
    }
    load_list(state).into_iter().collect()
}

/// What a rollout changes, in at most 40 characters: the first line of
/// its description.
pub(crate) fn label(r: &Rollout) -> String {
    let text: String = r.description.lines().next().unwrap_or("").to_owned();
    if text.chars().count() > 40 {
        text.chars().take(39).chain(['…']).collect()
    } else {
        text
    }
}
