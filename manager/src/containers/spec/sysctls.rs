//! `--sysctl`: only the namespaced kernel parameters a container may set
//! for itself, as docker's `opts.ValidateSysctl`: the IPC ones
//! (`kernel.msg*`, `kernel.sem`, `kernel.shm*`, `fs.mqueue.*`) that the
//! container's IPC namespace owns, and `net.*` that its network namespace
//! owns. With `--network host` there is no own network namespace, so `net.*`
//! would change the host's: refused (moby `verifyPlatformContainerSettings`).

use berth_docker::sysctl::is_namespaced;
use std::collections::BTreeMap;

use super::{NetworkMode, SpecError};

/// The sysctls docker (20.10+) sets in a container's own network namespace
/// unless the user sets them: any user may bind ports below 1024 (the
/// namespace's ports are not the host's) and use ICMP echo sockets
/// (`ping` without CAP_NET_RAW).
pub const NETWORK_NAMESPACE_DEFAULTS: [(&str, &str); 2] = [
    ("net.ipv4.ip_unprivileged_port_start", "0"),
    ("net.ipv4.ping_group_range", "0 2147483647"),
];

/// The container's sysctls: the user's, plus docker's
/// [`NETWORK_NAMESPACE_DEFAULTS`] when the container has its own network
/// namespace.
pub fn container_sysctls(
    user: &BTreeMap<String, String>,
    network: &NetworkMode,
) -> BTreeMap<String, String> {
    let mut out = user.clone();
    if network.has_own_namespace() {
        for (key, value) in NETWORK_NAMESPACE_DEFAULTS {
            out.entry(key.to_string())
                .or_insert_with(|| value.to_string());
        }
    }
    out
}

/// Checks every `--sysctl` key against docker's namespaced set
/// (`berth_docker::sysctl`, which the CLI checks first) and the network
/// mode. Errors `sysctl 'kernel.panic' is not allowed: ...`.
pub fn validate_sysctls(
    sysctls: &BTreeMap<String, String>,
    network: &NetworkMode,
) -> Result<(), SpecError> {
    for key in sysctls.keys() {
        if key.starts_with("net.") {
            if *network == NetworkMode::Host {
                return Err(SpecError::invalid(format!(
                    "sysctl '{key}' is not allowed with --network host: it would change the host's network namespace"
                )));
            }
            continue;
        }
        if is_namespaced(key) {
            continue;
        }
        return Err(SpecError::invalid(format!(
            "sysctl '{key}' is not allowed: only namespaced sysctls (net.*, fs.mqueue.*, kernel.msg*, kernel.sem, kernel.shm*) can be set"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(k: &str) -> BTreeMap<String, String> {
        [(k.to_string(), "1".to_string())].into()
    }

    #[test]
    fn namespaced_only() {
        for ok in [
            "net.ipv4.ip_forward",
            "kernel.shmmax",
            "kernel.sem",
            "fs.mqueue.msg_max",
        ] {
            validate_sysctls(&map(ok), &NetworkMode::None).unwrap();
        }
        for bad in [
            "kernel.panic",
            "vm.swappiness",
            "fs.file-max",
            "kernel.shmfoo",
        ] {
            let e = validate_sysctls(&map(bad), &NetworkMode::None).unwrap_err();
            assert!(e.to_string().contains(&format!("'{bad}'")), "{e}");
        }
        let e = validate_sysctls(&map("net.core.somaxconn"), &NetworkMode::Host).unwrap_err();
        assert!(e.to_string().contains("--network host"), "{e}");
        validate_sysctls(&map("kernel.sem"), &NetworkMode::Host).unwrap();
    }

    #[test]
    fn docker_defaults_in_an_own_network_namespace() {
        let user = map("net.ipv4.ip_unprivileged_port_start");
        let all = container_sysctls(&user, &NetworkMode::None);
        assert_eq!(all["net.ipv4.ip_unprivileged_port_start"], "1");
        assert_eq!(all["net.ipv4.ping_group_range"], "0 2147483647");
        assert!(container_sysctls(&BTreeMap::new(), &NetworkMode::Host).is_empty());
    }
}
