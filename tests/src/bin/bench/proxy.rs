//! A counting TCP proxy on loopback: every byte between the LO and the CO
//! (TLS records, handshakes included) passes through it and is counted per
//! connection and direction. Plain std threads: two per connection.

use std::io::{Read as _, Write as _};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Bytes in each direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Bytes {
    /// Client (LO) to server (CO).
    pub(crate) up: u64,
    /// Server (CO) to client (LO).
    pub(crate) down: u64,
}

impl Bytes {
    pub(crate) fn total(self) -> u64 {
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
pub(crate) struct Snapshot(Vec<Bytes>);

/// What moved since a [`Snapshot`].
#[derive(Debug)]
pub(crate) struct Moved {
    /// On connections that were already open at the snapshot.
    pub(crate) existing: Bytes,
    /// Per connection opened since, in order of opening.
    pub(crate) new: Vec<Bytes>,
}

impl Moved {
    pub(crate) fn total(&self) -> Bytes {
        self.new.iter().fold(self.existing, |a, b| a.plus(*b))
    }

    pub(crate) fn new_total(&self) -> Bytes {
        self.new.iter().fold(Bytes::default(), |a, b| a.plus(*b))
    }
}

/// A running proxy; dropping it stops accepting (open connections run on
/// until either side closes).
pub(crate) struct Proxy {
    pub(crate) addr: SocketAddr,
    conns: Arc<Mutex<Vec<Arc<Conn>>>>,
    stop: Arc<AtomicBool>,
}

impl Proxy {
    /// Listen on 127.0.0.1 port 0 and forward every connection to `upstream`.
    pub(crate) fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("proxy: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("proxy: {e}"));
        let conns: Arc<Mutex<Vec<Arc<Conn>>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (list, stopped) = (conns.clone(), stop.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if stopped.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(upstream) else {
                    continue;
                };
                let conn = Arc::new(Conn::default());
                list.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(conn.clone());
                pipe(client, server, conn);
            }
        });
        Proxy { addr, conns, stop }
    }

    fn all(&self) -> Vec<Bytes> {
        self.conns
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|c| c.bytes())
            .collect()
    }

    /// Every byte so far.
    pub(crate) fn total(&self) -> Moved {
        self.since(&Snapshot(Vec::new()))
    }

    /// How many connections were opened so far.
    pub(crate) fn connections(&self) -> usize {
        self.conns
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    pub(crate) fn snapshot(&self) -> Snapshot {
        Snapshot(self.all())
    }

    pub(crate) fn since(&self, s: &Snapshot) -> Moved {
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
    pub(crate) fn settle(&self, quiet: Duration, limit: Duration) {
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

fn pipe(client: TcpStream, server: TcpStream, conn: Arc<Conn>) {
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (Ok(client2), Ok(server2)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    let c2 = conn.clone();
    std::thread::spawn(move || copy(client, server, &conn.up));
    std::thread::spawn(move || copy(server2, client2, &c2.down));
}

fn copy(mut from: TcpStream, mut to: TcpStream, count: &AtomicU64) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                count.fetch_add(n as u64, Ordering::Relaxed);
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}
