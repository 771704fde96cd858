//! Tolerant reading of other eras' and vendors' documents, through a real
//! LO to the CO (README "Compatibility"): a status report without
//! `adoptedManifestVersion` (clients before rc.3) is taken, warned about and
//! tied to no document; capabilities whose quantities carry blanks
//! (`59 Gi`) are read as the rc.3 quantity.

use edge_tests::co::ok;
use edge_tests::fleet::{deploy_hello, fleet, manifest_with, wait_state};
use edge_tests::lo::{Lo, Margo};
use serde_json::json;

#[test]
fn an_older_clients_status_and_blank_quantities_are_read_through_the_lo() {
    let f = fleet();
    let lo = Lo::start(&f.lo_creds, &f.dir.path().join("lo"), &[]);
    let m = Margo::new(&f.d1, &lo.url, "plant-1");

    let id = deploy_hello(&f.co, "edge-1");
    manifest_with(&m, 1, || lo.log());
    // (After the deploy: these capabilities would not place hello-wasm.)
    let caps = json!({"properties": {"id": "edge-1", "vendor": "Acme", "modelNumber": "m1",
        "serialNumber": "s1", "cpus": [{"cores": 4, "architecture": "amd64"}],
        "memory": "59 Gi", "storage": "64Gi", "otelCollector": false,
        "supportedRuntimes": ["oci"], "supportedDeploymentTypes": ["compose"]}});
    let r = m.json("PUT", "/api/v1/capabilities/edge-1", &caps);
    assert!(
        matches!(r.status, 200 | 201),
        "{}",
        String::from_utf8_lossy(&r.body)
    );

    let report = json!({"deploymentId": id, "status": {"state": "installed"},
        "components": [{"name": "hello", "state": "installed"}]});
    let r = m.json("POST", &format!("/api/v1/deployments/{id}/status"), &report);
    assert!(
        matches!(r.status, 200 | 201),
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    wait_state(&f.co, &id, "installed", || lo.log());
    assert!(
        lo.log().contains("without adoptedManifestVersion"),
        "the LO says what it took: {}",
        lo.log()
    );
    let device: serde_json::Value = serde_json::from_str(&ok(&f
        .co
        .edgectl(&["co", "show", "device", "edge-1", "-o", "json"])))
    .unwrap();
    assert_eq!(
        device["capabilities"]["properties"]["memory"], "59Gi",
        "{device}"
    );
}
