//! Reading the extended attributes a layer carries: all of a file's xattrs except
//! `trusted.overlay.*`, which is overlayfs's own bookkeeping (opaque, redirect, origin...)
//! and never image content. Symlinks are not followed.

use std::io;
use std::os::fd::BorrowedFd;
use std::path::Path;

use rustix::io::Errno;

/// One extended attribute: name and value.
pub(crate) type Xattr = (Vec<u8>, Vec<u8>);

/// The largest xattr name list and value the kernel allows (XATTR_LIST_MAX, XATTR_SIZE_MAX):
/// buffers this big never get ERANGE.
const XATTR_MAX: usize = 65536;

/// The xattrs of `path` itself (`llistxattr`/`lgetxattr`).
pub(crate) fn of_path(path: &Path) -> io::Result<Vec<Xattr>> {
    collect(
        |names| rustix::fs::llistxattr(path, names),
        |name, value| rustix::fs::lgetxattr(path, name, value),
    )
}

/// The xattrs of an open file.
pub(crate) fn of_fd(fd: BorrowedFd<'_>) -> io::Result<Vec<Xattr>> {
    collect(
        |names| rustix::fs::flistxattr(fd, names),
        |name, value| rustix::fs::fgetxattr(fd, name, value),
    )
}

fn collect(
    list: impl FnOnce(&mut [u8]) -> rustix::io::Result<usize>,
    get: impl Fn(&[u8], &mut [u8]) -> rustix::io::Result<usize>,
) -> io::Result<Vec<Xattr>> {
    let mut names = vec![0u8; XATTR_MAX];
    let n = match list(&mut names[..]) {
        Ok(n) => n,
        // A filesystem without xattrs has none to carry.
        Err(Errno::NOTSUP) => 0,
        Err(e) => return Err(e.into()),
    };
    let mut out = Vec::new();
    let mut value = vec![0u8; XATTR_MAX];
    for name in names[..n].split(|&b| b == 0) {
        if name.is_empty() || name.starts_with(b"trusted.overlay.") {
            continue;
        }
        match get(name, &mut value[..]) {
            Ok(len) => out.push((name.to_vec(), value[..len].to_vec())),
            // Removed between listing and reading.
            Err(Errno::NODATA) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(out)
}
