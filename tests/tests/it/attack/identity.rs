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

use std::path::{Path, PathBuf};

use edge_tests::co::copy_tree;
use edge_tests::fleet::{Fleet, enroll, fleet, unrouted};
use edge_tests::forge;
use edge_tests::lo::{Lo, Margo};
use edge_tests::wait::until_or;

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
    let dir = f.dir.path().join(name);
    copy_tree(like, &dir);
    let ca = std::fs::read_to_string(dir.join("ca.crt")).unwrap();
    let (cert, key) = forge::client_cert(&ca, &forge::ca_key(&f.co.data), spiffe_id);
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
