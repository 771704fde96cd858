//! The CO's event ring, behind the event stream (`GET /api/events`,
//! Server-Sent Events, served by `http::north::events`): every change of
//! deployments, reported status, devices and the app store, as it happens,
//! numbered so a client that reconnects with `Last-Event-ID` gets what it
//! missed. Operations publish here after they have stored a change.
//!
//! Events live in memory, in a ring of the last [`KEEP`]; their ids keep
//! growing across restarts (`db::events`: the database holds where the next
//! start goes on from, reserved [`BLOCK`] ids ahead, so ids given before a
//! kill -9 are never given again; a clean stop, [`Events::close`], records
//! the exact next id, so they go on without a gap). A client that asks for
//! an id older than the ring holds (also one given before a restart, when
//! events came in between) gets one `reset` event first, telling it to read
//! the state again through the REST API.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Mutex, PoisonError};

use anyhow::Context as _;
use edge_api::types::Event;
use rusqlite::Connection;

use super::db;

/// Events kept for clients that reconnect.
pub(crate) const KEEP: usize = 10_000;

/// Ids reserved at a time in the database: one write per this many events
/// (a few seconds at the highest intake rates measured).
pub(crate) const BLOCK: u64 = 100_000;

/// The next id to give, and the first one the database does not cover yet.
struct Ids {
    next: u64,
    reserved: u64,
}

/// The ring of recent events and a bell for waiting streams.
pub(crate) struct Events {
    ring: Mutex<VecDeque<Event>>,
    ids: Mutex<Ids>,
    /// Where ids are recorded across restarts.
    keep: Mutex<Connection>,
    bell: tokio::sync::watch::Sender<u64>,
}

impl Events {
    /// Events numbered after every id given by earlier runs on the
    /// database `path` (a connection of their own, so publishing never
    /// waits for the store's).
    ///
    /// # Errors
    /// When the database cannot be opened or its mark not read or moved.
    pub(crate) fn open(path: &Path) -> anyhow::Result<Self> {
        let conn = Connection::open(path)
            .with_context(|| format!("cannot open the database `{}`", path.display()))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let first = db::events::next(&conn).context("cannot read where event ids go on")?;
        // This start's first block, safe from reuse after a crash.
        db::events::set_next(&conn, first + BLOCK)
            .context("cannot record where event ids go on")?;
        Ok(Self {
            ring: Mutex::new(VecDeque::new()),
            ids: Mutex::new(Ids {
                next: first,
                reserved: first + BLOCK,
            }),
            keep: Mutex::new(conn),
            bell: tokio::sync::watch::Sender::new(first - 1),
        })
    }

    /// Record an event and wake the streams.
    pub(crate) fn publish(
        &self,
        kind: &str,
        subject: &str,
        site: Option<&str>,
        data: serde_json::Value,
    ) {
        let mut ids = self.ids.lock().unwrap_or_else(PoisonError::into_inner);
        let id = ids.next;
        ids.next += 1;
        if id >= ids.reserved {
            // Once per BLOCK events: the next start must begin past this one.
            let mark = id + BLOCK;
            let conn = self.keep.lock().unwrap_or_else(PoisonError::into_inner);
            match db::events::set_next(&conn, mark) {
                Ok(()) => ids.reserved = mark,
                Err(e) => tracing::warn!(
                    error = %e,
                    id,
                    "cannot record where event ids go on; after a crash, ids from here may be given again"
                ),
            }
        }
        let mut ring = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
        ring.push_back(Event {
            id,
            kind: kind.to_owned(),
            subject: subject.to_owned(),
            site: site.map(str::to_owned),
            data,
            at: crate::clock::now(),
        });
        while ring.len() > KEEP {
            ring.pop_front();
        }
        drop(ring);
        drop(ids);
        self.bell.send_replace(id);
    }

    /// Events after `last`, and whether some between were missed: dropped
    /// from the ring, or given before this start.
    pub(crate) fn after(&self, last: u64) -> (Vec<Event>, bool) {
        // The ids' lock first, as `publish` takes them.
        let next = self.ids.lock().unwrap_or_else(PoisonError::into_inner).next;
        let ring = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
        let oldest = ring.front().map_or(next, |e| e.id);
        let gap = last.saturating_add(1) < oldest;
        (ring.iter().filter(|e| e.id > last).cloned().collect(), gap)
    }

    /// The id of the newest event (the last one of an earlier start, or 0,
    /// before this start's first).
    pub(crate) fn newest(&self) -> u64 {
        self.ids.lock().unwrap_or_else(PoisonError::into_inner).next - 1
    }

    /// A receiver that wakes whenever an event is published.
    pub(crate) fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.bell.subscribe()
    }

    /// A clean stop: the next start goes on with the very next id. (An
    /// event published after this still reserves its block first.)
    pub(crate) fn close(&self) {
        let mut ids = self.ids.lock().unwrap_or_else(PoisonError::into_inner);
        let conn = self.keep.lock().unwrap_or_else(PoisonError::into_inner);
        match db::events::set_next(&conn, ids.next) {
            Ok(()) => ids.reserved = ids.next,
            Err(e) => {
                tracing::warn!(error = %e, "cannot record where event ids go on; the next start skips some");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_grow_across_starts_with_no_gap_after_a_clean_stop() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("edged.db");
        drop(db::open(&path).unwrap());
        let first = Events::open(&path).unwrap();
        first.publish("site.added", "a", Some("a"), serde_json::json!({}));
        first.publish("site.added", "b", Some("b"), serde_json::json!({}));
        assert_eq!(first.newest(), 2);
        first.close();
        drop(first);

        let second = Events::open(&path).unwrap();
        assert_eq!(second.newest(), 2, "goes on from the last one");
        // A client that saw everything missed nothing; one that did not
        // is told so.
        assert_eq!(second.after(2), (vec![], false));
        assert!(second.after(1).1);
        second.publish("site.added", "c", Some("c"), serde_json::json!({}));
        assert_eq!(second.after(2).0[0].id, 3);
        // Killed (no close): the next start begins past every id reserved.
        drop(second);
        let third = Events::open(&path).unwrap();
        assert_eq!(third.newest(), 3 + BLOCK - 1);
        assert!(
            third.after(3).1,
            "what came after 3 before the crash is unknown"
        );
        third.publish("site.added", "d", Some("d"), serde_json::json!({}));
        assert_eq!(third.after(3).0[0].id, 3 + BLOCK);
    }

    #[test]
    fn a_new_block_is_reserved_before_its_first_id_is_given() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("edged.db");
        drop(db::open(&path).unwrap());
        let events = Events::open(&path).unwrap();
        // As if a whole block had been given.
        events.ids.lock().unwrap().next = BLOCK + 1;
        events.publish("status", "x", Some("s"), serde_json::json!({}));
        drop(events);
        let again = Events::open(&path).unwrap();
        assert_eq!(again.newest(), BLOCK + 1 + BLOCK - 1);
    }
}
