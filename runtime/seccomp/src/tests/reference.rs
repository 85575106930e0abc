//! A reference evaluator: what a profile means for one `seccomp_data`, decided
//! straight from the profile (no intervals, no BPF), following the semantics
//! documented in `compile.rs`. Random profiles are compiled, run in the
//! interpreter and compared with it.

use berth_oci::{LinuxSeccomp, LinuxSeccompArg, SeccompAction, SeccompOperator};
use serde_json::json;

use super::interp::{check, run, SeccompData};
use crate::action::{self, SECCOMP_RET_ERRNO, SECCOMP_RET_KILL_THREAD};
use crate::arch::{Arch, ArchName, X32_SYSCALL_BIT};
use crate::compile_for;

fn holds(arg: &LinuxSeccompArg, data: &SeccompData, wide: bool) -> bool {
    let mut x = data.args[arg.index as usize];
    let (mut v, mut v2) = (arg.value, arg.value_two.unwrap_or(0));
    if !wide {
        x &= 0xffff_ffff;
        v &= 0xffff_ffff;
        v2 &= 0xffff_ffff;
    }
    match arg.op {
        SeccompOperator::Equal => x == v,
        SeccompOperator::NotEqual => x != v,
        SeccompOperator::LessThan => x < v,
        SeccompOperator::LessOrEqual => x <= v,
        SeccompOperator::GreaterThan => x > v,
        SeccompOperator::GreaterOrEqual => x >= v,
        SeccompOperator::MaskedEqual => x & v == v2 & v,
    }
}

fn ret(a: SeccompAction, e: Option<u32>) -> u32 {
    action::return_value(a, e, Some("x")).unwrap()
}

/// The ABI whose rules decide `data`, or the action decided before any rule.
fn abi_of(profile: &LinuxSeccomp, native: Arch, data: &SeccompData) -> Result<Arch, u32> {
    let default = ret(profile.default_action, profile.default_errno_ret);
    let listed = listed(profile);
    let in_filter = |a: Arch| a == native || listed.contains(&a);
    if data.arch == Arch::X86_64.audit_arch() {
        let wanted = if data.nr >= X32_SYSCALL_BIT {
            Arch::X32
        } else {
            Arch::X86_64
        };
        if !in_filter(Arch::X86_64) && !in_filter(Arch::X32) {
            return Err(SECCOMP_RET_KILL_THREAD);
        }
        if !in_filter(wanted) {
            return Err(if wanted == Arch::X32 && data.nr == u32::MAX {
                default
            } else {
                SECCOMP_RET_KILL_THREAD
            });
        }
        Ok(wanted)
    } else {
        Arch::ALL
            .into_iter()
            .find(|a| a.audit_arch() == data.arch && in_filter(*a))
            .ok_or(SECCOMP_RET_KILL_THREAD)
    }
}

fn listed(profile: &LinuxSeccomp) -> Vec<Arch> {
    profile
        .architectures
        .iter()
        .filter_map(|n| match Arch::parse(n) {
            Some(ArchName::Known(a)) => Some(a),
            _ => None,
        })
        .collect()
}

/// x86 socketcall's calls (`SYS_SOCKET` = 1, ...) and ipc's, by name.
const SOCKETCALLS: [&str; 20] = [
    "socket",
    "bind",
    "connect",
    "listen",
    "accept",
    "getsockname",
    "getpeername",
    "socketpair",
    "send",
    "recv",
    "sendto",
    "recvfrom",
    "shutdown",
    "setsockopt",
    "getsockopt",
    "sendmsg",
    "recvmsg",
    "accept4",
    "recvmmsg",
    "sendmmsg",
];
pub(crate) const IPC_CALLS: [(&str, u64); 12] = [
    ("semop", 1),
    ("semget", 2),
    ("semctl", 3),
    ("semtimedop", 4),
    ("msgsnd", 11),
    ("msgrcv", 12),
    ("msgget", 13),
    ("msgctl", 14),
    ("shmat", 21),
    ("shmdt", 22),
    ("shmget", 23),
    ("shmctl", 24),
];

/// The rules that can decide syscall `nr` of `abi`, as (conditions, action),
/// in priority order (a rule with two conditions on one index split into a
/// rule per condition, as runc splits it): the profile's (without those equal to the default
/// action), then on x86 the socketcall/ipc rules made from socket and IPC names.
fn candidates(profile: &LinuxSeccomp, abi: Arch, nr: u32) -> Vec<(Vec<LinuxSeccompArg>, u32)> {
    let default = ret(profile.default_action, profile.default_errno_ret);
    let mut out = Vec::new();
    for sc in &profile.syscalls {
        let r = ret(sc.action, sc.errno_ret);
        if r != default && sc.names.iter().any(|n| abi.syscall_number(n) == Some(nr)) {
            // Two conditions on one index: each is a rule of its own (runc).
            let split = (0..6).any(|i| sc.args.iter().filter(|a| a.index == i).count() > 1);
            if split {
                out.extend(sc.args.iter().map(|a| (vec![a.clone()], r)));
            } else {
                out.push((sc.args.clone(), r));
            }
        }
    }
    if abi == Arch::X86 && (nr == 102 || nr == 117) {
        for sc in &profile.syscalls {
            let r = ret(sc.action, sc.errno_ret);
            for name in &sc.names {
                let call = if nr == 102 {
                    SOCKETCALLS
                        .iter()
                        .position(|c| c == name)
                        .map(|i| i as u64 + 1)
                } else if sc.args.is_empty() {
                    IPC_CALLS.iter().find(|(c, _)| c == name).map(|(_, k)| *k)
                } else {
                    None // libseccomp's result is not well defined: none made
                };
                if let (Some(call), true) = (call, r != default) {
                    let arg = LinuxSeccompArg {
                        index: 0,
                        value: call,
                        value_two: None,
                        op: SeccompOperator::Equal,
                    };
                    out.push((vec![arg], r));
                }
            }
        }
    }
    out
}

/// Whether rules with args and different actions both hold for `data` (and no
/// rule without args decides): runtimes resolve that differently (we take the
/// first listed; libseccomp merges rules into a tree).
pub(crate) fn ambiguous(profile: &LinuxSeccomp, native: Arch, data: &SeccompData) -> bool {
    let Ok(abi) = abi_of(profile, native, data) else {
        return false;
    };
    let wide = abi.compares_64_bits();
    let mut holding = Vec::new();
    for (args, r) in candidates(profile, abi, data.nr) {
        if crate::compiler::is_unconditional(&args, wide) {
            return false;
        }
        if args.iter().all(|a| holds(a, data, wide)) && !holding.contains(&r) {
            holding.push(r);
        }
    }
    holding.len() > 1
}

/// The action `profile`, compiled for `native`, must return for `data`.
pub(crate) fn evaluate(profile: &LinuxSeccomp, native: Arch, data: &SeccompData) -> u32 {
    let default = ret(profile.default_action, profile.default_errno_ret);
    let listed = listed(profile);
    let abi = match abi_of(profile, native, data) {
        Ok(abi) => abi,
        Err(action) => return action,
    };
    // runc's ENOSYS stub runs before the filter: above the highest number the
    // profile names for a listed ABI, nothing else matters.
    let max = profile
        .syscalls
        .iter()
        .flat_map(|sc| &sc.names)
        .filter_map(|n| abi.syscall_number(n))
        .max()
        .unwrap_or(0);
    let permissive = matches!(
        profile.default_action,
        SeccompAction::Allow | SeccompAction::Log | SeccompAction::Trace
    );
    if !permissive && listed.contains(&abi) && max > 0 && data.nr > max {
        return SECCOMP_RET_ERRNO | libc::ENOSYS as u32;
    }
    let wide = abi.compares_64_bits();
    let candidates = candidates(profile, abi, data.nr);
    if let Some((_, r)) = candidates
        .iter()
        .find(|(args, _)| crate::compiler::is_unconditional(args, wide))
    {
        return *r;
    }
    for (args, r) in &candidates {
        if args.iter().all(|a| holds(a, data, wide)) {
            return *r;
        }
    }
    default
}

/// xorshift64*: deterministic, so a failure reproduces.
pub(crate) struct Rng(pub u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const NAMES: &[&str] = &[
    "read",
    "write",
    "open",
    "openat",
    "close",
    "mmap",
    "mmap2",
    "socket",
    "socketcall",
    "personality",
    "clone",
    "clone3",
    "getpid",
    "getppid",
    "mkdir",
    "mkdirat",
    "kill",
    "ioctl",
    "fcntl",
    "fcntl64",
    "set_tls",
    "cacheflush",
    "rt_sigaction",
    "process_mrelease",
    "no_such_syscall",
    "set_mempolicy_home_node",
];

const VALUES: &[u64] = &[
    0,
    1,
    2,
    3,
    7,
    8,
    23,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    0x1_0000_0000,
    0x1_0000_0001,
    0x2_0000_0000,
    0x8000_0000_0000_0000,
    u64::MAX,
    u64::MAX - 1,
    0xffff_ffff_0000_0000,
];

/// Every name of every ABI, one list per ABI.
pub(crate) fn all_names() -> Vec<Vec<&'static str>> {
    Arch::ALL
        .iter()
        .map(|a| a.syscalls().map(|(name, _)| name).collect())
        .collect()
}

/// A random profile; `distinct_indexes`: no two args of a rule on the same index.
pub(crate) fn random_profile(
    rng: &mut Rng,
    all_names: &[Vec<&'static str>],
    distinct_indexes: bool,
) -> LinuxSeccomp {
    let actions = [
        json!({"action": "SCMP_ACT_ALLOW"}),
        json!({"action": "SCMP_ACT_ERRNO"}),
        json!({"action": "SCMP_ACT_ERRNO", "errnoRet": 38}),
        json!({"action": "SCMP_ACT_ERRNO", "errnoRet": 22}),
        json!({"action": "SCMP_ACT_KILL_PROCESS"}),
        json!({"action": "SCMP_ACT_KILL"}),
        json!({"action": "SCMP_ACT_TRAP"}),
        json!({"action": "SCMP_ACT_TRACE", "errnoRet": 1234}),
        json!({"action": "SCMP_ACT_LOG"}),
    ];
    let ops = [
        "SCMP_CMP_EQ",
        "SCMP_CMP_NE",
        "SCMP_CMP_LT",
        "SCMP_CMP_LE",
        "SCMP_CMP_GT",
        "SCMP_CMP_GE",
        "SCMP_CMP_MASKED_EQ",
    ];
    let arch_names = [
        "SCMP_ARCH_X86_64",
        "SCMP_ARCH_X86",
        "SCMP_ARCH_X32",
        "SCMP_ARCH_AARCH64",
        "SCMP_ARCH_ARM",
        "SCMP_ARCH_PPC64LE",
    ];
    let default = rng.pick(&actions).clone();
    let architectures: Vec<&str> = arch_names
        .iter()
        .copied()
        .filter(|_| rng.below(2) == 0)
        .collect();
    let mut syscalls = Vec::new();
    // Now and then a large profile, for long jumps through trampolines.
    let rules = if rng.below(10) == 0 {
        150 + rng.below(250)
    } else {
        rng.below(12)
    };
    for _ in 0..rules {
        let names: Vec<&str> = (0..1 + rng.below(3))
            .map(|_| match rng.below(2) {
                0 => *rng.pick(NAMES),
                _ => {
                    let names = &all_names[rng.below(all_names.len())];
                    *rng.pick(names)
                }
            })
            .collect();
        let nargs = if rules > 100 && rng.below(20) != 0 {
            0
        } else {
            [0, 0, 1, 1, 2, 3][rng.below(6)]
        };
        let mut indexes = vec![0, 1, 2];
        let args: Vec<_> = (0..nargs)
            .map(|_| {
                let index = if distinct_indexes {
                    indexes.remove(rng.below(indexes.len()))
                } else {
                    rng.below(3)
                };
                json!({"index": index, "value": *rng.pick(VALUES),
                       "valueTwo": *rng.pick(VALUES), "op": *rng.pick(&ops)})
            })
            .collect();
        let mut rule = rng.pick(&actions).clone();
        rule["names"] = json!(names);
        rule["args"] = json!(args);
        syscalls.push(rule);
    }
    let mut profile = json!({
        "defaultAction": default["action"],
        "architectures": architectures,
        "syscalls": syscalls,
    });
    if let Some(e) = default.get("errnoRet") {
        profile["defaultErrnoRet"] = e.clone();
    }
    serde_json::from_value(profile).unwrap()
}

pub(crate) fn random_data(rng: &mut Rng, profile: &LinuxSeccomp) -> SeccompData {
    let abi = *rng.pick(&Arch::ALL);
    let arch = if rng.below(20) == 0 {
        0xc000_00f3
    } else {
        abi.audit_arch()
    };
    let nr = match rng.below(8) {
        0 => rng.below(600) as u32,
        1 => u32::MAX,
        2 => X32_SYSCALL_BIT + rng.below(600) as u32,
        3 => abi.max_syscall_number() + 1,
        // x86's multiplexers, socketcall and ipc.
        4 if abi == Arch::X86 => [102, 117][rng.below(2)],
        _ => {
            let names: Vec<&String> = profile.syscalls.iter().flat_map(|s| &s.names).collect();
            let name = if names.is_empty() {
                "read"
            } else {
                rng.pick(&names).as_str()
            };
            abi.syscall_number(name).unwrap_or(0)
        }
    };
    let mut args = [0u64; 6];
    for a in args.iter_mut() {
        *a = *rng.pick(VALUES);
    }
    SeccompData::new(arch, nr, args)
}

#[test]
fn random_profiles_behave_as_the_reference_says() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let all_names = all_names();
    let (mut checked, mut with_long_jumps) = (0, 0);
    for round in 0..3000 {
        let profile = random_profile(&mut rng, &all_names, false);
        for native in [Arch::X86_64, Arch::Aarch64] {
            let filter = compile_for(&profile, native).expect("random profile compiles");
            check(filter.instructions());
            if filter
                .instructions()
                .iter()
                .any(|i| i.code == crate::bpf::BPF_JMP)
            {
                with_long_jumps += 1; // BPF_JMP|BPF_JA == BPF_JMP: a trampoline
            }
            for _ in 0..40 {
                let data = random_data(&mut rng, &profile);
                let want = evaluate(&profile, native, &data);
                let got = run(filter.instructions(), &data);
                assert_eq!(
                    got, want,
                    "round {round}, native {native:?}, data {data:?}: got {got:#x}, want {want:#x}\nprofile: {}",
                    serde_json::to_string(&profile).unwrap()
                );
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 3000 * 2 * 40);
    assert!(
        with_long_jumps > 100,
        "only {with_long_jumps} programs needed long jumps"
    );
}
