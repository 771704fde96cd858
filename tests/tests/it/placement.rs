//! What reaches a node is something it can run: a package whose WebAssembly
//! module does not parse is refused when it is added; a deployment is placed
//! only on devices whose reported `supportedDeploymentTypes` include its
//! type (refusals name the device, the type and what it reported, in a dry
//! run too, and change nothing); a device that has not reported is refused
//! unless the operator takes it unchecked (`--allow-unreported`); and Helm,
//! which no node here runs, is refused by the CO for a node that reported,
//! and by the node itself, saying Helm is not supported.

use edge_tests::co::{Co, fails, git, ok};
use edge_tests::en::En;
use edge_tests::fleet::*;
use edge_tests::lo::{Lo, Margo};
use edge_tests::wait::until_or;
use serde_json::Value;

/// The Helm fixture's app id.
const HELM_APP: &str = "com-northstartida-hello-world";

/// The commits of `site`'s repository (none before its first change).
fn commits(co: &Co, site: &str) -> String {
    let dir = co.data.join("sites").join(site);
    if !dir.join(".git").exists() {
        return String::new();
    }
    git(&dir, &["rev-list", "--all"])
}

#[test]
fn a_package_whose_wasm_module_does_not_parse_is_refused_when_added() {
    let dir = tempfile::tempdir().unwrap();
    let co = Co::start(&dir.path().join("co"), &[]);
    let o = co.edgectl(&[
        "co",
        "add",
        "app",
        "--artifact",
        "fixtures/invalid/wasm-module-malformed",
    ]);
    fails(
        &o,
        "deploymentProfiles[0].components[0].properties.repository: `./components/hello.wasm` is not a well-formed WebAssembly module: ",
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("(at byte "), "{err}");
    let apps = ok(&co.edgectl(&["co", "list", "apps", "-o", "json"]));
    assert_eq!(apps.trim(), "[]", "nothing was stored");
}

#[test]
fn a_deploy_goes_only_where_the_reported_deployment_types_allow() {
    let f = fleet();
    f.co.add_app("fixtures/packages/hello-compose");
    f.co.add_app("fixtures/packages/hello-helm");
    a_device_that_has_not_reported_is_refused_unless_taken_unchecked(&f);
    let before = commits(&f.co, "plant-1");
    // edge-1 runs what a node without podman runs; edge-2 only compose.
    report(&f, "edge-1", &["wasm", "process"]);
    report(&f, "edge-2", &["compose"]);
    a_type_the_device_did_not_report_is_refused_naming_both(&f);
    helm_is_refused_for_every_device_that_reported(&f);
    an_apply_entry_placing_on_such_a_device_is_refused_naming_its_file(&f);
    assert_eq!(commits(&f.co, "plant-1"), before, "refusals change nothing");
    a_site_wide_deploy_goes_to_the_devices_that_run_its_type(&f);
}

/// edge-1 and edge-2 have not reported: a deploy to one, to the site and a
/// dry run are refused naming them; `--allow-unreported` takes them.
fn a_device_that_has_not_reported_is_refused_unless_taken_unchecked(f: &Fleet) {
    let one = [
        "co",
        "deploy",
        "--app",
        "hello-wasm",
        "--site",
        "plant-1",
        "--device",
        "edge-1",
    ];
    let refusal = "device `edge-1` has not reported its capabilities yet, so it is not known to run `wasm` deployments; deploy once reported (`edgectl co show device` says), leave it out with --device or --selector, or take it unchecked with --allow-unreported";
    fails(&f.co.edgectl(&one), refusal);
    fails(&f.co.edgectl(&[&one[..], &["--dry-run"]].concat()), refusal);
    fails(
        &f.co
            .edgectl(&["co", "deploy", "--app", "hello-wasm", "--site", "plant-1"]),
        "devices `edge-1`, `edge-2` have not reported their capabilities yet",
    );
    let out = ok(&f
        .co
        .edgectl(&[&one[..], &["--dry-run", "--allow-unreported"]].concat()));
    assert!(out.contains("would be 1 created"), "{out}");
    assert_eq!(commits(&f.co, "plant-1"), "", "no commit yet");
}

/// `device` reports capabilities listing `types`, straight to the CO.
fn report(f: &Fleet, device: &str, types: &[&str]) {
    let creds = enroll_direct(&f.co, f.dir.path(), "plant-1", device);
    let m = Margo::new(&creds, &south_url(&creds), "co");
    let mut caps = caps_doc(device);
    caps["properties"]["supportedDeploymentTypes"] = serde_json::json!(types);
    let r = m.json("PUT", &format!("/api/v1/capabilities/{device}"), &caps);
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
}

/// Compose to edge-1 (no podman) and wasm to edge-2 (no wasm) are refused,
/// naming the device, the type needed and what it reported, dry run too.
fn a_type_the_device_did_not_report_is_refused_naming_both(f: &Fleet) {
    let compose = [
        "co",
        "deploy",
        "--app",
        "hello-compose",
        "--site",
        "plant-1",
        "--device",
        "edge-1",
    ];
    let why = "no device can take this `compose` deployment: `edge-1`: it does not run `compose` deployments: needs deployment type `compose`, and its supportedDeploymentTypes are wasm, process";
    fails(&f.co.edgectl(&compose), why);
    fails(&f.co.edgectl(&[&compose[..], &["--dry-run"]].concat()), why);
    // Taking unreported devices unchecked does not override what was reported.
    fails(
        &f.co
            .edgectl(&[&compose[..], &["--allow-unreported"]].concat()),
        why,
    );
    fails(
        &f.co.edgectl(&[
            "co",
            "deploy",
            "--app",
            "hello-wasm",
            "--site",
            "plant-1",
            "--device",
            "edge-2",
        ]),
        "`edge-2`: it does not run `wasm` deployments: needs deployment type `wasm`, and its supportedDeploymentTypes are compose",
    );
}

/// Neither device reported Helm.
fn helm_is_refused_for_every_device_that_reported(f: &Fleet) {
    fails(
        &f.co
            .edgectl(&["co", "deploy", "--app", HELM_APP, "--site", "plant-1"]),
        "no device can take this `helm` deployment: `edge-1`: Helm is not supported on it: needs deployment type `helm`, and its supportedDeploymentTypes are wasm, process; `edge-2`: Helm is not supported on it",
    );
}

/// `co apply` places as `co deploy` does: the entry is refused, named by its
/// file and field.
fn an_apply_entry_placing_on_such_a_device_is_refused_naming_its_file(f: &Fleet) {
    let file = f.dir.path().join("fleet.yaml");
    std::fs::write(
        &file,
        "apiVersion: edgectl.io/v1\nkind: Deployments\ndeployments:\n  - app: hello-compose\n    site: plant-1\n    devices: [edge-1]\n",
    )
    .unwrap();
    let o = f.co.edgectl(&["co", "apply", "-f", file.to_str().unwrap()]);
    fails(&o, "devices");
    fails(&o, "`edge-1`: it does not run `compose` deployments");
}

/// A deploy to the site leaves out the device that does not run its type.
fn a_site_wide_deploy_goes_to_the_devices_that_run_its_type(f: &Fleet) {
    let out = ok(&f.co.edgectl(&[
        "co",
        "deploy",
        "--app",
        "hello-wasm",
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
    assert_eq!(devices, ["edge-1"]);
}

/// A Helm deployment taken unchecked before its node reported reaches the
/// node, which says Helm is not supported there; once the node reported
/// what it runs (no Helm), the CO refuses Helm for it.
#[test]
fn helm_is_not_supported_on_a_node_and_the_co_refuses_it_once_reported() {
    let f = fleet();
    f.co.add_app("fixtures/packages/hello-helm");
    let id = ok(&f.co.edgectl(&[
        "co",
        "deploy",
        "--app",
        HELM_APP,
        "--site",
        "plant-1",
        "--device",
        "edge-1",
        "--allow-unreported",
        "-o",
        "json",
    ]));
    let id = serde_json::from_str::<Value>(&id).unwrap()[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let lo = Lo::start(&f.lo_creds, &f.dir.path().join("lo"), &[]);
    let en = En::start(&f.d1, &f.dir.path().join("en"), &lo.url, &[]);
    let log = || format!("--- LO\n{}\n--- EN\n{}", lo.log(), en.log());
    wait_state(&f.co, &id, "failed", log);
    let listing = ok(&f.co.edgectl(&["co", "list", "deployments", "-o", "json"]));
    assert!(
        listing.contains("Helm is not supported on this node: it has no `helm` runtime"),
        "{listing}"
    );
    let types = until_or(
        "edge-1's capabilities at the CO",
        || {
            let d: Value = serde_json::from_str(&ok(&f
                .co
                .edgectl(&["co", "show", "device", "edge-1", "-o", "json"])))
            .unwrap();
            // This release reports its own types as `custom` plus our
            // extension; the model reads both.
            let caps = d.get("capabilities").filter(|c| !c.is_null())?;
            Some(edge_model::artifact::deployment_types(caps))
        },
        log,
    );
    assert!(
        !types.iter().any(|t| t == "helm") && types.iter().any(|t| t == "wasm"),
        "{types:?}"
    );
    fails(
        &f.co.edgectl(&[
            "co", "deploy", "--app", HELM_APP, "--site", "plant-1", "--device", "edge-1",
        ]),
        "`edge-1`: Helm is not supported on it: needs deployment type `helm`",
    );
}
