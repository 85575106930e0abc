//! Namespaces joined from other containers: `--network container:NAME`,
//! `--pid container:NAME` and `--ipc container:NAME`. The other container's
//! init pid changes at each of its starts, so the paths
//! (`/proc/<pid>/ns/...`) are written into this container's config.json at
//! each start of this one; the spec made at create holds the namespaces
//! without a path.
//!
//! An IPC namespace comes with its /dev/shm: the joiner's /dev/shm becomes a
//! bind of the donor's host-side tmpfs (`containers::shm`), as docker binds
//! the donor's shm directory.

use std::path::Path;

/// The init pids of the containers whose namespaces this one joins.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct JoinedInits {
    pub network: Option<i32>,
    pub pid: Option<i32>,
    pub ipc: Option<i32>,
    /// The IPC donor's shareable /dev/shm on the host, bound at /dev/shm
    /// (None when the container mounts its own there).
    pub ipc_shm: Option<std::path::PathBuf>,
}

impl JoinedInits {
    pub fn is_empty(&self) -> bool {
        *self == JoinedInits::default()
    }
}

/// Sets the joined namespaces' paths (and the joined /dev/shm) in the OCI
/// spec at `config_json` (the caller names the file in its error).
pub fn set_joined_namespaces(config_json: &Path, inits: &JoinedInits) -> std::io::Result<()> {
    let invalid = |m: String| std::io::Error::new(std::io::ErrorKind::InvalidData, m);
    let bytes = std::fs::read(config_json)?;
    let mut spec: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| invalid(e.to_string()))?;
    join(&mut spec, inits).map_err(|m| invalid(m.to_string()))?;
    let out = serde_json::to_vec(&spec).expect("spec serialises");
    std::fs::write(config_json, out)
}

/// [`set_joined_namespaces`] on the parsed spec.
fn join(spec: &mut serde_json::Value, inits: &JoinedInits) -> Result<(), &'static str> {
    let namespaces = spec
        .pointer_mut("/linux/namespaces")
        .and_then(|n| n.as_array_mut())
        .ok_or("no linux.namespaces")?;
    for (kind, proc_name, pid) in [
        ("network", "net", inits.network),
        ("pid", "pid", inits.pid),
        ("ipc", "ipc", inits.ipc),
    ] {
        let Some(pid) = pid else { continue };
        let entry =
            serde_json::json!({"type": kind, "path": format!("/proc/{pid}/ns/{proc_name}")});
        match namespaces
            .iter_mut()
            .find(|n| n.get("type").and_then(|t| t.as_str()) == Some(kind))
        {
            Some(n) => *n = entry,
            None => namespaces.push(entry),
        }
    }
    if let Some(shm) = &inits.ipc_shm {
        let mounts = spec
            .pointer_mut("/mounts")
            .and_then(|m| m.as_array_mut())
            .ok_or("no mounts")?;
        let shm = serde_json::json!({
            "destination": "/dev/shm",
            "type": "bind",
            "source": shm.to_string_lossy(),
            "options": ["rbind", "nosuid", "nodev", "noexec"],
        });
        // The default /dev/shm (a tmpfs `shm`), or the bind of an earlier
        // start's donor.
        let at_dev_shm = |m: &serde_json::Value| {
            m.get("destination").and_then(|d| d.as_str()) == Some("/dev/shm")
        };
        match mounts.iter_mut().find(|m| at_dev_shm(m)) {
            Some(m) => *m = shm,
            None => mounts.push(shm),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec() -> serde_json::Value {
        json!({
            "mounts": [
                {"destination": "/proc", "type": "proc", "source": "proc"},
                {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["size=65536k"]},
            ],
            "linux": {"namespaces": [{"type": "mount"}, {"type": "network"}, {"type": "pid"}, {"type": "ipc"}]}
        })
    }

    #[test]
    fn sets_each_joined_namespace_and_the_donors_shm() {
        let mut s = spec();
        let inits = JoinedInits {
            network: Some(7),
            pid: Some(8),
            ipc: Some(9),
            ipc_shm: Some("/var/lib/berth/containers/d/shm".into()),
        };
        join(&mut s, &inits).unwrap();
        assert_eq!(
            s["linux"]["namespaces"],
            json!([{"type": "mount"},
                   {"type": "network", "path": "/proc/7/ns/net"},
                   {"type": "pid", "path": "/proc/8/ns/pid"},
                   {"type": "ipc", "path": "/proc/9/ns/ipc"}])
        );
        assert_eq!(s["mounts"][1]["source"], "/var/lib/berth/containers/d/shm");
        assert_eq!(s["mounts"][1]["type"], "bind");
        // The next start's donor replaces the last one's.
        join(
            &mut s,
            &JoinedInits {
                ipc: Some(10),
                ipc_shm: Some("/var/lib/berth/containers/e/shm".into()),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(s["linux"]["namespaces"][3]["path"], "/proc/10/ns/ipc");
        assert_eq!(s["mounts"].as_array().unwrap().len(), 2);
        assert_eq!(s["mounts"][1]["source"], "/var/lib/berth/containers/e/shm");
    }

    #[test]
    fn only_the_joined_ones_change() {
        let mut s = spec();
        join(
            &mut s,
            &JoinedInits {
                pid: Some(3),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(s["linux"]["namespaces"][1], json!({"type": "network"}));
        assert_eq!(s["linux"]["namespaces"][2]["path"], "/proc/3/ns/pid");
        assert_eq!(s["mounts"][1]["source"], "shm");
        assert!(join(&mut json!({}), &JoinedInits::default()).is_err());
    }

    #[test]
    fn a_missing_spec_file_fails() {
        let e = set_joined_namespaces(
            Path::new("/nonexistent/config.json"),
            &JoinedInits::default(),
        );
        assert_eq!(e.unwrap_err().kind(), std::io::ErrorKind::NotFound);
    }
}
