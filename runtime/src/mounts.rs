//! One entry of config.json's `mounts`: its options split into mount(2)
//! flags, propagation changes and file-system data, and the mount itself done
//! onto an fd resolved safely inside the rootfs ([`crate::in_root`]).

use std::ffi::CString;
use std::os::fd::AsRawFd;
use std::path::Path;

use berth_oci::Mount;

use crate::error::{Context, Error, Result};
use crate::in_root::RootDir;
use crate::sys;

/// A mount's options, parsed (mount(8)'s option names).
#[derive(Debug, Default, PartialEq)]
pub struct MountOptions {
    /// Flags to set.
    pub flags: libc::c_ulong,
    /// Flags explicitly cleared (`rw`, `suid`, ...), for remounts.
    pub cleared: libc::c_ulong,
    /// Propagation changes (`rprivate`, `shared`, ...) applied after the mount.
    pub propagation: Vec<libc::c_ulong>,
    /// Everything else, comma-joined: the file system's own data (`mode=755`).
    pub data: String,
    /// `bind` or `rbind` was given.
    pub bind: bool,
    /// `rbind`: bind the whole subtree.
    pub recursive: bool,
    /// `MOUNT_ATTR_*` set on the mount and every mount below it (`rro`,
    /// `rnosuid`, ...: runc 1.1's recursive options), by mount_setattr(2)
    /// with AT_RECURSIVE after the mount. Plain `ro` on an `rbind` makes
    /// only the top mount read-only, as with runc.
    pub recursive_set: u64,
    /// `MOUNT_ATTR_*` cleared the same way (`rrw`, `rsuid`, ...).
    pub recursive_clear: u64,
}

/// mount_setattr(2)'s attribute bits (linux/mount.h).
const MOUNT_ATTR_RDONLY: u64 = 0x1;
const MOUNT_ATTR_NOSUID: u64 = 0x2;
const MOUNT_ATTR_NODEV: u64 = 0x4;
const MOUNT_ATTR_NOEXEC: u64 = 0x8;

/// `struct mount_attr` of mount_setattr(2).
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// Sets and clears `MOUNT_ATTR_*` on the mount at `fd` and all below it.
fn set_recursive_attrs(fd: std::os::fd::RawFd, set: u64, clear: u64) -> std::io::Result<()> {
    const AT_RECURSIVE: libc::c_uint = 0x8000;
    let attr = MountAttr {
        attr_set: set,
        attr_clr: clear,
        propagation: 0,
        userns_fd: 0,
    };
    sys::check_long(unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd,
            c"".as_ptr(),
            libc::AT_EMPTY_PATH as libc::c_uint | AT_RECURSIVE,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    })
    .map(drop)
}

impl MountOptions {
    /// Parses a mount's option list. Unknown options are file-system data.
    pub fn parse(options: &[String]) -> Result<MountOptions> {
        let mut o = MountOptions::default();
        let mut data = Vec::new();
        for opt in options {
            let (set, clear): (libc::c_ulong, libc::c_ulong) = match opt.as_str() {
                "defaults" => (0, 0),
                "ro" => (libc::MS_RDONLY, 0),
                "rw" => (0, libc::MS_RDONLY),
                "suid" => (0, libc::MS_NOSUID),
                "nosuid" => (libc::MS_NOSUID, 0),
                "dev" => (0, libc::MS_NODEV),
                "nodev" => (libc::MS_NODEV, 0),
                "exec" => (0, libc::MS_NOEXEC),
                "noexec" => (libc::MS_NOEXEC, 0),
                "sync" => (libc::MS_SYNCHRONOUS, 0),
                "async" => (0, libc::MS_SYNCHRONOUS),
                "dirsync" => (libc::MS_DIRSYNC, 0),
                "remount" => (libc::MS_REMOUNT, 0),
                "mand" => (libc::MS_MANDLOCK, 0),
                "nomand" => (0, libc::MS_MANDLOCK),
                "atime" => (0, libc::MS_NOATIME),
                "noatime" => (libc::MS_NOATIME, 0),
                "diratime" => (0, libc::MS_NODIRATIME),
                "nodiratime" => (libc::MS_NODIRATIME, 0),
                "relatime" => (libc::MS_RELATIME, 0),
                "norelatime" => (0, libc::MS_RELATIME),
                "strictatime" => (libc::MS_STRICTATIME, 0),
                "nostrictatime" => (0, libc::MS_STRICTATIME),
                "lazytime" => (libc::MS_LAZYTIME, 0),
                "nolazytime" => (0, libc::MS_LAZYTIME),
                "silent" => (libc::MS_SILENT, 0),
                "loud" => (0, libc::MS_SILENT),
                "bind" => {
                    o.bind = true;
                    (0, 0)
                }
                "rbind" => {
                    o.bind = true;
                    o.recursive = true;
                    (0, 0)
                }
                "private" => {
                    o.propagation.push(libc::MS_PRIVATE);
                    (0, 0)
                }
                "rprivate" => {
                    o.propagation.push(libc::MS_PRIVATE | libc::MS_REC);
                    (0, 0)
                }
                "shared" => {
                    o.propagation.push(libc::MS_SHARED);
                    (0, 0)
                }
                "rshared" => {
                    o.propagation.push(libc::MS_SHARED | libc::MS_REC);
                    (0, 0)
                }
                "slave" => {
                    o.propagation.push(libc::MS_SLAVE);
                    (0, 0)
                }
                "rslave" => {
                    o.propagation.push(libc::MS_SLAVE | libc::MS_REC);
                    (0, 0)
                }
                "unbindable" => {
                    o.propagation.push(libc::MS_UNBINDABLE);
                    (0, 0)
                }
                "runbindable" => {
                    o.propagation.push(libc::MS_UNBINDABLE | libc::MS_REC);
                    (0, 0)
                }
                "idmap" | "ridmap" => {
                    return Err(Error::NotImplemented(format!(
                        "id-mapped mounts (mount option {opt:?})"
                    )))
                }
                // As runc 1.1 collects them: the set and the clear bits
                // independently, never one cancelling the other, so
                // `rro,rrw` in either order asks mount_setattr for both and
                // the kernel's "set" wins (read-only).
                "rro" | "rnosuid" | "rnodev" | "rnoexec" => {
                    o.recursive_set |= recursive_bit(opt);
                    (0, 0)
                }
                "rrw" | "rsuid" | "rdev" | "rexec" => {
                    o.recursive_clear |= recursive_bit(opt);
                    (0, 0)
                }
                // runc extensions we accept and ignore where they change nothing here.
                "tmpcopyup" => (0, 0),
                other => {
                    data.push(other.to_string());
                    (0, 0)
                }
            };
            o.flags = (o.flags | set) & !clear;
            o.cleared = (o.cleared | clear) & !set;
        }
        o.data = data.join(",");
        Ok(o)
    }
}

/// The `MOUNT_ATTR_*` bit of a recursive option (`rro`/`rrw` -> RDONLY).
fn recursive_bit(opt: &str) -> u64 {
    match opt {
        "rro" | "rrw" => MOUNT_ATTR_RDONLY,
        "rnosuid" | "rsuid" => MOUNT_ATTR_NOSUID,
        "rnodev" | "rdev" => MOUNT_ATTR_NODEV,
        _ => MOUNT_ATTR_NOEXEC,
    }
}

/// Rootfs-relative description of where a mount goes, for messages.
fn describe(m: &Mount, root: &RootDir) -> String {
    format!(
        "mount {} on {} in {}",
        m.source
            .as_deref()
            .unwrap_or(m.kind.as_deref().unwrap_or("none")),
        m.destination,
        root.path().display()
    )
}

/// What mounts need to know besides the entry itself.
pub struct MountContext<'a> {
    /// Anchors relative bind sources.
    pub bundle: &'a Path,
    /// The container's cgroup below each hierarchy's root (`berth/<id>`).
    pub cgroup: Option<&'a str>,
    /// Whether the container has its own cgroup namespace.
    pub cgroupns: bool,
    /// Bind sources opened by the runtime, by `mounts` index
    /// ([`send_bind_sources`]); empty when it opened none.
    pub source_fds: &'a [Option<std::os::fd::OwnedFd>],
}

/// Whether a spec entry is a bind mount (a `bind`/`rbind` option, or type
/// `bind`).
fn is_bind(m: &Mount) -> bool {
    m.kind.as_deref() == Some("bind") || m.options.iter().any(|o| o == "bind" || o == "rbind")
}

/// Whether the runtime opens the bind mount sources for the init (runc
/// 1.1's `shouldSendMountSources`): a new user namespace and a new mount
/// namespace, the runtime running as root, and some bind mount. The init,
/// root in the user namespace but not on the host, may not reach a source
/// below a directory only host root can enter; it mounts through the
/// runtime's fds instead ([`send_bind_sources`]). Otherwise (no user
/// namespace, or rootless) the init stats and mounts the paths itself, as
/// runc's does. runc also opens them for a mount namespace joined by path;
/// berth-runtime's init resolves the paths there.
pub fn runtime_opens_bind_sources(spec: &berth_oci::Spec) -> bool {
    use berth_oci::NamespaceType;
    spec.namespace(NamespaceType::User)
        .is_some_and(|n| n.path.is_none())
        && spec
            .namespace(NamespaceType::Mount)
            .is_some_and(|n| n.path.is_none())
        && unsafe { libc::geteuid() } == 0
        && spec.mounts.iter().any(is_bind)
}

/// The parent's side: opens every bind source `O_PATH`, as host root, in
/// the init's new mount namespace (a bind mount's source must be in the
/// mount namespace it is mounted in, so the runtime enters it for the
/// opens and comes back, as runc's `send_mountsources`), and sends them to
/// the init over the sync socket, one message per bind mount, in order.
/// Called before the init is let go, while its namespace is still the
/// copy of the caller's.
pub fn send_bind_sources(
    spec: &berth_oci::Spec,
    bundle: &Path,
    init_pid: libc::pid_t,
    sock: std::os::fd::RawFd,
) -> Result<()> {
    let ours = sys::open("/proc/self/ns/mnt", libc::O_RDONLY, 0)
        .context(|| "open the runtime's mount namespace".into())?;
    let theirs = sys::open(format!("/proc/{init_pid}/ns/mnt"), libc::O_RDONLY, 0)
        .context(|| "open the container's mount namespace".into())?;
    sys::setns(theirs.as_raw_fd(), libc::CLONE_NEWNS)
        .context(|| "enter the container's mount namespace".into())?;
    let opened: Vec<Result<std::os::fd::OwnedFd>> = spec
        .mounts
        .iter()
        .filter(|m| is_bind(m))
        .map(|m| {
            let source = bind_source(m, bundle)?;
            sys::open(&source, libc::O_PATH, 0)
                .context(|| format!("open bind mount source {}", source.display()))
        })
        .collect();
    // Back before anything else can fail: the runtime must not stay in
    // the container's namespace.
    sys::setns(ours.as_raw_fd(), libc::CLONE_NEWNS)
        .context(|| "return to the runtime's mount namespace".into())?;
    for fd in opened {
        sys::send_fd(sock, fd?.as_raw_fd(), b"m")
            .context(|| "send a bind mount source to the container's init".into())?;
    }
    Ok(())
}

/// The init's side of [`send_bind_sources`]: the fds by `mounts` index
/// (`None` for entries that are not bind mounts).
pub fn recv_bind_sources(
    spec: &berth_oci::Spec,
    sock: std::os::fd::RawFd,
) -> Result<Vec<Option<std::os::fd::OwnedFd>>> {
    spec.mounts
        .iter()
        .map(|m| {
            if !is_bind(m) {
                return Ok(None);
            }
            sys::recv_fd(sock)
                .map(Some)
                .context(|| "receive a bind mount source from the runtime".into())
        })
        .collect()
}

/// Mounts one spec entry inside `root`; `source_fd` is its bind source
/// opened by the runtime ([`send_bind_sources`]), if it was.
pub fn mount_entry(
    m: &Mount,
    source_fd: Option<std::os::fd::RawFd>,
    root: &RootDir,
    ctx: &MountContext,
) -> Result<()> {
    let bundle = ctx.bundle;
    let opts = MountOptions::parse(&m.options)?;
    let kind = m.kind.as_deref().unwrap_or("");
    let is_bind = opts.bind || kind == "bind";
    if kind == "cgroup" || kind == "cgroup2" {
        return crate::cgroup_mount::mount_cgroup_fs(m, &opts, root, ctx);
    }
    let what = || describe(m, root);
    // Through the runtime's fd (/proc/self/fd/N) when it has one, as runc.
    let source = match (is_bind, source_fd) {
        (false, _) => None,
        (true, Some(fd)) => Some(std::path::PathBuf::from(format!("/proc/self/fd/{fd}"))),
        (true, None) => Some(bind_source(m, bundle)?),
    };
    let target = if let Some(source) = &source {
        let meta = std::fs::metadata(source).context(|| format!("{}: stat source", what()))?;
        if meta.is_dir() {
            root.create_dir_all(&m.destination)
        } else {
            root.create_file(&m.destination, 0o644)
        }
        .context(|| format!("{}: create mount point", what()))?
    } else {
        match root.create_dir_all(&m.destination) {
            Ok(fd) => fd,
            // A file (or a symlink to one) where proc or sysfs goes: runc's
            // words, as for a symlink below.
            Err(e)
                if e.raw_os_error() == Some(libc::ENOTDIR) && matches!(kind, "proc" | "sysfs") =>
            {
                return Err(Error::Invalid(format!(
                    "{}: filesystem {kind:?} must be mounted on ordinary directory (the mount point is not a directory)",
                    what()
                )));
            }
            Err(e) => return Err(e).context(|| format!("{}: create mount point", what())),
        }
    };
    // proc and sysfs must be mounted exactly where they are asked for: a
    // symlinked /proc (`proc -> /`) would put them over the whole rootfs.
    if matches!(kind, "proc" | "sysfs")
        && !root
            .is_exactly(target.as_raw_fd(), &m.destination)
            .context(what)?
    {
        // runc's words, so scripts matching them work with both.
        return Err(Error::Invalid(format!(
            "{}: filesystem {kind:?} must be mounted on ordinary directory (the mount point is a symlink)",
            what()
        )));
    }
    let target_path = sys::fd_path(target.as_raw_fd());
    if let Some(source) = &source {
        let source = sys::cstr(source).context(what)?;
        let mut flags = libc::MS_BIND;
        if opts.recursive {
            flags |= libc::MS_REC;
        }
        sys::mount(Some(&source), &target_path, None, flags, None).context(what)?;
        // The kernel ignores other flags on the first bind: set them by a
        // remount, keeping the flags the source mount has locked (nosuid,
        // nodev, noexec in a user namespace).
        let wanted = opts.flags & !libc::MS_REMOUNT;
        if wanted != 0 || opts.cleared != 0 {
            // Resolve again: `target` is the directory under the new mount.
            let mounted = root.resolve(&m.destination).context(what)?;
            remount_bind(&sys::fd_path(mounted.as_raw_fd()), wanted, opts.cleared).context(what)?;
        }
    } else {
        let source = CString::new(m.source.as_deref().unwrap_or(kind))
            .map_err(|_| Error::Invalid(format!("{}: source contains a NUL byte", what())))?;
        let fstype = CString::new(kind)
            .map_err(|_| Error::Invalid(format!("{}: type contains a NUL byte", what())))?;
        let data = CString::new(opts.data.as_str())
            .map_err(|_| Error::Invalid(format!("{}: options contain a NUL byte", what())))?;
        let flags = match read_only_later(m) {
            true => opts.flags & !libc::MS_RDONLY,
            false => opts.flags,
        };
        sys::mount(
            Some(&source),
            &target_path,
            Some(&fstype),
            flags,
            (!opts.data.is_empty()).then_some(data.as_c_str()),
        )
        .context(what)?;
    }
    if opts.recursive_set != 0 || opts.recursive_clear != 0 {
        let mounted = root.resolve(&m.destination).context(what)?;
        set_recursive_attrs(
            mounted.as_raw_fd(),
            opts.recursive_set,
            opts.recursive_clear,
        )
        .context(|| format!("{}: mount_setattr (recursive options)", what()))?;
    }
    // Propagation is set on the new mount: reopen the target, which now
    // resolves to the mount's root.
    if !opts.propagation.is_empty() {
        let mounted = root.resolve(&m.destination).context(what)?;
        let p = sys::fd_path(mounted.as_raw_fd());
        for flag in &opts.propagation {
            sys::mount(None, &p, None, *flag, None).context(what)?;
        }
    }
    Ok(())
}

/// Whether a mount is made read-write first and made read-only only by
/// [`make_read_only_later`], as runc 1.1 (mountPropagate, finalizeRootfs):
/// a tmpfs, or whatever is mounted on `/dev`, which still gets the devices,
/// their symlinks and mount points (`/dev/pts`) after it is mounted.
fn read_only_later(m: &Mount) -> bool {
    m.kind.as_deref() == Some("tmpfs")
        || Path::new(&m.destination)
            .components()
            .eq(Path::new("/dev").components())
}

/// After everything is mounted and the rootfs is `/`: remounts read-only
/// the `ro` tmpfs and `/dev` mounts [`mount_entry`] made read-write
/// (runc's finalizeRootfs).
pub fn make_read_only_later(spec: &berth_oci::Spec, root: &RootDir) -> Result<()> {
    for m in &spec.mounts {
        if !read_only_later(m) || is_bind(m) {
            continue;
        }
        if MountOptions::parse(&m.options)?.flags & libc::MS_RDONLY == 0 {
            continue;
        }
        let what = || format!("remount {} read-only", m.destination);
        let mounted = root.resolve(&m.destination).context(what)?;
        remount_bind(&sys::fd_path(mounted.as_raw_fd()), libc::MS_RDONLY, 0).context(what)?;
    }
    Ok(())
}

/// A bind mount's source: absolute, or relative to the bundle.
fn bind_source(m: &Mount, bundle: &Path) -> Result<std::path::PathBuf> {
    let src = m
        .source
        .as_deref()
        .ok_or_else(|| Error::Invalid(format!("bind mount on {} has no source", m.destination)))?;
    Ok(if src.starts_with('/') {
        src.into()
    } else {
        bundle.join(src)
    })
}

/// `MS_REMOUNT|MS_BIND` with `flags`, preserving the mount's locked flags.
pub fn remount_bind(
    target: &std::ffi::CStr,
    flags: libc::c_ulong,
    cleared: libc::c_ulong,
) -> std::io::Result<()> {
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    sys::check(unsafe { libc::statvfs(target.as_ptr(), &mut st) })?;
    let locked = statvfs_to_mount_flags(st.f_flag) & !cleared;
    sys::mount(
        None,
        target,
        None,
        libc::MS_REMOUNT | libc::MS_BIND | flags | locked,
        None,
    )
}

/// statvfs's ST_* flags as the MS_* flags a remount must repeat.
fn statvfs_to_mount_flags(f: libc::c_ulong) -> libc::c_ulong {
    let mut out = 0;
    for (st, ms) in [
        (libc::ST_RDONLY, libc::MS_RDONLY),
        (libc::ST_NOSUID, libc::MS_NOSUID),
        (libc::ST_NODEV, libc::MS_NODEV),
        (libc::ST_NOEXEC, libc::MS_NOEXEC),
        (libc::ST_NOATIME, libc::MS_NOATIME),
        (libc::ST_NODIRATIME, libc::MS_NODIRATIME),
        (libc::ST_RELATIME, libc::MS_RELATIME),
    ] {
        if f & st != 0 {
            out |= ms;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(v: &[&str]) -> MountOptions {
        MountOptions::parse(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn splits_flags_data_and_propagation() {
        let o = opts(&["nosuid", "strictatime", "mode=755", "size=65536k"]);
        assert_eq!(o.flags, libc::MS_NOSUID | libc::MS_STRICTATIME);
        assert_eq!(o.data, "mode=755,size=65536k");
        let o = opts(&["rbind", "ro", "rprivate"]);
        assert!(o.bind && o.recursive);
        assert_eq!(o.flags, libc::MS_RDONLY);
        assert_eq!(o.propagation, vec![libc::MS_PRIVATE | libc::MS_REC]);
    }

    #[test]
    fn later_options_override_earlier_ones() {
        let o = opts(&["ro", "rw"]);
        assert_eq!(o.flags & libc::MS_RDONLY, 0);
        assert_ne!(o.cleared & libc::MS_RDONLY, 0);
    }

    #[test]
    fn recursive_set_and_clear_accumulate_as_runc_s() {
        for v in [["rro", "rrw"], ["rrw", "rro"]] {
            let o = opts(&v);
            assert_eq!(o.recursive_set, MOUNT_ATTR_RDONLY, "{v:?}");
            assert_eq!(o.recursive_clear, MOUNT_ATTR_RDONLY, "{v:?}");
        }
    }

    #[test]
    fn idmap_is_not_implemented() {
        let e = MountOptions::parse(&["idmap".to_string()]).unwrap_err();
        assert!(e.to_string().starts_with("not implemented"), "{e}");
    }
}
