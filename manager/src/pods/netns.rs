//! A pod's network namespace pinned by a bind mount of
//! `/proc/<infra pid>/ns/net` onto a file in the pod's state dir, as
//! containerd and `ip netns` do: the namespace outlives its infra process,
//! so CNI DEL after a crash still runs in it (the plugins remove the veth
//! and release the address), and it goes when it is unpinned.

use super::PodError;
use std::ffi::CString;
use std::path::Path;

fn cpath(path: &Path) -> CString {
    CString::new(path.as_os_str().as_encoded_bytes()).expect("paths have no NUL")
}

/// Pins the network namespace of `pid` at `target` (a new empty file).
pub fn pin(pid: u32, target: &Path) -> Result<(), PodError> {
    std::fs::File::create(target).map_err(PodError::io("create netns file", target))?;
    let source = cpath(Path::new(&format!("/proc/{pid}/ns/net")));
    let t = cpath(target);
    // SAFETY: valid C strings; a bind mount of an nsfs file.
    let rc = unsafe {
        libc::mount(
            source.as_ptr(),
            t.as_ptr(),
            std::ptr::null(),
            libc::MS_BIND,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        let e = std::io::Error::last_os_error();
        let _ = std::fs::remove_file(target);
        return Err(PodError::io("bind-mount network namespace on", target)(e));
    }
    Ok(())
}

/// Unpins `target` (detached, so a plugin still inside cannot block it) and
/// removes the file; a missing one is gone already.
pub fn unpin(target: &Path) -> Result<(), PodError> {
    if !target.exists() {
        return Ok(());
    }
    let t = cpath(target);
    // SAFETY: valid C string.
    let rc = unsafe { libc::umount2(t.as_ptr(), libc::MNT_DETACH) };
    if rc != 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINVAL) {
            return Err(PodError::io("unmount network namespace", target)(e));
        }
    }
    match std::fs::remove_file(target) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(PodError::io("remove netns file", target)(e))
        }
        _ => Ok(()),
    }
}
