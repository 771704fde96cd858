//! Screens as insta snapshots of ratatui's test backend (text only), a few
//! style checks, and a sweep of tiny sizes that must not panic.

#![allow(clippy::unwrap_used)]

use crossterm::event::KeyCode;
use insta::assert_snapshot;
use ratatui::style::{Color, Modifier};

use crate::backend::LogPiece;
use crate::fixture::{
    D_OK, buffer, ch, hello_detail, loaded, on_rollouts, press, render, rollouts, typing,
};
use crate::state::{Conn, State};
use crate::update::{Msg, update};

fn with_logs() -> State {
    let mut state = loaded();
    let _ = update(&mut state, ch('l'));
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
    let _ = update(&mut state, ch('j'));
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

#[test]
fn undeploy_confirm_80x24() {
    let mut state = loaded();
    let _ = update(&mut state, ch('j'));
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
