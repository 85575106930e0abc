//! berth-runtime's entry point: runc's command line, one command per call.

use std::io::Write;
use std::path::PathBuf;

use berth_runtime::cli::{self, GLOBAL_FLAGS};
use berth_runtime::container::DEFAULT_ROOT;
use berth_runtime::error::Error;
use berth_runtime::log::Log;
use berth_runtime::{commands, selfexe, Runtime};

const USAGE: &str = "usage: berth-runtime [--root DIR] [--log FILE] [--log-format text|json] [--debug] [--systemd-cgroup] COMMAND [ARGS]
commands: create start state kill delete run exec ps list spec pause resume update events features";

fn main() {
    berth_runtime::abort_on_panic();
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
    if globals.is_set("version") {
        // A closed pipe (`| head -1`) is not worth a panic.
        let _ = writeln!(
            std::io::stdout(),
            "berth-runtime version {}\nspec: {}",
            env!("CARGO_PKG_VERSION"),
            berth_oci::OCI_VERSION
        );
        return;
    }
    let Some(command) = args.get(rest) else {
        if globals.is_set("help") {
            let _ = writeln!(std::io::stdout(), "{USAGE}");
            return;
        }
        fail(&log, &Error::Usage(format!("no command given\n{USAGE}")));
    };
    let Some(specs) = cli::command_flags(command) else {
        fail(&log, &Error::Usage(format!("unknown command {command:?}")));
    };
    // Commands that put runtime code inside a container re-execute from a
    // sealed copy first (CVE-2019-5736).
    if matches!(command.as_str(), "create" | "run" | "exec") {
        if let Err(e) = selfexe::ensure_read_only_exe() {
            fail(&log, &e);
        }
    }
    let cmd_args = &args[rest + 1..];
    let (mut flags, first_positional) = match cli::parse_flags(cmd_args, specs, true) {
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
    };
    match commands::dispatch(&rt, command, &flags) {
        Ok(code) => std::process::exit(code),
        Err(e) => fail(&log, &e),
    }
}

fn fail(log: &Log, e: &Error) -> ! {
    log.error(&e.to_string());
    std::process::exit(1);
}
