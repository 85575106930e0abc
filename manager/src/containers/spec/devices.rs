//! Devices: the device cgroup rules of an unprivileged container (moby
//! `oci/defaults.go` plus the `mknod`-anything and pty rules runc's
//! `AllowedDevices` adds), and for `--privileged` every character and block
//! device of the host's /dev as `linux.devices`, with an allow-all rule
//! (moby `WithDevices`, runc `devices.HostDevices`).

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use berth_oci::{LinuxDevice, LinuxDeviceCgroup};

use super::SpecError;

/// One device cgroup rule.
fn rule(
    allow: bool,
    kind: &str,
    major: Option<i64>,
    minor: Option<i64>,
    access: &str,
) -> LinuxDeviceCgroup {
    LinuxDeviceCgroup {
        allow,
        kind: Some(kind.to_string()),
        major,
        minor,
        access: Some(access.to_string()),
    }
}

/// An unprivileged container's device rules: deny everything, then allow
/// `mknod` of any node (using one still needs a rule), the standard
/// /dev nodes (null, zero, full, random, urandom, tty, console, ptmx), the
/// container's ptys (major 136) and /dev/net/tun. Docker's explicit deny
/// of /dev/fuse (10:229) is left out: deny-all already covers it, and after
/// the `c *:* m` wildcard runc's v1 rule emulator refuses it ("cannot punch
/// hole in existing wildcard rule").
pub fn default_device_rules() -> Vec<LinuxDeviceCgroup> {
    let rwm = |major, minor: Option<i64>| rule(true, "c", Some(major), minor, "rwm");
    vec![
        LinuxDeviceCgroup {
            allow: false,
            access: Some("rwm".into()),
            ..Default::default()
        },
        rule(true, "c", None, None, "m"),
        rule(true, "b", None, None, "m"),
        rwm(1, Some(3)),    // /dev/null
        rwm(1, Some(5)),    // /dev/zero
        rwm(1, Some(7)),    // /dev/full
        rwm(1, Some(8)),    // /dev/random
        rwm(1, Some(9)),    // /dev/urandom
        rwm(5, Some(0)),    // /dev/tty
        rwm(5, Some(1)),    // /dev/console
        rwm(5, Some(2)),    // /dev/ptmx
        rwm(136, None),     // /dev/pts/*
        rwm(10, Some(200)), // /dev/net/tun
    ]
}

/// A privileged container's single rule: every device, every access.
pub fn privileged_device_rules() -> Vec<LinuxDeviceCgroup> {
    vec![LinuxDeviceCgroup {
        allow: true,
        access: Some("rwm".into()),
        ..Default::default()
    }]
}

/// Directories of the host's /dev that are not the host's devices: the
/// runtime mounts the container's own there (runc skips the same).
const SKIPPED: [&str; 5] = ["pts", "shm", "mqueue", "fd", ".lxc"];

/// Every character and block device under `dev` (the host's /dev), except
/// the console and what `SKIPPED` names, as `linux.devices` entries with
/// the host's mode and owner. Unreadable entries are skipped.
pub fn host_devices(dev: &Path) -> Vec<LinuxDevice> {
    let mut out = Vec::new();
    walk(dev, dev, &mut out);
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<LinuxDevice>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        let rel = path.strip_prefix(root).unwrap_or(&path);
        let ft = meta.file_type();
        if ft.is_dir() {
            if dir == root && SKIPPED.iter().any(|s| rel == Path::new(s)) {
                continue;
            }
            walk(root, &path, out);
            continue;
        }
        let kind = if ft.is_char_device() {
            "c"
        } else if ft.is_block_device() {
            "b"
        } else {
            continue;
        };
        if rel == Path::new("console") {
            continue;
        }
        let rdev = meta.rdev();
        out.push(LinuxDevice {
            path: Path::new("/dev").join(rel).to_string_lossy().into_owned(),
            kind: kind.to_string(),
            major: libc::major(rdev) as i64,
            minor: libc::minor(rdev) as i64,
            file_mode: Some(meta.mode() & 0o7777),
            uid: Some(meta.uid()),
            gid: Some(meta.gid()),
        });
    }
}

/// An I/O error as Go prints it (`no such file or directory`): docker's
/// messages quote it so.
fn os_reason(e: &std::io::Error) -> String {
    let text = e.to_string();
    let text = text.split(" (os error").next().unwrap_or(&text);
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_lowercase().collect::<String>() + chars.as_str())
        .unwrap_or_default()
}

/// Whether `mode` is docker's device access: one to three of `r`, `w`, `m`.
fn valid_mode(mode: &str) -> bool {
    berth_docker::device_rule::valid_access(mode)
}

/// `--device HOST[:CONTAINER][:PERMISSIONS]` as docker's `parseDevice`
/// reads it: host path, container path (the host's when not given) and
/// cgroup permissions (`rwm` when not given); docker's inspect shows them
/// as `HostConfig.Devices`.
pub fn device_mapping(spec: &str) -> Result<(String, String, String), SpecError> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (src, mut dst, mut perms) = (parts[0], "", "rwm");
    match parts.len() {
        1 => {}
        2 if valid_mode(parts[1]) => perms = parts[1],
        2 => dst = parts[1],
        3 => (dst, perms) = (parts[1], parts[2]),
        _ => {
            return Err(SpecError::invalid(format!(
                "invalid device specification: {spec}"
            )))
        }
    }
    if dst.is_empty() {
        dst = src;
    }
    if !valid_mode(perms) {
        return Err(SpecError::invalid(format!("bad mode specified: {perms}")));
    }
    if !src.starts_with('/') || !dst.starts_with('/') {
        return Err(SpecError::invalid(format!("bad format for path: {spec}")));
    }
    Ok((src.to_string(), dst.to_string(), perms.to_string()))
}

/// `--device HOST[:CONTAINER][:PERMISSIONS]` (docker's `parseDevice`): the
/// device nodes to create in the container and a cgroup rule allowing each
/// with the permissions (default `rwm`). A host directory gives every
/// device under it, at the same place under CONTAINER.
pub fn user_device(spec: &str) -> Result<(Vec<LinuxDevice>, Vec<LinuxDeviceCgroup>), SpecError> {
    let (src, dst, perms) = device_mapping(spec)?;
    let (src, dst, perms) = (src.as_str(), dst.as_str(), perms.as_str());
    let gather = |reason: String| {
        SpecError::invalid(format!(
            "error gathering device information while adding custom device \"{src}\": {reason}"
        ))
    };
    let meta = std::fs::metadata(src).map_err(|e| gather(os_reason(&e)))?;
    let mut found = Vec::new();
    if meta.is_dir() {
        walk(Path::new(src), Path::new(src), &mut found);
        for d in &mut found {
            let rel = Path::new(&d.path)
                .strip_prefix("/dev")
                .unwrap_or(Path::new(&d.path))
                .to_path_buf();
            d.path = Path::new(dst).join(rel).to_string_lossy().into_owned();
        }
    } else {
        let ft = meta.file_type();
        let kind = if ft.is_char_device() {
            "c"
        } else if ft.is_block_device() {
            "b"
        } else {
            return Err(gather("not a device node".into()));
        };
        let rdev = meta.rdev();
        found.push(LinuxDevice {
            path: dst.to_string(),
            kind: kind.to_string(),
            major: libc::major(rdev) as i64,
            minor: libc::minor(rdev) as i64,
            file_mode: Some(meta.mode() & 0o7777),
            uid: Some(meta.uid()),
            gid: Some(meta.gid()),
        });
    }
    let rules = found
        .iter()
        .map(|d| rule(true, &d.kind, Some(d.major), Some(d.minor), perms))
        .collect();
    Ok((found, rules))
}

/// `--device-cgroup-rule 'c 1:3 rwm'` as an OCI device rule (the syntax
/// is berth-docker's [`device_rule`](berth_docker::device_rule), which the
/// CLI checks too).
pub fn parse_cgroup_rule(value: &str) -> Result<LinuxDeviceCgroup, SpecError> {
    let r =
        berth_docker::device_rule::parse(value).map_err(|e| SpecError::invalid(e.to_string()))?;
    Ok(LinuxDeviceCgroup {
        allow: true,
        kind: Some(r.kind),
        major: r.major,
        minor: r.minor,
        access: Some(r.access),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_devices_and_rules() {
        let (devs, rules) = user_device("/dev/null:/dev/mynull:r").unwrap();
        assert_eq!(devs[0].path, "/dev/mynull");
        assert_eq!((devs[0].major, devs[0].minor), (1, 3));
        assert_eq!(rules[0].access.as_deref(), Some("r"));
        let (devs, rules) = user_device("/dev/zero:rw").unwrap();
        assert_eq!(devs[0].path, "/dev/zero");
        assert_eq!(rules[0].access.as_deref(), Some("rw"));
        assert_eq!(
            user_device("/etc/passwd").unwrap_err().to_string(),
            "error gathering device information while adding custom device \"/etc/passwd\": not a device node"
        );
        assert_eq!(
            user_device("/dev/null:/x:rwz").unwrap_err().to_string(),
            "bad mode specified: rwz"
        );
        let r = parse_cgroup_rule("c 1:* rwm").unwrap();
        assert_eq!((r.major, r.minor), (Some(1), None));
        assert_eq!(
            parse_cgroup_rule("c 1:3").unwrap_err().to_string(),
            "invalid device cgroup format 'c 1:3'"
        );
    }

    #[test]
    fn default_rules_start_with_deny_all() {
        let rules = default_device_rules();
        assert!(!rules[0].allow && rules[0].kind.is_none());
        assert!(rules
            .iter()
            .any(|r| r.allow && r.major == Some(1) && r.minor == Some(3)));
        assert!(!rules
            .iter()
            .any(|r| r.allow && r.major == Some(10) && r.minor == Some(229)));
    }

    #[test]
    fn host_devices_has_null_and_no_console_or_pts() {
        let devs = host_devices(Path::new("/dev"));
        let null = devs
            .iter()
            .find(|d| d.path == "/dev/null")
            .expect("/dev/null");
        assert_eq!((null.kind.as_str(), null.major, null.minor), ("c", 1, 3));
        assert!(devs.iter().all(|d| d.path != "/dev/console"));
        assert!(devs.iter().all(|d| !d.path.starts_with("/dev/pts/")));
    }
}
