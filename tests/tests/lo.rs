//! The Local Orchestrator end to end: a real CO and a real LO (`edged --mode
//! lo`) on loopback with real TLS; edge nodes are played by a Margo client
//! holding identities from `edgectl co enroll`. Checks the fleet-manager MUSTs
//! of the Margo desired-state API (DIGEST §15.2), the authorization matrix,
//! status and capabilities flowing up through the LO's outbox, and that
//! restarts of either side lose nothing.

#![allow(clippy::unwrap_used)]

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use edge_model::digest::sha256;
use edge_tests::co::{Co, ok};
use edge_tests::lo::{Lo, Margo, Reply};
use serde_json::{Value, json};

const MANIFEST: &str = "application/vnd.margo.manifest.v1+json";
const BUNDLE: &str = "application/vnd.margo.bundle.v1+tar+gzip";

/// Poll `f` every 20 ms until it returns `Some`, for at most 20 s.
fn until<T>(what: &str, f: impl FnMut() -> Option<T>) -> T {
    until_or(what, f, String::new)
}

/// [`until`], printing `log()` when it times out.
fn until_or<T>(what: &str, mut f: impl FnMut() -> Option<T>, log: impl Fn() -> String) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}\n{}",
            log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn enroll(co: &Co, dir: &Path, site: &str, device: Option<&str>) -> PathBuf {
    let out = dir.join(device.unwrap_or(site));
    let mut args = vec![
        "co",
        "enroll",
        "--site",
        site,
        "--out",
        out.to_str().unwrap(),
    ];
    match device {
        Some(d) => args.extend(["--device", d]),
        None => args.push("--lo"),
    }
    ok(&co.edgectl(&args));
    out
}

/// Credentials of a device attached to the CO directly (`--direct`).
fn enroll_direct(co: &Co, dir: &Path, site: &str, device: &str) -> PathBuf {
    let out = dir.join(format!("direct-{device}"));
    ok(&co.edgectl(&[
        "co",
        "enroll",
        "--site",
        site,
        "--device",
        device,
        "--direct",
        "--out",
        out.to_str().unwrap(),
    ]));
    out
}

fn south_url(creds: &Path) -> String {
    let text = std::fs::read_to_string(creds.join("edged.toml")).unwrap();
    let line = text.lines().find(|l| l.starts_with("server = ")).unwrap();
    line["server = ".len()..].trim_matches('"').to_owned()
}

/// A fleet: sites plant-1 (edge-1, edge-2) and plant-2 (edge-9), the
/// hello-wasm app, the plant-1 LO's and every device's credentials.
struct Fleet {
    dir: tempfile::TempDir,
    co: Co,
    lo_creds: PathBuf,
    d1: PathBuf,
    d2: PathBuf,
    d9: PathBuf,
}

fn fleet() -> Fleet {
    let dir = tempfile::tempdir().unwrap();
    let co = Co::start(&dir.path().join("co"), &[]);
    ok(&co.edgectl(&[
        "co",
        "add",
        "app",
        "--artifact",
        "fixtures/packages/hello-wasm",
    ]));
    ok(&co.edgectl(&["co", "add", "site", "plant-1"]));
    ok(&co.edgectl(&["co", "add", "site", "plant-2"]));
    for (d, s) in [
        ("edge-1", "plant-1"),
        ("edge-2", "plant-1"),
        ("edge-9", "plant-2"),
    ] {
        ok(&co.edgectl(&["co", "add", "device", d, "--site", s]));
    }
    let lo_creds = enroll(&co, dir.path(), "plant-1", None);
    let d1 = enroll(&co, dir.path(), "plant-1", Some("edge-1"));
    let d2 = enroll(&co, dir.path(), "plant-1", Some("edge-2"));
    let d9 = enroll(&co, dir.path(), "plant-2", Some("edge-9"));
    Fleet {
        dir,
        co,
        lo_creds,
        d1,
        d2,
        d9,
    }
}

/// GET the manifest until its version reaches `version`; returns it and the reply.
fn manifest_at(m: &Margo, version: u64, log: impl Fn() -> String) -> (Value, Reply) {
    until_or(
        &format!("manifest version {version}"),
        || {
            let r = m.get("/api/v1/deployments", &[]);
            assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
            let v = r.json();
            (v["manifestVersion"].as_u64() >= Some(version)).then_some((v, r))
        },
        log,
    )
}

/// GET the manifest until it lists `n` deployments.
fn manifest_with(m: &Margo, n: usize, log: impl Fn() -> String) -> (Value, Reply) {
    until_or(
        &format!("a manifest with {n} deployment(s)"),
        || {
            let r = m.get("/api/v1/deployments", &[]);
            assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
            let v = r.json();
            (v["deployments"].as_array().map(Vec::len) == Some(n)).then_some((v, r))
        },
        log,
    )
}

/// Every fleet-manager MUST of DIGEST §15.2 a manifest reply can show.
fn check_manifest(r: &Reply, v: &Value) {
    assert_eq!(r.header("content-type"), Some(MANIFEST));
    let digest = sha256(&r.body).to_string();
    assert_eq!(
        r.header("etag"),
        Some(format!("\"{digest}\"").as_str()),
        "strong ETag = digest of the exact body"
    );
    let cache = r.header("cache-control").unwrap_or_default();
    assert!(
        cache.contains("private") && !cache.contains("immutable") && !cache.contains("max-age"),
        "{cache}"
    );
    assert!(v["manifestVersion"].as_u64().unwrap() >= 1);
    let deployments = v["deployments"].as_array().unwrap();
    assert!(
        v.as_object().unwrap().contains_key("bundle"),
        "the bundle key is always present"
    );
    assert_eq!(
        v["bundle"].is_null(),
        deployments.is_empty(),
        "bundle null iff no deployments"
    );
    // Canonical JSON: what we got is exactly the sorted, compact serialization.
    assert_eq!(r.body, edge_model::digest::canonical_json(v));
}

/// Fetch every listed deployment and the bundle, checking digests, ETags and
/// that the bundle holds exactly the listed files; returns the YAML texts.
fn check_content(m: &Margo, v: &Value, device: &str) -> Vec<String> {
    let mut yamls = Vec::new();
    let mut names = Vec::new();
    for d in v["deployments"].as_array().unwrap() {
        let (id, digest, url) = (
            d["deploymentId"].as_str().unwrap(),
            d["digest"].as_str().unwrap(),
            d["url"].as_str().unwrap(),
        );
        assert_eq!(url, format!("/api/v1/deployments/{id}/{digest}"));
        let r = m.get(url, &[]);
        assert_eq!(r.status, 200);
        assert_eq!(
            sha256(&r.body).to_string(),
            digest,
            "digest over the exact bytes"
        );
        assert_eq!(r.header("etag"), Some(format!("\"{digest}\"").as_str()));
        assert!(r.header("cache-control").unwrap().contains("immutable"));
        let yaml = String::from_utf8(r.body.clone()).unwrap();
        assert!(
            yaml.contains(&format!("id: {id}")),
            "deploymentId = metadata.annotations.id:\n{yaml}"
        );
        assert!(yaml.contains(&format!("deviceId: {device}")), "{yaml}");
        assert_eq!(
            m.get(url, &[("if-none-match", &format!("\"{digest}\""))])
                .status,
            304
        );
        names.push(format!("{id}.yaml"));
        yamls.push(yaml);
    }
    if let Some(b) = v["bundle"].as_object() {
        assert_eq!(b["mediaType"], BUNDLE);
        let r = m.get(b["url"].as_str().unwrap(), &[]);
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some(BUNDLE));
        assert_eq!(sha256(&r.body).to_string(), b["digest"].as_str().unwrap());
        let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(&r.body[..]));
        let mut inside = Vec::new();
        for e in tar.entries().unwrap() {
            let mut e = e.unwrap();
            let name = e.path().unwrap().display().to_string();
            let mut text = String::new();
            e.read_to_string(&mut text).unwrap();
            assert!(
                yamls.contains(&text),
                "{name} is not byte-identical to a listed deployment"
            );
            inside.push(name);
        }
        inside.sort();
        names.sort();
        assert_eq!(
            inside, names,
            "the bundle holds exactly the listed deployments"
        );
    }
    yamls
}

fn status_doc(id: &str, state: &str, version: u64) -> Value {
    json!({"deploymentId": id, "adoptedManifestVersion": version,
           "status": {"state": state}, "components": [{"name": "hello", "state": state}]})
}

fn caps_doc(id: &str) -> Value {
    json!({"properties": {"id": id, "vendor": "Acme", "modelNumber": "m1", "serialNumber": "s1",
        "cpus": [{"cores": 4, "architecture": "amd64"}], "memory": "8Gi", "storage": "64Gi",
        "otelCollector": false, "supportedRuntimes": ["custom"], "supportedDeploymentTypes": ["custom"]}})
}

fn co_state(co: &Co, id: &str) -> Option<String> {
    let list: Value = serde_json::from_str(&ok(&co.edgectl(&[
        "co",
        "list",
        "deployments",
        "-o",
        "json",
    ])))
    .unwrap();
    list.as_array()?
        .iter()
        .find(|d| d["id"] == id)?
        .get("state")?
        .as_str()
        .map(str::to_owned)
}

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

    // Before any deploy: version 1, nothing, bundle null.
    let (v, r) = manifest_at(&m1, 1, || lo.log());
    check_manifest(&r, &v);
    assert_eq!(v["manifestVersion"], 1);
    assert!(v["bundle"].is_null());

    // A deploy arrives through the nudge (the poll interval is an hour).
    let out = ok(&f.co.edgectl(&[
        "co",
        "deploy",
        "--app",
        "hello-wasm",
        "--site",
        "plant-1",
        "--device",
        "edge-1",
        "-o",
        "json",
    ]));
    let deployed: Value = serde_json::from_str(&out).unwrap();
    let id = deployed[0]["id"].as_str().unwrap().to_owned();
    let (v, r) = manifest_at(&m1, 2, || lo.log());
    check_manifest(&r, &v);
    assert_eq!(v["manifestVersion"], 2, "{}", lo.log());
    assert_eq!(v["deployments"][0]["deploymentId"], id.as_str());
    check_content(&m1, &v, "edge-1");
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

    // edge-2 sees none of it.
    let (v2, r2) = manifest_at(&m2, 1, || lo.log());
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

    // A device of another site is not this LO's client.
    let m9 = Margo::new(&f.d9, &lo.url, "plant-1");
    let foreign = m9.get("/api/v1/deployments", &[]);
    assert_eq!(
        (foreign.status, foreign.problem().as_str()),
        (403, "not-authorized")
    );

    // Reports: created, then updated; nobody reports for someone else.
    let path = format!("/api/v1/deployments/{id}/status");
    assert_eq!(
        m1.json("POST", &path, &status_doc(&id, "installing", 2))
            .status,
        201
    );
    assert_eq!(
        m1.json("POST", &path, &status_doc(&id, "installed", 2))
            .status,
        200
    );
    let r = m2.json("POST", &path, &status_doc(&id, "failed", 1));
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

    // Both reach the CO through the outbox.
    until("the status at the CO", || {
        (co_state(&f.co, &id).as_deref() == Some("installed")).then_some(())
    });
    until("the capabilities at the CO", || {
        let d: Value = serde_json::from_str(&ok(&f
            .co
            .edgectl(&["co", "show", "device", "edge-1", "-o", "json"])))
        .unwrap();
        (d["capabilities"]["properties"]["vendor"] == "Acme").then_some(())
    });

    // Undeploy: the next version is empty again, with a null bundle.
    ok(&f.co.edgectl(&["co", "undeploy", &id]));
    let (v, r) = manifest_at(&m1, 3, || lo.log());
    check_manifest(&r, &v);
    assert!(v["bundle"].is_null() && v["deployments"].as_array().unwrap().is_empty());
    // A removal is still reportable.
    assert_eq!(
        m1.json("POST", &path, &status_doc(&id, "removed", 3))
            .status,
        200
    );

    // Revoking edge-2 at the CO locks it out of the LO.
    ok(&f
        .co
        .edgectl(&["co", "revoke", "--site", "plant-1", "--device", "edge-2"]));
    until("the revocation at the LO", || {
        let r = m2.get("/api/v1/deployments", &[]);
        (r.status == 403 && r.problem() == "not-authorized").then_some(())
    });
    assert_eq!(m1.get("/api/v1/deployments", &[]).status, 200);
    drop(lo);
}

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
    // A device enrolled for its site's LO is not a client of the CO, and the
    // other way round.
    let via_lo = Margo::new(&f.d1, &south, "co").get("/api/v1/deployments", &[]);
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
    let r = Margo::new(&c1, &lo.url, "plant-1").get("/api/v1/deployments", &[]);
    assert_eq!((r.status, r.problem().as_str()), (403, "not-authorized"));
    drop(lo);
    let out = ok(&f.co.edgectl(&[
        "co",
        "deploy",
        "--app",
        "hello-wasm",
        "--site",
        "plant-1",
        "--device",
        "edge-1",
        "-o",
        "json",
    ]));
    let id = serde_json::from_str::<Value>(&out).unwrap()[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (v, r) = manifest_with(&m1, 1, || f.co.log());
    check_manifest(&r, &v);
    assert_eq!(v["deployments"][0]["deploymentId"], id.as_str());
    check_content(&m1, &v, "edge-1");
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
    // The LO's certificate is not a device, and LO routes refuse devices.
    let lo_client = Margo::new(&f.lo_creds, &south, "co");
    assert_eq!(
        lo_client.get("/api/v1/deployments", &[]).problem(),
        "not-authorized"
    );
    // An LO cannot write another site's state through intake.
    let out = ok(&f.co.edgectl(&[
        "co",
        "deploy",
        "--app",
        "hello-wasm",
        "--site",
        "plant-2",
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
    assert_eq!((r.status, r.json()["acked"].as_i64()), (200, Some(1)));
    assert_eq!(
        co_state(&f.co, &theirs_id),
        None,
        "plant-1's LO wrote plant-2's state"
    );
    let r = m1.get("/lo/v1/watch", &[]);
    assert_eq!((r.status, r.problem().as_str()), (403, "not-authorized"));
    // Capabilities make deviceConstraints placeable.
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
fn restarts_of_the_co_and_the_lo_lose_nothing() {
    let f = fleet();
    let lo_data = f.dir.path().join("lo");
    let lo = Lo::start(&f.lo_creds, &lo_data, &[]);
    let m1 = Margo::new(&f.d1, &lo.url, "plant-1");
    let out = ok(&f.co.edgectl(&[
        "co",
        "deploy",
        "--app",
        "hello-wasm",
        "--site",
        "plant-1",
        "--device",
        "edge-1",
        "-o",
        "json",
    ]));
    let id = serde_json::from_str::<Value>(&out).unwrap()[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
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
    let path = format!("/api/v1/deployments/{id}/status");
    for state in ["pending", "installing", "installed"] {
        let r = m1.json("POST", &path, &status_doc(&id, state, 2));
        assert!(
            r.status == 200 || r.status == 201,
            "{}",
            String::from_utf8_lossy(&r.body)
        );
    }
    // The LO keeps serving with the CO gone.
    assert_eq!(
        m1.get("/api/v1/deployments", &[("if-none-match", &etag)])
            .status,
        304
    );
    let co = Co::start(&co_data, &["--south-listen", &south_addr]);
    until("queued status at the restarted CO", || {
        (co_state(&co, &id).as_deref() == Some("installed")).then_some(())
    });

    // A deploy while the LO is down reaches it when it comes back, with a higher version.
    lo.kill();
    let o = co.edgectl(&[
        "co",
        "deploy",
        "--app",
        "hello-wasm",
        "--site",
        "plant-1",
        "--device",
        "edge-1",
        "--set",
        "greeting=again",
    ]);
    assert!(o.status.success(), "{}", co.log());
    let lo = Lo::start(
        &f.lo_creds,
        &lo_data,
        &["--listen", &format!("127.0.0.1:{port}")],
    );
    let (v3, r3) = manifest_at(&m1, v["manifestVersion"].as_u64().unwrap() + 1, || lo.log());
    check_manifest(&r3, &v3);
    assert_eq!(v3["deployments"].as_array().unwrap().len(), 2);
    check_content(&m1, &v3, "edge-1");
    drop(lo);
}

fn caps_with(id: &str, cores: u32, memory: &str) -> Value {
    let mut c = caps_doc(id);
    c["properties"]["cpus"][0]["cores"] = json!(cores);
    c["properties"]["memory"] = json!(memory);
    c
}

#[test]
fn reported_capabilities_decide_where_device_constraints_place() {
    let f = fleet();
    let pkg = edge_tests::co::constrained_package(f.dir.path());
    ok(&f
        .co
        .edgectl(&["co", "add", "app", "--artifact", pkg.to_str().unwrap()]));
    let lo = Lo::start(&f.lo_creds, &f.dir.path().join("lo"), &[]);
    // edge-1 reports through the LO (forwarded from its outbox), edge-2 to the CO directly.
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
    let (v, _) = manifest_with(&m1, 1, || lo.log());
    assert_eq!(v["deployments"][0]["deploymentId"], placed[0]["id"]);
}

#[test]
fn the_lo_refuses_strangers_and_bad_input() {
    let f = fleet();
    let lo = Lo::start(&f.lo_creds, &f.dir.path().join("lo"), &[]);
    // No client certificate: no TLS session at all.
    let anonymous = reqwest::blocking::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap();
    let err = anonymous
        .get(format!("{}/api/v1/deployments", lo.url))
        .send();
    assert!(err.is_err(), "a caller without a certificate got an answer");
    // A device of another CO (another CA, same trust domain name and ids): refused too.
    let other = Co::start(&f.dir.path().join("other-co"), &[]);
    ok(&other.edgectl(&["co", "add", "site", "plant-1"]));
    ok(&other.edgectl(&["co", "add", "device", "edge-1", "--site", "plant-1"]));
    let impostor = enroll(
        &other,
        &f.dir.path().join("other"),
        "plant-1",
        Some("edge-1"),
    );
    // It trusts our CA (so it would accept the LO); the LO must refuse it.
    std::fs::copy(f.d1.join("ca.crt"), impostor.join("ca.crt")).unwrap();
    let m = Margo::new(&impostor, &lo.url, "plant-1");
    assert!(
        m.send("GET", "/api/v1/deployments", &[], None).is_err(),
        "a foreign CA's certificate was accepted"
    );
    // The device refuses a server that is not the WFM it expects.
    let wrong = Margo::new(&f.d1, &lo.url, "plant-2");
    let e = wrong
        .send("GET", "/api/v1/deployments", &[], None)
        .unwrap_err();
    assert!(
        e.contains("not `spiffe://edge.local/margo/wfm/plant-2`"),
        "{e}"
    );

    // Bad bodies change nothing and get the right problem.
    let m1 = Margo::new(&f.d1, &lo.url, "plant-1");
    let big = vec![b' '; 2 * 1024 * 1024];
    let r = m1
        .send("PUT", "/api/v1/capabilities/edge-1", &[], Some(big))
        .unwrap();
    assert_eq!(r.status, 413);
    assert_eq!(r.header("content-type"), Some("application/problem+json"));
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
    assert_eq!(
        m1.send("DELETE", "/api/v1/capabilities/edge-1", &[], None)
            .unwrap()
            .problem(),
        "device-not-found"
    );

    // An LO started with a device's credentials, or none, says why and exits.
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

#[test]
fn an_lo_killed_during_a_burst_of_deploys_never_serves_a_version_twice_or_backwards() {
    let f = fleet();
    let lo_data = f.dir.path().join("lo");
    let mut lo = Lo::start(&f.lo_creds, &lo_data, &[]);
    let port = lo.port().to_string();
    let m1 = Margo::new(&f.d1, &lo.url, "plant-1");
    let (url, token) = (f.co.url.clone(), f.co.token.clone());
    let deployer = std::thread::spawn(move || {
        let client = edge_api::Client::new(&url, Some(token)).unwrap();
        for i in 0..8 {
            let req = edge_api::types::DeployRequest {
                app: "hello-wasm".into(),
                version: None,
                site: "plant-1".into(),
                device: Some("edge-1".into()),
                selector: std::collections::BTreeMap::new(),
                set: [("greeting".to_owned(), format!("burst {i}"))].into(),
                deploy_type: None,
            };
            let _: Vec<edge_api::types::DeploymentSummary> =
                client.post(edge_api::routes::DEPLOYMENTS, &req).unwrap();
        }
    });
    // version → ETag, as observed by the device across the crashes.
    let mut seen: std::collections::BTreeMap<u64, String> = std::collections::BTreeMap::new();
    let mut last = 0;
    let mut kills = 0;
    let mut killed_at = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
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
        assert_eq!(r.status, 200);
        let v = r.json();
        let version = v["manifestVersion"].as_u64().unwrap();
        let etag = r.header("etag").unwrap().to_owned();
        assert!(
            version >= last,
            "version went from {last} down to {version}"
        );
        if let Some(before) = seen.insert(version, etag.clone()) {
            assert_eq!(
                before, etag,
                "version {version} was served with two different contents"
            );
        }
        last = version;
        let n = v["deployments"].as_array().unwrap().len();
        if n == 8 {
            break;
        }
        // Crash the LO each time it has taken in more of the burst (up to three times).
        if kills < 3 && n > killed_at {
            killed_at = n;
            lo.kill();
            lo = Lo::start(
                &f.lo_creds,
                &lo_data,
                &["--listen", &format!("127.0.0.1:{port}")],
            );
            kills += 1;
        }
    }
    deployer.join().unwrap();
    assert!(kills >= 1, "the LO was never killed mid-burst");
}
