//! README.md, run as written: every `sh` block, in order, line by line, on
//! one machine. Each `edged` line starts a daemon (on a free port instead
//! of the one it names; later lines get the real address), every other line
//! must exit 0, and the lines of the first walk-throughs are checked for what
//! the README says they show. `edgectl tui` runs in a real terminal (tmux).
//! Left out: `cargo` lines (the test runs the binaries it built) and
//! `./scripts/test` (this is part of it).

use std::path::Path;
use std::process::{Command, Output};

use edge_tests::co::{Daemon, ok, repo_root};
use edge_tests::wait::{EVERY, within};

use super::walkthrough::{env, tui};

/// Every `sh` block's command lines, in order, comments removed.
fn readme_lines() -> Vec<String> {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let mut lines = Vec::new();
    let mut in_block = false;
    for l in readme.lines() {
        if l.starts_with("```") {
            in_block = !in_block && l == "```sh";
            continue;
        }
        if !in_block {
            continue;
        }
        // A trailing `# …` is a comment for the reader.
        let l = l.split("  #").next().unwrap_or_default().trim();
        if !l.is_empty() && !l.starts_with('#') {
            lines.push(l.to_owned());
        }
    }
    lines
}

fn shell(cwd: &Path, env: &[(String, String)], line: &str) -> Output {
    Command::new("sh")
        .args(["-c", line])
        .current_dir(cwd)
        .env_remove("EDGE_SERVER")
        .env_remove("EDGE_TOKEN")
        .env_remove("EDGE_CA")
        .env_remove("EDGE_CONTEXT")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap()
}

/// The `host:port` a README line names after `flag`.
fn named(line: &str, flag: &str) -> Option<String> {
    let rest = line.split(&format!("{flag} ")).nth(1)?;
    Some(rest.split_whitespace().next()?.to_owned())
}

/// Start the daemon of an `edged` line on free ports; record which address
/// stands for each one the README names.
fn start(
    cwd: &Path,
    env: &[(String, String)],
    line: &str,
    addresses: &mut Vec<(String, String)>,
) -> Daemon {
    let mut run = line.to_owned();
    let listen = named(line, "--listen");
    let south = named(line, "--south-listen");
    for a in [&listen, &south].into_iter().flatten() {
        run = run.replace(a.as_str(), "127.0.0.1:0");
    }
    if listen.is_none() && line.contains("--mode all") {
        run.push_str(" --listen 127.0.0.1:0");
    }
    let mut cmd = Command::new("sh");
    cmd.args(["-c", &format!("exec {run}")])
        .current_dir(cwd)
        .envs(env.iter().map(|(k, v)| (k, v)));
    let (daemon, first) = Daemon::spawn(cmd, "edged ");
    let url_in = |text: &str| {
        text.split_whitespace()
            .find_map(|w| w.strip_prefix("https://"))
            .map(str::to_owned)
    };
    let here = url_in(&first).unwrap_or_else(|| panic!("no address in `{first}`"));
    addresses.push((listen.unwrap_or_else(|| "127.0.0.1:7070".into()), here));
    if let Some(south) = south {
        // The CO prints its south address on its second line.
        let line = within(std::time::Duration::from_secs(30), EVERY, || {
            daemon
                .later_lines()
                .into_iter()
                .find(|l| l.contains("south"))
        })
        .unwrap_or_else(|| panic!("no south address:\n{}", daemon.log()));
        addresses.push((south, url_in(&line).unwrap()));
    }
    daemon
}

#[test]
fn every_readme_block_runs_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path().join("work");
    std::fs::create_dir_all(&cwd).unwrap();
    // "Open a terminal in this folder": the samples are where the README says.
    std::os::unix::fs::symlink(repo_root().join("fixtures"), cwd.join("fixtures")).unwrap();
    let env = env(&dir.path().join("home"));
    let lines = readme_lines();
    assert!(lines.len() >= 60, "{lines:?}");

    let mut daemons: Vec<Daemon> = Vec::new();
    let mut addresses: Vec<(String, String)> = Vec::new();
    let mut steps = 0;
    for line in &lines {
        if line.starts_with("cargo ")
            || line == "./scripts/test"
            || line.starts_with("export PATH=")
        {
            continue;
        }
        let mut line = line.clone();
        for (readme, real) in &addresses {
            line = line.replace(readme.as_str(), real);
        }
        if line.starts_with("edged ") {
            daemons.push(start(&cwd, &env, &line, &mut addresses));
            continue;
        }
        assert!(!daemons.is_empty(), "the README starts the demo first");
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
    assert!(steps >= 50, "{steps}");
    // Every daemon ends cleanly on SIGTERM, the node first.
    while let Some(d) = daemons.pop() {
        let status = d.stop();
        assert!(status.success(), "a daemon did not end cleanly: {status}");
    }
    // The demo's checkout stays clean: nothing the README makes is tracked.
    let made: Vec<String> = std::fs::read_dir(&cwd)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let slash = if e.path().is_dir() { "/" } else { "" };
            format!("{}{slash}", e.file_name().to_string_lossy())
        })
        .filter(|n| n != "fixtures/")
        .collect();
    let out = Command::new("git")
        .arg("check-ignore")
        .args(&made)
        .current_dir(repo_root())
        .output()
        .unwrap();
    let ignored = String::from_utf8_lossy(&out.stdout);
    for name in &made {
        assert!(
            ignored.lines().any(|l| l == name),
            "`{name}`, which the README makes, is not in .gitignore"
        );
    }
}

/// What the README says a line shows.
fn what_the_readme_says_it_shows(line: &str) -> &'static [&'static str] {
    match line.split(" --").next().unwrap_or_default() {
        "edgectl login" => &["logged in to"],
        "edgectl co list apps" => &["hello-process"],
        "edgectl co add app" => &["added app `hello-"],
        "edgectl co deploy" if line.contains("--wait") => &["installed on 1 device(s)"],
        "edgectl co deploy" => &["1 created"],
        "edgectl co list deployments" if line.contains("demo") => &["hello-wasm", "installed"],
        "edgectl en list" => &["hello-wasm", "installed"],
        "edgectl en logs hello-wasm" => &["hello from edgectl wasm"],
        "edgectl co undeploy" => &["removed on 1 device(s)"],
        "edgectl co upgrade" => &["version 1.0.0 → 1.1.0", "rollout 1 done: 1 of 1"],
        "edgectl co rollout list" => &["done", "1/1"],
        "edgectl co rollout status 1" => {
            &["rollout 1: done", "wave 1/1", "1.0.0 → 1.1.0", "healthy"]
        }
        "edgectl co rollout undo 1" => &["rollout 1 undone: 1 deployment(s) put back"],
        "edgectl config get-contexts" => &["* ", "tour"],
        "edgectl version" => &["edgectl ", "edged "],
        "edgectl co list devices -l zone=a" => &["edge-1", "edge-2"],
        "edgectl co set" => &["installed on 1 device(s)"],
        _ => &[],
    }
}
