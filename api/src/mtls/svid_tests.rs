//! Each X.509-SVID rule, with certificates minted here (rcgen): a good
//! leaf passes, and each broken one is refused naming its rule, by
//! [`check_leaf`] and by both verifiers.

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::client::danger::ServerCertVerifier as _;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::ClientCertVerifier as _;

use super::*;
use crate::mtls::SpiffeServerVerifier;

const CLIENT: &str = "spiffe://edge.local/margo/wfm/plant-1/client/edge-1";
const LO: &str = "spiffe://edge.local/margo/wfm/plant-1";

struct Ca {
    cert: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
}

fn ca(name: &str) -> Ca {
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let cert = p.self_signed(&key).unwrap();
    Ca {
        cert: cert.der().clone(),
        issuer: Issuer::new(p, key),
    }
}

/// A leaf as the CO's CA issues one, changed by `edit`.
fn leaf(ca: &Ca, uris: &[&str], edit: impl FnOnce(&mut CertificateParams)) -> Vec<u8> {
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::default();
    for u in uris {
        p.subject_alt_names
            .push(SanType::URI((*u).try_into().unwrap()));
    }
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ClientAuth,
        ExtendedKeyUsagePurpose::ServerAuth,
    ];
    p.not_before = rcgen::date_time_ymd(2020, 1, 1);
    p.not_after = rcgen::date_time_ymd(2100, 1, 1);
    edit(&mut p);
    p.signed_by(&key, &ca.issuer).unwrap().der().to_vec()
}

fn now() -> i64 {
    i64::try_from(UnixTime::now().as_secs()).unwrap()
}

fn roots(ca: &Ca) -> Arc<rustls::RootCertStore> {
    let mut r = rustls::RootCertStore::empty();
    r.add(ca.cert.clone()).unwrap();
    Arc::new(r)
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// What a fleet manager's listener says of client leaf `der`.
fn as_client(ca: &Ca, der: &[u8]) -> Result<(), String> {
    let v = SvidClientVerifier::new(roots(ca), provider()).unwrap();
    v.verify_client_cert(&CertificateDer::from(der.to_vec()), &[], UnixTime::now())
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// What a client expecting `expected` says of server leaf `der`.
fn as_server(ca: &Ca, der: &[u8], expected: &str) -> Result<(), String> {
    let v = SpiffeServerVerifier {
        roots: crate::mtls::TrustRoots::new((*roots(ca)).clone()),
        expected: expected.to_owned(),
        provider: provider(),
    };
    let name = ServerName::try_from("anything.invalid").unwrap();
    v.verify_server_cert(
        &CertificateDer::from(der.to_vec()),
        &[],
        &name,
        &[],
        UnixTime::now(),
    )
    .map(|_| ())
    .map_err(|e| e.to_string())
}

#[test]
fn a_good_leaf_passes_every_check() {
    let ca = ca("edge CA");
    let good = leaf(&ca, &[CLIENT], |_| {});
    let id = check_leaf(&good, now()).unwrap();
    assert_eq!(
        (id.wfm.as_str(), id.client.as_deref()),
        ("plant-1", Some("edge-1"))
    );
    as_client(&ca, &good).unwrap();
    let server = leaf(&ca, &[LO], |_| {});
    as_server(&ca, &server, LO).unwrap();
    // A leaf without a key usage extension is not refused for it.
    let no_ku = leaf(&ca, &[CLIENT], |p| p.key_usages.clear());
    as_client(&ca, &no_ku).unwrap();
}

#[test]
fn each_broken_leaf_is_refused_naming_its_rule() {
    let ca = ca("edge CA");
    let cases: Vec<(&str, Vec<u8>, Refusal)> = vec![
        (
            "two URI SANs",
            leaf(
                &ca,
                &[
                    CLIENT,
                    "spiffe://edge.local/margo/wfm/plant-1/client/edge-2",
                ],
                |_| {},
            ),
            Refusal::UriSans(2),
        ),
        ("no URI SAN", leaf(&ca, &[], |_| {}), Refusal::UriSans(0)),
        (
            "a DNS name but no URI SAN",
            leaf(&ca, &[], |p| {
                p.subject_alt_names
                    .push(SanType::DnsName("edge-1".try_into().unwrap()));
            }),
            Refusal::UriSans(0),
        ),
        (
            "a non-spiffe URI",
            leaf(&ca, &["https://edge.local/margo/wfm/plant-1"], |_| {}),
            Refusal::NotSpiffe("https://edge.local/margo/wfm/plant-1".into()),
        ),
        (
            "a SPIFFE ID that is not Margo's",
            leaf(&ca, &["spiffe://edge.local/ns/default/sa/web"], |_| {}),
            Refusal::NotMargo("spiffe://edge.local/ns/default/sa/web".into()),
        ),
        (
            "an upper-case trust domain",
            leaf(&ca, &["spiffe://Edge.local/margo/wfm/plant-1"], |_| {}),
            Refusal::NotMargo("spiffe://Edge.local/margo/wfm/plant-1".into()),
        ),
        (
            "cA true",
            leaf(&ca, &[CLIENT], |p| {
                p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            }),
            Refusal::CaLeaf,
        ),
        (
            "keyCertSign",
            leaf(&ca, &[CLIENT], |p| {
                p.key_usages.push(KeyUsagePurpose::KeyCertSign);
            }),
            Refusal::KeyCertSign,
        ),
        (
            "cRLSign",
            leaf(&ca, &[CLIENT], |p| {
                p.key_usages.push(KeyUsagePurpose::CrlSign);
            }),
            Refusal::CrlSign,
        ),
        (
            "no digitalSignature",
            leaf(&ca, &[CLIENT], |p| {
                p.key_usages = vec![KeyUsagePurpose::KeyEncipherment];
            }),
            Refusal::NoDigitalSignature,
        ),
        (
            "expired",
            leaf(&ca, &[CLIENT], |p| {
                p.not_before = rcgen::date_time_ymd(2001, 1, 1);
                p.not_after = rcgen::date_time_ymd(2002, 1, 1);
            }),
            Refusal::Expired(rcgen::date_time_ymd(2002, 1, 1).unix_timestamp()),
        ),
        (
            "not yet valid",
            leaf(&ca, &[CLIENT], |p| {
                p.not_before = rcgen::date_time_ymd(2099, 1, 1);
            }),
            Refusal::NotYetValid(rcgen::date_time_ymd(2099, 1, 1).unix_timestamp()),
        ),
    ];
    for (what, der, want) in cases {
        assert_eq!(check_leaf(&der, now()), Err(want.clone()), "{what}");
        let said = as_client(&ca, &der).unwrap_err();
        assert!(
            said.contains(&want.to_string()),
            "{what}: listener said {said}"
        );
        let said = as_server(&ca, &der, CLIENT).unwrap_err();
        assert!(
            said.contains(&want.to_string()),
            "{what}: client said {said}"
        );
    }
}

#[test]
fn a_leaf_of_another_ca_is_refused_by_both_verifiers() {
    let (ours, theirs) = (ca("edge CA"), ca("edge CA"));
    let client = leaf(&theirs, &[CLIENT], |_| {});
    assert!(
        check_leaf(&client, now()).is_ok(),
        "the leaf itself is fine"
    );
    let said = as_client(&ours, &client).unwrap_err();
    assert!(
        said.contains("does not chain to the trust bundle"),
        "{said}"
    );
    let server = leaf(&theirs, &[LO], |_| {});
    let said = as_server(&ours, &server, LO).unwrap_err();
    assert!(
        said.contains("does not chain to the trust bundle"),
        "{said}"
    );
}

#[test]
fn a_client_expects_exactly_its_fleet_manager() {
    let ca = ca("edge CA");
    let other = leaf(&ca, &["spiffe://edge.local/margo/wfm/plant-2"], |_| {});
    let said = as_server(&ca, &other, LO).unwrap_err();
    assert!(
        said.contains("it is `spiffe://edge.local/margo/wfm/plant-2`, not `spiffe://edge.local/margo/wfm/plant-1`"),
        "{said}"
    );
    // A device's leaf is not a fleet manager's.
    let device = leaf(&ca, &[CLIENT], |_| {});
    assert!(as_server(&ca, &device, LO).is_err());
}

#[test]
fn margo_ids_split_exactly() {
    let lo = MargoId::parse(LO).unwrap();
    assert_eq!((lo.wfm.as_str(), lo.client), ("plant-1", None));
    let en = MargoId::parse(CLIENT).unwrap();
    assert_eq!(en.client.as_deref(), Some("edge-1"));
    let long = format!("spiffe://edge.local/margo/wfm/{}", "a".repeat(MAX_ID));
    for bad in [
        "https://edge.local/margo/wfm/a",
        "spiffe://edge.local/margo/wfm",
        "spiffe://edge.local/margo/wfm/a/client",
        "spiffe://edge.local/margo/wfm/a/client/b/c",
        "spiffe://edge.local/margo/wfm/a/other/b",
        "spiffe://edge.local/margo/wfm/../client/b",
        "spiffe://edge.local/margo/wfm/a/",
        "spiffe://edge.local:443/margo/wfm/a",
        "spiffe://user@edge.local/margo/wfm/a",
        "spiffe://edge.local/margo/wfm/a?x=1",
        "spiffe:///margo/wfm/a",
        long.as_str(),
    ] {
        assert!(MargoId::parse(bad).is_none(), "{bad}");
    }
}
