//! runc's command line, parsed by hand: a fixed flag table per command is all
//! it needs, and a hand parser adds nothing to start-up time or binary size.
//!
//! Compatible with how engines call runc (urfave/cli conventions): global flags
//! before the command, command flags after it,
//! `--flag value`, `--flag=value`, single-dash long flags (`-bundle x`), and
//! runc's one-letter aliases (`-b`, `-d`, `-t`, ...). A command's flags may
//! also follow its positional arguments (`update ID --memory 1M`: urfave/cli
//! 1 reorders them), except for `exec` and `ps` (runc's SkipArgReorder),
//! where parsing stops at the first positional argument so `exec ID ls -la`
//! keeps `-la` for `ls`.

use crate::error::{Error, Result};

/// One flag a command accepts. `help` is not used by the parser: it is the
/// flag's line in the man page that berth-dist builds from this table (so
/// the page cannot drift from what is parsed); as a `&'static str` it costs
/// no start-up time.
pub struct FlagSpec {
    pub name: &'static str,
    pub short: Option<&'static str>,
    pub takes_value: bool,
    pub help: &'static str,
}

const fn flag(
    name: &'static str,
    short: Option<&'static str>,
    takes_value: bool,
    help: &'static str,
) -> FlagSpec {
    FlagSpec {
        name,
        short,
        takes_value,
        help,
    }
}

/// Every command: its name, its positional arguments (for the synopsis)
/// and a one-line description, for the man page; [`command_flags`] knows
/// the flags of each.
pub const COMMANDS: &[(&str, &str, &str)] = &[
    (
        "create",
        "ID",
        "create a container from a bundle; its process waits for start",
    ),
    ("start", "ID", "run the user process of a created container"),
    ("state", "ID", "print the state of a container as JSON"),
    (
        "kill",
        "ID [SIGNAL]",
        "send a signal (default SIGTERM) to the container's init",
    ),
    ("delete", "ID", "remove a stopped container's resources"),
    (
        "run",
        "ID",
        "create and start a container, then wait for it",
    ),
    (
        "exec",
        "ID [COMMAND [ARG...]]",
        "run an additional process in a running container",
    ),
    (
        "ps",
        "ID [PS-OPTION...]",
        "list the processes of a container",
    ),
    ("list", "", "list the containers under --root"),
    ("spec", "", "write a default config.json into the bundle"),
    ("pause", "ID", "freeze every process of a container"),
    ("resume", "ID", "thaw a paused container"),
    (
        "update",
        "ID",
        "change the resource limits of a running container",
    ),
    ("events", "ID", "print a container's stats and OOM events"),
    ("features", "", "print what this runtime supports as JSON"),
    (
        "checkpoint",
        "ID",
        "dump a running container's processes to images with CRIU",
    ),
    (
        "restore",
        "ID",
        "start a container from images a checkpoint made, with CRIU",
    ),
];

/// Global flags (before the command).
pub const GLOBAL_FLAGS: &[FlagSpec] = &[
    flag(
        "root",
        None,
        true,
        "root directory of container state (default /run/berth-runtime)",
    ),
    flag(
        "log",
        None,
        true,
        "append the runtime's own errors and messages to this file",
    ),
    flag("log-format", None, true, "format of --log: text or json"),
    flag("debug", None, false, "write debug messages to the log"),
    flag(
        "systemd-cgroup",
        None,
        false,
        "name cgroups as systemd slices (slice:prefix:name)",
    ),
    flag(
        "criu",
        None,
        true,
        "the CRIU binary for checkpoint and restore (default: criu from PATH)",
    ),
    flag(
        "rootless",
        None,
        true,
        "accepted for runc compatibility (true, false or auto)",
    ),
    flag("help", Some("h"), false, "show usage"),
    flag(
        "version",
        Some("v"),
        false,
        "print the version and the OCI runtime spec version",
    ),
];

/// The flags of each command.
pub fn command_flags(command: &str) -> Option<&'static [FlagSpec]> {
    const CREATE: &[FlagSpec] = &[
        flag(
            "bundle",
            Some("b"),
            true,
            "the OCI bundle directory (holds config.json; default: the current directory)",
        ),
        flag(
            "console-socket",
            None,
            true,
            "unix socket that receives the pty master of a terminal container (SCM_RIGHTS)",
        ),
        flag(
            "pid-file",
            None,
            true,
            "write the container process's pid to this file",
        ),
        flag(
            "preserve-fds",
            None,
            true,
            "pass this many extra fds (from fd 3 on) to the container process",
        ),
        flag(
            "no-pivot",
            None,
            false,
            "use chroot instead of pivot_root (for ramfs roots)",
        ),
        flag(
            "no-new-keyring",
            None,
            false,
            "keep the caller's session keyring instead of a new one",
        ),
        flag(
            "pidfd-socket",
            None,
            true,
            "unix socket that receives a pidfd of the container process",
        ),
    ];
    const RUN: &[FlagSpec] = &[
        flag(
            "bundle",
            Some("b"),
            true,
            "the OCI bundle directory (holds config.json; default: the current directory)",
        ),
        flag(
            "console-socket",
            None,
            true,
            "unix socket that receives the pty master of a terminal container (SCM_RIGHTS)",
        ),
        flag(
            "pid-file",
            None,
            true,
            "write the container process's pid to this file",
        ),
        flag(
            "preserve-fds",
            None,
            true,
            "pass this many extra fds (from fd 3 on) to the container process",
        ),
        flag(
            "no-pivot",
            None,
            false,
            "use chroot instead of pivot_root (for ramfs roots)",
        ),
        flag(
            "no-new-keyring",
            None,
            false,
            "keep the caller's session keyring instead of a new one",
        ),
        flag(
            "detach",
            Some("d"),
            false,
            "do not wait for the process: return once it runs",
        ),
        flag(
            "keep",
            None,
            false,
            "keep the container's state after it exits",
        ),
        flag(
            "no-subreaper",
            None,
            false,
            "do not become a subreaper of the container's processes",
        ),
    ];
    const EXEC: &[FlagSpec] = &[
        flag(
            "process",
            Some("p"),
            true,
            "a JSON file with the OCI process to run (instead of the arguments)",
        ),
        flag(
            "console-socket",
            None,
            true,
            "unix socket that receives the pty master of a terminal container (SCM_RIGHTS)",
        ),
        flag(
            "pid-file",
            None,
            true,
            "write the container process's pid to this file",
        ),
        flag(
            "preserve-fds",
            None,
            true,
            "pass this many extra fds (from fd 3 on) to the container process",
        ),
        flag(
            "detach",
            Some("d"),
            false,
            "do not wait for the process: return once it runs",
        ),
        flag("tty", Some("t"), false, "allocate a pseudo-terminal"),
        flag("cwd", None, true, "working directory of the process"),
        flag(
            "env",
            Some("e"),
            true,
            "set an environment variable (KEY=VALUE, repeatable)",
        ),
        flag("user", Some("u"), true, "UID[:GID] to run the process as"),
        flag(
            "additional-gids",
            Some("g"),
            true,
            "an additional group id (repeatable)",
        ),
        flag("cap", Some("c"), true, "add a capability (repeatable)"),
        flag(
            "no-new-privs",
            None,
            false,
            "set no_new_privs on the process",
        ),
        flag("process-label", None, true, "SELinux label of the process"),
        flag("apparmor", None, true, "AppArmor profile of the process"),
        flag(
            "no-subreaper",
            None,
            false,
            "do not become a subreaper of the container's processes",
        ),
        flag(
            "ignore-paused",
            None,
            false,
            "exec even into a paused container",
        ),
        flag(
            "cgroup",
            None,
            true,
            "run the process in this sub-cgroup of the container",
        ),
    ];
    const NONE: &[FlagSpec] = &[];
    const KILL: &[FlagSpec] = &[flag(
        "all",
        Some("a"),
        false,
        "send the signal to every process of the container",
    )];
    const DELETE: &[FlagSpec] = &[flag(
        "force",
        Some("f"),
        false,
        "kill the container first if it still runs",
    )];
    const FORMAT: &[FlagSpec] = &[flag(
        "format",
        Some("f"),
        true,
        "output format: table or json",
    )];
    const LIST: &[FlagSpec] = &[
        flag("format", Some("f"), true, "output format: table or json"),
        flag("quiet", Some("q"), false, "print container ids only"),
    ];
    const SPEC: &[FlagSpec] = &[
        flag(
            "bundle",
            Some("b"),
            true,
            "the OCI bundle directory (holds config.json; default: the current directory)",
        ),
        flag(
            "rootless",
            None,
            false,
            "write a spec for a rootless container",
        ),
    ];
    const EVENTS: &[FlagSpec] = &[
        flag("interval", None, true, "seconds between stats events"),
        flag("stats", None, false, "print one stats event and exit"),
    ];
    const UPDATE: &[FlagSpec] = &[
        flag(
            "resources",
            Some("r"),
            true,
            "a JSON file of OCI linux.resources (- for stdin)",
        ),
        flag("blkio-weight", None, true, "block IO weight (10-1000)"),
        flag("cpu-period", None, true, "CPU CFS period in microseconds"),
        flag("cpu-quota", None, true, "CPU CFS quota in microseconds"),
        flag("cpu-burst", None, true, "CPU CFS burst in microseconds"),
        flag("cpu-share", None, true, "CPU shares (relative weight)"),
        flag(
            "cpu-rt-period",
            None,
            true,
            "CPU realtime period in microseconds",
        ),
        flag(
            "cpu-rt-runtime",
            None,
            true,
            "CPU realtime runtime in microseconds",
        ),
        flag(
            "cpuset-cpus",
            None,
            true,
            "CPUs the container may use (0-3, 0,1)",
        ),
        flag(
            "cpuset-mems",
            None,
            true,
            "memory nodes the container may use",
        ),
        flag("memory", None, true, "memory limit in bytes"),
        flag(
            "memory-reservation",
            None,
            true,
            "memory soft limit in bytes",
        ),
        flag(
            "memory-swap",
            None,
            true,
            "memory plus swap limit in bytes (-1: unlimited)",
        ),
        flag(
            "kernel-memory",
            None,
            true,
            "kernel memory limit (deprecated by the kernel)",
        ),
        flag(
            "kernel-memory-tcp",
            None,
            true,
            "kernel TCP buffer memory limit (deprecated by the kernel)",
        ),
        flag("pids-limit", None, true, "maximum number of processes"),
        flag("l3-cache-schema", None, true, "Intel RDT L3 cache schema"),
        flag(
            "mem-bw-schema",
            None,
            true,
            "Intel RDT memory bandwidth schema",
        ),
    ];
    const CHECKPOINT: &[FlagSpec] = &[
        flag(
            "image-path",
            None,
            true,
            "where to write the images (default ./checkpoint)",
        ),
        flag(
            "work-path",
            None,
            true,
            "where CRIU writes its log (default: the image path)",
        ),
        flag(
            "parent-path",
            None,
            true,
            "images of a previous pre-dump, relative to the image path",
        ),
        flag(
            "leave-running",
            None,
            false,
            "leave the container running after the dump",
        ),
        flag(
            "tcp-established",
            None,
            false,
            "dump established TCP connections",
        ),
        flag("ext-unix-sk", None, false, "allow external unix sockets"),
        flag(
            "shell-job",
            None,
            false,
            "allow a shell job (a terminal from outside)",
        ),
        flag("file-locks", None, false, "dump file locks"),
        flag(
            "pre-dump",
            None,
            false,
            "dump memory only, leave the container running",
        ),
        flag(
            "manage-cgroups-mode",
            None,
            true,
            "CRIU's cgroups mode: soft, full, strict or ignore",
        ),
        flag(
            "auto-dedup",
            None,
            false,
            "deduplicate the images against the parent's",
        ),
        flag("lazy-pages", None, false, "not implemented: lazy migration"),
        flag(
            "page-server",
            None,
            true,
            "not implemented: a CRIU page server",
        ),
        flag("status-fd", None, true, "not implemented: CRIU's status fd"),
        flag(
            "empty-ns",
            None,
            true,
            "not implemented: namespaces to leave empty",
        ),
    ];
    const RESTORE: &[FlagSpec] = &[
        flag(
            "bundle",
            Some("b"),
            true,
            "the OCI bundle directory (default: the current directory)",
        ),
        flag(
            "image-path",
            None,
            true,
            "where the images are (default ./checkpoint)",
        ),
        flag(
            "work-path",
            None,
            true,
            "where CRIU writes its log (default: the image path)",
        ),
        flag(
            "detach",
            Some("d"),
            false,
            "do not wait for the restored container",
        ),
        flag(
            "pid-file",
            None,
            true,
            "write the restored init's pid to this file",
        ),
        flag(
            "console-socket",
            None,
            true,
            "not implemented: restore of a terminal container",
        ),
        flag(
            "no-subreaper",
            None,
            false,
            "do not become a subreaper of the restored processes",
        ),
        flag("no-pivot", None, false, "accepted for runc compatibility"),
        flag(
            "tcp-established",
            None,
            false,
            "restore established TCP connections",
        ),
        flag("ext-unix-sk", None, false, "allow external unix sockets"),
        flag(
            "shell-job",
            None,
            false,
            "allow a shell job (a terminal from outside)",
        ),
        flag("file-locks", None, false, "restore file locks"),
        flag(
            "manage-cgroups-mode",
            None,
            true,
            "CRIU's cgroups mode: soft, full, strict or ignore",
        ),
        flag(
            "auto-dedup",
            None,
            false,
            "deduplicate the images as they are read",
        ),
        flag("lazy-pages", None, false, "not implemented: lazy migration"),
        flag(
            "empty-ns",
            None,
            true,
            "not implemented: namespaces to leave empty",
        ),
    ];
    Some(match command {
        "checkpoint" => CHECKPOINT,
        "restore" => RESTORE,
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

/// The name this binary was called by (runc's tests call it through a
/// `runc` link and match `runc <command>` in help text).
pub fn program_name(argv0: Option<&str>) -> &str {
    argv0
        .and_then(|a| a.rsplit('/').next())
        .filter(|n| !n.is_empty())
        .unwrap_or("berth-runtime")
}

/// Whether `-h`/`--help` is among the flags before the first positional
/// argument (after it, `exec`'s command owns its flags), as urfave/cli
/// decides for runc.
pub fn wants_help(args: &[String], specs: &[FlagSpec]) -> bool {
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        if arg == "--" || !arg.starts_with('-') || arg == "-" {
            return false;
        }
        let body = arg.trim_start_matches('-');
        if body == "h" || body == "help" {
            return true;
        }
        let takes_value = specs
            .iter()
            .find(|s| s.name == body || s.short == Some(body))
            .is_some_and(|s| s.takes_value);
        i += if takes_value { 2 } else { 1 };
    }
    false
}

/// The `OPTIONS:` lines of a flag table, aligned like urfave/cli's.
fn flag_lines(specs: &[FlagSpec], out: &mut String) {
    let names: Vec<String> = specs
        .iter()
        .map(|s| {
            let mut n = format!("--{}", s.name);
            if let Some(short) = s.short {
                n.push_str(&format!(", -{short}"));
            }
            if s.takes_value {
                n.push_str(" value");
            }
            n
        })
        .collect();
    let width = names.iter().map(String::len).max().unwrap_or(0);
    for (n, s) in names.iter().zip(specs) {
        out.push_str(&format!("   {n:<width$}  {}\n", s.help));
    }
}

/// `PROGRAM COMMAND -h`: runc's help page layout (NAME, USAGE, OPTIONS), so
/// tools that read line 2 (`runc kill - ...`) find the same.
pub fn command_help(program: &str, command: &str) -> Option<String> {
    let (_, positional, about) = COMMANDS.iter().find(|(n, _, _)| *n == command)?;
    let specs = command_flags(command)?;
    let mut out = format!(
        "NAME:\n   {program} {command} - {about}\n\nUSAGE:\n   {program} {command} [command options] {positional}\n"
    );
    if !specs.is_empty() {
        out.push_str("\nOPTIONS:\n");
        flag_lines(specs, &mut out);
    }
    Some(out)
}

/// `PROGRAM --help`: runc's top-level help page layout.
pub fn global_help(program: &str, version: &str) -> String {
    let mut out = format!(
        "NAME:\n   {program} - Open Container Initiative runtime\n\n\
         {program} runs containers from OCI bundles (a config.json and a root filesystem)\n\
         and is a drop-in replacement for runc.\n\n\
         USAGE:\n   {program} [global options] command [command options] [arguments...]\n\n\
         VERSION:\n   {version}\n\nCOMMANDS:\n"
    );
    let width = COMMANDS.iter().map(|(n, _, _)| n.len()).max().unwrap_or(0);
    for (name, _, about) in COMMANDS {
        out.push_str(&format!("   {name:<width$}  {about}\n"));
    }
    out.push_str(&format!(
        "   {:<width$}  show the commands, or one command's help\n",
        "help, h"
    ));
    out.push_str("\nGLOBAL OPTIONS:\n");
    flag_lines(GLOBAL_FLAGS, &mut out);
    out
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
/// first unparsed argument. Otherwise the command's flags are taken wherever
/// they are, as urfave/cli 1's argument reordering lets runc take them
/// (`update ID --memory 1M`), up to `--`.
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
        let Some(spec) = specs
            .iter()
            .find(|s| s.name == name || s.short == Some(name))
        else {
            // After a positional argument, urfave/cli leaves what is not
            // one of the command's flags where it is (`kill ID -9`).
            if !parsed.positional.is_empty() {
                parsed.positional.push(arg.clone());
                i += 1;
                continue;
            }
            return Err(Error::Usage(format!(
                "flag provided but not defined: -{name}"
            )));
        };
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
    fn every_listed_command_has_a_flag_table() {
        for (name, _, _) in COMMANDS {
            assert!(command_flags(name).is_some(), "{name}");
        }
        assert!(command_flags("frobnicate").is_none());
    }

    #[test]
    fn takes_flags_after_positionals_unless_told_to_stop() {
        let specs = command_flags("update").unwrap();
        let (p, rest) = parse_flags(&s(&["id", "--memory", "1M", "-x"]), specs, false).unwrap();
        assert_eq!(rest, 4);
        assert_eq!(p.value("memory"), Some("1M"));
        assert_eq!(p.positional, s(&["id", "-x"]));
        assert!(parse_flags(&s(&["-x", "id"]), specs, false).is_err());
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
