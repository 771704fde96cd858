//! Deploying at the CO: `edgectl co deploy` becomes one commit in the site's
//! repository with one Margo ApplicationDeployment per device; values are
//! checked against the app's schema; placement explains why no device fits;
//! concurrent deploys to one site serialize cleanly.

use std::fs;
use std::path::Path;

use edge_model::{ApplicationDeployment, MargoDocument as _};
use edge_tests::co::{Co, fails, git, ok};

fn site_with_devices(co: &Co) {
    co.add_app("fixtures/packages/hello-wasm");
    ok(&co.edgectl(&["co", "add", "site", "plant-1"]));
    ok(&co.edgectl(&[
        "co", "add", "device", "edge-1", "--site", "plant-1", "--label", "zone=a",
    ]));
    ok(&co.edgectl(&[
        "co", "add", "device", "edge-2", "--site", "plant-1", "--label", "zone=b",
    ]));
}

fn deployments(co: &Co) -> Vec<serde_json::Value> {
    serde_json::from_str::<serde_json::Value>(&ok(&co.edgectl(&[
        "-o",
        "json",
        "co",
        "list",
        "deployments",
        "--site",
        "plant-1",
    ])))
    .unwrap()
    .as_array()
    .unwrap()
    .clone()
}

#[test]
fn deploy_is_a_commit_of_margo_documents_and_undeploy_another() {
    let dir = tempfile::tempdir().unwrap();
    let co = Co::start(&dir.path().join("co"), &[]);
    site_with_devices(&co);
    let repo = co.data.join("sites/plant-1");
    a_deploy_is_one_commit_naming_a_margo_document_per_device(&co, &repo);
    let list = deploying_again_updates_in_place(&co);

    // Removing a deployed app is refused, unless forced.
    let o = co.edgectl(&["co", "remove", "app", "hello-wasm"]);
    fails(&o, "is deployed 2 time(s)");

    an_undeploy_is_another_commit_in_the_history(&co, &repo, &list);
    ok(&co.edgectl(&["co", "remove", "app", "hello-wasm", "--force"]));
}

/// A deploy to the site by display name: one clean commit naming its two
/// deployments, each an ApplicationDeployment for its device with the value
/// set.
fn a_deploy_is_one_commit_naming_a_margo_document_per_device(co: &Co, repo: &Path) {
    let out = ok(&co.edgectl(&[
        "co",
        "deploy",
        "--app",
        "Hello Wasm",
        "--site",
        "plant-1",
        "--set",
        "greeting=hi there",
        "--allow-unreported",
    ]));
    assert!(out.contains("to 2 device(s) at site plant-1"), "{out}");
    let list = deployments(co);
    assert_eq!(list.len(), 2);
    let log = git(repo, &["log", "--format=%s%n%b"]);
    assert!(
        log.starts_with("deploy hello-wasm 1.0.0 (wasm) to edge-1, edge-2 at site plant-1"),
        "{log}"
    );
    assert!(git(repo, &["status", "--porcelain"]).is_empty());
    for d in &list {
        let id = d["id"].as_str().unwrap();
        let bytes = fs::read(repo.join("deployments").join(format!("{id}.yaml"))).unwrap();
        let doc = ApplicationDeployment::from_slice(&bytes).unwrap().document;
        assert_eq!(doc.id().as_str(), id);
        assert_eq!(
            doc.metadata.device_id.as_ref().unwrap().as_str(),
            d["device"].as_str().unwrap()
        );
        assert_eq!(
            doc.spec.parameters["greeting"].value,
            Some(serde_json::json!("hi there"))
        );
        assert!(log.contains(id), "the commit names its deployments");
    }
}

/// Deploying again, to one device by label and one by name, updates their
/// deployments in place (the value set before goes back to the default):
/// the same two ids, each changed by a commit of its own. Returns them.
fn deploying_again_updates_in_place(co: &Co) -> Vec<serde_json::Value> {
    let before = deployments(co);
    let out = ok(&deploy_wasm(co, "plant-1", &["--selector", "zone=b"]));
    assert!(out.contains("0 created, 1 updated"), "{out}");
    co.deploy("hello-wasm", "plant-1", "edge-1");
    let list = deployments(co);
    assert_eq!(list.len(), 2);
    for (a, b) in before.iter().zip(&list) {
        assert_eq!((&a["id"], &a["device"]), (&b["id"], &b["device"]));
        assert_ne!(a["commit"], b["commit"], "each changed by its own commit");
    }
    list
}

/// Undeploying the first deployment removes its document in a commit the
/// history shows (a dry run first, nothing); undeploying it again finds no
/// deployment.
fn an_undeploy_is_another_commit_in_the_history(co: &Co, repo: &Path, list: &[serde_json::Value]) {
    let id = list[0]["id"].as_str().unwrap().to_owned();
    // A dry run, by a unique start of the id, removes nothing.
    let out = ok(&co.edgectl(&["co", "undeploy", &id[..6], "--dry-run"]));
    assert!(out.contains("would remove 1 deployment(s)"), "{out}");
    assert!(repo.join("deployments").join(format!("{id}.yaml")).exists());
    ok(&co.edgectl(&["co", "undeploy", &id]));
    assert!(!repo.join("deployments").join(format!("{id}.yaml")).exists());
    assert_eq!(deployments(co).len(), 1);
    fails(&co.edgectl(&["co", "undeploy", &id]), "no deployment");
    let history = ok(&co.edgectl(&["co", "history", "--site", "plant-1"]));
    assert_eq!(history.lines().count(), 5, "{history}");
    assert!(
        history
            .lines()
            .nth(1)
            .unwrap()
            .contains("undeploy hello-wasm 1.0.0 from edge-1"),
        "{history}"
    );
}

#[test]
fn bad_values_and_impossible_placements_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let co = Co::start(&dir.path().join("co"), &[]);
    site_with_devices(&co);
    ok(&co.edgectl(&["co", "add", "site", "empty"]));
    bad_values_are_refused_each_problem_named(&co);
    placements_finding_no_device_say_why(&co);
    a_missing_profile_or_version_is_named(&co);
    device_constraints_need_devices_that_reported_capabilities(&co, dir.path());
    assert!(deployments(&co).is_empty());
    assert!(
        !co.data.join("sites/plant-1/.git").exists(),
        "nothing was committed"
    );
}

/// Values checked against the app's schema: a too long greeting and an
/// unknown parameter, both listed; an empty required value.
fn bad_values_are_refused_each_problem_named(co: &Co) {
    let long = format!("greeting={}", "x".repeat(100));
    let o = deploy_wasm(co, "plant-1", &["--set", &long, "--set", "colour=red"]);
    fails(&o, "2 parameter problem(s)");
    let e = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(
        e.contains("at most 80 characters") && e.contains("no parameter `colour`"),
        "{e}"
    );
    fails(
        &deploy_wasm(co, "plant-1", &["--set", "greeting="]),
        "a value is required",
    );
}

/// A site without devices, a selector no device matches, an unknown
/// device, an unknown site.
fn placements_finding_no_device_say_why(co: &Co) {
    fails(
        &deploy_wasm(co, "empty", &[]),
        "site `empty` has no devices",
    );
    fails(
        &deploy_wasm(co, "plant-1", &["--selector", "zone=z"]),
        "has the labels zone=z",
    );
    fails(
        &deploy_wasm(co, "plant-1", &["--device", "edge-9"]),
        "no device `edge-9`",
    );
    fails(&deploy_wasm(co, "nowhere", &[]), "no site `nowhere`");
}

/// A deployment profile the app lacks, and a version the store lacks.
fn a_missing_profile_or_version_is_named(co: &Co) {
    fails(
        &deploy_wasm(co, "plant-1", &["--deploytype", "helm"]),
        "has no `helm` profile",
    );
    fails(
        &co.edgectl(&[
            "co",
            "deploy",
            "--app",
            "hello-wasm",
            "--app-version",
            "9.0.0",
            "--site",
            "plant-1",
        ]),
        "no version `9.0.0`",
    );
}

/// A profile with deviceConstraints needs devices that reported capabilities.
fn device_constraints_need_devices_that_reported_capabilities(co: &Co, dir: &Path) {
    let pkg = edge_tests::co::constrained_package(dir);
    co.add_app(pkg.to_str().unwrap());
    fails(
        &co.edgectl(&["co", "deploy", "--app", "hello-big", "--site", "plant-1"]),
        "devices `edge-1`, `edge-2` have not reported their capabilities yet, so they are not known to run `wasm` deployments or to meet the profile's deviceConstraints",
    );
}

#[test]
fn concurrent_deploys_to_one_site_serialize() {
    let dir = tempfile::tempdir().unwrap();
    let co = Co::start(&dir.path().join("co"), &[]);
    site_with_devices(&co);
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let client = co.client(Some(&co.token));
            std::thread::spawn(move || {
                // Named: eight deployments side by side, not one updated eight times.
                let req = serde_json::json!({"app": "hello-wasm", "site": "plant-1", "device": "edge-1",
                                             "name": format!("n{i}"), "set": {"greeting": format!("n{i}")},
                                             "allowUnreported": true});
                client.post::<_, serde_json::Value>("/api/deployments", &req).unwrap()
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap().as_array().unwrap().len(), 1);
    }
    let repo = co.data.join("sites/plant-1");
    assert_eq!(git(&repo, &["rev-list", "--count", "HEAD"]).trim(), "8");
    assert_eq!(fs::read_dir(repo.join("deployments")).unwrap().count(), 8);
    assert!(git(&repo, &["status", "--porcelain"]).is_empty());
    let _ = git(&repo, &["fsck", "--strict"]);
    assert_eq!(deployments(&co).len(), 8);
}

#[test]
fn rollback_restores_an_earlier_state_as_a_new_commit() {
    let dir = tempfile::tempdir().unwrap();
    let co = Co::start(&dir.path().join("co"), &[]);
    site_with_devices(&co);
    co.deploy("hello-wasm", "plant-1", "edge-1");
    let repo = co.data.join("sites/plant-1");
    let first = git(&repo, &["rev-parse", "HEAD"]).trim().to_owned();
    let kept = deployments(&co)[0]["id"].as_str().unwrap().to_owned();
    co.deploy("hello-wasm", "plant-1", "edge-2");
    ok(&co.edgectl(&["co", "undeploy", &kept]));
    assert_eq!(deployments(&co).len(), 1);

    let out = ok(&co.edgectl(&["co", "rollback", "--site", "plant-1", "--to", &first[..10]]));
    assert!(
        out.contains("changes 2 deployment(s): 1 created, 0 updated, 1 removed, 0 unchanged"),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "site `plant-1` is back at the desired state of {}",
            &first[..10]
        )),
        "{out}"
    );
    let now = deployments(&co);
    assert_eq!(now.len(), 1);
    assert_eq!(
        now[0]["id"],
        kept.as_str(),
        "the deployment of the first commit is back, with its id"
    );
    assert_eq!(now[0]["device"], "edge-1");
    assert_eq!(
        git(&repo, &["rev-list", "--count", "HEAD"]).trim(),
        "4",
        "history only grows"
    );
    assert_eq!(
        git(&repo, &["rev-parse", "HEAD^{tree}"]),
        git(&repo, &["rev-parse", &format!("{first}^{{tree}}")])
    );
    assert!(git(&repo, &["log", "-1", "--format=%s"]).starts_with("roll back site plant-1 to"));

    fails(
        &co.edgectl(&["co", "rollback", "--site", "plant-1", "--to", "deadbeef"]),
        "not a commit of this repository",
    );
    fails(
        &co.edgectl(&["co", "rollback", "--site", "plant-1", "--to", "main@{1}"]),
        "not a commit of this repository",
    );
    // `HEAD~N` counts back; past the first commit it is refused.
    fails(
        &co.edgectl(&["co", "rollback", "--site", "plant-1", "--to", "HEAD~40"]),
        "not a commit of this repository",
    );
    assert_eq!(git(&repo, &["rev-list", "--count", "HEAD"]).trim(), "4");
}

/// Before it changes anything a rollback says what it will change, per
/// deployment (a parameter back, a deployment removed, one not restored
/// because its app left the store); a dry run stops there; the rollback
/// then does exactly that, skipping what it cannot restore, as one commit
/// naming each change.
#[test]
fn a_rollback_says_what_it_changes_first_and_skips_apps_no_longer_in_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let co = Co::start(&dir.path().join("co"), &[]);
    site_with_devices(&co);
    co.add_app("fixtures/packages/hello-process");
    let repo = co.data.join("sites/plant-1");
    let deploy = |app: &str, device: &str, extra: &[&str]| {
        edge_tests::fleet::deploy_to(&co, app, device, extra)
    };
    let wasm = deploy("hello-wasm", "edge-1", &["--set", "greeting=one"]);
    let process = deploy("hello-process", "edge-2", &[]);
    let target = git(&repo, &["rev-parse", "HEAD"]).trim().to_owned();
    ok(&co.edgectl(&["co", "set", &wasm, "greeting=two"]));
    let later = deploy("hello-wasm", "edge-2", &[]);
    ok(&co.edgectl(&["co", "undeploy", &process]));
    ok(&co.edgectl(&["co", "remove", "app", "hello-process"]));
    let head = git(&repo, &["rev-parse", "HEAD"]);

    let rollback = |extra: &[&str]| {
        let mut args = vec!["co", "rollback", "--site", "plant-1", "--to", &target[..10]];
        args.extend(extra);
        co.edgectl(&args)
    };
    let out = ok(&rollback(&["--dry-run"]));
    assert!(
        out.contains("dry run, nothing was changed: rolling site `plant-1` back to")
            && out.contains("would be 0 created, 1 updated, 1 removed, 0 unchanged, 1 skipped"),
        "{out}"
    );
    assert!(
        out.contains(r#"updated: parameter greeting "two" → "one""#),
        "{out}"
    );
    assert!(
        out.contains(
            "skipped: app `hello-process` version `1.0.0` is no longer in the store; not restored"
        ),
        "{out}"
    );
    assert_eq!(
        git(&repo, &["rev-parse", "HEAD"]),
        head,
        "a dry run changes nothing"
    );
    let plan: serde_json::Value =
        serde_json::from_str(&ok(&rollback(&["--dry-run", "-o", "json"]))).unwrap();
    let changes: Vec<(&str, &str)> = plan
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["id"].as_str().unwrap(), d["change"].as_str().unwrap()))
        .collect();
    for want in [
        (wasm.as_str(), "updated"),
        (process.as_str(), "skipped"),
        (later.as_str(), "removed"),
    ] {
        assert!(changes.contains(&want), "{want:?} in {changes:?}");
    }

    // Without a terminal it says the same, then does it.
    let out = ok(&rollback(&[]));
    assert!(
        out.contains(
            "changes 2 deployment(s): 0 created, 1 updated, 1 removed, 0 unchanged, 1 skipped"
        ),
        "{out}"
    );
    assert!(out.contains("is back at the desired state of"), "{out}");
    assert!(!out.contains("differs from the plan"), "{out}");
    let now = deployments(&co);
    assert_eq!(now.len(), 1, "{now:?}");
    assert_eq!(now[0]["id"], wasm.as_str());
    let file = fs::read_to_string(repo.join(format!("deployments/{wasm}.yaml"))).unwrap();
    assert!(file.contains("value: one"), "{file}");
    let message = git(&repo, &["log", "-1", "--format=%B"]);
    assert!(
        message.starts_with("roll back site plant-1 to"),
        "{message}"
    );
    for want in [
        format!("restores: {target}"),
        format!("updated {wasm} on edge-1: parameter greeting"),
        format!("removed {later} on edge-2"),
        format!(
            "skipped {process} on edge-2: app `hello-process` version `1.0.0` is no longer in the store"
        ),
    ] {
        assert!(message.contains(&want), "`{want}` in {message}");
    }

    // Again: nothing to change, no commit.
    let head = git(&repo, &["rev-parse", "HEAD"]);
    let out = ok(&rollback(&[]));
    assert!(out.contains("nothing to change"), "{out}");
    assert_eq!(git(&repo, &["rev-parse", "HEAD"]), head);
}

#[test]
fn the_index_is_rebuilt_from_the_repositories_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("co");
    let co = Co::start(&data, &[]);
    site_with_devices(&co);
    ok(&deploy_wasm(&co, "plant-1", &[]));
    let before = deployments(&co);
    assert!(co.stop().success());

    // Lose the database, and leave a stray, uncommitted deployment behind.
    for f in ["edged.db", "edged.db-wal", "edged.db-shm"] {
        let _ = fs::remove_file(data.join(f));
    }
    let stray = data.join("sites/plant-1/deployments/00000000-0000-4000-8000-000000000000.yaml");
    fs::copy(
        data.join("sites/plant-1/deployments")
            .join(format!("{}.yaml", before[0]["id"].as_str().unwrap())),
        &stray,
    )
    .unwrap();

    let co = Co::start(&data, &[]);
    assert!(!stray.exists(), "uncommitted files are dropped at start");
    let after = deployments(&co);
    let ids = |v: &[serde_json::Value]| {
        let mut ids: Vec<String> = v
            .iter()
            .map(|d| d["id"].as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(ids(&after), ids(&before));
    assert!(
        ok(&co.edgectl(&["co", "list", "apps"])).contains("hello-wasm"),
        "apps are re-indexed too"
    );
    let devices = ok(&co.edgectl(&["co", "list", "devices", "--site", "plant-1"]));
    assert!(
        devices.contains("edge-1") && devices.contains("zone=b"),
        "sites and devices too:\n{devices}"
    );
    assert_eq!(after[0]["app"], "hello-wasm");
    assert_eq!(after[0]["version"], "1.0.0");
}

/// `edgectl co deploy --app hello-wasm --site SITE --allow-unreported
/// EXTRA…` (no device here reports its capabilities), as it ends.
fn deploy_wasm(co: &Co, site: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "co",
        "deploy",
        "--app",
        "hello-wasm",
        "--site",
        site,
        "--allow-unreported",
    ];
    args.extend(extra);
    co.edgectl(&args)
}
