//! The LO's durable outbox: capabilities and status reports from edge nodes,
//! stored in SQLite before the node gets its answer, and forwarded to the CO
//! in order, in batches, until the CO acknowledges them.
//!
//! The outbox is bounded in bytes. Near the bound (80 %) it warns, naming the
//! oldest entry's age; at the bound it first drops reports that a newer
//! report of the same subject supersedes (an older status of the same
//! deployment, older capabilities of the same device), so the latest truth
//! is never lost; only when that is not enough does it answer 503 with
//! `Retry-After`, and the edge node keeps the report and retries.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use edge_api::types::{IntakeAck, IntakeBatch, IntakeEntry};
use rusqlite::{Connection, params};

use super::store::Lo;
use crate::error::ApiError;

pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    grp TEXT NOT NULL,
    subject TEXT NOT NULL,
    device TEXT NOT NULL,
    body TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    received_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_subject ON outbox (grp, subject, seq);
";

/// Most entries in one batch to the CO.
const BATCH: i64 = 500;

/// Most bytes of report bodies in one batch (a batch holds at least one
/// report; one is at most 1 MiB). The CO takes up to 16 MiB of JSON.
const BATCH_BYTES: usize = 2 * 1024 * 1024;

/// Wakes the forwarder when something was queued.
pub(crate) type Doorbell = crate::bell::Bell;

fn total(c: &Connection) -> rusqlite::Result<u64> {
    c.query_row("SELECT COALESCE(SUM(bytes), 0) FROM outbox", [], |r| {
        r.get::<_, i64>(0)
    })
    .map(|n| u64::try_from(n).unwrap_or(0))
}

/// The outbox's bound and what it holds, kept in memory so a report costs no
/// table scan; the table is the truth (re-read after every acknowledgement).
pub(crate) struct Outbox {
    limit: u64,
    used: AtomicU64,
    /// Set when dropping superseded reports freed nothing; cleared when the
    /// CO takes reports. Saves a useless scan on every report while full.
    stuck: AtomicBool,
}

impl Outbox {
    /// The outbox of the database `c`, bounded to `limit` bytes.
    pub(crate) fn load(c: &Connection, limit: u64) -> rusqlite::Result<Self> {
        Ok(Self {
            limit,
            used: AtomicU64::new(total(c)?),
            stuck: AtomicBool::new(false),
        })
    }

    /// Queue one report (in the caller's transaction). `kind` and `subject`
    /// say what a newer report supersedes.
    pub(crate) fn push(
        &self,
        c: &Connection,
        kind: &str,
        subject: &str,
        device: &str,
        body: &str,
    ) -> Result<(), ApiError> {
        let limit = self.limit;
        let grp = if kind.starts_with("capabilities") {
            "capabilities"
        } else {
            "status"
        };
        let size = body.len() as u64 + 128;
        let mut used = self.used.load(Ordering::Relaxed);
        if used + size > limit && !self.stuck.load(Ordering::Relaxed) {
            let dropped = c.execute(
                "DELETE FROM outbox WHERE seq NOT IN (SELECT MAX(seq) FROM outbox GROUP BY grp, subject)",
                [],
            )?;
            used = total(c)?;
            self.used.store(used, Ordering::Relaxed);
            self.stuck.store(dropped == 0, Ordering::Relaxed);
            tracing::warn!(
                dropped,
                used,
                limit,
                "outbox full: dropped reports superseded by newer ones"
            );
        }
        if used + size > limit {
            return Err(ApiError::unavailable(
                format!(
                    "the local orchestrator cannot reach the central orchestrator and its outbox is full ({used} of {limit} bytes); keep the report and retry later"
                ),
                60,
            ));
        }
        if (used + size) * 5 > limit * 4 && used * 5 <= limit * 4 {
            let oldest: String = c
                .query_row(
                    "SELECT COALESCE(MIN(received_at), '') FROM outbox",
                    [],
                    |r| r.get(0),
                )
                .unwrap_or_default();
            tracing::warn!(
                used,
                limit,
                oldest,
                "outbox over 80% full: the CO has not taken reports since the oldest one"
            );
        }
        c.execute(
            "INSERT INTO outbox (kind, grp, subject, device, body, bytes, received_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![kind, grp, subject, device, body, i64::try_from(size).unwrap_or(i64::MAX), crate::clock::now()],
        )?;
        self.used.fetch_add(size, Ordering::Relaxed);
        Ok(())
    }

    /// Drop everything up to `seq`, which the CO has stored.
    fn acked(&self, c: &Connection, seq: i64) -> rusqlite::Result<()> {
        c.execute("DELETE FROM outbox WHERE seq <= ?1", [seq])?;
        self.used.store(total(c)?, Ordering::Relaxed);
        self.stuck.store(false, Ordering::Relaxed);
        Ok(())
    }
}

/// Entries waiting, oldest first: at most `limit` of them and, beyond the
/// first, at most `max_bytes` of bodies.
pub(crate) fn pending(
    c: &Connection,
    limit: i64,
    max_bytes: usize,
) -> rusqlite::Result<Vec<IntakeEntry>> {
    let mut st =
        c.prepare("SELECT seq, kind, device, body, received_at FROM outbox ORDER BY seq LIMIT ?1")?;
    let rows = st.query_map([limit], |r| {
        Ok(IntakeEntry {
            seq: r.get(0)?,
            kind: r.get(1)?,
            device: r.get(2)?,
            body: r.get(3)?,
            received_at: r.get(4)?,
        })
    })?;
    let mut out = Vec::new();
    let mut bytes = 0;
    for row in rows {
        let e = row?;
        bytes += e.body.len();
        if !out.is_empty() && bytes > max_bytes {
            break;
        }
        out.push(e);
    }
    Ok(out)
}

/// Forward the outbox to the CO until the process ends: a batch at a time,
/// deleting what the CO acknowledged; exponential back-off while it is away.
pub(crate) fn forward(lo: Arc<Lo>) {
    // A batch may be large and the link slow: allow minutes, not seconds.
    let client = match lo
        .identity
        .blocking_client(&lo.identity.wfm_id("co"), Duration::from_secs(300))
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot make the client for the CO; reports stay queued");
            return;
        }
    };
    let url = format!(
        "{}/lo/v1/intake",
        lo.identity.file.server.trim_end_matches('/')
    );
    let mut backoff = Duration::from_millis(250);
    let mut down_since: Option<std::time::Instant> = None;
    let mut max_bytes = BATCH_BYTES;
    loop {
        let entries = match pending(&lo.db(), BATCH, max_bytes) {
            Ok(e) => e,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the outbox");
                std::thread::sleep(Duration::from_secs(5));
                continue;
            }
        };
        if entries.is_empty() {
            lo.doorbell.wait(Duration::from_secs(5));
            continue;
        }
        let batch = IntakeBatch {
            epoch: lo.epoch.clone(),
            entries,
        };
        match send(&client, &url, &batch) {
            Ok(ack) => {
                if let Err(e) = lo.outbox.acked(&lo.db(), ack.acked) {
                    // The CO skips what it has; retrying resends, never duplicates.
                    tracing::error!(error = %e, "cannot clear forwarded reports");
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                    continue;
                }
                if let Some(since) = down_since.take() {
                    tracing::info!(after = ?since.elapsed(), "the CO takes reports again");
                }
                tracing::debug!(acked = ack.acked, "reports forwarded");
                backoff = Duration::from_millis(250);
                max_bytes = BATCH_BYTES;
            }
            Err(Refused::TooLarge) if batch.entries.len() > 1 => {
                max_bytes /= 2;
                tracing::warn!(
                    max_bytes,
                    "the CO refused a batch as too large; sending smaller ones"
                );
            }
            Err(e) => {
                if down_since.is_none() {
                    tracing::warn!(error = %e, "cannot forward reports to the CO; they stay queued");
                    down_since = Some(std::time::Instant::now());
                }
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    }
}

/// Why a batch was not taken.
#[derive(Debug)]
enum Refused {
    TooLarge,
    Other(String),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::TooLarge => f.write_str("the CO refused the batch as too large"),
            Refused::Other(s) => f.write_str(s),
        }
    }
}

fn send(
    client: &reqwest::blocking::Client,
    url: &str,
    batch: &IntakeBatch,
) -> Result<IntakeAck, Refused> {
    let r = client
        .post(url)
        .json(batch)
        .send()
        .map_err(|e| Refused::Other(e.to_string()))?;
    let status = r.status();
    if status.is_success() {
        return r
            .json::<IntakeAck>()
            .map_err(|e| Refused::Other(e.to_string()));
    }
    if status == reqwest::StatusCode::PAYLOAD_TOO_LARGE {
        return Err(Refused::TooLarge);
    }
    let detail = r
        .json::<serde_json::Value>()
        .ok()
        .and_then(|p| p["detail"].as_str().map(str::to_owned))
        .unwrap_or_default();
    Err(Refused::Other(format!(
        "the CO answered {status}: {detail}"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let c = Connection::open_in_memory().unwrap();
        c.execute_batch(SCHEMA).unwrap();
        c
    }

    fn push(c: &Connection, o: &Outbox, subject: &str, body: &str) -> Result<(), ApiError> {
        o.push(c, "status", subject, "d", body)
    }

    #[test]
    fn at_the_bound_superseded_reports_go_first_then_new_ones_are_refused() {
        let c = db();
        let o = Outbox::load(&c, 10 * 1128).unwrap();
        let body = "x".repeat(1000);
        for i in 0..10 {
            push(&c, &o, "dep-a", &format!("{body}{i}")[1..]).unwrap();
        }
        // Full: the nine older reports of dep-a are superseded and dropped.
        push(&c, &o, "dep-b", &body).unwrap();
        let left = pending(&c, 100, usize::MAX).unwrap();
        assert_eq!(left.len(), 2);
        assert!(left[0].body.ends_with('9') && left[0].seq < left[1].seq);
        for i in 0..8 {
            push(&c, &o, &format!("other-{i}"), &body).unwrap();
        }
        let err = push(&c, &o, "one-more", &body).unwrap_err();
        assert_eq!(err.status(), axum::http::StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(pending(&c, 100, usize::MAX).unwrap().len(), 10);
        // Once the CO takes some, there is room again.
        let seq = pending(&c, 1, usize::MAX).unwrap()[0].seq;
        o.acked(&c, seq).unwrap();
        push(&c, &o, "one-more", &body).unwrap();
        // The running total equals the table's.
        assert_eq!(o.used.load(Ordering::Relaxed), total(&c).unwrap());
    }

    #[test]
    fn batches_are_bounded_in_bytes_but_always_carry_one_report() {
        let c = db();
        let o = Outbox::load(&c, 1 << 30).unwrap();
        for i in 0..5 {
            push(&c, &o, &format!("d{i}"), &"y".repeat(1000)).unwrap();
        }
        assert_eq!(pending(&c, 100, 2500).unwrap().len(), 2);
        assert_eq!(pending(&c, 100, 10).unwrap().len(), 1);
        assert_eq!(pending(&c, 3, usize::MAX).unwrap().len(), 3);
    }
}
