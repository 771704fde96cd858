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
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, TableState, Wrap};

use crate::popup;
use crate::state::{Conn, State, Tab, short};

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
    let mut spans = Vec::new();
    for tab in Tab::ALL {
        let text = format!(" {} {} ", tab.index() + 1, tab.title());
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

fn draw_status(frame: &mut Frame<'_>, area: Rect, state: &State) {
    let conn = match &state.conn {
        Conn::Live => Span::styled("● live", Style::new().fg(Color::Green)),
        Conn::Connecting => Span::styled("○ connecting…", Style::new().fg(Color::Yellow)),
        Conn::Reconnecting(_) => Span::styled("○ reconnecting…", Style::new().fg(Color::Yellow)),
    };
    let mut spans = vec![conn];
    let note = match (&state.note, &state.conn) {
        (Some(n), _) => Some((n.text.as_str(), n.error)),
        (None, Conn::Reconnecting(why)) => Some((why.as_str(), true)),
        _ => None,
    };
    if let Some((text, error)) = note {
        spans.push(Span::raw(" │ "));
        let style = if error {
            Style::new().fg(Color::Red)
        } else {
            Style::new()
        };
        spans.push(Span::styled(text.to_owned(), style));
    }
    frame.render_widget(Line::from(spans), area);
}

fn draw_hints(frame: &mut Frame<'_>, area: Rect, state: &State) {
    let mut spans = Vec::new();
    // The help hint first: on a narrow terminal it is the one to keep.
    let (help, rest): (Vec<&crate::keys::Binding>, Vec<_>) = state
        .mode()
        .bindings()
        .partition(|b| b.action == crate::keys::Action::Help);
    for b in help.into_iter().chain(rest) {
        let (Some(hint), Some(key)) = (b.hint, b.keys.first()) else {
            continue;
        };
        if !spans.is_empty() {
            spans.push(Span::raw("  "));
        }
        spans.push(Span::styled(crate::keys::label(*key), Style::new().bold()));
        spans.push(Span::raw(format!(" {hint}")));
    }
    frame.render_widget(Line::from(spans), area);
}

/// A table with a bold, underlined header and the selected row reversed.
pub(crate) fn table(
    frame: &mut Frame<'_>,
    area: Rect,
    header: &[&str],
    widths: &[Constraint],
    rows: Vec<Row<'_>>,
    selected: usize,
    empty: &str,
) {
    if rows.is_empty() {
        frame.render_widget(Line::from(empty.to_owned()).dim(), area);
        return;
    }
    let header = Row::new(header.iter().map(|h| Cell::from(*h)))
        .style(Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED));
    let table = Table::new(rows, widths.to_vec())
        .header(header)
        .column_spacing(1)
        .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED))
        .highlight_symbol("> ");
    let mut ts = TableState::default().with_selected(Some(selected));
    frame.render_stateful_widget(table, area, &mut ts);
}

fn deployments(frame: &mut Frame<'_>, area: Rect, state: &State) {
    let detail_height = if area.height >= 14 { 5 } else { 0 };
    let [list, detail] =
        Layout::vertical([Constraint::Min(0), Constraint::Length(detail_height)]).areas(area);
    // Below 60 columns only what tells the story: app, device, state.
    let narrow = area.width < 60;
    let rows = state
        .snapshot
        .deployments
        .iter()
        .map(|d| {
            let shown = d.state.as_deref().unwrap_or("—");
            let state_cell = Cell::from(shown.to_owned()).style(state_style(d.state.as_deref()));
            if narrow {
                return Row::new(vec![
                    Cell::from(d.app.clone()),
                    Cell::from(d.device.clone()),
                    state_cell,
                ]);
            }
            Row::new(vec![
                Cell::from(d.app.clone()),
                Cell::from(d.version.clone()),
                Cell::from(d.site.clone()),
                Cell::from(d.device.clone()),
                Cell::from(d.profile.clone()),
                state_cell,
                Cell::from(short(&d.id).to_owned()),
            ])
        })
        .collect();
    let empty = "No deployments yet; d deploys an app.";
    if narrow {
        let widths = [
            Constraint::Fill(1),
            Constraint::Fill(1),
            Constraint::Length(10),
        ];
        let header = ["APP", "DEVICE", "STATE"];
        table(frame, list, &header, &widths, rows, state.cursor(), empty);
    } else {
        let widths = [
            Constraint::Fill(2),
            Constraint::Length(8),
            Constraint::Fill(1),
            Constraint::Fill(2),
            Constraint::Length(7),
            Constraint::Length(10),
            Constraint::Length(8),
        ];
        let header = ["APP", "VERSION", "SITE", "DEVICE", "PROFILE", "STATE", "ID"];
        table(frame, list, &header, &widths, rows, state.cursor(), empty);
    }
    if let Some(d) = state.selected_deployment() {
        deployment_detail(frame, detail, d);
    }
}

fn deployment_detail(frame: &mut Frame<'_>, area: Rect, d: &DeploymentSummary) {
    if area.height == 0 {
        return;
    }
    let mut lines = vec![Line::from(vec![
        Span::raw(format!("{}  ", d.id)),
        Span::raw(format!("created {}", when(&d.created_at))).dim(),
    ])];
    let state = d.state.as_deref().unwrap_or("no report yet");
    let mut status = vec![Span::styled(
        state.to_owned(),
        state_style(d.state.as_deref()),
    )];
    if let Some(at) = &d.state_at {
        status.push(Span::raw(format!(" since {}", when(at))).dim());
    }
    status.push(Span::raw(format!("  commit {}", short(&d.commit))).dim());
    lines.push(Line::from(status));
    if let Some(error) = &d.error {
        lines.push(Line::styled(error.clone(), Style::new().fg(Color::Red)));
    }
    let block = Block::new().borders(Borders::TOP).title(" selected ");
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false }),
        area,
    );
}

fn devices(frame: &mut Frame<'_>, area: Rect, state: &State) {
    let rows = state
        .snapshot
        .devices
        .iter()
        .map(|dev| {
            let mine: Vec<&DeploymentSummary> = state
                .snapshot
                .deployments
                .iter()
                .filter(|d| d.device == dev.id)
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
            Row::new(vec![
                Cell::from(dev.id.clone()),
                Cell::from(dev.site.clone()),
                Cell::from(summary).style(style),
                Cell::from(if dev.capabilities.is_some() {
                    "yes"
                } else {
                    "no"
                }),
                Cell::from(
                    dev.last_heard
                        .as_deref()
                        .map(when)
                        .unwrap_or_else(|| "never".into()),
                ),
            ])
        })
        .collect();
    table(
        frame,
        area,
        &["DEVICE", "SITE", "WORKLOADS", "REPORTED", "LAST HEARD"],
        &[
            Constraint::Fill(2),
            Constraint::Fill(1),
            Constraint::Length(18),
            Constraint::Length(8),
            Constraint::Length(16),
        ],
        rows,
        state.cursor(),
        "No devices yet (edgectl device add).",
    );
}

fn labels(map: &std::collections::BTreeMap<String, String>) -> String {
    map.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn sites(frame: &mut Frame<'_>, area: Rect, state: &State) {
    let rows = state
        .snapshot
        .sites
        .iter()
        .map(|s| {
            let deployed = state
                .snapshot
                .deployments
                .iter()
                .filter(|d| d.site == s.name)
                .count();
            Row::new(vec![
                Cell::from(s.name.clone()),
                Cell::from(s.devices.to_string()),
                Cell::from(deployed.to_string()),
                Cell::from(labels(&s.labels)),
                Cell::from(when(&s.created_at)),
            ])
        })
        .collect();
    table(
        frame,
        area,
        &["SITE", "DEVICES", "DEPLOYMENTS", "LABELS", "CREATED"],
        &[
            Constraint::Fill(1),
            Constraint::Length(7),
            Constraint::Length(11),
            Constraint::Fill(1),
            Constraint::Length(16),
        ],
        rows,
        state.cursor(),
        "No sites yet (edgectl site add).",
    );
}

fn apps(frame: &mut Frame<'_>, area: Rect, state: &State) {
    let wide = area.width >= 60;
    let [list, detail] = Layout::horizontal([
        Constraint::Percentage(if wide { 40 } else { 100 }),
        Constraint::Fill(1),
    ])
    .areas(area);
    let rows = state
        .snapshot
        .apps
        .iter()
        .map(|a| {
            Row::new(vec![
                Cell::from(a.id.clone()),
                Cell::from(a.latest.clone()),
                Cell::from(a.profiles.join(",")),
            ])
        })
        .collect();
    table(
        frame,
        list,
        &["APP", "LATEST", "PROFILES"],
        &[
            Constraint::Fill(2),
            Constraint::Length(8),
            Constraint::Fill(1),
        ],
        rows,
        state.cursor(),
        "The store is empty (edgectl app add).",
    );
    if wide && let Some(id) = state.selected_app() {
        let text = app_detail(state, id);
        let block = Block::new().borders(Borders::LEFT).title(" package ");
        frame.render_widget(
            Paragraph::new(text).block(block).wrap(Wrap { trim: false }),
            detail,
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
