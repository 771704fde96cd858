//! The live terminal UI behind `edgectl tui`.
//!
//! This crate will be built Elm-style: state, messages, a pure `update`, a `view`
//! that only draws, and keys as one table. It gets data only through a backend
//! trait implemented by `edgectl`, so it can be tested with a fake backend and
//! ratatui's test backend. It must never make network calls or read files itself.

mod backend;

pub use backend::{Backend, LogPiece, Snapshot};
