//! `GET /api/events`: the event ring as Server-Sent Events, resumable with
//! `Last-Event-ID` (or `?since=ID`); a client that missed events gets one
//! `reset` event first. When the CO stops, every stream ends with one
//! `shutdown` event, so the drain does not wait on them. `?site=` keeps
//! one site's events; an unknown site is refused before the stream starts.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use edge_api::types::Event;
use futures_util::Stream;

use crate::co::ops::sites;
use crate::co::store::Store;
use crate::error::ApiError;
use crate::http::blocking;

/// Tells a client it missed events: read the state again.
fn reset() -> SseEvent {
    SseEvent::default()
        .event("reset")
        .data(r#"{"reason":"events were missed; read the state again"}"#)
}

/// Tells a client the CO is stopping: the stream ends here.
fn shutdown() -> SseEvent {
    SseEvent::default()
        .event("shutdown")
        .data(r#"{"reason":"the central orchestrator is stopping"}"#)
}

fn sse(e: &Event) -> SseEvent {
    SseEvent::default()
        .id(e.id.to_string())
        .event(e.kind.clone())
        .data(serde_json::to_string(e).unwrap_or_default())
}

/// Where one stream is: the last event sent, what waits to be sent, and
/// whether it ends once that is out.
struct Follow {
    store: Arc<Store>,
    /// Only this site's events (and rollouts', which span sites).
    site: Option<String>,
    last: u64,
    bell: tokio::sync::watch::Receiver<u64>,
    /// Whether to check, once, that the resumed id is still in the ring.
    check: bool,
    queue: VecDeque<SseEvent>,
    ended: bool,
}

/// Whether a stream of `site` (all sites: `None`) sends `e`.
fn wanted(site: Option<&str>, e: &Event) -> bool {
    site.is_none_or(|s| e.site.as_deref() == Some(s) || e.kind.starts_with("rollout."))
}

/// Changes as they happen, as Server-Sent Events. Each event's `data` is an
/// [`Event`] in JSON; `Last-Event-ID` (or `?since=ID`) resumes after that
/// event; without either the stream starts with what happens next.
///
/// Event ids grow across restarts of the CO. With `?site=`, only that site's
/// events (and rollouts', which span sites); an unknown site is a 404 that
/// names the sites there are. A `reset` event (no id) says events were
/// missed; a `shutdown` event (no id) ends the stream when the CO stops.
#[utoipa::path(get, path = "/api/events",
    params(("since" = Option<u64>, Query, description = "Resume after this event id (as Last-Event-ID)"),
           ("site" = Option<String>, Query, description = "Only this site's events, and rollouts'")),
    responses((status = 200, description = "A stream of events (text/event-stream); each data line is an Event", content_type = "text/event-stream"),
              (status = 404, description = "No such site")))]
pub(crate) async fn events(
    State(store): State<Arc<Store>>,
    headers: HeaderMap,
    axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let site = q.get("site").cloned();
    if let Some(site) = site.clone() {
        let s = store.clone();
        blocking(move || sites::known_site(&s, &site)).await?;
    }
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .or(q.get("since").map(String::as_str))
        .and_then(|v| v.trim().parse::<u64>().ok());
    let events = store.events();
    let newest = events.newest();
    // An id past the newest was never given here (ids only grow, across
    // restarts too): the client cannot know what it missed.
    let restarted = resume.is_some_and(|r| r > newest);
    let start = match resume {
        Some(r) if r <= newest => r,
        _ => newest,
    };
    let bell = events.subscribe();
    let mut queue = VecDeque::<SseEvent>::new();
    if restarted {
        queue.push_back(reset());
    }
    let state = Follow {
        store,
        site,
        last: start,
        bell,
        check: resume.is_some() && !restarted,
        queue,
        ended: false,
    };
    let stream = futures_util::stream::unfold(state, |mut f| async move {
        loop {
            if let Some(e) = f.queue.pop_front() {
                return Some((Ok(e), f));
            }
            if f.ended {
                return None;
            }
            let (new, gap) = f.store.events().after(f.last);
            if f.check && gap {
                f.queue.push_back(reset());
            }
            f.check = false;
            if let Some(e) = new.last() {
                f.last = e.id;
            }
            f.queue
                .extend(new.iter().filter(|e| wanted(f.site.as_deref(), e)).map(sse));
            if f.queue.is_empty() {
                tokio::select! {
                    rang = f.bell.changed() => if rang.is_err() {
                        return None;
                    },
                    () = crate::stop::requested() => {
                        f.queue.push_back(shutdown());
                        f.ended = true;
                    }
                }
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
