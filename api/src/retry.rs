//! What a fleet manager says about trying a refused call again (DIGEST §8.5,
//! §15.1 "CLI": respect `Retry-After`, use `retryable`, apply
//! `backoffStrategy`): the `Retry-After` header, in delta-seconds or as an
//! HTTP-date, and the problem detail's Margo members `retryable`,
//! `retryAfterSeconds` and `backoffStrategy`. Read from untrusted bytes:
//! anything malformed is as if absent, and a wait is bounded by [`MAX_WAIT`]
//! (the caller logs when it was cut).

use std::time::{Duration, SystemTime};

/// The longest wait a server can ask for and be obeyed: a hostile or broken
/// server saying `Retry-After: 1000000000` must not park the node for years.
pub const MAX_WAIT: Duration = Duration::from_secs(15 * 60);

/// How the server wants retries spaced (`backoffStrategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Do not retry this request as it is.
    None,
    /// The same pause each time.
    Fixed,
    /// Growing pauses.
    Exponential,
}

/// The server's advice on a refused call; every part optional.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Advice {
    /// Wait at least this long (from `Retry-After`, else
    /// `retryAfterSeconds`), already cut to [`MAX_WAIT`].
    pub after: Option<Duration>,
    /// What the server asked for before the cut, when it was cut.
    pub asked: Option<Duration>,
    /// The problem's `retryable`.
    pub retryable: Option<bool>,
    /// The problem's `backoffStrategy`.
    pub strategy: Option<Strategy>,
}

impl Advice {
    /// The advice of an answer with `retry_after` (the header's value, if
    /// any) and problem `body`, as of `now`.
    #[must_use]
    pub fn read(retry_after: Option<&[u8]>, body: &[u8], now: SystemTime) -> Self {
        let p: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
        let retryable = p.get("retryable").and_then(serde_json::Value::as_bool);
        let strategy = match p.get("backoffStrategy").and_then(serde_json::Value::as_str) {
            Some("none") => Some(Strategy::None),
            Some("fixed") => Some(Strategy::Fixed),
            Some("exponential") => Some(Strategy::Exponential),
            _ => None,
        };
        let member = p
            .get("retryAfterSeconds")
            .and_then(serde_json::Value::as_u64)
            .map(Duration::from_secs);
        let asked = retry_after.and_then(|v| header_wait(v, now)).or(member);
        let after = asked.map(|a| a.min(MAX_WAIT));
        Self {
            after,
            asked: asked.filter(|a| *a > MAX_WAIT),
            retryable,
            strategy,
        }
    }
}

/// The wait a `Retry-After` value asks for as of `now`: delta-seconds, or an
/// HTTP-date (a date already past is no wait). `None` when it reads as
/// neither.
#[must_use]
pub fn header_wait(value: &[u8], now: SystemTime) -> Option<Duration> {
    let text = std::str::from_utf8(value).ok()?.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        // More digits than a u64 holds is still a (huge) number of seconds.
        return Some(Duration::from_secs(text.parse().unwrap_or(u64::MAX)));
    }
    let at = httpdate::parse_http_date(text).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> SystemTime {
        // Sun, 06 Nov 1994 08:49:37 GMT
        SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777)
    }

    #[test]
    fn retry_after_reads_as_seconds_or_as_an_http_date() {
        let s = Duration::from_secs;
        assert_eq!(header_wait(b"5", now()), Some(s(5)));
        assert_eq!(header_wait(b" 120 ", now()), Some(s(120)));
        assert_eq!(
            header_wait(b"Sun, 06 Nov 1994 08:50:07 GMT", now()),
            Some(s(30))
        );
        // The obsolete forms a recipient must also read (RFC 9110 §5.6.7).
        assert_eq!(
            header_wait(b"Sunday, 06-Nov-94 08:49:47 GMT", now()),
            Some(s(10))
        );
        assert_eq!(header_wait(b"Sun Nov  6 08:49:57 1994", now()), Some(s(20)));
        assert_eq!(
            header_wait(b"Sun, 06 Nov 1994 08:00:00 GMT", now()),
            Some(Duration::ZERO),
            "a date past is no wait"
        );
        for bad in [&b""[..], b"-5", b"5.5", b"soon", b"\xff\xfe"] {
            assert_eq!(header_wait(bad, now()), None, "{bad:?}");
        }
        assert_eq!(
            header_wait(b"99999999999999999999999", now()),
            Some(Duration::from_secs(u64::MAX))
        );
    }

    #[test]
    fn advice_reads_the_header_first_then_the_problem_and_is_bounded() {
        let body = br#"{"type":"about:blank","title":"Too Many Requests","status":429,
            "retryable":true,"retryAfterSeconds":7,"backoffStrategy":"exponential"}"#;
        let a = Advice::read(Some(b"3"), body, now());
        assert_eq!(
            a,
            Advice {
                after: Some(Duration::from_secs(3)),
                asked: None,
                retryable: Some(true),
                strategy: Some(Strategy::Exponential),
            }
        );
        assert_eq!(
            Advice::read(None, body, now()).after,
            Some(Duration::from_secs(7))
        );
        let hostile = Advice::read(Some(b"1000000000"), b"", now());
        assert_eq!(hostile.after, Some(MAX_WAIT));
        assert_eq!(hostile.asked, Some(Duration::from_secs(1_000_000_000)));
        // Nothing, or nonsense, is no advice.
        assert_eq!(Advice::read(None, b"not json", now()), Advice::default());
        let odd = br#"{"retryable":"yes","retryAfterSeconds":-1,"backoffStrategy":"random"}"#;
        assert_eq!(Advice::read(Some(b"later"), odd, now()), Advice::default());
        let fixed = Advice::read(
            None,
            br#"{"retryable":false,"backoffStrategy":"none"}"#,
            now(),
        );
        assert_eq!(
            (fixed.retryable, fixed.strategy),
            (Some(false), Some(Strategy::None))
        );
    }
}
