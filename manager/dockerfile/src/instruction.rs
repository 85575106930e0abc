//! The typed model: one [`Instruction`] variant per Dockerfile instruction,
//! built from a parser [`Node`] with BuildKit's rules (`instructions/parse.go`):
//! argument counts, the flags each instruction has, the heredocs COPY/ADD
//! take as inline files and RUN as scripts, HEALTHCHECK's options, stage
//! names. Words are kept as written (quotes and `$` unprocessed): they are
//! expanded when a stage is evaluated ([`crate::eval`]), with the variables
//! in scope at that point.

use crate::error::SyntaxErrorKind;
use crate::flags::{FlagKind, Flags};
use crate::mount::{self, Mount, MountError};
use crate::parser::{parse_heredoc, Heredoc, Node};

/// An instruction with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// First line (1-based).
    pub line: usize,
    /// Last line (heredocs included).
    pub end_line: usize,
    /// The instruction's text, continuations joined.
    pub source: String,
    /// The instruction.
    pub instruction: Instruction,
}

/// One instruction of the Dockerfile language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instruction {
    /// `FROM [--platform=P] IMAGE [AS NAME]`.
    From(From),
    /// `RUN [--mount=...] [--network=...] COMMAND`.
    Run(Run),
    /// `CMD`.
    Cmd(CommandLine),
    /// `ENTRYPOINT`.
    Entrypoint(CommandLine),
    /// `LABEL k=v ...`.
    Label(Vec<KeyValue>),
    /// `MAINTAINER name` (deprecated; sets the image's author).
    Maintainer(String),
    /// `EXPOSE port[/proto] ...`.
    Expose(Vec<String>),
    /// `ENV k=v ...` or `ENV k v`.
    Env(Vec<KeyValue>),
    /// `ADD`.
    Add(Add),
    /// `COPY`.
    Copy(Copy),
    /// `VOLUME`.
    Volume(Vec<String>),
    /// `USER user[:group]`.
    User(String),
    /// `WORKDIR path`.
    Workdir(String),
    /// `ARG name[=default] ...`.
    Arg(Vec<ArgDecl>),
    /// `ONBUILD INSTRUCTION`: a trigger stored in the image.
    Onbuild(Onbuild),
    /// `STOPSIGNAL signal`.
    StopSignal(String),
    /// `HEALTHCHECK`.
    Healthcheck(Healthcheck),
    /// `SHELL ["exe", "arg"]`.
    Shell(Vec<String>),
}

impl Instruction {
    /// The instruction's name, upper-case.
    pub fn name(&self) -> &'static str {
        match self {
            Self::From(_) => "FROM",
            Self::Run(_) => "RUN",
            Self::Cmd(_) => "CMD",
            Self::Entrypoint(_) => "ENTRYPOINT",
            Self::Label(_) => "LABEL",
            Self::Maintainer(_) => "MAINTAINER",
            Self::Expose(_) => "EXPOSE",
            Self::Env(_) => "ENV",
            Self::Add(_) => "ADD",
            Self::Copy(_) => "COPY",
            Self::Volume(_) => "VOLUME",
            Self::User(_) => "USER",
            Self::Workdir(_) => "WORKDIR",
            Self::Arg(_) => "ARG",
            Self::Onbuild(_) => "ONBUILD",
            Self::StopSignal(_) => "STOPSIGNAL",
            Self::Healthcheck(_) => "HEALTHCHECK",
            Self::Shell(_) => "SHELL",
        }
    }
}

/// FROM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct From {
    /// The image or stage, as written (expanded with the global ARGs).
    pub base: String,
    /// `AS name`, lower-cased.
    pub name: Option<String>,
    /// `--platform`, as written.
    pub platform: Option<String>,
}

/// A `key=value` of ENV or LABEL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    /// The key as written.
    pub key: String,
    /// The value as written.
    pub value: String,
    /// Written in the legacy `KEY value` form.
    pub legacy: bool,
}

/// An ARG declaration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgDecl {
    /// The name.
    pub key: String,
    /// The default, as written.
    pub value: Option<String>,
}

/// The command of RUN, CMD or ENTRYPOINT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandLine {
    /// Exec form: the argv; shell form: one string, the command.
    pub args: Vec<String>,
    /// Shell form: run through the stage's SHELL.
    pub prepend_shell: bool,
    /// RUN's heredocs, in order.
    pub files: Vec<Heredoc>,
}

/// RUN's network mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    /// The build's network (`--network` of `berth build`).
    Default,
    /// No network.
    None,
    /// The host's network.
    Host,
}

/// RUN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// The command.
    pub command: CommandLine,
    /// The `--mount` specs as written; typed when the stage is evaluated
    /// ([`Run::mounts`]), their `from=` already known ([`Run::mount_froms`]).
    pub mount_specs: Vec<String>,
    /// `--network`.
    pub network: Network,
}

impl Run {
    /// The typed mounts, values expanded by `expand`.
    pub fn mounts(&self, expand: mount::Expander<'_>) -> Result<Vec<Mount>, MountError> {
        self.mount_specs
            .iter()
            .map(|spec| mount::parse_mount(spec, Some(expand)))
            .collect()
    }

    /// The `from=` of each mount (empty when none): stages or images this RUN
    /// depends on.
    pub fn mount_froms(&self) -> Vec<String> {
        self.mount_specs
            .iter()
            .filter_map(|spec| mount::parse_mount(spec, None).ok())
            .map(|m| m.from)
            .collect()
    }
}

/// A heredoc given as a COPY/ADD source: a file with this content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceContent {
    /// The file's name (the heredoc's word).
    pub path: String,
    /// The content (leading tabs already stripped for `<<-`).
    pub data: String,
    /// Whether `$` in it expands.
    pub expand: bool,
}

/// COPY's and ADD's sources and destination, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcesAndDest {
    /// Paths (context, stage, URL or git).
    pub sources: Vec<String>,
    /// Inline files from heredocs.
    pub contents: Vec<SourceContent>,
    /// The destination.
    pub dest: String,
}

/// ADD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Add {
    /// Sources and destination.
    pub paths: SourcesAndDest,
    /// `--chown`.
    pub chown: String,
    /// `--chmod`.
    pub chmod: String,
    /// `--link`.
    pub link: bool,
    /// `--keep-git-dir`.
    pub keep_git_dir: Option<bool>,
    /// `--checksum` of a URL or git source.
    pub checksum: String,
    /// `--unpack` (whether a remote archive is extracted).
    pub unpack: Option<bool>,
    /// `--exclude` patterns.
    pub excludes: Vec<String>,
}

/// COPY.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copy {
    /// Sources and destination.
    pub paths: SourcesAndDest,
    /// `--from`: a stage name, a stage index or an image.
    pub from: String,
    /// `--chown`.
    pub chown: String,
    /// `--chmod`.
    pub chmod: String,
    /// `--link`.
    pub link: bool,
    /// `--parents`.
    pub parents: bool,
    /// `--exclude` patterns.
    pub excludes: Vec<String>,
}

/// ONBUILD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Onbuild {
    /// The trigger's text as stored in the image config's `OnBuild` (and
    /// parsed again by the stage that uses the image as its base), heredoc
    /// bodies appended.
    pub expression: String,
}

/// HEALTHCHECK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Healthcheck {
    /// `HEALTHCHECK NONE`: disables the base image's check.
    None,
    /// `HEALTHCHECK [opts] CMD ...`.
    Cmd(HealthConfig),
}

/// A health check as the image config holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthConfig {
    /// `["CMD", argv...]` or `["CMD-SHELL", command]`.
    pub test: Vec<String>,
    /// `--interval`, nanoseconds (0: not set).
    pub interval: i64,
    /// `--timeout`, nanoseconds.
    pub timeout: i64,
    /// `--start-period`, nanoseconds.
    pub start_period: i64,
    /// `--start-interval`, nanoseconds.
    pub start_interval: i64,
    /// `--retries` (0: not set).
    pub retries: i64,
}

/// Types one parsed node.
pub fn from_node(node: &Node) -> Result<Instruction, SyntaxErrorKind> {
    let none: &[(&str, FlagKind)] = &[];
    let flags = |declared| Flags::parse(&node.flags, declared);
    let args = &node.args;
    Ok(match node.instruction.to_ascii_lowercase().as_str() {
        "env" => {
            flags(none)?;
            Instruction::Env(key_values(args, "ENV")?)
        }
        "maintainer" => {
            if args.len() != 1 {
                return Err(SyntaxErrorKind::ExactlyOneArgument("MAINTAINER"));
            }
            flags(none)?;
            Instruction::Maintainer(args[0].clone())
        }
        "label" => {
            flags(none)?;
            Instruction::Label(key_values(args, "LABEL")?)
        }
        "add" => {
            if args.len() < 2 {
                return Err(SyntaxErrorKind::NoDestination("ADD"));
            }
            let f = flags(&[
                ("chown", FlagKind::String),
                ("chmod", FlagKind::String),
                ("link", FlagKind::Bool),
                ("keep-git-dir", FlagKind::Bool),
                ("checksum", FlagKind::String),
                ("unpack", FlagKind::Bool),
                ("exclude", FlagKind::Strings),
            ])?;
            Instruction::Add(Add {
                paths: sources_and_dest(node, "ADD")?,
                chown: f.string("chown"),
                chmod: f.string("chmod"),
                link: f.bool("link"),
                keep_git_dir: f.optional_bool("keep-git-dir"),
                checksum: f.string("checksum"),
                unpack: f.optional_bool("unpack"),
                excludes: f.strings("exclude"),
            })
        }
        "copy" => {
            if args.len() < 2 {
                return Err(SyntaxErrorKind::NoDestination("COPY"));
            }
            let f = flags(&[
                ("chown", FlagKind::String),
                ("from", FlagKind::String),
                ("chmod", FlagKind::String),
                ("link", FlagKind::Bool),
                ("exclude", FlagKind::Strings),
                ("parents", FlagKind::Bool),
            ])?;
            Instruction::Copy(Copy {
                paths: sources_and_dest(node, "COPY")?,
                from: f.string("from"),
                chown: f.string("chown"),
                chmod: f.string("chmod"),
                link: f.bool("link"),
                parents: f.bool("parents"),
                excludes: f.strings("exclude"),
            })
        }
        "from" => {
            let name = match args.len() {
                3 if args[1].eq_ignore_ascii_case("as") => {
                    let name = args[2].to_lowercase();
                    if !valid_stage_name(&name) {
                        return Err(SyntaxErrorKind::InvalidStageName(args[2].clone()));
                    }
                    Some(name)
                }
                1 => None,
                _ => return Err(SyntaxErrorKind::FromArguments),
            };
            let f = flags(&[("platform", FlagKind::String)])?;
            Instruction::From(From {
                base: args[0].clone(),
                name,
                platform: f.optional("platform").filter(|p| !p.is_empty()),
            })
        }
        "onbuild" => {
            if args.is_empty() {
                return Err(SyntaxErrorKind::AtLeastOneArgument("ONBUILD"));
            }
            flags(none)?;
            let trigger = args[0].trim().to_ascii_uppercase();
            match trigger.as_str() {
                "ONBUILD" => return Err(SyntaxErrorKind::OnbuildChain),
                "MAINTAINER" | "FROM" => return Err(SyntaxErrorKind::OnbuildTrigger(trigger)),
                _ => {}
            }
            let mut expression = strip_onbuild(&node.original).to_string();
            for heredoc in &node.heredocs {
                expression.push('\n');
                expression.push_str(&heredoc.content);
                expression.push_str(&heredoc.name);
            }
            Instruction::Onbuild(Onbuild { expression })
        }
        "workdir" => {
            if args.len() != 1 {
                return Err(SyntaxErrorKind::ExactlyOneArgument("WORKDIR"));
            }
            flags(none)?;
            Instruction::Workdir(args[0].clone())
        }
        "run" => {
            let f = flags(&[("mount", FlagKind::Strings), ("network", FlagKind::String)])?;
            let network = match f.optional("network").as_deref() {
                None | Some("default") => Network::Default,
                Some("none") => Network::None,
                Some("host") => Network::Host,
                Some(other) => return Err(SyntaxErrorKind::InvalidNetwork(other.to_string())),
            };
            let mount_specs = f.strings("mount");
            for spec in &mount_specs {
                mount::parse_mount(spec, None)?;
            }
            Instruction::Run(Run {
                command: command_line(node),
                mount_specs,
                network,
            })
        }
        "cmd" => {
            flags(none)?;
            Instruction::Cmd(command_line(node))
        }
        "entrypoint" => {
            flags(none)?;
            Instruction::Entrypoint(command_line(node))
        }
        "healthcheck" => healthcheck(node)?,
        "expose" => {
            if args.is_empty() {
                return Err(SyntaxErrorKind::AtLeastOneArgument("EXPOSE"));
            }
            flags(none)?;
            let mut ports = args.clone();
            ports.sort();
            Instruction::Expose(ports)
        }
        "user" => {
            if args.len() != 1 {
                return Err(SyntaxErrorKind::ExactlyOneArgument("USER"));
            }
            flags(none)?;
            Instruction::User(args[0].clone())
        }
        "volume" => {
            if args.is_empty() {
                return Err(SyntaxErrorKind::AtLeastOneArgument("VOLUME"));
            }
            flags(none)?;
            let mut volumes = Vec::with_capacity(args.len());
            for v in args {
                let v = v.trim();
                if v.is_empty() {
                    return Err(SyntaxErrorKind::EmptyVolume);
                }
                volumes.push(v.to_string());
            }
            Instruction::Volume(volumes)
        }
        // BuildKit reads no flags for STOPSIGNAL and ARG: any given are ignored.
        "stopsignal" => {
            if args.len() != 1 {
                return Err(SyntaxErrorKind::ExactlyOneArgument("STOPSIGNAL"));
            }
            Instruction::StopSignal(args[0].clone())
        }
        "arg" => {
            if args.is_empty() {
                return Err(SyntaxErrorKind::AtLeastOneArgument("ARG"));
            }
            let mut decls = Vec::with_capacity(args.len());
            for arg in args {
                decls.push(match arg.split_once('=') {
                    Some(("", _)) => return Err(SyntaxErrorKind::BlankNames("ARG")),
                    Some((k, v)) => ArgDecl {
                        key: k.to_string(),
                        value: Some(v.to_string()),
                    },
                    None => ArgDecl {
                        key: arg.clone(),
                        value: None,
                    },
                });
            }
            Instruction::Arg(decls)
        }
        "shell" => {
            flags(none)?;
            let shell = join_shell_form(args, node.json);
            if shell.is_empty() {
                return Err(SyntaxErrorKind::AtLeastOneArgument("SHELL"));
            }
            if !node.json {
                return Err(SyntaxErrorKind::NotJson("SHELL"));
            }
            Instruction::Shell(shell)
        }
        _ => {
            return Err(SyntaxErrorKind::UnknownInstruction(
                node.instruction.clone(),
            ))
        }
    })
}

/// BuildKit's `^[a-z][a-z0-9-_.]*$`.
fn valid_stage_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
}

/// The original text without its leading `ONBUILD` (any case) and the
/// whitespace around it.
fn strip_onbuild(original: &str) -> &str {
    let s = original.trim_start();
    match s.get(..7) {
        Some(word) if word.eq_ignore_ascii_case("onbuild") => s[7..].trim_start(),
        _ => original,
    }
}

fn key_values(
    args: &[String],
    instruction: &'static str,
) -> Result<Vec<KeyValue>, SyntaxErrorKind> {
    if args.is_empty() {
        return Err(SyntaxErrorKind::AtLeastOneArgument(instruction));
    }
    if !args.len().is_multiple_of(3) {
        return Err(SyntaxErrorKind::TooManyArguments(instruction));
    }
    args.chunks(3)
        .map(|c| {
            if c[0].is_empty() {
                return Err(SyntaxErrorKind::BlankNames(instruction));
            }
            Ok(KeyValue {
                key: c[0].clone(),
                value: c[1].clone(),
                legacy: c[2].is_empty(),
            })
        })
        .collect()
}

fn join_shell_form(args: &[String], json: bool) -> Vec<String> {
    if args.is_empty() {
        return Vec::new();
    }
    if json {
        return args.to_vec();
    }
    vec![args.join(" ")]
}

fn command_line(node: &Node) -> CommandLine {
    CommandLine {
        args: join_shell_form(&node.args, node.json),
        prepend_shell: !node.json,
        files: node.heredocs.clone(),
    }
}

fn sources_and_dest(node: &Node, command: &'static str) -> Result<SourcesAndDest, SyntaxErrorKind> {
    let (dest, srcs) = node.args.split_last().expect("two arguments checked");
    if parse_heredoc(dest)?.is_some() {
        return Err(SyntaxErrorKind::BadHeredoc {
            command,
            what: "a destination",
        });
    }
    let mut sources = Vec::new();
    let mut contents = Vec::new();
    for src in srcs {
        match parse_heredoc(src)? {
            Some(word) => {
                let doc = node.heredocs.iter().find(|h| h.name == word.name);
                let mut data = doc.map(|h| h.content.clone()).unwrap_or_default();
                if word.chomp {
                    data = Heredoc {
                        chomp: true,
                        content: data,
                        ..Heredoc::default()
                    }
                    .body();
                }
                contents.push(SourceContent {
                    path: word.name,
                    data,
                    expand: word.expand,
                });
            }
            None => sources.push(src.clone()),
        }
    }
    Ok(SourcesAndDest {
        sources,
        contents,
        dest: dest.clone(),
    })
}

fn healthcheck(node: &Node) -> Result<Instruction, SyntaxErrorKind> {
    let args = &node.args;
    if args.is_empty() {
        return Err(SyntaxErrorKind::AtLeastOneArgument("HEALTHCHECK"));
    }
    let typ = args[0].to_ascii_uppercase();
    let rest = &args[1..];
    if typ == "NONE" {
        if !rest.is_empty() {
            return Err(SyntaxErrorKind::HealthcheckNoneArguments);
        }
        return Ok(Instruction::Healthcheck(Healthcheck::None));
    }
    let f = Flags::parse(
        &node.flags,
        &[
            ("interval", FlagKind::String),
            ("timeout", FlagKind::String),
            ("start-period", FlagKind::String),
            ("start-interval", FlagKind::String),
            ("retries", FlagKind::String),
        ],
    )?;
    if typ != "CMD" {
        return Err(SyntaxErrorKind::HealthcheckType(
            args[0].to_ascii_uppercase(),
        ));
    }
    let cmd = join_shell_form(rest, node.json);
    if cmd.is_empty() {
        return Err(SyntaxErrorKind::HealthcheckMissingCommand);
    }
    let mut test = vec![if node.json { "CMD" } else { "CMD-SHELL" }.to_string()];
    test.extend(cmd);
    let duration = |name: &'static str| -> Result<i64, SyntaxErrorKind> {
        let value = f.string(name);
        if value.is_empty() {
            return Ok(0);
        }
        let ns = berth_docker::duration::parse_go_duration(&value)
            .map_err(|e| SyntaxErrorKind::InvalidDuration(e.to_string()))?;
        if ns != 0 && ns < 1_000_000 {
            return Err(SyntaxErrorKind::IntervalTooShort(name.to_string()));
        }
        Ok(ns)
    };
    let retries = match f.string("retries") {
        r if r.is_empty() => 0,
        r => {
            let n: i64 = r
                .parse()
                .map_err(|_| SyntaxErrorKind::InvalidRetries(r.clone()))?;
            if n < 0 {
                return Err(SyntaxErrorKind::NegativeRetries(n));
            }
            n
        }
    };
    Ok(Instruction::Healthcheck(Healthcheck::Cmd(HealthConfig {
        test,
        interval: duration("interval")?,
        timeout: duration("timeout")?,
        start_period: duration("start-period")?,
        start_interval: duration("start-interval")?,
        retries,
    })))
}

#[cfg(test)]
mod tests;
