//! An attack that held: downgrading TLS. Every TLS listener (the CO's north
//! API and its south port, the LO's Margo port) speaks TLS 1.3 only, so a
//! client offering only TLS 1.2 gets no session, even with a valid identity
//! and the right trust anchor; the same client offering 1.3 gets one.

use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use edge_tests::fleet::{fleet, south_url};
use edge_tests::lo::Lo;

/// Accepts any server certificate: these tests ask only which protocol
/// versions a server agrees to, so who it is does not matter here.
#[derive(Debug)]
struct AnyServer(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyServer {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A client offering only `version`, presenting the identity `identity`
/// (when given).
fn client(
    version: &'static rustls::SupportedProtocolVersion,
    identity: Option<&edge_api::mtls::Identity>,
) -> Arc<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[version])
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyServer(provider)));
    Arc::new(match identity {
        Some(id) => builder
            .with_client_auth_cert(vec![id.cert.clone()], id.key.clone_key())
            .unwrap(),
        None => builder.with_no_client_auth(),
    })
}

/// Whether a handshake with `addr` (named `localhost`) completes.
fn handshakes(config: &Arc<rustls::ClientConfig>, addr: &str) -> bool {
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut conn = rustls::ClientConnection::new(config.clone(), name).unwrap();
    while conn.is_handshaking() {
        if conn.complete_io(&mut tcp).is_err() {
            return false;
        }
    }
    true
}

fn host_port(url: &str) -> String {
    url.split("://")
        .nth(1)
        .unwrap()
        .trim_end_matches('/')
        .to_owned()
}

/// A fleet with its LO running: each TLS listener's address, with the
/// identity a client presents to it (none for the north API).
struct Listeners {
    north: String,
    south: String,
    lo_port: String,
    device: edge_api::mtls::Identity,
    lo_id: edge_api::mtls::Identity,
    // Dropped last: the LO, then the fleet's CO and folder.
    _lo: Lo,
    _f: edge_tests::fleet::Fleet,
}

impl Listeners {
    fn start() -> Self {
        let f = fleet();
        let lo = Lo::start(&f.lo_creds, &f.dir.path().join("lo"), &[]);
        Self {
            north: host_port(&f.co.url),
            south: host_port(&south_url(&f.lo_creds)),
            lo_port: format!("127.0.0.1:{}", lo.port()),
            device: edge_api::mtls::Identity::load(&f.d1).unwrap(),
            lo_id: edge_api::mtls::Identity::load(&f.lo_creds).unwrap(),
            _lo: lo,
            _f: f,
        }
    }

    fn each(&self) -> [(&'static str, &str, Option<&edge_api::mtls::Identity>); 3] {
        [
            ("the CO's north API", &self.north, None),
            ("the CO's south port", &self.south, Some(&self.lo_id)),
            ("the LO's Margo port", &self.lo_port, Some(&self.device)),
        ]
    }
}

#[test]
fn every_tls_listener_refuses_tls_1_2() {
    let l = Listeners::start();
    for (what, addr, id) in l.each() {
        let old = client(&rustls::version::TLS12, id);
        assert!(!handshakes(&old, addr), "{what} accepted TLS 1.2");
        let new = client(&rustls::version::TLS13, id);
        assert!(handshakes(&new, addr), "{what} refused TLS 1.3");
    }
}

/// A handshake with `addr`, a request read to its end (so session tickets
/// sent after the handshake reach the client), and the handshake's kind.
fn handshake_kind(config: &Arc<rustls::ClientConfig>, addr: &str) -> rustls::HandshakeKind {
    use std::io::{Read as _, Write as _};
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut conn = rustls::ClientConnection::new(config.clone(), name).unwrap();
    let mut tls = rustls::Stream::new(&mut conn, &mut tcp);
    tls.write_all(b"GET /.well-known/spiffe/bundle.json HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    let _ = tls.read_to_end(&mut answer);
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    conn.handshake_kind().unwrap()
}

/// MIAF: resumption must not keep a peer authenticated past its SVID or the
/// bundle. No mTLS listener resumes a session: each connection is a full
/// handshake, its certificate checked again.
#[test]
fn no_mtls_listener_resumes_a_session() {
    let l = Listeners::start();
    // The mTLS listeners: those a client presents an identity to.
    for (what, addr, id) in l.each() {
        let Some(id) = id else { continue };
        // One client, with rustls's default session cache: it would resume.
        let config = client(&rustls::version::TLS13, Some(id));
        assert_eq!(
            handshake_kind(&config, addr),
            rustls::HandshakeKind::Full,
            "{what}"
        );
        assert_eq!(
            handshake_kind(&config, addr),
            rustls::HandshakeKind::Full,
            "{what} resumed a session"
        );
    }
}

/// rc.3: the API runs over HTTP/1.1. A client offering HTTP/2 by ALPN is not
/// given it by any listener (no protocol, or `http/1.1`), and its HTTP/1.1
/// request is answered.
#[test]
fn no_listener_agrees_to_http_2() {
    use std::io::{Read as _, Write as _};
    let l = Listeners::start();
    for (what, addr, id) in l.each() {
        let mut config = (*client(&rustls::version::TLS13, id)).clone();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let config = Arc::new(config);
        let mut tcp = TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let mut conn = rustls::ClientConnection::new(config, name).unwrap();
        let mut tls = rustls::Stream::new(&mut conn, &mut tcp);
        tls.write_all(
            b"GET /.well-known/margo HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        )
        .unwrap();
        let mut answer = Vec::new();
        let _ = tls.read_to_end(&mut answer);
        assert_ne!(
            conn.alpn_protocol(),
            Some(&b"h2"[..]),
            "{what} agreed to HTTP/2"
        );
        assert!(
            answer.starts_with(b"HTTP/1.1 "),
            "{what}: {}",
            String::from_utf8_lossy(&answer)
        );
    }
}
