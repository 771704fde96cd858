//! Git: the orchestrator's workspace repository (snapshot commits, history) and
//! fetching application packages from Git URLs.
//!
//! This is the only file in the project that uses `gix`; everything Git-shaped
//! goes through the small blocking API here, so the rest of the code never sees
//! a `gix` type. [`Repo`] commits the whole work tree as it is on disk (no
//! staging step, no ignore rules) with an author given by the caller, and it
//! never reads the user's or the system's Git configuration or environment.
//! [`fetch_package`] clones over `http://` or `https://` only, into a scratch
//! repository next to the destination, and leaves nothing but the checked-out
//! files behind. Nothing here pushes, runs the `git` program, or follows a
//! remote into the local file system.

use std::fs;
use std::io;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use gix::bstr::{BString, ByteSlice};
use gix::protocol::transport::client::blocking_io::Transport;
use gix::protocol::transport::client::blocking_io::http as gix_http;

/// The largest checkout [`fetch_package`] accepts, in bytes of file content.
pub const MAX_PACKAGE_BYTES: u64 = 256 * 1024 * 1024;

/// The most files (including symbolic links) [`fetch_package`] accepts.
pub const MAX_PACKAGE_FILES: usize = 100_000;

/// How long [`fetch_package`] waits for a TCP connection to the server.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The branch every workspace repository commits to.
pub const BRANCH: &str = "main";

/// What can go wrong with a workspace repository or a package fetch.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// The workspace directory could not be created.
    #[error(
        "cannot create the workspace directory `{path}`: {source}; check the path and its permissions"
    )]
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
    #[error("cannot read `{path}` in the work tree: {source}; check its permissions")]
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
    /// The URL is not an `http://` or `https://` URL.
    #[error(
        "`{url}` is not a supported package URL: packages are fetched over `http://` or `https://` only"
    )]
    UnsupportedUrl {
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
    #[error(
        "cannot write to `{path}`: {source}; check that the parent directory exists and is writable"
    )]
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

/// A non-bare Git repository whose work tree is the orchestrator's workspace.
///
/// Every change is a commit of the whole work tree on branch [`BRANCH`]. The
/// value is only a checked path: each call opens the repository afresh (a few
/// small file reads), so it is cheap to clone and share between threads, and
/// it always sees commits made by other `Repo` values.
#[derive(Debug, Clone)]
pub struct Repo {
    work_tree: PathBuf,
}

/// Commits in this process happen one at a time: the index and `HEAD` are
/// updated through lock files that fail rather than wait.
static COMMIT_LOCK: Mutex<()> = Mutex::new(());

/// Open options that ignore the user's and system's Git configuration and the
/// `GIT_*` environment, so results never depend on the machine.
fn open_options() -> gix::open::Options {
    gix::open::Options::isolated().config_overrides([format!("init.defaultBranch={BRANCH}")])
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

/// The innermost cause of a `gix` error, like `Connection refused (os error 111)`.
fn root_cause(err: &gix::Error) -> String {
    err.iter_errors()
        .last()
        .map_or_else(|| err.to_string(), ToString::to_string)
}

impl Repo {
    /// Open the repository in `dir`, or create `dir` and initialize one there.
    ///
    /// Files already in `dir` are left alone; the first [`Repo::commit_all`]
    /// records them.
    pub fn init_or_open(dir: &Path) -> Result<Repo, GitError> {
        let failed = |err: gix::Error| GitError::Open {
            path: dir.to_owned(),
            detail: describe(&err),
        };
        let repo = if dir.join(gix::discover::DOT_GIT_DIR).exists() {
            gix::ThreadSafeRepository::open_opts(dir, open_options()).map_err(failed)?
        } else {
            fs::create_dir_all(dir).map_err(|source| GitError::CreateDir {
                path: dir.to_owned(),
                source,
            })?;
            gix::ThreadSafeRepository::init_opts(
                dir,
                gix::create::Kind::WithWorktree,
                gix::create::Options::default(),
                open_options(),
            )
            .map_err(failed)?
        };
        let work_tree = repo
            .work_dir()
            .map(Path::to_owned)
            .ok_or_else(|| GitError::Bare {
                path: dir.to_owned(),
            })?;
        Ok(Repo { work_tree })
    }

    fn open(&self) -> Result<gix::Repository, GitError> {
        gix::open_opts(&self.work_tree, open_options()).map_err(|err| GitError::Open {
            path: self.work_tree.clone(),
            detail: describe(&err),
        })
    }

    /// The work tree: the directory holding the workspace files.
    pub fn work_tree(&self) -> &Path {
        &self.work_tree
    }

    fn failed(&self, action: &'static str) -> impl FnOnce(gix::Error) -> GitError + '_ {
        move |err| GitError::Repository {
            action,
            path: self.work_tree.clone(),
            detail: describe(&err),
        }
    }

    /// Commit the whole work tree as it is on disk, on top of `HEAD`.
    ///
    /// Every file except those in `.git` directories is recorded, executable
    /// files as `100755`, symbolic links as links; empty directories and special
    /// files are skipped. The index is rewritten to match, so `git status` is
    /// clean afterwards. Returns `Ok(None)` without committing when the tree is
    /// the same as `HEAD`'s.
    pub fn commit_all(
        &self,
        message: &str,
        author: &Author,
    ) -> Result<Option<CommitInfo>, GitError> {
        check_author(author)?;
        let _serial = COMMIT_LOCK.lock().unwrap_or_else(PoisonError::into_inner);
        let repo = self.open()?;
        let files = scan_work_tree(&self.work_tree)?;
        // The index from the last commit lets unchanged files skip hashing.
        let previous = if repo.index_path().is_file() {
            repo.open_index().ok()
        } else {
            None
        };

        let mut editor = repo
            .edit_tree(gix::ObjectId::empty_tree(repo.object_hash()))
            .map_err(self.failed("start a tree"))?;
        let mut index = gix::index::State::new(repo.object_hash());
        for file in &files {
            let (kind, mode) = if file.meta.is_symlink() {
                (
                    gix::objs::tree::EntryKind::Link,
                    gix::index::entry::Mode::SYMLINK,
                )
            } else if file.meta.is_executable() {
                (
                    gix::objs::tree::EntryKind::BlobExecutable,
                    gix::index::entry::Mode::FILE_EXECUTABLE,
                )
            } else {
                (
                    gix::objs::tree::EntryKind::Blob,
                    gix::index::entry::Mode::FILE,
                )
            };
            // Stat data from before the read: if the file changes while we
            // read it, git sees the difference instead of trusting the index.
            let stat = gix::index::entry::Stat::from_fs(&file.meta).unwrap_or_default();
            let id = match unchanged(&repo, previous.as_ref(), file, mode, &stat) {
                Some(id) => id,
                None => repo
                    .write_blob(read_content(file)?)
                    .map_err(self.failed("write a file into the object database"))?
                    .detach(),
            };
            editor
                .upsert(file.rela.as_bstr(), kind, id)
                .map_err(self.failed("add a file to the tree"))?;
            index.dangerously_push_entry(
                stat,
                id,
                gix::index::entry::Flags::empty(),
                mode,
                file.rela.as_bstr(),
            );
        }
        let tree = editor
            .write()
            .map_err(self.failed("write the tree"))?
            .detach();
        index.sort_entries();
        gix::index::File::from_state(index, repo.index_path())
            .write(gix::index::write::Options::default())
            .map_err(self.failed("write the index"))?;

        let head = repo.head().map_err(self.failed("read `HEAD`"))?;
        let parent = head.id().map(gix::Id::detach);
        if let Some(parent) = parent {
            let parent_tree = repo
                .find_commit(parent)
                .and_then(|commit| commit.tree_id())
                .map_err(self.failed("read the `HEAD` commit"))?;
            if parent_tree == tree {
                return Ok(None);
            }
        }

        let signature = gix::actor::Signature {
            name: author.name.as_str().into(),
            email: author.email.as_str().into(),
            time: gix::date::Time::now_local_or_utc(),
        };
        let mut time = gix::date::parse::TimeBuf::default();
        let signature = signature.to_ref(&mut time);
        let mut message = message.trim_end().to_owned();
        message.push('\n');
        let id = repo
            .commit_as(signature, signature, "HEAD", message, tree, parent)
            .map_err(self.failed("write the commit"))?
            .detach();
        let commit = repo
            .find_commit(id)
            .map_err(self.failed("read back the new commit"))?;
        self.info(&commit).map(Some)
    }

    /// Up to `limit` commits from `HEAD`, newest first, following first parents.
    /// Empty before the first commit.
    pub fn log(&self, limit: usize) -> Result<Vec<CommitInfo>, GitError> {
        let repo = self.open()?;
        let head = repo.head().map_err(self.failed("read `HEAD`"))?;
        let Some(mut next) = head.id().map(gix::Id::detach) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        while out.len() < limit {
            let commit = repo
                .find_commit(next)
                .map_err(self.failed("read a commit"))?;
            out.push(self.info(&commit)?);
            match commit.parent_ids().next() {
                Some(parent) => next = parent.detach(),
                None => break,
            }
        }
        Ok(out)
    }

    /// The commit `HEAD` points to, as full hex, or `None` before the first commit.
    pub fn head(&self) -> Result<Option<String>, GitError> {
        let repo = self.open()?;
        let head = repo.head().map_err(self.failed("read `HEAD`"))?;
        Ok(head.id().map(|id| id.to_string()))
    }

    fn info(&self, commit: &gix::Commit<'_>) -> Result<CommitInfo, GitError> {
        let decoded = commit.decode().map_err(self.failed("decode a commit"))?;
        let author = decoded
            .author()
            .map_err(self.failed("read a commit's author"))?;
        let time = author
            .time()
            .map_err(self.failed("read a commit's author time"))?;
        Ok(CommitInfo {
            id: commit.id().to_string(),
            message: decoded
                .message
                .to_str_lossy()
                .trim_end_matches(['\n', '\r'])
                .to_owned(),
            author: author.name.to_str_lossy().into_owned(),
            email: author.email.to_str_lossy().into_owned(),
            time: time.seconds,
        })
    }
}

fn check_author(author: &Author) -> Result<(), GitError> {
    let bad = |s: &str| s.trim().is_empty() || s.contains(['<', '>', '\n', '\r', '\0']);
    if bad(&author.name) || bad(&author.email) {
        return Err(GitError::InvalidAuthor {
            name: author.name.clone(),
            email: author.email.clone(),
        });
    }
    Ok(())
}

/// How git compares stat data (`core.trustctime` and nanosecond times on).
const STAT_OPTIONS: gix::index::entry::stat::Options = gix::index::entry::stat::Options {
    trust_ctime: true,
    check_stat: true,
    use_nsec: true,
    use_stdev: false,
};

/// The blob id recorded for `file` in the previous index, if the file has
/// provably not changed since: same mode, same stat data, not racy (modified
/// after the index was written), and the object is present.
fn unchanged(
    repo: &gix::Repository,
    previous: Option<&gix::index::File>,
    file: &WorkFile,
    mode: gix::index::entry::Mode,
    stat: &gix::index::entry::Stat,
) -> Option<gix::ObjectId> {
    let previous = previous?;
    let entry = previous.entry_by_path(file.rela.as_bstr())?;
    let same = entry.mode == mode
        && entry.stat.matches(stat, STAT_OPTIONS)
        && !entry.stat.is_racy(previous.timestamp(), STAT_OPTIONS)
        && repo.has_object(entry.id);
    same.then_some(entry.id)
}

/// The bytes git stores for `file`: its content, or a link's target.
fn read_content(file: &WorkFile) -> Result<Vec<u8>, GitError> {
    let failed = |source| GitError::ReadWorkTree {
        path: file.path.clone(),
        source,
    };
    if !file.meta.is_symlink() {
        return fs::read(&file.path).map_err(failed);
    }
    let target = fs::read_link(&file.path).map_err(failed)?;
    let target = gix::path::os_str_into_bstr(target.as_os_str()).map_err(|_| {
        failed(io::Error::new(
            io::ErrorKind::InvalidData,
            "the link target is not valid UTF-8",
        ))
    })?;
    Ok(target.to_vec())
}

/// A file or symbolic link found in the work tree.
struct WorkFile {
    /// Slash-separated path relative to the work tree.
    rela: BString,
    /// Absolute (or caller-relative) path on disk.
    path: PathBuf,
    /// `lstat` data, as git records it in the index.
    meta: gix::index::fs::Metadata,
}

/// Every regular file and symbolic link under `root`, skipping `.git`
/// directories at any depth (nested repositories are not recorded).
fn scan_work_tree(root: &Path) -> Result<Vec<WorkFile>, GitError> {
    let mut out = Vec::new();
    let mut dirs = vec![(root.to_owned(), BString::default())];
    while let Some((dir, rela_dir)) = dirs.pop() {
        let read = |source| GitError::ReadWorkTree {
            path: dir.clone(),
            source,
        };
        for entry in fs::read_dir(&dir).map_err(read)? {
            let entry = entry.map_err(read)?;
            let name = entry.file_name();
            if name == gix::discover::DOT_GIT_DIR {
                continue;
            }
            let path = entry.path();
            let mut rela = rela_dir.clone();
            if !rela.is_empty() {
                rela.push(b'/');
            }
            let name = gix::path::os_str_into_bstr(&name).map_err(|_| GitError::ReadWorkTree {
                path: path.clone(),
                source: io::Error::new(io::ErrorKind::InvalidData, "the name is not valid UTF-8"),
            })?;
            rela.extend_from_slice(name);
            let meta = gix::index::fs::Metadata::from_path_no_follow(&path).map_err(|source| {
                GitError::ReadWorkTree {
                    path: path.clone(),
                    source,
                }
            })?;
            if meta.is_dir() {
                dirs.push((path, rela));
            } else if meta.is_file() || meta.is_symlink() {
                out.push(WorkFile { rela, path, meta });
            }
        }
    }
    Ok(out)
}

/// Clone the repository at `url` and check out `reference` (a branch or tag;
/// the remote's `HEAD` when `None`) into `dest`, without any `.git` metadata.
///
/// `dest` must not exist yet or be an empty directory. The clone is shallow
/// (depth 1) and goes through a scratch directory next to `dest` that is
/// removed afterwards. A checkout over [`MAX_PACKAGE_BYTES`] or
/// [`MAX_PACKAGE_FILES`] is refused before any file is written. On error,
/// `dest` is left as it was found (absent, or empty).
pub fn fetch_package(url: &str, reference: Option<&str>, dest: &Path) -> Result<(), GitError> {
    check_url(url)?;
    let created = prepare_destination(dest)?;
    let result = fetch_into(url, reference, dest);
    if result.is_err() {
        clear_destination(dest, created);
    }
    result
}

fn check_url(url: &str) -> Result<(), GitError> {
    let unsupported = || GitError::UnsupportedUrl {
        url: url.to_owned(),
    };
    let parsed = gix::url::parse(url.as_bytes().as_bstr()).map_err(|_| unsupported())?;
    let http = matches!(
        parsed.scheme,
        gix::url::Scheme::Http | gix::url::Scheme::Https
    );
    if !http || parsed.host().is_none_or(str::is_empty) || !url.contains("://") {
        return Err(unsupported());
    }
    Ok(())
}

/// Make sure `dest` is an empty directory; `true` if it was created here.
fn prepare_destination(dest: &Path) -> Result<bool, GitError> {
    let io_err = |source| GitError::Destination {
        path: dest.to_owned(),
        source,
    };
    match fs::symlink_metadata(dest) {
        Ok(meta) if meta.is_dir() => {
            if fs::read_dir(dest).map_err(io_err)?.next().is_some() {
                return Err(GitError::DestinationNotEmpty {
                    path: dest.to_owned(),
                });
            }
            Ok(false)
        }
        Ok(_) => Err(GitError::DestinationNotEmpty {
            path: dest.to_owned(),
        }),
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            fs::create_dir(dest).map_err(io_err)?;
            Ok(true)
        }
        Err(err) => Err(io_err(err)),
    }
}

/// Undo a failed fetch: remove `dest` if we created it, else empty it again.
/// Best effort: the original error is what the caller needs to see.
fn clear_destination(dest: &Path, created: bool) {
    if created {
        let _ = fs::remove_dir_all(dest);
        return;
    }
    if let Ok(entries) = fs::read_dir(dest) {
        for entry in entries.flatten() {
            let path = entry.path();
            let _ = match entry.file_type() {
                Ok(kind) if kind.is_dir() => fs::remove_dir_all(&path),
                _ => fs::remove_file(&path),
            };
        }
    }
}

fn fetch_into(url: &str, reference: Option<&str>, dest: &Path) -> Result<(), GitError> {
    let fetch_failed = |err: gix::Error| classify_fetch_error(url, reference, &err);
    let parent = match dest.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let scratch = tempfile::Builder::new()
        .prefix(".edge-fetch-")
        .tempdir_in(parent)
        .map_err(|source| GitError::Destination {
            path: parent.to_owned(),
            source,
        })?;
    let interrupt = AtomicBool::new(false);

    let mut prepare = gix::clone::PrepareFetch::new(
        url,
        scratch.path(),
        gix::create::Kind::Bare,
        gix::create::Options::default(),
        open_options(),
    )
    .map_err(fetch_failed)?
    .with_shallow(gix::remote::fetch::Shallow::DepthAtRemote(NonZeroU32::MIN))
    .configure_connection(configure_connection);
    if let Some(reference) = reference {
        prepare =
            prepare
                .with_ref_name(Some(reference))
                .map_err(|_| GitError::ReferenceNotFound {
                    url: url.to_owned(),
                    reference: reference.to_owned(),
                })?;
    }
    let (repo, _outcome) = prepare
        .fetch_only(gix::progress::Discard, &interrupt)
        .map_err(fetch_failed)?;

    let head = repo.head().map_err(fetch_failed)?;
    if head.is_unborn() {
        return Err(GitError::EmptyRepository {
            url: url.to_owned(),
        });
    }
    let tree = repo.head_tree_id().map_err(fetch_failed)?.detach();
    let mut index = repo.index_from_tree(&tree).map_err(fetch_failed)?;
    check_size(url, &repo, &index)?;

    let checkout_failed = |detail: String| GitError::Checkout {
        url: url.to_owned(),
        path: dest.to_owned(),
        detail,
    };
    let mut options = repo
        .checkout_options(gix::worktree::stack::state::attributes::Source::IdMapping)
        .map_err(|err| checkout_failed(describe(&err)))?;
    options.destination_is_initially_empty = true;
    options.thread_limit = Some(1);
    let objects = repo
        .objects
        .clone()
        .into_arc()
        .map_err(|err| checkout_failed(err.to_string()))?;
    let outcome = gix::worktree::state::checkout(
        &mut index,
        dest,
        objects,
        &gix::progress::Discard,
        &gix::progress::Discard,
        &interrupt,
        options,
    )
    .map_err(|err| checkout_failed(describe(&err)))?;
    if let Some(first) = outcome.errors.first() {
        return Err(checkout_failed(format!(
            "`{}`: {:#} ({} files failed)",
            first.path,
            first.error,
            outcome.errors.len()
        )));
    }
    if let Some(first) = outcome.collisions.first() {
        return Err(checkout_failed(format!(
            "`{}` collides with another path ({} collisions)",
            first.path,
            outcome.collisions.len()
        )));
    }
    // The limits were checked on the tree; this catches content that grew in
    // checkout filters.
    if outcome.bytes_written > MAX_PACKAGE_BYTES {
        return Err(GitError::TooLarge {
            url: url.to_owned(),
            detail: format!("checking out wrote {} bytes", outcome.bytes_written),
        });
    }
    drop(repo);
    scratch.close().map_err(|source| GitError::Destination {
        path: parent.to_owned(),
        source,
    })
}

/// Refuse trees over the limits before writing anything, using object headers
/// (sizes without inflating the content).
fn check_size(
    url: &str,
    repo: &gix::Repository,
    index: &gix::index::State,
) -> Result<(), GitError> {
    let too_large = |detail: String| GitError::TooLarge {
        url: url.to_owned(),
        detail,
    };
    let files = index.entries().len();
    if files > MAX_PACKAGE_FILES {
        return Err(too_large(format!("it has {files} files")));
    }
    let mut bytes = 0u64;
    for entry in index.entries() {
        if entry.mode == gix::index::entry::Mode::COMMIT {
            continue; // a submodule: nothing is checked out for it
        }
        let header = repo
            .find_header(entry.id)
            .map_err(|err| classify_fetch_error(url, None, &err))?;
        bytes = bytes.saturating_add(header.size());
        if bytes > MAX_PACKAGE_BYTES {
            return Err(too_large(format!("its files hold more than {bytes} bytes")));
        }
    }
    Ok(())
}

/// Give the HTTP client a connect timeout: `gix`'s reqwest backend ignores
/// `gitoxide.http.connectTimeout`, so it is set on the client builder.
fn configure_connection(
    connection: &mut gix::remote::Connection<'_, '_, '_, Box<dyn Transport + Send>>,
) -> gix::Result {
    let configure_client: Box<gix_http::reqwest::ConfigureClientFn> =
        Box::new(|builder: reqwest::blocking::ClientBuilder| {
            Ok(builder.connect_timeout(CONNECT_TIMEOUT))
        });
    let backend = gix_http::reqwest::Options {
        configure_client: Some(configure_client),
        configure_request: None,
    };
    let mut options = gix_http::Options::default();
    if let Some(url) = connection.remote().url(gix::remote::Direction::Fetch) {
        let url = url.to_bstring();
        if let Some(configured) = connection
            .remote()
            .repo()
            .transport_options(url.as_bstr(), None)?
            .and_then(|any| any.downcast::<gix_http::Options>().ok())
        {
            options = *configured;
        }
    }
    options.backend = Some(Arc::new(Mutex::new(backend)));
    connection.set_transport_options(Box::new(options));
    Ok(())
}

/// Turn a `gix` fetch error into the sentence the user needs.
fn classify_fetch_error(url: &str, reference: Option<&str>, err: &gix::Error) -> GitError {
    for cause in err.iter_errors() {
        if let Some(http) = cause.downcast_ref::<reqwest::Error>() {
            match http.status().map(|status| status.as_u16()) {
                Some(404 | 410) => {
                    return GitError::NotFound {
                        url: url.to_owned(),
                    };
                }
                Some(401 | 403) => {
                    return GitError::Unauthorized {
                        url: url.to_owned(),
                    };
                }
                _ => {}
            }
            if http.is_connect() || http.is_timeout() {
                let cause = root_cause(err);
                return GitError::Unreachable {
                    url: url.to_owned(),
                    detail: if http.is_timeout() {
                        format!("timed out ({cause})")
                    } else {
                        cause
                    },
                };
            }
        }
        if let Some(io) = cause.downcast_ref::<io::Error>()
            && matches!(
                io.kind(),
                io::ErrorKind::ConnectionRefused
                    | io::ErrorKind::TimedOut
                    | io::ErrorKind::HostUnreachable
                    | io::ErrorKind::NetworkUnreachable
            )
        {
            return GitError::Unreachable {
                url: url.to_owned(),
                detail: root_cause(err),
            };
        }
    }
    if let Some(reference) = reference
        && err.is_not_found()
    {
        return GitError::ReferenceNotFound {
            url: url.to_owned(),
            reference: reference.to_owned(),
        };
    }
    GitError::Fetch {
        url: url.to_owned(),
        detail: describe(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{PermissionsExt as _, symlink};
    use std::process::Command;

    fn author() -> Author {
        Author {
            name: "Edge Test".into(),
            email: "edge@example.org".into(),
        }
    }

    /// Run the real `git` CLI in `dir`, hermetic from the developer's config.
    fn git(dir: &Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn write(root: &Path, rela: &str, content: &str) {
        let path = root.join(rela);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, content).unwrap();
    }

    /// A work tree with a plain file, an executable, a symlink, an empty dir.
    fn populate(root: &Path) {
        write(root, "apps/hello/1.0.0/margo.yaml", "id: hello\n");
        write(root, "sites/s1/site.toml", "name = \"s1\"\n");
        write(root, "scripts/run.sh", "#!/bin/sh\necho hi\n");
        fs::set_permissions(
            root.join("scripts/run.sh"),
            fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        symlink("site.toml", root.join("sites/s1/current")).unwrap();
        fs::create_dir_all(root.join("empty/dir")).unwrap();
    }

    #[test]
    fn first_commit_records_modes_links_and_author_as_git_sees_them() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("ws");
        let repo = Repo::init_or_open(&dir).unwrap();
        assert_eq!(repo.head().unwrap(), None);
        assert!(repo.log(10).unwrap().is_empty());
        populate(&dir);

        let info = repo
            .commit_all("add hello\n\nbody", &author())
            .unwrap()
            .unwrap();

        assert_eq!(repo.head().unwrap().as_deref(), Some(info.id.as_str()));
        assert_eq!(git(&dir, &["rev-parse", "HEAD"]).trim(), info.id);
        assert_eq!(
            git(&dir, &["symbolic-ref", "HEAD"]).trim(),
            "refs/heads/main"
        );
        let tree = git(&dir, &["ls-tree", "-r", "HEAD"]);
        let entries: Vec<(&str, &str)> = tree
            .lines()
            .map(|line| {
                let (meta, path) = line.split_once('\t').unwrap();
                (meta.split(' ').next().unwrap(), path)
            })
            .collect();
        assert_eq!(
            entries,
            vec![
                ("100644", "apps/hello/1.0.0/margo.yaml"),
                ("100755", "scripts/run.sh"),
                ("120000", "sites/s1/current"),
                ("100644", "sites/s1/site.toml"),
            ]
        );
        assert_eq!(
            git(&dir, &["cat-file", "-p", "HEAD:sites/s1/current"]),
            "site.toml"
        );
        let log = git(&dir, &["log", "--format=%H%x00%an%x00%ae%x00%at%x00%B"]);
        let fields: Vec<&str> = log.trim_end().split('\0').collect();
        assert_eq!(
            fields,
            vec![
                info.id.as_str(),
                "Edge Test",
                "edge@example.org",
                info.time.to_string().as_str(),
                "add hello\n\nbody"
            ]
        );
        assert_eq!(info.message, "add hello\n\nbody");
        assert_eq!(
            git(&dir, &["status", "--porcelain", "--untracked-files=all"]),
            ""
        );
        git(&dir, &["fsck", "--strict", "--no-progress"]);
    }

    #[test]
    fn unchanged_tree_makes_no_commit_and_changes_make_a_child() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let repo = Repo::init_or_open(dir).unwrap();
        populate(dir);
        let first = repo.commit_all("one", &author()).unwrap().unwrap();
        assert_eq!(repo.commit_all("again", &author()).unwrap(), None);
        assert_eq!(repo.head().unwrap().as_deref(), Some(first.id.as_str()));

        // Only the mode changes: that is a change.
        fs::set_permissions(
            dir.join("scripts/run.sh"),
            fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        let second = repo
            .commit_all("not executable", &author())
            .unwrap()
            .unwrap();
        write(dir, "sites/s2/site.toml", "name = \"s2\"\n");
        fs::remove_file(dir.join("apps/hello/1.0.0/margo.yaml")).unwrap();
        let third = repo
            .commit_all("s2, drop hello", &author())
            .unwrap()
            .unwrap();

        let log = repo.log(10).unwrap();
        let ids: Vec<&str> = log.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(
            ids,
            vec![third.id.as_str(), second.id.as_str(), first.id.as_str()]
        );
        assert_eq!(log[0], third);
        assert_eq!(repo.log(2).unwrap().len(), 2);
        assert_eq!(repo.log(0).unwrap(), vec![]);
        let cli: Vec<String> = git(dir, &["log", "--format=%H"])
            .lines()
            .map(str::to_owned)
            .collect();
        assert_eq!(cli, ids);
        assert_eq!(
            git(dir, &["ls-tree", "-r", "--name-only", "HEAD"]),
            "scripts/run.sh\nsites/s1/current\nsites/s1/site.toml\nsites/s2/site.toml\n"
        );
        assert!(git(dir, &["ls-tree", "HEAD", "scripts/run.sh"]).starts_with("100644 "));
        assert_eq!(
            git(dir, &["status", "--porcelain", "--untracked-files=all"]),
            ""
        );
    }

    #[test]
    fn reopening_sees_the_same_history_and_nested_git_dirs_are_skipped() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        write(dir, "sites/s1/site.toml", "x = 1\n");
        write(dir, "vendor/lib/.git/HEAD", "ref: refs/heads/main\n");
        write(dir, "vendor/lib/file", "data\n");
        let first = Repo::init_or_open(dir)
            .unwrap()
            .commit_all("existing files", &author())
            .unwrap()
            .unwrap();
        let repo = Repo::init_or_open(dir).unwrap();
        assert_eq!(repo.head().unwrap(), Some(first.id.clone()));
        assert_eq!(repo.log(5).unwrap(), vec![first]);
        assert_eq!(
            git(dir, &["ls-tree", "-r", "--name-only", "HEAD"]),
            "sites/s1/site.toml\nvendor/lib/file\n"
        );
    }

    fn set_mtime(path: &Path, time: std::time::SystemTime) {
        fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(time)
            .unwrap();
    }

    #[test]
    fn unchanged_files_reuse_the_index_and_changed_ones_are_rehashed() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let repo = Repo::init_or_open(dir).unwrap();
        write(dir, "a.txt", "aaaa");
        write(dir, "b/c.txt", "cccc");
        // Old enough not to be racy against the index written next.
        let past = std::time::SystemTime::now() - Duration::from_secs(3600);
        set_mtime(&dir.join("a.txt"), past);
        set_mtime(&dir.join("b/c.txt"), past);
        let first = repo.commit_all("one", &author()).unwrap().unwrap();

        let handle = repo.open().unwrap();
        let index = handle.open_index().unwrap();
        for file in scan_work_tree(dir).unwrap() {
            let stat = gix::index::entry::Stat::from_fs(&file.meta).unwrap();
            let mode = gix::index::entry::Mode::FILE;
            assert!(unchanged(&handle, Some(&index), &file, mode, &stat).is_some());
        }

        // Same size, same mtime, new content: the changed ctime gives it away.
        write(dir, "a.txt", "AAAA");
        set_mtime(&dir.join("a.txt"), past);
        let second = repo.commit_all("two", &author()).unwrap().unwrap();
        assert_ne!(first.id, second.id);
        assert_eq!(git(dir, &["show", "HEAD:a.txt"]), "AAAA");
        assert_eq!(git(dir, &["status", "--porcelain"]), "");
    }

    #[test]
    fn a_shared_repo_takes_commits_from_many_threads() {
        fn shareable<T: Send + Sync>(_: &T) {}
        let tmp = tempfile::tempdir().unwrap();
        let repo = Repo::init_or_open(tmp.path()).unwrap();
        shareable(&repo);
        std::thread::scope(|scope| {
            for n in 0..4 {
                let repo = &repo;
                scope.spawn(move || {
                    write(repo.work_tree(), &format!("sites/s{n}/site.toml"), "x");
                    repo.commit_all(&format!("site {n}"), &author()).unwrap();
                });
            }
        });
        // Each thread's commit saw at least its own file; none failed.
        let log = repo.log(10).unwrap();
        assert!(!log.is_empty() && log.len() <= 4, "{log:?}");
        assert_eq!(
            git(tmp.path(), &["ls-tree", "-r", "--name-only", "HEAD"])
                .lines()
                .count(),
            4
        );
    }

    #[test]
    fn authors_that_would_corrupt_a_commit_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let repo = Repo::init_or_open(tmp.path()).unwrap();
        write(tmp.path(), "a", "a");
        for (name, email) in [
            ("", "a@b"),
            ("a<b", "a@b"),
            ("ok", "x>y"),
            ("two\nlines", "a@b"),
        ] {
            let author = Author {
                name: name.into(),
                email: email.into(),
            };
            let err = repo.commit_all("m", &author).unwrap_err();
            assert!(matches!(err, GitError::InvalidAuthor { .. }), "{err}");
        }
        assert_eq!(repo.head().unwrap(), None);
    }

    #[test]
    fn only_http_urls_are_fetched() {
        let tmp = tempfile::tempdir().unwrap();
        for url in [
            "ftp://x",
            "file:///tmp/repo",
            "ssh://host/repo",
            "git://host/repo",
            "host:repo",
            "/tmp/repo",
            "http://",
        ] {
            let err = fetch_package(url, None, &tmp.path().join("dest")).unwrap_err();
            assert!(
                matches!(err, GitError::UnsupportedUrl { .. }),
                "{url}: {err}"
            );
            assert!(err.to_string().contains(&format!("`{url}`")), "{err}");
        }
        assert!(!tmp.path().join("dest").exists());
    }

    #[test]
    fn a_non_empty_destination_is_refused_and_left_alone() {
        let tmp = tempfile::tempdir().unwrap();
        write(tmp.path(), "dest/keep", "mine");
        let err =
            fetch_package("http://127.0.0.1:9/x.git", None, &tmp.path().join("dest")).unwrap_err();
        assert!(matches!(err, GitError::DestinationNotEmpty { .. }), "{err}");
        assert_eq!(
            fs::read_to_string(tmp.path().join("dest/keep")).unwrap(),
            "mine"
        );
    }
}
