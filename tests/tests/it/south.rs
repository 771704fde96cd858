//! Identities and the CO's south listener: `edgectl co enroll` writes a
//! credentials folder whose certificate (SPIFFE ID in its URI SAN, signed by
//! the CO's CA) lets a site's Local Orchestrator read — and only read — its own
//! site's repository over mutual TLS; other identities get a 403 problem,
//! callers without a certificate do not get past the handshake, and
//! `edgectl co revoke` makes the next request fail. The real `git` CLI is the
//! client.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Command, Output};

use edge_tests::co::{Co, fails, ok};

fn server(creds: &Path) -> String {
    let text = fs::read_to_string(creds.join("edged.toml")).unwrap();
    let line = text.lines().find(|l| l.starts_with("server = ")).unwrap();
    line.trim_start_matches("server = ")
        .trim_matches('"')
        .to_owned()
}

/// `git` with the credentials of `creds` (or none), trusting only the CO's CA.
fn git_as(creds: Option<&Path>, ca: &Path, args: &[&str]) -> Output {
    let mut c = Command::new("git");
    c.env("GIT_SSL_CAINFO", ca)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0");
    if let Some(creds) = creds {
        c.arg("-c").arg(format!(
            "http.sslCert={}",
            creds.join("identity.crt").display()
        ));
        c.arg("-c").arg(format!(
            "http.sslKey={}",
            creds.join("identity.key").display()
        ));
    }
    c.args(["-c", "user.name=t", "-c", "user.email=t@t"])
        .args(args)
        .output()
        .unwrap()
}

fn setup(co: &Co) {
    ok(&co.edgectl(&[
        "co",
        "add",
        "app",
        "--artifact",
        "fixtures/packages/hello-wasm",
    ]));
    for site in ["plant-1", "plant-2"] {
        ok(&co.edgectl(&["co", "add", "site", site]));
    }
    ok(&co.edgectl(&["co", "add", "device", "edge-1", "--site", "plant-1"]));
    ok(&co.edgectl(&["co", "add", "device", "gw1/cam-1", "--site", "plant-1"]));
    ok(&co.edgectl(&["co", "deploy", "--app", "hello-wasm", "--site", "plant-1"]));
}

#[test]
fn an_lo_reads_its_own_site_repository_over_mtls_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let co = Co::start(&dir.path().join("co"), &[]);
    setup(&co);
    let (lo1, lo2, dev) = (
        dir.path().join("lo1"),
        dir.path().join("lo2"),
        dir.path().join("dev"),
    );
    let out = ok(&co.edgectl(&[
        "co",
        "enroll",
        "--site",
        "plant-1",
        "--lo",
        "--out",
        lo1.to_str().unwrap(),
    ]));
    assert!(
        out.contains("enrolled spiffe://edge.local/margo/wfm/plant-1 "),
        "{out}"
    );
    ok(&co.edgectl(&[
        "co",
        "enroll",
        "--site",
        "plant-2",
        "--lo",
        "--out",
        lo2.to_str().unwrap(),
    ]));
    ok(&co.edgectl(&[
        "co",
        "enroll",
        "--site",
        "plant-1",
        "--device",
        "edge-1",
        "--out",
        dev.to_str().unwrap(),
    ]));
    assert_eq!(
        fs::metadata(lo1.join("identity.key"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    assert_eq!(
        fs::metadata(&lo1).unwrap().permissions().mode() & 0o777,
        0o700
    );
    assert!(
        fs::read_to_string(dev.join("edged.toml"))
            .unwrap()
            .contains("spiffe://edge.local/margo/wfm/plant-1/client/edge-1")
    );
    let ca = lo1.join("ca.crt");
    let url = format!("{}/git/plant-1.git", server(&lo1));

    // The site's LO clones and follows new commits.
    let clone = dir.path().join("clone");
    ok(&git_as(
        Some(&lo1),
        &ca,
        &["clone", "-q", &url, clone.to_str().unwrap()],
    ));
    let files = |d: &Path| fs::read_dir(d.join("deployments")).unwrap().count();
    assert_eq!(files(&clone), 2, "one deployment per device of the site");
    let site_repo = co.data.join("sites/plant-1");
    ok(&co.edgectl(&[
        "co",
        "deploy",
        "--app",
        "hello-wasm",
        "--site",
        "plant-1",
        "--device",
        "edge-1",
    ]));
    ok(&git_as(
        Some(&lo1),
        &ca,
        &["-C", clone.to_str().unwrap(), "pull", "-q"],
    ));
    assert_eq!(files(&clone), 3);
    assert_eq!(
        edge_tests::co::git(&clone, &["rev-parse", "HEAD"]),
        edge_tests::co::git(&site_repo, &["rev-parse", "HEAD"]),
    );

    // Pushes are refused and change nothing.
    fs::write(clone.join("evil.txt"), "x").unwrap();
    ok(&git_as(
        None,
        &ca,
        &["-C", clone.to_str().unwrap(), "add", "evil.txt"],
    ));
    ok(&git_as(
        None,
        &ca,
        &["-C", clone.to_str().unwrap(), "commit", "-qm", "evil"],
    ));
    let push = git_as(
        Some(&lo1),
        &ca,
        &[
            "-C",
            clone.to_str().unwrap(),
            "push",
            "-q",
            "origin",
            "HEAD:main",
        ],
    );
    assert!(!push.status.success());
    assert!(
        String::from_utf8_lossy(&push.stderr).contains("error: 403"),
        "{}",
        String::from_utf8_lossy(&push.stderr)
    );
    assert!(!site_repo.join("evil.txt").exists());

    // Another site's LO and a device are refused; no certificate, no handshake.
    for (who, creds) in [("plant-2 LO", &lo2), ("device", &dev)] {
        let o = git_as(
            Some(creds),
            &ca,
            &["clone", "-q", &url, dir.path().join(who).to_str().unwrap()],
        );
        assert!(!o.status.success(), "{who} read the repository");
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("error: 403"),
            "{who}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let o = git_as(
        None,
        &ca,
        &[
            "clone",
            "-q",
            &url,
            dir.path().join("anon").to_str().unwrap(),
        ],
    );
    assert!(!o.status.success());
    assert!(
        !String::from_utf8_lossy(&o.stderr).contains("error: 403"),
        "refused in the handshake, before any HTTP answer"
    );

    // Revocation takes effect on the next request.
    let out = ok(&co.edgectl(&["co", "revoke", "--site", "plant-1", "--lo"]));
    assert!(out.contains("revoked 1 identity"), "{out}");
    let o = git_as(
        Some(&lo1),
        &ca,
        &["-C", clone.to_str().unwrap(), "fetch", "-q"],
    );
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("error: 403"));
    fails(
        &co.edgectl(&["co", "revoke", "--site", "plant-1", "--lo"]),
        "no active identity",
    );
}

#[test]
fn identities_survive_a_restart_and_bad_enrolments_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("co");
    let co = Co::start(&data, &[]);
    setup(&co);
    let lo = dir.path().join("lo");
    ok(&co.edgectl(&[
        "co",
        "enroll",
        "--site",
        "plant-1",
        "--lo",
        "--out",
        lo.to_str().unwrap(),
    ]));

    fails(
        &co.edgectl(&[
            "co",
            "enroll",
            "--site",
            "nowhere",
            "--lo",
            "--out",
            dir.path().join("a").to_str().unwrap(),
        ]),
        "no site `nowhere`",
    );
    fails(
        &co.edgectl(&[
            "co",
            "enroll",
            "--site",
            "plant-2",
            "--device",
            "edge-1",
            "--out",
            dir.path().join("b").to_str().unwrap(),
        ]),
        "belongs to site `plant-1`",
    );
    fails(
        &co.edgectl(&[
            "co",
            "enroll",
            "--site",
            "plant-1",
            "--device",
            "gw1/cam-1",
            "--out",
            dir.path().join("c").to_str().unwrap(),
        ]),
        "cannot be enrolled directly",
    );
    fails(
        &co.edgectl(&[
            "co",
            "enroll",
            "--site",
            "plant-1",
            "--lo",
            "--out",
            lo.to_str().unwrap(),
        ]),
        "is not empty",
    );
    assert!(!dir.path().join("a").exists() && !dir.path().join("b").exists());
    assert_eq!(
        fs::metadata(data.join("ca/ca.key"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    fails(&co.edgectl(&["co", "add", "site", "co"]), "reserved");
    assert!(co.stop().success());

    // The CA belongs to its trust domain: starting with another one is refused.
    let other = Command::new(edge_tests::co::bin("edged"))
        .args([
            "--mode",
            "co",
            "--listen",
            "127.0.0.1:0",
            "--south-listen",
            "127.0.0.1:0",
            "--trust-domain",
            "corp.example",
            "--data",
        ])
        .arg(&data)
        .output()
        .unwrap();
    assert_eq!(other.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&other.stderr).contains("belongs to trust domain `edge.local`"),
        "{}",
        String::from_utf8_lossy(&other.stderr)
    );

    // Same data, new process and port: the CA and the identity still hold.
    let co = Co::start(&data, &[]);
    let fresh = dir.path().join("fresh");
    ok(&co.edgectl(&[
        "co",
        "enroll",
        "--site",
        "plant-1",
        "--device",
        "edge-1",
        "--out",
        fresh.to_str().unwrap(),
    ]));
    let url = format!("{}/git/plant-1.git", server(&fresh));
    ok(&git_as(
        Some(&lo),
        &lo.join("ca.crt"),
        &[
            "clone",
            "-q",
            &url,
            dir.path().join("clone").to_str().unwrap(),
        ],
    ));
}
