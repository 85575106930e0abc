//! `--network container:ID`: a container that joins another's network
//! namespace. The other's init pid changes at every start, so its
//! `/proc/<pid>/ns/net` is written into this container's config.json at each
//! start (the spec is otherwise made once, at create).

use std::path::Path;

/// Why the namespace path could not be set.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    #[error("{op} {path}: {message}")]
    Spec {
        op: &'static str,
        path: String,
        message: String,
    },
}

/// Sets the network namespace entry of the OCI spec at `config_json` to
/// `netns` (e.g. `/proc/1234/ns/net`).
pub fn set_network_namespace(config_json: &Path, netns: &str) -> Result<(), JoinError> {
    let err = |op, message: String| JoinError::Spec {
        op,
        path: config_json.display().to_string(),
        message,
    };
    let bytes = std::fs::read(config_json).map_err(|e| err("read", e.to_string()))?;
    let mut spec: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| err("parse", e.to_string()))?;
    let namespaces = spec
        .pointer_mut("/linux/namespaces")
        .and_then(|n| n.as_array_mut())
        .ok_or_else(|| err("find linux.namespaces in", "missing".into()))?;
    let entry = serde_json::json!({"type": "network", "path": netns});
    match namespaces
        .iter_mut()
        .find(|n| n.get("type").and_then(|t| t.as_str()) == Some("network"))
    {
        Some(n) => *n = entry,
        None => namespaces.push(entry),
    }
    let out = serde_json::to_vec(&spec).expect("spec serialises");
    std::fs::write(config_json, out).map_err(|e| err("write", e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_the_path_of_the_network_namespace() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("config.json");
        std::fs::write(
            &p,
            r#"{"linux":{"namespaces":[{"type":"mount"},{"type":"network"}]}}"#,
        )
        .unwrap();
        set_network_namespace(&p, "/proc/42/ns/net").unwrap();
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        assert_eq!(v["linux"]["namespaces"][1]["path"], "/proc/42/ns/net");
        assert_eq!(v["linux"]["namespaces"][0]["type"], "mount");
        std::fs::write(&p, r#"{"linux":{}}"#).unwrap();
        assert!(set_network_namespace(&p, "/proc/42/ns/net").is_err());
    }
}
