//! The console socket: with `process.terminal`, the runtime creates the pty
//! inside the container and sends its master to a unix socket the caller
//! names with `--console-socket`, as an SCM_RIGHTS message (runc's
//! docs/terminals.md; the payload is the terminal's name). The shim listens,
//! receives the master, and from then on owns the container's terminal.

use std::io::IoSliceMut;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
use tokio::io::Interest;
use tokio::net::UnixListener;

/// Failures receiving a pty master.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error("listen on console socket {path}: {source}")]
    Bind {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("receive pty master on console socket {path}: {source}")]
    Receive {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("console socket {path}: the runtime sent no pty master")]
    NoFd { path: PathBuf },
}

/// A listening console socket, removed when dropped.
pub struct ConsoleSocket {
    path: PathBuf,
    listener: UnixListener,
}

impl ConsoleSocket {
    pub fn bind(path: PathBuf) -> Result<ConsoleSocket, ConsoleError> {
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).map_err(|source| ConsoleError::Bind {
            path: path.clone(),
            source,
        })?;
        Ok(ConsoleSocket { path, listener })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Waits for the runtime to connect and send the pty master.
    pub async fn receive_master(&self) -> Result<OwnedFd, ConsoleError> {
        let err = |source| ConsoleError::Receive {
            path: self.path.clone(),
            source,
        };
        let (stream, _) = self.listener.accept().await.map_err(err)?;
        loop {
            stream.readable().await.map_err(err)?;
            let got = stream.try_io(Interest::READABLE, || {
                let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
                let mut control = RecvAncillaryBuffer::new(&mut space);
                let mut name = [0u8; 256];
                rustix::net::recvmsg(
                    stream.as_fd(),
                    &mut [IoSliceMut::new(&mut name)],
                    &mut control,
                    RecvFlags::CMSG_CLOEXEC,
                )
                .map_err(std::io::Error::from)?;
                let mut fd = None;
                for msg in control.drain() {
                    if let RecvAncillaryMessage::ScmRights(mut fds) = msg {
                        if fd.is_none() {
                            fd = fds.next();
                        }
                    }
                }
                Ok(fd)
            });
            match got {
                Ok(Some(fd)) => return Ok(fd),
                Ok(None) => {
                    return Err(ConsoleError::NoFd {
                        path: self.path.clone(),
                    })
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(err(e)),
            }
        }
    }
}

impl Drop for ConsoleSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
