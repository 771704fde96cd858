//! A site carried on a USB stick: `edgectl co export` at the CO, `edged
//! --mode lo --import` at an LO that has no route to the CO, an edge node
//! installing what the stick brought, a second stick taken in by `edgectl lo
//! import` while the LO runs, the status carried back (`edgectl lo
//! export-status`, `edgectl co import-status`, twice), and tampered sticks
//! refused with the LO unchanged; and a WebAssembly module from a registry
//! (Debian's docker-registry) pulled by the CO into the export, the registry
//! stopped, and the edge node installing it from the LO's copy.

use std::path::{Path, PathBuf};
use std::process::Output;

use edge_tests::co::{copy_tree, fails, git, ok};
use edge_tests::en::En;
use edge_tests::fleet::{
    Fleet, co_state, deploy_to, export_site, fixture, fleet, fleet_with, registry_app, row,
    unrouted, without_blob,
};
use edge_tests::forge;
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

/// `edgectl lo import <stick> --data <data>`.
fn lo_import(stick: &Path, data: &Path) -> Output {
    std::process::Command::new(edge_tests::co::bin("edgectl"))
        .args(["lo", "import"])
        .arg(stick)
        .arg("--data")
        .arg(data)
        .output()
        .unwrap()
}

#[test]
fn a_site_travels_on_a_stick_and_tampered_sticks_are_refused() {
    let f = fleet();
    f.co.add_app("fixtures/packages/hello-process");
    let process = deploy_to(&f.co, "hello-process", "edge-1", &[]);
    let stick = f.dir.path().join("stick");
    let manifest = the_export_names_the_site_and_carries_the_artifact(&f, &stick);
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
    let wasm = a_second_export_carries_what_changed_and_lo_import_takes_it_in(
        &f, &stick, &lo_data, &en, log,
    );
    let head = mirror_head(&lo_data);
    status_goes_back_on_the_stick_and_taken_in_twice_changes_nothing(
        &f, &stick, &lo_data, &process, &wasm,
    );
    tampered_sticks_are_each_refused_saying_why(
        &f,
        &stick,
        &first_stick,
        &lo_data,
        &manifest,
        &head,
    );
    assert_eq!(mirror_head(&lo_data), head, "the LO is unchanged");
    drop(en);
}

/// The first export: one new artifact, the site named, no credentials, an
/// OCI layout. Returns `stick.json`.
fn the_export_names_the_site_and_carries_the_artifact(f: &Fleet, stick: &Path) -> Value {
    let out = ok(&export_site(&f.co, stick, &[]));
    assert!(out.contains("1 of 1 artifacts new"), "{out}");
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(stick.join("stick.json")).unwrap()).unwrap();
    assert_eq!(manifest["site"], "plant-1");
    assert_eq!(manifest["credentials"], false);
    assert!(stick.join("oci/index.json").is_file() && stick.join("oci/oci-layout").is_file());
    manifest
}

/// Another deploy, a second export to the same stick (only what changed),
/// taken in by `edgectl lo import` while the LO runs (hello-wasm is in
/// the fleet's store already), and installed. Returns its deployment.
fn a_second_export_carries_what_changed_and_lo_import_takes_it_in(
    f: &Fleet,
    stick: &Path,
    lo_data: &Path,
    en: &En,
    log: impl Fn() -> String,
) -> String {
    let wasm = deploy_to(&f.co, "hello-wasm", "edge-1", &[]);
    let out = ok(&export_site(&f.co, stick, &[]));
    assert!(out.contains("1 of 2 artifacts new"), "{out}");
    let out = ok(&lo_import(stick, lo_data));
    assert!(out.contains("1 of 2 artifacts new"), "{out}");
    until_or(
        "the wasm app from the second stick installed",
        || installed(en, &wasm),
        log,
    );
    wasm
}

/// Status goes back the same way: the CO hears both installed, and a
/// stick taken in twice changes nothing (at the CO and at the LO).
fn status_goes_back_on_the_stick_and_taken_in_twice_changes_nothing(
    f: &Fleet,
    stick: &Path,
    lo_data: &Path,
    process: &str,
    wasm: &str,
) {
    let out = std::process::Command::new(edge_tests::co::bin("edgectl"))
        .args(["lo", "export-status", "--data"])
        .arg(lo_data)
        .arg("--to")
        .arg(stick)
        .output()
        .unwrap();
    assert!(ok(&out).contains("reports of site `plant-1` written"));
    assert_eq!(
        co_state(&f.co, process),
        None,
        "the CO has heard nothing yet"
    );
    let out = ok(&f
        .co
        .edgectl(&["co", "import-status", stick.to_str().unwrap()]));
    assert!(out.contains("reports handed to the CO"), "{out}");
    assert_eq!(co_state(&f.co, process).as_deref(), Some("installed"));
    assert_eq!(co_state(&f.co, wasm).as_deref(), Some("installed"));
    let before = ok(&f.co.edgectl(&["co", "list", "deployments", "-o", "json"]));
    ok(&f
        .co
        .edgectl(&["co", "import-status", stick.to_str().unwrap()]));
    let after = ok(&f.co.edgectl(&["co", "list", "deployments", "-o", "json"]));
    assert_eq!(before, after, "a stick taken in twice changes nothing");
    let again = ok(&lo_import(stick, lo_data));
    assert!(again.contains("already up to date"), "{again}");
}

/// Tampered sticks: an older one, a blob of another size or other bytes, a
/// missing blob, a rewritten history; each refused, saying why.
fn tampered_sticks_are_each_refused_saying_why(
    f: &Fleet,
    stick: &Path,
    first_stick: &Path,
    lo_data: &Path,
    manifest: &Value,
    head: &str,
) {
    fails(
        &lo_import(first_stick, lo_data),
        "is older than what is here",
    );
    let changed = f.dir.path().join("changed");
    copy_tree(stick, &changed);
    let blob = manifest["artifacts"][0]["digest"].as_str().unwrap();
    let path = changed
        .join("oci/blobs/sha256")
        .join(blob.trim_start_matches("sha256:"));
    // Another size than named: refused before it is read.
    let size = std::fs::metadata(&path).unwrap().len();
    std::fs::write(&path, b"#!/bin/sh\necho forged\n").unwrap();
    fails(
        &lo_import(&changed, lo_data),
        "its manifest names; nothing was taken in",
    );
    // The same size, other bytes.
    let mut forged = b"#!/bin/sh\necho forged\n".to_vec();
    forged.resize(usize::try_from(size).unwrap(), b'#');
    std::fs::write(&path, &forged).unwrap();
    fails(&lo_import(&changed, lo_data), "was changed");
    let missing = without_blob(stick, &f.dir.path().join("missing"), blob);
    fails(&lo_import(&missing, lo_data), "is missing");
    let rewritten = rewritten_history(f, stick, &f.dir.path().join("rewritten"), head);
    fails(
        &lo_import(&rewritten, lo_data),
        "does not continue what is here",
    );
}

/// A copy of `stick` at `to` with a rewritten history: the same files under
/// a new root commit, which its `stick.json` names instead of `head`, signed
/// again with the CO's CA key (so the history check is what refuses it).
fn rewritten_history(f: &Fleet, stick: &Path, to: &Path, head: &str) -> PathBuf {
    let rewritten = to.to_path_buf();
    copy_tree(stick, &rewritten);
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
    let mut m = forge::manifest(&rewritten);
    assert_eq!(m.head, head);
    m.head = forged.trim().to_owned();
    forge::write_signed(&rewritten, m, &forge::ca_key(&f.co.data));
    rewritten
}

/// A module pushed to a registry, deployed to edge-1 as `pulled-wasm`.
struct Pulled {
    addr: String,
    digest: String,
    /// `oci://<addr>/apps/hello-wasm:1.0.0`
    reference: String,
    id: String,
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
    let m = the_module_is_added_and_deployed_from_the_registry(&f, &addr, digest);
    let stick = f.dir.path().join("stick");
    an_export_while_the_registry_is_up_pulls_the_module(&f, &m, &stick, layer);
    drop(registry);
    without_the_registry_an_export_fails_naming_what_it_could_not_get(&f, &m);
    a_stick_without_the_modules_blob_is_refused_and_nothing_written(&f, &m, &stick);

    // The site: an LO with no route to the CO, the registry gone.
    let creds = unrouted(&f.lo_creds, &f.dir.path().join("lo-creds"));
    let lo_data = f.dir.path().join("lo");
    let lo = Lo::start(&creds, &lo_data, &["--import", stick.to_str().unwrap()]);
    let pins: Value =
        serde_json::from_slice(&std::fs::read(lo_data.join("pins.json")).unwrap()).unwrap();
    assert_eq!(
        pins["pins"][m.reference.as_str()]["digest"],
        m.digest.as_str()
    );
    let en_data = f.dir.path().join("en");
    let en = En::start(&f.d1, &en_data, &lo.url, &insecure);
    the_node_runs_the_module_from_the_los_copy(&m, &lo, &en, &en_data);
    the_lo_answers_only_for_a_reference_the_devices_deployments_name(&f, &m, &lo);
    drop(en);
}

/// An app whose component names the module by its registry reference,
/// added and deployed to edge-1.
fn the_module_is_added_and_deployed_from_the_registry(
    f: &Fleet,
    addr: &str,
    digest: String,
) -> Pulled {
    let reference = format!("oci://{addr}/apps/hello-wasm:1.0.0");
    let pkg = registry_app(
        f.dir.path(),
        "hello-wasm",
        "pulled-wasm",
        "./components/hello.wat",
        &format!("oci://{addr}/apps/hello-wasm"),
    );
    f.co.add_app(&pkg);
    let id = deploy_to(
        &f.co,
        "pulled-wasm",
        "edge-1",
        &["--set", "greeting=carried on a stick"],
    );
    Pulled {
        addr: addr.to_owned(),
        digest,
        reference,
        id,
    }
}

/// Exported while the registry is up: the CO pulls the module, and the
/// stick names it by digest, reference and media type.
fn an_export_while_the_registry_is_up_pulls_the_module(
    f: &Fleet,
    m: &Pulled,
    stick: &Path,
    layer: &str,
) {
    let out = ok(&export_site(&f.co, stick, &[]));
    assert!(
        out.contains("1 of 1 artifacts new") && out.contains("1 of them pulled from registries"),
        "{out}"
    );
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(stick.join("stick.json")).unwrap()).unwrap();
    let artifact = &manifest["artifacts"][0];
    assert_eq!(artifact["digest"], m.digest.as_str());
    assert_eq!(artifact["reference"], m.reference.as_str());
    assert_eq!(artifact["mediaType"], layer);
    let index: Value =
        serde_json::from_slice(&std::fs::read(stick.join("oci/index.json")).unwrap()).unwrap();
    assert_eq!(
        index["manifests"][0]["annotations"]["org.edgectl.reference"],
        m.reference.as_str()
    );
}

/// With the registry gone an export fails, naming what it could not get.
fn without_the_registry_an_export_fails_naming_what_it_could_not_get(f: &Fleet, m: &Pulled) {
    let (reference, addr) = (&m.reference, &m.addr);
    let later = f.dir.path().join("later");
    fails(
        &export_site(&f.co, &later, &[]),
        &format!(
            "cannot put `{reference}` (component `hello` of app `pulled-wasm`) on the stick, so nothing was exported: cannot reach registry `{addr}`"
        ),
    );
}

/// A stick without the module's blob is refused, naming the reference,
/// and the data folder is left as it was.
fn a_stick_without_the_modules_blob_is_refused_and_nothing_written(
    f: &Fleet,
    m: &Pulled,
    stick: &Path,
) {
    let missing = without_blob(stick, &f.dir.path().join("missing"), &m.digest);
    let scratch = f.dir.path().join("scratch");
    let import = std::process::Command::new(edge_tests::co::bin("edgectl"))
        .args(["lo", "import"])
        .arg(&missing)
        .arg("--data")
        .arg(&scratch)
        .arg("--credentials")
        .arg(&f.lo_creds)
        .output()
        .unwrap();
    fails(
        &import,
        &format!("({}, for pulled-wasm/hello) is missing", m.reference),
    );
    assert!(!scratch.join("pins.json").exists() && !scratch.join("site.git").exists());
}

/// The node installs the module from the LO's copy, runs it, and pins the
/// reference to that copy.
fn the_node_runs_the_module_from_the_los_copy(m: &Pulled, lo: &Lo, en: &En, en_data: &Path) {
    let log = || format!("--- LO\n{}\n--- EN\n{}", lo.log(), en.log());
    until_or(
        "the module from the LO's copy installed",
        || installed(en, &m.id),
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
}

/// The LO answers only for a reference the asking device's deployments name.
fn the_lo_answers_only_for_a_reference_the_devices_deployments_name(
    f: &Fleet,
    m: &Pulled,
    lo: &Lo,
) {
    let path = format!("/v2/pulled-wasm/pins?reference={}", m.reference);
    let mine = Margo::new(&f.d1, &lo.url, "plant-1").get(&path, &[]);
    assert_eq!(mine.status, 200, "{}", String::from_utf8_lossy(&mine.body));
    assert_eq!(mine.json()["digest"], m.digest.as_str());
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
}
