//! Failures of the container's init between its set-up and the execve of
//! the user's program must reach whoever called `create`, `start`, `run` or
//! `exec`, with a non-zero exit and the reason; and a strict seccomp
//! allow-list (no close_range) must not break the init. Differential
//! against runc where runc defines the behaviour; where runc 1.1 loses an
//! error (a failing execve after `start`), berth-runtime must not.

use berth_integration_tests::runtime::{container_id, CgroupParentCleanup, Cleanup, Runtime};
use berth_integration_tests::{have_program, require_root, stderr, Bundle, TestDir};
use serde_json::{json, Value};

/// Every syscall runc's init (Go) and berth-runtime's init make on this
/// machine to run busybox `echo`, found with `strace -f`, minus
/// close_range: the allow-list profile of the OCI validation suite's kind
/// that made berth-runtime's init exit 1 silently after `start` returned 0.
const ALLOW_LIST: &[&str] = &[
    "access",
    "arch_prctl",
    "bind",
    "brk",
    "capget",
    "capset",
    "chdir",
    "chmod",
    "clone",
    "clone3",
    "close",
    "copy_file_range",
    "dup3",
    "epoll_create1",
    "epoll_ctl",
    "epoll_pwait",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "faccessat2",
    "fchdir",
    "fchmodat",
    "fchown",
    "fchownat",
    "fcntl",
    "fstat",
    "fstatfs",
    "futex",
    "getcwd",
    "getdents64",
    "getegid",
    "geteuid",
    "getpid",
    "getppid",
    "getrandom",
    "getrlimit",
    "getsockname",
    "gettid",
    "getuid",
    "ioctl",
    "keyctl",
    "kill",
    "lseek",
    "madvise",
    "mkdir",
    "mkdirat",
    "mknodat",
    "mmap",
    "mount",
    "mount_setattr",
    "mprotect",
    "munmap",
    "nanosleep",
    "newfstatat",
    "open_tree",
    "openat",
    "openat2",
    "pipe2",
    "pivot_root",
    "poll",
    "prctl",
    "pread64",
    "prlimit64",
    "read",
    "readlink",
    "readlinkat",
    "recvfrom",
    "rename",
    "renameat",
    "rmdir",
    "rseq",
    "rt_sigaction",
    "rt_sigprocmask",
    "rt_sigreturn",
    "rt_sigtimedwait",
    "sched_getaffinity",
    "sched_yield",
    "seccomp",
    "sendto",
    "set_robust_list",
    "set_tid_address",
    "setgid",
    "setgroups",
    "sethostname",
    "setresgid",
    "setresuid",
    "setsid",
    "setsockopt",
    "setuid",
    "shutdown",
    "sigaltstack",
    "socket",
    "socketpair",
    "statfs",
    "statx",
    "symlinkat",
    "tgkill",
    "umask",
    "umount2",
    "uname",
    "unlink",
    "unlinkat",
    "unshare",
    "wait4",
    "waitid",
    "write",
];

/// An explicit cgroup for both runtimes (runc would otherwise nest the
/// container under the test's own cgroup).
fn cgroup_path(id: &str) -> String {
    format!("/bt-initerr/{id}")
}

fn runtimes() -> [(&'static str, Runtime); 2] {
    require_root();
    assert!(
        have_program("runc"),
        "install runc (the differential oracle)"
    );
    [("berth", Runtime::berth()), ("runc", Runtime::runc())]
}

/// A bundle for `rt` in `dir/name`, edited by `edit`, with its own cgroup.
fn bundle(dir: &TestDir, name: &str, id: &str, args: &[&str], edit: &dyn Fn(&mut Value)) -> Bundle {
    let mut b = Bundle::new(&dir.join(name), args);
    // A script whose interpreter is missing: execve fails with ENOENT
    // although the file is there and executable.
    std::fs::write(b.rootfs().join("bin/badinterp"), "#!/nonexistent\n").unwrap();
    // Executable by root only: the user 1000 gets EACCES.
    std::fs::write(b.rootfs().join("bin/rootonly"), "#!/bin/sh\necho hi\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        b.rootfs().join("bin/badinterp"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    std::fs::set_permissions(
        b.rootfs().join("bin/rootonly"),
        std::fs::Permissions::from_mode(0o700),
    )
    .unwrap();
    edit(&mut b.spec);
    b.spec["linux"]["cgroupsPath"] = json!(cgroup_path(id));
    b.save();
    b
}

/// What `run`, and `create` then `start`, did with one bundle.
#[derive(Debug)]
struct Outcome {
    run: i32,
    run_out: String,
    create: i32,
    create_err: String,
    start: i32,
    start_err: String,
    /// `state` after start: the container must not be left running.
    status_after: Option<String>,
}

fn outcome(rt: &Runtime, name: &str, args: &[&str], edit: &dyn Fn(&mut Value)) -> Outcome {
    let dir = TestDir::new("initerr");
    let _parents = CgroupParentCleanup::new("bt-initerr");
    let run_id = container_id(&format!("{name}r"));
    let b = bundle(&dir, "run", &run_id, args, edit);
    let mut cleanup = Cleanup {
        runtime: rt,
        ids: vec![run_id.clone()],
    };
    let out = rt.exec(&["run", "--bundle", b.dir.to_str().unwrap(), &run_id]);
    let run = out.status.code().unwrap_or(-1);
    let run_out = unquote(&format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ));
    let id = container_id(&format!("{name}c"));
    cleanup.ids.push(id.clone());
    let b = bundle(&dir, "create", &id, args, edit);
    let out = rt.exec(&["create", "--bundle", b.dir.to_str().unwrap(), &id]);
    let create = out.status.code().unwrap_or(-1);
    let create_err = unquote(&stderr(&out));
    let (start, start_err, status_after) = if create == 0 {
        let out = rt.exec(&["start", &id]);
        // A failed init is gone by the time start returns; give a
        // successful one's `echo` the time to end too.
        std::thread::sleep(std::time::Duration::from_millis(100));
        (
            out.status.code().unwrap_or(-1),
            stderr(&out),
            rt.status(&id),
        )
    } else {
        (-1, String::new(), rt.status(&id))
    };
    Outcome {
        run,
        run_out,
        create,
        create_err,
        start,
        start_err,
        status_after,
    }
}

/// runc logs errors as logfmt, quotes in the message escaped.
fn unquote(s: &str) -> String {
    s.replace("\\\"", "\"")
}

/// A profile that allows everything but `syscall`.
fn deny(syscall: &'static str, nnp: bool) -> impl Fn(&mut Value) {
    move |s: &mut Value| {
        s["process"]["noNewPrivileges"] = json!(nnp);
        s["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [{"names": [syscall], "action": "SCMP_ACT_ERRNO"}]
        });
    }
}

#[test]
fn allow_list_without_close_range_runs_as_with_runc() {
    for (name, rt) in runtimes() {
        for nnp in [false, true] {
            let o = outcome(&rt, name, &["echo", "ok"], &|s: &mut Value| {
                s["process"]["noNewPrivileges"] = json!(nnp);
                s["linux"]["seccomp"] = json!({
                    "defaultAction": "SCMP_ACT_ERRNO",
                    "architectures": ["SCMP_ARCH_X86_64"],
                    "syscalls": [{"names": ALLOW_LIST, "action": "SCMP_ACT_ALLOW"}]
                });
            });
            assert_eq!(o.run, 0, "{name} nnp={nnp}: {o:?}");
            assert_eq!(o.run_out, "ok\n", "{name} nnp={nnp}: {o:?}");
            assert_eq!((o.create, o.start), (0, 0), "{name} nnp={nnp}: {o:?}");
        }
    }
}

/// The syscalls the init makes after a filter installed without
/// no_new_privs (which goes before the user and capabilities are set, as
/// it needs CAP_SYS_ADMIN), denied one at a time: `create` and `run` fail
/// with exit 1 and the step that failed, for both runtimes. (Each
/// runtime's own other calls, e.g. runc's setuid against our setresuid,
/// differ and are left out.)
#[test]
fn a_denied_syscall_before_ready_fails_create_and_run_as_with_runc() {
    let cases: &[(&str, &str)] = &[
        ("prctl", "bounding set"),
        ("setgroups", "setgroups"),
        ("capset", "cap"),
        (
            "chdir",
            "chdir to cwd (\"/\") set in config.json failed: operation not permitted",
        ),
        ("getcwd", ""),
    ];
    for (name, rt) in runtimes() {
        for (syscall, says) in cases {
            let o = outcome(&rt, name, &["echo", "ok"], &deny(syscall, false));
            assert_eq!(o.run, 1, "{name} deny {syscall}: {o:?}");
            assert_eq!(o.create, 1, "{name} deny {syscall}: {o:?}");
            assert!(o.create_err.contains(says), "{name} deny {syscall}: {o:?}");
            assert!(!o.run_out.contains("ok\n"), "{name} deny {syscall}: {o:?}");
            if name == "berth" {
                assert!(o.status_after.is_none(), "{syscall}: nothing left: {o:?}");
            }
        }
    }
}

/// execve denied, with the filter installed last (no_new_privs) or early:
/// the init fails after `create` returned. runc 1.1's `start` returns 0 and
/// loses it (the message only reaches the container's stderr); berth's
/// `start` fails with it, and `run` fails with exit 1 as runc's does.
#[test]
fn a_denied_execve_fails_start_and_run() {
    for (name, rt) in runtimes() {
        for nnp in [true, false] {
            let o = outcome(&rt, name, &["echo", "ok"], &deny("execve", nnp));
            assert_eq!(o.run, 1, "{name} nnp={nnp}: {o:?}");
            assert!(
                o.run_out
                    .contains("exec /bin/echo: operation not permitted"),
                "{name} nnp={nnp}: {o:?}"
            );
            assert_eq!(o.create, 0, "{name} nnp={nnp}: {o:?}");
            assert_eq!(o.status_after.as_deref(), Some("stopped"), "{name}: {o:?}");
            if name == "berth" {
                assert_eq!(o.start, 1, "nnp={nnp}: {o:?}");
                assert!(
                    o.start_err
                        .contains("exec /bin/echo: operation not permitted"),
                    "nnp={nnp}: {o:?}"
                );
            }
        }
    }
}

/// A failing execve without seccomp: an interpreter that does not exist
/// (ENOENT from execve, after `start`), and a file the user may not execute
/// (EACCES: found at `create`, as runc checks with eaccess as the user).
#[test]
fn a_failing_execve_reaches_the_caller() {
    for (name, rt) in runtimes() {
        let o = outcome(&rt, name, &["badinterp"], &|_| {});
        assert_eq!(o.run, 1, "{name}: {o:?}");
        assert!(
            o.run_out
                .contains("exec /bin/badinterp: no such file or directory"),
            "{name}: {o:?}"
        );
        assert_eq!(o.create, 0, "{name}: {o:?}");
        if name == "berth" {
            assert_eq!(o.start, 1, "{o:?}");
            assert!(
                o.start_err
                    .contains("exec /bin/badinterp: no such file or directory"),
                "{o:?}"
            );
        }

        let as_user = |s: &mut Value| s["process"]["user"] = json!({"uid": 1000, "gid": 1000});
        let o = outcome(&rt, name, &["rootonly"], &as_user);
        assert_eq!((o.run, o.create), (1, 1), "{name}: {o:?}");
        assert!(
            o.create_err
                .contains("exec /bin/rootonly: permission denied"),
            "{name}: {o:?}"
        );
        let o = outcome(&rt, name, &["nope"], &|_| {});
        assert_eq!((o.run, o.create), (1, 1), "{name}: {o:?}");
        assert!(
            o.create_err
                .contains("exec: \"nope\": executable file not found in $PATH"),
            "{name}: {o:?}"
        );
    }
}

/// `exec` failing before its process runs exits 255 with the reason, as
/// runc's `exec failed`; runc loses a failing execve (its exec'd init
/// exits 1 with the message on its stderr), berth-runtime reports it as
/// every other failure.
#[test]
fn a_failed_exec_exits_255_with_the_reason() {
    for (name, rt) in runtimes() {
        let dir = TestDir::new("initerr-exec");
        let _parents = CgroupParentCleanup::new("bt-initerr");
        let id = container_id(&format!("{name}x"));
        // Filter last (no_new_privs) for the init; the exec'd process below
        // asks for it early, where setgroups is denied.
        let b = bundle(&dir, "b", &id, &["sleep", "100"], &deny("setgroups", true));
        let _cleanup = Cleanup {
            runtime: &rt,
            ids: vec![id.clone()],
        };
        rt.start_detached(&b.dir, &id);
        let cases: &[(&[&str], &str)] = &[
            (&["nope"], "exec: \"nope\": executable file not found in $PATH"),
            (
                &["--cwd", "/nonexistent", "true"],
                "chdir to cwd (\"/nonexistent\") set in config.json failed: no such file or directory",
            ),
            (&["--user", "1000", "rootonly"], "/bin/rootonly: permission denied"),
        ];
        for (args, says) in cases {
            // Flags, then the id, then the command.
            let (flags, cmd) = args.split_at(args.len() - 1);
            let mut a = vec!["exec"];
            a.extend_from_slice(flags);
            a.push(&id);
            a.extend_from_slice(cmd);
            let out = rt.exec(&a);
            let err = unquote(&stderr(&out));
            assert_eq!(out.status.code(), Some(255), "{name} {args:?}: {err}");
            assert!(err.contains(says), "{name} {args:?}: {err}");
        }
        // A process whose filter goes on before the user is set (no
        // no_new_privs): setgroups is denied.
        let mut p = b.spec["process"].clone();
        p["args"] = json!(["true"]);
        p["noNewPrivileges"] = json!(false);
        let pfile = dir.join("process.json");
        std::fs::write(&pfile, p.to_string()).unwrap();
        let out = rt.exec(&["exec", "--process", pfile.to_str().unwrap(), &id]);
        assert_eq!(out.status.code(), Some(255), "{name}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("setgroups"),
            "{name}: {}",
            stderr(&out)
        );
        // The execve itself fails (ENOENT from the missing interpreter).
        let out = rt.exec(&["exec", &id, "badinterp"]);
        let err = unquote(&format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            stderr(&out)
        ));
        assert!(
            err.contains("exec /bin/badinterp: no such file or directory"),
            "{name}: {err}"
        );
        if name == "berth" {
            assert_eq!(out.status.code(), Some(255), "{err}");
        } else {
            assert_ne!(out.status.code(), Some(0), "{err}");
        }
    }
}
