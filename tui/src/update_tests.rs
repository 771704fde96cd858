//! Unit tests of `update`: events, refresh coalescing, the deploy form,
//! confirmations, and the key table's consistency.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use crossterm::event::KeyCode;
use edge_api::types::DeployRequest;
use serde_json::json;

use crate::fixture::{
    D_FAILED, D_OK, D_PENDING, ch, ctrl, event, hello_detail, loaded, press, snapshot, typing,
};
use crate::form::Step;
use crate::keys::Mode;
use crate::state::{Confirm, Conn, State, Tab};
use crate::update::{Cmd, Msg, start, update};

#[test]
fn start_asks_for_a_snapshot() {
    let mut state = State::new();
    assert_eq!(start(&mut state), vec![Cmd::Refresh, Cmd::LoadRollouts]);
    assert!(state.refresh.in_flight);
}

#[test]
fn a_status_event_changes_that_row_only() {
    let mut state = loaded();
    let before = state.snapshot.clone();
    let data = json!({"state": "failed", "device": "gw-1", "error": "out of memory"});
    let cmds = update(&mut state, Msg::Event(event(7, "status", D_OK, data)));
    assert!(cmds.is_empty(), "no refetch for a status event");
    let row = &state.snapshot.deployments[0];
    assert_eq!(row.state.as_deref(), Some("failed"));
    assert_eq!(row.error.as_deref(), Some("out of memory"));
    assert_eq!(row.state_at.as_deref(), Some("2025-03-01T10:05:00Z"));
    assert_eq!(state.snapshot.deployments[1..], before.deployments[1..]);
    assert_eq!(state.last_event, Some(7));

    let data = json!({"state": "installed", "device": "gw-1"});
    let _ = update(&mut state, Msg::Event(event(8, "status", D_OK, data)));
    assert_eq!(state.snapshot.deployments[0].error, None, "error clears");
}

#[test]
fn a_status_event_of_an_unknown_deployment_refreshes() {
    let mut state = loaded();
    let data = json!({"state": "pending"});
    let cmds = update(&mut state, Msg::Event(event(1, "status", "new-one", data)));
    assert_eq!(cmds, vec![Cmd::Refresh]);
}

#[test]
fn structural_events_refresh() {
    for kind in [
        "deployment.created",
        "deployment.updated",
        "deployment.removed",
        "device.added",
        "device.capabilities",
        "site.added",
        "site.rolled-back",
        "app.added",
        "app.removed",
        "reset",
    ] {
        let mut state = loaded();
        let cmds = update(&mut state, Msg::Event(event(1, kind, "x", json!({}))));
        let mut expected = vec![Cmd::Refresh];
        if kind == "reset" {
            expected.push(Cmd::LoadRollouts);
        }
        assert_eq!(cmds, expected, "{kind}");
    }
}

#[test]
fn a_reset_after_other_events_refreshes_and_counts_ids_afresh() {
    let mut state = loaded();
    let _ = update(
        &mut state,
        Msg::Event(event(40, "site.added", "s", json!({}))),
    );
    state.refresh = Default::default();
    // A reset has no id of its own (0), and the CO's ids may begin again.
    let cmds = update(&mut state, Msg::Event(event(0, "reset", "", json!({}))));
    assert_eq!(cmds, vec![Cmd::Refresh, Cmd::LoadRollouts]);
    assert_eq!(state.last_event, None);
    state.refresh = Default::default();
    let cmds = update(
        &mut state,
        Msg::Event(event(3, "device.added", "d", json!({}))),
    );
    assert_eq!(
        cmds,
        vec![Cmd::Refresh],
        "an id below the old ones counts again"
    );
}

#[test]
fn app_events_forget_the_cached_detail() {
    let mut state = loaded();
    let _ = update(
        &mut state,
        Msg::AppLoaded("hello-wasm".into(), Ok(hello_detail())),
    );
    assert!(state.apps.contains_key("hello-wasm"));
    let _ = update(
        &mut state,
        Msg::Event(event(1, "app.added", "hello-wasm", json!({}))),
    );
    assert!(!state.apps.contains_key("hello-wasm"));
}

#[test]
fn old_and_repeated_events_are_ignored() {
    let mut state = loaded();
    let removed = event(5, "deployment.removed", D_OK, json!({}));
    assert_eq!(
        update(&mut state, Msg::Event(removed.clone())),
        vec![Cmd::Refresh]
    );
    let _ = update(&mut state, Msg::Loaded(Ok(snapshot())));
    assert!(update(&mut state, Msg::Event(removed)).is_empty());
    let older = event(4, "site.added", "x", json!({}));
    assert!(update(&mut state, Msg::Event(older)).is_empty());
}

#[test]
fn refreshes_coalesce_to_one_in_flight_and_one_pending() {
    let mut state = loaded();
    let e = |id| Msg::Event(event(id, "deployment.created", "x", json!({})));
    assert_eq!(update(&mut state, e(1)), vec![Cmd::Refresh]);
    assert!(update(&mut state, e(2)).is_empty());
    assert!(update(&mut state, e(3)).is_empty());
    assert!(
        update(&mut state, ch('r')).is_empty(),
        "r while one is in flight"
    );
    assert!(state.refresh.pending);
    // The answer arrives: exactly one more, for everything that came meanwhile.
    assert_eq!(
        update(&mut state, Msg::Loaded(Ok(snapshot()))),
        vec![Cmd::Refresh]
    );
    assert!(update(&mut state, Msg::Loaded(Ok(snapshot()))).is_empty());
    assert!(!state.refresh.in_flight && !state.refresh.pending);
}

#[test]
fn a_failed_refresh_is_reported_and_frees_the_slot() {
    let mut state = loaded();
    assert_eq!(update(&mut state, ch('r')), vec![Cmd::Refresh]);
    assert!(update(&mut state, Msg::Loaded(Err("CO unreachable".into()))).is_empty());
    assert!(state.note.as_ref().unwrap().error);
    assert_eq!(state.snapshot, snapshot(), "the old picture stays");
    assert_eq!(update(&mut state, ch('r')), vec![Cmd::Refresh]);
}

#[test]
fn the_stream_state_follows_down_and_up() {
    let mut state = loaded();
    assert!(update(&mut state, Msg::StreamDown("connection reset".into())).is_empty());
    assert_eq!(state.conn, Conn::Reconnecting("connection reset".into()));
    assert_eq!(
        update(&mut state, Msg::StreamUp),
        vec![Cmd::Refresh, Cmd::LoadRollouts]
    );
    assert_eq!(state.conn, Conn::Live);
    let _ = update(&mut state, Msg::Loaded(Ok(snapshot())));
    assert!(update(&mut state, Msg::StreamUp).is_empty(), "already live");
}

#[test]
fn the_selection_follows_its_row_across_a_refresh() {
    let mut state = loaded();
    // Sorted by app: hello-wasm on gw-1, hello-wasm on gw-3, sensor-agent.
    let _ = update(&mut state, ch('j'));
    assert_eq!(state.selected_deployment().unwrap().id, D_PENDING);
    let mut fewer = snapshot();
    fewer.deployments.remove(0);
    state.refresh.in_flight = true;
    let _ = update(&mut state, Msg::Loaded(Ok(fewer)));
    assert_eq!(state.selected_deployment().unwrap().id, D_PENDING);
    let mut none = snapshot();
    none.deployments.clear();
    let _ = update(&mut state, Msg::Loaded(Ok(none)));
    assert_eq!(state.cursor(), 0);
}

#[test]
fn tabs_switch_and_the_apps_tab_loads_the_selected_detail() {
    let mut state = loaded();
    assert!(update(&mut state, press(KeyCode::Tab)).is_empty());
    assert_eq!(state.tab, Tab::Devices);
    assert!(update(&mut state, press(KeyCode::BackTab)).is_empty());
    assert_eq!(state.tab, Tab::Deployments);
    let cmds = update(&mut state, press(KeyCode::BackTab));
    assert_eq!(state.tab, Tab::Rollouts, "wraps around");
    assert!(cmds.is_empty(), "no rollout listed yet");
    let cmds = update(&mut state, press(KeyCode::BackTab));
    assert_eq!(state.tab, Tab::Apps);
    assert_eq!(cmds, vec![Cmd::LoadApp("hello-wasm".into())]);
    let _ = update(&mut state, ch('1'));
    assert!(update(&mut state, ch('4')).is_empty(), "already asked");
    assert_eq!(
        update(&mut state, ch('j')),
        vec![Cmd::LoadApp("sensor-agent".into())]
    );
    let _ = update(
        &mut state,
        Msg::AppLoaded("sensor-agent".into(), Err("gone".into())),
    );
    assert_eq!(
        update(&mut state, press(KeyCode::Enter)),
        vec![Cmd::LoadApp("sensor-agent".into())]
    );
}

#[test]
fn q_and_ctrl_c_quit_but_q_types_in_a_field() {
    let mut state = loaded();
    assert_eq!(update(&mut state, ch('q')), vec![Cmd::Quit]);
    let mut state = loaded();
    let _ = update(&mut state, ch('4'));
    let _ = update(
        &mut state,
        Msg::AppLoaded("hello-wasm".into(), Ok(hello_detail())),
    );
    let _ = update(&mut state, ch('d'));
    let _ = update(&mut state, press(KeyCode::Enter));
    let _ = update(&mut state, press(KeyCode::Enter));
    assert_eq!(state.mode(), Mode::FormText);
    assert!(update(&mut state, ch('q')).is_empty());
    assert!(
        state.form.as_ref().unwrap().fields.as_ref().unwrap()[0]
            .value
            .ends_with('q')
    );
    assert_eq!(update(&mut state, ctrl('c')), vec![Cmd::Quit]);
}

#[test]
fn the_deploy_form_builds_the_request_from_defaults_and_edits() {
    let mut state = loaded();
    let _ = update(&mut state, ch('4'));
    assert_eq!(
        update(&mut state, ch('d')),
        Vec::<Cmd>::new(),
        "LoadApp already asked"
    );
    assert!(state.loading.contains("hello-wasm"));
    let form = state.form.as_ref().unwrap();
    assert_eq!(
        (form.step, form.app.as_deref()),
        (Step::Site, Some("hello-wasm"))
    );
    let _ = update(
        &mut state,
        Msg::AppLoaded("hello-wasm".into(), Ok(hello_detail())),
    );
    let fields = state.form.as_ref().unwrap().fields.clone().unwrap();
    assert_eq!(
        fields
            .iter()
            .map(|f| (f.parameter.as_str(), f.data_type.as_str(), f.value.as_str()))
            .collect::<Vec<_>>(),
        [
            ("greeting", "string", "hello from edgectl wasm"),
            ("repeat", "integer", "3")
        ]
    );
    let _ = update(&mut state, ch('j')); // plant-a
    let _ = update(&mut state, press(KeyCode::Enter));
    assert_eq!(state.form.as_ref().unwrap().step, Step::Device);
    let _ = update(&mut state, ch('j')); // gw-1
    let _ = update(&mut state, press(KeyCode::Enter));
    assert_eq!(
        state.form.as_ref().unwrap().step,
        Step::Params,
        "one profile: no profile step"
    );
    let _ = update(&mut state, ctrl('u'));
    typing(&mut state, "hi there");
    let _ = update(&mut state, press(KeyCode::Backspace));
    let _ = update(&mut state, press(KeyCode::Tab));
    let _ = update(&mut state, press(KeyCode::Tab));
    assert_eq!(state.form.as_ref().unwrap().field, 0, "fields wrap around");
    assert!(update(&mut state, press(KeyCode::Enter)).is_empty());
    let expected = DeployRequest {
        app: "hello-wasm".into(),
        version: None,
        site: "plant-a".into(),
        device: Some("gw-1".into()),
        selector: BTreeMap::new(),
        set: BTreeMap::from([("greeting".into(), "hi ther".into())]),
        deploy_type: None,
        name: None,
        rollout: None,
        dry_run: false,
        allow_unreported: false,
    };
    assert_eq!(
        state.confirm,
        Some(Confirm::Deploy(Box::new(expected.clone())))
    );
    assert_eq!(
        update(&mut state, ch('y')),
        vec![Cmd::Deploy(Box::new(expected))]
    );
    assert!(state.form.as_ref().unwrap().busy);
    assert!(
        update(&mut state, press(KeyCode::Enter)).is_empty(),
        "no second send"
    );

    let refused = "parameter greeting: longer than 80 characters";
    let _ = update(&mut state, Msg::Deployed(Err(refused.into())));
    let form = state.form.as_ref().unwrap();
    assert_eq!(form.error.as_deref(), Some(refused));
    assert!(!form.busy);
    assert_eq!(form.step, Step::Params, "kept for another try");

    let made = vec![snapshot().deployments[0].clone()];
    assert_eq!(
        update(&mut state, Msg::Deployed(Ok(made))),
        vec![Cmd::Refresh]
    );
    assert!(state.form.is_none());
    assert_eq!(state.tab, Tab::Deployments);
}

#[test]
fn an_app_with_several_profiles_asks_for_one() {
    let mut state = loaded();
    let _ = update(&mut state, ch('2'));
    assert_eq!(update(&mut state, ch('d')), Vec::<Cmd>::new());
    assert_eq!(state.form.as_ref().unwrap().step, Step::App);
    let _ = update(&mut state, ch('j'));
    assert_eq!(
        update(&mut state, press(KeyCode::Enter)),
        vec![Cmd::LoadApp("sensor-agent".into())]
    );
    // Devices tab, gw-1 selected: plant-a and gw-1 are preselected.
    let _ = update(&mut state, press(KeyCode::Enter));
    assert_eq!(
        state.form.as_ref().unwrap().site.as_deref(),
        Some("plant-a")
    );
    let _ = update(&mut state, press(KeyCode::Enter));
    let form = state.form.as_ref().unwrap();
    assert_eq!(
        (form.step, form.device.as_deref()),
        (Step::Profile, Some("gw-1"))
    );
    let _ = update(&mut state, ch('j'));
    let _ = update(&mut state, press(KeyCode::Enter));
    assert!(update(&mut state, press(KeyCode::Enter)).is_empty());
    assert!(
        state.form.as_ref().unwrap().error.is_some(),
        "details not here yet"
    );
    let mut detail = hello_detail();
    detail.id = "sensor-agent".into();
    detail.description = json!({});
    let _ = update(
        &mut state,
        Msg::AppLoaded("sensor-agent".into(), Ok(detail)),
    );
    let _ = update(&mut state, press(KeyCode::Enter));
    let Some(Confirm::Deploy(request)) = &state.confirm else {
        panic!("no question: {:?}", state.confirm);
    };
    assert_eq!(request.deploy_type.as_deref(), Some("container"));
    assert!(request.set.is_empty());
    let _ = update(&mut state, ch('n'));
    assert!(
        state.confirm.is_none() && state.form.is_some(),
        "no: back to the form"
    );
}

#[test]
fn esc_walks_the_form_back_and_closes_it() {
    let mut state = loaded();
    let _ = update(&mut state, ch('d'));
    let form = state.form.as_ref().unwrap();
    assert_eq!(form.cursor, 0, "cursor on the deployment's app");
    let _ = update(&mut state, press(KeyCode::Enter));
    assert_eq!(
        state.form.as_ref().unwrap().cursor,
        1,
        "plant-a, the deployment's site"
    );
    let _ = update(&mut state, press(KeyCode::Esc));
    assert_eq!(state.form.as_ref().unwrap().step, Step::App);
    let _ = update(&mut state, press(KeyCode::Esc));
    assert!(state.form.is_none());
}

#[test]
fn undeploy_asks_first() {
    let mut state = loaded();
    let _ = update(&mut state, ch('G'));
    assert!(update(&mut state, ch('x')).is_empty());
    assert!(matches!(&state.confirm, Some(Confirm::Undeploy { id, .. }) if id == D_FAILED));
    assert!(update(&mut state, press(KeyCode::Esc)).is_empty());
    assert!(state.confirm.is_none());
    let _ = update(&mut state, press(KeyCode::Delete));
    assert!(
        update(&mut state, ch('z')).is_empty(),
        "other keys leave the question"
    );
    assert!(state.confirm.is_some());
    assert_eq!(
        update(&mut state, ch('y')),
        vec![Cmd::Undeploy(D_FAILED.into())]
    );
    let done = Msg::Undeployed(D_FAILED.into(), Ok(()));
    assert_eq!(update(&mut state, done), vec![Cmd::Refresh]);
    let failed = Msg::Undeployed(D_FAILED.into(), Err("no such deployment".into()));
    assert!(update(&mut state, failed).is_empty());
    assert!(
        state
            .note
            .as_ref()
            .unwrap()
            .text
            .contains("no such deployment")
    );
}

#[test]
fn help_opens_scrolls_and_closes() {
    let mut state = loaded();
    let _ = update(&mut state, ch('?'));
    assert_eq!(state.mode(), Mode::Help);
    let _ = update(&mut state, ch('j'));
    assert_eq!(state.help_scroll, 1);
    assert_eq!(state.tab, Tab::Deployments, "keys go to the help only");
    let _ = update(&mut state, press(KeyCode::Esc));
    assert!(!state.help);
}

#[test]
fn a_fatal_message_quits() {
    let mut state = loaded();
    assert_eq!(
        update(&mut state, Msg::Fatal("boom".into())),
        vec![Cmd::Quit]
    );
    assert_eq!(state.fatal.as_deref(), Some("boom"));
}
