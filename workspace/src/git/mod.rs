//! Git: the orchestrator's workspace repository (snapshot commits, history) and
//! fetching application packages from Git URLs.
//!
//! This is the only module in the project that uses `gix`; everything Git-shaped
//! goes through the small blocking API here, so the rest of the code never sees
//! a `gix` type. [`Repo`] commits the whole work tree as it is on disk (no
//! staging step, no ignore rules) with an author given by the caller, and it
//! never reads the user's or the system's Git configuration or environment.
//! [`fetch_package`] clones over `http://` or `https://` only, into a scratch
//! repository next to the destination, and leaves nothing but the checked-out
//! files behind. Nothing here pushes, runs the `git` program, or follows a
//! remote into the local file system.
//!
//! `repo.rs` holds [`Repo`], `fetch.rs` holds [`fetch_package`] and its
//! limits, `source.rs` the [`SourcePolicy`] (which hosts app sources may
//! name, how much one may send), `download.rs` the fetch's HTTP transport
//! under it, `mirror.rs` the LO's [`Mirror`], `carry.rs` [`carry`] and
//! [`carry_forward`] (history between local repositories, for USB sticks),
//! `delta.rs` [`objects_after`] and [`receive_after`] (the objects of a few
//! new commits, carried on the CO's nudge to an LO);
//! this file holds what both share: the error type, the commit types
//! and how a repository is opened.

use std::io;
use std::path::{Path, PathBuf};

mod carry;
mod delta;
mod download;
mod fetch;
mod mirror;
mod repo;
mod source;
#[cfg(test)]
mod testkit;

pub use carry::{
    Carried, LooseObject, carry, carry_forward, check_forward, objects_since, receive_objects,
    tip_of,
};
pub use delta::{DeltaLimits, objects_after, receive_after};
pub use fetch::{CONNECT_TIMEOUT, MAX_PACKAGE_BYTES, MAX_PACKAGE_FILES, fetch_package};
pub use mirror::{ConfigureClient, Fetched, Mirror, TreeFile};
pub use repo::Repo;
pub use source::{MAX_DOWNLOAD_BYTES, SourcePolicy};

/// The branch every workspace repository commits to.
pub const BRANCH: &str = "main";

/// What can go wrong with a workspace repository or a package fetch.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// The workspace directory could not be created.
    #[error("cannot create the workspace directory `{path}`; check the path and its permissions")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// `gix` could not initialize or open the repository.
    #[error(
        "cannot open the git repository in `{path}`: {detail}; check that `{path}/.git` is a healthy repository"
    )]
    Open {
        /// The work tree.
        path: PathBuf,
        /// What `gix` said.
        detail: String,
    },
    /// The repository has no work tree.
    #[error(
        "`{path}` is a bare git repository; the workspace needs a work tree, so use a fresh directory"
    )]
    Bare {
        /// The repository.
        path: PathBuf,
    },
    /// A file or directory in the work tree could not be read.
    #[error("cannot read `{path}` in the work tree; check its permissions")]
    ReadWorkTree {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The author's name or email cannot be written into a commit.
    #[error(
        "the commit author `{name} <{email}>` is not valid: names and emails must be non-empty and contain no `<`, `>` or line breaks"
    )]
    InvalidAuthor {
        /// The name given.
        name: String,
        /// The email given.
        email: String,
    },
    /// A commit to restore is not in this repository's history.
    #[error(
        "`{rev}` is not a commit of this repository's history; `edgectl co history` lists them"
    )]
    UnknownCommit {
        /// What was asked for.
        rev: String,
    },
    /// Some other repository operation failed.
    #[error("git could not {action} in `{path}`: {detail}")]
    Repository {
        /// What we were doing, in words that follow "could not".
        action: &'static str,
        /// The work tree.
        path: PathBuf,
        /// What `gix` said.
        detail: String,
    },
    /// A repository operation could not write: the disk is full.
    #[error("git could not {action} in `{path}`: the disk is full")]
    DiskFull {
        /// What we were doing, in words that follow "could not".
        action: &'static str,
        /// The work tree.
        path: PathBuf,
        /// The cause (of kind `StorageFull` or `QuotaExceeded`).
        source: io::Error,
    },
    /// The URL is not an `http://` or `https://` URL.
    #[error(
        "`{url}` is not a supported package URL: packages are fetched over `http://` or `https://` only"
    )]
    UnsupportedUrl {
        /// The URL given.
        url: String,
    },
    /// The URL's host is not one app sources may reach (or does not
    /// resolve: the same sentence, so nothing is told about what exists).
    #[error(
        "`{url}` cannot be used as an app source: its host is not one app sources may reach (loopback, private, link-local and unique-local addresses, and names that resolve to them or not at all, are refused unless the CO allows them with `--source-allow`)"
    )]
    SourceNotAllowed {
        /// The URL given.
        url: String,
    },
    /// The destination of a fetch is in the way.
    #[error(
        "the destination `{path}` exists and is not an empty directory; choose a new path or remove it first"
    )]
    DestinationNotEmpty {
        /// The destination.
        path: PathBuf,
    },
    /// The destination (or its scratch space next to it) could not be written.
    #[error("cannot write to `{path}`; check that the parent directory exists and is writable")]
    Destination {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// No connection to the server.
    #[error(
        "cannot reach `{url}`: {detail}; check the address and port, and that the server is running and reachable"
    )]
    Unreachable {
        /// The URL.
        url: String,
        /// What the HTTP client said.
        detail: String,
    },
    /// The server answered, but has no repository there.
    #[error("no git repository was found at `{url}`; check the URL")]
    NotFound {
        /// The URL.
        url: String,
    },
    /// The server wants credentials.
    #[error(
        "`{url}` requires authentication, which package fetching does not support yet; use a public URL"
    )]
    Unauthorized {
        /// The URL.
        url: String,
    },
    /// The branch or tag does not exist.
    #[error("`{url}` has no branch or tag named `{reference}`; check the reference")]
    ReferenceNotFound {
        /// The URL.
        url: String,
        /// The branch or tag asked for.
        reference: String,
    },
    /// The remote repository has no commits.
    #[error("the repository at `{url}` is empty; push a commit to it first")]
    EmptyRepository {
        /// The URL.
        url: String,
    },
    /// Any other fetch failure.
    #[error("fetching `{url}` failed: {detail}")]
    Fetch {
        /// The URL.
        url: String,
        /// What `gix` said.
        detail: String,
    },
    /// The package is over one of the limits.
    #[error(
        "the package at `{url}` is too large: {detail} (the limits are {MAX_PACKAGE_BYTES} bytes and {MAX_PACKAGE_FILES} files); make the package smaller"
    )]
    TooLarge {
        /// The URL.
        url: String,
        /// Which limit, by how much.
        detail: String,
    },
    /// A carried history is not a fast-forward of what is here.
    #[error(
        "{}", if *older {
            format!("the history in `{}` is older than what is here (it ends at {offered}, this already has {have}); nothing was taken in: use a newer copy", path.display())
        } else {
            format!("the history in `{}` does not continue what is here (it ends at {offered} and does not contain {have}): it was rewritten or belongs to another site; nothing was taken in", path.display())
        }
    )]
    NotForward {
        /// The repository offered.
        path: PathBuf,
        /// The commit here.
        have: String,
        /// The commit offered.
        offered: String,
        /// Whether the offered commit is an ancestor of the one here.
        older: bool,
    },
    /// Writing the files failed.
    #[error("cannot check out `{url}` into `{path}`: {detail}")]
    Checkout {
        /// The URL.
        url: String,
        /// The destination.
        path: PathBuf,
        /// What `gix` said.
        detail: String,
    },
}

/// Who made a commit. Workspace commits never take this from Git configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Author {
    /// Display name, like `Ada Lovelace` or `edged`.
    pub name: String,
    /// Email, like `ada@example.org`.
    pub email: String,
}

/// One commit, as [`Repo::log`] and [`Repo::commit_all`] report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitInfo {
    /// The full hexadecimal object id.
    pub id: String,
    /// The message without trailing line breaks.
    pub message: String,
    /// The author's name.
    pub author: String,
    /// The author's email.
    pub email: String,
    /// The author time, in seconds since the Unix epoch.
    pub time: i64,
}

/// Open options that ignore the user's and system's Git configuration and the
/// `GIT_*` environment, so results never depend on the machine.
fn open_options() -> gix::open::Options {
    gix::open::Options::isolated().config_overrides([format!("init.defaultBranch={BRANCH}")])
}

/// The HTTP status a remote answered, when that is why `err` happened.
fn http_status(err: &gix::Error) -> Option<u16> {
    err.iter_errors()
        .find_map(|cause| cause.downcast_ref::<reqwest::Error>()?.status())
        .map(|s| s.as_u16())
}

/// `err` from doing `action` in `path` as a [`GitError`]: `DiskFull` when
/// a write ran out of space anywhere beneath it, else `Repository`.
fn repository_error(action: &'static str, path: &Path, err: &gix::Error) -> GitError {
    let full = err.iter_errors().find_map(|e| {
        std::iter::successors(Some(e), |e| e.source()).find_map(|e| {
            e.downcast_ref::<io::Error>()
                .filter(|io| {
                    matches!(
                        io.kind(),
                        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
                    )
                })
                .map(io::Error::kind)
        })
    });
    match full {
        Some(kind) => GitError::DiskFull {
            action,
            path: path.to_owned(),
            source: io::Error::new(kind, describe(err)),
        },
        None => GitError::Repository {
            action,
            path: path.to_owned(),
            detail: describe(err),
        },
    }
}

/// A `gix` error on one line: its outermost message and, when different, its
/// innermost cause (the chain in between is mostly wrappers).
fn describe(err: &gix::Error) -> String {
    let top = err.to_string();
    match err.iter_errors().last().map(ToString::to_string) {
        Some(root) if !root.is_empty() && root != top => format!("{top}: {root}"),
        _ => top,
    }
}
