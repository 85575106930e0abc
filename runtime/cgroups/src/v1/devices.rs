//! v1 `devices` controller (cgroup-v1 `devices.rst`).
//!
//! The rules' result starts from deny-all, as the v2 program and runc do (a
//! device no rule matches is denied). Two ways to get there:
//!
//! * **reset** (a new cgroup, or rules that are not a plain allow-list): `a`
//!   is written to `devices.deny` (unless the first rule is itself for all
//!   devices, which resets the list anyway), then each rule in spec order to
//!   `devices.allow` or `devices.deny`, one per write(2). On a cgroup with
//!   running tasks this leaves a moment with no device allowed, so it is
//!   only used when the next way does not apply.
//! * **diff** (`update` of a running container whose current and new rules
//!   are both deny-all plus allowed devices, the usual shape): the current
//!   exceptions are read from `devices.list`; new or widened allowances are
//!   written first, then access no longer wanted is removed with
//!   `devices.deny` (only the missing access bits of an entry). No moment
//!   allows less than the old and new lists share, nor more than their
//!   union.

use crate::device_rules::{DeviceAccess, DeviceKind, DeviceRule};
use crate::interface_file::{self, InterfaceFile};
use crate::CgroupError;
use berth_oci::LinuxDeviceCgroup;
use std::path::Path;

/// Applies `linux.resources.devices` (validated first, so a bad rule
/// changes nothing). `fresh` says the cgroup was just made by us (no tasks,
/// inherited list), where the reset way is right and cheapest.
pub fn apply(dir: &Path, rules: &[LinuxDeviceCgroup], fresh: bool) -> Result<(), CgroupError> {
    let rules = DeviceRule::from_oci_list(rules)?;
    if !fresh {
        if let Some(target) = allow_list(&rules) {
            let current = interface_file::read_in(dir, "devices.list")?;
            if let Some(current) = parse_list(&current) {
                return apply_diff(dir, &current, &target);
            }
        }
    }
    reset(dir, &rules)
}

/// Deny-all, then every rule in order.
fn reset(dir: &Path, rules: &[DeviceRule]) -> Result<(), CgroupError> {
    let mut allow: Option<InterfaceFile> = None;
    let mut deny: Option<InterfaceFile> = None;
    if rules.first().is_none_or(|r| r.kind != DeviceKind::All) {
        let file = deny.insert(InterfaceFile::open(&dir.join("devices.deny"), "a")?);
        file.write("a")?;
    }
    for rule in rules {
        let line = rule.v1_line();
        let (slot, name) = if rule.allow {
            (&mut allow, "devices.allow")
        } else {
            (&mut deny, "devices.deny")
        };
        let file = match slot {
            Some(f) => f,
            None => slot.insert(InterfaceFile::open(&dir.join(name), &line)?),
        };
        file.write(&line)?;
    }
    Ok(())
}

/// One exception of a deny-all list: `c 1:3` and its access bits.
type Entry = (String, u8);

/// The rules as deny-all plus allowed entries (merged per device), if they
/// have that shape: an optional leading part ended by a deny-all rule, then
/// only allow rules for specific kinds.
pub fn allow_list(rules: &[DeviceRule]) -> Option<Vec<Entry>> {
    let start = match rules.iter().rposition(|r| r.kind == DeviceKind::All) {
        Some(i) if rules[i].allow || rules[i].access != DeviceAccess::ALL => return None,
        Some(i) => i + 1,
        None => 0,
    };
    let mut entries: Vec<Entry> = Vec::new();
    for rule in &rules[start..] {
        if !rule.allow {
            return None;
        }
        let line = rule.v1_line();
        let key = line.rsplit_once(' ').map(|(k, _)| k.to_string())?;
        match entries.iter_mut().find(|(k, _)| *k == key) {
            Some((_, access)) => *access |= rule.access.0,
            None => entries.push((key, rule.access.0)),
        }
    }
    Some(entries)
}

/// Parses `devices.list` of a deny-all cgroup; `None` for an allow-all one
/// (which lists just `a *:* rwm`).
pub fn parse_list(content: &str) -> Option<Vec<Entry>> {
    let mut entries = Vec::new();
    for line in content.lines().filter(|l| !l.is_empty()) {
        if line.starts_with("a ") {
            return None;
        }
        let (key, access) = line.rsplit_once(' ')?;
        let access = DeviceAccess::parse(Some(access)).ok()?;
        entries.push((key.to_string(), access.0));
    }
    Some(entries)
}

/// Moves a deny-all list from `current` to `target` (see the module doc).
fn apply_diff(dir: &Path, current: &[Entry], target: &[Entry]) -> Result<(), CgroupError> {
    let have = |key: &str| {
        current
            .iter()
            .find(|(k, _)| k == key)
            .map_or(0, |(_, a)| *a)
    };
    let want = |key: &str| target.iter().find(|(k, _)| k == key).map_or(0, |(_, a)| *a);
    let mut allow: Option<InterfaceFile> = None;
    for (key, access) in target {
        if access & !have(key) != 0 {
            let line = format!("{key} {}", DeviceAccess(*access));
            let file = match &mut allow {
                Some(f) => f,
                None => allow.insert(InterfaceFile::open(&dir.join("devices.allow"), &line)?),
            };
            file.write(&line)?;
        }
    }
    let mut deny: Option<InterfaceFile> = None;
    for (key, access) in current {
        let extra = access & !want(key);
        if extra != 0 {
            let line = format!("{key} {}", DeviceAccess(extra));
            let file = match &mut deny {
                Some(f) => f,
                None => deny.insert(InterfaceFile::open(&dir.join("devices.deny"), &line)?),
            };
            file.write(&line)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device_rules::default_allowed;

    fn deny_all() -> DeviceRule {
        DeviceRule {
            allow: false,
            kind: DeviceKind::All,
            major: None,
            minor: None,
            access: DeviceAccess::ALL,
        }
    }

    #[test]
    fn plain_allow_lists_are_recognised_and_merged() {
        let mut rules = vec![deny_all()];
        rules.extend(default_allowed());
        rules.push(DeviceRule {
            access: DeviceAccess(DeviceAccess::READ),
            ..default_allowed()[0]
        });
        let list = allow_list(&rules).unwrap();
        assert_eq!(list.len(), 10);
        assert!(list.contains(&("c 1:3".to_string(), 7)));
        assert!(list.contains(&(
            "c *:*".to_string(),
            DeviceAccess::MKNOD | DeviceAccess::READ
        )));
        // No leading deny-all: still deny-all underneath.
        assert!(allow_list(&default_allowed()).is_some());
    }

    #[test]
    fn other_shapes_use_the_reset_way() {
        let allow_all = DeviceRule {
            allow: true,
            ..deny_all()
        };
        assert!(allow_list(&[allow_all]).is_none());
        let deny_null = DeviceRule {
            allow: false,
            ..default_allowed()[2]
        };
        assert!(allow_list(&[deny_all(), default_allowed()[2], deny_null]).is_none());
    }

    #[test]
    fn device_lists_parse() {
        assert_eq!(
            parse_list("c 1:3 rwm\nc 136:* rw\n").unwrap(),
            vec![("c 1:3".to_string(), 7), ("c 136:*".to_string(), 6)]
        );
        assert!(parse_list("a *:* rwm\n").is_none());
        assert_eq!(parse_list("").unwrap(), vec![]);
    }
}
