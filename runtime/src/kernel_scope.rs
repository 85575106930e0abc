//! Checks that what a config.json asks the kernel for stays inside the
//! container: every `linux.sysctl` must belong to a namespace the container
//! has, and id mappings need a user namespace. Run by `create` before
//! anything exists (no state dir, cgroup, process or mount), so a refused
//! config leaves nothing behind.
//!
//! /proc/sys is only partly namespaced: `kernel.core_pattern` written from a
//! container is the host's (a `|program` there runs as root on the host at
//! the next crash), and `net.*` without a network namespace of its own
//! changes the host's network. The rules are runc 1.1's
//! (libcontainer/configs/validate `sysctl`), with its messages, so an engine
//! sees the same refusals with either runtime:
//!
//! * IPC sysctls (`kernel.msgmax`, `msgmnb`, `msgmni`, `sem`, `shmall`,
//!   `shmmax`, `shmmni`, `shm_rmid_forced`, `fs.mqueue.*`) need an IPC
//!   namespace (new or joined);
//! * `net.*` need a network namespace that is not the one this runtime runs
//!   in (a `path` naming the host's own is the host's);
//! * `kernel.domainname` needs a UTS namespace; `kernel.hostname` is
//!   refused even with one (the OCI `hostname` field sets it);
//! * everything else is not namespaced and is refused.
//!
//! Keys may use `/` as separator (`kernel/shmmax`, sysctl.d(5)); they are
//! checked in their dotted form, as runc does.

use std::os::unix::fs::MetadataExt;

use berth_oci::{NamespaceType, Spec, IPC_SYSCTLS};

use crate::error::{Error, Result};

/// Every check of this module, in runc's order (user namespace, then
/// sysctls).
pub fn check(spec: &Spec) -> Result<()> {
    check_id_mappings(spec)?;
    check_sysctls(spec)
}

/// uidMappings/gidMappings without a user namespace would be ignored and
/// the container would run as the host's real root while its config says
/// otherwise. runc 1.1 has this check in its validator but drops the
/// mappings before it runs (specconv copies them only with a user
/// namespace), so it accepts such a config; we refuse it.
fn check_id_mappings(spec: &Spec) -> Result<()> {
    let Some(linux) = &spec.linux else {
        return Ok(());
    };
    let has_maps = !linux.uid_mappings.is_empty() || !linux.gid_mappings.is_empty();
    if has_maps && spec.namespace(NamespaceType::User).is_none() {
        return Err(Error::Invalid(
            "linux.uidMappings/gidMappings given, but linux.namespaces has no user namespace"
                .into(),
        ));
    }
    Ok(())
}

/// `key` in dotted form: a key whose first separator is `/` has its `.`
/// and `/` swapped (`net/ipv4/conf/eno2.100/rp_filter` is
/// `net.ipv4.conf.eno2/100.rp_filter`), as sysctl(8) reads it.
pub fn dotted(key: &str) -> String {
    match key.find(['.', '/']) {
        Some(i) if key.as_bytes()[i] == b'/' => swap_separators(key),
        _ => key.to_string(),
    }
}

/// The file under /proc/sys of a dotted key (`.` is the separator, a `/`
/// stands for a dot inside a name).
pub fn proc_path(dotted_key: &str) -> String {
    format!("/proc/sys/{}", swap_separators(dotted_key))
}

fn swap_separators(key: &str) -> String {
    key.chars()
        .map(|c| match c {
            '.' => '/',
            '/' => '.',
            c => c,
        })
        .collect()
}

fn check_sysctls(spec: &Spec) -> Result<()> {
    let Some(linux) = &spec.linux else {
        return Ok(());
    };
    // Whether `net.*` would land in the host's network namespace: asked
    // once, at the first net key (runc's sync.Once).
    let mut host_net: Option<bool> = None;
    for key in linux.sysctl.keys() {
        let key = dotted(key);
        if IPC_SYSCTLS.contains(&key.as_str()) || key.starts_with("fs.mqueue.") {
            if spec.namespace(NamespaceType::Ipc).is_none() {
                return Err(Error::Invalid(format!(
                    "sysctl {key:?} is not allowed in the hosts ipc namespace"
                )));
            }
            continue;
        }
        if key.starts_with("net.") {
            let host = match host_net {
                Some(h) => h,
                None => {
                    let h = in_host_netns(spec)?;
                    host_net = Some(h);
                    h
                }
            };
            if host {
                return Err(Error::Invalid(format!(
                    "sysctl {key:?} not allowed in host network namespace"
                )));
            }
            continue;
        }
        if spec.namespace(NamespaceType::Uts).is_some() {
            match key.as_str() {
                "kernel.domainname" => continue,
                "kernel.hostname" => {
                    return Err(Error::Invalid(format!(
                    "sysctl {key:?} is not allowed as it conflicts with the OCI \"hostname\" field"
                )))
                }
                _ => {}
            }
        }
        return Err(Error::Invalid(format!(
            "sysctl {key:?} is not in a separate kernel namespace"
        )));
    }
    Ok(())
}

/// Whether the container's network namespace is the one this runtime runs
/// in ("host" meaning the current one, as runc): none listed, or a `path`
/// naming the same namespace (same device and inode as
/// /proc/self/ns/net).
fn in_host_netns(spec: &Spec) -> Result<bool> {
    let Some(ns) = spec.namespace(NamespaceType::Network) else {
        return Ok(true);
    };
    let Some(path) = &ns.path else {
        return Ok(false);
    };
    let stat = |p: &str| {
        std::fs::metadata(p)
            .map(|m| (m.dev(), m.ino()))
            .map_err(|e| Error::Invalid(format!("invalid netns path: stat {p}: {e}")))
    };
    Ok(stat("/proc/self/ns/net")? == stat(path)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(namespaces: &[(&str, Option<&str>)], sysctl: &[&str]) -> Spec {
        let ns: Vec<_> = namespaces
            .iter()
            .map(|(t, p)| match p {
                Some(p) => serde_json::json!({"type": t, "path": p}),
                None => serde_json::json!({"type": t}),
            })
            .collect();
        let sysctl: serde_json::Map<_, _> = sysctl
            .iter()
            .map(|k| (k.to_string(), serde_json::json!("1")))
            .collect();
        serde_json::from_value(serde_json::json!({
            "ociVersion": "1.0.2",
            "linux": {"namespaces": ns, "sysctl": sysctl}
        }))
        .unwrap()
    }

    fn refusal(s: &Spec) -> String {
        check(s).unwrap_err().to_string()
    }

    #[test]
    fn keys_are_read_in_dotted_form() {
        assert_eq!(dotted("kernel.shmmax"), "kernel.shmmax");
        assert_eq!(dotted("kernel/shmmax"), "kernel.shmmax");
        assert_eq!(
            dotted("net/ipv4/conf/eno2.100/rp_filter"),
            "net.ipv4.conf.eno2/100.rp_filter"
        );
        assert_eq!(dotted("nosep"), "nosep");
        assert_eq!(
            proc_path("net.ipv4.conf.eno2/100.rp_filter"),
            "/proc/sys/net/ipv4/conf/eno2.100/rp_filter"
        );
    }

    #[test]
    fn namespaced_sysctls_pass_with_their_namespace() {
        let all = [
            ("mount", None),
            ("ipc", None),
            ("network", None),
            ("uts", None),
        ];
        let ok = spec(
            &all,
            &[
                "kernel.shmmax",
                "kernel/msgmax",
                "fs.mqueue.msg_max",
                "net.ipv4.ip_forward",
                "net/core/somaxconn",
                "kernel.domainname",
            ],
        );
        check(&ok).unwrap();
    }

    #[test]
    fn host_sysctls_are_refused_with_runcs_words() {
        let all = [("ipc", None), ("network", None), ("uts", None)];
        for (key, want) in [
            (
                "kernel.core_pattern",
                "sysctl \"kernel.core_pattern\" is not in a separate kernel namespace",
            ),
            (
                "kernel/core_pattern",
                "sysctl \"kernel.core_pattern\" is not in a separate kernel namespace",
            ),
            (
                "vm.overcommit_memory",
                "is not in a separate kernel namespace",
            ),
            (
                "kernel.hostname",
                "conflicts with the OCI \"hostname\" field",
            ),
        ] {
            let said = refusal(&spec(&all, &[key]));
            assert!(said.contains(want), "{key}: {said}");
        }
        assert!(refusal(&spec(&[("network", None)], &["kernel.shmmax"]))
            .contains("not allowed in the hosts ipc namespace"));
        assert!(refusal(&spec(&[("ipc", None)], &["kernel.domainname"]))
            .contains("is not in a separate kernel namespace"));
        assert_eq!(
            refusal(&spec(&[("ipc", None)], &["net.ipv4.ip_forward"])),
            "sysctl \"net.ipv4.ip_forward\" not allowed in host network namespace"
        );
        // A path naming the runtime's own network namespace is the host's.
        assert!(refusal(&spec(
            &[("network", Some("/proc/self/ns/net"))],
            &["net.ipv4.ip_forward"]
        ))
        .contains("not allowed in host network namespace"));
        assert!(refusal(&spec(
            &[("network", Some("/nonexistent-netns"))],
            &["net.ipv4.ip_forward"]
        ))
        .starts_with("invalid netns path"));
    }

    #[test]
    fn id_mappings_need_a_user_namespace() {
        let mut s = spec(&[("mount", None)], &[]);
        s.linux.as_mut().unwrap().uid_mappings = vec![berth_oci::LinuxIdMapping {
            container_id: 0,
            host_id: 100000,
            size: 1,
        }];
        assert!(refusal(&s).contains("no user namespace"));
        s.linux
            .as_mut()
            .unwrap()
            .namespaces
            .push(serde_json::from_value(serde_json::json!({"type": "user"})).unwrap());
        check(&s).unwrap();
    }
}
