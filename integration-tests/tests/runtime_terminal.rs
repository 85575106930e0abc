//! The foreground terminal (`process.terminal: true` without
//! `--console-socket`), berth-runtime against runc 1.1 on the same bundles:
//! the runtime runs on a pty the test opens (as a person's shell would run
//! it), and the container's process must see a pty of its own with the same
//! name, owner, mode and size, its exit code must come back, the caller's
//! terminal must be restored, and the refusals (no terminal anywhere,
//! `create`/`--detach` without a console socket) must match runc's.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use berth_integration_tests::runtime::{container_id, CgroupParentCleanup, Cleanup, Runtime};
use berth_integration_tests::{require_root, stderr, Bundle, TestDir};
use serde_json::json;

/// An explicit cgroup: without one runc nests the container under the test's.
fn cgroup_path(id: &str) -> String {
    format!("/bt-term/{id}")
}

/// The pty the runtime runs on: we hold the master, the runtime gets the
/// slave as its controlling terminal and stdout/stderr (and stdin unless
/// `stdin` is given).
struct OuterPty {
    master: std::fs::File,
    child: Child,
    output: mpsc::Receiver<u8>,
}

impl OuterPty {
    fn spawn(mut cmd: Command, rows: u16, cols: u16, stdin: Option<Stdio>) -> OuterPty {
        let (mut m, mut s) = (0, 0);
        let ws = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        let r =
            unsafe { libc::openpty(&mut m, &mut s, std::ptr::null_mut(), std::ptr::null(), &ws) };
        assert_eq!(r, 0, "openpty: {}", std::io::Error::last_os_error());
        let master = unsafe { OwnedFd::from_raw_fd(m) };
        let slave = unsafe { OwnedFd::from_raw_fd(s) };
        unsafe { libc::fcntl(m, libc::F_SETFD, libc::FD_CLOEXEC) };
        unsafe { libc::fcntl(s, libc::F_SETFD, libc::FD_CLOEXEC) };
        cmd.stdout(slave.try_clone().unwrap())
            .stderr(slave.try_clone().unwrap())
            .stdin(stdin.unwrap_or_else(|| slave.try_clone().unwrap().into()));
        unsafe {
            cmd.pre_exec(|| {
                // A session of its own with this pty as controlling terminal,
                // so the window size changes signal it (SIGWINCH).
                if libc::setsid() < 0 || libc::ioctl(1, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().expect("start the runtime on a pty");
        drop(cmd);
        drop(slave);
        let master = std::fs::File::from(master);
        let mut reader = master.try_clone().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // EIO once the runtime and everything holding the slave is gone.
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                for b in &buf[..n] {
                    if tx.send(*b).is_err() {
                        return;
                    }
                }
            }
        });
        OuterPty {
            master,
            child,
            output: rx,
        }
    }

    /// Reads output until it contains `text` (10 s at most); returns all of it.
    fn read_until(&self, name: &str, seen: &mut Vec<u8>, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !String::from_utf8_lossy(seen).contains(text) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.output.recv_timeout(left) {
                Ok(b) => seen.push(b),
                Err(_) => panic!(
                    "{name}: no {text:?} in the output: {:?}",
                    String::from_utf8_lossy(seen)
                ),
            }
        }
    }

    /// Waits for the runtime's exit (20 s at most) and the rest of the
    /// output; returns (exit code, output without `\r` and NUL bytes).
    fn finish(mut self, mut seen: Vec<u8>) -> (i32, String) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!(
                    "the runtime did not exit; output so far: {:?}",
                    String::from_utf8_lossy(&seen)
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        while let Ok(b) = self.output.recv_timeout(Duration::from_millis(500)) {
            seen.push(b);
        }
        let text = String::from_utf8_lossy(&seen).replace(['\r', '\0'], "");
        (status.code().unwrap_or(-1), text)
    }
}

/// A bundle per runtime with `terminal: true` running `script` in sh.
fn terminal_bundle(dir: &TestDir, name: &str, id: &str, script: &str) -> Bundle {
    let mut b = Bundle::new(&dir.join(name), &["sh", "-c", script]);
    b.spec["process"]["terminal"] = json!(true);
    b.spec["linux"]["cgroupsPath"] = json!(cgroup_path(id));
    b.save();
    b
}

/// berth-runtime, then runc up to three times: runc resizes the pty from
/// another goroutine while the process runs, and busybox's `stty` then
/// fails now and then ("stty: standard input: No child processes"); a run
/// where runc's own race broke the probe is retried.
fn runtimes_with_retries() -> Vec<(&'static str, Runtime)> {
    vec![
        ("berth", Runtime::berth()),
        ("runc", Runtime::runc()),
        ("runc", Runtime::runc()),
        ("runc", Runtime::runc()),
    ]
}

const PROBE: &str = "tty; stat -c '%u %g %a' $(tty); stty size; \
    [ -t 0 ] && echo stdin-is-a-tty; id -u; exit 3";

#[test]
fn foreground_run_gives_the_container_a_pty_like_runc() {
    require_root();
    let dir = TestDir::new("term");
    let _parents = CgroupParentCleanup::new("bt-term");
    let mut outs = Vec::new();
    for (name, rt) in runtimes_with_retries() {
        if outs.len() == 2 {
            break;
        }
        let id = container_id(name);
        let mut b = terminal_bundle(&dir, name, &id, PROBE);
        b.spec["process"]["user"] = json!({"uid": 1000, "gid": 1000});
        // No consoleSize: runc applies it to the pty and then, racing with
        // the process, resizes the pty from its own terminal once the
        // process runs; berth-runtime resizes as soon as start returns.
        b.save();
        let _c = Cleanup {
            runtime: &rt,
            ids: vec![id.clone()],
        };
        let mut cmd = rt.cmd();
        cmd.args(["run", "--bundle", b.dir.to_str().unwrap(), &id]);
        let pty = OuterPty::spawn(cmd, 22, 77, None);
        let mut seen = Vec::new();
        pty.read_until(name, &mut seen, "stdin-is-a-tty");
        let lflag_master = pty.master.try_clone().unwrap();
        let (code, out) = pty.finish(seen);
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        unsafe { libc::tcgetattr(lflag_master.as_raw_fd(), &mut t) };
        // openpty's default mode is cooked with echo; raw mode must be gone.
        assert_eq!(
            t.c_lflag & (libc::ICANON | libc::ECHO),
            libc::ICANON | libc::ECHO,
            "{name} left the caller's terminal raw"
        );
        assert_eq!(code, 3, "{name}: {out}");
        if name == "runc" && out.contains("stty: ") {
            continue;
        }
        outs.push(out);
    }
    assert_eq!(outs.len(), 2, "runc's stty failed three times: {outs:?}");
    assert_eq!(outs[0], outs[1], "berth (left) and runc (right) differ");
    // What runc shows, spelled out, so the test fails if both break alike:
    // the container's own devpts, owned by the process's uid, tty group 5,
    // mode 620, the caller's size.
    assert_eq!(
        outs[0].trim(),
        "/dev/pts/0\n1000 5 620\n22 77\nstdin-is-a-tty\n1000",
        "berth's container sees"
    );
}

#[test]
fn the_pty_follows_the_callers_window_size() {
    require_root();
    let dir = TestDir::new("termwinch");
    let _parents = CgroupParentCleanup::new("bt-term");
    let mut outs = Vec::new();
    for (name, rt) in [("berth", Runtime::berth()), ("runc", Runtime::runc())] {
        let id = container_id(name);
        let b = terminal_bundle(&dir, name, &id, "read x; stty size; read y; stty size");
        let _c = Cleanup {
            runtime: &rt,
            ids: vec![id.clone()],
        };
        let mut cmd = rt.cmd();
        cmd.args(["run", "--bundle", b.dir.to_str().unwrap(), &id]);
        let mut pty = OuterPty::spawn(cmd, 22, 77, None);
        // runc resizes the pty from its terminal only once the process
        // runs, racing with it: the process waits for a first line.
        std::thread::sleep(Duration::from_millis(300));
        pty.master.write_all(b"a\n").unwrap();
        let mut seen = Vec::new();
        pty.read_until(name, &mut seen, "22 77");
        let ws = libc::winsize {
            ws_row: 40,
            ws_col: 100,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // The kernel signals the runtime (SIGWINCH); runc handles it in
        // another goroutine than the input, so give it a moment.
        unsafe { libc::ioctl(pty.master.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
        std::thread::sleep(Duration::from_millis(300));
        pty.master.write_all(b"go\n").unwrap();
        let (code, out) = pty.finish(seen);
        assert_eq!(code, 0, "{name}: {out}");
        outs.push(out);
    }
    assert_eq!(outs[0], outs[1], "berth (left) and runc (right) differ");
    assert_eq!(outs[0].trim(), "a\n22 77\ngo\n40 100");
}

#[test]
fn stdin_that_is_not_a_tty_still_gets_a_new_pty() {
    require_root();
    let dir = TestDir::new("termpipe");
    let _parents = CgroupParentCleanup::new("bt-term");
    let mut outs = Vec::new();
    for (name, rt) in [("berth", Runtime::berth()), ("runc", Runtime::runc())] {
        let id = container_id(name);
        let b = terminal_bundle(
            &dir,
            name,
            &id,
            "read l; echo \"got $l\"; [ -t 0 ] && tty; exit 7",
        );
        let _c = Cleanup {
            runtime: &rt,
            ids: vec![id.clone()],
        };
        let input = dir.join(&format!("{name}.in"));
        std::fs::write(&input, "hello\n").unwrap();
        let mut cmd = rt.cmd();
        cmd.args(["run", "--bundle", b.dir.to_str().unwrap(), &id]);
        let pty = OuterPty::spawn(
            cmd,
            24,
            80,
            Some(std::fs::File::open(&input).unwrap().into()),
        );
        let (code, out) = pty.finish(Vec::new());
        assert_eq!(code, 7, "{name}: {out}");
        outs.push(out);
    }
    assert_eq!(outs[0], outs[1], "berth (left) and runc (right) differ");
    // The input is echoed by the container's pty, as on a terminal.
    assert_eq!(outs[0].trim(), "hello\ngot hello\n/dev/pts/0");
}

#[test]
fn exec_tty_in_the_foreground_like_runc() {
    require_root();
    let dir = TestDir::new("termexec");
    let _parents = CgroupParentCleanup::new("bt-term");
    let mut outs = Vec::new();
    for (name, rt) in runtimes_with_retries() {
        if outs.len() == 2 {
            break;
        }
        let id = container_id(name);
        let mut b = Bundle::new(&dir.join(name), &["sleep", "1000"]);
        b.spec["linux"]["cgroupsPath"] = json!(cgroup_path(&id));
        b.save();
        let _c = Cleanup {
            runtime: &rt,
            ids: vec![id.clone()],
        };
        rt.start_detached(&b.dir, &id);
        let mut cmd = rt.cmd();
        cmd.args([
            "exec",
            "-t",
            "--user",
            "1000:1000",
            &id,
            "sh",
            "-c",
            "tty; stat -c '%u %g %a' $(tty); stty size; exit 5",
        ]);
        let pty = OuterPty::spawn(cmd, 30, 90, None);
        let (code, out) = pty.finish(Vec::new());
        assert_eq!(code, 5, "{name}: {out}");
        if name == "runc" && out.contains("stty: ") {
            continue;
        }
        outs.push(out);
    }
    assert_eq!(outs.len(), 2, "runc's stty failed three times: {outs:?}");
    assert_eq!(outs[0], outs[1], "berth (left) and runc (right) differ");
    assert_eq!(outs[0].trim(), "/dev/pts/0\n1000 5 620\n30 90");
}

/// The container's processes in `--root`: none may be left by a refusal.
fn assert_nothing_left(rt: &Runtime, id: &str) {
    assert!(rt.state(id).is_none(), "container {id} was left behind");
    let cgroups: Vec<_> = std::fs::read_dir("/sys/fs/cgroup")
        .unwrap()
        .flatten()
        .map(|e| e.path().join(format!("bt-term/{id}")))
        .filter(|p| p.exists())
        .collect();
    assert!(cgroups.is_empty(), "cgroups left: {cgroups:?}");
}

#[test]
fn no_terminal_anywhere_fails_like_runc() {
    require_root();
    let dir = TestDir::new("termnone");
    let _parents = CgroupParentCleanup::new("bt-term");
    for (name, rt) in [("berth", Runtime::berth()), ("runc", Runtime::runc())] {
        let id = container_id(name);
        let b = terminal_bundle(&dir, name, &id, "true");
        let _c = Cleanup {
            runtime: &rt,
            ids: vec![id.clone()],
        };
        let err = dir.join(&format!("{name}.err"));
        let mut cmd = rt.cmd();
        cmd.args(["run", "--bundle", b.dir.to_str().unwrap(), &id])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&err).unwrap());
        // No controlling terminal either: /dev/tty cannot be opened.
        unsafe {
            cmd.pre_exec(|| {
                libc::setsid();
                Ok(())
            });
        }
        let status = cmd.status().unwrap();
        let msg = std::fs::read_to_string(&err).unwrap();
        assert_eq!(status.code(), Some(1), "{name}: {msg}");
        assert!(msg.contains("/dev/tty"), "{name}: {msg}");
        assert_nothing_left(&rt, &id);
    }
}

#[test]
fn create_and_detach_need_a_console_socket_like_runc() {
    require_root();
    let dir = TestDir::new("termdetach");
    let _parents = CgroupParentCleanup::new("bt-term");
    for (name, rt) in [("berth", Runtime::berth()), ("runc", Runtime::runc())] {
        let id = container_id(name);
        let b = terminal_bundle(&dir, name, &id, "true");
        let _c = Cleanup {
            runtime: &rt,
            ids: vec![id.clone()],
        };
        let bundle = b.dir.to_str().unwrap();
        let detached = "cannot allocate tty if runc will detach without setting console socket";
        for args in [
            vec!["create", "--bundle", bundle, &id],
            vec!["run", "-d", "--bundle", bundle, &id],
        ] {
            let out = rt.exec(&args);
            assert_eq!(out.status.code(), Some(1), "{name} {args:?}");
            assert!(stderr(&out).contains(detached), "{name}: {}", stderr(&out));
            assert_nothing_left(&rt, &id);
        }
        // A console socket is only for a terminal handed over on detach.
        let out = rt.exec(&[
            "run",
            "--console-socket",
            "/nonexistent.sock",
            "--bundle",
            bundle,
            &id,
        ]);
        assert_eq!(out.status.code(), Some(1), "{name}");
        assert!(
            stderr(&out)
                .contains("cannot use console socket if runc will not detach or allocate tty"),
            "{name}: {}",
            stderr(&out)
        );
        assert_nothing_left(&rt, &id);
    }
}

/// The caller's terminal mode, read through the test's master: openpty's
/// default is cooked with echo, and the runtime's raw mode must be gone.
fn assert_cooked(name: &str, master: &std::fs::File) {
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::tcgetattr(master.as_raw_fd(), &mut t) }, 0);
    assert_eq!(
        t.c_lflag & (libc::ICANON | libc::ECHO),
        libc::ICANON | libc::ECHO,
        "{name} left the caller's terminal raw"
    );
}

/// SIGINT sent to `run` itself (as a shell's job control or a supervisor
/// would): runc 1.1's handleInterrupt restores the caller's terminal and
/// exits 0 at once, leaving the container running and known to `state`.
/// The init is `sleep` (pid 1 of its namespace, no handler): the SIGINT
/// runc may also forward, racing with its exit, cannot end it, so the
/// container's fate is the same whichever wins.
#[test]
fn sigint_to_run_restores_the_terminal_and_exits_0_like_runc() {
    require_root();
    let dir = TestDir::new("termint");
    let _parents = CgroupParentCleanup::new("bt-term");
    for (name, rt) in [("berth", Runtime::berth()), ("runc", Runtime::runc())] {
        let id = container_id(name);
        let b = terminal_bundle(&dir, name, &id, "echo started; exec sleep 1000");
        let _c = Cleanup {
            runtime: &rt,
            ids: vec![id.clone()],
        };
        let mut cmd = rt.cmd();
        cmd.args(["run", "--bundle", b.dir.to_str().unwrap(), &id]);
        let pty = OuterPty::spawn(cmd, 24, 80, None);
        let mut seen = Vec::new();
        pty.read_until(name, &mut seen, "started");
        // Let `exec sleep` happen; the SIGINT must not depend on it.
        std::thread::sleep(Duration::from_millis(200));
        unsafe { libc::kill(pty.child.id() as i32, libc::SIGINT) };
        let master = pty.master.try_clone().unwrap();
        let (code, out) = pty.finish(seen);
        assert_eq!(code, 0, "{name}: {out}");
        assert_cooked(name, &master);
        assert_eq!(
            rt.status(&id).as_deref(),
            Some("running"),
            "{name}: the container after SIGINT"
        );
    }
}

/// The same for `exec -t`: exit 0 and the terminal restored. The exec'd
/// process ignores SIGINT (so runc's race does not matter); it dies of the
/// SIGHUP of its terminal's hangup when the runtime's end of the pty closes,
/// under both, and the container runs on.
#[test]
fn sigint_to_exec_tty_restores_the_terminal_and_exits_0_like_runc() {
    require_root();
    let dir = TestDir::new("termintexec");
    let _parents = CgroupParentCleanup::new("bt-term");
    for (name, rt) in [("berth", Runtime::berth()), ("runc", Runtime::runc())] {
        let id = container_id(name);
        let mut b = Bundle::new(&dir.join(name), &["sleep", "1000"]);
        b.spec["linux"]["cgroupsPath"] = json!(cgroup_path(&id));
        b.save();
        let _c = Cleanup {
            runtime: &rt,
            ids: vec![id.clone()],
        };
        rt.start_detached(&b.dir, &id);
        let mut cmd = rt.cmd();
        cmd.args([
            "exec",
            "-t",
            &id,
            "sh",
            "-c",
            "trap '' INT; echo started; exec sleep 2000",
        ]);
        let pty = OuterPty::spawn(cmd, 24, 80, None);
        let mut seen = Vec::new();
        pty.read_until(name, &mut seen, "started");
        std::thread::sleep(Duration::from_millis(200));
        unsafe { libc::kill(pty.child.id() as i32, libc::SIGINT) };
        let master = pty.master.try_clone().unwrap();
        let (code, out) = pty.finish(seen);
        assert_eq!(code, 0, "{name}: {out}");
        assert_cooked(name, &master);
        // Its terminal hung up when the runtime's pty master closed: the
        // exec'd process (SIGINT ignored, SIGHUP not) dies of SIGHUP under
        // both, the container's init stays.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let ps = rt.exec(&[
                "exec",
                &id,
                "sh",
                "-c",
                "for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < $f; echo; done | grep -x 'sleep 2000 '",
            ]);
            if ps.status.code() == Some(1) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{name}: the exec'd process outlived its terminal: {ps:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(rt.status(&id).as_deref(), Some("running"), "{name}");
    }
}

/// ^C typed on the caller's terminal is not a signal to the runtime (its
/// terminal is raw): the byte reaches the container's pty, whose line
/// discipline sends SIGINT to the container's foreground processes; their
/// exit code comes back and the terminal is restored.
#[test]
fn ctrl_c_typed_reaches_the_container_like_runc() {
    require_root();
    let dir = TestDir::new("termctrlc");
    let _parents = CgroupParentCleanup::new("bt-term");
    let mut outs = Vec::new();
    for (name, rt) in [("berth", Runtime::berth()), ("runc", Runtime::runc())] {
        let id = container_id(name);
        let b = terminal_bundle(
            &dir,
            name,
            &id,
            "trap 'echo got-int; exit 9' INT; echo started; while :; do sleep 0.1; done",
        );
        let _c = Cleanup {
            runtime: &rt,
            ids: vec![id.clone()],
        };
        let mut cmd = rt.cmd();
        cmd.args(["run", "--bundle", b.dir.to_str().unwrap(), &id]);
        let mut pty = OuterPty::spawn(cmd, 24, 80, None);
        let mut seen = Vec::new();
        pty.read_until(name, &mut seen, "started");
        pty.master.write_all(b"\x03").unwrap();
        let master = pty.master.try_clone().unwrap();
        let (code, out) = pty.finish(seen);
        assert_eq!(code, 9, "{name}: {out}");
        assert_cooked(name, &master);
        assert!(rt.state(&id).is_none(), "{name}: the container was left");
        outs.push(out);
    }
    assert_eq!(outs[0], outs[1], "berth (left) and runc (right) differ");
    assert_eq!(outs[0].trim(), "started\n^Cgot-int");
}
