//! Completion of live names in a real bash (tmux): the script `edgectl
//! completions bash` prints makes bash ask `edgectl` itself, which answers
//! with the CO's apps, sites, devices and deployment ids; a CO that does not
//! answer gives no names and no error, and the prompt comes back.

use std::net::TcpListener;
use std::process::Command;

use edge_tests::co::{Co, bin, ok};
use edge_tests::tmux::Tmux;

#[test]
fn bash_completes_apps_sites_devices_and_deployments_from_the_co() {
    let dir = tempfile::tempdir().unwrap();
    let co = Co::start(&dir.path().join("co"), &[]);
    co.add_app("fixtures/packages/hello-wasm");
    ok(&co.edgectl(&["co", "add", "site", "plant-1"]));
    ok(&co.edgectl(&["co", "add", "site", "lab"]));
    for d in ["edge-1", "edge-2"] {
        ok(&co.edgectl(&["co", "add", "device", d, "--site", "plant-1"]));
    }

    let path = format!(
        "{}:{}",
        bin("edgectl").parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let ca = co.ca_file().display().to_string();
    let config = co.config_home.path().display().to_string();
    let home = dir.path().display().to_string();
    let env = [
        ("PATH", path.as_str()),
        ("HOME", home.as_str()),
        ("EDGE_SERVER", co.url.as_str()),
        ("EDGE_TOKEN", co.token.as_str()),
        ("EDGE_CA", ca.as_str()),
        ("XDG_CONFIG_HOME", config.as_str()),
        ("PS1", "$ "),
        // A debug build on a busy test machine needs more than the 100 ms
        // a release build is given (see BENCHMARKS.md).
        ("EDGECTL_COMPLETE_MS", "5000"),
    ];
    let term = Tmux::start(
        dir.path(),
        dir.path(),
        &env,
        "bash --norc --noprofile -i",
        (120, 30),
    );
    term.wait_for(&["$"], 10);
    term.send(&["-l", "source <(edgectl completions bash)"]);
    term.send(&["Enter"]);
    let prompts =
        |n: usize| move |screen: &str| screen.lines().filter(|l| l.starts_with('$')).count() >= n;
    term.wait_until(prompts(2), 10);
    // One candidate: bash writes it out (a trailing space does not show on
    // the captured screen).
    term.send(&["-l", "edgectl co deploy --site pla"]);
    term.send(&["Tab"]);
    term.wait_for(&["edgectl co deploy --site plant-1"], 10);
    term.send(&["-l", " --app hello-w"]);
    term.send(&["Tab"]);
    term.wait_for(&["--site plant-1", "--app hello-wasm"], 10);
    // Two: bash lists both on a second Tab.
    term.send(&["-l", " --device edge-"]);
    term.send(&["Tab", "Tab"]);
    term.wait_for(&["edge-1", "edge-2"], 10);
    term.send(&["C-c"]);
    term.wait_until(prompts(4), 10);

    // Deployment ids, for undeploy.
    co.deploy("hello-wasm", "plant-1", "edge-1");
    let list = ok(&co.edgectl(&["co", "list", "deployments", "-o", "json"]));
    let list: serde_json::Value = serde_json::from_str(&list).unwrap();
    let id = list[0]["id"].as_str().unwrap().to_owned();
    term.send(&["-l", &format!("edgectl co undeploy {}", &id[..4])]);
    term.send(&["Tab"]);
    term.wait_for(&[&format!("edgectl co undeploy {id}")], 10);
    term.send(&["C-c"]);
    drop(term);
    assert!(co.stop().success());
}

#[test]
fn a_co_that_does_not_answer_gives_no_names_and_no_error() {
    // Accepts connections and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("https://{}", silent.local_addr().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(bin("edgectl"))
        .args(["--", "edgectl", "co", "deploy", "--site", ""])
        .env("COMPLETE", "bash")
        .env("_CLAP_COMPLETE_INDEX", "4")
        .env("EDGE_SERVER", &url)
        .env("EDGE_TOKEN", "x")
        .env("XDG_CONFIG_HOME", dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // A hang guard, not a timing: the budget is 100 ms.
    let status = edge_tests::wait::within(
        std::time::Duration::from_secs(20),
        edge_tests::wait::EVERY,
        || child.try_wait().unwrap(),
    );
    let status = status.unwrap_or_else(|| {
        let _ = child.kill();
        panic!("the completion did not return");
    });
    let out = child.wait_with_output().unwrap();
    assert!(status.success());
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(silent);
}
