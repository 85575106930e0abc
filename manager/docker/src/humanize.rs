//! Sizes and durations as docker prints them (go-units' `HumanSize` and
//! `HumanDuration`): the CLI's tables and berthd's container `Status`
//! (`Up 2 minutes`) use the same words.

use std::time::Duration;

/// Decimal sizes with 3-4 significant digits: `4.26MB`, `1.2GB`, `0B`
/// (go-units `HumanSize`).
pub fn size(bytes: i64) -> String {
    custom_size(bytes as f64, 1000.0, &["B", "kB", "MB", "GB", "TB", "PB"])
}

/// Decimal sizes with 3 significant digits: `1.98MB`, `24.6kB` (go-units
/// `HumanSizeWithPrecision(size, 3)`: the SIZE columns of `images`, `ps
/// -s`, `history` and the I/O columns of `stats`).
pub fn size3(bytes: i64) -> String {
    scaled(
        bytes as f64,
        1000.0,
        &["B", "kB", "MB", "GB", "TB", "PB"],
        3,
    )
}

/// Binary sizes with up to 4 significant digits: `1.5MiB`, `7.63GiB`
/// (go-units `BytesSize`, what `stats` prints).
pub fn binary_size(bytes: u64) -> String {
    custom_size(
        bytes as f64,
        1024.0,
        &["B", "KiB", "MiB", "GiB", "TiB", "PiB"],
    )
}

/// go-units `CustomSize`: `value` scaled by `base` to the largest unit it
/// reaches.
fn custom_size(value: f64, base: f64, units: &[&str]) -> String {
    scaled(value, base, units, 4)
}

/// `value` scaled by `base` to the largest unit it reaches, printed with
/// Go's `%.{precision}g` (no exponent: the value is below `base`).
fn scaled(mut value: f64, base: f64, units: &[&str], precision: usize) -> String {
    let mut unit = 0;
    while value >= base && unit < units.len() - 1 {
        value /= base;
        unit += 1;
    }
    // %.Ng: at most N significant digits, no trailing zeros.
    let integer_digits = if value >= 100.0 {
        3
    } else if value >= 10.0 {
        2
    } else {
        1
    };
    let digits = precision.saturating_sub(integer_digits);
    let mut s = format!("{value:.digits$}");
    if s.contains('.') {
        while s.ends_with('0') {
            s.pop();
        }
        if s.ends_with('.') {
            s.pop();
        }
    }
    format!("{s}{}", units[unit])
}

/// `About a minute`, `2 hours`, `3 weeks`, `Less than a second`.
pub fn duration(d: Duration) -> String {
    let secs = d.as_secs();
    let hours = secs / 3600;
    if secs < 1 {
        "Less than a second".into()
    } else if secs == 1 {
        "1 second".into()
    } else if secs < 60 {
        format!("{secs} seconds")
    } else if secs / 60 == 1 {
        "About a minute".into()
    } else if secs < 3600 {
        format!("{} minutes", secs / 60)
    } else if hours == 1 {
        "About an hour".into()
    } else if hours < 48 {
        format!("{hours} hours")
    } else if hours < 24 * 7 * 2 {
        format!("{} days", hours / 24)
    } else if hours < 24 * 30 * 2 {
        format!("{} weeks", hours / 24 / 7)
    } else if hours < 24 * 365 * 2 {
        format!("{} months", hours / 24 / 30)
    } else {
        format!("{} years", hours / 24 / 365)
    }
}

/// `2 hours ago` for a time in seconds since the epoch (`N/A` for 0).
pub fn ago(epoch_seconds: i64) -> String {
    if epoch_seconds <= 0 {
        return "N/A".into();
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    format!(
        "{} ago",
        duration(Duration::from_secs((now - epoch_seconds).max(0) as u64))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_like_go_units() {
        assert_eq!(size(0), "0B");
        assert_eq!(size(999), "999B");
        assert_eq!(size(4_261_000), "4.261MB");
        assert_eq!(size(1_200_000_000), "1.2GB");
        assert_eq!(size(123_456_789), "123.5MB");
        assert_eq!(size3(0), "0B");
        assert_eq!(size3(1_984_000), "1.98MB");
        assert_eq!(size3(123_456_789), "123MB");
        assert_eq!(size3(24_600), "24.6kB");
        assert_eq!(size3(999), "999B");
    }

    #[test]
    fn durations_like_go_units() {
        assert_eq!(duration(Duration::from_millis(10)), "Less than a second");
        assert_eq!(duration(Duration::from_secs(90)), "About a minute");
        assert_eq!(duration(Duration::from_secs(3 * 3600)), "3 hours");
        assert_eq!(duration(Duration::from_secs(20 * 86400)), "2 weeks");
        assert_eq!(ago(0), "N/A");
    }
}
