//! Go's `time.Duration` as docker's flags and messages use it: parsed from
//! `--health-interval 30s`, `--since 10m` and `--stop-timeout`-like values,
//! printed as Go prints one (`1m30s`). One parser for every place: the CLI's
//! flags and the daemon's log times read durations with the same grammar and
//! the same error texts (Go's `time: invalid duration "x"`).

use std::time::Duration;

/// A duration that does not parse, with Go's `time.ParseDuration` error text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Not `[-+]?(number unit)+`, or beyond Go's int64 nanoseconds.
    #[error("time: invalid duration {0:?}")]
    Invalid(String),
    /// A number with no unit after it (`10`; only `0` may stand alone).
    #[error("time: missing unit in duration {0:?}")]
    MissingUnit(String),
    /// A unit Go does not know.
    #[error("time: unknown unit {unit:?} in duration {input:?}")]
    UnknownUnit { unit: String, input: String },
}

/// Go's `time.ParseDuration`, in nanoseconds: `[-+]?(number unit)+` where a
/// number may have a fraction and the units are `ns us µs ms s m h`; `0`
/// alone needs no unit. Exact integer arithmetic, as Go's; a fraction's
/// digits past the nanosecond are dropped.
pub fn parse_go_duration(input: &str) -> Result<i64, DurationError> {
    let invalid = || DurationError::Invalid(input.to_string());
    let (negative, mut rest) = match input.as_bytes().first() {
        Some(b'-') => (true, &input[1..]),
        Some(b'+') => (false, &input[1..]),
        _ => (false, input),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: i128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let int_part = &rest[..int_len];
        rest = &rest[int_len..];
        let mut frac_part = "";
        if let Some(after_dot) = rest.strip_prefix('.') {
            let frac_len = after_dot.bytes().take_while(u8::is_ascii_digit).count();
            frac_part = &after_dot[..frac_len];
            rest = &after_dot[frac_len..];
        }
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(invalid());
        }
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit: i128 = match &rest[..unit_len] {
            "" => return Err(DurationError::MissingUnit(input.to_string())),
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            other => {
                return Err(DurationError::UnknownUnit {
                    unit: other.to_string(),
                    input: input.to_string(),
                })
            }
        };
        rest = &rest[unit_len..];
        // Go refuses durations beyond int64 nanoseconds (about 292 years).
        let whole: i128 = if int_part.is_empty() {
            0
        } else {
            int_part
                .get(..int_part.len().min(20))
                .and_then(|d| d.parse().ok())
                .ok_or_else(invalid)?
        };
        total += whole.checked_mul(unit).ok_or_else(invalid)?;
        let mut scale = unit;
        for digit in frac_part.bytes().take(18) {
            scale /= 10;
            total += i128::from(digit - b'0') * scale;
        }
        if total > i128::from(i64::MAX) {
            return Err(invalid());
        }
    }
    let total = total as i64;
    Ok(if negative { -total } else { total })
}

/// A duration as Go prints one ("300ms", "30s", "1m30s").
pub fn go_duration_string(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns == 0 {
        return "0s".into();
    }
    let trim = |v: f64| {
        let s = format!("{v:.9}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    };
    if ns < 1_000 {
        return format!("{ns}ns");
    }
    if ns < 1_000_000 {
        return format!("{}µs", trim(ns as f64 / 1e3));
    }
    if ns < 1_000_000_000 {
        return format!("{}ms", trim(ns as f64 / 1e6));
    }
    let total_secs = d.as_secs();
    let (h, m) = (total_secs / 3600, (total_secs % 3600) / 60);
    let secs = trim((total_secs % 60) as f64 + d.subsec_nanos() as f64 / 1e9);
    match (h, m) {
        (0, 0) => format!("{secs}s"),
        (0, m) => format!("{m}m{secs}s"),
        (h, m) => format!("{h}h{m}m{secs}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_parse_with_gos_errors() {
        assert_eq!(parse_go_duration("200ms"), Ok(200_000_000));
        assert_eq!(parse_go_duration("1m30s"), Ok(90_000_000_000));
        assert_eq!(parse_go_duration("1.5s"), Ok(1_500_000_000));
        assert_eq!(parse_go_duration("-1s"), Ok(-1_000_000_000));
        assert_eq!(parse_go_duration("0"), Ok(0));
        assert_eq!(
            parse_go_duration("1x").unwrap_err().to_string(),
            "time: unknown unit \"x\" in duration \"1x\""
        );
        assert_eq!(
            parse_go_duration("10").unwrap_err().to_string(),
            "time: missing unit in duration \"10\""
        );
        assert_eq!(
            parse_go_duration("abc").unwrap_err().to_string(),
            "time: invalid duration \"abc\""
        );
        assert!(parse_go_duration("").is_err());
    }

    #[test]
    fn go_duration_grammar() {
        assert_eq!(parse_go_duration(".5s"), Ok(500_000_000));
        assert_eq!(parse_go_duration("1h1m1s1ms1us1ns"), Ok(3_661_001_001_001));
        assert_eq!(parse_go_duration("3µs"), Ok(3_000));
        for bad in [
            "",
            "-",
            "10",
            "1x",
            "h",
            ".s",
            "1.5",
            "1h 2m",
            "9999999999h",
        ] {
            assert!(parse_go_duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn go_durations_print_like_go() {
        assert_eq!(go_duration_string(Duration::from_millis(300)), "300ms");
        assert_eq!(go_duration_string(Duration::from_secs(30)), "30s");
        assert_eq!(go_duration_string(Duration::from_secs(90)), "1m30s");
        assert_eq!(go_duration_string(Duration::from_millis(1500)), "1.5s");
    }
}
