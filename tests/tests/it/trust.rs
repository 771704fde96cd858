//! The Margo Trust Bundle API (rc.3): the CO (north, with no token, and
//! south) and an LO serve their trust domain's discovery document and SPIFFE
//! bundle with ETags and `304`s; an edge node takes its trust anchors from
//! it instead of a copied `ca.crt`, recognizing the server by a pin on the
//! CA or by given roots, and never from a server it cannot authenticate.
//! A CA rotation reaches every LO and node through the bundle before the
//! new CA signs, so old and new identities work side by side.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use edge_api::trust::{self, BUNDLE_PATH, DISCOVERY_PATH};
use edge_tests::co::{bin, fails, ok};
use edge_tests::en::En;
use edge_tests::fleet::{self, deploy_hello, deploy_to, enroll, fleet, fleet_with, wait_state};
use edge_tests::lo::{Lo, Margo};
use edge_tests::wait::{until_or, within};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;

fn ca_der(pem: &[u8]) -> CertificateDer<'static> {
    CertificateDer::from_pem_slice(pem).unwrap()
}

/// The node's credentials without `ca.crt`, in a new folder.
fn without_ca(creds: &Path, to: &Path) -> std::path::PathBuf {
    std::fs::create_dir_all(to).unwrap();
    for f in ["identity.crt", "identity.key", "edged.toml"] {
        std::fs::copy(creds.join(f), to.join(f)).unwrap();
    }
    to.to_path_buf()
}

#[test]
fn every_fleet_manager_serves_the_bundle_and_a_node_bootstraps_its_trust_from_it() {
    let f = fleet();
    let ca = ca_der(&f.co.ca_pem());
    let http = f.co.http();

    // North: no token needed; the discovery document names the bundle on
    // the origin asked.
    let disc = http
        .get(format!("{}{DISCOVERY_PATH}", f.co.url))
        .send()
        .unwrap();
    assert_eq!(disc.status(), 200);
    let (td, uri) = trust::parse_discovery(&disc.bytes().unwrap()).unwrap();
    assert_eq!(td, "edge.local");
    assert_eq!(uri, format!("{}{BUNDLE_PATH}", f.co.url));
    let got = http.get(&uri).send().unwrap();
    assert_eq!(got.status(), 200);
    let etag = got.headers()["etag"].to_str().unwrap().to_owned();
    let north = got.bytes().unwrap().to_vec();
    let bundle = trust::parse_bundle(&north).unwrap();
    assert_eq!(bundle.anchors, [ca]);
    assert_eq!(bundle.sequence, Some(1));
    let again = http
        .get(&uri)
        .header("if-none-match", &etag)
        .send()
        .unwrap();
    assert_eq!(again.status(), 304);
    assert!(again.bytes().unwrap().is_empty());

    // South and the LO serve the same bundle to the identities they know.
    let south = Margo::new(&f.lo_creds, &fleet::south_url(&f.lo_creds), "co");
    let s = south.get(BUNDLE_PATH, &[]);
    assert_eq!((s.status, &s.body), (200, &north));
    let lo = Lo::start(&f.lo_creds, &f.dir.path().join("lo"), &[]);
    let margo = Margo::new(&f.d1, &lo.url, "plant-1");
    let l = margo.get(BUNDLE_PATH, &[]);
    assert_eq!((l.status, &l.body), (200, &north));
    assert_eq!(
        margo.get(BUNDLE_PATH, &[("if-none-match", &etag)]).status,
        304
    );
    let d = margo.get(DISCOVERY_PATH, &[]);
    assert_eq!(d.status, 200);
    assert_eq!(
        trust::parse_discovery(&d.body).unwrap().1,
        format!("{}{BUNDLE_PATH}", lo.url)
    );

    // A node with no ca.crt: enrolment printed the pin it needs.
    let creds = without_ca(&f.d1, &f.dir.path().join("d1-no-ca"));
    let pin = trust::pin_of_first(std::str::from_utf8(&f.co.ca_pem()).unwrap()).unwrap();
    let discovery = format!("{}{DISCOVERY_PATH}", f.co.url);
    let data = f.dir.path().join("en");
    let en = En::start(
        &creds,
        &data,
        &lo.url,
        &["--trust-bundle-uri", &discovery, "--trust-bundle-pin", &pin],
    );
    assert_eq!(
        std::fs::read(data.join("trust/bundle.json")).unwrap(),
        north,
        "the bundle kept is the one served"
    );
    let id = deploy_hello(&f.co, "edge-1");
    wait_state(&f.co, &id, "installed", || {
        format!("{}\n{}", en.log(), lo.log())
    });
    drop(en);

    // The LO away, the node starts on the bundle it kept, and says so.
    let lo_url = lo.url.clone();
    lo.kill();
    let en = En::start(
        &creds,
        &data,
        &lo_url,
        &[
            "--trust-bundle-uri",
            "https://127.0.0.1:9/.well-known/margo",
            "--trust-bundle-pin",
            &pin,
        ],
    );
    assert!(en.log().contains("using the one kept"), "{}", en.log());
}

/// `edged --mode en ARGS`, expected to fail at start: its exit status and
/// stderr (killed, and the test failed, if it is still running after 60 s).
fn failed_start(creds: &Path, data: &Path, args: &[&str]) -> (i32, String) {
    let mut child = Command::new(bin("edged"))
        .args(["--mode", "en", "--credentials"])
        .arg(creds)
        .arg("--data")
        .arg(data)
        .args(["--server", "https://127.0.0.1:9"])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = within(Duration::from_secs(60), Duration::from_millis(20), || {
        child.try_wait().unwrap()
    });
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("edged {args:?} did not fail at start");
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    (status.code().unwrap_or(-1), err)
}

#[test]
fn a_node_takes_no_bundle_from_a_server_it_cannot_authenticate() {
    let f = fleet();
    let creds = without_ca(&f.d1, &f.dir.path().join("d1-no-ca"));
    let discovery = format!("{}{DISCOVERY_PATH}", f.co.url);
    let data = f.dir.path().join("en");
    let wrong = format!("sha256:{}", "ab".repeat(32));

    // A pin no certificate of the server has.
    let (code, err) = failed_start(
        &creds,
        &data,
        &[
            "--trust-bundle-uri",
            &discovery,
            "--trust-bundle-pin",
            &wrong,
        ],
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("no trust bundle: the first one must come from"),
        "{err}"
    );
    assert!(err.contains("pinned fingerprint"), "{err}");
    // No pin and no roots: the system's roots do not know the CO's CA;
    // nothing is trusted on first use.
    let (code, err) = failed_start(&creds, &data, &["--trust-bundle-uri", &discovery]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("cannot fetch"), "{err}");
    assert!(
        !data.join("trust").exists(),
        "nothing kept from a failed contact"
    );
    // Plain HTTP is refused before any contact, and so is a malformed pin.
    let plain = discovery.replace("https://", "http://");
    let (code, err) = failed_start(&creds, &data, &["--trust-bundle-uri", &plain]);
    assert_ne!(code, 0);
    assert!(err.contains("is not an https:// URL"), "{err}");
    let (code, err) = failed_start(
        &creds,
        &data,
        &[
            "--trust-bundle-uri",
            &discovery,
            "--trust-bundle-pin",
            "sha256:AB",
        ],
    );
    assert_ne!(code, 0);
    assert!(err.contains("is not a pin"), "{err}");
    // The operator's roots authenticate it (the north certificate names
    // 127.0.0.1): the bundle is taken and kept.
    let roots = f.co.ca_file();
    let en = En::start(
        &creds,
        &data,
        "https://127.0.0.1:9",
        &[
            "--trust-bundle-uri",
            &discovery,
            "--trust-bundle-ca",
            roots.to_str().unwrap(),
        ],
    );
    assert!(data.join("trust/bundle.json").exists(), "{}", en.log());
    drop(en);
}

/// The `spiffe_sequence` of a bundle's bytes.
fn sequence(bytes: &[u8]) -> Option<u64> {
    trust::parse_bundle(bytes).ok()?.sequence
}

#[test]
fn a_ca_rotation_keeps_every_identity_working_and_new_ones_are_trusted_everywhere() {
    let f = fleet_with(&["--trust-refresh", "1"]);
    let lo = Lo::start(&f.lo_creds, &f.dir.path().join("lo"), &[]);
    let en1_data = f.dir.path().join("en1");
    let en1 = En::start(&f.d1, &en1_data, &lo.url, &[]);
    let logs = || format!("{}\n{}", en1.log(), lo.log());
    let first = deploy_hello(&f.co, "edge-1");
    wait_state(&f.co, &first, "installed", logs);

    // Stage: the bundle holds both CAs; the LO and the node take it.
    let staged: serde_json::Value =
        serde_json::from_str(&ok(&f.co.edgectl(&["co", "ca", "stage", "-o", "json"]))).unwrap();
    assert_eq!(staged["sequence"], 2);
    assert_eq!(staged["anchors"][0]["state"], "active");
    assert_eq!(staged["anchors"][1]["state"], "staged");
    let margo = Margo::new(&f.d1, &lo.url, "plant-1");
    until_or(
        "the LO serving the bundle with the staged CA",
        || (sequence(&margo.get(BUNDLE_PATH, &[]).body) == Some(2)).then_some(()),
        logs,
    );
    until_or(
        "the node keeping the bundle with the staged CA",
        || {
            let kept = std::fs::read(en1_data.join("trust/bundle.json")).ok()?;
            (sequence(&kept) == Some(2)).then_some(())
        },
        logs,
    );
    assert_eq!(
        trust::parse_bundle(&margo.get(BUNDLE_PATH, &[]).body)
            .unwrap()
            .anchors
            .len(),
        2
    );

    // Activate: a device enrolled now gets an identity of the new CA, and
    // the LO (enrolled under the old one) takes it at once.
    // (Refused until one refresh hint, a second here, has passed since staging.)
    let shown = until_or(
        "the staged CA activated",
        || {
            let out = f.co.edgectl(&["co", "ca", "activate"]);
            if !out.status.success() {
                fails(&out, "was staged");
                return None;
            }
            Some(String::from_utf8_lossy(&out.stdout).into_owned())
        },
        logs,
    );
    assert!(shown.contains("the new CA signs from now on"), "{shown}");
    let d2 = enroll(
        &f.co,
        &f.dir.path().join("after"),
        "plant-1",
        Some("edge-2"),
    );
    let ca_pem = std::fs::read_to_string(d2.join("ca.crt")).unwrap();
    assert_eq!(
        ca_pem.matches("BEGIN CERTIFICATE").count(),
        2,
        "a new identity trusts both CAs"
    );
    let en2 = En::start(&d2, &f.dir.path().join("en2"), &lo.url, &[]);
    let second = deploy_hello(&f.co, "edge-2");
    wait_state(&f.co, &second, "installed", || {
        format!("{}\n{}", en2.log(), lo.log())
    });

    // The node of the old CA keeps working through the LO.
    let third = deploy_to(&f.co, "hello-wasm", "edge-1", &["--name", "again"]);
    wait_state(&f.co, &third, "installed", logs);

    // Retiring the old CA waits for its identities (the LO's, edge-1's).
    let out = f.co.edgectl(&["co", "ca", "retire"]);
    fails(&out, "still valid");
    let shown: serde_json::Value =
        serde_json::from_str(&ok(&f.co.edgectl(&["co", "ca", "show", "-o", "json"]))).unwrap();
    assert_eq!(shown["anchors"][0]["generation"], 2);
    assert_eq!(shown["anchors"][1]["state"], "retired");
    assert_eq!(shown["sequence"], 3);
}
