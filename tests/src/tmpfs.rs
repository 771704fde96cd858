//! A small tmpfs mounted for one test, so a daemon's data folder can run
//! out of space on demand: [`Tmpfs::mount`] (root only; `None` when the
//! host does not let us mount, and the test says so loudly), [`Tmpfs::fill`]
//! to take all but a few bytes with a filler file, [`Tmpfs::free`] to give
//! them back. Dropping it unmounts (lazily, so a daemon still holding files
//! there cannot keep it mounted).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A mounted tmpfs.
pub struct Tmpfs {
    /// The mount point.
    pub dir: PathBuf,
}

impl Tmpfs {
    /// Mount a tmpfs of `bytes` at `dir` (created). `None`, with a loud
    /// line on stderr, when mounting is not permitted here.
    ///
    /// # Panics
    /// When `dir` cannot be made.
    #[must_use]
    #[allow(clippy::print_stderr)] // a skipped test must say so where it runs
    pub fn mount(dir: &Path, bytes: u64) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o"])
            .arg(format!("size={bytes},mode=0700"))
            .arg("tmpfs")
            .arg(dir)
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Tmpfs {
                dir: dir.to_path_buf(),
            }),
            Ok(o) => {
                eprintln!(
                    "!!!!! SKIPPED: cannot mount a tmpfs at {} (root and CAP_SYS_ADMIN needed): {}",
                    dir.display(),
                    String::from_utf8_lossy(&o.stderr).trim()
                );
                None
            }
            Err(e) => {
                eprintln!("!!!!! SKIPPED: cannot run mount: {e}");
                None
            }
        }
    }

    /// Make it `bytes` big (a remount; what it holds stays).
    ///
    /// # Panics
    /// When the remount fails.
    pub fn resize(&self, bytes: u64) {
        let out = Command::new("mount")
            .args(["-o"])
            .arg(format!("remount,size={bytes}"))
            .arg(&self.dir)
            .output()
            .unwrap_or_else(|e| panic!("cannot run mount: {e}"));
        assert!(
            out.status.success(),
            "remount of {}: {}",
            self.dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Bytes free now.
    ///
    /// # Panics
    /// When `df` cannot run.
    #[must_use]
    pub fn available(&self) -> u64 {
        let out = Command::new("df")
            .args(["--output=avail", "-B1"])
            .arg(&self.dir)
            .output()
            .unwrap_or_else(|e| panic!("df: {e}"));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .nth(1)
            .and_then(|l| l.trim().parse().ok())
            .unwrap_or(0)
    }

    fn filler(&self) -> PathBuf {
        self.dir.join("filler")
    }

    /// Fill the tmpfs with a filler file until at most `leave` bytes are
    /// free (tmpfs counts whole pages). Returns the bytes free after.
    ///
    /// # Panics
    /// On an I/O error other than running out of space.
    pub fn fill(&self, leave: u64) -> u64 {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.filler())
            .unwrap_or_else(|e| panic!("filler: {e}"));
        let page = vec![0x5a_u8; 4096];
        loop {
            let free = self.available();
            if free <= leave {
                return free;
            }
            let n = usize::try_from((free - leave).min(1 << 20)).unwrap_or(4096);
            let chunk: Vec<u8> = page.iter().copied().cycle().take(n).collect();
            match f.write_all(&chunk).and_then(|()| f.flush()) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(28) => return self.available(),
                Err(e) => panic!("filler: {e}"),
            }
        }
    }

    /// Remove the filler file; the bytes free after.
    pub fn free(&self) -> u64 {
        let _ = std::fs::remove_file(self.filler());
        self.available()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}
