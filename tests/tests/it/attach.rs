//! Who may talk to whom on the south side: edge nodes attached to the CO
//! directly (identities from `co enroll --direct`), capabilities reported
//! through an LO or to the CO deciding `deviceConstraints` placement, and
//! strangers, foreign CAs, wrong servers and bad bodies refused.

use std::path::Path;
use std::time::Duration;

use edge_tests::co::{Co, ok};
use edge_tests::fleet::*;
use edge_tests::lo::{Lo, Margo};
use edge_tests::wait::until_or;
use serde_json::{Value, json};

#[test]
fn the_co_serves_the_same_api_to_directly_attached_nodes() {
    let f = fleet();
    let south = south_url(&f.d1);
    let (c1, c2) = (
        enroll_direct(&f.co, f.dir.path(), "plant-1", "edge-1"),
        enroll_direct(&f.co, f.dir.path(), "plant-1", "edge-2"),
    );
    let id1 = std::fs::read_to_string(c1.join("edged.toml")).unwrap();
    assert!(
        id1.contains("spiffe://edge.local/margo/wfm/co/client/edge-1"),
        "{id1}"
    );
    let m1 = Margo::new(&c1, &south, "co");
    let m2 = Margo::new(&c2, &south, "co");
    a_device_of_the_lo_is_not_a_client_of_the_co_nor_the_other_way_round(&f, &south, &c1);
    a_deploy_reaches_the_direct_device_only_and_its_status_at_once(&f, &m1, &m2);
    let lo_client = the_los_certificate_is_not_a_device(&f, &south);
    an_lo_cannot_write_another_sites_state_through_intake(&f, &lo_client);
    // LO routes refuse devices.
    let r = m1.get("/lo/v1/watch", &[]);
    assert_eq!((r.status, r.problem().as_str()), (403, "not-authorized"));
    a_direct_device_reports_capabilities_until_revoked(&f, &m1);
}

/// A device enrolled for its site's LO is not a client of the CO, and the
/// other way round.
fn a_device_of_the_lo_is_not_a_client_of_the_co_nor_the_other_way_round(
    f: &Fleet,
    south: &str,
    c1: &Path,
) {
    let via_lo = Margo::new(&f.d1, south, "co").get("/api/v1/deployments", &[]);
    assert_eq!(via_lo.status, 403);
    assert!(
        via_lo.json()["detail"]
            .as_str()
            .unwrap()
            .contains("--direct"),
        "{:?}",
        via_lo.json()
    );
    let lo = Lo::start(&f.lo_creds, &f.dir.path().join("lo"), &[]);
    let r = Margo::new(c1, &lo.url, "plant-1").get("/api/v1/deployments", &[]);
    assert_eq!((r.status, r.problem().as_str()), (403, "not-authorized"));
    drop(lo);
}

/// A deploy reaches edge-1 from the CO and edge-2 may not read it; edge-1's
/// report is written at the CO at once.
fn a_deploy_reaches_the_direct_device_only_and_its_status_at_once(
    f: &Fleet,
    m1: &Margo,
    m2: &Margo,
) {
    let id = deploy_hello(&f.co, "edge-1");
    let (v, r) = manifest_with(m1, 1, || f.co.log());
    check_manifest(&r, &v);
    assert_eq!(v["deployments"][0]["deploymentId"], id.as_str());
    check_content(m1, &v, "edge-1");
    let theirs = m2.get(v["deployments"][0]["url"].as_str().unwrap(), &[]);
    assert_eq!(
        (theirs.status, theirs.problem().as_str()),
        (403, "not-authorized")
    );
    let path = format!("/api/v1/deployments/{id}/status");
    assert_eq!(
        m1.json("POST", &path, &status_doc(&id, "failed", 1)).status,
        201
    );
    assert_eq!(
        co_state(&f.co, &id).as_deref(),
        Some("failed"),
        "written at once"
    );
}

/// The LO's certificate is not a device. Returns the LO's client of the CO.
fn the_los_certificate_is_not_a_device(f: &Fleet, south: &str) -> Margo {
    let lo_client = Margo::new(&f.lo_creds, south, "co");
    assert_eq!(
        lo_client.get("/api/v1/deployments", &[]).problem(),
        "not-authorized"
    );
    lo_client
}

/// An LO cannot write another site's state through intake: the batch is
/// refused (more in `attack::authz`).
fn an_lo_cannot_write_another_sites_state_through_intake(f: &Fleet, lo_client: &Margo) {
    let out = ok(&f.co.edgectl(&[
        "co",
        "deploy",
        "--app",
        "hello-wasm",
        "--site",
        "plant-2",
        "--allow-unreported",
        "-o",
        "json",
    ]));
    let theirs_id = serde_json::from_str::<Value>(&out).unwrap()[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let batch = json!({"epoch": "e1", "entries": [{"seq": 1, "kind": "status", "device": "edge-9",
        "body": status_doc(&theirs_id, "failed", 1).to_string(), "receivedAt": "2026-11-23T00:00:00Z"}]});
    let r = lo_client.json("POST", "/lo/v1/intake", &batch);
    assert_eq!((r.status, r.problem().as_str()), (403, "not-authorized"));
    assert_eq!(
        co_state(&f.co, &theirs_id),
        None,
        "plant-1's LO wrote plant-2's state"
    );
}

/// Capabilities make deviceConstraints placeable; once edge-1 is revoked
/// the CO refuses it.
fn a_direct_device_reports_capabilities_until_revoked(f: &Fleet, m1: &Margo) {
    assert_eq!(
        m1.json("PUT", "/api/v1/capabilities/edge-1", &caps_doc("edge-1"))
            .status,
        201
    );
    ok(&f
        .co
        .edgectl(&["co", "revoke", "--site", "plant-1", "--device", "edge-1"]));
    assert_eq!(m1.get("/api/v1/deployments", &[]).status, 403);
}

#[test]
fn reported_capabilities_decide_where_device_constraints_place() {
    let f = fleet();
    let pkg = edge_tests::co::constrained_package(f.dir.path());
    ok(&f
        .co
        .edgectl(&["co", "add", "app", "--artifact", pkg.to_str().unwrap()]));
    let lo = Lo::start(&f.lo_creds, &f.dir.path().join("lo"), &[]);
    let m1 = capabilities_reach_the_co_through_the_lo_and_directly(&f, &lo);
    a_device_lacking_the_cores_is_refused(&f);
    only_the_device_whose_capabilities_fit_is_placed(&f, &lo, &m1);
    capacity_promised_to_a_deployment_stays_its_own(&f);
}

/// edge-1 reported 4 cores; each hello-big needs 2. Deploying again in the
/// same place replaces the deployment (its cores are not counted twice), a
/// second one beside it fits, a third does not, naming what holds them.
fn capacity_promised_to_a_deployment_stays_its_own(f: &Fleet) {
    let deploy = |name: Option<&str>| {
        let mut args = vec![
            "co",
            "deploy",
            "--app",
            "hello-big",
            "--site",
            "plant-1",
            "--device",
            "edge-1",
        ];
        if let Some(n) = name {
            args.extend(["--name", n]);
        }
        f.co.edgectl(&args)
    };
    ok(&deploy(None));
    ok(&deploy(Some("second")));
    let third = deploy(Some("third"));
    edge_tests::co::fails(&third, "needs 2 cores, has 4, of which 4 are promised");
    let refused = String::from_utf8_lossy(&third.stderr);
    assert_eq!(refused.matches("(hello-big 1.0.0)").count(), 2, "{refused}");
    let listed: Value = serde_json::from_str(&ok(&f.co.edgectl(&[
        "co",
        "list",
        "deployments",
        "-o",
        "json",
    ])))
    .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2, "{listed}");
}

/// edge-1 reports through the LO (forwarded from its outbox), edge-2 to the
/// CO directly; edge-1's arrive at the CO. Returns edge-1's client.
fn capabilities_reach_the_co_through_the_lo_and_directly(f: &Fleet, lo: &Lo) -> Margo {
    let m1 = Margo::new(&f.d1, &lo.url, "plant-1");
    let direct2 = enroll_direct(&f.co, f.dir.path(), "plant-1", "edge-2");
    let m2 = Margo::new(&direct2, &south_url(&f.d2), "co");
    assert_eq!(
        m1.json(
            "PUT",
            "/api/v1/capabilities/edge-1",
            &caps_with("edge-1", 4, "8Gi")
        )
        .status,
        201
    );
    assert_eq!(
        m2.json(
            "PUT",
            "/api/v1/capabilities/edge-2",
            &caps_with("edge-2", 1, "8Gi")
        )
        .status,
        201
    );
    until_or(
        "edge-1's capabilities at the CO",
        || {
            let d: Value = serde_json::from_str(&ok(&f
                .co
                .edgectl(&["co", "show", "device", "edge-1", "-o", "json"])))
            .unwrap();
            d["capabilities"].is_object().then_some(())
        },
        || lo.log(),
    );
    m1
}

/// A deploy naming edge-2, which reported one core, is refused naming cores.
fn a_device_lacking_the_cores_is_refused(f: &Fleet) {
    edge_tests::co::fails(
        &f.co.edgectl(&[
            "co",
            "deploy",
            "--app",
            "hello-big",
            "--site",
            "plant-1",
            "--device",
            "edge-2",
        ]),
        "cores",
    );
}

/// A deploy to the site places on edge-1 only, and its manifest names it.
fn only_the_device_whose_capabilities_fit_is_placed(f: &Fleet, lo: &Lo, m1: &Margo) {
    let out = ok(&f.co.edgectl(&[
        "co",
        "deploy",
        "--app",
        "hello-big",
        "--site",
        "plant-1",
        "-o",
        "json",
    ]));
    let placed: Value = serde_json::from_str(&out).unwrap();
    let devices: Vec<&str> = placed
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["device"].as_str().unwrap())
        .collect();
    assert_eq!(
        devices,
        ["edge-1"],
        "only the device whose capabilities fit"
    );
    let (v, _) = manifest_with(m1, 1, || lo.log());
    assert_eq!(v["deployments"][0]["deploymentId"], placed[0]["id"]);
}

#[test]
fn the_lo_refuses_strangers_and_bad_input() {
    let f = fleet();
    let lo = Lo::start(&f.lo_creds, &f.dir.path().join("lo"), &[]);
    a_caller_without_a_certificate_gets_no_tls_session(&lo);
    let _other = a_device_of_another_co_is_refused(&f, &lo);
    the_device_refuses_a_server_that_is_not_the_wfm_it_expects(&f, &lo);
    an_oversized_body_gets_a_413_problem(&f, &lo);
    bad_bodies_and_paths_get_the_right_problem(&f, &lo);
    an_lo_with_a_devices_credentials_or_none_says_why_and_exits(&f);
}

/// No client certificate: no TLS session at all.
fn a_caller_without_a_certificate_gets_no_tls_session(lo: &Lo) {
    let anonymous = reqwest::blocking::Client::builder()
        .danger_accept_invalid_certs(true)
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let err = anonymous
        .get(format!("{}/api/v1/deployments", lo.url))
        .send();
    assert!(err.is_err(), "a caller without a certificate got an answer");
}

/// A device of another CO (another CA, same trust domain name and ids),
/// trusting our CA (so it would accept the LO): the LO refuses it. Returns
/// the other CO.
fn a_device_of_another_co_is_refused(f: &Fleet, lo: &Lo) -> Co {
    let other = Co::start(&f.dir.path().join("other-co"), &[]);
    ok(&other.edgectl(&["co", "add", "site", "plant-1"]));
    ok(&other.edgectl(&["co", "add", "device", "edge-1", "--site", "plant-1"]));
    let impostor = enroll(
        &other,
        &f.dir.path().join("other"),
        "plant-1",
        Some("edge-1"),
    );
    std::fs::copy(f.d1.join("ca.crt"), impostor.join("ca.crt")).unwrap();
    let m = Margo::new(&impostor, &lo.url, "plant-1");
    assert!(
        m.send("GET", "/api/v1/deployments", &[], None).is_err(),
        "a foreign CA's certificate was accepted"
    );
    other
}

/// The device refuses a server that is not the WFM it expects.
fn the_device_refuses_a_server_that_is_not_the_wfm_it_expects(f: &Fleet, lo: &Lo) {
    let wrong = Margo::new(&f.d1, &lo.url, "plant-2");
    let e = wrong
        .send("GET", "/api/v1/deployments", &[], None)
        .unwrap_err();
    assert!(
        e.contains("not `spiffe://edge.local/margo/wfm/plant-2`"),
        "{e}"
    );
}

/// An oversized body gets a 413 problem. The server may answer 413 and
/// close while the client is still sending (a broken pipe for the client);
/// try until the answer arrives.
fn an_oversized_body_gets_a_413_problem(f: &Fleet, lo: &Lo) {
    let m1 = Margo::new(&f.d1, &lo.url, "plant-1");
    let big = vec![b' '; 2 * 1024 * 1024];
    let r = (0..20)
        .find_map(|_| {
            m1.send("PUT", "/api/v1/capabilities/edge-1", &[], Some(big.clone()))
                .ok()
        })
        .expect("the oversized body was never answered");
    assert_eq!(r.status, 413);
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
}

/// Bad bodies change nothing and get the right problem: binary, a path
/// escaping its collection, a route that does not exist, a DELETE.
fn bad_bodies_and_paths_get_the_right_problem(f: &Fleet, lo: &Lo) {
    // A new client: the 413 may have closed the pooled connection.
    let m1 = Margo::new(&f.d1, &lo.url, "plant-1");
    let r = m1
        .send(
            "PUT",
            "/api/v1/capabilities/edge-1",
            &[],
            Some(b"\x00\x01binary".to_vec()),
        )
        .unwrap();
    assert_eq!((r.status, r.problem().as_str()), (400, "invalid-request"));
    let r = m1.json("PUT", "/api/v1/capabilities/..", &caps_doc(".."));
    assert!(
        r.status == 400 || r.status == 403 || r.status == 404,
        "{}",
        r.status
    );
    let r = m1.get("/api/v1/nothing-here", &[]);
    assert_eq!(r.status, 404);
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
    // No Margo type for an unknown route: about:blank, titled by the reason phrase.
    assert_eq!(r.json()["type"], "about:blank");
    assert_eq!(r.json()["title"], "Not Found");
    assert_eq!(
        m1.send("DELETE", "/api/v1/capabilities/edge-1", &[], None)
            .unwrap()
            .problem(),
        "device-not-found"
    );
}

/// An LO started with a device's credentials, or none, or a folder that is
/// missing, says why and exits.
fn an_lo_with_a_devices_credentials_or_none_says_why_and_exits(f: &Fleet) {
    let edged = edge_tests::co::bin("edged");
    let o = std::process::Command::new(&edged)
        .args(["--mode", "lo", "--listen", "127.0.0.1:0", "--credentials"])
        .arg(&f.d1)
        .arg("--data")
        .arg(f.dir.path().join("lo-wrong"))
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(e.contains("credentials of an edge node"), "{e}");
    let o = std::process::Command::new(&edged)
        .args(["--mode", "lo", "--data"])
        .arg(f.dir.path().join("lo-none"))
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(e.contains("--credentials DIR"), "{e}");
    let o = std::process::Command::new(&edged)
        .args(["--mode", "lo", "--credentials"])
        .arg(f.dir.path().join("missing"))
        .arg("--data")
        .arg(f.dir.path().join("lo-missing"))
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.code() == Some(1) && e.contains("edged.toml"),
        "{e}"
    );
}
