//! From an OCI `linux.seccomp` profile to a BPF program.
//!
//! # What the program looks like
//!
//! ```text
//! ld  [arch]                                  seccomp_data.arch
//! jeq AUDIT_ARCH_<native>, 0, next_arch       one section per ABI, native first
//!   ld  [nr]
//!   <binary search over syscall-number intervals>   jge splits, log2(n) deep
//!     leaf: ret <action>                      a run of numbers with one outcome
//!     leaf: <argument checks> ... ret <action>; ret <default>
//! next_arch: jeq AUDIT_ARCH_<other>, ...
//! ret KILL_THREAD                              an ABI the profile does not list
//! ```
//!
//! Each ABI's syscall-number space (all 2^32 values) is cut into intervals with
//! one outcome each: a syscall the profile names, the default action for the
//! gaps, ENOSYS above the profile's highest number. Neighbouring intervals with
//! the same unconditional action are merged, so an allow-list of ~370 syscalls
//! becomes a few hundred instructions per ABI, and a syscall costs a handful of
//! comparisons instead of a walk down a list. Podman's default profile compiles
//! to far fewer than `BPF_MAXINSNS` (4096) instructions: see the crate
//! documentation for figures.
//!
//! # Semantics, matched with runc + libseccomp (the runtimes engines compare us with)
//!
//! * The native ABI is always in the filter; `architectures` adds more. x32 is
//!   part of the x86_64 section, told apart by `__X32_SYSCALL_BIT`; without
//!   `SCMP_ARCH_X32` an x32 syscall gets the bad-architecture action, except
//!   number -1, which tracers use to skip a syscall (libseccomp's `_gen_bpf_arch`).
//! * An ABI not in the filter gets `SECCOMP_RET_KILL_THREAD`, libseccomp's
//!   default `SCMP_FLTATR_ACT_BADARCH`, which runc keeps.
//! * Architecture names libseccomp knows but we have no table for (MIPS, PPC,
//!   s390, RISC-V, ...) cannot run on an x86_64 or aarch64 host and are left out;
//!   names nobody knows are an error.
//! * A syscall name an ABI does not have is skipped for that ABI (libseccomp
//!   resolves names per ABI; runc skips names libseccomp does not know at all).
//!   Our tables come from Linux 6.1's headers (see `gen-tables.py`).
//! * A rule whose action equals the default action is dropped (runc's
//!   `matchCall`), so it cannot shadow other rules for the same syscall.
//! * For one syscall, a rule without `args` wins over rules with args, and the
//!   first such rule wins over later ones (libseccomp's `db_rule_add`). A
//!   condition that always holds (`SCMP_CMP_MASKED_EQ` with a mask of 0 on the
//!   compared bits) is dropped as libseccomp does; a rule left without
//!   conditions counts as a rule without args.
//!   Otherwise the rules are tried in profile order and the first whose
//!   conditions all hold decides; none holding means the default action.
//!   (Where rules with different actions overlap, libseccomp's merged tree may
//!   decide otherwise, and it refuses identical conditions with different
//!   actions, EEXIST, failing runc; we accept them, first listed wins.)
//! * On x86, a rule on a socket syscall (`socket`, `connect`, ...) also applies
//!   to `socketcall` with `args[0]` its call number and no other condition, and
//!   a rule without args on a SysV IPC syscall (`shmget`, ...) to `ipc`, after
//!   the profile's own rules: libseccomp's multiplexing (see
//!   `multiplexed_on_x86`).
//! * All `args` of one rule must hold (AND), unless two name the same index:
//!   then, as runc 1.1's `matchCall`, each condition is a rule of its own and
//!   any one holding decides (an OR). runc's own seccomp.bats relies on it
//!   (`process_vm_readv` allowed for pid 100 or 9001); crun ANDs them.
//! * On 64-bit ABIs an argument is compared as the full 64-bit value, one 32-bit
//!   half at a time; on x86, arm and x32 only the low 32 bits are compared, with
//!   the profile's value truncated (libseccomp's `ARCH_SIZE_32`).
//!   `SCMP_CMP_MASKED_EQ` is `(arg & value) == (valueTwo & value)`: libseccomp
//!   masks the datum too (`_db_node_mask_fixup`), so a 32-bit half whose mask
//!   is 0 always matches.
//! * If the default action refuses syscalls (not ALLOW, LOG or TRACE), a syscall
//!   numbered above the highest number the profile names for a listed ABI gets
//!   `ERRNO(ENOSYS)`, as runc's `patchbpf` ENOSYS stub does: a syscall newer than
//!   the profile then looks absent, and libc falls back (clone3 -> clone).
//!   Like runc, only ABIs named in `architectures` get this.

use berth_oci::{LinuxSeccomp, LinuxSeccompArg, SeccompOperator};

use crate::action::{self, SECCOMP_RET_ERRNO, SECCOMP_RET_KILL_THREAD};
use crate::arch::{Arch, ArchName, X32_SYSCALL_BIT};
use crate::bpf::{Assembler, Cmp, Label, Target, MAX_INSTRUCTIONS};
use crate::filter::{Filter, FilterFlags};
use crate::tables;

/// What can be wrong with a profile. Every message names the syscall, arch,
/// flag or value at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SeccompError {
    /// `SCMP_ACT_NOTIFY` as `defaultAction` (runc 1.1's message).
    #[error("SCMP_ACT_NOTIFY cannot be used as default action")]
    NotifyDefault,
    /// `SCMP_ACT_NOTIFY` on `write` (runc 1.1's message).
    #[error("SCMP_ACT_NOTIFY cannot be used for the write syscall")]
    NotifyWrite,
    /// The host's ABI has no syscall table in this crate.
    #[error("not implemented: seccomp on this host architecture ({0})")]
    UnsupportedHost(&'static str),
    /// An `architectures` entry that is no `SCMP_ARCH_*` name.
    #[error("seccomp: unknown architecture {0:?}")]
    UnknownArchitecture(String),
    /// A `flags` entry that is no `SECCOMP_FILTER_FLAG_*` name the spec allows.
    #[error("seccomp: unknown flag {0:?}")]
    UnknownFlag(String),
    /// A `syscalls` entry with no names.
    #[error("seccomp: syscalls[{index}] has an empty names list")]
    EmptyNames { index: usize },
    /// A `syscalls` entry with an empty string among its names.
    #[error("seccomp: syscalls[{index}] has an empty syscall name")]
    EmptyName { index: usize },
    /// An argument index past the sixth argument.
    #[error("seccomp: arg index {index} of syscall {syscall:?} is out of range (0-5)")]
    ArgIndexOutOfRange { syscall: String, index: u32 },
    /// `errnoRet` (or `defaultErrnoRet`) larger than the action can carry.
    #[error(
        "seccomp: {} {value}{} is out of range (0-{max})",
        if .syscall.is_some() { "errnoRet" } else { "defaultErrnoRet" },
        .syscall.as_ref().map(|s| format!(" of syscall {s:?}")).unwrap_or_default()
    )]
    ErrnoRetOutOfRange {
        syscall: Option<String>,
        value: u32,
        max: u32,
    },
    /// The program would be longer than the kernel accepts.
    #[error(
        "seccomp: the compiled filter has {0} instructions, more than the kernel's limit of 4096"
    )]
    TooLong(usize),
}

/// Compiles `profile` for the ABI of this host (plus the ABIs it lists).
///
/// Call it before `clone`: the child then only has to [`Filter::install`].
pub fn compile(profile: &LinuxSeccomp) -> Result<Filter, SeccompError> {
    let native = Arch::native().ok_or(SeccompError::UnsupportedHost(std::env::consts::ARCH))?;
    compile_for(profile, native)
}

/// Compiles `profile` as for a host whose native ABI is `native`; [`compile`]
/// with the host's ABI. Lets tests and tools build filters for other hosts.
pub fn compile_for(profile: &LinuxSeccomp, native: Arch) -> Result<Filter, SeccompError> {
    let default = action::return_value(profile.default_action, profile.default_errno_ret, None)?;
    let mut flags = FilterFlags::parse(&profile.flags)?;
    // A filter that notifies is installed with a listener, whose fd goes to
    // the seccomp agent; WAIT_KILLABLE_RECV is only valid with one (the
    // kernel refuses it otherwise), so it is passed only then, as libseccomp.
    if profile
        .syscalls
        .iter()
        .any(|s| s.action == berth_oci::SeccompAction::Notify)
    {
        flags.0 |= FilterFlags::NEW_LISTENER;
    } else {
        flags.0 &= !FilterFlags::WAIT_KILLABLE_RECV;
    }

    // ABIs: the native one always (libseccomp's seccomp_init), then the listed ones.
    let mut abis = vec![native];
    let mut listed = Vec::with_capacity(profile.architectures.len());
    for name in &profile.architectures {
        match Arch::parse(name) {
            None => return Err(SeccompError::UnknownArchitecture(name.clone())),
            Some(ArchName::Foreign) => {}
            Some(ArchName::Known(arch)) => {
                if !abis.contains(&arch) {
                    abis.push(arch);
                }
                if !listed.contains(&arch) {
                    listed.push(arch);
                }
            }
        }
    }

    let mut rules = resolve_rules(profile, default)?;
    // Each name is looked up once, for all ABIs; unknown names drop out here.
    let mut named = Vec::with_capacity(512);
    for (i, sc) in profile.syscalls.iter().enumerate() {
        for name in &sc.names {
            if let Some(nrs) = tables::lookup(name) {
                named.push(Named {
                    rule: i as u32,
                    nrs,
                    multiplexed: false,
                });
            }
        }
    }
    // x86's socketcall/ipc rules for socket and SysV IPC names (see
    // `multiplexed_on_x86`); they come after every rule of the profile.
    let mux = if abis.contains(&Arch::X86) {
        multiplexed_on_x86(profile)
    } else {
        Vec::new()
    };
    for (j, m) in mux.iter().enumerate() {
        let of = &rules[m.rule];
        rules.push(Rule {
            ret: of.ret,
            args: &m.subcall,
            split: false,
            redundant: of.redundant,
        });
        named.push(Named {
            rule: (profile.syscalls.len() + j) as u32,
            nrs: m.nrs,
            multiplexed: true,
        });
    }
    let enosys_stub = !action::is_permissive(profile.default_action);
    let ctx = Context {
        rules: &rules,
        named: &named,
        default,
    };

    let mut asm = Assembler::with_capacity(1024);
    asm.load(OFFSET_ARCH);
    let mut done: Vec<u32> = Vec::with_capacity(abis.len());
    for &arch in &abis {
        let audit = arch.audit_arch();
        if done.contains(&audit) {
            continue; // x32 and x86_64 share one section
        }
        done.push(audit);
        let section = Section::new(arch, &abis, &listed, enosys_stub, &ctx);
        let next_arch = asm.label();
        asm.jump(Cmp::Eq, audit, Target::Next, Target::To(next_arch));
        asm.load(OFFSET_NR);
        section.emit(&mut asm, &ctx);
        asm.bind(next_arch);
    }
    asm.ret(BAD_ARCH_ACTION);

    let program = asm.finish().map_err(|t| SeccompError::TooLong(t.0))?;
    debug_assert!(program.len() <= MAX_INSTRUCTIONS);
    Ok(Filter::new(program, flags))
}

/// `offsetof(struct seccomp_data, nr)`
const OFFSET_NR: u32 = 0;
/// `offsetof(struct seccomp_data, arch)`
const OFFSET_ARCH: u32 = 4;
/// `offsetof(struct seccomp_data, args)`
const OFFSET_ARGS: u32 = 16;
/// libseccomp's default `SCMP_FLTATR_ACT_BADARCH`.
const BAD_ARCH_ACTION: u32 = SECCOMP_RET_KILL_THREAD;
const ENOSYS_ACTION: u32 = SECCOMP_RET_ERRNO | libc::ENOSYS as u32;
/// The syscall number tracers set to skip a syscall.
const SKIPPED_SYSCALL: u32 = u32::MAX;

/// One `syscalls` entry, checked, with its return value.
struct Rule<'p> {
    ret: u32,
    args: &'p [LinuxSeccompArg],
    /// Two conditions name the same index: each is a rule of its own (OR),
    /// as runc splits them.
    split: bool,
    /// Dropped because its action is the default action (runc's `matchCall`).
    redundant: bool,
}

/// A name of a rule, with its number on every ABI (`tables::NONE`: absent).
struct Named {
    rule: u32,
    nrs: &'static [u32; tables::ABIS.len()],
    /// An x86 socketcall/ipc entry made for a socket or IPC name: not a name
    /// of the profile, so not counted for the ENOSYS stub (runc counts names).
    multiplexed: bool,
}

/// The multiplexer (`socketcall` 102 or `ipc` 117) and call number of an x86
/// socket or SysV IPC syscall: `SYS_*` of `include/uapi/linux/net.h`, the
/// call numbers of `include/uapi/linux/ipc.h`. A `match`, not a table search:
/// it runs for every name of the profile.
fn x86_multiplexer(name: &str) -> Option<(Multiplexer, u32)> {
    let socketcall = |call| Some((Multiplexer::Socketcall, call));
    let ipc = |call| Some((Multiplexer::Ipc, call));
    match name {
        "socket" => socketcall(1),
        "bind" => socketcall(2),
        "connect" => socketcall(3),
        "listen" => socketcall(4),
        "accept" => socketcall(5),
        "getsockname" => socketcall(6),
        "getpeername" => socketcall(7),
        "socketpair" => socketcall(8),
        "send" => socketcall(9),
        "recv" => socketcall(10),
        "sendto" => socketcall(11),
        "recvfrom" => socketcall(12),
        "shutdown" => socketcall(13),
        "setsockopt" => socketcall(14),
        "getsockopt" => socketcall(15),
        "sendmsg" => socketcall(16),
        "recvmsg" => socketcall(17),
        "accept4" => socketcall(18),
        "recvmmsg" => socketcall(19),
        "sendmmsg" => socketcall(20),
        "semop" => ipc(1),
        "semget" => ipc(2),
        "semctl" => ipc(3),
        "semtimedop" => ipc(4),
        "msgsnd" => ipc(11),
        "msgrcv" => ipc(12),
        "msgget" => ipc(13),
        "msgctl" => ipc(14),
        "shmat" => ipc(21),
        "shmdt" => ipc(22),
        "shmget" => ipc(23),
        "shmctl" => ipc(24),
        _ => None,
    }
}

/// x86's two multiplexing syscalls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Multiplexer {
    /// `socketcall` (102)
    Socketcall,
    /// `ipc` (117)
    Ipc,
}

static X86_SOCKETCALL: [u32; tables::ABIS.len()] = x86_only(102);
static X86_IPC: [u32; tables::ABIS.len()] = x86_only(117);

const fn x86_only(nr: u32) -> [u32; tables::ABIS.len()] {
    let mut nrs = [tables::NONE; tables::ABIS.len()];
    nrs[1] = nr; // Arch::X86.column()
    nrs
}

/// One rule of the profile, repeated on x86's multiplexer for one of its names.
struct Multiplexed {
    rule: usize,
    nrs: &'static [u32; tables::ABIS.len()],
    /// `args[0] == call`: the only condition (the others are in memory).
    subcall: [LinuxSeccompArg; 1],
}

/// libseccomp (arch-x86.c) turns a rule on a socket or SysV IPC syscall into
/// two on x86: the direct syscall with the rule's conditions (Linux 4.3+ and
/// 5.1+ have them) and `socketcall`/`ipc` with `args[0] == call number`, so a
/// 32-bit libc that still multiplexes keeps working. We do the same where
/// libseccomp 2.5's result is well defined: every socket rule (its other
/// conditions dropped: the multiplexed arguments sit in memory, out of a
/// filter's reach), and IPC rules without conditions. (For an IPC rule with
/// conditions libseccomp keeps them at unshifted indexes, or adds nothing; we
/// add nothing.)
fn multiplexed_on_x86(profile: &LinuxSeccomp) -> Vec<Multiplexed> {
    let mut out = Vec::new();
    for (rule, sc) in profile.syscalls.iter().enumerate() {
        for name in &sc.names {
            let (nrs, call) = match x86_multiplexer(name) {
                Some((Multiplexer::Socketcall, call)) => (&X86_SOCKETCALL, call),
                Some((Multiplexer::Ipc, call)) if sc.args.is_empty() => (&X86_IPC, call),
                _ => continue,
            };
            out.push(Multiplexed {
                rule,
                nrs,
                subcall: [LinuxSeccompArg {
                    index: 0,
                    value: u64::from(call),
                    value_two: None,
                    op: SeccompOperator::Equal,
                }],
            });
        }
    }
    out
}

struct Context<'p> {
    rules: &'p [Rule<'p>],
    named: &'p [Named],
    default: u32,
}

fn resolve_rules(profile: &LinuxSeccomp, default: u32) -> Result<Vec<Rule<'_>>, SeccompError> {
    let mut rules = Vec::with_capacity(profile.syscalls.len());
    for (index, sc) in profile.syscalls.iter().enumerate() {
        let first = sc.names.first().ok_or(SeccompError::EmptyNames { index })?;
        if sc.names.iter().any(String::is_empty) {
            return Err(SeccompError::EmptyName { index });
        }
        if sc.action == berth_oci::SeccompAction::Notify && sc.names.iter().any(|n| n == "write") {
            return Err(SeccompError::NotifyWrite);
        }
        let ret = action::return_value(sc.action, sc.errno_ret, Some(first))?;
        if let Some(arg) = sc.args.iter().find(|a| a.index > 5) {
            return Err(SeccompError::ArgIndexOutOfRange {
                syscall: first.clone(),
                index: arg.index,
            });
        }
        let split = (0..6).any(|i| sc.args.iter().filter(|a| a.index == i).count() > 1);
        rules.push(Rule {
            ret,
            args: &sc.args,
            split,
            redundant: ret == default,
        });
    }
    Ok(rules)
}

/// A syscall number with one rule that names it: `nr << 32 | rule index`,
/// so that sorting plain integers orders by number, then profile order.
type Entry = u64;

fn entry(nr: u32, rule: u32) -> Entry {
    u64::from(nr) << 32 | u64::from(rule)
}

fn entry_nr(e: Entry) -> u32 {
    (e >> 32) as u32
}

fn entry_rule(e: Entry) -> usize {
    e as u32 as usize
}

/// What happens to the syscalls of one interval.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Ret(u32),
    /// Argument checks of the rules in `entries[start..end]` (one syscall).
    Checks {
        start: usize,
        end: usize,
    },
}

/// The code for one `AUDIT_ARCH_*` value: sorted entries and the intervals
/// they cut the syscall-number space into.
struct Section {
    entries: Vec<Entry>,
    /// Whether arguments are compared as 64-bit values, below and above
    /// `X32_SYSCALL_BIT` (x86_64 and x32 share a section).
    wide: [bool; 2],
    /// `(first number, outcome)`, sorted; each runs up to the next one's start.
    intervals: Vec<(u32, Outcome)>,
}

impl Section {
    fn new(arch: Arch, abis: &[Arch], listed: &[Arch], stub: bool, ctx: &Context) -> Section {
        let wide = arch.compares_64_bits();
        let mut section = Section {
            entries: Vec::with_capacity(512),
            wide: [wide, wide],
            intervals: Vec::with_capacity(256),
        };
        let stub_max = |section: &mut Section, abi: Arch| -> Option<u32> {
            let max = section.collect(abi, ctx);
            // runc adds no stub for an ABI whose highest number is 0.
            (stub && listed.contains(&abi))
                .then_some(max)
                .flatten()
                .filter(|&m| m > 0)
        };
        if arch == Arch::X86_64 || arch == Arch::X32 {
            // One section for both ABIs behind AUDIT_ARCH_X86_64.
            let x86_64 = abis.contains(&Arch::X86_64);
            let x32 = abis.contains(&Arch::X32);
            section.wide = [true, false];
            let max64 = if x86_64 {
                stub_max(&mut section, Arch::X86_64)
            } else {
                None
            };
            let max32 = if x32 {
                stub_max(&mut section, Arch::X32)
            } else {
                None
            };
            section.entries.sort_unstable();
            let split = section
                .entries
                .partition_point(|&e| entry_nr(e) < X32_SYSCALL_BIT);
            if x86_64 {
                section.fill(0, X32_SYSCALL_BIT - 1, 0, split, max64, ctx);
            } else {
                section.push(0, Outcome::Ret(BAD_ARCH_ACTION));
            }
            if x32 {
                let end = section.entries.len();
                section.fill(X32_SYSCALL_BIT, u32::MAX, split, end, max32, ctx);
            } else {
                section.push(X32_SYSCALL_BIT, Outcome::Ret(BAD_ARCH_ACTION));
                section.push(SKIPPED_SYSCALL, Outcome::Ret(ctx.default));
            }
        } else {
            let max = stub_max(&mut section, arch);
            section.entries.sort_unstable();
            let end = section.entries.len();
            section.fill(0, u32::MAX, 0, end, max, ctx);
        }
        section
    }

    /// Adds an entry for every (rule, name) the ABI has; returns the highest
    /// number named (redundant rules included, as in runc's `findLastSyscalls`).
    fn collect(&mut self, abi: Arch, ctx: &Context) -> Option<u32> {
        let column = abi.column();
        let mut max = None;
        for named in ctx.named {
            let nr = named.nrs[column];
            if nr == tables::NONE {
                continue;
            }
            if !named.multiplexed {
                max = max.max(Some(nr));
            }
            if !ctx.rules[named.rule as usize].redundant {
                self.entries.push(entry(nr, named.rule));
            }
        }
        max
    }

    fn push(&mut self, first: u32, outcome: Outcome) {
        if let Some((_, last)) = self.intervals.last() {
            if *last == outcome && matches!(outcome, Outcome::Ret(_)) {
                return; // the previous interval extends over this one
            }
        }
        self.intervals.push((first, outcome));
    }

    /// Cuts `[lo, hi]` into intervals from `entries[start..end]` (sorted, all
    /// within the range); numbers above `stub_max` get ENOSYS.
    fn fill(
        &mut self,
        lo: u32,
        hi: u32,
        start: usize,
        end: usize,
        stub_max: Option<u32>,
        ctx: &Context,
    ) {
        let mut next = u64::from(lo);
        let mut i = start;
        // Above the stub's limit only x86 socketcall/ipc entries can be (the
        // limit is the highest number a name has); runc's stub runs first and
        // answers ENOSYS for them too.
        let end = match stub_max {
            Some(max) => start + self.entries[start..end].partition_point(|&e| entry_nr(e) <= max),
            None => end,
        };
        while i < end {
            let nr = entry_nr(self.entries[i]);
            let mut j = i;
            while j < end && entry_nr(self.entries[j]) == nr {
                j += 1;
            }
            if u64::from(nr) > next {
                self.push(next as u32, Outcome::Ret(ctx.default));
            }
            // The first rule without (effective) args wins; else the
            // argument checks decide.
            let wide = self.wide[usize::from(nr >= X32_SYSCALL_BIT)];
            let unconditional = self.entries[i..j]
                .iter()
                .find(|&&e| ctx.rules[entry_rule(e)].always_holds(wide));
            let outcome = match unconditional {
                Some(&e) => Outcome::Ret(ctx.rules[entry_rule(e)].ret),
                None => Outcome::Checks { start: i, end: j },
            };
            self.push(nr, outcome);
            next = u64::from(nr) + 1;
            i = j;
        }
        let hi = u64::from(hi);
        if let Some(max) = stub_max {
            if next <= u64::from(max) {
                self.push(next as u32, Outcome::Ret(ctx.default));
            }
            next = next.max(u64::from(max) + 1);
            if next <= hi {
                self.push(next as u32, Outcome::Ret(ENOSYS_ACTION));
            }
        } else if next <= hi {
            self.push(next as u32, Outcome::Ret(ctx.default));
        }
    }

    /// Emits the binary search; the syscall number is in the accumulator.
    fn emit(&self, asm: &mut Assembler, ctx: &Context) {
        self.emit_tree(asm, &self.intervals, ctx);
    }

    fn emit_tree(&self, asm: &mut Assembler, intervals: &[(u32, Outcome)], ctx: &Context) {
        if let [(_, outcome)] = intervals {
            return self.emit_outcome(asm, outcome, ctx);
        }
        // Every leaf ends in `ret`, so the accumulator still holds the syscall
        // number wherever a jump of the search lands.
        let mid = intervals.len() / 2;
        let upper = asm.label();
        asm.jump(Cmp::Ge, intervals[mid].0, Target::To(upper), Target::Next);
        self.emit_tree(asm, &intervals[..mid], ctx);
        asm.bind(upper);
        self.emit_tree(asm, &intervals[mid..], ctx);
    }

    fn emit_outcome(&self, asm: &mut Assembler, outcome: &Outcome, ctx: &Context) {
        match *outcome {
            Outcome::Ret(k) => asm.ret(k),
            Outcome::Checks { start, end } => {
                for &e in &self.entries[start..end] {
                    let rule = &ctx.rules[entry_rule(e)];
                    let wide = self.wide[usize::from(entry_nr(e) >= X32_SYSCALL_BIT)];
                    if rule.split {
                        for arg in rule.args {
                            let next = asm.label();
                            emit_condition(asm, arg, wide, next);
                            asm.ret(rule.ret);
                            asm.bind(next);
                        }
                        continue;
                    }
                    let next_rule = asm.label();
                    for arg in rule.args {
                        emit_condition(asm, arg, wide, next_rule);
                    }
                    asm.ret(rule.ret);
                    asm.bind(next_rule);
                }
                asm.ret(ctx.default);
            }
        }
    }
}

/// Whether `arg` holds for every argument value: a `SCMP_CMP_MASKED_EQ` whose
/// mask is 0 on the compared bits (libseccomp's `_db_arg_cmp_need_hi/lo`).
pub(crate) fn is_tautology(arg: &LinuxSeccompArg, wide: bool) -> bool {
    let mask = if wide {
        arg.value
    } else {
        arg.value & 0xffff_ffff
    };
    arg.op == SeccompOperator::MaskedEqual && mask == 0
}

impl Rule<'_> {
    /// Whether the rule applies whatever the arguments: all its conditions
    /// always hold, or, split, any one of them does.
    fn always_holds(&self, wide: bool) -> bool {
        match self.split {
            true => self.args.iter().any(|a| is_tautology(a, wide)),
            false => is_unconditional(self.args, wide),
        }
    }
}

/// Whether a rule with `args` applies whatever the arguments: libseccomp drops
/// tautologies, and a rule left with no condition is unconditional (so it
/// wins over conditional rules for the same syscall, see the module docs).
pub(crate) fn is_unconditional(args: &[LinuxSeccompArg], wide: bool) -> bool {
    args.iter().all(|a| is_tautology(a, wide))
}

/// Emits code that falls through when `arg` holds and jumps to `fail` when not.
fn emit_condition(asm: &mut Assembler, arg: &LinuxSeccompArg, wide: bool, fail: Label) {
    let lo_offset = OFFSET_ARGS + 8 * arg.index;
    // Little-endian hosts (x86_64, aarch64): the high half follows the low one.
    let hi_offset = lo_offset + 4;
    let value = arg.value;
    // For MASKED_EQ the datum is masked too, as libseccomp does.
    let value_two = arg.value_two.unwrap_or(0) & value;
    let (next, to_fail) = (Target::Next, Target::To(fail));
    if !wide {
        let (v, v2) = (value as u32, value_two as u32);
        asm.load(lo_offset);
        match arg.op {
            SeccompOperator::Equal => asm.jump(Cmp::Eq, v, next, to_fail),
            SeccompOperator::NotEqual => asm.jump(Cmp::Eq, v, to_fail, next),
            SeccompOperator::GreaterThan => asm.jump(Cmp::Gt, v, next, to_fail),
            SeccompOperator::GreaterOrEqual => asm.jump(Cmp::Ge, v, next, to_fail),
            SeccompOperator::LessThan => asm.jump(Cmp::Ge, v, to_fail, next),
            SeccompOperator::LessOrEqual => asm.jump(Cmp::Gt, v, to_fail, next),
            SeccompOperator::MaskedEqual => {
                if v != 0 {
                    if v != u32::MAX {
                        asm.and(v);
                    }
                    asm.jump(Cmp::Eq, v2, next, to_fail);
                }
            }
        }
        return;
    }
    let (hi, lo) = ((value >> 32) as u32, value as u32);
    let pass = asm.label();
    let to_pass = Target::To(pass);
    match arg.op {
        SeccompOperator::Equal => {
            asm.load(hi_offset);
            asm.jump(Cmp::Eq, hi, next, to_fail);
            asm.load(lo_offset);
            asm.jump(Cmp::Eq, lo, next, to_fail);
        }
        SeccompOperator::NotEqual => {
            asm.load(hi_offset);
            asm.jump(Cmp::Eq, hi, next, to_pass);
            asm.load(lo_offset);
            asm.jump(Cmp::Eq, lo, to_fail, next);
        }
        SeccompOperator::GreaterThan | SeccompOperator::GreaterOrEqual => {
            // hi > v.hi, or hi == v.hi and lo >(=) v.lo
            asm.load(hi_offset);
            asm.jump(Cmp::Gt, hi, to_pass, next);
            asm.jump(Cmp::Eq, hi, next, to_fail);
            asm.load(lo_offset);
            let cmp = if arg.op == SeccompOperator::GreaterThan {
                Cmp::Gt
            } else {
                Cmp::Ge
            };
            asm.jump(cmp, lo, next, to_fail);
        }
        SeccompOperator::LessThan | SeccompOperator::LessOrEqual => {
            // not (arg >= v) / not (arg > v)
            asm.load(hi_offset);
            asm.jump(Cmp::Gt, hi, to_fail, next);
            asm.jump(Cmp::Eq, hi, next, to_pass);
            asm.load(lo_offset);
            let cmp = if arg.op == SeccompOperator::LessThan {
                Cmp::Ge
            } else {
                Cmp::Gt
            };
            asm.jump(cmp, lo, to_fail, next);
        }
        SeccompOperator::MaskedEqual => {
            let (mask_hi, mask_lo) = ((value >> 32) as u32, value as u32);
            let (want_hi, want_lo) = ((value_two >> 32) as u32, value_two as u32);
            for (offset, mask, want) in
                [(hi_offset, mask_hi, want_hi), (lo_offset, mask_lo, want_lo)]
            {
                if mask == 0 {
                    continue; // (x & 0) == (want & 0): always true
                }
                asm.load(offset);
                if mask != u32::MAX {
                    asm.and(mask);
                }
                asm.jump(Cmp::Eq, want, next, to_fail);
            }
        }
    }
    asm.bind(pass);
}
