//! The `config` object of an image's config blob (image-spec `config.md`,
//! "Properties": `config`; docker's `Config`): what a container of the image
//! runs by default.
//!
//! Keys are docker's capitalised ones (`Entrypoint`, `WorkingDir`, ...).
//! Go writes nil slices and maps as `null`, so every field accepts `null`
//! as "absent". `Volumes` and `ExposedPorts` are JSON objects whose keys are
//! the values (`{"/data": {}}`); only the keys matter.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Deserializer};

use super::SpecError;

/// The `config` object of an image config: the defaults a container of this
/// image starts with, before the user's options override them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImageRuntimeConfig {
    /// `User`: `name`, `uid`, `name:group` or `uid:gid`, looked up in the
    /// image's /etc/passwd and /etc/group; `None` runs as root.
    pub user: Option<String>,
    /// `Env`: `KEY=VALUE` entries, in order.
    pub env: Vec<String>,
    /// `Entrypoint`: the argv prefix; `None` when the image has none.
    pub entrypoint: Option<Vec<String>>,
    /// `Cmd`: the default arguments (after the entrypoint).
    pub cmd: Option<Vec<String>>,
    /// `WorkingDir`: the process's cwd; `None` (or empty) means `/`.
    pub working_dir: Option<String>,
    /// `StopSignal`: what `stop` sends first (`SIGTERM` when absent).
    pub stop_signal: Option<String>,
    /// `Labels`: merged under the user's `-l` labels.
    pub labels: BTreeMap<String, String>,
    /// `Volumes`: container paths the image wants as volumes (issue 7).
    pub volumes: BTreeSet<String>,
    /// `ExposedPorts`: `80/tcp`, ... (the networks issue publishes them).
    pub exposed_ports: BTreeSet<String>,
    /// `Healthcheck`, kept as JSON for the containers service to interpret.
    pub healthcheck: Option<serde_json::Value>,
}

/// The serde shape of the blob: only `config` matters here.
#[derive(Deserialize)]
struct ConfigBlob {
    #[serde(default)]
    config: Option<RawConfig>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct RawConfig {
    #[serde(default)]
    user: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    env: Vec<String>,
    #[serde(default)]
    entrypoint: Option<Vec<String>>,
    #[serde(default)]
    cmd: Option<Vec<String>>,
    #[serde(default)]
    working_dir: Option<String>,
    #[serde(default)]
    stop_signal: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    labels: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "nullable")]
    volumes: BTreeMap<String, serde_json::Value>,
    #[serde(default, deserialize_with = "nullable")]
    exposed_ports: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    healthcheck: Option<serde_json::Value>,
}

/// `null` as the type's default (Go's nil slices and maps).
fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// An empty string is as good as absent (docker writes `"User": ""`).
fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

impl ImageRuntimeConfig {
    /// Parses an image config blob (`application/vnd.oci.image.config.v1+json`
    /// or docker's `container.image.v1+json`). A blob without `config` (a
    /// `FROM scratch` image with nothing set) gives the default.
    pub fn from_config_blob(bytes: &[u8]) -> Result<Self, SpecError> {
        let blob: ConfigBlob = serde_json::from_slice(bytes).map_err(SpecError::ImageConfig)?;
        let raw = blob.config.unwrap_or_default();
        Ok(ImageRuntimeConfig {
            user: non_empty(raw.user),
            env: raw.env,
            entrypoint: raw.entrypoint,
            cmd: raw.cmd,
            working_dir: non_empty(raw.working_dir),
            stop_signal: non_empty(raw.stop_signal),
            labels: raw.labels,
            volumes: raw.volumes.into_keys().collect(),
            exposed_ports: raw.exposed_ports.into_keys().collect(),
            healthcheck: raw.healthcheck.filter(|h| !h.is_null()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_shaped_config() {
        let blob = br#"{"architecture":"amd64","os":"linux","config":{
            "User":"nobody:nogroup","Env":["PATH=/bin","A=b"],"Entrypoint":["/bin/sh","-c"],
            "Cmd":["echo hi"],"WorkingDir":"/srv","StopSignal":"SIGQUIT",
            "Labels":{"a":"1"},"Volumes":{"/data":{}},"ExposedPorts":{"80/tcp":{}},
            "Healthcheck":{"Test":["CMD","true"]}},"rootfs":{"type":"layers","diff_ids":[]}}"#;
        let c = ImageRuntimeConfig::from_config_blob(blob).unwrap();
        assert_eq!(c.user.as_deref(), Some("nobody:nogroup"));
        assert_eq!(c.env, ["PATH=/bin", "A=b"]);
        assert_eq!(c.entrypoint.unwrap(), ["/bin/sh", "-c"]);
        assert_eq!(c.cmd.unwrap(), ["echo hi"]);
        assert_eq!(c.working_dir.as_deref(), Some("/srv"));
        assert_eq!(c.stop_signal.as_deref(), Some("SIGQUIT"));
        assert_eq!(c.labels["a"], "1");
        assert!(c.volumes.contains("/data"));
        assert!(c.exposed_ports.contains("80/tcp"));
        assert!(c.healthcheck.is_some());
    }

    #[test]
    fn missing_config_and_nulls_are_defaults() {
        let c = ImageRuntimeConfig::from_config_blob(br#"{"os":"linux"}"#).unwrap();
        assert_eq!(c, ImageRuntimeConfig::default());
        let c = ImageRuntimeConfig::from_config_blob(
            br#"{"config":{"Env":null,"Cmd":null,"Labels":null,"User":"","WorkingDir":""}}"#,
        )
        .unwrap();
        assert_eq!(c, ImageRuntimeConfig::default());
    }

    #[test]
    fn bad_blob_is_an_error() {
        let e = ImageRuntimeConfig::from_config_blob(b"{\"config\": {\"Env\": 3}}").unwrap_err();
        assert!(e.to_string().starts_with("parse image config: "), "{e}");
        assert!(e.is_invalid_argument());
    }
}
