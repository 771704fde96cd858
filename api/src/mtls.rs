//! Margo identities (MIAF, DESIGN §6) on the client side: a credentials
//! folder written by `edgectl co enroll`, and TLS 1.3 client settings that
//! present it and recognize the server by its SPIFFE ID alone.
//!
//! A Margo client does not check a server's DNS name: it validates the chain
//! against the trust bundle (`ca.crt`) and requires the server certificate's
//! URI SAN to be exactly the SPIFFE ID it expects (`spiffe://<td>/margo/wfm/<id>`).
//! That is what [`SpiffeServerVerifier`] does, so an LO listening on any
//! address works without naming that address in its certificate. The
//! X.509-SVID rules both ends apply to a leaf are in [`svid`].

use std::fmt::Debug;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use serde::Deserialize;

pub mod svid;

/// What went wrong reading credentials or building TLS settings.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    /// A file of the credentials folder is missing or unreadable.
    #[error("cannot read `{path}`")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file of the credentials folder cannot be written.
    #[error("cannot write `{path}`")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file is there but does not hold what it should.
    #[error("`{path}` {detail}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, starting with a verb.
        detail: String,
    },
    /// rustls refused the combination.
    #[error("cannot set up TLS with these credentials")]
    Tls(#[from] rustls::Error),
}

/// `edged.toml` of a credentials folder.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialsFile {
    /// `lo` or `en`.
    pub role: String,
    /// The site the identity belongs to.
    pub site: String,
    /// The identity's SPIFFE ID.
    pub spiffe_id: String,
    /// The CO's south URL (`https://host:port`).
    pub server: String,
    /// Expiry, RFC 3339.
    pub not_after: String,
}

/// A loaded credentials folder: certificate, key, trust bundle and settings.
#[derive(Debug)]
pub struct Identity {
    /// The folder it came from.
    pub dir: PathBuf,
    /// Its `edged.toml`.
    pub file: CredentialsFile,
    /// `identity.crt`, DER.
    pub cert: CertificateDer<'static>,
    /// `identity.key`.
    pub key: PrivateKeyDer<'static>,
    /// The trust anchors (`ca.crt`, or a fetched trust bundle), shared by
    /// every TLS setting made from this identity and replaced in place when
    /// the trust bundle changes.
    pub roots: TrustRoots,
}

/// A set of trust anchors that can be replaced while in use: every clone
/// sees the newest set, so a TLS verifier made before a trust bundle
/// changed checks the next handshake against the new one.
#[derive(Debug, Clone)]
pub struct TrustRoots(Arc<std::sync::RwLock<(u64, Arc<RootCertStore>)>>);

impl TrustRoots {
    /// Anchors from `store`.
    #[must_use]
    pub fn new(store: RootCertStore) -> Self {
        Self(Arc::new(std::sync::RwLock::new((0, Arc::new(store)))))
    }

    /// Anchors from PEM text.
    ///
    /// # Errors
    /// When it holds no usable certificate.
    pub fn from_pem(pem: &[u8]) -> Result<RootCertStore, String> {
        let mut roots = RootCertStore::empty();
        for ca in CertificateDer::pem_slice_iter(pem) {
            let ca = ca.map_err(|e| format!("does not read: {e}"))?;
            roots
                .add(ca)
                .map_err(|e| format!("holds an unusable CA: {e}"))?;
        }
        if roots.is_empty() {
            return Err("holds no certificate".into());
        }
        Ok(roots)
    }

    /// The anchors now, and how many times they were replaced.
    #[must_use]
    pub fn current(&self) -> (u64, Arc<RootCertStore>) {
        let g = self
            .0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        (g.0, g.1.clone())
    }

    /// Replace the anchors for every holder.
    pub fn replace(&self, store: RootCertStore) {
        let mut g = self
            .0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *g = (g.0 + 1, Arc::new(store));
    }
}

impl Identity {
    /// Read `identity.crt`, `identity.key`, `ca.crt` and `edged.toml` from `dir`.
    ///
    /// # Errors
    /// When a file is missing or does not hold what it should, or the
    /// certificate's SPIFFE ID differs from the one `edged.toml` names.
    pub fn load(dir: &Path) -> Result<Self, CredentialsError> {
        Self::load_trusting(dir, None)
    }

    /// [`Identity::load`], with the trust anchors given as PEM (a trust
    /// bundle fetched from the Trust Bundle API, `edge_api::trust`) instead
    /// of the folder's `ca.crt`, which need not be there then.
    ///
    /// # Errors
    /// As [`Identity::load`]; the anchors must hold a usable certificate.
    pub fn load_trusting(dir: &Path, anchors: Option<&[u8]>) -> Result<Self, CredentialsError> {
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read(&path).map_err(|source| CredentialsError::Read { path, source })
        };
        let invalid = |name: &str, detail: String| CredentialsError::Invalid {
            path: dir.join(name),
            detail,
        };
        let toml_text = String::from_utf8(read("edged.toml")?)
            .map_err(|_| invalid("edged.toml", "is not UTF-8".into()))?;
        let file: CredentialsFile = toml::from_str(&toml_text)
            .map_err(|e| invalid("edged.toml", format!("is not a credentials file: {e}")))?;
        let cert = CertificateDer::from_pem_slice(&read("identity.crt")?)
            .map_err(|e| invalid("identity.crt", format!("holds no certificate: {e}")))?;
        let key = PrivateKeyDer::from_pem_slice(&read("identity.key")?)
            .map_err(|e| invalid("identity.key", format!("holds no private key: {e}")))?;
        let bundle = match anchors {
            Some(pem) => pem.to_vec(),
            None => read("ca.crt")?,
        };
        let roots = TrustRoots::from_pem(&bundle).map_err(|e| invalid("ca.crt", e))?;
        match spiffe_id(&cert) {
            Some(id) if id == file.spiffe_id => {}
            Some(id) => {
                return Err(invalid(
                    "identity.crt",
                    format!("is for `{id}`, but edged.toml names `{}`", file.spiffe_id),
                ));
            }
            None => {
                return Err(invalid("identity.crt", "has no SPIFFE ID (URI SAN)".into()));
            }
        }
        Ok(Self {
            dir: dir.to_owned(),
            file,
            cert,
            key,
            roots: TrustRoots::new(roots),
        })
    }

    /// The trust domain of this identity (`edge.local` in `spiffe://edge.local/…`).
    #[must_use]
    pub fn trust_domain(&self) -> &str {
        self.file
            .spiffe_id
            .strip_prefix("spiffe://")
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_default()
    }

    /// The SPIFFE ID of a fleet manager of this trust domain: `…/margo/wfm/<wfm>`.
    #[must_use]
    pub fn wfm_id(&self, wfm: &str) -> String {
        format!("spiffe://{}/margo/wfm/{wfm}", self.trust_domain())
    }

    /// TLS 1.3 client settings presenting this identity and accepting only a
    /// server whose certificate chains to `ca.crt` and names `expected_server`.
    ///
    /// # Errors
    /// When rustls refuses the key.
    pub fn client_config(
        &self,
        expected_server: &str,
    ) -> Result<rustls::ClientConfig, CredentialsError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let verifier = SpiffeServerVerifier {
            roots: self.roots.clone(),
            expected: expected_server.to_owned(),
            provider: provider.clone(),
        };
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_client_auth_cert(vec![self.cert.clone()], self.key.clone_key())?;
        // No session resumption (MIAF): a resumed session would skip the
        // server's certificate, past its validity or a bundle rotation.
        config.resumption = rustls::client::Resumption::disabled();
        Ok(config)
    }

    /// A blocking HTTP client over [`Identity::client_config`].
    ///
    /// # Errors
    /// When the TLS settings or the client cannot be built.
    pub fn blocking_client(
        &self,
        expected_server: &str,
        timeout: std::time::Duration,
    ) -> Result<reqwest::blocking::Client, CredentialsError> {
        let config = self.client_config(expected_server)?;
        reqwest::blocking::Client::builder()
            .use_preconfigured_tls(config)
            .connect_timeout(std::time::Duration::from_secs(10))
            .timeout(timeout)
            .build()
            .map_err(|e| CredentialsError::Invalid {
                path: self.dir.clone(),
                detail: format!("cannot make an HTTP client: {e}"),
            })
    }
}

/// Write a credentials folder's four files into `dir` (which must exist and
/// be private): `identity.key` (0600), `identity.crt`, `ca.crt` and an
/// `edged.toml` naming the role (`lo` or `en`), the site and the CO's south
/// URL. Files are created new: an existing one is never overwritten.
///
/// # Errors
/// When a file exists already or cannot be written.
pub fn write_credentials(
    dir: &Path,
    enrollment: &crate::types::Enrollment,
    site: &str,
    role: &str,
) -> Result<(), CredentialsError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let write = |name: &str, text: &str, mode: u32| -> Result<(), CredentialsError> {
        let path = dir.join(name);
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&path)
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .map_err(|source| CredentialsError::Write { path, source })
    };
    write("identity.key", &enrollment.private_key, 0o600)?;
    write("identity.crt", &enrollment.certificate, 0o644)?;
    write("ca.crt", &enrollment.ca_bundle, 0o644)?;
    let file = CredentialsFile {
        role: role.to_owned(),
        site: site.to_owned(),
        spiffe_id: enrollment.spiffe_id.clone(),
        server: enrollment.south_url.clone(),
        not_after: enrollment.not_after.clone(),
    };
    write("edged.toml", &file.to_toml(), 0o644)
}

impl CredentialsFile {
    /// The file's text, with a header saying what it is.
    #[must_use]
    pub fn to_toml(&self) -> String {
        let q = |s: &str| toml::Value::String(s.to_owned()).to_string();
        format!(
            "# Credentials of {spiffe}, written by `edgectl co enroll`.\n# identity.key is a secret: keep this folder private.\nrole = {role}\nsite = {site}\nspiffe_id = {id}\nserver = {server}\nnot_after = {not_after}\n",
            spiffe = self.spiffe_id,
            role = q(&self.role),
            site = q(&self.site),
            id = q(&self.spiffe_id),
            server = q(&self.server),
            not_after = q(&self.not_after),
        )
    }
}

/// The SPIFFE ID (the one `spiffe://` URI SAN) of a DER certificate.
#[must_use]
pub fn spiffe_id(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let san = cert.subject_alternative_name().ok()??;
    let mut ids = san.value.general_names.iter().filter_map(|n| match n {
        x509_parser::extensions::GeneralName::URI(u) if u.starts_with("spiffe://") => {
            Some((*u).to_owned())
        }
        _ => None,
    });
    let first = ids.next()?;
    // An X.509-SVID carries exactly one SPIFFE ID.
    ids.next().is_none().then_some(first)
}

/// The host names and IP addresses a DER certificate names in its SANs
/// (what `edgectl co enroll --lo --name` put there), in order.
#[must_use]
pub fn host_names(der: &[u8]) -> Vec<String> {
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
        return Vec::new();
    };
    let Ok(Some(san)) = cert.subject_alternative_name() else {
        return Vec::new();
    };
    san.value
        .general_names
        .iter()
        .filter_map(|n| match n {
            x509_parser::extensions::GeneralName::DNSName(d) => Some((*d).to_owned()),
            x509_parser::extensions::GeneralName::IPAddress(b) => match b.len() {
                4 => <[u8; 4]>::try_from(*b)
                    .ok()
                    .map(|a| std::net::Ipv4Addr::from(a).to_string()),
                16 => <[u8; 16]>::try_from(*b)
                    .ok()
                    .map(|a| format!("[{}]", std::net::Ipv6Addr::from(a))),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// A DER certificate's validity, `(not before, not after)` in seconds since
/// the epoch; `None` when it does not parse.
#[must_use]
pub fn validity(der: &[u8]) -> Option<(i64, i64)> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let v = cert.validity();
    Some((v.not_before.timestamp(), v.not_after.timestamp()))
}

/// The end of a DER certificate's validity, in seconds since the epoch.
#[must_use]
pub fn not_after(der: &[u8]) -> Option<i64> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    Some(cert.validity().not_after.timestamp())
}

/// Accepts a server certificate whose leaf is an X.509-SVID
/// ([`svid::check_leaf`]), chains to the trust bundle (RFC 5280, server
/// authentication) and carries exactly the expected SPIFFE ID; the DNS
/// name the client dialled plays no part (MIAF). Every client of a fleet
/// manager (an edge node, an LO's calls and Git fetches to the CO) checks
/// its server with this.
#[derive(Debug)]
pub struct SpiffeServerVerifier {
    roots: TrustRoots,
    expected: String,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for SpiffeServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        svid::check_leaf(end_entity, svid::secs(now))?;
        let parsed = rustls::server::ParsedCertificate::try_from(end_entity)?;
        rustls::client::verify_server_cert_signed_by_trust_anchor(
            &parsed,
            &self.roots.current().1,
            intermediates,
            now,
            self.provider.signature_verification_algorithms.all,
        )
        .map_err(|e| svid::Refusal::Chain(e.to_string()))?;
        match spiffe_id(end_entity) {
            Some(id) if id == self.expected => Ok(ServerCertVerified::assertion()),
            other => Err(svid::Refusal::Unexpected {
                found: other.unwrap_or_else(|| "without a SPIFFE ID".into()),
                expected: self.expected.clone(),
            }
            .into()),
        }
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        // TLS 1.2 is never negotiated: the client config allows TLS 1.3 only.
        Err(rustls::Error::General("TLS 1.2 is not allowed".into()))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod chain_tests {
    use super::*;

    #[test]
    fn a_missing_credentials_folder_names_the_os_error_once() {
        let dir = tempfile::tempdir().unwrap();
        let e = Identity::load(&dir.path().join("absent")).unwrap_err();
        let mut chain = e.to_string();
        let mut next = std::error::Error::source(&e);
        while let Some(s) = next {
            chain.push_str(&format!(": {s}"));
            next = s.source();
        }
        assert!(chain.starts_with("cannot read `"), "{chain}");
        assert_eq!(chain.matches("os error 2").count(), 1, "{chain}");
    }
}
