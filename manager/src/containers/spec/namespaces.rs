//! The namespace flags: `--pid`, `--ipc`, `--uts`, `--cgroupns`, `--userns`,
//! as docker 20.10 reads them (`container.PidMode` & co.): the empty mode
//! is a namespace of the container's own; `host` shares the host's;
//! `container:NAME` joins another container's (pid and ipc; the network's
//! is `--network container:NAME`, crate::networks). A joined namespace's
//! path, `/proc/<its init>/ns/...`, changes at each start of the other
//! container, so the spec made at create holds the namespace without a
//! path and `containers::joined` sets it at each start.

use berth_oci::Mount;
use std::path::Path;

use super::{ContainerOptions, SpecError};

/// `--pid`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PidMode {
    /// Unset: a PID namespace of its own.
    Private,
    /// `host`: the host's.
    Host,
    /// `container:NAME`: that running container's.
    Container(String),
}

/// `--ipc`: docker 20.10's modes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IpcMode {
    /// `private` or unset (docker 20.10's default): an IPC namespace of
    /// its own with a private /dev/shm, which no other container may join.
    Private,
    /// `shareable`: the same, and others may join it (`container:NAME`).
    Shareable,
    /// `host`: the host's IPC namespace, and the host's /dev/shm bound in.
    Host,
    /// `none`: its own namespace and no /dev/shm at all.
    None,
    /// `container:NAME`: that running, shareable container's namespace and
    /// /dev/shm.
    Container(String),
}

impl IpcMode {
    /// Whether the container has an IPC namespace of its own.
    pub fn is_own(&self) -> bool {
        matches!(self, IpcMode::Private | IpcMode::Shareable | IpcMode::None)
    }
}

/// The container's namespace modes, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceModes {
    pub pid: PidMode,
    pub host_uts: bool,
    pub ipc: IpcMode,
    /// `--cgroupns`: `Some(true)` private, `Some(false)` host, `None`
    /// docker's default (private on cgroup v2, host on v1).
    pub cgroupns_private: Option<bool>,
}

/// The container a `container:NAME` mode names (docker: an empty name is
/// an invalid mode).
fn joined_container(value: &str) -> Option<String> {
    value
        .strip_prefix("container:")
        .filter(|name| !name.is_empty())
        .map(str::to_string)
}

impl NamespaceModes {
    /// Reads and checks the modes of `opts` (docker's words:
    /// `--pid: invalid PID mode`).
    pub fn parse(opts: &ContainerOptions) -> Result<NamespaceModes, SpecError> {
        let pid = match opts.pid_mode.as_deref().unwrap_or("") {
            "" => PidMode::Private,
            "host" => PidMode::Host,
            other => match joined_container(other) {
                Some(name) => PidMode::Container(name),
                None => {
                    return Err(SpecError::invalid(format!(
                        "--pid: invalid PID mode: {other}"
                    )))
                }
            },
        };
        let host_uts = match opts.uts_mode.as_deref().unwrap_or("") {
            "" => false,
            "host" => true,
            other => {
                return Err(SpecError::invalid(format!(
                    "--uts: invalid UTS mode: {other}"
                )))
            }
        };
        if host_uts && opts.hostname.as_deref().is_some_and(|h| !h.is_empty()) {
            return Err(SpecError::invalid(
                "conflicting options: hostname and the UTS mode",
            ));
        }
        let ipc = match opts.ipc_mode.as_deref().unwrap_or("") {
            "" | "private" => IpcMode::Private,
            "shareable" => IpcMode::Shareable,
            "host" => IpcMode::Host,
            "none" => IpcMode::None,
            // docker 20.10's CLI lets any --ipc through; its daemon says
            // this.
            other => match joined_container(other) {
                Some(name) => IpcMode::Container(name),
                None => return Err(SpecError::invalid(format!("Invalid IPC mode: {other}"))),
            },
        };
        if !matches!(ipc, IpcMode::Private | IpcMode::Shareable) && opts.shm_size.is_some() {
            return Err(SpecError::invalid(
                "Conflicting options: --shm-size and the IPC mode (only a private /dev/shm has a size)",
            ));
        }
        let cgroupns_private = match opts.cgroupns_mode.as_deref().unwrap_or("") {
            "" => None,
            "private" => Some(true),
            "host" => Some(false),
            other => {
                return Err(SpecError::invalid(format!(
                    "--cgroupns: invalid CGROUP mode: {other}"
                )))
            }
        };
        match opts.userns_mode.as_deref().unwrap_or("") {
            // Berth has no user-namespace remapping: every container is in
            // the host's user namespace, which is what `host` asks for.
            "" | "host" => {}
            other => {
                return Err(SpecError::invalid(format!(
                    "--userns: invalid USER mode: {other}"
                )))
            }
        }
        Ok(NamespaceModes {
            pid,
            host_uts,
            ipc,
            cgroupns_private,
        })
    }

    /// Whether the container gets a cgroup namespace of its own.
    pub fn private_cgroupns(&self, cgroup_v2: bool) -> bool {
        self.cgroupns_private.unwrap_or(cgroup_v2)
    }
}

/// The default /dev/shm (a tmpfs of source `shm`) under an IPC mode: the
/// host's /dev/shm bound for `host`, none for `none`, the container's
/// host-side tmpfs `shareable_shm` for `shareable` (moby `setupIpcDirs`).
pub fn adjust_shm_mount(mounts: &mut Vec<Mount>, ipc: &IpcMode, shareable_shm: Option<&Path>) {
    let is_default_shm =
        |m: &Mount| m.destination == "/dev/shm" && m.source.as_deref() == Some("shm");
    match ipc {
        // A joined container's /dev/shm is the other's, bound at start.
        IpcMode::Private | IpcMode::Container(_) => {}
        IpcMode::Shareable => {
            let Some(dir) = shareable_shm else { return };
            for m in mounts.iter_mut().filter(|m| is_default_shm(m)) {
                *m = Mount {
                    destination: "/dev/shm".into(),
                    kind: Some("bind".into()),
                    source: Some(dir.to_string_lossy().into_owned()),
                    options: vec![
                        "rbind".into(),
                        "nosuid".into(),
                        "nodev".into(),
                        "noexec".into(),
                    ],
                    ..Default::default()
                };
            }
        }
        IpcMode::None => mounts.retain(|m| !is_default_shm(m)),
        IpcMode::Host => {
            for m in mounts.iter_mut().filter(|m| is_default_shm(m)) {
                *m = Mount {
                    destination: "/dev/shm".into(),
                    kind: Some("bind".into()),
                    source: Some("/dev/shm".into()),
                    // Only `rbind`, as moby binds it: the container sees
                    // the host's /dev/shm with the host's own flags.
                    options: vec!["rbind".into()],
                    ..Default::default()
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_and_dockers_words() {
        let m = NamespaceModes::parse(&ContainerOptions::default()).unwrap();
        assert!(m.pid == PidMode::Private && !m.host_uts && m.ipc == IpcMode::Private);
        assert!(!m.private_cgroupns(false) && m.private_cgroupns(true));
        let o = ContainerOptions {
            pid_mode: Some("host".into()),
            uts_mode: Some("host".into()),
            ipc_mode: Some("none".into()),
            cgroupns_mode: Some("private".into()),
            userns_mode: Some("host".into()),
            ..Default::default()
        };
        let m = NamespaceModes::parse(&o).unwrap();
        assert!(m.pid == PidMode::Host && m.host_uts && m.ipc == IpcMode::None);
        assert!(m.private_cgroupns(false));
        let e = |o: ContainerOptions| NamespaceModes::parse(&o).unwrap_err().to_string();
        assert_eq!(
            e(ContainerOptions {
                pid_mode: Some("bogus".into()),
                ..Default::default()
            }),
            "--pid: invalid PID mode: bogus"
        );
        let joins = NamespaceModes::parse(&ContainerOptions {
            pid_mode: Some("container:a".into()),
            ipc_mode: Some("container:b".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(joins.pid, PidMode::Container("a".into()));
        assert_eq!(joins.ipc, IpcMode::Container("b".into()));
        assert_eq!(
            e(ContainerOptions {
                pid_mode: Some("container:".into()),
                ..Default::default()
            }),
            "--pid: invalid PID mode: container:"
        );
        assert_eq!(
            e(ContainerOptions {
                ipc_mode: Some("container".into()),
                ..Default::default()
            }),
            "Invalid IPC mode: container"
        );
        assert_eq!(
            e(ContainerOptions {
                ipc_mode: Some("container:b".into()),
                shm_size: Some(1 << 20),
                ..Default::default()
            }),
            "Conflicting options: --shm-size and the IPC mode (only a private /dev/shm has a size)"
        );
        assert_eq!(
            e(ContainerOptions {
                uts_mode: Some("host".into()),
                hostname: Some("h".into()),
                ..Default::default()
            }),
            "conflicting options: hostname and the UTS mode"
        );
    }
}
