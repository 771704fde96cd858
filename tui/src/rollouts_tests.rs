//! Unit tests of the rollouts tab's `update`: reading the list and the
//! selected detail, live refreshes on `rollout.*` and `status` events, and
//! the pause, resume and undo keys with undo's question.

#![allow(clippy::unwrap_used)]

use crossterm::event::KeyCode;
use serde_json::json;

use crate::backend::RolloutAction;
use crate::fixture::{ch, event, loaded, on_rollouts, press, rollout_detail, rollouts};
use crate::keys::Mode;
use crate::state::{Confirm, Conn, Tab};
use crate::update::{Cmd, Msg, start, update};

fn act(id: &str, action: RolloutAction) -> Cmd {
    Cmd::ActOnRollout {
        id: id.into(),
        action,
    }
}

fn load(id: &str) -> Cmd {
    Cmd::LoadRollout(id.into())
}

#[test]
fn start_and_a_reconnect_read_the_rollouts_too() {
    let mut state = crate::state::State::new();
    assert_eq!(start(&mut state), vec![Cmd::Refresh, Cmd::LoadRollouts]);
    let mut state = on_rollouts();
    let _ = update(&mut state, Msg::StreamDown("gone".into()));
    assert_eq!(
        update(&mut state, Msg::StreamUp),
        vec![Cmd::Refresh, Cmd::LoadRollouts, load("12")]
    );
    let mut state = on_rollouts();
    assert_eq!(
        update(&mut state, Msg::Event(event(0, "reset", "", json!({})))),
        vec![Cmd::Refresh, Cmd::LoadRollouts, load("12")]
    );
}

#[test]
fn the_tab_reads_the_detail_of_the_selected_rollout() {
    let mut state = loaded();
    state.rollouts.refresh.in_flight = true;
    assert!(update(&mut state, Msg::RolloutsLoaded(Ok(rollouts()))).is_empty());
    assert_eq!(update(&mut state, ch('5')), vec![load("12")]);
    assert_eq!(state.mode(), Mode::Main(Tab::Rollouts));
    assert!(
        update(&mut state, press(KeyCode::Up)).is_empty(),
        "on its way"
    );
    assert!(update(&mut state, ch('j')).is_empty(), "one read at a time");
    assert_eq!(state.selected_rollout().unwrap().id, "11");
    // 12 arrives; 11 is selected now, so it is read next.
    assert_eq!(
        update(
            &mut state,
            Msg::RolloutLoaded("12".into(), Ok(rollout_detail()))
        ),
        vec![load("11")]
    );
    assert_eq!(state.rollout_detail(), None, "12's detail is not 11's");
    let _ = update(&mut state, ch('k'));
    assert!(state.rollout_detail().is_some(), "12's detail is kept");
    let failed = Msg::RolloutLoaded("11".into(), Err("no such rollout".into()));
    assert!(update(&mut state, failed).is_empty());
    assert_eq!(
        state.rollouts.detail_error,
        Some(("11".into(), "no such rollout".into()))
    );
    assert_eq!(update(&mut state, press(KeyCode::Enter)), vec![load("12")]);
    // Leaving and coming back reads it afresh.
    let _ = update(
        &mut state,
        Msg::RolloutLoaded("12".into(), Ok(rollout_detail())),
    );
    assert!(update(&mut state, ch('1')).is_empty());
    assert_eq!(
        update(&mut state, press(KeyCode::BackTab)),
        vec![load("12")]
    );
}

#[test]
fn r_on_the_tab_reloads_everything_it_shows() {
    let mut state = on_rollouts();
    assert_eq!(
        update(&mut state, ch('r')),
        vec![Cmd::Refresh, Cmd::LoadRollouts, load("12")]
    );
}

#[test]
fn the_selection_follows_its_rollout_when_a_new_one_starts() {
    let mut state = on_rollouts();
    let _ = update(&mut state, ch('j'));
    let _ = update(
        &mut state,
        Msg::RolloutLoaded("11".into(), Ok(rollouts()[1].clone())),
    );
    let mut newer = rollouts();
    let mut thirteen = newer[0].clone();
    thirteen.id = "13".into();
    newer.insert(0, thirteen);
    state.rollouts.refresh.in_flight = true;
    assert!(update(&mut state, Msg::RolloutsLoaded(Ok(newer))).is_empty());
    assert_eq!(state.selected_rollout().unwrap().id, "11");
    assert_eq!(state.cursor(), 2);
}

#[test]
fn a_failed_list_is_kept_on_the_tab_and_frees_the_slot() {
    let mut state = on_rollouts();
    state.rollouts.refresh.in_flight = true;
    let note = state.note.clone();
    let _ = update(
        &mut state,
        Msg::RolloutsLoaded(Err("CO unreachable".into())),
    );
    assert_eq!(state.rollouts.error.as_deref(), Some("CO unreachable"));
    assert_eq!(state.rollouts.list, rollouts(), "the old list stays");
    assert_eq!(state.note, note);
    assert!(!state.rollouts.refresh.in_flight);
}

#[test]
fn rollout_events_reread_the_list_and_the_selected_detail_only() {
    for kind in [
        "rollout.started",
        "rollout.wave",
        "rollout.wave-done",
        "rollout.device",
        "rollout.paused",
        "rollout.resumed",
        "rollout.done",
        "rollout.rolled-back",
        "rollout.undone",
    ] {
        let mut state = on_rollouts();
        let cmds = update(&mut state, Msg::Event(event(1, kind, "12", json!({}))));
        assert_eq!(cmds, vec![Cmd::LoadRollouts, load("12")], "{kind}");
        let mut state = on_rollouts();
        let cmds = update(&mut state, Msg::Event(event(1, kind, "11", json!({}))));
        assert_eq!(cmds, vec![Cmd::LoadRollouts], "{kind} of another rollout");
    }
    let mut state = on_rollouts();
    let _ = update(&mut state, ch('1'));
    let cmds = update(
        &mut state,
        Msg::Event(event(1, "rollout.device", "12", json!({}))),
    );
    assert_eq!(cmds, vec![Cmd::LoadRollouts], "the detail only while shown");
    // Coalesced: one read in flight, one remembered.
    let e = |id| Msg::Event(event(id, "rollout.device", "12", json!({})));
    assert!(update(&mut state, e(2)).is_empty());
    assert!(update(&mut state, e(3)).is_empty());
    assert_eq!(
        update(&mut state, Msg::RolloutsLoaded(Ok(rollouts()))),
        vec![Cmd::LoadRollouts]
    );
    assert!(update(&mut state, Msg::RolloutsLoaded(Ok(rollouts()))).is_empty());
}

#[test]
fn status_events_of_a_running_rollouts_devices_reread_its_detail() {
    let mut state = on_rollouts();
    let status = |id, deployment: &str| {
        let data = json!({"state": "installed", "device": "gw-3"});
        Msg::Event(event(id, "status", deployment, data))
    };
    // Not one of the fleet's deployments: the snapshot is read too.
    assert_eq!(
        update(&mut state, status(1, "dep-gw-3")),
        vec![load("12"), Cmd::Refresh]
    );
    assert!(
        update(&mut state, status(2, "dep-gw-3")).is_empty(),
        "throttled to one read in flight"
    );
    assert!(state.rollouts.detail_refresh.pending);
    assert_eq!(
        update(
            &mut state,
            Msg::RolloutLoaded("12".into(), Ok(rollout_detail()))
        ),
        vec![load("12")]
    );
    // A deployment of the fleet that the rollout does not change.
    let mut state = on_rollouts();
    let cmds = update(&mut state, status(3, crate::fixture::D_OK));
    assert!(cmds.is_empty(), "{cmds:?}");
    // A rollout that is not running.
    let mut state = on_rollouts();
    state.rollouts.detail.as_mut().unwrap().state = "paused".into();
    state.refresh.in_flight = true;
    assert!(update(&mut state, status(4, "dep-gw-3")).is_empty());
}

#[test]
fn p_pauses_and_c_resumes_at_once() {
    let mut state = on_rollouts();
    assert_eq!(
        update(&mut state, ch('p')),
        vec![act("12", RolloutAction::Pause)]
    );
    assert_eq!(state.note.as_ref().unwrap().text, "Pausing rollout 12…");
    let _ = update(&mut state, ch('j'));
    assert_eq!(
        update(&mut state, ch('c')),
        vec![act("11", RolloutAction::Resume)]
    );
    let mut other = loaded();
    assert!(update(&mut other, ch('p')).is_empty(), "only on the tab");
    assert!(update(&mut other, ch('u')).is_empty());
}

#[test]
fn undo_asks_first() {
    let mut state = on_rollouts();
    assert!(update(&mut state, ch('u')).is_empty());
    assert_eq!(
        state.confirm,
        Some(Confirm::UndoRollout {
            id: "12".into(),
            label: "deploy hello-wasm 1.1.0".into()
        })
    );
    assert!(update(&mut state, ch('n')).is_empty());
    assert!(state.confirm.is_none());
    let _ = update(&mut state, ch('u'));
    assert!(
        update(&mut state, ch('p')).is_empty(),
        "the question has the keys"
    );
    assert_eq!(
        update(&mut state, ch('y')),
        vec![act("12", RolloutAction::Undo)]
    );
    assert!(state.confirm.is_none());
}

#[test]
fn the_answer_to_an_action_is_shown_and_rereads_the_list() {
    let mut state = on_rollouts();
    let mut paused = rollout_detail();
    paused.state = "paused".into();
    let answer = Msg::RolloutActed("12".into(), RolloutAction::Pause, Ok(paused.clone()));
    assert_eq!(update(&mut state, answer), vec![Cmd::LoadRollouts]);
    assert_eq!(
        state.note.as_ref().unwrap().text,
        "Rollout 12 paused at wave 2 of 3."
    );
    assert_eq!(state.rollout_detail(), Some(&paused));
    assert_eq!(state.rollouts.list[0].state, "paused");
    assert!(state.rollouts.list[0].targets.is_empty());

    let mut undone = rollout_detail();
    undone.state = "undone".into();
    for t in &mut undone.targets[..3] {
        t.state = "rolled-back".into();
    }
    let answer = Msg::RolloutActed("12".into(), RolloutAction::Undo, Ok(undone));
    let _ = update(&mut state, answer);
    assert_eq!(
        state.note.as_ref().unwrap().text,
        "Rollout 12 undone: 3 deployment(s) put back as they were."
    );

    let refused = "rollout 10 is done; only a running or paused rollout can be paused";
    let answer = Msg::RolloutActed("10".into(), RolloutAction::Pause, Err(refused.into()));
    assert!(update(&mut state, answer).is_empty());
    let note = state.note.as_ref().unwrap();
    assert!(note.error);
    assert_eq!(note.text, format!("Could not pause rollout 10: {refused}"));
}

#[test]
fn nothing_to_act_on_without_rollouts() {
    let mut state = loaded();
    state.conn = Conn::Live;
    let _ = update(&mut state, ch('5'));
    for c in ['p', 'c', 'u'] {
        assert!(update(&mut state, ch(c)).is_empty());
    }
    assert!(state.confirm.is_none());
}
