//! The one guarded server loop every listener of the daemon runs (the CO's
//! north and south listeners, the LO's, the node's operations socket):
//! [`serve`] accepts connections, refuses those over the listener's cap or
//! over the per-peer-address cap at once (closed before any TLS work),
//! finishes the optional TLS handshake within [`Limits::handshake`], then
//! serves HTTP/1.1 with hyper: the request head must arrive within
//! [`Limits::header`] (which also closes a keep-alive connection idle that
//! long), and a request body that sends nothing for [`Limits::body`] fails.
//! HTTP/2 is not offered (no ALPN; no client of these listeners speaks it).
//!
//! The limits are the process's ([`Limits::current`]): the defaults below,
//! overridden by the `listen-limits` setting, and the connection caps
//! lowered to stay well under the open-file limit (raised to its hard
//! limit at start, [`raise_file_limit`]).

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use rustls::pki_types::CertificateDer;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{Semaphore, watch};

/// Connections one listener holds open at most (lowered to a quarter of
/// the open-file limit).
pub(crate) const MAX_CONNECTIONS: usize = 4096;
/// Connections one peer address holds open on one listener at most (and
/// at most a quarter of the listener's cap).
pub(crate) const MAX_PER_PEER: usize = 64;
/// How long a client may take to finish the TLS handshake.
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a request head may take to arrive; also how long a keep-alive
/// connection may sit idle between requests (hyper runs one timer for both).
/// Longer than the usual gaps between a client's requests (a node polls
/// every 30 s by default, an LO's watch every 25 s), so a server closing an
/// idle connection rarely races a client reusing it; slow senders are held
/// to the per-peer cap meanwhile.
pub(crate) const HEADER_TIMEOUT: Duration = Duration::from_secs(75);
/// How long a request body may send nothing before the request fails.
pub(crate) const BODY_STALL_TIMEOUT: Duration = Duration::from_secs(60);
/// How long, after a termination signal, requests in flight may finish.
pub(crate) const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest connection cap the setting takes.
const MAX_COUNT: usize = 1_000_000;
/// Open files kept for everything else (databases, Git, artifacts, logs)
/// when the connection caps are sized from the open-file limit.
const FILES_PER_CONNECTION: u64 = 4;

/// The limits of one listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Open connections at most.
    pub connections: usize,
    /// Open connections from one peer address at most (Unix sockets: not
    /// applied, every peer is local).
    pub per_peer: usize,
    /// TLS handshake deadline.
    pub handshake: Duration,
    /// Request-head deadline, and keep-alive idle time.
    pub header: Duration,
    /// Longest silence inside a request body.
    pub body: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            connections: MAX_CONNECTIONS,
            per_peer: MAX_PER_PEER,
            handshake: HANDSHAKE_TIMEOUT,
            header: HEADER_TIMEOUT,
            body: BODY_STALL_TIMEOUT,
        }
    }
}

static CURRENT: OnceLock<Limits> = OnceLock::new();

impl Limits {
    /// The process's limits (set once at start; the defaults until then).
    pub(crate) fn current() -> Self {
        CURRENT.get().copied().unwrap_or_default()
    }

    /// Make these the process's limits (the first call wins).
    pub(crate) fn install(self) {
        let _ = CURRENT.set(self);
    }

    /// The caps lowered so that every listener full stays well under
    /// `files` open files.
    #[must_use]
    pub fn within_files(mut self, files: u64) -> Self {
        let room = usize::try_from(files / FILES_PER_CONNECTION).unwrap_or(usize::MAX);
        self.connections = self.connections.min(room).max(1);
        // One address never fills the listener.
        self.per_peer = self.per_peer.min((self.connections / 4).max(1));
        self
    }

    /// Read `connections=N,per-peer=N,handshake=D,header=D,body=D` (any
    /// subset; durations as `10s` or `500ms`) over the defaults.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let mut l = Self::default();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| format!("`{part}` is not KEY=VALUE"))?;
            let count = || -> Result<usize, String> {
                value
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=MAX_COUNT).contains(n))
                    .ok_or_else(|| {
                        format!("`{value}` is not a count from 1 to {MAX_COUNT} for `{key}`")
                    })
            };
            match key {
                "connections" => l.connections = count()?,
                "per-peer" => l.per_peer = count()?,
                "handshake" => l.handshake = duration(value)?,
                "header" => l.header = duration(value)?,
                "body" => l.body = duration(value)?,
                other => {
                    return Err(format!(
                        "`{other}` is not a listener limit; use connections, per-peer, handshake, header or body"
                    ));
                }
            }
        }
        Ok(l)
    }
}

/// `10s`, `500ms` (at least 1 ms).
fn duration(v: &str) -> Result<Duration, String> {
    let parsed = if let Some(ms) = v.strip_suffix("ms") {
        ms.parse().ok().map(Duration::from_millis)
    } else if let Some(s) = v.strip_suffix('s') {
        s.parse().ok().map(Duration::from_secs)
    } else {
        None
    };
    parsed.filter(|d| !d.is_zero()).ok_or_else(|| {
        format!("`{v}` is not a duration; use seconds (`10s`) or milliseconds (`500ms`)")
    })
}

impl std::fmt::Display for Limits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "connections={},per-peer={},handshake={}ms,header={}ms,body={}ms",
            self.connections,
            self.per_peer,
            self.handshake.as_millis(),
            self.header.as_millis(),
            self.body.as_millis()
        )
    }
}

/// The open-file limit as found at start and as raised (`None`: unlimited),
/// and why it could not be raised.
#[derive(Debug, Clone)]
struct FileLimit {
    was: Option<u64>,
    now: Option<u64>,
    refused: Option<String>,
}

static FILES: OnceLock<FileLimit> = OnceLock::new();

/// Raise the soft open-file limit to the hard one; the soft limit now in
/// force. Logged once the first listener serves (a daemon that cannot
/// start prints its one error line and nothing before it).
pub(crate) fn raise_file_limit() -> u64 {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let was = getrlimit(Resource::Nofile);
    let wanted = Rlimit {
        current: was.maximum,
        maximum: was.maximum,
    };
    let found = match setrlimit(Resource::Nofile, wanted) {
        Ok(()) => FileLimit {
            was: was.current,
            now: was.maximum,
            refused: None,
        },
        Err(e) => FileLimit {
            was: was.current,
            now: was.current,
            refused: Some(e.to_string()),
        },
    };
    let now = found.now.unwrap_or(u64::MAX);
    let _ = FILES.set(found);
    now
}

/// Log the open-file limit and the listener limits, once per process.
fn announce(limits: &Limits) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let files = FILES.get();
        let (was, now) = (files.and_then(|f| f.was), files.and_then(|f| f.now));
        if let Some(e) = files.and_then(|f| f.refused.as_deref()) {
            tracing::warn!(error = e, files = ?now, "cannot raise the open-file limit");
        }
        tracing::info!(files = ?now, files_before = ?was, %limits, "listener limits");
    });
}

/// What a connection's router is built from.
#[derive(Debug, Clone)]
pub(crate) struct ConnInfo {
    /// The peer's address (`None` on a Unix socket).
    pub(crate) peer: Option<SocketAddr>,
    /// The certificate chain the client presented, leaf first (empty
    /// without TLS or without a client certificate).
    pub(crate) certs: Vec<CertificateDer<'static>>,
}

/// A listener [`serve`] accepts from: TCP or a Unix socket.
pub(crate) trait Listen: Send + 'static {
    /// One accepted connection.
    type Io: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    /// The next connection and its peer's address.
    fn next(
        &mut self,
    ) -> impl Future<Output = std::io::Result<(Self::Io, Option<SocketAddr>)>> + Send;
}

impl Listen for tokio::net::TcpListener {
    type Io = tokio::net::TcpStream;
    async fn next(&mut self) -> std::io::Result<(Self::Io, Option<SocketAddr>)> {
        let (tcp, peer) = self.accept().await?;
        // Small answers go out at once (Nagle would hold a reply behind the
        // TLS session ticket, about 40 ms on every new connection).
        let _ = tcp.set_nodelay(true);
        Ok((tcp, Some(peer)))
    }
}

impl Listen for tokio::net::UnixListener {
    type Io = tokio::net::UnixStream;
    async fn next(&mut self) -> std::io::Result<(Self::Io, Option<SocketAddr>)> {
        let (io, _) = self.accept().await?;
        Ok((io, None))
    }
}

/// Open connections per peer address.
#[derive(Default)]
struct Peers(Mutex<HashMap<IpAddr, usize>>);

/// One counted connection of a peer; uncounted when dropped.
struct PeerSlot {
    peers: Arc<Peers>,
    ip: Option<IpAddr>,
}

impl Peers {
    fn take(self: &Arc<Self>, ip: Option<IpAddr>, cap: usize) -> Option<PeerSlot> {
        if let Some(ip) = ip {
            let mut map = self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let n = map.entry(ip).or_insert(0);
            if *n >= cap {
                return None;
            }
            *n += 1;
        }
        Some(PeerSlot {
            peers: self.clone(),
            ip,
        })
    }
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        if let Some(ip) = self.ip {
            let mut map = self
                .peers
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(n) = map.get_mut(&ip) {
                *n -= 1;
                if *n == 0 {
                    map.remove(&ip);
                }
            }
        }
    }
}

/// Serve `listener` until `shutdown` completes, then let requests in flight
/// finish (at most [`DRAIN_TIMEOUT`]). With `tls`, every connection first
/// completes a handshake; `router_for_conn` then builds the service of one
/// connection from its peer and client certificates (`None` closes it).
pub(crate) async fn serve<L, F>(
    mut listener: L,
    tls: Option<tokio_rustls::TlsAcceptor>,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send,
    router_for_conn: F,
) where
    L: Listen,
    F: Fn(ConnInfo) -> Option<axum::Router> + Clone + Send + Sync + 'static,
{
    announce(&limits);
    let open = Arc::new(Semaphore::new(limits.connections));
    let peers = Arc::new(Peers::default());
    let (stop, stopping) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (io, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.next() => match accepted {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors and the like: do not spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        // Refused connections are closed here, before any TLS work.
        let Ok(permit) = open.clone().try_acquire_owned() else {
            tracing::debug!(
                ?peer,
                cap = limits.connections,
                "connection refused: listener full"
            );
            continue;
        };
        let Some(slot) = peers.take(peer.map(|p| p.ip()), limits.per_peer) else {
            tracing::debug!(
                ?peer,
                cap = limits.per_peer,
                "connection refused: too many from this address"
            );
            continue;
        };
        let (tls, router_for_conn, stopping) =
            (tls.clone(), router_for_conn.clone(), stopping.clone());
        tokio::spawn(async move {
            let _held = (permit, slot);
            match tls {
                None => {
                    let info = ConnInfo {
                        peer,
                        certs: Vec::new(),
                    };
                    if let Some(router) = accepted(&router_for_conn, info) {
                        connection(io, peer, router, limits, stopping).await;
                    }
                }
                Some(acceptor) => {
                    let tls =
                        match tokio::time::timeout(limits.handshake, acceptor.accept(io)).await {
                            Ok(Ok(tls)) => tls,
                            Ok(Err(e)) => {
                                tracing::info!(?peer, error = %e, "TLS handshake refused");
                                return;
                            }
                            Err(_) => {
                                tracing::info!(?peer, "TLS handshake timed out");
                                return;
                            }
                        };
                    let certs = tls
                        .get_ref()
                        .1
                        .peer_certificates()
                        .map(|c| c.iter().map(|c| c.clone().into_owned()).collect())
                        .unwrap_or_default();
                    if let Some(router) = accepted(&router_for_conn, ConnInfo { peer, certs }) {
                        connection(tls, peer, router, limits, stopping).await;
                    }
                }
            }
        });
    }
    drop(listener);
    let _ = stop.send(true);
    // Every connection holds a permit: all of them back means all closed.
    let all = u32::try_from(limits.connections).unwrap_or(u32::MAX);
    if tokio::time::timeout(DRAIN_TIMEOUT, open.acquire_many(all))
        .await
        .is_err()
    {
        tracing::info!("requests still in flight after the drain time; closing them");
    }
}

/// The router of a connection, or `None` (logged) when it is refused.
fn accepted(
    router_for_conn: &impl Fn(ConnInfo) -> Option<axum::Router>,
    info: ConnInfo,
) -> Option<axum::Router> {
    let peer = info.peer;
    let router = router_for_conn(info);
    if router.is_none() {
        tracing::info!(?peer, "connection refused: no acceptable identity");
    }
    router
}

/// Serve HTTP/1.1 on one connection until the client closes it, a deadline
/// passes, or the listener stops (then the request in flight finishes).
/// Every request of a TCP peer carries its `ConnectInfo<SocketAddr>`.
async fn connection<I>(
    io: I,
    peer: Option<SocketAddr>,
    router: axum::Router,
    limits: Limits,
    mut stopping: watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut router = router.layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
        limits.body,
    ));
    if let Some(peer) = peer {
        // What `axum::serve` with connect info gives handlers: the peer.
        router = router.layer(axum::Extension(axum::extract::ConnectInfo(peer)));
    }
    let service = hyper_util::service::TowerToHyperService::new(router);
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header)
        .keep_alive(true);
    let conn = builder.serve_connection(TokioIo::new(io), service);
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => return,
        _ = stopping.wait_for(|s| *s) => {}
    }
    conn.as_mut().graceful_shutdown();
    let _ = conn.await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    /// Serve a router that answers each request with its peer, under
    /// `limits`; the address.
    async fn echo_peer(limits: Limits) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = axum::Router::new().route(
            "/",
            axum::routing::get(
                |axum::extract::ConnectInfo(p): axum::extract::ConnectInfo<SocketAddr>| async move {
                    p.to_string()
                },
            ),
        );
        tokio::spawn(serve(
            listener,
            None,
            limits,
            std::future::pending(),
            move |_| Some(router.clone()),
        ));
        addr
    }

    /// Read until the server closes the connection; what it sent.
    async fn until_closed(s: &mut tokio::net::TcpStream) -> String {
        let mut out = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
        assert!(read.is_ok(), "the server kept the connection open");
        String::from_utf8_lossy(&out).into_owned()
    }

    #[tokio::test]
    async fn the_loop_caps_peers_cuts_slow_heads_and_tells_handlers_the_peer() {
        let limits = Limits {
            per_peer: 2,
            header: Duration::from_millis(300),
            ..Limits::default()
        };
        let addr = echo_peer(limits).await;
        let connect = || tokio::net::TcpStream::connect(addr);
        let mut idle = [connect().await.unwrap(), connect().await.unwrap()];
        // A third from the same address is closed at once, unanswered.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut third = connect().await.unwrap();
        let _ = third.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert_eq!(until_closed(&mut third).await, "");
        // The idle ones are cut at the head deadline, which frees the address.
        for s in &mut idle {
            assert_eq!(until_closed(s).await, "");
        }
        let mut ok = connect().await.unwrap();
        ok.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let answer = until_closed(&mut ok).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(
            answer.contains("127.0.0.1:"),
            "the handler saw no peer: {answer}"
        );
    }

    #[test]
    fn limits_read_over_the_defaults_and_fit_the_file_limit() {
        let l = Limits::parse("per-peer=8, header=500ms,body=2s").unwrap();
        assert_eq!(l.per_peer, 8);
        assert_eq!(l.header, Duration::from_millis(500));
        assert_eq!(l.body, Duration::from_secs(2));
        assert_eq!(l.connections, MAX_CONNECTIONS);
        assert_eq!(Limits::parse(&l.to_string()).unwrap(), l);
        for bad in [
            "per-peer=0",
            "header=5",
            "nope=1",
            "connections",
            "body=0s",
            "connections=9999999",
        ] {
            assert!(Limits::parse(bad).is_err(), "{bad}");
        }
        let small = Limits::default().within_files(256);
        assert_eq!((small.connections, small.per_peer), (64, 16));
        assert_eq!(Limits::default().within_files(1 << 20), Limits::default());
    }
}
