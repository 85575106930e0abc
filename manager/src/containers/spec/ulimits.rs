//! `--ulimit NAME=SOFT[:HARD]` into OCI `process.rlimits` (docker's
//! go-units `ParseUlimit`). Docker sets no rlimits by default beyond what
//! the daemon's `default-ulimits` say; neither does Berth.

use berth_oci::PosixRlimit;

use super::SpecError;

/// The names `--ulimit` takes (`setrlimit(2)`), lower-case.
const ULIMIT_NAMES: [&str; 16] = [
    "as",
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
];

/// One limit value: a number, or `-1`/`unlimited` for `RLIM_INFINITY`.
fn limit_value(v: &str, spec: &str) -> Result<u64, SpecError> {
    if v == "-1" || v == "unlimited" {
        return Ok(u64::MAX);
    }
    v.parse::<u64>()
        .map_err(|_| SpecError::invalid(format!("invalid ulimit argument: {spec}")))
}

/// Parses `nofile=1024:2048` (soft 1024, hard 2048) or `nofile=1024` (both).
/// Errors `invalid ulimit type: foo`, `invalid ulimit argument: nofile=x`,
/// `ulimit soft limit must be less than or equal to hard limit: 2 > 1`.
pub fn parse_ulimit(spec: &str) -> Result<PosixRlimit, SpecError> {
    let (name, values) = spec
        .split_once('=')
        .ok_or_else(|| SpecError::invalid(format!("invalid ulimit argument: {spec}")))?;
    let name = name.trim().to_ascii_lowercase();
    if !ULIMIT_NAMES.contains(&name.as_str()) {
        return Err(SpecError::invalid(format!("invalid ulimit type: {name}")));
    }
    let (soft, hard) = match values.split_once(':') {
        Some((s, h)) => (limit_value(s, spec)?, limit_value(h, spec)?),
        None => {
            let v = limit_value(values, spec)?;
            (v, v)
        }
    };
    if soft > hard {
        return Err(SpecError::invalid(format!(
            "ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
        )));
    }
    Ok(PosixRlimit {
        kind: format!("RLIMIT_{}", name.to_ascii_uppercase()),
        soft,
        hard,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulimits_like_docker() {
        let r = parse_ulimit("nofile=1024:2048").unwrap();
        assert_eq!(
            (r.kind.as_str(), r.soft, r.hard),
            ("RLIMIT_NOFILE", 1024, 2048)
        );
        let r = parse_ulimit("NPROC=10").unwrap();
        assert_eq!((r.kind.as_str(), r.soft, r.hard), ("RLIMIT_NPROC", 10, 10));
        let r = parse_ulimit("core=-1").unwrap();
        assert_eq!(r.hard, u64::MAX);
        assert_eq!(
            parse_ulimit("foo=1").unwrap_err().to_string(),
            "invalid ulimit type: foo"
        );
        assert_eq!(
            parse_ulimit("nofile=x").unwrap_err().to_string(),
            "invalid ulimit argument: nofile=x"
        );
        assert_eq!(
            parse_ulimit("nofile").unwrap_err().to_string(),
            "invalid ulimit argument: nofile"
        );
        assert_eq!(
            parse_ulimit("nofile=2:1").unwrap_err().to_string(),
            "ulimit soft limit must be less than or equal to hard limit: 2 > 1"
        );
    }
}
