//! What an attacker with a stick, or with the CA key, can make: a stick's
//! statement signed again (with the CO's CA key read from its data folder,
//! or with another CA's), and a certificate for any SPIFFE ID signed by a
//! CA key but never issued by the CO, made as the attacker likes (a leaf
//! that may sign certificates, say).

use std::path::Path;

use edge_workspace::stick::{self, StickManifest};
use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};

/// The CO's CA key (PEM), read from its data folder.
///
/// # Panics
/// When it cannot be read.
#[must_use]
pub fn ca_key(co_data: &Path) -> String {
    std::fs::read_to_string(co_data.join("ca/ca.key")).unwrap()
}

/// A fresh key of another CA (PEM).
///
/// # Panics
/// When no key can be made.
#[must_use]
pub fn other_key() -> String {
    KeyPair::generate().unwrap().serialize_pem()
}

/// The stick's `stick.json`.
///
/// # Panics
/// When it does not read.
#[must_use]
pub fn manifest(stick: &Path) -> StickManifest {
    serde_json::from_slice(&std::fs::read(stick.join(stick::MANIFEST)).unwrap()).unwrap()
}

/// Write `m` as the stick's `stick.json`, signed with `key_pem`.
///
/// # Panics
/// When the key does not read or the file cannot be written.
pub fn write_signed(stick: &Path, mut m: StickManifest, key_pem: &str) {
    let key = KeyPair::from_pem(key_pem).unwrap();
    let sig = rcgen::SigningKey::sign(&key, &m.statement().bytes()).unwrap();
    m.signature = stick::signed::to_hex(&sig);
    write(stick, &m);
}

/// Write `m` as the stick's `stick.json` as it is (signature included);
/// empty lists and an empty signature are left out, as a stick without
/// them is written.
///
/// # Panics
/// When the file cannot be written.
pub fn write(stick: &Path, m: &StickManifest) {
    let mut v = serde_json::to_value(m).unwrap();
    for key in ["revoked", "issued", "signature"] {
        let empty = match &v[key] {
            serde_json::Value::Array(a) => a.is_empty(),
            serde_json::Value::String(s) => s.is_empty(),
            _ => false,
        };
        if empty && let Some(o) = v.as_object_mut() {
            o.remove(key);
        }
    }
    std::fs::write(
        stick.join(stick::MANIFEST),
        serde_json::to_vec_pretty(&v).unwrap(),
    )
    .unwrap();
}

/// A certificate and key (PEM) for `spiffe_id`, signed by the CA whose
/// key is `ca_key_pem` and certificate `ca_cert_pem`, as a client.
///
/// # Panics
/// When the CA does not read or the certificate cannot be made.
#[must_use]
pub fn client_cert(ca_cert_pem: &str, ca_key_pem: &str, spiffe_id: &str) -> (String, String) {
    cert_with(ca_cert_pem, ca_key_pem, spiffe_id, |_| {})
}

/// [`client_cert`] with its parameters changed by `edit` before signing
/// (key usages, extended key usages, validity, names).
///
/// # Panics
/// When the CA does not read or the certificate cannot be made.
#[must_use]
pub fn cert_with(
    ca_cert_pem: &str,
    ca_key_pem: &str,
    spiffe_id: &str,
    edit: impl FnOnce(&mut CertificateParams),
) -> (String, String) {
    let ca_key = KeyPair::from_pem(ca_key_pem).unwrap();
    // The issuer named as the CA certificate names itself.
    let (_, pem) = x509_parser::pem::parse_x509_pem(ca_cert_pem.as_bytes()).unwrap();
    let ca = pem.parse_x509().unwrap();
    let cn = ca
        .subject()
        .iter_common_name()
        .next()
        .unwrap()
        .as_str()
        .unwrap();
    let mut ca_params = CertificateParams::default();
    let mut ca_dn = DistinguishedName::new();
    ca_dn.push(DnType::CommonName, cn);
    ca_params.distinguished_name = ca_dn;
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, spiffe_id);
    p.distinguished_name = dn;
    p.subject_alt_names
        .push(SanType::URI(spiffe_id.try_into().unwrap()));
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    edit(&mut p);
    let cert = p.signed_by(&key, &issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}
