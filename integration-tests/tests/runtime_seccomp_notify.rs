//! seccomp user notification (`SCMP_ACT_NOTIFY` with `listenerPath`),
//! berth-runtime against runc 1.1: the runtime sends the filter's listener
//! fd to the agent at `listenerPath` with the container's process state, the
//! agent answers the notified syscalls, and a missing agent or path fails as
//! runc's does. The agent is a unix socket listener in this test.

use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::thread::JoinHandle;

use berth_integration_tests::runtime::{
    container_id, recv_fd_with_payload, CgroupParentCleanup, Cleanup, Runtime,
};
use berth_integration_tests::{require_root, Bundle, TestDir};
use serde_json::{json, Value};

fn cgroup_path(id: &str) -> String {
    format!("/bt-notify/{id}")
}

/// `struct seccomp_notif` (include/uapi/linux/seccomp.h).
#[repr(C)]
#[derive(Default)]
struct SeccompNotif {
    id: u64,
    pid: u32,
    flags: u32,
    nr: i32,
    arch: u32,
    ip: u64,
    args: [u64; 6],
}

/// `struct seccomp_notif_resp`.
#[repr(C)]
struct SeccompNotifResp {
    id: u64,
    val: i64,
    error: i32,
    flags: u32,
}

const SECCOMP_IOCTL_NOTIF_RECV: libc::c_ulong = 0xc050_2100;
const SECCOMP_IOCTL_NOTIF_SEND: libc::c_ulong = 0xc018_2101;

/// The agent: takes one connection and serves it ([`serve`]). Returns the
/// state and the syscall numbers it answered.
fn agent(listener: UnixListener, errno: i32) -> JoinHandle<(Value, Vec<i32>)> {
    std::thread::spawn(move || {
        let (conn, _) = listener.accept().expect("accept");
        serve(conn, errno)
    })
}

/// An agent for a container and its `exec`s: takes `n` connections (the
/// init's listener from `create`, then one per `exec`), serving each in a
/// thread of its own, then closes its socket, so later connections are
/// refused, as to an agent that has died. Returns (state, syscalls answered)
/// per connection, in order.
/// A connection that does not come within 10 s ends the accepting (a
/// runtime that never connects fails the test, not hangs it).
fn agent_for(listener: UnixListener, errno: i32, n: usize) -> JoinHandle<Vec<(Value, Vec<i32>)>> {
    std::thread::spawn(move || {
        let mut served = Vec::new();
        for _ in 0..n {
            let mut pfd = libc::pollfd {
                fd: listener.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            if unsafe { libc::poll(&mut pfd, 1, 10_000) } <= 0 {
                break;
            }
            let (conn, _) = listener.accept().expect("accept");
            served.push(std::thread::spawn(move || serve(conn, errno)));
        }
        drop(listener);
        served.into_iter().map(|t| t.join().unwrap()).collect()
    })
}

/// Reads the process state JSON and the listener fd from `conn`, then
/// answers every notification with `errno` (0: a faked success) until every
/// process under the filter is gone. A negative `errno` makes an agent that
/// dies once it has the fd: it closes the fd and the connection at once.
fn serve(conn: UnixStream, errno: i32) -> (Value, Vec<i32>) {
    let mut buf = vec![0u8; 64 * 1024];
    let (fd, n) = recv_fd_with_payload(&conn, &mut buf);
    assert!(n > 0, "no state came with the fd");
    let state: Value = serde_json::from_slice(&buf[..n]).expect("state JSON");
    let mut answered = Vec::new();
    if errno < 0 {
        return (state, answered);
    }
    loop {
        // POLLHUP alone: every process under the filter is gone.
        let mut pfd = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        if unsafe { libc::poll(&mut pfd, 1, 10_000) } <= 0 || pfd.revents & libc::POLLIN == 0 {
            break;
        }
        let mut req = SeccompNotif::default();
        let r = unsafe { libc::ioctl(fd.as_raw_fd(), SECCOMP_IOCTL_NOTIF_RECV, &mut req) };
        if r < 0 {
            // ENOENT: the task went away; the listener ends when every
            // process with the filter is gone.
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::ENOENT) || e.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            break;
        }
        answered.push(req.nr);
        let resp = SeccompNotifResp {
            id: req.id,
            val: 0,
            error: -errno,
            flags: 0,
        };
        unsafe { libc::ioctl(fd.as_raw_fd(), SECCOMP_IOCTL_NOTIF_SEND, &resp) };
    }
    (state, answered)
}

/// A dead agent's answer to every notified syscall, as the kernel gives it
/// once the listener is closed (runc's bats "kill seccompagent" case).
const DEAD_AGENT: i32 = -1;

fn notify_bundle(dir: &TestDir, name: &str, id: &str, script: &str, listener: &str) -> Bundle {
    let mut b = Bundle::new(&dir.join(name), &["sh", "-c", script]);
    b.spec["linux"]["cgroupsPath"] = json!(cgroup_path(id));
    b.spec["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": listener,
        "listenerMetadata": "bt-metadata",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]
    });
    b.save();
    b
}

/// Runs a notify bundle under each runtime with an agent answering
/// `errno`; returns (output, state the agent got) per runtime.
fn run_with_agent(script: &str, errno: i32) -> Vec<(String, Value)> {
    let dir = TestDir::new("notify");
    let _parents = CgroupParentCleanup::new("bt-notify");
    let mut results = Vec::new();
    for (name, rt) in [("berth", Runtime::berth()), ("runc", Runtime::runc())] {
        let id = container_id(name);
        let sock = dir.join(&format!("{name}.sock"));
        let listener = UnixListener::bind(&sock).unwrap();
        let agent = agent(listener, errno);
        let b = notify_bundle(&dir, name, &id, script, sock.to_str().unwrap());
        let (code, out, err) = rt.run_bundle(&b.dir, &id);
        assert_eq!(code, 0, "{name}: {err}");
        let (state, answered) = agent.join().unwrap();
        assert!(
            answered.contains(&(libc::SYS_mkdir as i32))
                || answered.contains(&(libc::SYS_mkdirat as i32)),
            "{name}: the agent answered {answered:?}"
        );
        assert_eq!(state["fds"], json!(["seccompFd"]), "{name}: {state}");
        assert_eq!(state["metadata"], "bt-metadata", "{name}: {state}");
        assert_eq!(state["state"]["id"], id.as_str(), "{name}: {state}");
        assert_eq!(
            state["state"]["bundle"],
            b.dir.to_str().unwrap(),
            "{name}: {state}"
        );
        assert!(state["pid"].as_i64().unwrap_or(0) > 0, "{name}: {state}");
        results.push((out, state));
    }
    assert_eq!(results[0].0, results[1].0, "berth and runc differ");
    assert_eq!(
        results[0].1["state"]["status"], results[1].1["state"]["status"],
        "berth and runc differ"
    );
    results
}

#[test]
fn the_agent_can_fake_a_syscalls_success_like_runc() {
    require_root();
    let r = run_with_agent(
        "mkdir /tmp/made && echo mkdir-ok; [ -d /tmp/made ] || echo not-really-made",
        0,
    );
    assert_eq!(r[0].0, "mkdir-ok\nnot-really-made\n");
}

#[test]
fn the_agent_can_fail_a_syscall_with_its_errno_like_runc() {
    require_root();
    let r = run_with_agent("mkdir /tmp/made 2>&1; echo rc=$?", libc::EROFS);
    assert!(r[0].0.contains("Read-only file system"), "{}", r[0].0);
    assert!(r[0].0.ends_with("rc=1\n"), "{}", r[0].0);
}

/// A failing run: (exit code, stderr), and nothing may be left.
fn run_failing(rt: &Runtime, b: &Bundle, id: &str) -> (i32, String) {
    let (code, _, err) = rt.run_bundle(&b.dir, id);
    assert!(rt.state(id).is_none(), "container {id} left behind");
    (code, err)
}

/// A change to a bundle's config.json.
type SpecEdit = Box<dyn Fn(&mut Value)>;

#[test]
fn no_agent_no_path_and_refused_rules_fail_like_runc() {
    require_root();
    let dir = TestDir::new("notifyfail");
    let _parents = CgroupParentCleanup::new("bt-notify");
    for (name, rt) in [("berth", Runtime::berth()), ("runc", Runtime::runc())] {
        let missing = dir.join(&format!("{name}-nobody.sock"));
        let cases: Vec<(SpecEdit, String)> = vec![
            (
                Box::new(|_| {}),
                format!(
                    "failed to connect with seccomp agent specified in the seccomp profile: dial unix {}: connect: no such file or directory",
                    missing.display()
                ),
            ),
            (
                Box::new(|s| s["linux"]["seccomp"]["listenerPath"] = json!("")),
                "listenerPath is not set".into(),
            ),
            (
                Box::new(|s| {
                    s["linux"]["seccomp"]["defaultAction"] = json!("SCMP_ACT_NOTIFY");
                    s["linux"]["seccomp"]["syscalls"] = json!([]);
                }),
                "SCMP_ACT_NOTIFY cannot be used as default action".into(),
            ),
            (
                Box::new(|s| {
                    s["linux"]["seccomp"]["syscalls"] =
                        json!([{"names": ["write"], "action": "SCMP_ACT_NOTIFY"}])
                }),
                "SCMP_ACT_NOTIFY cannot be used for the write syscall".into(),
            ),
        ];
        for (i, (edit, want)) in cases.iter().enumerate() {
            let id = container_id(name);
            let mut b = notify_bundle(
                &dir,
                &format!("{name}{i}"),
                &id,
                "true",
                missing.to_str().unwrap(),
            );
            edit(&mut b.spec);
            b.save();
            let (code, err) = run_failing(&rt, &b, &id);
            assert_eq!(code, 1, "{name} case {i}: {err}");
            assert!(err.contains(want.as_str()), "{name} case {i}: {err}");
        }
    }
}

#[test]
fn a_dead_agents_syscalls_fail_enosys_under_run_like_runc() {
    require_root();
    let dir = TestDir::new("notifydead");
    let _parents = CgroupParentCleanup::new("bt-notify");
    let mut outputs = Vec::new();
    for (name, rt) in [("berth", Runtime::berth()), ("runc", Runtime::runc())] {
        let id = container_id(name);
        let sock = dir.join(&format!("{name}.sock"));
        let agent = agent(UnixListener::bind(&sock).unwrap(), DEAD_AGENT);
        let b = notify_bundle(
            &dir,
            name,
            &id,
            "mkdir /tmp/made 2>&1; echo rc=$?",
            sock.to_str().unwrap(),
        );
        let (code, out, err) = rt.run_bundle(&b.dir, &id);
        assert_eq!(code, 0, "{name}: {err}");
        let (state, _) = agent.join().unwrap();
        assert_eq!(state["state"]["id"], id.as_str(), "{name}: {state}");
        outputs.push(out);
    }
    assert!(
        outputs[0].contains("Function not implemented") && outputs[0].ends_with("rc=1\n"),
        "{}",
        outputs[0]
    );
    assert_eq!(outputs[0], outputs[1], "berth and runc differ");
}

/// The pids in the container's cgroup (pids hierarchy).
fn cgroup_pids(id: &str) -> Vec<String> {
    std::fs::read_to_string(format!(
        "/sys/fs/cgroup/pids{}/cgroup.procs",
        cgroup_path(id)
    ))
    .unwrap_or_default()
    .lines()
    .map(str::to_string)
    .collect()
}

/// What one runtime did in [`exec_under_an_agent`].
struct ExecOutcome {
    /// The exec's exit code, stdout and stderr.
    code: i32,
    out: String,
    err: String,
    /// The states the agent got: the init's, then the exec's (when it came).
    states: Vec<Value>,
    /// The container's init pid.
    init_pid: i64,
    /// The pids in the container's cgroup after the exec returned.
    pids_after: Vec<String>,
}

/// Under each runtime: a sleeping container whose profile notifies `mkdir`,
/// with an agent that takes `conns` connections (the init's, and the
/// exec's if 2: then the agent socket is closed) and answers with `errno`
/// (`DEAD_AGENT`: it closes each fd at once); then `exec sh -c SCRIPT`.
fn exec_under_an_agent(script: &str, errno: i32, conns: usize) -> Vec<ExecOutcome> {
    let dir = TestDir::new("notifyexec");
    let _parents = CgroupParentCleanup::new("bt-notify");
    let mut outcomes = Vec::new();
    for (name, rt) in [("berth", Runtime::berth()), ("runc", Runtime::runc())] {
        let id = container_id(name);
        let sock = dir.join(&format!("{name}.sock"));
        let agent = agent_for(UnixListener::bind(&sock).unwrap(), errno, conns);
        let b = notify_bundle(&dir, name, &id, "sleep 3600", sock.to_str().unwrap());
        let _cleanup = Cleanup {
            runtime: &rt,
            ids: vec![id.clone()],
        };
        let init_pid = rt.start_detached(&b.dir, &id) as i64;
        let out = rt.exec(&["exec", &id, "sh", "-c", script]);
        let pids_after = cgroup_pids(&id);
        rt.force_delete(&id);
        let states = agent.join().unwrap().into_iter().map(|(s, _)| s).collect();
        outcomes.push(ExecOutcome {
            code: out.status.code().unwrap_or(-1),
            out: String::from_utf8_lossy(&out.stdout).into_owned(),
            err: String::from_utf8_lossy(&out.stderr).into_owned(),
            states,
            init_pid,
            pids_after,
        });
    }
    outcomes
}

#[test]
fn exec_hands_its_listener_to_the_agent_like_runc() {
    require_root();
    let script = "mkdir /tmp/made && echo mkdir-ok; [ -d /tmp/made ] || echo not-really-made";
    let r = exec_under_an_agent(script, 0, 2);
    for (name, o) in ["berth", "runc"].iter().zip(&r) {
        assert_eq!(o.code, 0, "{name}: {}", o.err);
        assert_eq!(o.out, "mkdir-ok\nnot-really-made\n", "{name}: {}", o.err);
        assert_eq!(o.states.len(), 2, "{name}");
        let exec = &o.states[1];
        // The container's state is the init's; the process is the exec's.
        assert_eq!(exec["state"]["status"], "running", "{name}: {exec}");
        assert_eq!(exec["state"]["pid"], o.init_pid, "{name}: {exec}");
        assert_ne!(exec["pid"], o.init_pid, "{name}: {exec}");
        assert_eq!(exec["fds"], json!(["seccompFd"]), "{name}: {exec}");
        assert_eq!(exec["metadata"], "bt-metadata", "{name}: {exec}");
        assert_eq!(exec["state"]["id"], o.states[0]["state"]["id"], "{name}");
        assert_eq!(
            exec["state"]["bundle"], o.states[0]["state"]["bundle"],
            "{name}"
        );
    }
}

#[test]
fn an_exec_under_a_dead_agent_gets_enosys_like_runc() {
    require_root();
    let r = exec_under_an_agent("mkdir /tmp/made 2>&1; echo rc=$?", DEAD_AGENT, 2);
    for (name, o) in ["berth", "runc"].iter().zip(&r) {
        assert_eq!(o.code, 0, "{name}: {}", o.err);
        assert_eq!(o.states.len(), 2, "{name}");
    }
    assert!(
        r[0].out.contains("Function not implemented") && r[0].out.ends_with("rc=1\n"),
        "{}",
        r[0].out
    );
    assert_eq!(r[0].out, r[1].out, "berth and runc differ");
}

#[test]
fn an_exec_whose_agent_has_gone_fails_like_runc_and_leaves_nothing() {
    require_root();
    // The agent takes the init's connection only, then closes its socket:
    // the exec's connection is refused.
    let r = exec_under_an_agent("echo ran", 0, 1);
    for (name, o) in ["berth", "runc"].iter().zip(&r) {
        assert_eq!(o.code, 255, "{name}: {}", o.err);
        assert!(o.out.is_empty(), "{name}: {}", o.out);
        assert!(
            o.err
                .contains("failed to connect with seccomp agent specified in the seccomp profile")
                && o.err.contains("connect: connection refused"),
            "{name}: {}",
            o.err
        );
        assert_eq!(
            o.pids_after,
            vec![o.init_pid.to_string()],
            "{name}: a process was left"
        );
    }
}

#[test]
fn a_run_whose_agent_has_gone_fails_like_runc_and_leaves_nothing() {
    require_root();
    let dir = TestDir::new("notifygone");
    let _parents = CgroupParentCleanup::new("bt-notify");
    for (name, rt) in [("berth", Runtime::berth()), ("runc", Runtime::runc())] {
        let id = container_id(name);
        let sock = dir.join(&format!("{name}.sock"));
        // Bound and closed: the socket file stays, nobody listens.
        drop(UnixListener::bind(&sock).unwrap());
        let b = notify_bundle(&dir, name, &id, "echo ran", sock.to_str().unwrap());
        let (code, err) = run_failing(&rt, &b, &id);
        assert_eq!(code, 1, "{name}: {err}");
        let want = format!(
            "failed to connect with seccomp agent specified in the seccomp profile: dial unix {}: connect: connection refused",
            sock.display()
        );
        assert!(err.contains(&want), "{name}: {err}");
        assert!(
            cgroup_pids(&id).is_empty(),
            "{name}: processes left in the cgroup"
        );
    }
}
