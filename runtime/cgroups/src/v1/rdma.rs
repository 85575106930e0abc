//! `rdma` controller, the same `rdma.max` format on v1 and v2
//! (cgroup-v1 `rdma.rst`): `<device> hca_handle=<n> hca_object=<n>`.

use crate::interface_file;
use crate::CgroupError;
use berth_oci::LinuxRdma;
use std::collections::BTreeMap;
use std::path::Path;

/// The `rdma.max` line for one device, or `None` when it sets nothing.
pub fn line(device: &str, limit: &LinuxRdma) -> Option<String> {
    let mut line = device.to_string();
    if let Some(h) = limit.hca_handles {
        line.push_str(&format!(" hca_handle={h}"));
    }
    if let Some(o) = limit.hca_objects {
        line.push_str(&format!(" hca_object={o}"));
    }
    (line.len() > device.len()).then_some(line)
}

/// Applies `linux.resources.rdma`.
pub fn apply(dir: &Path, rdma: &BTreeMap<String, LinuxRdma>) -> Result<(), CgroupError> {
    for (device, limit) in rdma {
        if device.is_empty() || device.contains(char::is_whitespace) {
            return Err(CgroupError::Invalid {
                field: "rdma",
                value: format!("{device:?}"),
                reason: "want an RDMA device name",
            });
        }
        if let Some(line) = line(device, limit) {
            interface_file::write_in(dir, "rdma.max", &line)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_rdma_lines() {
        let both = LinuxRdma {
            hca_handles: Some(2),
            hca_objects: Some(2000),
        };
        assert_eq!(
            line("mlx4_0", &both).unwrap(),
            "mlx4_0 hca_handle=2 hca_object=2000"
        );
        assert_eq!(line("mlx4_0", &LinuxRdma::default()), None);
    }
}
