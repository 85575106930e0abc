//! berth-dist: the man pages and shell completions of the Debian package,
//! built from the same command-line definitions the programs parse, so
//! neither can drift from the code:
//!
//! * `berth` (section 1) and `berthd` (section 8): their clap commands,
//!   [`berth_cli::command`] and [`berth_manager::daemon::args::command`];
//! * `berth-runtime` (section 8) has no clap (a hand parser keeps its start-up
//!   cheap): [`runtime_command`] builds a clap command from its flag tables
//!   ([`berth_runtime::cli::GLOBAL_FLAGS`], [`berth_runtime::cli::COMMANDS`],
//!   [`berth_runtime::cli::command_flags`]).
//!
//! [`write_all`] lays the files out as the package installs them:
//!
//! ```text
//! OUT/man/man1/berth.1, berth-<command>.1 ...      /usr/share/man/man1 (gzipped there)
//! OUT/man/man8/berthd.8, berth-runtime.8, berth-runtime-<command>.8
//! OUT/completions/bash/{berth,berthd,berth-runtime}  /usr/share/bash-completion/completions
//! OUT/completions/zsh/{_berth,_berthd,_berth-runtime}  /usr/share/zsh/vendor-completions
//! OUT/completions/fish/{berth,berthd,berth-runtime}.fish  /usr/share/fish/vendor_completions.d
//! ```

use berth_runtime::cli::{command_flags, FlagSpec, COMMANDS, GLOBAL_FLAGS};
use clap::{Arg, ArgAction, Command};
use clap_complete::Shell;
use std::path::{Path, PathBuf};

/// Why the files could not be written.
#[derive(Debug, thiserror::Error)]
pub enum DistError {
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

/// berth-runtime's command line as a clap command, from the runtime's own
/// flag tables.
pub fn runtime_command() -> Command {
    let mut cmd = Command::new("berth-runtime")
        .version(env!("CARGO_PKG_VERSION"))
        .about("A runc-compatible OCI runtime: executes one OCI bundle")
        .long_about(
            "berth-runtime creates and runs containers from OCI bundles, with runc's \
             command line, state format and exit codes: engines such as containerd, \
             dockerd, podman and berthd drive it as they drive runc. Global flags go \
             before the command, a command's flags before its first argument.",
        )
        // The table has its own help and version flags (runc's -h and -v).
        .disable_help_flag(true)
        .disable_version_flag(true)
        .disable_help_subcommand(true)
        .subcommand_required(true);
    for spec in GLOBAL_FLAGS {
        cmd = cmd.arg(flag_arg(spec));
    }
    for (name, positional, about) in COMMANDS {
        let mut sub = Command::new(*name).about(*about);
        for spec in command_flags(name).unwrap_or_default() {
            sub = sub.arg(flag_arg(spec));
        }
        for arg in positional_args(positional) {
            sub = sub.arg(arg);
        }
        cmd = cmd.subcommand(sub);
    }
    cmd
}

/// One table flag as a clap argument.
fn flag_arg(spec: &FlagSpec) -> Arg {
    let mut arg = Arg::new(spec.name).long(spec.name).help(spec.help);
    if let Some(short) = spec.short.and_then(|s| s.chars().next()) {
        arg = arg.short(short);
    }
    if spec.takes_value {
        // clap (without its `string` feature, which would change the
        // feature set every workspace build compiles clap with) takes static
        // names; the generator runs once, so leaking them is free.
        let value_name: &'static str =
            Box::leak(spec.name.to_uppercase().replace('-', "_").into_boxed_str());
        arg.action(ArgAction::Append).value_name(value_name)
    } else {
        arg.action(ArgAction::SetTrue)
    }
}

/// The positional arguments of a synopsis such as `ID [COMMAND [ARG...]]`:
/// a bracketed name is optional, a name with `...` takes the rest.
fn positional_args(synopsis: &'static str) -> Vec<Arg> {
    synopsis
        .split_whitespace()
        .map(|token| {
            let optional = token.starts_with('[');
            let many = token.contains("...");
            let name = token.trim_matches(|c| c == '[' || c == ']' || c == '.');
            let arg = Arg::new(name).value_name(name).required(!optional);
            if many {
                arg.num_args(0..)
                    .trailing_var_arg(true)
                    .allow_hyphen_values(true)
                    .action(ArgAction::Append)
            } else {
                arg
            }
        })
        .collect()
}

/// What [`write_all`] wrote.
#[derive(Debug, Default)]
pub struct Written {
    pub man_pages: Vec<PathBuf>,
    pub completions: Vec<PathBuf>,
}

/// Writes every man page and completion file under `out` (layout in the
/// module doc); `date` is the pages' date (the build's, `YYYY-MM-DD`).
pub fn write_all(out: &Path, date: &str) -> Result<Written, DistError> {
    let mut written = Written::default();
    let programs = [
        (berth_cli::command(), "1"),
        (berth_manager::daemon::args::command(), "8"),
        (runtime_command(), "8"),
    ];
    for (cmd, section) in programs {
        let mut cmd = cmd;
        // Propagates globals and names subcommands `berth-run` and so on.
        cmd.build();
        let dir = out.join("man").join(format!("man{section}"));
        mkdir(&dir)?;
        write_pages(&cmd, section, date, &dir, &mut written.man_pages)?;
        let name = cmd.get_name().to_string();
        for (shell, dir, file) in [
            (Shell::Bash, "bash", name.clone()),
            (Shell::Zsh, "zsh", format!("_{name}")),
            (Shell::Fish, "fish", format!("{name}.fish")),
        ] {
            let dir = out.join("completions").join(dir);
            mkdir(&dir)?;
            let mut text = Vec::new();
            clap_complete::generate(shell, &mut cmd, name.clone(), &mut text);
            let path = dir.join(file);
            write(&path, &text)?;
            written.completions.push(path);
        }
    }
    Ok(written)
}

/// The page of `cmd` and of each of its subcommands, recursively.
fn write_pages(
    cmd: &Command,
    section: &str,
    date: &str,
    dir: &Path,
    pages: &mut Vec<PathBuf>,
) -> Result<(), DistError> {
    let name = cmd.get_display_name().unwrap_or(cmd.get_name()).to_string();
    let path = dir.join(format!("{name}.{section}"));
    let mut text = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .title(name.to_uppercase())
        .section(section)
        .date(date.to_string())
        .source(format!("Berth {}", env!("CARGO_PKG_VERSION")))
        .manual("Berth Manual")
        .render(&mut text)
        .map_err(|source| DistError::Io {
            op: "render man page",
            path: path.clone(),
            source,
        })?;
    write(&path, &text)?;
    pages.push(path);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_pages(sub, section, date, dir, pages)?;
    }
    Ok(())
}

fn mkdir(dir: &Path) -> Result<(), DistError> {
    std::fs::create_dir_all(dir).map_err(|source| DistError::Io {
        op: "create directory",
        path: dir.to_path_buf(),
        source,
    })
}

fn write(path: &Path, text: &[u8]) -> Result<(), DistError> {
    std::fs::write(path, text).map_err(|source| DistError::Io {
        op: "write",
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_command_matches_the_parser_tables() {
        let cmd = runtime_command();
        cmd.clone().debug_assert();
        let names: Vec<&str> = cmd.get_subcommands().map(|c| c.get_name()).collect();
        let want: Vec<&str> = COMMANDS.iter().map(|(n, _, _)| *n).collect();
        assert_eq!(names, want);
        let create = cmd.find_subcommand("create").unwrap();
        let bundle = create
            .get_arguments()
            .find(|a| a.get_id() == "bundle")
            .unwrap();
        assert_eq!(bundle.get_short(), Some('b'));
        assert!(bundle.get_action().takes_values());
        // What clap parses is what the runtime's parser accepts.
        let m = cmd
            .clone()
            .try_get_matches_from([
                "berth-runtime",
                "--root",
                "/r",
                "exec",
                "-e",
                "A=1",
                "--tty",
                "ctr",
                "ls",
                "-la",
            ])
            .unwrap();
        let (sub, m) = m.subcommand().unwrap();
        assert_eq!(sub, "exec");
        let rest: Vec<&String> = m.get_many::<String>("ARG").unwrap().collect();
        assert_eq!(rest, ["-la"]);
        assert!(cmd
            .try_get_matches_from(["berth-runtime", "delete", "--bogus", "x"])
            .is_err());
    }

    /// The names of a struct's fields as its `Deserialize` sees them (serde
    /// passes them to `deserialize_struct`).
    fn field_names<'de, T: serde::Deserialize<'de>>() -> Vec<&'static str> {
        struct Introspect<'a>(&'a mut Vec<&'static str>);
        impl<'de> serde::Deserializer<'de> for Introspect<'_> {
            type Error = serde::de::value::Error;
            fn deserialize_any<V: serde::de::Visitor<'de>>(
                self,
                _: V,
            ) -> Result<V::Value, Self::Error> {
                Err(serde::de::Error::custom("not a struct"))
            }
            fn deserialize_struct<V: serde::de::Visitor<'de>>(
                self,
                _: &'static str,
                fields: &'static [&'static str],
                _: V,
            ) -> Result<V::Value, Self::Error> {
                self.0.extend(fields);
                Err(serde::de::Error::custom("fields taken"))
            }
            serde::forward_to_deserialize_any! {
                bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
                bytes byte_buf option unit unit_struct newtype_struct seq tuple
                tuple_struct map enum identifier ignored_any
            }
        }
        let mut names = Vec::new();
        let _ = T::deserialize(Introspect(&mut names));
        names
    }

    #[test]
    fn packaged_daemon_json_is_empty_and_documents_every_key() {
        use berth_manager::daemon::DaemonConfig;
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../etc/daemon.json");
        let text = std::fs::read_to_string(&shipped).unwrap();
        // As shipped: every key commented out, the same as no file at all.
        let config = DaemonConfig::load(&shipped, true).unwrap();
        assert_eq!(
            format!("{config:?}"),
            format!("{:?}", DaemonConfig::default())
        );
        // Each key on a line of its own, `//  "key": value`.
        let keys: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("//  \""))
            .map(|l| l.split('"').next().unwrap())
            .collect();
        let mut want = field_names::<DaemonConfig>();
        assert!(want.len() >= 9, "{want:?}");
        let mut have = keys.clone();
        want.sort_unstable();
        have.sort_unstable();
        assert_eq!(
            have, want,
            "daemon.json must list every key of DaemonConfig"
        );
        // With every key set (uncommented, commas between), berthd takes the
        // file, and the values are the defaults it documents.
        let dir = tempfile::tempdir().unwrap();
        let all = dir.path().join("daemon.json");
        let body: Vec<String> = text
            .lines()
            .filter_map(|l| l.strip_prefix("//  "))
            .map(str::to_string)
            .collect();
        std::fs::write(&all, format!("{{\n{}\n}}\n", body.join(",\n"))).unwrap();
        let config = DaemonConfig::load(&all, true).unwrap();
        assert_eq!(config.snapshotter.as_deref(), Some("overlayfs"));
        assert_eq!(config.log_level.as_deref(), Some("info"));
        assert_eq!(config.default_runtime.as_deref(), Some("berth"));
        assert_eq!(config.bridge.as_deref(), Some("berth0"));
        assert_eq!(config.nft_table.as_deref(), Some("berth"));
        assert_eq!(
            config.registry_timeouts,
            berth_manager::registry::RegistryTimeouts::default()
        );
    }

    #[test]
    fn writes_man_pages_and_completions_of_all_three() {
        let dir = tempfile::tempdir().unwrap();
        let written = write_all(dir.path(), "2026-12-07").unwrap();
        let read = |rel: &str| std::fs::read_to_string(dir.path().join(rel)).unwrap();
        let berth = read("man/man1/berth.1");
        assert!(
            berth.starts_with(".ie") || berth.contains(".TH BERTH 1"),
            "{berth}"
        );
        assert!(read("man/man1/berth-run.1").contains("\\-\\-rm"));
        assert!(read("man/man1/berth-network-create.1").contains(".TH BERTH-NETWORK-CREATE 1"));
        let berthd = read("man/man8/berthd.8");
        assert!(
            berthd.contains(".TH BERTHD 8") && berthd.contains("\\-\\-group"),
            "{berthd}"
        );
        let runtime = read("man/man8/berth-runtime.8");
        for (name, _, _) in COMMANDS {
            let listed = format!("berth\\-runtime\\-{name}(8)");
            assert!(runtime.contains(&listed), "{listed} missing:\n{runtime}");
            assert!(dir
                .path()
                .join(format!("man/man8/berth-runtime-{name}.8"))
                .exists());
        }
        assert!(read("man/man8/berth-runtime-create.8").contains("console\\-socket"));
        assert!(read("completions/bash/berth").contains("berth__subcmd__run"));
        assert!(read("completions/zsh/_berth").starts_with("#compdef berth"));
        assert!(read("completions/fish/berthd.fish").contains("group"));
        assert_eq!(written.completions.len(), 9);
        assert!(written.man_pages.len() > 40, "{}", written.man_pages.len());
    }
}
