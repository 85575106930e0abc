//! v2 `cpu` controller (cgroup-v2.rst, "CPU").
//!
//! `shares` (v1, 2..262144, default 1024) becomes `cpu.weight` (1..10000,
//! default 100) by [`shares_to_weight`]; quota and period become
//! `cpu.max` (`$QUOTA $PERIOD`, `max` for no quota). Realtime budgets
//! have no v2 equivalent and are refused.

use crate::interface_file::{self, parse_flat_keyed};
use crate::stats::Stats;
use crate::v1::cpu::SHARES_RANGE;
use crate::CgroupError;
use berth_oci::LinuxCpu;
use std::path::Path;

/// Converts v1 `cpu.shares` to v2 `cpu.weight` on a log scale that maps
/// the ends of both ranges onto each other and the defaults too
/// (2 -> 1, 1024 -> 100, 262144 -> 10000): a linear map would give a
/// default container (1024 shares) a weight of 39, less than its
/// neighbours' default 100. The same curve crun and runc (1.3+) use:
/// `10^((l^2 + 125 l) / 612 - 7/34)` with `l = log2(shares)`.
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 100;
    }
    let l = (shares.clamp(*SHARES_RANGE.start(), *SHARES_RANGE.end()) as f64).log2();
    let exponent = (l * l + 125.0 * l) / 612.0 - 7.0 / 34.0;
    // Round away float noise before ceil, so exact points stay exact.
    let w = (10f64.powf(exponent) * 1e6).round() / 1e6;
    (w.ceil() as u64).clamp(1, 10_000)
}

/// The `cpu.max` value, given the quota currently in effect (used when
/// only the period changes).
pub fn cpu_max(quota: Option<i64>, period: Option<u64>, current_quota: &str) -> Option<String> {
    let quota = quota.filter(|q| *q != 0);
    let period = period.filter(|p| *p != 0);
    let quota = match (quota, period) {
        (None, None) => return None,
        (Some(q), _) if q > 0 => q.to_string(),
        (Some(_), _) => "max".to_string(),
        (None, Some(_)) => current_quota.to_string(),
    };
    Some(match period {
        Some(p) => format!("{quota} {p}"),
        None => quota,
    })
}

/// Applies the `cpu` part of `linux.resources.cpu`.
pub fn apply(dir: &Path, c: &LinuxCpu) -> Result<(), CgroupError> {
    if c.realtime_runtime.is_some_and(|r| r != 0) || c.realtime_period.is_some_and(|p| p != 0) {
        return Err(CgroupError::Unsupported {
            field: "cpu.realtimeRuntime",
            why: "on cgroup v2 (no realtime group scheduling)".to_string(),
        });
    }
    if let Some(shares) = c.shares.filter(|s| *s != 0) {
        if !SHARES_RANGE.contains(&shares) {
            return Err(CgroupError::Invalid {
                field: "cpu.shares",
                value: shares.to_string(),
                reason: "want 2 to 262144",
            });
        }
        interface_file::write_in(dir, "cpu.weight", &shares_to_weight(shares).to_string())?;
    }
    if c.quota.is_some_and(|q| q < -1) {
        return Err(CgroupError::Invalid {
            field: "cpu.quota",
            value: c.quota.unwrap_or_default().to_string(),
            reason: "want microseconds per period, or -1 for no limit",
        });
    }
    let needs_current = c.quota.filter(|q| *q != 0).is_none() && c.period.is_some_and(|p| p != 0);
    let current = if needs_current {
        interface_file::read_in(dir, "cpu.max")?
    } else {
        String::new()
    };
    let current_quota = current.split_whitespace().next().unwrap_or("max");
    if let Some(value) = cpu_max(c.quota, c.period, current_quota) {
        interface_file::write_in(dir, "cpu.max", &value)?;
    }
    if let Some(burst) = c.burst {
        interface_file::write_in(dir, "cpu.max.burst", &burst.to_string())?;
    }
    if let Some(idle) = c.idle {
        interface_file::write_in(dir, "cpu.idle", &idle.to_string())?;
    }
    Ok(())
}

/// Fills `stats.cpu` from `cpu.stat` (microseconds, converted to ns).
pub fn stats(dir: &Path, stats: &mut Stats) -> Result<(), CgroupError> {
    let Some(content) = interface_file::read_optional(dir, "cpu.stat")? else {
        return Ok(());
    };
    for (key, value) in parse_flat_keyed(&content) {
        match key {
            "usage_usec" => stats.cpu.usage.total = value * 1000,
            "user_usec" => stats.cpu.usage.user = value * 1000,
            "system_usec" => stats.cpu.usage.kernel = value * 1000,
            "nr_periods" => stats.cpu.throttling.periods = value,
            "nr_throttled" => stats.cpu.throttling.throttled_periods = value,
            "throttled_usec" => stats.cpu.throttling.throttled_time = value * 1000,
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_map_onto_weights() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 100);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert!(shares_to_weight(512) < 100 && shares_to_weight(2048) > 100);
        assert_eq!(shares_to_weight(0), 100);
    }

    #[test]
    fn cpu_max_values() {
        assert_eq!(
            cpu_max(Some(50_000), Some(100_000), "max").unwrap(),
            "50000 100000"
        );
        assert_eq!(cpu_max(Some(-1), None, "max").unwrap(), "max");
        assert_eq!(cpu_max(Some(20_000), None, "max").unwrap(), "20000");
        assert_eq!(
            cpu_max(None, Some(200_000), "30000").unwrap(),
            "30000 200000"
        );
        assert_eq!(cpu_max(None, None, "max"), None);
        assert_eq!(cpu_max(Some(0), Some(0), "max"), None);
    }
}
