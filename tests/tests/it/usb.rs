//! A site carried on a USB stick: `edgectl co export` at the CO, `edged
//! --mode lo --import` at an LO that has no route to the CO, an edge node
//! installing what the stick brought, a second stick taken in by `edgectl lo
//! import` while the LO runs, the status carried back (`edgectl lo
//! export-status`, `edgectl co import-status`, twice), and tampered sticks
//! refused with the LO unchanged; and a WebAssembly module from a registry
//! (Debian's docker-registry) pulled by the CO into the export, the registry
//! stopped, and the edge node installing it from the LO's copy.

use std::path::Path;

use edge_tests::co::{copy_tree, fails, git, ok};
use edge_tests::en::En;
use edge_tests::fleet::{
    co_state, deploy_to, export_site, fixture, fleet, fleet_with, registry_app, row, unrouted,
    without_blob,
};
use edge_tests::lo::{Lo, Margo};
use edge_tests::wait::until_or;
use serde_json::Value;

fn installed(en: &En, id: &str) -> Option<()> {
    row(en, id)
        .filter(|w| w["state"] == "installed")
        .map(|_| ())
}

fn mirror_head(lo_data: &Path) -> String {
    git(
        &lo_data.join("site.git"),
        &["rev-parse", "refs/remotes/origin/main"],
    )
    .trim()
    .to_owned()
}

#[test]
fn a_site_travels_on_a_stick_and_tampered_sticks_are_refused() {
    let f = fleet();
    ok(&f.co.edgectl(&[
        "co",
        "add",
        "app",
        "--artifact",
        "fixtures/packages/hello-process",
    ]));
    let process = deploy_to(&f.co, "hello-process", "edge-1", &[]);
    let stick = f.dir.path().join("stick");
    let export = || ok(&export_site(&f.co, &stick, &[]));
    let out = export();
    assert!(out.contains("1 of 1 artifacts new"), "{out}");
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(stick.join("stick.json")).unwrap()).unwrap();
    assert_eq!(manifest["site"], "plant-1");
    assert_eq!(manifest["credentials"], false);
    assert!(stick.join("oci/index.json").is_file() && stick.join("oci/oci-layout").is_file());
    let first_stick = f.dir.path().join("first-stick");
    copy_tree(&stick, &first_stick);

    // The site: an LO that cannot reach the CO, started from the stick.
    let creds = unrouted(&f.lo_creds, &f.dir.path().join("lo-creds"));
    let lo_data = f.dir.path().join("lo");
    let lo = Lo::start(
        &creds,
        &lo_data,
        &["--poll-interval", "1", "--import", stick.to_str().unwrap()],
    );
    let en = En::start(&f.d1, &f.dir.path().join("en"), &lo.url, &[]);
    let log = || format!("--- LO\n{}\n--- EN\n{}", lo.log(), en.log());
    until_or(
        "the process app from the stick installed",
        || installed(&en, &process),
        log,
    );

    // Another deploy, a second export to the same stick (only what changed),
    // taken in by `edgectl lo import` while the LO runs (hello-wasm is in
    // the fleet's store already).
    let wasm = deploy_to(&f.co, "hello-wasm", "edge-1", &[]);
    let out = export();
    assert!(out.contains("1 of 2 artifacts new"), "{out}");
    let import = |dir: &Path| {
        std::process::Command::new(edge_tests::co::bin("edgectl"))
            .args(["lo", "import"])
            .arg(dir)
            .arg("--data")
            .arg(&lo_data)
            .output()
            .unwrap()
    };
    let out = ok(&import(&stick));
    assert!(out.contains("1 of 2 artifacts new"), "{out}");
    until_or(
        "the wasm app from the second stick installed",
        || installed(&en, &wasm),
        log,
    );
    let head = mirror_head(&lo_data);

    // Status goes back the same way: the CO hears both installed, and a
    // stick taken in twice changes nothing.
    let out = std::process::Command::new(edge_tests::co::bin("edgectl"))
        .args(["lo", "export-status", "--data"])
        .arg(&lo_data)
        .arg("--to")
        .arg(&stick)
        .output()
        .unwrap();
    assert!(ok(&out).contains("reports of site `plant-1` written"));
    assert_eq!(
        co_state(&f.co, &process),
        None,
        "the CO has heard nothing yet"
    );
    let out = ok(&f
        .co
        .edgectl(&["co", "import-status", stick.to_str().unwrap()]));
    assert!(out.contains("reports handed to the CO"), "{out}");
    assert_eq!(co_state(&f.co, &process).as_deref(), Some("installed"));
    assert_eq!(co_state(&f.co, &wasm).as_deref(), Some("installed"));
    let before = ok(&f.co.edgectl(&["co", "list", "deployments", "-o", "json"]));
    ok(&f
        .co
        .edgectl(&["co", "import-status", stick.to_str().unwrap()]));
    let after = ok(&f.co.edgectl(&["co", "list", "deployments", "-o", "json"]));
    assert_eq!(before, after, "a stick taken in twice changes nothing");
    let again = ok(&import(&stick));
    assert!(again.contains("already up to date"), "{again}");

    // Tampered sticks: each refused, saying why, and the LO unchanged.
    fails(&import(&first_stick), "is older than what is here");
    let changed = f.dir.path().join("changed");
    copy_tree(&stick, &changed);
    let blob = manifest["artifacts"][0]["digest"].as_str().unwrap();
    let path = changed
        .join("oci/blobs/sha256")
        .join(blob.trim_start_matches("sha256:"));
    // Another size than named: refused before it is read.
    let size = std::fs::metadata(&path).unwrap().len();
    std::fs::write(&path, b"#!/bin/sh\necho forged\n").unwrap();
    fails(
        &import(&changed),
        "its manifest names; nothing was taken in",
    );
    // The same size, other bytes.
    let mut forged = b"#!/bin/sh\necho forged\n".to_vec();
    forged.resize(usize::try_from(size).unwrap(), b'#');
    std::fs::write(&path, &forged).unwrap();
    fails(&import(&changed), "was changed");
    let missing = without_blob(&stick, &f.dir.path().join("missing"), blob);
    fails(&import(&missing), "is missing");
    // A rewritten history: the same files under a new root commit.
    let rewritten = f.dir.path().join("rewritten");
    copy_tree(&stick, &rewritten);
    let repo = rewritten.join("site.git");
    let tree = git(&repo, &["rev-parse", "refs/heads/main^{tree}"]);
    let forged = git(
        &repo,
        &[
            "-c",
            "user.name=x",
            "-c",
            "user.email=x@example.org",
            "commit-tree",
            tree.trim(),
            "-m",
            "rewritten",
        ],
    );
    let _ = git(&repo, &["update-ref", "refs/heads/main", forged.trim()]);
    let text = std::fs::read_to_string(rewritten.join("stick.json"))
        .unwrap()
        .replace(&head, forged.trim());
    std::fs::write(rewritten.join("stick.json"), text).unwrap();
    fails(&import(&rewritten), "does not continue what is here");
    assert_eq!(mirror_head(&lo_data), head, "the LO is unchanged");
    drop(en);
}

#[test]
fn a_module_from_a_registry_travels_on_the_stick_and_runs_with_the_registry_gone() {
    let registry = edge_tests::registry::start().unwrap();
    let addr = registry.addr.clone();
    let wat = std::fs::read(fixture("hello-wasm/components/hello.wat")).unwrap();
    let layer = "application/vnd.wasm.content.layer.v1+wasm";
    let digest = registry.push_blob("apps/hello-wasm", "1.0.0", &wat, layer);
    let insecure = ["--insecure-registries", addr.as_str()];
    let f = fleet_with(&insecure);
    let reference = format!("oci://{addr}/apps/hello-wasm:1.0.0");
    let pkg = registry_app(
        f.dir.path(),
        "hello-wasm",
        "pulled-wasm",
        "./components/hello.wat",
        &format!("oci://{addr}/apps/hello-wasm"),
    );
    ok(&f.co.edgectl(&["co", "add", "app", "--artifact", &pkg]));
    let id = deploy_to(
        &f.co,
        "pulled-wasm",
        "edge-1",
        &["--set", "greeting=carried on a stick"],
    );

    // Exported while the registry is up: the CO pulls the module.
    let stick = f.dir.path().join("stick");
    let out = ok(&export_site(&f.co, &stick, &[]));
    assert!(
        out.contains("1 of 1 artifacts new") && out.contains("1 of them pulled from registries"),
        "{out}"
    );
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(stick.join("stick.json")).unwrap()).unwrap();
    let artifact = &manifest["artifacts"][0];
    assert_eq!(artifact["digest"], digest.as_str());
    assert_eq!(artifact["reference"], reference.as_str());
    assert_eq!(artifact["mediaType"], layer);
    let index: Value =
        serde_json::from_slice(&std::fs::read(stick.join("oci/index.json")).unwrap()).unwrap();
    assert_eq!(
        index["manifests"][0]["annotations"]["org.edgectl.reference"],
        reference.as_str()
    );
    drop(registry);
    // With the registry gone an export fails, naming what it could not get.
    let later = f.dir.path().join("later");
    fails(
        &export_site(&f.co, &later, &[]),
        &format!(
            "cannot put `{reference}` (component `hello` of app `pulled-wasm`) on the stick, so nothing was exported: cannot reach registry `{addr}`"
        ),
    );

    let import = |dir: &Path, data: &Path| {
        std::process::Command::new(edge_tests::co::bin("edgectl"))
            .args(["lo", "import"])
            .arg(dir)
            .arg("--data")
            .arg(data)
            .output()
            .unwrap()
    };
    // A stick without the module's blob is refused, naming the reference,
    // and the data folder is left as it was.
    let missing = without_blob(&stick, &f.dir.path().join("missing"), &digest);
    let scratch = f.dir.path().join("scratch");
    fails(
        &import(&missing, &scratch),
        &format!("({reference}, for pulled-wasm/hello) is missing"),
    );
    assert!(!scratch.join("pins.json").exists() && !scratch.join("site.git").exists());

    // The site: an LO with no route to the CO, the registry gone.
    let creds = unrouted(&f.lo_creds, &f.dir.path().join("lo-creds"));
    let lo_data = f.dir.path().join("lo");
    let lo = Lo::start(&creds, &lo_data, &["--import", stick.to_str().unwrap()]);
    let pins: Value =
        serde_json::from_slice(&std::fs::read(lo_data.join("pins.json")).unwrap()).unwrap();
    assert_eq!(pins["pins"][reference.as_str()]["digest"], digest.as_str());
    let en_data = f.dir.path().join("en");
    let en = En::start(&f.d1, &en_data, &lo.url, &insecure);
    let log = || format!("--- LO\n{}\n--- EN\n{}", lo.log(), en.log());
    until_or(
        "the module from the LO's copy installed",
        || installed(&en, &id),
        log,
    );
    until_or(
        "the module's greeting in its log",
        || {
            ok(&en.edgectl(&["logs", "pulled-wasm"]))
                .contains("carried on a stick")
                .then_some(())
        },
        log,
    );
    assert_eq!(
        std::fs::read_dir(en_data.join("artifacts/refs"))
            .unwrap()
            .count(),
        1,
        "the node pinned the reference to the LO's copy"
    );

    // The LO answers only for a reference the asking device's deployments name.
    let path = format!("/v2/pulled-wasm/pins?reference={reference}");
    let mine = Margo::new(&f.d1, &lo.url, "plant-1").get(&path, &[]);
    assert_eq!(mine.status, 200, "{}", String::from_utf8_lossy(&mine.body));
    assert_eq!(mine.json()["digest"], digest.as_str());
    let other = Margo::new(&f.d2, &lo.url, "plant-1").get(&path, &[]);
    assert_eq!(
        other.status,
        404,
        "{}",
        String::from_utf8_lossy(&other.body)
    );
    let unnamed = Margo::new(&f.d1, &lo.url, "plant-1")
        .get(&path.replace("hello-wasm:1.0.0", "hello-wasm:9.9.9"), &[]);
    assert_eq!(unnamed.status, 404);
    drop(en);
}
