//! Classic BPF: the instruction format seccomp runs, and a small assembler with
//! labels that resolves jumps.
//!
//! Classic BPF (`include/uapi/linux/filter.h`, `Documentation/networking/filter.rst`)
//! only jumps forward, and a conditional jump's offsets (`jt`, `jf`) are 8 bits:
//! at most 255 instructions ahead. Only `ja` has a 32-bit offset. The assembler
//! lets the code generator jump to any later label and, where a conditional
//! target ends up too far away, routes it through a `ja` trampoline placed right
//! after the jump (libseccomp's `_gen_bpf_build_jmp` does the same).

/// One classic BPF instruction, laid out as the kernel's `struct sock_filter`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Instruction {
    /// Opcode: class | size | mode, or class | op | source.
    pub code: u16,
    /// Instructions to skip when a conditional jump is true.
    pub jt: u8,
    /// Instructions to skip when a conditional jump is false.
    pub jf: u8,
    /// The constant operand (offset, immediate, jump length or return value).
    pub k: u32,
}

/// `BPF_MAXINSNS`: the kernel refuses longer programs.
pub const MAX_INSTRUCTIONS: usize = 4096;

// Opcode parts, from include/uapi/linux/bpf_common.h.
pub(crate) const BPF_LD: u16 = 0x00;
pub(crate) const BPF_ALU: u16 = 0x04;
pub(crate) const BPF_JMP: u16 = 0x05;
pub(crate) const BPF_RET: u16 = 0x06;
pub(crate) const BPF_W: u16 = 0x00;
pub(crate) const BPF_ABS: u16 = 0x20;
pub(crate) const BPF_AND: u16 = 0x50;
pub(crate) const BPF_JA: u16 = 0x00;
pub(crate) const BPF_JEQ: u16 = 0x10;
pub(crate) const BPF_JGT: u16 = 0x20;
pub(crate) const BPF_JGE: u16 = 0x30;
pub(crate) const BPF_K: u16 = 0x00;

/// A conditional jump's comparison of the accumulator with a constant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cmp {
    /// `A == k`
    Eq,
    /// `A > k` (unsigned)
    Gt,
    /// `A >= k` (unsigned)
    Ge,
}

impl Cmp {
    fn op(self) -> u16 {
        match self {
            Cmp::Eq => BPF_JEQ,
            Cmp::Gt => BPF_JGT,
            Cmp::Ge => BPF_JGE,
        }
    }
}

/// A place in the program a jump can go to, bound with [`Assembler::bind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Label(u32);

/// Where a conditional jump goes: on to the next instruction, or to a label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    Next,
    To(Label),
}

#[derive(Debug, Clone, Copy)]
enum Item {
    /// A non-jump instruction.
    Plain { code: u16, k: u32 },
    /// A conditional jump.
    Jump {
        code: u16,
        k: u32,
        jt: Target,
        jf: Target,
    },
    /// `ja label`.
    Always(Label),
    /// The position of a label (takes no space).
    Bind(Label),
}

/// Builds a program from instructions whose jumps name labels.
#[derive(Debug, Default)]
pub(crate) struct Assembler {
    items: Vec<Item>,
    labels: u32,
}

/// The program did not fit in `BPF_MAXINSNS` instructions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TooLong(pub usize);

impl Assembler {
    pub(crate) fn with_capacity(n: usize) -> Assembler {
        Assembler {
            items: Vec::with_capacity(n),
            labels: 0,
        }
    }

    pub(crate) fn label(&mut self) -> Label {
        self.labels += 1;
        Label(self.labels - 1)
    }

    /// Places `label` before the next instruction.
    pub(crate) fn bind(&mut self, label: Label) {
        self.items.push(Item::Bind(label));
    }

    /// `ld [offset]`: loads a 32-bit word of `struct seccomp_data`.
    pub(crate) fn load(&mut self, offset: u32) {
        self.items.push(Item::Plain {
            code: BPF_LD | BPF_W | BPF_ABS,
            k: offset,
        });
    }

    /// `and #k`
    pub(crate) fn and(&mut self, k: u32) {
        self.items.push(Item::Plain {
            code: BPF_ALU | BPF_AND | BPF_K,
            k,
        });
    }

    /// `ret #k`
    pub(crate) fn ret(&mut self, k: u32) {
        self.items.push(Item::Plain {
            code: BPF_RET | BPF_K,
            k,
        });
    }

    /// `j<cmp> #k, jt, jf`
    pub(crate) fn jump(&mut self, cmp: Cmp, k: u32, jt: Target, jf: Target) {
        self.items.push(Item::Jump {
            code: BPF_JMP | cmp.op() | BPF_K,
            k,
            jt,
            jf,
        });
    }

    /// Resolves every jump and returns the program.
    pub(crate) fn finish(mut self) -> Result<Vec<Instruction>, TooLong> {
        let mut positions = vec![0; self.labels as usize];
        loop {
            // Trampolines add labels.
            positions.resize(self.labels as usize, 0);
            let len = self.place_labels(&mut positions);
            if len > MAX_INSTRUCTIONS {
                return Err(TooLong(len));
            }
            if !self.add_trampolines(&positions) {
                return Ok(self.emit(&positions, len));
            }
        }
    }

    /// Records each label's instruction index; returns the program length.
    fn place_labels(&self, positions: &mut [usize]) -> usize {
        let mut pc = 0;
        for item in &self.items {
            match item {
                Item::Bind(l) => positions[l.0 as usize] = pc,
                _ => pc += 1,
            }
        }
        pc
    }

    fn offset(positions: &[usize], pc: usize, target: Target) -> usize {
        match target {
            Target::Next => 0,
            Target::To(l) => positions[l.0 as usize]
                .checked_sub(pc + 1)
                .expect("seccomp BPF jumps only go forward"),
        }
    }

    /// Routes every conditional target farther than 255 instructions through a
    /// `ja` placed right after its jump. Returns whether anything changed (the
    /// inserted instructions move others, so the caller places labels again).
    fn add_trampolines(&mut self, positions: &[usize]) -> bool {
        let far = |pc: usize, t: Target| Self::offset(positions, pc, t) > 255;
        let mut pc = 0;
        let mut needed = false;
        for item in &self.items {
            match *item {
                Item::Bind(_) => continue,
                Item::Jump { jt, jf, .. } if far(pc, jt) || far(pc, jf) => {
                    needed = true;
                    break;
                }
                _ => {}
            }
            pc += 1;
        }
        if !needed {
            return false;
        }
        let old = std::mem::take(&mut self.items);
        self.items.reserve(old.len() + 8);
        let mut pc = 0;
        for item in old {
            match item {
                Item::Bind(_) => {
                    self.items.push(item);
                    continue;
                }
                Item::Jump { code, k, jt, jf } if far(pc, jt) || far(pc, jf) => {
                    let next = self.label();
                    let mut trampolines: Vec<(Label, Label)> = Vec::with_capacity(2);
                    let mut reroute = |t: Target, this: &mut Assembler| -> Target {
                        match t {
                            Target::Next => Target::To(next),
                            Target::To(dest) if far(pc, t) => {
                                let hop = this.label();
                                trampolines.push((hop, dest));
                                Target::To(hop)
                            }
                            near => near,
                        }
                    };
                    let jt = reroute(jt, self);
                    let jf = reroute(jf, self);
                    self.items.push(Item::Jump { code, k, jt, jf });
                    for (hop, dest) in trampolines {
                        self.items.push(Item::Bind(hop));
                        self.items.push(Item::Always(dest));
                    }
                    self.items.push(Item::Bind(next));
                }
                other => self.items.push(other),
            }
            pc += 1;
        }
        true
    }

    fn emit(&self, positions: &[usize], len: usize) -> Vec<Instruction> {
        let mut program = Vec::with_capacity(len);
        for item in &self.items {
            let pc = program.len();
            match *item {
                Item::Bind(_) => {}
                Item::Plain { code, k } => program.push(Instruction {
                    code,
                    jt: 0,
                    jf: 0,
                    k,
                }),
                Item::Jump { code, k, jt, jf } => program.push(Instruction {
                    code,
                    jt: Self::offset(positions, pc, jt) as u8,
                    jf: Self::offset(positions, pc, jf) as u8,
                    k,
                }),
                Item::Always(l) => program.push(Instruction {
                    code: BPF_JMP | BPF_JA,
                    jt: 0,
                    jf: 0,
                    k: Self::offset(positions, pc, Target::To(l)) as u32,
                }),
            }
        }
        program
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_jumps_are_encoded_as_offsets() {
        let mut asm = Assembler::default();
        let end = asm.label();
        asm.load(0);
        asm.jump(Cmp::Eq, 7, Target::Next, Target::To(end));
        asm.ret(1);
        asm.bind(end);
        asm.ret(2);
        let p = asm.finish().unwrap();
        assert_eq!(p.len(), 4);
        assert_eq!((p[1].jt, p[1].jf), (0, 1));
    }

    #[test]
    fn far_jumps_go_through_a_trampoline() {
        let mut asm = Assembler::default();
        let far = asm.label();
        asm.load(0);
        asm.jump(Cmp::Eq, 7, Target::To(far), Target::Next);
        for _ in 0..300 {
            asm.ret(1);
        }
        asm.bind(far);
        asm.ret(2);
        let p = asm.finish().unwrap();
        assert_eq!(p.len(), 2 + 1 + 300 + 1);
        // jeq jumps to the ja right after it on true, skips it on false.
        assert_eq!((p[1].jt, p[1].jf), (0, 1));
        assert_eq!(p[2].code, BPF_JMP | BPF_JA);
        assert_eq!(2 + 1 + p[2].k as usize, p.len() - 1);
        assert_eq!(p[p.len() - 1].k, 2);
    }

    #[test]
    fn too_long_programs_are_refused() {
        let mut asm = Assembler::default();
        for _ in 0..=MAX_INSTRUCTIONS {
            asm.ret(0);
        }
        assert_eq!(asm.finish(), Err(TooLong(MAX_INSTRUCTIONS + 1)));
    }
}
