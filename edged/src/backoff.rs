//! The one back-off of every loop that talks to a server that may be away
//! (the LO's fetcher, watcher and outbox forwarder, the node's poller and
//! reporter): pauses that double from a first one up to a bound, and the
//! time the server went away, so each loop warns once when it goes and
//! says once, with how long it was gone, when it is back.

use std::time::{Duration, Instant};

/// Growing pauses between failed tries, and since when they fail.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    first: Duration,
    max: Duration,
    next: Duration,
    down_since: Option<Instant>,
}

impl Backoff {
    /// Pauses of `first`, then twice as long each time, at most `max`.
    pub(crate) fn new(first: Duration, max: Duration) -> Self {
        Self {
            first,
            max,
            next: first,
            down_since: None,
        }
    }

    /// Whether the last try failed (and none succeeded since).
    pub(crate) fn is_down(&self) -> bool {
        self.down_since.is_some()
    }

    /// A try failed: the pause before the next one. The first failure
    /// after a success starts the clock [`Backoff::succeeded`] reports.
    pub(crate) fn failed(&mut self) -> Duration {
        self.down_since.get_or_insert_with(Instant::now);
        self.grow()
    }

    /// A pause that grows like [`Backoff::failed`]'s, for a local failure
    /// that does not mean the server is away.
    pub(crate) fn grow(&mut self) -> Duration {
        let pause = self.next.min(self.max);
        self.next = (self.next * 2).min(self.max);
        pause
    }

    /// A try succeeded: pauses start over; how long the server was away,
    /// when it was.
    pub(crate) fn succeeded(&mut self) -> Option<Duration> {
        self.next = self.first;
        self.down_since.take().map(|since| since.elapsed())
    }
}

/// `err` and each of its causes, on one line: what a loop logs when a try
/// failed (its errors name their causes only as sources).
pub(crate) fn chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut next = err.source();
    while let Some(e) = next {
        out.push_str(": ");
        out.push_str(&e.to_string());
        next = e.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chain_names_every_cause_once() {
        let io = std::io::Error::other("disk on fire");
        let e = edge_cas::CasError::Io {
            action: "write",
            path: "/x".into(),
            source: io,
        };
        assert_eq!(chain(&e), "cannot write `/x`: disk on fire");
    }

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn pauses_double_up_to_the_bound_and_start_over_after_a_success() {
        let mut b = Backoff::new(250 * MS, 1000 * MS);
        assert!(!b.is_down());
        let pauses: Vec<_> = (0..5).map(|_| b.failed()).collect();
        assert_eq!(
            pauses,
            [250 * MS, 500 * MS, 1000 * MS, 1000 * MS, 1000 * MS]
        );
        assert!(b.is_down());
        assert!(b.succeeded().is_some());
        assert!(!b.is_down());
        assert_eq!(b.succeeded(), None);
        assert_eq!(b.failed(), 250 * MS);
    }

    #[test]
    fn a_local_failure_grows_the_pause_without_counting_as_down() {
        let mut b = Backoff::new(MS, 10 * MS);
        assert_eq!((b.grow(), b.grow()), (MS, 2 * MS));
        assert!(!b.is_down());
        assert_eq!(b.failed(), 4 * MS);
        // A first pause above the bound is cut to it.
        assert_eq!(Backoff::new(50 * MS, 20 * MS).failed(), 20 * MS);
    }
}
