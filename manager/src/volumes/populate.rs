//! docker's copy-up: the first time an empty volume is mounted at a path
//! where the image has content, that content is copied into the volume
//! (moby `container.CopyImagePathContent` / `copyExistingContents`): files,
//! directories, symlinks, device nodes and fifos, with their owners and
//! modes; the volume's root takes the owner and mode of the image's
//! directory. A volume that holds anything is never copied into again, so a
//! second container sees the first one's changes.
//!
//! The image path is resolved inside the container's rootfs with `openat2`
//! `RESOLVE_IN_ROOT` ([`RootDir`]), so a symlink in the image (`/data ->
//! /etc` or `-> ../../..`) can never make berthd copy host files into a
//! volume (the class of CVE-2021-30465). Below that every entry is opened
//! relative to its parent's descriptor with `O_NOFOLLOW`: symlinks are
//! copied as symlinks, never followed, on both sides.

use super::VolumeError;
use berth_runtime::in_root::RootDir;
use std::ffi::{CString, OsStr};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Copies the content of `path` in `rootfs` into the directory `dest` if
/// `dest` is empty and the image has a directory there. Returns whether
/// anything was copied.
pub fn populate(rootfs: &Path, path: &str, dest: &Path) -> Result<bool, VolumeError> {
    let mut entries = std::fs::read_dir(dest).map_err(|e| VolumeError::io("read", dest, e))?;
    if entries.next().is_some() {
        return Ok(false);
    }
    let root = RootDir::open(rootfs).map_err(|e| VolumeError::io("open rootfs", rootfs, e))?;
    let in_image = || rootfs.join(path.trim_start_matches('/'));
    let src = match root.open_in_root(path, libc::O_RDONLY | libc::O_DIRECTORY) {
        Ok(fd) => fd,
        // Nothing (or no directory) in the image there: nothing to copy.
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR)) => {
            return Ok(false)
        }
        Err(e) => return Err(VolumeError::io("open image path", in_image(), e)),
    };
    let dst = open_dir_path(dest).map_err(|e| VolumeError::io("open", dest, e))?;
    copy_dir(src.as_raw_fd(), dst.as_raw_fd())
        .map_err(|e| VolumeError::io("copy image content into", dest, e))?;
    copy_owner_and_mode(src.as_raw_fd(), dst.as_raw_fd())
        .map_err(|e| VolumeError::io("set owner and mode of", dest, e))?;
    Ok(true)
}

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn cname(name: &OsStr) -> io::Result<CString> {
    CString::new(name.as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

fn open_dir_path(path: &Path) -> io::Result<OwnedFd> {
    let c = cname(path.as_os_str())?;
    // SAFETY: a valid C string; the fd returned is owned by us.
    let fd = cvt(unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )
    })?;
    // SAFETY: fd is a fresh descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn openat(
    dir: RawFd,
    name: &CString,
    flags: libc::c_int,
    mode: libc::mode_t,
) -> io::Result<OwnedFd> {
    // SAFETY: a valid C string; the fd returned is owned by us.
    let fd = cvt(unsafe {
        libc::openat(
            dir,
            name.as_ptr(),
            flags | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            mode as libc::c_uint,
        )
    })?;
    // SAFETY: fd is a fresh descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn fstatat(dir: RawFd, name: &CString) -> io::Result<libc::stat> {
    // SAFETY: stat is plain data; fstatat fills it.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    cvt(unsafe { libc::fstatat(dir, name.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) })?;
    Ok(st)
}

fn fstat(fd: RawFd) -> io::Result<libc::stat> {
    // SAFETY: stat is plain data; fstat fills it.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    cvt(unsafe { libc::fstat(fd, &mut st) })?;
    Ok(st)
}

/// Owner first, then mode: chown(2) clears set-user-ID and set-group-ID.
fn copy_owner_and_mode(src: RawFd, dst: RawFd) -> io::Result<()> {
    let st = fstat(src)?;
    cvt(unsafe { libc::fchown(dst, st.st_uid, st.st_gid) })?;
    cvt(unsafe { libc::fchmod(dst, st.st_mode & 0o7777) })?;
    Ok(())
}

/// The names in a directory, read through its descriptor (never by path).
fn names(dir: RawFd) -> io::Result<Vec<std::ffi::OsString>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(format!("/proc/self/fd/{dir}"))? {
        out.push(entry?.file_name());
    }
    Ok(out)
}

fn copy_dir(src: RawFd, dst: RawFd) -> io::Result<()> {
    for name in names(src)? {
        let c = cname(&name)?;
        let st = fstatat(src, &c)?;
        let mode = st.st_mode & 0o7777;
        match st.st_mode & libc::S_IFMT {
            libc::S_IFDIR => {
                cvt(unsafe { libc::mkdirat(dst, c.as_ptr(), 0o700) })?;
                let s = openat(src, &c, libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
                let d = openat(dst, &c, libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
                copy_dir(s.as_raw_fd(), d.as_raw_fd())?;
                copy_owner_and_mode(s.as_raw_fd(), d.as_raw_fd())?;
            }
            libc::S_IFREG => {
                let s = openat(src, &c, libc::O_RDONLY, 0)?;
                let d = openat(
                    dst,
                    &c,
                    libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL,
                    0o600,
                )?;
                let mut from = File::from(s);
                let mut to = File::from(d);
                io::copy(&mut from, &mut to)?;
                copy_owner_and_mode(from.as_raw_fd(), to.as_raw_fd())?;
            }
            libc::S_IFLNK => {
                let mut buf = vec![0u8; libc::PATH_MAX as usize + 1];
                let n = unsafe {
                    libc::readlinkat(src, c.as_ptr(), buf.as_mut_ptr().cast(), buf.len())
                };
                if n < 0 {
                    return Err(io::Error::last_os_error());
                }
                buf.truncate(n as usize);
                let target =
                    CString::new(buf).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))?;
                cvt(unsafe { libc::symlinkat(target.as_ptr(), dst, c.as_ptr()) })?;
                cvt(unsafe {
                    libc::fchownat(
                        dst,
                        c.as_ptr(),
                        st.st_uid,
                        st.st_gid,
                        libc::AT_SYMLINK_NOFOLLOW,
                    )
                })?;
            }
            libc::S_IFCHR | libc::S_IFBLK | libc::S_IFIFO => {
                cvt(unsafe {
                    libc::mknodat(
                        dst,
                        c.as_ptr(),
                        st.st_mode & libc::S_IFMT | mode,
                        st.st_rdev,
                    )
                })?;
                cvt(unsafe {
                    libc::fchownat(
                        dst,
                        c.as_ptr(),
                        st.st_uid,
                        st.st_gid,
                        libc::AT_SYMLINK_NOFOLLOW,
                    )
                })?;
                // Not opened (a fifo would block): mode set by name, without
                // following (the entry was just made by us, in our directory).
                cvt(unsafe { libc::fchmodat(dst, c.as_ptr(), mode, 0) })?;
            }
            // Sockets are bound by a process; docker skips them too.
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    #[test]
    fn copies_tree_once_and_never_follows_symlinks_out() {
        let t = tempfile::tempdir().unwrap();
        let rootfs = t.path().join("rootfs");
        let host = t.path().join("host-secret");
        std::fs::create_dir_all(rootfs.join("data/sub")).unwrap();
        std::fs::create_dir_all(&host).unwrap();
        std::fs::write(host.join("secret"), "host").unwrap();
        std::fs::write(rootfs.join("data/a"), "A").unwrap();
        std::fs::set_permissions(rootfs.join("data/a"), PermissionsExt::from_mode(0o640)).unwrap();
        std::fs::write(rootfs.join("data/sub/b"), "B").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", rootfs.join("data/link")).unwrap();
        std::fs::set_permissions(rootfs.join("data"), PermissionsExt::from_mode(0o751)).unwrap();
        // An image symlink pointing out of the rootfs resolves inside it.
        std::os::unix::fs::symlink(&host, rootfs.join("escape")).unwrap();

        let vol = t.path().join("vol");
        std::fs::create_dir(&vol).unwrap();
        assert!(populate(&rootfs, "/data", &vol).unwrap());
        assert_eq!(std::fs::read_to_string(vol.join("a")).unwrap(), "A");
        assert_eq!(std::fs::read_to_string(vol.join("sub/b")).unwrap(), "B");
        assert_eq!(
            std::fs::metadata(vol.join("a")).unwrap().mode() & 0o7777,
            0o640
        );
        assert_eq!(std::fs::metadata(&vol).unwrap().mode() & 0o7777, 0o751);
        assert_eq!(
            std::fs::read_link(vol.join("link")).unwrap(),
            Path::new("/etc/passwd")
        );
        // Not empty any more: a second populate copies nothing.
        std::fs::write(vol.join("a"), "changed").unwrap();
        assert!(!populate(&rootfs, "/data", &vol).unwrap());
        assert_eq!(std::fs::read_to_string(vol.join("a")).unwrap(), "changed");

        let vol2 = t.path().join("vol2");
        std::fs::create_dir(&vol2).unwrap();
        // `/escape` is an absolute symlink to a host dir: inside the root
        // it points at a path that does not exist, so nothing is copied.
        assert!(!populate(&rootfs, "/escape", &vol2).unwrap());
        assert!(!vol2.join("secret").exists());
        // A path missing from the image copies nothing.
        assert!(!populate(&rootfs, "/nope", &vol2).unwrap());
        // A file (not a directory) copies nothing.
        assert!(!populate(&rootfs, "/data/a", &vol2).unwrap());
        assert_eq!(std::fs::read_dir(&vol2).unwrap().count(), 0);
    }
}
