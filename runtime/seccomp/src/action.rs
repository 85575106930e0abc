//! seccomp actions: the OCI `SCMP_ACT_*` names and the `SECCOMP_RET_*` values a
//! filter returns (`include/uapi/linux/seccomp.h`, seccomp(2) "Filter return values").

use berth_oci::SeccompAction;

use crate::compiler::SeccompError;

/// Kill the whole process, as by an uncatchable SIGSYS (Linux 4.14).
pub const SECCOMP_RET_KILL_PROCESS: u32 = 0x8000_0000;
/// Kill the calling thread (the older `SECCOMP_RET_KILL`).
pub const SECCOMP_RET_KILL_THREAD: u32 = 0x0000_0000;
/// Send SIGSYS to the thread.
pub const SECCOMP_RET_TRAP: u32 = 0x0003_0000;
/// Fail the syscall with the errno in the low 16 bits.
pub const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;
/// Hand the syscall to a user-space supervisor: the seccomp agent that
/// holds the filter's listener fd (`SCMP_ACT_NOTIFY`, Linux 5.0).
pub const SECCOMP_RET_USER_NOTIF: u32 = 0x7fc0_0000;
/// Notify a ptrace tracer, with the low 16 bits as `PTRACE_GETEVENTMSG` data.
pub const SECCOMP_RET_TRACE: u32 = 0x7ff0_0000;
/// Allow the syscall after logging it.
pub const SECCOMP_RET_LOG: u32 = 0x7ffc_0000;
/// Allow the syscall.
pub const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
/// The low 16 bits of a return value: its data.
pub const SECCOMP_RET_DATA: u32 = 0x0000_ffff;

/// `MAX_ERRNO` (`include/linux/err.h`): the kernel clamps larger errno data to it.
pub const MAX_ERRNO: u32 = 4095;

/// The errno an `SCMP_ACT_ERRNO` or `SCMP_ACT_TRACE` without `errnoRet` uses:
/// EPERM, as runc does (`actErrno`, `actTrace` in runc's seccomp_linux.go).
pub const DEFAULT_ERRNO: u32 = libc::EPERM as u32;

/// The filter return value for an OCI action; `syscall` names the rule for
/// errors (`None`: the default action).
///
/// `errnoRet` is the errno of `SCMP_ACT_ERRNO` (0..=4095) and the tracer's data
/// of `SCMP_ACT_TRACE` (0..=65535); runc ignores it on other actions, and so do we.
pub(crate) fn return_value(
    action: SeccompAction,
    errno_ret: Option<u32>,
    syscall: Option<&str>,
) -> Result<u32, SeccompError> {
    let data = |max: u32| -> Result<u32, SeccompError> {
        match errno_ret {
            None => Ok(DEFAULT_ERRNO),
            Some(v) if v <= max => Ok(v),
            Some(v) => Err(SeccompError::ErrnoRetOutOfRange {
                syscall: syscall.map(str::to_string),
                value: v,
                max,
            }),
        }
    };
    Ok(match action {
        SeccompAction::Allow => SECCOMP_RET_ALLOW,
        SeccompAction::Kill | SeccompAction::KillThread => SECCOMP_RET_KILL_THREAD,
        SeccompAction::KillProcess => SECCOMP_RET_KILL_PROCESS,
        SeccompAction::Trap => SECCOMP_RET_TRAP,
        SeccompAction::Errno => SECCOMP_RET_ERRNO | data(MAX_ERRNO)?,
        SeccompAction::Trace => SECCOMP_RET_TRACE | data(SECCOMP_RET_DATA)?,
        SeccompAction::Log => SECCOMP_RET_LOG,
        // runc 1.1 refuses both (its InitSeccomp): a notifying default
        // would hand the init's own syscalls, and a notified write the
        // agent's replies, to an agent that is not there yet.
        SeccompAction::Notify if syscall.is_none() => return Err(SeccompError::NotifyDefault),
        SeccompAction::Notify => SECCOMP_RET_USER_NOTIF,
    })
}

/// Whether an action lets the syscall run (or leaves the decision to a
/// tracer). runc returns ENOSYS for syscalls newer than the profile only when
/// the default action is not one of these (`isAllowAction` in runc's patchbpf).
pub(crate) fn is_permissive(action: SeccompAction) -> bool {
    matches!(
        action,
        SeccompAction::Allow | SeccompAction::Log | SeccompAction::Trace
    )
}
