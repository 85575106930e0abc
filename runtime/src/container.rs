//! A container's record in the runtime's state dir (`--root`, default
//! /run/berth-runtime): `<root>/<id>/state.json` plus the exec FIFO while the
//! container waits for `start`. The record keeps what later commands need
//! without the bundle (which may change or vanish after create): the parsed
//! config, the init's pid and start time (so a reused pid is never mistaken
//! for the container), and the cgroup the runtime made.

use std::path::{Path, PathBuf};

use berth_oci::{ContainerStatus, Spec, State};
use serde::{Deserialize, Serialize};

use crate::error::{Context, Error, Result};

/// The default `--root`.
pub const DEFAULT_ROOT: &str = "/run/berth-runtime";
/// The exec FIFO's name in a container's state dir.
pub const EXEC_FIFO: &str = "exec.fifo";
const STATE_FILE: &str = "state.json";

/// What `state.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContainerRecord {
    pub id: String,
    /// The init's pid on the host; 0 before it exists.
    pub pid: i32,
    /// The init's start time (field 22 of /proc/<pid>/stat), to detect pid reuse.
    pub pid_start_time: u64,
    pub bundle: String,
    pub rootfs: String,
    /// RFC 3339.
    pub created: String,
    pub owner: String,
    /// The host cgroup dirs this container uses and which of them the runtime
    /// created (only those are removed on delete).
    #[serde(default)]
    pub cgroup: Option<serde_json::Value>,
    /// Whether `--systemd-cgroup` was used at create.
    #[serde(default)]
    pub systemd_cgroup: bool,
    /// The config the container was created from.
    pub config: Spec,
}

/// Checks a container id the way runc does: letters, digits and `_+-.`, not
/// `.` or `..`, at most 1024 bytes. This also keeps ids from escaping the
/// state dir.
pub fn validate_id(id: &str) -> Result<()> {
    let ok_chars = id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'+' | b'-' | b'.'));
    if id.is_empty() || id == "." || id == ".." || !ok_chars || id.len() > 1024 {
        return Err(Error::Usage(format!(
            "invalid container id {id:?}: use letters, digits and _+-. only"
        )));
    }
    Ok(())
}

/// The state dir of one container.
pub fn state_dir(root: &Path, id: &str) -> PathBuf {
    root.join(id)
}

impl ContainerRecord {
    /// Loads the record of `id` under `root`.
    pub fn load(root: &Path, id: &str) -> Result<ContainerRecord> {
        validate_id(id)?;
        let path = state_dir(root, id).join(STATE_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotFound(id.to_string()))
            }
            Err(e) => return Err(e).context(|| format!("read {}", path.display())),
        };
        serde_json::from_slice(&bytes)
            .map_err(|e| Error::Invalid(format!("parse {}: {e}", path.display())))
    }

    /// Writes the record atomically (temp file + rename), so a reader never
    /// sees half a file.
    pub fn save(&self, root: &Path) -> Result<()> {
        let dir = state_dir(root, &self.id);
        let tmp = dir.join(".state.json.tmp");
        let path = dir.join(STATE_FILE);
        let bytes = serde_json::to_vec(self).expect("record serializes");
        std::fs::write(&tmp, bytes).context(|| format!("write {}", tmp.display()))?;
        std::fs::rename(&tmp, &path).context(|| format!("rename {}", path.display()))
    }

    /// Where the container is now: `created` while its init waits on the exec
    /// FIFO, `running` after, `paused` when frozen, `stopped` once the init
    /// is gone (or a zombie, or the pid now belongs to another process).
    pub fn status(&self, root: &Path) -> ContainerStatus {
        if self.pid <= 0 || !self.init_alive() {
            return ContainerStatus::Stopped;
        }
        if state_dir(root, &self.id).join(EXEC_FIFO).exists() {
            return ContainerStatus::Created;
        }
        if crate::cgroups::is_paused(self) {
            return ContainerStatus::Paused;
        }
        ContainerStatus::Running
    }

    /// Whether the init process is the one we started and has not exited.
    pub fn init_alive(&self) -> bool {
        match proc_stat(self.pid) {
            Some((state, start)) => state != 'Z' && state != 'X' && start == self.pid_start_time,
            None => false,
        }
    }

    /// The OCI state document.
    pub fn oci_state(&self, root: &Path) -> State {
        let status = self.status(root);
        State {
            oci_version: berth_oci::OCI_VERSION.to_string(),
            id: self.id.clone(),
            status,
            pid: (status != ContainerStatus::Stopped).then_some(self.pid),
            bundle: self.bundle.clone(),
            annotations: self.config.annotations.clone(),
        }
    }

    /// runc's `state` output: the OCI state plus rootfs, created and owner
    /// (left empty: `list` fills it), with pid 0 once stopped, as runc
    /// reports them. `ociVersion` is the spec version this runtime
    /// implements (runc too writes its own, whatever the bundle says).
    pub fn runc_state(&self, root: &Path) -> berth_oci::RuncState {
        let status = self.status(root);
        berth_oci::RuncState {
            oci_version: berth_oci::OCI_VERSION.to_string(),
            id: self.id.clone(),
            pid: if status == ContainerStatus::Stopped {
                0
            } else {
                self.pid
            },
            status,
            bundle: self.bundle.clone(),
            rootfs: self.rootfs.clone(),
            created: self.created.clone(),
            annotations: self.config.annotations.clone(),
            owner: String::new(),
        }
    }
}

/// State letter and start time (in clock ticks since boot) of a process, from
/// /proc/<pid>/stat; None if there is no such process.
pub fn proc_stat(pid: i32) -> Option<(char, u64)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain spaces: parse after the last ')'.
    let rest = &s[s.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    let state = fields.next()?.chars().next()?;
    // rest starts at field 3 (state); starttime is field 22.
    let start = fields.nth(18)?.parse().ok()?;
    Some((state, start))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked() {
        for ok in ["a", "abc-1.2_3+x", "x.y"] {
            validate_id(ok).unwrap();
        }
        for bad in ["", ".", "..", "a/b", "../x", "a b", "a\0b"] {
            assert!(validate_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn reads_own_stat() {
        let (state, start) = proc_stat(std::process::id() as i32).unwrap();
        assert!(state == 'R' || state == 'S', "{state}");
        assert!(start > 0);
        assert!(proc_stat(i32::MAX).is_none());
    }
}
