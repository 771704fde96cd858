//! Attacks on authorization: fetching artifacts not named by the caller's own
//! deployments, inventing status reports for unknown deployments and foreign
//! devices, reading another device's desired state.
//!
//! Attacks that held and stay covered where they are tested already: a
//! device reading another device's desired state at the LO
//! (`lo::a_deploy_reaches_the_right_device_through_the_lo_and_status_comes_back`,
//! `the_other_device_sees_none_of_it`) and at the CO
//! (`attach::the_co_serves_the_same_api_to_directly_attached_nodes`); another
//! site's LO reading a site repository, and pushes through the Git backend
//! (`south::an_lo_reads_its_own_site_repository_over_mtls_and_nothing_else`).

use edge_tests::co::Co;
use edge_tests::fleet::{Fleet, deploy_hello, enroll, fleet, manifest_with, south_url, status_doc};
use edge_tests::lo::{Lo, Margo};
use serde_json::{Value, json};

/// The digest of the package-local artifact named in the YAML of the one
/// deployment `m`'s device is served.
fn artifact_of_the_deployment(m: &Margo, log: impl Fn() -> String) -> String {
    let (v, _) = manifest_with(m, 1, log);
    let yaml = m.get(v["deployments"][0]["url"].as_str().unwrap(), &[]);
    assert_eq!(yaml.status, 200);
    let text = String::from_utf8(yaml.body).unwrap();
    text.lines()
        .find_map(|l| l.trim().strip_prefix("digest: "))
        .map(|d| d.trim_matches(['"', '\'']).to_owned())
        .unwrap_or_else(|| panic!("no artifact digest in\n{text}"))
}

fn blob(m: &Margo, digest: &str) -> u16 {
    m.get(&format!("/v2/hello-wasm/blobs/{digest}"), &[]).status
}

/// Artifacts are served only to callers whose own deployments name them:
/// at the LO, device edge-1 cannot fetch the artifact of edge-2's only
/// deployment; at the CO, plant-2's LO cannot fetch plant-1's artifact.
/// Both get 404, as for an artifact that does not exist.
#[test]
fn artifacts_are_served_only_to_the_callers_own_deployments() {
    let f = fleet();
    let lo = Lo::start(&f.lo_creds, &f.dir.path().join("lo"), &[]);
    let m1 = Margo::new(&f.d1, &lo.url, "plant-1");
    let m2 = Margo::new(&f.d2, &lo.url, "plant-1");
    deploy_hello(&f.co, "edge-2");
    let digest = artifact_of_the_deployment(&m2, || lo.log());

    assert_eq!(blob(&m2, &digest), 200, "edge-2 fetches its own artifact");
    assert_eq!(
        blob(&m1, &digest),
        404,
        "edge-1 fetched an artifact only edge-2's deployment names"
    );
    let unknown = format!("sha256:{}", "0".repeat(64));
    assert_eq!(blob(&m1, &unknown), 404, "not yours = does not exist");

    let south = south_url(&f.d1);
    let plant2_lo = enroll(&f.co, f.dir.path(), "plant-2", None);
    let theirs = Margo::new(&plant2_lo, &south, "co");
    assert_eq!(
        blob(&theirs, &digest),
        404,
        "plant-2's LO fetched plant-1's artifact at the CO"
    );
    let ours = Margo::new(&f.lo_creds, &south, "co");
    assert_eq!(blob(&ours, &digest), 200, "plant-1's LO fills its cache");
}

/// Stored status rows at the CO for `deployment`.
fn rows(co: &Co, deployment: &str) -> i64 {
    let c = rusqlite::Connection::open_with_flags(
        co.data.join("edged.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    c.query_row(
        "SELECT count(*) FROM deployment_status WHERE deployment = ?1",
        [deployment],
        |r| r.get(0),
    )
    .unwrap()
}

fn status_entry(seq: i64, device: &str, deployment: &str) -> Value {
    json!({"seq": seq, "kind": "status", "device": device,
        "body": status_doc(deployment, "failed", 1).to_string(), "receivedAt": "2026-11-23T00:00:00Z"})
}

fn intake(lo: &Margo, epoch: &str, entries: Vec<Value>) -> (u16, Value) {
    let r = lo.json(
        "POST",
        "/lo/v1/intake",
        &json!({"epoch": epoch, "entries": entries}),
    );
    let body = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
    (r.status, body)
}

/// An LO cannot invent reports: one for a deployment the CO does not know
/// is stored nowhere; a batch speaking for a device of another site, or
/// for another site's deployment, is refused whole (403), the genuine
/// entry beside it included.
#[test]
fn an_lo_cannot_invent_reports_for_unknown_deployments_or_foreign_devices() {
    let f: Fleet = fleet();
    let lo = Margo::new(&f.lo_creds, &south_url(&f.d1), "co");
    let ours = deploy_hello(&f.co, "edge-1");

    let invented = "0b0e5f0c-4a3e-4c5e-9d7e-5a1f2b3c4d5e";
    let (status, ack) = intake(&lo, "e1", vec![status_entry(1, "edge-1", invented)]);
    assert_eq!(status, 200, "{ack}");
    assert_eq!(
        rows(&f.co, invented),
        0,
        "a report for an invented deployment was stored"
    );

    for (what, entry) in [
        ("a device of another site", status_entry(2, "edge-9", &ours)),
        (
            "another site's device, invented deployment",
            status_entry(2, "edge-9", invented),
        ),
        (
            "a device the CO does not know",
            status_entry(2, "edge-77", invented),
        ),
        (
            "another site's device's capabilities",
            json!({"seq": 2, "kind": "capabilities", "device": "edge-9",
                "body": edge_tests::fleet::caps_doc("edge-9").to_string(), "receivedAt": "2026-11-23T00:00:00Z"}),
        ),
    ] {
        let genuine = status_entry(3, "edge-1", &ours);
        let (status, problem) = intake(&lo, "e1", vec![entry, genuine]);
        assert_eq!(status, 403, "{what}: {problem}");
        assert!(
            problem["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("entry 2"),
            "{problem}"
        );
        assert_eq!(rows(&f.co, &ours), 0, "{what}: the batch was partly stored");
        assert_eq!(rows(&f.co, invented), 0, "{what}");
    }
}
