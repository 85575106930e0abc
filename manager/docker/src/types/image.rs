//! An image as docker 20.10 shows it: `types.ImageInspect`, in docker's
//! field order.

use super::container::Config;
use super::omit;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `types.ImageInspect`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ImageInspect {
    pub id: String,
    pub repo_tags: Vec<String>,
    pub repo_digests: Vec<String>,
    pub parent: String,
    pub comment: String,
    pub created: String,
    /// The id of the container the image was committed from ("" otherwise).
    pub container: String,
    /// That container's config (docker-compose reads it); docker writes an
    /// all-zero `Config` for images not committed from a container.
    pub container_config: Config,
    pub docker_version: String,
    pub author: String,
    pub config: Config,
    pub architecture: String,
    #[serde(skip_serializing_if = "omit::string")]
    pub variant: String,
    pub os: String,
    #[serde(skip_serializing_if = "omit::string")]
    pub os_version: String,
    pub size: i64,
    /// Deprecated in the API, still written by docker 20.10: equal to `Size`.
    pub virtual_size: i64,
    pub graph_driver: GraphDriver,
    #[serde(rename = "RootFS")]
    pub root_fs: RootFs,
    pub metadata: Metadata,
}

/// `types.GraphDriverData` of an image.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct GraphDriver {
    pub data: Option<BTreeMap<String, String>>,
    pub name: String,
}

/// `types.RootFS`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RootFs {
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(skip_serializing_if = "omit::vec")]
    pub layers: Option<Vec<String>>,
    #[serde(skip_serializing_if = "omit::string")]
    pub base_layer: String,
}

/// `types.ImageMetadata`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Metadata {
    pub last_tag_time: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_dockers_keys_in_order() {
        let text = serde_json::to_string(&ImageInspect::default()).unwrap();
        assert!(
            text.starts_with(r#"{"Id":"","RepoTags":[],"RepoDigests":[],"Parent":"","Comment":"","Created":"","Container":"","ContainerConfig":{"Hostname":"#),
            "{text}"
        );
        assert!(
            text.contains(r#""Size":0,"VirtualSize":0,"GraphDriver":{"Data":null,"Name":""}"#),
            "{text}"
        );
    }
}
