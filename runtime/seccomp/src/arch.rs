//! The architectures (syscall ABIs) a filter can check, with their `AUDIT_ARCH_*`
//! values and syscall tables.
//!
//! The kernel tells a filter which ABI a syscall came in through in
//! `seccomp_data.arch` (an `AUDIT_ARCH_*` value, `include/uapi/linux/audit.h`); the
//! same name has a different number on each ABI, so a filter has one section per
//! ABI. x32 is the exception: it shares `AUDIT_ARCH_X86_64` with x86_64 and is told
//! apart by `__X32_SYSCALL_BIT` (0x40000000) in the syscall number
//! (`arch/x86/include/uapi/asm/unistd.h`).

use crate::tables;

/// `__X32_SYSCALL_BIT`: set in the number of every x32 syscall.
pub const X32_SYSCALL_BIT: u32 = 0x4000_0000;

const AUDIT_ARCH_64BIT: u32 = 0x8000_0000;
const AUDIT_ARCH_LE: u32 = 0x4000_0000;
const EM_386: u32 = 3;
const EM_ARM: u32 = 40;
const EM_X86_64: u32 = 62;
const EM_AARCH64: u32 = 183;

/// A syscall ABI berth-seccomp has a syscall table for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Arch {
    /// `SCMP_ARCH_X86_64`: 64-bit x86.
    X86_64,
    /// `SCMP_ARCH_X86`: 32-bit x86 (i386), runnable on x86_64 hosts.
    X86,
    /// `SCMP_ARCH_X32`: the x32 ABI of x86_64 (32-bit pointers, 64-bit registers).
    X32,
    /// `SCMP_ARCH_AARCH64`: 64-bit ARM.
    Aarch64,
    /// `SCMP_ARCH_ARM`: 32-bit ARM EABI, runnable on most aarch64 hosts.
    Arm,
}

/// What an `SCMP_ARCH_*` name in a profile stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ArchName {
    /// An ABI we have a table for.
    Known(Arch),
    /// A libseccomp architecture we have no table for. None of them can run on
    /// the hosts berth-seccomp builds for (x86_64, aarch64), so a section for it
    /// could never be entered: it is left out of the filter.
    Foreign,
}

impl Arch {
    /// Every ABI with a table, in the order the filter checks them after the native one.
    pub const ALL: [Arch; 5] = [Arch::X86_64, Arch::X86, Arch::X32, Arch::Aarch64, Arch::Arm];

    /// The ABI of the host this crate was built for, or `None` where we have no
    /// table for it.
    pub fn native() -> Option<Arch> {
        if cfg!(target_arch = "x86_64") {
            Some(Arch::X86_64)
        } else if cfg!(target_arch = "aarch64") {
            Some(Arch::Aarch64)
        } else {
            None
        }
    }

    /// The `SCMP_ARCH_*` name of the ABI, as OCI profiles spell it.
    pub fn scmp_name(self) -> &'static str {
        match self {
            Arch::X86_64 => "SCMP_ARCH_X86_64",
            Arch::X86 => "SCMP_ARCH_X86",
            Arch::X32 => "SCMP_ARCH_X32",
            Arch::Aarch64 => "SCMP_ARCH_AARCH64",
            Arch::Arm => "SCMP_ARCH_ARM",
        }
    }

    /// The `AUDIT_ARCH_*` value the kernel puts in `seccomp_data.arch`.
    pub fn audit_arch(self) -> u32 {
        match self {
            Arch::X86_64 | Arch::X32 => EM_X86_64 | AUDIT_ARCH_64BIT | AUDIT_ARCH_LE,
            Arch::X86 => EM_386 | AUDIT_ARCH_LE,
            Arch::Aarch64 => EM_AARCH64 | AUDIT_ARCH_64BIT | AUDIT_ARCH_LE,
            Arch::Arm => EM_ARM | AUDIT_ARCH_LE,
        }
    }

    /// Whether argument comparisons use all 64 bits of `seccomp_data.args[i]`.
    /// libseccomp treats x86, arm and x32 as 32-bit ABIs and compares only the
    /// low word (with the profile's value truncated to 32 bits); we do the same,
    /// so a profile means the same thing under berth as under runc or crun.
    pub fn compares_64_bits(self) -> bool {
        matches!(self, Arch::X86_64 | Arch::Aarch64)
    }

    /// The syscall number of `name` on this ABI (x32 numbers include
    /// [`X32_SYSCALL_BIT`]), or `None` if the ABI has no such syscall.
    pub fn syscall_number(self, name: &str) -> Option<u32> {
        tables::lookup(name)
            .map(|nrs| nrs[self.column()])
            .filter(|&nr| nr != tables::NONE)
    }

    /// The largest syscall number this ABI has.
    pub fn max_syscall_number(self) -> u32 {
        tables::MAX_NR[self.column()]
    }

    /// Every `(name, number)` of this ABI, by name.
    pub fn syscalls(self) -> impl Iterator<Item = (&'static str, u32)> {
        let column = self.column();
        tables::SYSCALLS
            .iter()
            .map(move |(name, nrs)| (*name, nrs[column]))
            .filter(|&(_, nr)| nr != tables::NONE)
    }

    /// This ABI's column in the generated tables.
    pub(crate) fn column(self) -> usize {
        match self {
            Arch::X86_64 => 0,
            Arch::X86 => 1,
            Arch::X32 => 2,
            Arch::Aarch64 => 3,
            Arch::Arm => 4,
        }
    }

    /// Parses an `SCMP_ARCH_*` name; `None` if libseccomp does not know it either.
    pub(crate) fn parse(name: &str) -> Option<ArchName> {
        Some(match name {
            "SCMP_ARCH_X86_64" => ArchName::Known(Arch::X86_64),
            "SCMP_ARCH_X86" => ArchName::Known(Arch::X86),
            "SCMP_ARCH_X32" => ArchName::Known(Arch::X32),
            "SCMP_ARCH_AARCH64" => ArchName::Known(Arch::Aarch64),
            "SCMP_ARCH_ARM" => ArchName::Known(Arch::Arm),
            "SCMP_ARCH_MIPS"
            | "SCMP_ARCH_MIPS64"
            | "SCMP_ARCH_MIPS64N32"
            | "SCMP_ARCH_MIPSEL"
            | "SCMP_ARCH_MIPSEL64"
            | "SCMP_ARCH_MIPSEL64N32"
            | "SCMP_ARCH_PPC"
            | "SCMP_ARCH_PPC64"
            | "SCMP_ARCH_PPC64LE"
            | "SCMP_ARCH_S390"
            | "SCMP_ARCH_S390X"
            | "SCMP_ARCH_PARISC"
            | "SCMP_ARCH_PARISC64"
            | "SCMP_ARCH_RISCV64"
            | "SCMP_ARCH_LOONGARCH64"
            | "SCMP_ARCH_M68K"
            | "SCMP_ARCH_SH"
            | "SCMP_ARCH_SHEB" => ArchName::Foreign,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_is_found_through_the_hash_index() {
        for arch in Arch::ALL {
            assert_eq!(
                tables::ABIS[arch.column()],
                format!("{arch:?}").to_uppercase()
            );
            let all: Vec<_> = arch.syscalls().collect();
            assert!(all.len() > 300, "{arch:?} has only {} syscalls", all.len());
            for (name, nr) in &all {
                assert_eq!(arch.syscall_number(name), Some(*nr), "{arch:?} {name}");
            }
            assert_eq!(
                all.iter().map(|e| e.1).max(),
                Some(arch.max_syscall_number())
            );
        }
        for w in tables::SYSCALLS.windows(2) {
            assert!(w[0].0 < w[1].0, "{} before {}", w[0].0, w[1].0);
        }
        assert_eq!(tables::lookup("no_such_syscall"), None);
        assert_eq!(tables::lookup(""), None);
    }

    #[test]
    fn well_known_numbers_match_the_kernel_abi() {
        assert_eq!(Arch::X86_64.syscall_number("read"), Some(0));
        assert_eq!(Arch::X86_64.syscall_number("getppid"), Some(110));
        assert_eq!(Arch::X86.syscall_number("read"), Some(3));
        assert_eq!(Arch::X86.syscall_number("socketcall"), Some(102));
        assert_eq!(Arch::X32.syscall_number("read"), Some(X32_SYSCALL_BIT));
        assert_eq!(
            Arch::X32.syscall_number("rt_sigaction"),
            Some(X32_SYSCALL_BIT | 512)
        );
        assert_eq!(Arch::Aarch64.syscall_number("openat"), Some(56));
        assert_eq!(Arch::Aarch64.syscall_number("open"), None);
        assert_eq!(Arch::Arm.syscall_number("read"), Some(3));
        assert_eq!(Arch::Arm.syscall_number("cacheflush"), Some(0xf0002));
        assert_eq!(Arch::X86_64.syscall_number("no_such_syscall"), None);
    }

    #[test]
    fn audit_arch_values_are_the_kernels() {
        assert_eq!(Arch::X86_64.audit_arch(), 0xc000_003e);
        assert_eq!(Arch::X86.audit_arch(), 0x4000_0003);
        assert_eq!(Arch::Aarch64.audit_arch(), 0xc000_00b7);
        assert_eq!(Arch::Arm.audit_arch(), 0x4000_0028);
    }
}
