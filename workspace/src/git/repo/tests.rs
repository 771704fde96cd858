//! The repository's tests: commits, history, restore and take-back, against the real `git` CLI.

use super::*;
use crate::git::testkit::{author, git, populate, write};
use std::os::unix::fs::PermissionsExt as _;
use std::time::Duration;

#[test]
fn a_commit_taken_back_leaves_the_branch_and_a_clean_status_as_before() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ws");
    let repo = Repo::init_or_open(&dir).unwrap();
    write(&dir, "a.yaml", "a");
    let first = repo.commit_all("first", &author()).unwrap().unwrap();
    write(&dir, "b.yaml", "b");
    let second = repo.commit_all("second", &author()).unwrap().unwrap();
    repo.uncommit(&second.id, &author()).unwrap();
    assert_eq!(repo.head().unwrap().as_deref(), Some(first.id.as_str()));
    std::fs::remove_file(dir.join("b.yaml")).unwrap();
    assert_eq!(git(&dir, &["status", "--porcelain"]), "");
    // Only while the branch still names it.
    assert!(repo.uncommit(&second.id, &author()).is_err());
    assert_eq!(repo.head().unwrap().as_deref(), Some(first.id.as_str()));
    // The first commit taken back: no commit at all, as before it.
    repo.uncommit(&first.id, &author()).unwrap();
    assert_eq!(repo.head().unwrap(), None);
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
fn restore_brings_back_an_old_tree_as_a_new_commit() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Repo::init_or_open(dir.path()).unwrap();
    populate(dir.path());
    let first = repo.commit_all("first", &author()).unwrap().unwrap();
    write(dir.path(), "apps/hello/1.0.0/margo.yaml", "id: changed\n");
    write(dir.path(), "extra.txt", "new\n");
    fs::remove_file(dir.path().join("scripts/run.sh")).unwrap();
    repo.commit_all("second", &author()).unwrap().unwrap();

    assert_eq!(repo.resolve(&first.id[..8]).unwrap(), first.id);
    let restored = repo.restore(&first.id[..10]).unwrap();
    assert_eq!(restored, first.id);
    let third = repo.commit_all("roll back", &author()).unwrap().unwrap();
    assert_eq!(
        git(dir.path(), &["rev-parse", "HEAD^{tree}"]),
        git(
            dir.path(),
            &["rev-parse", &format!("{}^{{tree}}", first.id)]
        )
    );
    assert_eq!(repo.log(10).unwrap().len(), 3, "history only grows");
    assert_eq!(third.message, "roll back");
    assert!(!dir.path().join("extra.txt").exists());
    assert_eq!(
        fs::read_to_string(dir.path().join("apps/hello/1.0.0/margo.yaml")).unwrap(),
        "id: hello\n"
    );
    assert_eq!(
        fs::metadata(dir.path().join("scripts/run.sh"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o755
    );
    assert!(git(dir.path(), &["status", "--porcelain"]).is_empty());

    // `HEAD~N` counts back from the newest commit.
    assert_eq!(repo.restore("HEAD~2").unwrap(), first.id);
    for bad in [
        "HEAD~",
        "HEAD~x",
        "HEAD^",
        "HEAD~99999",
        "HEAD~9",
        "zz",
        "0000000000",
        "--help",
    ] {
        assert!(
            matches!(repo.restore(bad), Err(GitError::UnknownCommit { .. })),
            "{bad}"
        );
    }
}
