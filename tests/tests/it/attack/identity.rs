//! Attacks on identity: re-enrolment leaving an old certificate usable,
//! certificates that chain to the CA but were never issued by the CO, revoked
//! identities after restarts.
//!
//! A device enrolled again: its earlier certificate is refused by the LO
//! (the CO revokes it and the LO hears so), and still after the LO
//! restarts with the CO out of reach. A certificate signed with the CA's
//! own key (read from the CO's data folder) for a well-formed SPIFFE ID of
//! the site — an enrolled device's or an unknown one's — is refused: the LO
//! accepts only certificates the CO issued.
//!
//! A leaf signed with the CA's key that may itself sign certificates
//! (`keyCertSign`) is no X.509-SVID: the LO's listener and the CO's south
//! listener refuse it in the handshake (where one without that key usage
//! gets an answer, a 403), and a real node refuses a fleet manager that
//! presents one (where it talks to one presenting a proper leaf).

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use edge_tests::co::copy_tree;
use edge_tests::en::En;
use edge_tests::fleet::{Fleet, enroll, fleet, south_url, unrouted};
use edge_tests::forge;
use edge_tests::lo::{Lo, Margo};
use edge_tests::wait::until_or;
use rcgen::{CertificateParams, ExtendedKeyUsagePurpose, KeyUsagePurpose};

const PATH: &str = "/api/v1/deployments";

/// The status and body the LO answers `creds` with.
fn ask(creds: &Path, lo: &Lo) -> (u16, String) {
    let r = Margo::new(creds, &lo.url, "plant-1").get(PATH, &[]);
    (r.status, String::from_utf8_lossy(&r.body).into_owned())
}

#[test]
fn re_enrolment_locks_the_old_certificate_out_even_after_a_restart() {
    let f = fleet();
    let lo_data = f.dir.path().join("lo");
    let lo = Lo::start(&f.lo_creds, &lo_data, &[]);
    assert_eq!(ask(&f.d1, &lo).0, 200);
    let again = enroll(
        &f.co,
        &f.dir.path().join("again"),
        "plant-1",
        Some("edge-1"),
    );
    until_or(
        "the LO refusing edge-1's earlier certificate",
        || {
            let (status, body) = ask(&f.d1, &lo);
            (status == 403 && body.contains("was revoked")).then_some(())
        },
        || lo.log(),
    );
    assert_eq!(ask(&again, &lo).0, 200, "the new certificate is accepted");
    lo.kill();
    // The CO out of reach: what the LO learned is on its disk.
    let creds = unrouted(&f.lo_creds, &f.dir.path().join("lo-creds"));
    let lo = Lo::start(&creds, &lo_data, &[]);
    let (status, body) = ask(&f.d1, &lo);
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("was revoked"), "{body}");
    assert_eq!(ask(&again, &lo).0, 200);
    assert_eq!(ask(&f.d2, &lo).0, 200);
}

/// A copy of `like`'s credentials folder with a certificate for `spiffe_id`
/// made with the CO's CA key.
fn minted(f: &Fleet, like: &Path, spiffe_id: &str, name: &str) -> PathBuf {
    minted_with(f, like, spiffe_id, name, |_| {})
}

/// [`minted`], the certificate's parameters changed by `edit`.
fn minted_with(
    f: &Fleet,
    like: &Path,
    spiffe_id: &str,
    name: &str,
    edit: impl FnOnce(&mut CertificateParams),
) -> PathBuf {
    let dir = f.dir.path().join(name);
    copy_tree(like, &dir);
    let ca = std::fs::read_to_string(dir.join("ca.crt")).unwrap();
    let (cert, key) = forge::cert_with(&ca, &forge::ca_key(&f.co.data), spiffe_id, edit);
    std::fs::write(dir.join("identity.crt"), cert).unwrap();
    std::fs::write(dir.join("identity.key"), key).unwrap();
    let toml = std::fs::read_to_string(dir.join("edged.toml")).unwrap();
    let toml = toml
        .lines()
        .map(|l| {
            if l.starts_with("spiffe_id = ") {
                format!("spiffe_id = \"{spiffe_id}\"")
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(dir.join("edged.toml"), toml + "\n").unwrap();
    dir
}

#[test]
fn a_certificate_the_co_never_issued_is_refused_by_the_lo() {
    let f = fleet();
    let lo = Lo::start(&f.lo_creds, &f.dir.path().join("lo"), &[]);
    assert_eq!(ask(&f.d1, &lo).0, 200);
    for (device, name) in [("edge-1", "minted-1"), ("edge-7", "minted-7")] {
        let id = format!("spiffe://edge.local/margo/wfm/plant-1/client/{device}");
        let creds = minted(&f, &f.d1, &id, name);
        let (status, body) = ask(&creds, &lo);
        assert_eq!(status, 403, "{device}: {body}");
        assert!(
            body.contains("is not one the CO issued for site `plant-1`"),
            "{device}: {body}"
        );
    }
    assert_eq!(ask(&f.d1, &lo).0, 200, "the issued one still is");
}

/// What makes a leaf a signer: the key usage only a CA may have.
fn signer(p: &mut CertificateParams) {
    p.key_usages.push(KeyUsagePurpose::KeyCertSign);
}

#[test]
fn a_leaf_that_may_sign_certificates_is_refused_by_every_listener() {
    let f = fleet();
    let lo = Lo::start(&f.lo_creds, &f.dir.path().join("lo"), &[]);
    let south = south_url(&f.lo_creds);
    let device = "spiffe://edge.local/margo/wfm/plant-1/client/edge-1";
    let site_lo = "spiffe://edge.local/margo/wfm/plant-1";
    for (what, like, id, url, server, log) in [
        (
            "the LO",
            &f.d1,
            device,
            lo.url.as_str(),
            "plant-1",
            &(|| lo.log()) as &dyn Fn() -> String,
        ),
        (
            "the CO's south listener",
            &f.lo_creds,
            site_lo,
            south.as_str(),
            "co",
            &(|| f.co.log()) as &dyn Fn() -> String,
        ),
    ] {
        // A leaf like the CO's, never issued: the handshake passes and the
        // request is refused.
        let plain = minted(&f, like, id, &format!("plain-{server}"));
        let r = Margo::new(&plain, url, server)
            .send("GET", PATH, &[], None)
            .unwrap_or_else(|e| panic!("{what}: no answer to a plain leaf: {e}"));
        assert_eq!(r.status, 403, "{what}");
        // The same with keyCertSign: no session at all, and the log says why.
        let bad = minted_with(&f, like, id, &format!("signer-{server}"), signer);
        let r = Margo::new(&bad, url, server).send("GET", PATH, &[], None);
        assert!(r.is_err(), "{what} answered a signing leaf: {r:?}");
        until_or(
            &format!("{what} logging why it refused the leaf"),
            || {
                log()
                    .contains("its key usage allows keyCertSign")
                    .then_some(())
            },
            log,
        );
    }
    // The CO's own leaves still pass.
    assert_eq!(ask(&f.d1, &lo).0, 200);
    lo.kill();
}

/// A TLS 1.3 server on loopback presenting `cert_pem`/`key_pem` (as a
/// fleet manager would) that answers nothing: each handshake's outcome is
/// sent on the channel, the error as text.
fn fake_fleet_manager(
    cert_pem: &str,
    key_pem: &str,
) -> (String, mpsc::Receiver<Result<(), String>>) {
    use rustls::pki_types::pem::PemObject as _;
    let cert = rustls::pki_types::CertificateDer::from_pem_slice(cert_pem.as_bytes()).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .unwrap(),
    );
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("https://{}", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for tcp in listener.incoming() {
            let Ok(mut tcp) = tcp else { continue };
            tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut conn = rustls::ServerConnection::new(config.clone()).unwrap();
            let mut outcome = Ok(());
            while conn.is_handshaking() {
                if let Err(e) = conn.complete_io(&mut tcp) {
                    outcome = Err(e.to_string());
                    break;
                }
            }
            // The test has its answer and dropped the receiver: stop.
            if tx.send(outcome).is_err() {
                break;
            }
        }
    });
    (url, rx)
}

/// Start a node with `creds` against a fake fleet manager presenting a
/// leaf for the site's LO made with the CA key and changed by `edit`; the
/// first handshake's outcome as the fake server saw it, and the node.
fn node_meets(
    f: &Fleet,
    creds: &Path,
    name: &str,
    edit: impl FnOnce(&mut CertificateParams),
) -> (Result<(), String>, En) {
    let ca = std::fs::read_to_string(creds.join("ca.crt")).unwrap();
    let (cert, key) = forge::cert_with(
        &ca,
        &forge::ca_key(&f.co.data),
        "spiffe://edge.local/margo/wfm/plant-1",
        |p| {
            p.extended_key_usages = vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ];
            edit(p);
        },
    );
    let (url, rx) = fake_fleet_manager(&cert, &key);
    let en = En::start(creds, &f.dir.path().join(name), &url, &[]);
    let outcome = until_or(
        &format!("the node ({name}) connecting to the fake fleet manager"),
        || rx.try_recv().ok(),
        || en.log(),
    );
    drop(rx);
    // Wakes the fake server, which finds no one listening and ends.
    let _ = TcpStream::connect(url.trim_start_matches("https://"));
    (outcome, en)
}

#[test]
fn a_node_refuses_a_fleet_manager_whose_leaf_may_sign_certificates() {
    let f = fleet();
    let (outcome, en) = node_meets(&f, &f.d1, "en-signer", signer);
    let e = outcome.expect_err("the node completed a handshake with a signing leaf");
    assert!(e.contains("received fatal alert"), "{e}");
    until_or(
        "the node logging why it refused its fleet manager",
        || {
            en.log()
                .contains("its key usage allows keyCertSign")
                .then_some(())
        },
        || en.log(),
    );
    en.kill();
    // The same forgery without keyCertSign passes the node's SVID check (it
    // is then only a server the node cannot tell from its LO: the CA key
    // is the trust anchor).
    let (outcome, en) = node_meets(&f, &f.d2, "en-plain", |_| {});
    assert_eq!(outcome, Ok(()), "{}", en.log());
    en.kill();
}
