//! The north API's TLS: the operator's certificate chain and key
//! (`--north-cert`, `--north-key`), or else a server certificate the CO's CA
//! issues at each start for localhost, the loopback addresses, the listen
//! address and `--north-names`; clients trust the CA's `DATA/ca/ca.crt`
//! (`edgectl login --ca-file`). TLS 1.3 only, no client certificates (the
//! north API authenticates bearer tokens). `--north-plain-http` turns it off,
//! for a TLS-terminating proxy on the same host.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::co::store::Store;
use crate::settings::Settings;

/// Longest certificate or key file read, bytes.
const MAX_PEM: u64 = 256 * 1024;
/// Days the issued north certificate is valid (a new one at every start).
const ISSUED_DAYS: i64 = 90;

/// The server configuration of the north listener bound to `addr`; `None`
/// for plain HTTP.
pub(crate) fn config(
    store: &Store,
    settings: &Settings,
    addr: SocketAddr,
) -> anyhow::Result<Option<Arc<rustls::ServerConfig>>> {
    if settings.north_plain_http {
        tracing::warn!(%addr, "the north API is plain HTTP: tokens cross the wire in the clear; put a TLS proxy in front on this host only");
        return Ok(None);
    }
    let (chain, key) = match (&settings.north_cert, &settings.north_key) {
        (Some(cert), Some(key)) => operator(cert, key)?,
        _ => issued(store, settings, addr)?,
    };
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("the north API's certificate and key do not go together")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Some(Arc::new(config)))
}

fn issued(
    store: &Store,
    settings: &Settings,
    addr: SocketAddr,
) -> anyhow::Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
    let mut names: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
    if !addr.ip().is_unspecified() {
        names.push(addr.ip().to_string());
    }
    for n in &settings.north_names {
        if !names.contains(n) {
            names.push(n.clone());
        }
    }
    let spiffe = format!("spiffe://{}/margo/wfm/co", store.trust_domain());
    let issued = store
        .ca()
        .issue(&spiffe, ISSUED_DAYS, &names, true)
        .with_context(|| {
            format!(
                "cannot issue the north API's certificate for {}",
                names.join(", ")
            )
        })?;
    let cert = CertificateDer::from_pem_slice(issued.cert_pem.as_bytes())
        .context("the north certificate does not read")?;
    let key = PrivateKeyDer::from_pem_slice(issued.key_pem.as_bytes())
        .context("the north key does not read")?;
    // The CA follows, so a device can pin it when it fetches the trust
    // bundle from here (`edged --mode en --trust-bundle-pin`).
    let ca = CertificateDer::from_pem_slice(store.ca().active_pem().as_bytes())
        .context("the CA certificate does not read")?;
    Ok((vec![cert, ca], key))
}

fn operator(
    cert: &Path,
    key: &Path,
) -> anyhow::Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
    let cert_pem = read_pem(cert)?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("`{}` is not a PEM certificate chain", cert.display()))?;
    anyhow::ensure!(
        !chain.is_empty(),
        "`{}` holds no certificate",
        cert.display()
    );
    let key_pem = read_pem(key)?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .with_context(|| format!("`{}` is not a PEM private key", key.display()))?;
    Ok((chain, key))
}

fn read_pem(path: &Path) -> anyhow::Result<Vec<u8>> {
    use std::io::Read as _;
    let f =
        std::fs::File::open(path).with_context(|| format!("cannot read `{}`", path.display()))?;
    let mut bytes = Vec::new();
    f.take(MAX_PEM + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read `{}`", path.display()))?;
    anyhow::ensure!(
        u64::try_from(bytes.len()).unwrap_or(u64::MAX) <= MAX_PEM,
        "`{}` is over {MAX_PEM} bytes: not a certificate or key file",
        path.display()
    );
    Ok(bytes)
}
