//! `edgectl en logs` with `--tail` and `--since` against a real edge node
//! attached to a real CO, running a process workload that writes its lines
//! when the test tells it to (a file in its work folder), so "since" has a
//! before and an after.

use std::io::BufRead as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::mpsc::channel;
use std::time::Duration;

use edge_tests::co::{Co, copy_tree, ok};
use edge_tests::en::En;
use edge_tests::fleet::{deploy_to, enroll_direct, fixture, row, south_url};
use edge_tests::wait::until_or;

/// The workload: 30 early lines, two late ones once `go` appears in its
/// work folder, one more once `more` does.
const SCRIPT: &str = r#"#!/bin/sh
trap 'exit 0' TERM INT
i=1
while [ "$i" -le 30 ]; do echo "early $i"; i=$((i + 1)); done
while [ ! -e go ]; do sleep 0.1; done
echo "late 1"
echo "late 2"
while [ ! -e more ]; do sleep 0.1; done
echo "more 1"
while :; do sleep 1 & wait $!; done
"#;

/// The `logger` app: hello-process running [`SCRIPT`].
pub(crate) fn logger_package(dir: &Path) -> PathBuf {
    let pkg = dir.join("logger");
    copy_tree(&fixture("hello-process"), &pkg);
    let script = pkg.join("components/hello.sh");
    std::fs::write(&script, SCRIPT).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let yaml = std::fs::read_to_string(pkg.join("margo.yaml"))
        .unwrap()
        .replace("id: hello-process\n", "id: logger\n");
    std::fs::write(pkg.join("margo.yaml"), yaml).unwrap();
    pkg
}

/// Unix seconds as RFC 3339 (by `date`, as a user would write it).
pub(crate) fn rfc3339(secs: u64) -> String {
    let o = std::process::Command::new("date")
        .args(["-u", "-d", &format!("@{secs}"), "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .unwrap();
    String::from_utf8(o.stdout).unwrap().trim().to_owned()
}

pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn logs_tail_and_since_on_a_real_node() {
    let dir = tempfile::tempdir().unwrap();
    let co = Co::start(&dir.path().join("co"), &[]);
    co.add_app(logger_package(dir.path()).to_str().unwrap());
    ok(&co.edgectl(&["co", "add", "site", "plant-1"]));
    ok(&co.edgectl(&["co", "add", "device", "edge-1", "--site", "plant-1"]));
    let creds = enroll_direct(&co, dir.path(), "plant-1", "edge-1");
    let en = En::start(&creds, &dir.path().join("en"), &south_url(&creds), &[]);
    let log = || format!("--- CO\n{}\n--- EN\n{}", co.log(), en.log());
    let id = deploy_to(&co, "logger", "edge-1", &[]);
    until_or(
        "the logger installed on the node",
        || row(&en, &id).filter(|r| r["state"] == "installed"),
        log,
    );
    let logs = |args: &[&str]| {
        let mut all = vec!["logs", "logger"];
        all.extend(args);
        ok(&en.edgectl(&all))
    };
    until_or(
        "the early lines",
        || logs(&[]).contains("early 30\n").then_some(()),
        log,
    );
    let work = en.data.join("workloads").join(&id).join("hello/work");

    // The last lines, exactly.
    assert_eq!(logs(&["--tail", "3"]), "early 28\nearly 29\nearly 30\n");
    assert_eq!(logs(&["-n", "0"]), "");
    let all = logs(&["--since", "1h"]);
    assert!(
        all.starts_with("early 1\n") && all.ends_with("early 30\n"),
        "{all}"
    );

    // A time after the early lines, once the node has noted them.
    let since = until_or(
        "a time the early lines come before",
        || {
            let t = rfc3339(unix_now());
            logs(&["--since", &t]).is_empty().then_some(t)
        },
        log,
    );
    std::fs::write(work.join("go"), "").unwrap();
    until_or(
        "the late lines since then",
        || (logs(&["--since", &since]) == "late 1\nlate 2\n").then_some(()),
        log,
    );
    assert_eq!(logs(&["--since", &since, "--tail", "1"]), "late 2\n");
    assert_eq!(logs(&["--tail", "2"]), "late 1\nlate 2\n");

    // Following from the last line: what it writes next arrives.
    let mut child = std::process::Command::new(edge_tests::co::bin("edgectl"))
        .args(["en", "logs", "logger", "--follow", "--tail", "1", "--data"])
        .arg(&en.data)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, lines) = channel();
    let out = std::io::BufReader::new(child.stdout.take().unwrap());
    std::thread::spawn(move || {
        for line in out.lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let next = |what: &str| {
        lines
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("no line from --follow: {what}"))
    };
    assert_eq!(next("the last line"), "late 2");
    std::fs::write(work.join("more"), "").unwrap();
    assert_eq!(next("the line written next"), "more 1");
    let _ = child.kill();
    let _ = child.wait();

    // Bad values are usage errors that ask nothing of the node.
    for bad in [
        &["--since", "yesterday"][..],
        &["--tail", "x"][..],
        &["--since", "2026-02-30T00:00:00Z"][..],
    ] {
        let mut args = vec!["logs", "logger"];
        args.extend(bad);
        let o = en.edgectl(&args);
        assert_eq!(o.status.code(), Some(2), "{bad:?}");
    }
    let o = en.edgectl(&["logs", "logger", "--since", "yesterday"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("write 90s, 5m, 1h, 2d"), "{err}");
}
