//! The Margo Trust Bundle API (rc.3, `trust-bundle-api-1.0.0-rc.3.yaml`):
//! the discovery document (`/.well-known/margo`) and the SPIFFE bundle of a
//! trust domain, written by the fleet managers and read by a device that
//! bootstraps its trust from them.
//!
//! A SPIFFE bundle is a JWK Set: each trust anchor (a CA certificate) is one
//! key with `use: x509-svid`, its public key in JWK form and the certificate
//! itself as the only element of `x5c`; `spiffe_sequence` grows with every
//! change and `spiffe_refresh_hint` says how often to look again (seconds).
//! Written canonically (sorted keys, compact), so the same anchors always
//! give the same bytes and ETag. Read tolerantly where the API says so
//! (unknown members and keys of other uses ignored) and strictly where it
//! fails closed: a bundle without one usable X.509 anchor is refused, as is
//! a key whose certificate is not a CA or does not hold the key it names.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rustls::pki_types::CertificateDer;
use serde_json::{Map, Value, json};
use x509_parser::prelude::{FromDer as _, X509Certificate};
use x509_parser::public_key::PublicKey;

/// `/.well-known/margo`, the discovery document's path.
pub const DISCOVERY_PATH: &str = "/.well-known/margo";
/// Where our fleet managers serve their trust domain's SPIFFE bundle.
pub const BUNDLE_PATH: &str = "/.well-known/spiffe/bundle.json";
/// Longest discovery document or bundle read, bytes.
pub const MAX_BUNDLE: usize = 256 * 1024;
/// Most trust anchors one bundle may carry.
pub const MAX_ANCHORS: usize = 32;
/// The refresh hint our fleet managers give, seconds.
pub const REFRESH_HINT: u64 = 3600;

/// Why a discovery document or a bundle was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TrustError {
    /// Too big, not JSON, or not an object.
    #[error("is not a {what}: {detail}")]
    Malformed {
        /// "SPIFFE bundle" or "discovery document".
        what: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// A required member is missing or of the wrong type.
    #[error("has no usable `{0}`")]
    Missing(&'static str),
    /// `trustBundleUri` is not an absolute `https://` URL.
    #[error("names a trust bundle URI that is not https: `{0}` (a client must refuse it)")]
    NotHttps(String),
    /// No `x509-svid` key with a usable certificate: nothing to trust.
    #[error(
        "carries no X.509 trust anchor (no key with `use: x509-svid` and one CA certificate in `x5c`)"
    )]
    NoAnchor,
    /// An `x509-svid` key that cannot be an anchor.
    #[error("has an unusable x509-svid key #{index}: {detail}")]
    BadKey {
        /// Its place in `keys`, from 0.
        index: usize,
        /// What is wrong with it.
        detail: String,
    },
}

/// A SPIFFE bundle as read: its trust anchors (DER) and bookkeeping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    /// The X.509 trust anchors, in the bundle's order.
    pub anchors: Vec<CertificateDer<'static>>,
    /// `spiffe_sequence`, when given.
    pub sequence: Option<u64>,
    /// `spiffe_refresh_hint` in seconds, when given.
    pub refresh_hint: Option<u64>,
}

impl Bundle {
    /// The anchors as one PEM text (what a credentials folder's `ca.crt` holds).
    #[must_use]
    pub fn to_pem(&self) -> String {
        self.anchors.iter().map(|c| pem(c.as_ref())).collect()
    }
}

/// One certificate as PEM.
#[must_use]
pub fn pem(der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

/// The pin of the first certificate of a PEM text: `sha256:` and the
/// SHA-256 of its DER (what `edged --trust-bundle-pin` takes).
#[must_use]
pub fn pin_of_first(pem_text: &str) -> Option<String> {
    use rustls::pki_types::pem::PemObject as _;
    let der = CertificateDer::pem_slice_iter(pem_text.as_bytes())
        .next()?
        .ok()?;
    Some(edge_model::digest::sha256(der.as_ref()).to_string())
}

/// The SPIFFE bundle of `anchors` (CA certificates, DER), canonical JSON.
///
/// # Errors
/// When a certificate does not parse or holds a key type JWK cannot name.
pub fn bundle_json(
    anchors: &[CertificateDer<'_>],
    sequence: u64,
    refresh_hint: u64,
) -> Result<Vec<u8>, TrustError> {
    let mut keys = Vec::with_capacity(anchors.len());
    for (index, der) in anchors.iter().enumerate() {
        let bad = |detail: String| TrustError::BadKey { index, detail };
        let (_, cert) = X509Certificate::from_der(der.as_ref())
            .map_err(|e| bad(format!("the certificate does not parse: {e}")))?;
        let mut key = jwk(&cert).map_err(bad)?;
        key.insert("use".into(), json!("x509-svid"));
        key.insert("x5c".into(), json!([STANDARD.encode(der.as_ref())]));
        keys.push(Value::Object(key));
    }
    let doc = json!({
        "keys": keys,
        "spiffe_refresh_hint": refresh_hint,
        "spiffe_sequence": sequence,
    });
    Ok(edge_model::digest::canonical_json(&doc))
}

/// The discovery document of `trust_domain`, canonical JSON.
#[must_use]
pub fn discovery_json(trust_domain: &str, bundle_uri: &str) -> Vec<u8> {
    let doc = json!({ "trustBundleUri": bundle_uri, "trustDomain": trust_domain });
    edge_model::digest::canonical_json(&doc)
}

/// The public key of `cert` as JWK members (`kty` and its parameters).
fn jwk(cert: &X509Certificate<'_>) -> Result<Map<String, Value>, String> {
    let spki = cert.public_key();
    let parsed = spki
        .parsed()
        .map_err(|e| format!("its public key does not parse: {e}"))?;
    let mut m = Map::new();
    match parsed {
        PublicKey::EC(point) => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|oid| oid.to_id_string())
                .unwrap_or_default();
            let (crv, len) = match curve.as_str() {
                "1.2.840.10045.3.1.7" => ("P-256", 32),
                "1.3.132.0.34" => ("P-384", 48),
                "1.3.132.0.35" => ("P-521", 66),
                other => return Err(format!("its EC curve `{other}` has no JWK name")),
            };
            let data = point.data();
            if data.len() != 1 + 2 * len || data.first() != Some(&4) {
                return Err("its EC point is not an uncompressed point of its curve".into());
            }
            m.insert("kty".into(), json!("EC"));
            m.insert("crv".into(), json!(crv));
            m.insert("x".into(), json!(URL_SAFE_NO_PAD.encode(&data[1..=len])));
            m.insert("y".into(), json!(URL_SAFE_NO_PAD.encode(&data[1 + len..])));
        }
        PublicKey::RSA(rsa) => {
            m.insert("kty".into(), json!("RSA"));
            m.insert(
                "n".into(),
                json!(URL_SAFE_NO_PAD.encode(strip(rsa.modulus))),
            );
            m.insert(
                "e".into(),
                json!(URL_SAFE_NO_PAD.encode(strip(rsa.exponent))),
            );
        }
        _ if spki.algorithm.algorithm.to_id_string() == "1.3.101.112" => {
            m.insert("kty".into(), json!("OKP"));
            m.insert("crv".into(), json!("Ed25519"));
            m.insert(
                "x".into(),
                json!(URL_SAFE_NO_PAD.encode(spki.subject_public_key.data.as_ref())),
            );
        }
        _ => return Err("its key type has no JWK form here (EC, RSA or Ed25519)".into()),
    }
    Ok(m)
}

/// An unsigned big-endian integer without leading zero bytes.
fn strip(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|&x| x != 0)
        .unwrap_or(b.len().saturating_sub(1));
    &b[start..]
}

fn object(bytes: &[u8], what: &'static str) -> Result<Map<String, Value>, TrustError> {
    let malformed = |detail: String| TrustError::Malformed { what, detail };
    if bytes.len() > MAX_BUNDLE {
        return Err(malformed(format!("it is over {MAX_BUNDLE} bytes")));
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(malformed("it is not a JSON object".into())),
        Err(e) => Err(malformed(format!("it is not JSON: {e}"))),
    }
}

/// Read a discovery document: its trust domain and bundle URI (which must
/// be `https://`). Unknown members are ignored.
///
/// # Errors
/// When it is malformed, a member is missing, or the URI is not https.
pub fn parse_discovery(bytes: &[u8]) -> Result<(String, String), TrustError> {
    let m = object(bytes, "discovery document")?;
    let td = m
        .get("trustDomain")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or(TrustError::Missing("trustDomain"))?;
    let uri = m
        .get("trustBundleUri")
        .and_then(Value::as_str)
        .ok_or(TrustError::Missing("trustBundleUri"))?;
    if !uri.starts_with("https://") || uri.len() <= "https://".len() {
        return Err(TrustError::NotHttps(uri.to_owned()));
    }
    Ok((td.to_owned(), uri.to_owned()))
}

/// Read a SPIFFE bundle: every key with `use: x509-svid` must hold exactly
/// one CA certificate in `x5c` whose public key is the key's; other keys
/// (JWT-SVID signing keys, unknown uses) and unknown members are ignored.
///
/// # Errors
/// When it is malformed, an x509-svid key is unusable, or none is left.
pub fn parse_bundle(bytes: &[u8]) -> Result<Bundle, TrustError> {
    let m = object(bytes, "SPIFFE bundle")?;
    let keys = m
        .get("keys")
        .and_then(Value::as_array)
        .ok_or(TrustError::Missing("keys"))?;
    let mut anchors = Vec::new();
    for (index, key) in keys.iter().enumerate() {
        let Some(key) = key.as_object() else { continue };
        if key.get("use").and_then(Value::as_str) != Some("x509-svid") {
            continue;
        }
        let bad = |detail: &str| TrustError::BadKey {
            index,
            detail: detail.to_owned(),
        };
        let x5c = match key.get("x5c").and_then(Value::as_array) {
            Some(list) if list.len() == 1 => list,
            _ => return Err(bad("`x5c` must hold exactly one certificate")),
        };
        let der = x5c
            .first()
            .and_then(Value::as_str)
            .and_then(|s| STANDARD.decode(s).ok())
            .ok_or_else(|| bad("`x5c` is not base64 DER"))?;
        let (rest, cert) =
            X509Certificate::from_der(&der).map_err(|_| bad("its certificate does not parse"))?;
        if !rest.is_empty() {
            return Err(bad("its certificate has bytes after it"));
        }
        if !cert.is_ca() {
            return Err(bad("its certificate is not a CA certificate"));
        }
        let named = jwk(&cert).map_err(|e| bad(&e))?;
        for (member, value) in &named {
            if key.get(member) != Some(value) {
                return Err(bad(&format!(
                    "its `{member}` is not the public key of its certificate"
                )));
            }
        }
        if anchors.len() == MAX_ANCHORS {
            return Err(bad(&format!(
                "a bundle holds at most {MAX_ANCHORS} anchors"
            )));
        }
        anchors.push(CertificateDer::from(der));
    }
    if anchors.is_empty() {
        return Err(TrustError::NoAnchor);
    }
    let number = |k: &str| m.get(k).and_then(Value::as_u64);
    Ok(Bundle {
        anchors,
        sequence: number("spiffe_sequence"),
        refresh_hint: number("spiffe_refresh_hint"),
    })
}

#[cfg(test)]
mod tests;
