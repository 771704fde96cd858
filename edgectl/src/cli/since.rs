//! `--since` of `edgectl en logs`: a duration back from now (`90s`, `5m`,
//! `1h`, `2d`, or seconds) or a time (RFC 3339, `2026-05-01T10:00:00Z` or
//! with an offset, `…+02:00`), as Unix milliseconds.

use std::time::{SystemTime, UNIX_EPOCH};

/// `text` as Unix milliseconds, durations counted back from now.
pub(crate) fn parse(text: &str) -> Result<i64, String> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    parse_at(text, now)
}

fn wrong(text: &str) -> String {
    format!("`{text}` is not a duration or a time; write 90s, 5m, 1h, 2d or 2026-05-01T10:00:00Z")
}

/// [`parse`] with now at `now` (Unix milliseconds).
fn parse_at(text: &str, now: i64) -> Result<i64, String> {
    let t = text.trim();
    if t.len() >= 10 && t.as_bytes().get(4) == Some(&b'-') {
        return rfc3339(t).ok_or_else(|| wrong(text));
    }
    let (number, unit) = t
        .find(|c: char| !c.is_ascii_digit())
        .map_or((t, ""), |i| t.split_at(i));
    let n: i64 = number.parse().map_err(|_| wrong(text))?;
    let seconds = match unit {
        "" | "s" => Some(n),
        "m" => n.checked_mul(60),
        "h" => n.checked_mul(3600),
        "d" => n.checked_mul(86_400),
        _ => None,
    }
    .ok_or_else(|| wrong(text))?;
    Ok(seconds
        .checked_mul(1000)
        .map_or(i64::MIN, |ms| now.saturating_sub(ms)))
}

/// Days from 1970-01-01 to a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` as Unix milliseconds.
fn rfc3339(t: &str) -> Option<i64> {
    let b = t.as_bytes();
    let num = |from: usize, to: usize| num_of(t.get(from..to)?);
    let (y, mo, d) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (h, mi, s) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    let seps = [(7, b'-'), (13, b':'), (16, b':')];
    if b.get(4) != Some(&b'-')
        || seps.iter().any(|(i, c)| b.get(*i) != Some(c))
        || !matches!(b.get(10), Some(b'T' | b't' | b' '))
    {
        return None;
    }
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    let days_in = *month_days.get(usize::try_from(mo - 1).ok()?)?;
    if !(1..=days_in).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let mut rest = &t[19..];
    let mut ms = 0;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let first3: String = frac[..digits].chars().chain("00".chars()).take(3).collect();
        ms = first3.parse().ok()?;
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let r = rest.as_bytes();
            if rest.len() != 6 || r[3] != b':' {
                return None;
            }
            let (oh, om) = (num_of(&rest[1..3])?, num_of(&rest[4..6])?);
            if oh > 23 || om > 59 {
                return None;
            }
            sign * (oh * 3600 + om * 60)
        }
    };
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s - offset;
    Some(secs * 1000 + ms)
}

fn num_of(s: &str) -> Option<i64> {
    s.bytes()
        .all(|c| c.is_ascii_digit())
        .then(|| s.parse().ok())?
}

#[cfg(test)]
mod tests {
    use super::parse_at;

    const NOW: i64 = 1_795_000_000_000;

    #[test]
    fn durations_count_back_from_now() {
        assert_eq!(parse_at("90s", NOW), Ok(NOW - 90_000));
        assert_eq!(parse_at("90", NOW), Ok(NOW - 90_000));
        assert_eq!(parse_at("5m", NOW), Ok(NOW - 300_000));
        assert_eq!(parse_at("1h", NOW), Ok(NOW - 3_600_000));
        assert_eq!(parse_at("2d", NOW), Ok(NOW - 172_800_000));
        assert_eq!(parse_at("0s", NOW), Ok(NOW));
    }

    #[test]
    fn times_are_rfc_3339_with_zone() {
        // 2026-11-18T11:06:40Z is 1,795,000,000 s (see edged's clock).
        assert_eq!(parse_at("2026-11-18T11:06:40Z", 0), Ok(1_795_000_000_000));
        assert_eq!(
            parse_at("2026-11-18T11:06:40.25Z", 0),
            Ok(1_795_000_000_250)
        );
        assert_eq!(
            parse_at("2026-11-18T13:06:40+02:00", 0),
            Ok(1_795_000_000_000)
        );
        assert_eq!(parse_at("2000-02-29T00:00:00Z", 0), Ok(951_782_400_000));
        assert_eq!(parse_at("1970-01-01T00:00:00Z", 0), Ok(0));
    }

    #[test]
    fn anything_else_is_refused_with_what_to_write() {
        for bad in [
            "",
            "5x",
            "-5m",
            "yesterday",
            "2026-11-18",
            "2026-11-18T11:06:40",
            "2026-02-30T00:00:00Z",
            "2026-11-18T24:00:00Z",
            "2026-11-18T11:06:40+2:00",
            "2026-11-18T11:06:40.Z",
        ] {
            let e = parse_at(bad, NOW).unwrap_err();
            assert!(e.contains("write 90s, 5m, 1h, 2d"), "{bad}: {e}");
        }
    }
}
