//! One daemon per data folder: an exclusive advisory lock (`flock`) on the
//! file `lock` in it, taken before anything else in the folder is opened
//! and held for the life of the process (the kernel lets go of it when the
//! process ends, a `kill -9` too). The holder writes its pid into the file,
//! so a second start names who holds the folder; it changes nothing there.
//!
//! A start that fails leaves no folder behind that it made itself: the
//! folders [`DataLock::take`] created, and the lock file when it made it,
//! go again on [`DataLock::abandon`] while nothing else is in them. A
//! folder that existed before stays.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{Read as _, Seek as _, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use rustix::fs::{FlockOperation, flock};

/// The lock file's name in a data folder.
pub(crate) const FILE: &str = "lock";

/// A data folder held by this process.
#[derive(Debug)]
pub(crate) struct DataLock {
    /// Open, locked: closing it lets go of the folder.
    _file: File,
    dir: PathBuf,
    /// Whether this start made the lock file.
    made_file: bool,
    /// The folders this start made, outermost first.
    made_dirs: Vec<PathBuf>,
}

impl DataLock {
    /// Make `dir` (and its missing parents) if needed and lock it. Folders
    /// get the process's default mode, as `mkdir -p` gives them: each mode
    /// makes its own folder private at start (`crate::perms`), and a demo's
    /// folder must let a node's workload accounts pass.
    ///
    /// # Errors
    /// When another process holds it (naming its pid), or it cannot be made
    /// or locked.
    pub(crate) fn take(dir: &Path) -> anyhow::Result<Self> {
        let made_dirs = make_dirs(dir)?;
        let path = dir.join(FILE);
        let made_file = !path.exists();
        let opened = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path);
        let mut file = match opened {
            Ok(f) => f,
            Err(e) => {
                undo(&path, made_file, &made_dirs);
                return Err(e).with_context(|| format!("cannot open `{}`", path.display()));
            }
        };
        if let Err(e) = flock(&file, FlockOperation::NonBlockingLockExclusive) {
            if e == rustix::io::Errno::WOULDBLOCK {
                anyhow::bail!(
                    "the data folder `{}` is in use by another edged ({}); stop that one first, or give this one another `--data` folder",
                    dir.display(),
                    holder(&mut file)
                );
            }
            undo(&path, made_file, &made_dirs);
            anyhow::bail!("cannot lock the data folder `{}`: {e}", dir.display());
        }
        // Ours now: say who holds it.
        let said = file
            .set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| writeln!(file, "{}", std::process::id()));
        if let Err(e) = said {
            undo(&path, made_file, &made_dirs);
            return Err(e).with_context(|| format!("cannot write `{}`", path.display()));
        }
        Ok(Self {
            _file: file,
            dir: dir.to_path_buf(),
            made_file,
            made_dirs,
        })
    }

    /// The start failed: take back the lock file and the folders this
    /// start made, those that hold nothing else.
    pub(crate) fn abandon(self) {
        undo(&self.dir.join(FILE), self.made_file, &self.made_dirs);
    }
}

/// Who holds a lock file, as its pid says.
fn holder(file: &mut File) -> String {
    let mut text = String::new();
    let _ = file.read_to_string(&mut text);
    match text.trim().parse::<u32>() {
        Ok(pid) => format!("pid {pid}"),
        Err(_) => "its pid is not written yet".to_owned(),
    }
}

/// Make `dir` and its missing parents; the ones made, outermost first.
fn make_dirs(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let missing: Vec<PathBuf> = dir
        .ancestors()
        .take_while(|d| !d.as_os_str().is_empty() && !d.exists())
        .map(Path::to_path_buf)
        .collect();
    let mut made = Vec::new();
    for d in missing.into_iter().rev() {
        match DirBuilder::new().create(&d) {
            Ok(()) => made.push(d),
            // Made meanwhile by someone else: theirs, not ours.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                undo(Path::new(""), false, &made);
                return Err(e)
                    .with_context(|| format!("cannot create the data folder `{}`", d.display()));
            }
        }
    }
    Ok(made)
}

/// Remove the lock file when this start made it, then the folders it made,
/// innermost first, each only when empty.
fn undo(file: &Path, made_file: bool, made_dirs: &[PathBuf]) {
    if made_file {
        let _ = std::fs::remove_file(file);
    }
    for d in made_dirs.iter().rev() {
        // Fails, and keeps the folder, when anything is in it.
        if std::fs::remove_dir(d).is_err() {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_naming_the_holder_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("a/b/data");
        let held = DataLock::take(&data).unwrap();
        let before = std::fs::read_to_string(data.join(FILE)).unwrap();
        assert_eq!(before.trim(), std::process::id().to_string());
        // flock locks belong to an open file: a second open of the same
        // file, in this process too, is refused.
        let e = DataLock::take(&data).unwrap_err().to_string();
        assert!(
            e.contains(&format!("`{}` is in use", data.display()))
                && e.contains(&format!("pid {}", std::process::id())),
            "{e}"
        );
        assert_eq!(std::fs::read_to_string(data.join(FILE)).unwrap(), before);
        drop(held);
        // Let go of when closed.
        DataLock::take(&data).unwrap();
    }

    #[test]
    fn abandoning_removes_only_what_this_start_made_and_left_empty() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("new/data");
        DataLock::take(&data).unwrap().abandon();
        assert!(!dir.path().join("new").exists());

        // A folder that was there stays, as it was.
        let old = dir.path().join("old");
        std::fs::create_dir(&old).unwrap();
        DataLock::take(&old).unwrap().abandon();
        assert!(old.is_dir());
        assert_eq!(std::fs::read_dir(&old).unwrap().count(), 0);

        // A made folder with something in it stays.
        let used = dir.path().join("used");
        let lock = DataLock::take(&used).unwrap();
        std::fs::write(used.join("edged.db"), b"x").unwrap();
        lock.abandon();
        assert!(used.join("edged.db").is_file());
        assert!(!used.join(FILE).exists());
    }
}
