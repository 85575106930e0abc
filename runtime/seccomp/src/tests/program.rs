//! Compiled programs, run in the interpreter on chosen `seccomp_data`, return
//! the actions the profile asks for.

use berth_oci::LinuxSeccomp;
use serde_json::{json, Value};

use super::interp::{check, run, SeccompData};
use crate::action::*;
use crate::arch::{Arch, X32_SYSCALL_BIT};
use crate::{compile_for, Filter};

const EPERM: u32 = SECCOMP_RET_ERRNO | libc::EPERM as u32;
const ENOSYS: u32 = SECCOMP_RET_ERRNO | libc::ENOSYS as u32;

fn profile(v: Value) -> LinuxSeccomp {
    serde_json::from_value(v).expect("test profile parses")
}

fn build(v: Value) -> Filter {
    build_for(v, Arch::X86_64)
}

fn build_for(v: Value, native: Arch) -> Filter {
    let filter = compile_for(&profile(v), native).expect("test profile compiles");
    check(filter.instructions());
    filter
}

/// Runs `filter` for syscall `name` of ABI `arch` with `args`.
fn call(filter: &Filter, arch: Arch, name: &str, args: [u64; 6]) -> u32 {
    let nr = arch
        .syscall_number(name)
        .unwrap_or_else(|| panic!("{arch:?} has no {name}"));
    run(
        filter.instructions(),
        &SeccompData::new(arch.audit_arch(), nr, args),
    )
}

fn call_nr(filter: &Filter, arch: Arch, nr: u32) -> u32 {
    run(
        filter.instructions(),
        &SeccompData::new(arch.audit_arch(), nr, [0; 6]),
    )
}

fn arg0(filter: &Filter, arch: Arch, name: &str, a0: u64) -> u32 {
    call(filter, arch, name, [a0, 0, 0, 0, 0, 0])
}

#[test]
fn errno_rule_on_an_allow_profile() {
    let f = build(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]
    }));
    assert_eq!(call(&f, Arch::X86_64, "mkdir", [0; 6]), EPERM);
    assert_eq!(call(&f, Arch::X86_64, "mkdirat", [0; 6]), EPERM);
    assert_eq!(call(&f, Arch::X86_64, "getpid", [0; 6]), SECCOMP_RET_ALLOW);
    assert_eq!(call_nr(&f, Arch::X86_64, 100_000), SECCOMP_RET_ALLOW);
    // x86 is not in the filter: bad-arch action.
    assert_eq!(
        call(&f, Arch::X86, "getpid", [0; 6]),
        SECCOMP_RET_KILL_THREAD
    );
}

#[test]
fn every_action_has_its_kernel_value() {
    let f = build(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 38,
        "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
            {"names": ["write"], "action": "SCMP_ACT_KILL"},
            {"names": ["open"], "action": "SCMP_ACT_KILL_THREAD"},
            {"names": ["close"], "action": "SCMP_ACT_KILL_PROCESS"},
            {"names": ["stat"], "action": "SCMP_ACT_TRAP"},
            {"names": ["fstat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
            {"names": ["lstat"], "action": "SCMP_ACT_TRACE", "errnoRet": 4242},
            {"names": ["poll"], "action": "SCMP_ACT_TRACE"},
            {"names": ["lseek"], "action": "SCMP_ACT_LOG"},
            {"names": ["mmap"], "action": "SCMP_ACT_ERRNO"}
        ]
    }));
    let a = Arch::X86_64;
    assert_eq!(call(&f, a, "read", [0; 6]), 0x7fff_0000);
    assert_eq!(call(&f, a, "write", [0; 6]), 0);
    assert_eq!(call(&f, a, "open", [0; 6]), 0);
    assert_eq!(call(&f, a, "close", [0; 6]), 0x8000_0000);
    assert_eq!(call(&f, a, "stat", [0; 6]), 0x0003_0000);
    assert_eq!(call(&f, a, "fstat", [0; 6]), 0x0005_000d);
    assert_eq!(call(&f, a, "lstat", [0; 6]), 0x7ff0_0000 | 4242);
    assert_eq!(
        call(&f, a, "poll", [0; 6]),
        0x7ff0_0001,
        "TRACE without errnoRet: EPERM as in runc"
    );
    assert_eq!(call(&f, a, "lseek", [0; 6]), 0x7ffc_0000);
    assert_eq!(
        call(&f, a, "mmap", [0; 6]),
        EPERM,
        "ERRNO without errnoRet: EPERM"
    );
    assert_eq!(call(&f, a, "getpid", [0; 6]), ENOSYS, "defaultErrnoRet");
}

#[test]
fn default_errno_without_errno_ret_is_eperm() {
    let f = build(json!({"defaultAction": "SCMP_ACT_ERRNO",
                         "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}));
    assert_eq!(call(&f, Arch::X86_64, "write", [0; 6]), EPERM);
    assert_eq!(call(&f, Arch::X86_64, "read", [0; 6]), SECCOMP_RET_ALLOW);
}

/// Every operator against values on both sides of the 32-bit boundary, on a
/// 64-bit ABI (full compare) and a 32-bit one (low word only).
#[test]
fn every_operator_compares_64_bit_values_correctly() {
    let values: [u64; 10] = [
        0,
        1,
        0x7fff_ffff,
        0xffff_ffff,
        0x1_0000_0000,
        0x1_0000_0001,
        0x1_ffff_ffff,
        0x8000_0000_0000_0000,
        0xffff_ffff_0000_0000,
        u64::MAX,
    ];
    type Pred = fn(u64, u64) -> bool;
    let ops: [(&str, Pred); 6] = [
        ("SCMP_CMP_EQ", |a, v| a == v),
        ("SCMP_CMP_NE", |a, v| a != v),
        ("SCMP_CMP_LT", |a, v| a < v),
        ("SCMP_CMP_LE", |a, v| a <= v),
        ("SCMP_CMP_GT", |a, v| a > v),
        ("SCMP_CMP_GE", |a, v| a >= v),
    ];
    for (op, pred) in ops {
        for v in values {
            let f = build(json!({
                "defaultAction": "SCMP_ACT_ERRNO",
                "architectures": ["SCMP_ARCH_X86"],
                "syscalls": [{"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                              "args": [{"index": 0, "value": v, "op": op}]}]
            }));
            for a in values {
                let want = |ok: bool| if ok { SECCOMP_RET_ALLOW } else { EPERM };
                assert_eq!(
                    arg0(&f, Arch::X86_64, "personality", a),
                    want(pred(a, v)),
                    "x86_64: {a:#x} {op} {v:#x}"
                );
                let (a32, v32) = (a & 0xffff_ffff, v & 0xffff_ffff);
                assert_eq!(
                    arg0(&f, Arch::X86, "personality", a),
                    want(pred(a32, v32)),
                    "x86 (low words): {a32:#x} {op} {v32:#x}"
                );
            }
        }
    }
}

#[test]
fn masked_eq_compares_the_masked_argument_with_value_two() {
    // Docker's clone rule: no namespace flags (mask 0x7e020000, valueTwo 0).
    let f = build(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [
            {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 2114060288u64, "op": "SCMP_CMP_MASKED_EQ"}]},
            {"names": ["fcntl"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 1, "value": 0xff00_0000_00ffu64, "valueTwo": 0x1200_0000_0034u64,
                       "op": "SCMP_CMP_MASKED_EQ"}]}
        ]
    }));
    let clone = |flags: u64| arg0(&f, Arch::X86_64, "clone", flags);
    assert_eq!(clone(libc::SIGCHLD as u64), SECCOMP_RET_ALLOW);
    assert_eq!(
        clone(0x0100_0000 | libc::SIGCHLD as u64),
        SECCOMP_RET_ALLOW,
        "CLONE_CHILD_SETTID"
    );
    assert_eq!(clone(libc::CLONE_NEWNS as u64), EPERM);
    assert_eq!(clone(libc::CLONE_NEWUSER as u64 | 17), EPERM);
    let fcntl = |a1: u64| call(&f, Arch::X86_64, "fcntl", [0, a1, 0, 0, 0, 0]);
    assert_eq!(fcntl(0x1200_0000_0034), SECCOMP_RET_ALLOW);
    assert_eq!(
        fcntl(0x12ab_cdef_ff34),
        SECCOMP_RET_ALLOW,
        "unmasked bits do not matter"
    );
    assert_eq!(
        fcntl(0x1300_0000_0034),
        EPERM,
        "high word differs under the mask"
    );
    assert_eq!(
        fcntl(0x1200_0000_0035),
        EPERM,
        "low word differs under the mask"
    );
    assert_eq!(fcntl(0x0000_0000_0034), EPERM);
}

#[test]
fn masked_eq_masks_value_two_too_like_libseccomp() {
    // valueTwo bits outside the mask do not count: 0x1_0000_0001 & 0xff == 1.
    let f = build(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86"],
        "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_KILL",
             "args": [{"index": 0, "value": 0xffu64, "valueTwo": 0x1_0000_0001u64, "op": "SCMP_CMP_MASKED_EQ"}]},
            {"names": ["write"], "action": "SCMP_ACT_KILL",
             "args": [{"index": 0, "value": 0u64, "valueTwo": 5, "op": "SCMP_CMP_MASKED_EQ"}]}
        ]
    }));
    for arch in [Arch::X86_64, Arch::X86] {
        for a in [1u64, 0x1_0000_0001, 0xabcd_0101] {
            assert_eq!(
                arg0(&f, arch, "read", a),
                SECCOMP_RET_KILL_THREAD,
                "{arch:?} {a:#x}"
            );
        }
        for a in [0u64, 2, 0x1_0000_0000, u64::MAX] {
            assert_eq!(
                arg0(&f, arch, "read", a),
                SECCOMP_RET_ALLOW,
                "{arch:?} {a:#x}"
            );
        }
        // An empty mask always matches.
        for a in [0u64, 5, u64::MAX] {
            assert_eq!(
                arg0(&f, arch, "write", a),
                SECCOMP_RET_KILL_THREAD,
                "{arch:?} {a:#x}"
            );
        }
    }
}

#[test]
fn args_of_one_rule_all_hold_unless_an_index_repeats() {
    let f = build(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [
            // socket(AF_UNIX, *, 0): both must hold (AND).
            {"names": ["socket"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
                      {"index": 2, "value": 0, "op": "SCMP_CMP_EQ"}]},
            // Index 1 twice: runc makes each condition a rule of its own,
            // so any one holding allows (OR).
            {"names": ["socket"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 2, "op": "SCMP_CMP_EQ"},
                      {"index": 1, "value": 1, "op": "SCMP_CMP_EQ"},
                      {"index": 1, "value": 2, "op": "SCMP_CMP_EQ"}]}
        ]
    }));
    let socket = |d: u64, t: u64, p: u64| call(&f, Arch::X86_64, "socket", [d, t, p, 0, 0, 0]);
    assert_eq!(socket(1, 5, 0), SECCOMP_RET_ALLOW);
    assert_eq!(
        socket(1, 5, 5),
        EPERM,
        "second condition of the first rule fails"
    );
    assert_eq!(socket(2, 3, 6), SECCOMP_RET_ALLOW, "arg 0 alone (OR)");
    assert_eq!(socket(10, 1, 6), SECCOMP_RET_ALLOW, "arg 1 == 1 alone");
    assert_eq!(socket(10, 2, 6), SECCOMP_RET_ALLOW, "arg 1 == 2 alone");
    assert_eq!(socket(10, 3, 6), EPERM, "no condition holds");
}

#[test]
fn an_unconditional_rule_wins_over_conditional_ones_in_any_order() {
    for order in [0, 1] {
        let mut rules = vec![
            json!({"names": ["kill"], "action": "SCMP_ACT_ALLOW",
                   "args": [{"index": 1, "value": 0, "op": "SCMP_CMP_EQ"}]}),
            json!({"names": ["kill"], "action": "SCMP_ACT_TRAP"}),
            json!({"names": ["kill"], "action": "SCMP_ACT_LOG"}),
        ];
        if order == 1 {
            rules.swap(0, 1);
        }
        let f = build(json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": rules}));
        assert_eq!(
            call(&f, Arch::X86_64, "kill", [1, 0, 0, 0, 0, 0]),
            SECCOMP_RET_TRAP
        );
        assert_eq!(
            call(&f, Arch::X86_64, "kill", [1, 9, 0, 0, 0, 0]),
            SECCOMP_RET_TRAP
        );
    }
}

#[test]
fn a_rule_with_the_default_action_is_dropped() {
    // As runc: the EPERM rule equals the default and cannot shadow the ALLOW one.
    let f = build(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [
            {"names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
            {"names": ["socket"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 40, "op": "SCMP_CMP_NE"}]}
        ]
    }));
    assert_eq!(arg0(&f, Arch::X86_64, "socket", 2), SECCOMP_RET_ALLOW);
    assert_eq!(arg0(&f, Arch::X86_64, "socket", 40), EPERM);
}

#[test]
fn names_are_resolved_per_abi_and_unknown_names_are_ignored() {
    let f = build(json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [{"names": ["no_such_syscall", "socketcall", "mmap2", "getppid"],
                      "action": "SCMP_ACT_KILL_PROCESS"}]
    }));
    // socketcall is 102 on x86; 102 on x86_64 is getuid, which stays allowed.
    assert_eq!(
        call(&f, Arch::X86, "socketcall", [0; 6]),
        SECCOMP_RET_KILL_PROCESS
    );
    assert_eq!(
        call(&f, Arch::X86, "mmap2", [0; 6]),
        SECCOMP_RET_KILL_PROCESS
    );
    assert_eq!(call_nr(&f, Arch::X86_64, 102), SECCOMP_RET_ALLOW);
    assert_eq!(
        call(&f, Arch::X86_64, "getppid", [0; 6]),
        SECCOMP_RET_KILL_PROCESS
    );
    assert_eq!(
        call(&f, Arch::X86, "getppid", [0; 6]),
        SECCOMP_RET_KILL_PROCESS
    );
    assert_eq!(
        call(&f, Arch::X32, "getppid", [0; 6]),
        SECCOMP_RET_KILL_PROCESS
    );
    assert_eq!(call(&f, Arch::X86_64, "getpid", [0; 6]), SECCOMP_RET_ALLOW);
}

#[test]
fn x32_syscalls_carry_the_x32_bit_and_need_scmp_arch_x32() {
    let rules = json!([{"names": ["read", "rt_sigaction"], "action": "SCMP_ACT_ALLOW"}]);
    let with_x32 = build(json!({"defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X32"], "syscalls": rules}));
    let without = build(json!({"defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86_64"], "syscalls": rules}));
    assert_eq!(
        call_nr(&with_x32, Arch::X32, X32_SYSCALL_BIT),
        SECCOMP_RET_ALLOW,
        "x32 read"
    );
    assert_eq!(
        call_nr(&with_x32, Arch::X32, X32_SYSCALL_BIT | 512),
        SECCOMP_RET_ALLOW,
        "x32 rt_sigaction"
    );
    assert_eq!(
        call_nr(&with_x32, Arch::X32, X32_SYSCALL_BIT | 13),
        EPERM,
        "x86_64's rt_sigaction number with the x32 bit"
    );
    assert_eq!(
        call_nr(&with_x32, Arch::X32, X32_SYSCALL_BIT | 1),
        EPERM,
        "x32 write"
    );
    assert_eq!(call_nr(&with_x32, Arch::X86_64, 0), SECCOMP_RET_ALLOW);
    assert_eq!(
        call_nr(&without, Arch::X32, X32_SYSCALL_BIT),
        SECCOMP_RET_KILL_THREAD
    );
    assert_eq!(
        call_nr(&without, Arch::X32, X32_SYSCALL_BIT | 1),
        SECCOMP_RET_KILL_THREAD
    );
    assert_eq!(
        call_nr(&without, Arch::X86_64, u32::MAX),
        EPERM,
        "-1 (a tracer's skip) is not a bad arch"
    );
    assert_eq!(call_nr(&without, Arch::X86_64, 0), SECCOMP_RET_ALLOW);
}

#[test]
fn an_abi_not_in_the_filter_is_killed() {
    let f = build(json!({"defaultAction": "SCMP_ACT_ALLOW"}));
    assert_eq!(call_nr(&f, Arch::X86_64, 0), SECCOMP_RET_ALLOW);
    for arch in [Arch::X86, Arch::Aarch64, Arch::Arm] {
        assert_eq!(call_nr(&f, arch, 0), SECCOMP_RET_KILL_THREAD, "{arch:?}");
    }
    assert_eq!(
        run(f.instructions(), &SeccompData::new(0xc000_00f3, 0, [0; 6])),
        SECCOMP_RET_KILL_THREAD,
        "riscv64"
    );
}

#[test]
fn foreign_arches_are_skipped_and_aarch64_and_arm_tables_work() {
    let v = json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM", "SCMP_ARCH_PPC64LE", "SCMP_ARCH_S390X"],
        "syscalls": [{"names": ["openat", "open", "cacheflush"], "action": "SCMP_ACT_ALLOW"}]
    });
    for native in [Arch::X86_64, Arch::Aarch64] {
        let f = build_for(v.clone(), native);
        assert_eq!(call(&f, Arch::Aarch64, "openat", [0; 6]), SECCOMP_RET_ALLOW);
        assert_eq!(call_nr(&f, Arch::Aarch64, 25), EPERM, "aarch64 fcntl");
        assert_eq!(
            call_nr(&f, Arch::Aarch64, 57),
            ENOSYS,
            "aarch64 close: above openat, the highest named"
        );
        assert_eq!(call(&f, Arch::Arm, "open", [0; 6]), SECCOMP_RET_ALLOW);
        assert_eq!(call(&f, Arch::Arm, "cacheflush", [0; 6]), SECCOMP_RET_ALLOW);
        assert_eq!(call(&f, Arch::Arm, "close", [0; 6]), EPERM);
    }
    let on_arm64 = build_for(v, Arch::Aarch64);
    assert_eq!(call_nr(&on_arm64, Arch::X86_64, 0), SECCOMP_RET_KILL_THREAD);
}

#[test]
fn syscalls_newer_than_the_profile_get_enosys_like_runc() {
    let v = |default: &str, arches: Value| {
        json!({"defaultAction": default, "architectures": arches,
               "syscalls": [{"names": ["read", "write", "openat"], "action": "SCMP_ACT_ALLOW"},
                            {"names": ["pidfd_open"], "action": "SCMP_ACT_ERRNO"}]})
    };
    let f = build(v(
        "SCMP_ACT_ERRNO",
        json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]),
    ));
    let max64 = Arch::X86_64.syscall_number("pidfd_open").unwrap();
    assert_eq!(
        call_nr(&f, Arch::X86_64, 2),
        EPERM,
        "open: below the profile's highest number"
    );
    assert_eq!(call_nr(&f, Arch::X86_64, max64), EPERM);
    assert_eq!(call_nr(&f, Arch::X86_64, max64 + 1), ENOSYS);
    assert_eq!(call_nr(&f, Arch::X86_64, 0x3fff_ffff), ENOSYS);
    assert_eq!(
        call_nr(
            &f,
            Arch::X86,
            Arch::X86.syscall_number("pidfd_open").unwrap() + 1
        ),
        ENOSYS
    );
    assert_eq!(call_nr(&f, Arch::X86, 100_000), ENOSYS);
    // Not for an ABI missing from `architectures`, nor under a permissive default.
    let unlisted = build(v("SCMP_ACT_ERRNO", json!([])));
    assert_eq!(call_nr(&unlisted, Arch::X86_64, max64 + 1), EPERM);
    let permissive = build(v("SCMP_ACT_LOG", json!(["SCMP_ARCH_X86_64"])));
    assert_eq!(
        call_nr(&permissive, Arch::X86_64, max64 + 1),
        SECCOMP_RET_LOG
    );
    let killing = build(v("SCMP_ACT_KILL_PROCESS", json!(["SCMP_ARCH_X86_64"])));
    assert_eq!(call_nr(&killing, Arch::X86_64, max64 + 1), ENOSYS);
    assert_eq!(call_nr(&killing, Arch::X86_64, 2), SECCOMP_RET_KILL_PROCESS);
}

#[test]
fn flags_are_carried_to_the_filter() {
    let f = build(json!({"defaultAction": "SCMP_ACT_ALLOW",
        "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"]}));
    assert_eq!(
        f.flags().0,
        crate::FilterFlags::LOG | crate::FilterFlags::SPEC_ALLOW
    );
}

#[test]
fn every_syscall_with_its_own_argument_rule_needs_long_jumps_and_still_works() {
    // One conditional rule per x86_64 syscall: ~360 leaves of 5+ instructions,
    // so the binary search's jumps exceed 255 and go through trampolines.
    let rules: Vec<Value> = Arch::X86_64
        .syscalls()
        .map(|(name, nr)| json!({"names": [name], "action": "SCMP_ACT_ALLOW",
                                 "args": [{"index": 3, "value": nr as u64 + (1u64 << 32), "op": "SCMP_CMP_EQ"}]}))
        .collect();
    let f = build(json!({"defaultAction": "SCMP_ACT_KILL_PROCESS", "syscalls": rules}));
    assert!(
        f.instructions()
            .iter()
            .any(|i| i.code == crate::bpf::BPF_JMP),
        "no trampoline was needed"
    );
    for (name, nr) in Arch::X86_64.syscalls() {
        let ok = call(
            &f,
            Arch::X86_64,
            name,
            [0, 0, 0, nr as u64 + (1 << 32), 0, 0],
        );
        let bad = call(&f, Arch::X86_64, name, [0, 0, 0, nr as u64, 0, 0]);
        assert_eq!(
            (ok, bad),
            (SECCOMP_RET_ALLOW, SECCOMP_RET_KILL_PROCESS),
            "{name}"
        );
    }
}

#[test]
fn x86_socket_and_ipc_rules_also_apply_to_socketcall_and_ipc() {
    let f = build(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86"],
        "syscalls": [
            {"names": ["socket"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 40, "op": "SCMP_CMP_NE"}]},
            {"names": ["accept", "shmget"], "action": "SCMP_ACT_LOG"},
            {"names": ["msgget"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 5, "op": "SCMP_CMP_EQ"}]}
        ]
    }));
    let x86 = |nr: u32, a0: u64| {
        run(
            f.instructions(),
            &SeccompData::new(Arch::X86.audit_arch(), nr, [a0, 40, 0, 0, 0, 0]),
        )
    };
    // Direct syscalls keep their conditions.
    assert_eq!(x86(359, 2), SECCOMP_RET_ALLOW, "socket(AF_INET)");
    assert_eq!(x86(359, 40), EPERM, "socket(AF_VSOCK)");
    // socketcall(SYS_SOCKET, ...): the domain is in memory; libseccomp drops the condition.
    assert_eq!(x86(102, 1), SECCOMP_RET_ALLOW);
    assert_eq!(x86(102, 5), SECCOMP_RET_LOG, "SYS_ACCEPT");
    assert_eq!(x86(102, 3), EPERM, "SYS_CONNECT is not in the profile");
    // ipc(SHMGET = 23) for a rule without args; none for msgget, which has args.
    assert_eq!(x86(117, 23), SECCOMP_RET_LOG);
    assert_eq!(x86(117, 13), EPERM, "MSGGET: its rule has conditions");
    // Only on x86: 102 on x86_64 is getuid.
    assert_eq!(call_nr(&f, Arch::X86_64, 102), EPERM);
}

#[test]
fn the_enosys_stub_covers_socketcall_above_the_highest_named_number() {
    // As runc: the stub runs before the filter and counts names only; on x86
    // "accept" has no number of its own, so the highest is read's 3.
    let f = build(json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86"],
        "syscalls": [{"names": ["read", "accept"], "action": "SCMP_ACT_ALLOW"}]
    }));
    let x86 = |nr: u32, a0: u64| {
        run(
            f.instructions(),
            &SeccompData::new(Arch::X86.audit_arch(), nr, [a0, 0, 0, 0, 0, 0]),
        )
    };
    assert_eq!(x86(3, 0), SECCOMP_RET_ALLOW);
    assert_eq!(x86(2, 0), EPERM);
    assert_eq!(x86(50, 0), ENOSYS);
    assert_eq!(x86(102, 5), ENOSYS);
}
