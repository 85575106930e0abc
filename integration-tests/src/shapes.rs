//! Comparing the shapes of JSON documents (inspect output, API answers)
//! between docker and Berth: every key path with its JSON type.

use serde_json::Value;
use std::collections::BTreeMap;

/// The JSON type of a value, as the differential test compares them.
pub fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Objects whose keys are data (labels, ports, networks...), not fields:
/// their own type is compared, not their keys.
pub const DATA_MAPS: [&str; 14] = [
    "Labels",
    "Ports",
    "Networks",
    "Data",
    "Options",
    "Containers",
    "ExposedPorts",
    "Volumes",
    "Tmpfs",
    "Sysctls",
    "PortBindings",
    "StorageOpt",
    "DriverOpts",
    "Config",
];

/// Every key path of `v` (`.HostConfig.Ulimits[].Name`) with its JSON type.
pub fn key_paths(v: &Value, path: &str, out: &mut BTreeMap<String, &'static str>) {
    out.insert(path.to_string(), json_type(v));
    match v {
        Value::Object(m) => {
            let last = path.rsplit('.').next().unwrap_or("");
            // `.Config` and `.ContainerConfig` are docker's structs; a
            // `LogConfig.Config` is a map of options.
            let is_struct = matches!(path, ".Config" | ".ContainerConfig");
            if DATA_MAPS.contains(&last) && !is_struct {
                return;
            }
            for (k, x) in m {
                key_paths(x, &format!("{path}.{k}"), out);
            }
        }
        Value::Array(a) => {
            if let Some(first) = a.first() {
                key_paths(first, &format!("{path}[]"), out);
            }
        }
        _ => {}
    }
}

/// The key paths docker's object has that Berth's lacks or types otherwise.
pub fn shape_differences(docker: &Value, berth: &Value) -> Vec<String> {
    let mut d = BTreeMap::new();
    let mut b = BTreeMap::new();
    key_paths(docker, "", &mut d);
    key_paths(berth, "", &mut b);
    d.iter()
        .filter_map(|(path, ty)| match b.get(path) {
            None => Some(format!("missing {path} ({ty})")),
            Some(other) if other != ty => Some(format!("{path}: docker {ty}, berth {other}")),
            Some(_) => None,
        })
        .collect()
}
