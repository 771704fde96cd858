//! The CO's signature on a site stick: a [`Statement`] (the site, its head
//! commit, every artifact by digest and size, the site's revoked device
//! certificates and the device certificates the CO issued for it), encoded
//! as compact JSON in its field order ([`Statement::bytes`]), signed with the
//! key of the CO's certificate authority and checked by the LO against the
//! CA certificate of its own credentials ([`verify`]).
//!
//! The statement's first field, `purpose`, keeps a stick signature from
//! standing for anything else the CA key signs (a certificate's signed part
//! is DER and starts with a SEQUENCE byte, never with `{`).

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;
use serde::{Deserialize, Serialize};

use super::StickArtifact;

/// The `purpose` of a stick statement.
pub const PURPOSE: &str = "edgectl site stick";

/// What the CO signs for a stick.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Statement {
    /// [`PURPOSE`].
    pub purpose: String,
    /// The stick format.
    pub format: u32,
    /// The site.
    pub site: String,
    /// The head commit of the site repository (hex).
    pub head: String,
    /// When the CO answered (RFC 3339, UTC).
    pub exported_at: String,
    /// Every artifact the site's deployments at `head` name.
    pub artifacts: Vec<StickArtifact>,
    /// SHA-256 fingerprints of the site's revoked device certificates.
    pub revoked: Vec<String>,
    /// SHA-256 fingerprints of the unrevoked device certificates the CO
    /// issued for the site (an LO accepts no other device).
    pub issued: Vec<String>,
}

impl Statement {
    /// The bytes signed: compact JSON, fields in declaration order.
    #[must_use]
    pub fn bytes(&self) -> Vec<u8> {
        // A struct of strings, numbers and vectors always serializes.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// Why a signature does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The stick carries no signature.
    #[error(
        "it is not signed by a CO (written by an older edgectl, or by hand); write it again with `edgectl co export`"
    )]
    Unsigned,
    /// The trust anchor does not read.
    #[error("the LO's CA certificate does not read: {0}")]
    Anchor(String),
    /// The signature is not the CA's over these contents.
    #[error(
        "its signature does not verify against this LO's CA: it was changed after the CO signed it, or signed by another CA"
    )]
    Mismatch,
}

/// Hex of `bytes`.
#[must_use]
pub fn to_hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn from_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || text.len() > 4096 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Check that `signature` (hex) is one of the CA certificates in `ca_pem`
/// signing `statement`.
///
/// # Errors
/// When there is no signature, the anchor does not read, or the signature
/// is not one of its CA's over these bytes.
pub fn verify(ca_pem: &[u8], statement: &Statement, signature: &str) -> Result<(), SignatureError> {
    if signature.is_empty() {
        return Err(SignatureError::Unsigned);
    }
    let sig = from_hex(signature).ok_or(SignatureError::Mismatch)?;
    let message = statement.bytes();
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    let mut anchors = 0;
    for der in CertificateDer::pem_slice_iter(ca_pem) {
        let der = der.map_err(|e| SignatureError::Anchor(e.to_string()))?;
        let (_, cert) = x509_parser::parse_x509_certificate(&der)
            .map_err(|e| SignatureError::Anchor(e.to_string()))?;
        anchors += 1;
        let key = &cert.public_key().subject_public_key.data;
        // Each algorithm checks that the key is of its kind first.
        if provider
            .signature_verification_algorithms
            .all
            .iter()
            .any(|alg| alg.verify_signature(key, &message, &sig).is_ok())
        {
            return Ok(());
        }
    }
    if anchors == 0 {
        return Err(SignatureError::Anchor("it holds no certificate".into()));
    }
    Err(SignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_reads_back_and_refuses_odd_or_foreign_text() {
        assert_eq!(
            from_hex(&to_hex(&[0, 1, 0xab, 0xff])).unwrap(),
            [0, 1, 0xab, 0xff]
        );
        assert!(from_hex("abc").is_none());
        assert!(from_hex("zz").is_none());
        assert!(from_hex("é1").is_none());
    }

    #[test]
    fn without_an_anchor_or_a_signature_nothing_verifies() {
        let s = Statement {
            purpose: PURPOSE.into(),
            format: 2,
            site: "s".into(),
            head: "h".into(),
            exported_at: "t".into(),
            artifacts: vec![],
            revoked: vec![],
            issued: vec![],
        };
        assert_eq!(verify(b"", &s, ""), Err(SignatureError::Unsigned));
        assert!(matches!(
            verify(b"", &s, "00"),
            Err(SignatureError::Anchor(_))
        ));
        assert!(
            s.bytes()
                .starts_with(br#"{"purpose":"edgectl site stick","format":2"#)
        );
    }
}
