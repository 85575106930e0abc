//! The transient unit berth asks systemd for: its properties
//! (systemd.resource-control(5), systemd.scope(5)) and the manager calls
//! that start and stop it (org.freedesktop.systemd1(5)).
//!
//! Properties set: `Description`, `Slice` (scopes), `PIDs` (the
//! container's init), `Delegate=yes` (the container may manage its own
//! sub-cgroups and systemd leaves them alone), `DefaultDependencies=no` (no
//! ordering against shutdown targets, as runc), accounting for CPU, memory,
//! tasks and IO, and the limits systemd knows by name: memory limit, CPU
//! shares/weight, CPU quota and period, tasks max. systemd rewrites the
//! cgroup files from these on a reload, so they must agree with what the
//! cgroupfs driver writes afterwards for the rest of `linux.resources`.

use super::dbus::{BodyWriter, Connection, DbusError};
use crate::v2::cpu::shares_to_weight;
use berth_oci::LinuxResources;

const MANAGER_PATH: &str = "/org/freedesktop/systemd1";
const MANAGER_INTERFACE: &str = "org.freedesktop.systemd1.Manager";

/// One unit property value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PropertyValue {
    Str(String),
    Bool(bool),
    U64(u64),
    U32Array(Vec<u32>),
}

/// The properties of the container's unit.
pub fn unit_properties(
    description: &str,
    slice: Option<&str>,
    pid: u32,
    v2: bool,
    resources: &LinuxResources,
) -> Vec<(&'static str, PropertyValue)> {
    use PropertyValue::*;
    let mut props = vec![("Description", Str(description.to_string()))];
    if let Some(slice) = slice {
        props.push(("Slice", Str(slice.to_string())));
    }
    props.push(("PIDs", U32Array(vec![pid])));
    props.push(("Delegate", Bool(true)));
    props.push(("DefaultDependencies", Bool(false)));
    props.push(("MemoryAccounting", Bool(true)));
    props.push(("CPUAccounting", Bool(true)));
    props.push(("TasksAccounting", Bool(true)));
    props.push((
        if v2 {
            "IOAccounting"
        } else {
            "BlockIOAccounting"
        },
        Bool(true),
    ));
    let unlimited = |v: i64| if v < 0 { u64::MAX } else { v as u64 };
    if let Some(limit) = resources
        .memory
        .as_ref()
        .and_then(|m| m.limit)
        .filter(|l| *l != 0)
    {
        props.push((
            if v2 { "MemoryMax" } else { "MemoryLimit" },
            U64(unlimited(limit)),
        ));
    }
    if let Some(cpu) = &resources.cpu {
        if let Some(shares) = cpu.shares.filter(|s| *s != 0) {
            if v2 {
                props.push(("CPUWeight", U64(shares_to_weight(shares))));
            } else {
                props.push(("CPUShares", U64(shares)));
            }
        }
        let period = cpu.period.filter(|p| *p != 0).unwrap_or(100_000);
        if let Some(quota) = cpu.quota.filter(|q| *q != 0) {
            // systemd takes quota per second, at 10 ms granularity: round up
            // so the container never gets less than asked (as runc does).
            let per_sec = if quota < 0 {
                u64::MAX
            } else {
                let us = quota as u64 * 1_000_000 / period;
                us.div_ceil(10_000) * 10_000
            };
            props.push(("CPUQuotaPerSecUSec", U64(per_sec)));
        }
        if cpu.period.is_some_and(|p| p != 0) {
            props.push(("CPUQuotaPeriodUSec", U64(period)));
        }
    }
    if let Some(pids) = &resources.pids {
        let max = if pids.limit > 0 {
            pids.limit as u64
        } else {
            u64::MAX
        };
        props.push(("TasksMax", U64(max)));
    }
    props
}

/// The body of `StartTransientUnit(s name, s mode, a(sv) properties,
/// a(sa(sv)) aux)`.
pub fn start_transient_unit_body(unit: &str, props: &[(&'static str, PropertyValue)]) -> Vec<u8> {
    let mut w = BodyWriter::new();
    w.string(unit);
    w.string("replace");
    write_properties(&mut w, props);
    w.array(8, |_| {});
    w.buf
}

/// The properties that carry resource limits (for `SetUnitProperties` on
/// update): all of [`unit_properties`] but identity, placement and
/// accounting switches.
pub fn limit_properties(
    v2: bool,
    resources: &LinuxResources,
) -> Vec<(&'static str, PropertyValue)> {
    unit_properties("", None, 0, v2, resources)
        .into_iter()
        .filter(|(name, _)| {
            !matches!(
                *name,
                "Description" | "Slice" | "PIDs" | "Delegate" | "DefaultDependencies"
            ) && !name.ends_with("Accounting")
        })
        .collect()
}

/// The body of `SetUnitProperties(s name, b runtime, a(sv) properties)`.
pub fn set_unit_properties_body(unit: &str, props: &[(&'static str, PropertyValue)]) -> Vec<u8> {
    let mut w = BodyWriter::new();
    w.string(unit);
    w.bool(true);
    write_properties(&mut w, props);
    w.buf
}

/// Changes the unit's limits at runtime (not persisted across reboots:
/// the unit is transient anyway).
pub fn set_unit_properties(
    conn: &mut Connection,
    unit: &str,
    props: &[(&'static str, PropertyValue)],
) -> Result<(), DbusError> {
    let body = set_unit_properties_body(unit, props);
    conn.call(
        MANAGER_PATH,
        MANAGER_INTERFACE,
        "SetUnitProperties",
        "sba(sv)",
        &body,
        None,
    )?;
    Ok(())
}

/// Writes an `a(sv)` of properties.
fn write_properties(w: &mut BodyWriter, props: &[(&'static str, PropertyValue)]) {
    w.array(8, |w| {
        for (name, value) in props {
            w.structure(|w| {
                w.string(name);
                match value {
                    PropertyValue::Str(s) => w.variant("s", |w| w.string(s)),
                    PropertyValue::Bool(b) => w.variant("b", |w| w.bool(*b)),
                    PropertyValue::U64(v) => w.variant("t", |w| w.u64(*v)),
                    PropertyValue::U32Array(a) => w.variant("au", |w| {
                        w.array(4, |w| {
                            for v in a {
                                w.u32(*v);
                            }
                        })
                    }),
                }
            });
        }
    });
}

/// Starts the transient unit; returns the job's object path.
pub fn start_transient_unit(
    conn: &mut Connection,
    unit: &str,
    props: &[(&'static str, PropertyValue)],
) -> Result<String, DbusError> {
    let body = start_transient_unit_body(unit, props);
    let reply = conn.call(
        MANAGER_PATH,
        MANAGER_INTERFACE,
        "StartTransientUnit",
        "ssa(sv)a(sa(sv))",
        &body,
        None,
    )?;
    Ok(reply.first_string().unwrap_or("").to_string())
}

/// Stops the unit (systemd kills what is left and removes its cgroup).
pub fn stop_unit(conn: &mut Connection, unit: &str) -> Result<(), DbusError> {
    let mut w = BodyWriter::new();
    w.string(unit);
    w.string("replace");
    conn.call(
        MANAGER_PATH,
        MANAGER_INTERFACE,
        "StopUnit",
        "ss",
        &w.buf,
        None,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_oci::{LinuxCpu, LinuxMemory, LinuxPids};

    #[test]
    fn limits_become_properties() {
        let r = LinuxResources {
            memory: Some(LinuxMemory {
                limit: Some(1 << 20),
                ..Default::default()
            }),
            cpu: Some(LinuxCpu {
                shares: Some(1024),
                quota: Some(25_000),
                period: Some(100_000),
                ..Default::default()
            }),
            pids: Some(LinuxPids { limit: 0 }),
            ..Default::default()
        };
        let v2 = unit_properties("d", Some("system.slice"), 42, true, &r);
        let get = |props: &[(&str, PropertyValue)], k: &str| {
            props.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())
        };
        assert_eq!(get(&v2, "MemoryMax"), Some(PropertyValue::U64(1 << 20)));
        assert_eq!(get(&v2, "CPUWeight"), Some(PropertyValue::U64(100)));
        assert_eq!(
            get(&v2, "CPUQuotaPerSecUSec"),
            Some(PropertyValue::U64(250_000))
        );
        assert_eq!(get(&v2, "TasksMax"), Some(PropertyValue::U64(u64::MAX)));
        assert_eq!(get(&v2, "PIDs"), Some(PropertyValue::U32Array(vec![42])));
        let v1 = unit_properties("d", None, 42, false, &r);
        assert_eq!(get(&v1, "MemoryLimit"), Some(PropertyValue::U64(1 << 20)));
        assert_eq!(get(&v1, "CPUShares"), Some(PropertyValue::U64(1024)));
        assert_eq!(get(&v1, "Slice"), None);
    }

    #[test]
    fn update_properties_carry_only_limits() {
        let r = LinuxResources {
            pids: Some(LinuxPids { limit: 5 }),
            ..Default::default()
        };
        assert_eq!(
            limit_properties(true, &r),
            vec![("TasksMax", PropertyValue::U64(5))]
        );
        assert!(limit_properties(true, &LinuxResources::default()).is_empty());
    }

    #[test]
    fn quota_rounds_up_to_10ms_per_second() {
        let r = LinuxResources {
            cpu: Some(LinuxCpu {
                quota: Some(1_234),
                period: Some(100_000),
                ..Default::default()
            }),
            ..Default::default()
        };
        let props = unit_properties("d", None, 1, true, &r);
        assert!(props.contains(&("CPUQuotaPerSecUSec", PropertyValue::U64(20_000))));
    }
}
