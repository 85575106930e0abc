//! The namespace flags: `--pid`, `--ipc`, `--uts`, `--cgroupns`, `--userns`,
//! as docker 20.10 reads them (`container.PidMode` & co.): the empty mode
//! is a namespace of the container's own; `host` shares the host's. The
//! `container:NAME` forms (joining another container's namespace) are not
//! implemented and say so.

use berth_oci::Mount;

use super::{ContainerOptions, SpecError};

/// `--ipc`: docker 20.10's modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpcMode {
    /// `private`, `shareable` or unset: an IPC namespace of its own with a
    /// private /dev/shm (shareable only lets others join it).
    Private,
    /// `host`: the host's IPC namespace, and the host's /dev/shm bound in.
    Host,
    /// `none`: its own namespace and no /dev/shm at all.
    None,
}

/// The container's namespace modes, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NamespaceModes {
    pub host_pid: bool,
    pub host_uts: bool,
    pub ipc: IpcMode,
    /// `--cgroupns`: `Some(true)` private, `Some(false)` host, `None`
    /// docker's default (private on cgroup v2, host on v1).
    pub cgroupns_private: Option<bool>,
}

/// `not implemented` for a `container:NAME` mode, an error otherwise.
fn bad_mode(flag: &'static str, kind: &str, value: &str) -> SpecError {
    if value.starts_with("container:") {
        return SpecError::NotImplemented(match flag {
            "--pid" => "--pid container:NAME (joining another container's PID namespace)",
            _ => "--ipc container:NAME (joining another container's IPC namespace)",
        });
    }
    if flag == "--ipc" {
        // docker 20.10's CLI lets any --ipc through; its daemon says this.
        return SpecError::invalid(format!("Invalid IPC mode: {value}"));
    }
    SpecError::invalid(format!("{flag}: invalid {kind} mode: {value}"))
}

impl NamespaceModes {
    /// Reads and checks the modes of `opts` (docker's words:
    /// `--pid: invalid PID mode`).
    pub fn parse(opts: &ContainerOptions) -> Result<NamespaceModes, SpecError> {
        let host_pid = match opts.pid_mode.as_deref().unwrap_or("") {
            "" => false,
            "host" => true,
            other => return Err(bad_mode("--pid", "PID", other)),
        };
        let host_uts = match opts.uts_mode.as_deref().unwrap_or("") {
            "" => false,
            "host" => true,
            other => return Err(bad_mode("--uts", "UTS", other)),
        };
        if host_uts && opts.hostname.as_deref().is_some_and(|h| !h.is_empty()) {
            return Err(SpecError::invalid(
                "conflicting options: hostname and the UTS mode",
            ));
        }
        let ipc = match opts.ipc_mode.as_deref().unwrap_or("") {
            "" | "private" | "shareable" => IpcMode::Private,
            "host" => IpcMode::Host,
            "none" => IpcMode::None,
            other => return Err(bad_mode("--ipc", "IPC", other)),
        };
        if ipc != IpcMode::Private && opts.shm_size.is_some() {
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
            host_pid,
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
/// host's /dev/shm bound for `host`, none for `none` (moby `setupIpcDirs`).
pub fn adjust_shm_mount(mounts: &mut Vec<Mount>, ipc: &IpcMode) {
    let is_default_shm =
        |m: &Mount| m.destination == "/dev/shm" && m.source.as_deref() == Some("shm");
    match ipc {
        IpcMode::Private => {}
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
        assert!(!m.host_pid && !m.host_uts && m.ipc == IpcMode::Private);
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
        assert!(m.host_pid && m.host_uts && m.ipc == IpcMode::None);
        assert!(m.private_cgroupns(false));
        let e = |o: ContainerOptions| NamespaceModes::parse(&o).unwrap_err().to_string();
        assert_eq!(
            e(ContainerOptions {
                pid_mode: Some("bogus".into()),
                ..Default::default()
            }),
            "--pid: invalid PID mode: bogus"
        );
        assert!(e(ContainerOptions {
            ipc_mode: Some("container:x".into()),
            ..Default::default()
        })
        .starts_with("not implemented: "));
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
