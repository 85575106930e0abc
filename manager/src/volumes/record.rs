//! A volume's record (`volumes` table of meta.redb, key = name, value =
//! this record as JSON) and the rules for what may go in it: docker's name
//! rule and the local driver's options.

use super::VolumeError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The only driver Berth has: docker's `local`.
pub const LOCAL_DRIVER: &str = "local";

/// The label docker (23+) puts on anonymous volumes; `volume prune` without
/// `-a` removes only volumes carrying it.
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";

/// What berthd persists about a volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeRecord {
    pub name: String,
    /// Always [`LOCAL_DRIVER`].
    pub driver: String,
    /// RFC 3339, seconds (docker's `CreatedAt`).
    pub created_at: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The local driver's `type`, `device`, `o` (see [`validate_options`]).
    #[serde(default)]
    pub options: BTreeMap<String, String>,
}

impl VolumeRecord {
    /// Whether berthd made it for a container (`-v /path`, image VOLUME).
    pub fn is_anonymous(&self) -> bool {
        self.labels.contains_key(ANONYMOUS_LABEL)
    }

    /// Whether its data lives on a file system mounted at first use
    /// (`--opt type=... --opt device=...`) rather than in the directory.
    pub fn is_mount_backed(&self) -> bool {
        self.options.contains_key("type") || self.options.contains_key("device")
    }
}

/// docker's local volume name rule: `[a-zA-Z0-9][a-zA-Z0-9_.-]+` (moby
/// `volume/local` `validateName`); the error is docker's, so that a user
/// who meant a path (`a/b`, `./x`) learns to write it absolute.
pub fn validate_name(name: &str) -> Result<(), VolumeError> {
    let mut chars = name.chars();
    let ok = matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && name.len() >= 2
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(())
    } else {
        Err(VolumeError::InvalidArgument(format!(
            "create {name}: \"{name}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
        )))
    }
}

/// The local driver's options (moby `volume/local` `validateOpts`): `type`
/// (file system type), `device` (what to mount), `o` (mount(8) options);
/// `type` and `device` go together. docker's `size` needs an xfs project
/// quota, which Berth does not set up: `not implemented`.
pub fn validate_options(name: &str, options: &BTreeMap<String, String>) -> Result<(), VolumeError> {
    for key in options.keys() {
        match key.as_str() {
            "type" | "device" | "o" => {}
            "size" => {
                return Err(VolumeError::NotImplemented(format!(
                    "create {name}: option \"size\" (xfs project quotas)"
                )))
            }
            other => {
                return Err(VolumeError::InvalidArgument(format!(
                    "create {name}: invalid option key: {other:?} (the local driver knows type, device, o)"
                )))
            }
        }
    }
    let has = |k: &str| options.get(k).is_some_and(|v| !v.is_empty());
    if options.contains_key("o") && !(has("type") || has("device")) {
        return Err(VolumeError::InvalidArgument(format!(
            "create {name}: option \"o\" needs \"type\" and \"device\""
        )));
    }
    if (options.contains_key("type") || options.contains_key("device"))
        && !(has("type") && has("device"))
    {
        return Err(VolumeError::InvalidArgument(format!(
            "create {name}: options \"type\" and \"device\" must be given together"
        )));
    }
    Ok(())
}

/// A fresh anonymous volume name: 64 random hex digits (docker's).
pub fn anonymous_name() -> String {
    let mut buf = [0u8; 32];
    // SAFETY: getrandom writes at most buf.len() bytes into buf.
    let n = unsafe { libc::getrandom(buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n != buf.len() as isize {
        // getrandom(2) does not fail on a booted kernel for 32 bytes; mix
        // time and pid rather than panic if it ever does.
        let seed = crate::events::now_nanos() as u64 ^ (std::process::id() as u64) << 32;
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (seed.rotate_left(i as u32 * 7) >> (i % 8)) as u8;
        }
    }
    berth_docker::manifest::hex(&buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_docker_rule() {
        for ok in ["data", "a1", "A.b-c_d", "0x"] {
            assert!(validate_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "a", "-a", ".a", "_a", "a/b", "bad/name", "a b", "a:b", "é1",
        ] {
            let e = validate_name(bad).unwrap_err();
            assert!(
                e.to_string()
                    .contains("includes invalid characters for a local volume name"),
                "{bad}: {e}"
            );
        }
        assert_eq!(
            validate_name("bad/name").unwrap_err().to_string(),
            "create bad/name: \"bad/name\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
        );
    }

    #[test]
    fn options_of_the_local_driver() {
        let opts = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert!(validate_options("v", &opts(&[])).is_ok());
        assert!(validate_options(
            "v",
            &opts(&[("type", "tmpfs"), ("device", "tmpfs"), ("o", "size=8m")])
        )
        .is_ok());
        let e = validate_options("v", &opts(&[("foo", "1")])).unwrap_err();
        assert!(matches!(e, VolumeError::InvalidArgument(_)));
        assert!(e.to_string().contains("invalid option key: \"foo\""), "{e}");
        assert!(validate_options("v", &opts(&[("type", "tmpfs")])).is_err());
        assert!(validate_options("v", &opts(&[("o", "size=1m")])).is_err());
        assert!(matches!(
            validate_options("v", &opts(&[("size", "1g")])).unwrap_err(),
            VolumeError::NotImplemented(_)
        ));
    }

    #[test]
    fn anonymous_names_are_64_hex_and_differ() {
        let a = anonymous_name();
        assert_eq!(a.len(), 64);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert!(validate_name(&a).is_ok());
        assert_ne!(a, anonymous_name());
    }
}
