//! Tests of undeployed rows: they stay in the deployments list, marked
//! `removing`, through refreshes that no longer list them, until their
//! node reports them removed.

#![allow(clippy::unwrap_used)]

use insta::assert_snapshot;
use serde_json::json;

use crate::fixture::{D_FAILED, D_OK, D_PENDING, ch, event, loaded, render, snapshot};
use crate::lists::order;
use crate::state::{State, Tab};
use crate::update::{Cmd, Msg, update};

fn state_of(state: &State, id: &str) -> Option<String> {
    let d = state.snapshot.deployments.iter().find(|d| d.id == id)?;
    d.state.clone()
}

/// The CO's list once `id` is out of the desired state.
fn without(id: &str) -> Msg {
    let mut s = snapshot();
    s.deployments.retain(|d| d.id != id);
    Msg::Loaded(Ok(s))
}

fn status(n: u64, id: &str, reported: &str) -> Msg {
    Msg::Event(event(n, "status", id, json!({"state": reported})))
}

#[test]
fn an_undeployed_row_stays_marked_removing_until_its_node_confirms() {
    let mut state = loaded();
    let _ = update(&mut state, ch('G'));
    let _ = update(&mut state, ch('x'));
    assert_eq!(
        update(&mut state, ch('y')),
        vec![Cmd::Undeploy(D_FAILED.into())]
    );
    assert_eq!(
        update(&mut state, Msg::Undeployed(D_FAILED.into(), Ok(()))),
        vec![Cmd::Refresh]
    );
    assert_eq!(state_of(&state, D_FAILED).as_deref(), Some("removing"));
    // The CO no longer lists it; the list still does.
    let _ = update(&mut state, without(D_FAILED));
    assert_eq!(order(&state, Tab::Deployments), [D_OK, D_PENDING, D_FAILED]);
    assert_eq!(state_of(&state, D_FAILED).as_deref(), Some("removing"));
    assert_eq!(state.selected_deployment().unwrap().id, D_FAILED);
    let screen = render(&state, 80, 24);
    assert!(
        screen.contains("Undeployed: listed until gw-2 reports it removed."),
        "{screen}"
    );
    assert_snapshot!("removing_80x24", screen);
    // x again says it is on its way, and asks nothing.
    assert!(update(&mut state, ch('x')).is_empty());
    assert!(state.confirm.is_none());
    assert!(
        state
            .note
            .as_ref()
            .unwrap()
            .text
            .contains("undeployed already")
    );

    let _ = update(&mut state, status(10, D_FAILED, "removing"));
    assert_eq!(state.rows(Tab::Deployments), 3);
    let _ = update(&mut state, status(11, D_FAILED, "removed"));
    assert_eq!(order(&state, Tab::Deployments), [D_OK, D_PENDING]);
    assert_eq!(state.selected_deployment().unwrap().id, D_PENDING);
    let _ = update(&mut state, without(D_FAILED));
    assert_eq!(state.rows(Tab::Deployments), 2, "gone for good");
}

#[test]
fn a_refresh_from_before_the_undeploy_keeps_it_removing() {
    let mut state = loaded();
    let _ = update(&mut state, Msg::Undeployed(D_OK.into(), Ok(())));
    let _ = update(&mut state, Msg::Loaded(Ok(snapshot())));
    assert_eq!(state_of(&state, D_OK).as_deref(), Some("removing"));
}

#[test]
fn a_removal_confirmed_before_the_answer_drops_the_row_at_once() {
    let mut state = loaded();
    let _ = update(&mut state, status(5, D_OK, "removed"));
    let _ = update(&mut state, Msg::Undeployed(D_OK.into(), Ok(())));
    assert_eq!(order(&state, Tab::Deployments), [D_PENDING, D_FAILED]);
    assert!(state.removing.is_empty());
}

#[test]
fn an_undeploy_made_elsewhere_shows_removing_too() {
    let mut state = loaded();
    let removed = Msg::Event(event(7, "deployment.removed", D_PENDING, json!({})));
    assert_eq!(update(&mut state, removed), vec![Cmd::Refresh]);
    let _ = update(&mut state, without(D_PENDING));
    assert_eq!(state_of(&state, D_PENDING).as_deref(), Some("removing"));
    // Its node says the removal failed: shown with the reason.
    let failed = json!({"state": "failed", "error": "hello: did not stop"});
    let _ = update(
        &mut state,
        Msg::Event(event(8, "status", D_PENDING, failed)),
    );
    let _ = update(&mut state, without(D_PENDING));
    let row = state
        .snapshot
        .deployments
        .iter()
        .find(|d| d.id == D_PENDING);
    assert_eq!(row.unwrap().error.as_deref(), Some("hello: did not stop"));
    let _ = update(&mut state, status(9, D_PENDING, "removed"));
    assert_eq!(state.rows(Tab::Deployments), 2);
}
