//! The node's telemetry buffer: export requests taken from workloads (their
//! resources already stamped) wait in `en.db` (table `otlp_buffer`) until the
//! LO takes them, so they survive a crash or a `kill -9`. It holds at most
//! `--otlp-buffer-max-bytes` of request bodies; a new request that does not
//! fit pushes out the oldest ones, each counted in [`Buffer::dropped`].

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context as _;
use rusqlite::{Connection, params};

use crate::otlp::Signal;

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS otlp_buffer (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    signal TEXT NOT NULL,
    body BLOB NOT NULL
);";

/// Why a request was not kept.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PutError {
    /// Larger than the whole buffer.
    #[error("a request of {0} bytes is larger than the whole buffer ({1} bytes)")]
    TooLarge(usize, u64),
    /// The database failed.
    #[error("the telemetry buffer cannot be written: {0}")]
    Store(#[from] rusqlite::Error),
}

/// Requests waiting for the LO, oldest first.
pub(crate) struct Buffer {
    conn: Mutex<Connection>,
    max: u64,
    /// Requests pushed out, unsent, to make room (since the daemon started).
    pub(crate) dropped: AtomicU64,
    /// Requests taken from workloads.
    pub(crate) received: AtomicU64,
    /// Requests the LO took.
    pub(crate) forwarded: AtomicU64,
    /// Requests the LO refused for good (malformed, not this device's).
    pub(crate) refused: AtomicU64,
    /// Bytes waiting now.
    pub(crate) bytes: AtomicU64,
    /// Rung when a request was kept (wakes the forwarder).
    pub(crate) bell: crate::bell::Bell,
}

/// A run of the oldest waiting requests of one signal.
pub(crate) struct Batch {
    pub(crate) signal: Signal,
    pub(crate) ids: Vec<i64>,
    /// The requests joined: concatenated export requests are one request
    /// holding all their resources.
    pub(crate) body: Vec<u8>,
}

impl Buffer {
    /// Open the buffer in the database at `path` (the node's `en.db`),
    /// holding at most `max` bytes.
    pub(crate) fn open(path: &Path, max: u64) -> anyhow::Result<Self> {
        let conn = Connection::open(path)
            .with_context(|| format!("cannot open the database `{}`", path.display()))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;
        let bytes: i64 = conn.query_row(
            "SELECT COALESCE(SUM(length(body)), 0) FROM otlp_buffer",
            [],
            |r| r.get(0),
        )?;
        Ok(Self {
            conn: Mutex::new(conn),
            max,
            dropped: AtomicU64::new(0),
            received: AtomicU64::new(0),
            forwarded: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            bytes: AtomicU64::new(u64::try_from(bytes).unwrap_or(0)),
            bell: crate::bell::Bell::default(),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Keep `body`, pushing out the oldest requests while the buffer would
    /// hold more than its limit.
    pub(crate) fn put(&self, signal: Signal, body: &[u8]) -> Result<(), PutError> {
        let len = body.len() as u64;
        if len > self.max {
            return Err(PutError::TooLarge(body.len(), self.max));
        }
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "INSERT INTO otlp_buffer (signal, body) VALUES (?1, ?2)",
            params![signal.as_str(), body],
        )?;
        let mut total: i64 = tx.query_row(
            "SELECT COALESCE(SUM(length(body)), 0) FROM otlp_buffer",
            [],
            |r| r.get(0),
        )?;
        let mut dropped = 0;
        while u64::try_from(total).unwrap_or(0) > self.max {
            let (id, n): (i64, i64) = tx.query_row(
                "SELECT id, length(body) FROM otlp_buffer ORDER BY id LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            tx.execute("DELETE FROM otlp_buffer WHERE id = ?1", [id])?;
            total -= n;
            dropped += 1;
        }
        tx.commit()?;
        self.bytes
            .store(u64::try_from(total).unwrap_or(0), Ordering::Relaxed);
        self.received.fetch_add(1, Ordering::Relaxed);
        if dropped > 0 {
            self.dropped.fetch_add(dropped, Ordering::Relaxed);
            tracing::warn!(
                dropped,
                max = self.max,
                "the telemetry buffer is full: the oldest requests were dropped"
            );
        }
        drop(conn);
        self.bell.ring();
        Ok(())
    }

    /// The oldest waiting requests of one signal, joined, up to `limit`
    /// bytes (always at least one); `None` when nothing waits.
    pub(crate) fn batch(&self, limit: usize) -> rusqlite::Result<Option<Batch>> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare("SELECT id, signal, body FROM otlp_buffer ORDER BY id LIMIT 256")?;
        let mut rows = stmt.query([])?;
        let mut batch: Option<Batch> = None;
        while let Some(row) = rows.next()? {
            let (id, signal, body): (i64, String, Vec<u8>) =
                (row.get(0)?, row.get(1)?, row.get(2)?);
            let Some(signal) = Signal::parse(&signal) else {
                continue;
            };
            match &mut batch {
                None => {
                    batch = Some(Batch {
                        signal,
                        ids: vec![id],
                        body,
                    });
                }
                Some(b) if b.signal == signal && b.body.len() + body.len() <= limit => {
                    b.ids.push(id);
                    b.body.extend_from_slice(&body);
                }
                Some(_) => break,
            }
        }
        Ok(batch)
    }

    /// Forget the requests `ids` (sent, or refused for good).
    pub(crate) fn remove(&self, ids: &[i64]) -> rusqlite::Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        for id in ids {
            tx.execute("DELETE FROM otlp_buffer WHERE id = ?1", [id])?;
        }
        let total: i64 = tx.query_row(
            "SELECT COALESCE(SUM(length(body)), 0) FROM otlp_buffer",
            [],
            |r| r.get(0),
        )?;
        tx.commit()?;
        self.bytes
            .store(u64::try_from(total).unwrap_or(0), Ordering::Relaxed);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_go_first_when_full_and_what_is_kept_survives_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("en.db");
        let b = Buffer::open(&path, 100).unwrap();
        b.put(Signal::Traces, &[1; 40]).unwrap();
        b.put(Signal::Traces, &[2; 40]).unwrap();
        b.put(Signal::Metrics, &[3; 40]).unwrap();
        assert_eq!(b.dropped.load(Ordering::Relaxed), 1);
        assert_eq!(b.bytes.load(Ordering::Relaxed), 80);
        assert!(matches!(
            b.put(Signal::Logs, &[4; 101]),
            Err(PutError::TooLarge(101, 100))
        ));
        drop(b);
        let b = Buffer::open(&path, 100).unwrap();
        assert_eq!(b.bytes.load(Ordering::Relaxed), 80);
        let first = b.batch(1000).unwrap().unwrap();
        assert_eq!(first.signal, Signal::Traces);
        assert_eq!(first.body, vec![2; 40], "one signal per batch");
        b.remove(&first.ids).unwrap();
        let second = b.batch(1000).unwrap().unwrap();
        assert_eq!((second.signal, second.body.len()), (Signal::Metrics, 40));
        b.remove(&second.ids).unwrap();
        assert!(b.batch(1000).unwrap().is_none());
        assert_eq!(b.bytes.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_batch_joins_requests_of_one_signal_up_to_its_limit() {
        let dir = tempfile::tempdir().unwrap();
        let b = Buffer::open(&dir.path().join("en.db"), 1000).unwrap();
        for _ in 0..3 {
            b.put(Signal::Logs, &[7; 30]).unwrap();
        }
        let batch = b.batch(65).unwrap().unwrap();
        assert_eq!((batch.ids.len(), batch.body.len()), (2, 60));
    }
}
