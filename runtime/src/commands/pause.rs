//! `pause ID` / `resume ID`: freeze and thaw every process of the container
//! through its cgroup (v1 freezer, v2 cgroup.freeze).

use berth_oci::ContainerStatus;

use crate::cli::Parsed;
use crate::container::ContainerRecord;
use crate::error::{Error, Result};
use crate::{cgroups, Runtime};

/// `pause`.
pub fn pause(rt: &Runtime, flags: &Parsed) -> Result<i32> {
    let id = super::one_id("pause", flags)?;
    let record = ContainerRecord::load(&rt.root, id)?;
    match record.status(&rt.root) {
        ContainerStatus::Running | ContainerStatus::Created => {}
        s => {
            return Err(Error::State {
                id: id.clone(),
                status: s.as_str(),
                why: "only a running or created container can be paused",
            })
        }
    }
    cgroups::require(&record)?.freeze()?;
    Ok(0)
}

/// `resume`.
pub fn resume(rt: &Runtime, flags: &Parsed) -> Result<i32> {
    let id = super::one_id("resume", flags)?;
    let record = ContainerRecord::load(&rt.root, id)?;
    match record.status(&rt.root) {
        ContainerStatus::Paused => {}
        s => {
            return Err(Error::State {
                id: id.clone(),
                status: s.as_str(),
                why: "container is not paused",
            })
        }
    }
    cgroups::require(&record)?.thaw()?;
    Ok(0)
}
