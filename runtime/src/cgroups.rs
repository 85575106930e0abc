//! The runtime's use of `berth-cgroups`: which cgroup a container gets, what
//! is kept of it in state.json, and the questions later commands ask.
//!
//! The cgroup is `linux.cgroupsPath`, or `/berth/<id>` by default, below the
//! root of every hierarchy (never below the runtime's own cgroup: see
//! `berth_cgroups::path`). Device rules are the spec's plus the ones runc
//! always allows (null, zero, tty, pts, ...), appended after them.
//! Rootless runs (euid != 0) get no cgroup, as with runc without delegation.

use berth_cgroups::{Cgroup, CgroupsPath, Layout};
use berth_oci::Spec;

use crate::container::ContainerRecord;
use crate::error::{Error, Result};

/// Makes the container's cgroup and applies its resources.
pub fn create(spec: &Spec, id: &str, systemd: bool) -> Result<Option<Cgroup>> {
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    let linux = spec.linux.as_ref();
    let raw_path = linux.and_then(|l| l.cgroups_path.as_deref());
    if systemd {
        berth_cgroups::SystemdPath::parse(raw_path.unwrap_or(""))
            .map_err(|e| Error::Invalid(format!("linux.cgroupsPath: {e}")))?;
        return Err(Error::NotImplemented(
            "the systemd cgroup driver (--systemd-cgroup)".into(),
        ));
    }
    let path = match raw_path {
        Some(p) if !p.is_empty() => CgroupsPath::parse(p),
        _ => CgroupsPath::default_for(id),
    }
    .map_err(|e| Error::Invalid(format!("linux.cgroupsPath: {e}")))?;
    let layout = Layout::detect().map_err(berth_cgroups::CgroupError::from)?;
    let mut resources = linux.and_then(|l| l.resources.clone()).unwrap_or_default();
    resources
        .devices
        .extend(berth_cgroups::default_allowed_oci());
    Ok(Some(Cgroup::create_with_resources(
        &layout, &path, &resources,
    )?))
}

/// The cgroup as kept in state.json.
pub fn to_record(cg: &Cgroup) -> serde_json::Value {
    serde_json::to_value(cg).expect("cgroup serializes")
}

/// The container's cgroup, from its record.
pub fn of(record: &ContainerRecord) -> Result<Option<Cgroup>> {
    match &record.cgroup {
        None => Ok(None),
        Some(v) => serde_json::from_value(v.clone()).map(Some).map_err(|e| {
            Error::Invalid(format!("container {}: bad cgroup record: {e}", record.id))
        }),
    }
}

/// Like [`of`], but an error when the container has no cgroup.
pub fn require(record: &ContainerRecord) -> Result<Cgroup> {
    of(record)?.ok_or_else(|| {
        Error::Invalid(format!(
            "container {:?} has no cgroup (rootless?)",
            record.id
        ))
    })
}

/// Whether the container's cgroup is frozen.
pub fn is_paused(record: &ContainerRecord) -> bool {
    matches!(
        of(record).ok().flatten().map(|c| c.freezer_state()),
        Some(Ok(berth_cgroups::FreezerState::Frozen))
    )
}
