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

use std::sync::{Arc, Condvar, Mutex};
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
";

/// Most entries in one batch to the CO.
const BATCH: i64 = 500;

/// Wakes the forwarder when something was queued.
#[derive(Default)]
pub(crate) struct Doorbell {
    rung: Mutex<bool>,
    cv: Condvar,
}

impl Doorbell {
    pub(crate) fn ring(&self) {
        *self
            .rung
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = true;
        self.cv.notify_all();
    }

    /// Wait until rung or `timeout` passes.
    fn wait(&self, timeout: Duration) {
        let guard = self
            .rung
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (mut guard, _) = self
            .cv
            .wait_timeout_while(guard, timeout, |rung| !*rung)
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *guard = false;
    }
}

fn total(c: &Connection) -> rusqlite::Result<u64> {
    c.query_row("SELECT COALESCE(SUM(bytes), 0) FROM outbox", [], |r| {
        r.get::<_, i64>(0)
    })
    .map(|n| u64::try_from(n).unwrap_or(0))
}

/// Queue one report. `grp`+`subject` say what a newer report supersedes.
pub(crate) fn push(
    c: &Connection,
    limit: u64,
    kind: &str,
    subject: &str,
    device: &str,
    body: &str,
) -> Result<(), ApiError> {
    let grp = if kind.starts_with("capabilities") {
        "capabilities"
    } else {
        "status"
    };
    let size = body.len() as u64 + 128;
    let mut used = total(c)?;
    if used + size > limit {
        let dropped = c.execute(
            "DELETE FROM outbox WHERE seq NOT IN (SELECT MAX(seq) FROM outbox GROUP BY grp, subject)",
            [],
        )?;
        used = total(c)?;
        tracing::warn!(
            dropped,
            used,
            limit,
            "outbox full: dropped reports superseded by newer ones"
        );
        if used + size > limit {
            return Err(ApiError::unavailable(
                format!(
                    "the local orchestrator cannot reach the central orchestrator and its outbox is full ({used} of {limit} bytes); keep the report and retry later"
                ),
                60,
            ));
        }
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
    Ok(())
}

/// Entries waiting, oldest first.
pub(crate) fn pending(c: &Connection, limit: i64) -> rusqlite::Result<Vec<IntakeEntry>> {
    let mut st =
        c.prepare("SELECT seq, kind, device, body, received_at FROM outbox ORDER BY seq LIMIT ?1")?;
    st.query_map([limit], |r| {
        Ok(IntakeEntry {
            seq: r.get(0)?,
            kind: r.get(1)?,
            device: r.get(2)?,
            body: r.get(3)?,
            received_at: r.get(4)?,
        })
    })?
    .collect()
}

/// Forward the outbox to the CO until the process ends: a batch at a time,
/// deleting what the CO acknowledged; exponential back-off while it is away.
pub(crate) fn forward(lo: Arc<Lo>) {
    let client = match lo
        .identity
        .blocking_client(&lo.identity.wfm_id("co"), Duration::from_secs(30))
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
    loop {
        let entries = match pending(&lo.db(), BATCH) {
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
        let sent = client
            .post(&url)
            .json(&batch)
            .send()
            .map_err(|e| e.to_string())
            .and_then(|r| {
                if r.status().is_success() {
                    r.json::<IntakeAck>().map_err(|e| e.to_string())
                } else {
                    Err(format!("the CO answered {}", r.status()))
                }
            });
        match sent {
            Ok(ack) => {
                if let Err(e) = lo
                    .db()
                    .execute("DELETE FROM outbox WHERE seq <= ?1", [ack.acked])
                {
                    tracing::error!(error = %e, "cannot clear forwarded reports");
                }
                if let Some(since) = down_since.take() {
                    tracing::info!(after = ?since.elapsed(), "the CO takes reports again");
                }
                tracing::debug!(acked = ack.acked, "reports forwarded");
                backoff = Duration::from_millis(250);
            }
            Err(e) => {
                if down_since.is_none() {
                    tracing::warn!(
                        error = e,
                        "cannot forward reports to the CO; they stay queued"
                    );
                    down_since = Some(std::time::Instant::now());
                }
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        let c = Connection::open_in_memory().unwrap();
        c.execute_batch(SCHEMA).unwrap();
        c
    }

    #[test]
    fn at_the_bound_superseded_reports_go_first_then_new_ones_are_refused() {
        let c = db();
        let body = "x".repeat(1000);
        let limit = 10 * 1128;
        for i in 0..10 {
            push(
                &c,
                limit,
                "status",
                "dep-a",
                "d",
                &format!("{body}{i}")[1..],
            )
            .unwrap();
        }
        // Full: the nine older reports of dep-a are superseded and dropped.
        push(&c, limit, "status", "dep-b", "d", &body).unwrap();
        let left = pending(&c, 100).unwrap();
        assert_eq!(left.len(), 2);
        assert!(left[0].body.ends_with('9') && left[0].seq < left[1].seq);
        for i in 0..8 {
            push(&c, limit, "status", &format!("other-{i}"), "d", &body).unwrap();
        }
        let err = push(&c, limit, "status", "one-more", "d", &body).unwrap_err();
        assert_eq!(err.status(), axum::http::StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(pending(&c, 100).unwrap().len(), 10);
    }
}
