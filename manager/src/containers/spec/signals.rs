//! Signal names and numbers for `--stop-signal`, `kill -s` and an image's
//! `StopSignal`, as docker's `signal.ParseSignal`: `SIGKILL`, `kill`, `9`,
//! `SIGRTMIN+3`.

use super::SpecError;

/// The standard signals of Linux (x86, arm, most arches), `signal(7)`.
const SIGNALS: [(&str, i32); 32] = [
    ("ABRT", libc::SIGABRT),
    ("ALRM", libc::SIGALRM),
    ("BUS", libc::SIGBUS),
    ("CHLD", libc::SIGCHLD),
    ("CLD", libc::SIGCHLD),
    ("CONT", libc::SIGCONT),
    ("FPE", libc::SIGFPE),
    ("HUP", libc::SIGHUP),
    ("ILL", libc::SIGILL),
    ("INT", libc::SIGINT),
    ("IO", libc::SIGIO),
    ("IOT", libc::SIGIOT),
    ("KILL", libc::SIGKILL),
    ("PIPE", libc::SIGPIPE),
    ("POLL", libc::SIGPOLL),
    ("PROF", libc::SIGPROF),
    ("PWR", libc::SIGPWR),
    ("QUIT", libc::SIGQUIT),
    ("SEGV", libc::SIGSEGV),
    ("STKFLT", libc::SIGSTKFLT),
    ("STOP", libc::SIGSTOP),
    ("SYS", libc::SIGSYS),
    ("TERM", libc::SIGTERM),
    ("TRAP", libc::SIGTRAP),
    ("TSTP", libc::SIGTSTP),
    ("TTIN", libc::SIGTTIN),
    ("TTOU", libc::SIGTTOU),
    ("URG", libc::SIGURG),
    ("USR1", libc::SIGUSR1),
    ("USR2", libc::SIGUSR2),
    ("VTALRM", libc::SIGVTALRM),
    ("WINCH", libc::SIGWINCH),
];

/// The real-time signals: glibc reserves the kernel's first two (32, 33) for
/// threads, so `SIGRTMIN` is 34 as docker and every libc program sees it.
const RTMIN: i32 = 34;
const RTMAX: i32 = 64;

/// Parses a signal: a name with or without `SIG` in any case, `RTMIN+n`,
/// `RTMAX-n`, or a number from 1 to 64. Errors `invalid signal: FOO`.
pub fn parse_signal(input: &str) -> Result<i32, SpecError> {
    let bad = || SpecError::invalid(format!("invalid signal: {input}"));
    if let Ok(n) = input.parse::<i32>() {
        return if (1..=RTMAX).contains(&n) {
            Ok(n)
        } else {
            Err(bad())
        };
    }
    let upper = input.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some((_, n)) = SIGNALS.iter().find(|(s, _)| *s == name) {
        return Ok(*n);
    }
    let offset = |rest: &str| -> Option<i32> {
        if rest.is_empty() {
            Some(0)
        } else {
            rest.parse::<i32>()
                .ok()
                .filter(|n| (0..=RTMAX - RTMIN).contains(n))
        }
    };
    if let Some(rest) = name.strip_prefix("RTMIN") {
        let rest = rest
            .strip_prefix('+')
            .unwrap_or(if rest.is_empty() { "" } else { "x" });
        return offset(rest).map(|o| RTMIN + o).ok_or_else(bad);
    }
    if let Some(rest) = name.strip_prefix("RTMAX") {
        let rest = rest
            .strip_prefix('-')
            .unwrap_or(if rest.is_empty() { "" } else { "x" });
        return offset(rest).map(|o| RTMAX - o).ok_or_else(bad);
    }
    Err(bad())
}

/// The canonical name of a signal number (`SIGTERM`, `SIGRTMIN+3`), for
/// inspect output; `None` outside 1..=64.
pub fn signal_name(signal: i32) -> Option<String> {
    if let Some((name, _)) = SIGNALS
        .iter()
        .filter(|(n, _)| !matches!(*n, "CLD" | "IOT" | "POLL"))
        .find(|(_, n)| *n == signal)
    {
        return Some(format!("SIG{name}"));
    }
    match signal {
        RTMIN => Some("SIGRTMIN".into()),
        n if n > RTMIN && n <= RTMAX => Some(format!("SIGRTMIN+{}", n - RTMIN)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        assert_eq!(parse_signal("SIGKILL").unwrap(), 9);
        assert_eq!(parse_signal("kill").unwrap(), 9);
        assert_eq!(parse_signal("9").unwrap(), 9);
        assert_eq!(parse_signal("sigterm").unwrap(), 15);
        assert_eq!(parse_signal("SIGQUIT").unwrap(), 3);
        assert_eq!(parse_signal("SIGRTMIN").unwrap(), 34);
        assert_eq!(parse_signal("RTMIN+3").unwrap(), 37);
        assert_eq!(parse_signal("SIGRTMAX-1").unwrap(), 63);
        assert_eq!(parse_signal("64").unwrap(), 64);
    }

    #[test]
    fn bad_signals_name_the_input() {
        for bad in [
            "FOO",
            "0",
            "65",
            "-1",
            "",
            "SIGRTMIN+31",
            "RTMINX",
            "SIGRTMAX+1",
        ] {
            assert_eq!(
                parse_signal(bad).unwrap_err().to_string(),
                format!("invalid signal: {bad}")
            );
        }
    }

    #[test]
    fn names_round_trip() {
        for n in 1..=64 {
            if let Some(name) = signal_name(n) {
                assert_eq!(parse_signal(&name).unwrap(), n, "{name}");
            }
        }
        assert_eq!(signal_name(15).as_deref(), Some("SIGTERM"));
        assert_eq!(signal_name(17).as_deref(), Some("SIGCHLD"));
        assert_eq!(signal_name(0), None);
    }
}
