//! `edgectl co deploy --wait` and `co undeploy --wait` against a real CO, LO
//! and node: exit 0 once the device reports the change done, exit 1 with
//! the failing component's reason, or when the time is up; plain lines and
//! no escape codes without a terminal.

use edge_tests::co::{fails, ok};
use edge_tests::en::En;
use edge_tests::fleet::{fleet, spin_wasm_package};
use edge_tests::lo::Lo;
use serde_json::Value;

#[test]
fn deploy_and_undeploy_wait_for_the_device_and_fail_with_its_reason() {
    let f = fleet();
    // Waited for by the node: it reports `failed` once, when it gives up.
    let pkg = spin_wasm_package(f.dir.path(), true);
    ok(&f
        .co
        .edgectl(&["co", "add", "app", "--artifact", pkg.to_str().unwrap()]));
    let lo = Lo::start(&f.lo_creds, &f.dir.path().join("lo"), &[]);
    let en = En::start(&f.d1, &f.dir.path().join("en"), &lo.url, &[]);

    let deploy = |app: &str, extra: &[&str]| {
        let mut args = vec![
            "co",
            "deploy",
            "--app",
            app,
            "--site",
            "plant-1",
            "--device",
            "edge-1",
            "--allow-unreported",
            "--wait",
        ];
        args.extend(extra);
        f.co.edgectl(&args)
    };
    let out = ok(&deploy("hello-wasm", &["--timeout", "60s"]));
    assert!(out.contains("installed on 1 device(s)"), "{out}");
    assert!(
        out.contains("edge-1"),
        "progress lines name the device: {out}"
    );
    assert!(
        !out.contains('\u{1b}'),
        "no escape codes without a terminal: {out:?}"
    );

    // The failing module: exit 1, naming the device and the reason.
    fails(&deploy("spin-wasm", &["--timeout", "60s"]), "units of fuel");

    // JSON: the summary for scripts.
    let out = ok(&deploy("hello-wasm", &["--timeout", "60s", "-o", "json"]));
    let summary: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(summary["done"], true, "{summary}");
    let id = summary["devices"][0]["deployment"]
        .as_str()
        .unwrap()
        .to_owned();

    let out = ok(&f
        .co
        .edgectl(&["co", "undeploy", &id, "--wait", "--timeout", "60s"]));
    assert!(out.contains("removed on 1 device(s)"), "{out}");

    // A node that is gone: the wait ends at its timeout with a summary.
    drop(en);
    fails(
        &deploy("hello-wasm", &["--timeout", "2s"]),
        "not installed everywhere within 2 s",
    );
}
