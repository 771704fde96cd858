//! The Local Orchestrator end to end: a real CO and a real LO (`edged --mode
//! lo`) on loopback with real TLS; edge nodes are played by a Margo client
//! holding identities from `edgectl co enroll`. A deploy reaches the right
//! device and no other, every fleet-manager MUST of the Margo desired-state
//! API (DIGEST §15.2) a client can check holds, status and capabilities flow
//! up through the LO's outbox, and restarts and crashes of either side lose
//! nothing.

use std::path::Path;
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

use edge_tests::co::{Co, ok};
use edge_tests::fleet::*;
use edge_tests::lo::{Lo, Margo, Reply};
use edge_tests::wait::{until, until_or};
use serde_json::{Value, json};

#[test]
fn a_deploy_reaches_the_right_device_through_the_lo_and_status_comes_back() {
    let f = fleet();
    let lo = Lo::start(
        &f.lo_creds,
        &f.dir.path().join("lo"),
        &["--poll-interval", "3600"],
    );
    let m1 = Margo::new(&f.d1, &lo.url, "plant-1");
    let m2 = Margo::new(&f.d2, &lo.url, "plant-1");
    before_any_deploy_the_manifest_is_version_1_without_a_bundle(&lo, &m1);
    let (id, v) = a_deploy_arrives_through_the_nudge_with_an_etag(&f.co, &lo, &m1);
    the_other_device_sees_none_of_it(&lo, &m1, &m2, &id, &v);
    a_device_of_another_site_is_not_this_los_client(&f, &lo);
    let path = reports_are_created_then_updated_and_only_for_oneself(&m1, &m2, &id);
    capabilities_are_put_by_their_own_device_only(&m1, &m2);
    both_reach_the_co_through_the_outbox(&f.co, &id);
    an_undeploy_is_an_empty_version_and_a_removal_is_reportable(&f.co, &lo, &m1, &id, &path);
    revoking_a_device_at_the_co_locks_it_out_of_the_lo(&f.co, &m1, &m2);
    drop(lo);
}

/// Before any deploy: version 1, nothing, bundle null.
fn before_any_deploy_the_manifest_is_version_1_without_a_bundle(lo: &Lo, m1: &Margo) {
    let (v, r) = manifest_at(m1, 1, || lo.log());
    check_manifest(&r, &v);
    assert_eq!(v["manifestVersion"], 1);
    assert!(v["bundle"].is_null());
}

/// A deploy arrives through the nudge (the poll interval is an hour) as
/// version 2; its ETag answers 304, and an HTML-only client gets a 406.
/// Returns the deployment's id and the manifest.
fn a_deploy_arrives_through_the_nudge_with_an_etag(
    co: &Co,
    lo: &Lo,
    m1: &Margo,
) -> (String, Value) {
    let id = deploy_hello(co, "edge-1");
    let (v, r) = manifest_at(m1, 2, || lo.log());
    check_manifest(&r, &v);
    assert_eq!(v["manifestVersion"], 2, "{}", lo.log());
    assert_eq!(v["deployments"][0]["deploymentId"], id.as_str());
    check_content(m1, &v, "edge-1");
    let etag = r.header("etag").unwrap().to_owned();
    let again = m1.get("/api/v1/deployments", &[("if-none-match", &etag)]);
    assert_eq!((again.status, again.body.len()), (304, 0));
    assert_eq!(again.header("etag"), Some(etag.as_str()));
    let refused = m1.get("/api/v1/deployments", &[("accept", "text/html")]);
    assert_eq!(
        (refused.status, refused.problem().as_str()),
        (406, "server-cannot-generate-response")
    );
    assert_eq!(
        refused.header("content-type"),
        Some("application/problem+json")
    );
    (id, v)
}

/// edge-2's manifest stays empty, and it may not read edge-1's deployment
/// or bundle; a stale digest is not found.
fn the_other_device_sees_none_of_it(lo: &Lo, m1: &Margo, m2: &Margo, id: &str, v: &Value) {
    let (v2, r2) = manifest_at(m2, 1, || lo.log());
    check_manifest(&r2, &v2);
    assert!(v2["deployments"].as_array().unwrap().is_empty());
    let url = v["deployments"][0]["url"].as_str().unwrap();
    let theirs = m2.get(url, &[]);
    assert_eq!(
        (theirs.status, theirs.problem().as_str()),
        (403, "not-authorized")
    );
    let bundle = m2.get(v["bundle"]["url"].as_str().unwrap(), &[]);
    assert_eq!(
        (bundle.status, bundle.problem().as_str()),
        (404, "invalid-bundle")
    );
    let stale = m1.get(
        &format!("/api/v1/deployments/{id}/sha256:{}", "0".repeat(64)),
        &[],
    );
    assert_eq!(
        (stale.status, stale.problem().as_str()),
        (404, "deployment-not-found")
    );
}

/// A device of another site is not this LO's client.
fn a_device_of_another_site_is_not_this_los_client(f: &Fleet, lo: &Lo) {
    let m9 = Margo::new(&f.d9, &lo.url, "plant-1");
    let foreign = m9.get("/api/v1/deployments", &[]);
    assert_eq!(
        (foreign.status, foreign.problem().as_str()),
        (403, "not-authorized")
    );
}

/// Reports: created, then updated; nobody reports for someone else, for an
/// unknown deployment, a state Margo lacks, bad JSON or another id in the
/// body. Returns the status path.
fn reports_are_created_then_updated_and_only_for_oneself(
    m1: &Margo,
    m2: &Margo,
    id: &str,
) -> String {
    let path = format!("/api/v1/deployments/{id}/status");
    assert_eq!(
        m1.json("POST", &path, &status_doc(id, "installing", 2))
            .status,
        201
    );
    assert_eq!(
        m1.json("POST", &path, &status_doc(id, "installed", 2))
            .status,
        200
    );
    let r = m2.json("POST", &path, &status_doc(id, "failed", 1));
    assert_eq!((r.status, r.problem().as_str()), (403, "not-authorized"));
    let other = "0b0e5f0c-4a3e-4c5e-9d7e-5a1f2b3c4d5e";
    let r = m1.json(
        "POST",
        &format!("/api/v1/deployments/{other}/status"),
        &status_doc(other, "installed", 2),
    );
    assert_eq!(
        (r.status, r.problem().as_str()),
        (404, "deployment-not-found")
    );
    let r = m1.json(
        "POST",
        &path,
        &json!({"deploymentId": id, "status": {"state": "running"}, "components": []}),
    );
    assert_eq!((r.status, r.problem().as_str()), (422, "semantic-error"));
    let r = m1
        .send("POST", &path, &[], Some(b"{not json".to_vec()))
        .unwrap();
    assert_eq!((r.status, r.problem().as_str()), (400, "invalid-request"));
    let r = m1.json("POST", &path, &status_doc(other, "installed", 2));
    assert_eq!((r.status, r.problem().as_str()), (422, "semantic-error"));
    path
}

/// Capabilities: created, then replaced; not for another device, not with
/// another id in the body, and no DELETE.
fn capabilities_are_put_by_their_own_device_only(m1: &Margo, m2: &Margo) {
    assert_eq!(
        m1.json("PUT", "/api/v1/capabilities/edge-1", &caps_doc("edge-1"))
            .status,
        201
    );
    assert_eq!(
        m1.json("PUT", "/api/v1/capabilities/edge-1", &caps_doc("edge-1"))
            .status,
        200
    );
    let r = m1.json("PUT", "/api/v1/capabilities/edge-2", &caps_doc("edge-2"));
    assert_eq!((r.status, r.problem().as_str()), (403, "not-authorized"));
    let r = m1.json("PUT", "/api/v1/capabilities/edge-1", &caps_doc("edge-7"));
    assert_eq!((r.status, r.problem().as_str()), (422, "semantic-error"));
    let r = m2
        .send("DELETE", "/api/v1/capabilities/edge-2", &[], None)
        .unwrap();
    assert_eq!((r.status, r.problem().as_str()), (404, "device-not-found"));
}

/// The status and the capabilities reach the CO through the outbox.
fn both_reach_the_co_through_the_outbox(co: &Co, id: &str) {
    until("the status at the CO", || {
        (co_state(co, id).as_deref() == Some("installed")).then_some(())
    });
    until("the capabilities at the CO", || {
        let d: Value = serde_json::from_str(&ok(
            &co.edgectl(&["co", "show", "device", "edge-1", "-o", "json"])
        ))
        .unwrap();
        (d["capabilities"]["properties"]["vendor"] == "Acme").then_some(())
    });
}

/// Undeploy: the next version is empty again, with a null bundle; a removal
/// is still reportable.
fn an_undeploy_is_an_empty_version_and_a_removal_is_reportable(
    co: &Co,
    lo: &Lo,
    m1: &Margo,
    id: &str,
    path: &str,
) {
    ok(&co.edgectl(&["co", "undeploy", id]));
    let (v, r) = manifest_at(m1, 3, || lo.log());
    check_manifest(&r, &v);
    assert!(v["bundle"].is_null() && v["deployments"].as_array().unwrap().is_empty());
    assert_eq!(
        m1.json("POST", path, &status_doc(id, "removed", 3)).status,
        200
    );
}

/// Revoking edge-2 at the CO locks it out of the LO; edge-1 still reads.
fn revoking_a_device_at_the_co_locks_it_out_of_the_lo(co: &Co, m1: &Margo, m2: &Margo) {
    ok(&co.edgectl(&["co", "revoke", "--site", "plant-1", "--device", "edge-2"]));
    until("the revocation at the LO", || {
        let r = m2.get("/api/v1/deployments", &[]);
        (r.status == 403 && r.problem() == "not-authorized").then_some(())
    });
    assert_eq!(m1.get("/api/v1/deployments", &[]).status, 200);
}

#[test]
fn restarts_of_the_co_and_the_lo_lose_nothing() {
    let f = fleet();
    let lo_data = f.dir.path().join("lo");
    let lo = Lo::start(&f.lo_creds, &lo_data, &[]);
    let m1 = Margo::new(&f.d1, &lo.url, "plant-1");
    let id = deploy_hello(&f.co, "edge-1");
    let (v, r) = manifest_with(&m1, 1, || format!("{}\n----- co\n{}", lo.log(), f.co.log()));
    let etag = r.header("etag").unwrap().to_owned();

    // LO killed and restarted on the same port: same version, same ETag.
    let port = lo.port().to_string();
    lo.kill();
    let lo = Lo::start(
        &f.lo_creds,
        &lo_data,
        &["--listen", &format!("127.0.0.1:{port}")],
    );
    let r = m1.get("/api/v1/deployments", &[("if-none-match", &etag)]);
    assert_eq!(r.status, 304, "the restarted LO serves the same manifest");

    // CO killed: reports queue at the LO, in order, and arrive when it returns.
    let south = south_url(&f.lo_creds);
    let south_addr = south.trim_start_matches("https://").to_owned();
    let co_data = f.co.data.clone();
    f.co.kill();
    with_the_co_gone_the_lo_takes_reports_and_keeps_serving(&m1, &id, &etag);
    let co = Co::start(&co_data, &["--south-listen", &south_addr]);
    until("queued status at the restarted CO", || {
        (co_state(&co, &id).as_deref() == Some("installed")).then_some(())
    });
    lo.kill();
    let next = v["manifestVersion"].as_u64().unwrap() + 1;
    a_deploy_while_the_lo_is_down_reaches_it_when_it_returns(
        &co,
        &f.lo_creds,
        &lo_data,
        &port,
        &m1,
        next,
    );
}

/// With the CO gone the LO takes the device's reports (to queue them, in
/// order) and keeps serving the same manifest.
fn with_the_co_gone_the_lo_takes_reports_and_keeps_serving(m1: &Margo, id: &str, etag: &str) {
    let path = format!("/api/v1/deployments/{id}/status");
    for state in ["pending", "installing", "installed"] {
        let r = m1.json("POST", &path, &status_doc(id, state, 2));
        assert!(
            r.status == 200 || r.status == 201,
            "{}",
            String::from_utf8_lossy(&r.body)
        );
    }
    // The LO keeps serving with the CO gone.
    assert_eq!(
        m1.get("/api/v1/deployments", &[("if-none-match", etag)])
            .status,
        304
    );
}

/// A deploy while the LO is down reaches it when it comes back on its
/// port, with a higher version (`next`) holding both deployments.
fn a_deploy_while_the_lo_is_down_reaches_it_when_it_returns(
    co: &Co,
    lo_creds: &Path,
    lo_data: &Path,
    port: &str,
    m1: &Margo,
    next: u64,
) {
    let o = co.edgectl(&[
        "co",
        "deploy",
        "--app",
        "hello-wasm",
        "--site",
        "plant-1",
        "--device",
        "edge-1",
        "--allow-unreported",
        "--set",
        "greeting=again",
        "--name",
        "again",
    ]);
    assert!(o.status.success(), "{}", co.log());
    let lo = Lo::start(
        lo_creds,
        lo_data,
        &["--listen", &format!("127.0.0.1:{port}")],
    );
    let (v3, r3) = manifest_at(m1, next, || lo.log());
    check_manifest(&r3, &v3);
    assert_eq!(v3["deployments"].as_array().unwrap().len(), 2);
    check_content(m1, &v3, "edge-1");
    drop(lo);
}

#[test]
fn an_lo_killed_during_a_burst_of_deploys_never_serves_a_version_twice_or_backwards() {
    let f = fleet();
    let lo_data = f.dir.path().join("lo");
    let lo = Lo::start(&f.lo_creds, &lo_data, &[]);
    let port = lo.port().to_string();
    let m1 = Margo::new(&f.d1, &lo.url, "plant-1");
    let (go, deployer) = a_burst_of_deploys_each_once_the_device_saw_the_last(&f.co);
    let (lo, kills) = the_device_sees_no_version_twice_or_backwards_across_crashes(
        &f, &lo_data, lo, &port, &m1, &go,
    );
    deployer.join().unwrap();
    assert!(kills >= 1, "the LO was never killed mid-burst");
    drop(lo);
}

/// Eight deploys to edge-1 on a thread of their own; each after the first
/// waits for a word on the returned channel, sent once the device has seen
/// the one before, so the crashes land in the middle of the burst.
fn a_burst_of_deploys_each_once_the_device_saw_the_last(
    co: &Co,
) -> (Sender<()>, std::thread::JoinHandle<()>) {
    let client = co.client(Some(&co.token));
    let (go, next) = std::sync::mpsc::channel::<()>();
    let deployer = std::thread::spawn(move || {
        for i in 0..8 {
            if i > 0 && next.recv().is_err() {
                return;
            }
            let req = edge_api::types::DeployRequest {
                app: "hello-wasm".into(),
                version: None,
                site: "plant-1".into(),
                device: Some("edge-1".into()),
                selector: std::collections::BTreeMap::new(),
                set: [("greeting".to_owned(), format!("burst {i}"))].into(),
                deploy_type: None,
                // Eight deployments side by side, not one updated eight times.
                name: Some(format!("burst-{i}")),
                rollout: None,
                dry_run: false,
                // Placed before (or without) a capabilities report.
                allow_unreported: true,
            };
            let _: Vec<edge_api::types::DeploymentSummary> =
                client.post(edge_api::routes::DEPLOYMENTS, &req).unwrap();
        }
    });
    (go, deployer)
}

/// What the device has been served: version → ETag, across the crashes.
#[derive(Default)]
struct Served {
    seen: std::collections::BTreeMap<u64, String>,
    last: u64,
}

impl Served {
    /// A manifest served: its version is not below the last, and a version
    /// seen before comes with the same ETag. Returns its deployments' count.
    fn check(&mut self, r: &Reply) -> usize {
        assert_eq!(r.status, 200);
        let v = r.json();
        let version = v["manifestVersion"].as_u64().unwrap();
        let etag = r.header("etag").unwrap().to_owned();
        let last = self.last;
        assert!(
            version >= last,
            "version went from {last} down to {version}"
        );
        if let Some(before) = self.seen.insert(version, etag.clone()) {
            assert_eq!(
                before, etag,
                "version {version} was served with two different contents"
            );
        }
        self.last = version;
        v["deployments"].as_array().unwrap().len()
    }
}

/// The device polls until all eight deployments arrive, the LO killed and
/// restarted on its port each time it has taken in more of the burst (up to
/// three times). Returns the LO running at the end and the kills.
fn the_device_sees_no_version_twice_or_backwards_across_crashes(
    f: &Fleet,
    lo_data: &Path,
    mut lo: Lo,
    port: &str,
    m1: &Margo,
    go: &Sender<()>,
) -> (Lo, u32) {
    let mut served = Served::default();
    let mut kills = 0;
    let mut killed_at = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut sent = 0;
    loop {
        assert!(
            Instant::now() < deadline,
            "the burst never fully arrived\n{}",
            lo.log()
        );
        let Ok(r) = m1.send("GET", "/api/v1/deployments", &[], None) else {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        };
        let n = served.check(&r);
        if n == 8 {
            break;
        }
        // Crash the LO each time it has taken in more of the burst (up to three times).
        if kills < 3 && n > killed_at {
            killed_at = n;
            lo.kill();
            lo = Lo::start(
                &f.lo_creds,
                lo_data,
                &["--listen", &format!("127.0.0.1:{port}")],
            );
            kills += 1;
        }
        // The next deploy only once the device has seen the previous one.
        if n > sent {
            let _ = go.send(());
            sent = n;
        }
    }
    (lo, kills)
}

#[test]
fn the_device_client_verifies_refuses_replays_and_resumes_from_its_saved_state() {
    use edge_api::device::{Accepted, ManifestSync, Poll, SyncError, load};
    let f = fleet();
    let lo = Lo::start(&f.lo_creds, &f.dir.path().join("lo"), &[]);
    let id = edge_api::mtls::Identity::load(&f.d1).unwrap();
    let client = || {
        id.blocking_client(&id.wfm_id("plant-1"), Duration::from_secs(30))
            .unwrap()
    };
    let file = f.dir.path().join("accepted.json");
    let mut sync = ManifestSync::new(&lo.url, client(), load(&file).unwrap());
    let Poll::Changed(first) = sync.poll().unwrap() else {
        panic!("a first poll gives the manifest");
    };
    assert_eq!((first.version, first.deployments.len()), (1, 0));
    sync.accept(&first, Some(&file)).unwrap();
    assert_eq!(sync.poll().unwrap(), Poll::Unchanged);

    let want = deploy_hello(&f.co, "edge-1");
    let next = until_or(
        "the deploy at the device client",
        || match sync.poll().unwrap() {
            Poll::Changed(s) => Some(s),
            Poll::Unchanged => None,
        },
        || lo.log(),
    );
    assert_eq!(next.deployments.len(), 1, "{}", lo.log());
    assert_eq!(next.deployments[0].id, want);
    assert!(next.version > first.version);
    assert_eq!(
        edge_model::digest::sha256(&next.deployments[0].bytes),
        next.deployments[0].digest
    );
    sync.accept(&next, Some(&file)).unwrap();

    // After a restart it resumes from the file: nothing to do.
    let resumed = ManifestSync::new(&lo.url, client(), load(&file).unwrap());
    assert_eq!(resumed.poll().unwrap(), Poll::Unchanged);
    // A device that accepted a higher version refuses this one (a replay).
    let ahead = ManifestSync::new(
        &lo.url,
        client(),
        Some(Accepted {
            version: 99,
            etag: "\"sha256:other\"".into(),
        }),
    );
    let e = ahead.poll().unwrap_err();
    assert!(matches!(e, SyncError::NotNewer { accepted: 99, .. }), "{e}");
}

/// Margo's port (DIGEST §15.1, 1.4): an LO told to listen on port 443 serves
/// a real node whose `--server` names no port, so the node's client uses
/// https's own. The address is a loopback one of its own (127.X.Y.Z), so
/// that no other test or service on 443 is in the way; binding it needs
/// root or CAP_NET_BIND_SERVICE, as the suite has.
#[test]
fn an_lo_on_port_443_serves_a_node_whose_server_names_no_port() {
    let f = fleet();
    let n = std::process::id()
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
    let host = format!(
        "127.{}.{}.{}",
        100 + n % 100,
        (n >> 8) % 250 + 1,
        (n >> 16) % 250 + 1
    );
    let lo = Lo::start(
        &f.lo_creds,
        &f.dir.path().join("lo"),
        &["--listen", &format!("{host}:443")],
    );
    assert_eq!(lo.url, format!("https://{host}:443"));
    let server = format!("https://{host}");
    let en = edge_tests::en::En::start(&f.d1, &f.dir.path().join("en"), &server, &[]);
    let logs = || format!("{}\n{}", en.log(), lo.log());
    let id = deploy_hello(&f.co, "edge-1");
    wait_state(&f.co, &id, "installed", logs);
}
