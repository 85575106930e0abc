//! `delete [--force] ID`: remove a stopped (or created) container: its
//! cgroup and state dir, then the poststop hooks. With `--force` a running
//! container is killed first; the wait for its death is a poll on a pidfd,
//! which wakes the moment it exits (runc sleeps 100 ms here).

use std::os::fd::AsRawFd;

use berth_oci::{ContainerStatus, NamespaceType};

use crate::cli::Parsed;
use crate::container::{self, ContainerRecord};
use crate::error::{Context, Error, Result};
use crate::{cgroups, hooks, sys, Runtime};

/// `delete`.
pub fn command(rt: &Runtime, flags: &Parsed) -> Result<i32> {
    let id = super::one_id("delete", flags)?;
    let force = flags.is_set("force");
    let record = match ContainerRecord::load(&rt.root, id) {
        Ok(r) => r,
        Err(Error::NotFound(_)) => {
            // A create that died before writing state.json leaves only the dir.
            let dir = container::state_dir(&rt.root, id);
            let existed = dir.exists();
            let _ = std::fs::remove_dir_all(&dir);
            if force || existed {
                return Ok(0);
            }
            return Err(Error::NotFound(id.clone()));
        }
        Err(e) => return Err(e),
    };
    delete(rt, &record, force)?;
    Ok(0)
}

/// Deletes a container; running ones only with `force`.
pub fn delete(rt: &Runtime, record: &ContainerRecord, force: bool) -> Result<()> {
    let status = record.status(&rt.root);
    match status {
        ContainerStatus::Stopped => {}
        ContainerStatus::Created => kill_and_wait(record)?,
        ContainerStatus::Running | ContainerStatus::Paused | ContainerStatus::Creating => {
            if !force {
                return Err(Error::State {
                    id: record.id.clone(),
                    status: status.as_str(),
                    why: "cannot delete a container that is not stopped (use --force)",
                });
            }
            kill_and_wait(record)?;
        }
    }
    destroy(rt, record)
}

/// SIGKILLs the init and waits until it has exited.
fn kill_and_wait(record: &ContainerRecord) -> Result<()> {
    let cg = cgroups::of(record)?;
    let Ok(pidfd) = sys::pidfd_open(record.pid) else {
        return Ok(()); // already gone
    };
    if !record.init_alive() {
        return Ok(());
    }
    let _ = sys::pidfd_send_signal(pidfd.as_raw_fd(), libc::SIGKILL);
    if let Some(cg) = &cg {
        // A frozen init cannot die until thawed.
        let _ = cg.thaw();
    }
    if !sys::pidfd_wait_exit(pidfd.as_raw_fd(), 10_000).context(|| {
        format!(
            "wait for container {} (pid {}) to exit",
            record.id, record.pid
        )
    })? {
        return Err(Error::Container(format!(
            "container {:?} (pid {}) did not exit within 10s of SIGKILL",
            record.id, record.pid
        )));
    }
    Ok(())
}

/// Removes what the container left: its remaining processes (when it shared
/// the host's pid namespace, the init's death does not take them along), its
/// cgroup, its state dir; then runs the poststop hooks.
pub fn destroy(rt: &Runtime, record: &ContainerRecord) -> Result<()> {
    let cg = cgroups::of(record)?;
    if let Some(cg) = &cg {
        let own_pid_ns = record.config.linux.as_ref().is_some_and(|l| {
            l.namespaces
                .iter()
                .any(|n| n.kind == NamespaceType::Pid && n.path.is_none())
        });
        if !own_pid_ns {
            let _ = cg.kill_all(libc::SIGKILL);
        }
        cg.destroy()?;
    }
    let dir = container::state_dir(&rt.root, &record.id);
    std::fs::remove_dir_all(&dir).context(|| format!("remove state dir {}", dir.display()))?;
    if let Some(h) = record
        .config
        .hooks
        .as_ref()
        .filter(|h| !h.poststop.is_empty())
    {
        let mut state = record.oci_state(&rt.root);
        state.status = ContainerStatus::Stopped;
        state.pid = None;
        if let Err(e) = hooks::run_all("poststop", &h.poststop, &state) {
            rt.log.write("warning", &e.to_string());
        }
    }
    Ok(())
}
