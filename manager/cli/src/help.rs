//! What `berth` prints about itself as docker does: the top-level help
//! grouped into "Management Commands" (those with subcommands: `container`,
//! `image`, ...) and "Commands", `-v`/`--version`, and clap's usage errors
//! turned into docker's messages and exit codes (a missing argument and an
//! unknown command exit 1; an unknown flag 125).

use clap::error::ErrorKind;

/// docker's top-level `--help`, from berth's clap command.
pub fn top_level(cmd: &clap::Command) -> String {
    let mut out =
        String::from("\nUsage:  berth [OPTIONS] COMMAND\n\nA container engine\n\nOptions:\n");
    let mut options: Vec<(String, String)> = cmd
        .get_arguments()
        .filter(|a| !a.is_positional() && !a.is_hide_set())
        .map(|a| {
            let flag = match (a.get_short(), a.get_long()) {
                (Some(s), Some(l)) => format!("-{s}, --{l}"),
                (None, Some(l)) => format!("    --{l}"),
                (Some(s), None) => format!("-{s}"),
                (None, None) => String::new(),
            };
            let value = if a.get_action().takes_values() {
                " string"
            } else {
                ""
            };
            (
                format!("{flag}{value}"),
                a.get_help().map(|h| h.to_string()).unwrap_or_default(),
            )
        })
        .collect();
    options.push((
        "-v, --version".into(),
        "Print version information and quit".into(),
    ));
    for (flag, help) in &options {
        out.push_str(&format!("  {flag:<22} {help}\n"));
    }
    let mut management: Vec<(String, String)> = Vec::new();
    let mut commands: Vec<(String, String)> = Vec::new();
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let about = sub.get_about().map(|a| a.to_string()).unwrap_or_default();
        let entry = (sub.get_name().to_string(), about);
        if sub.has_subcommands() {
            management.push(entry);
        } else {
            commands.push(entry);
        }
    }
    management.sort();
    commands.sort();
    for (title, list) in [
        ("Management Commands", &management),
        ("Commands", &commands),
    ] {
        out.push_str(&format!("\n{title}:\n"));
        for (name, about) in list {
            out.push_str(&format!("  {name:<11} {about}\n"));
        }
    }
    out.push_str("\nRun 'berth COMMAND --help' for more information on a command.\n");
    out
}

/// docker's `-v`: `Docker version 20.10.24, build 5d6db84`.
pub fn version_line() -> String {
    format!("Berth version {}", env!("CARGO_PKG_VERSION"))
}

/// What the command line asks before clap sees it: the top-level help
/// (`berth`, `berth --help`) or the version (`berth -v`), given the
/// arguments after the program name. Global options with a value (`-H X`,
/// `--config X`) are skipped.
pub enum Early {
    Help,
    Version,
}

pub fn early(args: &[String]) -> Option<Early> {
    let mut rest = args.iter();
    while let Some(a) = rest.next() {
        match a.as_str() {
            "-H" | "--host" | "--config" => {
                rest.next();
            }
            "-h" | "--help" => return Some(Early::Help),
            "-v" | "--version" => return Some(Early::Version),
            s if s.starts_with("--host=") || s.starts_with("--config=") => {}
            s if s.starts_with("-H") && s.len() > 2 => {}
            _ => return None,
        }
    }
    Some(Early::Help)
}

/// A clap parse error as docker reports it: the message and exit code.
pub fn usage_error(e: &clap::Error, args: &[String]) -> (String, i32) {
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => (e.render().to_string(), 0),
        ErrorKind::InvalidSubcommand => {
            let name = e
                .get(clap::error::ContextKind::InvalidSubcommand)
                .map(|v| v.to_string())
                .unwrap_or_default();
            (
                format!("berth: '{name}' is not a berth command.\nSee 'berth --help'\n"),
                1,
            )
        }
        ErrorKind::MissingRequiredArgument
        | ErrorKind::MissingSubcommand
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => missing_arguments(e, args),
        // `exec c1`: too few values of the positional CONTAINER COMMAND...
        ErrorKind::TooFewValues | ErrorKind::WrongNumberOfValues
            if e.get(clap::error::ContextKind::InvalidArg)
                .is_some_and(|a| a.to_string().starts_with('<')) =>
        {
            missing_arguments(e, args)
        }
        _ => (e.render().to_string(), crate::EXIT_USAGE),
    }
}

/// docker's `"docker exec" requires at least 2 arguments.`, exit 1.
fn missing_arguments(e: &clap::Error, args: &[String]) -> (String, i32) {
    // `berth exec` -> `exec`.
    let full = crate::usage::command_path(&crate::command(), args.iter().cloned());
    let path = full
        .split_once(' ')
        .map(|(_, p)| p)
        .unwrap_or("")
        .to_string();
    let usage = e
        .render()
        .to_string()
        .lines()
        .find(|l| l.starts_with("Usage:"))
        .map(|l| l.replacen("Usage:", "Usage: ", 1))
        .unwrap_or_default();
    let message = format!(
        "\"berth {path}\" requires at least {}.\nSee 'berth {path} --help'.\n\n{usage}\n",
        arguments(required_positionals(&path))
    );
    (message, 1)
}

fn arguments(n: usize) -> String {
    if n == 1 {
        "1 argument".into()
    } else {
        format!("{n} arguments")
    }
}

/// How many positional arguments command `path` needs at least.
fn required_positionals(path: &str) -> usize {
    let mut cmd = crate::command();
    for word in path.split_whitespace() {
        match cmd.find_subcommand(word) {
            Some(sub) => cmd = sub.clone(),
            None => return 1,
        }
    }
    if cmd.has_subcommands() {
        return 1;
    }
    cmd.get_positionals()
        .filter(|a| a.is_required_set())
        .map(|a| a.get_num_args().map(|n| n.min_values()).unwrap_or(1).max(1))
        .sum::<usize>()
        .max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn help_groups_management_commands() {
        let text = top_level(&crate::command());
        let management = text.find("Management Commands:\n").unwrap();
        let commands = text.find("\nCommands:\n").unwrap();
        assert!(management < commands);
        assert!(text[management..commands].contains("\n  image "), "{text}");
        assert!(text[commands..].contains("\n  run "), "{text}");
        assert!(text.contains("-v, --version"));
    }

    #[test]
    fn early_flags() {
        assert!(matches!(early(&strings(&[])), Some(Early::Help)));
        assert!(matches!(
            early(&strings(&["-H", "unix:///x", "--help"])),
            Some(Early::Help)
        ));
        assert!(matches!(early(&strings(&["-v"])), Some(Early::Version)));
        assert!(early(&strings(&["run", "-v", "a:/b"])).is_none());
    }

    #[test]
    fn missing_arguments_are_counted_like_docker() {
        let args = strings(&["exec", "c1"]);
        let e = crate::command()
            .try_get_matches_from(std::iter::once("berth".to_string()).chain(args.iter().cloned()));
        let (message, code) = usage_error(&e.err().unwrap(), &args);
        assert_eq!(code, 1);
        assert!(
            message.starts_with(
                "\"berth exec\" requires at least 2 arguments.\nSee 'berth exec --help'.\n"
            ),
            "{message}"
        );
    }
}
