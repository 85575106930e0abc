//! berth-seccomp: OCI seccomp profiles (`linux.seccomp`, runtime-spec
//! `config-linux.md#seccomp`) compiled to classic BPF by us, and installed with
//! seccomp(2). No C libseccomp.
//!
//! # Use
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let spec_seccomp: berth_oci::LinuxSeccomp = Default::default();
//! // In the runtime's parent, before clone: parse errors surface here, once.
//! let filter = berth_seccomp::compile(&spec_seccomp)?;
//! // In the container's init, after prctl(PR_SET_NO_NEW_PRIVS) (or while it
//! // still has CAP_SYS_ADMIN), as late before execve as possible:
//! filter.install()?;
//! # Ok(()) }
//! ```
//!
//! * [`compile()`] / [`compile_for`] -> [`Filter`] or a one-line [`SeccompError`].
//! * [`Filter::install`]: `seccomp(SECCOMP_SET_MODE_FILTER, flags, &prog)`;
//!   allocates nothing, so a freshly cloned child can call it. Fails with an
//!   [`InstallError`] naming the cause (EACCES: no no_new_privs and no
//!   CAP_SYS_ADMIN).
//! * [`Filter::instructions`], [`Filter::len`], [`Filter::flags`] and `Display`
//!   (one instruction a line) for logs and tests.
//! * [`features`]: the actions, operators, architectures and flags for the OCI
//!   features document, and kernel probes for flags and actions.
//!
//! # What is supported
//!
//! Every field of `linux.seccomp` but notification: `defaultAction`,
//! `defaultErrnoRet`, `architectures`, `flags` (`SECCOMP_FILTER_FLAG_TSYNC`,
//! `_LOG`, `_SPEC_ALLOW`, `_WAIT_KILLABLE_RECV`), `syscalls` with every
//! `SCMP_ACT_*` (KILL, KILL_THREAD, KILL_PROCESS, TRAP, ERRNO with `errnoRet`,
//! default EPERM; TRACE with `errnoRet` as the tracer's data, default EPERM;
//! LOG; ALLOW) and `args` with every `SCMP_CMP_*` including MASKED_EQ, 64-bit
//! values compared as two 32-bit halves.
//!
//! `SCMP_ACT_NOTIFY` compiles to `SECCOMP_RET_USER_NOTIF` with the
//! `NEW_LISTENER` flag; [`Filter::install_listener`] returns the listener fd
//! the runtime sends to the seccomp agent at `listenerPath`.
//!
//! ABIs with syscall tables: x86_64, x86, x32, aarch64, arm (EABI). The tables
//! (`src/tables.rs`) are generated from Debian's Linux 6.1 UAPI headers by
//! `gen-tables.py` (its docstring says how to regenerate); names a table lacks,
//! including syscalls newer than Linux 6.1, are ignored for that ABI, as runc
//! with Debian's libseccomp 2.5 does. The exact semantics, and where and why
//! they follow runc + libseccomp, are in the [`compiler`] module's documentation.
//!
//! Differences from libseccomp worth knowing: rules that overlap with
//! different actions are resolved first-listed-first (libseccomp merges them
//! into a tree, and refuses identical conditions with different actions);
//! repeated argument indexes in one rule are ANDed (runc ORs them); on x86 an
//! IPC rule with conditions gets no `ipc` twin (libseccomp's is ill-defined).
//! A differential test holds us to libseccomp 2.5 everywhere else.
//!
//! # Size and speed
//!
//! Measured on the project machine (2 shared cores, load average ~10) with
//! podman's default profile as podman passes it for the default capabilities
//! (22 rules, 437 names, x86_64 + x86 + x32):
//!
//! * 662 BPF instructions (the kernel's limit is 4096); a syscall runs 11
//!   instructions on average, 19 at most (`podman.rs` tests these bounds);
//! * compiling takes ~450k CPU instructions (callgrind), 65-135 µs wall
//!   depending on the machine's load
//!   (`cargo run --release -p berth-seccomp --example compile_speed`).
//!
//! Names are looked up once per profile name in a generated hash index;
//! the program is assembled in one buffer.
//!
//! # Tests
//!
//! Unit tests run compiled programs in a classic-BPF interpreter with the
//! kernel's load-time checks (`src/tests/interp.rs`), against hand-written
//! expectations (`program.rs`), against a reference evaluator on thousands
//! of random profiles (`reference.rs`), and against libseccomp 2.5 itself
//! (`libseccomp.rs`: random profiles built the way runc builds them, through
//! Debian's python3-seccomp, ~33,000 inputs compared); podman's default profile
//! (`/usr/share/containers/seccomp.json`, Debian package containers-common)
//! is compiled and checked (`podman.rs`); real-kernel tests install filters in
//! forked children as root (`kernel.rs`). Test needs: root, Debian packages
//! containers-common (with podman) and python3-seccomp.

pub mod action;
pub mod arch;
pub mod bpf;
pub mod compiler;
pub mod features;
pub mod filter;
mod tables;

pub use arch::Arch;
pub use bpf::Instruction;
pub use compiler::{compile, compile_for, SeccompError};
pub use filter::{Filter, FilterFlags, InstallError};

#[cfg(test)]
mod tests;
