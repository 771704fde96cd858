//! Day-2 changes with every part real: a CO, the site's LO and an edge node
//! running the hello-process app. A deployment is changed in place (a
//! parameter with `co set`, a version with `co upgrade`, and back with
//! `co deploy`): its id stays, its document's digest moves, the node runs
//! exactly one instance afterwards and lets go of the old artifact; the
//! same change twice makes no commit; bad changes are refused with nothing
//! changed.

use std::path::{Path, PathBuf};

use edge_model::MargoDocument as _;
use edge_tests::co::{Co, copy_tree, fails, ok};
use edge_tests::en::{En, programs};
use edge_tests::fleet::{Fleet, deploy_to, deployments, fleet, row, wait_state};
use edge_tests::lo::Lo;
use edge_tests::wait::until_or;
use serde_json::Value;

/// Version 1.1.0 of hello-process: another script (so another artifact
/// digest) that greets with `v1.1`.
fn hello_process_1_1(dir: &Path) -> PathBuf {
    let pkg = dir.join("hello-process-1.1");
    copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/packages/hello-process"),
        &pkg,
    );
    let yaml = std::fs::read_to_string(pkg.join("margo.yaml"))
        .unwrap()
        .replace("version: 1.0.0", "version: 1.1.0")
        .replace("revision: 1.0.0", "revision: 1.1.0");
    std::fs::write(pkg.join("margo.yaml"), yaml).unwrap();
    let script = std::fs::read_to_string(pkg.join("components/hello.sh"))
        .unwrap()
        .replace(
            "hello from edgectl process:",
            "hello from edgectl process v1.1:",
        );
    std::fs::write(pkg.join("components/hello.sh"), script).unwrap();
    pkg
}

/// `co deploy` of hello-process 1.0.0 to edge-1 with `extra`; its answer.
fn deploy_process(co: &Co, extra: &[&str]) -> Value {
    let mut args = vec![
        "co",
        "deploy",
        "--app",
        "hello-process",
        "--app-version",
        "1.0.0",
        "--site",
        "plant-1",
        "--device",
        "edge-1",
        "--allow-unreported",
        "-o",
        "json",
    ];
    args.extend(extra);
    serde_json::from_str(&ok(&co.edgectl(&args))).unwrap()
}

/// The commits of `site`, newest first.
fn commits(co: &Co, site: &str) -> Vec<Value> {
    let out = ok(&co.edgectl(&["co", "history", "--site", site, "-o", "json"]));
    serde_json::from_str::<Value>(&out)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

/// The SHA-256 of deployment `id`'s document in the site repository.
fn digest(co: &Co, id: &str) -> String {
    let path = co
        .data
        .join("sites/plant-1/deployments")
        .join(format!("{id}.yaml"));
    edge_model::digest::sha256(&std::fs::read(&path).unwrap()).to_string()
}

/// Whether the node's store holds a blob of `bytes`.
fn node_holds(data: &Path, bytes: &[u8]) -> bool {
    let hex = edge_model::digest::sha256(bytes).to_string();
    let hex = hex.trim_start_matches("sha256:");
    fn walk(dir: &Path, name: &str) -> bool {
        std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| {
                let p = e.path();
                if p.is_dir() {
                    walk(&p, name)
                } else {
                    e.file_name().to_str() == Some(name)
                }
            })
    }
    walk(data, hex)
}

#[test]
fn a_deployment_changes_in_place_through_the_lo_to_the_node() {
    let f = fleet();
    f.co.add_app("fixtures/packages/hello-process");
    let v11 = hello_process_1_1(f.dir.path());
    f.co.add_app(v11.to_str().unwrap());
    let lo = Lo::start(&f.lo_creds, &f.dir.path().join("lo"), &[]);
    let en = En::start(&f.d1, &f.dir.path().join("en"), &lo.url, &[]);
    let log = || format!("--- LO\n{}\n--- EN\n{}", lo.log(), en.log());

    let id = deploy_to(
        &f.co,
        "hello-process",
        "edge-1",
        &["--app-version", "1.0.0", "--set", "greeting=one"],
    );
    wait_state(&f.co, &id, "installed", log);
    greets(&en, "hello from edgectl process: one", log);
    the_same_deploy_again_changes_nothing(&f, &id);
    let pid = one_process(&en, &id, "1.0.0", log);
    let pid = a_parameter_changes_in_place(&f, &en, &id, pid, log);
    an_upgrade_keeps_the_id_and_the_values_and_drops_the_old_artifact(&f, &en, &id, pid, log);
    deploy_again_moves_it_back_in_place(&f, &en, &id, log);
    bad_changes_are_refused_with_nothing_changed(&f, &id);
}

fn greets(en: &En, want: &str, log: impl Fn() -> String) {
    until_or(
        &format!("`{want}` in the workload's log"),
        || {
            ok(&en.edgectl(&["logs", "hello-process"]))
                .contains(want)
                .then_some(())
        },
        log,
    );
}

/// The node runs deployment `id` at `version` as exactly one process; its pid.
fn one_process(en: &En, id: &str, version: &str, log: impl Fn() -> String) -> u64 {
    let r = until_or(
        &format!("{id} running {version} on the node"),
        || {
            row(en, id).filter(|r| {
                r["state"] == "installed" && r["runningVersion"] == version && r["pid"].is_u64()
            })
        },
        log,
    );
    assert_eq!(programs(&en.data), 1, "one instance: {r}");
    r["pid"].as_u64().unwrap()
}

/// Deploying exactly what runs is `unchanged` and makes no commit.
fn the_same_deploy_again_changes_nothing(f: &Fleet, id: &str) {
    let before = commits(&f.co, "plant-1").len();
    let list = deploy_process(&f.co, &["--set", "greeting=one"]);
    assert_eq!(list[0]["id"], id, "{list}");
    assert_eq!(list[0]["change"], "unchanged", "{list}");
    assert_eq!(commits(&f.co, "plant-1").len(), before, "no commit");
}

/// `co set` by a prefix of the id: same id, new digest, one commit saying
/// what changed where, the process restarted once with the new value.
fn a_parameter_changes_in_place(
    f: &Fleet,
    en: &En,
    id: &str,
    pid: u64,
    log: impl Fn() -> String + Copy,
) -> u64 {
    let before = (commits(&f.co, "plant-1").len(), digest(&f.co, id));
    // A dry run shows the change and makes none.
    let out = ok(&f.co.edgectl(&[
        "co",
        "set",
        &id[..8],
        "greeting=two",
        "--dry-run",
        "-o",
        "json",
    ]));
    let list: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(list[0]["change"], "updated", "{list}");
    assert_eq!(
        list[0]["changes"][0], "parameter greeting \"one\" → \"two\"",
        "{list}"
    );
    assert_eq!((commits(&f.co, "plant-1").len(), digest(&f.co, id)), before);

    let out = ok(&f
        .co
        .edgectl(&["co", "set", &id[..8], "greeting=two", "--wait"]));
    assert!(out.contains("installed on 1 device(s)"), "{out}");
    let commits = commits(&f.co, "plant-1");
    assert_eq!(commits.len(), before.0 + 1);
    let message = commits[0]["message"].as_str().unwrap();
    assert!(
        message.starts_with("update hello-process at site plant-1: set greeting")
            && message.contains(&format!("updated {id} on edge-1: parameter greeting")),
        "{message}"
    );
    assert_ne!(digest(&f.co, id), before.1, "the digest moves");
    greets(en, "hello from edgectl process: two", log);
    let now = one_process(en, id, "1.0.0", log);
    assert_ne!(now, pid, "restarted for the new value");
    now
}

/// `co upgrade` moves to the newest version in place: the value set before
/// stays, the old script's blob leaves the node's store.
fn an_upgrade_keeps_the_id_and_the_values_and_drops_the_old_artifact(
    f: &Fleet,
    en: &En,
    id: &str,
    pid: u64,
    log: impl Fn() -> String + Copy,
) {
    let old_script = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../fixtures/packages/hello-process/components/hello.sh"),
    )
    .unwrap();
    assert!(node_holds(&en.data, &old_script));
    let out = ok(&f.co.edgectl(&[
        "co",
        "upgrade",
        "--app",
        "hello-process",
        "--site",
        "plant-1",
        "--wait",
    ]));
    assert!(
        out.contains("changed 1 deployment(s) at site plant-1"),
        "{out}"
    );
    let list = deployments(&f.co);
    let d: Vec<&Value> = list
        .iter()
        .filter(|d| d["app"] == "hello-process")
        .collect();
    assert_eq!(d.len(), 1, "{list:?}");
    assert_eq!(
        (d[0]["id"].as_str(), d[0]["version"].as_str()),
        (Some(id), Some("1.1.0"))
    );
    greets(en, "hello from edgectl process v1.1: two", log);
    let now = one_process(en, id, "1.1.0", log);
    assert_ne!(now, pid);
    until_or(
        "the 1.0.0 script gone from the node's store",
        || (!node_holds(&en.data, &old_script)).then_some(()),
        log,
    );
}

/// `co deploy` of 1.0.0 where 1.1.0 runs updates the same deployment back:
/// still one deployment of the app on the device, and `en logs` by app
/// name finds exactly one.
fn deploy_again_moves_it_back_in_place(
    f: &Fleet,
    en: &En,
    id: &str,
    log: impl Fn() -> String + Copy,
) {
    let list = deploy_process(&f.co, &[]);
    assert_eq!(
        (list[0]["id"].as_str(), list[0]["change"].as_str()),
        (Some(id), Some("updated"))
    );
    assert_eq!(list[0]["changes"][0], "version 1.1.0 → 1.0.0", "{list}");
    one_process(en, id, "1.0.0", log);
    // Deploy takes what it is given: the value set before is back to the default.
    greets(en, "hello from edgectl process: hello", log);
    let mine = deployments(&f.co)
        .into_iter()
        .filter(|d| d["app"] == "hello-process" && d["device"] == "edge-1")
        .count();
    assert_eq!(mine, 1);
}

/// Unknown ids, a too short prefix, invalid values and unknown versions:
/// each refused, naming the problem, with no commit.
fn bad_changes_are_refused_with_nothing_changed(f: &Fleet, id: &str) {
    let before = (commits(&f.co, "plant-1").len(), digest(&f.co, id));
    fails(
        &f.co.edgectl(&["co", "set", "ffffffff", "greeting=x"]),
        "no deployment `ffffffff`",
    );
    fails(
        &f.co.edgectl(&["co", "set", &id[..2], "greeting=x"]),
        &format!("no deployment `{}`", &id[..2]),
    );
    fails(
        &f.co.edgectl(&["co", "set", &id[..8], "greeting="]),
        "parameter problem(s)",
    );
    fails(
        &f.co.edgectl(&[
            "co",
            "upgrade",
            "--app",
            "hello-process",
            "--site",
            "plant-1",
            "--to-version",
            "9.9.9",
        ]),
        "has no version `9.9.9`",
    );
    fails(
        &f.co.edgectl(&[
            "co",
            "upgrade",
            "--app",
            "hello-process",
            "--site",
            "plant-2",
        ]),
        "is not deployed at site `plant-2`",
    );
    fails(
        &f.co.edgectl(&[
            "co",
            "deploy",
            "--app",
            "hello-process",
            "--site",
            "plant-1",
            "--allow-unreported",
            "--name",
            "Bad_Name",
        ]),
        "is not a deployment name",
    );
    assert_eq!((commits(&f.co, "plant-1").len(), digest(&f.co, id)), before);
}

#[test]
fn apply_diff_and_prune_make_the_fleet_match_files_and_only_once() {
    let f = fleet();
    let co = &f.co;
    let files = f.dir.path().join("fleet");
    std::fs::create_dir_all(&files).unwrap();
    let a = files.join("plant-1.yaml");
    let b = files.join("plant-2.yaml");
    let write_a = |greeting: &str| {
        std::fs::write(
            &a,
            format!(
                "apiVersion: edgectl.io/v1\nkind: Deployments\ndeployments:\n  - app: hello-wasm\n    site: plant-1\n    devices: [edge-1, edge-2]\n    parameters: {{greeting: {greeting}}}\n"
            ),
        )
        .unwrap();
    };
    write_a("hi");
    std::fs::write(
        &b,
        "deployments:\n  - {app: Hello Wasm, site: plant-2, name: nine}\n",
    )
    .unwrap();
    let dir = files.to_str().unwrap();
    let counts = || (commits(co, "plant-1").len(), commits(co, "plant-2").len());

    // diff: three to create, nothing made.
    let out = ok(&co.edgectl(&["co", "diff", "--allow-unreported", "-f", dir]));
    assert_eq!(out.matches("+ (new) hello-wasm 1.0.0").count(), 3, "{out}");
    assert!(
        out.contains("3 to create, 0 to update, 0 to remove"),
        "{out}"
    );
    assert_eq!(counts(), (0, 0));

    // apply: one commit per site; again: nothing, no commit.
    let out = ok(&co.edgectl(&["co", "apply", "--allow-unreported", "-f", dir]));
    assert!(out.contains("3 created, 0 updated, 0 removed"), "{out}");
    assert_eq!(counts(), (1, 1));
    let first = deployments(co);
    assert_eq!(first.len(), 3);
    let out = ok(&co.edgectl(&["co", "apply", "--allow-unreported", "-f", dir]));
    assert!(out.contains("no changes"), "{out}");
    assert_eq!(counts(), (1, 1));

    // A changed value: two updates in place, in one commit at plant-1.
    write_a("ho");
    let out = ok(&co.edgectl(&["co", "diff", "--allow-unreported", "-f", dir]));
    assert_eq!(
        out.matches("parameter greeting \"hi\" → \"ho\"").count(),
        2,
        "{out}"
    );
    assert_eq!(counts(), (1, 1));
    ok(&co.edgectl(&["co", "apply", "--allow-unreported", "-f", dir]));
    assert_eq!(counts(), (2, 1));
    let ids = |l: &[Value]| {
        let mut v: Vec<String> = l
            .iter()
            .map(|d| d["id"].as_str().unwrap().to_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(ids(&deployments(co)), ids(&first), "the ids stay");

    // Prune removes only what apply made and the files no longer name.
    ok(&co.edgectl(&[
        "co",
        "deploy",
        "--app",
        "hello-wasm",
        "--site",
        "plant-2",
        "--device",
        "edge-9",
        "--allow-unreported",
        "--name",
        "by-hand",
    ]));
    assert_eq!(counts(), (2, 2));
    std::fs::remove_file(&b).unwrap();
    let out = ok(&co.edgectl(&[
        "co",
        "apply",
        "--allow-unreported",
        "-f",
        dir,
        "--prune",
        "--dry-run",
    ]));
    assert!(
        out.contains("0 to create, 0 to update, 1 to remove"),
        "{out}"
    );
    assert!(out.contains("(nine) on plant-2/edge-9"), "{out}");
    assert_eq!(counts(), (2, 2));
    ok(&co.edgectl(&["co", "apply", "--allow-unreported", "-f", dir, "--prune"]));
    assert_eq!(counts(), (2, 3));
    let left = deployments(co);
    assert_eq!(left.len(), 3, "{left:?}");
    assert!(left.iter().any(|d| d["name"] == "by-hand"));
    assert!(!left.iter().any(|d| d["name"] == "nine"));
    bad_files_change_nothing(co, &files, counts());
}

/// Problems in the files (checked by edgectl) and in what they ask (checked
/// by the CO) are all listed with file and field; nothing changes.
fn bad_files_change_nothing(co: &Co, files: &Path, before: (usize, usize)) {
    let bad = files.join("bad");
    std::fs::create_dir_all(&bad).unwrap();
    let f1 = bad.join("one.yaml");
    std::fs::write(
        &f1,
        "deployments:\n  - {app: hello-wasm, site: plant-1, colour: red}\n  - {site: plant-1}\n",
    )
    .unwrap();
    let o = co.edgectl(&[
        "co",
        "apply",
        "--allow-unreported",
        "-f",
        bad.to_str().unwrap(),
    ]);
    fails(&o, "2 problem(s) in the files; nothing was sent");
    let err = String::from_utf8_lossy(&o.stderr);
    for want in [
        "one.yaml: deployments[0].colour: unknown field",
        "one.yaml: deployments[1].app: required",
    ] {
        assert!(err.contains(want), "{want} not in {err}");
    }
    std::fs::write(
        &f1,
        "deployments:\n  - {app: no-such-app, site: plant-1}\n  - {app: hello-wasm, site: plant-1, devices: edge-7}\n  - {app: hello-wasm, site: plant-1, devices: edge-1, name: x, parameters: {greeting: \"\"}}\n",
    )
    .unwrap();
    let o = co.edgectl(&[
        "co",
        "apply",
        "--allow-unreported",
        "-f",
        bad.to_str().unwrap(),
    ]);
    fails(
        &o,
        "3 problem(s) in the desired deployments; nothing was changed",
    );
    let err = String::from_utf8_lossy(&o.stderr);
    for want in [
        "deployments[0]: app",
        "no app `no-such-app`",
        "deployments[1]: devices",
        "no device `edge-7` at site `plant-1`",
        "deployments[2]: parameters.greeting",
    ] {
        assert!(err.contains(want), "{want} not in {err}");
    }
    assert_eq!(
        (commits(co, "plant-1").len(), commits(co, "plant-2").len()),
        before,
        "nothing changed"
    );
}

/// A deployment made before the values set by hand were recorded (no
/// `edgectl.io/set` label) keeps them through an upgrade: every value that
/// is not its version's default counts as set.
#[test]
fn an_upgrade_keeps_the_values_of_a_deployment_made_by_an_older_release() {
    let f = fleet();
    let co = &f.co;
    co.add_app("fixtures/packages/hello-process");
    let v11 = hello_process_1_1(f.dir.path());
    co.add_app(v11.to_str().unwrap());
    let list = deploy_process(co, &["--set", "greeting=kept"]);
    let id = list[0]["id"].as_str().unwrap().to_owned();
    let repo = co.data.join("sites/plant-1");
    let file = repo.join("deployments").join(format!("{id}.yaml"));
    let text = std::fs::read_to_string(&file).unwrap();
    let label = text
        .lines()
        .find(|l| l.contains("edgectl.io/set"))
        .unwrap()
        .to_owned();
    std::fs::write(&file, text.replace(&format!("{label}\n"), "")).unwrap();
    let _ = edge_tests::co::git(&repo, &["commit", "-qam", "as an older release wrote it"]);

    ok(&co.edgectl(&[
        "co",
        "upgrade",
        "--app",
        "hello-process",
        "--site",
        "plant-1",
    ]));
    let doc = std::fs::read(&file).unwrap();
    let doc = edge_model::ApplicationDeployment::from_slice(&doc)
        .unwrap()
        .document;
    assert_eq!(doc.metadata.labels["app.version"], "1.1.0");
    assert_eq!(
        doc.spec.parameters["greeting"].value,
        Some(serde_json::json!("kept"))
    );
    assert_eq!(
        doc.metadata.labels["edgectl.io/set"],
        r#"{"greeting":"kept"}"#
    );
}

/// Margo: a setting marked `immutable` keeps the value it had at install.
/// `co set`, `co upgrade` and deploying again refuse to change it, naming
/// it, and commit nothing; leaving it as it is is no change.
#[test]
fn an_immutable_value_is_fixed_at_install() {
    let dir = tempfile::tempdir().unwrap();
    let co = Co::start(&dir.path().join("co"), &[]);
    let pkg = dir.path().join("fixed-wasm");
    copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/packages/hello-wasm"),
        &pkg,
    );
    let yaml = std::fs::read_to_string(pkg.join("margo.yaml"))
        .unwrap()
        .replace("id: hello-wasm\n", "id: fixed-wasm\n")
        .replace(
            "          schema: greetingText",
            "          immutable: true\n          schema: greetingText",
        );
    std::fs::write(pkg.join("margo.yaml"), yaml).unwrap();
    ok(&co.edgectl(&["co", "add", "app", "--artifact", pkg.to_str().unwrap()]));
    ok(&co.edgectl(&["co", "add", "site", "plant-1"]));
    ok(&co.edgectl(&["co", "add", "device", "edge-1", "--site", "plant-1"]));
    let id = deploy_to(&co, "fixed-wasm", "edge-1", &["--set", "greeting=first"]);
    let before = commits(&co, "plant-1").len();

    let out = co.edgectl(&["co", "set", &id, "greeting=second"]);
    fails(&out, "would change a value fixed at install");
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("`greeting` is immutable"), "{e}");
    let out = co.edgectl(&[
        "co",
        "deploy",
        "--app",
        "fixed-wasm",
        "--site",
        "plant-1",
        "--device",
        "edge-1",
        "--set",
        "greeting=second",
        "--allow-unreported",
    ]);
    fails(&out, "`greeting` is immutable");
    assert_eq!(
        commits(&co, "plant-1").len(),
        before,
        "nothing was committed"
    );
    // The same value again is no change; another setting could still move.
    ok(&co.edgectl(&["co", "set", &id, "greeting=first"]));
    assert_eq!(commits(&co, "plant-1").len(), before);
}
