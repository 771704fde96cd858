//! Private by default: the CO's and LO's data folders are 0700 and the files
//! holding state (databases, keys, tokens) 0600, so parameter values,
//! reported status and secrets are not readable by other local users. A
//! folder or file found more open than that is closed at start, with a
//! warning naming it.

use std::fs;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::Path;

use anyhow::Context as _;

/// Create `dir` (and its parents) as 0700, or close an existing one to 0700.
pub(crate) fn private_dir(dir: &Path) -> anyhow::Result<()> {
    if !dir.exists() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("cannot create the data directory `{}`", dir.display()))?;
    }
    close(dir, 0o700)
}

/// Create `file` empty as 0600 if it is missing, or close it to 0600: done
/// before SQLite opens a database, whose journal files take its mode.
pub(crate) fn private_file(file: &Path) -> anyhow::Result<()> {
    if !file.exists() {
        fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(file)
            .with_context(|| format!("cannot create `{}`", file.display()))?;
    }
    close(file, 0o600)
}

fn close(path: &Path, mode: u32) -> anyhow::Result<()> {
    let meta =
        fs::symlink_metadata(path).with_context(|| format!("cannot read `{}`", path.display()))?;
    anyhow::ensure!(
        !meta.file_type().is_symlink(),
        "`{}` is a symbolic link; give the real path",
        path.display()
    );
    let now = meta.permissions().mode() & 0o777;
    if now & !mode != 0 {
        tracing::warn!(path = %path.display(), was = format!("{now:o}"), now = format!("{mode:o}"), "closing access to a data file or folder");
        fs::set_permissions(path, fs::Permissions::from_mode(mode))
            .with_context(|| format!("cannot change the mode of `{}`", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_become_0700_and_files_0600() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("a/b");
        private_dir(&data).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&data), 0o700);
        fs::set_permissions(&data, fs::Permissions::from_mode(0o755)).unwrap();
        private_dir(&data).unwrap();
        assert_eq!(mode(&data), 0o700);
        let db = data.join("x.db");
        private_file(&db).unwrap();
        assert_eq!(mode(&db), 0o600);
        fs::set_permissions(&db, fs::Permissions::from_mode(0o644)).unwrap();
        private_file(&db).unwrap();
        assert_eq!(mode(&db), 0o600);
        std::os::unix::fs::symlink(&db, data.join("link")).unwrap();
        assert!(private_file(&data.join("link")).is_err());
    }
}
