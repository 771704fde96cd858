//! Drawing: a function of `&State` onto a ratatui frame, nothing else. The
//! tab bar, one table per tab, the status line and the key hints; overlays
//! are in `popup.rs`. Only the terminal's own foreground and background, the
//! bold/reversed/underlined/dim modifiers and the basic ANSI colours for
//! states are used, so light and dark terminals both read well.

use edge_api::types::DeploymentSummary;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use crate::keys::Mode;
use crate::lists;
use crate::state::{Conn, State, Tab, short};
use crate::table::{self, Col, Look, Piece, col, plain};
use crate::{detail, popup};

/// Draw everything.
pub(crate) fn draw(frame: &mut Frame<'_>, state: &State) {
    let [tabs, body, status, hints] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(0),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    draw_tabs(frame, tabs, state);
    if !state.loaded {
        let text = if state.note.as_ref().is_some_and(|n| n.error) {
            "Could not load; r tries again."
        } else {
            "Loading…"
        };
        frame.render_widget(Paragraph::new(text).dim(), body);
    } else {
        match state.tab {
            Tab::Deployments => deployments(frame, body, state),
            Tab::Devices => devices(frame, body, state),
            Tab::Sites => sites(frame, body, state),
            Tab::Apps => apps(frame, body, state),
            Tab::Rollouts => crate::rollouts_view::draw(frame, body, state),
        }
    }
    draw_status(frame, status, state);
    draw_hints(frame, hints, state);
    if let Some(pane) = &state.logs {
        popup::logs(frame, body, pane);
    }
    if let Some(outcome) = state.outcome.as_ref().filter(|_| state.outcome_shown) {
        popup::outcome(frame, frame.area(), state, outcome);
    }
    if let Some(form) = &state.form {
        popup::form(frame, frame.area(), state, form);
    }
    if let Some(question) = &state.confirm {
        popup::confirm(frame, frame.area(), question);
    }
    if state.help {
        popup::help(frame, frame.area(), state);
    }
}

/// The colour of a reported state.
pub(crate) fn state_style(state: Option<&str>) -> Style {
    match state {
        Some("installed") => Style::new().fg(Color::Green),
        Some("failed") => Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        Some("installing" | "pending") => Style::new().fg(Color::Yellow),
        Some("removing" | "removed") | None => Style::new().add_modifier(Modifier::DIM),
        Some(_) => Style::new(),
    }
}

/// An RFC 3339 time, to the minute.
pub(crate) fn when(at: &str) -> String {
    at.chars()
        .take(16)
        .map(|c| if c == 'T' { ' ' } else { c })
        .collect()
}

fn draw_tabs(frame: &mut Frame<'_>, area: Rect, state: &State) {
    // Narrower than every title: the current tab's title, the others' numbers.
    let full: usize = Tab::ALL.iter().map(|t| table::width(t.title()) + 4).sum();
    let compact = usize::from(area.width) < full;
    let mut spans = Vec::new();
    for tab in Tab::ALL {
        let text = if compact && tab != state.tab {
            format!(" {} ", tab.index() + 1)
        } else {
            format!(" {} {} ", tab.index() + 1, tab.title())
        };
        spans.push(if tab == state.tab {
            Span::styled(
                text,
                Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD),
            )
        } else {
            Span::raw(text)
        });
    }
    frame.render_widget(Line::from(spans), area);
}

/// The current list's filter as the status line says it: `/text 2 of 3`.
fn filter_note(state: &State) -> Option<String> {
    let filter = &state.lists[state.tab.index()].filter;
    if filter.is_empty() || !state.loaded {
        return None;
    }
    let all = state.all_keys(state.tab).len();
    Some(format!("/{filter} {} of {all}", state.rows(state.tab)))
}

fn draw_status(frame: &mut Frame<'_>, area: Rect, state: &State) {
    let conn = match &state.conn {
        Conn::Live => Span::styled("● live", Style::new().fg(Color::Green)),
        Conn::Connecting => Span::styled("○ connecting…", Style::new().fg(Color::Yellow)),
        Conn::Reconnecting(_) => Span::styled("○ reconnecting…", Style::new().fg(Color::Yellow)),
    };
    let mut used = table::width(&conn.content);
    let mut spans = vec![conn];
    let room = usize::from(area.width);
    let mut add = |spans: &mut Vec<Span<'static>>, text: &str, style: Style| {
        let text = table::fit(text, room.saturating_sub(used + 3));
        if text.is_empty() {
            return;
        }
        used += 3 + table::width(&text);
        spans.push(Span::raw(" │ "));
        spans.push(Span::styled(text, style));
    };
    if let Some(filter) = filter_note(state) {
        add(&mut spans, &filter, Style::new().bold());
    }
    let note = match (&state.note, &state.conn) {
        (Some(n), _) => Some((n.text.as_str(), n.error)),
        (None, Conn::Reconnecting(why)) => Some((why.as_str(), true)),
        _ => None,
    };
    if let Some((text, error)) = note {
        let style = if error {
            Style::new().fg(Color::Red)
        } else {
            Style::new()
        };
        add(&mut spans, text, style);
    }
    frame.render_widget(Line::from(spans), area);
}

fn draw_hints(frame: &mut Frame<'_>, area: Rect, state: &State) {
    let mut spans = Vec::new();
    let mode = state.mode();
    if mode == Mode::Filter {
        let filter = &state.lists[state.tab.index()].filter;
        spans.push(Span::styled(format!("/{filter}"), Style::new().bold()));
        spans.push(Span::raw("_ "));
    }
    // The help hint first: on a narrow terminal it is the one to keep.
    let (help, rest): (Vec<&crate::keys::Binding>, Vec<_>) = mode
        .bindings()
        .partition(|b| b.action == crate::keys::Action::Help);
    let mut used: usize = spans.iter().map(Span::width).sum();
    for b in help.into_iter().chain(rest) {
        let (Some(hint), Some(key)) = (b.hint, b.keys.first()) else {
            continue;
        };
        let key = crate::keys::label(*key);
        let gap = if spans.is_empty() { 0 } else { 2 };
        // A hint that does not fit whole is left out, not cut.
        let wide = gap + table::width(&key) + 1 + table::width(hint);
        if used + wide > usize::from(area.width) {
            break;
        }
        used += wide;
        if gap > 0 {
            spans.push(Span::raw("  "));
        }
        spans.push(Span::styled(key, Style::new().bold()));
        spans.push(Span::raw(format!(" {hint}")));
    }
    frame.render_widget(Line::from(spans), area);
}

/// Draw the rows of `tab`'s list, its sort column marked; `empty` says
/// what an empty list means (a filter that matches nothing says so).
pub(crate) fn list(
    frame: &mut Frame<'_>,
    area: Rect,
    state: &State,
    tab: Tab,
    cols: &[Col],
    rows: &[Vec<Piece>],
    empty: &str,
) {
    let filter = &state.lists[tab.index()].filter;
    let nothing = format!("Nothing matches /{filter}; Esc clears the filter.");
    let look = Look {
        selected: Some(state.selected[tab.index()]),
        sort: Some(lists::sorted_by(state, tab)),
        empty: if filter.is_empty() { empty } else { &nothing },
    };
    table::draw(frame, area, cols, rows, look);
}

/// The part of `area` below its list for the selected row's details:
/// `lines` tall plus its rule, at most half of it, and none on a short
/// terminal.
pub(crate) fn split_detail(area: Rect, lines: usize) -> (Rect, Rect) {
    let height = if area.height >= 14 {
        u16::try_from(lines + 1)
            .unwrap_or(u16::MAX)
            .min(area.height / 2)
    } else {
        0
    };
    let [list, detail] =
        Layout::vertical([Constraint::Min(0), Constraint::Length(height)]).areas(area);
    (list, detail)
}

fn deployments(frame: &mut Frame<'_>, area: Rect, state: &State) {
    let selected = state.selected_deployment();
    let lines = selected
        .map(|d| detail::deployment(state, d))
        .unwrap_or_default();
    let (list_area, detail_area) = split_detail(area, lines.len().max(3));
    let cols = [
        col("APP", 10, 2, 0),
        col("VERSION", 9, 0, 3),
        col("SITE", 7, 1, 2),
        col("DEVICE", 10, 2, 1),
        col("PROFILE", 9, 0, 4),
        col("STATE", 10, 0, 0),
        col("SINCE", 16, 0, 6),
        col("ERROR", 16, 3, 7),
        col("ID", 8, 0, 5),
    ];
    let all = &state.snapshot.deployments;
    let rows: Vec<Vec<Piece>> = state
        .visible(Tab::Deployments)
        .into_iter()
        .filter_map(|i| all.get(i))
        .map(|d| {
            let shown = d.state.as_deref().unwrap_or("—");
            vec![
                plain(d.app.clone()),
                plain(d.version.clone()),
                plain(d.site.clone()),
                plain(d.device.clone()),
                plain(d.profile.clone()),
                (shown.to_owned(), state_style(d.state.as_deref())),
                plain(d.state_at.as_deref().map(when).unwrap_or_default()),
                (
                    d.error.clone().unwrap_or_default(),
                    Style::new().fg(Color::Red),
                ),
                plain(short(&d.id)),
            ]
        })
        .collect();
    let empty = "No deployments yet; d deploys an app.";
    list(
        frame,
        list_area,
        state,
        Tab::Deployments,
        &cols,
        &rows,
        empty,
    );
    detail::pane(frame, detail_area, " selected ", lines);
}

fn devices(frame: &mut Frame<'_>, area: Rect, state: &State) {
    let selected = state.selected_device();
    let lines = selected
        .map(|d| detail::device(state, d))
        .unwrap_or_default();
    let (list_area, detail_area) = split_detail(area, lines.len());
    let cols = [
        col("DEVICE", 10, 2, 0),
        col("SITE", 7, 1, 2),
        col("WORKLOADS", 18, 0, 1),
        col("TYPES", 12, 2, 4),
        col("LABELS", 12, 2, 5),
        col("LAST HEARD", 16, 0, 3),
    ];
    let all = &state.snapshot.devices;
    let rows: Vec<Vec<Piece>> = state
        .visible(Tab::Devices)
        .into_iter()
        .filter_map(|i| all.get(i))
        .map(|dev| {
            let types = detail::capabilities(dev).types;
            vec![
                plain(dev.id.clone()),
                plain(dev.site.clone()),
                workloads(state, |d| d.device == dev.id),
                plain(if dev.capabilities.is_none() {
                    "not reported".to_owned()
                } else {
                    types.join(",")
                }),
                plain(labels(&dev.labels)),
                plain(
                    dev.last_heard
                        .as_deref()
                        .map(when)
                        .unwrap_or_else(|| "never".into()),
                ),
            ]
        })
        .collect();
    let empty = "No devices yet (edgectl device add).";
    list(frame, list_area, state, Tab::Devices, &cols, &rows, empty);
    if let Some(dev) = selected {
        detail::pane(frame, detail_area, &format!(" device {} ", dev.id), lines);
    }
}

/// `3 (2 up, 1 failed)`: the deployments `mine` picks, coloured by the
/// worst of them.
fn workloads(state: &State, mine: impl Fn(&DeploymentSummary) -> bool) -> Piece {
    let mine: Vec<&DeploymentSummary> = state
        .snapshot
        .deployments
        .iter()
        .filter(|d| mine(d))
        .collect();
    let count = |s: &str| {
        mine.iter()
            .filter(|d| d.state.as_deref() == Some(s))
            .count()
    };
    let (ok, failed) = (count("installed"), count("failed"));
    let mut summary = format!("{} ({ok} up", mine.len());
    if failed > 0 {
        summary.push_str(&format!(", {failed} failed"));
    }
    summary.push(')');
    let style = if failed > 0 {
        state_style(Some("failed"))
    } else if ok == mine.len() && ok > 0 {
        state_style(Some("installed"))
    } else if mine.is_empty() {
        Style::new()
    } else {
        state_style(Some("pending"))
    };
    (summary, style)
}

/// Labels as `k=v,k=v`.
pub(crate) fn labels(map: &std::collections::BTreeMap<String, String>) -> String {
    map.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn sites(frame: &mut Frame<'_>, area: Rect, state: &State) {
    let selected = state.selected_site();
    let lines = selected.map(|s| detail::site(state, s)).unwrap_or_default();
    let (list_area, detail_area) = split_detail(area, lines.len());
    let cols = [
        col("SITE", 8, 1, 0),
        col("DEVICES", 9, 0, 1),
        col("DEPLOYMENTS", 18, 0, 1),
        col("LABELS", 10, 2, 3),
        col("LAST HEARD", 16, 0, 4),
        col("CREATED", 16, 0, 2),
    ];
    let all = &state.snapshot.sites;
    let rows: Vec<Vec<Piece>> = state
        .visible(Tab::Sites)
        .into_iter()
        .filter_map(|i| all.get(i))
        .map(|s| {
            let heard = detail::last_heard_at(state, &s.name);
            vec![
                plain(s.name.clone()),
                plain(s.devices.to_string()),
                workloads(state, |d| d.site == s.name),
                plain(labels(&s.labels)),
                plain(heard.map_or_else(|| "never".to_owned(), |(at, _)| when(at))),
                plain(when(&s.created_at)),
            ]
        })
        .collect();
    let empty = "No sites yet (edgectl site add).";
    list(frame, list_area, state, Tab::Sites, &cols, &rows, empty);
    if let Some(site) = selected {
        detail::pane(frame, detail_area, &format!(" site {} ", site.name), lines);
    }
}

fn apps(frame: &mut Frame<'_>, area: Rect, state: &State) {
    let wide = area.width >= 60;
    let [list_area, detail_area] = Layout::horizontal([
        Constraint::Percentage(if wide { 40 } else { 100 }),
        Constraint::Fill(1),
    ])
    .areas(area);
    let cols = [
        col("APP", 12, 2, 0),
        col("NAME", 12, 2, 3),
        col("LATEST", 8, 0, 0),
        col("PROFILES", 8, 1, 2),
    ];
    let all = &state.snapshot.apps;
    let rows: Vec<Vec<Piece>> = state
        .visible(Tab::Apps)
        .into_iter()
        .filter_map(|i| all.get(i))
        .map(|a| {
            vec![
                plain(a.id.clone()),
                plain(a.name.clone()),
                plain(a.latest.clone()),
                plain(a.profiles.join(",")),
            ]
        })
        .collect();
    let empty = "The store is empty (edgectl app add).";
    list(frame, list_area, state, Tab::Apps, &cols, &rows, empty);
    if wide && let Some(id) = state.selected_app() {
        let text = app_detail(state, id);
        let block = Block::new().borders(Borders::LEFT).title(" package ");
        frame.render_widget(
            Paragraph::new(text).block(block).wrap(Wrap { trim: false }),
            detail_area,
        );
    }
}

/// The package details of the apps tab.
fn app_detail<'a>(state: &'a State, id: &'a str) -> Text<'a> {
    let Some(detail) = state.apps.get(id) else {
        return Text::from("Loading the package details…").dim();
    };
    let desc = &detail.description;
    let meta = |key: &str| {
        desc.get("metadata")
            .and_then(|m| m.get(key))
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_owned()
    };
    let mut lines = vec![
        Line::from(vec![
            Span::raw(detail.name.clone()).bold(),
            Span::raw(format!("  {}", detail.id)).dim(),
        ]),
        Line::from(format!(
            "versions: {}",
            detail
                .versions
                .iter()
                .map(|v| v.version.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    ];
    let about = meta("description");
    if !about.is_empty() {
        lines.push(Line::from(about));
    }
    lines.push(Line::from("Profiles").underlined());
    for p in desc
        .get("deploymentProfiles")
        .and_then(|v| v.as_array())
        .into_iter()
        .flatten()
    {
        let kind = p.get("type").and_then(|v| v.as_str()).unwrap_or("?");
        let components: Vec<&str> = p
            .get("components")
            .and_then(|v| v.as_array())
            .into_iter()
            .flatten()
            .filter_map(|c| c.get("name").and_then(|n| n.as_str()))
            .collect();
        lines.push(Line::from(format!(" {kind}: {}", components.join(", "))));
    }
    let fields = crate::form::fields(desc);
    if !fields.is_empty() {
        lines.push(Line::from("Parameters").underlined());
    }
    for f in fields {
        lines.push(Line::from(vec![
            Span::raw(format!(" {} ", f.label)),
            Span::raw(format!("[{}]", f.data_type)).dim(),
            Span::raw(format!(" = {}", f.default)),
        ]));
        if !f.description.is_empty() {
            lines.push(Line::from(format!("   {}", f.description)).dim());
        }
    }
    Text::from(lines)
}
