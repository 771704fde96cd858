//! The edge node end to end, every part real: a CO, a site's LO, and
//! `edged --mode en` running the fixture apps (wasmtime and a native
//! process), reporting true status up to the CO through the LO, operated
//! with `edgectl en`, and surviving a lost LO, kill -9 and restarts.

use std::path::Path;

use edge_tests::co::ok;
use edge_tests::en::{En, programs};
use edge_tests::fleet::{Fleet, deploy_to, fleet, listing, row, wait_state};
use edge_tests::lo::Lo;
use edge_tests::wait::until_or;
use serde_json::Value;

fn pid_alive(pid: u64) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
}

/// The LO test fleet, with the hello-process app in the store too.
fn fleet_with_process() -> Fleet {
    let f = fleet();
    f.co.add_app("fixtures/packages/hello-process");
    f
}

#[test]
fn the_fixture_apps_run_behind_an_lo_and_their_status_is_true() {
    let f = fleet_with_process();
    let lo = Lo::start(&f.lo_creds, &f.dir.path().join("lo"), &[]);
    let en = En::start(&f.d1, &f.dir.path().join("en"), &lo.url, &[]);
    let log = || format!("--- LO\n{}\n--- EN\n{}", lo.log(), en.log());
    the_capabilities_reach_the_co_through_the_lo(&f, log);
    let process = both_apps_install_and_really_run(&f, &en, log);
    let pid = the_node_lists_the_process_installed_as_one_live_process(&en, &process);
    a_crashed_process_is_restarted_by_the_policy_and_counted(&en, &process, pid, log);
    an_operator_stop_is_heard_at_the_co_and_a_start_brings_it_back(&f, &en, &process, log);
    an_undeployed_workload_is_stopped_and_gone_from_the_node(&f, &en, &process, log);
}

/// The capabilities reach the CO through the LO.
fn the_capabilities_reach_the_co_through_the_lo(f: &Fleet, log: impl Fn() -> String) {
    until_or(
        "capabilities at the CO",
        || {
            let out = ok(&f
                .co
                .edgectl(&["co", "show", "device", "edge-1", "-o", "json"]));
            out.contains("supportedDeploymentTypes").then_some(())
        },
        log,
    );
}

/// hello-wasm and hello-process deployed to edge-1 are installed, and
/// really running: their output is in their logs. Returns the process's
/// deployment.
fn both_apps_install_and_really_run(f: &Fleet, en: &En, log: impl Fn() -> String + Copy) -> String {
    let wasm = deploy_to(&f.co, "hello-wasm", "edge-1", &[]);
    let process = deploy_to(
        &f.co,
        "hello-process",
        "edge-1",
        &["--set", "greeting=plant one"],
    );
    wait_state(&f.co, &wasm, "installed", log);
    wait_state(&f.co, &process, "installed", log);
    let logs = |w: &str, want: &str| {
        until_or(
            &format!("`{want}` in the log of {w}"),
            || ok(&en.edgectl(&["logs", w])).contains(want).then_some(()),
            log,
        );
    };
    logs("hello-wasm", "hello from edgectl wasm");
    logs("hello-process", "plant one");
    process
}

/// The node's row: installed, at the desired version, with a live pid and
/// one process for the workload. Returns the pid.
fn the_node_lists_the_process_installed_as_one_live_process(en: &En, process: &str) -> u64 {
    let p = row(en, process).unwrap();
    assert_eq!(p["state"], "installed", "{p}");
    assert_eq!(
        (p["desiredVersion"].as_str(), p["runningVersion"].as_str()),
        (Some("1.0.0"), Some("1.0.0")),
        "{p}"
    );
    let pid = p["pid"].as_u64().unwrap();
    assert!(pid_alive(pid));
    assert_eq!(programs(&en.data), 1, "one process workload, one process");
    pid
}

/// A crash: restarted by the policy, counted, installed again.
fn a_crashed_process_is_restarted_by_the_policy_and_counted(
    en: &En,
    process: &str,
    pid: u64,
    log: impl Fn() -> String,
) {
    assert!(
        std::process::Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
    let back = until_or(
        "the process back after a crash",
        || {
            row(en, process)
                .filter(|r| r["restarts"].as_u64() >= Some(1) && r["state"] == "installed")
        },
        log,
    );
    assert_ne!(back["pid"].as_u64(), Some(pid), "{back}");
}

/// An operator stops it: it does not run, and the CO hears it failed
/// (STOPPED); started again it is installed, and has metrics.
fn an_operator_stop_is_heard_at_the_co_and_a_start_brings_it_back(
    f: &Fleet,
    en: &En,
    process: &str,
    log: impl Fn() -> String + Copy,
) {
    ok(&en.edgectl(&["stop", "hello-process"]));
    wait_state(&f.co, process, "failed", log);
    assert_eq!(programs(&en.data), 0);
    let out = ok(&f.co.edgectl(&["co", "list", "deployments"]));
    assert!(out.contains("stopped on the node by an operator"), "{out}");
    ok(&en.edgectl(&["start", "hello-process"]));
    wait_state(&f.co, process, "installed", log);
    let metrics: Value = serde_json::from_str(&ok(&en.edgectl(&[
        "metrics",
        "hello-process",
        "-o",
        "json",
    ])))
    .unwrap();
    assert!(metrics["rssBytes"].as_u64() > Some(0), "{metrics}");
}

/// Undeployed: stopped, gone from the node, its folder removed; the node's
/// table still shows the other app and when the LO was last heard.
fn an_undeployed_workload_is_stopped_and_gone_from_the_node(
    f: &Fleet,
    en: &En,
    process: &str,
    log: impl Fn() -> String,
) {
    ok(&f.co.edgectl(&["co", "undeploy", process]));
    until_or(
        "the process workload removed",
        || row(en, process).is_none().then_some(()),
        log,
    );
    assert_eq!(programs(&en.data), 0, "no process left behind");
    assert!(!en.data.join("workloads").join(process).exists());
    let table = ok(&en.edgectl(&["list"]));
    assert!(
        table.contains("hello-wasm") && table.contains("last heard"),
        "{table}"
    );
}

#[test]
fn a_node_keeps_running_offline_survives_kill_9_and_reports_what_it_missed() {
    let f = fleet_with_process();
    let lo_data = f.dir.path().join("lo");
    let lo = Lo::start(&f.lo_creds, &lo_data, &[]);
    let lo_url = lo.url.clone();
    let data = f.dir.path().join("en");
    let en = En::start(&f.d1, &data, &lo_url, &[]);
    let process = deploy_to(&f.co, "hello-process", "edge-1", &[]);
    let wasm = deploy_to(&f.co, "hello-wasm", "edge-1", &[]);
    wait_state(&f.co, &process, "installed", || en.log());
    wait_state(&f.co, &wasm, "installed", || en.log());
    lo.kill();
    with_the_lo_gone_a_crashed_workload_is_restarted(&en, &process);

    // A reboot with no network: kill -9, start again.
    en.kill();
    let en = En::start(&f.d1, &data, &lo_url, &[]);
    after_an_offline_reboot_the_workloads_come_back_once_and_reports_wait(
        &en, &data, &process, &wasm,
    );
    let lo =
        the_lo_back_on_its_address_drains_the_queue_to_the_co(&f, &lo_data, &lo_url, &en, &process);
    kill_9_during_a_removal_ends_removed_with_nothing_left(&f, en, &data, &lo_url, &process, &wasm);
    drop(lo);
}

/// Every link down: the LO is gone. The workload keeps running and is
/// restarted after a crash; the node queues what it has to say.
fn with_the_lo_gone_a_crashed_workload_is_restarted(en: &En, process: &str) {
    let pid = row(en, process).unwrap()["pid"].as_u64().unwrap();
    assert!(
        std::process::Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
    until_or(
        "restarted with no LO",
        || {
            row(en, process)
                .filter(|r| r["restarts"].as_u64() >= Some(1) && r["state"] == "installed")
        },
        || en.log(),
    );
}

/// After a kill -9 with no network, the process a killed daemon left behind
/// is ended, the workloads come back from what was kept, and the reports
/// made offline are kept.
fn after_an_offline_reboot_the_workloads_come_back_once_and_reports_wait(
    en: &En,
    data: &Path,
    process: &str,
    wasm: &str,
) {
    until_or(
        "workloads back after a restart with no network",
        || {
            let p = row(en, process)?;
            let w = row(en, wasm)?;
            (p["state"] == "installed" && w["state"] == "installed").then_some(())
        },
        || en.log(),
    );
    assert_eq!(programs(data), 1, "no duplicate after the restart");
    let queued = listing(en)["node"]["queuedReports"].as_u64().unwrap();
    assert!(queued > 0, "reports made offline are kept");
}

/// The LO is back on the same address: the queue drains, in order, and
/// the CO hears the final truth. Returns the LO.
fn the_lo_back_on_its_address_drains_the_queue_to_the_co(
    f: &Fleet,
    lo_data: &Path,
    lo_url: &str,
    en: &En,
    process: &str,
) -> Lo {
    let port = lo_url.rsplit(':').next().unwrap();
    let lo = Lo::start(
        &f.lo_creds,
        lo_data,
        &["--listen", &format!("127.0.0.1:{port}")],
    );
    until_or(
        "the queue drained",
        || (listing(en)["node"]["queuedReports"].as_u64() == Some(0)).then_some(()),
        || format!("{}\n{}", en.log(), lo.log()),
    );
    wait_state(&f.co, process, "installed", || en.log());
    lo
}

/// Kill -9 during a removal: after the restart it ends removed, nothing
/// left, and the other workload back.
fn kill_9_during_a_removal_ends_removed_with_nothing_left(
    f: &Fleet,
    en: En,
    data: &Path,
    lo_url: &str,
    process: &str,
    wasm: &str,
) {
    ok(&f.co.edgectl(&["co", "undeploy", process]));
    until_or(
        "the removal started",
        || (row(&en, process).is_none_or(|r| r["state"] != "installed")).then_some(()),
        || en.log(),
    );
    en.kill();
    let en = En::start(&f.d1, data, lo_url, &[]);
    until_or(
        "removed after the restart",
        || row(&en, process).is_none().then_some(()),
        || en.log(),
    );
    until_or(
        "no process left",
        || (programs(data) == 0).then_some(()),
        || en.log(),
    );
    until_or(
        "the other workload back",
        || row(&en, wasm).filter(|r| r["state"] == "installed"),
        || en.log(),
    );
}

#[test]
fn downloads_resume_and_a_corrupt_partial_download_is_discarded() {
    let f = fleet_with_process();
    let lo = Lo::start(&f.lo_creds, &f.dir.path().join("lo"), &[]);
    let data = f.dir.path().join("en");
    // The artifact the CO will name (the fixture file as it is).
    let bytes = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../fixtures/packages/hello-process/components/hello.sh"),
    )
    .unwrap();
    let hex = edge_model::digest::sha256(&bytes).as_str()["sha256:".len()..].to_owned();
    let partial = data.join("artifacts").join("partial");
    std::fs::create_dir_all(&partial).unwrap();
    // A download killed half-way: the first half is on disk.
    std::fs::write(partial.join(&hex), &bytes[..bytes.len() / 2]).unwrap();
    let en = En::start(&f.d1, &data, &lo.url, &[]);
    let first = deploy_to(&f.co, "hello-process", "edge-1", &[]);
    wait_state(&f.co, &first, "installed", || en.log());
    assert!(en.log().contains("resuming a download"), "{}", en.log());
    assert!(!en.log().contains("ARTIFACT"), "{}", en.log());
    assert!(data.join("artifacts/sha256").join(&hex).is_file());
    assert!(!partial.join(&hex).exists());
    ok(&f.co.edgectl(&["co", "undeploy", &first]));
    until_or(
        "removed",
        || row(&en, &first).is_none().then_some(()),
        || en.log(),
    );
    drop(en);

    // A partial download whose bytes are wrong: the digest check fails, the
    // bytes are discarded, and the next attempt fetches it whole.
    let _ = std::fs::remove_file(data.join("artifacts/sha256").join(&hex));
    std::fs::write(partial.join(&hex), b"#!/bin/sh\nexit 3\n").unwrap();
    let en = En::start(&f.d1, &data, &lo.url, &[]);
    let second = deploy_to(&f.co, "hello-process", "edge-1", &[]);
    wait_state(&f.co, &second, "installed", || en.log());
    assert!(
        en.log().contains("ARTIFACT"),
        "the mismatch is reported:\n{}",
        en.log()
    );
    assert!(en.log().contains("resuming a download"), "{}", en.log());
}

#[test]
fn a_wasm_component_s_fuel_limit_travels_from_its_package_to_the_node() {
    let f = fleet();
    let pkg = edge_tests::fleet::spin_wasm_package(f.dir.path(), false);
    ok(&f
        .co
        .edgectl(&["co", "add", "app", "--artifact", pkg.to_str().unwrap()]));
    let lo = Lo::start(&f.lo_creds, &f.dir.path().join("lo"), &[]);
    let en = En::start(&f.d1, &f.dir.path().join("en"), &lo.url, &[]);
    let log = || format!("--- LO\n{}\n--- EN\n{}", lo.log(), en.log());
    let id = deploy_to(&f.co, "spin-wasm", "edge-1", &[]);
    wait_state(&f.co, &id, "failed", log);
    let out = ok(&f.co.edgectl(&["co", "list", "deployments", "-o", "json"]));
    assert!(out.contains("50000 units of fuel"), "{out}");
}

fn signal(sig: &str, pid: u32) {
    assert!(
        std::process::Command::new("kill")
            .args([sig, &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
}

#[test]
fn kill_9_in_the_middle_of_a_download_resumes_it_after_the_restart() {
    let f = fleet();
    // hello-process with a 48 MB tail the shell never reaches (it loops).
    let pkg = f.dir.path().join("big-process");
    edge_tests::co::copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/packages/hello-process"),
        &pkg,
    );
    let script = pkg.join("components/hello.sh");
    let mut bytes = std::fs::read(&script).unwrap();
    bytes.extend_from_slice(b"\n# ");
    bytes.extend(std::iter::repeat_n(b'x', 48 << 20));
    bytes.push(b'\n');
    std::fs::write(&script, &bytes).unwrap();
    let yaml = std::fs::read_to_string(pkg.join("margo.yaml"))
        .unwrap()
        .replace("id: hello-process\n", "id: big-process\n");
    std::fs::write(pkg.join("margo.yaml"), yaml).unwrap();
    ok(&f
        .co
        .edgectl(&["co", "add", "app", "--artifact", pkg.to_str().unwrap()]));
    let hex = edge_model::digest::sha256(&bytes).as_str()["sha256:".len()..].to_owned();

    let lo = Lo::start(&f.lo_creds, &f.dir.path().join("lo"), &[]);
    let data = f.dir.path().join("en");
    let en = En::start(&f.d1, &data, &lo.url, &[]);
    let id = deploy_to(&f.co, "big-process", "edge-1", &[]);
    // The download has begun: freeze the LO so it cannot finish, then kill
    // the node where it stands.
    let partial = data.join("artifacts/partial").join(&hex);
    until_or(
        "the download started",
        || std::fs::metadata(&partial).ok().filter(|m| m.len() > 0),
        || en.log(),
    );
    signal("-STOP", lo.pid());
    en.kill();
    signal("-CONT", lo.pid());
    let had = std::fs::metadata(&partial).unwrap().len();
    assert!(
        had > 0 && had < bytes.len() as u64,
        "killed half-way: {had} of {} bytes",
        bytes.len()
    );
    assert!(!data.join("artifacts/sha256").join(&hex).exists());

    let en = En::start(&f.d1, &data, &lo.url, &[]);
    wait_state(&f.co, &id, "installed", || en.log());
    assert!(en.log().contains("resuming a download"), "{}", en.log());
    assert_eq!(programs(&en.data), 1, "one process");
    assert!(data.join("artifacts/sha256").join(&hex).is_file());
}

#[test]
fn an_unknown_run_as_account_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(edge_tests::co::bin("edged"))
        .args(["--mode", "en", "--run-as", "no-such-account", "--data"])
        .arg(dir.path())
        .arg("--credentials")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("there is no account `no-such-account` on this host"),
        "{err}"
    );
}

#[test]
fn a_relative_data_folder_is_made_absolute() {
    // Workloads run in folders of their own: a relative data folder would
    // leave them unable to find their programs.
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(edge_tests::co::bin("edged"))
        .current_dir(dir.path())
        .args([
            "--mode",
            "en",
            "--data",
            "./node-data",
            "--credentials",
            ".",
        ])
        .arg("--print-config")
        .output()
        .unwrap();
    let text = ok(&out);
    let want = format!("data = \"{}\"", dir.path().join("node-data").display());
    assert!(text.contains(&want), "{text}");
}

/// A node whose identity is revoked says so: on the node (`edgectl en
/// list`, not only when it last heard from its fleet manager) and at the CO
/// (`co list devices`, `co show device`, which also name the certificate's
/// validity and the deployment types the node reported).
#[test]
fn a_revoked_node_says_it_is_revoked_on_the_node_and_at_the_co() {
    let f = fleet();
    let creds = edge_tests::fleet::enroll_direct(&f.co, f.dir.path(), "plant-1", "edge-1");
    let south = edge_tests::fleet::south_url(&creds);
    let en = En::start(&creds, &f.dir.path().join("en"), &south, &[]);
    let log = || en.log();
    the_capabilities_reach_the_co_through_the_lo(&f, log);
    let show = ok(&f.co.edgectl(&["co", "show", "device", "edge-1"]));
    for want in [
        "identity:     valid until ",
        "certificate:  spiffe://edge.local/margo/wfm/co/client/edge-1 (issued ",
        "deploy types: wasm, process",
    ] {
        assert!(show.contains(want), "want `{want}` in\n{show}");
    }

    ok(&f
        .co
        .edgectl(&["co", "revoke", "--site", "plant-1", "--device", "edge-1"]));
    let human = edge_tests::wait::within(
        std::time::Duration::from_secs(60),
        edge_tests::wait::EVERY,
        || {
            let out = ok(&en.edgectl(&["list"]));
            out.contains("refused: the fleet manager refuses this node's identity since ")
                .then_some(out)
        },
    )
    .unwrap_or_else(|| panic!("the node never said it is refused:\n{}", log()));
    assert!(human.contains("was revoked at"), "{human}");
    let node = &listing(&en)["node"];
    assert!(
        node["refused"].as_str().unwrap().contains("was revoked at"),
        "{node}"
    );

    let list = ok(&f
        .co
        .edgectl(&["co", "list", "devices", "--site", "plant-1"]));
    let row = list.lines().find(|l| l.starts_with("edge-1")).unwrap();
    assert!(row.contains("revoked at "), "{list}");
    let d: Value = serde_json::from_str(&ok(&f
        .co
        .edgectl(&["co", "show", "device", "edge-1", "-o", "json"])))
    .unwrap();
    assert_eq!(d["identity"]["state"], "revoked", "{d}");
    assert!(d["identity"]["revokedAt"].is_string(), "{d}");
    let show = ok(&f.co.edgectl(&["co", "show", "device", "edge-1"]));
    assert!(show.contains("identity:     revoked at "), "{show}");
}

/// Margo: capabilities go out again whenever they change, not only at
/// start. The node's data folder is a tmpfs; grown while the node runs, the
/// storage it reports grows at the CO without a restart.
#[test]
fn capabilities_are_sent_again_when_the_host_changes() {
    let f = edge_tests::fleet::fleet();
    let lo = Lo::start(&f.lo_creds, &f.dir.path().join("lo"), &[]);
    let data = f.dir.path().join("en");
    let Some(tmpfs) = edge_tests::tmpfs::Tmpfs::mount(&data, 64 << 20) else {
        return;
    };
    let en = En::start(&f.d1, &data, &lo.url, &[]);
    let storage = || {
        let shown: Value = serde_json::from_str(&ok(&f
            .co
            .edgectl(&["co", "show", "device", "edge-1", "-o", "json"])))
        .ok()?;
        shown["capabilities"]["properties"]["storage"]
            .as_str()
            .map(str::to_owned)
    };
    let log = || format!("{}\n{}", en.log(), lo.log());
    until_or(
        "the first report (64Mi of storage) at the CO",
        || (storage().as_deref() == Some("64Mi")).then_some(()),
        log,
    );
    tmpfs.resize(128 << 20);
    until_or(
        "the changed report (128Mi) at the CO, with no restart",
        || (storage().as_deref() == Some("128Mi")).then_some(()),
        log,
    );
    drop(en);
}
