//! The tables every list is drawn with. Each column has a least width, a
//! share of the room left over and a rank: on a narrow terminal the least
//! important columns go (never the sort column), on a wide one more of
//! them appear and those that may grow take the rest, first as far as
//! their longest cell needs. Every cell is cut to
//! its column with an ellipsis (…), so a long name neither runs into the
//! next column nor loses its end without a sign. The header marks the sort
//! column with ▲ (ascending) or ▼.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Row, Table, TableState};

/// One column of a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Col {
    /// The header.
    pub(crate) title: &'static str,
    /// Least width; a column that cannot have it is left out.
    pub(crate) min: u16,
    /// Its share of the room left over (0: it stays at `min`).
    pub(crate) grow: u16,
    /// Which columns go first when the room is short: the highest rank
    /// (the rightmost of equals).
    pub(crate) rank: u8,
}

/// A column: title, least width (less when neither its header nor any
/// cell needs it), share of the rest, rank.
pub(crate) const fn col(title: &'static str, min: u16, grow: u16, rank: u8) -> Col {
    Col {
        title,
        min,
        grow,
        rank,
    }
}

/// A cell: its text and style.
pub(crate) type Piece = (String, Style);

/// A cell in the terminal's own colours.
pub(crate) fn plain(text: impl Into<String>) -> Piece {
    (text.into(), Style::new())
}

/// Space between columns.
const GAP: u16 = 1;
/// The selected row's mark (`> `), drawn in a column of its own.
const MARK: &str = "> ";

/// The terminal width of `text`.
pub(crate) fn width(text: &str) -> usize {
    Span::raw(text).width()
}

/// `text` on one line, at most `room` columns wide: cut with `…` when
/// longer; line breaks and tabs become spaces.
pub(crate) fn fit(text: &str, room: usize) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if width(&flat) <= room {
        return flat;
    }
    if room == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut used = 0;
    let mut buf = [0; 4];
    for c in flat.chars() {
        let w = width(c.encode_utf8(&mut buf));
        if used + w > room - 1 {
            break;
        }
        used += w;
        out.push(c);
    }
    out.push('…');
    out
}

/// How wide a growing column must be before a less important column may
/// have room: a name is cut only when the terminal is too narrow for the
/// columns that matter more.
const ENOUGH: u16 = 24;

/// The columns shown in `room` and the width of each: (index into
/// `cols`, width). Columns are left out, least important first, until the
/// rest fit and every growing column has what its widest cell `wants` (up
/// to [`ENOUGH`]) or only more important columns are left; `keep` never
/// is. The room left over goes to the columns that grow, by their shares:
/// first up to what they want, then beyond.
pub(crate) fn layout(
    cols: &[Col],
    wants: &[u16],
    room: u16,
    keep: Option<usize>,
) -> Vec<(usize, u16)> {
    let mut shown: Vec<usize> = (0..cols.len()).collect();
    loop {
        let fits = need(cols, &shown) <= room;
        let widths = share(cols, wants, room, &shown);
        // The most important growing column still short of what it wants.
        let short = widths
            .iter()
            .filter(|(i, w)| {
                cols[*i].grow > 0 && *w < wants.get(*i).copied().unwrap_or(0).min(ENOUGH)
            })
            .map(|(i, _)| cols[*i].rank)
            .min();
        let above = match (fits, short) {
            (false, _) => None,
            (true, Some(rank)) => Some(rank),
            (true, None) => return widths,
        };
        let drop = shown
            .iter()
            .enumerate()
            .filter(|(_, i)| Some(**i) != keep && above.is_none_or(|r| cols[**i].rank > r))
            .max_by_key(|(pos, i)| (cols[**i].rank, *pos))
            .map(|(pos, _)| pos);
        match drop {
            Some(pos) if shown.len() > 1 => {
                shown.remove(pos);
            }
            _ => return widths,
        }
    }
}

/// The room the least widths of `shown` take, with the gaps.
fn need(cols: &[Col], shown: &[usize]) -> u16 {
    let gaps = u16::try_from(shown.len().saturating_sub(1)).unwrap_or(u16::MAX);
    shown
        .iter()
        .map(|i| cols[*i].min)
        .fold(gaps.saturating_mul(GAP), u16::saturating_add)
}

/// The widths of `shown` in `room`: each its least, and what is left to
/// the growing ones by their shares, first up to what they want.
fn share(cols: &[Col], wants: &[u16], room: u16, shown: &[usize]) -> Vec<(usize, u16)> {
    let mut spare = room.saturating_sub(need(cols, shown));
    let mut widths: Vec<(usize, u16)> = shown.iter().map(|i| (*i, cols[*i].min)).collect();
    let want = |i: usize| wants.get(i).copied().unwrap_or(0);
    for capped in [true, false] {
        loop {
            let open: Vec<usize> = (0..widths.len())
                .filter(|k| {
                    let (i, w) = widths[*k];
                    cols[i].grow > 0 && (!capped || w < want(i))
                })
                .collect();
            let shares: u32 = open
                .iter()
                .map(|k| u32::from(cols[widths[*k].0].grow))
                .sum();
            if spare == 0 || shares == 0 {
                break;
            }
            let round = spare;
            for k in open {
                let (i, w) = &mut widths[k];
                let fair = (u32::from(round) * u32::from(cols[*i].grow) / shares).max(1);
                let mut give = u16::try_from(fair).unwrap_or(u16::MAX).min(spare);
                if capped {
                    give = give.min(want(*i).saturating_sub(*w));
                }
                *w += give;
                spare -= give;
                if spare == 0 {
                    break;
                }
            }
        }
    }
    widths
}

/// How a table is drawn beyond its columns and rows.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Look<'a> {
    /// The selected row (reversed, with a `>` mark); `None`: no selection.
    pub(crate) selected: Option<usize>,
    /// The sort column's title and whether it is reversed.
    pub(crate) sort: Option<(&'a str, bool)>,
    /// What to say when there are no rows.
    pub(crate) empty: &'a str,
}

/// Draw a table: a bold, underlined header, then `rows` (a piece per
/// column, in the order of `cols`).
pub(crate) fn draw(
    frame: &mut Frame<'_>,
    area: Rect,
    cols: &[Col],
    rows: &[Vec<Piece>],
    look: Look<'_>,
) {
    if rows.is_empty() {
        frame.render_widget(
            Line::from(fit(look.empty, usize::from(area.width))).dim(),
            area,
        );
        return;
    }
    let mark = if look.selected.is_some() {
        u16::try_from(MARK.len()).unwrap_or(0)
    } else {
        0
    };
    let keep = look
        .sort
        .and_then(|(title, _)| cols.iter().position(|c| c.title == title));
    // What each column's widest cell (or its header, with the sort mark)
    // needs; a column needs no more than that, even when it could have it.
    let wants: Vec<u16> = cols
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let widest = rows
                .iter()
                .filter_map(|r| r.get(i))
                .map(|(text, _)| width(text))
                .max()
                .unwrap_or(0);
            let arrow = if keep == Some(i) { 2 } else { 0 };
            u16::try_from(widest.max(width(c.title) + arrow)).unwrap_or(u16::MAX)
        })
        .collect();
    let narrowed: Vec<Col> = cols
        .iter()
        .zip(&wants)
        .map(|(c, want)| Col {
            min: c.min.min(*want),
            ..*c
        })
        .collect();
    let shown = layout(&narrowed, &wants, area.width.saturating_sub(mark), keep);
    let header = Row::new(shown.iter().map(|(i, w)| {
        let title = cols[*i].title;
        let room = usize::from(*w);
        match look.sort {
            Some((sorted, reverse)) if sorted == title => {
                let arrow = if reverse { "▼" } else { "▲" };
                Cell::from(format!("{} {arrow}", fit(title, room.saturating_sub(2))))
            }
            _ => Cell::from(fit(title, room)),
        }
    }))
    .style(Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED));
    let body: Vec<Row<'_>> = rows
        .iter()
        .map(|row| {
            Row::new(shown.iter().map(|(i, w)| {
                let (text, style) = row.get(*i).cloned().unwrap_or_default();
                Cell::from(fit(&text, usize::from(*w))).style(style)
            }))
        })
        .collect();
    let widths: Vec<Constraint> = shown.iter().map(|(_, w)| Constraint::Length(*w)).collect();
    let mut table = Table::new(body, widths).header(header).column_spacing(GAP);
    if look.selected.is_some() {
        table = table
            .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED))
            .highlight_symbol(MARK);
    }
    let mut ts = TableState::default().with_selected(look.selected);
    frame.render_stateful_widget(table, area, &mut ts);
}
