//! The capability sets of a container: docker's default 14, changed by
//! `--cap-add`/`--cap-drop` (names with or without `CAP_`, any case, `ALL`),
//! or every capability for `--privileged` (moby `oci/caps/utils.go`
//! `TweakCapabilities`).
//!
//! "Every capability" is the set berthd itself may hand out: the caps in its
//! own bounding set (`CapBnd` of /proc/self/status), as podman does. A VM or
//! an outer container may have removed some (this project's machines lack
//! CAP_SYS_RESOURCE); asking the runtime for a capability the parent cannot
//! have makes capset(2) fail with EPERM, so `--privileged` would never start.

use super::SpecError;

/// Every capability Linux knows, by number: the runtime's own table
/// (`include/uapi/linux/capability.h`), so the two never disagree.
pub use berth_runtime::capabilities::NAMES as ALL_CAPABILITIES;

/// Docker's default set (moby `oci/caps/defaults.go`): what an unprivileged
/// container gets in its bounding, effective and permitted sets. Since docker
/// 20.10 the inheritable set is empty (CVE-2022-24769 made that the rule for
/// ambient-capable binaries too).
pub const DEFAULT_CAPABILITIES: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// `--cap-add`/`--cap-drop` name: `ALL`, or a capability spelled `net_admin`,
/// `NET_ADMIN` or `CAP_NET_ADMIN`, normalised to `CAP_NET_ADMIN`.
pub fn normalize_capability(name: &str) -> Result<String, SpecError> {
    let upper = name.trim().to_ascii_uppercase();
    if upper == "ALL" {
        return Ok(upper);
    }
    let full = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    if ALL_CAPABILITIES.contains(&full.as_str()) {
        Ok(full)
    } else {
        Err(SpecError::invalid(format!("unknown capability: {name:?}")))
    }
}

/// The capabilities berthd may grant: those in its own bounding set, in
/// number order; every known one if /proc cannot tell. Read once (a
/// process's bounding set only ever shrinks, and berthd never drops any).
pub fn grantable_capabilities() -> Vec<String> {
    static GRANTABLE: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    GRANTABLE.get_or_init(read_grantable).clone()
}

fn read_grantable() -> Vec<String> {
    let bounding = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapBnd:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(u64::MAX);
    ALL_CAPABILITIES
        .iter()
        .enumerate()
        .filter(|(bit, _)| bounding & (1u64 << bit) != 0)
        .map(|(_, name)| name.to_string())
        .collect()
}

/// The container's capability list, as docker's `TweakCapabilities`:
/// privileged gets `all`; `--cap-add ALL` gets `all` minus the drops;
/// `--cap-drop ALL` gets only the adds; otherwise the defaults minus the
/// drops plus the adds. `all` is [`grantable_capabilities`] (a parameter so
/// tests need not depend on the host).
pub fn container_capabilities(
    cap_add: &[String],
    cap_drop: &[String],
    privileged: bool,
    all: &[String],
) -> Result<Vec<String>, SpecError> {
    // Names are checked even when privileged makes them moot: a typo is
    // still an error, as in docker.
    let adds = cap_add
        .iter()
        .map(|c| normalize_capability(c))
        .collect::<Result<Vec<_>, _>>()?;
    let drops = cap_drop
        .iter()
        .map(|c| normalize_capability(c))
        .collect::<Result<Vec<_>, _>>()?;
    if privileged {
        return Ok(all.to_vec());
    }
    // A capability outside berthd's own bounding set cannot be granted:
    // say so here rather than let capset(2) fail in the runtime.
    if let Some(c) = adds.iter().find(|c| *c != "ALL" && !all.contains(c)) {
        return Err(SpecError::invalid(format!(
            "capability {c} cannot be granted: it is not in berthd's bounding set"
        )));
    }
    let is_all = |v: &[String]| v.iter().any(|c| c == "ALL");
    let mut caps: Vec<String> = if is_all(&adds) {
        all.iter().filter(|c| !drops.contains(c)).cloned().collect()
    } else if is_all(&drops) {
        Vec::new()
    } else {
        DEFAULT_CAPABILITIES
            .iter()
            .map(|c| c.to_string())
            .filter(|c| !drops.contains(c))
            .collect()
    };
    if !is_all(&adds) {
        for c in adds {
            if !caps.contains(&c) {
                caps.push(c);
            }
        }
    }
    Ok(caps)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    fn all() -> Vec<String> {
        s(ALL_CAPABILITIES)
    }

    #[test]
    fn names_normalise() {
        assert_eq!(normalize_capability("net_admin").unwrap(), "CAP_NET_ADMIN");
        assert_eq!(
            normalize_capability("CAP_SYS_ADMIN").unwrap(),
            "CAP_SYS_ADMIN"
        );
        assert_eq!(normalize_capability("all").unwrap(), "ALL");
        let e = normalize_capability("foo").unwrap_err();
        assert_eq!(e.to_string(), "unknown capability: \"foo\"");
    }

    #[test]
    fn defaults_adds_and_drops() {
        let caps = container_capabilities(&[], &[], false, &all()).unwrap();
        assert_eq!(caps, s(&DEFAULT_CAPABILITIES));
        let caps =
            container_capabilities(&s(&["net_admin"]), &s(&["chown", "NET_RAW"]), false, &all())
                .unwrap();
        assert!(caps.contains(&"CAP_NET_ADMIN".into()));
        assert!(!caps.contains(&"CAP_CHOWN".into()));
        assert!(!caps.contains(&"CAP_NET_RAW".into()));
        assert_eq!(caps.len(), 13);
    }

    #[test]
    fn all_in_adds_or_drops() {
        let caps = container_capabilities(&s(&["ALL"]), &s(&["sys_admin"]), false, &all()).unwrap();
        assert_eq!(caps.len(), 40);
        assert!(!caps.contains(&"CAP_SYS_ADMIN".into()));
        let caps = container_capabilities(&s(&["kill"]), &s(&["all"]), false, &all()).unwrap();
        assert_eq!(caps, s(&["CAP_KILL"]));
    }

    #[test]
    fn privileged_gets_everything_grantable() {
        let some = s(&["CAP_CHOWN", "CAP_SYS_ADMIN"]);
        assert_eq!(
            container_capabilities(&[], &s(&["chown"]), true, &some).unwrap(),
            some
        );
        assert!(container_capabilities(&s(&["bogus"]), &[], true, &some).is_err());
        let e = container_capabilities(&s(&["net_admin"]), &[], false, &some).unwrap_err();
        assert_eq!(
            e.to_string(),
            "capability CAP_NET_ADMIN cannot be granted: it is not in berthd's bounding set"
        );
    }

    #[test]
    fn grantable_is_within_the_known_list() {
        let g = grantable_capabilities();
        assert!(!g.is_empty());
        assert!(g.iter().all(|c| ALL_CAPABILITIES.contains(&c.as_str())));
    }
}
