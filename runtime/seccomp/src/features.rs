//! What this build supports, for the `linux.seccomp` part of the OCI features
//! document (`runc features`, runtime-spec `features-linux.md`): the actions,
//! operators, architectures and flags [`crate::compile()`] accepts, and which
//! flags and actions the running kernel knows.

/// `SCMP_ACT_*` actions that compile.
pub const ACTIONS: &[&str] = &[
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_LOG",
    "SCMP_ACT_NOTIFY",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_TRAP",
];

/// Every `SCMP_CMP_*` operator.
pub const OPERATORS: &[&str] = &[
    "SCMP_CMP_EQ",
    "SCMP_CMP_GE",
    "SCMP_CMP_GT",
    "SCMP_CMP_LE",
    "SCMP_CMP_LT",
    "SCMP_CMP_MASKED_EQ",
    "SCMP_CMP_NE",
];

/// Architectures with a syscall table (others libseccomp knows are accepted
/// and left out of the filter, see the [`crate::compiler`] docs).
pub const ARCHES: &[&str] = &[
    "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_ARM",
    "SCMP_ARCH_X32",
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X86_64",
];

/// Flags `linux.seccomp.flags` may hold.
pub const KNOWN_FLAGS: &[(&str, u32)] = &[
    ("SECCOMP_FILTER_FLAG_TSYNC", 1),
    ("SECCOMP_FILTER_FLAG_LOG", 2),
    ("SECCOMP_FILTER_FLAG_SPEC_ALLOW", 4),
    // Only meaningful with a notify listener; passed only then (see FilterFlags::parse).
    ("SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", 32),
];

const SECCOMP_SET_MODE_FILTER: libc::c_uint = 1;
const SECCOMP_GET_ACTION_AVAIL: libc::c_uint = 2;

/// Whether the running kernel knows the `SECCOMP_FILTER_FLAG_*` bits `flags`.
///
/// Probes with `seccomp(SECCOMP_SET_MODE_FILTER, flags, NULL)`: the kernel
/// checks the flags before the program, so EFAULT (bad pointer) means the
/// flags passed and EINVAL means they did not; nothing is installed either way.
pub fn kernel_supports_flags(flags: u32) -> bool {
    // SAFETY: a NULL program pointer is never dereferenced: the call fails.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_SET_MODE_FILTER,
            flags as libc::c_uint,
            std::ptr::null::<libc::sock_fprog>(),
        )
    };
    rc == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EFAULT)
}

/// The known flags the running kernel supports (OCI `supportedFlags`). A flag
/// that needs a notify listener is probed together with
/// `SECCOMP_FILTER_FLAG_NEW_LISTENER`, as the kernel requires.
pub fn supported_flags() -> Vec<&'static str> {
    const NEW_LISTENER: u32 = 8;
    KNOWN_FLAGS
        .iter()
        .filter(|(_, bit)| {
            let probe = if *bit == 32 { bit | NEW_LISTENER } else { *bit };
            kernel_supports_flags(probe)
        })
        .map(|(name, _)| *name)
        .collect()
}

/// Whether the running kernel knows the filter return value `action`
/// (`SECCOMP_GET_ACTION_AVAIL`, Linux 4.14), e.g. [`crate::action::SECCOMP_RET_KILL_PROCESS`].
pub fn kernel_supports_action(action: u32) -> bool {
    // SAFETY: the kernel reads one u32 from a valid pointer.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_GET_ACTION_AVAIL,
            0 as libc::c_uint,
            &action as *const u32,
        )
    };
    rc == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::*;

    #[test]
    fn this_kernel_supports_every_known_flag_and_no_unknown_one() {
        // The project's machines run Linux 6.x: every flag is there (5.19+).
        assert_eq!(
            supported_flags(),
            KNOWN_FLAGS.iter().map(|f| f.0).collect::<Vec<_>>()
        );
        assert!(!kernel_supports_flags(1 << 30));
    }

    #[test]
    fn this_kernel_supports_every_action_we_emit() {
        for action in [
            SECCOMP_RET_KILL_PROCESS,
            SECCOMP_RET_KILL_THREAD,
            SECCOMP_RET_TRAP,
            SECCOMP_RET_ERRNO,
            SECCOMP_RET_TRACE,
            SECCOMP_RET_LOG,
            SECCOMP_RET_ALLOW,
        ] {
            assert!(kernel_supports_action(action), "{action:#x}");
        }
        assert!(
            !kernel_supports_action(0x7ff8_0000),
            "an action no kernel has"
        );
    }

    #[test]
    fn every_listed_name_compiles() {
        use serde_json::json;
        for action in ACTIONS {
            let p = json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ARCHES,
                "flags": KNOWN_FLAGS.iter().map(|f| f.0).collect::<Vec<_>>(),
                "syscalls": [{"names": ["read"], "action": action, "args": OPERATORS.iter()
                    .enumerate().take(6).map(|(i, op)| json!({"index": i, "value": 1, "op": op}))
                    .collect::<Vec<_>>()}]});
            let profile = serde_json::from_value(p).expect("parses");
            crate::compile_for(&profile, crate::Arch::X86_64).expect("compiles");
        }
    }
}
