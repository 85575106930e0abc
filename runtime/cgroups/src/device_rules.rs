//! Device access rules (`linux.resources.devices`), validated once and
//! shared by the v1 `devices` controller (rendered as `devices.allow` /
//! `devices.deny` lines, kernel `Documentation/admin-guide/cgroup-v1/devices.rst`)
//! and the v2 eBPF device program ([`crate::ebpf`]).
//!
//! Semantics (runtime-spec `config-linux.md#allowed-device-list`): rules are
//! applied in order and a later rule overrides an earlier one; a device no
//! rule matches is denied. A rule of type `a` (all devices) resets the list,
//! as the kernel does for v1.

use berth_oci::LinuxDeviceCgroup;
use std::fmt;

/// Why a device rule was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DeviceRuleError {
    /// `type` is not `a`, `c` or `b`.
    #[error("invalid device rule type {0:?}: want a, c or b")]
    Kind(String),
    /// A major or minor number is negative (other than -1, "any").
    #[error("invalid device rule number {0}: want 0 or more, or -1 for any")]
    Number(i64),
    /// `access` has none of the letters r, w, m.
    #[error("invalid device rule access {0:?}: want some of the letters \"rwm\"")]
    Access(String),
}

/// Which kind of device a rule matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceKind {
    /// Every device (`a`).
    All,
    /// Character devices (`c`).
    Char,
    /// Block devices (`b`).
    Block,
}

/// Access bits, with the values of the kernel's `BPF_DEVCG_ACC_*`
/// (`include/uapi/linux/bpf.h`), so the eBPF program can use them directly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceAccess(pub u8);

impl DeviceAccess {
    /// `m`: mknod.
    pub const MKNOD: u8 = 1;
    /// `r`: read.
    pub const READ: u8 = 2;
    /// `w`: write.
    pub const WRITE: u8 = 4;
    /// `rwm`.
    pub const ALL: DeviceAccess = DeviceAccess(7);

    /// Parses some of `rwm`; absent or empty means all three. Other letters
    /// are ignored, as runc 1.1 ignores them (its `Permissions.toSet`; its
    /// own update.bats denies `"access": "rwa"`); an access with none of
    /// `rwm` is refused, as it could only be a mistake.
    pub fn parse(text: Option<&str>) -> Result<DeviceAccess, DeviceRuleError> {
        let text = text.unwrap_or("");
        if text.is_empty() {
            return Ok(DeviceAccess::ALL);
        }
        let mut bits = 0;
        for ch in text.chars() {
            bits |= match ch {
                'r' => DeviceAccess::READ,
                'w' => DeviceAccess::WRITE,
                'm' => DeviceAccess::MKNOD,
                _ => 0,
            };
        }
        if bits == 0 {
            return Err(DeviceRuleError::Access(text.to_string()));
        }
        Ok(DeviceAccess(bits))
    }
}

impl fmt::Display for DeviceAccess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 & DeviceAccess::READ != 0 {
            f.write_str("r")?;
        }
        if self.0 & DeviceAccess::WRITE != 0 {
            f.write_str("w")?;
        }
        if self.0 & DeviceAccess::MKNOD != 0 {
            f.write_str("m")?;
        }
        Ok(())
    }
}

/// One validated device rule. `None` for major or minor means any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceRule {
    pub allow: bool,
    pub kind: DeviceKind,
    pub major: Option<u32>,
    pub minor: Option<u32>,
    pub access: DeviceAccess,
}

impl DeviceRule {
    /// Validates one rule of `linux.resources.devices`.
    pub fn from_oci(rule: &LinuxDeviceCgroup) -> Result<DeviceRule, DeviceRuleError> {
        let kind = match rule.kind.as_deref() {
            None | Some("a") | Some("") => DeviceKind::All,
            Some("c") => DeviceKind::Char,
            Some("b") => DeviceKind::Block,
            Some(other) => return Err(DeviceRuleError::Kind(other.to_string())),
        };
        Ok(DeviceRule {
            allow: rule.allow,
            kind,
            major: number(rule.major)?,
            minor: number(rule.minor)?,
            access: DeviceAccess::parse(rule.access.as_deref())?,
        })
    }

    /// Validates a whole list.
    pub fn from_oci_list(rules: &[LinuxDeviceCgroup]) -> Result<Vec<DeviceRule>, DeviceRuleError> {
        rules.iter().map(DeviceRule::from_oci).collect()
    }

    const fn char_dev(major: u32, minor: Option<u32>) -> DeviceRule {
        DeviceRule {
            allow: true,
            kind: DeviceKind::Char,
            major: Some(major),
            minor,
            access: DeviceAccess::ALL,
        }
    }

    /// The v1 `devices.allow`/`devices.deny` line (`c 1:3 rwm`, `a *:* rwm`).
    pub fn v1_line(&self) -> String {
        let kind = match self.kind {
            DeviceKind::All => "a",
            DeviceKind::Char => "c",
            DeviceKind::Block => "b",
        };
        let num = |n: Option<u32>| n.map_or_else(|| "*".to_string(), |n| n.to_string());
        format!(
            "{kind} {}:{} {}",
            num(self.major),
            num(self.minor),
            self.access
        )
    }
}

fn number(n: Option<i64>) -> Result<Option<u32>, DeviceRuleError> {
    match n {
        None | Some(-1) => Ok(None),
        Some(n) if (0..=u32::MAX as i64).contains(&n) => Ok(Some(n as u32)),
        Some(n) => Err(DeviceRuleError::Number(n)),
    }
}

/// The devices every container may use whatever its spec says, exactly as
/// runc allows them (`libcontainer/specconv`; checked against Debian's runc
/// by the `cgroups` integration test): mknod of any device (creating a node
/// is harmless while access is denied), `/dev/null`, `/dev/zero`,
/// `/dev/full`, `/dev/tty`, `/dev/random`, `/dev/urandom`, `/dev/ptmx`
/// (5:2) and the pty slaves `/dev/pts/*` (136:*). The host's
/// `/dev/console` (5:1) is not in the list: a container's `/dev/console` is
/// a bind mount of its pty slave (136:*), so 5:1 would only ever reach the
/// host console. The runtime appends these after the spec's own rules.
pub fn default_allowed() -> [DeviceRule; 10] {
    [
        DeviceRule {
            allow: true,
            kind: DeviceKind::Char,
            major: None,
            minor: None,
            access: DeviceAccess(DeviceAccess::MKNOD),
        },
        DeviceRule {
            allow: true,
            kind: DeviceKind::Block,
            major: None,
            minor: None,
            access: DeviceAccess(DeviceAccess::MKNOD),
        },
        DeviceRule::char_dev(1, Some(3)),
        DeviceRule::char_dev(1, Some(5)),
        DeviceRule::char_dev(1, Some(7)),
        DeviceRule::char_dev(5, Some(0)),
        DeviceRule::char_dev(1, Some(8)),
        DeviceRule::char_dev(1, Some(9)),
        DeviceRule::char_dev(5, Some(2)),
        DeviceRule::char_dev(136, None),
    ]
}

/// [`default_allowed`] as OCI rules, for a runtime that appends them to
/// `linux.resources.devices` before calling the driver.
pub fn default_allowed_oci() -> Vec<LinuxDeviceCgroup> {
    default_allowed()
        .iter()
        .map(|r| LinuxDeviceCgroup {
            allow: r.allow,
            kind: Some(
                match r.kind {
                    DeviceKind::All => "a",
                    DeviceKind::Char => "c",
                    DeviceKind::Block => "b",
                }
                .to_string(),
            ),
            major: r.major.map(i64::from),
            minor: r.minor.map(i64::from),
            access: Some(r.access.to_string()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oci(
        allow: bool,
        kind: Option<&str>,
        major: Option<i64>,
        minor: Option<i64>,
        access: Option<&str>,
    ) -> LinuxDeviceCgroup {
        LinuxDeviceCgroup {
            allow,
            kind: kind.map(str::to_string),
            major,
            minor,
            access: access.map(str::to_string),
        }
    }

    #[test]
    fn renders_v1_lines() {
        let deny_all = DeviceRule::from_oci(&oci(false, None, None, None, Some("rwm"))).unwrap();
        assert_eq!(deny_all.v1_line(), "a *:* rwm");
        let null =
            DeviceRule::from_oci(&oci(true, Some("c"), Some(1), Some(3), Some("wr"))).unwrap();
        assert_eq!(null.v1_line(), "c 1:3 rw");
        let pts = DeviceRule::from_oci(&oci(true, Some("c"), Some(136), Some(-1), None)).unwrap();
        assert_eq!(pts.v1_line(), "c 136:* rwm");
    }

    #[test]
    fn refuses_bad_rules() {
        assert_eq!(
            DeviceRule::from_oci(&oci(true, Some("x"), None, None, None)).unwrap_err(),
            DeviceRuleError::Kind("x".into())
        );
        assert_eq!(
            DeviceRule::from_oci(&oci(true, Some("c"), Some(-2), None, None)).unwrap_err(),
            DeviceRuleError::Number(-2)
        );
        assert_eq!(
            DeviceRule::from_oci(&oci(true, Some("c"), Some(1), Some(3), Some("xa"))).unwrap_err(),
            DeviceRuleError::Access("xa".into())
        );
        // runc ignores letters other than r, w, m.
        assert_eq!(
            DeviceRule::from_oci(&oci(true, Some("c"), Some(1), Some(3), Some("rwa")))
                .unwrap()
                .v1_line(),
            "c 1:3 rw"
        );
    }

    #[test]
    fn default_list_covers_runcs_devices() {
        let lines: Vec<String> = default_allowed().iter().map(DeviceRule::v1_line).collect();
        for want in [
            "c *:* m",
            "b *:* m",
            "c 1:3 rwm",
            "c 1:5 rwm",
            "c 1:7 rwm",
            "c 5:0 rwm",
            "c 1:8 rwm",
            "c 1:9 rwm",
            "c 5:2 rwm",
            "c 136:* rwm",
        ] {
            assert!(lines.iter().any(|l| l == want), "missing {want}");
        }
        assert_eq!(lines.len(), 10);
        assert!(!lines.iter().any(|l| l == "c 5:1 rwm"), "the host console");
        let round: Vec<DeviceRule> = DeviceRule::from_oci_list(&default_allowed_oci()).unwrap();
        assert_eq!(round, default_allowed().to_vec());
    }
}
