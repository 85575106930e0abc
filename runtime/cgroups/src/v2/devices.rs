//! v2 device control: an eBPF program built from the rules and attached to
//! the cgroup directory, replacing the previous one ([`crate::ebpf`]).

use crate::device_rules::DeviceRule;
use crate::ebpf;
use crate::CgroupError;
use berth_oci::LinuxDeviceCgroup;
use std::os::fd::AsFd;
use std::path::Path;

/// Applies `linux.resources.devices` (validated first).
pub fn apply(dir: &Path, rules: &[LinuxDeviceCgroup]) -> Result<(), CgroupError> {
    let rules = DeviceRule::from_oci_list(rules)?;
    apply_rules(dir, &rules)
}

/// Assembles and attaches the program for already validated rules.
pub fn apply_rules(dir: &Path, rules: &[DeviceRule]) -> Result<(), CgroupError> {
    let program = ebpf::device_program(rules);
    let fd = super::open_dir(dir)?;
    ebpf::attach_device_program(fd.as_fd(), &program, dir)?;
    Ok(())
}
