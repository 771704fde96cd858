//! The README's walk-through, run as written: the commands between
//! `<!-- walkthrough -->` and `<!-- /walkthrough -->` are read from README.md
//! and run in order against `edged --mode all` (on a free port instead of
//! 7070), each checked for what the README says it shows. `edgectl tui` runs
//! in a real terminal (tmux, 80x24). A second test drives the questions
//! `edgectl` asks on a terminal, and checks none are asked without one.

use std::path::Path;
use std::process::{Command, Output};

use edge_tests::co::{Daemon, bin, fails, ok, repo_root};
use edge_tests::tmux::Tmux;

/// The walk-throughs' command lines, comments removed: every block between
/// `<!-- walkthrough -->` and `<!-- /walkthrough -->`, in order.
fn walkthrough() -> Vec<String> {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let mut lines = Vec::new();
    let mut rest = readme.as_str();
    while let Some(start) = rest.find("<!-- walkthrough -->") {
        let end = rest[start..]
            .find("<!-- /walkthrough -->")
            .expect("every walk-through block is closed")
            + start;
        lines.extend(
            rest[start..end]
                .lines()
                .filter(|l| !l.starts_with("```") && !l.starts_with("<!--"))
                .map(|l| {
                    // A trailing `# …` is a comment for the reader.
                    l.split("  #").next().unwrap().trim().to_owned()
                })
                .filter(|l| !l.is_empty() && !l.starts_with('#')),
        );
        rest = &rest[end..];
    }
    assert!(!lines.is_empty(), "README has a walk-through");
    lines
}

/// Environment of every command: the workspace's binaries first on PATH, a
/// private home (the login is kept there), no server from the outside.
fn env(home: &Path) -> Vec<(String, String)> {
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
fn demo(cwd: &Path, env: &[(String, String)], line: &str) -> (Daemon, String) {
    assert!(bin("edged").is_file());
    let mut cmd = Command::new("sh");
    cmd.args(["-c", &format!("exec {line} --listen 127.0.0.1:0")])
        .current_dir(cwd)
        .envs(env.iter().map(|(k, v)| (k, v)));
    let (daemon, rest) = Daemon::spawn(cmd, "edged all listening on ");
    let url = rest.split_whitespace().next().unwrap().to_owned();
    (daemon, url)
}

#[test]
fn the_readme_walkthrough_works_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path().join("work");
    std::fs::create_dir_all(&cwd).unwrap();
    let env = env(&dir.path().join("home"));
    let lines = walkthrough();
    assert!(lines.len() >= 8, "{lines:?}");

    let mut daemon = None;
    let mut url = String::new();
    let mut steps = 0;
    for line in &lines {
        if line.starts_with("edged --mode all") {
            let (d, u) = demo(&cwd, &env, line);
            daemon = Some(d);
            url = u;
            continue;
        }
        if line.starts_with("export PATH=") {
            // The test's PATH already leads to this workspace's binaries.
            continue;
        }
        assert!(daemon.is_some(), "the walk-through starts the demo first");
        let line = line.replace("https://127.0.0.1:7070", &url);
        steps += 1;
        if line.starts_with("edgectl tui") {
            tui(dir.path(), &cwd, &env, &line);
            continue;
        }
        let out = shell(&cwd, &env, &line);
        let text = ok(&out);
        for want in what_the_readme_says_it_shows(&line) {
            assert!(
                text.contains(want),
                "`{line}` did not show `{want}`:\n{text}"
            );
        }
    }
    assert!(steps >= 8);
    // Undeployed means gone from the site's desired state, too.
    let out = ok(&shell(
        &cwd,
        &env,
        &format!("edgectl --server {url} co list deployments --site demo"),
    ));
    assert!(!out.contains("hello-wasm"), "{out}");
    let status = daemon.unwrap().stop();
    assert!(
        status.success(),
        "the demo ends cleanly on SIGTERM: {status}"
    );
}

/// What the README says a walk-through line shows.
fn what_the_readme_says_it_shows(line: &str) -> &'static [&'static str] {
    match line.split(" --").next().unwrap() {
        "edgectl login" => &["logged in to"],
        "edgectl co list apps" => &["hello-process", "hello-compose"],
        "edgectl co add app" => &["added app `hello-wasm`"],
        "edgectl co deploy" => &["installed on 1 device(s)"],
        "edgectl co list deployments" => &["hello-wasm", "installed"],
        "edgectl en list" => &["hello-wasm", "installed"],
        "edgectl en logs hello-wasm" => &["hello from edgectl wasm"],
        "edgectl co undeploy" => &["removed on 1 device(s)"],
        "edgectl co upgrade" => &["version 1.0.0 → 1.1.0", "rollout 1 done: 1 of 1"],
        "edgectl co rollout list" => &["done", "1/1"],
        "edgectl co rollout status 1" => {
            &["rollout 1: done", "wave 1/1", "1.0.0 → 1.1.0", "healthy"]
        }
        "edgectl co rollout undo 1" => &["rollout 1 undone: 1 deployment(s) put back"],
        other if other.starts_with("cp -r demo/packages/hello-wasm") => &[],
        other => panic!("the test does not know what `{other}` should show; teach it"),
    }
}

/// The TUI in a real 80x24 terminal: the deployment is shown live, `l`
/// shows its log, `?` lists the keys, `q` quits with status 0 and gives the
/// terminal back.
fn tui(dir: &Path, cwd: &Path, env: &[(String, String)], line: &str) {
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
    assert!(daemon.stop().success());
}

/// No terminal: a missing value is an error naming its flag; undeploying
/// what is not deployed names it.
fn without_a_terminal_a_missing_value_is_an_error_naming_its_flag(ctl: &impl Fn(&str) -> Output) {
    fails(
        &ctl("co deploy --site demo"),
        "`--app` is required (no terminal to ask on)",
    );
    fails(&ctl("co undeploy"), "is required (no terminal to ask on)");
    fails(
        &ctl("co undeploy --app hello-process --site demo --yes"),
        "app `hello-process` is not deployed at site `demo`",
    );
    fails(
        &ctl("co undeploy no-such-id --yes"),
        "no deployment `no-such-id`",
    );
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
