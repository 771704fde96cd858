//! Identities and the CO's south listener: `edgectl co enroll` writes a
//! credentials folder whose certificate (SPIFFE ID in its URI SAN, signed by
//! the CO's CA) lets a site's Local Orchestrator read — and only read — its own
//! site's repository over mutual TLS; other identities get a 403 problem,
//! callers without a certificate do not get past the handshake, and
//! `edgectl co revoke` makes the next request fail. The real `git` CLI is the
//! client.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
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
    co.add_app("fixtures/packages/hello-wasm");
    for site in ["plant-1", "plant-2"] {
        ok(&co.edgectl(&["co", "add", "site", site]));
    }
    ok(&co.edgectl(&["co", "add", "device", "edge-1", "--site", "plant-1"]));
    ok(&co.edgectl(&["co", "add", "device", "gw1", "--site", "plant-1"]));
    ok(&co.edgectl(&["co", "add", "device", "gw1/cam-1", "--site", "plant-1"]));
    ok(&co.edgectl(&[
        "co",
        "deploy",
        "--app",
        "hello-wasm",
        "--site",
        "plant-1",
        "--allow-unreported",
    ]));
}

/// `edgectl co enroll --site <site> <who...> --out <out>`.
fn enroll(co: &Co, site: &str, who: &[&str], out: &Path) -> Output {
    let mut args = vec!["co", "enroll", "--site", site];
    args.extend_from_slice(who);
    args.extend(["--out", out.to_str().unwrap()]);
    co.edgectl(&args)
}

/// Credentials folders enrolled at the CO: plant-1's LO, plant-2's LO and a
/// device of plant-1, with the CA and plant-1's repository URL.
struct Ids {
    lo1: PathBuf,
    lo2: PathBuf,
    dev: PathBuf,
    ca: PathBuf,
    url: String,
}

#[test]
fn an_lo_reads_its_own_site_repository_over_mtls_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let co = Co::start(&dir.path().join("co"), &[]);
    setup(&co);
    let ids = enrolment_writes_private_credentials_with_a_spiffe_id(&co, dir.path());
    let clone = the_site_lo_clones_and_follows_new_commits(&co, &ids, dir.path());
    pushes_are_refused_and_change_nothing(&co, &ids, &clone);
    other_identities_get_403_and_no_certificate_no_handshake(&ids, dir.path());
    revocation_takes_effect_on_the_next_request(&co, &ids, &clone);
}

/// Enrolment names the SPIFFE ID, keeps the key and its folder private, and
/// writes the device's ID into its `edged.toml`.
fn enrolment_writes_private_credentials_with_a_spiffe_id(co: &Co, dir: &Path) -> Ids {
    let (lo1, lo2, dev) = (dir.join("lo1"), dir.join("lo2"), dir.join("dev"));
    let out = ok(&enroll(co, "plant-1", &["--lo"], &lo1));
    assert!(
        out.contains("enrolled spiffe://edge.local/margo/wfm/plant-1 "),
        "{out}"
    );
    ok(&enroll(co, "plant-2", &["--lo"], &lo2));
    ok(&enroll(co, "plant-1", &["--device", "edge-1"], &dev));
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
    Ids {
        lo1,
        lo2,
        dev,
        ca,
        url,
    }
}

fn deployments(d: &Path) -> usize {
    fs::read_dir(d.join("deployments")).unwrap().count()
}

/// The site's LO clones (one deployment per device of the site) and pulls
/// a new deployment, reaching the CO's HEAD. Returns the clone.
fn the_site_lo_clones_and_follows_new_commits(co: &Co, ids: &Ids, dir: &Path) -> PathBuf {
    let clone = dir.join("clone");
    ok(&git_as(
        Some(&ids.lo1),
        &ids.ca,
        &["clone", "-q", &ids.url, clone.to_str().unwrap()],
    ));
    assert_eq!(
        deployments(&clone),
        3,
        "one deployment per device of the site"
    );
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
        "--name",
        "second",
        "--allow-unreported",
    ]));
    ok(&git_as(
        Some(&ids.lo1),
        &ids.ca,
        &["-C", clone.to_str().unwrap(), "pull", "-q"],
    ));
    assert_eq!(deployments(&clone), 4, "edge-1 twice, gw1 and gw1/cam-1");
    assert_eq!(
        edge_tests::co::git(&clone, &["rev-parse", "HEAD"]),
        edge_tests::co::git(&site_repo, &["rev-parse", "HEAD"]),
    );
    clone
}

/// A push from the LO's clone gets a 403 and changes nothing at the CO.
fn pushes_are_refused_and_change_nothing(co: &Co, ids: &Ids, clone: &Path) {
    let site_repo = co.data.join("sites/plant-1");
    fs::write(clone.join("evil.txt"), "x").unwrap();
    ok(&git_as(
        None,
        &ids.ca,
        &["-C", clone.to_str().unwrap(), "add", "evil.txt"],
    ));
    ok(&git_as(
        None,
        &ids.ca,
        &["-C", clone.to_str().unwrap(), "commit", "-qm", "evil"],
    ));
    let push = git_as(
        Some(&ids.lo1),
        &ids.ca,
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
}

/// Another site's LO and a device get a 403; a caller without a certificate
/// is refused in the TLS handshake.
fn other_identities_get_403_and_no_certificate_no_handshake(ids: &Ids, dir: &Path) {
    for (who, creds) in [("plant-2 LO", &ids.lo2), ("device", &ids.dev)] {
        let o = git_as(
            Some(creds),
            &ids.ca,
            &["clone", "-q", &ids.url, dir.join(who).to_str().unwrap()],
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
        &ids.ca,
        &["clone", "-q", &ids.url, dir.join("anon").to_str().unwrap()],
    );
    assert!(!o.status.success());
    assert!(
        !String::from_utf8_lossy(&o.stderr).contains("error: 403"),
        "refused in the handshake, before any HTTP answer"
    );
}

/// `edgectl co revoke` makes the LO's next fetch fail; revoking again finds
/// no active identity.
fn revocation_takes_effect_on_the_next_request(co: &Co, ids: &Ids, clone: &Path) {
    let out = ok(&co.edgectl(&["co", "revoke", "--site", "plant-1", "--lo"]));
    assert!(out.contains("revoked 1 identity"), "{out}");
    let o = git_as(
        Some(&ids.lo1),
        &ids.ca,
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
    ok(&enroll(&co, "plant-1", &["--lo"], &lo));
    bad_enrolments_are_refused_and_write_nothing(&co, dir.path(), &lo);
    the_ca_key_is_private_and_co_is_a_reserved_site_name(&co, &data);
    assert!(co.stop().success());
    the_ca_refuses_to_start_in_another_trust_domain(&data);
    the_ca_and_the_identity_still_hold_after_a_restart(&data, dir.path(), &lo);
}

/// Enrolments for an unknown site, a device of another site, a device
/// behind a gateway (it has no client of its own: its gateway's identity
/// serves it), or into a non-empty folder are refused, each saying why, and
/// write no folder.
fn bad_enrolments_are_refused_and_write_nothing(co: &Co, dir: &Path, lo: &Path) {
    fails(
        &enroll(co, "nowhere", &["--lo"], &dir.join("a")),
        "no site `nowhere`",
    );
    fails(
        &enroll(co, "plant-2", &["--device", "edge-1"], &dir.join("b")),
        "belongs to site `plant-1`",
    );
    fails(
        &enroll(co, "plant-1", &["--device", "gw1/cam-1"], &dir.join("c")),
        "the gateway's identity serves it",
    );
    fails(&enroll(co, "plant-1", &["--lo"], lo), "is not empty");
    assert!(!dir.join("a").exists() && !dir.join("b").exists());
}

/// The CA's key is readable by its owner only; `co` cannot name a site.
fn the_ca_key_is_private_and_co_is_a_reserved_site_name(co: &Co, data: &Path) {
    assert_eq!(
        fs::metadata(data.join("ca/ca.key"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    fails(&co.edgectl(&["co", "add", "site", "co"]), "reserved");
}

/// The CA belongs to its trust domain: starting with another one is refused.
fn the_ca_refuses_to_start_in_another_trust_domain(data: &Path) {
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
        .arg(data)
        .output()
        .unwrap();
    assert_eq!(other.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&other.stderr).contains("belongs to trust domain `edge.local`"),
        "{}",
        String::from_utf8_lossy(&other.stderr)
    );
}

/// Same data, new process and port: a new device enrols, and the LO's
/// identity from before the restart still clones.
fn the_ca_and_the_identity_still_hold_after_a_restart(data: &Path, dir: &Path, lo: &Path) {
    let co = Co::start(data, &[]);
    let fresh = dir.join("fresh");
    ok(&enroll(&co, "plant-1", &["--device", "edge-1"], &fresh));
    let url = format!("{}/git/plant-1.git", server(&fresh));
    ok(&git_as(
        Some(lo),
        &lo.join("ca.crt"),
        &["clone", "-q", &url, dir.join("clone").to_str().unwrap()],
    ));
}
