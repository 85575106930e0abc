//! What a user asks for when creating a container: the options that make
//! its OCI spec ([`ContainerOptions`], the spec module's) and those berthd
//! itself acts on (logging, removal on exit, runtime, stop timeout, restart
//! policy). Persisted in the container's record.

use super::spec::ContainerOptions;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Where a container's output goes (docker's `--log-driver`/`--log-opt`),
/// as [`super::log_driver::resolve`] settled it at create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogConfig {
    /// `json-file`, `local`, `syslog` or `none`.
    pub driver: String,
    /// The options as given (with daemon.json's defaults filled in), as
    /// inspect shows them.
    #[serde(default)]
    pub opts: BTreeMap<String, String>,
    /// json-file: rotate at this many bytes, 0: never; local: rotate at
    /// this many bytes (docker's default 20 MiB; 0 rotates every entry).
    #[serde(default)]
    pub max_size: u64,
    /// json-file and local: files kept (with the live one); 0 means 1.
    #[serde(default)]
    pub max_file: u32,
    /// `mode=non-blocking`.
    #[serde(default)]
    pub non_blocking: bool,
    /// `max-buffer-size` in bytes (0: docker's default, 1 MB).
    #[serde(default)]
    pub max_buffer_size: u64,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            driver: "json-file".into(),
            opts: BTreeMap::new(),
            max_size: 0,
            max_file: 0,
            non_blocking: false,
            max_buffer_size: 0,
        }
    }
}

/// docker's restart policy of a container (`--restart`); the rules that
/// apply it are in [`super::restart`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestartPolicy {
    /// `no`, `always`, `unless-stopped`, `on-failure`.
    pub name: String,
    #[serde(default)]
    pub max_retries: i32,
}

/// A container's whole configuration.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContainerConfig {
    /// The image as the user named it.
    pub image: String,
    /// Everything that goes into the OCI spec.
    pub options: ContainerOptions,
    #[serde(default)]
    pub log: LogConfig,
    /// Remove the container once it exits (`--rm`).
    #[serde(default)]
    pub auto_remove: bool,
    /// Runtime name from berthd's config; none: the default.
    #[serde(default)]
    pub runtime: Option<String>,
    /// Seconds between the stop signal and SIGKILL; none: 10.
    #[serde(default)]
    pub stop_timeout: Option<i32>,
    #[serde(default)]
    pub restart: RestartPolicy,
}
