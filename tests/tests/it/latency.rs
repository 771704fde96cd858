//! Changes in quick bursts on a busy machine: a CO, an LO that only
//! fetches when nudged (its poll interval is an hour) and a real edge node
//! long-polling it, while threads burn every core. Deploys and undeploys
//! to one node are fired 0–100 ms apart; after each burst the node must hold
//! exactly what the last change asked for, promptly: well within one long
//! poll (25 s) and one LO poll, so a wake-up lost anywhere between the CO's
//! watch, the LO's fetch and rebuild and the node's long poll shows as a
//! time-out here rather than as a slow, passing test. Beside the node, a few
//! Margo clients with the node's identity long-poll the manifest the way it
//! does (a pause after each new manifest, as a node's apply takes), so a
//! long poll starts near a rebuild far more often than one node alone
//! makes it; each must hold the last manifest promptly too.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use edge_api::types::{DeployRequest, DeploymentSummary};
use edge_tests::en::En;
use edge_tests::fleet::{fleet, listing};
use edge_tests::lo::{Lo, Margo};
use edge_tests::wait::within;

/// Bursts of deploys, each followed by a burst of undeploys.
const ROUNDS: usize = 8;
/// Changes per burst.
const BURST: usize = 5;
/// Margo clients long-polling beside the node.
const POLLERS: usize = 8;
const MANIFEST: &str = "/api/v1/deployments";
/// What "promptly" means here: far above the usual tenth of a second, far
/// below a long poll a lost wake-up would leave the node waiting in.
const PROMPTLY: Duration = Duration::from_secs(10);

/// Threads spinning on every core until dropped.
struct Busy {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Busy {
    fn start() -> Busy {
        let stop = Arc::new(AtomicBool::new(false));
        let n = std::thread::available_parallelism().map_or(2, std::num::NonZero::get) * 6;
        let threads = (0..n)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let mut x = 1u64;
                    while !stop.load(Ordering::Relaxed) {
                        x = std::hint::black_box(
                            x.wrapping_mul(6364136223846793005).wrapping_add(1),
                        );
                    }
                })
            })
            .collect();
        Busy { stop, threads }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Long-poll the manifest like a node until `stop`: ask with the ETag held,
/// keep what comes back in `held`, pause `gap(n)` after each new manifest.
fn poller(m: &Margo, held: &std::sync::Mutex<String>, stop: &AtomicBool, seed: usize) {
    let mut n = seed;
    while !stop.load(Ordering::Relaxed) {
        let etag = held.lock().unwrap().clone();
        let Ok(r) = m.send(
            "GET",
            MANIFEST,
            &[("if-none-match", &etag), ("prefer", "wait=20")],
            None,
        ) else {
            continue;
        };
        if r.status == 200 {
            *held.lock().unwrap() = r.header("etag").unwrap_or_default().to_owned();
            n += 1;
            std::thread::sleep(gap(n));
        }
    }
}

/// The pause before change `i` of a burst: 0–100 ms, spread unevenly.
fn gap(i: usize) -> Duration {
    Duration::from_millis((i as u64 * 37 + 11) % 101)
}

fn deploy(api: &edge_api::Client) -> String {
    let req = DeployRequest {
        app: "hello-wasm".into(),
        version: None,
        site: "plant-1".into(),
        device: Some("edge-1".into()),
        selector: std::collections::BTreeMap::new(),
        set: std::collections::BTreeMap::new(),
        deploy_type: None,
        name: None,
        rollout: None,
        dry_run: false,
        // Placed before (or without) a capabilities report.
        allow_unreported: true,
    };
    let out: Vec<DeploymentSummary> = api.post(edge_api::routes::DEPLOYMENTS, &req).unwrap();
    out[0].id.clone()
}

/// The deployments the node lists, and whether all of them are installed.
fn on_the_node(en: &En) -> (BTreeSet<String>, bool) {
    let l = listing(en);
    let rows = l["workloads"].as_array().cloned().unwrap_or_default();
    let ids = rows
        .iter()
        .filter_map(|w| w["deployment"].as_str().map(str::to_owned))
        .collect();
    (ids, rows.iter().all(|w| w["state"] == "installed"))
}

/// Wait (at most [`PROMPTLY`]) until the node holds exactly `want`, all
/// installed, and every poller holds the manifest the LO serves now.
fn reaches_the_node(
    en: &En,
    lo: &Lo,
    pollers: &[Arc<std::sync::Mutex<String>>],
    m: &Margo,
    want: &BTreeSet<String>,
    what: &str,
) {
    let got = within(PROMPTLY, Duration::from_millis(20), || {
        let (ids, installed) = on_the_node(en);
        (ids == *want && installed).then_some(())
    });
    assert!(
        got.is_some(),
        "{what}: the node did not hold the last change within {PROMPTLY:?}: it lists {:?}, want {want:?}\n--- LO\n{}\n--- EN\n{}",
        on_the_node(en),
        lo.log(),
        en.log()
    );
    let now = m.get(MANIFEST, &[]);
    let etag = now.header("etag").unwrap().to_owned();
    let late = within(PROMPTLY, Duration::from_millis(20), || {
        pollers
            .iter()
            .all(|p| *p.lock().unwrap() == etag)
            .then_some(())
    });
    let held: Vec<String> = pollers.iter().map(|p| p.lock().unwrap().clone()).collect();
    assert!(
        late.is_some(),
        "{what}: a long poll did not bring the last manifest ({etag}) within {PROMPTLY:?}: pollers hold {held:?}\n--- LO\n{}",
        lo.log()
    );
}

#[test]
fn changes_in_quick_bursts_on_a_busy_machine_each_reach_the_node_promptly() {
    let f = fleet();
    let lo = Lo::start(
        &f.lo_creds,
        &f.dir.path().join("lo"),
        &["--poll-interval", "3600"],
    );
    let en = En::start(&f.d1, &f.dir.path().join("en"), &lo.url, &[]);
    let api = f.co.client(Some(&f.co.token));
    let m = Margo::new(&f.d1, &lo.url, "plant-1");
    let stop = Arc::new(AtomicBool::new(false));
    let pollers: Vec<Arc<std::sync::Mutex<String>>> = (0..POLLERS)
        .map(|_| Arc::new(std::sync::Mutex::new(String::new())))
        .collect();
    let threads: Vec<_> = pollers
        .iter()
        .enumerate()
        .map(|(i, held)| {
            let (held, stop, creds, url) =
                (held.clone(), stop.clone(), f.d1.clone(), lo.url.clone());
            std::thread::spawn(move || {
                poller(&Margo::new(&creds, &url, "plant-1"), &held, &stop, i * 7);
            })
        })
        .collect();
    let busy = Busy::start();
    let mut held = BTreeSet::new();
    for round in 0..ROUNDS {
        for i in 0..BURST {
            std::thread::sleep(gap(round * BURST + i));
            held.insert(deploy(&api));
        }
        reaches_the_node(
            &en,
            &lo,
            &pollers,
            &m,
            &held,
            &format!("deploy burst {round}"),
        );
        let ids: Vec<String> = held.iter().cloned().collect();
        for (i, id) in ids.iter().enumerate() {
            std::thread::sleep(gap(round * BURST + i + 3));
            api.delete(&format!("{}/{id}", edge_api::routes::DEPLOYMENTS))
                .unwrap();
            held.remove(id);
        }
        reaches_the_node(
            &en,
            &lo,
            &pollers,
            &m,
            &held,
            &format!("undeploy burst {round}"),
        );
    }
    drop(busy);
    // The pollers end with their long polls: one more change wakes them.
    stop.store(true, Ordering::Relaxed);
    deploy(&api);
    for t in threads {
        t.join().unwrap();
    }
}
