//! docker's `run`/`create` resource, namespace, device and resolv.conf
//! flags (issue 14's gaps), each checked by what the container and its
//! cgroups show: the cgroup files of a running container, its /proc, /dev,
//! /etc/resolv.conf and namespaces. Bad values fail with one line, exit
//! 125, and leave no container, cgroup or snapshot behind.

use berth_integration_tests::containers::{cgroup_dir, Fixture};
use berth_integration_tests::{stderr, stdout};
use std::path::Path;

/// A cgroup file of a running container, trimmed.
fn cgroup_file(f: &Fixture, name: &str, controller: &str, file: &str) -> String {
    let dir = cgroup_dir(f.pid(name), controller);
    std::fs::read_to_string(dir.join(file))
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.join(file).display()))
        .trim()
        .to_string()
}

/// `berth run --rm ARGS busybox sh -c SCRIPT`, which must succeed; stdout.
fn run_sh(f: &Fixture, flags: &[&str], script: &str) -> String {
    let mut args = vec!["run", "--rm"];
    args.extend_from_slice(flags);
    args.extend_from_slice(&["busybox", "sh", "-c", script]);
    let out = f.berth(&args);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
    stdout(&out)
}

/// The first block device of the host (`/dev/vda` on the project's VMs).
fn block_device() -> (String, String) {
    let mut names: Vec<String> = std::fs::read_dir("/sys/block")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| Path::new("/dev").join(n).exists())
        .collect();
    names.sort_by_key(|n| !(n.starts_with("vd") || n.starts_with("sd") || n.starts_with("nvme")));
    let dev = std::fs::read_to_string(Path::new("/sys/block").join(&names[0]).join("dev")).unwrap();
    (format!("/dev/{}", names[0]), dev.trim().to_string())
}

#[test]
fn cpu_and_memory_limits_reach_the_cgroup() {
    let f = Fixture::new();
    let name = f.name("limits");
    let out = f.berth(&[
        "run",
        "-d",
        "--name",
        &name,
        "--cpu-period",
        "50000",
        "--cpu-quota",
        "25000",
        "--cpuset-cpus",
        "0",
        "--cpuset-mems",
        "0",
        "-m",
        "64m",
        "--memory-reservation",
        "32m",
        "--memory-swappiness",
        "7",
        "--oom-kill-disable",
        "busybox",
        "sleep",
        "60",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(cgroup_file(&f, &name, "cpu", "cpu.cfs_period_us"), "50000");
    assert_eq!(cgroup_file(&f, &name, "cpu", "cpu.cfs_quota_us"), "25000");
    assert_eq!(cgroup_file(&f, &name, "cpuset", "cpuset.cpus"), "0");
    assert_eq!(cgroup_file(&f, &name, "cpuset", "cpuset.mems"), "0");
    assert_eq!(
        cgroup_file(&f, &name, "memory", "memory.soft_limit_in_bytes"),
        (32u64 << 20).to_string()
    );
    assert_eq!(cgroup_file(&f, &name, "memory", "memory.swappiness"), "7");
    assert!(
        cgroup_file(&f, &name, "memory", "memory.oom_control").starts_with("oom_kill_disable 1")
    );
    // What the container's processes see.
    let allowed = f.ok(&[
        "exec",
        &name,
        "grep",
        "Cpus_allowed_list",
        "/proc/self/status",
    ]);
    assert!(allowed.ends_with("\t0"), "{allowed}");
    // And what inspect says, in docker's HostConfig keys.
    let host = &f.inspect(&name)["HostConfig"];
    assert_eq!(host["CpuPeriod"], 50000);
    assert_eq!(host["CpuQuota"], 25000);
    assert_eq!(host["CpusetCpus"], "0");
    assert_eq!(host["MemoryReservation"], 32 << 20);
    assert_eq!(host["MemorySwappiness"], 7);
    assert_eq!(host["OomKillDisable"], true);
}

#[test]
fn block_io_throttles_reach_the_cgroup_and_weights_are_warned() {
    let f = Fixture::new();
    let name = f.name("blkio");
    let (dev, numbers) = block_device();
    let out = f.berth(&[
        "run",
        "-d",
        "--name",
        &name,
        "--device-read-bps",
        &format!("{dev}:1mb"),
        "--device-write-iops",
        &format!("{dev}:300"),
        "--blkio-weight",
        "300",
        "busybox",
        "sleep",
        "60",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        cgroup_file(&f, &name, "blkio", "blkio.throttle.read_bps_device"),
        format!("{numbers} 1048576")
    );
    assert_eq!(
        cgroup_file(&f, &name, "blkio", "blkio.throttle.write_iops_device"),
        format!("{numbers} 300")
    );
    let weight = Path::new("/sys/fs/cgroup/blkio/blkio.weight").exists();
    if weight {
        assert_eq!(cgroup_file(&f, &name, "blkio", "blkio.weight"), "300");
    } else {
        // docker 20.10's warning on a kernel without blkio.weight.
        assert!(
            stderr(&out).contains("WARNING: Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded."),
            "{}",
            stderr(&out)
        );
    }
}

#[test]
fn oom_score_adj_devices_and_resolv_conf_are_what_the_container_sees() {
    let f = Fixture::new();
    let out = run_sh(
        &f,
        &[
            "--oom-score-adj",
            "123",
            "--device",
            "/dev/fuse:/dev/myfuse:r",
            "--dns-search",
            "a.example",
            "--dns-search",
            "b.example",
            "--dns-option",
            "ndots:3",
            "--dns",
            "192.0.2.53",
        ],
        "cat /proc/self/oom_score_adj; ls -l /dev/myfuse | cut -c1; \
         (exec 3</dev/myfuse) 2>/dev/null && echo read-open || echo read-denied; \
         (exec 3>/dev/myfuse) 2>/dev/null && echo write-open || echo write-denied; \
         cat /etc/resolv.conf",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "123");
    assert_eq!(lines[1], "c");
    // /dev/fuse is in no default rule: the device's own rule allows it,
    // for reading only.
    assert_eq!(lines[2], "read-open");
    assert_eq!(lines[3], "write-denied", "--device ...:r allows reads only");
    assert_eq!(
        &lines[4..],
        &[
            "search a.example b.example",
            "nameserver 192.0.2.53",
            "options ndots:3"
        ]
    );
    // A device cgroup rule lets the container use a node it makes itself.
    let out = run_sh(
        &f,
        &["--device-cgroup-rule", "c 10:229 r"],
        "mknod /tmp/fuse c 10 229 && (exec 3</tmp/fuse) && echo opened",
    );
    assert_eq!(out.trim(), "opened");
    let out = f.berth(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "mknod /tmp/fuse c 10 229 && (exec 3</tmp/fuse)",
    ]);
    assert_ne!(
        out.status.code(),
        Some(0),
        "without the rule the device is denied"
    );
}

#[test]
fn host_namespaces_and_cgroup_parent() {
    let f = Fixture::new();
    let host_ns = |kind: &str| std::fs::read_link(format!("/proc/self/ns/{kind}")).unwrap();
    let out = run_sh(
        &f,
        &["--pid", "host", "--uts", "host", "--ipc", "host"],
        "readlink /proc/self/ns/pid; readlink /proc/self/ns/uts; readlink /proc/self/ns/ipc; hostname",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], host_ns("pid").to_str().unwrap());
    assert_eq!(lines[1], host_ns("uts").to_str().unwrap());
    assert_eq!(lines[2], host_ns("ipc").to_str().unwrap());
    assert_eq!(
        lines[3],
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .unwrap()
            .trim()
    );
    let out = run_sh(
        &f,
        &[],
        "readlink /proc/self/ns/pid; readlink /proc/self/ns/ipc",
    );
    assert!(!out.contains(host_ns("pid").to_str().unwrap()));
    assert!(!out.contains(host_ns("ipc").to_str().unwrap()));
    // --ipc none: no /dev/shm mount.
    let out = run_sh(
        &f,
        &["--ipc", "none"],
        "grep -c ' /dev/shm ' /proc/mounts || true",
    );
    assert_eq!(out.trim(), "0");
    // --cgroupns private on a v1 host: the container's cgroup is its root.
    let out = run_sh(
        &f,
        &["--cgroupns", "private"],
        "grep ':memory:' /proc/self/cgroup",
    );
    assert!(out.ends_with(":memory:/"), "{out}");

    // --cgroup-parent: the container's cgroup under the given parent.
    let parent = f.name("bt-parent");
    let name = f.name("cgparent");
    let id = f.ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "--cgroup-parent",
        &parent,
        "busybox",
        "sleep",
        "60",
    ]);
    let dir = cgroup_dir(f.pid(&name), "memory");
    assert_eq!(
        dir,
        Path::new("/sys/fs/cgroup/memory")
            .join(&parent)
            .join(id.trim())
    );
    f.ok(&["rm", "-f", &name]);
    // The parent is the user's (docker leaves it too): the test removes it.
    for c in [
        "blkio", "cpu", "cpuacct", "cpuset", "devices", "freezer", "memory", "pids",
    ] {
        let p = Path::new("/sys/fs/cgroup").join(c).join(&parent);
        if p.exists() {
            let _ = std::fs::remove_dir(&p);
        }
    }
}

/// Bad values: one line naming the flag, exit 125, nothing left.
#[test]
fn bad_values_fail_with_one_line_and_leave_nothing() {
    let f = Fixture::new();
    let snapshots = f.snapshot_count();
    let (dev, _) = block_device();
    let cases: Vec<(Vec<String>, String)> = vec![
        (vec!["--cpu-period".into(), "10".into()], "berth: Error response from daemon: CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)".into()),
        (vec!["--cpus".into(), "1".into(), "--cpu-quota".into(), "5000".into()], "berth: Error response from daemon: Conflicting options: Nano CPUs and CPU Quota cannot both be set".into()),
        (vec!["--cpuset-cpus".into(), "64".into()], "berth: Error response from daemon: Requested CPUs are not available - requested 64, available: ".into()),
        (vec!["--memory-swappiness".into(), "101".into()], "berth: Error response from daemon: invalid value: 101. Valid memory swappiness range is 0-100".into()),
        (vec!["-m".into(), "16m".into(), "--memory-reservation".into(), "32m".into()], "berth: Error response from daemon: Minimum memory limit can not be less than memory reservation limit, see usage".into()),
        (vec!["--oom-score-adj".into(), "1001".into()], "berth: Error response from daemon: Invalid value 1001, range for oom score adj is [-1000, 1000]".into()),
        (vec!["--device-read-bps".into(), format!("{dev}:fast")], format!("invalid argument \"{dev}:fast\" for \"--device-read-bps\" flag: invalid rate for device: {dev}:fast.")),
        (vec!["--device".into(), "/etc/passwd".into()], "berth: Error response from daemon: error gathering device information while adding custom device \"/etc/passwd\": not a device node".into()),
        (vec!["--device-cgroup-rule".into(), "c 1:3".into()], "invalid argument \"c 1:3\" for \"--device-cgroup-rule\" flag: invalid device cgroup format 'c 1:3'".into()),
        (vec!["--pid".into(), "bogus".into()], "berth: --pid: invalid PID mode".into()),
        (vec!["--uts".into(), "host".into(), "-h".into(), "x".into()], "berth: Error response from daemon: conflicting options: hostname and the UTS mode".into()),
        (vec!["--cgroup-parent".into(), "../escape".into()], "berth: Error response from daemon: invalid --cgroup-parent \"../escape\": it may not contain . or .. components".into()),
        (vec!["--volumes-from".into(), "bt-nosuch-donor".into()], "berth: Error response from daemon: No such container: bt-nosuch-donor".into()),
        (vec!["--pid".into(), "container:bt-nosuch-donor".into()], "berth: Error response from daemon: No such container: bt-nosuch-donor".into()),
        (vec!["--storage-opt".into(), "size=1G".into()], "berth: --storage-opt is supported only for overlay over xfs with 'pquota' mount option".into()),
    ];
    for (flags, want) in &cases {
        let name = f.name("bad");
        let mut args = vec!["run", "--name", &name];
        args.extend(flags.iter().map(String::as_str));
        args.extend(["busybox", "true"]);
        let out = f.berth(&args);
        assert_eq!(out.status.code(), Some(125), "{flags:?}: {}", stderr(&out));
        let err = stderr(&out);
        let first = err.lines().next().unwrap_or_default();
        assert!(
            first.starts_with(want.as_str()),
            "{flags:?}:\n got {first}\nwant {want}"
        );
        assert_eq!(err.lines().nth(1), Some("See 'berth run --help'."), "{err}");
        assert!(!f.all_names().contains(&name), "{flags:?} left {name}");
    }
    assert_eq!(f.snapshot_count(), snapshots);
    assert!(f.mounts_under_berthd().is_empty());
}

#[test]
fn kernel_memory_is_warned_as_docker_20_10_does_and_not_applied() {
    let f = Fixture::new();
    let out = f.berth(&["run", "--rm", "--kernel-memory", "8m", "busybox", "true"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("WARNING: Specifying a kernel memory limit is deprecated"),
        "{err}"
    );
    // docker 20.10 on this kernel prints the deprecation alone.
    assert!(!err.contains("Limitation discarded"), "{err}");
}

/// CDI: a spec in a private directory (berthd's `cdi-spec-dirs`) that
/// injects a harmless device node (the host's /dev/fuse under another name,
/// read-only: opening it does nothing without a mount) and environment variables; `--gpus` with no
/// nvidia.com/gpu spec fails naming the directory searched.
#[test]
fn cdi_devices_from_a_private_spec_dir_and_gpus_without_a_spec() {
    let cdi = berth_integration_tests::TestDir::new("cdi");
    let dir = cdi.join("specs");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("example.json"),
        r#"{"cdiVersion": "0.6.0", "kind": "example.com/test",
            "containerEdits": {"env": ["CDI_KIND=example"]},
            "devices": [{"name": "zero", "containerEdits": {
                "env": ["CDI_DEVICE=zero"],
                "deviceNodes": [{"path": "/dev/cdi-fuse", "hostPath": "/dev/fuse", "permissions": "r"}]}}]}"#,
    )
    .unwrap();
    // A YAML spec (as vendors' generators write them) with a hook: the
    // runtime runs it on the host at createRuntime.
    let marker = cdi.join("hook-ran");
    std::fs::write(
        dir.join("hooked.yaml"),
        format!(
            "cdiVersion: 0.6.0\nkind: example.com/yaml\ndevices:\n- name: hooked\n  containerEdits:\n    env: [CDI_YAML=yes]\n    hooks:\n    - hookName: createRuntime\n      path: /bin/sh\n      args: [sh, -c, 'cat > {}']\n",
            marker.display()
        ),
    )
    .unwrap();
    let config = serde_json::json!({ "cdi-spec-dirs": [dir] }).to_string();
    let f = Fixture::with_config(&config);
    let out = run_sh(
        &f,
        &["--device", "example.com/yaml=hooked"],
        "echo $CDI_YAML",
    );
    assert_eq!(out.trim(), "yes");
    // The hook got the container's state on stdin, as OCI hooks do.
    let state = std::fs::read_to_string(&marker).expect("the CDI hook ran");
    assert!(state.contains("\"status\""), "{state}");
    let out = run_sh(
        &f,
        &["--device", "example.com/test=zero"],
        "echo $CDI_KIND $CDI_DEVICE; ls -l /dev/cdi-fuse | cut -c1; \
         (exec 3</dev/cdi-fuse) 2>/dev/null && echo read-open || echo read-denied; \
         (exec 3>/dev/cdi-fuse) 2>/dev/null && echo write-open || echo write-denied",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "example zero");
    assert_eq!(lines[1], "c");
    assert_eq!(lines[2], "read-open");
    assert_eq!(lines[3], "write-denied");

    let name = f.name("cdi-missing");
    let out = f.berth(&[
        "run",
        "--name",
        &name,
        "--device",
        "example.com/test=nope",
        "busybox",
        "true",
    ]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr(&out).starts_with("berth: Error response from daemon: CDI device injection failed: unresolvable CDI devices example.com/test=nope"),
        "{}",
        stderr(&out)
    );
    let out = f.berth(&["run", "--name", &name, "--gpus", "all", "busybox", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr(&out).starts_with(&format!(
            "berth: Error response from daemon: --gpus all: no CDI spec of kind nvidia.com/gpu in {}",
            dir.display()
        )),
        "{}",
        stderr(&out)
    );
    assert!(!f.all_names().contains(&name));
}

/// `--volume-driver`: only a volume the container creates needs the driver
/// (docker ignores the flag otherwise, and so does berth); Berth has only
/// the local driver, so another one cannot make a volume: a clear
/// `not implemented`, exit 125, nothing created.
#[test]
fn volume_driver_matters_only_for_volumes_the_container_creates() {
    let f = Fixture::new();
    let name = f.name("vdrv");
    let existing = f.name("vdrv-existing");
    let wanted = f.name("vdrv-new");
    f.ok(&[
        "create",
        "--name",
        &name,
        "--volume-driver",
        "foo",
        "busybox",
        "true",
    ]);
    assert_eq!(f.inspect(&name)["HostConfig"]["VolumeDriver"], "foo");
    f.ok(&["rm", &name]);
    run_sh(&f, &["--volume-driver", "foo"], "true");
    f.ok(&["volume", "create", &existing]);
    run_sh(
        &f,
        &["--volume-driver", "foo", "-v", &format!("{existing}:/d")],
        "true",
    );
    for mount in [format!("{wanted}:/d"), "/anon".to_string()] {
        let before = f.ok(&["volume", "ls", "-q"]);
        let out = f.berth(&[
            "run",
            "--rm",
            "--name",
            &name,
            "--volume-driver",
            "foo",
            "-v",
            &mount,
            "busybox",
            "true",
        ]);
        assert_eq!(out.status.code(), Some(125), "{mount}");
        assert!(
            stderr(&out).contains("not implemented: volume driver \"foo\""),
            "{}",
            stderr(&out)
        );
        assert_eq!(f.ok(&["volume", "ls", "-q"]), before, "no volume made");
        assert!(!f.all_names().contains(&name), "no container left");
    }
    f.ok(&["volume", "rm", &existing]);
}
