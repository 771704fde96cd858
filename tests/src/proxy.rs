//! A TCP proxy on loopback between an LO and the CO: every byte that passes
//! (TLS records, handshakes included) is counted per connection and
//! direction, and the link can be made to fail. [`Link::Up`] forwards;
//! [`Link::Drop`] closes every connection as soon as it is accepted (a link
//! that refuses); [`Link::Stall`] accepts connections and holds them without
//! forwarding a byte either way (a link that swallows traffic);
//! [`Link::Deaf`] forwards what the client sends on the connections already
//! open but loses every answer (a request that arrives, an answer that
//! does not). A change to any link but `Deaf` breaks the connections open
//! at that moment, as a link going down or coming back resets the flows
//! through it. Plain std threads: two per forwarded connection.

use std::io::{Read as _, Write as _};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// What the proxy does with connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// Forward both ways.
    Up,
    /// Close every connection once accepted.
    Drop,
    /// Accept and hold connections, forwarding nothing.
    Stall,
    /// Forward requests on open connections, lose the answers (new
    /// connections are held).
    Deaf,
}

impl Link {
    fn from_u8(v: u8) -> Link {
        match v {
            1 => Link::Drop,
            2 => Link::Stall,
            3 => Link::Deaf,
            _ => Link::Up,
        }
    }
}

/// Bytes in each direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bytes {
    /// Client (LO) to server (CO).
    pub up: u64,
    /// Server (CO) to client (LO).
    pub down: u64,
}

impl Bytes {
    /// Both directions.
    #[must_use]
    pub fn total(self) -> u64 {
        self.up + self.down
    }

    fn minus(self, earlier: Bytes) -> Bytes {
        Bytes {
            up: self.up - earlier.up,
            down: self.down - earlier.down,
        }
    }

    fn plus(self, other: Bytes) -> Bytes {
        Bytes {
            up: self.up + other.up,
            down: self.down + other.down,
        }
    }
}

#[derive(Default)]
struct Conn {
    up: AtomicU64,
    down: AtomicU64,
}

impl Conn {
    fn bytes(&self) -> Bytes {
        Bytes {
            up: self.up.load(Ordering::Relaxed),
            down: self.down.load(Ordering::Relaxed),
        }
    }
}

/// The counters at one moment.
pub struct Snapshot(Vec<Bytes>);

/// What moved since a [`Snapshot`].
#[derive(Debug)]
pub struct Moved {
    /// On connections that were already open at the snapshot.
    pub existing: Bytes,
    /// Per connection opened since, in order of opening.
    pub new: Vec<Bytes>,
}

impl Moved {
    /// Everything that moved.
    #[must_use]
    pub fn total(&self) -> Bytes {
        self.new.iter().fold(self.existing, |a, b| a.plus(*b))
    }

    /// What moved on connections opened since the snapshot.
    #[must_use]
    pub fn new_total(&self) -> Bytes {
        self.new.iter().fold(Bytes::default(), |a, b| a.plus(*b))
    }
}

/// What the accept loop and the tests share.
#[derive(Default)]
struct Shared {
    link: AtomicU8,
    /// Counters of every forwarded connection, in order of opening.
    conns: Mutex<Vec<Arc<Conn>>>,
    /// The sockets open now (both ends of forwarded ones, held ones), to
    /// break at the next change of link.
    open: Mutex<Vec<TcpStream>>,
    dropped: AtomicU64,
    held: AtomicU64,
    lost: AtomicU64,
}

/// A running proxy; dropping it stops accepting (open connections run on
/// until either side closes).
pub struct Proxy {
    /// Where it listens (127.0.0.1, a port of its own).
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
}

impl Proxy {
    /// Listen on 127.0.0.1 port 0 and forward every connection to `upstream`.
    ///
    /// # Panics
    /// When it cannot listen.
    #[must_use]
    pub fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("proxy: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("proxy: {e}"));
        let shared: Arc<Shared> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (sh, stopped) = (shared.clone(), stop.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if stopped.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(client) = client else { continue };
                accept(&sh, client, upstream);
            }
        });
        Proxy { addr, shared, stop }
    }

    /// Make the link `link` from now on, breaking the connections open now
    /// (unless it is [`Link::Deaf`]).
    pub fn set(&self, link: Link) {
        self.shared.link.store(link as u8, Ordering::SeqCst);
        if link == Link::Deaf {
            return;
        }
        let open = std::mem::take(
            &mut *self
                .shared
                .open
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        for s in open {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    /// What the link is now.
    #[must_use]
    pub fn link(&self) -> Link {
        Link::from_u8(self.shared.link.load(Ordering::SeqCst))
    }

    /// Connections closed on arrival so far ([`Link::Drop`]).
    #[must_use]
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Connections held so far ([`Link::Stall`]).
    #[must_use]
    pub fn held(&self) -> u64 {
        self.shared.held.load(Ordering::Relaxed)
    }

    /// Bytes of answers lost so far ([`Link::Deaf`]).
    #[must_use]
    pub fn lost(&self) -> u64 {
        self.shared.lost.load(Ordering::Relaxed)
    }

    fn all(&self) -> Vec<Bytes> {
        self.shared
            .conns
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|c| c.bytes())
            .collect()
    }

    /// Every byte so far.
    #[must_use]
    pub fn total(&self) -> Moved {
        self.since(&Snapshot(Vec::new()))
    }

    /// How many connections were forwarded so far.
    #[must_use]
    pub fn connections(&self) -> usize {
        self.shared
            .conns
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// The counters now.
    #[must_use]
    pub fn snapshot(&self) -> Snapshot {
        Snapshot(self.all())
    }

    /// What moved since `s`.
    #[must_use]
    pub fn since(&self, s: &Snapshot) -> Moved {
        let now = self.all();
        let existing = now
            .iter()
            .zip(&s.0)
            .fold(Bytes::default(), |a, (n, o)| a.plus(n.minus(*o)));
        Moved {
            existing,
            new: now[s.0.len()..].to_vec(),
        }
    }

    /// Wait until nothing has moved for `quiet` (at most `limit`).
    pub fn settle(&self, quiet: Duration, limit: Duration) {
        let deadline = Instant::now() + limit;
        let mut last = (self.connections(), self.total().total());
        let mut since = Instant::now();
        while Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
            let now = (self.connections(), self.total().total());
            if now != last {
                last = now;
                since = Instant::now();
            } else if since.elapsed() >= quiet {
                return;
            }
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

/// One accepted connection, as the link is now.
fn accept(sh: &Arc<Shared>, client: TcpStream, upstream: SocketAddr) {
    match Link::from_u8(sh.link.load(Ordering::SeqCst)) {
        Link::Drop => {
            sh.dropped.fetch_add(1, Ordering::Relaxed);
            let _ = client.shutdown(Shutdown::Both);
        }
        Link::Stall | Link::Deaf => {
            sh.held.fetch_add(1, Ordering::Relaxed);
            keep_open(sh, client);
        }
        Link::Up => {
            let Ok(server) = TcpStream::connect(upstream) else {
                return;
            };
            let conn = Arc::new(Conn::default());
            sh.conns
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(conn.clone());
            if let (Ok(c), Ok(s)) = (client.try_clone(), server.try_clone()) {
                keep_open(sh, c);
                keep_open(sh, s);
            }
            pipe(client, server, conn, sh.clone());
        }
    }
}

fn keep_open(sh: &Shared, s: TcpStream) {
    sh.open
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(s);
}

fn pipe(client: TcpStream, server: TcpStream, conn: Arc<Conn>, sh: Arc<Shared>) {
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (Ok(client2), Ok(server2)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    let c2 = conn.clone();
    std::thread::spawn(move || copy(client, server, &conn.up, None));
    std::thread::spawn(move || copy(server2, client2, &c2.down, Some(&sh)));
}

/// Copy `from` to `to`, counting; answers (`deaf` given) are lost while
/// the link is [`Link::Deaf`].
fn copy(mut from: TcpStream, mut to: TcpStream, count: &AtomicU64, deaf: Option<&Shared>) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                count.fetch_add(n as u64, Ordering::Relaxed);
                if let Some(sh) = deaf
                    && sh.link.load(Ordering::SeqCst) == Link::Deaf as u8
                {
                    sh.lost.fetch_add(n as u64, Ordering::Relaxed);
                    continue;
                }
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}
