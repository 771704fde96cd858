//! The workspace on disk and the places application packages come from.
//!
//! `package` checks a package folder, `archive` packs and safely unpacks
//! uploads, `git` is the CO's Git-backed workspace (commit, log) and fetches
//! packages from Git URLs, and `oci` pulls and pushes Margo package artifacts.
//! This is the only crate that imports gix and oci-client. Its API works on
//! paths it is given and is blocking, except `oci`, which is async (oci-client
//! is); async callers wrap the blocking parts in `spawn_blocking`. It never
//! reads the environment or the current directory.

pub mod archive;
pub mod git;
pub mod image;
pub mod oci;
pub mod package;
pub mod stick;

pub use package::{PackageCheck, PackageError, check_package, read_bounded};
