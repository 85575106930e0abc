//! Real-kernel tests of the v1 driver on this host's v1 (or hybrid)
//! hierarchies, as root. Every cgroup is named `bt<pid>-...` and removed by
//! a guard even when an assertion fails. Skipped (with a message) on a
//! pure v2 host, where `v2_unified.rs` covers the driver.

mod common;

use berth_cgroups::{Cgroup, CgroupError, CgroupsPath, Controller, FreezerState, Layout};
use berth_oci::*;
use common::*;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

fn v1_layout() -> Option<(Layout, Vec<berth_cgroups::layout::Hierarchy>)> {
    assert!(is_root(), "the cgroup tests must run as root");
    let layout = Layout::detect().expect("detect layout");
    match &layout {
        Layout::V1 { hierarchies } => {
            let h = hierarchies.clone();
            Some((layout, h))
        }
        Layout::V2 { .. } => {
            eprintln!("skipped: this host is cgroup v2");
            None
        }
    }
}

fn mount_of(hierarchies: &[berth_cgroups::layout::Hierarchy], c: Controller) -> PathBuf {
    hierarchies
        .iter()
        .find(|h| h.controllers.has(c))
        .unwrap_or_else(|| panic!("{} is mounted on the test machine", c.name()))
        .mount
        .clone()
}

/// A whole block device (`major:minor`) for blkio throttles.
fn block_device() -> (i64, i64) {
    let mut names: Vec<String> = std::fs::read_dir("/sys/block")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    names.sort_by_key(|n| !(n.starts_with("vd") || n.starts_with("sd") || n.starts_with("nvme")));
    let dev = read(&Path::new("/sys/block").join(&names[0]).join("dev"));
    let (ma, mi) = dev.split_once(':').unwrap();
    (ma.parse().unwrap(), mi.parse().unwrap())
}

/// Whether the host's blkio hierarchy has a weight file: only with the CFQ
/// (`blkio.weight`) or BFQ (`blkio.bfq.weight`) I/O scheduler on some disk.
/// With mq-deadline or none there is none, and a weight cannot be set (runc
/// fails the create too).
fn host_has_blkio_weight(hs: &[berth_cgroups::layout::Hierarchy]) -> bool {
    let root = mount_of(hs, Controller::Blkio);
    root.join("blkio.weight").exists() || root.join("blkio.bfq.weight").exists()
}

#[test]
fn create_applies_limits_and_destroy_removes_only_what_it_made() {
    let Some((layout, hs)) = v1_layout() else {
        return;
    };
    let parent = unique("v1-apply");
    let mut guard = Guard::new();
    // A pre-existing parent in the memory hierarchy: must survive destroy.
    let pre = mount_of(&hs, Controller::Memory).join(&parent);
    std::fs::create_dir(&pre).unwrap();
    guard.extra_dirs.push(pre.clone());

    let (major, minor) = block_device();
    let weight = host_has_blkio_weight(&hs).then_some(300);
    let resources = LinuxResources {
        memory: Some(LinuxMemory {
            limit: Some(64 << 20),
            reservation: Some(32 << 20),
            swap: Some(128 << 20),
            swappiness: Some(10),
            disable_oom_killer: Some(false),
            ..Default::default()
        }),
        cpu: Some(LinuxCpu {
            shares: Some(512),
            quota: Some(50_000),
            period: Some(100_000),
            cpus: Some("0".into()),
            mems: Some("0".into()),
            ..Default::default()
        }),
        pids: Some(LinuxPids { limit: 20 }),
        block_io: Some(LinuxBlockIo {
            weight,
            throttle_read_bps_device: vec![LinuxThrottleDevice {
                major,
                minor,
                rate: 1_048_576,
            }],
            throttle_write_iops_device: vec![LinuxThrottleDevice {
                major,
                minor,
                rate: 100,
            }],
            ..Default::default()
        }),
        devices: {
            let mut d = vec![LinuxDeviceCgroup {
                allow: false,
                access: Some("rwm".into()),
                ..Default::default()
            }];
            d.extend(berth_cgroups::default_allowed_devices());
            d
        },
        // On a hybrid host, written to the container's cgroup2 directory.
        unified: [("cgroup.max.descendants".to_string(), "5".to_string())].into(),
        ..Default::default()
    };
    let path = CgroupsPath::parse(&format!("/{parent}/ctr")).unwrap();
    let cg = Cgroup::create_with_resources(&layout, &path, &resources).unwrap();
    guard.cgroup = Some(cg.clone());

    // One directory per hierarchy, at <mount>/<parent>/ctr.
    assert_eq!(cg.dirs().len(), hs.len());
    for (dir, h) in cg.dirs().iter().zip(&hs) {
        assert_eq!(*dir, h.mount.join(&parent).join("ctr"));
        assert!(dir.is_dir(), "{} missing", dir.display());
    }
    let mem = mount_of(&hs, Controller::Memory).join(&parent).join("ctr");
    assert_eq!(
        read(&mem.join("memory.limit_in_bytes")),
        (64u64 << 20).to_string()
    );
    assert_eq!(
        read(&mem.join("memory.soft_limit_in_bytes")),
        (32u64 << 20).to_string()
    );
    assert_eq!(
        read(&mem.join("memory.memsw.limit_in_bytes")),
        (128u64 << 20).to_string()
    );
    assert_eq!(read(&mem.join("memory.swappiness")), "10");
    let cpu = mount_of(&hs, Controller::Cpu).join(&parent).join("ctr");
    assert_eq!(read(&cpu.join("cpu.shares")), "512");
    assert_eq!(read(&cpu.join("cpu.cfs_quota_us")), "50000");
    assert_eq!(read(&cpu.join("cpu.cfs_period_us")), "100000");
    let cpuset = mount_of(&hs, Controller::Cpuset).join(&parent);
    // The intermediate cpuset got its parent's CPUs (else nothing could join).
    assert_eq!(
        read(&cpuset.join("cpuset.cpus")),
        read(&cpuset.parent().unwrap().join("cpuset.cpus"))
    );
    assert_eq!(read(&cpuset.join("ctr/cpuset.cpus")), "0");
    let pids = mount_of(&hs, Controller::Pids).join(&parent).join("ctr");
    assert_eq!(read(&pids.join("pids.max")), "20");
    let blkio = mount_of(&hs, Controller::Blkio).join(&parent).join("ctr");
    if weight.is_some() {
        let weight = std::fs::read_to_string(blkio.join("blkio.weight"))
            .or_else(|_| std::fs::read_to_string(blkio.join("blkio.bfq.weight")))
            .unwrap();
        assert!(weight.contains("300"), "weight file: {weight}");
    }
    assert_eq!(
        read(&blkio.join("blkio.throttle.read_bps_device")),
        format!("{major}:{minor} 1048576")
    );
    assert_eq!(
        read(&blkio.join("blkio.throttle.write_iops_device")),
        format!("{major}:{minor} 100")
    );
    let devices = mount_of(&hs, Controller::Devices).join(&parent).join("ctr");
    let list = read(&devices.join("devices.list"));
    assert!(list.lines().any(|l| l == "c 1:3 rwm"), "{list}");
    assert!(list.lines().any(|l| l == "c 136:* rwm"), "{list}");
    assert!(!list.lines().any(|l| l.starts_with("a ")), "{list}");

    let unified = mount_of(&hs, Controller::Unified).join(&parent).join("ctr");
    assert_eq!(read(&unified.join("cgroup.max.descendants")), "5");

    // Round trip through the runtime's state, then destroy.
    let saved = serde_json::to_string(&cg).unwrap();
    let reopened: Cgroup = serde_json::from_str(&saved).unwrap();
    assert_eq!(reopened, cg);
    reopened.destroy().unwrap();
    for dir in cg.dirs() {
        assert!(!dir.exists(), "{} left behind", dir.display());
    }
    // The pre-existing parent in memory stays; parents we made elsewhere go.
    assert!(pre.is_dir(), "pre-existing parent removed");
    assert!(!mount_of(&hs, Controller::Cpu).join(&parent).exists());
    // Destroying twice is fine.
    reopened.destroy().unwrap();
}

#[test]
fn a_process_is_added_listed_frozen_thawed_killed() {
    let Some((layout, hs)) = v1_layout() else {
        return;
    };
    let mut guard = Guard::new();
    let path = CgroupsPath::parse(&format!("/{}", unique("v1-proc"))).unwrap();
    let cg = Cgroup::create(&layout, &path).unwrap();
    guard.cgroup = Some(cg.clone());
    assert!(
        cg.open_dir().unwrap().is_none(),
        "no CLONE_INTO_CGROUP fd on v1"
    );

    // Work done after joining is charged to the cgroup (v1 does not move
    // earlier charges).
    let (child, mut stdin) =
        spawn_waiting("i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; exec sleep 1000");
    let pid = child.id();
    guard.children.push(child);
    cg.add_process(pid as i32).unwrap();
    release(&mut stdin);
    wait_for("cpu usage and the exec of sleep", || {
        std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|p| p.ends_with("sleep"))
            && cg.stats().unwrap().cpu.usage.total > 0
    });
    for h in &hs {
        let name = h.controllers.iter().next().unwrap().name();
        let name = if name == "unified" { "" } else { name };
        assert_eq!(
            proc_cgroup(pid, name).as_deref(),
            Some(path.to_string().as_str()),
            "{name}"
        );
    }
    assert_eq!(cg.pids().unwrap(), vec![pid as i32]);

    cg.freeze().unwrap();
    assert_eq!(cg.freezer_state().unwrap(), FreezerState::Frozen);
    // Frozen tasks show as D; FROZEN may be reported a moment before the
    // last task has gone to sleep in the refrigerator.
    wait_for("the frozen task to sleep", || {
        proc_state(pid).starts_with('D')
    });
    cg.thaw().unwrap();
    assert_eq!(cg.freezer_state().unwrap(), FreezerState::Thawed);
    wait_for("the thawed task to sleep again", || {
        proc_state(pid).starts_with('S')
    });

    let stats = cg.stats().unwrap();
    assert_eq!(stats.pids.current, 1);
    assert!(stats.memory.usage.usage > 0, "{stats:?}");
    assert!(stats.cpu.usage.total > 0, "{stats:?}");
    assert!(!stats.cpu.usage.percpu.is_empty());
    assert!(stats.memory.raw.contains_key("rss"));
    let json = serde_json::to_value(&stats).unwrap();
    assert_eq!(json["pids"]["current"], 1);

    cg.kill_all(libc::SIGKILL).unwrap();
    let status = guard.children[0].wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    assert_eq!(
        cg.freezer_state().unwrap(),
        FreezerState::Thawed,
        "left thawed after kill"
    );
    wait_for("cgroup empty", || cg.pids().unwrap().is_empty());
    cg.destroy().unwrap();
    for dir in cg.dirs() {
        assert!(!dir.exists());
    }
}

#[test]
fn kill_all_with_a_catchable_signal_reaches_every_process() {
    let Some((layout, _)) = v1_layout() else {
        return;
    };
    let mut guard = Guard::new();
    let path = CgroupsPath::parse(&format!("/{}", unique("v1-term"))).unwrap();
    let cg = Cgroup::create(&layout, &path).unwrap();
    guard.cgroup = Some(cg.clone());
    for _ in 0..3 {
        let child = spawn_sleep();
        cg.add_process(child.id() as i32).unwrap();
        guard.children.push(child);
    }
    assert_eq!(cg.pids().unwrap().len(), 3);
    // Signalling a paused container leaves it paused; the signal waits.
    cg.freeze().unwrap();
    cg.kill_all(libc::SIGTERM).unwrap();
    assert_eq!(cg.freezer_state().unwrap(), FreezerState::Frozen);
    assert_eq!(
        cg.pids().unwrap().len(),
        3,
        "frozen tasks cannot act on SIGTERM yet"
    );
    cg.thaw().unwrap();
    use std::os::unix::process::ExitStatusExt;
    for child in &mut guard.children {
        assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGTERM));
    }
}

/// Sub-cgroups a container makes inside its own cgroup: their processes
/// are listed and killed, and they go with the container's cgroup.
#[test]
fn sub_cgroups_are_listed_killed_and_removed() {
    let Some((layout, _)) = v1_layout() else {
        return;
    };
    let mut guard = Guard::new();
    let path = CgroupsPath::parse(&format!("/{}", unique("v1-sub"))).unwrap();
    let cg = Cgroup::create(&layout, &path).unwrap();
    guard.cgroup = Some(cg.clone());
    let outer = spawn_sleep();
    cg.add_process(outer.id() as i32).unwrap();
    guard.children.push(outer);
    let inner = spawn_sleep();
    let inner_pid = inner.id();
    guard.children.push(inner);
    for dir in cg.dirs() {
        std::fs::create_dir(dir.join("inner")).unwrap();
        if dir.join("cpuset.cpus").exists() {
            for f in ["cpuset.cpus", "cpuset.mems"] {
                std::fs::write(dir.join("inner").join(f), read(&dir.join(f))).unwrap();
            }
        }
        std::fs::write(dir.join("inner/cgroup.procs"), inner_pid.to_string()).unwrap();
    }
    let mut pids = cg.pids().unwrap();
    pids.sort();
    let mut want: Vec<i32> = guard.children.iter().map(|c| c.id() as i32).collect();
    want.sort();
    assert_eq!(pids, want);
    cg.kill_all(libc::SIGKILL).unwrap();
    use std::os::unix::process::ExitStatusExt;
    for child in &mut guard.children {
        assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGKILL));
    }
    cg.destroy().unwrap();
    for dir in cg.dirs() {
        assert!(!dir.exists(), "{} left behind", dir.display());
    }
}

/// Device rules start from deny-all even when the spec has no leading
/// deny-all rule, as on v2 and in runc.
#[test]
fn device_rules_start_from_deny_all() {
    let Some((layout, hs)) = v1_layout() else {
        return;
    };
    let mut guard = Guard::new();
    let path = CgroupsPath::parse(&format!("/{}", unique("v1-dev"))).unwrap();
    let resources = LinuxResources {
        devices: berth_cgroups::default_allowed_devices(),
        ..Default::default()
    };
    let cg = Cgroup::create_with_resources(&layout, &path, &resources).unwrap();
    guard.cgroup = Some(cg.clone());
    let devices = mount_of(&hs, Controller::Devices).join(path.as_relative());
    let list = read(&devices.join("devices.list"));
    assert!(!list.contains("a *:* rwm"), "{list}");
    assert!(list.lines().any(|l| l == "c 1:3 rwm"), "{list}");
    // Update of a running cgroup: the diff way, ending exactly at the new list.
    let child = spawn_sleep();
    cg.add_process(child.id() as i32).unwrap();
    guard.children.push(child);
    let rule = |major: i64, minor: i64, access: &str| LinuxDeviceCgroup {
        allow: true,
        kind: Some("c".into()),
        major: Some(major),
        minor: Some(minor),
        access: Some(access.into()),
    };
    let deny_all = LinuxDeviceCgroup {
        allow: false,
        access: Some("rwm".into()),
        ..Default::default()
    };
    cg.apply(&LinuxResources {
        devices: vec![
            deny_all.clone(),
            rule(1, 3, "r"),
            rule(1, 7, "rwm"),
            rule(1, 7, "r"),
        ],
        ..Default::default()
    })
    .unwrap();
    let mut got: Vec<String> = read(&devices.join("devices.list"))
        .lines()
        .map(str::to_string)
        .collect();
    got.sort();
    assert_eq!(got, vec!["c 1:3 r", "c 1:7 rwm"]);
    // And an allow-all spec stays allow-all.
    cg.apply(&LinuxResources {
        devices: vec![LinuxDeviceCgroup {
            allow: true,
            access: Some("rwm".into()),
            ..Default::default()
        }],
        ..Default::default()
    })
    .unwrap();
    assert_eq!(read(&devices.join("devices.list")), "a *:* rwm");
}

#[test]
fn update_changes_limits_of_a_running_cgroup() {
    let Some((layout, hs)) = v1_layout() else {
        return;
    };
    let mut guard = Guard::new();
    let path = CgroupsPath::parse(&format!("/{}", unique("v1-update"))).unwrap();
    let initial = LinuxResources {
        memory: Some(LinuxMemory {
            limit: Some(32 << 20),
            swap: Some(32 << 20),
            ..Default::default()
        }),
        pids: Some(LinuxPids { limit: 10 }),
        ..Default::default()
    };
    let cg = Cgroup::create_with_resources(&layout, &path, &initial).unwrap();
    guard.cgroup = Some(cg.clone());
    let child = spawn_sleep();
    cg.add_process(child.id() as i32).unwrap();
    guard.children.push(child);

    // Raising memory above the current memsw needs memsw written first.
    let update = LinuxResources {
        memory: Some(LinuxMemory {
            limit: Some(96 << 20),
            swap: Some(192 << 20),
            ..Default::default()
        }),
        pids: Some(LinuxPids { limit: 0 }),
        ..Default::default()
    };
    cg.apply(&update).unwrap();
    let mem = mount_of(&hs, Controller::Memory).join(path.as_relative());
    assert_eq!(
        read(&mem.join("memory.limit_in_bytes")),
        (96u64 << 20).to_string()
    );
    assert_eq!(
        read(&mem.join("memory.memsw.limit_in_bytes")),
        (192u64 << 20).to_string()
    );
    let pids = mount_of(&hs, Controller::Pids).join(path.as_relative());
    assert_eq!(read(&pids.join("pids.max")), "max");
    // And lowering both again.
    cg.apply(&initial).unwrap();
    assert_eq!(
        read(&mem.join("memory.limit_in_bytes")),
        (32u64 << 20).to_string()
    );
}

#[test]
fn oom_kill_is_notified() {
    let Some((layout, _)) = v1_layout() else {
        return;
    };
    let mut guard = Guard::new();
    let path = CgroupsPath::parse(&format!("/{}", unique("v1-oom"))).unwrap();
    let resources = LinuxResources {
        memory: Some(LinuxMemory {
            limit: Some(16 << 20),
            swap: Some(16 << 20),
            ..Default::default()
        }),
        ..Default::default()
    };
    let cg = Cgroup::create_with_resources(&layout, &path, &resources).unwrap();
    guard.cgroup = Some(cg.clone());
    let mut oom = cg.oom_notifier().unwrap();
    assert_eq!(oom.take().unwrap(), 0);
    // dd's 64 MiB buffer cannot fit in 16 MiB.
    let (child, mut stdin) = spawn_waiting("exec dd if=/dev/zero of=/dev/null bs=64M count=1");
    cg.add_process(child.id() as i32).unwrap();
    guard.children.push(child);
    release(&mut stdin);
    let mut pfd = libc::pollfd {
        fd: std::os::fd::AsFd::as_fd(&oom).as_raw_fd(),
        events: oom.poll_events(),
        revents: 0,
    };
    let n = unsafe { libc::poll(&mut pfd, 1, 10_000) };
    assert_eq!(n, 1, "no OOM notification within 10 s");
    assert!(oom.take().unwrap() >= 1);
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        guard.children[0].wait().unwrap().signal(),
        Some(libc::SIGKILL)
    );
    // Usage reached the limit (failcnt is not reliably bumped on 6.x).
    let stats = cg.stats().unwrap();
    assert_eq!(stats.memory.usage.max, 16 << 20, "{stats:?}");
}

#[test]
fn an_existing_cgroup_is_joined_and_never_removed() {
    let Some((layout, hs)) = v1_layout() else {
        return;
    };
    let name = unique("v1-existing");
    let mut guard = Guard::new();
    for h in &hs {
        let dir = h.mount.join(&name);
        std::fs::create_dir(&dir).unwrap();
        guard.extra_dirs.push(dir);
    }
    let cg = Cgroup::create(&layout, &CgroupsPath::parse(&name).unwrap()).unwrap();
    cg.destroy().unwrap();
    for h in &hs {
        assert!(h.mount.join(&name).is_dir());
    }
}

/// Each bad value fails with a one-line error naming it, and the cgroup
/// is gone afterwards.
#[test]
fn bad_values_fail_clearly_and_leave_nothing() {
    let Some((layout, hs)) = v1_layout() else {
        return;
    };
    let cpu_mount = mount_of(&hs, Controller::Cpu);
    let blkio_mount = mount_of(&hs, Controller::Blkio);
    let cases: Vec<(LinuxResources, String)> = vec![
        (
            LinuxResources {
                memory: Some(LinuxMemory {
                    limit: Some(-5),
                    ..Default::default()
                }),
                ..Default::default()
            },
            "invalid linux.resources.memory.limit -5: want a byte count or -1 for no limit".into(),
        ),
        (
            LinuxResources {
                pids: Some(LinuxPids { limit: -3 }),
                ..Default::default()
            },
            "invalid linux.resources.pids.limit -3".into(),
        ),
        (
            LinuxResources {
                cpu: Some(LinuxCpu {
                    shares: Some(1),
                    ..Default::default()
                }),
                ..Default::default()
            },
            "invalid linux.resources.cpu.shares 1: want 2 to 262144".into(),
        ),
        (
            LinuxResources {
                memory: Some(LinuxMemory {
                    swappiness: Some(200),
                    ..Default::default()
                }),
                ..Default::default()
            },
            "invalid linux.resources.memory.swappiness 200".into(),
        ),
        (
            LinuxResources {
                cpu: Some(LinuxCpu {
                    quota: Some(500),
                    ..Default::default()
                }),
                ..Default::default()
            },
            // The kernel refuses quotas under 1 ms; the error names the file.
            "write 500 to {cpu}/cpu.cfs_quota_us: EINVAL".into(),
        ),
        (
            LinuxResources {
                devices: vec![LinuxDeviceCgroup {
                    allow: true,
                    kind: Some("q".into()),
                    ..Default::default()
                }],
                ..Default::default()
            },
            "linux.resources.devices: invalid device rule type \"q\": want a, c or b".into(),
        ),
        (
            LinuxResources {
                unified: [("../memory.max".to_string(), "1".to_string())].into(),
                ..Default::default()
            },
            "invalid linux.resources.unified \"../memory.max\"".into(),
        ),
    ];
    // Controllers this host may lack must fail by name, not be dropped.
    let mut cases = cases;
    if !hs.iter().any(|h| h.controllers.has(Controller::NetCls)) {
        cases.push((
            LinuxResources {
                network: Some(LinuxNetwork {
                    class_id: Some(0x100001),
                    priorities: vec![],
                }),
                ..Default::default()
            },
            "linux.resources.network.classID is not supported here: the net_cls cgroup controller is not mounted"
                .into(),
        ));
    }
    // Without a CFQ or BFQ disk there is no weight file: a weight fails
    // by the file's name (runc fails too), it is not silently dropped.
    if !host_has_blkio_weight(&hs) {
        cases.push((
            LinuxResources {
                block_io: Some(LinuxBlockIo {
                    weight: Some(300),
                    ..Default::default()
                }),
                ..Default::default()
            },
            "write 300 to {blkio}/blkio.bfq.weight: ENOENT".into(),
        ));
    }
    if !hs.iter().any(|h| h.controllers.has(Controller::Hugetlb)) {
        cases.push((
            LinuxResources {
                hugepage_limits: vec![LinuxHugepageLimit {
                    page_size: "2MB".into(),
                    limit: 2 << 20,
                }],
                ..Default::default()
            },
            "linux.resources.hugepageLimits is not supported here: the hugetlb cgroup controller is not mounted"
                .into(),
        ));
    }
    for (resources, want) in cases {
        let name = unique("v1-bad");
        let path = CgroupsPath::parse(&format!("/{name}/ctr")).unwrap();
        let mut guard = Guard::new();
        for h in &hs {
            guard.extra_dirs.push(h.mount.join(&name));
        }
        let err = Cgroup::create_with_resources(&layout, &path, &resources).unwrap_err();
        let want = want
            .replace(
                "{cpu}",
                &cpu_mount.join(&name).join("ctr").display().to_string(),
            )
            .replace(
                "{blkio}",
                &blkio_mount.join(&name).join("ctr").display().to_string(),
            );
        let msg = err.to_string();
        assert!(msg.starts_with(&want), "got {msg:?}, want {want:?}");
        assert!(!msg.contains('\n'));
        for h in &hs {
            assert!(
                !h.mount.join(&name).exists(),
                "{} left behind after {msg}",
                h.mount.join(&name).display()
            );
        }
    }
}

#[test]
fn bad_paths_are_refused_before_anything_is_made() {
    let err = CgroupsPath::parse("/berth/../../x").unwrap_err();
    assert!(err.to_string().contains("'..'"), "{err}");
    let err = CgroupsPath::parse("/").unwrap_err();
    assert!(err.to_string().contains("root cgroup"), "{err}");
    // A hierarchy mount that does not exist: mkdir fails with ENOENT, named.
    let layout = Layout::V1 {
        hierarchies: vec![berth_cgroups::layout::Hierarchy {
            controllers: berth_cgroups::ControllerSet::of(Controller::Memory),
            mount: PathBuf::from("/nonexistent-bt-mount"),
            root: "/".into(),
        }],
    };
    let err = Cgroup::create(&layout, &CgroupsPath::parse("/a/b").unwrap()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "create cgroup /nonexistent-bt-mount/a: ENOENT"
    );
    assert!(matches!(err, CgroupError::Mkdir { .. }));

    // A failure in a later hierarchy removes what earlier ones made: the
    // second "hierarchy" has a regular file where a directory must go.
    let tmp = std::env::temp_dir().join(unique("v1-rollback"));
    std::fs::create_dir_all(tmp.join("h1")).unwrap();
    std::fs::create_dir_all(tmp.join("h2")).unwrap();
    std::fs::write(tmp.join("h2/berth"), "").unwrap();
    let hierarchy = |name: &str, c: Controller| berth_cgroups::layout::Hierarchy {
        controllers: berth_cgroups::ControllerSet::of(c),
        mount: tmp.join(name),
        root: "/".into(),
    };
    let layout = Layout::V1 {
        hierarchies: vec![
            hierarchy("h1", Controller::Pids),
            hierarchy("h2", Controller::Devices),
        ],
    };
    let err = Cgroup::create(&layout, &CgroupsPath::parse("/berth/c1").unwrap()).unwrap_err();
    let msg = err.to_string();
    let h1_left = tmp.join("h1/berth").exists();
    std::fs::remove_dir_all(&tmp).unwrap();
    assert!(msg.ends_with("/h2/berth/c1: ENOTDIR"), "{msg}");
    assert!(!h1_left, "h1/berth left behind");
}

/// net_cls and net_prio are not mounted on the project's machines: the
/// test mounts a fresh v1 hierarchy of the two in a private mount namespace
/// of its own thread, applies `linux.resources.network`, reads the files
/// back, and removes the cgroup before unmounting (which frees the
/// hierarchy again).
#[test]
fn network_class_id_and_priorities_on_a_private_net_cls_mount() {
    assert!(is_root(), "the cgroup tests must run as root");
    let name = unique("v1-net");
    let result = std::thread::spawn(move || {
        // SAFETY: unshare/mount with valid arguments; only this thread's
        // mount namespace changes.
        unsafe {
            assert_eq!(
                libc::unshare(libc::CLONE_NEWNS),
                0,
                "unshare: {}",
                std::io::Error::last_os_error()
            );
            let root = std::ffi::CString::new("/").unwrap();
            assert_eq!(
                libc::mount(
                    std::ptr::null(),
                    root.as_ptr(),
                    std::ptr::null(),
                    libc::MS_REC | libc::MS_PRIVATE,
                    std::ptr::null()
                ),
                0
            );
        }
        let mnt = std::env::temp_dir().join(&name);
        std::fs::create_dir_all(&mnt).unwrap();
        let c = |s: &str| std::ffi::CString::new(s).unwrap();
        let target = c(mnt.to_str().unwrap());
        let rc = unsafe {
            libc::mount(
                c("cgroup").as_ptr(),
                target.as_ptr(),
                c("cgroup").as_ptr(),
                0,
                c("net_cls,net_prio").as_ptr().cast(),
            )
        };
        if rc != 0 {
            let err = std::io::Error::last_os_error();
            std::fs::remove_dir(&mnt).unwrap();
            return Err(format!("mount net_cls,net_prio: {err}"));
        }
        let mut controllers = berth_cgroups::ControllerSet::of(Controller::NetCls);
        controllers.insert(Controller::NetPrio);
        let layout = Layout::V1 {
            hierarchies: vec![berth_cgroups::layout::Hierarchy {
                controllers,
                mount: mnt.clone(),
                root: "/".into(),
            }],
        };
        let resources = LinuxResources {
            network: Some(LinuxNetwork {
                class_id: Some(0x0010_0001),
                priorities: vec![LinuxInterfacePriority {
                    name: "lo".into(),
                    priority: 5,
                }],
            }),
            ..Default::default()
        };
        let outcome = Cgroup::create_with_resources(
            &layout,
            &CgroupsPath::parse("/berth/c1").unwrap(),
            &resources,
        )
        .map_err(|e| e.to_string())
        .and_then(|cg| {
            let dir = mnt.join("berth/c1");
            let class = read(&dir.join("net_cls.classid"));
            let prio = read(&dir.join("net_prio.ifpriomap"));
            let removed = cg.destroy().map_err(|e| e.to_string());
            removed.map(|_| (class, prio, mnt.join("berth").exists()))
        });
        // A v1 hierarchy unmounted while its removed cgroups are still
        // being freed lives on, unmounted, holding net_cls and net_prio: mount
        // and unmount it again until the kernel has let it go (hierarchy 0
        // in /proc/cgroups).
        let freed = || {
            let cgroups = std::fs::read_to_string("/proc/cgroups").unwrap();
            cgroups
                .lines()
                .filter(|l| l.starts_with("net_cls\t") || l.starts_with("net_prio\t"))
                .all(|l| l.split('\t').nth(1) == Some("0"))
        };
        let start = std::time::Instant::now();
        loop {
            unsafe { libc::umount2(target.as_ptr(), 0) };
            // The kernel frees an empty hierarchy shortly after umount.
            let waited = std::time::Instant::now();
            while !freed() && waited.elapsed() < std::time::Duration::from_secs(1) {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            if freed() || start.elapsed() > std::time::Duration::from_secs(10) {
                break;
            }
            unsafe {
                libc::mount(
                    c("cgroup").as_ptr(),
                    target.as_ptr(),
                    c("cgroup").as_ptr(),
                    0,
                    c("net_cls,net_prio").as_ptr().cast(),
                )
            };
        }
        let hierarchy_freed = freed();
        std::fs::remove_dir(&mnt).unwrap();
        assert!(
            hierarchy_freed,
            "the net_cls,net_prio hierarchy outlived its mount"
        );
        outcome
    })
    .join()
    .unwrap();
    let (class, prio, parent_left) = result.unwrap();
    assert_eq!(class, (0x0010_0001u32).to_string());
    assert!(prio.lines().any(|l| l == "lo 5"), "{prio}");
    assert!(!parent_left, "berth/ left in the private hierarchy");
}
