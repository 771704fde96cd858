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

use edge_api::south::{CallError, South};
use edge_api::types::IntakeBatch;
use edge_outbox::{NewEntry, Outbox as Table, OutboxError};
use rusqlite::Connection;

use super::store::Lo;
use crate::backoff::{Backoff, chain};
use crate::error::ApiError;

/// The outbox's tables (`edge_outbox` owns them).
pub(crate) const SCHEMA: &str = edge_outbox::SCHEMA;

/// Most entries in one batch to the CO.
const BATCH: i64 = 500;

/// Most bytes of report bodies in one batch (a batch holds at least one
/// report; one is at most 1 MiB). The CO takes up to 16 MiB of JSON.
const BATCH_BYTES: usize = 2 * 1024 * 1024;

/// Wakes the forwarder when something was queued.
pub(crate) type Doorbell = crate::bell::Bell;

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
    pub(crate) fn load(c: &Connection, limit: u64) -> Result<Self, OutboxError> {
        Ok(Self {
            limit,
            used: AtomicU64::new(Table::used(c)?),
            stuck: AtomicBool::new(false),
        })
    }

    /// Queue one report (in the caller's transaction). `kind` and `subject`
    /// say what a newer report supersedes; `digest` is that of the document
    /// a status report is about, when known.
    pub(crate) fn push(
        &self,
        c: &Connection,
        kind: &str,
        subject: &str,
        device: &str,
        body: &str,
        digest: Option<&str>,
    ) -> Result<(), ApiError> {
        let limit = self.limit;
        let now = crate::clock::now();
        let entry = NewEntry {
            kind,
            subject,
            device,
            body,
            received_at: &now,
            digest,
        };
        let size = entry.size();
        let mut used = self.used.load(Ordering::Relaxed);
        if used + size > limit && !self.stuck.load(Ordering::Relaxed) {
            let dropped = Table::drop_superseded(c).map_err(internal)?;
            used = Table::used(c).map_err(internal)?;
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
            let oldest = Table::oldest(c).unwrap_or_default();
            tracing::warn!(
                used,
                limit,
                oldest,
                "outbox over 80% full: the CO has not taken reports since the oldest one"
            );
        }
        Table::insert(c, &entry).map_err(internal)?;
        self.used.fetch_add(size, Ordering::Relaxed);
        Ok(())
    }

    /// Drop everything up to `seq`, which the CO has stored.
    fn acked(&self, c: &Connection, seq: i64) -> Result<(), OutboxError> {
        Table::acked(c, seq)?;
        self.used.store(Table::used(c)?, Ordering::Relaxed);
        self.stuck.store(false, Ordering::Relaxed);
        Ok(())
    }
}

fn internal(e: OutboxError) -> ApiError {
    ApiError::internal(&e.into())
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
    let co = South::new(&lo.identity.file.server, client);
    let mut backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(30));
    let mut max_bytes = BATCH_BYTES;
    loop {
        let entries = match Table::pending(&lo.db(), BATCH, max_bytes) {
            Ok(e) => e,
            Err(e) => {
                tracing::error!(error = %chain(&e), "cannot read the outbox");
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
        let traced = crate::trace::forwarding(
            batch
                .entries
                .iter()
                .filter(|e| e.kind == "status")
                .map(|e| e.device.as_str()),
        );
        let _in = traced.as_ref().map(|(span, _)| span.enter());
        match co.intake_traced(&batch, traced.as_ref().map(|(_, tp)| tp.as_str())) {
            Ok(ack) => {
                if let Err(e) = lo.outbox.acked(&lo.db(), ack.acked) {
                    // The CO skips what it has; retrying resends, never duplicates.
                    tracing::error!(error = %chain(&e), "cannot clear forwarded reports");
                    std::thread::sleep(backoff.grow());
                    continue;
                }
                if let Some(after) = backoff.succeeded() {
                    tracing::info!(?after, "the CO takes reports again");
                }
                tracing::debug!(target: "latency", acked = ack.acked, "reports forwarded");
                max_bytes = BATCH_BYTES;
            }
            Err(CallError::TooLarge { .. }) if batch.entries.len() > 1 => {
                max_bytes /= 2;
                tracing::warn!(
                    max_bytes,
                    "the CO refused a batch as too large; sending smaller ones"
                );
            }
            Err(e) => {
                if !backoff.is_down() && !crate::stop::is_requested() {
                    tracing::warn!(error = %chain(&e), "cannot forward reports to the CO; they stay queued");
                }
                std::thread::sleep(backoff.failed());
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

    fn push(c: &Connection, o: &Outbox, subject: &str, body: &str) -> Result<(), ApiError> {
        o.push(c, "status", subject, "d", body, None)
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
        let left = Table::pending(&c, 100, usize::MAX).unwrap();
        assert_eq!(left.len(), 2);
        assert!(left[0].body.ends_with('9') && left[0].seq < left[1].seq);
        for i in 0..8 {
            push(&c, &o, &format!("other-{i}"), &body).unwrap();
        }
        let err = push(&c, &o, "one-more", &body).unwrap_err();
        assert_eq!(err.status(), axum::http::StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(Table::pending(&c, 100, usize::MAX).unwrap().len(), 10);
        // Once the CO takes some, there is room again.
        let seq = Table::pending(&c, 1, usize::MAX).unwrap()[0].seq;
        o.acked(&c, seq).unwrap();
        push(&c, &o, "one-more", &body).unwrap();
        // The running total equals the table's.
        assert_eq!(o.used.load(Ordering::Relaxed), Table::used(&c).unwrap());
    }

    #[test]
    fn batches_are_bounded_in_bytes_but_always_carry_one_report() {
        let c = db();
        let o = Outbox::load(&c, 1 << 30).unwrap();
        for i in 0..5 {
            push(&c, &o, &format!("d{i}"), &"y".repeat(1000)).unwrap();
        }
        assert_eq!(Table::pending(&c, 100, 2500).unwrap().len(), 2);
        assert_eq!(Table::pending(&c, 100, 10).unwrap().len(), 1);
        assert_eq!(Table::pending(&c, 3, usize::MAX).unwrap().len(), 3);
    }
}
