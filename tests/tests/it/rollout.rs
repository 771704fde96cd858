//! Rollouts with every part real: a CO, two sites each with its LO and
//! three edge nodes running hello-process. An upgrade goes out in waves
//! that span both sites, survives a kill -9 of the CO in the middle (each
//! wave committed once per site, never again), and a version that fails on
//! its nodes stops at the first wave, whose devices get the previous
//! version back, while the other devices never see it.

use std::path::{Path, PathBuf};

use edge_tests::co::{Co, copy_tree, ok};
use edge_tests::en::En;
use edge_tests::fleet::{deployments, enroll, row, south_url, wait_state};
use edge_tests::lo::Lo;
use edge_tests::wait::until_or;
use serde_json::Value;

/// hello-process at `version`; with `broken`, a script that exits at once
/// (status 3) and a 2 s start timeout, so its nodes report `failed` fast.
fn hello_process(dir: &Path, version: &str, broken: bool) -> PathBuf {
    let pkg = dir.join(format!("hello-process-{version}"));
    copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/packages/hello-process"),
        &pkg,
    );
    let mut yaml = std::fs::read_to_string(pkg.join("margo.yaml"))
        .unwrap()
        .replace("version: 1.0.0", &format!("version: {version}"))
        .replace("revision: 1.0.0", &format!("revision: {version}"));
    let mut script = std::fs::read_to_string(pkg.join("components/hello.sh"))
        .unwrap()
        .replace(
            "hello from edgectl process:",
            &format!("hello from edgectl process {version}:"),
        );
    if broken {
        yaml = yaml.replace("timeout: \"1m0s\"", "timeout: \"0m2s\"");
        script = script.replacen("child=\n", "echo \"broken on purpose\" >&2\nexit 3\n", 1);
    }
    std::fs::write(pkg.join("margo.yaml"), yaml).unwrap();
    std::fs::write(pkg.join("components/hello.sh"), script).unwrap();
    pkg
}

/// The commits of `site` whose message names rollout `id`.
fn rollout_commits(co: &Co, site: &str, id: &str) -> usize {
    let out = ok(&co.edgectl(&["co", "history", "--site", site, "-o", "json"]));
    let needle = format!("(rollout {id}, wave ");
    serde_json::from_str::<Value>(&out)
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["message"].as_str().unwrap_or_default().contains(&needle))
        .count()
}

/// `co rollout status ID -o json`.
fn rollout(co: &Co, id: &str) -> Value {
    serde_json::from_str(&ok(
        &co.edgectl(&["co", "rollout", "status", id, "-o", "json"])
    ))
    .unwrap()
}

/// Wait until `en` runs deployment `id` at `version`, installed.
fn runs(en: &En, id: &str, version: &str, log: &dyn Fn() -> String) {
    until_or(
        &format!("{id} installed at {version} on the node"),
        || {
            let r = row(en, id)?;
            (r["runningVersion"] == version && r["state"] == "installed").then_some(())
        },
        log,
    );
}

#[test]
fn an_upgrade_rolls_out_in_waves_across_sites_and_a_failing_one_rolls_back() {
    let dir = tempfile::tempdir().unwrap();
    let co_data = dir.path().join("co");
    let co = Co::start(&co_data, &[]);
    for v in ["1.0.0", "1.1.0"] {
        let pkg = hello_process(dir.path(), v, false);
        co.add_app(pkg.to_str().unwrap());
    }
    let broken = hello_process(dir.path(), "1.2.0", true);
    co.add_app(broken.to_str().unwrap());
    let sites = [
        ("plant-1", ["edge-1", "edge-2", "edge-3"]),
        ("plant-2", ["edge-4", "edge-5", "edge-6"]),
    ];
    let mut los = Vec::new();
    let mut ens = Vec::new();
    for (site, devices) in &sites {
        ok(&co.edgectl(&["co", "add", "site", site]));
        for d in devices {
            ok(&co.edgectl(&["co", "add", "device", d, "--site", site]));
        }
        let creds = enroll(&co, dir.path(), site, None);
        let lo = Lo::start(&creds, &dir.path().join(format!("lo-{site}")), &[]);
        for d in devices {
            let dcreds = enroll(&co, dir.path(), site, Some(d));
            let en = En::start(&dcreds, &dir.path().join(format!("en-{d}")), &lo.url, &[]);
            ens.push((d.to_string(), en));
        }
        los.push((creds, lo));
    }
    let south = south_url(&los[0].0);
    let south_addr = south.trim_start_matches("https://").to_owned();

    // 1.0.0 everywhere: each site's deploy is a rollout of one wave.
    let mut ids = Vec::new();
    for (site, _) in &sites {
        let out = ok(&co.edgectl(&[
            "co",
            "deploy",
            "--app",
            "hello-process",
            "--app-version",
            "1.0.0",
            "--site",
            site,
            "--allow-unreported",
            "-o",
            "json",
        ]));
        let list: Value = serde_json::from_str(&out).unwrap();
        for d in list.as_array().unwrap() {
            assert_eq!(d["wave"], 1, "one wave: {d}");
            assert!(d["rollout"].is_string(), "{d}");
            ids.push((
                d["device"].as_str().unwrap().to_owned(),
                d["id"].as_str().unwrap().to_owned(),
            ));
        }
    }
    ids.sort();
    assert_eq!(ids.len(), 6);
    let log = || {
        let mut s = String::new();
        for (site, lo) in &los {
            s.push_str(&format!("--- LO {}\n{}\n", site.display(), lo.log()));
        }
        s
    };
    for (d, id) in &ids {
        let en = &ens.iter().find(|(n, _)| n == d).unwrap().1;
        runs(en, id, "1.0.0", &log);
    }

    // The first wave's devices are offline: the wave waits for them.
    let mut offline = Vec::new();
    for name in ["edge-1", "edge-4"] {
        let i = ens.iter().position(|(n, _)| n == name).unwrap();
        let (n, en) = ens.remove(i);
        en.kill();
        offline.push(n);
    }
    // A waved upgrade: waves 1 and 3 reach both sites, wave 2 only plant-1.
    let out = ok(&co.edgectl(&[
        "co",
        "upgrade",
        "--app",
        "hello-process",
        "--to-version",
        "1.1.0",
        "--all-sites",
        "--waves",
        "2,50%,100%",
        "-o",
        "json",
    ]));
    let list: Value = serde_json::from_str(&out).unwrap();
    let id = list[0]["rollout"].as_str().unwrap().to_owned();
    let waves: Vec<(String, u64)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["device"].as_str().unwrap().to_owned(),
                d["wave"].as_u64().unwrap(),
            )
        })
        .collect();
    for (device, wave) in [
        ("edge-1", 1),
        ("edge-4", 1),
        ("edge-2", 2),
        ("edge-3", 3),
        ("edge-5", 3),
        ("edge-6", 3),
    ] {
        assert!(
            waves.contains(&(device.to_owned(), wave)),
            "{device} in wave {wave}: {waves:?}"
        );
    }
    // Later waves are not sent while the first waits for its devices.
    let r = rollout(&co, &id);
    assert_eq!(r["wave"], 1, "{r}");
    assert!(
        r["targets"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["wave"] != 1)
            .all(|t| t["state"] == "pending"),
        "{r}"
    );

    // Honest status: the first wave's deployments are at 1.1.0, but what
    // their devices last said is about 1.0.0.
    let all = deployments(&co);
    for d in &all {
        let first = d["device"] == "edge-1" || d["device"] == "edge-4";
        assert_eq!(d["stale"].as_bool().unwrap_or(false), first, "{d}");
        assert_eq!(d["version"], if first { "1.1.0" } else { "1.0.0" }, "{d}");
    }
    let table = ok(&co.edgectl(&["co", "list", "deployments"]));
    assert!(table.contains("updating (was installed)"), "{table}");
    // kill -9 of the CO mid-rollout; it resumes on start, from the recorded
    // wave, as the first wave's devices come back.
    co.kill();
    let co = Co::start(&co_data, &["--south-listen", &south_addr]);
    for name in offline {
        let lo = &los[usize::from(name == "edge-4")].1;
        let creds = dir.path().join(&name);
        let en = En::start(&creds, &dir.path().join(format!("en-{name}")), &lo.url, &[]);
        ens.push((name, en));
    }
    let out = co.edgectl(&["co", "rollout", "status", &id, "--wait", "--timeout", "5m"]);
    assert!(
        out.status.success(),
        "{}{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        co.log()
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("rollout {id} done: 6 of 6")),
        "{text}"
    );
    let r = rollout(&co, &id);
    assert_eq!(r["state"], "done", "{r}");
    assert!(
        r["targets"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["state"] == "healthy"),
        "{r}"
    );
    // One commit per wave and site, never two: plant-1 had targets in waves 1-3, plant-2 in 1 and 3.
    assert_eq!(rollout_commits(&co, "plant-1", &id), 3);
    assert_eq!(rollout_commits(&co, "plant-2", &id), 2);
    for (d, dep) in &ids {
        let en = &ens.iter().find(|(n, _)| n == d).unwrap().1;
        runs(en, dep, "1.1.0", &log);
    }

    // A version that fails: it stops at the first wave, which rolls back.
    let out = co.edgectl(&[
        "co",
        "upgrade",
        "--app",
        "hello-process",
        "--to-version",
        "1.2.0",
        "--all-sites",
        "--waves",
        "2,100%",
        "--max-failures",
        "0",
        "--auto-rollback",
        "--wait",
        "--timeout",
        "5m",
    ]);
    assert!(
        !out.status.success(),
        "the failing rollout must fail the command"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("rolled-back"), "{err}");
    // The reason names the device's own error, and each device sent to.
    assert!(err.contains("not running within 2s"), "{err}");
    assert!(err.contains("rolled-back — "), "{err}");
    let list: Value =
        serde_json::from_str(&ok(&co.edgectl(&["co", "rollout", "list", "-o", "json"]))).unwrap();
    let bad = list[0]["id"].as_str().unwrap().to_owned();
    let r = rollout(&co, &bad);
    assert_eq!(r["state"], "rolled-back", "{r}");
    for t in r["targets"].as_array().unwrap() {
        let want = if t["wave"] == 1 {
            "rolled-back"
        } else {
            "cancelled"
        };
        assert_eq!(t["state"], want, "{t}");
    }
    // Every deployment is at 1.1.0 again, at the CO and on its node.
    let all = deployments(&co);
    assert!(all.iter().all(|d| d["version"] == "1.1.0"), "{all:?}");
    for (d, dep) in &ids {
        let en = &ens.iter().find(|(n, _)| n == d).unwrap().1;
        runs(en, dep, "1.1.0", &log);
        wait_state(&co, dep, "installed", log);
    }
    // The devices of later waves never saw 1.2.0: no commit wrote it for them.
    let history = ok(&co.edgectl(&["co", "history", "--site", "plant-2", "-o", "json"]));
    let wave2 = format!("(rollout {bad}, wave 2");
    assert!(!history.contains(&wave2), "{history}");
}

/// The number of commits of plant-1's repository.
fn commits(co: &Co) -> String {
    edge_tests::co::git(
        &co.data.join("sites/plant-1"),
        &["rev-list", "--count", "HEAD"],
    )
}

#[test]
fn a_rollout_is_steered_by_hand_and_refuses_what_it_cannot_do() {
    let f = edge_tests::fleet::fleet();
    let co = &f.co;
    // No node runs: the first wave waits, the second is not sent.
    let out = ok(&co.edgectl(&[
        "co",
        "deploy",
        "--app",
        "hello-wasm",
        "--site",
        "plant-1",
        "--allow-unreported",
        "--waves",
        "1,100%",
    ]));
    assert!(
        out.contains("rollout 1: wave 1 of 2 sent to 1 device(s)"),
        "{out}"
    );
    let before = commits(co);

    // A policy that does not read, a dry run: nothing changes, nothing recorded.
    for (args, want) in [
        (&["--waves", "ten"][..], "`ten` is not a wave"),
        (&["--batch", "0"][..], "at least one device"),
        (
            &["--max-failures", "lots"][..],
            "`lots` is not a failure budget",
        ),
    ] {
        let mut a = vec![
            "co",
            "set",
            "--app",
            "hello-wasm",
            "--site",
            "plant-1",
            "greeting=x",
        ];
        a.extend(args);
        edge_tests::co::fails(&co.edgectl(&a), want);
    }
    let dry = ok(&co.edgectl(&[
        "co",
        "upgrade",
        "--app",
        "hello-wasm",
        "--site",
        "plant-1",
        "--batch",
        "1",
        "--dry-run",
        "-o",
        "json",
    ]));
    assert!(
        !dry.contains("\"rollout\""),
        "a dry run records no rollout: {dry}"
    );
    assert_eq!(commits(co), before);
    let list: Value =
        serde_json::from_str(&ok(&co.edgectl(&["co", "rollout", "list", "-o", "json"]))).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    edge_tests::co::fails(
        &co.edgectl(&["co", "rollout", "status", "99"]),
        "no rollout `99`",
    );
    edge_tests::co::fails(
        &co.edgectl(&["co", "rollout", "status", "abc"]),
        "not a rollout id",
    );

    // Pause, resume, undo; each refused where it makes no sense.
    let out = ok(&co.edgectl(&["co", "rollout", "pause", "1"]));
    assert!(out.contains("rollout 1 paused at wave 1 of 2"), "{out}");
    edge_tests::co::fails(
        &co.edgectl(&["co", "rollout", "pause", "1"]),
        "cannot pause",
    );
    let out = ok(&co.edgectl(&["co", "rollout", "resume", "1"]));
    assert!(out.contains("rollout 1 is running"), "{out}");
    let status = ok(&co.edgectl(&["co", "rollout", "status", "1"]));
    assert!(
        status.contains("wave 1/2") && status.contains("waiting"),
        "{status}"
    );
    let out = ok(&co.edgectl(&["co", "rollout", "undo", "1", "--yes"]));
    assert!(
        out.contains("rollout 1 undone: 1 deployment(s) put back"),
        "{out}"
    );
    edge_tests::co::fails(
        &co.edgectl(&["co", "rollout", "resume", "1"]),
        "cannot resume",
    );
    // The one deployment made is gone again; the one never sent was never made.
    let all = deployments(co);
    assert!(all.is_empty(), "{all:?}");
    let r = rollout(co, "1");
    assert_eq!(r["state"], "undone");
    let states: Vec<&str> = r["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["rolled-back", "cancelled"], "{r}");

    // A device that never reports does not hold a wave forever: at the
    // wave's timeout it counts as failed and the policy decides (pause).
    let out = co.edgectl(&[
        "co",
        "deploy",
        "--app",
        "hello-wasm",
        "--site",
        "plant-1",
        "--allow-unreported",
        "--waves",
        "1,100%",
        "--wave-timeout",
        "1s",
        "--wait",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("rollout 2 paused"), "{err}");
    assert!(err.contains("did not report in time"), "{err}");
    assert!(err.contains("plant-1/edge-1: timed-out"), "{err}");
    let r = rollout(co, "2");
    assert_eq!(
        r["waves"][1]["state"], "pending",
        "the second wave is not sent: {r}"
    );
}
