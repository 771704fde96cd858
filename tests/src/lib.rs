//! Scenario tests that cross crate and process boundaries.
//!
//! This crate will hold the shared test kit (temporary Git workspaces seeded from
//! `fixtures/`, daemons started on `127.0.0.1` port 0, an `edgectl` runner that
//! captures output) and the end-to-end scenarios built on it. It is a dev-only
//! crate: nothing ships from here, and it must never reach beyond loopback.

pub mod co;
pub mod en;
pub mod git_http;
pub mod lo;
pub mod podman;
pub mod registry;
pub mod tmux;
