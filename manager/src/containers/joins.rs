//! `--network container:NAME`, `--pid container:NAME` and `--ipc
//! container:NAME`: the containers whose namespaces a container joins.
//! Create checks that each exists (so that a mistyped name fails before
//! anything is made); every start finds their inits, which must be running
//! (and an IPC donor `shareable`, as docker 20.10 wants), and writes the
//! namespace paths into the bundle ([`spec::joined`]). docker's words.

use super::record::ContainerRecord;
use super::spec::joined::{set_joined_namespaces, JoinedInits};
use super::spec::namespaces::{IpcMode, NamespaceModes, PidMode};
use super::spec::{self, ContainerOptions};
use super::{ContainerError, ContainerService};
use crate::networks::NetworkMode;

/// Create: the `container:` targets of `--pid` and `--ipc` exist (the
/// network's is checked with the rest of `--network`).
pub fn check_targets(
    containers: &ContainerService,
    o: &ContainerOptions,
) -> Result<(), ContainerError> {
    let modes = NamespaceModes::parse(o)?;
    if let PidMode::Container(target) = &modes.pid {
        containers.resolve(target)?;
    }
    if let IpcMode::Container(target) = &modes.ipc {
        containers.resolve(target)?;
    }
    Ok(())
}

/// docker's `can't join IPC of container ID: <cause>`.
fn ipc_error(donor_id: &str, cause: ContainerError) -> ContainerError {
    ContainerError::FailedPrecondition(format!("can't join IPC of container {donor_id}: {cause}"))
}

/// The running container `target` names.
fn running(containers: &ContainerService, target: &str) -> Result<ContainerRecord, ContainerError> {
    let other = containers.resolve(target)?;
    if !other.state.status.is_live() || other.state.pid == 0 {
        return Err(ContainerError::FailedPrecondition(format!(
            "container {} is not running",
            other.id
        )));
    }
    Ok(other)
}

/// Start: points the spec's joined namespaces at the other containers'
/// inits.
pub fn join_namespaces(
    containers: &ContainerService,
    record: &ContainerRecord,
) -> Result<(), ContainerError> {
    let o = &record.config.options;
    let modes = NamespaceModes::parse(o)?;
    let mut inits = JoinedInits::default();
    if let NetworkMode::Container(target) = &o.network {
        let other = containers.resolve(target)?;
        if !other.state.status.is_live() || other.state.pid == 0 {
            return Err(ContainerError::FailedPrecondition(format!(
                "cannot join network of a non running container: {}",
                other.id
            )));
        }
        inits.network = Some(other.state.pid as i32);
    }
    if let PidMode::Container(target) = &modes.pid {
        inits.pid = Some(running(containers, target)?.state.pid as i32);
    }
    if let IpcMode::Container(target) = &modes.ipc {
        let donor_id = containers.resolve(target)?.id;
        let donor = running(containers, &donor_id).map_err(|e| ipc_error(&donor_id, e))?;
        let shareable = NamespaceModes::parse(&donor.config.options)
            .is_ok_and(|m| matches!(m.ipc, IpcMode::Shareable | IpcMode::Host));
        if !shareable {
            return Err(ipc_error(
                &donor.id,
                ContainerError::FailedPrecondition(
                    "non-shareable IPC (hint: use IpcMode:shareable for the donor container)"
                        .into(),
                ),
            ));
        }
        inits.ipc = Some(donor.state.pid as i32);
        if !spec::user_mounts_at(o, "/dev/shm") {
            inits.ipc_shm = Some(containers.paths.shm_dir(&donor.id));
        }
    }
    if inits.is_empty() {
        return Ok(());
    }
    let config = containers.paths.bundle(&record.id).join("config.json");
    set_joined_namespaces(&config, &inits).map_err(|source| ContainerError::Io {
        op: "set the joined namespaces in",
        path: config,
        source,
    })
}
