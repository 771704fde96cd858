//! The CO killed -9 in the middle of a fleet deploy: a hundred simulated
//! edge nodes (the kit's `sim`: each with its own identity and mTLS client,
//! speaking the Margo API as `edged --mode en` does) at two sites, each site
//! behind its own real LO; the CO dies while the nodes are installing and
//! reporting, and starts again on the same data and address.
//!
//! Nothing lost: every node ends `installed` at the CO about the document
//! deployed; every report an LO took was queued once (the LO's outbox
//! counted exactly the capabilities and reports the nodes had answered),
//! and reached the CO once (the CO's intake record of each LO's outbox
//! stands at the outbox's last entry, and nothing waits).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use edge_api::types::{EnrollRequest, Enrollment};
use edge_tests::co::{Co, ok};
use edge_tests::fleet::{enroll, south_url};
use edge_tests::lo::Lo;
use edge_tests::sim::{Counters, SimNode};
use edge_tests::wait::{EVERY, until_or, within};
use serde_json::{Value, json};

const SITES: [&str; 2] = ["plant-1", "plant-2"];
const PER_SITE: usize = 50;

/// Enrol `device` of `site` through the API; its credentials folder.
fn enroll_node(api: &edge_api::Client, dir: &Path, site: &str, device: &str) -> std::path::PathBuf {
    let e: Enrollment = api
        .post(
            edge_api::routes::ENROLLMENTS,
            &EnrollRequest {
                site: site.into(),
                device: Some(device.into()),
                direct: false,
                names: Vec::new(),
            },
        )
        .unwrap();
    let folder = dir.join("nodes").join(device);
    std::fs::create_dir_all(&folder).unwrap();
    edge_api::mtls::write_credentials(&folder, &e, site, "en").unwrap();
    folder
}

/// `(epoch, entries ever queued, entries waiting)` of the LO outbox in `data`.
fn outbox(data: &Path) -> (String, i64, i64) {
    let c = rusqlite::Connection::open(data.join("lo.db")).unwrap();
    c.busy_timeout(Duration::from_secs(10)).unwrap();
    let epoch: String = c
        .query_row("SELECT value FROM meta WHERE key = 'epoch'", [], |r| {
            r.get(0)
        })
        .unwrap();
    let queued: i64 = c
        .query_row(
            "SELECT COALESCE(MAX(seq), 0) FROM sqlite_sequence WHERE name = 'outbox'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let waiting: i64 = c
        .query_row("SELECT count(*) FROM outbox", [], |r| r.get(0))
        .unwrap();
    (epoch, queued, waiting)
}

/// The last sequence number the CO in `co_data` applied from `epoch` of `site`.
fn applied(co_data: &Path, site: &str, epoch: &str) -> i64 {
    let c = rusqlite::Connection::open(co_data.join("edged.db")).unwrap();
    c.busy_timeout(Duration::from_secs(10)).unwrap();
    c.query_row(
        "SELECT COALESCE(MAX(last_seq), 0) FROM intake WHERE site = ?1 AND epoch = ?2",
        [site, epoch],
        |r| r.get(0),
    )
    .unwrap()
}

#[test]
fn the_co_killed_during_a_fleet_deploy_loses_no_node_and_no_report() {
    let dir = tempfile::tempdir().unwrap();
    let co_data = dir.path().join("co");
    let co = Co::start(&co_data, &[]);
    co.add_app("fixtures/packages/hello-wasm");
    let api = co.client(Some(&co.token));
    let mut nodes = Vec::new();
    let mut los = Vec::new();
    for site in SITES {
        ok(&co.edgectl(&["co", "add", "site", site]));
        let devices: Vec<String> = (0..PER_SITE).map(|i| format!("{site}-n{i:02}")).collect();
        let batch: Vec<Value> = devices
            .iter()
            .map(|d| json!({"id": d, "site": site}))
            .collect();
        let _: Value = api
            .post(edge_api::routes::DEVICES_BATCH, &json!({"devices": batch}))
            .unwrap();
        let creds = enroll(&co, dir.path(), site, None);
        let data = dir.path().join(format!("lo-{site}"));
        let lo = Lo::start(
            &creds,
            &data,
            &["--listen-limits", "connections=400,per-peer=400"],
        );
        for d in devices {
            let creds = enroll_node(&api, dir.path(), site, &d);
            nodes.push((d, site, lo.url.clone(), creds));
        }
        los.push((creds, data, lo));
    }
    let south = south_url(&los[0].0);
    let south_addr = south.trim_start_matches("https://").to_owned();

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let counters = Arc::new(Counters::default());
    let burst = tokio::sync::watch::Sender::new(0_u32);
    for (device, site, base, creds) in nodes {
        let node = SimNode {
            device,
            site: site.to_owned(),
            base,
            creds,
            install: Duration::from_millis(400),
            fails: false,
            counters: counters.clone(),
        };
        runtime.spawn(node.run(burst.subscribe()));
    }
    let all = SITES.len() * PER_SITE;
    until_or(
        "every simulated node holds a long poll",
        || (counters.polling.load(Ordering::Relaxed) >= all as i64).then_some(()),
        || format!("{counters:?}"),
    );

    for site in SITES {
        let _: Value = api
            .post(
                edge_api::routes::DEPLOYMENTS,
                &json!({"app": "hello-wasm", "site": site, "allowUnreported": true}),
            )
            .unwrap();
    }
    // kill -9 once the nodes are reporting, before they are all installed.
    until_or(
        "the first reports reach the LOs",
        || (counters.reports.load(Ordering::Relaxed) >= 20).then_some(()),
        || format!("{counters:?}"),
    );
    co.kill();
    let before_restart = counters.reports.load(Ordering::Relaxed);
    assert!(
        before_restart < 2 * all as u64,
        "the CO was killed after every node had installed: {before_restart} reports"
    );
    let co = Co::start(&co_data, &["--south-listen", &south_addr]);
    let api = co.client(Some(&co.token));

    // Every node installed, as the CO sees it, about the document deployed.
    // The LOs reconnect with their back-off: a longer wait than the kit's.
    long_wait(
        "every deployment installed at the CO",
        || {
            let list: Vec<Value> = api.get(edge_api::routes::DEPLOYMENTS).ok()?;
            let done = list
                .iter()
                .filter(|d| d["state"] == "installed" && d["stale"] != true)
                .count();
            (list.len() == all && done == all).then_some(())
        },
        || co.log(),
    );
    // Every node sent `installing` and `installed` once each.
    assert_eq!(counters.reports.load(Ordering::Relaxed), 2 * all as u64);

    // Every report once: each outbox queued its nodes' capabilities and
    // reports, no more and no fewer, and the CO applied exactly those.
    let mut queued_all = 0;
    for (_, data, _) in &los {
        let site = if data.ends_with("lo-plant-1") {
            "plant-1"
        } else {
            "plant-2"
        };
        let epoch_queued = long_wait(
            "the LO's outbox drained to the CO",
            || {
                let (epoch, queued, waiting) = outbox(data);
                (waiting == 0 && applied(&co_data, site, &epoch) == queued)
                    .then_some((epoch, queued))
            },
            || format!("{:?}\n{}", outbox(data), co.log()),
        );
        let (epoch, queued) = epoch_queued;
        assert_eq!(applied(&co_data, site, &epoch), queued, "{site}");
        queued_all += queued;
    }
    // One capabilities report per node, and its two status reports.
    assert_eq!(queued_all, (all + 2 * all) as i64, "{counters:?}");
    drop(burst);
    runtime.shutdown_timeout(Duration::from_secs(5));
}

/// [`until_or`] with a minute and a half to wait.
fn long_wait<T>(what: &str, f: impl FnMut() -> Option<T>, log: impl Fn() -> String) -> T {
    within(Duration::from_secs(90), EVERY, f)
        .unwrap_or_else(|| panic!("timed out waiting for {what}\n{}", log()))
}
