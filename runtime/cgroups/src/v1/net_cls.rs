//! v1 `net_cls` controller (cgroup-v1 `net_cls.rst`): tags the cgroup's
//! packets with a class id for tc and netfilter.

use crate::interface_file;
use crate::CgroupError;
use std::path::Path;

/// Applies `linux.resources.network.classID`.
pub fn apply(dir: &Path, class_id: u32) -> Result<(), CgroupError> {
    Ok(interface_file::write_in(
        dir,
        "net_cls.classid",
        &class_id.to_string(),
    )?)
}
