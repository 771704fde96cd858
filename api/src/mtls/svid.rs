//! The X.509-SVID rules (SPIFFE X509-SVID §4 and §5, Margo MIAF, DIGEST
//! §9.3 and §15.1) in one place, for both ends of every mTLS connection:
//! the fleet managers' listeners check a client's leaf with
//! [`SvidClientVerifier`], and every client checks its fleet manager's with
//! [`super::SpiffeServerVerifier`]; both call [`check_leaf`] and then
//! validate the chain against the trust bundle per RFC 5280 (rustls'
//! webpki).
//!
//! A leaf is refused, with a [`Refusal`] naming the rule, when it does not
//! carry exactly one URI SAN, when that URI is not a SPIFFE ID of a Margo
//! fleet manager or client (`spiffe://<td>/margo/wfm/<wfm>` or
//! `…/client/<client>`, [`MargoId`]), when it is a CA (`cA` true), when its
//! key usage allows `keyCertSign` or `cRLSign` or lacks `digitalSignature`,
//! or outside its validity. Which identity a server accepts (its site, an
//! issued certificate) is decided above this, per request.

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use x509_parser::extensions::GeneralName;

/// Longest SPIFFE ID accepted (the SPIFFE ID specification's limit).
pub const MAX_ID: usize = 2048;

/// Why a certificate is not an acceptable X.509-SVID.
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The bytes are not one X.509 certificate, or an extension does not read.
    #[error("the certificate does not read: {0}")]
    Unreadable(String),
    /// Not exactly one URI SAN.
    #[error("the certificate carries {0} URI SANs; an X.509-SVID carries exactly one")]
    UriSans(usize),
    /// The one URI SAN is not a `spiffe://` URI.
    #[error("its URI SAN `{0}` is not a SPIFFE ID")]
    NotSpiffe(String),
    /// A `spiffe://` URI that breaks the SPIFFE ID syntax, or is not of a
    /// Margo fleet manager or client.
    #[error(
        "`{0}` is not the SPIFFE ID of a Margo fleet manager or client (`spiffe://<trust-domain>/margo/wfm/<wfm-id>[/client/<client-id>]`)"
    )]
    NotMargo(String),
    /// `basicConstraints` says `cA: true`.
    #[error("it is a CA certificate (basicConstraints cA true), not a leaf")]
    CaLeaf,
    /// Key usage `keyCertSign` on a leaf.
    #[error("its key usage allows keyCertSign, which a leaf X.509-SVID must not")]
    KeyCertSign,
    /// Key usage `cRLSign` on a leaf.
    #[error("its key usage allows cRLSign, which a leaf X.509-SVID must not")]
    CrlSign,
    /// A key usage extension without `digitalSignature`.
    #[error("its key usage lacks digitalSignature, which a leaf X.509-SVID needs")]
    NoDigitalSignature,
    /// Before `notBefore` (seconds since the epoch).
    #[error("it is not valid before {0} (seconds since the epoch)")]
    NotYetValid(i64),
    /// At or after `notAfter` (seconds since the epoch).
    #[error("it expired at {0} (seconds since the epoch)")]
    Expired(i64),
    /// It does not chain to the trust bundle (RFC 5280 path validation).
    #[error("it does not chain to the trust bundle: {0}")]
    Chain(String),
    /// A valid SVID, of someone else.
    #[error("it is `{found}`, not `{expected}`")]
    Unexpected {
        /// The SPIFFE ID it carries.
        found: String,
        /// The one the verifier wanted.
        expected: String,
    },
}

/// The sentence, as rustls prints the cause of a refused certificate with
/// `Debug` (so each side's log names the rule).
impl std::fmt::Debug for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl From<Refusal> for rustls::Error {
    fn from(r: Refusal) -> Self {
        // A bad_certificate alert, with the rule in the error each side logs.
        rustls::Error::InvalidCertificate(rustls::CertificateError::Other(rustls::OtherError(
            Arc::new(r),
        )))
    }
}

/// A SPIFFE ID of a Margo principal, split: `spiffe://<td>/margo/wfm/<wfm>`
/// (a fleet manager) or `…/client/<client>` (one of its clients).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MargoId {
    /// The trust domain.
    pub trust_domain: String,
    /// The fleet manager's id (`wfm-id`).
    pub wfm: String,
    /// The client's id (`wfm-client-id`); `None` for a fleet manager.
    pub client: Option<String>,
}

impl MargoId {
    /// Split a SPIFFE ID; `None` when it breaks the SPIFFE ID syntax or is
    /// not of a Margo fleet manager or client.
    #[must_use]
    pub fn parse(id: &str) -> Option<Self> {
        if id.len() > MAX_ID {
            return None;
        }
        let rest = id.strip_prefix("spiffe://")?;
        let mut parts = rest.split('/');
        let td = parts.next()?;
        if parts.next()? != "margo" || parts.next()? != "wfm" {
            return None;
        }
        let wfm = parts.next()?;
        let client = match (parts.next(), parts.next(), parts.next()) {
            (None, _, _) => None,
            (Some("client"), Some(c), None) => Some(c.to_owned()),
            _ => return None,
        };
        if !trust_domain_ok(td) || !segment_ok(wfm) || !client.as_deref().is_none_or(segment_ok) {
            return None;
        }
        Some(Self {
            trust_domain: td.to_owned(),
            wfm: wfm.to_owned(),
            client,
        })
    }
}

/// Whether `s` can be a SPIFFE trust domain: lower-case letters, digits,
/// `.`, `-` and `_` (no port, no user, no upper case).
#[must_use]
pub fn trust_domain_ok(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'_')
        })
}

/// Whether `s` can be one path segment of a Margo SPIFFE ID (`wfm-id`,
/// `wfm-client-id`: RFC 3986 unreserved characters, not `.` or `..`).
#[must_use]
pub fn segment_ok(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// The leaf rules of an X.509-SVID, at `now` (seconds since the epoch):
/// the Margo SPIFFE ID it carries, or why it is refused. The chain is
/// checked by the caller (the verifiers below).
///
/// # Errors
/// The first rule the certificate breaks.
pub fn check_leaf(der: &[u8], now: i64) -> Result<MargoId, Refusal> {
    let unreadable = |e: &dyn std::fmt::Display| Refusal::Unreadable(e.to_string());
    let (rest, cert) = x509_parser::parse_x509_certificate(der).map_err(|e| unreadable(&e))?;
    if !rest.is_empty() {
        return Err(Refusal::Unreadable(
            "bytes follow the certificate".to_owned(),
        ));
    }
    let uris: Vec<&str> = match cert
        .subject_alternative_name()
        .map_err(|e| unreadable(&e))?
    {
        Some(san) => san
            .value
            .general_names
            .iter()
            .filter_map(|n| match n {
                GeneralName::URI(u) => Some(*u),
                _ => None,
            })
            .collect(),
        None => Vec::new(),
    };
    let [uri] = uris.as_slice() else {
        return Err(Refusal::UriSans(uris.len()));
    };
    if !uri.starts_with("spiffe://") {
        return Err(Refusal::NotSpiffe((*uri).to_owned()));
    }
    let id = MargoId::parse(uri).ok_or_else(|| Refusal::NotMargo((*uri).to_owned()))?;
    if cert
        .basic_constraints()
        .map_err(|e| unreadable(&e))?
        .is_some_and(|b| b.value.ca)
    {
        return Err(Refusal::CaLeaf);
    }
    if let Some(ku) = cert.key_usage().map_err(|e| unreadable(&e))? {
        if ku.value.key_cert_sign() {
            return Err(Refusal::KeyCertSign);
        }
        if ku.value.crl_sign() {
            return Err(Refusal::CrlSign);
        }
        if !ku.value.digital_signature() {
            return Err(Refusal::NoDigitalSignature);
        }
    }
    let validity = cert.validity();
    if now < validity.not_before.timestamp() {
        return Err(Refusal::NotYetValid(validity.not_before.timestamp()));
    }
    if now >= validity.not_after.timestamp() {
        return Err(Refusal::Expired(validity.not_after.timestamp()));
    }
    Ok(id)
}

/// Seconds since the epoch of a rustls time.
pub(crate) fn secs(now: UnixTime) -> i64 {
    i64::try_from(now.as_secs()).unwrap_or(i64::MAX)
}

/// The client certificate check of every fleet manager's mTLS listener: a
/// client certificate is required; its leaf must pass [`check_leaf`] and
/// its chain rustls' webpki verification against the trust bundle (RFC
/// 5280, client authentication).
#[derive(Debug)]
pub struct SvidClientVerifier {
    chain: Arc<dyn ClientCertVerifier>,
}

impl SvidClientVerifier {
    /// A verifier trusting `roots`, with `provider`'s algorithms.
    ///
    /// # Errors
    /// When the trust bundle cannot be used (no roots).
    pub fn new(
        roots: Arc<rustls::RootCertStore>,
        provider: Arc<rustls::crypto::CryptoProvider>,
    ) -> Result<Self, rustls::server::VerifierBuilderError> {
        let chain =
            rustls::server::WebPkiClientVerifier::builder_with_provider(roots, provider).build()?;
        Ok(Self { chain })
    }
}

impl ClientCertVerifier for SvidClientVerifier {
    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.chain.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        check_leaf(end_entity, secs(now))?;
        self.chain
            .verify_client_cert(end_entity, intermediates, now)
            .map_err(|e| Refusal::Chain(e.to_string()).into())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.chain.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.chain.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.chain.supported_verify_schemes()
    }
}

#[cfg(test)]
#[path = "svid_tests.rs"]
mod tests;
