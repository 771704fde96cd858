//! The CO's event stream (`GET /api/events`, Server-Sent Events): every
//! change of deployments, reported status, devices and the app store, as it
//! happens, numbered so a client that reconnects with `Last-Event-ID` gets
//! what it missed.
//!
//! Events live in memory, in a ring of the last [`KEEP`] (a restart starts
//! over at 1); a client that asks for an id older than the ring holds gets
//! one `reset` event first, telling it to read the state again through the
//! REST API.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use edge_api::types::Event;
use futures_util::Stream;

use super::store::Store;

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
    fn after(&self, last: u64) -> (Vec<Event>, bool) {
        let ring = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
        let gap = ring.front().is_some_and(|e| e.id > last + 1);
        (ring.iter().filter(|e| e.id > last).cloned().collect(), gap)
    }

    /// The id of the newest event (0 before the first).
    fn newest(&self) -> u64 {
        *self.next.lock().unwrap_or_else(PoisonError::into_inner) - 1
    }
}

/// Tells a client it missed events: read the state again.
fn reset() -> SseEvent {
    SseEvent::default()
        .event("reset")
        .data(r#"{"reason":"events were missed; read the state again"}"#)
}

fn sse(e: &Event) -> SseEvent {
    SseEvent::default()
        .id(e.id.to_string())
        .event(e.kind.clone())
        .data(serde_json::to_string(e).unwrap_or_default())
}

/// Changes as they happen, as Server-Sent Events. Each event's `data` is an
/// [`Event`] in JSON; `Last-Event-ID` (or `?since=ID`) resumes after that
/// event; without either the stream starts with what happens next.
#[utoipa::path(get, path = "/api/events",
    params(("since" = Option<u64>, Query, description = "Resume after this event id (as Last-Event-ID)")),
    responses((status = 200, description = "A stream of events (text/event-stream); each data line is an Event", content_type = "text/event-stream")))]
pub(crate) async fn events(
    State(store): State<Arc<Store>>,
    headers: HeaderMap,
    axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .or(q.get("since").map(String::as_str))
        .and_then(|v| v.trim().parse::<u64>().ok());
    let events = store.events();
    let newest = events.newest();
    // An id past the newest was given by a CO that has restarted since (ids
    // begin again): everything after it was missed.
    let restarted = resume.is_some_and(|r| r > newest);
    let start = match resume {
        Some(r) if r <= newest => r,
        _ => newest,
    };
    let bell = events.bell.subscribe();
    let mut queue = VecDeque::<SseEvent>::new();
    if restarted {
        queue.push_back(reset());
    }
    let state = (store, start, bell, resume.is_some() && !restarted, queue);
    let stream = futures_util::stream::unfold(
        state,
        |(store, mut last, mut bell, mut check, mut queue)| async move {
            loop {
                if let Some(e) = queue.pop_front() {
                    return Some((Ok(e), (store, last, bell, check, queue)));
                }
                let (new, gap) = store.events().after(last);
                if check && gap {
                    queue.push_back(reset());
                }
                check = false;
                if let Some(e) = new.last() {
                    last = e.id;
                }
                queue.extend(new.iter().map(sse));
                if queue.is_empty() && bell.changed().await.is_err() {
                    return None;
                }
            }
        },
    );
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
