//! Tests of the lists' filter and sort: `/` narrows as you type, Esc
//! clears, each tab keeps its own; `s` cycles the sort column and `S`
//! reverses it; the selection stays on its row through every change.

#![allow(clippy::unwrap_used)]

use crossterm::event::KeyCode;
use insta::assert_snapshot;
use serde_json::json;

use crate::fixture::{
    D_FAILED, D_OK, D_PENDING, ch, ctrl, event, loaded, on_rollouts, press, render, rollouts,
    typing,
};
use crate::keys::Mode;
use crate::lists::order;
use crate::state::Tab;
use crate::update::{Cmd, Msg, update};

#[test]
fn slash_filters_as_you_type_enter_keeps_it_and_esc_clears_it() {
    let mut state = loaded();
    assert!(update(&mut state, ch('/')).is_empty());
    assert_eq!(state.mode(), Mode::Filter);
    typing(&mut state, "sen");
    assert_eq!(order(&state, Tab::Deployments), [D_FAILED]);
    assert_eq!(state.selected_deployment().unwrap().id, D_FAILED);
    // q and j are text here, not keys.
    typing(&mut state, "qj");
    assert!(order(&state, Tab::Deployments).is_empty());
    let _ = update(&mut state, press(KeyCode::Backspace));
    let _ = update(&mut state, press(KeyCode::Backspace));
    assert_eq!(state.lists[0].filter, "sen");
    let _ = update(&mut state, press(KeyCode::Enter));
    assert_eq!(state.mode(), Mode::Main(Tab::Deployments));
    assert_eq!(order(&state, Tab::Deployments), [D_FAILED], "kept");
    let _ = update(&mut state, press(KeyCode::Esc));
    assert_eq!(state.lists[0].filter, "");
    assert_eq!(order(&state, Tab::Deployments).len(), 3);
    assert_eq!(
        state.selected_deployment().unwrap().id,
        D_FAILED,
        "the selection stays on its row"
    );

    // Esc while typing clears it too, and gives the keys back to the list.
    let _ = update(&mut state, ch('/'));
    typing(&mut state, "gw-3");
    assert_eq!(order(&state, Tab::Deployments), [D_PENDING]);
    let _ = update(&mut state, ctrl('u'));
    assert_eq!(order(&state, Tab::Deployments).len(), 3);
    typing(&mut state, "lab");
    let _ = update(&mut state, press(KeyCode::Esc));
    assert_eq!(state.mode(), Mode::Main(Tab::Deployments));
    assert_eq!(order(&state, Tab::Deployments).len(), 3);
}

#[test]
fn the_filter_finds_any_field_in_any_case() {
    let mut state = loaded();
    let _ = update(&mut state, ch('/'));
    typing(&mut state, "PLANT-A");
    assert_eq!(order(&state, Tab::Deployments), [D_OK, D_FAILED]);
    let _ = update(&mut state, ctrl('u'));
    typing(&mut state, "missing mqtt");
    assert_eq!(order(&state, Tab::Deployments), [D_FAILED], "the error");
    let _ = update(&mut state, ctrl('u'));
    typing(&mut state, "c4a81f");
    assert_eq!(order(&state, Tab::Deployments), [D_PENDING], "the id");
}

#[test]
fn arrows_move_over_the_filtered_rows_while_typing() {
    let mut state = loaded();
    let _ = update(&mut state, ch('/'));
    typing(&mut state, "hello");
    assert_eq!(order(&state, Tab::Deployments), [D_OK, D_PENDING]);
    let _ = update(&mut state, press(KeyCode::Down));
    let _ = update(&mut state, press(KeyCode::Down));
    assert_eq!(state.selected_deployment().unwrap().id, D_PENDING);
    assert_eq!(state.lists[0].filter, "hello");
}

#[test]
fn each_tab_keeps_its_own_filter() {
    let mut state = loaded();
    let _ = update(&mut state, ch('2'));
    let _ = update(&mut state, ch('/'));
    typing(&mut state, "zone=north");
    let _ = update(&mut state, press(KeyCode::Enter));
    assert_eq!(order(&state, Tab::Devices), ["gw-1"], "labels are searched");
    let _ = update(&mut state, ch('1'));
    assert_eq!(order(&state, Tab::Deployments).len(), 3);
    let _ = update(&mut state, ch('2'));
    assert_eq!(state.rows(Tab::Devices), 1);
}

#[test]
fn filtering_the_apps_tab_reads_the_app_it_selects() {
    let mut state = loaded();
    let _ = update(&mut state, ch('4'));
    let _ = update(&mut state, ch('/'));
    assert!(
        update(&mut state, ch('s')).is_empty(),
        "Hello Wasm has an s"
    );
    assert_eq!(
        update(&mut state, ch('e')),
        vec![Cmd::LoadApp("sensor-agent".into())],
        "only sensor-agent has an se"
    );
}

#[test]
fn s_cycles_the_sort_column_and_capital_s_reverses_it() {
    let mut state = loaded();
    assert_eq!(
        order(&state, Tab::Deployments),
        [D_OK, D_PENDING, D_FAILED],
        "by app, ties as the CO listed them"
    );
    let _ = update(&mut state, ch('s')); // VERSION: all equal
    assert_eq!(order(&state, Tab::Deployments), [D_OK, D_FAILED, D_PENDING]);
    let _ = update(&mut state, ch('s')); // SITE
    assert_eq!(order(&state, Tab::Deployments), [D_PENDING, D_OK, D_FAILED]);
    let _ = update(&mut state, ch('s')); // DEVICE
    assert_eq!(order(&state, Tab::Deployments), [D_OK, D_FAILED, D_PENDING]);
    let _ = update(&mut state, ch('s')); // STATE: what needs attention first
    assert_eq!(order(&state, Tab::Deployments), [D_FAILED, D_PENDING, D_OK]);
    let _ = update(&mut state, ch('S'));
    assert_eq!(order(&state, Tab::Deployments), [D_OK, D_PENDING, D_FAILED]);
    assert!(state.lists[0].reverse);
    let _ = update(&mut state, ch('s')); // SINCE
    assert!(!state.lists[0].reverse, "a new column sorts up first");
    let _ = update(&mut state, ch('s'));
    assert_eq!(state.lists[0].sort, 0, "back to APP");
}

#[test]
fn the_selection_stays_on_its_row_when_the_order_changes() {
    let mut state = loaded();
    assert_eq!(state.selected_deployment().unwrap().id, D_OK);
    for _ in 0..4 {
        let _ = update(&mut state, ch('s'));
    }
    assert_eq!(state.selected_deployment().unwrap().id, D_OK);
    assert_eq!(state.selected[0], 2, "installed is last by state");
    // A report that moves rows keeps the selection on its row too.
    let data = json!({"state": "failed", "device": "gw-3", "error": "boom"});
    let _ = update(&mut state, Msg::Event(event(9, "status", D_PENDING, data)));
    assert_eq!(order(&state, Tab::Deployments), [D_FAILED, D_PENDING, D_OK]);
    assert_eq!(state.selected_deployment().unwrap().id, D_OK);
}

#[test]
fn rollouts_are_newest_first_by_number() {
    let mut state = on_rollouts();
    let mut list = rollouts();
    let mut nine = list[2].clone();
    nine.id = "9".into();
    list.push(nine);
    state.rollouts.refresh.in_flight = true;
    let _ = update(&mut state, Msg::RolloutsLoaded(Ok(list)));
    assert_eq!(order(&state, Tab::Rollouts), ["12", "11", "10", "9"]);
    let _ = update(&mut state, ch('S'));
    assert_eq!(order(&state, Tab::Rollouts), ["9", "10", "11", "12"]);
    assert_eq!(state.selected_rollout().unwrap().id, "12", "still selected");
}

#[test]
fn filtered_and_sorted_80x24() {
    let mut state = loaded();
    let _ = update(&mut state, ch('/'));
    typing(&mut state, "plant");
    let _ = update(&mut state, press(KeyCode::Enter));
    for _ in 0..4 {
        let _ = update(&mut state, ch('s'));
    }
    let _ = update(&mut state, ch('S'));
    let screen = render(&state, 80, 24);
    assert!(screen.contains("STATE ▼"), "{screen}");
    assert!(screen.contains("/plant 2 of 3"), "{screen}");
    assert_snapshot!(screen);
}

#[test]
fn typing_a_filter_80x24() {
    let mut state = loaded();
    let _ = update(&mut state, ch('2'));
    let _ = update(&mut state, ch('/'));
    typing(&mut state, "gw-");
    assert_snapshot!(render(&state, 80, 24));
}

#[test]
fn a_filter_that_matches_nothing_says_so() {
    let mut state = loaded();
    let _ = update(&mut state, ch('3'));
    let _ = update(&mut state, ch('/'));
    typing(&mut state, "nowhere");
    let screen = render(&state, 80, 24);
    assert!(
        screen.contains("Nothing matches /nowhere; Esc clears the filter."),
        "{screen}"
    );
    assert!(screen.contains("/nowhere 0 of 2"), "{screen}");
}
