//! The key table: every key the TUI answers, in which context, what it does
//! and the line the `?` help shows for it. Input mapping (`lookup`), the
//! help overlay and the footer hints all read this one table, so they cannot
//! disagree.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::state::Tab;

/// A key, or a class of keys, as the table names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pat {
    /// A key without Ctrl or Alt (Shift is part of the character).
    Key(KeyCode),
    /// A letter with Ctrl.
    Ctrl(char),
    /// Any printable character (text entry); tried after every other row.
    AnyChar,
}

/// Where a row of the table applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ctx {
    /// Everywhere.
    Any,
    /// The tabbed lists, when no overlay is open.
    Main,
    /// The deployments tab.
    Deployments,
    /// The apps tab.
    Apps,
    /// The rollouts tab.
    Rollouts,
    /// Typing a list's filter (after `/`).
    Filter,
    /// A pick-one step of the deploy form (app, site, device, profile).
    FormList,
    /// The parameters step of the deploy form (text fields).
    FormText,
    /// A yes/no question.
    Confirm,
    /// What became of a deploy from the form.
    Outcome,
    /// The log pane.
    Logs,
    /// The help overlay.
    Help,
}

impl Ctx {
    /// The heading of this context in the help overlay.
    pub(crate) fn title(self) -> &'static str {
        match self {
            Self::Any => "Everywhere",
            Self::Main => "Lists",
            Self::Deployments => "Deployments tab",
            Self::Apps => "Apps tab",
            Self::Rollouts => "Rollouts tab",
            Self::Filter => "Filter",
            Self::FormList => "Deploy form: choices",
            Self::FormText => "Deploy form: parameters",
            Self::Confirm => "Questions",
            Self::Outcome => "Deploy result",
            Self::Logs => "Log pane",
            Self::Help => "This help",
        }
    }
}

/// What a key asks for; `update` gives it meaning in the current mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Quit,
    NextTab,
    PrevTab,
    GotoTab,
    Up,
    Down,
    Top,
    Bottom,
    Details,
    Deploy,
    Undeploy,
    Logs,
    Pause,
    Resume,
    Undo,
    Refresh,
    Help,
    Close,
    Back,
    Next,
    Yes,
    No,
    NextField,
    PrevField,
    Erase,
    ClearField,
    Type,
    Follow,
    Filter,
    ClearFilter,
    Sort,
    Reverse,
}

/// One row of the key table.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Binding {
    /// The keys that do it.
    pub(crate) keys: &'static [Pat],
    /// Where.
    pub(crate) ctx: Ctx,
    /// What.
    pub(crate) action: Action,
    /// The help overlay's line.
    pub(crate) help: &'static str,
    /// The footer's word, for the rows worth a hint.
    pub(crate) hint: Option<&'static str>,
}

use Action as A;
use Ctx as C;
use KeyCode as K;
use Pat::{AnyChar, Ctrl, Key};

const fn row(
    keys: &'static [Pat],
    ctx: Ctx,
    action: Action,
    help: &'static str,
    hint: Option<&'static str>,
) -> Binding {
    Binding {
        keys,
        ctx,
        action,
        help,
        hint,
    }
}

/// The table. Order matters only for the help overlay and the footer.
#[rustfmt::skip]
pub(crate) const KEYS: &[Binding] = &[
    row(&[Ctrl('c')], C::Any, A::Quit, "quit", None),
    row(&[Key(K::Char('q'))], C::Main, A::Quit, "quit", Some("quit")),
    row(&[Key(K::Char('?'))], C::Main, A::Help, "show this help", Some("help")),
    row(&[Key(K::Tab)], C::Main, A::NextTab, "next tab", None),
    row(&[Key(K::BackTab)], C::Main, A::PrevTab, "previous tab", None),
    row(&[Key(K::Char('1')), Key(K::Char('2')), Key(K::Char('3')), Key(K::Char('4')),
          Key(K::Char('5'))],
        C::Main, A::GotoTab, "go to tab 1 to 5", None),
    row(&[Key(K::Up), Key(K::Char('k'))], C::Main, A::Up, "move up", None),
    row(&[Key(K::Down), Key(K::Char('j'))], C::Main, A::Down, "move down", None),
    row(&[Key(K::Home), Key(K::Char('g'))], C::Main, A::Top, "first row", None),
    row(&[Key(K::End), Key(K::Char('G'))], C::Main, A::Bottom, "last row", None),
    row(&[Key(K::Char('d'))], C::Main, A::Deploy, "deploy an app (a form)", Some("deploy")),
    row(&[Key(K::Char('r'))], C::Main, A::Refresh, "reload everything now", None),
    row(&[Key(K::Char('/'))], C::Main, A::Filter, "filter as you type", Some("filter")),
    row(&[Key(K::Esc)], C::Main, A::ClearFilter, "clear the filter", None),
    row(&[Key(K::Char('s'))], C::Main, A::Sort, "sort by the next column", Some("sort")),
    row(&[Key(K::Char('S'))], C::Main, A::Reverse, "reverse the sort", None),
    row(&[Key(K::Char('x')), Key(K::Delete)], C::Deployments, A::Undeploy,
        "undeploy (asks first)", Some("undeploy")),
    row(&[Key(K::Char('l')), Key(K::Enter)], C::Deployments, A::Logs,
        "follow the workload's log", Some("logs")),
    row(&[Key(K::Enter)], C::Apps, A::Details, "reload package details", None),
    row(&[Key(K::Char('p'))], C::Rollouts, A::Pause, "pause: send no more waves", Some("pause")),
    row(&[Key(K::Char('c'))], C::Rollouts, A::Resume, "continue a paused rollout",
        Some("resume")),
    row(&[Key(K::Char('u'))], C::Rollouts, A::Undo, "undo (asks first)", Some("undo")),
    row(&[Key(K::Enter)], C::Rollouts, A::Details, "reload rollout details", None),
    row(&[AnyChar], C::Filter, A::Type, "narrow the list", None),
    row(&[Key(K::Backspace)], C::Filter, A::Erase, "delete a character", None),
    row(&[Ctrl('u')], C::Filter, A::ClearField, "empty the filter", None),
    row(&[Key(K::Up)], C::Filter, A::Up, "move up", None),
    row(&[Key(K::Down)], C::Filter, A::Down, "move down", None),
    row(&[Key(K::Enter)], C::Filter, A::Close, "keep the filter", Some("keep")),
    row(&[Key(K::Esc)], C::Filter, A::ClearFilter, "clear the filter", Some("clear")),
    row(&[Key(K::Up), Key(K::Char('k'))], C::FormList, A::Up, "previous choice", None),
    row(&[Key(K::Down), Key(K::Char('j'))], C::FormList, A::Down, "next choice", None),
    row(&[Key(K::Enter)], C::FormList, A::Next, "choose and go on", Some("choose")),
    row(&[Key(K::Esc)], C::FormList, A::Back, "back a step, or close", Some("back")),
    row(&[Key(K::Up), Key(K::BackTab)], C::FormText, A::PrevField, "previous field", None),
    row(&[Key(K::Down), Key(K::Tab)], C::FormText, A::NextField, "next field", Some("field")),
    row(&[Key(K::Backspace)], C::FormText, A::Erase, "delete a character", None),
    row(&[Ctrl('u')], C::FormText, A::ClearField, "clear the field", None),
    row(&[AnyChar], C::FormText, A::Type, "type into the field", None),
    row(&[Key(K::Enter)], C::FormText, A::Next, "review the deploy", Some("review")),
    row(&[Key(K::Esc)], C::FormText, A::Back, "back a step", Some("back")),
    row(&[Key(K::Char('y')), Key(K::Enter)], C::Confirm, A::Yes, "yes, do it", Some("yes")),
    row(&[Key(K::Char('n')), Key(K::Esc)], C::Confirm, A::No, "no, cancel", Some("no")),
    row(&[Key(K::Esc), Key(K::Enter), Key(K::Char('q'))], C::Outcome, A::Close,
        "close; the list follows on", Some("close")),
    row(&[Key(K::Up), Key(K::Char('k'))], C::Logs, A::Up, "scroll up", None),
    row(&[Key(K::Down), Key(K::Char('j'))], C::Logs, A::Down, "scroll down", None),
    row(&[Key(K::End), Key(K::Char('G'))], C::Logs, A::Follow, "follow the end", Some("follow")),
    row(&[Key(K::Esc), Key(K::Char('q')), Key(K::Char('l'))], C::Logs, A::Close,
        "close the log", Some("close")),
    row(&[Key(K::Up), Key(K::Char('k'))], C::Help, A::Up, "scroll up", None),
    row(&[Key(K::Down), Key(K::Char('j'))], C::Help, A::Down, "scroll down", None),
    row(&[Key(K::Esc), Key(K::Char('?')), Key(K::Char('q'))], C::Help, A::Close,
        "close this help", Some("close")),
];

/// What has the keyboard, from the topmost overlay down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Main(Tab),
    Filter,
    FormList,
    FormText,
    Confirm,
    Outcome,
    Logs,
    Help,
}

impl Mode {
    /// Every mode, for tests and checks.
    #[cfg(test)]
    pub(crate) const ALL: [Mode; 12] = [
        Mode::Main(Tab::Deployments),
        Mode::Main(Tab::Devices),
        Mode::Main(Tab::Sites),
        Mode::Main(Tab::Apps),
        Mode::Main(Tab::Rollouts),
        Mode::Filter,
        Mode::FormList,
        Mode::FormText,
        Mode::Confirm,
        Mode::Outcome,
        Mode::Logs,
        Mode::Help,
    ];

    /// The contexts whose rows apply, most specific first.
    pub(crate) fn contexts(self) -> &'static [Ctx] {
        match self {
            Self::Main(Tab::Deployments) => &[C::Deployments, C::Main, C::Any],
            Self::Main(Tab::Apps) => &[C::Apps, C::Main, C::Any],
            Self::Main(Tab::Rollouts) => &[C::Rollouts, C::Main, C::Any],
            Self::Main(_) => &[C::Main, C::Any],
            Self::Filter => &[C::Filter, C::Any],
            Self::FormList => &[C::FormList, C::Any],
            Self::FormText => &[C::FormText, C::Any],
            Self::Confirm => &[C::Confirm, C::Any],
            Self::Outcome => &[C::Outcome, C::Any],
            Self::Logs => &[C::Logs, C::Any],
            Self::Help => &[C::Help, C::Any],
        }
    }

    /// The rows that apply, most specific context first.
    pub(crate) fn bindings(self) -> impl Iterator<Item = &'static Binding> {
        self.contexts()
            .iter()
            .flat_map(|ctx| KEYS.iter().filter(move |b| b.ctx == *ctx))
    }
}

/// Whether `pat` names `key`.
pub(crate) fn matches(pat: Pat, key: &KeyEvent) -> bool {
    let chord = key
        .modifiers
        .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT);
    match pat {
        Pat::Key(code) => !chord && key.code == code,
        Pat::Ctrl(c) => {
            key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char(c)
        }
        Pat::AnyChar => !chord && matches!(key.code, KeyCode::Char(_)),
    }
}

/// The action `key` asks for in `mode`, if any. Text entry (`AnyChar`) is
/// tried last, so a named key always wins.
pub(crate) fn lookup(mode: Mode, key: &KeyEvent) -> Option<Action> {
    let named = mode.bindings().find(|b| {
        b.keys
            .iter()
            .any(|p| *p != Pat::AnyChar && matches(*p, key))
    });
    named
        .or_else(|| {
            mode.bindings().find(|b| {
                b.keys
                    .iter()
                    .any(|p| *p == Pat::AnyChar && matches(*p, key))
            })
        })
        .map(|b| b.action)
}

/// How the help overlay and the footer write a key.
pub(crate) fn label(pat: Pat) -> String {
    match pat {
        Pat::Key(code) => match code {
            K::Up => "↑".into(),
            K::Down => "↓".into(),
            K::Tab => "Tab".into(),
            K::BackTab => "Shift-Tab".into(),
            K::Enter => "Enter".into(),
            K::Esc => "Esc".into(),
            K::Delete => "Del".into(),
            K::Backspace => "Backspace".into(),
            K::Home => "Home".into(),
            K::End => "End".into(),
            K::Char(' ') => "Space".into(),
            K::Char(c) => c.to_string(),
            other => format!("{other}"),
        },
        Pat::Ctrl(c) => format!("Ctrl-{}", c.to_ascii_uppercase()),
        Pat::AnyChar => "text".into(),
    }
}

/// The keys of a row, as the help overlay writes them.
pub(crate) fn keys_label(binding: &Binding) -> String {
    binding
        .keys
        .iter()
        .map(|p| label(*p))
        .collect::<Vec<_>>()
        .join(" ")
}
