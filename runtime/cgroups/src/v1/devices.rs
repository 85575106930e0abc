//! v1 `devices` controller (cgroup-v1 `devices.rst`).
//!
//! Rules are written in spec order, each to `devices.allow` or
//! `devices.deny` in its own write(2). A rule for all devices (`a`) resets
//! the cgroup's list to allow-all or deny-all, which is how the spec's
//! usual leading `{"allow": false, "access": "rwm"}` starts from nothing.
//! During an `update` the cgroup briefly holds the intermediate lists; they
//! never allow more than the old or the new list together.

use crate::device_rules::DeviceRule;
use crate::interface_file::InterfaceFile;
use crate::CgroupError;
use berth_oci::LinuxDeviceCgroup;
use std::path::Path;

/// Applies `linux.resources.devices` (validated first, so a bad rule
/// changes nothing).
pub fn apply(dir: &Path, rules: &[LinuxDeviceCgroup]) -> Result<(), CgroupError> {
    let rules = DeviceRule::from_oci_list(rules)?;
    let mut allow: Option<InterfaceFile> = None;
    let mut deny: Option<InterfaceFile> = None;
    for rule in &rules {
        let line = rule.v1_line();
        let (slot, name) = if rule.allow {
            (&mut allow, "devices.allow")
        } else {
            (&mut deny, "devices.deny")
        };
        let file = match slot {
            Some(f) => f,
            None => slot.insert(InterfaceFile::open(&dir.join(name), &line)?),
        };
        file.write(&line)?;
    }
    Ok(())
}
