//! The container's seccomp filter: compiled from `linux.seccomp` by
//! `berth-seccomp` in the parent, before clone, so the child only installs it.
//! A filter with `SCMP_ACT_NOTIFY` rules hands those syscalls to a seccomp
//! agent: the child (the init, or an exec'd process) passes the filter's
//! listener fd to the runtime, which sends it on to the agent listening at
//! `listenerPath`. Once the agent has closed it (or died), the kernel fails
//! the notified syscalls with ENOSYS, as under runc.

use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;

use berth_oci::{Spec, State};

use crate::error::{Context, Error, Result};
use crate::{sync, sys};

pub use berth_seccomp::Filter;

/// Compiles the spec's filter, if it has one.
pub fn compile(spec: &Spec) -> Result<Option<Filter>> {
    match spec.linux.as_ref().and_then(|l| l.seccomp.as_ref()) {
        None => Ok(None),
        Some(s) => Ok(Some(berth_seccomp::compile(s)?)),
    }
}

/// Installs `filter` in the init or an exec'd child. A filter that notifies
/// makes a listener fd: it goes to the parent over the sync socket (tag
/// [`sync::SECCOMP`], then the fd), and the child waits until the parent
/// has handed it to the seccomp agent ([`send_to_agent`]), as runc's
/// `syncParentSeccomp` does.
pub fn install(filter: &Filter, sock: RawFd) -> Result<()> {
    if !filter.notifies() {
        return Ok(filter.install()?);
    }
    let listener = filter.install_listener()?;
    sync::send(sock, sync::SECCOMP, b"")?;
    sys::send_fd(sock, listener.as_raw_fd(), b"f")
        .context(|| "send the seccomp listener to the runtime".into())?;
    drop(listener);
    if !sync::expect(sock, sync::GO, "wait for the seccomp agent")? {
        return Err(Error::Container(
            "parent went away while passing the seccomp listener".into(),
        ));
    }
    Ok(())
}

/// The parent's side of [`install`]: receives the listener fd from the
/// child and sends it to the agent at `linux.seccomp.listenerPath` with the
/// container's process state (runtime-spec `ContainerProcessState`: the
/// fd named `seccompFd`, the pid, `listenerMetadata`, the container's
/// state), as runc 1.1's `sendContainerProcessState`; then lets the child
/// go on. The agent keeps the fd; our copies are closed.
pub fn send_to_agent(spec: &Spec, sock: RawFd, process_pid: i32, state: &State) -> Result<()> {
    let listener =
        sys::recv_fd(sock).context(|| "receive the seccomp listener from the container".into())?;
    let seccomp = spec.linux.as_ref().and_then(|l| l.seccomp.as_ref());
    let path = seccomp
        .and_then(|s| s.listener_path.as_deref())
        .unwrap_or("");
    if path.is_empty() {
        return Err(Error::Invalid("listenerPath is not set".into()));
    }
    let agent = UnixStream::connect(path).map_err(|e| {
        Error::Container(format!(
            "failed to connect with seccomp agent specified in the seccomp profile: dial unix {path}: connect: {}",
            sys::errno_text(&e)
        ))
    })?;
    let message = serde_json::json!({
        "ociVersion": berth_oci::OCI_VERSION,
        "fds": ["seccompFd"],
        "pid": process_pid,
        "metadata": seccomp.and_then(|s| s.listener_metadata.clone()).unwrap_or_default(),
        "state": state,
    });
    sys::send_fd(
        agent.as_raw_fd(),
        listener.as_raw_fd(),
        message.to_string().as_bytes(),
    )
    .map_err(|e| {
        Error::Container(format!(
            "cannot send seccomp fd to {path}: {}",
            sys::errno_text(&e)
        ))
    })?;
    sync::send(sock, sync::GO, b"")
}
