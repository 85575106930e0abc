//! A classic-BPF interpreter for seccomp programs, with the kernel's load-time
//! checks (`bpf_check_classic` and `seccomp_check_filter`), so tests can run a
//! compiled filter on any `seccomp_data` without installing it.

use crate::bpf::*;
use crate::Instruction;

const BPF_JSET: u16 = 0x40;

/// `struct seccomp_data` (`include/uapi/linux/seccomp.h`).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SeccompData {
    pub nr: u32,
    pub arch: u32,
    pub ip: u64,
    pub args: [u64; 6],
}

impl SeccompData {
    pub fn new(arch: u32, nr: u32, args: [u64; 6]) -> SeccompData {
        SeccompData {
            nr,
            arch,
            ip: 0x1000,
            args,
        }
    }

    /// The 32-bit word at byte `offset`, as the kernel's BPF_LD|BPF_W|BPF_ABS
    /// reads it on a little-endian host.
    fn word(&self, offset: u32) -> u32 {
        let mut bytes = [0u8; 64];
        bytes[0..4].copy_from_slice(&self.nr.to_le_bytes());
        bytes[4..8].copy_from_slice(&self.arch.to_le_bytes());
        bytes[8..16].copy_from_slice(&self.ip.to_le_bytes());
        for (i, a) in self.args.iter().enumerate() {
            bytes[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_le_bytes());
        }
        let o = offset as usize;
        u32::from_le_bytes(bytes[o..o + 4].try_into().unwrap())
    }
}

/// Panics unless the kernel would accept `program`: 1..=4096 instructions,
/// only seccomp's allowed opcodes, aligned loads inside seccomp_data, jumps
/// inside the program, and a `ret` last.
pub(crate) fn check(program: &[Instruction]) {
    assert!(
        !program.is_empty() && program.len() <= MAX_INSTRUCTIONS,
        "length {}",
        program.len()
    );
    for (pc, insn) in program.iter().enumerate() {
        let rest = program.len() - pc - 1;
        match insn.code {
            c if c == BPF_LD | BPF_W | BPF_ABS => {
                assert!(
                    insn.k < 64 && insn.k % 4 == 0,
                    "{pc}: bad load offset {}",
                    insn.k
                )
            }
            c if c == BPF_ALU | BPF_AND | BPF_K => {}
            c if c == BPF_JMP | BPF_JA => {
                assert!((insn.k as usize) < rest, "{pc}: ja out of the program")
            }
            c if c == BPF_JMP | BPF_JEQ | BPF_K
                || c == BPF_JMP | BPF_JGT | BPF_K
                || c == BPF_JMP | BPF_JGE | BPF_K
                || c == BPF_JMP | BPF_JSET | BPF_K =>
            {
                assert!(
                    (insn.jt as usize) < rest && (insn.jf as usize) < rest,
                    "{pc}: jump out of the program"
                )
            }
            c if c == BPF_RET | BPF_K => {}
            c => panic!("{pc}: opcode {c:#x} not allowed in seccomp filters"),
        }
    }
    assert_eq!(
        program.last().unwrap().code,
        BPF_RET | BPF_K,
        "the last instruction must be ret"
    );
}

/// Runs `program` on `data`; returns the filter's return value.
pub(crate) fn run(program: &[Instruction], data: &SeccompData) -> u32 {
    run_counting(program, data).0
}

/// Runs `program` on `data`; returns the filter's return value and how many
/// instructions ran (the cost the kernel pays on every syscall).
pub(crate) fn run_counting(program: &[Instruction], data: &SeccompData) -> (u32, usize) {
    let mut a: u32 = 0;
    let mut pc = 0usize;
    let mut steps = 0;
    loop {
        let insn = program[pc];
        pc += 1;
        steps += 1;
        let cond = |c: bool| {
            if c {
                insn.jt as usize
            } else {
                insn.jf as usize
            }
        };
        match insn.code {
            c if c == BPF_LD | BPF_W | BPF_ABS => a = data.word(insn.k),
            c if c == BPF_ALU | BPF_AND | BPF_K => a &= insn.k,
            c if c == BPF_JMP | BPF_JA => pc += insn.k as usize,
            c if c == BPF_JMP | BPF_JEQ | BPF_K => pc += cond(a == insn.k),
            c if c == BPF_JMP | BPF_JGT | BPF_K => pc += cond(a > insn.k),
            c if c == BPF_JMP | BPF_JGE | BPF_K => pc += cond(a >= insn.k),
            c if c == BPF_JMP | BPF_JSET | BPF_K => pc += cond(a & insn.k != 0),
            c if c == BPF_RET | BPF_K => return (insn.k, steps),
            c => panic!("opcode {c:#x}"),
        }
    }
}
