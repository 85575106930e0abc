//! `--sysctl`: only the namespaced kernel parameters a container may set
//! for itself, as docker's `opts.ValidateSysctl`: the IPC ones
//! (`kernel.msg*`, `kernel.sem`, `kernel.shm*`, `fs.mqueue.*`) that the
//! container's IPC namespace owns, and `net.*` that its network namespace
//! owns. With `--network host` there is no own network namespace, so `net.*`
//! would change the host's: refused (moby `verifyPlatformContainerSettings`).

use std::collections::BTreeMap;

use super::{NetworkMode, SpecError};

/// Parameters namespaced by the IPC namespace (`ipc_namespaces(7)`).
const IPC_SYSCTLS: [&str; 8] = [
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
];

/// Checks every `--sysctl` key against the namespaced set and the network
/// mode. Errors `sysctl 'kernel.panic' is not allowed: ...`.
pub fn validate_sysctls(
    sysctls: &BTreeMap<String, String>,
    network: NetworkMode,
) -> Result<(), SpecError> {
    for key in sysctls.keys() {
        if key.starts_with("net.") {
            if network == NetworkMode::Host {
                return Err(SpecError::invalid(format!(
                    "sysctl '{key}' is not allowed with --network host: it would change the host's network namespace"
                )));
            }
            continue;
        }
        if IPC_SYSCTLS.contains(&key.as_str()) || key.starts_with("fs.mqueue.") {
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
            validate_sysctls(&map(ok), NetworkMode::None).unwrap();
        }
        for bad in [
            "kernel.panic",
            "vm.swappiness",
            "fs.file-max",
            "kernel.shmfoo",
        ] {
            let e = validate_sysctls(&map(bad), NetworkMode::None).unwrap_err();
            assert!(e.to_string().contains(&format!("'{bad}'")), "{e}");
        }
        let e = validate_sysctls(&map("net.core.somaxconn"), NetworkMode::Host).unwrap_err();
        assert!(e.to_string().contains("--network host"), "{e}");
        validate_sysctls(&map("kernel.sem"), NetworkMode::Host).unwrap();
    }
}
