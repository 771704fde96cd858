//! A see-thru gateway (DIGEST §1, §7.3, §15.4): one Margo client, with the
//! gateway's identity, acting for the devices behind it (`gw-1/cam-2`),
//! through a real CO and LO. The child is registered at the CO only behind
//! a device of its own site and gets no identity of its own; its
//! capabilities are refused 404 `gateway-not-found` until the gateway has
//! reported its own, then taken (and shown at the CO); a deployment placed
//! on the child is served in the gateway's manifest; the gateway's status
//! report for it (`deviceId: gw-1/cam-2`) is the child's state at the CO.
//! Another device's identity can do none of this for the child (403
//! `not-authorized`), and the gateway is not removed while the child is
//! registered. The same holds for a gateway attached to the CO directly.

use edge_tests::co::{Co, fails, ok};
use edge_tests::fleet::{
    Fleet, caps_doc, deploy_to, enroll, enroll_direct, fleet, manifest_with, south_url, wait_state,
};
use edge_tests::lo::{Lo, Margo};
use edge_tests::wait::until_or;
use serde_json::Value;

const CHILD: &str = "gw-1/cam-2";

#[test]
fn a_gateway_reports_for_and_is_served_the_devices_behind_it() {
    let f = fleet();
    the_registry_takes_a_child_only_behind_a_device_of_its_site(&f.co);
    let gw = a_child_gets_no_identity_its_gateway_does(&f);
    let lo = Lo::start(&f.lo_creds, &f.dir.path().join("lo"), &[]);
    let m = Margo::new(&gw, &lo.url, "plant-1");
    the_child_reports_only_after_its_gateway(&f, &m, &lo);
    let id = deploy_to(&f.co, "hello-wasm", CHILD, &[]);
    let version = the_gateway_is_served_the_childs_deployment(&f, &m, &lo, &id);
    the_gateway_reports_the_childs_status(&f, &m, &lo, &id, version);
    fails(
        &f.co
            .edgectl(&["co", "remove", "device", "gw-1", "--yes", "--force"]),
        "is the gateway of `gw-1/cam-2`; remove those first",
    );
    lo.kill();
}

#[test]
fn a_gateway_attached_to_the_co_reports_for_the_devices_behind_it() {
    let f = fleet();
    ok(&f
        .co
        .edgectl(&["co", "add", "device", "gw-1", "--site", "plant-1"]));
    ok(&f
        .co
        .edgectl(&["co", "add", "device", CHILD, "--site", "plant-1"]));
    let gw = enroll_direct(&f.co, f.dir.path(), "plant-1", "gw-1");
    let south = south_url(&gw);
    let m = Margo::new(&gw, &south, "co");
    let log = || f.co.log();
    let encoded = "/api/v1/capabilities/gw-1%2Fcam-2";
    let r = m.json("PUT", encoded, &caps_doc(CHILD));
    assert_eq!(r.status, 404, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.problem(), "gateway-not-found");
    assert_eq!(
        m.json("PUT", "/api/v1/capabilities/gw-1", &caps_doc("gw-1"))
            .status,
        201
    );
    assert_eq!(m.json("PUT", encoded, &caps_doc(CHILD)).status, 201);
    assert_eq!(capabilities_of(&f.co, CHILD)["properties"]["id"], CHILD);
    // A child the CO does not know.
    let r = m.json(
        "PUT",
        "/api/v1/capabilities/gw-1/cam-9",
        &caps_doc("gw-1/cam-9"),
    );
    assert_eq!(r.status, 404, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.problem(), "device-not-found");
    let edge1 = enroll_direct(&f.co, f.dir.path(), "plant-1", "edge-1");
    let other = Margo::new(&edge1, &south, "co");
    let r = other.json("PUT", encoded, &caps_doc(CHILD));
    assert_eq!(r.status, 403, "{}", String::from_utf8_lossy(&r.body));
    let id = deploy_to(&f.co, "hello-wasm", CHILD, &[]);
    let (v, _) = manifest_with(&m, 1, log);
    assert_eq!(v["deployments"][0]["deploymentId"], id.as_str());
    let version = v["manifestVersion"].as_u64().unwrap();
    let path = format!("/api/v1/deployments/{id}/status");
    let r = other.json("POST", &path, &status_for(&id, Some(CHILD), version));
    assert_eq!(r.status, 403, "{}", String::from_utf8_lossy(&r.body));
    let r = m.json("POST", &path, &status_for(&id, Some(CHILD), version));
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    wait_state(&f.co, &id, "installed", log);
}

/// `co add device gw-1/cam-2` needs `gw-1` at the same site.
fn the_registry_takes_a_child_only_behind_a_device_of_its_site(co: &Co) {
    fails(
        &co.edgectl(&["co", "add", "device", CHILD, "--site", "plant-1"]),
        "which is no device of site `plant-1`",
    );
    fails(
        &co.edgectl(&["co", "add", "device", "edge-9/cam-1", "--site", "plant-1"]),
        "a device of site `plant-2`, not `plant-1`",
    );
    ok(&co.edgectl(&["co", "add", "device", "gw-1", "--site", "plant-1"]));
    ok(&co.edgectl(&["co", "add", "device", CHILD, "--site", "plant-1"]));
    let shown: Value = serde_json::from_str(&ok(
        &co.edgectl(&["co", "show", "device", CHILD, "-o", "json"])
    ))
    .unwrap();
    assert_eq!(shown["site"], "plant-1", "{shown}");
}

/// Enrolling the child issues nothing and says the gateway serves it;
/// the gateway is enrolled as any device. Returns its credentials.
fn a_child_gets_no_identity_its_gateway_does(f: &Fleet) -> std::path::PathBuf {
    let out = f.dir.path().join("child-creds");
    fails(
        &f.co.edgectl(&[
            "co",
            "enroll",
            "--site",
            "plant-1",
            "--device",
            CHILD,
            "--out",
            out.to_str().unwrap(),
        ]),
        "the gateway's identity serves it",
    );
    assert!(!out.exists(), "no credentials folder is left behind");
    enroll(&f.co, f.dir.path(), "plant-1", Some("gw-1"))
}

fn capabilities_of(co: &Co, device: &str) -> Value {
    let d: Value = serde_json::from_str(&ok(
        &co.edgectl(&["co", "show", "device", device, "-o", "json"])
    ))
    .unwrap();
    d["capabilities"].clone()
}

/// 404 `gateway-not-found` before the gateway's own report, 201 after,
/// under either spelling of the path; another device's identity is 403.
fn the_child_reports_only_after_its_gateway(f: &Fleet, m: &Margo, lo: &Lo) {
    let encoded = "/api/v1/capabilities/gw-1%2Fcam-2";
    let r = m.json("PUT", encoded, &caps_doc(CHILD));
    assert_eq!(r.status, 404, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.problem(), "gateway-not-found");
    let r = m.json("PUT", "/api/v1/capabilities/gw-1", &caps_doc("gw-1"));
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let r = m.json("PUT", encoded, &caps_doc(CHILD));
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let r = m.json("PUT", "/api/v1/capabilities/gw-1/cam-2", &caps_doc(CHILD));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    // The body must be about the child it is sent for.
    let r = m.json("PUT", encoded, &caps_doc("gw-1/cam-3"));
    assert_eq!(r.status, 422, "{}", String::from_utf8_lossy(&r.body));
    // edge-1 is no gateway of gw-1's children.
    let other = Margo::new(&f.d1, &lo.url, "plant-1");
    let r = other.json("PUT", encoded, &caps_doc(CHILD));
    assert_eq!(r.status, 403, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.problem(), "not-authorized");
    let r = other.send("DELETE", encoded, &[], None).unwrap();
    assert_eq!(r.status, 403, "{}", String::from_utf8_lossy(&r.body));
    // The gateway removes the child's capabilities, and reports them again.
    let r = m.send("DELETE", encoded, &[], None).unwrap();
    assert_eq!(r.status, 204, "{}", String::from_utf8_lossy(&r.body));
    let r = m.send("DELETE", encoded, &[], None).unwrap();
    assert_eq!(r.status, 404, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.problem(), "device-not-found");
    let r = m.json("PUT", encoded, &caps_doc(CHILD));
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    until_or(
        "the child's capabilities at the CO",
        || {
            let c = capabilities_of(&f.co, CHILD);
            (c["properties"]["id"] == CHILD).then_some(())
        },
        || lo.log(),
    );
}

/// The deployment placed on the child is in the gateway's manifest (its
/// document naming the child), in no other device's. Returns the
/// manifest's version.
fn the_gateway_is_served_the_childs_deployment(f: &Fleet, m: &Margo, lo: &Lo, id: &str) -> u64 {
    let (v, _) = manifest_with(m, 1, || lo.log());
    let entry = &v["deployments"][0];
    assert_eq!(entry["deploymentId"], id);
    let doc = m.get(entry["url"].as_str().unwrap(), &[]);
    assert_eq!(doc.status, 200);
    let text = String::from_utf8_lossy(&doc.body);
    assert!(text.contains("deviceId: gw-1/cam-2"), "{text}");
    let other = Margo::new(&f.d1, &lo.url, "plant-1");
    let (mine, _) = manifest_with(&other, 0, || lo.log());
    assert_eq!(mine["deployments"], serde_json::json!([]));
    let r = other.get(entry["url"].as_str().unwrap(), &[]);
    assert_eq!(r.status, 403, "{}", String::from_utf8_lossy(&r.body));
    v["manifestVersion"].as_u64().unwrap()
}

fn status_for(id: &str, device: Option<&str>, version: u64) -> Value {
    let mut s = edge_tests::fleet::status_doc(id, "installed", version);
    if let Some(d) = device {
        s["deviceId"] = Value::from(d);
    }
    s
}

/// The gateway's report with the child's `deviceId` is the child's state
/// at the CO; without it, or from another device, it is refused.
fn the_gateway_reports_the_childs_status(f: &Fleet, m: &Margo, lo: &Lo, id: &str, version: u64) {
    let path = format!("/api/v1/deployments/{id}/status");
    let r = m.json("POST", &path, &status_for(id, None, version));
    assert_eq!(r.status, 422, "{}", String::from_utf8_lossy(&r.body));
    let other = Margo::new(&f.d1, &lo.url, "plant-1");
    let r = other.json("POST", &path, &status_for(id, Some(CHILD), version));
    assert_eq!(r.status, 403, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.problem(), "not-authorized");
    let r = m.json("POST", &path, &status_for(id, Some(CHILD), version));
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    wait_state(&f.co, id, "installed", || lo.log());
    let shown: Value = serde_json::from_str(&ok(&f
        .co
        .edgectl(&["co", "show", "device", CHILD, "-o", "json"])))
    .unwrap();
    assert!(
        shown["deployments"].to_string().contains(id),
        "the child lists its deployment: {shown}"
    );
    assert!(shown["lastHeard"].is_string(), "{shown}");
}
