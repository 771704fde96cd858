//! What the CO's south listener and the LO's listener share: mutual TLS 1.3
//! (rustls; client certificates checked as X.509-SVIDs of the trust bundle), the
//! caller as read from its certificate, and the Margo Workload Management
//! API (rc.3) that both serve to edge nodes (`margo`, `blobs`), with the
//! read-only OCI registry beside it (`registry`), over the
//! [`backend::Backend`] each implements, built from per-device views of a
//! site repository (`view`, with the one cache of them both use), and the
//! wire form of Git objects riding on the CO's nudge to an LO (`carried`),
//! and the waiting room of remote operations both keep (`opboard`).

pub(crate) mod backend;
pub(crate) mod blobs;
#[cfg(any(feature = "co", feature = "lo"))]
pub(crate) mod carried;
pub(crate) mod margo;
pub(crate) mod metrics;
#[cfg(any(feature = "co", feature = "lo"))]
pub(crate) mod opboard;
pub(crate) mod registry;
pub(crate) mod view;

use std::sync::Arc;

use anyhow::Context as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use edge_api::mtls::TrustRoots;

use crate::http::ConnInfo;

/// Who is calling, from the certificate it presented in the handshake.
#[derive(Clone, Debug)]
pub(crate) struct Caller {
    /// SHA-256 of the certificate (DER).
    pub(crate) fingerprint: String,
    /// The URI SAN, when it is a SPIFFE ID.
    pub(crate) spiffe_id: Option<String>,
    /// The certificate's end of validity, seconds since the epoch.
    pub(crate) not_after: i64,
}

/// A SPIFFE ID of a Margo principal, split: `spiffe://<td>/margo/wfm/<wfm>`
/// or `…/client/<client>` (the one parser, with the X.509-SVID rules).
pub(crate) use edge_api::mtls::svid::MargoId as Principal;
/// Whether a string can be one path segment of a Margo SPIFFE ID.
pub(crate) use edge_api::mtls::svid::segment_ok;

impl Caller {
    /// Whether the certificate has expired (checked on every request, not
    /// only at the handshake, so a long connection does not outlive it).
    pub(crate) fn expired(&self) -> bool {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        now >= self.not_after
    }
}

/// TLS 1.3 only, client certificates required: each an X.509-SVID that
/// chains to `roots` (`edge_api::mtls::svid::SvidClientVerifier`, the rules
/// every client applies to its fleet manager too, made again when the roots
/// are replaced); the server presents `chain`: its certificate (whose URI
/// SAN is its SPIFFE ID), then the CA that issued it (so a client
/// bootstrapping its trust with a pin on that CA can check the chain,
/// `en/trust.rs`).
pub(crate) fn server_config(
    roots: TrustRoots,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = Arc::new(ClientVerifier::new(roots, provider.clone())?);
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)?;
    // No session resumption (MIAF): every connection is a full handshake,
    // its client certificate checked against the rules and anchors of the
    // moment, so nothing outlives an SVID's validity or a bundle rotation.
    config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    Ok(Arc::new(config))
}

/// Client certificates checked against the trust anchors of the moment:
/// the SVID verifier, made again whenever the anchors were replaced
/// (a trust bundle that changed), so a CA added to the bundle is accepted
/// from the next handshake on without a restart.
#[derive(Debug)]
struct ClientVerifier {
    roots: TrustRoots,
    provider: Arc<rustls::crypto::CryptoProvider>,
    made: std::sync::Mutex<(u64, Arc<dyn rustls::server::danger::ClientCertVerifier>)>,
}

impl ClientVerifier {
    fn new(
        roots: TrustRoots,
        provider: Arc<rustls::crypto::CryptoProvider>,
    ) -> anyhow::Result<Self> {
        let (at, store) = roots.current();
        let first = Self::make(store, &provider)?;
        Ok(Self {
            roots,
            provider,
            made: std::sync::Mutex::new((at, first)),
        })
    }

    fn make(
        store: Arc<rustls::RootCertStore>,
        provider: &Arc<rustls::crypto::CryptoProvider>,
    ) -> anyhow::Result<Arc<dyn rustls::server::danger::ClientCertVerifier>> {
        let v = edge_api::mtls::svid::SvidClientVerifier::new(store, provider.clone())
            .context("cannot set up client certificate verification")?;
        Ok(Arc::new(v))
    }

    /// The verifier for the anchors now.
    fn now(&self) -> Arc<dyn rustls::server::danger::ClientCertVerifier> {
        let (at, store) = self.roots.current();
        let mut made = match self.made.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if made.0 != at {
            match Self::make(store, &self.provider) {
                Ok(v) => *made = (at, v),
                Err(e) => {
                    tracing::error!(error = %e, "the new trust anchors cannot verify certificates; the earlier ones stay");
                }
            }
        }
        made.1.clone()
    }
}

impl rustls::server::danger::ClientCertVerifier for ClientVerifier {
    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        // Hints would have to outlive a replacement of the anchors; a Margo
        // client presents its one identity without them.
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::server::danger::ClientCertVerified, rustls::Error> {
        self.now()
            .verify_client_cert(end_entity, intermediates, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.now().verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.now().verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.now().supported_verify_schemes()
    }
}

/// The caller of a connection, from the client certificate it presented
/// (the leaf of its chain, already verified against the trust bundle in
/// the handshake); `None` without one. The one place a caller's identity is
/// read from a connection.
pub(crate) fn caller_of(conn: &ConnInfo) -> Option<Caller> {
    let der = conn.certs.first()?.as_ref();
    Some(Caller {
        fingerprint: edge_model::digest::sha256(der).to_string(),
        spiffe_id: edge_api::mtls::spiffe_id(der),
        not_after: edge_api::mtls::not_after(der).unwrap_or(0),
    })
}

/// Accept mTLS connections until a stop is asked for (then drain), with the
/// process's listener limits (`crate::http::serve`); `router` builds the
/// service for one connection from its caller.
pub(crate) async fn serve<F>(
    listener: tokio::net::TcpListener,
    config: Arc<rustls::ServerConfig>,
    router: F,
) where
    F: Fn(Caller) -> axum::Router + Clone + Send + Sync + 'static,
{
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    crate::http::serve(
        listener,
        Some(acceptor),
        crate::http::Limits::current(),
        crate::stop::requested(),
        move |conn: ConnInfo| caller_of(&conn).map(&router),
    )
    .await;
}
