//! A volume as docker 20.10 shows it: `types.Volume`, in docker's field
//! order. `Labels` and `Options` are `null` for a volume made implicitly
//! (`-v name:/data`), `{}` for one `volume create` made without any (the
//! docker CLI sends empty maps).

use super::omit;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `types.Volume`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Volume {
    #[serde(skip_serializing_if = "omit::string")]
    pub created_at: String,
    pub driver: String,
    pub labels: Option<BTreeMap<String, String>>,
    pub mountpoint: String,
    pub name: String,
    pub options: Option<BTreeMap<String, String>>,
    pub scope: String,
    #[serde(skip_serializing_if = "omit::none")]
    pub usage_data: Option<UsageData>,
}

/// `types.VolumeUsageData` (`system df -v`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct UsageData {
    pub ref_count: i64,
    pub size: i64,
}
