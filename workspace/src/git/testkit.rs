//! Fixtures shared by the `git` unit tests: a test author, a hermetic `git`
//! command line to check results against, and helpers that write work trees.

use std::fs;
use std::os::unix::fs::{PermissionsExt as _, symlink};
use std::path::Path;
use std::process::Command;

use super::Author;

pub(super) fn author() -> Author {
    Author {
        name: "Edge Test".into(),
        email: "edge@example.org".into(),
    }
}

/// Run the real `git` CLI in `dir`, hermetic from the developer's config.
pub(super) fn git(dir: &Path, args: &[&str]) -> String {
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

pub(super) fn write(root: &Path, rela: &str, content: &str) {
    let path = root.join(rela);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, content).unwrap();
}

/// A work tree with a plain file, an executable, a symlink, an empty dir.
pub(super) fn populate(root: &Path) {
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
