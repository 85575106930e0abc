//! The infra process: `berth-pause` started in the pod's new namespaces.
//!
//! berthd is multi-threaded, so the namespaces are made in the forked child
//! before exec (`pre_exec`), where only async-signal-safe calls are made:
//! `setsid`, `unshare`, `sethostname`, and `open`/`write` of the sysctl
//! files (whose paths and values are prepared before the fork). A sysctl
//! under /proc/sys/net or /proc/sys/kernel written after `unshare` applies
//! to the new namespace only (kernel Documentation/admin-guide/sysctl).
//! A failure there is reported by `spawn` as that call's errno.

use super::PodError;
use std::ffi::CString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The namespaces and settings an infra process starts with.
#[derive(Debug, Clone, Default)]
pub struct InfraSpec {
    pub new_net: bool,
    pub new_ipc: bool,
    pub new_uts: bool,
    /// Set in the new UTS namespace.
    pub hostname: Option<String>,
    /// `net.ipv4.ip_forward` = `1`: already checked by [`check_sysctls`].
    pub sysctls: Vec<(String, String)>,
}

/// Sysctls a pod may set: those the kernel keeps per network or IPC
/// namespace (kubelet's "namespaced" list), and only when the pod has that
/// namespace of its own; the file must exist on this kernel.
pub fn check_sysctls(
    sysctls: &[(String, String)],
    own_net: bool,
    own_ipc: bool,
) -> Result<(), PodError> {
    for (key, value) in sysctls {
        let path = sysctl_path(key);
        let rel = path.strip_prefix("/proc/sys").unwrap_or(&path);
        let name = rel.to_string_lossy();
        let ipc = name.starts_with("kernel/shm")
            || name.starts_with("kernel/msg")
            || name == "kernel/sem"
            || name.starts_with("fs/mqueue/");
        let net = name.starts_with("net/");
        let allowed = (net && own_net) || (ipc && own_ipc);
        if !allowed {
            return Err(PodError::InvalidArgument(format!(
                "sysctl {key:?} is not namespaced for this pod (only net.* with the pod's own network namespace and kernel.shm*/msg*/sem, fs.mqueue.* with its own IPC namespace)"
            )));
        }
        if key.contains("..") || !path.exists() {
            return Err(PodError::InvalidArgument(format!(
                "sysctl {key:?}: no {} on this kernel",
                path.display()
            )));
        }
        if value.contains('\0') {
            return Err(PodError::InvalidArgument(format!(
                "sysctl {key:?}: value contains a NUL byte"
            )));
        }
    }
    Ok(())
}

/// `/proc/sys/<key>` with dots as separators (or slashes, as sysctl(8) takes).
fn sysctl_path(key: &str) -> PathBuf {
    let rel = if key.contains('/') {
        key.to_string()
    } else {
        key.replace('.', "/")
    };
    Path::new("/proc/sys").join(rel.trim_start_matches('/'))
}

/// Starts `binary` (berth-pause) as described: its own session, stdio on
/// /dev/null. The caller keeps the child to reap it.
pub fn start(binary: &Path, spec: &InfraSpec) -> Result<Child, PodError> {
    let mut flags = 0;
    if spec.new_net {
        flags |= libc::CLONE_NEWNET;
    }
    if spec.new_ipc {
        flags |= libc::CLONE_NEWIPC;
    }
    if spec.new_uts {
        flags |= libc::CLONE_NEWUTS;
    }
    let hostname = spec.hostname.clone().filter(|_| spec.new_uts);
    let sysctls: Vec<(CString, Vec<u8>)> = spec
        .sysctls
        .iter()
        .map(|(k, v)| {
            let path = CString::new(sysctl_path(k).into_os_string().into_encoded_bytes())
                .map_err(|_| PodError::InvalidArgument(format!("sysctl {k:?}: bad name")))?;
            Ok((path, v.as_bytes().to_vec()))
        })
        .collect::<Result<_, PodError>>()?;
    let mut cmd = Command::new(binary);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: only async-signal-safe calls on data prepared before the fork.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setsid() < 0 || (flags != 0 && libc::unshare(flags) != 0) {
                return Err(std::io::Error::last_os_error());
            }
            if let Some(name) = &hostname {
                if libc::sethostname(name.as_ptr().cast(), name.len()) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            for (path, value) in &sysctls {
                let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                if fd < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                let n = libc::write(fd, value.as_ptr().cast(), value.len());
                libc::close(fd);
                if n < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    cmd.spawn()
        .map_err(PodError::io("start infra process", binary))
}

/// The start time (clock ticks after boot, field 22 of /proc/PID/stat) of
/// a live, non-zombie process `pid`.
pub fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields follow the
    // last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    let state = fields.next()?;
    if state == "Z" || state == "X" {
        return None;
    }
    // rest starts at field 3; field 22 is 19 further.
    fields.nth(18)?.parse().ok()
}

/// Whether `pid` is still the process that started at `start`.
pub fn is_alive(pid: u32, start: u64) -> bool {
    start_time(pid) == Some(start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysctls_must_be_namespaced_for_the_pod() {
        let s = |k: &str| vec![(k.to_string(), "1".to_string())];
        check_sysctls(&s("net.ipv4.ip_forward"), true, false).unwrap();
        check_sysctls(&s("net/ipv4/ip_forward"), true, false).unwrap();
        assert!(check_sysctls(&s("net.ipv4.ip_forward"), false, true).is_err());
        check_sysctls(&s("kernel.shmmax"), false, true).unwrap();
        let e = check_sysctls(&s("kernel.hostname"), true, true).unwrap_err();
        assert!(e.to_string().contains("not namespaced"), "{e}");
        let e = check_sysctls(&s("net.ipv4.no_such_thing"), true, true).unwrap_err();
        assert!(
            e.to_string()
                .contains("no /proc/sys/net/ipv4/no_such_thing"),
            "{e}"
        );
    }

    #[test]
    fn start_time_reads_this_process() {
        let me = std::process::id();
        let t = start_time(me).unwrap();
        assert!(is_alive(me, t));
        assert!(!is_alive(me, t + 1));
        assert_eq!(start_time(u32::MAX - 1), None);
    }
}
