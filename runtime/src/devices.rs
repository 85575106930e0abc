//! Device nodes in the container's /dev: the default set every container gets
//! (runtime-spec `config-linux.md#default-devices`), the spec's
//! `linux.devices`, and the standard /dev symlinks. Nodes are made with
//! mknodat on a parent resolved inside the rootfs; in a user namespace,
//! where mknod is not allowed, the host's node is bind-mounted instead (as runc).

use std::os::fd::AsRawFd;

use berth_oci::LinuxDevice;

use crate::error::{Context, Error, Result};
use crate::in_root::RootDir;
use crate::sys;

/// A device node to make.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceNode {
    pub path: String,
    pub kind: libc::mode_t,
    pub major: u32,
    pub minor: u32,
    pub mode: libc::mode_t,
    pub uid: u32,
    pub gid: u32,
}

/// The devices the spec says every container has.
pub fn default_devices() -> Vec<DeviceNode> {
    [
        ("/dev/null", 1, 3),
        ("/dev/zero", 1, 5),
        ("/dev/full", 1, 7),
        ("/dev/random", 1, 8),
        ("/dev/urandom", 1, 9),
        ("/dev/tty", 5, 0),
    ]
    .into_iter()
    .map(|(path, major, minor)| DeviceNode {
        path: path.into(),
        kind: libc::S_IFCHR,
        major,
        minor,
        mode: 0o666,
        uid: 0,
        gid: 0,
    })
    .collect()
}

/// A `linux.devices` entry as a node, with the spec's checks.
pub fn from_spec(d: &LinuxDevice) -> Result<DeviceNode> {
    let kind = match d.kind.as_str() {
        "c" | "u" => libc::S_IFCHR,
        "b" => libc::S_IFBLK,
        "p" => libc::S_IFIFO,
        other => {
            return Err(Error::Invalid(format!(
                "device {}: unknown type {other:?} (want c, u, b or p)",
                d.path
            )))
        }
    };
    if !d.path.starts_with("/dev/") {
        return Err(Error::Invalid(format!(
            "device {}: path must be under /dev",
            d.path
        )));
    }
    let num = |v: i64, what: &str| {
        u32::try_from(v)
            .map_err(|_| Error::Invalid(format!("device {}: invalid {what} number {v}", d.path)))
    };
    Ok(DeviceNode {
        path: d.path.clone(),
        kind,
        major: num(d.major, "major")?,
        minor: num(d.minor, "minor")?,
        mode: d.file_mode.unwrap_or(0o666) & 0o7777,
        uid: d.uid.unwrap_or(0),
        gid: d.gid.unwrap_or(0),
    })
}

/// Makes `devices` inside `root`. `bind` selects bind mounts of the host's
/// nodes over empty files (for user namespaces).
pub fn create(root: &RootDir, devices: &[DeviceNode], bind: bool) -> Result<()> {
    for d in devices {
        let what = || format!("create device {} in {}", d.path, root.path().display());
        if bind {
            let target = root.create_file(&d.path, 0o644).context(what)?;
            let src = sys::cstr(&d.path).context(what)?;
            sys::mount(
                Some(&src),
                &sys::fd_path(target.as_raw_fd()),
                None,
                libc::MS_BIND,
                None,
            )
            .context(what)?;
            continue;
        }
        let (parent, name) = root.parent_of(&d.path).context(what)?;
        // Replace whatever the image put there (runc does the same).
        unsafe { libc::unlinkat(parent.as_raw_fd(), name.as_ptr(), 0) };
        let dev = libc::makedev(d.major, d.minor);
        sys::check(unsafe {
            libc::mknodat(parent.as_raw_fd(), name.as_ptr(), d.kind | d.mode, dev)
        })
        .context(what)?;
        // mknod is subject to the umask; set the exact mode and owner.
        sys::check(unsafe { libc::fchmodat(parent.as_raw_fd(), name.as_ptr(), d.mode, 0) })
            .context(what)?;
        sys::check(unsafe {
            libc::fchownat(
                parent.as_raw_fd(),
                name.as_ptr(),
                d.uid,
                d.gid,
                libc::AT_SYMLINK_NOFOLLOW,
            )
        })
        .context(what)?;
    }
    Ok(())
}

/// The /dev symlinks of the spec's default environment.
pub fn create_symlinks(root: &RootDir) -> Result<()> {
    for (target, link) in [
        ("/proc/self/fd", "/dev/fd"),
        ("/proc/self/fd/0", "/dev/stdin"),
        ("/proc/self/fd/1", "/dev/stdout"),
        ("/proc/self/fd/2", "/dev/stderr"),
        ("pts/ptmx", "/dev/ptmx"),
    ] {
        let what = || format!("symlink {link} -> {target} in {}", root.path().display());
        let (parent, name) = root.parent_of(link).context(what)?;
        let t = sys::cstr(target).context(what)?;
        let r = unsafe { libc::symlinkat(t.as_ptr(), parent.as_raw_fd(), name.as_ptr()) };
        if r < 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EEXIST) {
                return Err(e).context(what);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_devices_are_checked() {
        let mut d = LinuxDevice {
            path: "/dev/fuse".into(),
            kind: "c".into(),
            major: 10,
            minor: 229,
            file_mode: Some(0o620),
            uid: Some(1),
            gid: None,
        };
        let n = from_spec(&d).unwrap();
        assert_eq!(
            (n.major, n.minor, n.mode, n.uid, n.gid),
            (10, 229, 0o620, 1, 0)
        );
        d.kind = "x".into();
        assert!(from_spec(&d)
            .unwrap_err()
            .to_string()
            .contains("unknown type"));
        d.kind = "b".into();
        d.path = "/etc/evil".into();
        assert!(from_spec(&d)
            .unwrap_err()
            .to_string()
            .contains("under /dev"));
        d.path = "/dev/x".into();
        d.major = -1;
        assert!(from_spec(&d).unwrap_err().to_string().contains("major"));
    }
}
