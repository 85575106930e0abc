//! `events [--stats] [--interval DURATION] ID`: resource usage as runc's
//! JSON events. `--stats` prints one and exits; otherwise a stats event every
//! interval (5s by default) and an `oom` event at each OOM kill, until the
//! container stops.

use std::os::fd::AsRawFd;
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
    // Stats every interval; OOM kills as they happen, from the cgroup's
    // notifier (v1 eventfd, v2 memory.events), polled in between.
    let mut oom = cg.oom_notifier().ok();
    let mut next_stats = std::time::Instant::now();
    while record.init_alive() {
        let now = std::time::Instant::now();
        if now >= next_stats {
            emit("stats", serde_json::to_value(cg.stats()?).expect("json"));
            next_stats = now + interval;
        }
        // Wake at least every 200 ms to notice the container's end.
        let wait = (next_stats - std::time::Instant::now()).min(Duration::from_millis(200));
        match oom.as_mut() {
            Some(n) => {
                let mut pfd = libc::pollfd {
                    fd: std::os::fd::AsFd::as_fd(n).as_raw_fd(),
                    events: n.poll_events(),
                    revents: 0,
                };
                let r = unsafe { libc::poll(&mut pfd, 1, wait.as_millis() as libc::c_int) };
                if r > 0 && n.take()? > 0 {
                    emit("oom", serde_json::Value::Null);
                }
            }
            None => std::thread::sleep(wait),
        }
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
