//! seccomp user notification (`SCMP_ACT_NOTIFY` with `listenerPath`),
//! berth-runtime against runc 1.1: the runtime sends the filter's listener
//! fd to the agent at `listenerPath` with the container's process state, the
//! agent answers the notified syscalls, and a missing agent or path fails as
//! runc's does. The agent is a unix socket listener in this test.

use std::os::fd::AsRawFd;
use std::os::unix::net::UnixListener;
use std::thread::JoinHandle;

use berth_integration_tests::runtime::{
    container_id, recv_fd_with_payload, CgroupParentCleanup, Runtime,
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

/// The agent: takes one connection, reads the process state JSON and the
/// listener fd, then answers every notification with `errno` (0: a faked
/// success) until the container is gone. Returns the state and the
/// syscall numbers it answered.
fn agent(listener: UnixListener, errno: i32) -> JoinHandle<(Value, Vec<i32>)> {
    std::thread::spawn(move || {
        let (conn, _) = listener.accept().expect("accept");
        let mut buf = vec![0u8; 64 * 1024];
        let (fd, n) = recv_fd_with_payload(&conn, &mut buf);
        assert!(n > 0, "no state came with the fd");
        let state: Value = serde_json::from_slice(&buf[..n]).expect("state JSON");
        let mut answered = Vec::new();
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
    })
}

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
    let _parents = CgroupParentCleanup("bt-notify");
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
    let _parents = CgroupParentCleanup("bt-notify");
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
