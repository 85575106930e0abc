//! The socket between the runtime and a child it cloned (the container's init,
//! or a process being exec'd). SOCK_SEQPACKET keeps message boundaries: one
//! tag byte, then an optional payload. The child reports its failures here
//! with the errno and the path, so the parent prints the real cause (crun does
//! the same); the socket is close-on-exec, so when the child's execve
//! succeeds the parent reads end-of-file.

use std::os::fd::RawFd;

use crate::error::{Context, Error, Result};
use crate::sys;

/// Parent -> child: the parent's set-up is done (id maps, cgroup), go on.
pub const GO: u8 = b'G';
/// Child -> parent: set-up done, waiting for `start`.
pub const READY: u8 = b'R';
/// Child -> parent: the createRuntime/prestart hooks may run now (before pivot_root).
pub const HOOKS: u8 = b'H';
/// Child -> parent: a seccomp listener fd follows (in the next message, with
/// SCM_RIGHTS), for the seccomp agent; the child then waits for GO.
pub const SECCOMP: u8 = b'S';
/// Child -> parent: a failure, with the message as payload.
pub const ERROR: u8 = b'E';

/// Sends one message.
pub fn send(fd: RawFd, tag: u8, payload: &[u8]) -> Result<()> {
    let mut msg = Vec::with_capacity(1 + payload.len());
    msg.push(tag);
    msg.extend_from_slice(payload);
    sys::write_all(fd, &msg).context(|| "write to sync socket".into())
}

/// Receives one message; `None` at end-of-file (the peer exited or exec'd).
pub fn recv(fd: RawFd) -> Result<Option<(u8, Vec<u8>)>> {
    let mut buf = vec![0u8; 64 * 1024];
    let n = sys::read(fd, &mut buf).context(|| "read from sync socket".into())?;
    if n == 0 {
        return Ok(None);
    }
    buf.truncate(n);
    let tag = buf.remove(0);
    Ok(Some((tag, buf)))
}

/// Waits for `want` from the child; an ERROR message becomes the error.
pub fn expect(fd: RawFd, want: u8, what: &str) -> Result<bool> {
    match recv(fd)? {
        Some((t, _)) if t == want => Ok(true),
        Some((ERROR, msg)) => Err(Error::Container(String::from_utf8_lossy(&msg).into_owned())),
        Some((t, _)) => Err(Error::Container(format!(
            "{what}: unexpected message {:?} from child",
            t as char
        ))),
        None => Ok(false),
    }
}
