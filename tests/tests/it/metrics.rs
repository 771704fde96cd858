//! `/metrics` on every tier, scraped by a real Prometheus (Debian's): the
//! CO's north API (TLS, a bearer token), an LO's and an edge node's
//! `--metrics-listen`; a deploy's result is read back through Prometheus's
//! query API from each tier.

use edge_tests::en::En;
use edge_tests::fleet::{deploy_hello, fleet, wait_state};
use edge_tests::lo::Lo;
use edge_tests::prometheus::Prometheus;
use edge_tests::wait::until_or;

/// The address a daemon's log says its metrics are served at.
pub(crate) fn metrics_addr(log: &str) -> String {
    log.lines()
        .find_map(|l| l.split("metrics at http://").nth(1))
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_else(|| panic!("no metrics address in:\n{log}"))
        .to_owned()
}

#[test]
fn prometheus_scrapes_the_co_an_lo_and_a_node_and_each_shows_the_deploy() {
    let f = fleet();
    let lo = Lo::start(
        &f.lo_creds,
        &f.dir.path().join("lo"),
        &["--metrics-listen", "127.0.0.1:0"],
    );
    let en = En::start(
        &f.d1,
        &f.dir.path().join("en"),
        &lo.url,
        &["--metrics-listen", "127.0.0.1:0"],
    );
    let logs = || format!("{}\n{}", en.log(), lo.log());
    let id = deploy_hello(&f.co, "edge-1");
    wait_state(&f.co, &id, "installed", logs);

    let north = f.co.url.trim_start_matches("https://").to_owned();
    let prom = Prometheus::start(&format!(
        "  - job_name: co\n    scheme: https\n    tls_config:\n      ca_file: {ca}\n    authorization:\n      credentials: {token}\n    static_configs:\n      - targets: ['{north}']\n\
         \x20 - job_name: lo\n    static_configs:\n      - targets: ['{lo}']\n\
         \x20 - job_name: en\n    static_configs:\n      - targets: ['{en}']\n",
        ca = f.co.ca_file().display(),
        token = f.co.token,
        lo = metrics_addr(&lo.log()),
        en = metrics_addr(&en.log()),
    ));
    let plog = || format!("{}\n{}", prom.log(), logs());
    for job in ["co", "lo", "en"] {
        until_or(
            &format!("Prometheus scraping {job}"),
            || (prom.query(&format!("up{{job=\"{job}\"}}")) == Some(1.0)).then_some(()),
            plog,
        );
    }
    for (query, at_least) in [
        ("edged_deployments{job=\"co\",state=\"installed\"}", 1.0),
        ("edged_lo_manifests_total{job=\"lo\",answer=\"200\"}", 1.0),
        ("edged_lo_reports_total{job=\"lo\"}", 1.0),
        ("edged_lo_view_rebuild_seconds_count{job=\"lo\"}", 1.0),
        ("edged_en_workloads{job=\"en\",state=\"installed\"}", 1.0),
        ("edged_en_reconcile_seconds_count{job=\"en\"}", 1.0),
        ("edged_en_artifact_store_bytes{job=\"en\"}", 1.0),
        ("process_resident_memory_bytes{job=\"en\"}", 1_000_000.0),
        ("process_cpu_seconds_total{job=\"lo\"}", 0.01),
    ] {
        until_or(
            &format!("{query} at least {at_least}"),
            || (prom.query(query)? >= at_least).then_some(()),
            plog,
        );
    }
    // Every query of the contributed dashboard is valid PromQL over these.
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            edge_tests::co::repo_root().join("contrib/grafana/edged-fleet.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let panels = dashboard["panels"].as_array().unwrap();
    assert!(panels.len() >= 10);
    for p in panels {
        let expr = p["targets"][0]["expr"].as_str().unwrap();
        assert!(prom.valid(expr), "{}: {expr}\n{}", p["title"], prom.log());
    }
    // Gauges that are 0 here are still exported.
    assert_eq!(
        prom.query("edged_en_outbox_entries{job=\"en\"}")
            .map(|v| v >= 0.0),
        Some(true)
    );
}
