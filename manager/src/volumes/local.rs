//! Mount-backed local volumes: `volume create --opt type=tmpfs --opt
//! device=tmpfs --opt o=size=8m` (moby `volume/local` `mount`): the file
//! system is mounted on the volume's `_data` directory at first use and
//! unmounted when no running container uses the volume any more, so a tmpfs
//! volume starts empty at each first use, as in docker.
//!
//! `o` is mount(8)'s option list: flags (`ro`, `nosuid`, `bind` ...) become
//! `MS_*` flags and the rest the file system's data (`size=8m`), as
//! `berth_store::mount` splits them.

use super::record::VolumeRecord;
use super::VolumeError;
use berth_store::mount::{mount_all, unmount, Mount};
use std::path::Path;

/// The mount a mount-backed volume's options describe.
pub fn volume_mount(record: &VolumeRecord) -> Option<Mount> {
    if !record.is_mount_backed() {
        return None;
    }
    let get = |k: &str| record.options.get(k).cloned().unwrap_or_default();
    Some(Mount {
        kind: get("type"),
        source: get("device"),
        options: get("o")
            .split(',')
            .filter(|o| !o.is_empty())
            .map(str::to_string)
            .collect(),
    })
}

/// Mounts the volume's file system on `data` unless it is there already.
pub fn ensure_mounted(record: &VolumeRecord, data: &Path) -> Result<(), VolumeError> {
    let Some(m) = volume_mount(record) else {
        return Ok(());
    };
    if berth_store::mount::is_mounted(data) {
        return Ok(());
    }
    mount_all(&[m], data).map_err(|source| VolumeError::Mount {
        name: record.name.clone(),
        source,
    })
}

/// Unmounts the volume's file system from `data` if it is mounted.
pub fn ensure_unmounted(record: &VolumeRecord, data: &Path) -> Result<(), VolumeError> {
    if !record.is_mount_backed() || !berth_store::mount::is_mounted(data) {
        return Ok(());
    }
    unmount(data).map_err(|source| VolumeError::Mount {
        name: record.name.clone(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn options_become_a_mount() {
        let mut r = VolumeRecord {
            name: "v".into(),
            driver: "local".into(),
            created_at: String::new(),
            labels: BTreeMap::new(),
            options: BTreeMap::new(),
        };
        assert!(volume_mount(&r).is_none());
        r.options.insert("type".into(), "tmpfs".into());
        r.options.insert("device".into(), "tmpfs".into());
        r.options.insert("o".into(), "size=8m,nosuid".into());
        assert_eq!(
            volume_mount(&r),
            Some(Mount {
                kind: "tmpfs".into(),
                source: "tmpfs".into(),
                options: vec!["size=8m".into(), "nosuid".into()],
            })
        );
    }
}
