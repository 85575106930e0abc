//! CNI (the Container Network Interface, containernetworking/cni SPEC.md):
//! the network configuration from a conf dir, and its plugins run as
//! programs, ADD in the list's order and DEL in reverse, each given its
//! netconf on stdin (with `name`, `cniVersion`, the previous plugin's
//! result as `prevResult`, and `runtimeConfig.portMappings` when the
//! plugin declares that capability) and the `CNI_*` variables.
//!
//! As containerd does, the conf dir's first file by name (`.conflist`,
//! `.conf` or `.json`) is the pod network, and the loopback plugin brings
//! up `lo` in every pod's namespace before it.

use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Default directory of network configurations.
pub const DEFAULT_CONF_DIR: &str = "/etc/cni/net.d";
/// Default plugin directory (Debian's containernetworking-plugins).
pub const DEFAULT_BIN_DIR: &str = "/usr/lib/cni";
/// The interface a pod's network is attached as.
pub const POD_INTERFACE: &str = "eth0";

/// What went wrong with CNI.
#[derive(Debug, thiserror::Error)]
pub enum CniError {
    #[error("no CNI network config in {0} (.conflist, .conf or .json)")]
    NoConfig(PathBuf),
    #[error("CNI config {path}: {message}")]
    BadConfig { path: PathBuf, message: String },
    #[error("CNI plugin {plugin:?} not found in {dirs}")]
    NoPlugin { plugin: String, dirs: String },
    #[error("CNI plugin {plugin} {command} for network {network:?}: {message}")]
    Plugin {
        plugin: String,
        command: &'static str,
        network: String,
        message: String,
    },
}

/// Where configurations and plugins are.
#[derive(Debug, Clone)]
pub struct CniSettings {
    pub conf_dir: PathBuf,
    pub bin_dir: PathBuf,
}

/// A network configuration list (a single `.conf` is a list of one).
#[derive(Debug, Clone)]
pub struct NetworkList {
    pub name: String,
    pub cni_version: String,
    pub plugins: Vec<Value>,
    pub source: PathBuf,
}

/// The network of the loopback interface, run for every pod.
pub fn loopback() -> NetworkList {
    NetworkList {
        name: "cni-loopback".into(),
        cni_version: "0.3.1".into(),
        plugins: vec![json!({"type": "loopback"})],
        source: PathBuf::new(),
    }
}

/// The pod network: the first config file of `conf_dir` by name.
pub fn load(conf_dir: &Path) -> Result<NetworkList, CniError> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(conf_dir)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|p| {
        p.is_file()
            && p.extension()
                .is_some_and(|e| e == "conflist" || e == "conf" || e == "json")
    });
    files.sort();
    let path = files
        .into_iter()
        .next()
        .ok_or_else(|| CniError::NoConfig(conf_dir.to_path_buf()))?;
    let bad = |message: String| CniError::BadConfig {
        path: path.clone(),
        message,
    };
    let text = std::fs::read(&path).map_err(|e| bad(e.to_string()))?;
    let value: Value = serde_json::from_slice(&text).map_err(|e| bad(e.to_string()))?;
    let name = value["name"]
        .as_str()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| bad("no \"name\"".into()))?
        .to_string();
    let cni_version = value["cniVersion"].as_str().unwrap_or("0.4.0").to_string();
    let plugins = if path.extension().is_some_and(|e| e == "conflist") {
        value["plugins"]
            .as_array()
            .filter(|p| !p.is_empty())
            .ok_or_else(|| bad("no \"plugins\" list".into()))?
            .clone()
    } else {
        vec![value]
    };
    for p in &plugins {
        if p["type"].as_str().is_none_or(str::is_empty) {
            return Err(bad("a plugin without \"type\"".into()));
        }
    }
    Ok(NetworkList {
        name,
        cni_version,
        plugins,
        source: path,
    })
}

/// Who is attached: the `CNI_*` variables and the capability arguments.
#[derive(Debug, Clone)]
pub struct Attachment {
    pub container_id: String,
    /// The pinned netns path; empty for a DEL whose namespace is gone.
    pub netns: PathBuf,
    pub ifname: String,
    /// `CNI_ARGS` pairs (`K8S_POD_NAME`...).
    pub args: Vec<(String, String)>,
    /// `portMappings` entries (`hostPort`, `containerPort`, `protocol`, `hostIP`).
    pub port_mappings: Vec<Value>,
}

impl CniSettings {
    /// Runs ADD of every plugin of `list`; the last plugin's result. On a
    /// failure the whole list is deleted again (SPEC: a runtime must DEL
    /// after a failed ADD) and the ADD's error returned.
    pub fn add(&self, list: &NetworkList, att: &Attachment) -> Result<Value, CniError> {
        let mut prev: Option<Value> = None;
        for plugin in &list.plugins {
            let conf = self.netconf(list, plugin, prev.as_ref(), att);
            match self.exec(list, plugin, "ADD", &conf, att) {
                Ok(result) => prev = Some(result),
                Err(e) => {
                    if let Err(del) = self.del(list, att, prev.as_ref()) {
                        tracing::warn!(error = %del, "CNI DEL after a failed ADD");
                    }
                    return Err(e);
                }
            }
        }
        Ok(prev.unwrap_or(Value::Null))
    }

    /// Runs DEL of every plugin of `list`, in reverse order, with the ADD's
    /// result; every plugin is tried, the first error returned.
    pub fn del(
        &self,
        list: &NetworkList,
        att: &Attachment,
        result: Option<&Value>,
    ) -> Result<(), CniError> {
        let mut first = None;
        for plugin in list.plugins.iter().rev() {
            let conf = self.netconf(list, plugin, result, att);
            if let Err(e) = self.exec(list, plugin, "DEL", &conf, att) {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }

    fn netconf(
        &self,
        list: &NetworkList,
        plugin: &Value,
        prev: Option<&Value>,
        att: &Attachment,
    ) -> Value {
        let mut conf = plugin.clone();
        let obj = conf.as_object_mut().expect("plugins are objects");
        obj.insert("name".into(), json!(list.name));
        obj.insert("cniVersion".into(), json!(list.cni_version));
        if let Some(prev) = prev.filter(|p| !p.is_null()) {
            obj.insert("prevResult".into(), prev.clone());
        }
        let wants_ports = plugin["capabilities"]["portMappings"].as_bool() == Some(true);
        if wants_ports && !att.port_mappings.is_empty() {
            obj.insert(
                "runtimeConfig".into(),
                json!({"portMappings": att.port_mappings}),
            );
        }
        conf
    }

    fn exec(
        &self,
        list: &NetworkList,
        plugin: &Value,
        command: &'static str,
        conf: &Value,
        att: &Attachment,
    ) -> Result<Value, CniError> {
        let kind = plugin["type"].as_str().unwrap_or_default().to_string();
        let binary = self.bin_dir.join(&kind);
        if kind.contains('/') || !binary.is_file() {
            return Err(CniError::NoPlugin {
                plugin: kind,
                dirs: self.bin_dir.display().to_string(),
            });
        }
        let fail = |message: String| CniError::Plugin {
            plugin: kind.clone(),
            command,
            network: list.name.clone(),
            message,
        };
        let args = att
            .args
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(";");
        let mut child = Command::new(&binary)
            .env("CNI_COMMAND", command)
            .env("CNI_CONTAINERID", &att.container_id)
            .env("CNI_NETNS", &att.netns)
            .env("CNI_IFNAME", &att.ifname)
            .env("CNI_ARGS", args)
            .env("CNI_PATH", &self.bin_dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| fail(format!("run {}: {e}", binary.display())))?;
        let input = serde_json::to_vec(conf).expect("netconf serialises");
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(&input);
        }
        let out = child
            .wait_with_output()
            .map_err(|e| fail(format!("wait: {e}")))?;
        if !out.status.success() {
            // SPEC: an error is a JSON object with `msg` (and `details`).
            let err: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
            let msg = match (err["msg"].as_str(), err["details"].as_str()) {
                (Some(m), Some(d)) if !d.is_empty() => format!("{m}: {d}"),
                (Some(m), _) => m.to_string(),
                _ => {
                    let stderr = String::from_utf8_lossy(&out.stderr);
                    let stdout = String::from_utf8_lossy(&out.stdout);
                    format!(
                        "{} ({})",
                        out.status,
                        stderr
                            .trim()
                            .lines()
                            .chain(stdout.trim().lines())
                            .collect::<Vec<_>>()
                            .join("; ")
                    )
                }
            };
            return Err(fail(msg));
        }
        if out.stdout.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&out.stdout).map_err(|e| fail(format!("bad result: {e}")))
    }
}

/// The addresses of a result (`ips[].address`, CIDR form): IPv4 first,
/// without their prefix length.
pub fn result_ips(result: &Value) -> Vec<String> {
    let mut ips: Vec<String> = result["ips"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|ip| ip["address"].as_str())
                .map(|a| a.split('/').next().unwrap_or(a).to_string())
                .collect()
        })
        .unwrap_or_default();
    ips.sort_by_key(|ip| ip.contains(':'));
    ips
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_the_first_config_by_name() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(load(dir.path()), Err(CniError::NoConfig(_))));
        std::fs::write(
            dir.path().join("20-b.conf"),
            r#"{"cniVersion":"0.4.0","name":"b","type":"bridge"}"#,
        )
        .unwrap();
        std::fs::write(
            dir.path().join("10-a.conflist"),
            r#"{"cniVersion":"1.0.0","name":"a","plugins":[{"type":"bridge"},{"type":"portmap","capabilities":{"portMappings":true}}]}"#,
        )
        .unwrap();
        let l = load(dir.path()).unwrap();
        assert_eq!((l.name.as_str(), l.cni_version.as_str()), ("a", "1.0.0"));
        assert_eq!(l.plugins.len(), 2);
        std::fs::remove_file(dir.path().join("10-a.conflist")).unwrap();
        let l = load(dir.path()).unwrap();
        assert_eq!((l.name.as_str(), l.plugins.len()), ("b", 1));
        std::fs::write(dir.path().join("00-bad.conf"), r#"{"name":"x"}"#).unwrap();
        let e = load(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("00-bad.conf") && e.contains("without \"type\""),
            "{e}"
        );
    }

    #[test]
    fn netconf_chains_results_and_passes_port_mappings_to_capable_plugins() {
        let settings = CniSettings {
            conf_dir: "/x".into(),
            bin_dir: "/y".into(),
        };
        let list = NetworkList {
            name: "n".into(),
            cni_version: "0.4.0".into(),
            plugins: vec![],
            source: PathBuf::new(),
        };
        let att = Attachment {
            container_id: "c".into(),
            netns: "/ns".into(),
            ifname: "eth0".into(),
            args: vec![],
            port_mappings: vec![json!({"hostPort": 8080, "containerPort": 80, "protocol": "tcp"})],
        };
        let prev = json!({"ips": [{"address": "10.1.0.2/24"}]});
        let c = settings.netconf(&list, &json!({"type": "bridge"}), Some(&prev), &att);
        assert_eq!(c["name"], "n");
        assert_eq!(c["prevResult"], prev);
        assert!(c.get("runtimeConfig").is_none());
        let c = settings.netconf(
            &list,
            &json!({"type": "portmap", "capabilities": {"portMappings": true}}),
            None,
            &att,
        );
        assert_eq!(c["runtimeConfig"]["portMappings"][0]["hostPort"], 8080);
        assert_eq!(
            result_ips(&json!({"ips": [{"address": "fd00::2/64"}, {"address": "10.1.0.2/24"}]})),
            vec!["10.1.0.2", "fd00::2"]
        );
    }
}
