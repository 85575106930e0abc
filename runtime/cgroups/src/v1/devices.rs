//! v1 `devices` controller (cgroup-v1 `devices.rst`).
//!
//! The list starts from deny-all, as the v2 program and runc do (a device no
//! rule matches is denied): unless the first rule is itself for all
//! devices (`a`, which resets the list), `a` is written to `devices.deny`
//! first. Then the rules are written in spec order, each to `devices.allow`
//! or `devices.deny` in its own write(2). During an `update` the cgroup
//! briefly holds the intermediate lists, which never allow more than the
//! old or the new list.

use crate::device_rules::{DeviceKind, DeviceRule};
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
    if rules.first().is_none_or(|r| r.kind != DeviceKind::All) {
        let file = deny.insert(InterfaceFile::open(&dir.join("devices.deny"), "a")?);
        file.write("a")?;
    }
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
