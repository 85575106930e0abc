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
//!   "registry-timeouts": {"connect": 30, "response": 120, "read": 60, "stall": 60},
//!   "cdi-spec-dirs": ["/etc/cdi", "/var/run/cdi"],
//!   "log-driver": "json-file",
//!   "log-opts": {"max-size": "10m", "max-file": "3"},
//!   "docker-address": "/run/berth/docker.sock",
//!   "cri-address": "/run/berth/cri.sock",
//!   "cni-conf-dir": "/etc/cni/net.d",
//!   "cni-bin-dir": "/usr/lib/cni"
//! }
//! ```
//!
//! `snapshotter` is `overlayfs` (default where the root supports it) or
//! `native`. Loopback registries are always spoken to over plain HTTP.
//!
//! Strict, because a typo must not be silently ignored on a daemon that
//! runs for months: an unknown key or a value of the wrong type stops berthd
//! with one line naming the file, the key (its path, `runtimes.crun.path`)
//! and what was expected. One extension over docker's plain JSON: lines
//! whose first non-blank characters are `//` are comments, so the packaged
//! `/etc/berth/daemon.json` can document every key in place (they are
//! blanked before parsing, so line numbers in errors stay true).

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
    #[error("config {path}: {}{source}", key.as_deref().map(|k| format!("key {k:?}: ")).unwrap_or_default())]
    Parse {
        path: PathBuf,
        /// The key path where the value was wrong (`runtimes.crun.path`),
        /// or the unknown key itself; `None` for a syntax error.
        key: Option<String>,
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
    /// Where CDI device specs are read for `--device vendor.com/class=name`
    /// and `--gpus` (docker 25's key); default `/etc/cdi`, `/var/run/cdi`.
    #[serde(default)]
    pub cdi_spec_dirs: Option<Vec<PathBuf>>,
    /// The log driver of containers created without `--log-driver`
    /// (docker's `log-driver`; default `json-file`).
    #[serde(default)]
    pub log_driver: Option<String>,
    /// Options for that driver, and `cache-*` options for every driver
    /// (docker's `log-opts`: `{"max-size": "10m"}`).
    #[serde(default)]
    pub log_opts: std::collections::BTreeMap<String, String>,
    /// The Docker Engine API socket (default `docker.sock` in the state
    /// dir; `""` turns it off); `berthd --docker-address` overrides it.
    #[serde(default)]
    pub docker_address: Option<PathBuf>,
    /// The Kubernetes CRI socket (default `cri.sock` in the state dir;
    /// `""` turns it off); `berthd --cri-address` overrides it.
    #[serde(default)]
    pub cri_address: Option<PathBuf>,
    /// Where the CRI's pod network config is read (CNI; default
    /// `/etc/cni/net.d`: the first `.conflist`/`.conf`/`.json` by name).
    #[serde(default)]
    pub cni_conf_dir: Option<PathBuf>,
    /// Where CNI plugins are (default `/usr/lib/cni`, Debian's
    /// containernetworking-plugins).
    #[serde(default)]
    pub cni_bin_dir: Option<PathBuf>,
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
        let text = blank_comment_lines(&text);
        let mut json = serde_json::Deserializer::from_str(&text);
        let parse_error = |key: Option<String>, source| ConfigError::Parse {
            path: path.to_path_buf(),
            key,
            source,
        };
        let config: DaemonConfig = serde_path_to_error::deserialize(&mut json).map_err(|e| {
            let key = e.path().to_string();
            parse_error((key != ".").then_some(key), e.into_inner())
        })?;
        // Anything after the object is an error too.
        json.end().map_err(|e| parse_error(None, e))?;
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

/// `text` with every `//` comment line replaced by an empty line.
fn blank_comment_lines(text: &str) -> String {
    text.split_inclusive('\n')
        .map(|line| {
            if line.trim_start().starts_with("//") {
                if line.ends_with('\n') {
                    "\n"
                } else {
                    ""
                }
            } else {
                line
            }
        })
        .collect()
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

    fn error_of(text: &str) -> String {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("daemon.json");
        std::fs::write(&p, text).unwrap();
        let e = DaemonConfig::load(&p, true).unwrap_err().to_string();
        assert!(e.starts_with(&format!("config {}: ", p.display())), "{e}");
        assert!(!e.contains('\n'), "one line: {e}");
        e
    }

    #[test]
    fn errors_name_the_key_and_what_was_expected() {
        let e = error_of(r#"{"insecure-registries": "r:5000"}"#);
        assert!(
            e.contains(
                r#"key "insecure-registries": invalid type: string "r:5000", expected a sequence"#
            ),
            "{e}"
        );
        let e = error_of(r#"{"runtimes": {"crun": {"path": 7}}}"#);
        assert!(
            e.contains(r#"key "runtimes.crun.path": invalid type: integer `7`"#),
            "{e}"
        );
        let e = error_of(r#"{"snapshoter": "native"}"#);
        assert!(
            e.contains("unknown field `snapshoter`, expected one of"),
            "{e}"
        );
        let e = error_of(r#"{"runtimes": {"crun": {"pth": "/x"}}}"#);
        assert!(
            e.contains(r#"key "runtimes.crun.pth": unknown field `pth`, expected `path`"#),
            "{e}"
        );
        let e = error_of(r#"{"bridge": "b0"} {}"#);
        assert!(e.contains("trailing characters"), "{e}");
        error_of("{");
    }

    /// The commented daemon.json the .deb installs as /etc/berth/daemon.json.
    const SHIPPED: &str = include_str!("../../../dist/etc/daemon.json");

    #[test]
    fn the_shipped_daemon_json_parses_and_each_documented_key_is_real() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("daemon.json");
        std::fs::write(&p, SHIPPED).unwrap();
        let c = DaemonConfig::load(&p, true).unwrap();
        assert!(c.insecure_registries.is_empty() && c.snapshotter.is_none());
        // Each commented-out `"key": value` line, uncommented on its own,
        // must be a key berthd knows with a value of the right type.
        let keys: Vec<&str> = SHIPPED
            .lines()
            .filter_map(|l| l.strip_prefix("//  \""))
            .collect();
        assert!(keys.len() >= 8, "{keys:?}");
        for key in keys {
            std::fs::write(&p, format!("{{\"{key}}}")).unwrap();
            if let Err(e) = DaemonConfig::load(&p, true) {
                panic!("documented key line {key:?}: {e}");
            }
        }
    }

    #[test]
    fn whole_line_comments_are_allowed_and_keep_line_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("daemon.json");
        std::fs::write(
            &p,
            "// Berth's daemon config\n{\n  // the bridge\n  \"bridge\": \"b0\"\n  // \"bip\": \"10.0.0.1/24\"\n}",
        )
        .unwrap();
        assert_eq!(
            DaemonConfig::load(&p, true).unwrap().bridge.as_deref(),
            Some("b0")
        );
        // A comment after a value is not a comment line: an error, on line 1.
        let e = error_of("{\"bridge\": \"b0\" // no\n}");
        assert!(e.contains("line 1"), "{e}");
        let e = error_of("// c\n// c\n{\"bip\": 1}");
        assert!(e.contains("line 3"), "{e}");
    }
}
