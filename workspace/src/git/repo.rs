//! [`Repo`]: the orchestrator's workspace repository. Commits snapshot the
//! whole work tree as it is on disk (reusing the previous index for files that
//! have provably not changed), and `log` and `head` read the history back.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use gix::bstr::{BString, ByteSlice};

use super::{Author, CommitInfo, GitError, describe, open_options, repository_error};

/// A non-bare Git repository whose work tree is the orchestrator's workspace.
///
/// Every change is a commit of the whole work tree on branch
/// [`BRANCH`](super::BRANCH). The value is only a checked path: each call
/// opens the repository afresh (a few small file reads), so it is cheap to
/// clone and share between threads, and it always sees commits made by other
/// `Repo` values.
#[derive(Debug, Clone)]
pub struct Repo {
    work_tree: PathBuf,
}

/// Commits in this process happen one at a time: the index and `HEAD` are
/// updated through lock files that fail rather than wait.
static COMMIT_LOCK: Mutex<()> = Mutex::new(());

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
        move |err| repository_error(action, &self.work_tree, &err)
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
        let mut index = gix::index::File::from_state(index, repo.index_path());

        let head = repo.head().map_err(self.failed("read `HEAD`"))?;
        let parent = head.id().map(gix::Id::detach);
        if let Some(parent) = parent {
            let parent_tree = repo
                .find_commit(parent)
                .and_then(|commit| commit.tree_id())
                .map_err(self.failed("read the `HEAD` commit"))?;
            if parent_tree == tree {
                index
                    .write(gix::index::write::Options::default())
                    .map_err(self.failed("write the index"))?;
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
        // The index only once the commit is made: a commit that fails (a
        // full disk) leaves it matching `HEAD`. Once made, the commit
        // stands; the index is a cache the next commit writes again, and a
        // stale one would describe the tree before, so it goes.
        if index.write(gix::index::write::Options::default()).is_err() {
            let _ = fs::remove_file(repo.index_path());
        }
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

    /// The full id of `rev`, a commit id (full or abbreviated hex, at least
    /// 4 digits) from `HEAD`'s history; anything else is `UnknownCommit`.
    pub fn resolve(&self, rev: &str) -> Result<String, GitError> {
        let unknown = || GitError::UnknownCommit {
            rev: rev.to_owned(),
        };
        // A commit id (or a start of one), or `HEAD~N`: nothing else of
        // Git's revision language reaches the parser.
        let hex = rev.len() >= 4 && rev.len() <= 40 && rev.bytes().all(|b| b.is_ascii_hexdigit());
        let back = rev == "HEAD"
            || rev.strip_prefix("HEAD~").is_some_and(|n| {
                (1..=4).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_digit())
            });
        if !hex && !back {
            return Err(unknown());
        }
        let repo = self.open()?;
        let id = repo
            .rev_parse_single(rev.as_bytes())
            .map_err(|_| unknown())?
            .detach();
        repo.find_commit(id).map_err(|_| unknown())?;
        let head = repo.head().map_err(self.failed("read `HEAD`"))?;
        let head_id = head.id().map(gix::Id::detach).ok_or_else(unknown)?;
        let reachable = repo
            .rev_walk([head_id])
            .all()
            .map_err(self.failed("walk the history"))?
            .filter_map(Result::ok)
            .any(|info| info.id == id);
        if reachable {
            Ok(id.to_string())
        } else {
            Err(unknown())
        }
    }

    /// Make the work tree hold exactly the files of `rev` (see
    /// [`Repo::resolve`]); returns its full id. Nothing is committed: the
    /// caller commits the restored tree as a new change, so history only
    /// grows.
    pub fn restore(&self, rev: &str) -> Result<String, GitError> {
        let full = self.resolve(rev)?;
        let unknown = || GitError::UnknownCommit {
            rev: rev.to_owned(),
        };
        let repo = self.open()?;
        let id = gix::ObjectId::from_hex(full.as_bytes()).map_err(|_| unknown())?;
        let commit = repo.find_commit(id).map_err(|_| unknown())?;
        let tree = commit
            .tree()
            .map_err(self.failed("read the commit's tree"))?;
        let mut recorder = gix::traverse::tree::Recorder::default();
        tree.traverse()
            .breadthfirst(&mut recorder)
            .map_err(self.failed("read the commit's tree"))?;
        let io_failed = |source: io::Error| GitError::ReadWorkTree {
            path: self.work_tree.clone(),
            source,
        };
        for entry in fs::read_dir(&self.work_tree).map_err(io_failed)? {
            let entry = entry.map_err(io_failed)?;
            if entry.file_name() == gix::discover::DOT_GIT_DIR {
                continue;
            }
            let path = entry.path();
            let result = if entry.file_type().map_err(io_failed)?.is_dir() {
                fs::remove_dir_all(&path)
            } else {
                fs::remove_file(&path)
            };
            result.map_err(io_failed)?;
        }
        for record in recorder.records {
            let rel = record.filepath.to_str_lossy().into_owned();
            if rel.split('/').any(|seg| {
                seg.is_empty() || seg == "." || seg == ".." || seg == gix::discover::DOT_GIT_DIR
            }) {
                continue;
            }
            let path = self.work_tree.join(&rel);
            if record.mode.is_tree() {
                fs::create_dir_all(&path).map_err(io_failed)?;
                continue;
            }
            if !record.mode.is_blob_or_symlink() {
                continue;
            }
            let blob = repo
                .find_blob(record.oid)
                .map_err(self.failed("read a file of the commit"))?;
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent).map_err(io_failed)?;
            }
            if record.mode.is_link() {
                std::os::unix::fs::symlink(blob.data.to_str_lossy().as_ref(), &path)
                    .map_err(io_failed)?;
            } else {
                fs::write(&path, &blob.data).map_err(io_failed)?;
                let mode = if record.mode.is_executable() {
                    0o755
                } else {
                    0o644
                };
                use std::os::unix::fs::PermissionsExt as _;
                fs::set_permissions(&path, fs::Permissions::from_mode(mode)).map_err(io_failed)?;
            }
        }
        Ok(id.to_string())
    }

    /// Take back `made`, the commit [`Repo::commit_all`] just returned, when
    /// what had to follow it failed (recording it elsewhere): the branch
    /// goes back to `made`'s parent (or is removed when `made` was the
    /// first commit), only while it still names `made`, and the index (a
    /// cache of the work tree) follows. Putting the work tree's files back
    /// is the caller's part. The commit's objects stay, unreachable.
    pub fn uncommit(&self, made: &str, author: &Author) -> Result<(), GitError> {
        use gix::refs::transaction::{Change, LogChange, PreviousValue, RefEdit, RefLog};
        let _serial = COMMIT_LOCK.lock().unwrap_or_else(PoisonError::into_inner);
        let repo = self.open()?;
        let not_ours = || GitError::UnknownCommit {
            rev: made.to_owned(),
        };
        let id = gix::ObjectId::from_hex(made.as_bytes()).map_err(|_| not_ours())?;
        let parent = repo
            .find_commit(id)
            .map_err(|_| not_ours())?
            .parent_ids()
            .next()
            .map(gix::Id::detach);
        let expected = PreviousValue::MustExistAndMatch(gix::refs::Target::Object(id));
        let change = match parent {
            Some(parent) => Change::Update {
                log: LogChange {
                    mode: RefLog::AndReference,
                    force_create_reflog: false,
                    message: "edgectl: a change that could not be recorded, taken back".into(),
                },
                expected,
                new: gix::refs::Target::Object(parent),
            },
            None => Change::Delete {
                expected,
                log: RefLog::AndReference,
            },
        };
        let name = format!("refs/heads/{}", super::BRANCH)
            .try_into()
            .map_err(|_| not_ours())?;
        let signature = gix::actor::Signature {
            name: author.name.as_str().into(),
            email: author.email.as_str().into(),
            time: gix::date::Time::now_local_or_utc(),
        };
        let mut time = gix::date::parse::TimeBuf::default();
        repo.edit_references_as(
            [RefEdit {
                change,
                name,
                deref: false,
            }],
            Some(signature.to_ref(&mut time)),
        )
        .map_err(self.failed("take back a commit"))?;
        // The index, a cache of the work tree, describes the commit taken
        // back: it becomes the parent's, or goes.
        let reset = parent
            .and_then(|p| repo.find_commit(p).ok()?.tree_id().ok())
            .and_then(|tree| repo.index_from_tree(&tree).ok())
            .and_then(|mut index| index.write(gix::index::write::Options::default()).ok());
        if reset.is_none() {
            let _ = fs::remove_file(repo.index_path());
        }
        Ok(())
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

#[cfg(test)]
mod tests;
