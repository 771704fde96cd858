//! Tests of a deploy's result: after the form's deploy, each device's
//! deployment is shown waiting, then installed or failed with the reason
//! as its status arrives; a snapshot from before the deploy is not taken
//! for its result.

#![allow(clippy::unwrap_used)]

use crossterm::event::KeyCode;
use edge_api::types::DeploymentSummary;
use insta::assert_snapshot;
use serde_json::json;

use crate::fixture::{D_OK, ch, event, hello_detail, loaded, press, render, snapshot};
use crate::keys::Mode;
use crate::state::{State, Tab};
use crate::update::{Cmd, Msg, update};

const NEW_1: &str = "5d1c0a2e-4444-4a7b-9c1d-000000000004";
const NEW_2: &str = "9e2f7b31-5555-4a7b-9c1d-000000000005";

/// What the CO answers a deploy to `device`: a new deployment, no report.
fn made(id: &str, device: &str, change: &str) -> DeploymentSummary {
    let mut d = snapshot().deployments[0].clone();
    d.id = id.into();
    d.device = device.into();
    d.change = Some(change.into());
    d.state = None;
    d.state_at = None;
    d
}

/// The fleet with the deploy form confirmed: hello-wasm to every device of
/// plant-a, on its way.
fn sent() -> State {
    let mut state = loaded();
    let _ = update(&mut state, ch('4'));
    let _ = update(
        &mut state,
        Msg::AppLoaded("hello-wasm".into(), Ok(hello_detail())),
    );
    let _ = update(&mut state, ch('d'));
    let _ = update(&mut state, ch('j')); // plant-a
    let _ = update(&mut state, press(KeyCode::Enter));
    let _ = update(&mut state, press(KeyCode::Enter)); // every device
    let _ = update(&mut state, press(KeyCode::Enter)); // review
    assert!(matches!(update(&mut state, ch('y'))[..], [Cmd::Deploy(_)]));
    state
}

fn status(id: u64, deployment: &str, data: serde_json::Value) -> Msg {
    Msg::Event(event(id, "status", deployment, data))
}

#[test]
fn a_deploy_shows_each_devices_result_as_its_status_arrives() {
    let mut state = sent();
    let answer = vec![
        made(NEW_1, "gw-1", "created"),
        made(NEW_2, "gw-2", "created"),
    ];
    assert_eq!(
        update(&mut state, Msg::Deployed(Ok(answer))),
        vec![Cmd::Refresh]
    );
    assert!(state.form.is_none());
    assert_eq!(state.mode(), Mode::Outcome);
    assert_eq!(state.tab, Tab::Deployments);
    let screen = render(&state, 80, 24);
    assert!(screen.contains("waiting for its first report"), "{screen}");
    assert!(
        screen.contains("Deployed hello-wasm 1.0.0 to 2 devices; waiting for their reports."),
        "{screen}"
    );
    assert_snapshot!("deploy_outcome_waiting_80x24", screen);

    // Reports arrive before the list has the new rows.
    let _ = update(
        &mut state,
        status(20, NEW_1, json!({"state": "installing"})),
    );
    let _ = update(&mut state, status(21, NEW_1, json!({"state": "installed"})));
    let why = "hello: MQTT_URL is not set";
    let _ = update(
        &mut state,
        status(22, NEW_2, json!({"state": "failed", "error": why})),
    );
    let screen = render(&state, 80, 24);
    assert!(
        screen.contains("failed: hello: MQTT_URL is not set"),
        "{screen}"
    );
    let note = state.note.clone().unwrap();
    assert_eq!(
        note.text,
        "hello-wasm 1.0.0: installed on 1 of 2 devices, failed on 1"
    );
    assert!(note.error);
    assert_snapshot!("deploy_outcome_80x24", screen);

    // The list catches up; the result stays as it was.
    let mut later = snapshot();
    let mut one = made(NEW_1, "gw-1", "created");
    one.state = Some("installed".into());
    let mut two = made(NEW_2, "gw-2", "created");
    two.state = Some("failed".into());
    two.error = Some(why.into());
    later.deployments.extend([one, two]);
    let _ = update(&mut state, Msg::Loaded(Ok(later)));
    let screen = render(&state, 80, 24);
    for line in ["gw-2 failed: hello: MQTT_URL is not set", "gw-1 installed"] {
        assert!(screen.contains(line), "{line}: {screen}");
    }

    let _ = update(&mut state, press(KeyCode::Esc));
    assert_eq!(state.mode(), Mode::Main(Tab::Deployments));
    assert!(!render(&state, 80, 24).contains("Every device has answered"));
}

#[test]
fn a_snapshot_from_before_the_deploy_is_not_its_result() {
    let mut state = sent();
    // A refresh asked earlier is on its way when the answer comes.
    state.refresh.in_flight = true;
    let answer = vec![made(D_OK, "gw-1", "updated")];
    assert!(update(&mut state, Msg::Deployed(Ok(answer))).is_empty());
    assert!(state.refresh.pending);
    // That refresh shows D_OK installed: the version before.
    assert_eq!(
        update(&mut state, Msg::Loaded(Ok(snapshot()))),
        vec![Cmd::Refresh]
    );
    let waiting = "waiting for its report of this change";
    assert!(render(&state, 80, 24).contains(waiting));
    // A late report about the version before does not count either.
    let before = json!({"state": "installed", "current": false});
    let _ = update(&mut state, status(30, D_OK, before));
    assert!(render(&state, 80, 24).contains(waiting));
    let now = json!({"state": "installed", "current": true});
    let _ = update(&mut state, status(31, D_OK, now));
    let screen = render(&state, 80, 24);
    assert!(!screen.contains(waiting), "{screen}");
    assert!(screen.contains("Every device has answered."), "{screen}");
    assert_eq!(
        state.note.as_ref().unwrap().text,
        "hello-wasm 1.0.0: installed on 1 of 1 device"
    );
}

#[test]
fn a_device_left_unchanged_has_answered_already() {
    let mut state = sent();
    let answer = vec![made(D_OK, "gw-1", "unchanged")];
    let _ = update(&mut state, Msg::Deployed(Ok(answer)));
    let _ = update(&mut state, Msg::Loaded(Ok(snapshot())));
    let screen = render(&state, 80, 24);
    assert!(screen.contains("unchanged (installed)"), "{screen}");
    assert!(screen.contains("Every device has answered."), "{screen}");
}
