//! The cgroup limits beyond `-m`/`--cpus`/`-c`/`--pids-limit`: CFS period
//! and quota, realtime budget, cpusets, memory reservation, swappiness, the
//! OOM killer, kernel memory and block I/O, checked with docker 20.10's
//! words (moby `daemon/daemon_unix.go` `verifyPlatformContainerResources`)
//! and discarded with docker's warning where this host's cgroups lack the
//! knob (v1 `blkio.weight` is missing without the BFQ scheduler, as here).
//!
//! What the host offers is read once into [`HostResources`], so the rules
//! are unit tested with any host.

use std::path::Path;

use berth_oci::{LinuxBlockIo, LinuxResources, LinuxThrottleDevice, LinuxWeightDevice};

use super::{ContainerOptions, SpecError, MIN_MEMORY};

/// What this host's cgroups can do (docker's `sysinfo`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostResources {
    /// `blkio.weight` / `blkio.weight_device` exist (v2: `io.weight`).
    pub blkio_weight: bool,
    /// `blkio.throttle.*` exist (v2: `io.max`).
    pub blkio_throttle: bool,
    /// `cpu.rt_runtime_us` exists (CONFIG_RT_GROUP_SCHED).
    pub cpu_realtime: bool,
    /// The CPUs and memory nodes a container may be given (`0-3`).
    pub cpus: String,
    pub mems: String,
}

impl HostResources {
    /// Reads the host's cgroup mounts (v1 controllers, or the v2 root).
    pub fn detect(cgroup_v2: bool) -> HostResources {
        let root = Path::new("/sys/fs/cgroup");
        let read = |p: &str| {
            std::fs::read_to_string(p)
                .map(|s| s.trim().to_string())
                .unwrap_or_default()
        };
        let or = |s: String, fallback: &str| {
            if s.is_empty() {
                fallback.to_string()
            } else {
                s
            }
        };
        if cgroup_v2 {
            let controllers = read("/sys/fs/cgroup/cgroup.controllers");
            let has = |c: &str| controllers.split_whitespace().any(|x| x == c);
            HostResources {
                blkio_weight: has("io"),
                blkio_throttle: has("io"),
                cpu_realtime: false,
                cpus: or(
                    read("/sys/fs/cgroup/cpuset.cpus.effective"),
                    &read("/sys/devices/system/cpu/online"),
                ),
                mems: or(read("/sys/fs/cgroup/cpuset.mems.effective"), "0"),
            }
        } else {
            HostResources {
                blkio_weight: root.join("blkio/blkio.weight").exists(),
                blkio_throttle: root.join("blkio/blkio.throttle.read_bps_device").exists(),
                cpu_realtime: root.join("cpu/cpu.rt_runtime_us").exists(),
                cpus: or(
                    read("/sys/fs/cgroup/cpuset/cpuset.cpus"),
                    &read("/sys/devices/system/cpu/online"),
                ),
                mems: or(read("/sys/fs/cgroup/cpuset/cpuset.mems"), "0"),
            }
        }
    }
}

/// docker's `parsers.ParseUintList`: `0-3,5` as the set of numbers; `None`
/// when it does not parse.
fn parse_list(list: &str) -> Option<Vec<u32>> {
    let mut out = Vec::new();
    for part in list.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (a.parse().ok()?, b.parse().ok()?);
                if b < a || b - a > 4096 {
                    return None;
                }
                out.extend(a..=b);
            }
            None => out.push(part.parse().ok()?),
        }
    }
    Some(out)
}

/// A `--cpuset-cpus`/`--cpuset-mems` value checked against the host's.
fn check_cpuset(value: &str, available: &str, what: &str, noun: &str) -> Result<(), SpecError> {
    let wanted = parse_list(value).ok_or_else(|| {
        SpecError::invalid(format!(
            "Invalid value {value} for cpuset {what}: invalid format: {value}"
        ))
    })?;
    let have = parse_list(available).unwrap_or_default();
    if wanted.iter().any(|n| !have.contains(n)) {
        return Err(SpecError::invalid(format!(
            "Requested {noun} are not available - requested {value}, available: {available}"
        )));
    }
    Ok(())
}

/// The block device numbers of a `/dev/...` path on the host.
fn device_numbers(path: &str, flag: &str) -> Result<(i64, i64), SpecError> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).map_err(|source| SpecError::Io {
        what: flag_stat(flag),
        path: path.to_string(),
        source,
    })?;
    let rdev = meta.rdev();
    Ok((libc::major(rdev) as i64, libc::minor(rdev) as i64))
}

/// The `what` of a failed stat, naming the flag.
fn flag_stat(flag: &str) -> &'static str {
    match flag {
        "--blkio-weight-device" => "--blkio-weight-device: stat",
        "--device-read-bps" => "--device-read-bps: stat",
        "--device-write-bps" => "--device-write-bps: stat",
        "--device-read-iops" => "--device-read-iops: stat",
        _ => "--device-write-iops: stat",
    }
}

/// Adds the limits of this module to `res` (which holds memory, cpus and
/// shares already) and returns docker's warnings for what was discarded.
pub fn add_limits(
    opts: &ContainerOptions,
    host: &HostResources,
    res: &mut LinuxResources,
) -> Result<Vec<String>, SpecError> {
    let mut warnings = Vec::new();
    let invalid = |m: &str| Err(SpecError::invalid(m));

    // Memory.
    if let Some(s) = opts.memory_swappiness {
        if !(0..=100).contains(&s) {
            return Err(SpecError::invalid(format!(
                "invalid value: {s}. Valid memory swappiness range is 0-100"
            )));
        }
    }
    let memory = opts.memory.unwrap_or(0);
    if let Some(r) = opts.memory_reservation.filter(|r| *r != 0) {
        if r < MIN_MEMORY {
            return invalid("Minimum memory reservation allowed is 6MB");
        }
        if memory > 0 && memory < r {
            return invalid(
                "Minimum memory limit can not be less than memory reservation limit, see usage",
            );
        }
    }
    if let Some(k) = opts.kernel_memory.filter(|k| *k != 0) {
        warnings.push(
            "Specifying a kernel memory limit is deprecated and will be removed in a future release."
                .to_string(),
        );
        if k < 4 << 20 {
            return invalid("Minimum kernel memory limit allowed is 4MB");
        }
        // The kernel (5.4+ deprecates kmem.limit_in_bytes, 6.x refuses
        // writes to it) and runc 1.1 under docker 20.10 no longer apply it:
        // recorded for inspect, never written, with docker's one warning.
    }
    if opts.oom_kill_disable && memory == 0 {
        warnings.push("OOM killer is disabled for the container, but no memory limit is set, this can result in the system running out of resources.".to_string());
    }
    if opts.memory_reservation.is_some()
        || opts.memory_swappiness.is_some()
        || opts.oom_kill_disable
    {
        let m = res.memory.get_or_insert_with(Default::default);
        m.reservation = opts.memory_reservation.filter(|r| *r != 0);
        m.swappiness = opts.memory_swappiness.map(|s| s as u64);
        m.disable_oom_killer = opts.oom_kill_disable.then_some(true);
    }

    // CPU.
    let nano_cpus = opts.cpus.is_some_and(|c| c != 0.0);
    if nano_cpus && opts.cpu_period.is_some_and(|p| p > 0) {
        return invalid("Conflicting options: Nano CPUs and CPU Period cannot both be set");
    }
    if nano_cpus && opts.cpu_quota.is_some_and(|q| q > 0) {
        return invalid("Conflicting options: Nano CPUs and CPU Quota cannot both be set");
    }
    if let Some(p) = opts.cpu_period.filter(|p| *p != 0) {
        if !(1000..=1_000_000).contains(&p) {
            return invalid(
                "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)",
            );
        }
        res.cpu.get_or_insert_with(Default::default).period = Some(p as u64);
    }
    if let Some(q) = opts.cpu_quota.filter(|q| *q != 0) {
        if q > 0 && q < 1000 {
            return invalid("CPU cfs quota can not be less than 1ms (i.e. 1000)");
        }
        res.cpu.get_or_insert_with(Default::default).quota = Some(q);
    }
    let (rt_period, rt_runtime) = (
        opts.cpu_rt_period.filter(|p| *p != 0),
        opts.cpu_rt_runtime.filter(|r| *r != 0),
    );
    if rt_period.is_some() || rt_runtime.is_some() {
        if !host.cpu_realtime {
            if rt_period.is_some() {
                warnings.push("Your kernel does not support cgroup cpu real-time period or the cgroup is not mounted. Period discarded.".to_string());
            }
            if rt_runtime.is_some() {
                warnings.push("Your kernel does not support cgroup cpu real-time runtime or the cgroup is not mounted. Runtime discarded.".to_string());
            }
        } else {
            if let (Some(p), Some(r)) = (rt_period, rt_runtime) {
                if r > p {
                    return invalid(
                        "cpu real-time runtime cannot be higher than cpu real-time period",
                    );
                }
            }
            if rt_period.is_some_and(|p| p < 0) {
                return invalid("invalid --cpu-rt-period: must not be negative");
            }
            let cpu = res.cpu.get_or_insert_with(Default::default);
            cpu.realtime_period = rt_period.map(|p| p as u64);
            cpu.realtime_runtime = rt_runtime;
        }
    }
    if let Some(c) = opts.cpuset_cpus.as_deref().filter(|c| !c.is_empty()) {
        check_cpuset(c, &host.cpus, "cpus", "CPUs")?;
        res.cpu.get_or_insert_with(Default::default).cpus = Some(c.to_string());
    }
    if let Some(m) = opts.cpuset_mems.as_deref().filter(|m| !m.is_empty()) {
        check_cpuset(m, &host.mems, "mems", "memory nodes")?;
        res.cpu.get_or_insert_with(Default::default).mems = Some(m.to_string());
    }

    // Block I/O.
    let mut blkio = LinuxBlockIo::default();
    if let Some(w) = opts.blkio_weight.filter(|w| *w != 0) {
        if !host.blkio_weight {
            warnings.push("Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.".to_string());
        } else if !(10..=1000).contains(&w) {
            return invalid("Range of blkio weight is from 10 to 1000");
        } else {
            blkio.weight = Some(w);
        }
    }
    let bad = |flag: &str, value: &str, e: berth_docker::blkio::BlkioError| {
        SpecError::invalid(format!(
            "invalid argument \"{value}\" for \"{flag}\" flag: {e}"
        ))
    };
    let mut weight_devices = Vec::new();
    for v in &opts.blkio_weight_device {
        let (path, weight) = berth_docker::blkio::parse_weight_device(v)
            .map_err(|e| bad("--blkio-weight-device", v, e))?;
        weight_devices.push((path, weight));
    }
    if !weight_devices.is_empty() {
        if !host.blkio_weight {
            warnings.push("Your kernel does not support Block I/O weight_device or the cgroup is not mounted. Weight-device discarded.".to_string());
        } else {
            for (path, weight) in weight_devices {
                let (major, minor) = device_numbers(&path, "--blkio-weight-device")?;
                blkio.weight_device.push(LinuxWeightDevice {
                    major,
                    minor,
                    weight: Some(weight),
                    leaf_weight: None,
                });
            }
        }
    }
    let throttles: [(&str, &[String], bool, &str); 4] = [
        (
            "--device-read-bps",
            &opts.device_read_bps,
            true,
            "BPS Block I/O read limit",
        ),
        (
            "--device-write-bps",
            &opts.device_write_bps,
            true,
            "BPS Block I/O write limit",
        ),
        (
            "--device-read-iops",
            &opts.device_read_iops,
            false,
            "IOPs Block I/O read limit",
        ),
        (
            "--device-write-iops",
            &opts.device_write_iops,
            false,
            "IOPs Block I/O write limit",
        ),
    ];
    for (i, (flag, values, bps, what)) in throttles.into_iter().enumerate() {
        let mut devices = Vec::new();
        for v in values {
            let (path, rate) = if bps {
                berth_docker::blkio::parse_bps_device(v)
            } else {
                berth_docker::blkio::parse_iops_device(v)
            }
            .map_err(|e| bad(flag, v, e))?;
            devices.push((path, rate));
        }
        if devices.is_empty() {
            continue;
        }
        if !host.blkio_throttle {
            let short = what.replace("Block I/O ", "");
            warnings.push(format!(
                "Your kernel does not support {what} or the cgroup is not mounted. Block I/O {short} discarded."
            ));
            continue;
        }
        let target = match i {
            0 => &mut blkio.throttle_read_bps_device,
            1 => &mut blkio.throttle_write_bps_device,
            2 => &mut blkio.throttle_read_iops_device,
            _ => &mut blkio.throttle_write_iops_device,
        };
        for (path, rate) in devices {
            let (major, minor) = device_numbers(&path, flag)?;
            target.push(LinuxThrottleDevice { major, minor, rate });
        }
    }
    if blkio != LinuxBlockIo::default() {
        res.block_io = Some(blkio);
    }
    Ok(warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host() -> HostResources {
        HostResources {
            blkio_weight: false,
            blkio_throttle: true,
            cpu_realtime: true,
            cpus: "0-1".into(),
            mems: "0".into(),
        }
    }

    fn limits(opts: ContainerOptions) -> Result<(LinuxResources, Vec<String>), SpecError> {
        let mut res = LinuxResources::default();
        let w = add_limits(&opts, &host(), &mut res)?;
        Ok((res, w))
    }

    #[test]
    fn cpu_bandwidth_and_cpusets() {
        let (res, w) = limits(ContainerOptions {
            cpu_period: Some(50_000),
            cpu_quota: Some(25_000),
            cpuset_cpus: Some("1".into()),
            cpuset_mems: Some("0".into()),
            ..Default::default()
        })
        .unwrap();
        let cpu = res.cpu.unwrap();
        assert_eq!((cpu.period, cpu.quota), (Some(50_000), Some(25_000)));
        assert_eq!(
            (cpu.cpus.as_deref(), cpu.mems.as_deref()),
            (Some("1"), Some("0"))
        );
        assert!(w.is_empty());
        let e = |o| limits(o).unwrap_err().to_string();
        assert_eq!(
            e(ContainerOptions {
                cpuset_cpus: Some("5".into()),
                ..Default::default()
            }),
            "Requested CPUs are not available - requested 5, available: 0-1"
        );
        assert!(e(ContainerOptions {
            cpuset_cpus: Some("x".into()),
            ..Default::default()
        })
        .starts_with("Invalid value x for cpuset cpus"));
        assert!(e(ContainerOptions {
            cpu_period: Some(10),
            ..Default::default()
        })
        .starts_with("CPU cfs period can not be less than 1ms"));
        assert_eq!(
            e(ContainerOptions {
                cpus: Some(1.0),
                cpu_quota: Some(5000),
                ..Default::default()
            }),
            "Conflicting options: Nano CPUs and CPU Quota cannot both be set"
        );
        assert_eq!(
            e(ContainerOptions {
                cpu_rt_period: Some(1000),
                cpu_rt_runtime: Some(2000),
                ..Default::default()
            }),
            "cpu real-time runtime cannot be higher than cpu real-time period"
        );
    }

    #[test]
    fn memory_extras() {
        let (res, w) = limits(ContainerOptions {
            memory: Some(64 << 20),
            memory_reservation: Some(32 << 20),
            memory_swappiness: Some(0),
            oom_kill_disable: true,
            ..Default::default()
        })
        .unwrap();
        let m = res.memory.unwrap();
        assert_eq!(m.reservation, Some(32 << 20));
        assert_eq!(m.swappiness, Some(0));
        assert_eq!(m.disable_oom_killer, Some(true));
        assert!(w.is_empty());
        let (_, w) = limits(ContainerOptions {
            oom_kill_disable: true,
            ..Default::default()
        })
        .unwrap();
        assert!(w[0].starts_with("OOM killer is disabled"), "{w:?}");
        let e = |o| limits(o).unwrap_err().to_string();
        assert_eq!(
            e(ContainerOptions {
                memory_swappiness: Some(101),
                ..Default::default()
            }),
            "invalid value: 101. Valid memory swappiness range is 0-100"
        );
        assert_eq!(
            e(ContainerOptions {
                memory: Some(16 << 20),
                memory_reservation: Some(32 << 20),
                ..Default::default()
            }),
            "Minimum memory limit can not be less than memory reservation limit, see usage"
        );
        let (res, w) = limits(ContainerOptions {
            kernel_memory: Some(8 << 20),
            ..Default::default()
        })
        .unwrap();
        assert!(res.memory.is_none());
        assert_eq!(w.len(), 1, "docker 20.10's deprecation alone: {w:?}");
    }

    #[test]
    fn blkio_weights_are_discarded_with_a_warning_where_the_kernel_lacks_them() {
        let (res, w) = limits(ContainerOptions {
            blkio_weight: Some(300),
            blkio_weight_device: vec!["/dev/null:200".into()],
            device_read_iops: vec!["/dev/null:100".into()],
            ..Default::default()
        })
        .unwrap();
        assert_eq!(w.len(), 2, "{w:?}");
        let b = res.block_io.unwrap();
        assert_eq!(b.weight, None);
        assert_eq!(b.throttle_read_iops_device.len(), 1);
        assert_eq!(
            (
                b.throttle_read_iops_device[0].major,
                b.throttle_read_iops_device[0].minor
            ),
            (1, 3)
        );
        let e = limits(ContainerOptions {
            device_write_bps: vec!["/dev/berth-no-such:1mb".into()],
            ..Default::default()
        })
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("--device-write-bps: stat /dev/berth-no-such: "),
            "{e}"
        );
    }
}
