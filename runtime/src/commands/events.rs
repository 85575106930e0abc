//! `events [--stats] [--interval DURATION] ID`: resource usage as runc's
//! JSON events. `--stats` prints one and exits; otherwise a stats event every
//! interval (5s by default) until the container stops.

use std::time::Duration;

use crate::cli::Parsed;
use crate::container::ContainerRecord;
use crate::error::{Error, Result};
use crate::{cgroups, Runtime};

/// `events`.
pub fn command(rt: &Runtime, flags: &Parsed) -> Result<i32> {
    let id = super::one_id("events", flags)?;
    let record = ContainerRecord::load(&rt.root, id)?;
    let cg = cgroups::require(&record)?;
    let interval = parse_duration(flags.value("interval").unwrap_or("5s"))?;
    let emit = |kind: &str, data: serde_json::Value| {
        let v = serde_json::json!({"type": kind, "id": record.id, "data": data});
        println!("{v}");
    };
    if flags.is_set("stats") {
        emit("stats", serde_json::to_value(cg.stats()?).expect("json"));
        return Ok(0);
    }
    while record.init_alive() {
        emit("stats", serde_json::to_value(cg.stats()?).expect("json"));
        std::thread::sleep(interval);
    }
    Ok(0)
}

/// Go-style durations as runc's flag takes them: `5s`, `500ms`, `1m`, `2h`.
pub fn parse_duration(text: &str) -> Result<Duration> {
    let bad = || Error::Usage(format!("--interval: invalid duration {text:?}"));
    let split = text
        .find(|c: char| c.is_ascii_alphabetic())
        .ok_or_else(bad)?;
    let (num, unit) = text.split_at(split);
    let n: f64 = num.parse().map_err(|_| bad())?;
    let secs = match unit {
        "ns" => n / 1e9,
        "us" | "µs" => n / 1e6,
        "ms" => n / 1e3,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(bad()),
    };
    if secs <= 0.0 || !secs.is_finite() {
        return Err(bad());
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("1x").is_err());
    }
}
