//! The `en` group: the edge node's budgets (DESIGN.md §9).
//!
//! - size of the static musl `edged` and `edgectl` (profile `release-small`,
//!   built in `MUSL_TARGET_DIR` when set), when the musl target is installed;
//! - WebAssembly cold start: the wasm driver starting the fixture module
//!   (compile from the text format, instantiate, run) until its first output
//!   line is in the workload's log, with a fresh engine each run and with
//!   the node's engine already made;
//! - deploy → installed: `POST /api/deployments` at the CO until the CO
//!   reports `installed`, through an LO and a release `edged --mode en`
//!   with its default poll settings (the LO's nudge answers the long poll);
//! - `edgectl co deploy --wait` of the same app, 50 times, from process
//!   start to exit (installed);
//! - upgrade → installed: `POST /api/deployments/update` moving one
//!   deployment of hello-wasm between versions 1.0.0 and 1.1.0 (in place,
//!   same id) until the CO has the node's report of the new version
//!   installed, read from the event stream (a report of another state
//!   first, then `installed`), 30 times;
//! - idle RSS and CPU of that node over `EN_IDLE_SECS` seconds (600 unless
//!   set) while it keeps the hello-process app running.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use edge_api::types::DeploymentSummary;
use edge_model::ProfileType;
use edge_runtime::driver::{Driver, Workload};
use edge_runtime::plan::ComponentPlan;
use edge_runtime::process::RestartPolicy;
use edge_runtime::wasm::{DEFAULT_MEMORY, WasmDriver};
use edge_tests::co::{Co, repo_root};
use edge_tests::en::En;
use edge_tests::lo::Lo;

use super::fleet::{ctl, deploy, deploy_app, enroll};
use super::{breakdown, ms, percentiles, quantile, release_bin};

const SITE: &str = "plant-1";
const DEVICE: &str = "edge-1";
/// Deploy → installed samples.
const DEPLOYS: usize = 30;

/// [`DEPLOYS`], or `CHANGE_RUNS` when set (a p99 wants 100 or more).
fn deploys() -> usize {
    std::env::var("CHANGE_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEPLOYS)
}
/// Cold start samples.
const STARTS: usize = 30;
/// `co deploy --wait` samples.
const WAITS: usize = 50;

pub(crate) fn run() {
    println!("== en");
    cold_start();
    run_with(false);
}

/// Group `change`: only what times one change (deploy → installed with its
/// breakdown, `co deploy --wait`, upgrade → installed).
pub(crate) fn change() {
    println!("== change");
    run_with(true);
}

fn run_with(change_only: bool) {
    let edgectl = release_bin("edgectl");
    let edged = release_bin("edged");
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    // The stage markers of the breakdown (debug lines of target `latency`).
    let log = ["--log", breakdown::LOG];
    let co = Co::start_with(&dir.path().join("co"), &log, &edged);
    for app in ["hello-wasm", "hello-process"] {
        let pkg = repo_root().join("fixtures/packages").join(app);
        ctl(
            &edgectl,
            &co,
            &["co", "add", "app", "--artifact", &pkg.to_string_lossy()],
        );
    }
    ctl(&edgectl, &co, &["co", "add", "site", SITE]);
    ctl(
        &edgectl,
        &co,
        &["co", "add", "device", DEVICE, "--site", SITE],
    );
    let creds = dir.path().join("creds");
    let lo_creds = enroll(&edgectl, &co, &creds, SITE, None);
    let en_creds = enroll(&edgectl, &co, &creds, SITE, Some(DEVICE));
    let lo = Lo::start_with(&lo_creds, &dir.path().join("lo"), &log, &edged);
    // EN_EDGED runs the node from another build (such as the static one).
    let en_bin = std::env::var_os("EN_EDGED").map_or_else(|| edged.clone(), PathBuf::from);
    println!("edge node binary: {}", en_bin.display());
    let en = En::start_with(
        &en_creds,
        &dir.path().join("en"),
        &lo.url,
        &log,
        &[],
        &en_bin,
    );
    let api = co.client(Some(&co.token));

    let logs: [&dyn Fn() -> String; 3] = [&|| co.log(), &|| lo.log(), &|| en.log()];
    deploy_to_installed(&api, logs);
    deploy_wait(&edgectl, &co);
    upgrade_to_installed(&edgectl, &co, dir.path(), &api);
    if change_only {
        return;
    }
    idle(&api, &en);
    sizes();
}

fn sizes() {
    let target = "x86_64-unknown-linux-musl";
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains(target))
        .unwrap_or(false);
    if !installed {
        println!("static size: skipped, the {target} target is not installed");
        return;
    }
    // MUSL_TARGET_DIR keeps this build apart from the others (it is slow).
    let dir = std::env::var_os("MUSL_TARGET_DIR")
        .or_else(|| std::env::var_os("CARGO_TARGET_DIR"))
        .map_or_else(|| repo_root().join("target"), PathBuf::from);
    let status = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args([
            "build",
            "--quiet",
            "--profile",
            "release-small",
            "--target",
            target,
            "-p",
            "edged",
            "-p",
            "edgectl",
        ])
        .env("CARGO_TARGET_DIR", &dir)
        .current_dir(repo_root())
        .status()
        .unwrap_or_else(|e| panic!("cargo: {e}"));
    assert!(status.success(), "the musl build failed");
    for name in ["edged", "edgectl"] {
        let path = dir.join(target).join("release-small").join(name);
        let len = std::fs::metadata(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .len();
        #[allow(clippy::cast_precision_loss)]
        let mib = len as f64 / 1024.0 / 1024.0;
        println!("static {name} ({target}, release-small): {len} bytes ({mib:.1} MiB)");
    }
}

fn wasm_workload(dir: &Path, n: usize) -> Workload {
    Workload {
        deployment: format!("bench-{n}"),
        component: ComponentPlan {
            name: "hello".into(),
            kind: ProfileType::Wasm,
            repository: None,
            revision: None,
            wait: true,
            timeout: None,
            settings: BTreeMap::new(),
            limits: edge_model::profile::Limits::default(),
            artifact: None,
        },
        artifact: repo_root().join("fixtures/packages/hello-wasm/components/hello.wat"),
        origin: String::new(),
        dir: dir.join(n.to_string()),
        env: Vec::new(),
        restart: RestartPolicy {
            interval: Duration::from_secs(1),
            limit: 0,
            stable_after: Duration::from_secs(60),
        },
    }
}

/// Start the module and wait for its greeting in the log.
fn start_once(driver: &WasmDriver, w: &Workload) -> Duration {
    let began = Instant::now();
    let running = driver
        .start(w)
        .unwrap_or_else(|e| panic!("start: {}", e.message));
    let log = w.dir.join("output.log");
    // Looked for every 200 µs: this is the time being measured.
    edge_tests::wait::until_true(
        "output from the module",
        Duration::from_secs(30),
        Duration::from_micros(200),
        || std::fs::read_to_string(&log).is_ok_and(|t| t.contains("hello from edgectl wasm")),
    );
    let took = began.elapsed();
    running.stop(Duration::from_secs(5));
    took
}

fn cold_start() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mut fresh = Vec::new();
    let mut engine = Vec::new();
    for n in 0..STARTS {
        let began = Instant::now();
        let driver = WasmDriver::new(DEFAULT_MEMORY).unwrap_or_else(|e| panic!("{e}"));
        let made = began.elapsed();
        engine.push(made);
        fresh.push(made + start_once(&driver, &wasm_workload(dir.path(), n)));
    }
    let driver = WasmDriver::new(DEFAULT_MEMORY).unwrap_or_else(|e| panic!("{e}"));
    let warm: Vec<Duration> = (0..STARTS)
        .map(|n| start_once(&driver, &wasm_workload(dir.path(), STARTS + n)))
        .collect();
    println!(
        "wasm cold start, new engine + start to first output: {}",
        percentiles(fresh)
    );
    println!("  of which making the engine: {}", percentiles(engine));
    println!(
        "wasm start to first output, node's engine made: {}",
        percentiles(warm)
    );
}

fn state(api: &edge_api::Client, id: &str) -> Option<String> {
    let all: Vec<DeploymentSummary> = api
        .get(edge_api::routes::DEPLOYMENTS)
        .unwrap_or_else(|e| panic!("{e}"));
    all.into_iter().find(|d| d.id == id).and_then(|d| d.state)
}

fn wait_for(what: &str, limit: Duration, f: impl FnMut() -> bool) {
    edge_tests::wait::until_true(what, limit, Duration::from_millis(5), f);
}

/// Remove deployment `id` and wait until the CO no longer lists it.
fn undeploy(api: &edge_api::Client, id: &str) {
    api.delete(&format!("{}/{id}", edge_api::routes::DEPLOYMENTS))
        .unwrap_or_else(|e| panic!("undeploy: {e}"));
    wait_for("removed", Duration::from_secs(60), || {
        let all: Vec<DeploymentSummary> = api
            .get(edge_api::routes::DEPLOYMENTS)
            .unwrap_or_else(|e| panic!("{e}"));
        all.iter().all(|d| d.id != id)
    });
}

/// Deploy → installed, [`deploys`] times, timed from the POST to the CO's
/// event stream carrying the node's `installed` (a status event about the
/// deployment's current document); then where the time went, per stage
/// (p50 over the runs, from the daemons' stage markers in `logs`).
fn deploy_to_installed(api: &edge_api::Client, logs: [&dyn Fn() -> String; 3]) {
    let mut samples = Vec::new();
    let mut posts = Vec::new();
    let mut stages: Vec<Vec<Duration>> = vec![Vec::new(); breakdown::STAGES.len() + 1];
    for _ in 0..deploys() {
        let events = api.events(None).unwrap_or_else(|e| panic!("{e}"));
        let t0 = std::time::SystemTime::now();
        let began = Instant::now();
        let id = deploy(api, SITE, DEVICE);
        posts.push(began.elapsed());
        for e in events {
            let e = e.unwrap_or_else(|e| panic!("{e}"));
            if e.kind != "status" || e.subject != id {
                continue;
            }
            match e.data["state"].as_str() {
                Some("installed") => break,
                Some("failed") => panic!("the deploy failed: {}", e.data),
                _ => {}
            }
        }
        let total = began.elapsed();
        samples.push(total);
        let [co, lo, en] = logs.map(|l| l());
        if let Some(s) = breakdown::stages(t0, total, [&co, &lo, &en]) {
            for (i, d) in s.into_iter().enumerate() {
                stages[i].push(d);
            }
        }
        // The next run starts once the node has reported the removal, so
        // no removal is still on its way through the LO and the node.
        let events = api.events(None).unwrap_or_else(|e| panic!("{e}"));
        undeploy(api, &id);
        for e in events {
            let e = e.unwrap_or_else(|e| panic!("{e}"));
            if e.kind == "status" && e.subject == id && e.data["state"] == "removed" {
                break;
            }
        }
    }
    let mut sorted = samples.clone();
    sorted.sort();
    println!(
        "deploy -> installed at the CO (hello-wasm, CO -> LO -> EN): {}; p99 {:.1} ms",
        percentiles(samples),
        ms(quantile(&sorted, 0.99))
    );
    println!("  of which the POST's answer: {}", percentiles(posts));
    println!(
        "  where the time goes ({} of {} runs had every marker), p50 / p95 per stage:",
        stages[0].len(),
        deploys()
    );
    let names = breakdown::STAGES
        .iter()
        .map(|s| s.0)
        .chain(["CO: event `installed` seen by the bench"]);
    for (name, mut s) in names.zip(stages) {
        if s.is_empty() {
            continue;
        }
        s.sort();
        println!(
            "    {name}: {:.1} / {:.1} ms",
            ms(quantile(&s, 0.5)),
            ms(quantile(&s, 0.95))
        );
    }
}

/// `co upgrade` of one deployment to `installed` at the CO, alternating
/// between two versions.
fn upgrade_to_installed(edgectl: &Path, co: &Co, dir: &Path, api: &edge_api::Client) {
    let pkg = dir.join("hello-wasm-1.1");
    edge_tests::co::copy_tree(&repo_root().join("fixtures/packages/hello-wasm"), &pkg);
    let yaml = std::fs::read_to_string(pkg.join("margo.yaml"))
        .unwrap_or_else(|e| panic!("{e}"))
        .replace("version: 1.0.0", "version: 1.1.0")
        .replace("revision: 1.0.0", "revision: 1.1.0");
    std::fs::write(pkg.join("margo.yaml"), yaml).unwrap_or_else(|e| panic!("{e}"));
    ctl(
        edgectl,
        co,
        &["co", "add", "app", "--artifact", &pkg.to_string_lossy()],
    );
    let id = deploy(api, SITE, DEVICE);
    wait_for("installed", Duration::from_secs(60), || {
        state(api, &id).as_deref() == Some("installed")
    });
    let mut samples = Vec::new();
    for i in 0..deploys() {
        let version = if i % 2 == 0 { "1.0.0" } else { "1.1.0" };
        let events = api.events(None).unwrap_or_else(|e| panic!("{e}"));
        let began = Instant::now();
        let request = edge_api::types::UpdateRequest {
            ids: vec![id.clone()],
            version: Some(version.to_owned()),
            ..edge_api::types::UpdateRequest::default()
        };
        let out: Vec<DeploymentSummary> = api
            .post(edge_api::routes::DEPLOYMENTS_UPDATE, &request)
            .unwrap_or_else(|e| panic!("upgrade: {e}"));
        assert_eq!(out[0].change.as_deref(), Some("updated"), "{out:?}");
        let mut moved = false;
        for e in events {
            let e = e.unwrap_or_else(|e| panic!("{e}"));
            if e.kind != "status" || e.subject != id {
                continue;
            }
            match e.data["state"].as_str() {
                Some("installed") if moved => break,
                Some("installed") => {}
                Some("failed") => panic!("the upgrade failed: {}", e.data),
                _ => moved = true,
            }
        }
        samples.push(began.elapsed());
    }
    undeploy(api, &id);
    println!(
        "upgrade -> installed at the CO (hello-wasm 1.0.0 <-> 1.1.0, in place, CO -> LO -> EN): {}",
        percentiles(samples)
    );
}

/// `edgectl co deploy --wait` end to end (process start to exit 0), 50 runs;
/// each deployment is removed with `co undeploy --wait` before the next.
fn deploy_wait(edgectl: &Path, co: &Co) {
    let mut samples = Vec::new();
    for _ in 0..WAITS {
        let began = Instant::now();
        let out = ctl(
            edgectl,
            co,
            &[
                "co",
                "deploy",
                "--app",
                "hello-wasm",
                "--site",
                SITE,
                "--device",
                DEVICE,
                "--allow-unreported",
                "--wait",
                "-o",
                "json",
            ],
        );
        samples.push(began.elapsed());
        let summary: serde_json::Value =
            serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
        let id = summary["devices"][0]["deployment"]
            .as_str()
            .unwrap_or_else(|| panic!("no deployment in {out}"))
            .to_owned();
        ctl(edgectl, co, &["co", "undeploy", &id, "--wait"]);
    }
    let mut sorted = samples.clone();
    sorted.sort();
    println!(
        "co deploy --wait (hello-wasm, CO -> LO -> EN, process start to installed): {}; p99 {:.1} ms",
        percentiles(samples),
        ms(quantile(&sorted, 0.99))
    );
}

/// `(VmRSS in KiB, user + system CPU in clock ticks)` of a process.
fn sample(pid: u32) -> (u64, u64) {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_else(|e| panic!("{e}"));
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    let stat =
        std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_else(|e| panic!("{e}"));
    // Fields after the command (which may hold spaces): state is field 3.
    let rest = stat.rsplit_once(") ").map_or("", |(_, r)| r);
    let f: Vec<u64> = rest.split(' ').map(|x| x.parse().unwrap_or(0)).collect();
    // utime and stime are fields 14 and 15, i.e. 11 and 12 after the state.
    (
        rss,
        f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0),
    )
}

fn idle(api: &edge_api::Client, en: &En) {
    let secs: u64 = std::env::var("EN_IDLE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(600);
    let id = deploy_app(api, "hello-process", SITE, DEVICE);

    wait_for("hello-process installed", Duration::from_secs(60), || {
        state(api, &id).as_deref() == Some("installed")
    });
    let pid = en
        .pid()
        .unwrap_or_else(|| panic!("the node is not running"));
    // Settle first: the install's own work is not idle.
    std::thread::sleep(Duration::from_secs(5));
    let (rss0, cpu0) = sample(pid);
    let began = Instant::now();
    let mut peak = rss0;
    while began.elapsed() < Duration::from_secs(secs) {
        std::thread::sleep(Duration::from_secs(1));
        peak = peak.max(sample(pid).0);
    }
    let (rss1, cpu1) = sample(pid);
    let wall = began.elapsed().as_secs_f64();
    // Clock ticks are 100 a second on Linux.
    #[allow(clippy::cast_precision_loss)]
    let cpu = (cpu1 - cpu0) as f64 / 100.0;
    println!(
        "en idle over {wall:.0} s with hello-process running: RSS {rss0} KiB at start, {rss1} KiB at end, peak {peak} KiB; CPU {cpu:.2} s = {:.3} % of a core",
        cpu / wall * 100.0
    );
    println!("  resident memory by mapping: {}", rss_by_mapping(pid));
}

/// `start-end perms offset dev inode [path]`: the line that opens a mapping.
fn is_mapping_header(line: &str) -> bool {
    let mut words = line.split_whitespace();
    words
        .next()
        .is_some_and(|a| a.contains('-') && a.chars().all(|c| c.is_ascii_hexdigit() || c == '-'))
        && words.next().is_some_and(|p| p.len() == 4)
}

/// Resident KiB per kind of mapping (the binary, heap, anonymous, libraries).
fn rss_by_mapping(pid: u32) -> String {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap_or_default();
    let mut by: BTreeMap<String, u64> = BTreeMap::new();
    let mut current = String::new();
    for line in text.lines() {
        if let Some(kb) = line.strip_prefix("Rss:") {
            let kb: u64 = kb.trim().trim_end_matches("kB").trim().parse().unwrap_or(0);
            *by.entry(current.clone()).or_default() += kb;
        } else if is_mapping_header(line) {
            let name = line.split_whitespace().nth(5).unwrap_or("[anon]");
            current = match name {
                n if n.contains("edged") => "binary".to_owned(),
                n if n.starts_with('/') => "libraries".to_owned(),
                n => n.to_owned(),
            };
        }
    }
    let mut parts: Vec<(String, u64)> = by.into_iter().filter(|(_, kb)| *kb > 0).collect();
    parts.sort_by_key(|p| std::cmp::Reverse(p.1));
    parts
        .iter()
        .map(|(k, kb)| format!("{k} {kb} KiB"))
        .collect::<Vec<_>>()
        .join(", ")
}
