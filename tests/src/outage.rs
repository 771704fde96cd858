//! An LO cut from the CO by the kit's proxy (the LO's CO address points at
//! it): first the CO's answers are lost (a batch arrives, its
//! acknowledgement does not), then every connection is dropped, then held
//! without a byte forwarded (a stall), then the link heals. Devices (Margo
//! clients) report status changes to the LO all along, each report told
//! apart by a number in its error message, and the CO takes a deploy
//! meanwhile. [`run`] checks that nothing is lost: every report the LO
//! answered 2xx reaches the CO exactly once and in order per deployment
//! (one `status` event per stored report on the CO's event stream), the
//! CO's last state is the last one sent, the LO's outbox ends empty, and
//! the deploy made during the outage reaches its device. The scenario test
//! runs it for seconds (`faults::link`), `bench outage` for minutes.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use edge_api::types::Event;
use serde_json::json;

use crate::co::{Co, ok};
use crate::fleet::{Fleet, co_state, deploy_to, manifest_with, pointed_at, south_url};
use crate::lo::{Lo, Margo};
use crate::proxy::{Link, Proxy};
use crate::wait::within;

/// How long the LO may take to catch up once the link is back (its
/// forwarder's back-off has grown to seconds by then, at most 30 s).
const CATCH_UP: Duration = Duration::from_secs(60);
/// The states reports go through, in turn.
const STATES: [&str; 3] = ["installing", "installed", "failed"];

/// How long the outage lasts: each of the drop and the stall lasts at
/// least its time, and until the LO has tried (and failed) a few times.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// The dropping link's least time.
    pub drop: Duration,
    /// The stalling link's least time.
    pub stall: Duration,
    /// How often a device reports during the outage.
    pub every: Duration,
}

impl Plan {
    /// For a test: each phase only as long as the LO needs to meet it.
    #[must_use]
    pub fn quick() -> Plan {
        Plan {
            drop: Duration::ZERO,
            stall: Duration::ZERO,
            every: Duration::from_millis(100),
        }
    }
}

/// What [`run`] saw.
#[derive(Debug)]
pub struct Outcome {
    /// Reports sent (each stored at the CO once).
    pub reports: u64,
    /// Of those, made while the link was down.
    pub during_outage: u64,
    /// Connections the proxy closed on arrival, and held.
    pub dropped: u64,
    /// Connections held by the stalling link.
    pub held: u64,
    /// Bytes of the CO's answers lost.
    pub lost: u64,
    /// From the heal to the last report stored at the CO.
    pub caught_up: Duration,
}

/// Run the outage on fleet `f` (its plant-1 LO started here, behind a
/// proxy) as `plan` says; panics when anything is lost or doubled.
///
/// # Panics
/// When a check fails.
#[must_use]
pub fn run(f: &Fleet, plan: Plan) -> Outcome {
    let south: SocketAddr = south_url(&f.lo_creds)
        .trim_start_matches("https://")
        .parse()
        .unwrap();
    let proxy = Proxy::start(south);
    let creds = pointed_at(
        &f.lo_creds,
        &f.dir.path().join("lo-proxied"),
        &format!("https://{}", proxy.addr),
    );
    let lo_data = f.dir.path().join("lo");
    let lo = Lo::start(&creds, &lo_data, &["--poll-interval", "2"]);
    let log = || format!("--- LO\n{}\n--- CO\n{}", lo.log(), f.co.log());
    let mut events = Stream::start(&f.co);
    let mut devices = Devices::ready(f, &lo);

    // Link up: reports arrive...
    for _ in 0..6 {
        devices.report();
    }
    events.until_delivered(&devices, CATCH_UP, log);
    // ...and are acknowledged: the forwarder's connection waits idle.
    outbox_empties(&lo_data, log);

    // Deaf: a batch reaches the CO on the forwarder's open connection and
    // its answer is lost; the LO holds reports the CO has stored.
    let before_outage = devices.sent_count();
    proxy.set(Link::Deaf);
    for _ in 0..3 {
        devices.report();
    }
    events.until(
        "a report through a link that loses answers",
        CATCH_UP,
        |s| s.max_report() > before_outage,
        log,
    );
    // (The CO publishes before it answers: the answer may be on its way.)
    crate::wait::until_true("the CO's answer lost", CATCH_UP, crate::wait::EVERY, || {
        proxy.lost() > 0
    });
    assert!(
        outbox_len(&lo_data).is_some_and(|n| n > 0),
        "the LO holds what the CO stored but never acknowledged"
    );
    let before_outage = devices.sent_count();

    // Drop: every connection closed as soon as it is made.
    proxy.set(Link::Drop);
    devices.report_until(
        "the LO retried through a dropping link",
        plan.drop,
        plan.every,
        || proxy.dropped() >= 4,
    );
    // Stall: connections accepted and held, nothing forwarded.
    proxy.set(Link::Stall);
    let late = deploy_to(&f.co, "hello-wasm", "edge-2", &["--name", "late"]);
    devices.report_until(
        "the LO held up by a stalling link",
        plan.stall,
        plan.every,
        || proxy.held() >= 2,
    );
    events.drain();
    assert!(
        events.max_report() <= before_outage,
        "a report made during the outage reached the CO through a link that was down"
    );
    let during_outage = devices.sent_count() - before_outage;
    assert!(during_outage > 4, "reports were made during the outage");

    // Heal.
    proxy.set(Link::Up);
    let healed = Instant::now();
    events.until_delivered(&devices, CATCH_UP, log);
    let caught_up = healed.elapsed();
    outbox_empties(&lo_data, log);
    // A marker after everything: events before it are all the CO stored.
    ok(&f.co.edgectl(&["co", "add", "site", "marker"]));
    events.until_marker("marker", log);
    events.each_report_once_in_order(&devices);
    for (id, ks) in &devices.sent {
        let last = state_of(*ks.last().unwrap());
        assert_eq!(co_state(&f.co, id).as_deref(), Some(last), "{id}");
    }
    let m2 = Margo::new(&f.d2, &lo.url, "plant-1");
    let (v, _) = manifest_with(&m2, 2, log);
    assert!(v.to_string().contains(&late), "{v}");
    Outcome {
        reports: devices.sent_count(),
        during_outage,
        dropped: proxy.dropped(),
        held: proxy.held(),
        lost: proxy.lost(),
        caught_up,
    }
}

/// The state report `k` gives (deployments are taken in turn, so each
/// goes through every state).
pub fn state_of(k: u64) -> &'static str {
    STATES[usize::try_from(k / 3 % 3).unwrap()]
}

/// Two devices reporting on three deployments (two on edge-1, one on
/// edge-2), each report numbered.
struct Devices {
    clients: [Margo; 2],
    /// Deployment id and its device's index in `clients`.
    deployments: Vec<(String, usize)>,
    /// Report numbers sent (and answered 2xx), per deployment, in order.
    sent: BTreeMap<String, Vec<u64>>,
    next: u64,
}

impl Devices {
    /// Deploy hello-wasm twice to edge-1 and once to edge-2 and wait until
    /// the LO serves them.
    fn ready(f: &Fleet, lo: &Lo) -> Devices {
        let deployments = vec![
            (deploy_to(&f.co, "hello-wasm", "edge-1", &[]), 0),
            (
                deploy_to(&f.co, "hello-wasm", "edge-1", &["--name", "second"]),
                0,
            ),
            (deploy_to(&f.co, "hello-wasm", "edge-2", &[]), 1),
        ];
        let clients = [
            Margo::new(&f.d1, &lo.url, "plant-1"),
            Margo::new(&f.d2, &lo.url, "plant-1"),
        ];
        manifest_with(&clients[0], 2, || lo.log());
        manifest_with(&clients[1], 1, || lo.log());
        Devices {
            clients,
            deployments,
            sent: BTreeMap::new(),
            next: 1,
        }
    }

    /// One more report, on the deployments in turn; the LO must take it.
    fn report(&mut self) {
        let k = self.next;
        self.next += 1;
        let (id, device) = &self.deployments[usize::try_from(k).unwrap() % 3];
        let state = state_of(k);
        let body = json!({"deploymentId": id, "adoptedManifestVersion": 2,
            "status": {"state": state},
            "components": [{"name": "hello", "state": state,
                            "error": {"code": "TEST", "message": format!("n{k}")}}]});
        let r =
            self.clients[*device].json("POST", &format!("/api/v1/deployments/{id}/status"), &body);
        assert!(
            r.status == 200 || r.status == 201,
            "report {k}: {} {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
        self.sent.entry(id.clone()).or_default().push(k);
    }

    /// Report every `every` until `done` and `least` has passed (at most
    /// 30 s more).
    fn report_until(
        &mut self,
        what: &str,
        least: Duration,
        every: Duration,
        mut done: impl FnMut() -> bool,
    ) {
        let start = Instant::now();
        let limit = least + Duration::from_secs(30);
        let found = within(limit, every, || {
            self.report();
            (done() && start.elapsed() >= least).then_some(())
        });
        assert!(found.is_some(), "{what}: not within {limit:?}");
    }

    fn sent_count(&self) -> u64 {
        self.next - 1
    }
}

/// The CO's event stream from its first event, read on a thread.
struct Stream {
    rx: Receiver<Event>,
    /// Report numbers stored, per deployment, in the order of their events.
    seen: BTreeMap<String, Vec<u64>>,
    sites: Vec<String>,
}

impl Stream {
    fn start(co: &Co) -> Stream {
        let client = co.client(Some(&co.token));
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            let Ok(stream) = client.events(Some(0)) else {
                return;
            };
            for e in stream.map_while(Result::ok) {
                if tx.send(e).is_err() {
                    return;
                }
            }
        });
        Stream {
            rx,
            seen: BTreeMap::new(),
            sites: Vec::new(),
        }
    }

    fn take(&mut self, e: &Event) {
        match e.kind.as_str() {
            "status" => {
                let error = e.data["error"].as_str().unwrap_or_default();
                let k = error
                    .strip_prefix("hello: n")
                    .and_then(|k| k.parse().ok())
                    .unwrap_or_else(|| panic!("a status event not of this test: {e:?}"));
                self.seen.entry(e.subject.clone()).or_default().push(k);
            }
            "site.added" => self.sites.push(e.subject.clone()),
            _ => {}
        }
    }

    /// Take what has arrived so far.
    fn drain(&mut self) {
        while let Ok(e) = self.rx.try_recv() {
            self.take(&e);
        }
    }

    /// Take events until `done` holds, within `limit`.
    fn until(
        &mut self,
        what: &str,
        limit: Duration,
        done: impl Fn(&Stream) -> bool,
        log: impl Fn() -> String,
    ) {
        let deadline = Instant::now() + limit;
        while !done(self) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(e) => self.take(&e),
                Err(_) => panic!(
                    "timed out waiting for {what}; stored {:?}\n{}",
                    self.seen,
                    log()
                ),
            }
        }
    }

    /// Until every report sent has an event (extra ones are caught later).
    fn until_delivered(&mut self, d: &Devices, limit: Duration, log: impl Fn() -> String) {
        let want: usize = d.sent.values().map(Vec::len).sum();
        self.until(
            &format!("{want} reports at the CO"),
            limit,
            |s| s.seen.values().map(Vec::len).sum::<usize>() >= want,
            log,
        );
    }

    fn until_marker(&mut self, site: &str, log: impl Fn() -> String) {
        self.until(
            &format!("the event of site {site}"),
            CATCH_UP,
            |s| s.sites.iter().any(|x| x == site),
            log,
        );
    }

    fn max_report(&self) -> u64 {
        self.seen.values().flatten().copied().max().unwrap_or(0)
    }

    /// The CO stored each report once, in the order sent, per deployment.
    fn each_report_once_in_order(&self, d: &Devices) {
        assert_eq!(
            self.seen, d.sent,
            "reports stored at the CO (left) are not exactly those sent, once each and in order"
        );
    }
}

/// How many reports the LO's outbox holds (its own reader, which changes
/// nothing).
fn outbox_len(lo_data: &std::path::Path) -> Option<usize> {
    edge_outbox::read_waiting(lo_data)
        .ok()
        .map(|w| w.entries.len())
}

/// Wait until the LO's outbox holds nothing.
fn outbox_empties(lo_data: &std::path::Path, log: impl Fn() -> String) {
    let empty = within(CATCH_UP, Duration::from_millis(50), || {
        (outbox_len(lo_data) == Some(0)).then_some(())
    });
    assert!(empty.is_some(), "the LO's outbox never emptied\n{}", log());
}
