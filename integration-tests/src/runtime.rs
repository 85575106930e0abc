//! Driving an OCI runtime binary (berth-runtime, or runc as the oracle) the
//! way engines do, with a private `--root` per test.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::{bin, unique_name, TestDir};

/// A runtime binary with its own state root.
pub struct Runtime {
    pub binary: PathBuf,
    pub root: TestDir,
}

impl Runtime {
    /// berth-runtime from the build dir.
    pub fn berth() -> Runtime {
        Runtime {
            binary: bin("berth-runtime"),
            root: TestDir::new("rtroot"),
        }
    }

    /// Debian's runc, the differential oracle.
    pub fn runc() -> Runtime {
        Runtime {
            binary: PathBuf::from("/usr/bin/runc"),
            root: TestDir::new("runcroot"),
        }
    }

    /// A command with `--root` set.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(&self.binary);
        c.arg("--root").arg(&self.root.path);
        c
    }

    /// Runs the runtime with `args`, stdin from /dev/null. stdout and stderr
    /// go through files, not pipes: a container started by `create` or
    /// `exec -d` inherits them and would keep a pipe open forever.
    pub fn exec(&self, args: &[&str]) -> Output {
        let out = tempfile_in(&self.root.path, "out");
        let err = tempfile_in(&self.root.path, "err");
        let status = self
            .cmd()
            .args(args)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&err).unwrap())
            .status()
            .expect("start runtime");
        let o = Output {
            status,
            stdout: std::fs::read(&out).unwrap_or_default(),
            stderr: std::fs::read(&err).unwrap_or_default(),
        };
        let _ = std::fs::remove_file(out);
        let _ = std::fs::remove_file(err);
        o
    }

    /// `run` of a bundle in the foreground: (exit code, stdout, stderr).
    pub fn run_bundle(&self, bundle: &Path, id: &str) -> (i32, String, String) {
        let out = self.exec(&["run", "--bundle", bundle.to_str().unwrap(), id]);
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// `state ID` parsed, or None if the runtime does not know the id.
    pub fn state(&self, id: &str) -> Option<serde_json::Value> {
        let out = self.exec(&["state", id]);
        if !out.status.success() {
            return None;
        }
        serde_json::from_slice(&out.stdout).ok()
    }

    /// The `status` field of `state ID`.
    pub fn status(&self, id: &str) -> Option<String> {
        self.state(id)
            .and_then(|s| s["status"].as_str().map(str::to_string))
    }

    /// Waits up to 10 s for a container to reach `status`.
    pub fn wait_status(&self, id: &str, status: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.status(id).as_deref() == Some(status) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "container {id} did not become {status}: {:?}",
            self.state(id)
        );
    }

    /// `create` + `start` of a bundle (detached, stdio to /dev/null).
    pub fn start_detached(&self, bundle: &Path, id: &str) -> i32 {
        let out = self.exec(&["create", "--bundle", bundle.to_str().unwrap(), id]);
        assert!(out.status.success(), "create {id}: {}", crate::stderr(&out));
        let out = self.exec(&["start", id]);
        assert!(out.status.success(), "start {id}: {}", crate::stderr(&out));
        self.state(id).expect("state")["pid"].as_i64().unwrap() as i32
    }

    /// Deletes a container, forcefully; ignores errors (cleanup).
    pub fn force_delete(&self, id: &str) {
        let _ = self.exec(&["delete", "--force", id]);
    }
}

/// A fresh file name next to the runtime's state (outside it: `list` reads
/// every entry of the root).
fn tempfile_in(root: &Path, what: &str) -> PathBuf {
    root.with_file_name(format!(
        "{}.{what}.{}",
        root.file_name().unwrap().to_string_lossy(),
        unique_name("io")
    ))
}

/// A container id with the test prefix.
pub fn container_id(what: &str) -> String {
    unique_name(what)
}

/// The host cgroup dirs of `/berth/<id>` in the v1 hierarchies.
pub fn default_cgroup_dirs(id: &str) -> Vec<PathBuf> {
    ["memory", "pids", "cpu", "freezer", "devices", "blkio"]
        .iter()
        .map(|c| PathBuf::from(format!("/sys/fs/cgroup/{c}/berth/{id}")))
        .collect()
}

/// Deletes containers on drop, so a failing test leaves nothing behind.
pub struct Cleanup<'a> {
    pub runtime: &'a Runtime,
    pub ids: Vec<String>,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        for id in &self.ids {
            self.runtime.force_delete(id);
        }
    }
}

/// Receives one fd sent with SCM_RIGHTS (the console socket protocol).
pub fn recv_fd(sock: &std::os::unix::net::UnixStream) -> std::os::fd::OwnedFd {
    let mut buf = [0u8; 1024];
    recv_fd_with_payload(sock, &mut buf).0
}

/// Receives one message carrying an fd (SCM_RIGHTS) and its payload into
/// `buf` (a seccomp agent gets the container's state this way); the fd and
/// the payload's length.
pub fn recv_fd_with_payload(
    sock: &std::os::unix::net::UnixStream,
    buf: &mut [u8],
) -> (std::os::fd::OwnedFd, usize) {
    use std::os::fd::{AsRawFd, FromRawFd};
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let space = unsafe { libc::CMSG_SPACE(4) } as usize;
    let mut cbuf = vec![0u8; space];
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = space;
    let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
    assert!(n >= 0, "recvmsg: {}", std::io::Error::last_os_error());
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        assert!(!cmsg.is_null(), "no fd received");
        let fd = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg) as *const i32);
        (std::os::fd::OwnedFd::from_raw_fd(fd), n as usize)
    }
}

/// Removes a test file's shared cgroup parent (`/<name>` in every mounted
/// hierarchy) once the last test of this process that uses it is done.
///
/// Tests of one file run in parallel under one parent: removing the parent
/// as soon as one test ends raced another test's `mkdir` of its container's
/// cgroup below it (runc's `mkdir .../bt-cli/ID: no such file or
/// directory`). So every test holds a guard, the guards are counted per
/// parent, and only the last one's drop removes it.
pub struct CgroupParentCleanup(String);

/// How many live guards each parent has in this test process.
static CGROUP_PARENT_USERS: std::sync::Mutex<Vec<(String, usize)>> =
    std::sync::Mutex::new(Vec::new());

impl CgroupParentCleanup {
    pub fn new(name: &str) -> Self {
        let mut users = CGROUP_PARENT_USERS
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        match users.iter_mut().find(|(n, _)| n == name) {
            Some((_, count)) => *count += 1,
            None => users.push((name.to_string(), 1)),
        }
        CgroupParentCleanup(name.to_string())
    }
}

impl Drop for CgroupParentCleanup {
    fn drop(&mut self) {
        let mut users = CGROUP_PARENT_USERS
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let Some(i) = users.iter().position(|(n, _)| *n == self.0) else {
            return;
        };
        users[i].1 -= 1;
        if users[i].1 > 0 {
            return;
        }
        users.swap_remove(i);
        // Removed while the lock is held, so no new guard's test can be
        // creating a cgroup below it meanwhile.
        if let Ok(entries) = std::fs::read_dir("/sys/fs/cgroup") {
            for e in entries.flatten() {
                let _ = std::fs::remove_dir(e.path().join(&self.0));
            }
        }
    }
}
