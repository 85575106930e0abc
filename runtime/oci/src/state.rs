//! The OCI state document (runtime-spec `runtime.md#state`).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Where a container is in its lifecycle (runtime-spec `runtime.md#state`),
/// plus `paused`, which runc reports and engines expect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContainerStatus {
    Creating,
    Created,
    Running,
    Stopped,
    Paused,
}

impl ContainerStatus {
    /// The lower-case word the spec and runc use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Creating => "creating",
            Self::Created => "created",
            Self::Running => "running",
            Self::Stopped => "stopped",
            Self::Paused => "paused",
        }
    }
}

/// The state JSON printed by `state` and written to hooks' stdin.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    pub oci_version: String,
    pub id: String,
    pub status: ContainerStatus,
    /// The container's init as seen from the host; absent once stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
    pub bundle: String,
    #[serde(
        default,
        deserialize_with = "crate::nullable",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub annotations: BTreeMap<String, String>,
}

/// What runc prints for `state` and for each entry of `list --format json`:
/// the OCI state's fields plus `rootfs`, `created` and `owner`, in the order
/// runc's `containerState` struct declares them. The order is part of the
/// interface: runc's own tests and users' scripts match the JSON text, so
/// this is a struct serialized directly, never a `serde_json::Value` (whose
/// map sorts keys).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RuncState {
    /// The runtime-spec version the runtime implements (runc reports its
    /// own, not the bundle's).
    #[serde(rename = "ociVersion")]
    pub oci_version: String,
    pub id: String,
    /// The init's host pid; 0 once stopped (runc writes 0, not nothing).
    pub pid: i32,
    pub status: ContainerStatus,
    pub bundle: String,
    pub rootfs: String,
    /// RFC 3339 with nanoseconds, UTC.
    pub created: String,
    #[serde(
        default,
        deserialize_with = "crate::nullable",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub annotations: BTreeMap<String, String>,
    /// The user owning the state dir: filled by `list`; `state` leaves it
    /// empty, as runc's does.
    pub owner: String,
}
