//! Tests of the log pane: it reads only the logs of this host's edge node,
//! follows them on ticks, and otherwise says why it cannot read them; `(no
//! output yet)` only when a read found the log empty.

#![allow(clippy::unwrap_used)]

use crossterm::event::KeyCode;
use insta::assert_snapshot;

use crate::backend::{LocalNode, LogPiece};
use crate::fixture::{D_FAILED, D_OK, ch, loaded, press, render};
use crate::state::{LOG_KEEP, LogAccess, State};
use crate::update::{Cmd, Msg, update};

fn read(deployment: &str, from: u64) -> Cmd {
    Cmd::Logs {
        deployment: deployment.into(),
        from,
    }
}

fn here(device: &str) -> Msg {
    Msg::Node(LocalNode::Device(device.into()))
}

/// The fleet with the log pane open on hello-wasm on gw-1.
fn opened() -> State {
    let mut state = loaded();
    assert_eq!(update(&mut state, ch('l')), vec![Cmd::AskNode]);
    state
}

#[test]
fn the_log_pane_follows_on_ticks_only_while_open() {
    let mut state = loaded();
    assert!(update(&mut state, Msg::Tick).is_empty());
    let _ = update(&mut state, ch('l'));
    assert!(
        update(&mut state, Msg::Tick).is_empty(),
        "the node is asked once"
    );
    assert_eq!(update(&mut state, here("gw-1")), vec![read(D_OK, 0)]);
    assert!(
        update(&mut state, Msg::Tick).is_empty(),
        "waits for the answer"
    );
    let piece = LogPiece {
        text: "one\ntwo\n".into(),
        next: 8,
    };
    let _ = update(&mut state, Msg::Logs(D_OK.into(), Ok(piece)));
    let stale = LogPiece {
        text: "other\n".into(),
        next: 6,
    };
    let _ = update(&mut state, Msg::Logs(D_FAILED.into(), Ok(stale)));
    assert_eq!(state.logs.as_ref().unwrap().text, "one\ntwo\n");
    assert_eq!(update(&mut state, Msg::Tick), vec![read(D_OK, 8)]);
    let _ = update(
        &mut state,
        Msg::Logs(D_OK.into(), Err("the node stopped answering".into())),
    );
    assert_eq!(
        state.logs.as_ref().unwrap().error.as_deref(),
        Some("the node stopped answering")
    );
    assert_eq!(update(&mut state, Msg::Tick).len(), 1, "tries again");
    let _ = update(&mut state, press(KeyCode::Esc));
    assert!(state.logs.is_none());
    assert!(update(&mut state, Msg::Tick).is_empty());
    // The node is known now: the next pane reads at once.
    assert_eq!(update(&mut state, ch('l')), vec![read(D_OK, 0)]);
}

#[test]
fn a_long_log_keeps_its_end_from_a_line_start() {
    let mut state = opened();
    let _ = update(&mut state, here("gw-1"));
    let line = "é".repeat(40) + "\n";
    let text = line.repeat(LOG_KEEP / line.len() + 10);
    let _ = update(
        &mut state,
        Msg::Logs(D_OK.into(), Ok(LogPiece { text, next: 1 })),
    );
    let kept = &state.logs.as_ref().unwrap().text;
    assert!(kept.len() <= LOG_KEEP);
    assert!(kept.starts_with('é') && kept.ends_with('\n'));
}

#[test]
fn no_output_yet_only_once_a_read_found_the_log_empty() {
    let mut state = opened();
    assert!(render(&state, 80, 24).contains("Finding the edge node on this host…"));
    let _ = update(&mut state, here("gw-1"));
    let screen = render(&state, 80, 24);
    assert!(screen.contains("Reading the log…"), "{screen}");
    assert!(!screen.contains("no output yet"), "{screen}");
    let empty = LogPiece {
        text: String::new(),
        next: 0,
    };
    let _ = update(&mut state, Msg::Logs(D_OK.into(), Ok(empty)));
    assert!(render(&state, 80, 24).contains("(no output yet)"));
}

#[test]
fn without_en_data_the_pane_says_where_logs_are_read() {
    let mut state = opened();
    assert!(update(&mut state, Msg::Node(LocalNode::Unnamed)).is_empty());
    assert!(matches!(
        state.logs.as_ref().unwrap().access,
        LogAccess::Elsewhere(_)
    ));
    assert!(update(&mut state, Msg::Tick).is_empty(), "nothing to read");
    let screen = render(&state, 80, 24);
    assert!(!screen.contains("no output yet"), "{screen}");
    assert!(screen.contains("edgectl tui --en-data DIR"), "{screen}");
    assert_snapshot!("log_pane_without_a_node_80x24", screen);
}

#[test]
fn a_workload_on_another_device_says_its_logs_are_on_that_node() {
    let mut state = opened();
    assert!(update(&mut state, here("gw-2")).is_empty());
    assert!(update(&mut state, Msg::Tick).is_empty(), "nothing to read");
    let screen = render(&state, 80, 24);
    assert!(
        screen.contains("This workload runs on device gw-1; its logs are on that node."),
        "{screen}"
    );
    assert_snapshot!("log_pane_of_another_device_80x24", screen);
    // gw-2's own workload is read.
    let _ = update(&mut state, press(KeyCode::Esc));
    let _ = update(&mut state, ch('G'));
    assert_eq!(update(&mut state, ch('l')), vec![read(D_FAILED, 0)]);
}

#[test]
fn a_named_node_that_does_not_answer_is_asked_again_on_ticks() {
    let mut state = opened();
    let down = LocalNode::Unreachable("connection refused".into());
    assert!(update(&mut state, Msg::Node(down)).is_empty());
    let screen = render(&state, 80, 24);
    assert!(screen.contains("does not answer"), "{screen}");
    assert!(screen.contains("connection refused"), "{screen}");
    assert_eq!(update(&mut state, Msg::Tick), vec![Cmd::AskNode]);
    assert!(
        update(&mut state, Msg::Tick).is_empty(),
        "one question at a time"
    );
    assert_eq!(update(&mut state, here("gw-1")), vec![read(D_OK, 0)]);
}
