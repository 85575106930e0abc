//! The runtime's use of `berth-cgroups`: which cgroup a container gets, what
//! is kept of it in state.json, and the questions later commands ask.
//!
//! The cgroup is `linux.cgroupsPath`, or `/berth/<id>` by default, below the
//! root of every hierarchy (never below the runtime's own cgroup: see
//! `berth_cgroups::path`). Device rules are the spec's plus the ones runc
//! always allows (null, zero, tty, pts, ...), appended after them.
//! Rootless runs (euid != 0) get no cgroup, as with runc without delegation.

use berth_cgroups::{Cgroup, CgroupsPath, Layout};
use berth_oci::{LinuxResources, Spec};

use crate::container::ContainerRecord;
use crate::error::{Error, Result};
use crate::log::Log;

/// How the container's cgroup is made: by us through cgroupfs before the
/// clone (so a v2 child can start inside it), or by systemd after it (a
/// transient scope must be started with the pid it holds).
// One short-lived value per create: its size does not matter.
#[allow(clippy::large_enum_variant)]
pub enum CgroupPlan {
    /// Rootless: no cgroup.
    None,
    /// Made already.
    Cgroupfs(Cgroup),
    /// `--systemd-cgroup`: checked already; made by [`CgroupPlan::attach`].
    Systemd {
        layout: Layout,
        path: String,
        resources: LinuxResources,
    },
}

impl CgroupPlan {
    /// The cgroup made before the clone, if any.
    pub fn cgroup(&self) -> Option<&Cgroup> {
        match self {
            CgroupPlan::Cgroupfs(c) => Some(c),
            _ => None,
        }
    }

    /// After the clone: puts `pid` in the cgroup (v1 cgroupfs: write its pid;
    /// systemd: start the scope) and returns the container's cgroup.
    /// `cloned_into` says whether clone3 placed it already (v2).
    pub fn attach(self, pid: i32, cloned_into: bool) -> Result<Option<Cgroup>> {
        match self {
            CgroupPlan::None => Ok(None),
            CgroupPlan::Cgroupfs(cg) => {
                if !cloned_into {
                    if let Err(e) = cg.add_process(pid) {
                        let _ = cg.destroy();
                        return Err(e.into());
                    }
                }
                Ok(Some(cg))
            }
            CgroupPlan::Systemd {
                layout,
                path,
                resources,
            } => Ok(Some(berth_cgroups::systemd::create(
                &layout, &path, pid, &resources,
            )?)),
        }
    }
}

/// Decides and (for cgroupfs) makes the container's cgroup and applies its
/// resources. Errors leave nothing behind. A cgroup that exists already is
/// joined unless frozen (the init would stop in it and `create` wait
/// forever: `berth_cgroups::CgroupError::Frozen`, runc's "container's
/// cgroup unexpectedly frozen"); if it holds processes, a warning, as runc
/// 1.1 gives.
pub fn plan(spec: &Spec, id: &str, systemd: bool, log: &Log) -> Result<CgroupPlan> {
    if unsafe { libc::geteuid() } != 0 {
        return Ok(CgroupPlan::None);
    }
    let linux = spec.linux.as_ref();
    let raw_path = linux.and_then(|l| l.cgroups_path.as_deref());
    let layout = Layout::detect().map_err(berth_cgroups::CgroupError::from)?;
    let mut resources = linux.and_then(|l| l.resources.clone()).unwrap_or_default();
    // Refused before any cgroup is made.
    refuse_unified_on_v1(&resources, &layout)?;
    resources
        .devices
        .extend(berth_cgroups::default_allowed_oci());
    if systemd {
        let path = match raw_path {
            Some(p) if !p.is_empty() => p.to_string(),
            _ => format!("system.slice:berth:{id}"),
        };
        berth_cgroups::systemd::check(&path).map_err(berth_cgroups::CgroupError::from)?;
        return Ok(CgroupPlan::Systemd {
            layout,
            path,
            resources,
        });
    }
    let path = match raw_path {
        Some(p) if !p.is_empty() => CgroupsPath::parse(p),
        _ => CgroupsPath::default_for(id),
    }
    .map_err(|e| Error::Invalid(format!("linux.cgroupsPath: {e}")))?;
    let cgroup = Cgroup::create_with_resources(&layout, &path, &resources)?;
    if cgroup.existed() {
        let n = cgroup.pids().map(|p| p.len()).unwrap_or(0);
        if n > 0 {
            let msg = format!("container's cgroup is not empty: {n} process(es) found");
            log.write("warning", &msg);
            eprintln!("berth-runtime: warning: {msg}");
        }
    }
    Ok(CgroupPlan::Cgroupfs(cgroup))
}

/// runc's config validation (and its v1 manager's `Set`, for `update`):
/// `unified` holds cgroup v2 files, and a v1 or hybrid host runs the
/// container's controllers through v1, so the values would not limit it
/// (berth-cgroups could write them to a hybrid host's cgroup2 mount, where
/// no controller is enabled). Callers check before changing anything.
pub fn refuse_unified_on_v1(resources: &LinuxResources, layout: &Layout) -> Result<()> {
    if !resources.unified.is_empty() && !layout.is_v2() {
        return Err(Error::Invalid(
            "invalid configuration: cannot use unified on cgroup v1 (linux.resources.unified needs a cgroup v2 host)"
                .into(),
        ));
    }
    Ok(())
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
