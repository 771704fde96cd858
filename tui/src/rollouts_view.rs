//! Drawing the rollouts tab: the list of rollouts on top and, for the
//! selected one, a pane below with its state, one progress bar per wave and
//! a row per device it changes. Like the rest of the view it only reads the
//! state; the wave bars come from the list when the detail has not arrived.

use edge_api::types::{Rollout, RolloutTarget, RolloutWave};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use crate::state::{State, Tab};
use crate::table::{self, Look, Piece, col, plain};
use crate::view::{list, when};

/// Cells of a wave's progress bar.
const BAR: usize = 10;

/// Draw the tab into `area`.
pub(crate) fn draw(frame: &mut Frame<'_>, area: Rect, state: &State) {
    let r = &state.rollouts;
    if !r.loaded {
        let line = match &r.error {
            Some(e) => Line::styled(
                format!("Could not read the rollouts: {e}"),
                Style::new().fg(Color::Red),
            ),
            None => Line::raw("Loading the rollouts…").dim(),
        };
        frame.render_widget(Paragraph::new(line), area);
        return;
    }
    let rows = u16::try_from(r.list.len()).unwrap_or(u16::MAX);
    let list_height = if area.height >= 10 {
        rows.saturating_add(1).clamp(2, (area.height / 3).max(4))
    } else {
        area.height
    };
    let error_height = u16::from(r.error.is_some());
    let [list, error, detail] = Layout::vertical([
        Constraint::Length(list_height),
        Constraint::Length(error_height),
        Constraint::Min(0),
    ])
    .areas(area);
    draw_list(frame, list, state);
    if let Some(e) = &r.error {
        frame.render_widget(
            Line::styled(
                format!("Could not read the rollouts: {e}"),
                Style::new().fg(Color::Red),
            ),
            error,
        );
    }
    if let Some(selected) = state.selected_rollout() {
        draw_detail(frame, detail, state, selected);
    }
}

/// The colour of a rollout's state.
fn rollout_style(state: &str) -> Style {
    match state {
        "done" => Style::new().fg(Color::Green),
        "running" => Style::new().fg(Color::Yellow),
        "paused" => Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
        "rolled-back" => Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        "undone" => Style::new().add_modifier(Modifier::DIM),
        _ => Style::new(),
    }
}

/// The colour of a wave's or a device's state in a rollout.
fn progress_style(state: &str) -> Style {
    match state {
        "done" | "healthy" => Style::new().fg(Color::Green),
        "running" | "waiting" => Style::new().fg(Color::Yellow),
        "failed" | "timed-out" => Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        _ => Style::new().add_modifier(Modifier::DIM),
    }
}

fn healthy(r: &Rollout) -> u32 {
    r.waves.iter().map(|w| w.healthy).sum()
}

fn draw_list(frame: &mut Frame<'_>, area: Rect, state: &State) {
    let cols = [
        col("ID", 5, 0, 0),
        col("STATE", 11, 0, 0),
        col("WAVE", 5, 0, 1),
        col("HEALTHY", 7, 0, 1),
        col("FAILED/BUDGET", 13, 0, 3),
        col("SITES", 8, 2, 4),
        col("DESCRIPTION", 12, 3, 2),
        col("BY", 8, 1, 6),
        col("UPDATED", 16, 0, 5),
    ];
    let all = &state.rollouts.list;
    let rows: Vec<Vec<Piece>> = state
        .visible(Tab::Rollouts)
        .into_iter()
        .filter_map(|i| all.get(i))
        .map(|r| {
            let failures = format!("{}/{}", r.failures, r.budget);
            vec![
                plain(r.id.clone()),
                (r.state.clone(), rollout_style(&r.state)),
                plain(format!("{}/{}", r.wave, r.waves.len())),
                plain(format!("{}/{}", healthy(r), r.total)),
                if r.failures > 0 {
                    (failures, progress_style("failed"))
                } else {
                    plain(failures)
                },
                plain(r.sites.join(",")),
                plain(r.description.lines().next().unwrap_or("")),
                plain(r.by.clone()),
                plain(when(&r.updated_at)),
            ]
        })
        .collect();
    let empty = "No rollouts yet; deploy or apply with --waves or --batch to start one.";
    list(frame, area, state, Tab::Rollouts, &cols, &rows, empty);
}

/// `wave 1/3 [████░░░░░░] 1/2 healthy, 0 failed, 1 waiting — running`
fn wave_line(w: &RolloutWave, of: usize) -> Line<'static> {
    let size = usize::try_from(w.size).unwrap_or(0);
    let part = |n: u32| usize::try_from(n).unwrap_or(0);
    let ok = (part(w.healthy).min(size) * BAR)
        .checked_div(size)
        .unwrap_or(0);
    // A failure always shows, however big the wave.
    let bad = (part(w.failed) * BAR)
        .checked_next_multiple_of(size)
        .and_then(|n| n.checked_div(size))
        .unwrap_or(0)
        .min(BAR - ok);
    let rest = BAR - ok - bad;
    Line::from(vec![
        Span::raw(format!("wave {}/{of} [", w.number)),
        Span::styled("█".repeat(ok), progress_style("healthy")),
        Span::styled("▓".repeat(bad), progress_style("failed")),
        Span::raw("░".repeat(rest)).dim(),
        Span::raw(format!(
            "] {}/{} healthy, {} failed, {} waiting — ",
            w.healthy, w.size, w.failed, w.waiting
        )),
        Span::styled(w.state.clone(), progress_style(&w.state)),
    ])
}

fn draw_detail(frame: &mut Frame<'_>, area: Rect, state: &State, selected: &Rollout) {
    if area.height == 0 {
        return;
    }
    let detail = state.rollout_detail();
    let r = detail.unwrap_or(selected);
    let block = Block::new().borders(Borders::TOP).title(format!(
        " rollout {}: {} ",
        r.id,
        crate::rollouts::label(r)
    ));
    let inner = block.inner(area);
    frame.render_widget(block, area);

    let mut lines = vec![Line::from(vec![
        Span::styled(r.state.clone(), rollout_style(&r.state)),
        Span::raw(format!(" since {}", when(&r.updated_at))).dim(),
        Span::raw(format!("  by {}, began {}", r.by, when(&r.created_at))).dim(),
    ])];
    if let Some(reason) = &r.reason {
        lines.push(Line::raw(reason.clone()));
    }
    lines.extend(r.waves.iter().map(|w| wave_line(w, r.waves.len())));
    let head = u16::try_from(lines.len()).unwrap_or(u16::MAX);
    let [top, devices] =
        Layout::vertical([Constraint::Length(head), Constraint::Min(0)]).areas(inner);
    frame.render_widget(Paragraph::new(lines), top);

    let error = state
        .rollouts
        .detail_error
        .as_ref()
        .filter(|(id, _)| *id == r.id);
    match (detail, error) {
        (_, Some((_, e))) => frame.render_widget(
            Line::styled(
                format!("Could not read its devices: {e}"),
                Style::new().fg(Color::Red),
            ),
            devices,
        ),
        (Some(d), None) => draw_targets(frame, devices, &d.targets),
        (None, None) => {
            frame.render_widget(Line::raw("Loading its devices…").dim(), devices);
        }
    }
}

/// `1.0.0 → 1.1.0`; a new deployment has no version before, a removal none
/// after.
fn versions(t: &RolloutTarget) -> String {
    format!(
        "{} → {}",
        t.from_version.as_deref().unwrap_or("new"),
        t.to_version.as_deref().unwrap_or("removed")
    )
}

/// How much a device's row is worth showing first when not all fit.
fn rank(t: &RolloutTarget) -> u8 {
    match t.state.as_str() {
        "failed" | "timed-out" => 0,
        "waiting" => 1,
        _ => 2,
    }
}

fn draw_targets(frame: &mut Frame<'_>, area: Rect, targets: &[RolloutTarget]) {
    if area.height < 2 {
        return;
    }
    if targets.is_empty() {
        frame.render_widget(Line::raw("It changes no device.").dim(), area);
        return;
    }
    let room = usize::from(area.height - 1);
    let mut shown: Vec<&RolloutTarget> = targets.iter().collect();
    let hidden = if shown.len() > room {
        // Not all fit: the failed and the waiting ones first.
        shown.sort_by_key(|t| rank(t));
        shown.len() - (room - 1)
    } else {
        0
    };
    shown.truncate(targets.len() - hidden);
    let mut rows: Vec<Vec<Piece>> = shown
        .into_iter()
        .map(|t| {
            vec![
                plain(t.wave.to_string()),
                plain(format!("{}/{}", t.site, t.device)),
                plain(t.app.clone()),
                plain(versions(t)),
                (t.state.clone(), progress_style(&t.state)),
                (
                    t.error.clone().unwrap_or_default(),
                    Style::new().fg(Color::Red),
                ),
            ]
        })
        .collect();
    if hidden > 0 {
        rows.push(vec![plain(""), plain(format!("… {hidden} more"))]);
    }
    let cols = [
        col("WAVE", 4, 0, 0),
        col("DEVICE", 12, 2, 0),
        col("APP", 10, 2, 3),
        col("VERSION", 15, 0, 1),
        col("STATE", 11, 0, 0),
        col("ERROR", 10, 3, 2),
    ];
    table::draw(frame, area, &cols, &rows, Look::default());
}
