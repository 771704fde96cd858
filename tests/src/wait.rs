//! Waiting without sleeping blindly: poll a condition at a short interval
//! until it holds or a deadline passes. Every wait in the scenarios and the
//! benchmark goes through here, so a time-out always names what it waited for.

use std::time::{Duration, Instant};

/// How long [`until`] and [`until_or`] wait.
pub const LIMIT: Duration = Duration::from_secs(20);
/// How often [`until`] and [`until_or`] look.
pub const EVERY: Duration = Duration::from_millis(20);

/// Call `f` every `every` until it returns `Some`; `None` once `limit` has
/// passed (`f` is always called at least once, and once more at the end).
pub fn within<T>(limit: Duration, every: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(every);
    }
}

/// Poll `f` every 20 ms until it returns `Some`, for at most 20 s.
///
/// # Panics
/// When the time is up, naming `what`.
pub fn until<T>(what: &str, f: impl FnMut() -> Option<T>) -> T {
    until_or(what, f, String::new)
}

/// [`until`], printing `log()` when it times out.
///
/// # Panics
/// When the time is up, naming `what`, with `log()`.
pub fn until_or<T>(what: &str, f: impl FnMut() -> Option<T>, log: impl Fn() -> String) -> T {
    within(LIMIT, EVERY, f).unwrap_or_else(|| panic!("timed out waiting for {what}\n{}", log()))
}

/// Poll `test` every `every` for at most `limit`.
///
/// # Panics
/// When the time is up, naming `what`.
pub fn until_true(what: &str, limit: Duration, every: Duration, mut test: impl FnMut() -> bool) {
    if within(limit, every, || test().then_some(())).is_none() {
        panic!("{what}: not within {limit:?}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_the_first_value_and_gives_up_after_the_limit() {
        let mut n = 0;
        let v = within(Duration::from_secs(5), Duration::ZERO, || {
            n += 1;
            (n == 3).then_some(n)
        });
        assert_eq!(v, Some(3));
        let start = Instant::now();
        let none: Option<()> = within(Duration::from_millis(30), Duration::from_millis(5), || None);
        assert!(none.is_none());
        assert!(start.elapsed() >= Duration::from_millis(30));
    }

    #[test]
    #[should_panic(expected = "the node up: not within 0ns")]
    fn a_time_out_names_what_it_waited_for() {
        until_true("the node up", Duration::ZERO, Duration::ZERO, || false);
    }
}
