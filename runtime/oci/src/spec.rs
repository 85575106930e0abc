//! A bundle's `config.json` (runtime-spec `config.md`, `config-linux.md`).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

use crate::{LinuxResources, LinuxSeccomp, SpecError};

/// The whole of `config.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Spec {
    pub oci_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<Process>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<Root>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domainname: Option<String>,
    #[serde(
        default,
        deserialize_with = "crate::nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub mounts: Vec<Mount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hooks: Option<Hooks>,
    #[serde(
        default,
        deserialize_with = "crate::nullable",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linux: Option<Linux>,
}

impl Spec {
    /// Reads and checks `config.json` at `path`. Errors name the path.
    pub fn load(path: &Path) -> Result<Spec, SpecError> {
        let shown = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| SpecError::Read {
            path: shown.clone(),
            source,
        })?;
        let spec: Spec = serde_json::from_slice(&bytes).map_err(|source| SpecError::Parse {
            path: shown.clone(),
            source,
        })?;
        spec.validate().map_err(|reason| SpecError::Invalid {
            path: shown,
            reason,
        })?;
        Ok(spec)
    }

    /// The checks serde cannot express: supported `ociVersion` major, and a
    /// process with something to run.
    pub fn validate(&self) -> Result<(), String> {
        let major = self.oci_version.split('.').next().unwrap_or("");
        if major != "1" {
            return Err(format!(
                "unsupported ociVersion {:?}: this runtime implements 1.x",
                self.oci_version
            ));
        }
        if let Some(process) = &self.process {
            if process.args.is_empty() || process.args[0].is_empty() {
                return Err("process.args must name a program to run".into());
            }
            if !process.cwd.starts_with('/') {
                return Err(format!(
                    "process.cwd {:?} must be an absolute path",
                    process.cwd
                ));
            }
        }
        if let Some(linux) = &self.linux {
            let mut seen = Vec::new();
            for ns in &linux.namespaces {
                // runc's specconv words (Go's %q of the entry), which
                // scripts match.
                if seen.contains(&ns.kind) {
                    return Err(format!(
                        "malformed spec file: duplicated ns {{{:?} {:?}}}",
                        ns.kind.as_str(),
                        ns.path.as_deref().unwrap_or("")
                    ));
                }
                seen.push(ns.kind);
            }
        }
        for m in &self.mounts {
            if !m.destination.starts_with('/') {
                return Err(format!(
                    "mount destination {:?} must be an absolute path",
                    m.destination
                ));
            }
        }
        Ok(())
    }

    /// The namespace entry of `kind`, if the container gets (or joins) one.
    pub fn namespace(&self, kind: NamespaceType) -> Option<&LinuxNamespace> {
        self.linux
            .as_ref()
            .and_then(|l| l.namespaces.iter().find(|n| n.kind == kind))
    }
}

/// `process`: what runs in the container and with which identity and limits.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Process {
    #[serde(default)]
    pub terminal: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub console_size: Option<ConsoleSize>,
    #[serde(default)]
    pub user: User,
    #[serde(default, deserialize_with = "crate::nullable")]
    pub args: Vec<String>,
    #[serde(
        default,
        deserialize_with = "crate::nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub env: Vec<String>,
    #[serde(default = "root_dir")]
    pub cwd: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<LinuxCapabilities>,
    #[serde(
        default,
        deserialize_with = "crate::nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub rlimits: Vec<PosixRlimit>,
    #[serde(default)]
    pub no_new_privileges: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apparmor_profile: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oom_score_adj: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selinux_label: Option<String>,
}

fn root_dir() -> String {
    "/".to_string()
}

/// `process.consoleSize`.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct ConsoleSize {
    pub height: u16,
    pub width: u16,
}

/// `process.user`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    #[serde(default)]
    pub uid: u32,
    #[serde(default)]
    pub gid: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub umask: Option<u32>,
    #[serde(
        default,
        deserialize_with = "crate::nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub additional_gids: Vec<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
}

/// `process.capabilities`: the five capability sets, by name (`CAP_CHOWN`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LinuxCapabilities {
    #[serde(
        default,
        deserialize_with = "crate::nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub bounding: Vec<String>,
    #[serde(
        default,
        deserialize_with = "crate::nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub effective: Vec<String>,
    #[serde(
        default,
        deserialize_with = "crate::nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub inheritable: Vec<String>,
    #[serde(
        default,
        deserialize_with = "crate::nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub permitted: Vec<String>,
    #[serde(
        default,
        deserialize_with = "crate::nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub ambient: Vec<String>,
}

/// One entry of `process.rlimits` (`RLIMIT_NOFILE`, ...).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PosixRlimit {
    #[serde(rename = "type")]
    pub kind: String,
    pub hard: u64,
    pub soft: u64,
}

/// `root`: the container's root filesystem, relative to the bundle or absolute.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Root {
    pub path: String,
    #[serde(default)]
    pub readonly: bool,
}

/// One entry of `mounts`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Mount {
    pub destination: String,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(
        default,
        deserialize_with = "crate::nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub options: Vec<String>,
    #[serde(
        default,
        deserialize_with = "crate::nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub uid_mappings: Vec<LinuxIdMapping>,
    #[serde(
        default,
        deserialize_with = "crate::nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub gid_mappings: Vec<LinuxIdMapping>,
}

/// `hooks`: programs run at fixed points of the lifecycle (runtime-spec
/// `config.md#posix-platform-hooks`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Hooks {
    #[serde(
        default,
        deserialize_with = "crate::nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub prestart: Vec<Hook>,
    #[serde(
        default,
        deserialize_with = "crate::nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub create_runtime: Vec<Hook>,
    #[serde(
        default,
        deserialize_with = "crate::nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub create_container: Vec<Hook>,
    #[serde(
        default,
        deserialize_with = "crate::nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub start_container: Vec<Hook>,
    #[serde(
        default,
        deserialize_with = "crate::nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub poststart: Vec<Hook>,
    #[serde(
        default,
        deserialize_with = "crate::nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub poststop: Vec<Hook>,
}

/// One hook: an absolute path, its argv (with argv[0]), env and a timeout in seconds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Hook {
    pub path: String,
    #[serde(
        default,
        deserialize_with = "crate::nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub args: Vec<String>,
    #[serde(
        default,
        deserialize_with = "crate::nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub env: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i64>,
}

/// `linux`: everything Linux-specific.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Linux {
    #[serde(
        default,
        deserialize_with = "crate::nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub namespaces: Vec<LinuxNamespace>,
    #[serde(
        default,
        deserialize_with = "crate::nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub uid_mappings: Vec<LinuxIdMapping>,
    #[serde(
        default,
        deserialize_with = "crate::nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub gid_mappings: Vec<LinuxIdMapping>,
    #[serde(
        default,
        deserialize_with = "crate::nullable",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub time_offsets: BTreeMap<String, LinuxTimeOffset>,
    #[serde(
        default,
        deserialize_with = "crate::nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub devices: Vec<LinuxDevice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroups_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<LinuxResources>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rootfs_propagation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seccomp: Option<LinuxSeccomp>,
    #[serde(
        default,
        deserialize_with = "crate::nullable",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub sysctl: BTreeMap<String, String>,
    #[serde(
        default,
        deserialize_with = "crate::nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub masked_paths: Vec<String>,
    #[serde(
        default,
        deserialize_with = "crate::nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub readonly_paths: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mount_label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub personality: Option<LinuxPersonality>,
}

/// The namespace kinds of `linux.namespaces[].type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NamespaceType {
    Pid,
    Network,
    Mount,
    Ipc,
    Uts,
    User,
    Cgroup,
    Time,
}

impl NamespaceType {
    /// The spec's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pid => "pid",
            Self::Network => "network",
            Self::Mount => "mount",
            Self::Ipc => "ipc",
            Self::Uts => "uts",
            Self::User => "user",
            Self::Cgroup => "cgroup",
            Self::Time => "time",
        }
    }

    /// The file name under `/proc/<pid>/ns/`.
    pub fn proc_name(self) -> &'static str {
        match self {
            Self::Pid => "pid",
            Self::Network => "net",
            Self::Mount => "mnt",
            Self::Ipc => "ipc",
            Self::Uts => "uts",
            Self::User => "user",
            Self::Cgroup => "cgroup",
            Self::Time => "time",
        }
    }

    /// All kinds, in the order a process joining a container enters them:
    /// the user namespace first, so it has the capabilities for the rest;
    /// mount last, so the others' `/proc` paths stay reachable.
    pub const JOIN_ORDER: [NamespaceType; 8] = [
        Self::User,
        Self::Ipc,
        Self::Uts,
        Self::Network,
        Self::Pid,
        Self::Cgroup,
        Self::Time,
        Self::Mount,
    ];
}

/// One entry of `linux.namespaces`: a new namespace, or the one at `path`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LinuxNamespace {
    #[serde(rename = "type")]
    pub kind: NamespaceType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// One entry of `uidMappings`/`gidMappings`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinuxIdMapping {
    #[serde(rename = "containerID")]
    pub container_id: u32,
    #[serde(rename = "hostID")]
    pub host_id: u32,
    pub size: u32,
}

/// One entry of `linux.timeOffsets` (`monotonic`, `boottime`).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct LinuxTimeOffset {
    #[serde(default)]
    pub secs: i64,
    #[serde(default)]
    pub nanosecs: u32,
}

/// One entry of `linux.devices`: a device node made in the container's /dev.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinuxDevice {
    pub path: String,
    /// `c`, `u` (character), `b` (block) or `p` (fifo).
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub major: i64,
    #[serde(default)]
    pub minor: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_mode: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<u32>,
}

/// `linux.personality`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LinuxPersonality {
    pub domain: String,
    #[serde(
        default,
        deserialize_with = "crate::nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub flags: Vec<String>,
}

/// The sysctls the IPC namespace scopes (`ipc_namespaces(7)`, the kernel's
/// ipc_sysctl.c); every `fs.mqueue.*` one is too. The runtime checks a
/// config against it; docker's `--sysctl` rule, which the CLI and berthd
/// apply, is berth-docker's `sysctl` (the CLI must not link this crate).
pub const IPC_SYSCTLS: [&str; 8] = [
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
];
