//! The CO's nouns from `edgectl`: one deployment shown in detail
//! (`co show deployment`), sites and devices removed (refused while
//! something is deployed there, `--force` undeploying first, identities
//! revoked, the removal surviving a restart), and the "did you mean" of a
//! mistyped app, site or device name.

use std::path::Path;

use edge_tests::co::{Co, fails, ok};
use edge_tests::fleet::{deploy_to, deployments, enroll, enroll_direct, manifest_with, south_url};
use edge_tests::lo::Margo;
use serde_json::{Value, json};

/// A CO with hello-wasm, sites plant-1 (edge-1, edge-2) and plant-2 (edge-9).
fn small_fleet(dir: &Path) -> Co {
    let co = Co::start(&dir.join("co"), &[]);
    co.add_app("fixtures/packages/hello-wasm");
    ok(&co.edgectl(&["co", "add", "site", "plant-1"]));
    ok(&co.edgectl(&["co", "add", "site", "plant-2"]));
    for (d, s) in [
        ("edge-1", "plant-1"),
        ("edge-2", "plant-1"),
        ("edge-9", "plant-2"),
    ] {
        ok(&co.edgectl(&["co", "add", "device", d, "--site", s]));
    }
    co
}

fn json_of(out: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[test]
fn one_deployment_is_shown_with_its_state_document_and_parameters() {
    let dir = tempfile::tempdir().unwrap();
    let co = small_fleet(dir.path());
    let id = deploy_to(&co, "hello-wasm", "edge-1", &["--set", "greeting=hi plant"]);
    // By a unique start of its id, as `co undeploy` takes it.
    let out = ok(&co.edgectl(&["co", "show", "deployment", &id[..8]]));
    for want in [
        format!("deployment: {id}\n"),
        "app:        hello-wasm\nversion:    1.0.0\nprofile:    wasm\nname:       -\n".to_owned(),
        "site:       plant-1\ndevice:     edge-1\nstate:      not reported yet\n".to_owned(),
        "parameters:\n  greeting = \"hi plant\"  (set)".to_owned(),
    ] {
        assert!(out.contains(&want), "want `{want}` in:\n{out}");
    }
    let v = json_of(&ok(&co.edgectl(&[
        "co",
        "show",
        "deployment",
        &id,
        "-o",
        "json",
    ])));
    assert_eq!(v["summary"]["id"], id.as_str(), "{v}");
    assert_eq!(v["summary"]["device"], "edge-1");
    assert_eq!(v["document"]["kind"], "ApplicationDeployment");
    assert_eq!(v["document"]["metadata"]["annotations"]["id"], id.as_str());
    assert_eq!(v["parameters"]["greeting"], "hi plant");
    assert_eq!(v["set"]["greeting"], "hi plant");
    let yaml = ok(&co.edgectl(&["co", "show", "deployment", &id, "-o", "yaml"]));
    assert!(yaml.contains("kind: ApplicationDeployment"), "{yaml}");

    // Its device reports it failed: the state and the error are shown.
    let creds = enroll_direct(&co, dir.path(), "plant-1", "edge-1");
    let m = Margo::new(&creds, &south_url(&creds), "co");
    let (manifest, _) = manifest_with(&m, 1, || co.log());
    let report = json!({"deploymentId": id, "adoptedManifestVersion": manifest["manifestVersion"],
        "status": {"state": "failed"},
        "components": [{"name": "hello", "state": "failed",
                        "error": {"code": "CRASH", "message": "it crashed"}}]});
    let path = format!("/api/v1/deployments/{id}/status");
    assert_eq!(m.json("POST", &path, &report).status, 201);
    let out = ok(&co.edgectl(&["co", "show", "deployment", &id]));
    assert!(out.contains("state:      failed (reported "), "{out}");
    assert!(out.contains("error:      hello: it crashed"), "{out}");

    // Not found, ambiguous and too short are clear refusals.
    fails(
        &co.edgectl(&["co", "show", "deployment", "ffffffff"]),
        "no deployment `ffffffff`; `edgectl co list deployments` lists them",
    );
    fails(
        &co.edgectl(&["co", "show", "deployment", &id[..3]]),
        &format!("no deployment `{}`", &id[..3]),
    );
}

#[test]
fn a_mistyped_app_is_answered_with_the_nearest_app() {
    let dir = tempfile::tempdir().unwrap();
    let co = small_fleet(dir.path());
    fails(
        &co.edgectl(&["co", "show", "app", "helo-wasm"]),
        "no app `helo-wasm` in the store; did you mean `hello-wasm`?",
    );
    // By display name too, where deploying names it.
    fails(
        &co.edgectl(&["co", "deploy", "--app", "Hello Wsam", "--site", "plant-1"]),
        "no app `Hello Wsam` in the store; did you mean `Hello Wasm`?",
    );
    // Nothing near: the usual pointer, no guess.
    let o = co.edgectl(&["co", "show", "app", "warehouse-monitor"]);
    fails(&o, "`edgectl co list apps` lists them");
    assert!(!String::from_utf8_lossy(&o.stderr).contains("did you mean"));
}

#[test]
fn a_mistyped_site_is_answered_with_the_nearest_site() {
    let dir = tempfile::tempdir().unwrap();
    let co = small_fleet(dir.path());
    fails(
        &co.edgectl(&["co", "deploy", "--app", "hello-wasm", "--site", "plant1"]),
        "no site `plant1`; did you mean `plant-1`?",
    );
    fails(
        &co.edgectl(&["co", "show", "site", "Plant-2"]),
        "no site `Plant-2`; did you mean `plant-2`?",
    );
    fails(
        &co.edgectl(&["co", "history", "--site", "plnat-1"]),
        "did you mean `plant-1`?",
    );
    let o = co.edgectl(&["co", "show", "site", "warehouse"]);
    fails(
        &o,
        "no site `warehouse`; `edgectl co list sites` lists them",
    );
    assert!(deployments(&co).is_empty(), "nothing was deployed");
}

#[test]
fn a_mistyped_device_is_answered_with_the_nearest_device() {
    let dir = tempfile::tempdir().unwrap();
    let co = small_fleet(dir.path());
    fails(
        &co.edgectl(&["co", "show", "device", "edge1"]),
        "no device `edge1`; did you mean `edge-1`?",
    );
    // With a site, among that site's devices: edge-9 is of plant-2.
    fails(
        &co.edgectl(&[
            "co",
            "deploy",
            "--app",
            "hello-wasm",
            "--site",
            "plant-1",
            "--device",
            "edge-3",
        ]),
        "no device `edge-3` at site `plant-1`; did you mean `edge-1`?",
    );
    fails(
        &co.edgectl(&[
            "co",
            "enroll",
            "--site",
            "plant-2",
            "--device",
            "egde-9",
            "--out",
            dir.path().join("creds").to_str().unwrap(),
        ]),
        "no device `egde-9` at site `plant-2`; did you mean `edge-9`?",
    );
    assert!(!dir.path().join("creds").exists());
    assert!(deployments(&co).is_empty(), "nothing was deployed");
}

/// `GET /api/v1/deployments` with `creds` at the CO, its HTTP status.
fn manifest_status(creds: &Path) -> u16 {
    manifest_status_at(creds, &south_url(creds))
}

/// [`manifest_status`] at the CO's south URL `south`.
fn manifest_status_at(creds: &Path, south: &str) -> u16 {
    Margo::new(creds, south, "co")
        .get("/api/v1/deployments", &[])
        .status
}

fn workspace_log(co: &Co) -> String {
    edge_tests::co::git(&co.data.join("workspace"), &["log", "--format=%s"])
}

/// The next event of `kind` about `subject` the CO published since its start.
fn event(co: &Co, kind: &str, subject: &str) -> Value {
    let events = co.client(Some(&co.token)).events(Some(0)).unwrap();
    for e in events {
        let e = e.unwrap();
        if e.kind == kind && e.subject == subject {
            return serde_json::to_value(e).unwrap();
        }
    }
    panic!("no {kind} event about {subject}");
}

#[test]
fn a_device_in_use_is_removed_only_with_force_and_its_identity_is_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let co = small_fleet(dir.path());
    let creds = enroll_direct(&co, dir.path(), "plant-1", "edge-1");
    let id = deploy_to(&co, "hello-wasm", "edge-1", &[]);
    assert_eq!(manifest_status(&creds), 200);

    // In use: refused, naming how many and `--force`; nothing changes.
    let commits = workspace_log(&co);
    fails(
        &co.edgectl(&["co", "remove", "device", "edge-1", "--yes"]),
        "device `edge-1` has 1 deployment; undeploy it first, or remove it with `--force`",
    );
    assert_eq!(workspace_log(&co), commits);
    assert_eq!(deployments(&co).len(), 1);
    assert_eq!(manifest_status(&creds), 200, "not revoked");

    // Forced: its deployment goes first, then the device and its identity.
    let o = co.edgectl(&["co", "remove", "device", "edge-1", "--force", "--yes"]);
    let out = ok(&o);
    assert!(
        out.contains("device `edge-1` removed; 1 identity revoked; 1 deployment undeployed first"),
        "{out}"
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("keep running until stopped there"), "{err}");
    assert!(deployments(&co).is_empty());
    fails(
        &co.edgectl(&["co", "show", "device", "edge-1"]),
        "no device `edge-1`",
    );
    let history = ok(&co.edgectl(&["co", "history", "--site", "plant-1"]));
    assert!(
        history.contains("remove device edge-1 from site plant-1"),
        "{history}"
    );
    assert!(workspace_log(&co).starts_with("remove device edge-1 from site plant-1\n"));
    assert_eq!(
        manifest_status(&creds),
        403,
        "its old certificate is refused"
    );
    let e = event(&co, "device.removed", "edge-1");
    assert_eq!(
        (e["site"].as_str(), e["data"]["revoked"].as_u64()),
        (Some("plant-1"), Some(1))
    );
    let removed = event(&co, "deployment.removed", &id);
    assert_eq!(removed["site"], "plant-1");

    // A device with nothing deployed goes without `--force`; as JSON.
    let r =
        json_of(&ok(&co.edgectl(&[
            "co", "remove", "device", "edge-2", "--yes", "-o", "json",
        ])));
    assert_eq!(
        (r["kind"].as_str(), r["devices"].as_u64()),
        (Some("device"), Some(1))
    );
    assert_eq!(r["revoked"], 0);

    // Added again under the same id, it is a new device: enrolled anew, the
    // old certificate still refused, and all of it survives a restart.
    ok(&co.edgectl(&["co", "add", "device", "edge-1", "--site", "plant-1"]));
    let fresh = enroll_direct(&co, &dir.path().join("again"), "plant-1", "edge-1");
    assert_eq!(manifest_status(&fresh), 200);
    let data = co.data.clone();
    assert!(co.stop().success());
    let co = Co::start(&data, &[]);
    let devices = ok(&co.edgectl(&["co", "list", "devices"]));
    assert!(
        devices.contains("edge-1") && !devices.contains("edge-2"),
        "{devices}"
    );
    // The south port is new: learn it from a new enrolment.
    let probe = enroll_direct(&co, &dir.path().join("probe"), "plant-2", "edge-9");
    let south = south_url(&probe);
    assert_eq!(manifest_status_at(&creds, &south), 403);
    assert_eq!(manifest_status_at(&fresh, &south), 200);
}

#[test]
fn a_site_is_removed_with_its_devices_and_every_identity_of_it_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let co = small_fleet(dir.path());
    let lo = enroll(&co, dir.path(), "plant-1", None);
    // Its LO and edge-2 hold identities; edge-1 none.
    let d2 = enroll_direct(&co, dir.path(), "plant-1", "edge-2");
    deploy_to(&co, "hello-wasm", "edge-1", &[]);
    deploy_to(&co, "hello-wasm", "edge-2", &[]);
    fails(
        &co.edgectl(&["co", "remove", "site", "plant-1", "-y"]),
        "site `plant-1` has 2 deployments; undeploy them first, or remove it with `--force`",
    );
    fails(
        &co.edgectl(&["co", "remove", "site", "plant1", "-y"]),
        "no site `plant1`; did you mean `plant-1`?",
    );
    assert_eq!(deployments(&co).len(), 2);

    let out = ok(&co.edgectl(&["co", "remove", "site", "plant-1", "--force", "-y"]));
    assert!(
        out.contains("site `plant-1` removed with its 2 devices; 2 identities revoked; 2 deployments undeployed first"),
        "{out}"
    );
    assert!(deployments(&co).is_empty());
    let sites = ok(&co.edgectl(&["co", "list", "sites"]));
    assert!(
        !sites.contains("plant-1") && sites.contains("plant-2"),
        "{sites}"
    );
    let devices = ok(&co.edgectl(&["co", "list", "devices"]));
    assert!(
        !devices.contains("edge-1") && devices.contains("edge-9"),
        "{devices}"
    );
    assert!(!co.data.join("workspace/sites/plant-1").exists());
    assert!(workspace_log(&co).starts_with("remove site plant-1 with its 2 devices\n"));
    assert_eq!(manifest_status(&d2), 403);
    let watch = Margo::new(&lo, &south_url(&lo), "co").get("/lo/v1/watch", &[]);
    assert_eq!(watch.status, 403, "the site's LO is locked out");
    event(&co, "site.removed", "plant-1");

    // The history stays; a site added again under the name continues it.
    ok(&co.edgectl(&["co", "add", "site", "plant-1"]));
    let history = ok(&co.edgectl(&["co", "history", "--site", "plant-1"]));
    assert!(
        history.contains("remove site plant-1: undeploy everything it runs"),
        "{history}"
    );
    let data = co.data.clone();
    assert!(co.stop().success());
    let co = Co::start(&data, &[]);
    let devices = ok(&co.edgectl(&["co", "list", "devices"]));
    assert!(
        !devices.contains("edge-1"),
        "reindexing brings nothing back: {devices}"
    );
}

#[test]
fn removals_need_the_admin_scope() {
    let dir = tempfile::tempdir().unwrap();
    let co = small_fleet(dir.path());
    let out = ok(&co.edgectl(&[
        "co", "token", "create", "ci", "--scope", "deploy", "-o", "json",
    ]));
    let token = json_of(&out)["token"].as_str().unwrap().to_owned();
    let client = co.client(Some(&token));
    let refused = client
        .delete_json::<Value>("/api/devices/edge-9")
        .unwrap_err();
    assert!(refused.to_string().contains("admin"), "{refused}");
    assert!(ok(&co.edgectl(&["co", "list", "devices"])).contains("edge-9"));
}

#[test]
fn a_removal_cut_short_by_kill_9_is_finished_or_forgotten_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let co = small_fleet(dir.path());
    let c1 = enroll_direct(&co, dir.path(), "plant-1", "edge-1");
    let c2 = enroll_direct(&co, dir.path(), "plant-1", "edge-2");
    let c9 = enroll_direct(&co, dir.path(), "plant-2", "edge-9");
    let data = co.data.clone();
    co.kill();
    // Killed while removing edge-2 after its file went (not yet
    // committed), and while removing edge-9 before its file went; edge-1's
    // file lost with no removal under way.
    let db = rusqlite::Connection::open(data.join("edged.db")).unwrap();
    db.execute_batch(
        "INSERT INTO removals (kind, name, site, at) VALUES
           ('device', 'edge-2', 'plant-1', '2026-01-01T00:00:00Z'),
           ('device', 'edge-9', 'plant-2', '2026-01-01T00:00:00Z');",
    )
    .unwrap();
    drop(db);
    let devices_dir = data.join("workspace/sites/plant-1/devices");
    std::fs::remove_file(devices_dir.join("edge-2.toml")).unwrap();
    std::fs::remove_file(devices_dir.join("edge-1.toml")).unwrap();

    let co = Co::start(&data, &[]);
    let devices = ok(&co.edgectl(&["co", "list", "devices"]));
    assert!(!devices.contains("edge-2"), "finished: {devices}");
    assert!(
        devices.contains("edge-9"),
        "forgotten, nothing removed: {devices}"
    );
    assert!(
        devices.contains("edge-1"),
        "no intent, no removal: {devices}"
    );
    event(&co, "device.removed", "edge-2");
    ok(&co.edgectl(&["co", "add", "device", "probe", "--site", "plant-2"]));
    let probe = enroll_direct(&co, dir.path(), "plant-2", "probe");
    let south = south_url(&probe);
    assert_eq!(manifest_status_at(&c2, &south), 403, "edge-2 revoked");
    assert_eq!(manifest_status_at(&c9, &south), 200);
    assert_eq!(
        manifest_status_at(&c1, &south),
        200,
        "a lost file revokes nothing"
    );
    let db = rusqlite::Connection::open(data.join("edged.db")).unwrap();
    let left: i64 = db
        .query_row("SELECT count(*) FROM removals", [], |r| r.get(0))
        .unwrap();
    assert_eq!(left, 0);
    // The index row left without its file is removed as any other.
    ok(&co.edgectl(&["co", "remove", "device", "edge-1", "-y"]));
    assert_eq!(manifest_status_at(&c1, &south), 403);
}
