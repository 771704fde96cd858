//! Screens as insta snapshots of ratatui's test backend (text only), a few
//! style checks, and a sweep of tiny sizes that must not panic.

#![allow(clippy::unwrap_used)]

use crossterm::event::KeyCode;
use insta::assert_snapshot;
use ratatui::style::{Color, Modifier};

use crate::backend::{LocalNode, LogPiece};
use crate::fixture::{
    D_OK, buffer, ch, hello_detail, loaded, on_rollouts, press, render, rollouts, typing,
};
use crate::state::{Conn, State};
use crate::update::{Msg, update};

fn with_logs() -> State {
    let mut state = loaded();
    let _ = update(&mut state, ch('l'));
    let _ = update(&mut state, Msg::Node(LocalNode::Device("gw-1".into())));
    let text = (1..=30)
        .map(|i| format!("2025-03-01T10:00:{i:02}Z hello from edgectl wasm #{i}\n"))
        .collect();
    let _ = update(
        &mut state,
        Msg::Logs(D_OK.into(), Ok(LogPiece { text, next: 900 })),
    );
    state
}

fn with_form() -> State {
    let mut state = loaded();
    let _ = update(&mut state, ch('4'));
    let _ = update(
        &mut state,
        Msg::AppLoaded("hello-wasm".into(), Ok(hello_detail())),
    );
    let _ = update(&mut state, ch('d'));
    let _ = update(&mut state, ch('j'));
    let _ = update(&mut state, press(KeyCode::Enter));
    let _ = update(&mut state, press(KeyCode::Enter));
    let _ = update(&mut state, press(KeyCode::Tab));
    typing(&mut state, "0");
    let refused = "parameter repeat: 30 is above the maximum 10";
    let _ = update(&mut state, Msg::Deployed(Err(refused.into())));
    state
}

fn every_state() -> Vec<State> {
    let mut help = loaded();
    let _ = update(&mut help, ch('?'));
    let mut confirm = loaded();
    let _ = update(&mut confirm, ch('x'));
    let mut list_form = loaded();
    let _ = update(&mut list_form, ch('d'));
    let mut deploy_confirm = with_form();
    let _ = update(&mut deploy_confirm, press(KeyCode::Enter));
    let mut apps = loaded();
    let _ = update(&mut apps, ch('4'));
    let _ = update(
        &mut apps,
        Msg::AppLoaded("hello-wasm".into(), Ok(hello_detail())),
    );
    let mut devices = loaded();
    let _ = update(&mut devices, ch('2'));
    let mut sites = loaded();
    let _ = update(&mut sites, ch('3'));
    let mut undo = on_rollouts();
    let _ = update(&mut undo, ch('u'));
    let mut no_rollouts = loaded();
    let _ = update(&mut no_rollouts, ch('5'));
    vec![
        State::new(),
        loaded(),
        help,
        confirm,
        list_form,
        with_form(),
        deploy_confirm,
        with_logs(),
        apps,
        devices,
        sites,
        on_rollouts(),
        undo,
        no_rollouts,
    ]
}

#[test]
fn deployments_80x24() {
    assert_snapshot!(render(&loaded(), 80, 24));
}

#[test]
fn deployments_failed_selected_reconnecting() {
    let mut state = loaded();
    let _ = update(&mut state, ch('G'));
    let _ = update(
        &mut state,
        Msg::StreamDown("connection reset by peer".into()),
    );
    assert_snapshot!(render(&state, 80, 24));
}

#[test]
fn devices_and_sites_80x24() {
    let mut state = loaded();
    let _ = update(&mut state, ch('2'));
    assert_snapshot!("devices", render(&state, 80, 24));
    let _ = update(&mut state, ch('3'));
    assert_snapshot!("sites", render(&state, 80, 24));
}

#[test]
fn apps_with_detail_80x24() {
    let mut state = loaded();
    let _ = update(&mut state, ch('4'));
    let _ = update(
        &mut state,
        Msg::AppLoaded("hello-wasm".into(), Ok(hello_detail())),
    );
    assert_snapshot!(render(&state, 80, 24));
}

#[test]
fn deploy_form_choice_80x24() {
    let mut state = loaded();
    let _ = update(&mut state, ch('d'));
    let _ = update(&mut state, press(KeyCode::Enter));
    assert_snapshot!(render(&state, 80, 24));
}

#[test]
fn deploy_form_parameters_with_refusal_80x24() {
    assert_snapshot!(render(&with_form(), 80, 24));
}

#[test]
fn deploy_confirm_80x24() {
    let mut state = with_form();
    let _ = update(&mut state, press(KeyCode::Enter));
    assert_snapshot!(render(&state, 80, 24));
}

/// The fleet with names longer than their columns.
fn with_long_names() -> State {
    let mut state = loaded();
    let mut snapshot = state.snapshot.clone();
    let d = &mut snapshot.deployments[0];
    d.app = "environmental-sensor-aggregator-for-the-east-wing".into();
    d.device = "gateway-building-7-floor-3-east-wing".into();
    d.site = "plant-a-building-7".into();
    snapshot.devices[0].id = "gateway-building-7-floor-3-east-wing".into();
    snapshot.apps[0].id = "environmental-sensor-aggregator-for-the-east-wing".into();
    state.refresh.in_flight = true;
    let _ = update(&mut state, Msg::Loaded(Ok(snapshot)));
    state
}

#[test]
fn long_names_are_cut_with_an_ellipsis() {
    let mut state = with_long_names();
    let screen = render(&state, 80, 24);
    assert!(screen.contains("environmental-sensor-aggr…"), "{screen}");
    assert!(screen.contains("gateway-building-7-floor…"), "{screen}");
    assert_snapshot!("long_names_80x24", screen);
    // At 160 columns the names have room.
    let screen = render(&state, 160, 24);
    assert!(
        screen.contains("environmental-sensor-aggregator-for-the-east-wing"),
        "{screen}"
    );
    let _ = update(&mut state, ch('2'));
    let screen = render(&state, 80, 24);
    assert!(
        screen.contains("gateway-building-7-floor-3-east-w…"),
        "{screen}"
    );
    let _ = update(&mut state, ch('4'));
    let screen = render(&state, 80, 24);
    assert!(screen.contains("environmental-sensor-a… 1.0.0"), "{screen}");
}

#[test]
fn wide_terminals_show_more_columns_160x40() {
    let mut state = loaded();
    let screen = render(&state, 160, 40);
    for column in ["SINCE", "ERROR", "missing MQTT_URL"] {
        assert!(screen.contains(column), "{column}: {screen}");
    }
    assert_snapshot!("deployments_160x40", screen);
    let _ = update(&mut state, ch('2'));
    let screen = render(&state, 160, 40);
    assert!(screen.contains("LABELS") && screen.contains("line=2,zone=north"));
    assert_snapshot!("devices_160x40", screen);
    let _ = update(&mut state, ch('3'));
    assert_snapshot!("sites_160x40", render(&state, 160, 40));
    let _ = update(&mut state, ch('4'));
    let _ = update(
        &mut state,
        Msg::AppLoaded("hello-wasm".into(), Ok(hello_detail())),
    );
    let screen = render(&state, 160, 40);
    assert!(screen.contains("NAME") && screen.contains("Sensor agent"));
    assert_snapshot!("apps_160x40", screen);
    let mut state = on_rollouts();
    let screen = render(&state, 160, 40);
    assert!(screen.contains("UPDATED") && screen.contains("alice"));
    assert_snapshot!("rollouts_160x40", screen);
    let _ = update(&mut state, ch('1'));
    assert!(!render(&state, 80, 24).contains("SINCE"), "not at 80");
}

#[test]
fn undeploy_confirm_80x24() {
    let mut state = loaded();
    let _ = update(&mut state, ch('G'));
    let _ = update(&mut state, ch('x'));
    assert_snapshot!(render(&state, 80, 24));
}

#[test]
fn rollouts_80x24() {
    assert_snapshot!(render(&on_rollouts(), 80, 24));
}

#[test]
fn rollouts_narrow_and_loading() {
    assert_snapshot!("rollouts_50x20", render(&on_rollouts(), 50, 20));
    // 11 selected: its waves come from the list while its devices load.
    let mut state = on_rollouts();
    let _ = update(&mut state, ch('j'));
    assert_snapshot!("rollouts_detail_loading", render(&state, 80, 16));
    let mut state = loaded();
    let _ = update(&mut state, ch('5'));
    assert_snapshot!("rollouts_list_loading", render(&state, 60, 6));
}

#[test]
fn rollouts_many_devices_show_the_failed_first() {
    let mut state = on_rollouts();
    let detail = state.rollouts.detail.as_mut().unwrap();
    let healthy = detail.targets[0].clone();
    let failed = detail.targets.remove(1);
    detail
        .targets
        .splice(0..0, std::iter::repeat_n(healthy, 12));
    detail.targets.push(failed);
    let screen = render(&state, 80, 24);
    assert!(screen.contains("plant-a/gw-2"), "{screen}");
    assert!(screen.contains("… 7 more"), "{screen}");
}

#[test]
fn rollouts_with_a_refused_list_and_an_empty_one() {
    let mut state = on_rollouts();
    state.rollouts.refresh.in_flight = true;
    let _ = update(
        &mut state,
        Msg::RolloutsLoaded(Err("502 bad gateway".into())),
    );
    let screen = render(&state, 80, 24);
    assert!(screen.contains("Could not read the rollouts: 502 bad gateway"));
    let _ = update(&mut state, Msg::RolloutsLoaded(Ok(Vec::new())));
    let screen = render(&state, 80, 24);
    assert!(screen.contains("No rollouts yet"), "{screen}");
    assert_eq!(rollouts().len(), 3);
}

#[test]
fn undo_rollout_confirm_80x24() {
    let mut state = on_rollouts();
    let _ = update(&mut state, ch('u'));
    assert_snapshot!(render(&state, 80, 24));
}

#[test]
fn help_80x24() {
    let mut state = loaded();
    let _ = update(&mut state, ch('?'));
    assert_snapshot!(render(&state, 80, 24));
}

#[test]
fn log_pane_80x24() {
    assert_snapshot!(render(&with_logs(), 80, 24));
}

#[test]
fn tiny_20x5() {
    assert_snapshot!("tiny_deployments", render(&loaded(), 20, 5));
    assert_snapshot!("tiny_form", render(&with_form(), 20, 5));
}

#[test]
fn loading_before_the_first_snapshot() {
    let mut state = State::new();
    state.conn = Conn::Connecting;
    assert_snapshot!(render(&state, 40, 6));
}

#[test]
fn no_size_panics() {
    for state in every_state() {
        for (w, h) in [
            (0, 0),
            (1, 1),
            (0, 10),
            (10, 0),
            (5, 3),
            (20, 5),
            (33, 7),
            (200, 60),
        ] {
            let _ = buffer(&state, w, h);
        }
    }
}

#[test]
fn help_lists_every_table_entry() {
    let rows = crate::popup::help_rows();
    assert_eq!(rows.len(), crate::keys::KEYS.len());
    let mut state = loaded();
    let _ = update(&mut state, ch('?'));
    let screen = render(&state, 80, 60);
    for (ctx, keys, text) in rows {
        assert!(screen.contains(ctx.title()), "{}", ctx.title());
        let line = format!("{keys:>11} {text}");
        assert!(
            screen.contains(&line),
            "missing help line {line:?}\n{screen}"
        );
    }
}

#[test]
fn states_are_coloured_with_basic_colours_only() {
    let buf = buffer(&loaded(), 80, 24);
    let find = |word: &str| {
        let content = buf.content();
        let width = usize::from(buf.area.width);
        let text: String = content
            .iter()
            .map(|c| c.symbol().chars().next().unwrap_or(' '))
            .collect();
        let at = text.find(word).unwrap();
        // `find` gives a byte offset; the screen here is ASCII up to the state cells.
        assert!(at / width < 24);
        content[text[..at].chars().count()].clone()
    };
    assert_eq!(find("installed").fg, Color::Green);
    assert_eq!(find("failed").fg, Color::Red);
    assert_eq!(find("pending").fg, Color::Yellow);
    for cell in buf.content() {
        assert_eq!(cell.bg, Color::Reset, "no background colours");
        assert!(
            matches!(
                cell.fg,
                Color::Reset | Color::Green | Color::Red | Color::Yellow
            ),
            "{:?}",
            cell.fg
        );
    }
    let header = find("APP");
    assert!(
        header
            .modifier
            .contains(Modifier::BOLD | Modifier::UNDERLINED)
    );
}

#[test]
fn the_device_pane_says_what_was_not_reported() {
    let mut state = loaded();
    let _ = update(&mut state, ch('2'));
    let _ = update(&mut state, ch('G'));
    let screen = render(&state, 80, 24);
    assert!(screen.contains(" device gw-3 "), "{screen}");
    assert!(screen.contains("capabilities not reported yet"), "{screen}");
    assert!(screen.contains("last heard   never"), "{screen}");
    assert!(
        screen.contains("workloads    hello-wasm pending"),
        "{screen}"
    );
    // Only deployment types reported: no hardware, resources none.
    let _ = update(&mut state, ch('k'));
    let screen = render(&state, 80, 24);
    assert!(screen.contains("supports     process"), "{screen}");
    assert!(screen.contains("resources    none"), "{screen}");
    // Our types reported as `custom` plus the extension read as themselves.
    let _ = update(&mut state, ch('k'));
    let screen = render(&state, 80, 24);
    assert!(screen.contains(" device gw-1 "), "{screen}");
    assert!(
        screen.contains("supports     wasm, process, container"),
        "{screen}"
    );
}

#[test]
fn site_detail_80x24() {
    let mut state = loaded();
    let _ = update(&mut state, ch('3'));
    let _ = update(&mut state, ch('j'));
    let screen = render(&state, 80, 24);
    assert!(screen.contains("2: 1 failed, 1 installed"), "{screen}");
    assert!(
        screen.contains("sensor-agent on gw-2: component agent: exit status 3"),
        "{screen}"
    );
    assert!(screen.contains("2025-03-01 10:00 from gw-1"), "{screen}");
    assert_snapshot!(screen);
}

#[test]
fn cells_are_cut_to_their_width_with_an_ellipsis() {
    use crate::table::{col, fit, layout};
    assert_eq!(fit("hello-wasm", 10), "hello-wasm");
    assert_eq!(fit("hello-wasm", 6), "hello…");
    assert_eq!(fit("hello-wasm", 1), "…");
    assert_eq!(fit("hello-wasm", 0), "");
    assert_eq!(fit("two\nlines", 20), "two lines");
    assert_eq!(
        fit("日本語の名前", 7),
        "日本語…",
        "wide characters count twice"
    );
    let cols = [col("A", 10, 1, 0), col("B", 10, 0, 2), col("C", 10, 1, 1)];
    let wants = [10, 10, 10];
    assert_eq!(layout(&cols, &wants, 32, None), [(0, 10), (1, 10), (2, 10)]);
    assert_eq!(
        layout(&cols, &wants, 25, None),
        [(0, 12), (2, 12)],
        "B goes first"
    );
    assert_eq!(
        layout(&cols, &wants, 25, Some(1)),
        [(0, 14), (1, 10)],
        "not when sorted by"
    );
    let wants = [30, 10, 10];
    assert_eq!(
        layout(&cols, &wants, 46, None),
        [(0, 24), (1, 10), (2, 10)],
        "first to who wants it"
    );
    assert_eq!(
        layout(&cols, &wants, 42, None),
        [(0, 31), (2, 10)],
        "a name is cut only when less important columns are gone"
    );
}
