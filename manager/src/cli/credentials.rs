//! Registry credentials, stored the way docker stores them: a JSON file
//! `config.json` with `{"auths": {"<registry>": {"auth": base64("user:pass")}}}`
//! (docker/cli `configfile`), mode 0600, in `$BERTH_CONFIG` or `~/.berth`.
//! Credential helpers (`credsStore`) are not supported.

use super::CliError;
use base64::Engine;
use serde_json::{json, Map, Value};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// `~/.berth` (or `/root/.berth` when HOME is unset).
pub fn default_config_dir() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/root"))
        .join(".berth")
}

/// Stored credentials for one registry.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StoredAuth {
    pub username: String,
    pub password: String,
    pub identity_token: String,
}

fn read_config(path: &Path) -> Result<Map<String, Value>, CliError> {
    match std::fs::read(path) {
        Ok(bytes) => match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(m)) => Ok(m),
            _ => Err(CliError::Other(format!(
                "credentials file {} is not a JSON object",
                path.display()
            ))),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Map::new()),
        Err(source) => Err(CliError::Io {
            op: "read",
            path: path.display().to_string(),
            source,
        }),
    }
}

fn write_config(path: &Path, config: &Map<String, Value>) -> Result<(), CliError> {
    let io = |op: &'static str| {
        move |source: std::io::Error| CliError::Io {
            op,
            path: path.display().to_string(),
            source,
        }
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io("create directory for"))?;
    }
    // Write a temp file then rename: a crash never leaves half a file.
    let tmp = path.with_extension("json.tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io("write"))?;
    f.write_all(
        serde_json::to_string_pretty(&Value::Object(config.clone()))
            .unwrap()
            .as_bytes(),
    )
    .map_err(io("write"))?;
    f.sync_all().map_err(io("fsync"))?;
    std::fs::rename(&tmp, path).map_err(io("rename into"))
}

/// The credentials stored for `registry`, if any.
pub fn get(dir: &Path, registry: &str) -> Result<Option<StoredAuth>, CliError> {
    let config = read_config(&dir.join("config.json"))?;
    let Some(auths) = config.get("auths").and_then(Value::as_object) else {
        return Ok(None);
    };
    let entry = auths.get(registry).or_else(|| {
        // docker.io credentials are often stored under the v1 index URL.
        (registry == "docker.io")
            .then(|| auths.get("https://index.docker.io/v1/"))
            .flatten()
    });
    let Some(entry) = entry else { return Ok(None) };
    let mut out = StoredAuth::default();
    if let Some(auth) = entry.get("auth").and_then(Value::as_str) {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(auth)
            .map_err(|_| {
                CliError::Other(format!(
                    "invalid auth for {registry} in {}",
                    dir.join("config.json").display()
                ))
            })?;
        let raw = String::from_utf8_lossy(&raw).to_string();
        let (u, p) = raw.split_once(':').unwrap_or((&raw, ""));
        out.username = u.to_string();
        out.password = p.to_string();
    }
    if let Some(t) = entry.get("identitytoken").and_then(Value::as_str) {
        out.identity_token = t.to_string();
    }
    Ok(Some(out))
}

/// Stores credentials for `registry`.
pub fn store(dir: &Path, registry: &str, auth: &StoredAuth) -> Result<(), CliError> {
    let path = dir.join("config.json");
    let mut config = read_config(&path)?;
    let auths = config.entry("auths").or_insert_with(|| json!({}));
    let encoded = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", auth.username, auth.password));
    let mut entry = json!({ "auth": encoded });
    if !auth.identity_token.is_empty() {
        entry["identitytoken"] = json!(auth.identity_token);
    }
    auths[registry] = entry;
    write_config(&path, &config)
}

/// Removes the credentials of `registry`; returns whether there were any.
pub fn erase(dir: &Path, registry: &str) -> Result<bool, CliError> {
    let path = dir.join("config.json");
    let mut config = read_config(&path)?;
    let removed = config
        .get_mut("auths")
        .and_then(Value::as_object_mut)
        .map(|a| a.remove(registry).is_some())
        .unwrap_or(false);
    if removed {
        write_config(&path, &config)?;
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn stores_reads_and_erases_like_docker() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(get(dir.path(), "r:5000").unwrap(), None);
        let auth = StoredAuth {
            username: "u".into(),
            password: "p:w".into(),
            identity_token: String::new(),
        };
        store(dir.path(), "r:5000", &auth).unwrap();
        let text = std::fs::read_to_string(dir.path().join("config.json")).unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["auths"]["r:5000"]["auth"], "dTpwOnc=");
        let mode = std::fs::metadata(dir.path().join("config.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(get(dir.path(), "r:5000").unwrap(), Some(auth));
        assert!(erase(dir.path(), "r:5000").unwrap());
        assert!(!erase(dir.path(), "r:5000").unwrap());
        assert_eq!(get(dir.path(), "r:5000").unwrap(), None);
    }
}
