//! Tests of the key table: one meaning per key in each mode, every row
//! reachable by each of its keys, chords kept apart from plain keys.

#![allow(clippy::unwrap_used)]

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::keys::{self, Action, KEYS, Mode, Pat};
use crate::state::Tab;

/// A key event for each pattern, to probe the table.
fn probe(pat: Pat) -> KeyEvent {
    match pat {
        Pat::Key(code) => KeyEvent::new(code, KeyModifiers::NONE),
        Pat::Ctrl(c) => KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL),
        Pat::AnyChar => KeyEvent::new(KeyCode::Char('%'), KeyModifiers::NONE),
    }
}

#[test]
fn no_key_means_two_things_in_one_mode() {
    for mode in Mode::ALL {
        let rows: Vec<_> = mode.bindings().collect();
        for (i, a) in rows.iter().enumerate() {
            for b in &rows[i + 1..] {
                for pat in a.keys {
                    assert!(
                        !b.keys.contains(pat),
                        "{mode:?}: {pat:?} is both {:?} and {:?}",
                        a.action,
                        b.action
                    );
                }
            }
        }
    }
}

#[test]
fn every_row_is_reachable_by_its_keys() {
    for b in KEYS {
        let mode = Mode::ALL
            .into_iter()
            .find(|m| m.contexts().first() == Some(&b.ctx) || m.contexts().contains(&b.ctx));
        let mode = mode.unwrap();
        for pat in b.keys {
            assert_eq!(
                keys::lookup(mode, &probe(*pat)),
                Some(b.action),
                "{pat:?} in {mode:?}"
            );
        }
    }
    let alt = KeyEvent::new(KeyCode::Char('q'), KeyModifiers::ALT);
    assert_eq!(keys::lookup(Mode::Main(Tab::Sites), &alt), None);
    let shifted = KeyEvent::new(KeyCode::Char('G'), KeyModifiers::SHIFT);
    assert_eq!(
        keys::lookup(Mode::Main(Tab::Sites), &shifted),
        Some(Action::Bottom)
    );
}
