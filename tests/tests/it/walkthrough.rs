//! The demo as a newcomer meets it: the TUI of the README's walk-through in a
//! real terminal (tmux, 80x24; `readme.rs` runs the README), the questions
//! `edgectl` asks on a terminal and none without one, and a demo that cannot
//! start saying why.

use std::path::Path;
use std::process::{Command, Output};

use edge_tests::co::{Daemon, bin, fails, ok};
use edge_tests::tmux::Tmux;

/// Environment of every command: the workspace's binaries first on PATH, a
/// private home (the login is kept there), no server from the outside.
pub(crate) fn env(home: &Path) -> Vec<(String, String)> {
    let bins = bin("edgectl").parent().unwrap().to_owned();
    let path = format!(
        "{}:{}",
        bins.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    vec![
        ("PATH".into(), path),
        ("HOME".into(), home.display().to_string()),
        (
            "XDG_CONFIG_HOME".into(),
            home.join("config").display().to_string(),
        ),
    ]
}

fn shell(cwd: &Path, env: &[(String, String)], line: &str) -> Output {
    Command::new("sh")
        .args(["-c", line])
        .current_dir(cwd)
        .env_remove("EDGE_SERVER")
        .env_remove("EDGE_TOKEN")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap()
}

/// Start `edged --mode all` as the README line says, on a free port.
pub(crate) fn demo(cwd: &Path, env: &[(String, String)], line: &str) -> (Daemon, String) {
    assert!(bin("edged").is_file());
    let mut cmd = Command::new("sh");
    cmd.args(["-c", &format!("exec {line} --listen 127.0.0.1:0")])
        .current_dir(cwd)
        .envs(env.iter().map(|(k, v)| (k, v)));
    let (daemon, rest) = Daemon::spawn(cmd, "edged all listening on ");
    let url = rest.split_whitespace().next().unwrap().to_owned();
    (daemon, url)
}

/// The TUI in a real 80x24 terminal: the deployment is shown live, `l`
/// shows its log, `?` lists the keys, `q` quits with status 0 and gives the
/// terminal back.
pub(crate) fn tui(dir: &Path, cwd: &Path, env: &[(String, String)], line: &str) {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let term = Tmux::start(dir, cwd, &env, line, (80, 24));
    term.wait_for(&["hello-wasm", "installed", "● live"], 30);
    // The log pane reads the workload's output through the node's socket.
    term.send(&["l"]);
    term.wait_for(&["log: hello-wasm", "hello from edgectl wasm"], 10);
    term.send(&["l"]);
    term.wait_until(|screen| !screen.contains("log: hello-wasm"), 10);
    term.send(&["?"]);
    term.wait_for(&["Keys:", "Rollouts tab"], 10);
    term.send(&["?"]);
    term.wait_until(|screen| !screen.contains("Rollouts tab"), 10);
    term.send(&["q"]);
    assert_eq!(term.exit_status(10), 0, "{}", term.screen());
    let screen = term.screen();
    assert!(
        !screen.contains("installed"),
        "the alternate screen is left on quit:\n{screen}"
    );
}

#[test]
fn questions_are_asked_on_a_terminal_only() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path().join("work");
    std::fs::create_dir_all(&cwd).unwrap();
    let env = env(&dir.path().join("home"));
    let (daemon, url) = demo(&cwd, &env, "edged --mode all --data ./demo");
    let ctl = |args: &str| {
        shell(
            &cwd,
            &env,
            &format!(
                "edgectl --server {url} --token-file demo/co/admin.token --ca-file demo/co/ca/ca.crt {args}"
            ),
        )
    };
    without_a_terminal_a_missing_value_is_an_error_naming_its_flag(&ctl);

    let env_pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let token = std::fs::read_to_string(cwd.join("demo/co/admin.token")).unwrap();
    let mut with_server = env_pairs.clone();
    with_server.push(("EDGE_SERVER", &url));
    with_server.push(("EDGE_TOKEN", token.trim()));
    let ca = cwd.join("demo/co/ca/ca.crt");
    with_server.push(("EDGE_CA", ca.to_str().unwrap()));
    let term = |line: &str| Tmux::start(dir.path(), &cwd, &with_server, line, (80, 24));
    on_a_terminal_the_app_is_picked_from_the_store(&term);
    a_destructive_command_asks_and_no_changes_nothing(&term, &ctl);
    a_destructive_command_asks_and_yes_removes_it(&term, &ctl);
    a_rollback_shows_what_it_changes_before_it_asks(&term, &ctl);
    assert!(daemon.stop().success());
}

/// No terminal: a missing value is an error naming its flag; undeploying
/// what is not deployed names it.
fn without_a_terminal_a_missing_value_is_an_error_naming_its_flag(ctl: &impl Fn(&str) -> Output) {
    // A value the command line lacks is a usage error (2), as clap's own.
    usage_error(
        &ctl("co deploy --site demo"),
        "`--app` is required (no terminal to ask on)",
    );
    usage_error(&ctl("co undeploy"), "is required (no terminal to ask on)");
    usage_error(
        &ctl("co deploy --app hello-wasm --site demo --set greeting"),
        "`greeting` is not a parameter value; use NAME=VALUE",
    );
    usage_error(&ctl("co label site demo zone"), "is not a label change");
    fails(
        &ctl("co undeploy --app hello-process --site demo --yes"),
        "app `hello-process` is not deployed at site `demo`",
    );
    fails(
        &ctl("co undeploy no-such-id --yes"),
        "no deployment `no-such-id`",
    );
}

/// Exit status 2 and one `error:` sentence containing `want`.
fn usage_error(o: &Output, want: &str) {
    let e = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(e.starts_with("error: ") && e.contains(want), "{e}");
}

/// On a terminal: pick the app from the store, then the site is given.
fn on_a_terminal_the_app_is_picked_from_the_store(term: &impl Fn(&str) -> Tmux) {
    let term = term("edgectl co deploy --site demo --wait");
    term.wait_for(&["Which app?", "hello-compose", "hello-process"], 20);
    // The store lists hello-compose first; the second line is hello-process.
    term.send(&["Down", "Enter"]);
    assert_eq!(term.exit_status(60), 0, "{}", term.screen());
    term.wait_for(&["deployed hello-process", "installed on 1 device(s)"], 5);
    drop(term);
}

/// A destructive command asks; "no" changes nothing.
fn a_destructive_command_asks_and_no_changes_nothing(
    term: &impl Fn(&str) -> Tmux,
    ctl: &impl Fn(&str) -> Output,
) {
    let term = term("edgectl co undeploy --app hello-process --site demo");
    term.wait_for(&["Remove 1 deployment(s): hello-process on demo/"], 20);
    term.send(&["n"]);
    assert_eq!(term.exit_status(10), 1, "{}", term.screen());
    term.wait_for(&["cancelled; nothing changed"], 5);
    drop(term);
    assert!(ok(&ctl("co list deployments --site demo")).contains("hello-process"));
}

/// "yes" removes it.
fn a_destructive_command_asks_and_yes_removes_it(
    term: &impl Fn(&str) -> Tmux,
    ctl: &impl Fn(&str) -> Output,
) {
    let term = term("edgectl co undeploy --app hello-process --site demo --wait");
    term.wait_for(&["Remove 1 deployment(s)"], 20);
    term.send(&["y"]);
    assert_eq!(term.exit_status(60), 0, "{}", term.screen());
    drop(term);
    assert!(!ok(&ctl("co list deployments --site demo")).contains("hello-process"));
}

/// A rollback prints what it will change before it asks; "no" changes
/// nothing.
fn a_rollback_shows_what_it_changes_before_it_asks(
    term: &impl Fn(&str) -> Tmux,
    ctl: &impl Fn(&str) -> Output,
) {
    let history: serde_json::Value =
        serde_json::from_str(&ok(&ctl("-o json co history --site demo"))).unwrap();
    let deployed = history
        .as_array()
        .unwrap()
        .iter()
        .find(|c| {
            c["message"]
                .as_str()
                .unwrap()
                .starts_with("deploy hello-process")
        })
        .unwrap()["id"]
        .as_str()
        .unwrap()[..12]
        .to_owned();
    let term = term(&format!("edgectl co rollback --site demo --to {deployed}"));
    term.wait_for(&["Roll site `demo` back to"], 20);
    let screen = term.screen();
    let (shown, asked) = screen.split_once("Roll site `demo` back to").unwrap();
    assert!(
        shown.contains("changes 1 deployment(s)")
            && shown.contains("hello-process")
            && shown.contains("created"),
        "what changes comes before the question:\n{screen}"
    );
    assert!(asked.contains("as shown above?"), "{screen}");
    term.send(&["n"]);
    assert_eq!(term.exit_status(10), 1, "{}", term.screen());
    drop(term);
    assert!(!ok(&ctl("co list deployments --site demo")).contains("hello-process"));
}

#[test]
fn a_demo_that_cannot_start_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = Command::new(bin("edged"))
        .args(["--mode", "all", "--data"])
        .arg(dir.path().join("demo"))
        .args(["--listen", &addr])
        .output()
        .unwrap();
    fails(&out, &format!("cannot listen on `{addr}`"));
    assert!(out.stdout.is_empty(), "no readiness line");
    assert!(
        !dir.path().join("demo").exists(),
        "a demo that did not start leaves no folder behind"
    );
}
