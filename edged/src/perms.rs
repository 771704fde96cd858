//! Private folders and files of a daemon's data folder: folders `0700`
//! (owner only) and files `0600`, made so when they are created and made
//! so again at every start (an older version left them `0755`/`0644`, and
//! a database's parameter values were readable by every local account).

#![cfg_attr(not(feature = "en"), allow(dead_code))]

use std::io;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::Path;

/// Owner only: read, write and enter.
pub(crate) const DIR: u32 = 0o700;
/// Others may enter to reach a path they are given, never list: a node's
/// data folder when workloads run as other accounts from below it.
#[cfg(feature = "en")]
pub(crate) const PASS_THROUGH: u32 = 0o711;

/// Make folder `path` (and its missing parents, `0700`) with `mode`, or
/// give an existing one `mode`.
///
/// # Errors
/// When it cannot be made or given its mode.
pub(crate) fn private_dir(path: &Path, mode: u32) -> io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR)
        .create(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

/// Make file `path` empty and `0600` when it is missing, else make it `0600`.
///
/// # Errors
/// When it cannot be made or given its mode.
pub(crate) fn private_file(path: &Path) -> io::Result<()> {
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)?
        .set_permissions(std::fs::Permissions::from_mode(0o600))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt as _;

    #[test]
    fn folders_and_files_are_made_private_and_made_private_again() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a").join("data");
        private_dir(&dir, DIR).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        let db = dir.join("x.db");
        private_file(&db).unwrap();
        assert_eq!(mode(&db), 0o600);
        std::fs::write(&db, b"kept").unwrap();
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        private_dir(&dir, DIR).unwrap();
        private_file(&db).unwrap();
        assert_eq!((mode(&dir), mode(&db)), (0o700, 0o600));
        assert_eq!(std::fs::read(&db).unwrap(), b"kept", "contents kept");
    }
}
