//! Work inside a container's network namespace.
//!
//! A netlink socket, an interface change or a listening socket belongs to
//! the network namespace of the thread that makes it (netlink(7),
//! setns(2)). berthd's runtime threads must never change namespace, so each
//! piece of work runs on a short-lived thread of its own that
//! `setns(CLONE_NEWNET)`s first and ends with the work: [`run`] for plain
//! work (the DNS server's sockets), [`run_async`] for netlink requests,
//! which need a reactor on that thread.

use std::fs::File;
use std::future::Future;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What failed while entering a network namespace, and which.
#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    #[error("open network namespace {path}: {source}")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("spawn thread for network namespace {path}: {source}")]
    Spawn {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("setns into {path}: {source}")]
    Enter {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("build runtime in {path}: {source}")]
    Runtime {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the thread working in network namespace {path} died")]
    ThreadDied { path: PathBuf },
}

/// Opens the namespace file at `path` (`/proc/PID/ns/net`, a bind mount).
pub fn open(path: &Path) -> Result<File, NetnsError> {
    File::open(path).map_err(|source| NetnsError::Open {
        path: path.to_path_buf(),
        source,
    })
}

/// Runs `work` on a new thread inside the namespace open at `netns` (named
/// `path` in errors); the caller's thread waits for it (for sync callers:
/// the DNS server's sockets).
pub fn run<T: Send + 'static>(
    netns: Arc<File>,
    path: &Path,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, NetnsError> {
    let thread_path = path.to_path_buf();
    std::thread::Builder::new()
        .name("berth-netns".into())
        .spawn(move || enter(&netns, &thread_path).map(|()| work()))
        .map_err(|source| NetnsError::Spawn {
            path: path.to_path_buf(),
            source,
        })?
        .join()
        .unwrap_or_else(|_| {
            Err(NetnsError::ThreadDied {
                path: path.to_path_buf(),
            })
        })
}

/// Runs the future `work` makes to completion on a new thread inside the
/// namespace open at `netns` (named `path` in errors), with a
/// current-thread runtime of its own (netlink requests); the calling task
/// awaits it without blocking its worker.
pub async fn run_async<T, Fut>(
    netns: File,
    path: &Path,
    work: impl FnOnce() -> Fut + Send + 'static,
) -> Result<T, NetnsError>
where
    T: Send + 'static,
    Fut: Future<Output = T>,
{
    let thread_path = path.to_path_buf();
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("berth-netns".into())
        .spawn(move || {
            let result = enter(&netns, &thread_path).and_then(|()| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_io()
                    .build()
                    .map_err(|source| NetnsError::Runtime {
                        path: thread_path.clone(),
                        source,
                    })?;
                Ok(runtime.block_on(work()))
            });
            let _ = tx.send(result);
        })
        .map_err(|source| NetnsError::Spawn {
            path: path.to_path_buf(),
            source,
        })?;
    rx.await.unwrap_or_else(|_| {
        Err(NetnsError::ThreadDied {
            path: path.to_path_buf(),
        })
    })
}

/// Moves the calling thread into the namespace open at `netns`.
fn enter(netns: &File, path: &Path) -> Result<(), NetnsError> {
    // SAFETY: setns on the calling thread, which is one of ours made for
    // this work and ends with it.
    if unsafe { libc::setns(netns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(NetnsError::Enter {
            path: path.to_path_buf(),
            source: std::io::Error::last_os_error(),
        });
    }
    Ok(())
}
