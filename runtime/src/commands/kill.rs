//! `kill [--all] ID [SIGNAL]`: signal the container's init (through a pidfd
//! checked against the recorded start time, so a reused pid is never hit), or
//! with `--all` every process in its cgroup. SIGTERM by default, as runc;
//! signal 0 checks the init is there. `--all` on a stopped container
//! succeeds (runc's kill.bats does it after the init died): what is left
//! in its cgroup is signalled, if the cgroup is still there.

use std::os::fd::AsRawFd;

use berth_oci::ContainerStatus;

use crate::cli::Parsed;
use crate::container::{self, ContainerRecord};
use crate::error::{Context, Error, Result};
use crate::{cgroups, signals, sys, Runtime};

/// `kill`.
pub fn command(rt: &Runtime, flags: &Parsed) -> Result<i32> {
    let (id, sig) = match flags.positional.as_slice() {
        [id] => (id, "SIGTERM"),
        [id, sig] => (id, sig.as_str()),
        _ => return Err(Error::Usage("kill: usage: kill [--all] ID [SIGNAL]".into())),
    };
    let sig = signals::parse(sig)?;
    let record = ContainerRecord::load(&rt.root, id)?;
    let status = record.status(&rt.root);
    rt.log.debug(|| {
        format!(
            "kill: signal {sig} to container {id} ({}, all: {})",
            status.as_str(),
            flags.is_set("all")
        )
    });
    if status == ContainerStatus::Stopped && flags.is_set("all") {
        if let Some(cg) = cgroups::of(&record)? {
            if cg.dirs().iter().all(|d| d.exists()) {
                cg.kill_all(sig)?;
            }
        }
        return Ok(0);
    }
    if status == ContainerStatus::Stopped {
        return Err(Error::State {
            id: id.clone(),
            status: "stopped",
            why: "container not running",
        });
    }
    if flags.is_set("all") {
        cgroups::require(&record)?.kill_all(sig)?;
    } else {
        signal_init(&record, sig)?;
    }
    if status == ContainerStatus::Paused && sig == libc::SIGKILL {
        // A frozen task cannot act on SIGKILL until thawed.
        if let Some(cg) = cgroups::of(&record)? {
            cg.thaw()?;
        }
    }
    Ok(0)
}

/// Signals the init if it is still the process we started.
pub fn signal_init(record: &ContainerRecord, sig: libc::c_int) -> Result<()> {
    let what = || {
        format!(
            "signal {sig} to container {} (pid {})",
            record.id, record.pid
        )
    };
    let pidfd = sys::pidfd_open(record.pid).context(what)?;
    // The pidfd pins the process: if the start time still matches now, it is ours.
    match container::proc_stat(record.pid) {
        Some((_, start)) if start == record.pid_start_time => {}
        _ => {
            return Err(Error::State {
                id: record.id.clone(),
                status: "stopped",
                why: "container not running",
            })
        }
    }
    sys::pidfd_send_signal(pidfd.as_raw_fd(), sig).context(what)
}
