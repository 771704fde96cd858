//! The live terminal UI behind `edgectl tui`.
//!
//! Built Elm-style: one `State` (`state.rs`), messages and a pure `update`
//! that returns commands (`update.rs`, with the rollouts tab's part in
//! `rollouts.rs`), a `view` that only draws (`view.rs`, `popup.rs`,
//! `rollouts_view.rs`), and keys as one table (`keys.rs`) read by both
//! the input mapping and the `?` help. `run.rs` owns the terminal and the
//! threads. It gets data only through the `Backend` trait implemented by
//! `edgectl`, so it is tested with ratatui's test backend and no network; it
//! never makes network calls or reads files itself.

mod backend;
mod form;
mod keys;
mod popup;
mod rollouts;
mod rollouts_view;
mod run;
mod state;
mod update;
mod view;

#[cfg(test)]
mod fixture;
#[cfg(test)]
mod keys_tests;
#[cfg(test)]
mod rollouts_tests;
#[cfg(test)]
mod update_tests;
#[cfg(test)]
mod view_tests;

pub use backend::{Backend, LogPiece, RolloutAction, Snapshot};
pub use run::run;
