//! berthd's configuration file (`--config FILE`, JSON like docker's
//! daemon.json). Every key is optional:
//!
//! ```json
//! {
//!   "insecure-registries": ["registry.lan:5000"],
//!   "snapshotter": "overlayfs",
//!   "log-level": "info",
//!   "runtimes": {"crun": {"path": "/usr/bin/crun"}},
//!   "default-runtime": "berth",
//!   "bridge": "berth0",
//!   "bip": "172.18.0.1/16",
//!   "nft-table": "berth",
//!   "registry-timeouts": {"connect": 30, "response": 120, "read": 60, "stall": 60}
//! }
//! ```
//!
//! `snapshotter` is `overlayfs` (default where the root supports it) or
//! `native`. Loopback registries are always spoken to over plain HTTP.

use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Why the config file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("read config {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("parse config {path}: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("config {path}: unknown snapshotter {name:?} (use overlayfs or native)")]
    Snapshotter { path: PathBuf, name: String },
}

/// The settings of the config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct DaemonConfig {
    /// Registries (`host[:port]` or `host`) reached over HTTPS without
    /// certificate checks, falling back to plain HTTP (docker's
    /// `insecure-registries`; see `registry` for the order).
    #[serde(default)]
    pub insecure_registries: Vec<String>,
    /// `overlayfs` or `native`; none picks overlayfs when it works.
    #[serde(default)]
    pub snapshotter: Option<String>,
    /// A tracing filter (`info`, `debug`, `berth_manager=trace`).
    #[serde(default)]
    pub log_level: Option<String>,
    /// Extra OCI runtimes by name (docker's `runtimes`: `{"crun": {"path": "/usr/bin/crun"}}`);
    /// `berth` (berth-runtime) and `runc` are always known.
    #[serde(default)]
    pub runtimes: std::collections::BTreeMap<String, RuntimeConfig>,
    /// The runtime containers use unless `--runtime` names another (default `berth`).
    #[serde(default)]
    pub default_runtime: Option<String>,
    /// The default network's host bridge interface (docker's `bridge`;
    /// default `berth0`).
    #[serde(default)]
    pub bridge: Option<String>,
    /// The default network's gateway address in CIDR form (docker's `bip`,
    /// e.g. `172.18.0.1/16`); default: a free subnet of the pool.
    #[serde(default)]
    pub bip: Option<String>,
    /// berthd's nftables table (`ip <name>`, default `berth`): published
    /// ports and network isolation (networks/firewall). Test daemons get a
    /// unique one each.
    #[serde(default)]
    pub nft_table: Option<String>,
    /// Bounds on every registry connection, in seconds (`{"connect": 30,
    /// "response": 120, "read": 60, "stall": 60}`, each key optional): see
    /// `registry::RegistryTimeouts`.
    #[serde(default)]
    pub registry_timeouts: crate::registry::RegistryTimeouts,
}

/// One configured OCI runtime.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeConfig {
    /// The runc-compatible binary.
    pub path: PathBuf,
}

impl DaemonConfig {
    /// Reads `path`; a missing default file is an empty config, a missing
    /// file the user named is an error.
    pub fn load(path: &Path, explicit: bool) -> Result<DaemonConfig, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
                return Ok(DaemonConfig::default())
            }
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        let config: DaemonConfig =
            serde_json::from_str(&text).map_err(|source| ConfigError::Parse {
                path: path.to_path_buf(),
                source,
            })?;
        if let Some(name) = &config.snapshotter {
            if name != "overlayfs" && name != "native" {
                return Err(ConfigError::Snapshotter {
                    path: path.to_path_buf(),
                    name: name.clone(),
                });
            }
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_checks_the_config() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.json");
        assert!(DaemonConfig::load(&p, false)
            .unwrap()
            .insecure_registries
            .is_empty());
        assert!(DaemonConfig::load(&p, true).is_err());
        std::fs::write(
            &p,
            r#"{"insecure-registries":["r:5000"],"snapshotter":"native"}"#,
        )
        .unwrap();
        let c = DaemonConfig::load(&p, true).unwrap();
        assert_eq!(c.insecure_registries, vec!["r:5000"]);
        std::fs::write(&p, r#"{"snapshotter":"zfs"}"#).unwrap();
        assert!(matches!(
            DaemonConfig::load(&p, true),
            Err(ConfigError::Snapshotter { .. })
        ));
        std::fs::write(&p, r#"{"bogus":1}"#).unwrap();
        assert!(matches!(
            DaemonConfig::load(&p, true),
            Err(ConfigError::Parse { .. })
        ));
    }
}
