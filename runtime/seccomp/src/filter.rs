//! A compiled filter, and installing it with seccomp(2).
//!
//! Installing needs either no_new_privs (`prctl(PR_SET_NO_NEW_PRIVS)`, OCI
//! `process.noNewPrivileges`) or CAP_SYS_ADMIN in the caller's user namespace
//! (seccomp(2), EACCES). The runtime therefore installs the filter late: after
//! setting no_new_privs, or, without it, before dropping capabilities; and as
//! close to `execve` as it can, since every syscall after the install is
//! filtered too (runc's `InitSeccomp` placement in standard_init_linux.go).

use std::fmt;

use crate::bpf::Instruction;
use crate::compiler::SeccompError;

/// `SECCOMP_SET_MODE_FILTER` (`include/uapi/linux/seccomp.h`).
const SECCOMP_SET_MODE_FILTER: libc::c_uint = 1;

/// The `SECCOMP_FILTER_FLAG_*` bits passed to seccomp(2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FilterFlags(pub u32);

impl FilterFlags {
    /// Synchronize all threads of the process to the filter (Linux 3.17).
    pub const TSYNC: u32 = 1;
    /// Log every action except ALLOW to the audit log (Linux 4.14).
    pub const LOG: u32 = 2;
    /// Leave speculative store bypass mitigation off (Linux 4.17).
    pub const SPEC_ALLOW: u32 = 4;
    /// Return a listener fd for `SECCOMP_RET_USER_NOTIF` (Linux 5.0).
    pub const NEW_LISTENER: u32 = 8;
    /// The notified task waits killably once the agent received the
    /// notification (Linux 5.19); only valid with NEW_LISTENER.
    pub const WAIT_KILLABLE_RECV: u32 = 32;

    /// Parses OCI `linux.seccomp.flags`.
    ///
    /// `SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV` (Linux 5.19) only applies to a
    /// notify listener, and the kernel refuses it without
    /// `SECCOMP_FILTER_FLAG_NEW_LISTENER`; the compiler keeps it only for
    /// filters that notify, as libseccomp does.
    pub(crate) fn parse(names: &[String]) -> Result<FilterFlags, SeccompError> {
        let mut bits = 0;
        for name in names {
            bits |= match name.as_str() {
                "SECCOMP_FILTER_FLAG_TSYNC" => Self::TSYNC,
                "SECCOMP_FILTER_FLAG_LOG" => Self::LOG,
                "SECCOMP_FILTER_FLAG_SPEC_ALLOW" => Self::SPEC_ALLOW,
                "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV" => Self::WAIT_KILLABLE_RECV,
                _ => return Err(SeccompError::UnknownFlag(name.clone())),
            };
        }
        Ok(FilterFlags(bits))
    }
}

/// A seccomp BPF program ready to install, with its flags.
///
/// Made by [`crate::compile()`] in the runtime's parent; installing it allocates
/// nothing, so a freshly cloned child can do it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    program: Vec<Instruction>,
    flags: FilterFlags,
}

/// Why seccomp(2) refused a filter. Holds only numbers so that making one in a
/// freshly forked child allocates nothing; the message is built when displayed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InstallError {
    /// seccomp(2) failed with this errno.
    #[error("seccomp: installing filter ({len} instructions, flags {flags:#x}): {}", install_cause(*.errno))]
    Refused { errno: i32, len: usize, flags: u32 },
    /// With TSYNC, another thread of the process could not be synchronized.
    #[error("seccomp: installing filter with SECCOMP_FILTER_FLAG_TSYNC: thread {0} could not be synchronized")]
    ThreadNotSynchronized(libc::c_long),
}

fn install_cause(errno: i32) -> String {
    let name = match errno {
        libc::EACCES => {
            return "EACCES: no_new_privs is not set and the process lacks CAP_SYS_ADMIN".into()
        }
        libc::EINVAL => {
            return "EINVAL: the kernel refused the program or one of its flags (kernel too old for the flag?)".into()
        }
        libc::EFAULT => "EFAULT",
        libc::ENOMEM => "ENOMEM: out of memory, or too many filters attached to the process",
        libc::ENOSYS => "ENOSYS: the kernel has no seccomp filter support",
        libc::EBUSY => "EBUSY",
        libc::ESRCH => "ESRCH",
        _ => return std::io::Error::from_raw_os_error(errno).to_string(),
    };
    name.to_string()
}

impl Filter {
    pub(crate) fn new(program: Vec<Instruction>, flags: FilterFlags) -> Filter {
        Filter { program, flags }
    }

    /// The BPF instructions, as the kernel will run them.
    pub fn instructions(&self) -> &[Instruction] {
        &self.program
    }

    /// The number of instructions (at most `BPF_MAXINSNS`, 4096).
    pub fn len(&self) -> usize {
        self.program.len()
    }

    /// Always false: a compiled filter has at least its bad-architecture `ret`.
    pub fn is_empty(&self) -> bool {
        self.program.is_empty()
    }

    /// The `SECCOMP_FILTER_FLAG_*` bits [`Filter::install`] passes.
    pub fn flags(&self) -> FilterFlags {
        self.flags
    }

    /// Whether the filter hands syscalls to a seccomp agent: installing it
    /// makes a listener fd ([`Filter::install_listener`]).
    pub fn notifies(&self) -> bool {
        self.flags.0 & FilterFlags::NEW_LISTENER != 0
    }

    /// [`Filter::install`] for a filter that [notifies](Filter::notifies):
    /// returns the listener fd seccomp(2) made (close-on-exec), to be sent
    /// to the seccomp agent.
    pub fn install_listener(&self) -> Result<std::os::fd::OwnedFd, InstallError> {
        use std::os::fd::FromRawFd;
        let fd = self.install_raw()?;
        // SAFETY: with NEW_LISTENER a positive result is a new fd we own.
        Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as i32) })
    }

    /// Attaches the filter to the calling thread (all threads with TSYNC) with
    /// `seccomp(SECCOMP_SET_MODE_FILTER, flags, &prog)`. It stays for the life
    /// of the thread and is inherited by children and across execve.
    ///
    /// Needs no_new_privs or CAP_SYS_ADMIN (see the module docs). Allocates
    /// nothing, on success or failure.
    pub fn install(&self) -> Result<(), InstallError> {
        let fd = self.install_raw()?;
        if self.notifies() {
            // Nobody takes the listener: the notified syscalls fail ENOSYS.
            // SAFETY: our own new fd.
            unsafe { libc::close(fd as i32) };
        }
        Ok(())
    }

    fn install_raw(&self) -> Result<libc::c_long, InstallError> {
        let prog = libc::sock_fprog {
            len: self.program.len() as libc::c_ushort,
            // Instruction is #[repr(C)] with sock_filter's fields and layout.
            filter: self.program.as_ptr() as *mut libc::sock_filter,
        };
        // SAFETY: prog points at self.program, alive for the call; the kernel
        // copies the program before returning.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                SECCOMP_SET_MODE_FILTER,
                self.flags.0 as libc::c_uint,
                &prog as *const libc::sock_fprog,
            )
        };
        match rc {
            rc if rc >= 0 && self.notifies() => Ok(rc),
            0 => Ok(0),
            rc if rc > 0 => Err(InstallError::ThreadNotSynchronized(rc)),
            _ => Err(InstallError::Refused {
                // SAFETY: errno location is valid for the calling thread.
                errno: unsafe { *libc::__errno_location() },
                len: self.program.len(),
                flags: self.flags.0,
            }),
        }
    }
}

impl fmt::Display for Filter {
    /// One instruction a line, like `bpf_dbg`/libseccomp's `seccomp_export_pfc`
    /// numeric form: `index: code jt jf k`. For debugging and `--debug` logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, insn) in self.program.iter().enumerate() {
            writeln!(
                f,
                "{i:4}: {:#06x} {:3} {:3} {:#010x}",
                insn.code, insn.jt, insn.jf, insn.k
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instruction_has_the_layout_of_sock_filter() {
        assert_eq!(
            std::mem::size_of::<Instruction>(),
            std::mem::size_of::<libc::sock_filter>()
        );
        assert_eq!(
            std::mem::align_of::<Instruction>(),
            std::mem::align_of::<libc::sock_filter>()
        );
        assert_eq!(
            std::mem::offset_of!(Instruction, k),
            std::mem::offset_of!(libc::sock_filter, k)
        );
        assert_eq!(
            std::mem::offset_of!(Instruction, jf),
            std::mem::offset_of!(libc::sock_filter, jf)
        );
    }

    #[test]
    fn flags_parse_to_kernel_bits() {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            FilterFlags::parse(&names(&[
                "SECCOMP_FILTER_FLAG_TSYNC",
                "SECCOMP_FILTER_FLAG_LOG",
                "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
                "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"
            ])),
            Ok(FilterFlags(39))
        );
        assert_eq!(
            FilterFlags::parse(&names(&["SECCOMP_FILTER_FLAG_BOGUS"]))
                .unwrap_err()
                .to_string(),
            "seccomp: unknown flag \"SECCOMP_FILTER_FLAG_BOGUS\""
        );
    }

    #[test]
    fn install_errors_name_the_cause() {
        let e = InstallError::Refused {
            errno: libc::EACCES,
            len: 12,
            flags: 0,
        };
        assert_eq!(
            e.to_string(),
            "seccomp: installing filter (12 instructions, flags 0x0): EACCES: no_new_privs is not set and the process lacks CAP_SYS_ADMIN"
        );
    }
}
