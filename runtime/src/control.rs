//! A workload's control folder (`workloads/<deployment>/<component>/`): the
//! files the daemon writes and reads back for it — its log, the copy of
//! the program it runs, a compose project — kept out of the workload's
//! reach. The folder belongs to the daemon and no one else may write it
//! (a folder an earlier version handed to a workload's account is taken
//! back); every file in it is opened relative to the folder's handle with
//! `O_NOFOLLOW`, and one that is not a plain file of the daemon's with a
//! single link is replaced, never followed. What a workload may write is
//! its own folder `work/` inside, made and handed over through the same
//! handle.

use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, Mode, OFlags};

/// The workload's own writable folder inside its control folder.
pub const WORK: &str = "work";

/// A control folder, open.
#[derive(Debug)]
pub struct ControlDir {
    fd: OwnedFd,
    path: PathBuf,
}

fn euid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// Refuse what is not a plain file of ours with one link.
fn ours(f: &File) -> io::Result<()> {
    let m = f.metadata()?;
    if !m.is_file() || m.nlink() != 1 || m.uid() != euid() {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "not a plain file of edged's (a link, or another account's)",
        ));
    }
    Ok(())
}

/// Open the log file `path` for appending: created `0600`, never through a
/// symbolic link, refused unless it is a plain file of the daemon's with one
/// link. Its folder must be a control folder (no one else may write it).
///
/// # Errors
/// When it cannot be opened, or is refused.
pub fn append_log(path: &Path) -> io::Result<File> {
    let fd = rustix::fs::open(
        path,
        OFlags::WRONLY | OFlags::APPEND | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )?;
    let f = File::from(fd);
    ours(&f)?;
    Ok(f)
}

impl ControlDir {
    /// Make (or take back) the control folder `path` with `mode` (no write
    /// bit for group or others is ever kept); its parents are made as
    /// needed, `0711` (a process workload's account passes through them,
    /// whichever component of a deployment came first), and must be the
    /// daemon's.
    ///
    /// # Errors
    /// When it cannot be made, opened, or taken back.
    pub fn make(path: &Path, mode: u32) -> io::Result<Self> {
        let mode = mode & 0o755;
        if let Some(parent) = path.parent() {
            use std::os::unix::fs::DirBuilderExt as _;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o711)
                .create(parent)?;
            // The deployment's folder, whatever the umask made of it.
            let m = std::fs::metadata(parent)?;
            if m.uid() == euid() && m.mode() & 0o7777 != 0o711 {
                std::fs::set_permissions(parent, std::fs::Permissions::from_mode(0o711))?;
            }
        }
        match rustix::fs::mkdir(path, Mode::from_raw_mode(mode)) {
            Ok(()) | Err(rustix::io::Errno::EXIST) => {}
            Err(e) => return Err(e.into()),
        }
        let fd = rustix::fs::open(
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let dir = File::from(fd);
        let m = dir.metadata()?;
        if m.uid() != euid() {
            std::os::unix::fs::fchown(&dir, Some(euid()), None)?;
        }
        if m.mode() & 0o7777 != mode {
            dir.set_permissions(std::fs::Permissions::from_mode(mode))?;
        }
        Ok(Self {
            fd: dir.into(),
            path: path.to_owned(),
        })
    }

    /// Its path.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Remove `name` in it (a file or a link; a missing one is fine).
    fn unlink(&self, name: &str) -> io::Result<()> {
        match rustix::fs::unlinkat(&self.fd, name, AtFlags::empty()) {
            Ok(()) | Err(rustix::io::Errno::NOENT) => Ok(()),
            Err(rustix::io::Errno::ISDIR) => {
                std::fs::remove_dir_all(self.path.join(name)).or_else(|e| match e.kind() {
                    io::ErrorKind::NotFound => Ok(()),
                    _ => Err(e),
                })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Write `bytes` into it as `name`, a new file `0600` (whatever was
    /// there is removed first, never written through); its path.
    ///
    /// # Errors
    /// When it cannot be written.
    pub fn write(&self, name: &str, bytes: &[u8]) -> io::Result<PathBuf> {
        use std::io::Write as _;
        self.unlink(name)?;
        let fd = rustix::fs::openat(
            &self.fd,
            name,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )?;
        let mut f = File::from(fd);
        f.write_all(bytes)?;
        f.sync_all()?;
        Ok(self.path.join(name))
    }

    /// Remove `name` from it, if it is there.
    ///
    /// # Errors
    /// When it is there and cannot be removed.
    pub fn remove(&self, name: &str) -> io::Result<()> {
        self.unlink(name)
    }

    /// Open its log file `name` for appending (see [`append_log`]); one that
    /// is a link or not the daemon's is replaced by a new, empty one.
    ///
    /// # Errors
    /// When it cannot be opened.
    pub fn log(&self, name: &str) -> io::Result<File> {
        let open = || {
            rustix::fs::openat(
                &self.fd,
                name,
                OFlags::WRONLY
                    | OFlags::APPEND
                    | OFlags::CREATE
                    | OFlags::NOFOLLOW
                    | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o600),
            )
            .map(File::from)
            .map_err(io::Error::from)
            .and_then(|f| ours(&f).map(|()| f))
        };
        open().or_else(|_| {
            self.unlink(name)?;
            open()
        })
    }

    /// Copy `from` into it as `name`, a new file (whatever was there is
    /// removed first, never written through): executable by the daemon, and
    /// by group `gid` when given (the account a workload runs as), writable
    /// by no one.
    ///
    /// # Errors
    /// When it cannot be read, written or given its mode.
    pub fn install(&self, name: &str, from: &Path, gid: Option<u32>) -> io::Result<PathBuf> {
        let mut src = File::open(from)?;
        self.unlink(name)?;
        let fd = rustix::fs::openat(
            &self.fd,
            name,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o700),
        )?;
        let mut f = File::from(fd);
        io::copy(&mut src, &mut f)?;
        f.sync_all()?;
        let mode = match gid {
            Some(g) => {
                std::os::unix::fs::fchown(&f, None, Some(g))?;
                0o550
            }
            None => 0o500,
        };
        f.set_permissions(std::fs::Permissions::from_mode(mode))?;
        Ok(self.path.join(name))
    }

    /// The workload's own folder [`WORK`] in it, made `0700` and given to
    /// `owner` (uid, gid) when one is named; a link there is replaced.
    ///
    /// # Errors
    /// When it cannot be made or handed over.
    pub fn work(&self, owner: Option<(u32, u32)>) -> io::Result<PathBuf> {
        let open = || {
            match rustix::fs::mkdirat(&self.fd, WORK, Mode::from_raw_mode(0o700)) {
                Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                Err(e) => return Err(io::Error::from(e)),
            }
            rustix::fs::openat(
                &self.fd,
                WORK,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map(File::from)
            .map_err(io::Error::from)
        };
        let dir = open().or_else(|_| {
            self.unlink(WORK)?;
            open()
        })?;
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::fchown(&dir, Some(uid), Some(gid))?;
        }
        dir.set_permissions(std::fs::Permissions::from_mode(0o700))?;
        Ok(self.path.join(WORK))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_in_a_control_folder_are_replaced_never_followed() {
        let tmp = tempfile::tempdir().unwrap();
        let victim = tmp.path().join("victim");
        std::fs::write(&victim, b"precious").unwrap();
        std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o600)).unwrap();
        let path = tmp.path().join("w").join("d").join("c");
        let sibling = ControlDir::make(&tmp.path().join("w").join("d").join("b"), 0o700).unwrap();
        assert_eq!(sibling.path().file_name().unwrap(), "b");
        let dir = ControlDir::make(&path, 0o711).unwrap();
        let parent = std::fs::metadata(path.parent().unwrap()).unwrap();
        assert_eq!(
            parent.mode() & 0o7777,
            0o711,
            "a deployment's folder is passable"
        );
        for name in ["output.log", "program", WORK] {
            std::os::unix::fs::symlink(&victim, path.join(name)).unwrap();
        }
        use std::io::Write as _;
        dir.log("output.log").unwrap().write_all(b"line\n").unwrap();
        let program = dir.install("program", &victim, None).unwrap();
        let work = dir.work(None).unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        let mode = std::fs::metadata(&victim).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o600, "the victim's mode is untouched");
        assert_eq!(std::fs::read(path.join("output.log")).unwrap(), b"line\n");
        assert_eq!(std::fs::read(&program).unwrap(), b"precious");
        assert!(std::fs::symlink_metadata(&work).unwrap().is_dir());
        assert_eq!(
            std::fs::metadata(&program).unwrap().mode() & 0o777,
            0o500,
            "nobody may write the program"
        );
        assert!(
            append_log(&path.join("link")).is_ok(),
            "a new log is made 0600"
        );
        std::os::unix::fs::symlink(&victim, path.join("link2")).unwrap();
        assert!(
            append_log(&path.join("link2")).is_err(),
            "never through a link"
        );
        assert_eq!(
            std::fs::metadata(&path).unwrap().mode() & 0o7777,
            0o711,
            "the folder keeps its mode"
        );
    }
}
