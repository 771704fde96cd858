//! `bench fleet`: a fleet of simulated edge nodes against a real CO and real
//! LOs, all on loopback. Each simulated node has its own identity, enrolled
//! through the CO's enrolment API, and its own mTLS client, and speaks the
//! Margo API to its site's LO as `edged --mode en` does: capabilities, the
//! state manifest by long poll with `If-None-Match`, each deployment fetched
//! by digest and checked, status reports with `adoptedManifestVersion`. Its
//! runtime does nothing: `installing`, then `installed` after a set delay
//! (a set share of nodes report `failed` instead).
//!
//! Measured: deploy to every node → every deployment `installed` at the CO
//! (by the CO's event stream: reports about the current document; per node
//! p50/p99), an upgrade rolled out in waves to every node, a burst of status
//! reports through the LOs, then the CO's intake alone, sustained (every LO
//! identity posting at once, `--sustain-secs`, default 60); per phase the CPU
//! of the CO and each LO, what the LOs served, the CO's intake batch sizes
//! and the bytes between site 0's LO and the CO (`probe.rs`); the RSS of
//! each process. Printed, and written as JSON with `--json FILE`.
//!
//! `bench fleet [--nodes N] [--los M] [--install-ms MS] [--fail P]
//! [--sustain-secs S] [--json FILE]`

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use edge_api::types::{EnrollRequest, Enrollment};
use edge_tests::co::Co;
use edge_tests::fleet::pointed_at;
use edge_tests::lo::Lo;
use edge_tests::proxy::Proxy;
use edge_tests::sim::{Counters, SimNode};
use serde_json::{Value, json};

use super::fleet::{ctl, enroll, server_of};
use super::intake::{fleet_registry, rss_mb, sustained};
use super::probe::Probe;
use super::{flag_pairs, ms, parsed, quantile, release_bin};

/// What one run simulates.
#[derive(Debug, Clone)]
struct Options {
    nodes: usize,
    los: usize,
    install: Duration,
    fail: f64,
    sustain_s: f64,
    json: Option<PathBuf>,
}

fn options(args: &[String]) -> Options {
    let mut o = Options {
        nodes: 100,
        los: 2,
        install: Duration::from_millis(200),
        fail: 0.0,
        sustain_s: 60.0,
        json: None,
    };
    for (flag, value) in flag_pairs(args) {
        match flag {
            "--nodes" => o.nodes = parsed(flag, value),
            "--los" => o.los = parsed(flag, value),
            "--install-ms" => o.install = Duration::from_millis(parsed(flag, value)),
            "--fail" => o.fail = parsed(flag, value),
            "--sustain-secs" => o.sustain_s = parsed(flag, value),
            "--json" => o.json = Some(PathBuf::from(value)),
            other => panic!("unknown option `{other}` of `bench fleet`"),
        }
    }
    assert!(o.nodes >= 1 && o.los >= 1 && o.los <= o.nodes);
    o
}

/// The site of node `i`.
fn site_of(i: usize, los: usize) -> String {
    format!("site-{:02}", i % los)
}

fn device_of(i: usize) -> String {
    format!("n{i:05}")
}

/// Run the fleet benchmark with `args` (after the group name).
pub(crate) fn run(args: &[String]) {
    let o = options(args);
    let edged = release_bin("edged");
    let edgectl = release_bin("edgectl");
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    // The registry in batches of 10,000, each one commit.
    let started = Instant::now();
    let (co, sites) = fleet_registry(dir.path(), &edged, &edgectl, o.los, o.nodes);
    let registry_s = started.elapsed().as_secs_f64();
    let v11 = hello_wasm_1_1(dir.path());
    ctl(
        &edgectl,
        &co,
        &["co", "add", "app", "--artifact", &v11.to_string_lossy()],
    );
    let api = co.client(Some(&co.token));
    println!("fleet: {} devices added in {registry_s:.1} s", o.nodes);

    let started = Instant::now();
    let creds = enroll_all(&co, dir.path(), &o);
    let enroll_s = started.elapsed().as_secs_f64();
    println!(
        "fleet: {} identities enrolled through the API in {enroll_s:.1} s",
        o.nodes
    );
    let lo_creds: Vec<PathBuf> = sites
        .iter()
        .map(|s| enroll(&edgectl, &co, dir.path(), s, None))
        .collect();
    // Site 0's LO talks to the CO through a counting proxy.
    let south: SocketAddr = server_of(&lo_creds[0])
        .trim_start_matches("https://")
        .parse()
        .unwrap_or_else(|e| panic!("{e}"));
    let proxy = Proxy::start(south);
    let proxied = pointed_at(
        &lo_creds[0],
        &dir.path().join("lo-0-via-proxy"),
        &format!("https://{}", proxy.addr),
    );
    let los: Vec<Lo> = sites
        .iter()
        .enumerate()
        .map(|(i, s)| {
            // Every simulated node connects from 127.0.0.1: the per-peer
            // limit, meant for one machine's connections, is lifted.
            Lo::start_with(
                if i == 0 { &proxied } else { &lo_creds[i] },
                &dir.path().join(format!("lo-{s}")),
                &["--listen-limits", "connections=20000,per-peer=20000"],
                &edged,
            )
        })
        .collect();
    let lo_urls: Vec<String> = los.iter().map(|l| l.url.clone()).collect();

    let runtime = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("{e}"));
    let counters = Arc::new(Counters::default());
    let burst = Arc::new(tokio::sync::watch::Sender::new(0_u32));
    runtime.block_on(async {
        for (i, c) in creds.iter().enumerate() {
            let node = SimNode {
                device: device_of(i),
                site: site_of(i, o.los),
                base: lo_urls[i % o.los].clone(),
                creds: c.clone(),
                install: o.install,
                fails: (i as f64) < o.fail * o.nodes as f64,
                counters: counters.clone(),
            };
            tokio::spawn(node.run(burst.subscribe()));
        }
    });
    let probe = Probe {
        co: &co,
        los: &los,
        counters: &counters,
        proxy: &proxy,
        at_site_0: o.nodes.div_ceil(o.los),
    };
    let polling = wait_polling(&counters, o.nodes);
    println!("fleet: {polling} nodes holding a long poll at their LO");

    // Deploy to every node: one deploy per site.
    let events = api.events(None).unwrap_or_else(|e| panic!("{e}"));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for e in events.flatten() {
            if tx.send((Instant::now(), e)).is_err() {
                break;
            }
        }
    });
    let mark = probe.mark();
    let t0 = Instant::now();
    for s in &sites {
        let _: Value = api
            .post(
                edge_api::routes::DEPLOYMENTS,
                &json!({"app": "hello-wasm", "version": "1.0.0", "site": s, "allowUnreported": true}),
            )
            .unwrap_or_else(|e| panic!("deploy: {e}"));
    }
    let want = o.nodes - (o.fail * o.nodes as f64) as usize;
    let (deploy_s, per_node) = until_installed(&rx, t0, want, Duration::from_secs(600));
    let (deploy, line) = probe.since(&mark);
    let co_rss_deployed = co.pid().map_or(0.0, rss_mb);
    println!(
        "fleet: deploy to {} nodes, all installed at the CO in {deploy_s:.1} s (per node p50 {:.0} ms, p99 {:.0} ms); CO RSS {co_rss_deployed:.0} MB\n  {line}",
        o.nodes,
        ms(quantile(&per_node, 0.5)),
        ms(quantile(&per_node, 0.99))
    );

    // An upgrade in waves across the fleet.
    let mark = probe.mark();
    let t0 = Instant::now();
    let answer: Vec<Value> = api
        .post(
            edge_api::routes::DEPLOYMENTS_UPDATE,
            &json!({"app": "hello-wasm", "allSites": true, "version": "1.1.0",
                    "rollout": {"waves": ["1%", "10%", "100%"], "maxFailures": "100%"}}),
        )
        .unwrap_or_else(|e| panic!("upgrade: {e}"));
    let rollout = answer
        .iter()
        .find_map(|d| d["rollout"].as_str().map(str::to_owned))
        .unwrap_or_default();
    let upgrade_s = until_rollout_ends(&rx, t0, &rollout, Duration::from_secs(900));
    let (upgrade, line) = probe.since(&mark);
    let co_rss_upgraded = co.pid().map_or(0.0, rss_mb);
    println!(
        "fleet: upgrade rolled out in 3 waves to {} nodes in {upgrade_s:.1} s; CO RSS {co_rss_upgraded:.0} MB\n  {line}",
        o.nodes
    );

    // A burst of status reports from every node, through the LOs.
    let before = counters.reports.load(Ordering::Relaxed);
    let per = 10_u32;
    let mark = probe.mark();
    let t0 = Instant::now();
    burst.send_replace(per);
    let sent = u64::from(per) * o.nodes as u64;
    // When the LOs have taken every report (the nodes' last answer came).
    let counter = counters.clone();
    let accepted = std::thread::spawn(move || {
        while counter.reports.load(Ordering::Relaxed) < before + sent {
            std::thread::park_timeout(Duration::from_millis(5));
        }
        t0.elapsed().as_secs_f64()
    });
    let taken = until_reports(&rx, t0, sent, Duration::from_secs(600));
    let at_los = accepted.join().unwrap_or(0.0);
    let (reports, line) = probe.since(&mark);
    let through = sent as f64 / taken;
    println!(
        "fleet: {sent} status reports: taken by the LOs in {at_los:.1} s ({:.0}/s), stored at the CO in {taken:.1} s: {through:.0} reports/s\n  {line}",
        sent as f64 / at_los
    );

    let lo_rss: Vec<f64> = los.iter().map(|l| rss_mb(l.pid())).collect();
    let lo_max = lo_rss.iter().copied().fold(0.0, f64::max);
    let own = rss_mb(std::process::id());
    println!(
        "fleet: RSS LO max {lo_max:.0} MB; simulator {own:.0} MB ({:.1} KB per node)",
        own * 1024.0 / o.nodes as f64
    );
    // The events are not read any more.
    drop(rx);

    // The CO's intake alone, sustained: every LO identity posting batches
    // of 500 at once (the nodes idle, holding their long polls).
    let lo_pairs: Vec<(PathBuf, String)> = lo_creds.iter().cloned().zip(sites.clone()).collect();
    let alone = sustained(&co, &lo_pairs, o.sustain_s);
    println!(
        "fleet: the CO alone stored {:.0} reports/s for {:.0} s ({} reports from {} LO identities at once in batches of 500; {:.2} cores busy)",
        alone.per_s, alone.secs, alone.reports, o.los, alone.co_cores
    );

    let co_rss = co.pid().map_or(0.0, rss_mb);
    println!("fleet: RSS CO {co_rss:.0} MB");
    let out = json!({
        "nodes": o.nodes, "los": o.los, "install_ms": o.install.as_millis() as u64, "fail": o.fail,
        "registry_s": registry_s, "enroll_s": enroll_s, "nodes_polling": polling,
        "deploy_all_installed_s": deploy_s,
        "deploy_per_node_p50_ms": ms(quantile(&per_node, 0.5)),
        "deploy_per_node_p99_ms": ms(quantile(&per_node, 0.99)),
        "deploy": deploy,
        "upgrade_all_installed_s": upgrade_s,
        "upgrade": upgrade,
        "ingest_reports_per_s": alone.per_s,
        "ingest_sustained_s": alone.secs,
        "ingest_co_cores": alone.co_cores,
        "through_los_reports_per_s": through,
        "los_accept_reports_per_s": sent as f64 / at_los,
        "reports": reports,
        "co_rss_mb": co_rss, "co_rss_after_deploy_mb": co_rss_deployed,
        "co_rss_after_upgrade_mb": co_rss_upgraded, "lo_rss_mb_max": lo_max, "lo_rss_mb": lo_rss,
        "simulator_rss_mb": own,
    });
    if let Some(path) = &o.json {
        std::fs::write(
            path,
            serde_json::to_string_pretty(&out).unwrap_or_default() + "\n",
        )
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
    println!("{out}");
    drop(runtime);
}

/// Wait until every node holds a long poll (two minutes at most); how many do.
fn wait_polling(counters: &Counters, nodes: usize) -> i64 {
    let until = Instant::now() + Duration::from_secs(120);
    loop {
        let n = counters.polling.load(Ordering::Relaxed);
        if usize::try_from(n).unwrap_or(0) >= nodes || Instant::now() > until {
            return n;
        }
        std::thread::park_timeout(Duration::from_millis(20));
    }
}

/// hello-wasm 1.1.0 (the same module; another version).
fn hello_wasm_1_1(dir: &Path) -> PathBuf {
    let pkg = dir.join("hello-wasm-1.1");
    edge_tests::co::copy_tree(
        &edge_tests::co::repo_root().join("fixtures/packages/hello-wasm"),
        &pkg,
    );
    let file = pkg.join("margo.yaml");
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(&file, text.replace("1.0.0", "1.1.0")).unwrap_or_else(|e| panic!("{e}"));
    pkg
}

/// Enrol every node through `POST /api/enrollments`, eight at a time; each
/// node's credentials folder.
fn enroll_all(co: &Co, dir: &Path, o: &Options) -> Vec<PathBuf> {
    let next = Arc::new(AtomicU64::new(0));
    let out: Arc<std::sync::Mutex<HashMap<usize, PathBuf>>> = Arc::default();
    std::thread::scope(|s| {
        for _ in 0..8 {
            let (next, out) = (next.clone(), out.clone());
            s.spawn(move || {
                let api = co.client(Some(&co.token));
                loop {
                    let i =
                        usize::try_from(next.fetch_add(1, Ordering::Relaxed)).unwrap_or(usize::MAX);
                    if i >= o.nodes {
                        break;
                    }
                    let site = site_of(i, o.los);
                    let e: Enrollment = api
                        .post(
                            edge_api::routes::ENROLLMENTS,
                            &EnrollRequest {
                                site: site.clone(),
                                device: Some(device_of(i)),
                                direct: false,
                                names: Vec::new(),
                            },
                        )
                        .unwrap_or_else(|e| panic!("enrol: {e}"));
                    let folder = dir.join("nodes").join(device_of(i));
                    std::fs::create_dir_all(&folder).unwrap_or_else(|e| panic!("{e}"));
                    edge_api::mtls::write_credentials(&folder, &e, &site, "en")
                        .unwrap_or_else(|e| panic!("{e}"));
                    out.lock()
                        .unwrap_or_else(|e| panic!("{e}"))
                        .insert(i, folder);
                }
            });
        }
    });
    let mut map = std::mem::take(&mut *out.lock().unwrap_or_else(|e| panic!("{e}")));
    (0..o.nodes)
        .map(|i| {
            map.remove(&i)
                .unwrap_or_else(|| panic!("node {i} not enrolled"))
        })
        .collect()
}

type Seen = std::sync::mpsc::Receiver<(Instant, edge_api::types::Event)>;

/// Wait until `want` deployments are reported installed about their current
/// document; the seconds it took and each one's time from `t0`.
fn until_installed(rx: &Seen, t0: Instant, want: usize, most: Duration) -> (f64, Vec<Duration>) {
    let mut done: HashMap<String, Duration> = HashMap::new();
    while done.len() < want {
        let left = most.saturating_sub(t0.elapsed());
        let (at, e) = rx
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("only {} of {want} installed within {most:?}", done.len()));
        if e.kind == "status" && e.data["state"] == "installed" && e.data["current"] == true {
            done.entry(e.subject).or_insert(at - t0);
        }
    }
    let mut per: Vec<Duration> = done.into_values().collect();
    per.sort();
    (t0.elapsed().as_secs_f64(), per)
}

/// Wait until rollout `id` ends; the seconds it took.
fn until_rollout_ends(rx: &Seen, t0: Instant, id: &str, most: Duration) -> f64 {
    loop {
        let left = most.saturating_sub(t0.elapsed());
        let (at, e) = rx
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("rollout {id} did not end within {most:?}"));
        if e.subject == id
            && ["rollout.done", "rollout.paused", "rollout.rolled-back"].contains(&e.kind.as_str())
        {
            assert_eq!(e.kind, "rollout.done", "{e:?}");
            return (at - t0).as_secs_f64();
        }
    }
}

/// Wait until the CO has published `want` status events; the seconds it took.
fn until_reports(rx: &Seen, t0: Instant, want: u64, most: Duration) -> f64 {
    let mut n = 0;
    let mut last = t0;
    while n < want {
        let left = most.saturating_sub(t0.elapsed());
        let (at, e) = rx
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("only {n} of {want} reports arrived within {most:?}"));
        if e.kind == "status" {
            n += 1;
            last = at;
        }
    }
    (last - t0).as_secs_f64()
}
