//! `events [--stats] [--interval DURATION] ID`: resource usage as runc's
//! JSON events, one compact object per line. `--stats` prints one and
//! exits; otherwise a stats event every interval (5s by default, the first
//! after one interval, as runc's ticker) and an `oom` event at each OOM
//! kill, until the container stops.
//!
//! The events are structs serialized straight to text, in runc's key order
//! (`type`, `id`, `data`; `data` in runc's `types.Stats` order): through a
//! `serde_json::Value` the keys would come out sorted, since this build's
//! serde_json map is a BTreeMap (no `preserve_order`).

use std::os::fd::AsRawFd;
use std::time::Duration;

use berth_cgroups::Stats;
use berth_oci::ContainerStatus;
use serde::Serialize;

use crate::cli::Parsed;
use crate::container::ContainerRecord;
use crate::error::{Error, Result};
use crate::{cgroups, Runtime};

/// One event line (runc `types.Event`); `data` is left out when absent, as
/// Go's `omitempty` leaves out an OOM event's nil data.
#[derive(Serialize)]
struct Event<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a Stats>,
}

impl Event<'_> {
    /// Writes the line; false once stdout is gone (a reader that quit ends
    /// the stream quietly, not with a panic).
    fn print(&self) -> bool {
        let mut line = serde_json::to_string(self).expect("event serializes");
        line.push('\n');
        std::io::Write::write_all(&mut std::io::stdout(), line.as_bytes()).is_ok()
    }
}

/// `events`.
pub fn command(rt: &Runtime, flags: &Parsed) -> Result<i32> {
    let id = super::one_id("events", flags)?;
    let interval = parse_duration(flags.value("interval").unwrap_or("5s"))?;
    let record = ContainerRecord::load(&rt.root, id)?;
    if record.status(&rt.root) == ContainerStatus::Stopped {
        return Err(Error::State {
            id: id.clone(),
            status: "stopped",
            why: "container not running",
        });
    }
    let cg = cgroups::require(&record)?;
    let stats_event = |stats: &Stats| {
        Event {
            kind: "stats",
            id,
            data: Some(stats),
        }
        .print()
    };
    if flags.is_set("stats") {
        stats_event(&cg.stats()?);
        return Ok(0);
    }
    // Stats every interval; OOM kills as they happen, from the cgroup's
    // notifier (v1 eventfd, v2 memory.events), polled in between.
    let mut oom = cg.oom_notifier().ok();
    let mut next_stats = std::time::Instant::now() + interval;
    while record.init_alive() {
        let now = std::time::Instant::now();
        if now >= next_stats {
            if !stats_event(&cg.stats()?) {
                break;
            }
            next_stats = now + interval;
        }
        // Wake at least every 200 ms to notice the container's end.
        let wait = next_stats
            .saturating_duration_since(std::time::Instant::now())
            .min(Duration::from_millis(200));
        match oom.as_mut() {
            Some(n) => {
                let mut pfd = libc::pollfd {
                    fd: std::os::fd::AsFd::as_fd(n).as_raw_fd(),
                    events: n.poll_events(),
                    revents: 0,
                };
                let r = unsafe { libc::poll(&mut pfd, 1, wait.as_millis() as libc::c_int) };
                let oom_event = Event {
                    kind: "oom",
                    id,
                    data: None,
                };
                if r > 0 && n.take()? > 0 && !oom_event.print() {
                    break;
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
