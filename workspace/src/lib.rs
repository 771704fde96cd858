//! The workspace on disk: application packages today; site repositories,
//! deployments and their Git history as the orchestrator grows.
//!
//! This is the only crate that reads application packages from the file system
//! and, later, the only one that touches Git. Its API is blocking and works on
//! paths it is given; async callers wrap it in `spawn_blocking`. It never
//! reads the environment or the current directory, and never talks to a server.

pub mod package;

pub use package::{PackageCheck, check_package, read_bounded};
