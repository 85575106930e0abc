//! Podman's default profile (containers-common, Docker's format) compiles,
//! stays far below BPF_MAXINSNS, and means what it says.

use super::engine_profile::{for_amd64, podman_default, PODMAN_DEFAULT_CAPS, PODMAN_PROFILE};
use super::interp::{check, run, run_counting, SeccompData};
use crate::action::*;
use crate::arch::{Arch, X32_SYSCALL_BIT};
use crate::bpf::MAX_INSTRUCTIONS;
use crate::compile_for;

const EPERM: u32 = SECCOMP_RET_ERRNO | libc::EPERM as u32;
const EINVAL: u32 = SECCOMP_RET_ERRNO | libc::EINVAL as u32;
const ENOSYS: u32 = SECCOMP_RET_ERRNO | libc::ENOSYS as u32;

fn call(program: &[crate::Instruction], arch: Arch, name: &str, args: [u64; 6]) -> u32 {
    let nr = arch
        .syscall_number(name)
        .unwrap_or_else(|| panic!("{arch:?} has no {name}"));
    run(program, &SeccompData::new(arch.audit_arch(), nr, args))
}

#[test]
fn podman_default_profile_compiles_within_the_kernel_limit() {
    let profile = podman_default();
    assert_eq!(
        profile.architectures,
        ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    );
    let filter = compile_for(&profile, Arch::X86_64).expect("podman's profile compiles");
    check(filter.instructions());
    // Measured: 662 instructions (see the crate docs); far below the limit.
    assert!(
        filter.len() < MAX_INSTRUCTIONS / 2,
        "{} instructions",
        filter.len()
    );
    eprintln!("podman default profile: {} instructions", filter.len());
}

#[test]
fn podman_default_profile_allows_ordinary_syscalls_and_refuses_the_rest() {
    let filter = compile_for(&podman_default(), Arch::X86_64).unwrap();
    let p = filter.instructions();
    let x = Arch::X86_64;
    // Podman leaves mount, unshare and setns to capabilities: its profile allows them.
    // (setns is also in a CAP_SYS_ADMIN-only rule; the unconditional ALLOW before it wins.)
    for name in [
        "read",
        "write",
        "openat",
        "close",
        "mmap",
        "clone",
        "execve",
        "exit_group",
        "getpid",
        "mount",
        "unshare",
        "setns",
    ] {
        assert_eq!(call(p, x, name, [0; 6]), SECCOMP_RET_ALLOW, "{name}");
    }
    // In the profile's explicit EPERM list, or allowed only with CAP_SYS_ADMIN.
    for name in [
        "kexec_load",
        "swapon",
        "sethostname",
        "bpf",
        "perf_event_open",
    ] {
        assert_eq!(call(p, x, name, [0; 6]), EPERM, "{name}");
    }
    assert_eq!(
        call(p, x, "personality", [0xffff_ffff, 0, 0, 0, 0, 0]),
        SECCOMP_RET_ALLOW
    );
    assert_eq!(
        call(p, x, "personality", [0x1234, 0, 0, 0, 0, 0]),
        ENOSYS,
        "defaultErrnoRet 38"
    );
    // socket(AF_NETLINK, *, NETLINK_AUDIT) -> EINVAL; other sockets allowed.
    assert_eq!(call(p, x, "socket", [16, 3, 9, 0, 0, 0]), EINVAL);
    assert_eq!(call(p, x, "socket", [16, 3, 0, 0, 0, 0]), SECCOMP_RET_ALLOW);
    assert_eq!(call(p, x, "socket", [2, 1, 0, 0, 0, 0]), SECCOMP_RET_ALLOW);
    assert_eq!(
        run(p, &SeccompData::new(x.audit_arch(), 1000, [0; 6])),
        ENOSYS
    );
    // The other ABIs of an x86_64 host.
    assert_eq!(call(p, Arch::X86, "read", [0; 6]), SECCOMP_RET_ALLOW);
    assert_eq!(call(p, Arch::X86, "socketcall", [0; 6]), SECCOMP_RET_ALLOW);
    assert_eq!(call(p, Arch::X86, "sethostname", [0; 6]), EPERM);
    assert_eq!(
        run(
            p,
            &SeccompData::new(x.audit_arch(), X32_SYSCALL_BIT, [0; 6])
        ),
        SECCOMP_RET_ALLOW
    );
    assert_eq!(
        call(p, Arch::Aarch64, "openat", [0; 6]),
        SECCOMP_RET_KILL_THREAD
    );
}

#[test]
fn podman_profile_for_cap_sys_admin_allows_sethostname() {
    let text =
        std::fs::read_to_string(PODMAN_PROFILE).expect("podman's profile (apt-get install podman)");
    let mut caps = PODMAN_DEFAULT_CAPS.to_vec();
    caps.push("CAP_SYS_ADMIN");
    let profile = for_amd64(&serde_json::from_str(&text).unwrap(), &caps);
    let filter = compile_for(&profile, Arch::X86_64).unwrap();
    assert_eq!(
        call(filter.instructions(), Arch::X86_64, "sethostname", [0; 6]),
        SECCOMP_RET_ALLOW
    );
    assert_eq!(
        call(filter.instructions(), Arch::X86_64, "kexec_load", [0; 6]),
        EPERM
    );
}

#[test]
fn podman_default_profile_costs_few_instructions_per_syscall() {
    // The binary search keeps every syscall short; a list of ~370 compares
    // (libseccomp without its tree optimization) would run hundreds.
    let filter = compile_for(&podman_default(), Arch::X86_64).unwrap();
    let (mut max, mut total) = (0, 0);
    let audit = Arch::X86_64.audit_arch();
    for nr in 0..=Arch::X86_64.max_syscall_number() {
        let (_, steps) = run_counting(filter.instructions(), &SeccompData::new(audit, nr, [0; 6]));
        max = max.max(steps);
        total += steps;
    }
    let mean = total as f64 / f64::from(Arch::X86_64.max_syscall_number() + 1);
    eprintln!("podman default profile: {mean:.1} BPF instructions per x86_64 syscall on average, {max} at most");
    assert!(max <= 32, "a syscall runs {max} instructions");
}
