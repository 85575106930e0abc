//! Path resolution inside a container's root filesystem that can never leave
//! it (CVE-2021-30465 and kin: a hostile rootfs may hold `proc -> /` or a
//! mount target that is a symlink to `/etc`).
//!
//! Its own crate because three parties resolve paths this way and must not
//! depend on one another: the runtime (mounts, devices; re-exported as
//! `berth_runtime::in_root`), berthd (the image's /etc/passwd, volumes,
//! `cp` into a container) and the `berth` CLI (the local side of `cp`, through
//! berth-docker's archive code). Only libc: no runtime, no daemon state.
//!
//! Every lookup goes through `openat2(2)` with `RESOLVE_IN_ROOT` on an fd of
//! the rootfs: the kernel treats that fd as `/`, so `..` and absolute symlinks
//! stay inside it, and the result is an `O_PATH` fd that a mount reaches as
//! `/proc/self/fd/N` without resolving the path a second time (the window a
//! racing container process could use to swap a component for a symlink).

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

pub mod sys;

/// An open directory treated as `/` for every lookup under it.
pub struct RootDir {
    fd: OwnedFd,
    path: PathBuf,
}

impl RootDir {
    /// Opens `path` (which must be a directory) as a root.
    pub fn open(path: &Path) -> io::Result<RootDir> {
        let fd = sys::open(path, libc::O_PATH | libc::O_DIRECTORY, 0)?;
        Ok(RootDir {
            fd,
            path: path.to_path_buf(),
        })
    }

    /// The host path the root was opened at (for messages).
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Resolves `rel` (absolute or relative, both taken under the root) to an
    /// `O_PATH` fd, following symlinks only within the root.
    pub fn resolve(&self, rel: &str) -> io::Result<OwnedFd> {
        self.open_in_root(rel, libc::O_PATH)
    }

    /// Opens `rel` under the root with `flags` (O_CLOEXEC is added).
    pub fn open_in_root(&self, rel: &str, flags: libc::c_int) -> io::Result<OwnedFd> {
        let c = relative_cstr(rel)?;
        sys::openat2(
            self.fd(),
            &c,
            flags,
            0,
            sys::RESOLVE_IN_ROOT | sys::RESOLVE_NO_MAGICLINKS,
        )
    }

    /// Makes `rel` and its missing parents as directories (mode 0755) under the
    /// root and returns an `O_PATH` fd of it. Existing components, symlinks
    /// included, are resolved within the root.
    pub fn create_dir_all(&self, rel: &str) -> io::Result<OwnedFd> {
        self.create_dir_all_depth(rel, 0)
    }

    /// [`create_dir_all`](Self::create_dir_all) with a bound on how many
    /// dangling symlinks it follows (a loop of them must end in ELOOP).
    fn create_dir_all_depth(&self, rel: &str, depth: u32) -> io::Result<OwnedFd> {
        if depth > 40 {
            return Err(io::Error::from_raw_os_error(libc::ELOOP));
        }
        match self.open_in_root(rel, libc::O_PATH | libc::O_DIRECTORY) {
            Ok(fd) => return Ok(fd),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => return Err(e),
        }
        let (parent, name) = split_last(rel)?;
        let parent_fd = if parent.is_empty() {
            self.open_in_root("/", libc::O_PATH | libc::O_DIRECTORY)?
        } else {
            self.create_dir_all_depth(parent, depth + 1)?
        };
        let cname = CString::new(name).map_err(|_| nul_error())?;
        let r = unsafe { libc::mkdirat(parent_fd.as_raw_fd(), cname.as_ptr(), 0o755) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EEXIST) {
                return Err(e);
            }
            // A dangling symlink: make its target, taken inside the root
            // (as securejoin's MkdirAll does).
            if let Some(target) = readlink_at(parent_fd.as_raw_fd(), &cname) {
                let joined = if target.starts_with('/') {
                    target
                } else {
                    format!("/{parent}/{target}")
                };
                let in_root = normalize(Path::new(&joined));
                self.create_dir_all_depth(&in_root.to_string_lossy(), depth + 1)?;
            }
        }
        self.open_in_root(rel, libc::O_PATH | libc::O_DIRECTORY)
    }

    /// Makes `rel` as an empty regular file (and its parents as dirs) unless
    /// something exists there, for bind mounts of files and device nodes.
    pub fn create_file(&self, rel: &str, mode: libc::mode_t) -> io::Result<OwnedFd> {
        match self.resolve(rel) {
            Ok(fd) => return Ok(fd),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => return Err(e),
        }
        let (parent, name) = split_last(rel)?;
        let parent_fd = if parent.is_empty() {
            self.open_in_root("/", libc::O_PATH | libc::O_DIRECTORY)?
        } else {
            self.create_dir_all(parent)?
        };
        let cname = CString::new(name).map_err(|_| nul_error())?;
        // O_NOFOLLOW|O_EXCL: never create through a symlink planted at the name.
        let fd = sys::openat(
            parent_fd.as_raw_fd(),
            &cname,
            libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_WRONLY,
            mode,
        );
        match fd {
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {}
            Err(e) => return Err(e),
        }
        self.resolve(rel)
    }

    /// The parent directory of `rel` (created if missing) and the last
    /// component's name, for calls such as `mknodat` and `symlinkat` that
    /// must not follow the last component.
    pub fn parent_of(&self, rel: &str) -> io::Result<(OwnedFd, CString)> {
        let (parent, name) = split_last(rel)?;
        let parent_fd = if parent.is_empty() {
            self.open_in_root("/", libc::O_PATH | libc::O_DIRECTORY)?
        } else {
            self.create_dir_all(parent)?
        };
        Ok((parent_fd, CString::new(name).map_err(|_| nul_error())?))
    }

    /// Whether `fd` (resolved under this root) is exactly `rel` under it, with
    /// no symlink on the way: the kernel-made file systems (proc, sysfs) must
    /// be mounted at their real place, never wherever a symlink points.
    pub fn is_exactly(&self, fd: RawFd, rel: &str) -> io::Result<bool> {
        let real = sys::fd_target(fd)?;
        let root_real = sys::fd_target(self.fd())?;
        let want = root_real.join(rel.trim_start_matches('/'));
        Ok(real == normalize(&want))
    }
}

/// The target of a symlink at `name` under `dirfd`, if it is one.
fn readlink_at(dirfd: RawFd, name: &std::ffi::CStr) -> Option<String> {
    let mut buf = vec![0u8; libc::PATH_MAX as usize];
    let n = unsafe { libc::readlinkat(dirfd, name.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if n <= 0 {
        return None;
    }
    buf.truncate(n as usize);
    String::from_utf8(buf).ok()
}

fn nul_error() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte")
}

/// A path relative to the root ("." for the root itself), as a C string.
fn relative_cstr(rel: &str) -> io::Result<CString> {
    let trimmed = rel.trim_start_matches('/');
    CString::new(if trimmed.is_empty() { "." } else { trimmed }).map_err(|_| nul_error())
}

/// Splits `a/b/c` into (`a/b`, `c`); `..` and `.` as the last component are refused.
fn split_last(rel: &str) -> io::Result<(&str, &str)> {
    let trimmed = rel.trim_start_matches('/').trim_end_matches('/');
    let (parent, name) = match trimmed.rsplit_once('/') {
        Some((p, n)) => (p, n),
        None => ("", trimmed),
    };
    if name.is_empty() || name == "." || name == ".." {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{rel:?} does not name a file"),
        ));
    }
    Ok((parent, name))
}

/// Lexical clean-up of `.`, `..` and repeated slashes.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::Normal(n) => out.push(n),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn tmp(name: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("bt-inroot-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        p
    }

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let base = tmp("sym");
        let root = base.join("root");
        std::fs::create_dir_all(root.join("real")).unwrap();
        symlink("/", root.join("up")).unwrap();
        symlink("../../../../../tmp/bt-dangling", root.join("data")).unwrap();
        symlink("/etc", root.join("etc")).unwrap();
        let r = RootDir::open(&root).unwrap();
        // A dangling `data -> ../../../../../tmp/bt-dangling` is made inside the root.
        let fd = r.create_dir_all("/data/berth-test").unwrap();
        let target = sys::fd_target(fd.as_raw_fd()).unwrap();
        assert_eq!(target, root.join("tmp/bt-dangling/berth-test"));
        assert!(!Path::new("/tmp/bt-dangling").exists());
        // `etc -> /etc` points at itself inside the root: a loop, never the host's /etc.
        let e = r.create_dir_all("/etc/berth-test").unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ELOOP), "{e}");
        assert!(!Path::new("/etc/berth-test").exists());
        // `up -> /` resolves to the root itself.
        let fd = r.resolve("/up/real").unwrap();
        assert_eq!(sys::fd_target(fd.as_raw_fd()).unwrap(), root.join("real"));
        assert!(!r
            .is_exactly(r.resolve("/up").unwrap().as_raw_fd(), "/up")
            .unwrap());
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn create_file_refuses_dot_names_and_keeps_existing() {
        let base = tmp("file");
        let r = RootDir::open(&base).unwrap();
        let fd = r.create_file("/a/b/file", 0o644).unwrap();
        assert_eq!(
            sys::fd_target(fd.as_raw_fd()).unwrap(),
            base.join("a/b/file")
        );
        assert!(base.join("a/b/file").is_file());
        assert!(r.parent_of("/a/..").is_err());
        assert!(r.parent_of("/").is_err());
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn normalize_cleans_dots() {
        assert_eq!(
            normalize(Path::new("/a/./b/../c//d")),
            PathBuf::from("/a/c/d")
        );
    }
}
