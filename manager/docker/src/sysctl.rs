//! `--sysctl`: which kernel parameters a container may set for itself, as
//! docker's `opts.ValidateSysctl` decides: those its own namespaces scope.
//! docker's CLI refuses any other before a container exists, and berthd
//! checks again for API clients; both read this rule.
//!
//! The IPC namespace's list is also in berth-oci (`IPC_SYSCTLS`), where the
//! runtime checks a config against the namespaces it has. It is written again
//! here on purpose: the CLI must not link the OCI crate (it talks only gRPC),
//! and the runtime must not depend on docker's conventions; docker's CLI and
//! runc likewise each carry their own.

/// Whether `key` is one of the namespaced sysctls docker lets through: the
/// IPC namespace's (`kernel.msg{max,mnb,mni}`, `kernel.sem`,
/// `kernel.shm{all,max,mni}`, `kernel.shm_rmid_forced`, `fs.mqueue.*`) and
/// the network namespace's (`net.*`).
pub fn is_namespaced(key: &str) -> bool {
    let ipc = match key.strip_prefix("kernel.") {
        Some(k) => {
            matches!(k, "msgmax" | "msgmnb" | "msgmni" | "sem")
                || matches!(k, "shmall" | "shmmax" | "shmmni" | "shm_rmid_forced")
        }
        None => key.starts_with("fs.mqueue."),
    };
    ipc || key.starts_with("net.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_namespaced_keys() {
        for ok in [
            "net.ipv4.ip_forward",
            "kernel.shmmax",
            "kernel.sem",
            "kernel.shm_rmid_forced",
            "fs.mqueue.msg_max",
        ] {
            assert!(is_namespaced(ok), "{ok}");
        }
        for bad in [
            "kernel.panic",
            "vm.swappiness",
            "fs.file-max",
            "kernel.shmfoo",
            "kernel.core_pattern",
        ] {
            assert!(!is_namespaced(bad), "{bad}");
        }
    }
}
