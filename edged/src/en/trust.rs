//! An edge node's trust anchors from the Margo Trust Bundle API (rc.3,
//! DIGEST §9.3), for `--trust-bundle-uri`: instead of a `ca.crt` copied into
//! its credentials folder, the node fetches its trust domain's SPIFFE bundle
//! (directly, or through a `/.well-known/margo` discovery document) at every
//! start and keeps the last good one in `DATA/trust/`.
//!
//! First contact follows the API's rules: HTTPS only, and the connection is
//! authenticated before anything it says is believed, never trust on first
//! use. The server is recognized by a pin (`--trust-bundle-pin`, the SHA-256
//! of a certificate its chain must hold: the CA's, or its own), by the PEM
//! roots an operator gives (`--trust-bundle-ca`), or else by the system's
//! roots and the URL's host name. With a pin or given roots a server also
//! passes by the exact SPIFFE ID of this node's fleet manager, since our
//! fleet managers' certificates name no host. A bundle is taken only when it
//! holds an X.509 anchor, the anchor that issued this node's own identity
//! among them, and a `spiffe_sequence` no lower than the one kept. When the
//! server cannot be reached, the kept bundle is used and the start says so;
//! without one the start fails, naming why.

use std::io::Read as _;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use edge_api::trust;

use crate::anchors::Kept;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::settings::TrustBundle;

/// Longest wait for the bundle's server.
const TIMEOUT: Duration = Duration::from_secs(30);

/// The trust anchors (PEM) to load this node's identity with: fetched from
/// `cfg.uri` and kept, or the kept ones when the server cannot be reached.
pub(crate) fn anchors(cfg: &TrustBundle, creds: &Path, data: &Path) -> anyhow::Result<Vec<u8>> {
    let own = own(creds)?;
    let kept = Kept::read_for(data, &own.cert);
    let fetched = fetch(cfg, &own, kept.as_ref()).and_then(|f| match f {
        None => Ok(None),
        Some((bytes, etag)) => {
            let bundle = crate::anchors::judge(&bytes, &own.cert, kept.as_ref())
                .with_context(|| format!("the trust bundle from {} is not taken", cfg.uri))?;
            Ok(Some((bytes, etag, bundle)))
        }
    });
    match fetched {
        Ok(None) => {
            let kept = kept.context("the server said nothing changed, but no bundle is kept")?;
            Ok(kept.bundle.to_pem().into_bytes())
        }
        Ok(Some((bytes, etag, bundle))) => {
            Kept::write(data, &bytes, &etag)?;
            tracing::info!(
                uri = cfg.uri,
                anchors = bundle.anchors.len(),
                sequence = bundle.sequence,
                "trust bundle taken"
            );
            Ok(bundle.to_pem().into_bytes())
        }
        Err(e) => match kept {
            Some(k) => {
                tracing::warn!(
                    uri = cfg.uri,
                    error = format!("{e:#}"),
                    "cannot fetch the trust bundle; using the one kept"
                );
                Ok(k.bundle.to_pem().into_bytes())
            }
            None => Err(e.context(format!(
                "no trust bundle: the first one must come from {}",
                cfg.uri
            ))),
        },
    }
}

fn read_bounded(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(trust::MAX_BUNDLE as u64 + 1)
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// This node's own certificate and key (presented when the server asks,
/// as an LO does), and the SPIFFE ID of its fleet manager.
struct Own {
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
    /// The two files as read, certificate then key (PEM).
    pem: Vec<u8>,
    trust_domain: String,
    wfm: String,
}

fn own(creds: &Path) -> anyhow::Result<Own> {
    let read = |n: &str| {
        let p = creds.join(n);
        read_bounded(&p).with_context(|| format!("cannot read `{}`", p.display()))
    };
    let (cert_pem, key_pem) = (read("identity.crt")?, read("identity.key")?);
    let cert =
        CertificateDer::from_pem_slice(&cert_pem).context("identity.crt holds no certificate")?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).context("identity.key holds no key")?;
    let mut pem = cert_pem;
    pem.push(b'\n');
    pem.extend_from_slice(&key_pem);
    let id =
        edge_api::mtls::spiffe_id(&cert).context("this node's certificate has no SPIFFE ID")?;
    let p = crate::south::Principal::parse(&id)
        .filter(|p| p.client.is_some())
        .with_context(|| format!("`{id}` is not a Margo client's SPIFFE ID"))?;
    Ok(Own {
        cert,
        key,
        pem,
        wfm: format!("spiffe://{}/margo/wfm/{}", p.trust_domain, p.wfm),
        trust_domain: p.trust_domain,
    })
}

/// The bundle's bytes and ETag from `cfg.uri` (through a discovery
/// document when it is one), or `None` when the kept one is current.
fn fetch(
    cfg: &TrustBundle,
    own: &Own,
    kept: Option<&Kept>,
) -> anyhow::Result<Option<(Vec<u8>, String)>> {
    let client = client(cfg, own)?;
    let etag = kept.map(|k| k.etag.as_str()).filter(|e| !e.is_empty());
    let Some((bytes, tag)) = get(&client, &cfg.uri, etag)? else {
        return Ok(None);
    };
    if !is_discovery(&cfg.uri, &bytes) {
        return Ok(Some((bytes, tag)));
    }
    let (td, uri) = trust::parse_discovery(&bytes)
        .map_err(|e| anyhow::anyhow!("the discovery document at {} {e}", cfg.uri))?;
    anyhow::ensure!(
        td == own.trust_domain,
        "the discovery document at {} describes trust domain `{td}`, not this node's `{}`",
        cfg.uri,
        own.trust_domain
    );
    get(&client, &uri, etag)
}

fn is_discovery(uri: &str, bytes: &[u8]) -> bool {
    uri.trim_end_matches('/').ends_with(trust::DISCOVERY_PATH)
        || serde_json::from_slice::<serde_json::Value>(bytes)
            .is_ok_and(|v| v.get("trustBundleUri").is_some())
}

/// `GET uri`: `None` on `304`, else the body (bounded) and its ETag.
fn get(
    client: &reqwest::blocking::Client,
    uri: &str,
    etag: Option<&str>,
) -> anyhow::Result<Option<(Vec<u8>, String)>> {
    anyhow::ensure!(
        uri.starts_with("https://"),
        "`{uri}` is not https: a trust bundle is only taken over authenticated HTTPS"
    );
    let mut req = client.get(uri).header("accept", "application/json");
    if let Some(e) = etag {
        req = req.header("if-none-match", e);
    }
    let resp = req
        .send()
        .map_err(|e| anyhow::Error::new(e).context(format!("cannot fetch {uri}")))?;
    let status = resp.status();
    if status == reqwest::StatusCode::NOT_MODIFIED && etag.is_some() {
        return Ok(None);
    }
    let tag = resp
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let mut body = Vec::new();
    resp.take(trust::MAX_BUNDLE as u64 + 1)
        .read_to_end(&mut body)
        .with_context(|| format!("cannot read the answer of {uri}"))?;
    anyhow::ensure!(
        status.is_success(),
        "{uri} answered {status}: {}",
        String::from_utf8_lossy(&body[..body.len().min(300)])
    );
    anyhow::ensure!(
        body.len() <= trust::MAX_BUNDLE,
        "{uri} answered more than {} bytes: not a trust bundle",
        trust::MAX_BUNDLE
    );
    Ok(Some((body, tag)))
}

/// The HTTPS client of first contact: presenting this node's identity, and
/// recognizing the server by the pin, the given roots or the system's.
fn client(cfg: &TrustBundle, own: &Own) -> anyhow::Result<reqwest::blocking::Client> {
    let builder = reqwest::blocking::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none());
    let trusted = match (&cfg.pin, &cfg.ca) {
        (Some(pin), _) => Trusted::Pin(pin.clone()),
        (None, Some(file)) => Trusted::Roots(roots_from(file)?),
        (None, None) => {
            let identity = reqwest::Identity::from_pem(&own.pem)
                .context("this node's certificate and key do not make a TLS identity")?;
            return builder
                .identity(identity)
                .build()
                .context("cannot make an HTTPS client");
        }
    };
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = FirstContact {
        trusted,
        wfm: own.wfm.clone(),
        provider: provider.clone(),
    };
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_client_auth_cert(vec![own.cert.clone()], own.key.clone_key())?;
    builder
        .use_preconfigured_tls(config)
        .build()
        .context("cannot make an HTTPS client")
}

fn roots_from(file: &Path) -> anyhow::Result<RootCertStore> {
    let pem = read_bounded(file).with_context(|| format!("cannot read `{}`", file.display()))?;
    let mut roots = RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(&pem) {
        let c = c.with_context(|| format!("`{}` does not read as PEM", file.display()))?;
        roots
            .add(c)
            .with_context(|| format!("`{}` holds an unusable certificate", file.display()))?;
    }
    anyhow::ensure!(
        !roots.is_empty(),
        "`{}` holds no certificate",
        file.display()
    );
    Ok(roots)
}

/// How the server of first contact is recognized.
#[derive(Debug)]
enum Trusted {
    /// `sha256:HEX` of a certificate in its chain.
    Pin(String),
    /// An operator's roots.
    Roots(RootCertStore),
}

/// A pinned server certificate is taken as it is, but only within its
/// validity: an expired (or not yet valid) one is refused like any other.
fn pinned_leaf_valid(der: &CertificateDer<'_>, now: UnixTime) -> Result<(), rustls::Error> {
    let (from, until) = edge_api::mtls::validity(der.as_ref())
        .ok_or_else(|| rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding))?;
    let now = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
    if now > until {
        return Err(rustls::Error::InvalidCertificate(
            rustls::CertificateError::Expired,
        ));
    }
    if now < from {
        return Err(rustls::Error::InvalidCertificate(
            rustls::CertificateError::NotValidYet,
        ));
    }
    Ok(())
}

/// The server check of first contact: the chain ends in the pinned
/// certificate (or is it) or in the given roots, and the certificate names
/// the URL's host, or is this node's fleet manager by its SPIFFE ID.
#[derive(Debug)]
struct FirstContact {
    trusted: Trusted,
    wfm: String,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for FirstContact {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let roots = match &self.trusted {
            Trusted::Pin(pin) => {
                let pinned = |c: &&CertificateDer<'_>| {
                    edge_model::digest::sha256(c.as_ref()).as_str() == pin.as_str()
                };
                if pinned(&end_entity) {
                    // The pin names this very certificate, so no chain is
                    // checked; its own validity still is.
                    return pinned_leaf_valid(end_entity, now)
                        .map(|()| ServerCertVerified::assertion());
                }
                let Some(anchor) = intermediates.iter().find(pinned) else {
                    return Err(rustls::Error::General(format!(
                        "no certificate the server presented has the pinned fingerprint {pin}"
                    )));
                };
                let mut roots = RootCertStore::empty();
                roots
                    .add(anchor.clone().into_owned())
                    .map_err(|e| rustls::Error::General(format!("the pinned certificate: {e}")))?;
                std::borrow::Cow::Owned(roots)
            }
            Trusted::Roots(r) => std::borrow::Cow::Borrowed(r),
        };
        let cert = rustls::server::ParsedCertificate::try_from(end_entity)?;
        rustls::client::verify_server_cert_signed_by_trust_anchor(
            &cert,
            &roots,
            intermediates,
            now,
            self.provider.signature_verification_algorithms.all,
        )?;
        if rustls::client::verify_server_name(&cert, server_name).is_ok()
            || edge_api::mtls::spiffe_id(end_entity).as_deref() == Some(self.wfm.as_str())
        {
            return Ok(ServerCertVerified::assertion());
        }
        Err(rustls::Error::General(format!(
            "the server's certificate names neither {server_name:?} nor this node's fleet manager {}",
            self.wfm
        )))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
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
mod tests {
    use super::*;

    fn cert(from: i64, until: i64) -> CertificateDer<'static> {
        let key = rcgen::KeyPair::generate().expect("key");
        let mut params = rcgen::CertificateParams::new(vec!["lo.example".into()]).expect("params");
        params.not_before = time::OffsetDateTime::from_unix_timestamp(from).expect("from");
        params.not_after = time::OffsetDateTime::from_unix_timestamp(until).expect("until");
        params.self_signed(&key).expect("cert").der().clone()
    }

    fn at(secs: u64) -> UnixTime {
        UnixTime::since_unix_epoch(std::time::Duration::from_secs(secs))
    }

    #[test]
    fn a_pinned_leaf_counts_only_within_its_validity() {
        let der = cert(1_000_000, 2_000_000);
        assert!(pinned_leaf_valid(&der, at(1_500_000)).is_ok());
        assert!(matches!(
            pinned_leaf_valid(&der, at(2_000_001)),
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::Expired
            ))
        ));
        assert!(matches!(
            pinned_leaf_valid(&der, at(999_999)),
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidYet
            ))
        ));
    }

    #[test]
    fn the_first_contact_check_refuses_an_expired_pinned_leaf() {
        let der = cert(1_000_000, 2_000_000);
        let pin = edge_model::digest::sha256(der.as_ref()).as_str().to_owned();
        let check = FirstContact {
            trusted: Trusted::Pin(pin),
            wfm: "spiffe://example/lo/x".into(),
            provider: Arc::new(rustls::crypto::aws_lc_rs::default_provider()),
        };
        let name = ServerName::try_from("lo.example").expect("name");
        assert!(
            check
                .verify_server_cert(&der, &[], &name, &[], at(1_500_000))
                .is_ok()
        );
        let expired = check.verify_server_cert(&der, &[], &name, &[], at(3_000_000));
        assert!(expired.is_err(), "{expired:?}");
    }
}
