//! What the CO's south listener and the LO's listener share: mutual TLS 1.3
//! (rustls; client certificates checked as X.509-SVIDs of the trust bundle), the
//! caller as read from its certificate, and the Margo Workload Management
//! API (rc.3) that both serve to edge nodes (`margo`, `blobs`) over the
//! [`backend::Backend`] each implements, built from per-device views of a
//! site repository (`view`, with the one cache of them both use), and the
//! wire form of Git objects riding on the CO's nudge to an LO (`carried`).

pub(crate) mod backend;
pub(crate) mod blobs;
#[cfg(any(feature = "co", feature = "lo"))]
pub(crate) mod carried;
pub(crate) mod margo;
pub(crate) mod view;

use std::sync::Arc;

use anyhow::Context as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

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
/// every client applies to its fleet manager too); the server presents
/// `cert` (whose URI SAN is its SPIFFE ID).
pub(crate) fn server_config(
    roots: Arc<rustls::RootCertStore>,
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = edge_api::mtls::svid::SvidClientVerifier::new(roots, provider.clone())
        .context("cannot set up client certificate verification")?;
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(Arc::new(verifier))
        .with_single_cert(vec![cert], key)?;
    Ok(Arc::new(config))
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
