//! Evaluating a stage: variables in scope, words expanded, the image config
//! each instruction leaves, and the filesystem steps the builder must run.
//!
//! # Scopes, as BuildKit's `dockerfile2llb`
//!
//! * Predefined platform ARGs (`BUILDPLATFORM BUILDOS BUILDARCH BUILDVARIANT
//!   BUILDOSVERSION TARGETPLATFORM TARGETOS TARGETARCH TARGETVARIANT
//!   TARGETOSVERSION`, `TARGETSTAGE`) are in the global scope without being
//!   declared; a `--build-arg` of the same name overrides them.
//! * The ARGs before the first FROM form the global scope, in order: a
//!   `--build-arg` wins over the default, a default expands with what is
//!   already in scope. Only FROM (its image and `--platform`) sees the global
//!   scope directly.
//! * Inside a stage, nothing of the global scope is visible until an ARG
//!   declares it: `ARG NAME` takes the build-arg, else its own default, else
//!   the global value. A declared ARG with a value is visible to the
//!   instructions after it and to RUN's environment, but is not in the image's
//!   `Env`; ENV is in both. A later ARG or ENV of the same name replaces the
//!   value in place.
//! * A stage built FROM another stage starts with that stage's variables
//!   (ARGs included) and config.
//! * The proxy build-args (`HTTP_PROXY`, `https_proxy`, `NO_PROXY`,
//!   `ALL_PROXY`, `FTP_PROXY`, either case) reach RUN's environment without
//!   being declared, and never the image or its history.
//!
//! # Which words expand
//!
//! With the stage's variables, one word each (no splitting): ENV and LABEL
//! keys and values (all pairs of one instruction against the variables
//! before it), ADD/COPY `--chown`, `--chmod`, ADD `--checksum`, sources and
//! destination, WORKDIR, USER, VOLUME, STOPSIGNAL, ARG defaults, RUN
//! `--mount` values; EXPOSE expands and splits into words. Heredoc bodies of
//! COPY/ADD expand unless the word was quoted, with quotes left alone. Never:
//! RUN, CMD, ENTRYPOINT, HEALTHCHECK and SHELL arguments (the shell expands
//! those when it runs), `COPY --from`, MAINTAINER, ONBUILD.

use std::collections::{BTreeMap, BTreeSet};

use crate::env::EnvList;
use crate::instruction::{Healthcheck, Instruction, Network, Statement};
use crate::lexer::{ExpandError, Lexer};
use crate::mount::{Mount, MountError};
use crate::parser::Heredoc;
use crate::stages::{Dockerfile, Stage, StageError};

/// An OS/architecture/variant triple.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    /// `linux`.
    pub os: String,
    /// `amd64`, `arm64`...
    pub architecture: String,
    /// `v7`, or empty.
    pub variant: String,
}

impl Platform {
    /// This machine's platform, in Go's names.
    pub fn host() -> Self {
        let (architecture, variant) = match std::env::consts::ARCH {
            "x86_64" => ("amd64", ""),
            "aarch64" => ("arm64", ""),
            "arm" => ("arm", "v7"),
            "x86" => ("386", ""),
            "powerpc64" if cfg!(target_endian = "little") => ("ppc64le", ""),
            "s390x" => ("s390x", ""),
            "riscv64" => ("riscv64", ""),
            other => (other, ""),
        };
        Self {
            os: std::env::consts::OS.to_string(),
            architecture: architecture.to_string(),
            variant: variant.to_string(),
        }
    }

    /// `os/arch[/variant]`.
    pub fn format(&self) -> String {
        if self.variant.is_empty() {
            format!("{}/{}", self.os, self.architecture)
        } else {
            format!("{}/{}/{}", self.os, self.architecture, self.variant)
        }
    }
}

/// What the user asked of a build that the frontend needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildOptions {
    /// `--build-arg K=V` (a bare `K` was resolved from the CLI's environment
    /// before it got here, or left out when unset, as docker's CLI does).
    pub build_args: BTreeMap<String, String>,
    /// `--target`.
    pub target: Option<String>,
    /// The platform the build runs on.
    pub build_platform: Platform,
    /// The platform the image is for.
    pub target_platform: Platform,
}

impl Default for BuildOptions {
    fn default() -> Self {
        Self {
            build_args: BTreeMap::new(),
            target: None,
            build_platform: Platform::host(),
            target_platform: Platform::host(),
        }
    }
}

/// The proxy variables RUN gets from the build args without an ARG.
pub const PROXY_ARGS: [&str; 5] = [
    "http_proxy",
    "https_proxy",
    "ftp_proxy",
    "no_proxy",
    "all_proxy",
];

/// The predefined ARGs (platforms, target stage), build-args overriding.
pub fn predefined_args(opts: &BuildOptions) -> EnvList {
    let bp = &opts.build_platform;
    let tp = &opts.target_platform;
    let mut env = EnvList::new();
    let target = opts
        .target
        .clone()
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| "default".into());
    for (k, v) in [
        ("BUILDPLATFORM", bp.format()),
        ("BUILDOS", bp.os.clone()),
        ("BUILDOSVERSION", String::new()),
        ("BUILDARCH", bp.architecture.clone()),
        ("BUILDVARIANT", bp.variant.clone()),
        ("TARGETPLATFORM", tp.format()),
        ("TARGETOS", tp.os.clone()),
        ("TARGETOSVERSION", String::new()),
        ("TARGETARCH", tp.architecture.clone()),
        ("TARGETVARIANT", tp.variant.clone()),
        ("TARGETSTAGE", target),
    ] {
        let v = opts.build_args.get(k).cloned().unwrap_or(v);
        env.set(k, &v);
    }
    env
}

/// The global scope: predefined ARGs, then the ARGs before the first FROM.
pub fn global_scope(df: &Dockerfile, opts: &BuildOptions) -> Result<EnvList, EvalError> {
    let lex = Lexer::new(df.escape);
    let mut args = predefined_args(opts);
    for (line, decls) in &df.meta_args {
        for decl in decls {
            let value = match (opts.build_args.get(&decl.key), &decl.value) {
                (Some(v), _) => Some(v.clone()),
                (None, Some(default)) => {
                    Some(lex.process_word(default, &args).map_err(|e| EvalError {
                        line: *line,
                        kind: e.into(),
                    })?)
                }
                (None, None) => None,
            };
            if let Some(v) = value {
                args.set(&decl.key, &v);
            }
        }
    }
    Ok(args)
}

/// The parts of an image config a Dockerfile sets, in docker's terms.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageConfig {
    /// `User`.
    pub user: String,
    /// `ExposedPorts` (`80/tcp`).
    pub exposed_ports: BTreeSet<String>,
    /// `Env`.
    pub env: EnvList,
    /// `Entrypoint` (`None`: null).
    pub entrypoint: Option<Vec<String>>,
    /// `Cmd` (`None`: null).
    pub cmd: Option<Vec<String>>,
    /// `Healthcheck` (`NONE` is a test of `["NONE"]`).
    pub healthcheck: Option<crate::instruction::HealthConfig>,
    /// `Volumes`.
    pub volumes: BTreeSet<String>,
    /// `WorkingDir`.
    pub working_dir: String,
    /// `Labels`.
    pub labels: BTreeMap<String, String>,
    /// `StopSignal`.
    pub stop_signal: Option<String>,
    /// `Shell` (empty: the default `/bin/sh -c`).
    pub shell: Vec<String>,
    /// `OnBuild`.
    pub on_build: Vec<String>,
    /// The image's `author` (MAINTAINER).
    pub author: Option<String>,
}

impl ImageConfig {
    /// The config as docker shows it in `docker inspect`'s `Config` (the
    /// fields a Dockerfile sets; empty ones as docker leaves them).
    pub fn to_docker_json(&self) -> serde_json::Value {
        use serde_json::{json, Map, Value};
        let set = |s: &BTreeSet<String>| -> Value {
            if s.is_empty() {
                Value::Null
            } else {
                Value::Object(
                    s.iter()
                        .map(|k| (k.clone(), json!({})))
                        .collect::<Map<_, _>>(),
                )
            }
        };
        let health = self.healthcheck.as_ref().map(|h| {
            let mut m = Map::new();
            m.insert("Test".into(), json!(h.test));
            for (k, v) in [
                ("Interval", h.interval),
                ("Timeout", h.timeout),
                ("StartPeriod", h.start_period),
                ("StartInterval", h.start_interval),
                ("Retries", h.retries),
            ] {
                if v != 0 {
                    m.insert(k.into(), json!(v));
                }
            }
            Value::Object(m)
        });
        json!({
            "User": self.user,
            "ExposedPorts": set(&self.exposed_ports),
            "Env": if self.env.is_empty() { Value::Null } else { json!(self.env.to_strings()) },
            "Entrypoint": self.entrypoint,
            "Cmd": self.cmd,
            "Healthcheck": health,
            "Volumes": set(&self.volumes),
            "WorkingDir": self.working_dir,
            "Labels": if self.labels.is_empty() { Value::Null } else { json!(self.labels) },
            "StopSignal": self.stop_signal,
            "Shell": if self.shell.is_empty() { Value::Null } else { json!(self.shell) },
            "OnBuild": if self.on_build.is_empty() { Value::Null } else { json!(self.on_build) },
        })
    }
}

/// Where a stage starts: its base's config and variables, and the base
/// image's ONBUILD triggers (run first, then dropped).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StageStart {
    /// The base image's config (the default for scratch).
    pub config: ImageConfig,
    /// The variables in scope (an image's `Env`; a parent stage's ENV and ARGs).
    pub env: EnvList,
    /// Triggers to run before the stage's own instructions.
    pub triggers: Vec<String>,
}

impl StageStart {
    /// Starting from an image with this config: its Env are the variables,
    /// its OnBuild the triggers.
    pub fn from_image(config: ImageConfig) -> Self {
        let mut config = config;
        let triggers = std::mem::take(&mut config.on_build);
        Self {
            env: config.env.clone(),
            config,
            triggers,
        }
    }

    /// Starting from an evaluated stage: its config and variables; its own
    /// ONBUILD triggers are what a stage built FROM it runs first.
    pub fn from_stage(parent: &EvaluatedStage) -> Self {
        let mut config = parent.config.clone();
        let triggers = std::mem::take(&mut config.on_build);
        Self {
            config,
            env: parent.env.clone(),
            triggers,
        }
    }
}

/// A history entry as BuildKit writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct History {
    /// `created_by`.
    pub created_by: String,
    /// Whether the step made no layer.
    pub empty_layer: bool,
}

/// A filesystem step of a stage, words expanded, with the state it runs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// RUN.
    Run {
        /// The instruction's line.
        line: usize,
        /// The argv (the shell prepended for the shell form).
        args: Vec<String>,
        /// The environment: the stage's variables then the proxy build-args.
        env: Vec<String>,
        /// USER at this point.
        user: String,
        /// WORKDIR at this point.
        workdir: String,
        /// The mounts, typed and expanded.
        mounts: Vec<Mount>,
        /// `--network`.
        network: Network,
        /// The heredocs (BuildKit: a single `#!` heredoc runs as a script,
        /// others feed the shell).
        files: Vec<Heredoc>,
        /// The build args the step sees (part of its cache key, as BuildKit's
        /// `|N K=V` prefix in the history).
        build_args: Vec<String>,
    },
    /// COPY or ADD.
    Copy {
        /// The instruction's line.
        line: usize,
        /// ADD (with its extra rules) rather than COPY.
        add: bool,
        /// Sources, expanded (relative to the context or `from`).
        sources: Vec<String>,
        /// Heredoc files: name and content (expanded when unquoted).
        contents: Vec<(String, String)>,
        /// Destination, expanded (relative to `workdir` when not absolute).
        dest: String,
        /// `--from`, as written (the graph resolved it).
        from: String,
        /// `--chown`, expanded.
        chown: String,
        /// `--chmod`, expanded.
        chmod: String,
        /// `--link`.
        link: bool,
        /// `--parents`.
        parents: bool,
        /// `--exclude`.
        excludes: Vec<String>,
        /// ADD `--checksum`, expanded.
        checksum: String,
        /// ADD `--keep-git-dir`.
        keep_git_dir: Option<bool>,
        /// ADD `--unpack`.
        unpack: Option<bool>,
        /// WORKDIR at this point.
        workdir: String,
        /// USER at this point.
        user: String,
    },
    /// WORKDIR other than `/`: the directory is created (as USER).
    Mkdir {
        /// The instruction's line.
        line: usize,
        /// The absolute path.
        path: String,
        /// USER at this point.
        user: String,
    },
}

/// A stage evaluated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvaluatedStage {
    /// The config the stage's image gets.
    pub config: ImageConfig,
    /// The variables in scope at its end (what a stage FROM it starts with).
    pub env: EnvList,
    /// History entries, one per instruction.
    pub history: Vec<History>,
    /// The filesystem steps in order.
    pub steps: Vec<Step>,
}

/// An error evaluating a stage, at a line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("dockerfile parse error line {line}: {kind}")]
pub struct EvalError {
    /// The instruction's line.
    pub line: usize,
    /// What failed.
    pub kind: EvalErrorKind,
}

/// What fails while a stage is evaluated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvalErrorKind {
    /// A word that does not expand.
    #[error(transparent)]
    Expand(#[from] ExpandError),
    /// A `--mount` that is wrong once expanded.
    #[error(transparent)]
    Mount(#[from] MountError),
    /// `STOPSIGNAL` with no such signal.
    #[error("Invalid signal: {0}")]
    Signal(String),
    /// An EXPOSE port that is no port.
    #[error("invalid port: {0}")]
    Port(String),
    /// An ONBUILD trigger of the base that does not parse.
    #[error("{0}")]
    Trigger(Box<crate::error::SyntaxError>),
    /// The stage graph is wrong.
    #[error(transparent)]
    Stage(#[from] StageError),
}

/// Evaluates stage `stage` of `df` from `start`; `global` is the global
/// scope ([`global_scope`]).
pub fn evaluate_stage(
    df: &Dockerfile,
    stage: &Stage,
    start: StageStart,
    global: &EnvList,
    opts: &BuildOptions,
) -> Result<EvaluatedStage, EvalError> {
    let mut ev = Evaluator {
        lex: Lexer::new(df.escape),
        global,
        opts,
        config: start.config,
        env: start.env,
        args_seen: Vec::new(),
        history: Vec::new(),
        steps: Vec::new(),
        cmd_set: false,
    };
    for trigger in &start.triggers {
        let parsed =
            Dockerfile::parse(format!("FROM scratch\n{trigger}\n").as_bytes()).map_err(|e| {
                EvalError {
                    line: stage.line,
                    kind: EvalErrorKind::Trigger(Box::new(e)),
                }
            })?;
        for st in &parsed.stages[0].statements {
            ev.statement(st).map_err(|kind| EvalError {
                line: stage.line,
                kind,
            })?;
        }
    }
    for st in &stage.statements {
        ev.statement(st).map_err(|kind| EvalError {
            line: st.line,
            kind,
        })?;
    }
    Ok(EvaluatedStage {
        config: ev.config,
        env: ev.env,
        history: ev.history,
        steps: ev.steps,
    })
}

struct Evaluator<'a> {
    lex: Lexer,
    global: &'a EnvList,
    opts: &'a BuildOptions,
    config: ImageConfig,
    /// The variables in scope: ENV and declared ARGs.
    env: EnvList,
    /// Declared ARGs and their values, in order (for RUN's cache key).
    args_seen: Vec<(String, Option<String>)>,
    history: Vec<History>,
    steps: Vec<Step>,
    cmd_set: bool,
}

impl Evaluator<'_> {
    fn word(&self, w: &str) -> Result<String, EvalErrorKind> {
        Ok(self.lex.process_word(w, &self.env)?)
    }

    fn commit(&mut self, created_by: String, empty_layer: bool) {
        self.history.push(History {
            created_by,
            empty_layer,
        });
    }

    fn with_shell(&self, args: &[String]) -> Vec<String> {
        let mut shell = if self.config.shell.is_empty() {
            vec!["/bin/sh".to_string(), "-c".to_string()]
        } else {
            self.config.shell.clone()
        };
        shell.push(args.join(" "));
        shell
    }

    fn statement(&mut self, st: &Statement) -> Result<(), EvalErrorKind> {
        match &st.instruction {
            Instruction::Env(pairs) => {
                let mut expanded = Vec::with_capacity(pairs.len());
                for kv in pairs {
                    expanded.push((self.word(&kv.key)?, self.word(&kv.value)?));
                }
                let mut msg = "ENV".to_string();
                for (k, v) in expanded {
                    msg.push_str(&format!(" {k}={v}"));
                    self.env.set(&k, &v);
                    self.config.env.set(&k, &v);
                }
                self.commit(msg, true);
            }
            Instruction::Label(pairs) => {
                let mut expanded = Vec::with_capacity(pairs.len());
                for kv in pairs {
                    expanded.push((self.word(&kv.key)?, self.word(&kv.value)?));
                }
                let mut msg = "LABEL".to_string();
                for (k, v) in expanded {
                    msg.push_str(&format!(" {k}={v}"));
                    self.config.labels.insert(k, v);
                }
                self.commit(msg, true);
            }
            Instruction::Arg(decls) => {
                let mut parts = Vec::new();
                for decl in decls {
                    let mut value = decl.value.clone();
                    let given = self.opts.build_args.get(&decl.key);
                    if value.is_none() && given.is_none() {
                        value = self.global.get(&decl.key).map(str::to_string);
                    }
                    if let Some(v) = given {
                        value = Some(v.clone());
                    } else if let (Some(default), Some(_)) = (&decl.value, &value) {
                        value = Some(self.word(default)?);
                    }
                    if let Some(v) = &value {
                        self.env.set(&decl.key, v);
                    }
                    parts.push(match &value {
                        Some(v) => format!("{}={v}", decl.key),
                        None => decl.key.clone(),
                    });
                    self.args_seen.retain(|(k, _)| k != &decl.key);
                    self.args_seen.push((decl.key.clone(), value));
                }
                self.commit(format!("ARG {}", parts.join(" ")), true);
            }
            Instruction::Workdir(path) => {
                let path = self.word(path)?;
                let wd = normalize_workdir(&self.config.working_dir, &path);
                self.config.working_dir = wd.clone();
                let layer = wd != "/";
                if layer {
                    self.steps.push(Step::Mkdir {
                        line: st.line,
                        path: wd.clone(),
                        user: self.config.user.clone(),
                    });
                }
                self.commit(format!("WORKDIR {wd}"), !layer);
            }
            Instruction::User(user) => {
                self.config.user = self.word(user)?;
                self.commit(format!("USER {}", self.config.user), true);
            }
            Instruction::Volume(volumes) => {
                let mut expanded = Vec::new();
                for v in volumes {
                    let v = self.word(v)?;
                    self.config.volumes.insert(v.clone());
                    expanded.push(v);
                }
                self.commit(format!("VOLUME [{}]", expanded.join(" ")), true);
            }
            Instruction::StopSignal(sig) => {
                let sig = self.word(sig)?;
                if !valid_signal(&sig) {
                    return Err(EvalErrorKind::Signal(sig));
                }
                self.config.stop_signal = Some(sig.clone());
                self.commit(format!("STOPSIGNAL {sig}"), true);
            }
            Instruction::Expose(ports) => {
                let mut words = Vec::new();
                for p in ports {
                    words.extend(self.lex.process_words(p, &self.env)?);
                }
                let mut specs = Vec::new();
                for w in &words {
                    specs.extend(port_specs(w)?);
                }
                for s in &specs {
                    self.config.exposed_ports.insert(s.clone());
                }
                self.commit(format!("EXPOSE [{}]", specs.join(" ")), true);
            }
            Instruction::Cmd(c) => {
                let args = if c.prepend_shell {
                    self.with_shell(&c.args)
                } else {
                    c.args.clone()
                };
                self.commit(format!("CMD {}", go_quoted_list(&args)), true);
                self.config.cmd = Some(args);
                self.cmd_set = true;
            }
            Instruction::Entrypoint(c) => {
                let args = if c.prepend_shell {
                    self.with_shell(&c.args)
                } else {
                    c.args.clone()
                };
                self.commit(format!("ENTRYPOINT {}", go_quoted_list(&args)), true);
                // ENTRYPOINT resets a CMD inherited from the base.
                if !self.cmd_set {
                    self.config.cmd = None;
                }
                self.config.entrypoint = if args.is_empty() { None } else { Some(args) };
            }
            Instruction::Healthcheck(h) => {
                let config = match h {
                    Healthcheck::None => crate::instruction::HealthConfig {
                        test: vec!["NONE".into()],
                        interval: 0,
                        timeout: 0,
                        start_period: 0,
                        start_interval: 0,
                        retries: 0,
                    },
                    Healthcheck::Cmd(c) => c.clone(),
                };
                self.commit(
                    format!("HEALTHCHECK {}", go_quoted_list(&config.test)),
                    true,
                );
                self.config.healthcheck = Some(config);
            }
            Instruction::Shell(shell) => {
                self.config.shell = shell.clone();
                self.commit(format!("SHELL [{}]", shell.join(" ")), true);
            }
            Instruction::Maintainer(m) => {
                self.config.author = Some(m.clone());
                self.commit(format!("MAINTAINER {m}"), true);
            }
            Instruction::Onbuild(o) => self.config.on_build.push(o.expression.clone()),
            Instruction::Run(r) => {
                let args = if r.command.prepend_shell {
                    self.with_shell(&r.command.args)
                } else {
                    r.command.args.clone()
                };
                let env = &self.env;
                let lex = self.lex;
                let expand = |w: &str| lex.process_word(w, env);
                let mounts = r.mounts(&expand)?;
                let build_args: Vec<String> = self
                    .args_seen
                    .iter()
                    .map(|(k, v)| {
                        let v = self
                            .env
                            .get(k)
                            .map(str::to_string)
                            .or_else(|| v.clone())
                            .unwrap_or_default();
                        format!("{k}={v}")
                    })
                    .collect();
                let mut run_env = self.env.clone();
                for (k, v) in &self.opts.build_args {
                    if PROXY_ARGS.iter().any(|p| p.eq_ignore_ascii_case(k))
                        && run_env.get(k).is_none()
                    {
                        run_env.set(k, v);
                    }
                }
                let prefix = if build_args.is_empty() {
                    String::new()
                } else {
                    format!("|{} {} ", build_args.len(), build_args.join(" "))
                };
                self.commit(format!("RUN {prefix}{} # buildkit", args.join(" ")), false);
                self.steps.push(Step::Run {
                    line: st.line,
                    args,
                    env: run_env.to_strings(),
                    user: self.config.user.clone(),
                    workdir: self.config.working_dir.clone(),
                    mounts,
                    network: r.network,
                    files: r.command.files.clone(),
                    build_args,
                });
            }
            Instruction::Copy(c) => {
                let mut step = self.copy_step(st, false, &c.paths, &c.chown, &c.chmod, "")?;
                if let Step::Copy {
                    from,
                    link,
                    parents,
                    excludes,
                    ..
                } = &mut step
                {
                    *from = c.from.clone();
                    *link = c.link;
                    *parents = c.parents;
                    *excludes = c.excludes.clone();
                }
                self.commit(format!("COPY {} # buildkit", copy_history(&step)), false);
                self.steps.push(step);
            }
            Instruction::Add(a) => {
                let mut step =
                    self.copy_step(st, true, &a.paths, &a.chown, &a.chmod, &a.checksum)?;
                if let Step::Copy {
                    link,
                    excludes,
                    keep_git_dir,
                    unpack,
                    ..
                } = &mut step
                {
                    *link = a.link;
                    *excludes = a.excludes.clone();
                    *keep_git_dir = a.keep_git_dir;
                    *unpack = a.unpack;
                }
                self.commit(format!("ADD {} # buildkit", copy_history(&step)), false);
                self.steps.push(step);
            }
            Instruction::From(_) => unreachable!("FROM starts a stage"),
        }
        Ok(())
    }

    fn copy_step(
        &self,
        st: &Statement,
        add: bool,
        paths: &crate::instruction::SourcesAndDest,
        chown: &str,
        chmod: &str,
        checksum: &str,
    ) -> Result<Step, EvalErrorKind> {
        let mut sources = Vec::with_capacity(paths.sources.len());
        for s in &paths.sources {
            sources.push(self.word(s)?);
        }
        let mut raw = Lexer::new('\\');
        raw.skip_process_quotes = true;
        let mut contents = Vec::new();
        for c in &paths.contents {
            let data = if c.expand {
                raw.process_word(&c.data, &self.env)?
            } else {
                c.data.clone()
            };
            contents.push((c.path.clone(), data));
        }
        Ok(Step::Copy {
            line: st.line,
            add,
            sources,
            contents,
            dest: self.word(&paths.dest)?,
            from: String::new(),
            chown: self.word(chown)?,
            chmod: self.word(chmod)?,
            link: false,
            parents: false,
            excludes: Vec::new(),
            checksum: self.word(checksum)?,
            keep_git_dir: None,
            unpack: None,
            workdir: self.config.working_dir.clone(),
            user: self.config.user.clone(),
        })
    }
}

fn copy_history(step: &Step) -> String {
    let Step::Copy {
        sources,
        contents,
        dest,
        from,
        chown,
        chmod,
        ..
    } = step
    else {
        return String::new();
    };
    let mut parts = Vec::new();
    if !from.is_empty() {
        parts.push(format!("--from={from}"));
    }
    if !chown.is_empty() {
        parts.push(format!("--chown={chown}"));
    }
    if !chmod.is_empty() {
        parts.push(format!("--chmod={chmod}"));
    }
    parts.extend(sources.iter().cloned());
    parts.extend(contents.iter().map(|(name, _)| format!("<<{name}")));
    parts.push(dest.clone());
    parts.join(" ")
}

/// Go's `%q` of a string slice: `["/bin/sh" "-c" "echo hi"]`.
fn go_quoted_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| crate::error::go_quote(s)).collect();
    format!("[{}]", quoted.join(" "))
}

/// docker's `NormalizeWorkdir`: a relative path is joined to the current one
/// (`/` when none), and the result cleaned.
pub fn normalize_workdir(current: &str, requested: &str) -> String {
    let joined = if requested.starts_with('/') {
        requested.to_string()
    } else {
        let base = if current.is_empty() { "/" } else { current };
        format!("{base}/{requested}")
    };
    clean_path(&joined)
}

/// Go's `path.Clean` for absolute paths.
pub(crate) fn clean_path(p: &str) -> String {
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// docker's signal names (moby `signal.SignalMap`, Linux).
const SIGNALS: [&str; 32] = [
    "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT", "KILL",
    "PIPE", "POLL", "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM", "TRAP", "TSTP",
    "TTIN", "TTOU", "URG", "USR1", "USR2", "VTALRM", "WINCH",
];

/// moby's `signal.ParseSignal`: a number (not 0) or a name, `SIG` prefix
/// and case optional, `RTMIN+n` / `RTMAX-n` included.
fn valid_signal(s: &str) -> bool {
    if let Ok(n) = s.parse::<u32>() {
        return n != 0 && n <= 64;
    }
    let upper = s.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if SIGNALS.contains(&name)
        || name == "XCPU"
        || name == "XFSZ"
        || name == "RTMIN"
        || name == "RTMAX"
    {
        return true;
    }
    let rt = |prefix: &str| {
        name.strip_prefix(prefix)
            .and_then(|n| n.parse::<u32>().ok())
            .is_some_and(|n| (1..=15).contains(&n))
    };
    rt("RTMIN+") || rt("RTMAX-")
}

/// One EXPOSE word to its `port/proto` keys: `80` -> `80/tcp`, `53/UDP` ->
/// `53/udp`, `8000-8002` -> three. An `ip:host:` prefix is ignored, as
/// BuildKit does (with a lint warning there).
fn port_specs(raw: &str) -> Result<Vec<String>, EvalErrorKind> {
    let container = raw.rsplit(':').next().unwrap_or(raw);
    let (port, proto) = match container.split_once('/') {
        Some((p, proto)) => (p, proto.to_ascii_lowercase()),
        None => (container, "tcp".to_string()),
    };
    if proto.is_empty() || port.is_empty() {
        return Err(EvalErrorKind::Port(raw.to_string()));
    }
    let bad = || EvalErrorKind::Port(raw.to_string());
    let (start, end) = match port.split_once('-') {
        Some((a, b)) => (
            a.parse::<u16>().map_err(|_| bad())?,
            b.parse::<u16>().map_err(|_| bad())?,
        ),
        None => {
            let p = port.parse::<u16>().map_err(|_| bad())?;
            (p, p)
        }
    };
    if end < start {
        return Err(bad());
    }
    Ok((start..=end).map(|p| format!("{p}/{proto}")).collect())
}

#[cfg(test)]
mod tests;
