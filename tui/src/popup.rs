//! Drawing the overlays: the log pane, the deploy form, the yes/no question
//! and the key help. Each clears its rectangle first and clamps itself to
//! the terminal, so a tiny terminal gets a cropped overlay, never a panic.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, List, ListItem, ListState, Paragraph, Wrap};

use crate::form::{DeployForm, Step};
use crate::keys::{self, Ctx, KEYS};
use crate::outcome::DeployOutcome;
use crate::state::{Confirm, LogAccess, LogPane, State, short};
use crate::view::state_style;

/// A `width` × `height` rectangle in the middle of `area`, cropped to it.
pub(crate) fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let w = width.min(area.width);
    let h = height.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

fn boxed(title: String) -> Block<'static> {
    Block::bordered().title(Span::styled(title, Style::new().bold()))
}

/// The log pane, over the body.
pub(crate) fn logs(frame: &mut Frame<'_>, area: Rect, pane: &LogPane) {
    frame.render_widget(Clear, area);
    let title = format!(" log: {} ({}) ", pane.label, short(&pane.deployment));
    let block = boxed(title);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let error_height = u16::from(pane.error.is_some());
    let [text_area, error_area] =
        Layout::vertical([Constraint::Min(0), Constraint::Length(error_height)]).areas(inner);
    if pane.text.is_empty() {
        // An empty pane says why: only a log read and found empty has
        // no output yet.
        let (text, dim) = match &pane.access {
            LogAccess::Asking => ("Finding the edge node on this host…", true),
            LogAccess::Unavailable(why) => (why.as_str(), false),
            _ if pane.read => ("(no output yet)", true),
            LogAccess::Remote => ("Asking the CO for the log (through the site's LO)…", true),
            LogAccess::Readable if pane.error.is_none() => ("Reading the log…", true),
            LogAccess::Readable => ("", true),
        };
        let text = Paragraph::new(text).wrap(Wrap { trim: true });
        frame.render_widget(if dim { text.dim() } else { text }, text_area);
    } else {
        let lines: Vec<&str> = pane.text.lines().collect();
        let height = usize::from(text_area.height);
        let end = lines.len().saturating_sub(usize::from(pane.scroll));
        let start = end.saturating_sub(height);
        let shown: Vec<Line<'_>> = lines
            .get(start..end)
            .unwrap_or_default()
            .iter()
            .map(|l| Line::raw(*l))
            .collect();
        frame.render_widget(Paragraph::new(shown), text_area);
    }
    if let Some(e) = &pane.error {
        frame.render_widget(
            Line::styled(e.clone(), Style::new().fg(Color::Red)),
            error_area,
        );
    }
}

/// The deploy form.
pub(crate) fn form(frame: &mut Frame<'_>, area: Rect, state: &State, form: &DeployForm) {
    let rect = centered(area, 72, 20);
    frame.render_widget(Clear, rect);
    let number = match form.step {
        Step::App => 1,
        Step::Site => 2,
        Step::Device => 3,
        Step::Profile => 4,
        Step::Params => 5,
    };
    let block = boxed(format!(" Deploy {number}/5: {} ", form.step.title()));
    let inner = block.inner(rect);
    frame.render_widget(block, rect);

    let mut chosen = Vec::new();
    let mut pair = |k: &str, v: String| {
        chosen.push(Span::raw(format!("{k} ")).dim());
        chosen.push(Span::raw(format!("{v}  ")));
    };
    if let Some(app) = &form.app {
        pair("app", app.clone());
    }
    if form.site.is_some() && form.step != Step::Site {
        pair("site", form.site.clone().unwrap_or_default());
        if matches!(form.step, Step::Profile | Step::Params) {
            pair(
                "device",
                form.device
                    .clone()
                    .unwrap_or_else(|| "any that fits".into()),
            );
        }
    }
    if let Some(p) = form.profile.as_ref().filter(|_| form.step == Step::Params) {
        pair("profile", p.clone());
    }
    let note = match (&form.error, form.busy) {
        (_, true) => Some(Line::raw("Deploying…").bold()),
        (Some(e), _) => Some(Line::styled(e.clone(), Style::new().fg(Color::Red))),
        _ => None,
    };
    let note_height = if note.is_some() { 3 } else { 0 };
    let [summary, body, note_area] = Layout::vertical([
        Constraint::Length(u16::from(!chosen.is_empty())),
        Constraint::Min(0),
        Constraint::Length(note_height),
    ])
    .areas(inner);
    frame.render_widget(Line::from(chosen), summary);
    if let Some(note) = note {
        frame.render_widget(Paragraph::new(note).wrap(Wrap { trim: false }), note_area);
    }
    if form.step == Step::Params {
        fields(frame, body, form);
        return;
    }
    let items: Vec<ListItem<'_>> = form
        .choices(&state.snapshot)
        .into_iter()
        .map(|c| ListItem::new(c.label))
        .collect();
    let list = List::new(items)
        .highlight_style(Style::new().add_modifier(Modifier::REVERSED))
        .highlight_symbol("> ");
    let mut ls = ListState::default().with_selected(Some(form.cursor));
    frame.render_stateful_widget(list, body, &mut ls);
}

fn fields(frame: &mut Frame<'_>, area: Rect, form: &DeployForm) {
    let Some(fields) = &form.fields else {
        frame.render_widget(Line::raw("Loading the app's parameters…").dim(), area);
        return;
    };
    let [list_area, help_area] =
        Layout::vertical([Constraint::Min(0), Constraint::Length(2)]).areas(area);
    if fields.is_empty() {
        frame.render_widget(
            Line::raw("This app has no parameters to set; Enter to review.").dim(),
            list_area,
        );
        return;
    }
    let items: Vec<ListItem<'_>> = fields
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let mut head = vec![
                Span::raw(f.label.clone()).bold(),
                Span::raw(format!(" ({}, {})", f.parameter, f.data_type)).dim(),
            ];
            if f.value != f.default {
                head.push(Span::raw(" changed").italic());
            }
            let cursor = if i == form.field { "_" } else { "" };
            let value = Line::from(vec![
                Span::raw("  "),
                Span::raw(format!("{}{cursor}", f.value)).underlined(),
            ]);
            ListItem::new(vec![Line::from(head), value])
        })
        .collect();
    let list = List::new(items)
        .highlight_style(Style::new().add_modifier(Modifier::REVERSED))
        .highlight_symbol("> ");
    let mut ls = ListState::default().with_selected(Some(form.field));
    frame.render_stateful_widget(list, list_area, &mut ls);
    if let Some(f) = fields.get(form.field) {
        let text = if f.default.is_empty() {
            f.description.clone()
        } else {
            format!("{} (default: {})", f.description, f.default)
        };
        frame.render_widget(
            Paragraph::new(text).dim().wrap(Wrap { trim: true }),
            help_area,
        );
    }
}

/// What became of a deploy from the form: a line per device, its state
/// as reported, and why it failed.
pub(crate) fn outcome(frame: &mut Frame<'_>, area: Rect, state: &State, outcome: &DeployOutcome) {
    let steps = outcome.steps(state);
    let wide = steps
        .iter()
        .map(|s| crate::table::width(&s.device))
        .max()
        .unwrap_or(0)
        .min(24);
    let mut lines = vec![Line::from(outcome.summary(state)).bold(), Line::raw("")];
    for s in &steps {
        let mut spans = vec![
            Span::raw(format!("{} ", crate::table::fit(&s.device, wide))),
            Span::raw(" ".repeat(wide.saturating_sub(crate::table::width(&s.device)))),
            Span::styled(s.label.clone(), state_style(s.state.as_deref())),
        ];
        if let Some(e) = &s.error {
            spans.push(Span::raw(": "));
            spans.push(Span::styled(e.clone(), Style::new().fg(Color::Red)));
        }
        lines.push(Line::from(spans));
    }
    lines.push(Line::raw(""));
    lines.push(if outcome.settled(state) {
        Line::raw("Every device has answered.").dim()
    } else {
        Line::raw("Waiting for the devices' reports…").dim()
    });
    let height = u16::try_from(lines.len())
        .unwrap_or(u16::MAX)
        .saturating_add(2);
    let rect = centered(area, 72, height.max(8));
    frame.render_widget(Clear, rect);
    let title = format!(
        " Deploy {} {} at {} ",
        outcome.app, outcome.version, outcome.site
    );
    frame.render_widget(
        Paragraph::new(lines)
            .block(boxed(title))
            .wrap(Wrap { trim: false }),
        rect,
    );
}

/// A yes/no question.
pub(crate) fn confirm(frame: &mut Frame<'_>, area: Rect, question: &Confirm) {
    let (title, lines) = match question {
        Confirm::Undeploy { id, label } => (
            " Undeploy? ",
            vec![
                Line::from(format!("Undeploy {label} ({})?", short(id))),
                Line::from("The CO removes it from the site's desired state.").dim(),
            ],
        ),
        Confirm::Deploy(r) => {
            let mut lines = vec![Line::from(format!(
                "Deploy {} to site {}, {}{}?",
                r.app,
                r.site,
                r.device
                    .as_deref()
                    .map_or("every device that fits".to_owned(), |d| format!(
                        "device {d}"
                    )),
                r.deploy_type
                    .as_deref()
                    .map_or(String::new(), |p| format!(", profile {p}")),
            ))];
            if r.set.is_empty() {
                lines.push(Line::from("All parameters at their defaults.").dim());
            }
            for (k, v) in &r.set {
                lines.push(Line::from(format!("  {k} = {v}")));
            }
            (" Deploy? ", lines)
        }
        Confirm::UndoRollout { id, label } => (
            " Undo rollout? ",
            vec![
                Line::from(format!("Undo rollout {id}: {label}?")),
                Line::from(
                    "Every device it changed gets its previous deployment back; \
                     the waves not sent are cancelled.",
                )
                .dim(),
            ],
        ),
    };
    let height = u16::try_from(lines.len())
        .unwrap_or(u16::MAX)
        .saturating_add(5);
    let rect = centered(area, 60, height);
    frame.render_widget(Clear, rect);
    let mut lines = lines;
    lines.push(Line::raw(""));
    lines.push(Line::from(vec![
        Span::raw("y").bold(),
        Span::raw(" yes   "),
        Span::raw("n").bold(),
        Span::raw(" no"),
    ]));
    frame.render_widget(
        Paragraph::new(lines)
            .block(boxed(title.to_owned()))
            .wrap(Wrap { trim: false }),
        rect,
    );
}

/// Every row of the key table as the help shows it: context, keys, text.
pub(crate) fn help_rows() -> Vec<(Ctx, String, &'static str)> {
    KEYS.iter()
        .map(|b| (b.ctx, keys::keys_label(b), b.help))
        .collect()
}

/// The help overlay: the whole key table, grouped by context, in two
/// columns when there is room (the left one filled first).
pub(crate) fn help(frame: &mut Frame<'_>, area: Rect, state: &State) {
    let rect = centered(area, 80, area.height);
    frame.render_widget(Clear, rect);
    let block = boxed(" Keys: ↑↓ scroll, Esc closes ".to_owned());
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    let mut lines: Vec<Line<'_>> = Vec::new();
    let mut last = None;
    for (ctx, keys, text) in help_rows() {
        if last != Some(ctx) {
            lines.push(Line::raw(ctx.title()).bold().underlined());
            last = Some(ctx);
        }
        lines.push(Line::from(vec![
            Span::raw(format!("{keys:>11} ")).bold(),
            Span::raw(text),
        ]));
    }
    let scroll = usize::from(state.help_scroll).min(lines.len().saturating_sub(1));
    if inner.width >= 70 {
        // Read like a newspaper: down the left column, on in the right;
        // when even both are too short, scrolling moves the text through
        // both. Halves when it all fits, so neither column runs long.
        let height = usize::from(inner.height).max(1);
        let rest = lines.split_off(scroll);
        let take = if rest.len() <= 2 * height {
            rest.len().div_ceil(2)
        } else {
            height
        };
        let mut left = rest;
        let right = left.split_off(take.min(left.len()));
        let [l, r] = Layout::horizontal([Constraint::Fill(1), Constraint::Fill(1)]).areas(inner);
        frame.render_widget(Paragraph::new(left), l);
        frame.render_widget(Paragraph::new(right), r);
    } else {
        let scroll = u16::try_from(scroll).unwrap_or(u16::MAX);
        frame.render_widget(Paragraph::new(lines).scroll((scroll, 0)), inner);
    }
}
