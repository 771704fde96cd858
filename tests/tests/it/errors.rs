//! What a user reads when something is wrong: each cause is said once. An
//! error's chain is printed by `main` (`error: what: why: root cause`), so
//! no message may repeat the source it carries.

use std::process::Command;

use edge_tests::co::bin;

/// How often `needle` occurs in `hay`.
fn count(hay: &str, needle: &str) -> usize {
    hay.matches(needle).count()
}

#[test]
fn a_missing_credentials_folder_names_the_os_error_once() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-credentials");
    for mode in ["lo", "en"] {
        let out = Command::new(bin("edged"))
            .args(["--mode", mode, "--credentials"])
            .arg(&missing)
            .arg("--data")
            .arg(dir.path().join(format!("data-{mode}")))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{mode}: {err}");
        assert!(
            err.contains("no-such-credentials"),
            "{mode}: names the folder: {err}"
        );
        assert_eq!(
            count(&err, "No such file or directory (os error 2)"),
            1,
            "{mode}: the OS error once: {err}"
        );
        assert!(
            !dir.path().join(format!("data-{mode}")).exists(),
            "{mode}: no data folder left behind"
        );
    }
}
