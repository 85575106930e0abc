//! Namespaces from `linux.namespaces`: new ones are made by the clone that
//! creates the container's init (one process, as crun does), ones with a
//! `path` are joined with setns. Where each happens:
//!
//! * pid and time affect only children, so a pid/time namespace given by path
//!   is joined by the runtime process before the clone, and a new time
//!   namespace is unshared there (its offsets must be written before any
//!   process enters it);
//! * user, then mount, are joined by the child: joining them in the parent
//!   would change its credentials or its view of the host's files;
//! * the others given by path are joined by the child too, after user;
//! * cgroup is unshared by the child after the parent has put it in its
//!   cgroup, so the namespace is rooted there.

use std::os::fd::{AsRawFd, OwnedFd};

use berth_oci::{LinuxIdMapping, NamespaceType, Spec};

use crate::error::{Context, Error, Result};
use crate::sys;

/// The CLONE_NEW* flag of a namespace type.
pub fn clone_flag(kind: NamespaceType) -> libc::c_int {
    match kind {
        NamespaceType::Pid => libc::CLONE_NEWPID,
        NamespaceType::Network => libc::CLONE_NEWNET,
        NamespaceType::Mount => libc::CLONE_NEWNS,
        NamespaceType::Ipc => libc::CLONE_NEWIPC,
        NamespaceType::Uts => libc::CLONE_NEWUTS,
        NamespaceType::User => libc::CLONE_NEWUSER,
        NamespaceType::Cgroup => libc::CLONE_NEWCGROUP,
        NamespaceType::Time => 0x80, // CLONE_NEWTIME
    }
}

/// A namespace to join, opened early (while the host's paths are reachable).
pub struct NamespaceToJoin {
    pub kind: NamespaceType,
    pub path: String,
    pub fd: OwnedFd,
}

impl NamespaceToJoin {
    pub fn join(&self) -> Result<()> {
        sys::setns(self.fd.as_raw_fd(), clone_flag(self.kind))
            .context(|| format!("join {} namespace {}", self.kind.as_str(), self.path))
    }
}

/// The plan for a container's namespaces.
pub struct NamespacePlan {
    /// Flags for the clone that creates the init.
    pub clone_flags: libc::c_int,
    /// Unshared by the child after the parent's set-up (cgroup).
    pub child_unshare: libc::c_int,
    /// Joined by the parent before clone (pid, time).
    pub parent_joins: Vec<NamespaceToJoin>,
    /// Joined by the child, in this order (user first, mount last).
    pub child_joins: Vec<NamespaceToJoin>,
    /// A new time namespace, made by the parent before clone.
    pub new_time: bool,
    /// A new user namespace: the parent writes its id maps.
    pub new_user: bool,
}

impl NamespacePlan {
    /// Reads `linux.namespaces` and opens every `path`.
    pub fn from_spec(spec: &Spec) -> Result<NamespacePlan> {
        let mut plan = NamespacePlan {
            clone_flags: 0,
            child_unshare: 0,
            parent_joins: Vec::new(),
            child_joins: Vec::new(),
            new_time: false,
            new_user: false,
        };
        let namespaces = spec
            .linux
            .as_ref()
            .map(|l| l.namespaces.as_slice())
            .unwrap_or(&[]);
        // Without a mount namespace the container runs as runc runs it:
        // mounts in the caller's namespace, then chroot (rootfs.rs); what
        // would need mounts of its own over the caller's is refused, with
        // runc's message.
        if !namespaces.iter().any(|n| n.kind == NamespaceType::Mount)
            && spec
                .linux
                .as_ref()
                .is_some_and(|l| !l.masked_paths.is_empty() || !l.readonly_paths.is_empty())
        {
            return Err(Error::Invalid(
                "unable to restrict sys entries without a private MNT namespace".into(),
            ));
        }
        let user_by_path = namespaces
            .iter()
            .any(|n| n.kind == NamespaceType::User && n.path.is_some());
        for kind in NamespaceType::JOIN_ORDER {
            let Some(ns) = namespaces.iter().find(|n| n.kind == kind) else {
                continue;
            };
            match &ns.path {
                Some(path) => {
                    let fd = sys::open(path, libc::O_RDONLY, 0)
                        .context(|| format!("open {} namespace {path}", kind.as_str()))?;
                    let join = NamespaceToJoin {
                        kind,
                        path: path.clone(),
                        fd,
                    };
                    if matches!(kind, NamespaceType::Pid | NamespaceType::Time) {
                        plan.parent_joins.push(join);
                    } else {
                        plan.child_joins.push(join);
                    }
                }
                None => match kind {
                    NamespaceType::Time => plan.new_time = true,
                    NamespaceType::Cgroup => plan.child_unshare |= clone_flag(kind),
                    NamespaceType::User => {
                        plan.new_user = true;
                        plan.clone_flags |= clone_flag(kind);
                    }
                    // Namespaces made after joining a user namespace by path
                    // must be owned by it: the child unshares them.
                    NamespaceType::Pid if user_by_path => {
                        return Err(Error::NotImplemented(
                            "a new pid namespace together with a user namespace joined by path"
                                .into(),
                        ))
                    }
                    _ if user_by_path => plan.child_unshare |= clone_flag(kind),
                    _ => plan.clone_flags |= clone_flag(kind),
                },
            }
        }
        Ok(plan)
    }

    /// The parent's part before clone: join pid/time by path, make a new time
    /// namespace with the spec's offsets.
    pub fn enter_parent(&self, spec: &Spec) -> Result<()> {
        for j in &self.parent_joins {
            j.join()?;
        }
        if self.new_time {
            sys::unshare(clone_flag(NamespaceType::Time))
                .context(|| "unshare time namespace".into())?;
            let offsets = spec
                .linux
                .as_ref()
                .map(|l| &l.time_offsets)
                .filter(|o| !o.is_empty());
            if let Some(offsets) = offsets {
                let mut text = String::new();
                for (clock, off) in offsets {
                    if clock != "monotonic" && clock != "boottime" {
                        return Err(Error::Invalid(format!(
                            "linux.timeOffsets: unknown clock {clock:?} (want monotonic or boottime)"
                        )));
                    }
                    text.push_str(&format!("{clock} {} {}\n", off.secs, off.nanosecs));
                }
                std::fs::write("/proc/self/timens_offsets", text)
                    .context(|| "write /proc/self/timens_offsets".into())?;
            }
        }
        Ok(())
    }
}

/// Writes a child's uid_map or gid_map ("container host size" lines).
pub fn write_id_map(pid: i32, file: &str, maps: &[LinuxIdMapping]) -> Result<()> {
    let text: String = maps
        .iter()
        .map(|m| format!("{} {} {}\n", m.container_id, m.host_id, m.size))
        .collect();
    let path = format!("/proc/{pid}/{file}");
    std::fs::write(&path, text).context(|| format!("write {path}"))
}

/// Sets up a new user namespace's maps from the parent. Without
/// CAP_SETGID in the parent's namespace (rootless), setgroups must be denied
/// before gid_map can be written (user_namespaces(7)).
pub fn write_user_maps(pid: i32, spec: &Spec) -> Result<()> {
    let linux = spec.linux.as_ref();
    let uid = linux.map(|l| l.uid_mappings.as_slice()).unwrap_or(&[]);
    let gid = linux.map(|l| l.gid_mappings.as_slice()).unwrap_or(&[]);
    if uid.is_empty() || gid.is_empty() {
        return Err(Error::Invalid(
            "a new user namespace needs linux.uidMappings and linux.gidMappings".into(),
        ));
    }
    if unsafe { libc::geteuid() } != 0 {
        let path = format!("/proc/{pid}/setgroups");
        std::fs::write(&path, "deny").context(|| format!("write deny to {path}"))?;
    }
    write_id_map(pid, "uid_map", uid)?;
    write_id_map(pid, "gid_map", gid)
}
