//! Attacks on the listeners: half-sent requests, idle connections, floods of
//! connections before and after the TLS handshake, from one peer and many.
//!
//! The daemons run through a small shell wrapper that sets
//! `EDGED_LISTEN_LIMITS` (short deadlines, small caps) and, for the LO on a
//! 256-file budget, `ulimit -n`; an `edged` that does not know the setting
//! ignores the variable, which is how these tests failed before the limits.
//! Floods come from `127.0.0.2` (all of `127/8` is loopback), the legitimate
//! client from `127.0.0.1`: another peer address.

use std::io::{ErrorKind, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use edge_tests::co::{Co, bin, ok};
use edge_tests::fleet::{Fleet, fleet};
use edge_tests::lo::{Lo, Margo};
use edge_tests::wait::{EVERY, until_true, within};

/// Connections from one address these tests allow (the CO's and the LO's).
const PER_PEER: usize = 16;
/// Connections a flood opens (modest, so CI stays fast).
const FLOOD: usize = 120;

/// An `edged` that runs with `limits` (and a file limit, when given).
fn wrapped(dir: &Path, limits: &str, files: Option<u32>) -> PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let script = dir.join(format!("edged-{}.sh", files.unwrap_or(0)));
    let ulimit = files
        .map(|n| format!("ulimit -n {n}\n"))
        .unwrap_or_default();
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n{ulimit}EDGED_LISTEN_LIMITS='{limits}' exec '{}' \"$@\"\n",
            bin("edged").display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

/// The `HOST:PORT` of a URL.
fn addr_of(url: &str) -> SocketAddr {
    let rest = url.split("://").nth(1).unwrap_or(url);
    rest.trim_end_matches('/').parse().unwrap()
}

/// A TCP connection to `to` from the address `from` (port chosen).
fn connect_from(rt: &tokio::runtime::Runtime, from: &str, to: SocketAddr) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{from}:0").parse().unwrap()).unwrap();
    let stream = rt.block_on(socket.connect(to)).unwrap();
    let std = stream.into_std().unwrap();
    std.set_nonblocking(false).unwrap();
    std
}

/// Whether the server has closed `s` (it reads end of file or a reset);
/// `false` while it is open and silent.
fn closed(mut s: &TcpStream) -> bool {
    s.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 512];
    let r = loop {
        match s.read(&mut buf) {
            Ok(0) => break true,
            Ok(_) => {} // an answer (a refusal page): keep reading
            Err(e) if e.kind() == ErrorKind::WouldBlock => break false,
            Err(_) => break true,
        }
    };
    s.set_nonblocking(false).unwrap();
    r
}

/// Open [`FLOOD`] idle connections from `127.0.0.2`; wait until all but at
/// most [`PER_PEER`] were closed by the server; returns the ones it holds.
fn flood_is_capped(
    rt: &tokio::runtime::Runtime,
    to: SocketAddr,
    log: impl Fn() -> String,
) -> Vec<TcpStream> {
    let mut flood: Vec<TcpStream> = (0..FLOOD)
        .map(|_| connect_from(rt, "127.0.0.2", to))
        .collect();
    let mut held = FLOOD;
    let capped = within(Duration::from_secs(5), EVERY, || {
        held = flood.iter().filter(|s| !closed(s)).count();
        (held <= PER_PEER).then_some(())
    });
    assert!(
        capped.is_some(),
        "{held} of {FLOOD} idle connections from one address are held open (cap {PER_PEER})\n{}",
        log()
    );
    flood.retain(|s| !closed(s));
    flood
}

/// Wait until the server closes `s`, at most `limit`.
fn closed_within(s: &TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    within(limit, EVERY, || closed(s).then(|| started.elapsed()))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The north API: a half-sent request head and an idle keep-alive
/// connection are closed within the header deadline, a stalled body within
/// the body deadline; a flood of idle
/// connections from one address is capped while another client is served.
#[test]
fn the_north_api_closes_slow_and_idle_connections_and_caps_a_flood() {
    let dir = tempfile::tempdir().unwrap();
    let edged = wrapped(
        dir.path(),
        &format!("per-peer={PER_PEER},header=1s,body=1s"),
        None,
    );
    // Plain HTTP, so the test can write raw request heads: the loop and its
    // deadlines are the same behind TLS (the LO's test below covers floods
    // before and after the handshake).
    let co = Co::start_with(&dir.path().join("co"), &["--north-plain-http"], &edged);
    let north = addr_of(&co.url);
    let rt = runtime();

    let mut half = connect_from(&rt, "127.0.0.1", north);
    half.write_all(b"GET /api/sites HTTP/1.1\r\nHost: co\r\nAuthorization: Bearer x")
        .unwrap();
    let took = closed_within(&half, Duration::from_secs(10));
    assert!(
        took.is_some(),
        "a half-sent request head is held open\n{}",
        co.log()
    );

    let mut slow = connect_from(&rt, "127.0.0.1", north);
    let head = format!(
        "POST /api/sites HTTP/1.1\r\nHost: co\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"name\"",
        co.token
    );
    slow.write_all(head.as_bytes()).unwrap();
    let took = closed_within(&slow, Duration::from_secs(10));
    assert!(
        took.is_some(),
        "a stalled request body is held open\n{}",
        co.log()
    );

    let mut idle = connect_from(&rt, "127.0.0.1", north);
    idle.write_all(b"GET /api/health HTTP/1.1\r\nHost: co\r\n\r\n")
        .unwrap();
    let took = closed_within(&idle, Duration::from_secs(10));
    assert!(
        took.is_some(),
        "an idle keep-alive connection is held open\n{}",
        co.log()
    );

    let flood = flood_is_capped(&rt, north, || co.log());
    ok(&co.edgectl(&["co", "list", "sites"]));
    drop(flood);
    // The address gets connections again once its flood is gone.
    let served_again = within(Duration::from_secs(10), EVERY, || {
        let mut again = connect_from(&rt, "127.0.0.2", north);
        again
            .write_all(b"GET /api/health HTTP/1.1\r\nHost: co\r\nConnection: close\r\n\r\n")
            .ok()?;
        let mut answer = String::new();
        again.read_to_string(&mut answer).ok()?;
        answer.starts_with("HTTP/1.1 200").then_some(())
    });
    assert!(
        served_again.is_some(),
        "127.0.0.2 is still refused after its flood closed\n{}",
        co.log()
    );
}

/// TLS client settings presenting the identity in `creds` to the LO.
fn tls_to_lo(creds: &Path) -> Arc<rustls::ClientConfig> {
    let id = edge_api::mtls::Identity::load(creds).unwrap();
    Arc::new(id.client_config(&id.wfm_id("plant-1")).unwrap())
}

/// Complete a TLS handshake on `tcp`; `None` when the server closed it.
fn handshake(
    config: &Arc<rustls::ClientConfig>,
    mut tcp: TcpStream,
) -> Option<rustls::StreamOwned<rustls::ClientConnection, TcpStream>> {
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut conn = rustls::ClientConnection::new(config.clone(), name).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    while conn.is_handshaking() {
        if conn.complete_io(&mut tcp).is_err() {
            return None;
        }
    }
    // TLS 1.3: the server's verdict on the client certificate comes after.
    conn.writer().write_all(b"").ok()?;
    conn.complete_io(&mut tcp).ok()?;
    Some(rustls::StreamOwned::new(conn, tcp))
}

/// The LO's mutual-TLS port: floods before and after the handshake from
/// one address are capped, a connection that completed its handshake and
/// then sends nothing is closed, and a device keeps syncing throughout.
#[test]
fn the_los_port_caps_floods_before_and_after_the_handshake_and_a_device_still_syncs() {
    let f: Fleet = fleet();
    let edged = wrapped(
        f.dir.path(),
        &format!("per-peer={PER_PEER},header=2s,handshake=30s"),
        None,
    );
    let lo = Lo::start_with(&f.lo_creds, &f.dir.path().join("lo"), &[], &edged);
    let port: SocketAddr = format!("127.0.0.1:{}", lo.port()).parse().unwrap();
    let m1 = Margo::new(&f.d1, &lo.url, "plant-1");
    let syncs = |m: &Margo| {
        m.send("GET", "/api/v1/deployments", &[], None)
            .map(|r| r.status)
    };
    assert_eq!(syncs(&m1), Ok(200));
    let rt = runtime();

    // Before the handshake: raw TCP, nothing sent.
    let held = flood_is_capped(&rt, port, || lo.log());
    assert_eq!(syncs(&m1), Ok(200), "a device cannot sync during the flood");
    drop(held);

    // After the handshake: a device's own certificate, then silence.
    let config = tls_to_lo(&f.d2);
    let mut done = Vec::new();
    within(Duration::from_secs(10), EVERY, || {
        // The closed raw connections must be gone at the LO first.
        let tcp = connect_from(&rt, "127.0.0.2", port);
        handshake(&config, tcp).map(|s| done.push(s))
    })
    .expect("no handshake from 127.0.0.2 after its flood closed");
    for _ in 1..FLOOD {
        if let Some(s) = handshake(&config, connect_from(&rt, "127.0.0.2", port)) {
            done.push(s);
        }
    }
    let open = done.iter().filter(|s| !closed(&s.sock)).count();
    assert!(
        open <= PER_PEER,
        "{open} TLS connections from one address held (cap {PER_PEER})\n{}",
        lo.log()
    );
    assert_eq!(
        syncs(&m1),
        Ok(200),
        "a device cannot sync during the TLS flood"
    );
    let first = &done[0].sock;
    assert!(
        closed_within(first, Duration::from_secs(10)).is_some(),
        "a silent connection after the handshake is held open\n{}",
        lo.log()
    );
}

/// An LO whose process may open only 256 files keeps answering its devices
/// under 300 connections from one address: its caps are sized from the
/// file limit.
#[test]
fn an_lo_with_256_files_keeps_answering_under_300_connections() {
    let f: Fleet = fleet();
    let edged = wrapped(f.dir.path(), "handshake=30s", Some(256));
    let lo = Lo::start_with(&f.lo_creds, &f.dir.path().join("lo"), &[], &edged);
    let port: SocketAddr = format!("127.0.0.1:{}", lo.port()).parse().unwrap();
    let m1 = Margo::new(&f.d1, &lo.url, "plant-1");
    let rt = runtime();
    let flood: Vec<TcpStream> = (0..300)
        .map(|_| connect_from(&rt, "127.0.0.2", port))
        .collect();
    until_true(
        "the LO answers its device under the flood",
        Duration::from_secs(10),
        EVERY,
        || {
            m1.send("GET", "/api/v1/deployments", &[], None)
                .is_ok_and(|r| r.status == 200)
        },
    );
    assert!(!lo.log().contains("Too many open files"), "{}", lo.log());
    drop(flood);
}
