//! Starting and stopping daemons: a CO with a `co watch` client stops at
//! once on SIGTERM and the watch says why it ended; a second signal ends a
//! drain at once; an LO answers its nodes' long polls when it stops.

use std::io::{BufRead as _, Read as _};
use std::net::TcpListener;
use std::process::{Child, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use edge_tests::co::{Co, ok};
use edge_tests::fleet::fleet;
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
