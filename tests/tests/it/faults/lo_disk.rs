//! The LO's data folder on a small tmpfs that fills up: while it is full
//! the CO deploys a new workload (the LO cannot store the fetch), the node
//! reports a workload stopped by its operator, and another device posts a
//! status report (the LO cannot queue either). Then the filler is deleted.
//!
//! Nothing lost, nothing broken: while full the LO answers a report with a
//! clear error that is no success (so the node keeps the report and
//! retries), does not panic, and its `lo.db` passes `PRAGMA
//! integrity_check`; once there is room again it recovers by itself: the
//! node gets the new deployment and runs it, the reports held back reach
//! the CO, and the database is still sound.

use edge_tests::co::ok;
use edge_tests::en::En;
use edge_tests::fleet::{Fleet, co_state, deploy_to, fleet, listing, row, status_doc};
use edge_tests::lo::{Lo, Margo};
use edge_tests::tmpfs::Tmpfs;
use edge_tests::wait::{until_or, within};
use std::time::Duration;

use super::{alive, integrity};

/// The tmpfs: room for the LO's database and its small site.
const SIZE: u64 = 16 << 20;
/// How long recovery may take (the node's and the LO's back-off included).
const RECOVER: Duration = Duration::from_secs(60);

#[test]
fn an_lo_whose_disk_fills_refuses_clearly_and_recovers_once_there_is_room() {
    let f = fleet();
    f.co.add_app("fixtures/packages/hello-process");
    let Some(disk) = Tmpfs::mount(&f.dir.path().join("lo-disk"), SIZE) else {
        return;
    };
    let lo_data = disk.dir.join("lo");
    let lo = Lo::start(&f.lo_creds, &lo_data, &["--poll-interval", "1"]);
    let en = En::start(&f.d1, &f.dir.path().join("en"), &lo.url, &[]);
    let log = || format!("--- LO\n{}\n--- EN\n{}", lo.log(), en.log());
    let process = deploy_to(&f.co, "hello-process", "edge-1", &[]);
    let other = deploy_to(&f.co, "hello-wasm", "edge-2", &[]);
    until_or(
        "hello-process installed at the CO",
        || (co_state(&f.co, &process).as_deref() == Some("installed")).then_some(()),
        log,
    );
    let m2 = Margo::new(&f.d2, &lo.url, "plant-1");

    let left = disk.fill(0);
    eprintln!("faults::lo_disk: filled, {left} bytes left");
    let wasm = while_full_the_lo_refuses_clearly_and_stays_sound(&f, &lo, &en, &m2, &other);

    let room = disk.free();
    eprintln!("faults::lo_disk: filler deleted, {room} bytes free");
    with_room_again_everything_held_back_arrives(&f, &lo, &en, &m2, &process, &other, &wasm);
    assert_eq!(integrity(&lo_data.join("lo.db")), "ok");
}

/// While the disk is full: a report is refused with a clear 5xx, a new
/// deployment is not served, the node's report waits in its queue, the LO
/// neither panics nor corrupts its database. Returns the new deployment.
fn while_full_the_lo_refuses_clearly_and_stays_sound(
    f: &Fleet,
    lo: &Lo,
    en: &En,
    m2: &Margo,
    other: &str,
) -> String {
    let log = || format!("--- LO\n{}\n--- EN\n{}", lo.log(), en.log());
    let r = m2.json(
        "POST",
        &format!("/api/v1/deployments/{other}/status"),
        &status_doc(other, "installing", 2),
    );
    let text = String::from_utf8_lossy(&r.body).into_owned();
    assert!(r.status >= 500, "{} {text}", r.status);
    assert!(
        text.contains("disk") || text.contains("space"),
        "the answer says why: {} {text}",
        r.status
    );
    // rc.3: a 503 says when to come back and how (Retry-After, retryable,
    // exponential back-off).
    assert_eq!(r.status, 503, "{text}");
    let wait: u64 = r
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no Retry-After in seconds: {:?}", r.header("retry-after")));
    assert!(wait > 0);
    let problem = r.json();
    assert_eq!(problem["retryable"], true, "{text}");
    assert_eq!(problem["backoffStrategy"], "exponential", "{text}");
    assert_eq!(problem["retryAfterSeconds"], wait, "{text}");
    // The node's report of an operator stop cannot be queued at the LO.
    ok(&en.edgectl(&["stop", "hello-process"]));
    let wasm = deploy_to(&f.co, "hello-wasm", "edge-1", &[]);
    until_or(
        "the node's report held back",
        || (listing(en)["node"]["queuedReports"].as_u64() >= Some(1)).then_some(()),
        log,
    );
    // The LO tried to fetch the new deployment and could not store it.
    let line = until_or(
        "the LO's failed fetch in its log",
        || {
            lo.log()
                .lines()
                .find(|l| l.contains("cannot fetch the site repository"))
                .map(str::to_owned)
        },
        log,
    );
    assert!(
        line.contains("the disk is full") || line.contains("No space left on device"),
        "the log says why: {line}"
    );
    assert!(row(en, &wasm).is_none(), "{}", listing(en));
    assert!(alive(lo.pid()), "{}", log());
    assert!(!lo.log().contains("panicked"), "{}", log());
    assert_eq!(integrity(&lo.data.join("lo.db")), "ok");
    wasm
}

/// Room again: the node gets and runs the new deployment, its held-back
/// report (the stop) reaches the CO, then its start; the other device's
/// report, sent again, is taken and forwarded.
fn with_room_again_everything_held_back_arrives(
    f: &Fleet,
    lo: &Lo,
    en: &En,
    m2: &Margo,
    process: &str,
    other: &str,
    wasm: &str,
) {
    let log = || format!("--- LO\n{}\n--- EN\n{}", lo.log(), en.log());
    let state = |id: &str, want: &str| {
        let ok = within(RECOVER, Duration::from_millis(100), || {
            (co_state(&f.co, id).as_deref() == Some(want)).then_some(())
        });
        assert!(ok.is_some(), "{id} not {want} at the CO\n{}", log());
    };
    state(wasm, "installed");
    state(process, "failed");
    let listed = ok(&f.co.edgectl(&["co", "list", "deployments"]));
    assert!(
        listed.contains("stopped on the node by an operator"),
        "{listed}"
    );
    ok(&en.edgectl(&["start", "hello-process"]));
    state(process, "installed");
    let r = m2.json(
        "POST",
        &format!("/api/v1/deployments/{other}/status"),
        &status_doc(other, "installed", 2),
    );
    assert!(r.status == 200 || r.status == 201, "{r:?}");
    state(other, "installed");
    until_or(
        "the node's queue drained",
        || (listing(en)["node"]["queuedReports"].as_u64() == Some(0)).then_some(()),
        log,
    );
}
