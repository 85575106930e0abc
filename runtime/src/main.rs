//! berth-runtime's entry point: runc's command line, one command per call.

use std::io::Write;
use std::path::PathBuf;

use berth_runtime::cli::{self, GLOBAL_FLAGS};
use berth_runtime::container::DEFAULT_ROOT;
use berth_runtime::error::Error;
use berth_runtime::log::Log;
use berth_runtime::{commands, selfexe, Runtime};

/// What `--version` prints after the first line (runc's `commit:` and
/// `spec:` lines; the commit is set at build time by BERTH_GIT_COMMIT).
fn version_lines() -> String {
    format!(
        "{}\ncommit: {}\nspec: {}",
        env!("CARGO_PKG_VERSION"),
        option_env!("BERTH_GIT_COMMIT").unwrap_or("unknown"),
        berth_oci::OCI_VERSION
    )
}

/// urfave/cli's exit code for an unknown command, which runc keeps.
const EXIT_UNKNOWN_COMMAND: i32 = 3;

fn main() {
    berth_runtime::abort_on_panic();
    let argv0 = std::env::args().next();
    let program = cli::program_name(argv0.as_deref()).to_string();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (globals, rest) = match cli::parse_flags(&args, GLOBAL_FLAGS, true) {
        Ok(v) => v,
        Err(e) => fail(&Log::default(), &e),
    };
    let log = Log {
        path: globals.value("log").map(str::to_string),
        json: globals.value("log-format") == Some("json"),
        debug: globals.is_set("debug"),
    };
    if let Some(f) = globals.value("log-format") {
        if f != "json" && f != "text" {
            fail(
                &log,
                &Error::Usage(format!("invalid --log-format {f:?} (want text or json)")),
            );
        }
    }
    // A closed pipe (`| head -1`) is not worth a panic: writes to stdout
    // below ignore their errors.
    let print = |text: &str| {
        let _ = write!(std::io::stdout(), "{text}");
    };
    if globals.is_set("version") || args.get(rest).map(String::as_str) == Some("version") {
        print(&format!("{program} version {}\n", version_lines()));
        return;
    }
    // `--help`, and no command at all, show the help page, as runc does.
    let command = args.get(rest).map_or("help", String::as_str);
    if command == "help" || command == "h" {
        match args.get(rest + 1) {
            None => print(&cli::global_help(&program, &version_lines())),
            Some(topic) => match cli::command_help(&program, topic) {
                Some(text) => print(&text),
                None => unknown_command(&log, topic),
            },
        }
        return;
    }
    let Some(specs) = cli::command_flags(command) else {
        unknown_command(&log, command);
    };
    let cmd_args = &args[rest + 1..];
    if cli::wants_help(cmd_args, specs) {
        print(&cli::command_help(&program, command).unwrap_or_default());
        return;
    }
    // Commands that put runtime code inside a container re-execute from a
    // sealed copy first (CVE-2019-5736).
    if matches!(command, "create" | "run" | "exec") {
        if let Err(e) = selfexe::ensure_read_only_exe() {
            fail(&log, &e);
        }
    }
    // runc's exec and ps skip urfave/cli's argument reordering: what
    // follows the id is the command (exec) or ps's own arguments.
    let stop_at_positional = matches!(command, "exec" | "ps");
    let (mut flags, first_positional) = match cli::parse_flags(cmd_args, specs, stop_at_positional)
    {
        Ok(v) => v,
        Err(e) => fail(&log, &e),
    };
    // Everything after the first positional argument is positional: exec's
    // command keeps its own flags.
    flags
        .positional
        .extend(cmd_args[first_positional..].iter().cloned());
    let rt = Runtime {
        root: PathBuf::from(globals.value("root").unwrap_or(DEFAULT_ROOT)),
        log: log.clone(),
        systemd_cgroup: globals.is_set("systemd-cgroup"),
        criu: globals.value("criu").map(str::to_string),
    };
    log.debug(|| format!("{command}: arguments {cmd_args:?}"));
    match commands::dispatch(&rt, command, &flags) {
        Ok(code) => {
            log.debug(|| format!("{command}: exit status {code}"));
            std::process::exit(code)
        }
        Err(e) => fail(&log, &e),
    }
}

/// runc's answer to a command it does not have (urfave/cli's words, which
/// scripts match), exit status 3.
fn unknown_command(log: &Log, command: &str) -> ! {
    log.error(&format!("No help topic for '{command}'"));
    std::process::exit(EXIT_UNKNOWN_COMMAND);
}

fn fail(log: &Log, e: &Error) -> ! {
    log.error(&e.to_string());
    std::process::exit(1);
}
