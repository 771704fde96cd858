//! An edge node killed with SIGKILL at 20 random points in a row, while the
//! CO deploys, changes (`co set`) and undeploys a hello-process workload on
//! it and a second one runs steadily; the node is started again after each
//! kill. The points are random delays after each change, from a seed
//! printed at the start (`FAULTS_SEED=N` repeats a run).
//!
//! Nothing lost, nothing doubled: after the last restart the node
//! converges: one real process per deployment the CO holds (counted in
//! `/proc`, each with the greeting last set), none of an undeployed one,
//! the node lists exactly those deployments, and the CO's state for each is
//! `installed`, about its latest document.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use edge_tests::co::ok;
use edge_tests::en::En;
use edge_tests::fleet::{deploy_to, fleet, listing};
use edge_tests::lo::Lo;
use edge_tests::wait::within;

const KILLS: u32 = 20;
/// The longest random delay between a change and the kill.
const MAX_DELAY_MS: u64 = 1500;
/// How long the node may take to converge after the last restart.
const CONVERGE: Duration = Duration::from_secs(60);

/// splitmix64: a small, seeded, reproducible source of delays and choices.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) % n
    }
}

fn seed() -> u64 {
    std::env::var("FAULTS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        })
}

#[test]
fn an_edge_node_killed_at_twenty_random_points_converges_with_one_process_each() {
    let seed = seed();
    eprintln!("faults::kill: seed {seed} (run again with FAULTS_SEED={seed})");
    let mut rng = Rng(seed);
    let f = fleet();
    f.co.add_app("fixtures/packages/hello-process");
    let lo = Lo::start(&f.lo_creds, &f.dir.path().join("lo"), &[]);
    let data = f.dir.path().join("en");
    let mut en = En::start(&f.d1, &data, &lo.url, &[]);
    let steady = deploy_to(
        &f.co,
        "hello-process",
        "edge-1",
        &["--name", "steady", "--set", "greeting=steady"],
    );
    let mut churn: Option<String> = None;
    let mut gone = Vec::new();
    for i in 0..KILLS {
        let greeting = format!("greeting=churn-{i}");
        let what = match (&churn, rng.below(3)) {
            (None, _) => {
                churn = Some(deploy_to(
                    &f.co,
                    "hello-process",
                    "edge-1",
                    &["--name", "churn", "--set", &greeting],
                ));
                "deploy"
            }
            (Some(id), 0 | 1) => {
                ok(&f.co.edgectl(&["co", "set", id, &greeting]));
                "set"
            }
            (Some(id), _) => {
                ok(&f.co.edgectl(&["co", "undeploy", id]));
                gone.push(id.clone());
                churn = None;
                "undeploy"
            }
        };
        // The fault: the kill lands this long after the change.
        let delay = rng.below(MAX_DELAY_MS);
        eprintln!("faults::kill: {i}: {what}, kill -9 after {delay} ms");
        std::thread::sleep(Duration::from_millis(delay));
        en.kill();
        en = En::start(&f.d1, &data, &lo.url, &[]);
    }
    let churn = if let Some(id) = churn {
        ok(&f.co.edgectl(&["co", "set", &id, "greeting=final"]));
        id
    } else {
        deploy_to(
            &f.co,
            "hello-process",
            "edge-1",
            &["--name", "churn", "--set", "greeting=final"],
        )
    };
    let log = || format!("seed {seed}\n--- EN\n{}\n--- LO\n{}", en.log(), lo.log());

    // The node converges to what the CO holds, each workload once.
    let want: BTreeSet<String> = [steady.clone(), churn.clone()].into();
    let converged = within(CONVERGE, Duration::from_millis(100), || {
        let listed: BTreeSet<String> = listing(&en)["workloads"]
            .as_array()?
            .iter()
            .filter(|w| w["state"] == "installed")
            .filter_map(|w| w["deployment"].as_str().map(str::to_owned))
            .collect();
        let greetings = greetings(&data);
        (listed == want
            && greetings == ["final", "steady"].map(str::to_owned)
            && co_current(&f.co, &want))
        .then_some(())
    });
    assert!(
        converged.is_some(),
        "not converged: node lists {}, processes greet {:?}, CO says {}\n{}",
        listing(&en)["workloads"],
        greetings(&data),
        ok(&f.co.edgectl(&["co", "list", "deployments", "-o", "json"])),
        log()
    );
    // Nothing of the undeployed ones is left.
    for id in &gone {
        assert!(!data.join("workloads").join(id).exists(), "{id}\n{}", log());
    }
    let rows = listing(&en)["workloads"].as_array().unwrap().len();
    assert_eq!(rows, 2, "{}", listing(&en));
}

/// The CO holds exactly `want`, each `installed` about its latest document.
fn co_current(co: &edge_tests::co::Co, want: &BTreeSet<String>) -> bool {
    let list = edge_tests::fleet::deployments(co);
    let ids: BTreeSet<String> = list
        .iter()
        .filter_map(|d| d["id"].as_str().map(str::to_owned))
        .collect();
    ids == *want
        && list
            .iter()
            .all(|d| d["state"] == "installed" && d["stale"] != true)
}

/// The `GREETING` of every process running a workload program below
/// `data`, sorted (one entry per process: a duplicate shows twice).
fn greetings(data: &std::path::Path) -> Vec<String> {
    let out = Command::new("pgrep")
        .arg("-f")
        .arg(data.join("workloads"))
        .output()
        .unwrap();
    let mut found: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|pid| std::fs::read(format!("/proc/{}/environ", pid.trim())).ok())
        .map(|env| {
            env.split(|b| *b == 0)
                .find_map(|v| v.strip_prefix(b"GREETING="))
                .map(|g| String::from_utf8_lossy(g).into_owned())
                .unwrap_or_default()
        })
        .collect();
    found.sort();
    found
}
