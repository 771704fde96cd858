//! `bench intake`: the CO's status intake alone, sustained. A release CO with
//! N deployments over K sites (devices registered in one batch, one deploy
//! per site); then each site's LO identity posts its site's reports as an
//! LO's outbox does (batches of 500, each acknowledged before the next),
//! all sites at once, for a set time. Measured: reports stored per second,
//! the CO's CPU over the run, its RSS. The fleet benchmark runs the same
//! intake after its nodes (`sustained`).
//!
//! `bench intake [--deployments N] [--sites K] [--secs S] [--json FILE]`

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use edge_api::mtls::Identity;
use edge_tests::co::Co;
use edge_tests::fleet::status_doc;
use serde_json::{Value, json};

use super::fleet::{ctl, enroll, server_of};
use super::{flag_pairs, parsed, release_bin};

/// Reports in one intake batch, as an LO's outbox sends them.
const BATCH: usize = 500;

/// Resident memory of process `pid`, MB.
pub(crate) fn rss_mb(pid: u32) -> f64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// CPU seconds (user + system) process `pid` has used so far.
pub(crate) fn cpu_s(pid: u32) -> f64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command, which is in parentheses and may hold spaces.
    let rest = text.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after `)`.
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|i| f.get(*i)?.parse::<f64>().ok())
        .sum();
    ticks / 100.0
}

/// A value of the CO's `/metrics` (the first sample named `name`).
pub(crate) fn metric(co: &Co, name: &str) -> f64 {
    let text = co
        .client(Some(&co.token))
        .get_text("/metrics")
        .unwrap_or_else(|e| panic!("/metrics: {e}"));
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

/// What a sustained intake run measured.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sustained {
    pub(crate) reports: u64,
    pub(crate) secs: f64,
    pub(crate) per_s: f64,
    /// Cores of the CO busy, on average (CPU seconds / wall seconds).
    pub(crate) co_cores: f64,
}

/// Post `site`'s reports as its LO (credentials `creds`) for `secs`
/// seconds, every site at once; what the CO stored.
pub(crate) fn sustained(co: &Co, lo: &[(PathBuf, String)], secs: f64) -> Sustained {
    let stored = AtomicU64::new(0);
    let cpu0 = co.pid().map_or(0.0, cpu_s);
    let t0 = Instant::now();
    let until = t0 + Duration::from_secs_f64(secs);
    std::thread::scope(|s| {
        for (creds, site) in lo {
            let stored = &stored;
            s.spawn(move || {
                let n = post_until(co, creds, site, until);
                stored.fetch_add(n, Ordering::Relaxed);
            });
        }
    });
    let took = t0.elapsed().as_secs_f64();
    let cpu = co.pid().map_or(0.0, cpu_s) - cpu0;
    let reports = stored.load(Ordering::Relaxed);
    Sustained {
        reports,
        secs: took,
        per_s: reports as f64 / took,
        co_cores: cpu / took,
    }
}

/// Post batches of `site`'s reports until `until`; how many were stored.
fn post_until(co: &Co, creds: &Path, site: &str, until: Instant) -> u64 {
    let api = co.client(Some(&co.token));
    let list: Vec<Value> = api
        .get(&format!("{}?site={site}", edge_api::routes::DEPLOYMENTS))
        .unwrap_or_else(|e| panic!("{e}"));
    let deployments: Vec<(String, String)> = list
        .iter()
        .filter_map(|d| {
            Some((
                d["id"].as_str()?.to_owned(),
                d["device"].as_str()?.to_owned(),
            ))
        })
        .collect();
    assert!(!deployments.is_empty(), "no deployments at {site}");
    let id = Identity::load(creds).unwrap_or_else(|e| panic!("{e}"));
    let http = id
        .blocking_client(&id.wfm_id("co"), Duration::from_secs(120))
        .unwrap_or_else(|e| panic!("{e}"));
    let south = edge_api::south::South::new(&server_of(creds), http);
    let epoch = format!("bench-{}-{site}-{:?}", std::process::id(), Instant::now());
    let mut seq = 0_i64;
    let mut k = 0_usize;
    while Instant::now() < until {
        let entries = (0..BATCH)
            .map(|i| {
                let (dep, device) = &deployments[(k + i) % deployments.len()];
                edge_api::types::IntakeEntry {
                    seq: seq + i as i64 + 1,
                    kind: "status".into(),
                    device: device.clone(),
                    body: status_doc(dep, "installed", 1).to_string(),
                    received_at: "2026-12-07T00:00:00Z".into(),
                    digest: None,
                }
            })
            .collect();
        let ack = south
            .intake(&edge_api::types::IntakeBatch {
                epoch: epoch.clone(),
                entries,
            })
            .unwrap_or_else(|e| panic!("intake: {e}"));
        seq += BATCH as i64;
        k += BATCH;
        assert_eq!(ack.acked, seq);
    }
    u64::try_from(seq).unwrap_or(0)
}

#[derive(Debug)]
struct Options {
    deployments: usize,
    sites: usize,
    secs: f64,
    json: Option<PathBuf>,
}

fn options(args: &[String]) -> Options {
    let mut o = Options {
        deployments: 10_000,
        sites: 10,
        secs: 60.0,
        json: None,
    };
    for (flag, value) in flag_pairs(args) {
        match flag {
            "--deployments" => o.deployments = parsed(flag, value),
            "--sites" => o.sites = parsed(flag, value),
            "--secs" => o.secs = parsed(flag, value),
            "--json" => o.json = Some(PathBuf::from(value)),
            other => panic!("unknown option `{other}` of `bench intake`"),
        }
    }
    assert!(o.sites >= 1 && o.deployments >= o.sites && o.secs > 0.0);
    o
}

/// A release CO holding hello-wasm, with `sites` sites (`site-00`, …) and
/// `devices` devices (`n00000`, …, device `i` at site `i % sites`)
/// registered in batches of 10,000 (one commit each): the CO, its sites.
pub(crate) fn fleet_registry(
    dir: &Path,
    edged: &Path,
    edgectl: &Path,
    sites: usize,
    devices: usize,
) -> (Co, Vec<String>) {
    let co = Co::start_with(&dir.join("co"), &[], edged);
    ctl(
        edgectl,
        &co,
        &[
            "co",
            "add",
            "app",
            "--artifact",
            "fixtures/packages/hello-wasm",
        ],
    );
    let api = co.client(Some(&co.token));
    let names: Vec<String> = (0..sites).map(|s| format!("site-{s:02}")).collect();
    for s in &names {
        ctl(edgectl, &co, &["co", "add", "site", s]);
    }
    let all: Vec<Value> = (0..devices)
        .map(|i| json!({"id": format!("n{i:05}"), "site": names[i % sites]}))
        .collect();
    for chunk in all.chunks(10_000) {
        let _: Value = api
            .post(edge_api::routes::DEVICES_BATCH, &json!({"devices": chunk}))
            .unwrap_or_else(|e| panic!("add devices: {e}"));
    }
    (co, names)
}

/// Run the intake benchmark with `args` (after the group name).
pub(crate) fn run(args: &[String]) {
    let o = options(args);
    let edged = release_bin("edged");
    let edgectl = release_bin("edgectl");
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (co, sites) = fleet_registry(dir.path(), &edged, &edgectl, o.sites, o.deployments);
    let api = co.client(Some(&co.token));
    for s in &sites {
        let _: Value = api
            .post(
                edge_api::routes::DEPLOYMENTS,
                &json!({"app": "hello-wasm", "version": "1.0.0", "site": s, "allowUnreported": true}),
            )
            .unwrap_or_else(|e| panic!("deploy: {e}"));
    }
    let lo: Vec<(PathBuf, String)> = sites
        .iter()
        .map(|s| (enroll(&edgectl, &co, dir.path(), s, None), s.clone()))
        .collect();
    let batches0 = metric(&co, "edged_intake_batch_entries_count");
    let run = sustained(&co, &lo, o.secs);
    let batches = metric(&co, "edged_intake_batch_entries_count") - batches0;
    let rss = co.pid().map_or(0.0, rss_mb);
    println!(
        "intake: {} deployments, {} sites posting at once for {:.0} s: {} reports stored, {:.0} reports/s in {batches:.0} batches; CO {:.2} cores busy, RSS {rss:.0} MB",
        o.deployments, o.sites, run.secs, run.reports, run.per_s, run.co_cores
    );
    let out = json!({
        "deployments": o.deployments, "sites": o.sites, "secs": run.secs,
        "reports": run.reports, "reports_per_s": run.per_s, "batches": batches,
        "co_cores": run.co_cores, "co_rss_mb": rss,
    });
    if let Some(path) = &o.json {
        std::fs::write(path, out.to_string() + "\n")
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}
