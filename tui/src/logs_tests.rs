//! Tests of the log pane: it reads this host's edge node's logs there and
//! any other device's through the CO, follows them on ticks, and says why
//! when a log cannot be had; `(no output yet)` only when a read found the
//! log empty.

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

fn remote(deployment: &str, from: u64) -> Cmd {
    Cmd::RemoteLogs {
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
fn without_en_data_the_log_is_read_through_the_co_and_the_pane_says_why_not() {
    let mut state = opened();
    assert_eq!(
        update(&mut state, Msg::Node(LocalNode::Unnamed)),
        vec![remote(D_OK, 0)]
    );
    let screen = render(&state, 80, 24);
    assert!(screen.contains("Asking the CO for the log"), "{screen}");
    assert!(
        update(&mut state, Msg::Tick).is_empty(),
        "waits for the answer"
    );
    let why = "device `gw-1` did not answer within 20 s: it is offline or not polling the LO of site `plant-1`";
    let _ = update(&mut state, Msg::Logs(D_OK.into(), Err(why.into())));
    assert_eq!(
        state.logs.as_ref().unwrap().access,
        LogAccess::Unavailable(why.into())
    );
    let screen = render(&state, 80, 24);
    assert!(!screen.contains("no output yet"), "{screen}");
    assert!(screen.contains("offline or not polling the LO"), "{screen}");
    assert_snapshot!("log_pane_device_offline_80x24", screen);
    // Asked again on ticks; once text comes, it is followed from there.
    assert_eq!(update(&mut state, Msg::Tick), vec![remote(D_OK, 0)]);
    let piece = LogPiece {
        text: "one\n".into(),
        next: 4,
    };
    let _ = update(&mut state, Msg::Logs(D_OK.into(), Ok(piece)));
    assert_eq!(state.logs.as_ref().unwrap().access, LogAccess::Remote);
    assert_eq!(update(&mut state, Msg::Tick), vec![remote(D_OK, 4)]);
    // A later failure keeps the text and shows beside it.
    let _ = update(&mut state, Msg::Logs(D_OK.into(), Err("LO away".into())));
    let pane = state.logs.as_ref().unwrap();
    assert_eq!(
        (pane.text.as_str(), pane.error.as_deref()),
        ("one\n", Some("LO away"))
    );
}

#[test]
fn a_workload_on_another_device_is_read_through_the_co() {
    let mut state = opened();
    assert_eq!(update(&mut state, here("gw-2")), vec![remote(D_OK, 0)]);
    let why = "deployment `d1` is not placed on device `gw-1` (site `plant-1`) yet: device `gw-1` does not run it";
    let _ = update(&mut state, Msg::Logs(D_OK.into(), Err(why.into())));
    let screen = render(&state, 80, 24);
    assert!(screen.contains("is not placed on device"), "{screen}");
    assert_snapshot!("log_pane_not_placed_80x24", screen);
    // gw-2's own workload is read from this host's node.
    let _ = update(&mut state, press(KeyCode::Esc));
    let _ = update(&mut state, ch('G'));
    assert_eq!(update(&mut state, ch('l')), vec![read(D_FAILED, 0)]);
}

#[test]
fn a_named_node_that_does_not_answer_leaves_the_co_to_read_from() {
    let mut state = opened();
    let down = LocalNode::Unreachable("connection refused".into());
    assert_eq!(update(&mut state, Msg::Node(down)), vec![remote(D_OK, 0)]);
    assert!(
        update(&mut state, Msg::Tick).is_empty(),
        "one read at a time"
    );
}
