//! One `co deploy`, one trace: the W3C trace context (`traceparent`) carried
//! from the CO through the LO to the edge node and back with its status.
//!
//! The context travels with what already flows between the tiers, never as a
//! required field of a Margo or edgectl document: a `Traceparent:` trailer in
//! the desired-state commit message (read by the LO from the commits it
//! syncs, so it survives the stick path too), a `traceparent` header on the
//! LO's manifest answer to a node (only on a new manifest), on the node's
//! status report, and on the LO's intake batch to the CO. A peer's
//! `traceparent` is parsed strictly ([`Traceparent::parse`]: version `00`,
//! exact lengths, lower-case hex, non-zero ids); anything else is ignored,
//! never an error, and it is only ever used as a span's parent.
//!
//! Which context belongs to what is kept in memory ([`Memo`], bounded): the
//! CO's per site (the last change, for the watch answer), the LO's per device
//! (the sync that produced what it serves; the status report it queued), the
//! node's per deployment (the apply whose reports follow). Without the `otel`
//! feature, or with no OTLP endpoint configured, spans have no OpenTelemetry
//! context: nothing is written, sent or remembered.

#[cfg(feature = "otel")]
pub(crate) mod export;
mod hooks;

pub(crate) use hooks::{
    applying, forwarding, note_served, report_taken, reporting, served_span, synced,
};

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Whether spans are exported (so have contexts worth carrying).
pub(crate) fn enabled() -> bool {
    #[cfg(feature = "otel")]
    {
        export::running()
    }
    #[cfg(not(feature = "otel"))]
    {
        false
    }
}

/// The HTTP header (W3C Trace Context).
pub(crate) const HEADER: &str = "traceparent";

/// The key of the commit message trailer.
const TRAILER: &str = "Traceparent: ";

/// A parsed `traceparent`: `00-<trace id>-<parent id>-<flags>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Traceparent {
    trace_id: [u8; 16],
    span_id: [u8; 8],
    flags: u8,
}

fn hex_into(text: &str, out: &mut [u8]) -> Option<()> {
    let digits = text.as_bytes();
    if digits.len() != out.len() * 2 {
        return None;
    }
    let value = |d: u8| match d {
        b'0'..=b'9' => Some(d - b'0'),
        b'a'..=b'f' => Some(d - b'a' + 10),
        _ => None,
    };
    for (o, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        *o = value(pair[0])? << 4 | value(pair[1])?;
    }
    Some(())
}

impl Traceparent {
    /// Parse a `traceparent` value strictly: version `00` only, a 32-digit
    /// trace id and a 16-digit parent id, neither all zeros, two flag digits,
    /// lower-case hex, nothing more; `None` otherwise.
    pub(crate) fn parse(text: &str) -> Option<Self> {
        let text = text.trim_matches([' ', '\t']);
        if text.len() != 55 {
            return None;
        }
        let mut parts = text.split('-');
        let (version, trace, span, flags) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || version != "00" {
            return None;
        }
        let mut tp = Traceparent {
            trace_id: [0; 16],
            span_id: [0; 8],
            flags: 0,
        };
        hex_into(trace, &mut tp.trace_id)?;
        hex_into(span, &mut tp.span_id)?;
        let mut f = [0u8; 1];
        hex_into(flags, &mut f)?;
        tp.flags = f[0];
        if tp.trace_id == [0; 16] || tp.span_id == [0; 8] {
            return None;
        }
        Some(tp)
    }

    /// The trace id, 32 hex digits.
    pub(crate) fn trace_id(&self) -> String {
        self.trace_id.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The parent (span) id, 16 hex digits.
    pub(crate) fn span_id(&self) -> String {
        self.span_id.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The context of `span`, when it has one (spans are exported).
    pub(crate) fn of(span: &tracing::Span) -> Option<Self> {
        #[cfg(feature = "otel")]
        {
            export::context_of(span)
        }
        #[cfg(not(feature = "otel"))]
        {
            let _ = span;
            None
        }
    }

    /// The context of the current span.
    pub(crate) fn current() -> Option<Self> {
        Self::of(&tracing::Span::current())
    }

    /// Read the `traceparent` header of a request or an answer; a missing,
    /// repeated or malformed one is `None`.
    pub(crate) fn from_headers(headers: &axum::http::HeaderMap) -> Option<Self> {
        let mut all = headers.get_all(HEADER).iter();
        let one = all.next()?;
        if all.next().is_some() {
            return None;
        }
        Self::parse(one.to_str().ok()?)
    }

    /// The context a commit message's `Traceparent:` trailer names (in its
    /// last paragraph), if any.
    pub(crate) fn from_message(message: &str) -> Option<Self> {
        let last = message.trim_end().rsplit("\n\n").next()?;
        last.lines()
            .filter_map(|l| l.strip_prefix(TRAILER))
            .next_back()
            .and_then(Self::parse)
    }
}

impl fmt::Display for Traceparent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("00-")?;
        for b in self.trace_id {
            write!(f, "{b:02x}")?;
        }
        f.write_str("-")?;
        for b in self.span_id {
            write!(f, "{b:02x}")?;
        }
        write!(f, "-{:02x}", self.flags)
    }
}

/// `message` with a `Traceparent:` trailer naming the current span, as its
/// own last paragraph, when there is a trace to continue.
pub(crate) fn with_trailer(message: String) -> String {
    match Traceparent::current() {
        Some(tp) => format!("{}\n\n{TRAILER}{tp}", message.trim_end()),
        None => message,
    }
}

/// Make `span` a child of `parent` (a context from another process) before
/// it starts, and record its `trace_id` and `span_id` fields (for JSON log
/// lines) when it has them. Without a parent the span starts a trace of its
/// own or, inside another span, continues that one.
pub(crate) fn adopt(span: tracing::Span, parent: Option<Traceparent>) -> tracing::Span {
    #[cfg(feature = "otel")]
    if let Some(p) = parent {
        export::set_parent(&span, p);
    }
    #[cfg(not(feature = "otel"))]
    let _ = parent;
    if let Some(tp) = Traceparent::of(&span) {
        span.record("trace_id", tp.trace_id());
        span.record("span_id", tp.span_id());
    }
    span
}

/// The most entries a [`Memo`] keeps; past it, it starts over (a lost
/// context only breaks a trace, never a deploy).
const MEMO_MAX: usize = 65_536;

/// How long a [`Memo`] answers for what it was told: what happens later
/// (a report an hour after the deploy) is not part of that trace.
const MEMO_TTL: Duration = Duration::from_secs(600);

/// What a [`Memo`] holds for a key: the tag, the context, when told.
type Entry = (String, Traceparent, Instant);

/// Contexts by key (a site, a device, a deployment), each with a tag (what
/// it is the context of, e.g. the ETag of a manifest) that a reader must
/// name to get it, for [`MEMO_TTL`].
pub(crate) struct Memo(Mutex<Option<HashMap<String, Entry>>>);

impl Memo {
    const fn new() -> Self {
        Self(Mutex::new(None))
    }

    /// Remember `tp` for `key` and `tag` (replacing what `key` had).
    pub(crate) fn note(&self, key: &str, tag: &str, tp: Traceparent) {
        let mut g = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let map = g.get_or_insert_with(HashMap::new);
        if map.len() >= MEMO_MAX && !map.contains_key(key) {
            map.clear();
        }
        map.insert(key.to_owned(), (tag.to_owned(), tp, Instant::now()));
    }

    /// What `key` has for `tag`, if told within [`MEMO_TTL`].
    pub(crate) fn get(&self, key: &str, tag: &str) -> Option<Traceparent> {
        let g = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        g.as_ref()?
            .get(key)
            .filter(|(t, _, at)| t == tag && at.elapsed() < MEMO_TTL)
            .map(|(_, tp, _)| *tp)
    }

    /// Forget what `key` has (what follows is not in its trace).
    pub(crate) fn forget(&self, key: &str) {
        let mut g = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(map) = g.as_mut() {
            map.remove(key);
        }
    }
}

/// The CO: the context of each site's last desired-state change.
pub(crate) static SITES: Memo = Memo::new();
/// The LO: per device, the sync that produced the manifest (tag: its ETag).
pub(crate) static SERVED: Memo = Memo::new();
/// The LO: per device, the status intake of its last report.
pub(crate) static REPORTS: Memo = Memo::new();
/// The node: per deployment, the apply its status reports follow.
pub(crate) static APPLIED: Memo = Memo::new();

#[cfg(test)]
mod tests {
    use super::{Memo, Traceparent};

    const GOOD: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_valid_traceparent_reads_and_writes_back_the_same() {
        let tp = Traceparent::parse(GOOD).unwrap();
        assert_eq!(tp.to_string(), GOOD);
        assert_eq!(tp.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(tp.span_id(), "00f067aa0ba902b7");
        assert_eq!(Traceparent::parse(&format!(" {GOOD}\t")), Some(tp));
    }

    #[test]
    fn malformed_traceparents_are_ignored() {
        for bad in [
            "",
            "garbage",
            // Another version, or none.
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            // Lengths.
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e47366-00f067aa0ba902b-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            // Not lower-case hex.
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0x",
            "00-+bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",
            // Zero ids.
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            // Non-ASCII of the right byte length.
            "00-4bf92f3577b34da6a3ce929d0e0e47é-00f067aa0ba902b7-01",
        ] {
            assert_eq!(Traceparent::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn headers_give_one_valid_traceparent_or_none() {
        use axum::http::{HeaderMap, HeaderValue};
        let mut h = HeaderMap::new();
        assert_eq!(Traceparent::from_headers(&h), None);
        h.insert("traceparent", HeaderValue::from_static("00-zz"));
        assert_eq!(Traceparent::from_headers(&h), None);
        h.insert("traceparent", HeaderValue::from_static(GOOD));
        assert!(Traceparent::from_headers(&h).is_some());
        // Repeated: which one is meant is unknown.
        h.append("traceparent", HeaderValue::from_static(GOOD));
        assert_eq!(Traceparent::from_headers(&h), None);
    }

    #[test]
    fn the_commit_trailer_is_read_from_the_last_paragraph_only() {
        let msg = format!("deploy x\n\nby: admin\n\nTraceparent: {GOOD}\n");
        assert_eq!(Traceparent::from_message(&msg).unwrap().to_string(), GOOD);
        // Named in the body, not as a trailer: not taken.
        let body = format!("deploy x\n\nTraceparent: {GOOD}\n\nby: admin");
        assert_eq!(Traceparent::from_message(&body), None);
        assert_eq!(
            Traceparent::from_message("deploy x\n\nTraceparent: 00-00-00-00"),
            None
        );
        assert_eq!(Traceparent::from_message("deploy x"), None);
    }

    #[test]
    fn a_memo_answers_only_for_the_tag_it_was_told() {
        let m = Memo::new();
        let tp = Traceparent::parse(GOOD).unwrap();
        assert_eq!(m.get("edge-1", "a"), None);
        m.note("edge-1", "a", tp);
        assert_eq!(m.get("edge-1", "a"), Some(tp));
        assert_eq!(m.get("edge-1", "b"), None);
        assert_eq!(m.get("edge-2", "a"), None);
        m.forget("edge-1");
        assert_eq!(m.get("edge-1", "a"), None);
    }
}
