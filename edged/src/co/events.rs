//! The CO's event ring, behind the event stream (`GET /api/events`,
//! Server-Sent Events, served by `http::north::events`): every change of
//! deployments, reported status, devices and the app store, as it happens,
//! numbered so a client that reconnects with `Last-Event-ID` gets what it
//! missed. Operations publish here after they have stored a change.
//!
//! Events live in memory, in a ring of the last [`KEEP`] (a restart starts
//! over at 1); a client that asks for an id older than the ring holds gets
//! one `reset` event first, telling it to read the state again through the
//! REST API.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};

use edge_api::types::Event;

/// Events kept for clients that reconnect.
pub(crate) const KEEP: usize = 10_000;

/// The ring of recent events and a bell for waiting streams.
pub(crate) struct Events {
    ring: Mutex<VecDeque<Event>>,
    next: Mutex<u64>,
    bell: tokio::sync::watch::Sender<u64>,
}

impl Default for Events {
    fn default() -> Self {
        Self {
            ring: Mutex::new(VecDeque::new()),
            next: Mutex::new(1),
            bell: tokio::sync::watch::Sender::new(0),
        }
    }
}

impl Events {
    /// Record an event and wake the streams.
    pub(crate) fn publish(
        &self,
        kind: &str,
        subject: &str,
        site: Option<&str>,
        data: serde_json::Value,
    ) {
        let mut next = self.next.lock().unwrap_or_else(PoisonError::into_inner);
        let id = *next;
        *next += 1;
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
        drop(next);
        self.bell.send_replace(id);
    }

    /// Events after `last`, and whether some between were dropped from the ring.
    pub(crate) fn after(&self, last: u64) -> (Vec<Event>, bool) {
        let ring = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
        let gap = ring.front().is_some_and(|e| e.id > last + 1);
        (ring.iter().filter(|e| e.id > last).cloned().collect(), gap)
    }

    /// The id of the newest event (0 before the first).
    pub(crate) fn newest(&self) -> u64 {
        *self.next.lock().unwrap_or_else(PoisonError::into_inner) - 1
    }

    /// A receiver that wakes whenever an event is published.
    pub(crate) fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.bell.subscribe()
    }
}
