//! The container's root filesystem, made in its new mount namespace:
//!
//! 1. the host's mounts are made slave (or `rootfsPropagation`) so nothing
//!    done here propagates back to the host;
//! 2. the rootfs is bind-mounted on itself (pivot_root needs a mount point);
//! 3. every `mounts` entry, in order, on targets resolved inside the rootfs;
//! 4. default and spec devices, /dev symlinks;
//! 5. pivot_root (or chroot with `--no-pivot`), the old root detached;
//!
//! and after the console is set up, [`finalize`] masks `maskedPaths`, makes
//! `readonlyPaths`, applies `rootfsPropagation` to the new root and (with
//! `root.readonly`) makes it read-only.

use std::os::fd::AsRawFd;
use std::path::Path;

use berth_oci::Spec;

use crate::devices;
use crate::error::{Context, Error, Result};
use crate::in_root::RootDir;
use crate::mounts;
use crate::sys;

/// The propagation flag of `linux.rootfsPropagation`.
fn propagation(spec: &Spec) -> Result<libc::c_ulong> {
    let p = spec
        .linux
        .as_ref()
        .and_then(|l| l.rootfs_propagation.as_deref());
    Ok(match p {
        None | Some("") => libc::MS_SLAVE | libc::MS_REC,
        Some("private") => libc::MS_PRIVATE,
        Some("rprivate") => libc::MS_PRIVATE | libc::MS_REC,
        Some("shared") => libc::MS_SHARED,
        Some("rshared") => libc::MS_SHARED | libc::MS_REC,
        Some("slave") => libc::MS_SLAVE,
        Some("rslave") => libc::MS_SLAVE | libc::MS_REC,
        Some("unbindable") => libc::MS_UNBINDABLE,
        Some("runbindable") => libc::MS_UNBINDABLE | libc::MS_REC,
        Some(other) => {
            return Err(Error::Invalid(format!(
                "linux.rootfsPropagation: unknown value {other:?}"
            )))
        }
    })
}

/// Steps 1-4: everything before pivot_root.
pub fn prepare(
    spec: &Spec,
    rootfs: &Path,
    mount_ctx: &mounts::MountContext,
    in_user_ns: bool,
) -> Result<()> {
    let prop = propagation(spec)?;
    // Shared would leak our mounts to the host and unbindable would forbid
    // the rootfs bind below: those are applied to the new root after
    // pivot_root ([`enter`]); until then the host's mounts are slaves.
    let first = if prop & (libc::MS_SHARED | libc::MS_UNBINDABLE) != 0 {
        libc::MS_SLAVE | libc::MS_REC
    } else {
        prop | libc::MS_REC
    };
    sys::mount(None, c"/", None, first, None).context(|| "make / slave".into())?;
    let root_c = sys::cstr(rootfs).context(|| format!("rootfs {}", rootfs.display()))?;
    sys::mount(
        Some(&root_c),
        &root_c,
        None,
        libc::MS_BIND | libc::MS_REC,
        None,
    )
    .context(|| format!("bind rootfs {} on itself", rootfs.display()))?;
    // A private or slave parent is needed for pivot_root's old root.
    if prop & (libc::MS_SHARED | libc::MS_UNBINDABLE) != 0 {
        sys::mount(None, &root_c, None, libc::MS_PRIVATE, None)
            .context(|| format!("make {} private", rootfs.display()))?;
    }
    let root = RootDir::open(rootfs).context(|| format!("open rootfs {}", rootfs.display()))?;
    for (i, m) in spec.mounts.iter().enumerate() {
        let source_fd = mount_ctx
            .source_fds
            .get(i)
            .and_then(|f| f.as_ref())
            .map(|f| f.as_raw_fd());
        mounts::mount_entry(m, source_fd, &root, mount_ctx)?;
    }
    // runc 1.1 makes a missing cwd (mode 0755, inside the root, before a
    // read-only root is remounted): images whose WORKDIR does not exist
    // run under runc, and must under berth-runtime.
    if let Some(cwd) = spec.process.as_ref().map(|p| p.cwd.as_str()) {
        if cwd.starts_with('/') && cwd != "/" {
            root.create_dir_all(cwd)
                .context(|| format!("create cwd {cwd:?} in {}", rootfs.display()))?;
        }
    }
    let mut devs = devices::default_devices();
    if let Some(linux) = &spec.linux {
        for d in &linux.devices {
            devs.push(devices::from_spec(d)?);
        }
    }
    let dev_is_host_bind = spec.mounts.iter().any(|m| {
        m.destination == "/dev"
            && (m.kind.as_deref() == Some("bind")
                || m.options.iter().any(|o| o == "bind" || o == "rbind"))
    });
    if !dev_is_host_bind {
        devices::create(&root, &devs, in_user_ns)?;
        devices::create_symlinks(&root)?;
    }
    Ok(())
}

/// Step 5: make the rootfs `/`. With `no_pivot`, move it over / and chroot
/// (for rootfs on ramfs/initramfs, where pivot_root is not possible), after
/// detaching the host's proc and sysfs mounts ([`detach_host_proc_sys`]).
pub fn enter(rootfs: &Path, no_pivot: bool) -> Result<()> {
    let what = || format!("pivot_root to {}", rootfs.display());
    let root_c = sys::cstr(rootfs).context(what)?;
    if no_pivot {
        detach_host_proc_sys(rootfs)?;
        sys::check(unsafe { libc::chdir(root_c.as_ptr()) }).context(what)?;
        sys::mount(Some(c"."), c"/", None, libc::MS_MOVE, None).context(what)?;
        sys::check(unsafe { libc::chroot(c".".as_ptr()) }).context(what)?;
        sys::check(unsafe { libc::chdir(c"/".as_ptr()) }).context(what)?;
        return Ok(());
    }
    let new_root = sys::open(rootfs, libc::O_DIRECTORY | libc::O_RDONLY, 0).context(what)?;
    sys::check(unsafe { libc::fchdir(new_root.as_raw_fd()) }).context(what)?;
    // pivot_root(".", "."): the old root ends up stacked under the new one
    // and is detached right away; no put_old directory is needed.
    sys::check_long(unsafe { libc::syscall(libc::SYS_pivot_root, c".".as_ptr(), c".".as_ptr()) })
        .context(what)?;
    sys::mount(None, c".", None, libc::MS_SLAVE | libc::MS_REC, None).context(what)?;
    sys::check(unsafe { libc::umount2(c".".as_ptr(), libc::MNT_DETACH) }).context(what)?;
    sys::check(unsafe { libc::chdir(c"/".as_ptr()) }).context(what)?;
    Ok(())
}

/// Before `--no-pivot`'s move and chroot, as runc 1.1's `msMoveRoot`: the
/// host's full proc and sysfs mounts (root `/`) outside the rootfs are made
/// slaves (nothing propagates back to the host) and detached, or covered by
/// a tmpfs where detaching is refused (EINVAL/EPERM: a locked mount). After
/// a chroot the old root stays reachable in the namespace, and the kernel
/// lets a new proc or sysfs be mounted only while a full, uncovered one is
/// visible: without this, a `--no-pivot` container could mount the host's
/// procfs. Only in the container's own mount namespace.
fn detach_host_proc_sys(rootfs: &Path) -> Result<()> {
    let text = std::fs::read_to_string("/proc/self/mountinfo")
        .context(|| "read /proc/self/mountinfo (for --no-pivot)".into())?;
    // mountinfo shows resolved paths: compare with the rootfs resolved too,
    // or the container's own mounts under a symlinked path would go.
    let rootfs = std::fs::canonicalize(rootfs)
        .context(|| format!("resolve the rootfs {}", rootfs.display()))?;
    for m in crate::mountinfo::parse(&text) {
        if m.root != "/"
            || (m.fstype != "proc" && m.fstype != "sysfs")
            || m.mount_point.starts_with(&rootfs)
        {
            continue;
        }
        let what = || {
            format!(
                "detach the host's {} at {}",
                m.fstype,
                m.mount_point.display()
            )
        };
        let target = sys::cstr(&m.mount_point).context(what)?;
        match sys::mount(None, &target, None, libc::MS_SLAVE | libc::MS_REC, None) {
            Ok(()) => {}
            // Gone with a parent detached before it.
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
            Err(e) => return Err(e).context(what),
        }
        if unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) } != 0 {
            let e = std::io::Error::last_os_error();
            if !matches!(e.raw_os_error(), Some(libc::EINVAL) | Some(libc::EPERM)) {
                return Err(e).context(what);
            }
            sys::mount(Some(c"tmpfs"), &target, Some(c"tmpfs"), 0, None).context(what)?;
        }
    }
    Ok(())
}

/// Step 5 for a container without a mount namespace, as runc 1.1 does it
/// (`prepareRootfs`: `chroot()` when the config has no NEWNS): the mounts
/// were made in the caller's mount namespace and stay there (runc leaves
/// them too), and the process is only chrooted into the rootfs: pivot_root
/// or `--no-pivot`'s move over `/` would change the caller's root itself.
pub fn enter_without_mount_ns(rootfs: &Path) -> Result<()> {
    let what = || format!("chroot to {}", rootfs.display());
    let root_c = sys::cstr(rootfs).context(what)?;
    sys::check(unsafe { libc::chdir(root_c.as_ptr()) }).context(what)?;
    sys::check(unsafe { libc::chroot(c".".as_ptr()) }).context(what)?;
    sys::check(unsafe { libc::chdir(c"/".as_ptr()) }).context(what)?;
    Ok(())
}

/// [`finalize`] for a container without a mount namespace: only the
/// sysctls. runc skips `finalizeRootfs` there (no read-only root, no
/// propagation change, which would hit the caller's mounts); masked and
/// read-only paths were refused by the namespace plan.
pub fn finalize_without_mount_ns(spec: &Spec) -> Result<()> {
    if let Some(linux) = &spec.linux {
        for (key, value) in &linux.sysctl {
            write_sysctl(key, value)?;
        }
    }
    Ok(())
}

/// After pivot_root (and the console): sysctls, read-only and masked
/// paths, read-only root.
pub fn finalize(spec: &Spec) -> Result<()> {
    let root = RootDir::open(Path::new("/")).context(|| "open / after pivot_root".into())?;
    if let Some(linux) = &spec.linux {
        for (key, value) in &linux.sysctl {
            write_sysctl(key, value)?;
        }
        // runc's order (standard_init_linux.go): read-only paths, then
        // masks on top, so the container's mount table is runc's.
        for path in &linux.readonly_paths {
            readonly_path(&root, path)?;
        }
        for path in &linux.masked_paths {
            mask_path(&root, path)?;
        }
    }
    // `rootfsPropagation` last: an unbindable tree would refuse the bind
    // mounts of masked paths above.
    if spec
        .linux
        .as_ref()
        .and_then(|l| l.rootfs_propagation.as_ref())
        .is_some()
    {
        let prop = propagation(spec)?;
        sys::mount(None, c"/", None, prop, None).context(|| "set rootfs propagation".into())?;
    }
    mounts::make_read_only_later(spec, &root)?;
    if spec.root.as_ref().is_some_and(|r| r.readonly) {
        mounts::remount_bind(c"/", libc::MS_RDONLY, 0).context(|| "remount / read-only".into())?;
    }
    Ok(())
}

/// Writes one `linux.sysctl` entry through /proc/sys (`net.ipv4.ip_forward`
/// is /proc/sys/net/ipv4/ip_forward; `kernel/shmmax` is read as sysctl(8)
/// does). `create` has already refused keys outside the container's
/// namespaces (kernel_scope).
fn write_sysctl(key: &str, value: &str) -> Result<()> {
    if key.is_empty() || key.contains("..") || key.starts_with('/') {
        return Err(Error::Invalid(format!("linux.sysctl: invalid key {key:?}")));
    }
    let path = crate::kernel_scope::proc_path(&crate::kernel_scope::dotted(key));
    std::fs::write(&path, value).context(|| format!("sysctl {key}={value:?} ({path})"))
}

/// Hides a path: /dev/null over a file, an empty read-only tmpfs over a dir.
/// A path that does not exist needs no mask.
fn mask_path(root: &RootDir, path: &str) -> Result<()> {
    let what = || format!("mask {path}");
    let fd = match root.open_in_root(path, libc::O_PATH | libc::O_NOFOLLOW) {
        Ok(fd) => fd,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
        Err(e) => return Err(e).context(what),
    };
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    sys::check(unsafe { libc::fstat(fd.as_raw_fd(), &mut st) }).context(what)?;
    let target = sys::fd_path(fd.as_raw_fd());
    if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
        sys::mount(
            Some(c"tmpfs"),
            &target,
            Some(c"tmpfs"),
            libc::MS_RDONLY,
            None,
        )
        .context(what)
    } else if st.st_mode & libc::S_IFMT == libc::S_IFLNK {
        Ok(())
    } else {
        sys::mount(Some(c"/dev/null"), &target, None, libc::MS_BIND, None).context(what)
    }
}

/// Makes a path read-only: bind it on itself, then remount read-only.
fn readonly_path(root: &RootDir, path: &str) -> Result<()> {
    let what = || format!("make {path} read-only");
    let fd = match root.open_in_root(path, libc::O_PATH | libc::O_NOFOLLOW) {
        Ok(fd) => fd,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
        Err(e) => return Err(e).context(what),
    };
    let target = sys::fd_path(fd.as_raw_fd());
    sys::mount(
        Some(&target),
        &target,
        None,
        libc::MS_BIND | libc::MS_REC,
        None,
    )
    .context(what)?;
    let fd = root
        .open_in_root(path, libc::O_PATH | libc::O_NOFOLLOW)
        .context(what)?;
    mounts::remount_bind(
        &sys::fd_path(fd.as_raw_fd()),
        libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
        0,
    )
    .context(what)
}
