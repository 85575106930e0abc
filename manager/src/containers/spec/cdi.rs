//! CDI (the Container Device Interface, cncf-tags/container-device-interface):
//! `--device vendor.com/class=name` and `--gpus` name devices that a vendor
//! describes in spec files under `/etc/cdi` and `/var/run/cdi` (berthd's
//! `cdi-spec-dirs`, as docker 25's daemon.json key), instead of host paths.
//! Each device (and its spec as a whole) carries `containerEdits`: device
//! nodes to create, environment variables, bind mounts, which are applied
//! to the OCI spec as podman and docker 25 do.
//!
//! Spec files are JSON (`*.json`) or YAML (`*.yaml`, `*.yml`, what vendors'
//! generators such as nvidia-ctk write). Their `hooks` edits become OCI hooks
//! of the named stage (`createRuntime`, `createContainer`,
//! `startContainer`, `poststart`, `poststop`, and the deprecated
//! `prestart`), which the runtime runs. A later directory overrides an
//! earlier one for the same device (CDI's priority: /var/run/cdi over
//! /etc/cdi).

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use berth_oci::{LinuxDevice, LinuxDeviceCgroup, Mount};
use serde::Deserialize;

use super::SpecError;

/// The directories CDI specs are read from unless configured otherwise.
pub const DEFAULT_SPEC_DIRS: [&str; 2] = ["/etc/cdi", "/var/run/cdi"];

/// The CDI kind docker 25 maps `--gpus` to.
pub const GPU_KIND: &str = "nvidia.com/gpu";

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SpecFile {
    // `cdiVersion` is not read: every version's edits are a subset of
    // what is applied here.
    kind: String,
    #[serde(default)]
    devices: Vec<DeviceEntry>,
    #[serde(default)]
    container_edits: Edits,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeviceEntry {
    name: String,
    #[serde(default)]
    container_edits: Edits,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Edits {
    #[serde(default)]
    env: Vec<String>,
    #[serde(default)]
    device_nodes: Vec<DeviceNode>,
    #[serde(default)]
    mounts: Vec<CdiMount>,
    #[serde(default)]
    hooks: Vec<CdiHook>,
}

/// A CDI hook: the OCI hook and the stage it runs at.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CdiHook {
    hook_name: String,
    path: String,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    env: Vec<String>,
    #[serde(default)]
    timeout: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeviceNode {
    path: String,
    #[serde(default)]
    host_path: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    major: Option<i64>,
    #[serde(default)]
    minor: Option<i64>,
    #[serde(default)]
    file_mode: Option<u32>,
    #[serde(default)]
    permissions: Option<String>,
    #[serde(default)]
    uid: Option<u32>,
    #[serde(default)]
    gid: Option<u32>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CdiMount {
    host_path: String,
    container_path: String,
    #[serde(default)]
    options: Vec<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
}

/// What the named devices add to a container.
#[derive(Debug, Clone, Default)]
pub struct CdiEdits {
    pub env: Vec<String>,
    pub devices: Vec<LinuxDevice>,
    pub device_rules: Vec<LinuxDeviceCgroup>,
    pub mounts: Vec<Mount>,
    /// OCI hooks, in spec order, with the stage of each.
    pub hooks: Vec<(HookStage, berth_oci::Hook)>,
}

/// The OCI hook stage a CDI hook names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookStage {
    Prestart,
    CreateRuntime,
    CreateContainer,
    StartContainer,
    Poststart,
    Poststop,
}

impl HookStage {
    fn parse(name: &str) -> Option<HookStage> {
        Some(match name {
            "prestart" => HookStage::Prestart,
            "createRuntime" => HookStage::CreateRuntime,
            "createContainer" => HookStage::CreateContainer,
            "startContainer" => HookStage::StartContainer,
            "poststart" => HookStage::Poststart,
            "poststop" => HookStage::Poststop,
            _ => return None,
        })
    }

    /// The list of `hooks` this stage's hooks go to.
    pub fn list(self, hooks: &mut berth_oci::Hooks) -> &mut Vec<berth_oci::Hook> {
        match self {
            HookStage::Prestart => &mut hooks.prestart,
            HookStage::CreateRuntime => &mut hooks.create_runtime,
            HookStage::CreateContainer => &mut hooks.create_container,
            HookStage::StartContainer => &mut hooks.start_container,
            HookStage::Poststart => &mut hooks.poststart,
            HookStage::Poststop => &mut hooks.poststop,
        }
    }
}

/// Whether a `--device` value is a CDI name (`vendor.com/class=name`)
/// rather than a host path.
pub fn is_cdi_name(value: &str) -> bool {
    !value.starts_with('/')
        && value
            .split_once('=')
            .is_some_and(|(kind, name)| kind.contains('/') && !name.is_empty())
}

/// The specs of every directory, later directories last.
fn load_specs(dirs: &[PathBuf]) -> Result<Vec<(PathBuf, SpecFile)>, SpecError> {
    let mut out = Vec::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        for path in paths {
            let yaml = match path.extension().and_then(|e| e.to_str()) {
                Some("json") => false,
                Some("yaml" | "yml") => true,
                _ => continue,
            };
            let bytes = std::fs::read(&path).map_err(|source| SpecError::Io {
                what: "read CDI spec",
                path: path.display().to_string(),
                source,
            })?;
            let spec: Result<SpecFile, String> = if yaml {
                serde_yaml_ng::from_slice(&bytes).map_err(|e| e.to_string())
            } else {
                serde_json::from_slice(&bytes).map_err(|e| e.to_string())
            };
            let spec =
                spec.map_err(|e| SpecError::invalid(format!("CDI spec {}: {e}", path.display())))?;
            out.push((path, spec));
        }
    }
    Ok(out)
}

/// Where a kind's specs were looked for, for messages.
fn dirs_text(dirs: &[PathBuf]) -> String {
    dirs.iter()
        .map(|d| d.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// One device node of a CDI edit as a spec device and its cgroup rule; the
/// host's node fills what the spec leaves out (type, numbers, mode).
fn device_node(
    node: &DeviceNode,
    spec_path: &Path,
) -> Result<(LinuxDevice, LinuxDeviceCgroup), SpecError> {
    let host = node.host_path.as_deref().unwrap_or(&node.path);
    let meta = std::fs::metadata(host).ok();
    let from_host = meta.as_ref().and_then(|m| {
        let ft = m.file_type();
        let kind = if ft.is_char_device() {
            "c"
        } else if ft.is_block_device() {
            "b"
        } else {
            return None;
        };
        Some((
            kind,
            libc::major(m.rdev()) as i64,
            libc::minor(m.rdev()) as i64,
        ))
    });
    let (kind, major, minor) = match (node.kind.as_deref(), node.major, node.minor, from_host) {
        (Some(k), Some(a), Some(b), _) => (k.to_string(), a, b),
        (_, _, _, Some((k, a, b))) => (node.kind.clone().unwrap_or_else(|| k.to_string()), a, b),
        _ => {
            return Err(SpecError::invalid(format!(
                "CDI spec {}: device node {}: {host} is not a device on the host and the spec gives no type and numbers",
                spec_path.display(),
                node.path
            )))
        }
    };
    let access = node.permissions.clone().unwrap_or_else(|| "rwm".into());
    Ok((
        LinuxDevice {
            path: node.path.clone(),
            kind: kind.clone(),
            major,
            minor,
            file_mode: node
                .file_mode
                .or_else(|| meta.as_ref().map(|m| m.mode() & 0o7777)),
            uid: node.uid.or_else(|| meta.as_ref().map(|m| m.uid())),
            gid: node.gid.or_else(|| meta.as_ref().map(|m| m.gid())),
        },
        LinuxDeviceCgroup {
            allow: true,
            kind: Some(kind),
            major: Some(major),
            minor: Some(minor),
            access: Some(access),
        },
    ))
}

fn apply(edits: &Edits, spec_path: &Path, out: &mut CdiEdits) -> Result<(), SpecError> {
    for h in &edits.hooks {
        let stage = HookStage::parse(&h.hook_name).ok_or_else(|| {
            SpecError::invalid(format!(
                "CDI spec {}: unknown hook name {:?}",
                spec_path.display(),
                h.hook_name
            ))
        })?;
        if !h.path.starts_with('/') {
            return Err(SpecError::invalid(format!(
                "CDI spec {}: hook path {:?} is not absolute",
                spec_path.display(),
                h.path
            )));
        }
        out.hooks.push((
            stage,
            berth_oci::Hook {
                path: h.path.clone(),
                args: h.args.clone(),
                env: h.env.clone(),
                timeout: h.timeout,
            },
        ));
    }
    out.env.extend(edits.env.iter().cloned());
    for node in &edits.device_nodes {
        let (dev, rule) = device_node(node, spec_path)?;
        out.devices.retain(|d| d.path != dev.path);
        out.devices.push(dev);
        out.device_rules.push(rule);
    }
    for m in &edits.mounts {
        out.mounts.push(Mount {
            destination: m.container_path.clone(),
            kind: Some(m.kind.clone().unwrap_or_else(|| "bind".into())),
            source: Some(m.host_path.clone()),
            options: if m.options.is_empty() {
                vec!["rbind".into()]
            } else {
                m.options.clone()
            },
            ..Default::default()
        });
    }
    Ok(())
}

/// The edits of the CDI devices `names` (`vendor.com/class=name`, or
/// `vendor.com/class=all` for every device of a kind), from the specs in
/// `dirs`. Errors name the device and the directories searched.
pub fn resolve(names: &[String], dirs: &[PathBuf]) -> Result<CdiEdits, SpecError> {
    let mut out = CdiEdits::default();
    if names.is_empty() {
        return Ok(out);
    }
    let specs = load_specs(dirs)?;
    let mut kinds_applied: Vec<String> = Vec::new();
    for full in names {
        let Some((kind, name)) = full.split_once('=') else {
            return Err(SpecError::invalid(format!(
                "invalid CDI device name {full:?}"
            )));
        };
        // The last spec (highest priority) that has the device wins.
        let mut found: Option<(&PathBuf, &SpecFile, Vec<&DeviceEntry>)> = None;
        for (path, spec) in &specs {
            if spec.kind != kind {
                continue;
            }
            let devices: Vec<&DeviceEntry> = spec
                .devices
                .iter()
                .filter(|d| name == "all" || d.name == name)
                .collect();
            if !devices.is_empty() {
                found = Some((path, spec, devices));
            }
        }
        let Some((path, spec, devices)) = found else {
            return Err(SpecError::invalid(format!(
                "CDI device injection failed: unresolvable CDI devices {full} (no spec in {} has it)",
                dirs_text(dirs)
            )));
        };
        if !kinds_applied.iter().any(|k| k == &spec.kind) {
            apply(&spec.container_edits, path, &mut out)?;
            kinds_applied.push(spec.kind.clone());
        }
        for d in devices {
            apply(&d.container_edits, path, &mut out)?;
        }
    }
    Ok(out)
}

/// `--gpus` as CDI names of [`GPU_KIND`] (docker 25 with CDI): `all`,
/// `N` (the first N devices), or `device=0,1` / `"device=0,1"`.
pub fn gpu_names(value: &str, dirs: &[PathBuf]) -> Result<Vec<String>, SpecError> {
    let value = value.trim_matches('"');
    let none = || {
        SpecError::invalid(format!(
            "--gpus {value}: no CDI spec of kind {GPU_KIND} in {} (could not select device driver \"\" with capabilities: [[gpu]])",
            dirs_text(dirs)
        ))
    };
    let available: Vec<String> = load_specs(dirs)?
        .into_iter()
        .filter(|(_, s)| s.kind == GPU_KIND)
        .flat_map(|(_, s)| s.devices.into_iter().map(|d| d.name))
        .filter(|n| n != "all")
        .collect();
    if available.is_empty() {
        return Err(none());
    }
    let names: Vec<String> = if value == "all" {
        available
    } else if let Some(list) = value.strip_prefix("device=") {
        list.split(',').map(str::to_string).collect()
    } else if let Ok(n) = value.parse::<usize>() {
        if n > available.len() {
            return Err(SpecError::invalid(format!(
                "--gpus {n}: only {} GPU(s) in the CDI specs",
                available.len()
            )));
        }
        available.into_iter().take(n).collect()
    } else {
        return Err(SpecError::invalid(format!(
            "invalid --gpus value {value:?} (all, a count, or device=ID[,ID])"
        )));
    };
    Ok(names
        .into_iter()
        .map(|n| format!("{GPU_KIND}={n}"))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_with(spec: &str) -> (PathBuf, Vec<PathBuf>) {
        let dir =
            std::env::temp_dir().join(format!("bt-cdi-{}-{}", std::process::id(), spec.len()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("vendor.json"), spec).unwrap();
        (dir.clone(), vec![dir])
    }

    #[test]
    fn names_resolve_to_nodes_env_and_mounts() {
        let (dir, dirs) = dir_with(
            r#"{"cdiVersion":"0.6.0","kind":"example.com/test",
                "containerEdits":{"env":["KIND_WIDE=1"]},
                "devices":[{"name":"zero","containerEdits":{
                    "env":["TEST_DEVICE=zero"],
                    "deviceNodes":[{"path":"/dev/cdi-zero","hostPath":"/dev/zero","permissions":"r"}],
                    "mounts":[{"hostPath":"/etc/hostname","containerPath":"/etc/cdi-hostname","options":["ro","bind"]}]}}]}"#,
        );
        assert!(is_cdi_name("example.com/test=zero"));
        assert!(!is_cdi_name("/dev/zero"));
        let e = resolve(&["example.com/test=zero".into()], &dirs).unwrap();
        assert_eq!(e.env, vec!["KIND_WIDE=1", "TEST_DEVICE=zero"]);
        assert_eq!(e.devices[0].path, "/dev/cdi-zero");
        assert_eq!((e.devices[0].major, e.devices[0].minor), (1, 5));
        assert_eq!(e.device_rules[0].access.as_deref(), Some("r"));
        assert_eq!(e.mounts[0].destination, "/etc/cdi-hostname");
        let err = resolve(&["example.com/test=nope".into()], &dirs)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("unresolvable CDI devices example.com/test=nope"),
            "{err}"
        );
        let err = gpu_names("all", &dirs).unwrap_err().to_string();
        assert!(
            err.starts_with("--gpus all: no CDI spec of kind nvidia.com/gpu in "),
            "{err}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn yaml_specs_and_hooks() {
        let dir = std::env::temp_dir().join(format!("bt-cdi-yaml-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("vendor.yaml"),
            "cdiVersion: 0.6.0\nkind: example.com/yaml\ncontainerEdits:\n  hooks:\n  - hookName: createContainer\n    path: /bin/true\n    args: [true, x]\n    timeout: 5\ndevices:\n- name: one\n  containerEdits:\n    env: [YAML_DEVICE=one]\n    hooks:\n    - hookName: poststop\n      path: /bin/echo\n",
        )
        .unwrap();
        let dirs = vec![dir.clone()];
        let e = resolve(&["example.com/yaml=one".into()], &dirs).unwrap();
        assert_eq!(e.env, ["YAML_DEVICE=one"]);
        assert_eq!(e.hooks.len(), 2);
        assert_eq!(e.hooks[0].0, HookStage::CreateContainer);
        assert_eq!(e.hooks[0].1.args, ["true", "x"]);
        assert_eq!(e.hooks[0].1.timeout, Some(5));
        assert_eq!(e.hooks[1].0, HookStage::Poststop);
        std::fs::write(
            dir.join("bad.yaml"),
            "cdiVersion: 0.6.0\nkind: example.com/bad\ndevices:\n- name: x\n  containerEdits:\n    hooks:\n    - hookName: sometime\n      path: /bin/true\n",
        )
        .unwrap();
        let err = resolve(&["example.com/bad=x".into()], &dirs)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown hook name \"sometime\""), "{err}");
        std::fs::write(dir.join("broken.yml"), "kind: [unclosed\n").unwrap();
        let err = resolve(&["example.com/yaml=one".into()], &dirs)
            .unwrap_err()
            .to_string();
        assert!(err.contains("broken.yml"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
