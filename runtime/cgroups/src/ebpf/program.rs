//! Assembling the device-filter program.
//!
//! The context is `struct bpf_cgroup_dev_ctx { u32 access_type; u32 major;
//! u32 minor; }` with `access_type = access << 16 | type` (type
//! `BPF_DEVCG_DEV_BLOCK` = 1, `BPF_DEVCG_DEV_CHAR` = 2; access bits as in
//! [`DeviceAccess`]). The program returns
//! 1 to allow and 0 to deny.
//!
//! Layout: a prologue loads type into r2, access into r3, major into r4 and
//! minor into r5; then one block per rule, **last rule first**, each of which
//! jumps past itself on the first mismatch and otherwise returns the rule's
//! verdict; a final `return 0` denies what no rule matched. Checking the last
//! rule first gives the spec's "later rules override earlier ones"; a rule
//! for all devices with all access matches everything, so the rules before
//! it are not emitted.

use crate::device_rules::{DeviceAccess, DeviceKind, DeviceRule};

/// One eBPF instruction (`struct bpf_insn`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    pub code: u8,
    /// dst register in the low nibble, src in the high nibble.
    pub regs: u8,
    pub off: i16,
    pub imm: i32,
}

// Opcodes (include/uapi/linux/bpf_common.h, bpf.h).
/// BPF_LDX | BPF_MEM | BPF_W: dst = *(u32 *)(src + off).
pub const LDX_W: u8 = 0x61;
/// BPF_ALU | BPF_AND | BPF_K: dst = (u32)dst & imm.
pub const AND32_K: u8 = 0x54;
/// BPF_ALU | BPF_RSH | BPF_K: dst = (u32)dst >> imm.
pub const RSH32_K: u8 = 0x74;
/// BPF_ALU | BPF_MOV | BPF_X: dst = (u32)src.
pub const MOV32_X: u8 = 0xbc;
/// BPF_ALU64 | BPF_MOV | BPF_K: dst = imm.
pub const MOV64_K: u8 = 0xb7;
/// BPF_JMP | BPF_JNE | BPF_K: if dst != imm, pc += off.
pub const JNE_K: u8 = 0x55;
/// BPF_JMP | BPF_EXIT: return r0.
pub const EXIT: u8 = 0x95;

/// `BPF_DEVCG_DEV_BLOCK`.
pub const DEV_BLOCK: i32 = 1;
/// `BPF_DEVCG_DEV_CHAR`.
pub const DEV_CHAR: i32 = 2;

const R0: u8 = 0;
const R1: u8 = 1;
const R2: u8 = 2;
const R3: u8 = 3;
const R4: u8 = 4;
const R5: u8 = 5;

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: dst | (src << 4),
        off,
        imm,
    }
}

/// The device-filter program for `rules` (in spec order).
pub fn device_program(rules: &[DeviceRule]) -> Vec<Insn> {
    let mut prog = vec![
        insn(LDX_W, R2, R1, 0, 0),
        insn(AND32_K, R2, 0, 0, 0xffff),
        insn(LDX_W, R3, R1, 0, 0),
        insn(RSH32_K, R3, 0, 0, 16),
        insn(LDX_W, R4, R1, 4, 0),
        insn(LDX_W, R5, R1, 8, 0),
    ];
    let mut terminated = false;
    for rule in rules.iter().rev() {
        // Each check is a "jump past this block if different"; its offset is
        // patched once the block's length is known.
        let mut block: Vec<Insn> = Vec::with_capacity(8);
        match rule.kind {
            DeviceKind::All => {}
            DeviceKind::Char => block.push(insn(JNE_K, R2, 0, 0, DEV_CHAR)),
            DeviceKind::Block => block.push(insn(JNE_K, R2, 0, 0, DEV_BLOCK)),
        }
        if rule.access != DeviceAccess::ALL {
            // Requested access must be a subset of the rule's.
            block.push(insn(MOV32_X, R1, R3, 0, 0));
            block.push(insn(AND32_K, R1, 0, 0, !(rule.access.0 as i32)));
            block.push(insn(JNE_K, R1, 0, 0, 0));
        }
        if let Some(major) = rule.major {
            block.push(insn(JNE_K, R4, 0, 0, major as i32));
        }
        if let Some(minor) = rule.minor {
            block.push(insn(JNE_K, R5, 0, 0, minor as i32));
        }
        let matches_everything = block.is_empty();
        block.push(insn(MOV64_K, R0, 0, 0, rule.allow as i32));
        block.push(insn(EXIT, 0, 0, 0, 0));
        let len = block.len();
        for (i, ins) in block.iter_mut().enumerate() {
            if ins.code == JNE_K {
                ins.off = (len - i - 1) as i16;
            }
        }
        prog.extend_from_slice(&block);
        if matches_everything {
            terminated = true;
            break;
        }
    }
    if !terminated {
        prog.push(insn(MOV64_K, R0, 0, 0, 0));
        prog.push(insn(EXIT, 0, 0, 0, 0));
    }
    prog
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::device_rules::default_allowed;

    /// A tiny interpreter for the instructions [`device_program`] emits, to
    /// check the program's verdicts without a kernel.
    pub fn run(prog: &[Insn], kind: i32, access: u8, major: u32, minor: u32) -> u64 {
        let ctx = [((access as u32) << 16) | kind as u32, major, minor];
        let mut r = [0u64; 11];
        let mut pc = 0usize;
        loop {
            let ins = prog[pc];
            let (dst, src) = ((ins.regs & 0xf) as usize, (ins.regs >> 4) as usize);
            pc += 1;
            match ins.code {
                LDX_W => {
                    assert_eq!(src, 1, "loads only from the context");
                    r[dst] = ctx[ins.off as usize / 4] as u64;
                }
                AND32_K => r[dst] = (r[dst] as u32 & ins.imm as u32) as u64,
                RSH32_K => r[dst] = (r[dst] as u32 >> ins.imm) as u64,
                MOV32_X => r[dst] = r[src] as u32 as u64,
                MOV64_K => r[dst] = ins.imm as i64 as u64,
                JNE_K => {
                    if r[dst] != ins.imm as i64 as u64 {
                        pc += ins.off as usize;
                    }
                }
                EXIT => return r[0],
                other => panic!("unexpected opcode {other:#x}"),
            }
        }
    }

    const R: u8 = DeviceAccess::READ;
    const W: u8 = DeviceAccess::WRITE;
    const M: u8 = DeviceAccess::MKNOD;

    fn deny_all() -> DeviceRule {
        DeviceRule {
            allow: false,
            kind: DeviceKind::All,
            major: None,
            minor: None,
            access: DeviceAccess::ALL,
        }
    }

    #[test]
    fn no_rules_deny_everything() {
        let prog = device_program(&[]);
        assert_eq!(run(&prog, DEV_CHAR, R, 1, 3), 0);
    }

    #[test]
    fn default_list_allows_its_devices_and_nothing_else() {
        let mut rules = vec![deny_all()];
        rules.extend(default_allowed());
        let prog = device_program(&rules);
        assert_eq!(run(&prog, DEV_CHAR, R | W, 1, 3), 1, "/dev/null rw");
        assert_eq!(run(&prog, DEV_CHAR, R, 136, 7), 1, "/dev/pts/7");
        assert_eq!(run(&prog, DEV_CHAR, M, 10, 200), 1, "mknod anything");
        assert_eq!(run(&prog, DEV_BLOCK, M, 8, 0), 1, "mknod block");
        assert_eq!(run(&prog, DEV_BLOCK, R, 8, 0), 0, "read /dev/sda");
        assert_eq!(run(&prog, DEV_CHAR, R, 10, 200), 0, "read /dev/net/tun");
        assert_eq!(run(&prog, DEV_CHAR, R, 1, 4), 0, "/dev/port");
    }

    #[test]
    fn later_rules_override_earlier_ones() {
        let null_rw = DeviceRule {
            allow: true,
            kind: DeviceKind::Char,
            major: Some(1),
            minor: Some(3),
            access: DeviceAccess(R | W),
        };
        let deny_null = DeviceRule {
            allow: false,
            ..null_rw
        };
        let prog = device_program(&[deny_all(), null_rw, deny_null]);
        assert_eq!(run(&prog, DEV_CHAR, R, 1, 3), 0);
        let prog = device_program(&[deny_all(), deny_null, null_rw]);
        assert_eq!(run(&prog, DEV_CHAR, R, 1, 3), 1);
        assert_eq!(run(&prog, DEV_CHAR, R | M, 1, 3), 0, "mknod not granted");
        assert_eq!(
            run(&prog, DEV_BLOCK, R, 1, 3),
            0,
            "block 1:3 is not char 1:3"
        );
    }

    #[test]
    fn an_all_devices_rule_ends_the_program() {
        let allow_all = DeviceRule {
            allow: true,
            ..deny_all()
        };
        let null = DeviceRule {
            allow: false,
            kind: DeviceKind::Char,
            major: Some(1),
            minor: Some(3),
            access: DeviceAccess::ALL,
        };
        // deny null, then allow all: everything allowed, the deny is dead code.
        let prog = device_program(&[null, allow_all]);
        assert_eq!(prog.len(), 6 + 2, "prologue + mov/exit only");
        assert_eq!(run(&prog, DEV_CHAR, R, 1, 3), 1);
    }

    #[test]
    fn jumps_land_on_the_next_block() {
        let prog = device_program(&default_allowed());
        for (pc, ins) in prog.iter().enumerate() {
            if ins.code == JNE_K {
                let target = pc + 1 + ins.off as usize;
                assert!(target < prog.len(), "jump out of program at {pc}");
                assert_eq!(
                    prog[target - 1].code,
                    EXIT,
                    "jump at {pc} does not land after an exit"
                );
            }
        }
    }
}
