//! Black-box tests of the `edgectl` binary: exit codes, output forms, bad
//! input, and whether the committed completions and man pages are current.

#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use clap::CommandFactory as _;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn edgectl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_edgectl"))
        .args(args)
        .current_dir(root())
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn short_help_shows_the_command_s_own_options_before_the_global_ones() {
    let o = edgectl(&["co", "deploy", "-h"]);
    assert_eq!(o.status.code(), Some(0));
    let help = stdout(&o);
    let at = |text: &str| {
        help.find(text)
            .unwrap_or_else(|| panic!("no `{text}`:\n{help}"))
    };
    assert!(at("--app <APP>") < at("--timeout"), "{help}");
    assert!(at("--timeout") < at("Global options:"), "{help}");
    assert!(at("Global options:") < at("--server <URL>"), "{help}");
    assert!(at("Global options:") < at("--context <NAME>"), "{help}");
}

#[test]
fn usage_errors_exit_2_and_help_exits_0() {
    assert_eq!(edgectl(&[]).status.code(), Some(2));
    assert_eq!(edgectl(&["validate"]).status.code(), Some(2));
    assert_eq!(
        edgectl(&["validate", "--bogus", "x"]).status.code(),
        Some(2)
    );
    assert_eq!(
        edgectl(&["-o", "xml", "validate", "x"]).status.code(),
        Some(2)
    );
    let help = edgectl(&["validate", "--help"]);
    assert_eq!(help.status.code(), Some(0));
    assert!(stdout(&help).contains("FILE: field.path: message"));
    assert_eq!(edgectl(&["--version"]).status.code(), Some(0));
}

#[test]
fn fixture_packages_are_valid() {
    let o = edgectl(&[
        "validate",
        "fixtures/packages/hello-wasm",
        "fixtures/packages/hello-process",
        "fixtures/packages/hello-compose",
        "fixtures/packages/hello-helm",
    ]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert_eq!(out.matches("valid application package").count(), 4, "{out}");
    assert!(
        out.contains(
            "note: deploymentProfiles[0].type: profile type `wasm` is an edgectl extension"
        ),
        "{out}"
    );
}

#[test]
fn invalid_fixtures_fail_naming_their_field() {
    let dir = root().join("fixtures/invalid");
    let mut seen = 0;
    for entry in fs::read_dir(&dir).unwrap() {
        let case = entry.unwrap().path();
        let field = fs::read_to_string(case.join("expected-field")).unwrap();
        let rel = case
            .strip_prefix(root())
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        let o = edgectl(&["validate", &rel]);
        let want = format!("{rel}/margo.yaml: {}: ", field.trim());
        assert_eq!(o.status.code(), Some(1), "{rel}");
        assert!(
            stdout(&o).contains(&want),
            "{rel}: want `{want}` in\n{}",
            stdout(&o)
        );
        seen += 1;
    }
    assert!(seen >= 15, "only {seen} invalid fixtures");
}

#[test]
fn a_wasm_module_that_does_not_parse_is_refused_naming_the_package_file() {
    let o = edgectl(&["validate", "fixtures/invalid/wasm-module-malformed"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains(
            "fixtures/invalid/wasm-module-malformed/margo.yaml: deploymentProfiles[0].components[0].properties.repository: `./components/hello.wasm` is not a well-formed WebAssembly module: "
        ),
        "{out}"
    );
    assert!(out.contains("(at byte "), "{out}");
    // Text is checked too, with where it goes wrong.
    let dir = tempfile::tempdir().unwrap();
    let pkg = dir.path().join("hello-wasm");
    copy_dir(&root().join("fixtures/packages/hello-wasm"), &pkg);
    fs::write(
        pkg.join("components/hello.wat"),
        "(module\n  (func (export \"_start\")\n    (call $nowhere)))\n",
    )
    .unwrap();
    let o = edgectl(&["validate", pkg.to_str().unwrap()]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("`./components/hello.wat` is not a well-formed WebAssembly text module: ")
            && out.contains("at line 3, column"),
        "{out}"
    );
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn a_path_that_cannot_be_read_is_an_io_error_and_nothing_is_checked() {
    let o = edgectl(&[
        "validate",
        "fixtures/packages/hello-wasm",
        "no-such-file.yaml",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("cannot read `no-such-file.yaml`: No such file or directory"),
        "{err}"
    );
    assert!(
        !stdout(&o).contains("checked"),
        "nothing is checked: {}",
        stdout(&o)
    );
}

#[test]
fn corpus_folders_via_the_cli() {
    let o = edgectl(&["validate", "../shared/margo-spec/examples/valid"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let o = edgectl(&["validate", "-q", "../shared/margo-spec/examples/invalid"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains("17 file(s) checked, 17 invalid"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn json_output_is_stable_and_machine_readable() {
    let o = edgectl(&[
        "-o",
        "json",
        "validate",
        "fixtures/invalid/timeout-format",
        "fixtures/packages/hello-wasm",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["valid"], false);
    let bad = &v["files"][0];
    assert_eq!(bad["file"], "fixtures/invalid/timeout-format/margo.yaml");
    assert_eq!(bad["valid"], false);
    assert_eq!(
        bad["errors"][0]["path"],
        "deploymentProfiles[0].components[0].properties.timeout"
    );
    assert_eq!(bad["errors"][0]["rule"], "pattern");
    assert!(
        bad["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("5m0s")
    );
    assert_eq!(v["files"][1]["valid"], true);
    assert_eq!(v["files"][1]["notes"][0]["rule"], "extension");
    let y = edgectl(&["-o", "yaml", "validate", "fixtures/packages/hello-wasm"]);
    assert_eq!(y.status.code(), Some(0));
    assert!(stdout(&y).starts_with("valid: true\n"), "{}", stdout(&y));
}

#[test]
fn hostile_and_broken_input_gets_one_clear_sentence() {
    let tmp = tempfile::tempdir().unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let p = tmp.path().join(name);
        fs::write(&p, bytes).unwrap();
        p.to_str().unwrap().to_owned()
    };
    let mut laughs = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..12 {
        let p = i - 1;
        laughs.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    let cases = [
        (
            write("binary.yaml", &[0x7f, b'E', b'L', b'F', 0, 0, 1]),
            "binary file",
        ),
        (write("empty.yaml", b""), "document is empty"),
        (write("bomb.yaml", laughs.as_bytes()), "alias bomb"),
        (
            write(
                "deep.json",
                format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)).as_bytes(),
            ),
            "nests deeper",
        ),
        (
            write(
                "deep.yaml",
                format!("a: {}", "[".repeat(100_000)).as_bytes(),
            ),
            "nests deeper",
        ),
        (
            write("huge.yaml", &vec![b'#'; 3 * 1024 * 1024]),
            "documents are limited to",
        ),
        (write("list.yaml", b"- a\n- b\n"), "must be a mapping"),
        (
            write("unknown.yaml", b"hello: world\n"),
            "cannot tell which Margo document",
        ),
        (write("syntax.yaml", b"kind: [unclosed\n"), "not valid YAML"),
    ];
    for (file, want) in &cases {
        let o = edgectl(&["validate", file]);
        let out = stdout(&o);
        assert_eq!(o.status.code(), Some(1), "{file}: {out}");
        assert!(out.contains(want), "{file}: want `{want}` in {out}");
        assert!(
            o.stderr.is_empty(),
            "{file}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let empty_dir = tempfile::tempdir().unwrap();
    let o = edgectl(&["validate", empty_dir.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains("no Margo documents"));
}

#[test]
fn package_checks_refuse_links_leaving_the_package() {
    let tmp = tempfile::tempdir().unwrap();
    let pkg = tmp.path().join("pkg");
    let src = root().join("fixtures/packages/hello-compose");
    for rel in [
        "margo.yaml",
        "resources/description.md",
        "resources/icon.png",
    ] {
        fs::create_dir_all(pkg.join(rel).parent().unwrap()).unwrap();
        fs::copy(src.join(rel), pkg.join(rel)).unwrap();
    }
    fs::create_dir_all(pkg.join("components/hello")).unwrap();
    fs::copy(
        src.join("components/hello/compose.yaml"),
        pkg.join("components/hello/compose.yaml"),
    )
    .unwrap();
    std::os::unix::fs::symlink("/etc/passwd", pkg.join("components/hello/secret")).unwrap();
    let o = edgectl(&["validate", pkg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains("is a link that leads outside the folder"),
        "{}",
        stdout(&o)
    );
}

/// The committed completion scripts and man pages, regenerated in memory.
/// Run with `EDGECTL_BLESS=1` to rewrite them.
fn generated() -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for (shell, name) in [
        (clap_complete::Shell::Bash, "edgectl.bash"),
        (clap_complete::Shell::Zsh, "_edgectl"),
        (clap_complete::Shell::Fish, "edgectl.fish"),
    ] {
        let buf = edgectl::completion_script(shell).unwrap();
        out.push((root().join("completions").join(name), buf));
    }
    let mut cmd = edgectl::Cli::command();
    cmd.build();
    man_pages(&cmd, "edgectl", &mut out);
    out
}

/// One man page per command and subcommand: `edgectl.1`, `edgectl-co-add-app.1`, …
fn man_pages(cmd: &clap::Command, name: &str, out: &mut Vec<(PathBuf, Vec<u8>)>) {
    let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd.clone().name(leaked))
        .render(&mut buf)
        .unwrap();
    out.push((root().join("man").join(format!("{name}.1")), buf));
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        man_pages(sub, &format!("{name}-{}", sub.get_name()), out);
    }
}

#[test]
fn completions_and_man_pages_are_current() {
    let bless = std::env::var_os("EDGECTL_BLESS").is_some();
    for (path, bytes) in generated() {
        if bless {
            fs::write(&path, &bytes).unwrap();
        } else {
            let committed = fs::read(&path).unwrap_or_default();
            assert!(
                committed == bytes,
                "{} is stale: run `EDGECTL_BLESS=1 cargo test -p edgectl --test cli`",
                path.display()
            );
        }
    }
    let expected: std::collections::BTreeSet<PathBuf> = generated()
        .into_iter()
        .map(|(p, _)| p)
        .filter(|p| p.starts_with(root().join("man")))
        .collect();
    for entry in fs::read_dir(root().join("man")).unwrap() {
        let path = entry.unwrap().path();
        // `edged.1` is edged's (edged/tests/cli.rs).
        if !path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("edgectl"))
        {
            continue;
        }
        if bless && !expected.contains(&path) {
            fs::remove_file(&path).unwrap();
        } else {
            assert!(
                expected.contains(&path),
                "{} belongs to no command: remove it (or bless)",
                path.display()
            );
        }
    }
    let o = edgectl(&["completions", "bash"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        o.stdout,
        fs::read(root().join("completions/edgectl.bash")).unwrap()
    );
}
