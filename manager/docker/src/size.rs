//! Sizes and CPU amounts as docker's flags take them: `--memory 512m`,
//! `--shm-size 64m`, `--memory-swap -1`, `--cpus 1.5`, `--log-opt max-size=10m`.
//! The CLI parses them to refuse a bad flag before anything is created; berthd
//! parses the same strings when they come in a container's options
//! (`--tmpfs size=`, log options), so both read them with the one set of rules.

/// A size or CPU amount that does not parse; the message names the input the
/// way docker's does.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    /// Not a size in docker's `RAMInBytes` form.
    #[error("invalid size: '{0}'")]
    InvalidSize(String),
    /// `--cpus` that is not a non-negative decimal number.
    #[error("failed to parse {0} as a rational number")]
    NotRational(String),
    /// `--cpus` with more than nine decimals (below one nano-CPU).
    #[error("value {0} is too precise")]
    TooPrecise(String),
}

/// Parses a size in bytes the way docker's `RAMInBytes` (go-units) does: a
/// decimal number, an optional space, then an optional unit `b`, `k`, `m`,
/// `g`, `t` or `p` (binary multiples, any case) with an optional `i` and `b`
/// after it: `512m`, `1.5G`, `10 MiB`, `100`. Errors `invalid size: '12x'`.
pub fn parse_bytes(input: &str) -> Result<i64, SizeError> {
    parse_size(input, 1024.0)
}

/// Parses a size the way docker's `FromHumanSize` (go-units) does: as
/// [`parse_bytes`] but with decimal multiples (`1k` is 1000 bytes), as
/// json-file's `max-size` is read.
pub fn parse_human_size(input: &str) -> Result<i64, SizeError> {
    parse_size(input, 1000.0)
}

fn parse_size(input: &str, base: f64) -> Result<i64, SizeError> {
    let bad = || SizeError::InvalidSize(input.to_string());
    let digits_end = input
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(input.len());
    let (number, mut unit) = input.split_at(digits_end);
    if number.is_empty() || !number.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(bad());
    }
    let value: f64 = number.parse().map_err(|_| bad())?;
    unit = unit.strip_prefix(' ').unwrap_or(unit);
    let mut chars = unit.chars().peekable();
    let multiplier: f64 = match chars.peek().map(|c| c.to_ascii_lowercase()) {
        Some(u @ ('k' | 'm' | 'g' | 't' | 'p')) => {
            chars.next();
            let power = "kmgtp".find(u).unwrap() as i32 + 1;
            base.powi(power)
        }
        _ => 1.0,
    };
    if chars.peek().map(|c| c.to_ascii_lowercase()) == Some('i') {
        chars.next();
    }
    if chars.peek().map(|c| c.to_ascii_lowercase()) == Some('b') {
        chars.next();
    }
    if chars.next().is_some() {
        return Err(bad());
    }
    let bytes = value * multiplier;
    if !bytes.is_finite() || bytes >= i64::MAX as f64 {
        return Err(bad());
    }
    Ok(bytes as i64)
}

/// `--memory-swap`: `-1` (unlimited) or a size as [`parse_bytes`].
pub fn parse_memory_swap(input: &str) -> Result<i64, SizeError> {
    if input == "-1" {
        Ok(-1)
    } else {
        parse_bytes(input)
    }
}

/// Parses `--cpus` (`1.5`, `0.25`, `2`) into nano-CPUs, as docker's
/// `NanoCPUs`: at most nine decimals, not negative. Errors
/// `failed to parse abc as a rational number`.
pub fn parse_cpus(input: &str) -> Result<i64, SizeError> {
    let bad = || SizeError::NotRational(input.to_string());
    let (int, frac) = input.split_once('.').unwrap_or((input, ""));
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if (int.is_empty() && frac.is_empty()) || !digits(int) || !digits(frac) {
        return Err(bad());
    }
    if frac.len() > 9 {
        return Err(SizeError::TooPrecise(input.to_string()));
    }
    let whole: i64 = if int.is_empty() {
        0
    } else {
        int.parse().map_err(|_| bad())?
    };
    let mut nanos_text = frac.to_string();
    while nanos_text.len() < 9 {
        nanos_text.push('0');
    }
    let nanos: i64 = nanos_text.parse().map_err(|_| bad())?;
    whole
        .checked_mul(1_000_000_000)
        .and_then(|w| w.checked_add(nanos))
        .ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    #[test]
    fn human_sizes_are_decimal() {
        assert_eq!(super::parse_human_size("1k").unwrap(), 1000);
        assert_eq!(super::parse_human_size("10M").unwrap(), 10_000_000);
        assert_eq!(super::parse_bytes("1k").unwrap(), 1024);
        assert!(super::parse_human_size("1x").is_err());
    }

    use super::*;

    #[test]
    fn sizes_like_docker() {
        assert_eq!(parse_bytes("512m").unwrap(), 512 << 20);
        assert_eq!(parse_bytes("512M").unwrap(), 512 << 20);
        assert_eq!(parse_bytes("1.5g").unwrap(), 3 << 29);
        assert_eq!(parse_bytes("10 MiB").unwrap(), 10 << 20);
        assert_eq!(parse_bytes("10kb").unwrap(), 10 << 10);
        assert_eq!(parse_bytes("100").unwrap(), 100);
        assert_eq!(parse_bytes("100b").unwrap(), 100);
        assert_eq!(parse_bytes("1t").unwrap(), 1 << 40);
        assert_eq!(parse_bytes("1P").unwrap(), 1 << 50);
    }

    #[test]
    fn bad_sizes_name_the_input() {
        for bad in ["12x", "", "m", "-1", "1.2.3m", "1mm", "1 m b", "99999999p"] {
            let e = parse_bytes(bad).unwrap_err();
            assert_eq!(e.to_string(), format!("invalid size: '{bad}'"));
        }
        assert_eq!(parse_memory_swap("-1").unwrap(), -1);
        assert_eq!(parse_memory_swap("1g").unwrap(), 1 << 30);
    }

    #[test]
    fn cpus_to_nanos() {
        assert_eq!(parse_cpus("1.5").unwrap(), 1_500_000_000);
        assert_eq!(parse_cpus("2").unwrap(), 2_000_000_000);
        assert_eq!(parse_cpus(".25").unwrap(), 250_000_000);
        assert_eq!(parse_cpus("0.000000001").unwrap(), 1);
        assert_eq!(
            parse_cpus("abc").unwrap_err().to_string(),
            "failed to parse abc as a rational number"
        );
        assert!(parse_cpus("-1").is_err());
        assert!(parse_cpus(".").is_err());
        assert_eq!(
            parse_cpus("0.0000000001").unwrap_err().to_string(),
            "value 0.0000000001 is too precise"
        );
    }
}
