//! Times in and around container logs: the `time` field of a json-file
//! entry (RFC 3339 with nanoseconds, docker writes it in UTC), the values
//! users give to `berth logs --since/--until` (and `events`), and the
//! `-t` prefix `berth logs` prints.
//!
//! [`parse_log_time`] follows docker's `api/types/time.GetTimestamp`:
//!
//! * a Go duration (`10m`, `1h30m`, `1.5h`, `-5s`; units `ns us µs ms s m h`)
//!   is subtracted from now and cut to whole seconds, as docker sends
//!   `reference.Add(-d).Unix()`; `0` alone is not a duration but the epoch;
//! * a date `YYYY-MM-DD`, optionally with `THH`, `THH:MM`, `THH:MM:SS` and a
//!   fraction: with a zone (`Z` or `±HH:MM`, recognised like docker by a
//!   `Z`, a `+` or three `-`) it is absolute, without one it is in the local
//!   zone's offset at `now`;
//! * anything else without a `-` is a unix time `SECONDS[.FRACTION]`.
//!
//! Calendar arithmetic is Howard Hinnant's `days_from_civil` /
//! `civil_from_days` ("chrono-Compatible Low-Level Date Algorithms", public
//! domain), so no calendar crate is needed.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::duration::parse_go_duration;

/// A time value that could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    /// Neither a duration, a date nor a unix time (docker's wording).
    #[error("failed to parse value as time or duration: {0:?}")]
    NotTimeOrDuration(String),
    /// Looked like a date (it has a `-`) but is not a valid one.
    #[error("parsing time {value:?}: {reason}")]
    BadDate { value: String, reason: &'static str },
}

/// Parses a `--since`/`--until` value relative to `now`, with dates that
/// carry no zone read in the local zone (see the module doc).
pub fn parse_log_time(value: &str, now: SystemTime) -> Result<SystemTime, TimeError> {
    parse_log_time_with_offset(value, now, local_utc_offset(now))
}

/// [`parse_log_time`] with the local zone given as seconds east of UTC
/// (pure: what the tests drive).
pub fn parse_log_time_with_offset(
    value: &str,
    now: SystemTime,
    local_offset_secs: i32,
) -> Result<SystemTime, TimeError> {
    if value != "0" {
        if let Ok(nanos) = parse_go_duration(value) {
            let now_nanos = unix_nanos(now);
            let at = now_nanos - i128::from(nanos);
            // docker sends `reference.Add(-d).Unix()`: whole seconds, floored.
            return Ok(from_unix(at.div_euclid(1_000_000_000) as i64, 0));
        }
    }
    // docker: "if the string has a Z or a + or three dashes use parse
    // otherwise use parseinlocation".
    let has_zone = value.contains(['z', 'Z', '+']) || value.matches('-').count() == 3;
    match parse_date(
        value,
        if has_zone {
            None
        } else {
            Some(local_offset_secs)
        },
    ) {
        Ok((secs, nanos)) => Ok(from_unix(secs, nanos)),
        Err(reason) if value.contains('-') => Err(TimeError::BadDate {
            value: value.to_string(),
            reason,
        }),
        Err(_) => parse_unix_time(value).ok_or_else(|| TimeError::NotTimeOrDuration(value.into())),
    }
}

/// Parses the `time` field of a json-file entry: RFC 3339 with an optional
/// fraction of up to nine digits and a `Z` or `±HH:MM` zone.
pub fn parse_rfc3339(value: &str) -> Result<SystemTime, TimeError> {
    let bad = |reason| TimeError::BadDate {
        value: value.to_string(),
        reason,
    };
    // Entries always carry seconds: `YYYY-MM-DDTHH:MM:SS` is 19 bytes.
    if value.len() < 20 || value.as_bytes()[16] != b':' {
        return Err(bad("want YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)"));
    }
    let (secs, nanos) = parse_date(value, None).map_err(bad)?;
    Ok(from_unix(secs, nanos))
}

/// Formats `t` the way `docker logs -t` prefixes lines: UTC, nine fraction
/// digits always (docker's `jsonmessage.RFC3339NanoFixed`),
/// `2026-11-22T10:00:00.123456789Z`.
pub fn format_timestamp(t: SystemTime) -> String {
    let nanos = unix_nanos(t);
    let secs = nanos.div_euclid(1_000_000_000) as i64;
    let frac = nanos.rem_euclid(1_000_000_000);
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{frac:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Seconds since the epoch of an RFC 3339 time in UTC (an image config's
/// `created`), for `images`' CREATED column and the `since`/`before`
/// filters; `None` when it does not parse.
pub fn parse_time(s: &str) -> Option<i64> {
    humantime::parse_rfc3339_weak(s.trim_end_matches('Z'))
        .ok()
        .or_else(|| humantime::parse_rfc3339(s).ok())
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_secs() as i64)
}

/// The local zone's offset from UTC at `at`, in seconds east (glibc's
/// `tm_gmtoff`, which reads TZ and /etc/localtime); 0 if it is unknown.
pub fn local_utc_offset(at: SystemTime) -> i32 {
    let secs = unix_nanos(at).div_euclid(1_000_000_000) as libc::time_t;
    // SAFETY: localtime_r only writes the tm we hand it.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&secs, &mut tm).is_null() {
            0
        } else {
            tm.tm_gmtoff as i32
        }
    }
}

/// Nanoseconds since the epoch, negative before it.
fn unix_nanos(t: SystemTime) -> i128 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as i128,
        Err(e) => -(e.duration().as_nanos() as i128),
    }
}

fn from_unix(secs: i64, nanos: u32) -> SystemTime {
    if secs >= 0 {
        UNIX_EPOCH + Duration::new(secs as u64, nanos)
    } else {
        UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs()) + Duration::from_nanos(nanos.into())
    }
}

/// A unix time as docker's `parseTimestamp` reads it: `SECONDS[.FRACTION]`,
/// the fraction scaled to nanoseconds whatever its number of digits.
fn parse_unix_time(value: &str) -> Option<SystemTime> {
    let (secs, frac) = match value.split_once('.') {
        Some((s, f)) => (s, Some(f)),
        None => (value, None),
    };
    let secs_digits = secs.strip_prefix('+').unwrap_or(secs);
    if secs_digits.is_empty() || !secs_digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs: i64 = secs_digits.parse().ok()?;
    let nanos = match frac {
        None => 0,
        Some(f) if !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()) => {
            let n: u64 = f.get(..f.len().min(18))?.parse().ok()?;
            let digits = f.len().min(18) as u32;
            if digits <= 9 {
                n * 10u64.pow(9 - digits)
            } else {
                n / 10u64.pow(digits - 9)
            }
        }
        Some(_) => return None,
    };
    Some(from_unix(secs, nanos as u32))
}

/// Parses `YYYY-MM-DD[THH[:MM[:SS[.fraction]]]]` followed by a zone (`Z`
/// or `±HH:MM`) when `local_offset` is `None`, by nothing otherwise.
/// Returns seconds since the epoch and nanoseconds.
fn parse_date(value: &str, local_offset: Option<i32>) -> Result<(i64, u32), &'static str> {
    let mut p = Cursor(value.as_bytes());
    let year = p.digits(4).ok_or("want a four-digit year")? as i64;
    p.expect(b'-').ok_or("want YYYY-MM-DD")?;
    let month = p.digits(2).ok_or("want a two-digit month")?;
    p.expect(b'-').ok_or("want YYYY-MM-DD")?;
    let day = p.digits(2).ok_or("want a two-digit day")?;
    let (mut hour, mut minute, mut second, mut nanos) = (0, 0, 0, 0);
    if p.expect(b'T').is_some() {
        hour = p.digits(2).ok_or("want a two-digit hour after T")?;
        if p.expect(b':').is_some() {
            minute = p.digits(2).ok_or("want a two-digit minute")?;
            if p.expect(b':').is_some() {
                second = p.digits(2).ok_or("want two-digit seconds")?;
                if p.expect(b'.').is_some() || p.expect(b',').is_some() {
                    let frac = p.take_digits();
                    if frac.is_empty() || frac.len() > 9 {
                        return Err("want one to nine fraction digits");
                    }
                    let n: u32 = std::str::from_utf8(frac)
                        .ok()
                        .and_then(|f| f.parse().ok())
                        .ok_or("bad fraction")?;
                    nanos = n * 10u32.pow(9 - frac.len() as u32);
                }
            }
        }
    }
    let offset = match local_offset {
        Some(offset) => offset as i64,
        None => match p.next() {
            Some(b'Z') => 0,
            Some(sign @ (b'+' | b'-')) => {
                let h = p.digits(2).ok_or("want a zone offset ±HH:MM")?;
                p.expect(b':').ok_or("want a zone offset ±HH:MM")?;
                let m = p.digits(2).ok_or("want a zone offset ±HH:MM")?;
                if h > 23 || m > 59 {
                    return Err("time zone offset out of range");
                }
                let secs = i64::from(h * 3600 + m * 60);
                if sign == b'-' {
                    -secs
                } else {
                    secs
                }
            }
            _ => return Err("want a zone: Z or ±HH:MM"),
        },
    };
    if !p.0.is_empty() {
        return Err("extra text after the time");
    }
    if !(1..=12).contains(&month) {
        return Err("month out of range");
    }
    if day < 1 || day > days_in_month(year, month) {
        return Err("day out of range");
    }
    if hour > 23 {
        return Err("hour out of range");
    }
    if minute > 59 {
        return Err("minute out of range");
    }
    if second > 59 {
        return Err("second out of range");
    }
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second) - offset;
    Ok((secs, nanos))
}

/// A reading position in ASCII text.
struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn next(&mut self) -> Option<u8> {
        let (&first, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(first)
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        if self.0.first() == Some(&byte) {
            self.0 = &self.0[1..];
            Some(())
        } else {
            None
        }
    }

    /// Exactly `n` digits as a number.
    fn digits(&mut self, n: usize) -> Option<u32> {
        let head = self.0.get(..n)?;
        if !head.iter().all(u8::is_ascii_digit) {
            return None;
        }
        self.0 = &self.0[n..];
        Some(head.iter().fold(0, |acc, d| acc * 10 + u32::from(d - b'0')))
    }

    fn take_digits(&mut self) -> &[u8] {
        let n = self.0.iter().take_while(|b| b.is_ascii_digit()).count();
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        head
    }
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// (year, month 1..=12, day 1..=31) to days since 1970-01-01, proleptic
/// Gregorian calendar (Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400); // [0, 399]
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
}

/// Days since 1970-01-01 to (year, month, day) (Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64, nanos: u32) -> SystemTime {
        UNIX_EPOCH + Duration::new(secs, nanos)
    }

    /// 2026-11-22T10:00:00Z.
    const NOW: u64 = 1_795_341_600;

    fn parse(value: &str) -> Result<SystemTime, TimeError> {
        parse_log_time_with_offset(value, at(NOW, 500_000_000), 0)
    }

    #[test]
    fn calendar_round_trips() {
        for days in [-719_468, -1, 0, 59, 365, 10_957, 20_000, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
        assert_eq!(days_from_civil(2026, 11, 22) * 86_400 + 36_000, NOW as i64);
    }

    #[test]
    fn formats_like_docker_logs_t() {
        assert_eq!(
            format_timestamp(at(NOW, 123_456_789)),
            "2026-11-22T10:00:00.123456789Z"
        );
        assert_eq!(format_timestamp(at(0, 0)), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(
            format_timestamp(UNIX_EPOCH - Duration::from_nanos(1)),
            "1969-12-31T23:59:59.999999999Z"
        );
        assert_eq!(
            format_timestamp(at(951_782_400, 5)),
            "2000-02-29T00:00:00.000000005Z"
        );
    }

    #[test]
    fn entry_times_parse_and_format_back() {
        for s in [
            "2026-11-22T10:00:00.123456789Z",
            "2023-11-14T22:13:20.000000005Z",
            "1970-01-01T00:00:00.000000000Z",
        ] {
            assert_eq!(format_timestamp(parse_rfc3339(s).unwrap()), s);
        }
        assert_eq!(parse_rfc3339("2026-11-22T10:00:00Z").unwrap(), at(NOW, 0));
        assert_eq!(
            parse_rfc3339("2026-11-22T12:00:00.5+02:00").unwrap(),
            at(NOW, 500_000_000)
        );
        for bad in [
            "",
            "2026-11-22",
            "2026-11-22T10:00Z",
            "2026-11-22T10:00:00",
            "2026-11-22T10:00:00.Z",
            "2026-13-22T10:00:00Z",
            "2026-11-22T10:00:00Zjunk",
        ] {
            assert!(parse_rfc3339(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn durations_count_back_from_now_in_whole_seconds() {
        assert_eq!(parse("10m").unwrap(), at(NOW - 600, 0));
        assert_eq!(parse("1h30m").unwrap(), at(NOW - 5400, 0));
        assert_eq!(parse("1.5h").unwrap(), at(NOW - 5400, 0));
        assert_eq!(parse("500ms").unwrap(), at(NOW, 0));
        assert_eq!(parse("1500ms").unwrap(), at(NOW - 1, 0));
        assert_eq!(parse("2h45m30.5s").unwrap(), at(NOW - 9930, 0));
        assert_eq!(parse("-10s").unwrap(), at(NOW + 10, 0));
        assert_eq!(parse("3µs").unwrap(), at(NOW, 0));
    }

    #[test]
    fn zero_is_the_epoch_not_a_duration() {
        assert_eq!(parse("0").unwrap(), UNIX_EPOCH);
    }

    #[test]
    fn dates_with_zones_are_absolute() {
        assert_eq!(parse("2026-11-22T10:00:00Z").unwrap(), at(NOW, 0));
        assert_eq!(
            parse("2026-11-22T10:00:00.25Z").unwrap(),
            at(NOW, 250_000_000)
        );
        assert_eq!(parse("2026-11-22T11:00:00+01:00").unwrap(), at(NOW, 0));
        assert_eq!(parse("2026-11-22T05:00:00-05:00").unwrap(), at(NOW, 0));
        assert_eq!(parse("2026-11-22T10:00Z").unwrap(), at(NOW, 0));
        assert_eq!(parse("2026-11-22T10Z").unwrap(), at(NOW, 0));
        assert_eq!(parse("2026-11-22Z").unwrap(), at(NOW - 36_000, 0));
    }

    #[test]
    fn dates_without_zones_are_local() {
        let east2 = |v| parse_log_time_with_offset(v, at(NOW, 0), 7200).unwrap();
        assert_eq!(east2("2026-11-22T12:00:00"), at(NOW, 0));
        assert_eq!(east2("2026-11-22T12:00"), at(NOW, 0));
        assert_eq!(east2("2026-11-22T12"), at(NOW, 0));
        assert_eq!(east2("2026-11-22T12:00:00.75"), at(NOW, 750_000_000));
        assert_eq!(east2("2026-11-22"), at(NOW - 36_000 - 7200, 0));
        assert_eq!(parse("2026-11-22T10:00:00").unwrap(), at(NOW, 0));
    }

    #[test]
    fn unix_times() {
        assert_eq!(parse("1700000000").unwrap(), at(1_700_000_000, 0));
        assert_eq!(
            parse("1700000000.123").unwrap(),
            at(1_700_000_000, 123_000_000)
        );
        assert_eq!(
            parse("1700000000.123456789").unwrap(),
            at(1_700_000_000, 123_456_789)
        );
        assert_eq!(
            parse("1700000000.1234567891").unwrap(),
            at(1_700_000_000, 123_456_789)
        );
    }

    #[test]
    fn bad_values_name_the_value() {
        for bad in ["yesterday", "10x", "1700000000.", "1.2.3", "", "T10"] {
            let err = parse(bad).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("failed to parse value as time or duration: {bad:?}")
            );
        }
        for (bad, reason) in [
            ("2026-13-01", "month out of range"),
            ("2026-02-29", "day out of range"),
            ("2026-11-22T25:00", "hour out of range"),
            ("2026-11-22T10:61Z", "minute out of range"),
            ("2026-11-22T10:00:00+1:00", "want a zone offset ±HH:MM"),
            ("2026-11-22 10:00", "extra text after the time"),
            ("-1", "want a four-digit year"),
        ] {
            let err = parse(bad).unwrap_err();
            assert_eq!(err.to_string(), format!("parsing time {bad:?}: {reason}"));
        }
    }

    #[test]
    fn local_offset_is_sane() {
        let offset = local_utc_offset(at(NOW, 0));
        assert!(offset.abs() <= 14 * 3600, "{offset}");
    }
}
