//! cgroup v2 device control through eBPF.
//!
//! cgroup v2 has no `devices.allow`: the kernel asks a
//! `BPF_PROG_TYPE_CGROUP_DEVICE` program attached to the task's cgroup
//! (kernel `Documentation/admin-guide/cgroup-v2.rst`, "Device controller";
//! `include/uapi/linux/bpf.h`, `struct bpf_cgroup_dev_ctx`). We generate that
//! program ourselves from the validated rules ([`program`]), load it and
//! attach it to the cgroup directory fd with bpf(2) ([`syscall`]). No
//! libbpf, no C toolchain, no ELF: the program is a few instructions per
//! rule, assembled here.
//!
//! On `update`, the new program replaces the old one: attached with
//! `BPF_F_REPLACE` when exactly one of ours is attached (atomic: never a
//! moment with no filter or with both), else attached first and the old ones
//! detached after (a moment with both, which only denies more).

pub mod program;
pub mod syscall;

pub use program::{device_program, Insn};
pub use syscall::{attach_device_program, attached_device_programs, BpfError};
