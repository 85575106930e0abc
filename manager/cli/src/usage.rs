//! docker's wording of a command-line usage error: an unknown flag is
//! `unknown flag: --nme` (pflag's words; `unknown shorthand flag: 'z' in -z`
//! for a short one) followed by `See 'berth run --help'.` naming the
//! command that was being parsed, and exit 125 (docker's
//! `FlagErrorFunc`). clap's own report would print its usage block instead.

use clap::error::{ContextKind, ContextValue, ErrorKind};

/// docker's two lines for an unknown flag, or `None` when `e` is another
/// kind of error. `args` is the command line without the program name: the
/// subcommand path in the "See" line is found in it.
pub fn unknown_flag(e: &clap::Error, args: impl Iterator<Item = String>) -> Option<String> {
    if e.kind() != ErrorKind::UnknownArgument {
        return None;
    }
    let Some(ContextValue::String(flag)) = e.get(ContextKind::InvalidArg) else {
        return None;
    };
    let what = match flag.strip_prefix("--") {
        Some(_) => format!("unknown flag: {flag}"),
        None => {
            let short = flag.trim_start_matches('-').chars().next().unwrap_or('-');
            format!("unknown shorthand flag: '{short}' in {flag}")
        }
    };
    Some(format!(
        "{what}\nSee '{} --help'.",
        command_path(&crate::command(), args)
    ))
}

/// `berth run`, `berth container ls`...: the subcommands named in `args`
/// before the first argument that is not one (global flags and their
/// values skipped).
pub(crate) fn command_path(root: &clap::Command, args: impl Iterator<Item = String>) -> String {
    let mut path = vec![root.get_name().to_string()];
    let mut current = root.clone();
    let mut args = args.peekable();
    while let Some(arg) = args.next() {
        if arg == "-H" || arg == "--host" || arg == "--config" {
            args.next();
            continue;
        }
        if arg.starts_with('-') {
            continue;
        }
        let Some(sub) = current.find_subcommand(&arg).cloned() else {
            break;
        };
        path.push(sub.get_name().to_string());
        current = sub;
    }
    path.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(args: &[&str]) -> clap::Error {
        let all = std::iter::once("berth").chain(args.iter().copied());
        match crate::command().try_get_matches_from(all) {
            Ok(_) => panic!("{args:?} parsed"),
            Err(e) => e,
        }
    }

    fn text(args: &[&str]) -> Option<String> {
        unknown_flag(&error_of(args), args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn unknown_flags_before_the_image_or_container_are_usage_errors() {
        assert_eq!(
            text(&["run", "--nme", "x", "busybox", "true"]).unwrap(),
            "unknown flag: --nme\nSee 'berth run --help'."
        );
        assert_eq!(
            text(&["-H", "unix:///x", "exec", "--bogus", "c1", "true"]).unwrap(),
            "unknown flag: --bogus\nSee 'berth exec --help'."
        );
        assert_eq!(
            text(&["container", "create", "-z", "busybox"]).unwrap(),
            "unknown shorthand flag: 'z' in -z\nSee 'berth container create --help'."
        );
        assert_eq!(
            text(&["ps", "--bogus"]).unwrap(),
            "unknown flag: --bogus\nSee 'berth ps --help'."
        );
        // Not an unknown flag: clap's own report.
        assert!(text(&["run"]).is_none());
    }

    #[test]
    fn flags_after_the_image_or_container_are_the_commands() {
        for args in [
            &["run", "busybox", "ls", "--nme", "-l"][..],
            &["create", "-d", "busybox", "--", "-x"][..],
            &["exec", "c1", "ls", "--bogus"][..],
            &["top", "c1", "-o", "pid"][..],
        ] {
            let all = std::iter::once("berth").chain(args.iter().copied());
            if let Err(e) = crate::command().try_get_matches_from(all) {
                // `create` has no -d: that one is an unknown flag.
                assert_eq!(args[0], "create", "{args:?}: {e}");
                assert_eq!(e.kind(), ErrorKind::UnknownArgument);
            }
        }
    }
}
