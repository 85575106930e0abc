//! Real-kernel tests of the v2 driver, as root. On a hybrid host (the
//! project's machines) they run against the cgroup2 mount at
//! `/sys/fs/cgroup/unified`, which has no controllers enabled but has
//! `cgroup.procs`, `cgroup.freeze`, `cgroup.kill` and eBPF device
//! programs: enough for the driver's core. Each test works below its own
//! `bt...` directory, used as the hierarchy "mount", so nothing outside
//! it (not even the root's `cgroup.subtree_control`) is written.

mod common;

use berth_cgroups::{Cgroup, CgroupsPath, Controller, FreezerState, Layout};
use berth_oci::*;
use common::*;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;

/// A fresh `bt...` directory in the cgroup2 hierarchy, registered with the
/// guard for removal, and a v2 layout rooted there.
fn v2_base(guard: &mut Guard) -> (Layout, PathBuf) {
    assert!(is_root(), "the cgroup tests must run as root");
    let mount = match Layout::detect().unwrap() {
        Layout::V2 { mount } => mount,
        Layout::V1 { hierarchies } => {
            hierarchies
                .into_iter()
                .find(|h| h.controllers.has(Controller::Unified))
                .expect("a cgroup2 mount on the test machine")
                .mount
        }
    };
    let base = mount.join(unique("v2"));
    std::fs::create_dir(&base).unwrap();
    guard.extra_dirs.push(base.clone());
    (
        Layout::V2 {
            mount: base.clone(),
        },
        base,
    )
}

#[test]
fn procs_freeze_thaw_and_cgroup_kill() {
    let mut guard = Guard::new();
    let (layout, base) = v2_base(&mut guard);
    let path = CgroupsPath::parse("/ctr").unwrap();
    let cg = Cgroup::create(&layout, &path).unwrap();
    guard.cgroup = Some(cg.clone());
    assert_eq!(cg.dirs(), vec![base.join("ctr").as_path()]);

    let child = spawn_sleep();
    let pid = child.id();
    guard.children.push(child);
    cg.add_process(pid as i32).unwrap();
    let line = proc_cgroup(pid, "").unwrap();
    assert!(
        line.ends_with(&format!(
            "{}/ctr",
            base.file_name().unwrap().to_str().unwrap()
        )),
        "{line}"
    );
    assert_eq!(cg.pids().unwrap(), vec![pid as i32]);

    cg.freeze().unwrap();
    assert_eq!(cg.freezer_state().unwrap(), FreezerState::Frozen);
    // A task frozen by cgroup v2 sits in the freezer trap of the signal
    // code (do_freezer_trap, inlined into get_signal), not in its sleep.
    let frozen_in = |wchan: &str| wchan.contains("freezer") || wchan == "get_signal";
    // (`frozen 1` is reported as the task enters the trap, a moment before
    // it sleeps there.)
    wait_for("the frozen task to sleep in the freezer trap", || {
        frozen_in(&read(&PathBuf::from(format!("/proc/{pid}/wchan"))))
    });
    cg.thaw().unwrap();
    assert_eq!(cg.freezer_state().unwrap(), FreezerState::Thawed);
    wait_for("the thawed task to leave the freezer trap", || {
        !frozen_in(&read(&PathBuf::from(format!("/proc/{pid}/wchan"))))
    });

    let stats = cg.stats().unwrap();
    let json = serde_json::to_value(&stats).unwrap();
    assert!(json["cpu"]["usage"].is_object());

    cg.kill_all(libc::SIGKILL).unwrap();
    assert_eq!(
        guard.children[0].wait().unwrap().signal(),
        Some(libc::SIGKILL)
    );
    wait_for("cgroup empty", || cg.pids().unwrap().is_empty());
    cg.destroy().unwrap();
    assert!(!base.join("ctr").exists());
    assert!(base.is_dir(), "the pre-existing parent stays");
}

#[test]
fn kill_all_with_sigterm_freezes_signals_and_thaws() {
    let mut guard = Guard::new();
    let (layout, _) = v2_base(&mut guard);
    let cg = Cgroup::create(&layout, &CgroupsPath::parse("/a/b").unwrap()).unwrap();
    guard.cgroup = Some(cg.clone());
    for _ in 0..2 {
        let child = spawn_sleep();
        cg.add_process(child.id() as i32).unwrap();
        guard.children.push(child);
    }
    cg.kill_all(libc::SIGTERM).unwrap();
    for child in &mut guard.children {
        assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGTERM));
    }
    assert_eq!(cg.freezer_state().unwrap(), FreezerState::Thawed);
}

/// Sub-cgroups made inside the container's cgroup: listed, killed by
/// `cgroup.kill`, removed with it.
#[test]
fn sub_cgroups_are_listed_killed_and_removed() {
    let mut guard = Guard::new();
    let (layout, base) = v2_base(&mut guard);
    let cg = Cgroup::create(&layout, &CgroupsPath::parse("/outer").unwrap()).unwrap();
    guard.cgroup = Some(cg.clone());
    // v2's no-internal-process rule does not apply without controllers.
    let outer = spawn_sleep();
    cg.add_process(outer.id() as i32).unwrap();
    guard.children.push(outer);
    let inner_dir = base.join("outer/inner/deeper");
    std::fs::create_dir_all(&inner_dir).unwrap();
    let inner = spawn_sleep();
    let inner_pid = inner.id();
    guard.children.push(inner);
    std::fs::write(inner_dir.join("cgroup.procs"), inner_pid.to_string()).unwrap();
    assert_eq!(cg.pids().unwrap().len(), 2);
    cg.kill_all(libc::SIGKILL).unwrap();
    for child in &mut guard.children {
        assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGKILL));
    }
    cg.destroy().unwrap();
    assert!(!base.join("outer").exists());
}

/// The fd from `open_dir` works with clone3(CLONE_INTO_CGROUP): the child
/// starts inside the cgroup.
#[test]
fn clone_into_cgroup_with_the_dir_fd() {
    let mut guard = Guard::new();
    let (layout, _) = v2_base(&mut guard);
    let cg = Cgroup::create(&layout, &CgroupsPath::parse("/clone").unwrap()).unwrap();
    guard.cgroup = Some(cg.clone());
    let fd = cg.open_dir().unwrap().expect("a dir fd on v2");

    #[repr(C)]
    #[derive(Default)]
    struct CloneArgs {
        flags: u64,
        pidfd: u64,
        child_tid: u64,
        parent_tid: u64,
        exit_signal: u64,
        stack: u64,
        stack_size: u64,
        tls: u64,
        set_tid: u64,
        set_tid_size: u64,
        cgroup: u64,
    }
    const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;
    let mut args = CloneArgs {
        flags: CLONE_INTO_CGROUP,
        exit_signal: libc::SIGCHLD as u64,
        cgroup: fd.as_raw_fd() as u64,
        ..Default::default()
    };
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    assert!(pid >= 0, "clone3: {}", std::io::Error::last_os_error());
    if pid == 0 {
        // Child: only async-signal-safe calls.
        unsafe {
            libc::pause();
            libc::_exit(0);
        }
    }
    let pids = cg.pids().unwrap();
    let listed = pids.contains(&(pid as i32));
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    let mut status = 0;
    unsafe { libc::waitpid(pid as i32, &mut status, 0) };
    assert!(listed, "child {pid} not in {pids:?}");
}

/// The eBPF device program: /dev/null denied, /dev/zero allowed; an
/// update replaces the program rather than stacking a second one.
#[test]
fn ebpf_device_program_denies_and_allows() {
    let mut guard = Guard::new();
    let (layout, _) = v2_base(&mut guard);
    let deny_null = LinuxDeviceCgroup {
        allow: false,
        kind: Some("c".into()),
        major: Some(1),
        minor: Some(3),
        access: Some("rwm".into()),
    };
    let mut rules = vec![LinuxDeviceCgroup {
        allow: false,
        access: Some("rwm".into()),
        ..Default::default()
    }];
    rules.extend(berth_cgroups::default_allowed_devices());
    let mut with_deny = rules.clone();
    with_deny.push(deny_null);
    let resources = LinuxResources {
        devices: with_deny,
        ..Default::default()
    };
    let cg =
        Cgroup::create_with_resources(&layout, &CgroupsPath::parse("/dev").unwrap(), &resources)
            .unwrap();
    guard.cgroup = Some(cg.clone());

    let script = "cat /dev/null; echo rc=$?; head -c 3 /dev/zero | wc -c";
    let run_in_cgroup = |guard: &mut Guard| {
        let (child, mut stdin) = spawn_waiting(script);
        cg.add_process(child.id() as i32).unwrap();
        release(&mut stdin);
        drop(stdin);
        let out = child.wait_with_output().unwrap();
        let _ = guard;
        (
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (stdout, stderr) = run_in_cgroup(&mut guard);
    assert!(
        stdout.contains("rc=1"),
        "stdout {stdout:?} stderr {stderr:?}"
    );
    assert!(
        stderr.contains("Operation not permitted"),
        "stderr {stderr:?}"
    );
    assert!(
        stdout.trim_end().ends_with('3'),
        "/dev/zero must stay readable: {stdout:?}"
    );

    let dir_fd = berth_cgroups::v2::open_dir(cg.dirs()[0]).unwrap();
    let before =
        berth_cgroups::ebpf::attached_device_programs(dir_fd.as_fd(), cg.dirs()[0]).unwrap();
    assert_eq!(before.len(), 1);

    // Update without the deny: /dev/null works, still one program.
    cg.apply(&LinuxResources {
        devices: rules,
        ..Default::default()
    })
    .unwrap();
    let after =
        berth_cgroups::ebpf::attached_device_programs(dir_fd.as_fd(), cg.dirs()[0]).unwrap();
    assert_eq!(after.len(), 1, "programs stacked: {after:?}");
    assert_ne!(after, before, "program not replaced");
    let (stdout, stderr) = run_in_cgroup(&mut guard);
    assert!(
        stdout.contains("rc=0"),
        "stdout {stdout:?} stderr {stderr:?}"
    );
}

/// A value for a controller the hierarchy does not have fails naming the
/// file, and create leaves nothing behind.
#[test]
fn missing_controller_files_fail_clearly_and_leave_nothing() {
    let mut guard = Guard::new();
    let (layout, base) = v2_base(&mut guard);
    let resources = LinuxResources {
        pids: Some(LinuxPids { limit: 5 }),
        ..Default::default()
    };
    let err =
        Cgroup::create_with_resources(&layout, &CgroupsPath::parse("/x/y").unwrap(), &resources)
            .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("write 5 to {}/x/y/pids.max: ENOENT", base.display())
    );
    assert!(!base.join("x").exists());
    let err = Cgroup::create_with_resources(
        &layout,
        &CgroupsPath::parse("/z").unwrap(),
        &LinuxResources {
            cpu: Some(LinuxCpu {
                realtime_runtime: Some(1000),
                ..Default::default()
            }),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "linux.resources.cpu.realtimeRuntime is not supported on cgroup v2 (no realtime group scheduling)"
    );
    assert!(!base.join("z").exists());
}
