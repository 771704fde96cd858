//! WebAssembly modules and native binaries pulled by the edge node from a
//! registry (Debian's docker-registry; `oci://` repository, one layer):
//! installed and running, a registry serving other bytes than its manifest
//! names refused while the rest runs on (and failing a site export, which
//! pulls them at the CO), and a kill -9 restart with the registry gone
//! bringing the same bytes back from the node's own store.

use std::path::Path;

use edge_tests::co::ok;
use edge_tests::en::En;
use edge_tests::fleet::{
    Fleet, deploy_to, export_site, fixture, fleet_with, registry_app, row, wait_state,
};
use edge_tests::lo::Lo;
use edge_tests::wait::until_or;

const WASM_LAYER: &str = "application/vnd.wasm.content.layer.v1+wasm";
const BINARY_LAYER: &str = "application/octet-stream";

#[test]
fn modules_and_binaries_come_from_a_registry_and_restart_without_it() {
    let registry = edge_tests::registry::start().unwrap();
    push_a_module_a_binary_and_a_module_whose_bytes_change(&registry);
    let addr = registry.addr.clone();
    let insecure = ["--insecure-registries", addr.as_str()];
    let f = fleet_with(&insecure);
    three_apps_name_them_by_registry_reference(&f, &addr);
    let lo = Lo::start(&f.lo_creds, &f.dir.path().join("lo"), &[]);
    let data = f.dir.path().join("en");
    let en = En::start(&f.d1, &data, &lo.url, &insecure);
    let log = || format!("--- LO\n{}\n--- EN\n{}", lo.log(), en.log());
    let (wasm, bin) = the_node_runs_what_it_pulled_and_refuses_other_bytes(&f, &en, log);
    an_export_fails_naming_the_module_with_other_bytes_and_writes_no_stick(&f, &addr);
    let stored = std::fs::read_dir(data.join("artifacts/sha256"))
        .unwrap()
        .count();
    assert_eq!(stored, 2, "only verified bytes are stored");

    // kill -9, and the registry gone: the node starts both again from the
    // digests it pinned, with no network.
    en.kill();
    drop(registry);
    let en = En::start(&f.d1, &data, &lo.url, &insecure);
    let log = || format!("--- LO\n{}\n--- EN\n{}", lo.log(), en.log());
    until_or(
        "the pulled binary running again with the registry gone",
        || row(&en, &bin).filter(|w| w["state"] == "installed"),
        log,
    );
    wait_state(&f.co, &wasm, "installed", log);
    an_undeploy_collects_the_pin_and_artifact_no_other_app_names(&f, &bin, &data, log);
}

/// A wasm module (in the text format, which the wasm driver reads as well as
/// the binary one) and a shell script pushed as `apps/hello-wasm` and
/// `apps/hello-bin`; `apps/forged`'s stored bytes are changed after the push.
fn push_a_module_a_binary_and_a_module_whose_bytes_change(
    registry: &edge_tests::registry::Registry,
) {
    let wat = std::fs::read(fixture("hello-wasm/components/hello.wat")).unwrap();
    let sh = std::fs::read(fixture("hello-process/components/hello.sh")).unwrap();
    registry.push_blob("apps/hello-wasm", "1.0.0", &wat, WASM_LAYER);
    registry.push_blob("apps/hello-bin", "1.0.0", &sh, BINARY_LAYER);
    let other = [wat.as_slice(), b";; another module\n"].concat();
    let forged = registry.push_blob("apps/forged", "1.0.0", &other, WASM_LAYER);
    std::fs::write(registry.blob_path(&forged), b"(module)").unwrap();
}

/// `pulled-wasm`, `pulled-bin` and `forged-wasm` added, each naming its
/// component by an `oci://` reference to the registry at `addr`.
fn three_apps_name_them_by_registry_reference(f: &Fleet, addr: &str) {
    let at = |name: &str| format!("oci://{addr}/apps/{name}");
    for (from, id, local, name) in [
        (
            "hello-wasm",
            "pulled-wasm",
            "./components/hello.wat",
            "hello-wasm",
        ),
        (
            "hello-process",
            "pulled-bin",
            "./components/hello.sh",
            "hello-bin",
        ),
        (
            "hello-wasm",
            "forged-wasm",
            "./components/hello.wat",
            "forged",
        ),
    ] {
        let pkg = registry_app(f.dir.path(), from, id, local, &at(name));
        f.co.add_app(&pkg);
    }
}

/// The three deployed to edge-1: the module and the binary install and
/// log their greetings; the forged module fails, and the CO is told why.
/// Returns the module's and the binary's deployments.
fn the_node_runs_what_it_pulled_and_refuses_other_bytes(
    f: &Fleet,
    en: &En,
    log: impl Fn() -> String + Copy,
) -> (String, String) {
    let wasm = deploy_to(
        &f.co,
        "pulled-wasm",
        "edge-1",
        &["--set", "greeting=from the registry"],
    );
    let bin = deploy_to(
        &f.co,
        "pulled-bin",
        "edge-1",
        &["--set", "greeting=native and pulled"],
    );
    let bad = deploy_to(&f.co, "forged-wasm", "edge-1", &[]);
    wait_state(&f.co, &wasm, "installed", log);
    wait_state(&f.co, &bin, "installed", log);
    wait_state(&f.co, &bad, "failed", log);
    for (w, want) in [
        ("pulled-wasm", "from the registry"),
        ("pulled-bin", "native and pulled"),
    ] {
        until_or(
            &format!("`{want}` in the log of {w}"),
            || ok(&en.edgectl(&["logs", w])).contains(want).then_some(()),
            log,
        );
    }
    let listing = ok(&f.co.edgectl(&["co", "list", "deployments", "-o", "json"]));
    assert!(
        listing.contains("forged:1.0.0` sent bytes whose digest is"),
        "the CO is told why: {listing}"
    );
    (wasm, bin)
}

/// A stick carries the modules and binaries the CO pulls when it exports;
/// one whose registry serves other bytes fails the export, naming it, and
/// no stick is written.
fn an_export_fails_naming_the_module_with_other_bytes_and_writes_no_stick(f: &Fleet, addr: &str) {
    let stick = f.dir.path().join("stick");
    let out = export_site(&f.co, &stick, &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    let want = format!(
        "cannot put `oci://{addr}/apps/forged:1.0.0` (component `hello` of app `forged-wasm`) on the stick"
    );
    assert!(err.contains(&want), "{err}");
    assert!(!stick.join("stick.json").exists(), "no stick was written");
}

/// Undeploying the binary collects its pin and artifact; the wasm app's pin
/// is kept, and the forged module was never pinned.
fn an_undeploy_collects_the_pin_and_artifact_no_other_app_names(
    f: &Fleet,
    bin: &str,
    data: &Path,
    log: impl Fn() -> String,
) {
    ok(&f.co.edgectl(&["co", "undeploy", bin]));
    until_or(
        "the binary's pin and artifact collected",
        || {
            let n = std::fs::read_dir(data.join("artifacts/sha256"))
                .unwrap()
                .count();
            (n == 1).then_some(())
        },
        log,
    );
    assert_eq!(
        std::fs::read_dir(data.join("artifacts/refs"))
            .unwrap()
            .count(),
        1,
        "the wasm app's pin is kept; the forged module was never pinned"
    );
}

/// A module that does not compile, pulled from a registry (where no package
/// check saw it): the node reports it naming the component, the reference
/// and the digest it pulled, not the file in its artifact store.
#[test]
fn a_module_that_does_not_compile_is_named_by_component_reference_and_digest() {
    let registry = edge_tests::registry::start().unwrap();
    let broken = b"\0asm\x01\0\0\0\x01\xff\xff";
    let digest = registry.push_blob("apps/broken", "1.0.0", broken, WASM_LAYER);
    let addr = registry.addr.clone();
    let insecure = ["--insecure-registries", addr.as_str()];
    let f = fleet_with(&insecure);
    let reference = format!("oci://{addr}/apps/broken");
    let pkg = registry_app(
        f.dir.path(),
        "hello-wasm",
        "broken-wasm",
        "./components/hello.wat",
        &reference,
    );
    f.co.add_app(&pkg);
    let lo = Lo::start(&f.lo_creds, &f.dir.path().join("lo"), &[]);
    let en = En::start(&f.d1, &f.dir.path().join("en"), &lo.url, &insecure);
    let log = || format!("--- LO\n{}\n--- EN\n{}", lo.log(), en.log());
    let id = deploy_to(&f.co, "broken-wasm", "edge-1", &[]);
    wait_state(&f.co, &id, "failed", log);
    let listing = ok(&f.co.edgectl(&["co", "list", "deployments", "-o", "json"]));
    let want = format!(
        "the WebAssembly module of component `hello` (from `{reference}:1.0.0` ({digest})) does not compile: "
    );
    assert!(listing.contains(&want), "want `{want}` in {listing}");
    assert!(
        !listing.contains("artifacts/"),
        "no path of the node's store: {listing}"
    );
}
