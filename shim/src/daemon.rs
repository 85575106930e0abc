//! Leaving the parent: the shim must outlive whoever started it (berthd may
//! restart; DESIGN.md "Process model"). The started process forks; the
//! child calls setsid(2) (a new session, no controlling terminal) and forks
//! again, so the shim is no session leader and is reparented to init (or the
//! nearest subreaper) when the middle process exits. The shim then reports
//! over a pipe ("ok ADDRESS" or "error MESSAGE"); the first process prints
//! the address and exits, so the parent learns where to connect.
//!
//! Forking is only sound before any thread exists: this runs before the
//! tokio runtime is built.

use std::io::{Read, Write};

/// Failures of daemonizing.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("create report pipe: {0}")]
    Pipe(std::io::Error),
    #[error("fork: {0}")]
    Fork(std::io::Error),
    #[error("the shim exited before reporting its address")]
    NoReport,
    #[error("{0}")]
    Reported(String),
}

/// The shim's end of the report pipe.
pub struct Reporter {
    pipe: std::fs::File,
}

impl Reporter {
    pub fn ok(mut self, address: &str) {
        let _ = self.pipe.write_all(format!("ok {address}").as_bytes());
    }

    pub fn error(mut self, message: &str) {
        let _ = self.pipe.write_all(format!("error {message}").as_bytes());
    }
}

fn fork() -> Result<libc::pid_t, DaemonError> {
    // SAFETY: called while the process has one thread.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(DaemonError::Fork(std::io::Error::last_os_error()));
    }
    Ok(pid)
}

/// Runs `shim` in a grandchild in a new session; returns, in the calling
/// process, the address it reported. The grandchild exits with the code
/// `shim` returns.
pub fn daemonize(shim: impl FnOnce(Reporter) -> i32) -> Result<String, DaemonError> {
    let (read_end, write_end) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .map_err(|e| DaemonError::Pipe(e.into()))?;
    let middle = fork()?;
    if middle == 0 {
        drop(read_end);
        // SAFETY: plain syscalls in the single-threaded child.
        unsafe { libc::setsid() };
        match fork() {
            Ok(0) => {
                let pipe = std::fs::File::from(write_end);
                let code = shim(Reporter { pipe });
                std::process::exit(code)
            }
            Ok(_) => unsafe { libc::_exit(0) },
            Err(e) => {
                let mut pipe = std::fs::File::from(write_end);
                let _ = pipe.write_all(format!("error {e}").as_bytes());
                unsafe { libc::_exit(1) }
            }
        }
    }
    drop(write_end);
    let mut status = 0;
    // SAFETY: waits for our own child.
    unsafe { libc::waitpid(middle, &mut status, 0) };
    let mut report = String::new();
    let mut pipe = std::fs::File::from(read_end);
    let _ = pipe.read_to_string(&mut report);
    if let Some(address) = report.strip_prefix("ok ") {
        Ok(address.to_string())
    } else if let Some(message) = report.strip_prefix("error ") {
        Err(DaemonError::Reported(message.to_string()))
    } else {
        Err(DaemonError::NoReport)
    }
}
