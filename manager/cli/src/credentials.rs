//! Registry credentials, stored the way docker stores them: a JSON file
//! `config.json` with `{"auths": {"<registry>": {"auth": base64("user:pass")}}}`
//! (docker/cli `configfile`), mode 0600, in `$BERTH_CONFIG` or `~/.berth`.
//!
//! Credential helpers as docker runs them (docker-credential-helpers
//! protocol): `credHelpers` in config.json names a helper per registry,
//! `credsStore` one for every other registry. A helper is the program
//! `docker-credential-<name>` on `PATH`, run as `get`, `store` or `erase`:
//! `get` and `erase` read the server URL on stdin, `store` reads
//! `{"ServerURL","Username","Secret"}`; `get` prints the same object, or
//! fails with "credentials not found in native keychain". A user name of
//! `<token>` means the secret is an identity token. With a helper, the file
//! keeps only an empty `auths` entry for the registry (as docker does), so
//! no secret is written to disk by berth.

use super::CliError;
use base64::Engine;
use serde_json::{json, Map, Value};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The message a helper prints when it holds nothing for a server
/// (docker-credential-helpers `credentials.errCredentialsNotFound`).
const NOT_FOUND_MESSAGE: &str = "credentials not found in native keychain";

/// The user name a helper stores for an identity token.
const TOKEN_USER: &str = "<token>";

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

/// The helper configured for `registry`: its `credHelpers` entry, else
/// `credsStore`.
fn helper_for(config: &Map<String, Value>, registry: &str) -> Option<String> {
    let server = helper_server(registry);
    let host = server
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap_or_default()
        .to_string();
    config
        .get("credHelpers")
        .and_then(Value::as_object)
        .and_then(|h| h.get(registry).or_else(|| h.get(&host)))
        .or_else(|| config.get("credsStore"))
        .and_then(Value::as_str)
        .filter(|name| !name.is_empty())
        .map(str::to_string)
}

/// The server URL a helper is asked about: docker's hub is known to
/// helpers by its v1 index URL, every other registry by its host.
fn helper_server(registry: &str) -> String {
    if registry == "docker.io" {
        "https://index.docker.io/v1/".to_string()
    } else {
        registry.to_string()
    }
}

/// What a credential helper run produced.
struct HelperOutput {
    success: bool,
    stdout: String,
}

/// Runs `docker-credential-<helper> <action>` with `input` on stdin.
fn run_helper(
    helper: &str,
    action: &str,
    server: &str,
    input: &str,
) -> Result<HelperOutput, CliError> {
    let program = format!("docker-credential-{helper}");
    let fail = |reason: String| {
        CliError::Other(format!(
            "credential helper {program} {action} for {server}: {reason}"
        ))
    };
    let mut child = Command::new(&program)
        .arg(action)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            fail(if e.kind() == std::io::ErrorKind::NotFound {
                "executable file not found in $PATH".to_string()
            } else {
                e.to_string()
            })
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading its input is not an error
        // here; its exit status says what happened.
        let _ = stdin.write_all(input.as_bytes());
    }
    let out = child.wait_with_output().map_err(|e| fail(e.to_string()))?;
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if out.status.success() || stdout == NOT_FOUND_MESSAGE {
        return Ok(HelperOutput {
            success: out.status.success(),
            stdout,
        });
    }
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    let detail = [stdout.as_str(), stderr.as_str()]
        .iter()
        .filter(|s| !s.is_empty())
        .map(|s| s.replace('\n', " "))
        .collect::<Vec<_>>()
        .join(": ");
    Err(fail(format!("{}: {detail}", out.status)))
}

/// Asks a helper for the credentials of `registry`.
fn helper_get(helper: &str, registry: &str) -> Result<Option<StoredAuth>, CliError> {
    let server = helper_server(registry);
    let out = run_helper(helper, "get", &server, &server)?;
    if !out.success {
        return Ok(None);
    }
    let v: Value = serde_json::from_str(&out.stdout).map_err(|e| {
        CliError::Other(format!(
            "credential helper docker-credential-{helper} get for {server}: invalid JSON output: {e}"
        ))
    })?;
    let username = v["Username"].as_str().unwrap_or_default().to_string();
    let secret = v["Secret"].as_str().unwrap_or_default().to_string();
    Ok(Some(if username == TOKEN_USER {
        StoredAuth {
            identity_token: secret,
            ..StoredAuth::default()
        }
    } else {
        StoredAuth {
            username,
            password: secret,
            identity_token: String::new(),
        }
    }))
}

/// Where [`store`] put the credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredIn {
    /// In config.json, base64-encoded (docker warns about this).
    File(PathBuf),
    /// In a credential helper (`docker-credential-<name>`).
    Helper(String),
}

/// The credentials stored for `registry`, if any.
pub fn get(dir: &Path, registry: &str) -> Result<Option<StoredAuth>, CliError> {
    let config = read_config(&dir.join("config.json"))?;
    if let Some(helper) = helper_for(&config, registry) {
        return helper_get(&helper, registry);
    }
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

/// Stores credentials for `registry`, in its helper when one is
/// configured, else in config.json.
pub fn store(dir: &Path, registry: &str, auth: &StoredAuth) -> Result<StoredIn, CliError> {
    let path = dir.join("config.json");
    let mut config = read_config(&path)?;
    if let Some(helper) = helper_for(&config, registry) {
        let server = helper_server(registry);
        let (username, secret) = if auth.identity_token.is_empty() {
            (auth.username.as_str(), auth.password.as_str())
        } else {
            (TOKEN_USER, auth.identity_token.as_str())
        };
        let input = json!({"ServerURL": server, "Username": username, "Secret": secret});
        let out = run_helper(&helper, "store", &server, &input.to_string())?;
        if !out.success {
            return Err(CliError::Other(format!(
                "credential helper docker-credential-{helper} store for {server}: {}",
                out.stdout
            )));
        }
        // docker keeps an empty entry so the file lists the registry.
        let auths = config.entry("auths").or_insert_with(|| json!({}));
        auths[registry] = json!({});
        write_config(&path, &config)?;
        return Ok(StoredIn::Helper(helper));
    }
    let auths = config.entry("auths").or_insert_with(|| json!({}));
    let encoded = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", auth.username, auth.password));
    let mut entry = json!({ "auth": encoded });
    if !auth.identity_token.is_empty() {
        entry["identitytoken"] = json!(auth.identity_token);
    }
    auths[registry] = entry;
    write_config(&path, &config)?;
    Ok(StoredIn::File(path))
}

/// Removes the credentials of `registry` (from its helper too); returns
/// whether there were any.
pub fn erase(dir: &Path, registry: &str) -> Result<bool, CliError> {
    let path = dir.join("config.json");
    let mut config = read_config(&path)?;
    let mut in_helper = false;
    if let Some(helper) = helper_for(&config, registry) {
        let server = helper_server(registry);
        in_helper = run_helper(&helper, "erase", &server, &server)?.success;
    }
    let removed = config
        .get_mut("auths")
        .and_then(Value::as_object_mut)
        .map(|a| a.remove(registry).is_some())
        .unwrap_or(false);
    if removed {
        write_config(&path, &config)?;
    }
    Ok(removed || in_helper)
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
        assert_eq!(
            store(dir.path(), "r:5000", &auth).unwrap(),
            StoredIn::File(dir.path().join("config.json"))
        );
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

    #[test]
    fn helpers_are_chosen_per_registry_then_default() {
        let config: Map<String, Value> = serde_json::from_value(json!({
            "credsStore": "desktop",
            "credHelpers": {"r.example:5000": "pass", "index.docker.io": "hub"},
        }))
        .unwrap();
        assert_eq!(
            helper_for(&config, "r.example:5000").as_deref(),
            Some("pass")
        );
        assert_eq!(helper_for(&config, "docker.io").as_deref(), Some("hub"));
        assert_eq!(helper_for(&config, "other").as_deref(), Some("desktop"));
        assert_eq!(helper_for(&Map::new(), "other"), None);
        assert_eq!(helper_server("docker.io"), "https://index.docker.io/v1/");
    }

    #[test]
    fn a_missing_helper_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"credsStore":"bt-no-such-helper"}"#,
        )
        .unwrap();
        let err = get(dir.path(), "r:5000").unwrap_err().to_string();
        assert_eq!(
            err,
            "credential helper docker-credential-bt-no-such-helper get for r:5000: executable file not found in $PATH"
        );
    }
}
