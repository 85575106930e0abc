//! The `cgroup` mount type of config.json: what a container sees at
//! /sys/fs/cgroup. Like runc: on a v1 (or hybrid) host, a tmpfs with one
//! entry per v1 hierarchy (a hybrid host's cgroup2 mount is left out, as
//! runc does); on a v2 host, one cgroup2 mount. With a cgroup namespace
//! each entry is a fresh cgroup file-system mount, which the kernel roots at
//! the namespace's cgroup; without one, each is a bind mount of the
//! container's own cgroup directory, so either way the container sees its
//! cgroup (its limits) at the top, never the host's root.

use std::os::fd::AsRawFd;

use berth_oci::Mount;

use crate::error::{Context, Error, Result};
use crate::in_root::RootDir;
use crate::mounts::{remount_bind, MountContext, MountOptions};
use crate::sys;

/// One cgroup hierarchy mounted on the host.
#[derive(Debug, PartialEq)]
pub struct HostHierarchy {
    /// Directory name under /sys/fs/cgroup (`memory`, `cpu,cpuacct`, `unified`).
    pub name: String,
    /// `cgroup` or `cgroup2`.
    pub fstype: String,
    /// The super options naming the controllers (`cpu`, `name=systemd`).
    pub controllers: String,
}

/// Parses /proc/self/mountinfo for cgroup mounts under /sys/fs/cgroup.
pub fn host_hierarchies(mountinfo: &str) -> Vec<HostHierarchy> {
    let mut out = Vec::new();
    for line in mountinfo.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let mount_point = left.split(' ').nth(4).unwrap_or("");
        let mut r = right.split(' ');
        let fstype = r.next().unwrap_or("");
        let _source = r.next();
        let super_opts = r.next().unwrap_or("");
        if fstype != "cgroup" && fstype != "cgroup2" {
            continue;
        }
        let name = if mount_point == "/sys/fs/cgroup" {
            String::new()
        } else if let Some(n) = mount_point.strip_prefix("/sys/fs/cgroup/") {
            // A hybrid host's cgroup2 mount (`unified`) is not shown to
            // containers: runc does not, and no v1 tool reads it.
            if fstype == "cgroup2" {
                continue;
            }
            n.to_string()
        } else {
            continue;
        };
        let controllers = super_opts
            .split(',')
            .filter(|o| !matches!(*o, "rw" | "ro") && !o.starts_with("nsdelegate"))
            .collect::<Vec<_>>()
            .join(",");
        out.push(HostHierarchy {
            name,
            fstype: fstype.to_string(),
            controllers,
        });
    }
    out
}

/// Mounts the cgroup file systems at `m.destination` inside `root`.
pub fn mount_cgroup_fs(
    m: &Mount,
    opts: &MountOptions,
    root: &RootDir,
    ctx: &MountContext,
) -> Result<()> {
    let what = || {
        format!(
            "mount cgroup on {} in {}",
            m.destination,
            root.path().display()
        )
    };
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")
        .context(|| "read /proc/self/mountinfo".into())?;
    let hierarchies = host_hierarchies(&mountinfo);
    let target = root.create_dir_all(&m.destination).context(what)?;
    let target_path = sys::fd_path(target.as_raw_fd());
    let flags = opts.flags & !libc::MS_REMOUNT;
    // The host dir to bind for a hierarchy when there is no cgroup namespace.
    let own_dir = |name: &str| -> Option<std::path::PathBuf> {
        let rel = ctx.cgroup.filter(|_| !ctx.cgroupns)?;
        let dir = std::path::Path::new("/sys/fs/cgroup").join(name).join(rel);
        dir.is_dir().then_some(dir)
    };
    if hierarchies
        .iter()
        .any(|h| h.name.is_empty() && h.fstype == "cgroup2")
    {
        return match own_dir("") {
            Some(dir) => bind_one(&dir, &target_path, flags, root, &m.destination),
            None => mount_one(&target_path, "cgroup2", flags, ""),
        }
        .context(what);
    }
    if hierarchies.is_empty() {
        return Err(Error::Invalid(format!(
            "{}: the host has no cgroup mounts",
            what()
        )));
    }
    sys::mount(
        Some(c"tmpfs"),
        &target_path,
        Some(c"tmpfs"),
        (flags & !libc::MS_RDONLY) | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
        Some(c"mode=755"),
    )
    .context(what)?;
    for h in &hierarchies {
        let rel = format!("{}/{}", m.destination.trim_end_matches('/'), h.name);
        let dir = root.create_dir_all(&rel).context(what)?;
        let p = sys::fd_path(dir.as_raw_fd());
        match own_dir(&h.name) {
            Some(host_dir) => bind_one(&host_dir, &p, flags, root, &rel),
            None => mount_one(&p, &h.fstype, flags, &h.controllers),
        }
        .context(|| format!("mount {} cgroup hierarchy on {rel}", h.name))?;
    }
    if flags & libc::MS_RDONLY != 0 {
        // Resolve again: the fd above is the directory under the new tmpfs.
        let mounted = root.resolve(&m.destination).context(what)?;
        remount_bind(&sys::fd_path(mounted.as_raw_fd()), libc::MS_RDONLY, 0).context(what)?;
    }
    Ok(())
}

/// Binds a host cgroup dir on `target`, then applies the mount's flags
/// (read-only, nosuid...) to the new mount, found again through `root` by
/// its path `rel` (an fd of the mount point names the covered directory).
fn bind_one(
    dir: &std::path::Path,
    target: &std::ffi::CStr,
    flags: libc::c_ulong,
    root: &RootDir,
    rel: &str,
) -> std::io::Result<()> {
    let src = sys::cstr(dir)?;
    sys::mount(Some(&src), target, None, libc::MS_BIND, None)?;
    if flags != 0 {
        let mounted = root.resolve(rel)?;
        remount_bind(&sys::fd_path(mounted.as_raw_fd()), flags & !libc::MS_REC, 0)?;
    }
    Ok(())
}

fn mount_one(
    target: &std::ffi::CStr,
    fstype: &str,
    flags: libc::c_ulong,
    data: &str,
) -> std::io::Result<()> {
    let fstype = sys::cstr(fstype)?;
    let data = sys::cstr(data)?;
    sys::mount(
        Some(&fstype),
        target,
        Some(&fstype),
        flags,
        (!data.as_bytes().is_empty()).then_some(data.as_c_str()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_v1_and_unified_hierarchies() {
        let mi = "\
30 25 0:26 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
31 30 0:27 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
32 30 0:28 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd
33 30 0:29 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw,nsdelegate
40 25 0:30 / /mnt/other rw - cgroup cgroup rw,memory
";
        let h = host_hierarchies(mi);
        assert_eq!(h.len(), 2);
        assert_eq!(h[0].name, "cpu");
        assert_eq!(h[0].controllers, "cpu");
        assert_eq!(h[1].controllers, "name=systemd");
        let v2 =
            host_hierarchies("33 30 0:29 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n");
        assert_eq!(v2.len(), 1);
        assert_eq!(
            (v2[0].name.as_str(), v2[0].fstype.as_str()),
            ("", "cgroup2")
        );
    }
}
