//! Signal names and numbers as `kill` accepts them (`KILL`, `SIGKILL`, `9`,
//! `SIGRTMIN+3`), and forwarding of the signals `run`/`exec` receive to the
//! process they wait for (runc's signal proxy).

use crate::error::{Error, Result};

const NAMES: &[(&str, libc::c_int)] = &[
    ("HUP", libc::SIGHUP),
    ("INT", libc::SIGINT),
    ("QUIT", libc::SIGQUIT),
    ("ILL", libc::SIGILL),
    ("TRAP", libc::SIGTRAP),
    ("ABRT", libc::SIGABRT),
    ("IOT", libc::SIGIOT),
    ("BUS", libc::SIGBUS),
    ("FPE", libc::SIGFPE),
    ("KILL", libc::SIGKILL),
    ("USR1", libc::SIGUSR1),
    ("SEGV", libc::SIGSEGV),
    ("USR2", libc::SIGUSR2),
    ("PIPE", libc::SIGPIPE),
    ("ALRM", libc::SIGALRM),
    ("TERM", libc::SIGTERM),
    ("STKFLT", libc::SIGSTKFLT),
    ("CHLD", libc::SIGCHLD),
    ("CONT", libc::SIGCONT),
    ("STOP", libc::SIGSTOP),
    ("TSTP", libc::SIGTSTP),
    ("TTIN", libc::SIGTTIN),
    ("TTOU", libc::SIGTTOU),
    ("URG", libc::SIGURG),
    ("XCPU", libc::SIGXCPU),
    ("XFSZ", libc::SIGXFSZ),
    ("VTALRM", libc::SIGVTALRM),
    ("PROF", libc::SIGPROF),
    ("WINCH", libc::SIGWINCH),
    ("IO", libc::SIGIO),
    ("POLL", libc::SIGPOLL),
    ("PWR", libc::SIGPWR),
    ("SYS", libc::SIGSYS),
];

/// Parses a signal given by name (with or without `SIG`, any case), by
/// number, or as `RTMIN+n` / `RTMAX-n`. Number 0 is taken, as runc takes
/// it: `kill ID 0` checks that the init exists without signalling it.
pub fn parse(text: &str) -> Result<libc::c_int> {
    let bad = || Error::Usage(format!("unknown signal {text:?}"));
    if let Ok(n) = text.parse::<libc::c_int>() {
        return if (0..=libc::SIGRTMAX()).contains(&n) {
            Ok(n)
        } else {
            Err(bad())
        };
    }
    let upper = text.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some(rest) = name.strip_prefix("RTMIN") {
        let off: libc::c_int = if rest.is_empty() {
            0
        } else {
            rest.strip_prefix('+')
                .and_then(|n| n.parse().ok())
                .ok_or_else(bad)?
        };
        let n = libc::SIGRTMIN() + off;
        return if n <= libc::SIGRTMAX() {
            Ok(n)
        } else {
            Err(bad())
        };
    }
    if let Some(rest) = name.strip_prefix("RTMAX") {
        let off: libc::c_int = if rest.is_empty() {
            0
        } else {
            rest.strip_prefix('-')
                .and_then(|n| n.parse().ok())
                .ok_or_else(bad)?
        };
        let n = libc::SIGRTMAX() - off;
        return if n >= libc::SIGRTMIN() {
            Ok(n)
        } else {
            Err(bad())
        };
    }
    NAMES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, s)| *s)
        .ok_or_else(bad)
}

/// glibc's SIGCANCEL: the one signal whose inherited disposition a
/// container's process keeps under runc (see [`reset_dispositions`]).
const SIGCANCEL: libc::c_int = 32;

/// Gives every ignored signal but SIGCANCEL (32) back its default action,
/// in a container's process (init, or exec's child) before anything else,
/// seccomp included, can refuse it. An ignored signal stays ignored across
/// execve, and without this the container's process would inherit:
///
/// * SIGPIPE, which Rust's runtime ignores in every Rust program,
///   berth-runtime included (`yes | head -1` never ended);
/// * whatever the caller ignored: `nohup` (SIGHUP), a shell's background
///   job, and signals 32 and 33, which glibc's posix_spawn leaves ignored in
///   every child it spawns (Rust's `Command` and Python's `posix_spawn` use
///   it: SigIgn 0x180000000).
///
/// Under runc 1.1 none of these reach the container: `run`, `create` and
/// `exec` all call Go's `signal.Notify` for every signal before starting the
/// init, Go installs a handler for each but 32 and 33, and handlers become
/// the default action at execve; 33 (glibc's SIGSETXID) ends up with the
/// default action too in runc's init, and 32 stays as the caller left it.
/// Measured: a caller ignoring HUP, TERM, XFSZ, 32 and 33 gives runc's
/// container SigIgn 0x80000000 in `run` and `exec`; this gives the same.
///
/// Raw rt_sigaction: glibc's sigaction refuses 32 and 33 (EINVAL). The
/// kernel's struct begins with the handler; zeroes are SIG_DFL with no flags
/// and an empty mask whatever the architecture's layout.
pub fn reset_dispositions() {
    for sig in 1..=64 {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP || sig == SIGCANCEL {
            continue;
        }
        let mut old = [0u64; 4];
        let rc = unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                std::ptr::null::<u64>(),
                old.as_mut_ptr(),
                8usize,
            )
        };
        if rc == 0 && old[0] as usize == libc::SIG_IGN {
            let dfl = [0u64; 4];
            unsafe {
                libc::syscall(
                    libc::SYS_rt_sigaction,
                    sig,
                    dfl.as_ptr(),
                    std::ptr::null_mut::<u64>(),
                    8usize,
                )
            };
        }
    }
}

/// Blocks every signal and returns the previous mask, so a waiting parent
/// can take them one at a time with sigwaitinfo and forward them.
pub fn block_all() -> libc::sigset_t {
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::sigprocmask(libc::SIG_BLOCK, &all, &mut old);
        old
    }
}

/// Restores a signal mask (in a child before exec).
pub fn restore(mask: &libc::sigset_t) {
    unsafe { libc::sigprocmask(libc::SIG_SETMASK, mask, std::ptr::null_mut()) };
}

/// Waits for `pid` (our child) to exit, forwarding every other signal we
/// receive to it; returns its wait status. Signals must be blocked
/// ([`block_all`]) before the child is created, so none is lost.
pub fn forward_until_exit(pid: libc::pid_t) -> Result<libc::c_int> {
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    unsafe { libc::sigfillset(&mut set) };
    loop {
        // Reap first: the child may have exited before we got here.
        if let Ok((p, status)) = crate::sys::waitpid(pid, libc::WNOHANG) {
            if p == pid {
                return Ok(status);
            }
        } else {
            return Err(Error::Container(format!(
                "wait for process {pid}: no such child"
            )));
        }
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let sig = unsafe { libc::sigwaitinfo(&set, &mut info) };
        if sig < 0 || sig == libc::SIGCHLD {
            continue;
        }
        // SIGWINCH etc. go to the container too, as with runc.
        unsafe { libc::kill(pid, sig) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_numbers_and_realtime() {
        assert_eq!(parse("KILL").unwrap(), 9);
        assert_eq!(parse("sigterm").unwrap(), 15);
        assert_eq!(parse("9").unwrap(), 9);
        assert_eq!(parse("0").unwrap(), 0);
        assert_eq!(parse("SIGUSR1").unwrap(), libc::SIGUSR1);
        assert_eq!(parse("SIGRTMIN+1").unwrap(), libc::SIGRTMIN() + 1);
        assert_eq!(parse("RTMAX-1").unwrap(), libc::SIGRTMAX() - 1);
        for bad in ["BOGUS", "SIG", "65", "-1", "SIGRTMIN+99", ""] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
