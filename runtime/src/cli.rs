//! runc's command line, parsed by hand: a fixed flag table per command is all
//! it needs, and a hand parser adds nothing to start-up time or binary size.
//!
//! Compatible with how engines call runc (urfave/cli conventions): global flags
//! before the command, command flags before the first positional argument,
//! `--flag value`, `--flag=value`, single-dash long flags (`-bundle x`), and
//! runc's one-letter aliases (`-b`, `-d`, `-t`, ...). Parsing stops at the
//! first positional argument so `exec ID ls -la` keeps `-la` for `ls`.

use crate::error::{Error, Result};

/// One flag a command accepts.
pub struct FlagSpec {
    pub name: &'static str,
    pub short: Option<&'static str>,
    pub takes_value: bool,
}

const fn flag(name: &'static str, short: Option<&'static str>, takes_value: bool) -> FlagSpec {
    FlagSpec {
        name,
        short,
        takes_value,
    }
}

/// Global flags (before the command).
pub const GLOBAL_FLAGS: &[FlagSpec] = &[
    flag("root", None, true),
    flag("log", None, true),
    flag("log-format", None, true),
    flag("debug", None, false),
    flag("systemd-cgroup", None, false),
    flag("criu", None, true),
    flag("rootless", None, true),
    flag("help", Some("h"), false),
    flag("version", Some("v"), false),
];

/// The flags of each command.
pub fn command_flags(command: &str) -> Option<&'static [FlagSpec]> {
    const CREATE: &[FlagSpec] = &[
        flag("bundle", Some("b"), true),
        flag("console-socket", None, true),
        flag("pid-file", None, true),
        flag("preserve-fds", None, true),
        flag("no-pivot", None, false),
        flag("no-new-keyring", None, false),
        flag("pidfd-socket", None, true),
    ];
    const RUN: &[FlagSpec] = &[
        flag("bundle", Some("b"), true),
        flag("console-socket", None, true),
        flag("pid-file", None, true),
        flag("preserve-fds", None, true),
        flag("no-pivot", None, false),
        flag("no-new-keyring", None, false),
        flag("detach", Some("d"), false),
        flag("keep", None, false),
        flag("no-subreaper", None, false),
    ];
    const EXEC: &[FlagSpec] = &[
        flag("process", Some("p"), true),
        flag("console-socket", None, true),
        flag("pid-file", None, true),
        flag("preserve-fds", None, true),
        flag("detach", Some("d"), false),
        flag("tty", Some("t"), false),
        flag("cwd", None, true),
        flag("env", Some("e"), true),
        flag("user", Some("u"), true),
        flag("additional-gids", Some("g"), true),
        flag("cap", Some("c"), true),
        flag("no-new-privs", None, false),
        flag("process-label", None, true),
        flag("apparmor", None, true),
        flag("no-subreaper", None, false),
        flag("ignore-paused", None, false),
        flag("cgroup", None, true),
    ];
    const NONE: &[FlagSpec] = &[];
    const KILL: &[FlagSpec] = &[flag("all", Some("a"), false)];
    const DELETE: &[FlagSpec] = &[flag("force", Some("f"), false)];
    const FORMAT: &[FlagSpec] = &[flag("format", Some("f"), true)];
    const LIST: &[FlagSpec] = &[
        flag("format", Some("f"), true),
        flag("quiet", Some("q"), false),
    ];
    const SPEC: &[FlagSpec] = &[
        flag("bundle", Some("b"), true),
        flag("rootless", None, false),
    ];
    const EVENTS: &[FlagSpec] = &[flag("interval", None, true), flag("stats", None, false)];
    const UPDATE: &[FlagSpec] = &[
        flag("resources", Some("r"), true),
        flag("blkio-weight", None, true),
        flag("cpu-period", None, true),
        flag("cpu-quota", None, true),
        flag("cpu-burst", None, true),
        flag("cpu-share", None, true),
        flag("cpu-rt-period", None, true),
        flag("cpu-rt-runtime", None, true),
        flag("cpuset-cpus", None, true),
        flag("cpuset-mems", None, true),
        flag("memory", None, true),
        flag("memory-reservation", None, true),
        flag("memory-swap", None, true),
        flag("kernel-memory", None, true),
        flag("kernel-memory-tcp", None, true),
        flag("pids-limit", None, true),
        flag("l3-cache-schema", None, true),
        flag("mem-bw-schema", None, true),
    ];
    Some(match command {
        "create" => CREATE,
        "run" => RUN,
        "exec" => EXEC,
        "start" | "pause" | "resume" | "features" => NONE,
        "state" => NONE,
        "kill" => KILL,
        "delete" => DELETE,
        "ps" => FORMAT,
        "list" => LIST,
        "spec" => SPEC,
        "events" => EVENTS,
        "update" => UPDATE,
        _ => return None,
    })
}

/// Parsed flags and positional arguments of one command (or of the globals).
#[derive(Debug, Default)]
pub struct Parsed {
    values: Vec<(&'static str, String)>,
    pub positional: Vec<String>,
}

impl Parsed {
    /// The last value given for a flag.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.values
            .iter()
            .rev()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value given for a repeatable flag, in order.
    pub fn values(&self, name: &str) -> Vec<&str> {
        self.values
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Whether a boolean flag was given (and not as `=false`).
    pub fn is_set(&self, name: &str) -> bool {
        matches!(self.value(name), Some(v) if v != "false")
    }

    /// A numeric flag, with an error naming the flag if it is not a number.
    pub fn number<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>> {
        match self.value(name) {
            None => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| Error::Usage(format!("--{name}: {v:?} is not a valid number"))),
        }
    }
}

/// Parses flags from `args` by `specs`, stopping at the first positional
/// argument when `stop_at_positional`; returns the parse and the index of the
/// first unparsed argument.
pub fn parse_flags(
    args: &[String],
    specs: &'static [FlagSpec],
    stop_at_positional: bool,
) -> Result<(Parsed, usize)> {
    let mut parsed = Parsed::default();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        if arg == "--" {
            i += 1;
            parsed.positional.extend(args[i..].iter().cloned());
            return Ok((parsed, args.len()));
        }
        if !arg.starts_with('-') || arg == "-" {
            if stop_at_positional {
                return Ok((parsed, i));
            }
            parsed.positional.push(arg.clone());
            i += 1;
            continue;
        }
        let body = arg.trim_start_matches('-');
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (body, None),
        };
        let spec = specs
            .iter()
            .find(|s| s.name == name || s.short == Some(name))
            .ok_or_else(|| Error::Usage(format!("flag provided but not defined: -{name}")))?;
        let value = if spec.takes_value {
            match inline {
                Some(v) => v,
                None => {
                    i += 1;
                    args.get(i)
                        .cloned()
                        .ok_or_else(|| Error::Usage(format!("flag needs an argument: -{name}")))?
                }
            }
        } else {
            inline.unwrap_or_else(|| "true".to_string())
        };
        parsed.values.push((spec.name, value));
        i += 1;
    }
    Ok((parsed, args.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn parses_runc_flag_forms() {
        let specs = command_flags("create").unwrap();
        let (p, rest) = parse_flags(
            &s(&["-b", "/b", "--pid-file=/p", "-console-socket", "/s", "id"]),
            specs,
            true,
        )
        .unwrap();
        assert_eq!(p.value("bundle"), Some("/b"));
        assert_eq!(p.value("pid-file"), Some("/p"));
        assert_eq!(p.value("console-socket"), Some("/s"));
        assert_eq!(rest, 5);
    }

    #[test]
    fn stops_at_first_positional_for_exec() {
        let specs = command_flags("exec").unwrap();
        let args = s(&["-e", "A=1", "--env", "B=2", "ctr", "ls", "-la"]);
        let (p, rest) = parse_flags(&args, specs, true).unwrap();
        assert_eq!(p.values("env"), vec!["A=1", "B=2"]);
        assert_eq!(&args[rest..], &s(&["ctr", "ls", "-la"])[..]);
    }

    #[test]
    fn unknown_flag_and_missing_value_are_errors() {
        let specs = command_flags("delete").unwrap();
        let err = parse_flags(&s(&["--bogus", "x"]), specs, true).unwrap_err();
        assert!(err.to_string().contains("-bogus"), "{err}");
        let specs = command_flags("create").unwrap();
        let err = parse_flags(&s(&["--bundle"]), specs, true).unwrap_err();
        assert!(err.to_string().contains("needs an argument"), "{err}");
    }

    #[test]
    fn booleans_and_numbers() {
        let specs = command_flags("run").unwrap();
        let (p, _) = parse_flags(&s(&["-d", "--preserve-fds", "2"]), specs, true).unwrap();
        assert!(p.is_set("detach"));
        assert_eq!(p.number::<u32>("preserve-fds").unwrap(), Some(2));
        let (p, _) = parse_flags(&s(&["--preserve-fds", "x"]), specs, true).unwrap();
        assert!(p.number::<u32>("preserve-fds").is_err());
    }
}
