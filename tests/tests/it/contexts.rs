//! Several orchestrators from one edgectl: `login` saves each as a named
//! context, `config get-contexts|use-context|current-context` list and
//! switch, `--context` picks one for a command, `logout` forgets one, and
//! `version` shows the client and the server it talks to. Two real COs.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use edge_tests::co::{Co, bin, fails, ok};

/// `edgectl ARGS` with only the private configuration folder `home`: no
/// server, token or CA from the environment.
fn ctl(home: &Path, args: &[&str]) -> Output {
    Command::new(bin("edgectl"))
        .args(args)
        .env_remove("EDGE_SERVER")
        .env_remove("EDGE_TOKEN")
        .env_remove("EDGE_CA")
        .env_remove("EDGE_CONTEXT")
        .env("XDG_CONFIG_HOME", home)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// `edgectl login` to `co`, the token on standard input as a script gives it.
fn login(home: &Path, co: &Co, extra: &[&str]) -> String {
    let mut cmd = Command::new(bin("edgectl"));
    cmd.args(["login", "--server", &co.url, "--ca-file"])
        .arg(co.ca_file())
        .args(extra)
        .env_remove("EDGE_SERVER")
        .env_remove("EDGE_TOKEN")
        .env_remove("EDGE_CONTEXT")
        .env("XDG_CONFIG_HOME", home)
        .stdin(std::fs::File::open(co.data.join("admin.token")).unwrap());
    ok(&cmd.output().unwrap())
}

#[test]
fn contexts_switch_between_orchestrators_and_logout_forgets_one() {
    let dir = tempfile::tempdir().unwrap();
    let a = Co::start(&dir.path().join("a"), &[]);
    let b = Co::start(&dir.path().join("b"), &[]);
    let home = dir.path().join("home");
    let b_name = b.url.trim_start_matches("https://").to_owned();

    // Nothing saved: a clear way forward, for the context commands too.
    fails(&ctl(&home, &["co", "list", "sites"]), "no server given");
    fails(
        &ctl(&home, &["config", "current-context"]),
        "there is no current context",
    );
    let out = ok(&ctl(&home, &["version", "--client"]));
    assert!(out.starts_with("edgectl "), "{out}");

    let out = login(&home, &a, &["--context", "plant-1"]);
    assert!(out.contains("as context `plant-1`"), "{out}");
    let out = login(&home, &b, &[]);
    assert!(out.contains(&format!("as context `{b_name}`")), "{out}");

    let listed = ok(&ctl(&home, &["config", "get-contexts"]));
    assert!(
        listed.contains("plant-1") && listed.contains(&a.url),
        "{listed}"
    );
    let current_row = listed.lines().find(|l| l.contains(&b.url)).unwrap();
    assert!(current_row.trim_start().starts_with('*'), "{listed}");
    assert_eq!(
        ok(&ctl(&home, &["config", "current-context"])).trim(),
        b_name
    );

    // `--context` for one command; the current one for the others.
    ok(&ctl(
        &home,
        &["co", "add", "site", "only-on-a", "--context", "plant-1"],
    ));
    assert!(!ok(&ctl(&home, &["co", "list", "sites"])).contains("only-on-a"));
    let out = ok(&ctl(&home, &["config", "use-context", "plant-1"]));
    assert!(out.contains("switched to context `plant-1`"), "{out}");
    assert!(ok(&ctl(&home, &["co", "list", "sites"])).contains("only-on-a"));

    // A mistyped name: the nearest is suggested and nothing changes.
    fails(
        &ctl(&home, &["config", "use-context", "plant1"]),
        "did you mean `plant-1`?",
    );
    fails(
        &ctl(&home, &["co", "list", "sites", "--context", "plnat-1"]),
        "did you mean `plant-1`?",
    );
    assert_eq!(
        ok(&ctl(&home, &["config", "current-context"])).trim(),
        "plant-1"
    );

    // The client's and the server's versions, for people and scripts.
    let out = ok(&ctl(&home, &["version"]));
    assert!(
        out.contains("edgectl ") && out.contains(&format!("at {}", a.url)),
        "{out}"
    );
    let v: serde_json::Value =
        serde_json::from_str(&ok(&ctl(&home, &["version", "-o", "json"]))).unwrap();
    assert_eq!(v["client"]["version"], v["server"]["version"], "{v}");
    assert_eq!(v["server"]["url"], a.url.as_str());

    // Logout forgets the current login: its token too.
    let out = ok(&ctl(&home, &["logout"]));
    assert!(out.contains(&format!("logged out of {}", a.url)), "{out}");
    fails(&ctl(&home, &["co", "list", "sites"]), "no server given");
    fails(
        &ctl(&home, &["co", "list", "sites", "--context", "plant-1"]),
        "no context `plant-1`",
    );
    let token = std::fs::read_dir(home.join("edgectl"))
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("token-") && n.contains(&a.url.replace([':', '/', '.'], "_")))
        .count();
    assert_eq!(token, 0, "no token file of the forgotten login is left");
    // The other login is untouched.
    ok(&ctl(&home, &["co", "list", "sites", "--context", &b_name]));

    // A server that does not answer: the version says so, exit 1.
    let o = Command::new(bin("edgectl"))
        .arg("version")
        .env("EDGE_SERVER", "https://127.0.0.1:1")
        .env("XDG_CONFIG_HOME", &home)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("edgectl ") && out.contains("server: not reachable"),
        "{out}"
    );
    assert!(a.stop().success() && b.stop().success());
}

/// On a terminal the token is asked for with echo off: what was pasted is
/// not on the screen, and the login works.
#[test]
fn a_token_typed_at_login_is_not_shown() {
    let dir = tempfile::tempdir().unwrap();
    let co = Co::start(&dir.path().join("co"), &[]);
    let home = dir.path().join("home");
    let token = co.token.trim().to_owned();
    let line = format!(
        "{} login --server {} --ca-file {}",
        bin("edgectl").display(),
        co.url,
        co.ca_file().display()
    );
    let home_text = home.display().to_string();
    let env = [("XDG_CONFIG_HOME", home_text.as_str())];
    let term = edge_tests::tmux::Tmux::start(dir.path(), dir.path(), &env, &line, (120, 24));
    term.wait_for(&["Token (the content of `admin.token`"], 20);
    term.send(&["-l", &token]);
    term.send(&["Enter"]);
    assert_eq!(term.exit_status(20), 0, "{}", term.screen());
    let screen = term.wait_for(&["logged in to"], 5);
    assert!(
        !screen.contains(&token),
        "the token is on the screen:\n{screen}"
    );
    assert!(!screen.contains(&token[..8]), "{screen}");
    drop(term);
    ok(&ctl(&home, &["co", "status"]));
    assert!(co.stop().success());
}
