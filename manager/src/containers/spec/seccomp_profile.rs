//! Seccomp for containers: docker's default profile as our own data, and
//! engine-format profiles (`--security-opt seccomp=FILE`, docker's and
//! podman's `seccomp.json`) turned into the OCI `linux.seccomp` a runtime
//! compiles.
//!
//! # The engine format
//!
//! An engine profile (moby `profiles/seccomp` `Seccomp` type) is the OCI one
//! plus what only the engine can decide, per container:
//!
//! * `archMap`: `{architecture, subArchitectures}` per native arch; the entry
//!   of the host's arch becomes `architectures` (x86_64: X86_64, X86, X32).
//!   A profile may give `architectures` directly instead, not both.
//! * per rule `includes`/`excludes` with `arches` (Go's `GOARCH` names:
//!   `amd64`, `arm64`, ...), `caps` (the rule applies only if the container
//!   has all of them in its bounding set / none of them) and `minKernel`.
//! * `name` (one syscall, an older form) or `names`.
//!
//! [`EngineProfile::to_oci`] applies those for one container, as moby's
//! `setupSeccomp` does. The same path turns docker's default (built by
//! [`docker_default_profile`]) and a user's file into OCI.
//!
//! # Docker's default profile
//!
//! From moby `profiles/seccomp/default.json` (docker 24-27): deny with EPERM
//! by default; a fixed allow list; `socket` but not `AF_VSOCK`; five
//! `personality` values; per-arch extras; and syscalls allowed only with a
//! capability: CAP_SYS_ADMIN unlocks `mount`, `unshare`, `setns`, `clone`
//! with namespace flags, `clone3` and others; without it `clone` may not
//! create namespaces (its flags are checked against CLONE_NEW* with
//! MASKED_EQ) and `clone3`, whose flags sit in memory seccomp cannot read,
//! fails with ENOSYS so libcs fall back to `clone`.

use berth_oci::{LinuxSeccomp, LinuxSeccompArg, LinuxSyscall, SeccompAction, SeccompOperator};
use serde::{Deserialize, Deserializer};

use super::SpecError;

/// `null` as the default (Go's nil slices and maps).
fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// An engine-format seccomp profile (docker's and podman's `seccomp.json`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EngineProfile {
    pub default_action: SeccompAction,
    #[serde(default)]
    pub default_errno_ret: Option<u32>,
    #[serde(default, deserialize_with = "nullable")]
    pub architectures: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub arch_map: Vec<ArchMapEntry>,
    #[serde(default, deserialize_with = "nullable")]
    pub syscalls: Vec<EngineSyscall>,
    #[serde(default, deserialize_with = "nullable")]
    pub flags: Vec<String>,
    #[serde(default)]
    pub listener_path: Option<String>,
    #[serde(default)]
    pub listener_metadata: Option<String>,
}

/// One entry of `archMap`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArchMapEntry {
    pub architecture: String,
    #[serde(default, deserialize_with = "nullable")]
    pub sub_architectures: Vec<String>,
}

/// One rule of an engine profile.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EngineSyscall {
    /// The older one-syscall form; exclusive with `names`.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub names: Vec<String>,
    pub action: SeccompAction,
    #[serde(default)]
    pub errno_ret: Option<u32>,
    #[serde(default, deserialize_with = "nullable")]
    pub args: Vec<LinuxSeccompArg>,
    #[serde(default, deserialize_with = "nullable")]
    pub includes: RuleFilter,
    #[serde(default, deserialize_with = "nullable")]
    pub excludes: RuleFilter,
}

/// `includes`/`excludes` of a rule.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleFilter {
    #[serde(default, deserialize_with = "nullable")]
    pub caps: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub arches: Vec<String>,
    /// `"4.8"`: the rule needs (includes) or is void on (excludes) a kernel
    /// at least this new.
    #[serde(default)]
    pub min_kernel: Option<String>,
}

/// The host's architecture as seccomp profiles name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostArch {
    /// libseccomp's name of the native arch (`SCMP_ARCH_X86_64`).
    pub native: &'static str,
    /// Go's `GOARCH` name, used by `includes.arches` (`amd64`).
    pub goarch: &'static str,
}

impl HostArch {
    /// The arch berthd was built for.
    pub fn current() -> HostArch {
        let (native, goarch) = match std::env::consts::ARCH {
            "x86_64" => ("SCMP_ARCH_X86_64", "amd64"),
            "x86" => ("SCMP_ARCH_X86", "386"),
            "aarch64" => ("SCMP_ARCH_AARCH64", "arm64"),
            "arm" => ("SCMP_ARCH_ARM", "arm"),
            "riscv64" => ("SCMP_ARCH_RISCV64", "riscv64"),
            "s390x" => ("SCMP_ARCH_S390X", "s390x"),
            "powerpc64" if cfg!(target_endian = "little") => ("SCMP_ARCH_PPC64LE", "ppc64le"),
            "powerpc64" => ("SCMP_ARCH_PPC64", "ppc64"),
            "mips64" if cfg!(target_endian = "little") => ("SCMP_ARCH_MIPSEL64", "mips64le"),
            "mips64" => ("SCMP_ARCH_MIPS64", "mips64"),
            "loongarch64" => ("SCMP_ARCH_LOONGARCH64", "loong64"),
            other => ("SCMP_ARCH_NATIVE", other),
        };
        HostArch { native, goarch }
    }
}

/// A kernel version as `(major, minor)`.
pub type KernelVersion = (u32, u32);

/// Parses `"6.18.0-1-amd64"` or `"4.8"` into `(major, minor)`.
pub fn parse_kernel_version(s: &str) -> Option<KernelVersion> {
    let mut parts = s.trim().split(['.', '-', '+']);
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next().and_then(|m| m.parse().ok()).unwrap_or(0);
    Some((major, minor))
}

/// The running kernel's version (`/proc/sys/kernel/osrelease`, read once);
/// a very new one if it cannot be read, so `minKernel` rules apply as on
/// any kernel Berth runs on (it needs openat2, 5.6, anyway).
pub fn running_kernel() -> KernelVersion {
    static KERNEL: std::sync::OnceLock<KernelVersion> = std::sync::OnceLock::new();
    *KERNEL.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .ok()
            .and_then(|s| parse_kernel_version(&s))
            .unwrap_or((u32::MAX, 0))
    })
}

impl EngineProfile {
    /// Parses a profile file's contents. Errors `parse seccomp profile: ...`.
    pub fn parse(bytes: &[u8]) -> Result<EngineProfile, SpecError> {
        serde_json::from_slice(bytes).map_err(SpecError::SeccompProfile)
    }

    /// The OCI `linux.seccomp` for a container whose bounding set is `caps`,
    /// on `arch` and `kernel` (moby `setupSeccomp`).
    pub fn to_oci(
        &self,
        caps: &[String],
        arch: HostArch,
        kernel: KernelVersion,
    ) -> Result<LinuxSeccomp, SpecError> {
        if !self.architectures.is_empty() && !self.arch_map.is_empty() {
            return Err(SpecError::invalid(
                "seccomp profile gives both 'architectures' and 'archMap': use one",
            ));
        }
        let architectures = if self.arch_map.is_empty() {
            self.architectures.clone()
        } else {
            self.arch_map
                .iter()
                .filter(|a| a.architecture == arch.native)
                .flat_map(|a| {
                    std::iter::once(a.architecture.clone()).chain(a.sub_architectures.clone())
                })
                .collect()
        };
        let at_least = |min: &Option<String>| -> Result<Option<bool>, SpecError> {
            match min {
                None => Ok(None),
                Some(m) => parse_kernel_version(m)
                    .map(|v| Some(kernel >= v))
                    .ok_or_else(|| {
                        SpecError::invalid(format!("seccomp profile: invalid minKernel {m:?}"))
                    }),
            }
        };
        let mut syscalls = Vec::new();
        for rule in &self.syscalls {
            let names = match (&rule.name, rule.names.is_empty()) {
                (Some(n), true) => vec![n.clone()],
                (None, _) => rule.names.clone(),
                (Some(n), false) => {
                    return Err(SpecError::invalid(format!(
                        "seccomp profile: rule for {n:?} gives both 'name' and 'names': use one"
                    )))
                }
            };
            let (inc, exc) = (&rule.includes, &rule.excludes);
            let excluded = exc.arches.iter().any(|a| a == arch.goarch)
                || exc.caps.iter().any(|c| caps.contains(c))
                || at_least(&exc.min_kernel)? == Some(true);
            let included = (inc.arches.is_empty() || inc.arches.iter().any(|a| a == arch.goarch))
                && inc.caps.iter().all(|c| caps.contains(c))
                && at_least(&inc.min_kernel)? != Some(false);
            if excluded || !included || names.is_empty() {
                continue;
            }
            syscalls.push(LinuxSyscall {
                names,
                action: rule.action,
                errno_ret: rule.errno_ret,
                args: rule.args.clone(),
            });
        }
        Ok(LinuxSeccomp {
            default_action: self.default_action,
            default_errno_ret: self.default_errno_ret,
            architectures,
            flags: self.flags.clone(),
            listener_path: self.listener_path.clone(),
            listener_metadata: self.listener_metadata.clone(),
            syscalls,
        })
    }
}

/// The syscalls docker's default profile allows unconditionally.
#[rustfmt::skip]
const DEFAULT_ALLOWED: &[&str] = &[
    "accept", "accept4", "access", "adjtimex", "alarm", "bind", "brk", "capget", "capset", "chdir",
    "chmod", "chown", "chown32", "clock_adjtime", "clock_adjtime64", "clock_getres",
    "clock_getres_time64", "clock_gettime", "clock_gettime64", "clock_nanosleep",
    "clock_nanosleep_time64", "close", "close_range", "connect", "copy_file_range", "creat", "dup",
    "dup2", "dup3", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_pwait",
    "epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2", "execve", "execveat",
    "exit", "exit_group", "faccessat", "faccessat2", "fadvise64", "fadvise64_64", "fallocate",
    "fanotify_mark", "fchdir", "fchmod", "fchmodat", "fchown", "fchown32", "fchownat", "fcntl",
    "fcntl64", "fdatasync", "fgetxattr", "flistxattr", "flock", "fork", "fremovexattr",
    "fsetxattr", "fstat", "fstat64", "fstatat64", "fstatfs", "fstatfs64", "fsync", "ftruncate",
    "ftruncate64", "futex", "futex_time64", "futex_waitv", "futimesat", "getcpu", "getcwd",
    "getdents", "getdents64", "getegid", "getegid32", "geteuid", "geteuid32", "getgid", "getgid32",
    "getgroups", "getgroups32", "getitimer", "getpeername", "getpgid", "getpgrp", "getpid",
    "getppid", "getpriority", "getrandom", "getresgid", "getresgid32", "getresuid", "getresuid32",
    "getrlimit", "get_robust_list", "getrusage", "getsid", "getsockname", "getsockopt",
    "get_thread_area", "gettid", "gettimeofday", "getuid", "getuid32", "getxattr",
    "inotify_add_watch", "inotify_init", "inotify_init1", "inotify_rm_watch", "io_cancel", "ioctl",
    "io_destroy", "io_getevents", "io_pgetevents", "io_pgetevents_time64", "ioprio_get",
    "ioprio_set", "io_setup", "io_submit", "io_uring_enter", "io_uring_register", "io_uring_setup",
    "ipc", "kill", "landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self",
    "lchown", "lchown32", "lgetxattr", "link", "linkat", "listen", "listxattr", "llistxattr",
    "_llseek", "lremovexattr", "lseek", "lsetxattr", "lstat", "lstat64", "madvise", "membarrier",
    "memfd_create", "memfd_secret", "mincore", "mkdir", "mkdirat", "mknod", "mknodat", "mlock",
    "mlock2", "mlockall", "mmap", "mmap2", "mprotect", "mq_getsetattr", "mq_notify", "mq_open",
    "mq_timedreceive", "mq_timedreceive_time64", "mq_timedsend", "mq_timedsend_time64",
    "mq_unlink", "mremap", "msgctl", "msgget", "msgrcv", "msgsnd", "msync", "munlock",
    "munlockall", "munmap", "name_to_handle_at", "nanosleep", "newfstatat", "_newselect", "open",
    "openat", "openat2", "pause", "pidfd_open", "pidfd_send_signal", "pipe", "pipe2", "pkey_alloc",
    "pkey_free", "pkey_mprotect", "poll", "ppoll", "ppoll_time64", "prctl", "pread64", "preadv",
    "preadv2", "prlimit64", "process_mrelease", "pselect6", "pselect6_time64", "pwrite64",
    "pwritev", "pwritev2", "read", "readahead", "readlink", "readlinkat", "readv", "recv",
    "recvfrom", "recvmmsg", "recvmmsg_time64", "recvmsg", "remap_file_pages", "removexattr",
    "rename", "renameat", "renameat2", "restart_syscall", "rmdir", "rseq", "rt_sigaction",
    "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend",
    "rt_sigtimedwait", "rt_sigtimedwait_time64", "rt_tgsigqueueinfo", "sched_getaffinity",
    "sched_getattr", "sched_getparam", "sched_get_priority_max", "sched_get_priority_min",
    "sched_getscheduler", "sched_rr_get_interval", "sched_rr_get_interval_time64",
    "sched_setaffinity", "sched_setattr", "sched_setparam", "sched_setscheduler", "sched_yield",
    "seccomp", "select", "semctl", "semget", "semop", "semtimedop", "semtimedop_time64", "send",
    "sendfile", "sendfile64", "sendmmsg", "sendmsg", "sendto", "setfsgid", "setfsgid32",
    "setfsuid", "setfsuid32", "setgid", "setgid32", "setgroups", "setgroups32", "setitimer",
    "setpgid", "setpriority", "setregid", "setregid32", "setresgid", "setresgid32", "setresuid",
    "setresuid32", "setreuid", "setreuid32", "setrlimit", "set_robust_list", "setsid",
    "setsockopt", "set_thread_area", "set_tid_address", "setuid", "setuid32", "setxattr", "shmat",
    "shmctl", "shmdt", "shmget", "shutdown", "sigaltstack", "signalfd", "signalfd4", "sigprocmask",
    "sigreturn", "socketcall", "socketpair", "splice", "stat", "stat64", "statfs", "statfs64",
    "statx", "symlink", "symlinkat", "sync", "sync_file_range", "syncfs", "sysinfo", "tee",
    "tgkill", "time", "timer_create", "timer_delete", "timer_getoverrun", "timer_gettime",
    "timer_gettime64", "timer_settime", "timer_settime64", "timerfd_create", "timerfd_gettime",
    "timerfd_gettime64", "timerfd_settime", "timerfd_settime64", "times", "tkill", "truncate",
    "truncate64", "ugetrlimit", "umask", "uname", "unlink", "unlinkat", "utime", "utimensat",
    "utimensat_time64", "utimes", "vfork", "vmsplice", "wait4", "waitid", "waitpid", "write",
    "writev",
];

/// Syscalls a capability unlocks in docker's default profile.
const CAPABILITY_SYSCALLS: &[(&str, &[&str])] = &[
    ("CAP_DAC_READ_SEARCH", &["open_by_handle_at"]),
    (
        "CAP_SYS_ADMIN",
        &[
            "bpf",
            "clone",
            "clone3",
            "fanotify_init",
            "fsconfig",
            "fsmount",
            "fsopen",
            "fspick",
            "lookup_dcookie",
            "mount",
            "mount_setattr",
            "move_mount",
            "open_tree",
            "perf_event_open",
            "quotactl",
            "quotactl_fd",
            "setdomainname",
            "sethostname",
            "setns",
            "syslog",
            "umount",
            "umount2",
            "unshare",
        ],
    ),
    ("CAP_SYS_BOOT", &["reboot"]),
    ("CAP_SYS_CHROOT", &["chroot"]),
    (
        "CAP_SYS_MODULE",
        &["delete_module", "init_module", "finit_module"],
    ),
    ("CAP_SYS_PACCT", &["acct"]),
    (
        "CAP_SYS_PTRACE",
        &[
            "kcmp",
            "pidfd_getfd",
            "process_madvise",
            "process_vm_readv",
            "process_vm_writev",
            "ptrace",
        ],
    ),
    ("CAP_SYS_RAWIO", &["iopl", "ioperm"]),
    (
        "CAP_SYS_TIME",
        &["settimeofday", "stime", "clock_settime", "clock_settime64"],
    ),
    ("CAP_SYS_TTY_CONFIG", &["vhangup"]),
    (
        "CAP_SYS_NICE",
        &[
            "get_mempolicy",
            "mbind",
            "set_mempolicy",
            "set_mempolicy_home_node",
        ],
    ),
    ("CAP_SYSLOG", &["syslog"]),
    ("CAP_BPF", &["bpf"]),
    ("CAP_PERFMON", &["perf_event_open"]),
];

/// Syscalls allowed only on some arches (Go names).
const ARCH_SYSCALLS: &[(&[&str], &[&str])] = &[
    (&["ppc64le"], &["sync_file_range2", "swapcontext"]),
    (
        &["arm", "arm64"],
        &[
            "arm_fadvise64_64",
            "arm_sync_file_range",
            "sync_file_range2",
            "breakpoint",
            "cacheflush",
            "set_tls",
        ],
    ),
    (&["amd64", "x32"], &["arch_prctl"]),
    (&["amd64", "x32", "x86"], &["modify_ldt"]),
    (
        &["s390", "s390x"],
        &[
            "s390_pci_mmio_read",
            "s390_pci_mmio_write",
            "s390_runtime_instr",
        ],
    ),
    (&["riscv64"], &["riscv_flush_icache"]),
];

/// `personality(2)` personas docker allows: PER_LINUX, PER_LINUX32,
/// UNAME26, UNAME26|PER_LINUX32, and 0xffffffff (query).
const PERSONALITIES: [u64; 5] = [0x0, 0x8, 0x20000, 0x20008, 0xffff_ffff];

/// Every CLONE_NEW* flag (CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|
/// NEWPID|NEWNET): `clone` without CAP_SYS_ADMIN must have none set.
const CLONE_NAMESPACE_FLAGS: u64 = 0x7E02_0000;

/// The native and sub-architectures of each arch (docker's `archMap`).
const ARCH_MAP: &[(&str, &[&str])] = &[
    ("SCMP_ARCH_X86_64", &["SCMP_ARCH_X86", "SCMP_ARCH_X32"]),
    ("SCMP_ARCH_AARCH64", &["SCMP_ARCH_ARM"]),
    (
        "SCMP_ARCH_MIPS64",
        &["SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64N32"],
    ),
    (
        "SCMP_ARCH_MIPS64N32",
        &["SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64"],
    ),
    (
        "SCMP_ARCH_MIPSEL64",
        &["SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64N32"],
    ),
    (
        "SCMP_ARCH_MIPSEL64N32",
        &["SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64"],
    ),
    ("SCMP_ARCH_S390X", &["SCMP_ARCH_S390"]),
    ("SCMP_ARCH_RISCV64", &[]),
];

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn allow(names: &[&str]) -> EngineSyscall {
    EngineSyscall {
        names: strings(names),
        action: SeccompAction::Allow,
        ..Default::default()
    }
}

fn arg(index: u32, value: u64, op: SeccompOperator) -> LinuxSeccompArg {
    LinuxSeccompArg {
        index,
        value,
        value_two: None,
        op,
    }
}

/// Docker's default profile, built once: every container start uses it.
pub fn default_profile() -> &'static EngineProfile {
    static PROFILE: std::sync::OnceLock<EngineProfile> = std::sync::OnceLock::new();
    PROFILE.get_or_init(docker_default_profile)
}

/// Docker's default profile in the engine format (see the module doc).
pub fn docker_default_profile() -> EngineProfile {
    let mut rules = vec![allow(DEFAULT_ALLOWED)];
    // ptrace and process_vm_* are safe for everyone from 4.8 on, where
    // ptrace can no longer bypass seccomp.
    rules.push(EngineSyscall {
        includes: RuleFilter {
            min_kernel: Some("4.8".into()),
            ..Default::default()
        },
        ..allow(&["process_vm_readv", "process_vm_writev", "ptrace"])
    });
    // socket, but not AF_VSOCK (40): it reaches the host's hypervisor.
    rules.push(EngineSyscall {
        args: vec![arg(0, 40, SeccompOperator::NotEqual)],
        ..allow(&["socket"])
    });
    for persona in PERSONALITIES {
        rules.push(EngineSyscall {
            args: vec![arg(0, persona, SeccompOperator::Equal)],
            ..allow(&["personality"])
        });
    }
    for (arches, names) in ARCH_SYSCALLS {
        rules.push(EngineSyscall {
            includes: RuleFilter {
                arches: strings(arches),
                ..Default::default()
            },
            ..allow(names)
        });
    }
    for (cap, names) in CAPABILITY_SYSCALLS {
        rules.push(EngineSyscall {
            includes: RuleFilter {
                caps: vec![cap.to_string()],
                ..Default::default()
            },
            ..allow(names)
        });
    }
    let without_sys_admin = |arches: &[&str]| RuleFilter {
        caps: vec!["CAP_SYS_ADMIN".into()],
        arches: strings(arches),
        min_kernel: None,
    };
    // clone without namespace flags; s390 passes flags as the second argument.
    rules.push(EngineSyscall {
        args: vec![LinuxSeccompArg {
            value_two: Some(0),
            ..arg(0, CLONE_NAMESPACE_FLAGS, SeccompOperator::MaskedEqual)
        }],
        excludes: without_sys_admin(&["s390", "s390x"]),
        ..allow(&["clone"])
    });
    rules.push(EngineSyscall {
        args: vec![LinuxSeccompArg {
            value_two: Some(0),
            ..arg(1, CLONE_NAMESPACE_FLAGS, SeccompOperator::MaskedEqual)
        }],
        includes: RuleFilter {
            arches: strings(&["s390", "s390x"]),
            ..Default::default()
        },
        excludes: without_sys_admin(&[]),
        ..allow(&["clone"])
    });
    rules.push(EngineSyscall {
        action: SeccompAction::Errno,
        errno_ret: Some(libc::ENOSYS as u32),
        excludes: without_sys_admin(&[]),
        ..allow(&["clone3"])
    });
    EngineProfile {
        default_action: SeccompAction::Errno,
        default_errno_ret: Some(libc::EPERM as u32),
        architectures: Vec::new(),
        arch_map: ARCH_MAP
            .iter()
            .map(|(arch, subs)| ArchMapEntry {
                architecture: arch.to_string(),
                sub_architectures: strings(subs),
            })
            .collect(),
        syscalls: rules,
        flags: Vec::new(),
        listener_path: None,
        listener_metadata: None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::capabilities::DEFAULT_CAPABILITIES;
    use super::*;

    const AMD64: HostArch = HostArch {
        native: "SCMP_ARCH_X86_64",
        goarch: "amd64",
    };

    fn caps(v: &[&str]) -> Vec<String> {
        strings(v)
    }

    fn allowed(s: &LinuxSeccomp, name: &str) -> Vec<LinuxSyscall> {
        s.syscalls
            .iter()
            .filter(|r| r.names.iter().any(|n| n == name))
            .cloned()
            .collect()
    }

    #[test]
    fn default_profile_for_default_caps() {
        let oci = docker_default_profile()
            .to_oci(&caps(&DEFAULT_CAPABILITIES), AMD64, (6, 1))
            .unwrap();
        assert_eq!(oci.default_action, SeccompAction::Errno);
        assert_eq!(oci.default_errno_ret, Some(1));
        assert_eq!(
            oci.architectures,
            ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
        );
        assert!(allowed(&oci, "unshare").is_empty());
        assert!(allowed(&oci, "mount").is_empty());
        assert!(allowed(&oci, "reboot").is_empty());
        assert_eq!(allowed(&oci, "chroot").len(), 1);
        assert_eq!(allowed(&oci, "arch_prctl").len(), 1);
        assert!(allowed(&oci, "cacheflush").is_empty());
        assert_eq!(allowed(&oci, "ptrace").len(), 1);
        assert_eq!(allowed(&oci, "personality").len(), 5);
        let clone = allowed(&oci, "clone");
        assert_eq!(clone.len(), 1);
        assert_eq!(clone[0].args[0].op, SeccompOperator::MaskedEqual);
        assert_eq!(clone[0].args[0].value, 0x7E02_0000);
        let clone3 = allowed(&oci, "clone3");
        assert_eq!(clone3[0].action, SeccompAction::Errno);
        assert_eq!(clone3[0].errno_ret, Some(38));
        // ptrace needs CAP_SYS_PTRACE on kernels before 4.8.
        let old = docker_default_profile()
            .to_oci(&caps(&DEFAULT_CAPABILITIES), AMD64, (4, 4))
            .unwrap();
        assert!(allowed(&old, "ptrace").is_empty());
    }

    #[test]
    fn sys_admin_unlocks_namespaces() {
        let oci = docker_default_profile()
            .to_oci(&caps(&["CAP_SYS_ADMIN"]), AMD64, (6, 1))
            .unwrap();
        assert_eq!(allowed(&oci, "unshare").len(), 1);
        let clone = allowed(&oci, "clone");
        assert_eq!(clone.len(), 1);
        assert!(clone[0].args.is_empty());
        assert_eq!(allowed(&oci, "clone3")[0].action, SeccompAction::Allow);
        assert!(allowed(&oci, "chroot").is_empty());
    }

    #[test]
    fn default_profile_compiles_for_the_kernel() {
        let oci = docker_default_profile()
            .to_oci(
                &caps(&DEFAULT_CAPABILITIES),
                HostArch::current(),
                running_kernel(),
            )
            .unwrap();
        let filter = berth_seccomp::compile(&oci).expect("docker's default profile compiles");
        assert!(filter.len() < 4096);
    }

    #[test]
    fn podman_profile_parses() {
        let Ok(bytes) = std::fs::read("/usr/share/containers/seccomp.json") else {
            panic!(
                "/usr/share/containers/seccomp.json missing: install podman (containers-common)"
            );
        };
        let profile = EngineProfile::parse(&bytes).unwrap();
        let oci = profile
            .to_oci(&caps(&DEFAULT_CAPABILITIES), AMD64, (6, 1))
            .unwrap();
        assert_eq!(oci.default_errno_ret, Some(38));
        assert_eq!(oci.architectures.len(), 3);
        // podman's profile refuses bpf with EPERM without CAP_SYS_ADMIN.
        let bpf = allowed(&oci, "bpf");
        assert_eq!(bpf.len(), 1);
        assert_eq!(bpf[0].action, SeccompAction::Errno);
        berth_seccomp::compile(&oci).expect("podman's profile compiles");
    }

    #[test]
    fn profile_errors() {
        let e = EngineProfile::parse(b"{\"syscalls\": []}").unwrap_err();
        assert!(e.to_string().starts_with("parse seccomp profile: "), "{e}");
        let both = EngineProfile::parse(
            br#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64"],
                "archMap":[{"architecture":"SCMP_ARCH_X86_64","subArchitectures":null}]}"#,
        )
        .unwrap();
        assert!(both.to_oci(&[], AMD64, (6, 1)).is_err());
        let name_and_names = EngineProfile::parse(
            br#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
                {"name":"a","names":["b"],"action":"SCMP_ACT_ERRNO"}]}"#,
        )
        .unwrap();
        assert!(name_and_names.to_oci(&[], AMD64, (6, 1)).is_err());
        let old_name = EngineProfile::parse(
            br#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
                {"name":"mkdir","action":"SCMP_ACT_ERRNO","includes":null}]}"#,
        )
        .unwrap();
        let oci = old_name.to_oci(&[], AMD64, (6, 1)).unwrap();
        assert_eq!(oci.syscalls[0].names, ["mkdir"]);
    }
}
