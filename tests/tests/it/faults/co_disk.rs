//! The CO's data folder on a small tmpfs, filled so that a deploy runs out
//! of space part-way: with nothing left, then with a few pages left, then a
//! few more, so the deploy fails at each of its writes in turn (the
//! deployment file, the Git objects and the commit, the database) until
//! there is room enough for all of it; then the same for a change in place
//! (`co set`), which rewrites a deployment's file.
//!
//! Nothing half done: each refused deploy is a clear error (`edgectl` exits
//! 1 with one sentence that says the disk is full, no panic), and the CO
//! holds exactly what it held before: the same deployments, no rollout, the
//! site repository at the same commit with a clean work tree, and
//! `git fsck --strict` passes on it and on the workspace. Once the filler
//! is deleted the same change succeeds, once.

use std::collections::BTreeSet;

use edge_tests::co::{Co, git, ok};
use edge_tests::fleet;
use edge_tests::tmpfs::Tmpfs;
use serde_json::Value;

use super::alive;

/// The tmpfs: room for the CO's workspace, CA, database and one site.
const SIZE: u64 = 32 << 20;
/// Bytes left free on each try, in pages: the deploy fails at a later
/// write each time, until it fits.
const LEAVE_PAGES: [u64; 16] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 16, 24, 32, 64];

#[test]
fn a_deploy_that_finds_the_co_s_disk_full_is_refused_whole_and_succeeds_after() {
    let dir = tempfile::tempdir().unwrap();
    let Some(disk) = Tmpfs::mount(&dir.path().join("co-disk"), SIZE) else {
        return;
    };
    let co = Co::start(&disk.dir.join("co"), &[]);
    co.add_app("fixtures/packages/hello-wasm");
    ok(&co.edgectl(&["co", "add", "site", "plant-1"]));
    ok(&co.edgectl(&["co", "add", "device", "edge-1", "--site", "plant-1"]));
    let first = deploy(&co, "first");
    assert_eq!(first.status.code(), Some(0), "{}", co.log());
    let first: Value = serde_json::from_slice(&first.stdout).unwrap();
    let first = first[0]["id"].as_str().unwrap().to_owned();
    let site = co.data.join("sites/plant-1");
    let before = deployments(&co);

    // A new deployment (a file created).
    refused_whole_until_it_fits(&co, &disk, &site, "deploy", || deploy(&co, "second"));
    let after = deployments(&co);
    assert_eq!(after.len(), before.len() + 1, "{after:?}");
    // A change in place (a file rewritten).
    refused_whole_until_it_fits(&co, &disk, &site, "set", || {
        co.edgectl(&["co", "set", &first, "greeting=full disk"])
    });
    assert_eq!(deployments(&co), after);
}

/// Run `change` with less and less room left ([`LEAVE_PAGES`]) until it
/// succeeds: each refusal must be clear and leave nothing half done; then,
/// with room again, it must succeed (if it has not yet) with a commit.
#[allow(clippy::print_stderr)] // where each try failed, for the test's log
fn refused_whole_until_it_fits(
    co: &Co,
    disk: &Tmpfs,
    site: &std::path::Path,
    what: &str,
    change: impl Fn() -> std::process::Output,
) {
    let head = git(site, &["rev-parse", "HEAD"]);
    let before = deployments(co);
    let mut refused = 0;
    let mut done = false;
    for pages in LEAVE_PAGES {
        disk.free();
        let left = disk.fill(pages * 4096);
        let logged = co.log().len();
        let o = change();
        if o.status.success() {
            eprintln!("faults::co_disk: {what} fits in {left} bytes");
            done = true;
            break;
        }
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        let log = co.log();
        let cause = log[logged..]
            .lines()
            .find(|l| l.contains("out of disk space"))
            .unwrap_or("no cause logged");
        eprintln!(
            "faults::co_disk: {what}, {left} bytes left: {}\n  {cause}",
            err.trim()
        );
        disk.free();
        nothing_half_done(co, site, &head, &before, &err);
        refused += 1;
    }
    assert!(
        refused > 0,
        "{what} never met a full disk: the test proves nothing"
    );
    disk.free();
    if !done {
        let o = change();
        assert!(
            o.status.success(),
            "{what} after freeing space: {}\n{}",
            String::from_utf8_lossy(&o.stderr),
            co.log()
        );
    }
    assert_ne!(
        git(site, &["rev-parse", "HEAD"]),
        head,
        "{what} made no commit"
    );
    fsck(co, site);
}

/// `co deploy` of hello-wasm to edge-1 named `name`, as run.
fn deploy(co: &Co, name: &str) -> std::process::Output {
    co.edgectl(&[
        "co",
        "deploy",
        "--app",
        "hello-wasm",
        "--site",
        "plant-1",
        "--device",
        "edge-1",
        "--allow-unreported",
        "--name",
        name,
        "-o",
        "json",
    ])
}

/// The ids of the CO's deployments.
fn deployments(co: &Co) -> BTreeSet<String> {
    fleet::deployments(co)
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_owned())
        .collect()
}

/// A refused deploy: a clear error, and the CO as it was.
fn nothing_half_done(
    co: &Co,
    site: &std::path::Path,
    head: &str,
    before: &BTreeSet<String>,
    err: &str,
) {
    assert!(err.starts_with("error: "), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        err.contains("disk") || err.contains("space"),
        "the error says the disk is full: {err}\n{}",
        co.log()
    );
    assert!(alive(co.pid().unwrap()), "{}", co.log());
    assert_eq!(&deployments(co), before, "{}", co.log());
    let rollouts = ok(&co.edgectl(&["co", "rollout", "list", "-o", "json"]));
    assert_eq!(
        serde_json::from_str::<Value>(&rollouts).unwrap(),
        Value::Array(Vec::new()),
        "{rollouts}"
    );
    assert_eq!(git(site, &["rev-parse", "HEAD"]), head, "{}", co.log());
    assert_eq!(
        git(site, &["status", "--porcelain", "--untracked-files=all"]),
        "",
        "nothing half written in the site's work tree"
    );
    fsck(co, site);
}

fn fsck(co: &Co, site: &std::path::Path) {
    // `git` asserts that it exits 0.
    let _ = git(site, &["fsck", "--strict", "--no-progress"]);
    let _ = git(
        &co.data.join("workspace"),
        &["fsck", "--strict", "--no-progress"],
    );
}
