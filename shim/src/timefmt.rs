//! Timestamps in the form docker's json-file logs and the exit file use:
//! RFC 3339 in UTC with a fixed nine-digit fraction
//! (`2006-01-02T15:04:05.000000000Z`, docker's `RFC3339NanoFixed`), computed
//! without a calendar crate: days since the epoch to a civil date is Howard
//! Hinnant's `civil_from_days` (public domain, "chrono-Compatible Low-Level
//! Date Algorithms").

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Formats `t` as `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ` (times before 1970 are
/// clamped to the epoch: a container never exits then).
pub fn rfc3339_nano(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let secs = since.as_secs() as i64;
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_nanos()
    )
}

/// Days since 1970-01-01 to (year, month 1..=12, day 1..=31), proleptic
/// Gregorian calendar.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Splits a time into whole seconds and nanoseconds since the epoch (for
/// `google.protobuf.Timestamp`).
pub fn unix_parts(t: SystemTime) -> (i64, i32) {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    (since.as_secs() as i64, since.subsec_nanos() as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64, nanos: u32) -> SystemTime {
        UNIX_EPOCH + Duration::new(secs, nanos)
    }

    #[test]
    fn epoch() {
        assert_eq!(rfc3339_nano(at(0, 0)), "1970-01-01T00:00:00.000000000Z");
    }

    #[test]
    fn known_dates() {
        // `date -u -d @951782400` = 2000-02-29 00:00:00 (a leap day).
        assert_eq!(
            rfc3339_nano(at(951_782_400, 5)),
            "2000-02-29T00:00:00.000000005Z"
        );
        // `date -u -d @1700000000` = 2023-11-14 22:13:20.
        assert_eq!(
            rfc3339_nano(at(1_700_000_000, 123_456_789)),
            "2023-11-14T22:13:20.123456789Z"
        );
        // 2100 is not a leap year: 2100-03-01 follows 2100-02-28.
        assert_eq!(
            rfc3339_nano(at(4_107_542_399, 0)),
            "2100-02-28T23:59:59.000000000Z"
        );
        assert_eq!(
            rfc3339_nano(at(4_107_542_400, 0)),
            "2100-03-01T00:00:00.000000000Z"
        );
    }
}
