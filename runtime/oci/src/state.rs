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
