//! Test data: a small fleet (two sites, three devices that reported all,
//! some or none of their capabilities, three deployments in different
//! states, two apps), three rollouts (running, paused, done) and
//! helpers to press keys and render.

use std::collections::BTreeMap;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use edge_api::types::{
    AppDetail, AppSummary, AppVersion, DeploymentSummary, Device, Event, Rollout, RolloutPolicy,
    RolloutTarget, RolloutWave, Site,
};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use serde_json::json;

use crate::backend::Snapshot;
use crate::state::{Conn, State, Tab};
use crate::update::{Msg, update};
use crate::view;

pub(crate) const D_OK: &str = "0b9d5c1e-1111-4a7b-9c1d-000000000001";
pub(crate) const D_FAILED: &str = "7f3e2a90-2222-4a7b-9c1d-000000000002";
pub(crate) const D_PENDING: &str = "c4a81f77-3333-4a7b-9c1d-000000000003";

fn deployment(id: &str, app: &str, device: &str, state: Option<&str>) -> DeploymentSummary {
    DeploymentSummary {
        id: id.into(),
        app: app.into(),
        version: "1.0.0".into(),
        site: if device == "gw-3" { "lab" } else { "plant-a" }.into(),
        device: device.into(),
        profile: "wasm".into(),
        commit: "e1f2a3b4c5d6e7f8".into(),
        created_at: "2025-03-01T09:30:00Z".into(),
        name: None,
        change: None,
        changes: Vec::new(),
        state: state.map(Into::into),
        state_at: state.map(|_| "2025-03-01T09:31:05Z".into()),
        error: None,
        rollout: None,
        wave: None,
        stale: false,
    }
}

fn device(id: &str, site: &str, deployments: &[&str]) -> Device {
    Device {
        id: id.into(),
        site: site.into(),
        labels: BTreeMap::new(),
        capabilities: None,
        last_heard: None,
        identity: None,
        deployments: deployments.iter().map(|d| (*d).into()).collect(),
        created_at: "2025-02-01T08:00:00Z".into(),
    }
}

/// gw-1 reported everything (our types in rc.3 words: `custom` and the
/// extension), gw-2 only its deployment types (as an earlier release
/// listed them), gw-3 nothing.
fn devices() -> Vec<Device> {
    let mut gw1 = device("gw-1", "plant-a", &[D_OK]);
    gw1.labels = BTreeMap::from([("line".into(), "2".into()), ("zone".into(), "north".into())]);
    gw1.last_heard = Some("2025-03-01T10:00:00Z".into());
    gw1.capabilities = Some(json!({"properties": {
        "id": "gw-1", "vendor": "edged", "modelNumber": "x86_64", "serialNumber": "gw-1",
        "cpus": [{"cores": 4, "architecture": "amd64"}], "memory": "8Gi", "storage": "1Ti",
        "supportedRuntimes": ["oci", "custom"],
        "supportedDeploymentTypes": ["custom"]
    }, "x-edgectl-extensions": {"deploymentTypes": ["wasm", "process", "container"]}}));
    let mut gw2 = device("gw-2", "plant-a", &[D_FAILED]);
    gw2.last_heard = Some("2025-03-01T09:58:00Z".into());
    gw2.capabilities = Some(json!({"properties": {"supportedDeploymentTypes": ["process"]}}));
    vec![gw1, gw2, device("gw-3", "lab", &[D_PENDING])]
}

/// The fleet.
pub(crate) fn snapshot() -> Snapshot {
    let mut failed = deployment(D_FAILED, "sensor-agent", "gw-2", Some("failed"));
    failed.error = Some("component agent: exit status 3 (missing MQTT_URL)".into());
    Snapshot {
        sites: vec![
            Site {
                name: "lab".into(),
                labels: BTreeMap::new(),
                devices: 1,
                created_at: "2025-02-01T07:00:00Z".into(),
            },
            Site {
                name: "plant-a".into(),
                labels: BTreeMap::from([("region".into(), "eu".into())]),
                devices: 2,
                created_at: "2025-02-01T07:05:00Z".into(),
            },
        ],
        devices: devices(),
        deployments: vec![
            deployment(D_OK, "hello-wasm", "gw-1", Some("installed")),
            failed,
            deployment(D_PENDING, "hello-wasm", "gw-3", Some("pending")),
        ],
        apps: vec![
            AppSummary {
                id: "hello-wasm".into(),
                name: "Hello Wasm".into(),
                latest: "1.0.0".into(),
                versions: vec!["1.0.0".into()],
                profiles: vec!["wasm".into()],
                description: Some("Prints a greeting.".into()),
            },
            AppSummary {
                id: "sensor-agent".into(),
                name: "Sensor agent".into(),
                latest: "2.1.0".into(),
                versions: vec!["2.0.0".into(), "2.1.0".into()],
                profiles: vec!["process".into(), "container".into()],
                description: None,
            },
        ],
    }
}

/// The store's detail of `hello-wasm`: two parameters with defaults.
pub(crate) fn hello_detail() -> AppDetail {
    AppDetail {
        id: "hello-wasm".into(),
        name: "Hello Wasm".into(),
        versions: vec![AppVersion {
            version: "1.0.0".into(),
            source: "upload:hello-wasm".into(),
            commit: "abc".into(),
            added_at: "2025-02-01T07:00:00Z".into(),
            digest: "sha256:00".into(),
        }],
        description: json!({
            "metadata": {"id": "hello-wasm", "name": "Hello Wasm", "version": "1.0.0",
                "description": "Prints a greeting from a WASI preview 1 module."},
            "deploymentProfiles": [{"type": "wasm", "id": "hello-wasm-wasm",
                "components": [{"name": "hello", "properties": {}}]}],
            "parameters": {
                "greeting": {"value": "hello from edgectl wasm", "targets": []},
                "repeat": {"value": 3, "targets": []}
            },
            "configuration": {
                "sections": [{"name": "General", "settings": [
                    {"parameter": "greeting", "name": "Greeting",
                     "description": "The line the module prints to stdout.",
                     "schema": "greetingText"},
                    {"parameter": "repeat", "name": "Repeat",
                     "description": "How many times.", "schema": "count"}
                ]}],
                "schema": [
                    {"name": "greetingText", "dataType": "string", "maxLength": 80},
                    {"name": "count", "dataType": "integer", "minValue": 1}
                ]
            }
        }),
    }
}

fn wave(number: u32, size: u32, (healthy, failed, waiting): (u32, u32, u32)) -> RolloutWave {
    let state = if healthy + failed == size {
        "done"
    } else if healthy + failed + waiting > 0 {
        "running"
    } else {
        "pending"
    };
    RolloutWave {
        number,
        size,
        healthy,
        failed,
        waiting,
        state: state.into(),
        sent_at: (state != "pending").then(|| "2025-03-01T10:00:00Z".into()),
        deadline: (state == "running").then(|| "2025-03-01T10:10:00Z".into()),
    }
}

fn rollout(id: &str, state: &str, description: &str, waves: Vec<RolloutWave>) -> Rollout {
    let failures = waves.iter().map(|w| w.failed).sum();
    Rollout {
        id: id.into(),
        state: state.into(),
        reason: None,
        description: description.into(),
        by: "alice".into(),
        created_at: "2025-03-01T10:00:00Z".into(),
        updated_at: "2025-03-01T10:04:00Z".into(),
        policy: RolloutPolicy {
            waves: vec!["1".into(), "60%".into(), "100%".into()],
            max_failures: Some("1".into()),
            ..RolloutPolicy::default()
        },
        sites: vec!["plant-a".into(), "lab".into()],
        total: waves.iter().map(|w| w.size).sum(),
        budget: 1,
        failures,
        wave: u32::try_from(waves.iter().filter(|w| w.state != "pending").count()).unwrap_or(0),
        waves,
        targets: Vec::new(),
    }
}

/// The rollouts, newest first: 12 running in wave 2 of 3 with one failure
/// (the budget), 11 paused after a breach, 10 done.
pub(crate) fn rollouts() -> Vec<Rollout> {
    let running = rollout(
        "12",
        "running",
        "deploy hello-wasm 1.1.0",
        vec![
            wave(1, 1, (1, 0, 0)),
            wave(2, 2, (0, 1, 1)),
            wave(3, 2, (0, 0, 0)),
        ],
    );
    let mut paused = rollout(
        "11",
        "paused",
        "deploy sensor-agent 2.1.0",
        vec![wave(1, 1, (0, 1, 0)), wave(2, 1, (0, 0, 0))],
    );
    paused.budget = 0;
    paused.sites = vec!["plant-a".into()];
    paused.reason = Some("1 device failed, more than the 0 allowed".into());
    let done = rollout(
        "10",
        "done",
        "deploy hello-wasm 1.0.0",
        vec![wave(1, 1, (1, 0, 0)), wave(2, 2, (2, 0, 0))],
    );
    vec![running, paused, done]
}

fn target(wave: u32, device: &str, state: &str) -> RolloutTarget {
    RolloutTarget {
        deployment: format!("dep-{device}"),
        site: if device == "gw-3" { "lab" } else { "plant-a" }.into(),
        device: device.into(),
        app: "hello-wasm".into(),
        wave,
        change: "updated".into(),
        from_version: Some("1.0.0".into()),
        to_version: Some("1.1.0".into()),
        state: state.into(),
        error: None,
    }
}

/// Rollout 12 with its devices.
pub(crate) fn rollout_detail() -> Rollout {
    let mut failed = target(2, "gw-2", "failed");
    failed.error = Some("component hello: exit status 1".into());
    let mut new = target(3, "gw-5", "pending");
    new.from_version = None;
    Rollout {
        targets: vec![
            target(1, "gw-1", "healthy"),
            failed,
            target(2, "gw-3", "waiting"),
            target(3, "gw-4", "pending"),
            new,
        ],
        ..rollouts().swap_remove(0)
    }
}

/// The fleet loaded, on the rollouts tab with rollout 12's detail here.
pub(crate) fn on_rollouts() -> State {
    let mut state = loaded();
    state.tab = Tab::Rollouts;
    state.rollouts.refresh.in_flight = true;
    let _ = update(&mut state, Msg::RolloutsLoaded(Ok(rollouts())));
    let _ = update(
        &mut state,
        Msg::RolloutLoaded("12".into(), Ok(rollout_detail())),
    );
    state
}

/// A state with the fleet loaded and the stream live.
pub(crate) fn loaded() -> State {
    let mut state = State::new();
    state.refresh.in_flight = true;
    let _ = update(&mut state, Msg::Loaded(Ok(snapshot())));
    state.conn = Conn::Live;
    state
}

pub(crate) fn event(id: u64, kind: &str, subject: &str, data: serde_json::Value) -> Event {
    Event {
        id,
        kind: kind.into(),
        subject: subject.into(),
        site: Some("plant-a".into()),
        data,
        at: "2025-03-01T10:05:00Z".into(),
    }
}

pub(crate) fn press(code: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

pub(crate) fn ch(c: char) -> Msg {
    press(KeyCode::Char(c))
}

pub(crate) fn ctrl(c: char) -> Msg {
    Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL))
}

/// Type each character of `text`.
pub(crate) fn typing(state: &mut State, text: &str) {
    for c in text.chars() {
        let _ = update(state, ch(c));
    }
}

/// Draw `state` on a `width` × `height` test terminal and return its text.
#[allow(clippy::unwrap_used)]
pub(crate) fn render(state: &State, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|f| view::draw(f, state)).unwrap();
    terminal.backend().to_string()
}

/// Draw and return the buffer, for style checks.
#[allow(clippy::unwrap_used)]
pub(crate) fn buffer(state: &State, width: u16, height: u16) -> ratatui::buffer::Buffer {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|f| view::draw(f, state)).unwrap();
    terminal.backend().buffer().clone()
}
