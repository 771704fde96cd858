//! The one back-off of every loop that talks to a server that may be away
//! (the LO's fetcher, watcher and outbox forwarder, the node's poller and
//! reporter): pauses that double from a first one up to a bound, and the
//! time the server went away, so each loop warns once when it goes and
//! says once, with how long it was gone, when it is back.
//!
//! [`Backoff::refused`] is the pause after a call the server refused, as it
//! advised (DIGEST §8.5): never shorter than its `Retry-After` (bounded by
//! [`edge_api::retry::MAX_WAIT`]), a first pause again and again for
//! `fixed`, and otherwise the doubling pause with up to a quarter more at
//! random, so nodes refused together do not come back together.

use std::time::{Duration, Instant};

use edge_api::retry::{Advice, Strategy};

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

    /// A try was refused or found no server, with the server's `advice`:
    /// the pause before the next one, at least its `Retry-After`.
    pub(crate) fn refused(&mut self, advice: &Advice) -> Duration {
        self.down_since.get_or_insert_with(Instant::now);
        let grown = match advice.strategy {
            Some(Strategy::Fixed | Strategy::None) => self.first.min(self.max),
            Some(Strategy::Exponential) | None => {
                let pause = self.grow();
                pause + jitter(pause / 4)
            }
        };
        advice.after.map_or(grown, |after| grown.max(after))
    }

    /// A try succeeded: pauses start over; how long the server was away,
    /// when it was.
    pub(crate) fn succeeded(&mut self) -> Option<Duration> {
        self.next = self.first;
        self.down_since.take().map(|since| since.elapsed())
    }
}

/// A pause from zero up to `most`, different in each process and call
/// (from the standard library's per-process random hash keys and the
/// clock; spreading retries needs no better randomness).
fn jitter(most: Duration) -> Duration {
    use std::hash::{BuildHasher as _, Hasher as _};
    let nanos = u64::try_from(most.as_nanos()).unwrap_or(u64::MAX);
    if nanos == 0 {
        return Duration::ZERO;
    }
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    Duration::from_nanos(h.finish() % (nanos + 1))
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
    fn a_refusal_waits_its_retry_after_and_grows_as_the_server_says() {
        let s = Duration::from_secs;
        let mut b = Backoff::new(s(1), s(60));
        // No advice (a 5xx without a problem, or no answer): doubling, with
        // at most a quarter more.
        let mut last = Duration::ZERO;
        for n in 0..6 {
            let p = b.refused(&Advice::default());
            let base = s(1 << n);
            assert!(p >= base && p <= base + base / 4, "{n}: {p:?}");
            assert!(p > last);
            last = p;
        }
        assert!(b.is_down());
        // Retry-After is a floor, never cut short by a smaller pause.
        b.succeeded();
        let after = Advice {
            after: Some(s(5)),
            ..Advice::default()
        };
        assert_eq!(b.refused(&after), s(5));
        assert!(b.refused(&after) >= s(5));
        // `fixed`: the first pause each time; still at least Retry-After.
        b.succeeded();
        let fixed = Advice {
            strategy: Some(Strategy::Fixed),
            ..Advice::default()
        };
        assert_eq!((b.refused(&fixed), b.refused(&fixed)), (s(1), s(1)));
        let fixed_after = Advice {
            after: Some(s(3)),
            ..fixed
        };
        assert_eq!(b.refused(&fixed_after), s(3));
        // A hostile Retry-After arrives here already bounded.
        let hostile = Advice::read(Some(b"1000000000"), b"", std::time::SystemTime::now());
        assert_eq!(b.refused(&hostile), edge_api::retry::MAX_WAIT);
    }

    #[test]
    fn jitter_stays_within_its_bound() {
        for most in [Duration::ZERO, MS, Duration::from_secs(3)] {
            for _ in 0..50 {
                assert!(jitter(most) <= most);
            }
        }
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
