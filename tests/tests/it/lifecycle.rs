//! Starting and stopping daemons: a CO with a `co watch` client stops at
//! once on SIGTERM and the watch says why it ended; a second signal ends a
//! drain at once; an LO answers its nodes' long polls when it stops. One
//! daemon per data folder (a CO's, a demo's and its parts'); `edged`
//! without a mode teaches the modes; a start that fails leaves no folder
//! it made behind. Nothing is logged as an error when Git answers before
//! it read a request, nor when a Ctrl-C stops a CO serving an LO.

use std::io::{BufRead as _, Read as _};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use edge_tests::co::{Co, Daemon, bin, fails, ok};
use edge_tests::fleet::{deploy_hello, enroll, fleet, south_url};
use edge_tests::lo::{Lo, Margo};
use edge_tests::wait::{EVERY, LIMIT, until_or, within};

/// A process a test started, killed when the test ends however it ends.
struct Started(Child);

impl Drop for Started {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The lines a process prints on stdout, as they come.
fn lines(child: &mut Child) -> Receiver<String> {
    let out = std::io::BufReader::new(child.stdout.take().unwrap());
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in out.lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// How long a stop may take when nothing holds it up: well under the 10 s
/// the listeners give requests in flight.
const PROMPT: Duration = Duration::from_secs(5);

#[test]
fn a_co_with_a_watcher_stops_at_once_and_the_watch_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let co = Co::start(&dir.path().join("co"), &[]);
    let mut watch = Started(
        co.edgectl_command(&["co", "watch", "--since", "0", "-o", "json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let printed = lines(&mut watch.0);
    // The watch is connected once it printed what happened after it started.
    ok(&co.edgectl(&["co", "add", "site", "plant-1"]));
    let first = printed
        .recv_timeout(LIMIT)
        .unwrap_or_else(|_| panic!("the watch printed nothing\n{}", co.log()));
    let id = serde_json::from_str::<serde_json::Value>(&first).unwrap()["id"]
        .as_u64()
        .unwrap();

    let asked = Instant::now();
    let status = co.stop();
    assert!(status.success(), "{status:?}");
    assert!(
        asked.elapsed() < PROMPT,
        "the CO took {:?} to stop: the drain waited for the event stream",
        asked.elapsed()
    );
    let ended = within(LIMIT, EVERY, || watch.0.try_wait().unwrap())
        .unwrap_or_else(|| panic!("the watch kept running after the CO stopped"));
    let mut err = String::new();
    watch
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(ended.code(), Some(1), "{err}");
    assert!(
        err.starts_with("error: the central orchestrator at https://127.0.0.1:")
            && err.contains("is shutting down; the watch ended"),
        "{err}"
    );
    assert!(err.contains(&format!("co watch --since {id}")), "{err}");
}

#[test]
fn a_second_signal_ends_a_drain_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut co = Co::start(&dir.path().join("co"), &[]);
    // An app source that takes the connection and never answers: the
    // request adding it stays in flight, and the drain waits for it.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    silent.set_nonblocking(true).unwrap();
    let url = format!("http://{}/app.git", silent.local_addr().unwrap());
    let _adding = Started(
        co.edgectl_command(&["co", "add", "app", "--artifact", &url])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let _held = until_or(
        "the CO to fetch the app",
        || silent.accept().ok(),
        || co.log(),
    );

    co.signal("TERM");
    until_or(
        "the CO to start draining",
        || co.log().contains("termination signal").then_some(()),
        || co.log(),
    );
    assert!(
        co.exited(Duration::from_millis(300)).is_none(),
        "the drain waits for the request in flight"
    );
    let asked = Instant::now();
    co.signal("TERM");
    let status = co
        .exited(PROMPT)
        .unwrap_or_else(|| panic!("a second SIGTERM did not end the CO\n{}", co.log()));
    assert_eq!(status.code(), Some(1), "{}", co.log());
    assert!(asked.elapsed() < PROMPT);
    until_or(
        "the CO to say why it exits",
        || {
            co.log()
                .contains("a second termination signal: exiting at once")
                .then_some(())
        },
        || co.log(),
    );
}

#[test]
fn an_lo_answers_its_long_polls_when_it_stops() {
    let f = fleet();
    let lo = Lo::start(
        &f.lo_creds,
        &f.dir.path().join("lo"),
        &["--log", "info,edged::south::margo=debug"],
    );
    let margo = Margo::new(&f.d1, &lo.url, "plant-1");
    // As a node polls: with the ETag held, again after each new manifest
    // (the LO's first views may still change), until an answer is a 304.
    let poll = std::thread::spawn(move || {
        let mut etag = String::new();
        loop {
            let answer = margo.send(
                "GET",
                "/api/v1/deployments",
                &[("if-none-match", &etag), ("prefer", "wait=60")],
                None,
            )?;
            if answer.status != 200 {
                return Ok::<_, String>(answer);
            }
            etag = answer.header("etag").unwrap_or_default().to_owned();
        }
    });
    until_or(
        "the long poll to wait",
        || {
            lo.log()
                .contains("manifest long poll waiting")
                .then_some(())
        },
        || lo.log(),
    );
    let asked = Instant::now();
    let status = lo.stop();
    assert!(status.success(), "{status:?}");
    assert!(asked.elapsed() < PROMPT, "took {:?}", asked.elapsed());
    let answer = poll.join().unwrap().expect("the long poll was answered");
    assert_eq!(answer.status, 304, "{answer:?}");
}

/// Every path under `dir`, relative, sorted.
fn listing(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let path = e.path();
            out.push(path.strip_prefix(root).unwrap().display().to_string());
            if e.file_type().unwrap().is_dir() {
                walk(root, &path, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// `edged ARGS`, a start that must end by itself (within 20 s; one that
/// serves instead is killed and fails the test).
fn edged(args: &[&str], cwd: &Path) -> Output {
    let mut child = Started(
        Command::new(bin("edged"))
            .args(args)
            .current_dir(cwd)
            .env_remove("EDGED_MODE")
            .env_remove("EDGED_DATA")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    // Read while it runs: a full pipe would hold it up.
    let mut out = child.0.stdout.take().unwrap();
    let mut err = child.0.stderr.take().unwrap();
    let stdout = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = out.read_to_end(&mut b);
        b
    });
    let stderr = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = err.read_to_end(&mut b);
        b
    });
    let Some(status) = within(LIMIT, EVERY, || child.0.try_wait().unwrap()) else {
        panic!("`edged {}` started and kept running", args.join(" "));
    };
    Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

/// A second start on a held data folder fails naming the folder and the
/// pid holding it, and changes nothing there.
fn refused(out: &Output, folder: &Path, pid: u32) {
    fails(
        out,
        &format!(
            "the data folder `{}` is in use by another edged (pid {pid})",
            folder.display()
        ),
    );
    assert!(out.stdout.is_empty(), "no readiness line");
}

#[test]
fn a_data_folder_serves_one_co_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("co");
    let co = Co::start(&data, &[]);
    let pid = co.pid().unwrap();
    let before = listing(&data);
    let token = std::fs::read(data.join("admin.token")).unwrap();
    let second = edged(
        &[
            "--mode",
            "co",
            "--data",
            data.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--south-listen",
            "127.0.0.1:0",
        ],
        dir.path(),
    );
    refused(&second, &data, pid);
    assert_eq!(listing(&data), before);
    assert_eq!(std::fs::read(data.join("admin.token")).unwrap(), token);
    assert_eq!(
        std::fs::read_to_string(data.join("lock")).unwrap().trim(),
        pid.to_string()
    );
    // The first one still serves.
    ok(&co.edgectl(&["co", "status"]));
    // Killed, it lets go of the folder (the kernel does): a new start works.
    co.kill();
    let again = Co::start(&data, &[]);
    ok(&again.edgectl(&["co", "status"]));
}

#[test]
fn a_demo_folder_serves_one_demo_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    let mut cmd = Command::new(bin("edged"));
    cmd.args(["--mode", "all", "--data"])
        .arg(&demo)
        .args(["--listen", "127.0.0.1:0"]);
    let (daemon, _) = Daemon::spawn(cmd, "edged all listening on ");
    let pid = daemon.pid().unwrap();
    // Its LO is named by the address it listens on, as the site's registry.
    let lo = edge_api::mtls::Identity::load(&demo.join("lo-credentials")).unwrap();
    assert_eq!(edge_api::mtls::host_names(&lo.cert), ["127.0.0.1"]);
    let top = std::fs::read_dir(&demo).unwrap().count();
    let second = edged(
        &[
            "--mode",
            "all",
            "--data",
            demo.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ],
        dir.path(),
    );
    refused(&second, &demo, pid);
    // Its parts' folders are held too.
    let co = demo.join("co");
    let part = edged(
        &[
            "--mode",
            "co",
            "--data",
            co.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--south-listen",
            "127.0.0.1:0",
        ],
        dir.path(),
    );
    refused(&part, &co, pid);
    assert_eq!(std::fs::read_dir(&demo).unwrap().count(), top);
    assert!(daemon.stop().success(), "the demo stops cleanly");
}

#[test]
fn edged_without_a_mode_lists_the_modes_and_starts_nothing() {
    let dir = tempfile::tempdir().unwrap();
    for args in [&[][..], &["--print-config"][..]] {
        let out = edged(args, dir.path());
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.starts_with("error: edged needs `--mode`"), "{err}");
        for mode in ["all", "co", "lo", "en"] {
            assert!(err.contains(&format!("\n  {mode:<4} ")), "{mode}: {err}");
        }
        assert!(err.contains("  edged --mode all --data ./demo\n"), "{err}");
        assert!(out.stdout.is_empty());
        assert_eq!(listing(dir.path()), Vec::<String>::new(), "nothing made");
    }
}

#[test]
fn a_failed_start_leaves_no_folder_it_made() {
    let dir = tempfile::tempdir().unwrap();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().to_string();
    let new = dir.path().join("new");
    let co = new.join("co");
    let co_args = |data: &Path, listen: &str| {
        let mut a = vec![
            "--mode".to_owned(),
            "co".to_owned(),
            "--data".to_owned(),
            data.display().to_string(),
            "--south-listen".to_owned(),
            "127.0.0.1:0".to_owned(),
            "--listen".to_owned(),
        ];
        a.push(listen.to_owned());
        a
    };
    let run = |args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        edged(&args, dir.path())
    };

    // A port in use: the start fails before the folder is used, and the
    // folders it made go again.
    fails(
        &run(co_args(&co, &port)),
        &format!("cannot listen on `{port}`"),
    );
    assert!(!new.exists(), "{:?}", listing(dir.path()));
    // A bad flag value: nothing is made.
    let mut bad = co_args(&co, "127.0.0.1:0");
    bad.extend(["--listen-limits".to_owned(), "nope=1".to_owned()]);
    let out = run(bad);
    assert_eq!(out.status.code(), Some(2));
    assert!(!new.exists());
    // An LO whose credentials are missing.
    let lo = new.join("lo");
    let out = edged(
        &[
            "--mode",
            "lo",
            "--credentials",
            dir.path().join("nowhere").to_str().unwrap(),
            "--data",
            lo.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(!new.exists());
    // A folder that was there stays, as it was.
    let old = dir.path().join("old");
    std::fs::create_dir(&old).unwrap();
    fails(
        &run(co_args(&old, &port)),
        &format!("cannot listen on `{port}`"),
    );
    assert!(old.is_dir());
    assert_eq!(listing(&old), Vec::<String>::new());
    drop(taken);
}

/// Git may answer before it read the request (here: a body of the wrong
/// type, larger than a pipe holds, refused on its type): its answer is
/// passed on, and nothing is logged as an error.
#[test]
fn a_git_answer_given_before_the_request_was_read_is_passed_on() {
    let f = fleet();
    deploy_hello(&f.co, "edge-1");
    let lo = Margo::new(&f.lo_creds, &south_url(&f.lo_creds), "co");
    // Sent as JSON, not as `application/x-git-upload-pack-request`.
    let answer = lo
        .send(
            "POST",
            "/git/plant-1.git/git-upload-pack",
            &[],
            Some(vec![b'Y'; 1 << 20]),
        )
        .unwrap();
    assert_eq!(answer.status, 415, "{answer:?}\n{}", f.co.log());
    assert!(!f.co.log().contains(" ERROR "), "{}", f.co.log());
}

/// Ctrl-C in the CO's terminal reaches its whole process group (the Git
/// programs it runs for an LO too): with an LO and a watcher attached, the
/// CO stops cleanly, logging nothing at WARN or ERROR.
#[test]
fn ctrl_c_of_a_co_serving_an_lo_and_a_watcher_logs_no_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut co = Co::start_as_job(&dir.path().join("co"), &[]);
    co.add_app("fixtures/packages/hello-wasm");
    ok(&co.edgectl(&["co", "add", "site", "plant-1"]));
    ok(&co.edgectl(&["co", "add", "device", "edge-1", "--site", "plant-1"]));
    let creds = enroll(&co, dir.path(), "plant-1", None);
    let lo = Lo::start(&creds, &dir.path().join("lo"), &[]);
    let mut watch = Started(
        co.edgectl_command(&["co", "watch", "--since", "0", "-o", "json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // Connected once it printed the first event (the app added).
    let printed = lines(&mut watch.0);
    printed
        .recv_timeout(LIMIT)
        .unwrap_or_else(|_| panic!("the watch printed nothing\n{}", co.log()));
    deploy_hello(&co, "edge-1");
    until_or(
        "the LO to take the deployment",
        || lo.log().contains("new desired state").then_some(()),
        || lo.log(),
    );

    co.interrupt_job();
    let status = co
        .exited(PROMPT)
        .unwrap_or_else(|| panic!("the CO did not stop on Ctrl-C\n{}", co.log()));
    assert!(status.success(), "{status:?}\n{}", co.log());
    within(LIMIT, EVERY, || watch.0.try_wait().unwrap())
        .unwrap_or_else(|| panic!("the watch kept running after the CO stopped"));
    let log = co.log();
    assert!(log.contains("signal=\"SIGINT\""), "{log}");
    assert!(!log.contains(" ERROR ") && !log.contains(" WARN "), "{log}");
}

#[test]
fn json_logs_are_one_object_a_line_with_level_target_and_fields() {
    let dir = tempfile::tempdir().unwrap();
    let co = Co::start(&dir.path().join("co"), &["--log-format", "json"]);
    ok(&co.edgectl(&["co", "add", "site", "plant-1"]));
    let log = until_or(
        "the CO's log to say it is ready",
        || {
            let log = co.log();
            log.contains("ready").then_some(log)
        },
        || co.log(),
    );
    let mut seen = 0;
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(v["timestamp"].is_string(), "{line}");
        assert!(v["level"].is_string(), "{line}");
        assert!(
            v["target"].as_str().is_some_and(|t| t.starts_with("edged")),
            "{line}"
        );
        assert!(v["fields"]["message"].is_string(), "{line}");
        seen += 1;
    }
    assert!(seen > 0, "no log lines:\n{log}");
}
