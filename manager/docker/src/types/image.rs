//! An image as docker 20.10 shows it: `types.ImageInspect`, in docker's
//! field order.

use super::container::Config;
use super::omit;
use crate::reference::familiar;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::{Duration, UNIX_EPOCH};

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

/// What an engine knows of one image beside its config blob: the inputs
/// of [`ImageInspect::new`], so berthd's gRPC reply (read by the CLI) and
/// its Docker API build the one same object.
#[derive(Debug, Clone, Default)]
pub struct ImageFacts<'a> {
    /// `sha256:<hex>` of the config.
    pub id: &'a str,
    /// The config blob as stored (Docker-only fields such as `Healthcheck`
    /// and `container_config` survive).
    pub config: &'a [u8],
    /// Full names (`docker.io/library/busybox:latest`); shown familiar.
    pub repo_tags: &'a [String],
    pub repo_digests: &'a [String],
    /// Unpacked size in bytes.
    pub size: i64,
    /// The snapshotter's name (docker's graph driver).
    pub snapshotter: &'a str,
    pub graph_driver_data: BTreeMap<String, String>,
    /// When a name last moved to this image (seconds since the epoch; 0:
    /// never, docker's zero time).
    pub last_tag_time: i64,
}

/// A `container.Config` of the image config blob (`config`,
/// `container_config`); docker's all-zero `Config` when absent.
fn config_of(config: Option<&Value>) -> Config {
    config
        .filter(|c| c.is_object())
        .and_then(|c| serde_json::from_value(c.clone()).ok())
        .unwrap_or_default()
}

impl ImageInspect {
    /// docker's `ImageInspect` of one image.
    pub fn new(facts: &ImageFacts<'_>) -> ImageInspect {
        let config: Value = serde_json::from_slice(facts.config).unwrap_or(Value::Null);
        let text = |key: &str| config[key].as_str().unwrap_or("").to_string();
        ImageInspect {
            id: facts.id.to_string(),
            repo_tags: facts.repo_tags.iter().map(|t| familiar(t)).collect(),
            repo_digests: facts.repo_digests.iter().map(|t| familiar(t)).collect(),
            parent: text("parent"),
            comment: text("comment"),
            created: text("created"),
            container: text("container"),
            container_config: config_of(config.get("container_config")),
            docker_version: text("docker_version"),
            author: text("author"),
            config: config_of(config.get("config")),
            architecture: text("architecture"),
            variant: text("variant"),
            os: text("os"),
            os_version: text("os.version"),
            size: facts.size,
            virtual_size: facts.size,
            graph_driver: GraphDriver {
                data: Some(facts.graph_driver_data.clone()),
                name: facts.snapshotter.to_string(),
            },
            root_fs: RootFs {
                kind: config["rootfs"]["type"]
                    .as_str()
                    .unwrap_or("layers")
                    .to_string(),
                layers: Some(
                    config["rootfs"]["diff_ids"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|d| d.as_str().map(str::to_string))
                                .collect()
                        })
                        .unwrap_or_default(),
                ),
                base_layer: String::new(),
            },
            metadata: Metadata {
                last_tag_time: if facts.last_tag_time > 0 {
                    humantime::format_rfc3339_seconds(
                        UNIX_EPOCH + Duration::from_secs(facts.last_tag_time as u64),
                    )
                    .to_string()
                } else {
                    super::ZERO_TIME.into()
                },
            },
        }
    }
}

/// One row of docker's image history (`image.HistoryResponseItem`),
/// newest first.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct HistoryItem {
    /// The image's id on the newest row, `<missing>` on the others (their
    /// intermediate images are not local).
    pub id: String,
    /// Seconds since the epoch; `None` when the entry has no parsable time
    /// (0 on the wire, `N/A` in the CLI).
    #[serde(serialize_with = "created_or_zero")]
    pub created: Option<i64>,
    pub created_by: String,
    /// The image's tags on the newest row, null on the others.
    pub tags: Option<Vec<String>>,
    pub size: i64,
    pub comment: String,
}

fn created_or_zero<S: serde::Serializer>(v: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_i64(v.unwrap_or(0))
}

/// The history of an image from its config's `history` (one row per
/// entry, a layer's unpacked size on each entry that made one) or, with
/// no history, one row per layer; newest first as docker answers.
pub fn history(id: &str, config: &[u8], layer_sizes: &[i64], tags: &[String]) -> Vec<HistoryItem> {
    let config: Value = serde_json::from_slice(config).unwrap_or(Value::Null);
    let entries = config["history"].as_array().cloned().unwrap_or_default();
    let mut sizes = layer_sizes.iter().copied();
    let mut rows: Vec<HistoryItem> = if entries.is_empty() {
        layer_sizes
            .iter()
            .map(|&size| HistoryItem {
                size,
                ..Default::default()
            })
            .collect()
    } else {
        entries
            .iter()
            .map(|h| HistoryItem {
                size: if h["empty_layer"].as_bool().unwrap_or(false) {
                    0
                } else {
                    sizes.next().unwrap_or(0)
                },
                created: h["created"].as_str().and_then(crate::timestamp::parse_time),
                created_by: h["created_by"].as_str().unwrap_or("").to_string(),
                comment: h["comment"].as_str().unwrap_or("").to_string(),
                ..Default::default()
            })
            .collect()
    };
    rows.reverse();
    for (n, row) in rows.iter_mut().enumerate() {
        if n == 0 {
            row.id = id.to_string();
            row.tags = Some(tags.iter().map(|t| familiar(t)).collect());
        } else {
            row.id = "<missing>".into();
        }
    }
    rows
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
