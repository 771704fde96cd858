//! What the CO's south listener and the LO's listener share: mutual TLS 1.3
//! (rustls; client certificates verified against the trust bundle), the
//! caller as read from its certificate, and the Margo Workload Management
//! API (rc.3) that both serve to edge nodes (`margo`, `blobs`), with the
//! read-only OCI registry beside it (`registry`), over the
//! [`backend::Backend`] each implements, built from per-device views of a
//! site repository (`view`, with the one cache of them both use), and the
//! wire form of Git objects riding on the CO's nudge to an LO (`carried`).

pub(crate) mod backend;
pub(crate) mod blobs;
#[cfg(any(feature = "co", feature = "lo"))]
pub(crate) mod carried;
pub(crate) mod margo;
pub(crate) mod registry;
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
/// or `…/client/<client>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Principal {
    pub(crate) trust_domain: String,
    pub(crate) wfm: String,
    pub(crate) client: Option<String>,
}

impl Principal {
    /// Split a SPIFFE ID; `None` when it is not a Margo fleet manager or client.
    pub(crate) fn parse(id: &str) -> Option<Self> {
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
        let ok = segment_ok;
        if td.is_empty() || !ok(wfm) || !client.as_deref().is_none_or(ok) {
            return None;
        }
        Some(Self {
            trust_domain: td.to_owned(),
            wfm: wfm.to_owned(),
            client,
        })
    }
}

/// Whether `s` can be one path segment of a SPIFFE ID (RFC 3986 unreserved, not `.`/`..`).
pub(crate) fn segment_ok(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

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

/// TLS 1.3 only, client certificates required and verified against `roots`;
/// the server presents `cert` (whose URI SAN is its SPIFFE ID).
pub(crate) fn server_config(
    roots: Arc<rustls::RootCertStore>,
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier =
        rustls::server::WebPkiClientVerifier::builder_with_provider(roots, provider.clone())
            .build()
            .context("cannot set up client certificate verification")?;
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
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

#[cfg(test)]
mod tests {
    use super::Principal;

    #[test]
    fn principals_split_exactly() {
        let lo = Principal::parse("spiffe://edge.local/margo/wfm/plant-1").unwrap();
        assert_eq!((lo.wfm.as_str(), lo.client), ("plant-1", None));
        let en = Principal::parse("spiffe://edge.local/margo/wfm/plant-1/client/press-7").unwrap();
        assert_eq!(en.client.as_deref(), Some("press-7"));
        for bad in [
            "https://edge.local/margo/wfm/a",
            "spiffe://edge.local/margo/wfm",
            "spiffe://edge.local/margo/wfm/a/client",
            "spiffe://edge.local/margo/wfm/a/client/b/c",
            "spiffe://edge.local/margo/wfm/a/other/b",
            "spiffe://edge.local/margo/wfm/../client/b",
            "spiffe:///margo/wfm/a",
        ] {
            assert!(Principal::parse(bad).is_none(), "{bad}");
        }
    }
}
