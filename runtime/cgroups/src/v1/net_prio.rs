//! v1 `net_prio` controller (cgroup-v1 `net_prio.rst`): per-interface
//! priority of the cgroup's traffic, one `ifname prio` per write(2).

use crate::interface_file::InterfaceFile;
use crate::CgroupError;
use berth_oci::LinuxInterfacePriority;
use std::path::Path;

/// Applies `linux.resources.network.priorities`.
pub fn apply(dir: &Path, priorities: &[LinuxInterfacePriority]) -> Result<(), CgroupError> {
    let line = |p: &LinuxInterfacePriority| format!("{} {}", p.name, p.priority);
    let mut file = InterfaceFile::open(&dir.join("net_prio.ifpriomap"), &line(&priorities[0]))?;
    for p in priorities {
        if p.name.is_empty() || p.name.contains(char::is_whitespace) {
            return Err(CgroupError::Invalid {
                field: "network.priorities.name",
                value: format!("{:?}", p.name),
                reason: "want an interface name",
            });
        }
        file.write(&line(p))?;
    }
    Ok(())
}
