//! `start ID`: release a created container's init from the exec FIFO.
//!
//! The FIFO is opened non-blocking for reading (the init's blocking open for
//! writing then completes), and we wait for its byte while checking that the
//! init is still alive, so `start` never hangs on a dead container. The FIFO
//! is removed afterwards: from then on `state` says running.

use std::os::fd::AsRawFd;
use std::path::Path;

use berth_oci::ContainerStatus;

use crate::cli::Parsed;
use crate::container::{self, ContainerRecord, EXEC_FIFO};
use crate::error::{Context, Error, Result};
use crate::{hooks, sys, Runtime};

/// `start ID`.
pub fn command(rt: &Runtime, flags: &Parsed) -> Result<i32> {
    let id = super::one_id("start", flags)?;
    let record = ContainerRecord::load(&rt.root, id)?;
    start(rt, &record)?;
    Ok(0)
}

/// Starts a created container.
pub fn start(rt: &Runtime, record: &ContainerRecord) -> Result<()> {
    match record.status(&rt.root) {
        ContainerStatus::Created => {}
        ContainerStatus::Stopped => {
            return Err(Error::State {
                id: record.id.clone(),
                status: "stopped",
                why: "cannot start a container that has stopped",
            })
        }
        s => {
            return Err(Error::State {
                id: record.id.clone(),
                status: s.as_str(),
                why: "cannot start an already running container",
            })
        }
    }
    let fifo_path = container::state_dir(&rt.root, &record.id).join(EXEC_FIFO);
    release_init(record, &fifo_path)?;
    if let Some(h) = record
        .config
        .hooks
        .as_ref()
        .filter(|h| !h.poststart.is_empty())
    {
        // The process may be gone already; the hook is about its start.
        let mut state = record.oci_state(&rt.root);
        state.status = ContainerStatus::Running;
        state.pid = Some(record.pid);
        if let Err(e) = hooks::run_all("poststart", &h.poststart, &state) {
            // runtime-spec: a poststart failure is logged, the container keeps running.
            rt.log.write("warning", &e.to_string());
        }
    }
    Ok(())
}

fn release_init(record: &ContainerRecord, fifo_path: &Path) -> Result<()> {
    let what = || format!("open exec fifo {}", fifo_path.display());
    let fifo = sys::open(fifo_path, libc::O_RDONLY | libc::O_NONBLOCK, 0).context(what)?;
    let mut pfd = libc::pollfd {
        fd: fifo.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // The init writes one byte, then keeps its end open until its execve
    // closes it: the end of the fifo is the user process running (or the
    // init gone), which poststart hooks must come after. Anything the init
    // writes after that byte is why it failed before execve (init.rs).
    let mut released = false;
    let mut failure: Vec<u8> = Vec::new();
    loop {
        let r = unsafe { libc::poll(&mut pfd, 1, 50) };
        if r > 0 {
            let mut buf = [0u8; 4096];
            let n = sys::read(fifo.as_raw_fd(), &mut buf).context(what)?;
            if n > 0 {
                let data = if released { &buf[..n] } else { &buf[1..n] };
                released = true;
                failure.extend_from_slice(data);
                continue;
            }
            if n == 0 && released {
                break;
            }
        }
        if released {
            if !record.init_alive() {
                // Whatever it wrote before it went is readable still.
                let mut buf = [0u8; 4096];
                while let Ok(n @ 1..) = sys::read(fifo.as_raw_fd(), &mut buf) {
                    failure.extend_from_slice(&buf[..n]);
                }
                break;
            }
            continue;
        }
        if !record.init_alive() {
            let _ = std::fs::remove_file(fifo_path);
            return Err(Error::Container(format!(
                "container {:?}: the init exited before start",
                record.id
            )));
        }
    }
    let _ = std::fs::remove_file(fifo_path);
    if !failure.is_empty() {
        return Err(Error::Container(
            String::from_utf8_lossy(&failure).trim_end().to_string(),
        ));
    }
    Ok(())
}
