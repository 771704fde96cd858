//! When the node may talk to its fleet manager (Margo's extended-downtime
//! rules, DIGEST §8.6): a daily *polling period* (`poll_hours`, the hours in
//! which the manifest may be polled) and a daily *downtime window*
//! (`downtime`, in which nothing is sent, nothing retried and communication
//! errors are not reported). Both are `HH:MM-HH:MM` in UTC; a window may
//! wrap past midnight (`22:00-06:00`). Workloads keep running either way.

use std::time::Duration;

/// A daily window, minutes after midnight UTC, `start..end` (wrapping when
/// `end <= start`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Window {
    start: u32,
    end: u32,
}

const DAY: u32 = 24 * 60;

/// Why a daily window does not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum WindowError {
    /// Not `HH:MM-HH:MM`.
    #[error("`{0}` is not a daily window; use HH:MM-HH:MM in UTC, such as 22:00-06:00")]
    Form(String),
    /// Both ends the same.
    #[error("`{0}` is empty; a window needs two different times")]
    Empty(String),
}

impl Window {
    /// Read `HH:MM-HH:MM`.
    pub(crate) fn parse(text: &str) -> Result<Self, WindowError> {
        let bad = || WindowError::Form(text.to_owned());
        let minutes = |t: &str| -> Option<u32> {
            let (h, m) = t.trim().split_once(':')?;
            let (h, m) = (h.parse::<u32>().ok()?, m.parse::<u32>().ok()?);
            (h < 24 && m < 60 && h < 100).then_some(h * 60 + m)
        };
        let (a, b) = text.split_once('-').ok_or_else(bad)?;
        let (start, end) = (minutes(a).ok_or_else(bad)?, minutes(b).ok_or_else(bad)?);
        if start == end {
            return Err(WindowError::Empty(text.to_owned()));
        }
        Ok(Self { start, end })
    }

    /// Minutes from `minute` (of the day) until the window ends, 0 when
    /// `minute` is outside it.
    fn remaining(self, minute: u32) -> u32 {
        let inside = if self.start < self.end {
            (self.start..self.end).contains(&minute)
        } else {
            minute >= self.start || minute < self.end
        };
        if inside {
            (self.end + DAY - minute) % DAY
        } else {
            0
        }
    }

    /// Minutes from `minute` until the window starts, 0 when inside it.
    fn until_start(self, minute: u32) -> u32 {
        if self.remaining(minute) > 0 {
            0
        } else {
            (self.start + DAY - minute) % DAY
        }
    }
}

/// The node's communication schedule.
#[derive(Debug, Clone, Default)]
pub(crate) struct Schedule {
    /// Polling allowed only inside this window (always when `None`).
    pub(crate) poll_hours: Option<Window>,
    /// No communication inside this window.
    pub(crate) downtime: Option<Window>,
}

fn minute_of_day(unix: i64) -> u32 {
    u32::try_from(unix.rem_euclid(86_400) / 60).unwrap_or(0)
}

impl Schedule {
    /// Whether `unix` falls in the downtime window.
    pub(crate) fn in_downtime(&self, unix: i64) -> bool {
        self.downtime
            .is_some_and(|w| w.remaining(minute_of_day(unix)) > 0)
    }

    /// How long to stay quiet from `unix` on (zero: talk now); `polling`
    /// also honours the polling period.
    pub(crate) fn quiet_for(&self, unix: i64, polling: bool) -> Duration {
        let minute = minute_of_day(unix);
        let mut wait = self.downtime.map_or(0, |w| w.remaining(minute));
        if polling && wait == 0 {
            wait = self.poll_hours.map_or(0, |w| w.until_start(minute));
        }
        // To the next minute boundary's precision; a minute at most early.
        Duration::from_secs(u64::from(wait) * 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(h: i64, m: i64) -> i64 {
        1_700_000_000 / 86_400 * 86_400 + h * 3600 + m * 60
    }

    #[test]
    fn windows_parse_and_wrap_past_midnight() {
        let w = Window::parse("22:00-06:00").unwrap();
        assert_eq!(w.remaining(23 * 60), 7 * 60);
        assert_eq!(w.remaining(5 * 60 + 30), 30);
        assert_eq!(w.remaining(12 * 60), 0);
        assert_eq!(w.until_start(12 * 60), 10 * 60);
        let day = Window::parse("08:30-17:00").unwrap();
        assert_eq!(day.remaining(9 * 60), 8 * 60);
        assert_eq!(day.until_start(18 * 60), 14 * 60 + 30);
        for bad in [
            "",
            "8-9",
            "25:00-01:00",
            "10:00-10:00",
            "10:60-11:00",
            "ab:cd-01:00",
        ] {
            assert!(Window::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            Window::parse("10:00-10:00"),
            Err(WindowError::Empty("10:00-10:00".into()))
        );
        for bad in ["", "8-9"] {
            assert_eq!(Window::parse(bad), Err(WindowError::Form(bad.into())));
        }
    }

    #[test]
    fn downtime_silences_everything_and_poll_hours_only_polling() {
        let s = Schedule {
            poll_hours: Some(Window::parse("08:00-18:00").unwrap()),
            downtime: Some(Window::parse("12:00-13:00").unwrap()),
        };
        assert_eq!(s.quiet_for(at(10, 0), true), Duration::ZERO);
        assert_eq!(s.quiet_for(at(12, 30), false), Duration::from_secs(30 * 60));
        assert!(s.in_downtime(at(12, 30)));
        assert_eq!(s.quiet_for(at(20, 0), true), Duration::from_secs(12 * 3600));
        assert_eq!(
            s.quiet_for(at(20, 0), false),
            Duration::ZERO,
            "reports go out of hours"
        );
        assert_eq!(
            Schedule::default().quiet_for(at(3, 0), true),
            Duration::ZERO
        );
    }
}
