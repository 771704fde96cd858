//! The live terminal UI behind `edgectl tui`.
//!
//! Built Elm-style: one `State` (`state.rs`), messages and a pure `update`
//! that returns commands (`update.rs`, with the rollouts tab's part in
//! `rollouts.rs`, the log pane's in `logs.rs`, a deploy's result per
//! device in `outcome.rs`, undeployed rows kept until removed in
//! `removal.rs`), a `view` that only draws (`view.rs`,
//! `popup.rs`, `rollouts_view.rs`, the detail panes in `detail.rs`, every
//! list through `table.rs`: columns by width, cells cut with `…`), and keys
//! as one table (`keys.rs`) read by both the input mapping and the `?`
//! help. Which rows a list shows, and in what order (its `/` filter and `s`
//! sort), is `lists.rs`, asked by `update` and `view` alike. `run.rs` owns
//! the terminal and the threads. It gets data only through the `Backend`
//! trait implemented by `edgectl`, so it is tested with ratatui's test
//! backend and no network; it never makes network calls or reads files
//! itself.

mod backend;
mod detail;
mod form;
mod keys;
mod lists;
mod logs;
mod outcome;
mod popup;
mod removal;
mod rollouts;
mod rollouts_view;
mod run;
mod state;
mod table;
mod update;
mod view;

#[cfg(test)]
mod fixture;
#[cfg(test)]
mod keys_tests;
#[cfg(test)]
mod lists_tests;
#[cfg(test)]
mod logs_tests;
#[cfg(test)]
mod outcome_tests;
#[cfg(test)]
mod removal_tests;
#[cfg(test)]
mod rollouts_tests;
#[cfg(test)]
mod update_tests;
#[cfg(test)]
mod view_tests;

pub use backend::{Backend, LocalNode, LogPiece, RolloutAction, Snapshot};
pub use run::run;
