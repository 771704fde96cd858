//! The CO's nouns from `edgectl`: one deployment shown in detail
//! (`co show deployment`), sites and devices removed (refused while
//! something is deployed there, `--force` undeploying first, identities
//! revoked, the removal surviving a restart), and the "did you mean" of a
//! mistyped app, site or device name.

use std::path::Path;

use edge_tests::co::{Co, fails, ok};
use edge_tests::fleet::{deploy_to, deployments, enroll_direct, manifest_with, south_url};
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
